/**
 * The server's command line, on the real CLI (server/src/main.ts run by bun): parsed strictly and
 * first, so a bad option is exit 2 with a message naming it, before any config is read or any
 * database or data directory is opened; never a start with the defaults.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MAIN = join(import.meta.dir, "../../server/src/main.ts");
const USAGE = "usage: cmdaudit-server [--config FILE] [--version]   (or CMDAUDIT_CONFIG=FILE)\n"
  + "       cmdaudit-server host-token [--config FILE] [--generation N] HOST...   print each host's ingest token\n"
  + "       cmdaudit-server redact-history [--config FILE] [--batch N] [--dry-run]   apply the redaction rules to stored commands\n"
  + "       cmdaudit-server user add NAME [--role reader|admin] [--groups G,...] [--password-stdin]\n"
  + "       cmdaudit-server user remove NAME\n"
  + "       cmdaudit-server user list   the console's people";

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-server-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The server with a data dir and an SQLite database under `dir` that do not exist yet (a start
 * creates both) and port 0; killed after 20 s: a server that started is a failure here.
 */
async function server(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number; opened: boolean }> {
  const data = mkdtempSync(join(dir, "data-"));
  rmSync(data, { recursive: true });
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", TMPDIR: tmpdir(),
      CMDAUDIT_DATA_DIR: data, CMDAUDIT_DATABASE_URL: `sqlite:${join(data, "cmdaudit.db")}`, CMDAUDIT_PORT: "0", ...env,
    },
    stdout: "pipe", stderr: "pipe", timeout: 20_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code, opened: existsSync(data) };
}

describe("refused with exit 2 before anything is opened, the problem named, then the usage", () => {
  test.each([
    ["--config without its value", ["--config"], "Option '-c, --config <value>' argument missing"],
    ["-c without its value", ["-c"], "Option '-c, --config <value>' argument missing"],
    ["--config followed by an option instead of a file", ["--config", "--version"], "Option '--config' argument is ambiguous."],
    ["an empty --config=", ["--config="], "option '-c, --config' needs a file"],
    ["an unknown option", ["--port", "8080"], "Unknown option '--port'"],
    ["a misspelt --config", ["--confg", "/etc/cmdaudit/server.yml"], "Unknown option '--confg'"],
    ["an argument", ["serve"], "Unexpected argument 'serve'. This command does not take positional arguments"],
  ])("%s", async (_name, args, problem) => {
    const r = await server(args);
    expect(r.stderr).toBe(`cmdaudit-server: ${problem}\n${USAGE}\n`);
    expect(r.stdout).toBe("");
    expect(r.opened).toBe(false);
    expect(r.code).toBe(2);
  }, 30_000);

  test("--config without its value does not fall back to CMDAUDIT_CONFIG", async () => {
    const file = join(dir, "fallback.yml");
    writeFileSync(file, "listen:\n  host: 127.0.0.1\n");
    const r = await server(["--config"], { CMDAUDIT_CONFIG: file });
    expect(r.stderr).toContain("argument missing");
    expect(r.opened).toBe(false);
    expect(r.code).toBe(2);
  }, 30_000);
});

describe("accepted", () => {
  test("--help and -h print the usage, --version the version; nothing is opened", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await server([flag]);
      expect(r.stdout).toBe(`${USAGE}\n`);
      expect(r.opened).toBe(false);
      expect(r.code).toBe(0);
    }
    const v = await server(["--version"], { CMDAUDIT_SERVER_VERSION: "1.2.3" });
    expect(v.stdout).toBe("cmdaudit-server 1.2.3\n");
    expect(v.opened).toBe(false);
    expect(v.code).toBe(0);
  }, 30_000);

  test("a well-formed --config naming a missing file: exit 2 naming the file, before the database", async () => {
    const missing = join(dir, "missing.yml");
    for (const args of [["--config", missing], [`--config=${missing}`], ["-c", missing]]) {
      const r = await server(args);
      expect(r.stderr).toBe(`cmdaudit-server: cannot read config file ${missing}: ENOENT\n`);
      expect(r.opened).toBe(false);
      expect(r.code).toBe(2);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith("data-"))).toEqual([]);
  }, 30_000);
});

