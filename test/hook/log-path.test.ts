/** withLogPath: the one rule that points the hook at a log (tests, bench and, the same regex, the Ansible role). */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { HOOK_FILE, shellQuote, withLogPath, withStampPort } from "../../agent/hook/log-path.ts";

const hook = readFileSync(HOOK_FILE, "utf8");
const logLines = (s: string) => s.split("\n").filter((l) => l.startsWith("__cmdaudit_log="));

describe("withLogPath", () => {
  test("changes the log path line and no other byte; the marker comment stays", () => {
    const out = withLogPath(hook, "/srv/audit/x.log");
    const a = hook.split("\n");
    const b = out.split("\n");
    expect(b.length).toBe(a.length);
    const changed = a.flatMap((l, i) => (l === b[i] ? [] : [i]));
    expect(changed.length).toBe(1);
    expect(b[changed[0]!]).toMatch(/^__cmdaudit_log=\/srv\/audit\/x\.log +# cmdaudit:log/);
  });

  test("applied twice, the second path wins (the marker survives)", () => {
    expect(logLines(withLogPath(withLogPath(hook, "/a b/c"), "/d"))).toEqual(logLines(withLogPath(hook, "/d")));
  });

  test("a path with blanks, quotes or `$` is one shell word that bash reads back unchanged", () => {
    for (const path of ["/var/log/my logs/c.log", "/it's/x", "/$HOME/`id`/a", "/tmp/a;rm -rf x"]) {
      const line = logLines(withLogPath(hook, path))[0]!;
      const r = Bun.spawnSync(["bash", "-c", `${line}\nprintf %s "$__cmdaudit_log"`]);
      expect(r.stdout.toString()).toBe(path);
    }
  });

  test("throws when the line is missing or there twice, or the path is relative, spans lines or has a backslash", () => {
    const line = logLines(hook)[0]!;
    expect(() => withLogPath(hook.replace(line, "__cmdaudit_log=/x"), "/y")).toThrow("exactly one");
    expect(() => withLogPath(hook.replace(line, `${line}\n${line}`), "/y")).toThrow("found 2");
    expect(() => withLogPath(hook, "log/commands.log")).toThrow("absolute");
    expect(() => withLogPath(hook, "/a\nb")).toThrow("one line");
    expect(() => withLogPath(hook, "/a\\b")).toThrow("backslash");
  });
});

test("shellQuote writes what Python's shlex.quote writes", () => {
  expect(shellQuote("/var/log/x.log")).toBe("/var/log/x.log");
  expect(shellQuote("")).toBe("''");
  expect(shellQuote("/a b")).toBe("'/a b'");
  expect(shellQuote("/it's")).toBe(`'/it'"'"'s'`);
});

describe("withStampPort", () => {
  const hook = readFileSync(HOOK_FILE, "utf8");
  test("changes the port line's value only; the tree's hook has port 0 (the log file only)", () => {
    expect(hook).toMatch(/^__cmdaudit_port=0 +# cmdaudit:port/m);
    const out = withStampPort(hook, 979);
    const [a, b] = [hook.split("\n"), out.split("\n")];
    const changed = a.flatMap((l, i) => (l === b[i] ? [] : [i]));
    expect(changed.length).toBe(1);
    expect(b[changed[0]!]).toMatch(/^__cmdaudit_port=979 +# cmdaudit:port/);
    expect(withStampPort(withStampPort(hook, 5), 0)).toBe(hook);
  });
  test("refuses a port that is not one, and a hook without exactly one port line", () => {
    for (const p of [-1, 65536, 1.5, Number.NaN]) expect(() => withStampPort(hook, p)).toThrow("0-65535");
    const line = hook.split("\n").find((l) => l.startsWith("__cmdaudit_port="))!;
    expect(() => withStampPort(hook.replace(line, "__cmdaudit_port=1"), 2)).toThrow("exactly one");
    expect(() => withStampPort(hook.replace(line, `${line}\n${line}`), 2)).toThrow("found 2");
  });
});
