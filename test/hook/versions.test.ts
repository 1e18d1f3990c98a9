/**
 * What real builds of bash 4.1 to 5.3 got wrong with the hook, one test each, on every version:
 * bytes of any value in any locale, the first command after `PROMPT_COMMAND=` with a history
 * file, the start of a command and its duration (PS0), a user's PS0, long commands through awk
 * (mawk, gawk) or without it, and no fork per prompt.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { atLeast, BASHES, type Bash, commands, ctimeMs, hookNoise, hookRoot, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, spawnTracked, text, typeInto } from "./support.ts";

afterAll(removeHookRoots, REMOVE_ROOTS_MS);

const b = (s: string) => Buffer.from(s, "latin1");
/** `$'…'` for bash: every byte as \xNN, so what is typed is ASCII and the tty changes nothing. */
const ansiC = (bytes: Buffer) => `$'${[...bytes].map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("")}'`;

/** Locales built once for this file (GBK: a second byte may be `\`; Latin-1: one byte a character). */
let locpath = "";
const LOCALES: Record<string, string> = { C: "C", "C.UTF-8": "C.UTF-8", GBK: "zh_CN.GBK", "Latin-1": "de_DE.ISO-8859-1" };
beforeAll(() => {
  locpath = mkdtempSync(join(tmpdir(), "cmdaudit-locales-"));
  for (const [src, charmap, name] of [["zh_CN", "GBK", "zh_CN.GBK"], ["de_DE", "ISO-8859-1", "de_DE.ISO-8859-1"]] as const) {
    const p = Bun.spawnSync(["localedef", "-i", src, "-f", charmap, join(locpath, name)]);
    if (!existsSync(join(locpath, name, "LC_CTYPE"))) throw new Error(`localedef ${name}: ${p.stderr}`);
  }
}, 60_000);
afterAll(() => {
  if (locpath) Bun.spawnSync(["rm", "-rf", locpath]);
});

// Every byte but NUL (a C string cannot hold it) and LF (it ends a line of history).
const ALL_BYTES = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1).filter((x) => x !== 0x0a));
const UTF8 = b(Buffer.from("echo été ünïcödé 中文 🙂 utf8", "utf8").toString("latin1"));
const GBK = Buffer.from([0x65, 0x63, 0x68, 0x6f, 0x20, 0xd6, 0xd0, 0xce, 0xc4, 0x20, 0x95, 0x5c, 0x20, 0x81, 0x40, 0x20, 0xfe, 0x5c, 0x5c]); // 丑's GBK second byte is `\`

