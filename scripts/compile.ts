/**
 * `bun build --compile` for bun-linux-x64-baseline (no AVX2; glibc ≥ 2.17, CentOS 7),
 * offline and pinned: the runtime is the one in the locked npm package
 * @oven/bun-linux-x64-baseline, never a download. No .env/bunfig.toml/tsconfig/package.json
 * autoloading where the binary runs; the package version is embedded.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RUNTIME = resolve(ROOT, "node_modules/@oven/bun-linux-x64-baseline/bin/bun");

/** `bytecode` speeds up start, but breaks import.meta.dir (embedded assets): not for the server. */
export async function compile(opts: { entry: string; outfile: string; versionVar: string; assets?: string[]; workers?: string[]; bytecode: boolean }): Promise<string> {
  if (!existsSync(RUNTIME)) throw new Error(`${RUNTIME} is missing: run bun install (it is a locked devDependency)`);
  const pkg = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { version: string };
  mkdirSync(dirname(opts.outfile), { recursive: true });
  const result = await Bun.build({
    // Workers are entry points of their own; the code starts them by a path relative to its module.
    entrypoints: [resolve(ROOT, opts.entry), ...(opts.workers ?? []).map((w) => resolve(ROOT, w))],
    compile: {
      target: "bun-linux-x64-baseline",
      executablePath: RUNTIME,
      outfile: opts.outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
      ...(opts.assets ? { assets: opts.assets.map((a) => resolve(ROOT, a)) } : {}),
    },
    define: { [`process.env.${opts.versionVar}`]: JSON.stringify(pkg.version) },
    minify: true,
    bytecode: opts.bytecode,
  });
  if (!result.success) throw new AggregateError(result.logs, `build of ${opts.entry} failed`);
  return opts.outfile;
}