describe("host-token", () => {
  const KEY = "cli-host-key-0123456789abcdefghijklmnop";
  const config = join(dir, "host-key.yml");
  writeFileSync(config, `tokens:\n  host_key: ${KEY}\n  host_generations:\n    Web-2: 5\n`);

  test("prints each host's token under the configured key, at its configured generation or --generation; opens nothing", async () => {
    const { hostToken } = await import("../../server/src/host-token.ts");
    const r = await server(["host-token", "--config", config, "web-1", "WEB-2"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${hostToken(KEY, "web-1", 0)}\n${hostToken(KEY, "web-2", 5)}\n`);
    expect(r.stdout).toMatch(/^cah1\.0\.web-1\.[0-9a-f]{32}\ncah1\.5\.web-2\.[0-9a-f]{32}\n$/);
    expect(r.opened).toBe(false);
    expect(r.code).toBe(0);
    const g = await server(["host-token", "-c", config, "--generation", "9", "web-1"]);
    expect(g.stdout).toBe(`${hostToken(KEY, "web-1", 9)}\n`);
  }, 30_000);

  test.each([
    ["no host", ["host-token", "--config", "CONFIG"], "host-token needs at least one host name"],
    ["a host name a token cannot carry", ["host-token", "--config", "CONFIG", "web 1"], 'host name "web 1": a host token\'s host name may hold only A-Z a-z 0-9 . _ - (1-253 characters)'],
    ["a bad generation", ["host-token", "--config", "CONFIG", "--generation", "1.5", "web-1"], "--generation must be an integer 0-999999999"],
    ["no key configured", ["host-token", "web-1"], "no per-host token key: set tokens.host_key or tokens.host_key_file (or start the server once without tokens)"],
  ])("%s: exit 2 naming the problem", async (_name, args, problem) => {
    const r = await server(args.map((a) => (a === "CONFIG" ? config : a)));
    expect(r.stderr.split("\n")[0]).toBe(`cmdaudit-server: ${problem}`);
    expect(r.stdout).toBe("");
    expect(r.opened).toBe(false);
    expect(r.code).toBe(2);
  }, 30_000);
});

test("control: the same start without a bad option creates its data dir and listens (what `opened` detects)", async () => {
  const data = join(dir, "control");
  const proc = Bun.spawn([process.execPath, MAIN], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", TMPDIR: tmpdir(), CMDAUDIT_DATA_DIR: data, CMDAUDIT_PORT: "0" },
    stdout: "pipe", stderr: "pipe", timeout: 20_000,
  });
  let out = "";
  const utf8 = new TextDecoder();
  for await (const c of proc.stdout) {
    out += utf8.decode(c, { stream: true });
    if (out.includes('"listening"')) break;
  }
  proc.kill("SIGTERM"); // it may not have its SIGTERM handler yet: the exit code is not the point here
  await proc.exited;
  expect(out).toContain('"listening"');
  expect(existsSync(join(data, "cmdaudit.db"))).toBe(true);
}, 30_000);

describe("user: the console's people", () => {
  /** `user …` against one database under `data`, the password on stdin. */
  async function user(data: string, args: string[], stdin = ""): Promise<{ stdout: string; stderr: string; code: number }> {
    const config = join(data, "server.yml");
    writeFileSync(config, "console:\n  host_groups:\n    web: [\"web-*\"]\n");
    const proc = Bun.spawn([process.execPath, MAIN, "user", ...args, "--config", config], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", CMDAUDIT_DATA_DIR: data, CMDAUDIT_DATABASE_URL: `sqlite:${join(data, "cmdaudit.db")}` },
      stdin: Buffer.from(stdin), stdout: "pipe", stderr: "pipe", timeout: 20_000,
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, code };
  }

  test("add (password from stdin, or made and printed once), list, remove; the stored hash verifies, the password is never in argv", async () => {
    const data = mkdtempSync(join(dir, "users-"));
    expect(await user(data, ["add", "ada", "--role", "admin", "--password-stdin"], "a long enough secret\n")).toEqual({ stdout: "ada (admin) saved\n", stderr: "", code: 0 });
    const made = await user(data, ["add", "rita", "--groups", "web"]);
    expect(made.code).toBe(0);
    const password = /^rita \(reader\): password (\S{24})\n$/.exec(made.stdout)![1]!;
    expect((await user(data, ["list"])).stdout).toBe("ada\tadmin\t*\nrita\treader\tweb\n");
    const { openSqliteStore } = await import("../../server/src/db/sqlite/store.ts");
    const store = openSqliteStore(join(data, "cmdaudit.db"), { migrationsFolder: join(import.meta.dir, "../../server/drizzle/sqlite") });
    try {
      expect(await Bun.password.verify("a long enough secret", (await store.consoleUser("ada"))!.passwordHash)).toBe(true);
      expect(await Bun.password.verify(password, (await store.consoleUser("rita"))!.passwordHash)).toBe(true);
    } finally {
      await store.close();
    }
    expect(await user(data, ["remove", "rita"])).toMatchObject({ code: 0, stdout: "removed rita and signed out every session of theirs\n" });
    expect((await user(data, ["list"])).stdout).toBe("ada\tadmin\t*\n");
  }, 60_000);

  test.each([
    ["an unknown group", ["add", "x", "--groups", "db"], "--groups: not in console.host_groups of the config: db"],
    ["a bad role", ["add", "x", "--role", "root"], "--role: reader or admin"],
    ["a bad name", ["add", "x y"], "a user name holds only"],
    ["a short password", ["add", "x", "--password-stdin"], "the password must be at least 12 characters"],
    ["no such user", ["remove", "nobody"], "no user nobody"],
    ["an unknown action", ["grant", "x"], "unknown action: grant"],
  ])("refused with exit 2, naming the problem: %s", async (_n, args, problem) => {
    const r = await user(mkdtempSync(join(dir, "users-")), args, "short\n");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cmdaudit-server user: ${problem}`);
    expect(r.stdout).toBe("");
  }, 30_000);
});
