/**
 * Build the cmdaudit-server binary (see scripts/compile.ts), with the drizzle-kit
 * migrations embedded: the server applies them at start.
 *
 *   bun server/build.ts [outfile]      default dist/cmdaudit-server
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { compile, ROOT } from "../scripts/compile.ts";

export function buildServer(outfile = resolve(ROOT, "dist/cmdaudit-server")): Promise<string> {
  return compile({
    entry: "server/src/main.ts", outfile, versionVar: "CMDAUDIT_SERVER_VERSION", assets: ["server/drizzle"], workers: ["server/src/alerts/backtest-worker.ts"], bytecode: false,
  });
}

if (import.meta.main) {
  const out = await buildServer(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`${out}  sha256:${createHash("sha256").update(readFileSync(out)).digest("hex")}`);
}
