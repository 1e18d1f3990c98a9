/**
 * The reporter's command line, on the real CLI (agent/src/main.ts run by bun): parsed strictly, so
 * an option without its value, an unknown option or command is exit 2 with a message naming it,
 * never a run with a fallback config.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MAIN = join(import.meta.dir, "../../../agent/src/main.ts");
const USAGE = "usage: cmdaudit-reporter [-c CONFIG] run|status [--json]|check|listen|version";
const TOKEN = "secret-ingest-token-0123456789";

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-reporter-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A config whose state dir is in `dir`: `status` answers from it without a server. */
function config(name: string): string {
  const p = join(dir, `${name}.yml`);
  writeFileSync(p, `server:\n  url: http://127.0.0.1:9\n  token: ${TOKEN}\nstate_dir: ${join(dir, `state-${name}`)}\n`);
  return p;
}

async function reporter(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", TMPDIR: tmpdir(), ...env },
    stdout: "pipe", stderr: "pipe", timeout: 30_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

describe("refused with exit 2, the problem named, then the usage", () => {
  test.each([
    ["-c without its value", ["run", "-c"], "Option '-c, --config <value>' argument missing"],
    ["--config without its value", ["status", "--config"], "Option '-c, --config <value>' argument missing"],
    ["-c followed by an option instead of a file", ["-c", "--json", "status"], "Option '-c' argument is ambiguous."],
    ["an empty --config=", ["--config=", "run"], "option '-c, --config' needs a file"],
    ["an unknown long option", ["--dry-run", "run"], "Unknown option '--dry-run'"],
    ["an unknown short option", ["-x", "run"], "Unknown option '-x'"],
    ["a value given to a flag", ["status", "--json=yes"], "Option '--json' does not take an argument"],
    ["an unknown command", ["ship"], 'unknown command "ship"'],
    ["no command", [], "no command"],
    ["an argument after the command", ["check", "now"], 'unexpected argument "now"'],
    ["--json with a command other than status", ["run", "--json"], "option '--json' is for status only"],
  ])("%s", async (_name, args, problem) => {
    const r = await reporter(args);
    expect(r.stderr).toBe(`cmdaudit-reporter: ${problem}\n${USAGE}\n`);
    expect(r.stdout).toBe("");
    expect(r.code).toBe(2);
  });

  test("an option without its value does not fall back to CMDAUDIT_REPORTER_CONFIG", async () => {
    const good = config("env-fallback");
    expect((await reporter(["status"], { CMDAUDIT_REPORTER_CONFIG: good })).code).toBe(0); // the file alone is fine
    const r = await reporter(["status", "-c"], { CMDAUDIT_REPORTER_CONFIG: good });
    expect(r.stderr).toContain("argument missing");
    expect(r.stdout).toBe("");
    expect(r.code).toBe(2);
  });
});

describe("accepted", () => {
  test("--help and -h print the usage to stdout, exit 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await reporter([flag]);
      expect(r.stdout).toBe(`${USAGE}\n`);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
  });

  test("version and --version print the version without reading a config", async () => {
    for (const args of [["version"], ["--version"]]) {
      const r = await reporter([...args], { CMDAUDIT_REPORTER_CONFIG: join(dir, "missing.yml") });
      expect(r.stdout).toMatch(/^cmdaudit-reporter \S+\n$/);
      expect(r.code).toBe(0);
    }
  });

  test("options before or after the command; -c wins over CMDAUDIT_REPORTER_CONFIG", async () => {
    const file = config("anywhere");
    for (const args of [["-c", file, "status", "--json"], ["status", "--json", "--config", file], [`--config=${file}`, "status", "--json"]]) {
      const r = await reporter(args, { CMDAUDIT_REPORTER_CONFIG: join(dir, "missing.yml") });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout).deadLetterFile).toBe(join(dir, "state-anywhere", "deadletter.ndjson"));
      expect(r.code).toBe(0);
    }
  });

  test("a well-formed command line with a config file that is not there: exit 2 naming the file", async () => {
    const missing = join(dir, "nope.yml");
    const r = await reporter(["-c", missing, "run"]);
    expect(r.stderr).toBe(`cmdaudit-reporter: cannot read config file ${missing}: ENOENT\n`);
    expect(r.code).toBe(2);
  });
});
