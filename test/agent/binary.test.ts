/**
 * The shipped reporter binary: runs on CentOS 7 (glibc 2.17) and newer, links
 * nothing beyond libc's own libraries, ignores .env/bunfig.toml where it runs,
 * and builds byte-identically from the locked runtime.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildReporter } from "../../agent/build.ts";
import { reporterBinary } from "./support.ts";

const ALLOWED_LIBS = new Set(["libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "librt.so.1", "ld-linux-x86-64.so.2"]);

function tool(argv: string[]): string {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv[0]} failed (${r.exitCode}): ${r.stderr.toString()} — is binutils installed?`);
  return r.stdout.toString();
}

const versionKey = (v: string) => v.split(".").map(Number).reduce((a, n, i) => a + n * 1000 ** (2 - i), 0);

describe("cmdaudit-reporter binary", () => {
  test("needs no glibc symbol newer than GLIBC_2.17 (CentOS 7)", async () => {
    const bin = await reporterBinary();
    const versions = [...new Set(tool(["objdump", "-T", bin]).match(/GLIBC_[0-9.]+/g) ?? [])].map((v) => v.slice(6));
    expect(versions.length).toBeGreaterThan(0);
    const newest = versions.sort((a, b) => versionKey(a) - versionKey(b)).at(-1)!;
    expect(versionKey(newest)).toBeLessThanOrEqual(versionKey("2.17"));
  }, 60_000);

  test("links only libc, libpthread, libdl, libm, librt (and the loader)", async () => {
    const needed = [...tool(["readelf", "-d", await reporterBinary()]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
    expect(needed.length).toBeGreaterThan(0);
    expect(needed.filter((l) => !ALLOWED_LIBS.has(l))).toEqual([]);
  }, 60_000);

  test("prints its embedded version; ignores .env and bunfig.toml in the directory it runs in", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cmdaudit-cwd-"));
    writeFileSync(join(dir, ".env"), "CMDAUDIT_REPORTER_CONFIG=/from-dotenv.yml\n");
    writeFileSync(join(dir, "evil.ts"), `require("fs").writeFileSync(${JSON.stringify(join(dir, "pwned"))}, "x");\n`);
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./evil.ts"]\n');
    const run = (args: string[]) => Bun.spawnSync([bin, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
    const bin = await reporterBinary();
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, "../../package.json"), "utf8")) as { version: string };
    const v = run(["version"]);
    expect(v.stdout.toString()).toBe(`cmdaudit-reporter ${pkg.version}\n`);
    const s = run(["status"]);
    expect(s.stderr.toString()).toContain("/etc/cmdaudit/reporter.yml");
    expect(s.stderr.toString()).not.toContain("from-dotenv");
    expect(existsSync(join(dir, "pwned"))).toBe(false);
  }, 60_000);

  test("builds byte-identically from the locked runtime (same output path)", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "cmdaudit-repro-")), "cmdaudit-reporter");
    const sha = async () => createHash("sha256").update(readFileSync(await buildReporter(out))).digest("hex");
    expect(await sha()).toBe(await sha());
  }, 60_000);
});
