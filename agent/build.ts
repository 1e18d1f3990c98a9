/**
 * Build the cmdaudit-reporter binary (see scripts/compile.ts).
 *
 *   bun agent/build.ts [outfile]       default dist/cmdaudit-reporter
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { compile, ROOT } from "../scripts/compile.ts";

export function buildReporter(outfile = resolve(ROOT, "dist/cmdaudit-reporter")): Promise<string> {
  return compile({ entry: "agent/src/main.ts", outfile, versionVar: "CMDAUDIT_REPORTER_VERSION", bytecode: true });
}

if (import.meta.main) {
  const out = await buildReporter(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`${out}  sha256:${createHash("sha256").update(readFileSync(out)).digest("hex")}`);
}
