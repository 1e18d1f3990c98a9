/**
 * Build the cmdaudit-reporter binary for bun-linux-x64-baseline (no AVX2; glibc ≥ 2.17,
 * CentOS 7), offline and pinned: the runtime is the one in the locked npm package
 * @oven/bun-linux-x64-baseline, never a download.
 *
 *   bun agent/build.ts [outfile]       default dist/cmdaudit-reporter
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { version: string };
const runtime = resolve(root, "node_modules/@oven/bun-linux-x64-baseline/bin/bun");

export async function buildReporter(outfile = resolve(root, "dist/cmdaudit-reporter")): Promise<string> {
  if (!existsSync(runtime)) throw new Error(`${runtime} is missing: run bun install (it is a locked devDependency)`);
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await Bun.build({
    entrypoints: [resolve(root, "agent/src/main.ts")],
    compile: {
      target: "bun-linux-x64-baseline",
      executablePath: runtime,
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
    },
    define: { "process.env.CMDAUDIT_REPORTER_VERSION": JSON.stringify(pkg.version) },
    minify: true,
    bytecode: true,
  });
  if (!result.success) throw new AggregateError(result.logs, "reporter build failed");
  return outfile;
}

if (import.meta.main) {
  const out = await buildReporter(process.argv[2] ? resolve(process.argv[2]) : undefined);
  const sha = createHash("sha256").update(readFileSync(out)).digest("hex");
  console.log(`${out}  sha256:${sha}`);
}