describe.each(BASHES)("bash $version", (bash: Bash) => {
  test.each(Object.keys(LOCALES))("every byte value, UTF-8, GBK and Latin-1 text, recorded exactly in the %s locale", async (loc) => {
    const root = hookRoot();
    const env: Record<string, string> = { LC_ALL: LOCALES[loc]!, LANG: LOCALES[loc]!, LOCPATH: locpath };
    // `history -s` puts bytes into the history exactly as given, past the tty; then the same typed.
    const entries = [ALL_BYTES, UTF8, GBK, b("echo \xff end"), b("echo after the 0xff")];
    const typed = entries.map((e) => `history -s ${ansiC(e)}\n`).join("") + "echo done\nexit\n";
    const typedRaw = [b("echo été typed \xff\xfe\n"), GBK, b("\n")];
    const r = await typeInto(rcFile(root), [b("stty -icrnl\n"), Buffer.concat([b(typed.replace("exit\n", "")), ...typedRaw, b("exit\n")])], { bash, env });
    expect(hookNoise(r.output)).toEqual([]);
    const log = readLog(root.log);
    expect(log.damaged).toEqual([]);
    expect(log.records.filter((x) => x.kind === "loss").map(text)).toEqual([]);
    const got = commands(log).map((x) => Buffer.from(x.command));
    const want = ["stty -icrnl", ...entries, "echo done", b("echo été typed \xff\xfe"), GBK, "exit"].map((x) => (typeof x === "string" ? Buffer.from(x) : x));
    expect(got.map((x) => x.toString("hex"))).toEqual(want.map((x) => x.toString("hex")));
  }, 60_000);

  test("`PROMPT_COMMAND=` or `unset PROMPT_COMMAND` in ~/.bashrc, with a history file: the first command is recorded", async () => {
    for (const after of ["PROMPT_COMMAND=", "unset PROMPT_COMMAND", "PROMPT_COMMAND=' '"]) {
      const root = hookRoot();
      const hist = join(root.dir, "history");
      writeFileSync(hist, "old one\nold two\nold three\n");
      const r = await typeInto(rcFile(root, { before: `HISTFILE=${hist}`, after }), "echo first\necho second\nexit\n", { bash });
      expect(hookNoise(r.output)).toEqual([]);
      const log = readLog(root.log);
      expect({ after, got: commands(log).map(text) }).toEqual({ after, got: ["echo first", "echo second", "exit"] });
      expect(log.records.filter((x) => x.kind === "loss")).toEqual([]);
    }
  }, 60_000);

  test("a command is stamped when it starts; its duration is measured on bash >= 5.0 and null before", async () => {
    const root = hookRoot();
    const r = await typeInto(rcFile(root), "sleep 1.3; true\necho next\nexit\n", { bash });
    expect(hookNoise(r.output)).toEqual([]);
    const [slow, next] = commands(readLog(root.log));
    expect([text(slow!), text(next!)]).toEqual(["sleep 1.3; true", "echo next"]);
    // Stamped at the prompt, both would be within a few ms of each other.
    expect(ctimeMs(next!.ctime) - ctimeMs(slow!.ctime)).toBeGreaterThanOrEqual(1000);
    expect(Math.abs(ctimeMs(slow!.ctime) - Date.now())).toBeLessThan(120_000);
    if (atLeast(bash, 5, 0)) {
      expect(slow!.ctime).toMatch(/\.\d{6}[+-]\d{4}$/);
      expect(slow!.durationMs).toBeGreaterThanOrEqual(1300);
      expect(slow!.durationMs).toBeLessThan(10_000);
      expect(next!.durationMs).toBeGreaterThanOrEqual(0);
      expect(next!.durationMs).toBeLessThan(1000);
      expect(ctimeMs(next!.ctime) - ctimeMs(slow!.ctime)).toBeGreaterThanOrEqual(1300);
    } else {
      expect(slow!.ctime).toMatch(/T\d\d:\d\d:\d\d[+-]\d{4}$/);
      expect([slow!.durationMs, next!.durationMs]).toEqual([null, null]);
    }
    for (const x of readLog(root.log).records.filter((y) => y.kind !== "command")) expect(x.durationMs).toBeNull();
  }, 60_000);

  test("a PS0 of the user's (set before or after the hook) keeps running, and durations are still measured", async () => {
    const root = hookRoot();
    const r = await typeInto(rcFile(root, { before: "PS0='[ps0-a]'", after: "PS0='[ps0-b]'" }), "sleep 0.2\necho two\nexit\n", { bash });
    expect(hookNoise(r.output)).toEqual([]);
    const c = commands(readLog(root.log));
    expect(c.map(text)).toEqual(["sleep 0.2", "echo two", "exit"]);
    if (!atLeast(bash, 4, 4)) return; // no PS0 before 4.4
    expect(r.output.split("[ps0-b]").length - 1).toBe(3);
    expect(r.output).not.toContain("[ps0-a]");
    if (atLeast(bash, 5, 0)) {
      // The first command ran with ~/.bashrc's PS0 alone (the hook puts its stamp back at the first prompt): no duration then.
      expect(c.slice(1).map((x) => x.durationMs === null)).toEqual([false, false]);
    } else {
      expect(c.map((x) => x.durationMs)).toEqual([null, null, null]);
    }
  }, 60_000);

  test("assigning the hook's start variable cannot move a command's start outside the time it ran", async () => {
    const root = hookRoot();
    const typed = ["__ca_t0=1000000000000000; echo past", "__ca_t0=9999999999999999; echo future", "exit"];
    const r = await typeInto(rcFile(root), typed.join("\n") + "\n", { bash });
    expect(r.output).not.toMatch(/bash: |readonly/);
    const c = commands(readLog(root.log));
    expect(c.map(text)).toEqual(typed);
    for (const x of c) expect(Math.abs(ctimeMs(x.ctime) - Date.now())).toBeLessThan(120_000);
    expect(c.slice(0, 2).map((x) => x.durationMs)).toEqual([null, null]);
  }, 60_000);

  test("no fork or exec per prompt (strace: 40 more commands, not one more process)", async () => {
    const count = async (n: number) => {
      const root = hookRoot();
      const trace = join(root.dir, "strace.out");
      const p = spawnTracked(["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork,execve", "-o", trace, "script", "-qec", `${bash.path} --noediting --rcfile ${rcFile(root)} -i`, "/dev/null"], {
        stdin: Buffer.from(":\n".repeat(n) + "exit\n"), stdout: "ignore", stderr: "ignore",
        env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: root.dir, TERM: "dumb", LANG: "C.UTF-8" },
      });
      expect(await p.exited).toBe(0);
      expect(commands(readLog(root.log)).length).toBe(n + 1);
      return readFileSync(trace, "utf8").split("\n").filter((l) => /\b(clone3?|v?fork|execve)\(/.test(l) && !/resumed/.test(l)).length;
    };
    const [few, many] = [await count(5), await count(45)];
    expect(many - few).toBe(0);
  }, 60_000);

  describe("long commands", () => {
    // In lines the tty accepts, with every byte that must be escaped but CR (the tty's icrnl; the first
    // test has it): ~200 KiB, and ~20 KiB for bash
    // alone (its string operations grow faster than the text: seconds for 200 KiB on bash 4).
    const heredoc = (lines: number) => `cat >/dev/null <<'END'\n${Array.from({ length: lines }, (_, i) => `${i} ${"y".repeat(1000)} \\ \t \\n $HOME * end`).join("\n")}\nEND`;
    const oldBashHeredoc = (s: string) => {
      // bash 4.1/4.2 with lithist store each line of a here-document's body followed by an empty line.
      const lines = s.split("\n");
      return [lines[0], ...lines.slice(1, -1).map((l) => `${l}\n`), lines.at(-1)].join("\n");
    };
    for (const [name, lines, binds] of [
      ["the system's awk (mawk)", 200, [] as [string, string][]],
      ["gawk (CentOS, RHEL)", 200, [["/usr/bin/gawk", "/usr/bin/awk"]] as [string, string][]],
      ["no awk: bash alone", 20, [[join(tmpdir(), "cmdaudit-no-awk"), "/usr/bin/awk"]] as [string, string][]],
    ] as const) {
      const cmd = heredoc(lines);
      const expected = atLeast(bash, 4, 3) ? cmd : oldBashHeredoc(cmd);
      const typed = `${cmd}\nexit\n`;
      test(`a ${lines} KiB command with every escaped byte, through ${name}, exactly`, async () => {
        if (name.startsWith("gawk") && !existsSync("/usr/bin/gawk")) throw new Error("gawk is not installed (apt-get install gawk)");
        if (name.startsWith("no awk")) writeFileSync(join(tmpdir(), "cmdaudit-no-awk"), "", { mode: 0o644 });
        const root = hookRoot();
        const r = await typeInto(rcFile(root), typed, { bash, byName: true, binds: [...binds], timeoutMs: 150_000 });
        expect(r.timedOut).toBe(false);
        const log = readLog(root.log);
        expect(log.damaged).toEqual([]);
        const got = commands(log).map(text);
        expect(got.length).toBe(2);
        expect(got[0]!.length).toBe(expected.length);
        expect(got[0] === expected).toBe(true);
        expect(Math.max(...readFileSync(root.log, "latin1").split("\n").map((l) => l.length))).toBeLessThan(4096);
      }, 180_000);
    }
  });

  if (!atLeast(bash, 4, 4)) {
    test("functrace, which the hook turns on while the startup files run (bash < 4.4), is off at the first prompt", async () => {
      const root = hookRoot();
      const out = join(root.dir, "flags");
      await typeInto(rcFile(root), `echo "$-" > ${out}\nexit\n`, { bash });
      expect(readFileSync(out, "utf8")).not.toContain("T");
      expect(commands(readLog(root.log)).length).toBe(2);
    }, 60_000);
  }
});

// Keep the helpers honest: the old-bash here-document rule, checked against a real 4.2 where there is one.
test("bash 4.1/4.2 store a here-document's body lines each followed by an empty line (documented, recorded as bash holds it)", async () => {
  const old = BASHES.find((x) => x.major === 4 && x.minor <= 2);
  if (!old) {
    if (process.env.CI === "true") throw new Error("no bash 4.1/4.2 build");
    return;
  }
  const root = hookRoot();
  mkdirSync(join(root.dir, "h"), { recursive: true });
  await typeInto(rcFile(root), "stty -icrnl\ncat <<'EOF' >/dev/null\none\ntwo\nEOF\nexit\n", { bash: old });
  expect(commands(readLog(root.log)).map(text)[1]).toBe("cat <<'EOF' >/dev/null\none\n\ntwo\n\nEOF");
});
