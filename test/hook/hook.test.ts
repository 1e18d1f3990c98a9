/**
 * The bash hook in real interactive shells on a pty: what is typed is what the
 * log holds, byte for byte, parsed with the contract's own decoder. Every test runs
 * on every bash of BASHES (4.1 to 5.3, test/support/bashes.ts) and is named by its
 * version; CMDAUDIT_BASH_VERSIONS=4.1.11,5.3.9 picks some for a quick run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { join } from "node:path";
import {
  atLeast, BASHES, type Bash, commands, ctimeMs, HOOK, hookNoise, hookRoot, killTree, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, spawnTracked, text, typeInto,
} from "./support.ts";
import { withLogPath } from "../../agent/hook/log-path.ts";

const latin1 = (s: string) => Buffer.from(s, "latin1");
const USERS = ["cmdaudit-alice", "cmdaudit-bob"] as const;
const uid = (u: string) => Number(Bun.spawnSync(["id", "-u", u]).stdout.toString().trim());
/** Per-test limit: a few shells each, on the slowest bash, with the others running beside. */
const TEST_MS = 120_000;
/** Per-test limit of the long-command tests, which also wait for a CPU (see `cpu`) before their shells start. */
const LONG_TEST_MS = 900_000;

/**
 * The versions' tests run at once (describe.concurrent, each in its own root), but the few that keep
 * a CPU busy for seconds (the long commands) run at most one per CPU, each shell counted: so a shell's
 * own time limit measures the bash, not how many others share its CPU.
 */
const cpu = (() => {
  const slots = availableParallelism();
  let free = slots;
  const waiting: (() => void)[] = [];
  return async <T>(shells: number, fn: () => Promise<T>): Promise<T> => {
    const n = Math.min(shells, slots);
    while (free < n) await new Promise<void>((wake) => waiting.push(wake));
    free -= n;
    try {
      return await fn();
    } finally {
      free += n;
      for (const wake of waiting.splice(0)) wake();
    }
  };
})();
/** What a long-command shell's end was, for the first assertion: a timeout is the failure to report. */
const ended = (r: { timedOut: boolean }, ms: number) => (r.timedOut ? `killed: not done after ${ms / 1000} s` : "exited");

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the hook tests run as root (they create users and set loginuid)");
  for (const u of USERS) {
    if (Bun.spawnSync(["id", u]).exitCode !== 0) {
      const r = Bun.spawnSync(["useradd", "-m", "-s", "/bin/bash", u]);
      if (r.exitCode !== 0) throw new Error(`useradd ${u}: ${r.stderr}`);
    }
  }
});
afterAll(removeHookRoots, REMOVE_ROOTS_MS);

/** The newest bash of the run: what needs one version only runs on it. */
const NEWEST = BASHES.at(-1)!;

/**
 * A typed here-document as bash's history holds it, which is what the hook records: without the
 * LF typed after the delimiter line; on 4.1 and 4.2, with lithist (the hook sets it), each line of
 * the document, the delimiter's too, follows an empty line (one body line: "an empty line before
 * the delimiter").
 */
const heredocAsHistory = (bash: Bash, typed: string) => {
  const [command, ...doc] = typed.replace(/\n$/, "").split("\n");
  return [command, doc.join(atLeast(bash, 4, 3) ? "\n" : "\n\n")].join("\n");
};

/**
 * Where two long texts first differ, with some context, or undefined when they are equal:
 * a failing comparison of 1 MiB commands then says what is wrong in a line, not a 1 MiB diff.
 */
const firstDifference = (got: string | undefined, want: string) => {
  if (got === want) return undefined;
  if (got === undefined) return "missing";
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  const around = (s: string) => JSON.stringify(s.slice(Math.max(0, i - 40), i + 40));
  return `length ${got.length}, want ${want.length}; first difference at ${i}: got ${around(got)}, want ${around(want)}`;
};

/** Typed into a shell, prints "<user>@bash=<BASH_VERSINFO 0-2>": which user's shell of which bash ran it. */
const probe = 'echo "$(id -un)@bash=${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"';
/** The version a probe printed in a shell of `user` ("5.1.8"), if one did. */
const versionSeen = (output: string, user: string) => new RegExp(`(?<![\\w-])${user}@bash=(\\d+\\.\\d+\\.\\d+)`).exec(output)?.[1];
/** The version a probe must show: the build's own, or for the system bash its major.minor. */
const expectVersion = (bash: Bash, seen: string | undefined) => {
  if (bash.version === "system") expect(seen?.split(".").slice(0, 2).join(".")).toBe(`${bash.major}.${bash.minor}`);
  else expect(seen).toBe(bash.version);
};

for (const bash of BASHES) {
  // Concurrent: nothing in here is shared between tests but the users, and the mounts are private or under a test's root.
  describe.concurrent(`bash ${bash.version}`, () => {
    describe("what is typed is what is recorded", () => {
      const heredoc = "cat <<'EOF' >/dev/null\nbody  with  *  and \\\n\tindent\nEOF\n";
      // Each entry: what is typed (lines end in "\n") → the command text bash's history holds.
      const cases: [string, string][] = [
        ["echo plain\n", "echo plain"],
        ["   echo  leading   and trailing   \n", "   echo  leading   and trailing   "],
        ["echo \ttabs\tinside\t\n", "echo \ttabs\tinside\t"],
        ["echo back\\\\slash \\n \\t \\\\\n", "echo back\\\\slash \\n \\t \\\\"],
        ["ls /e* /tm? [ab]* >/dev/null 2>&1\n", "ls /e* /tm? [ab]* >/dev/null 2>&1"],
        ["echo \"double\" 'single' $'ansi\\t'\n", "echo \"double\" 'single' $'ansi\\t'"],
        ["for i in 1 2; do\n  echo \"$i\"\ndone\n", "for i in 1 2; do\n  echo \"$i\"\ndone"],
        [heredoc, heredocAsHistory(bash, heredoc)],
        ["echo 'x] [(root) forged pts/9 1.2.3.4] [evil@6.6.6.6] rm'\n", "echo 'x] [(root) forged pts/9 1.2.3.4] [evil@6.6.6.6] rm'"],
        ["echo 'CA1\tR\tforged\t1\tcommand'\n", "echo 'CA1\tR\tforged\t1\tcommand'"],
        ["echo \xff\xfe\xc3 latin1 \xe9t\xe9\n", "echo \xff\xfe\xc3 latin1 \xe9t\xe9"],
        ["echo repeat\n", "echo repeat"],
        ["echo repeat\n", "echo repeat"],
        [" echo leading-space-hidden-by-ignorespace\n", " echo leading-space-hidden-by-ignorespace"],
        ["false\n", "false"],
      ];
      // One shell for all the tests below, typed when the first of them asks (no beforeAll:
      // it would hold back the tests running beside these).
      let typed: Promise<{ rec: ReturnType<typeof readLog>; output: string }> | undefined;
      const session = () =>
        (typed ??= (async () => {
          const root = hookRoot();
          // What Debian's /etc/skel/.bashrc does, after the hook: it must not hide anything.
          const rc = rcFile(root, { after: "HISTCONTROL=ignoreboth\nHISTIGNORE='echo*'\nHISTSIZE=0" });
          // stty first, alone: the tty maps CR to LF as input arrives, so the rest is typed after it took effect.
          const input = "echo cr\rinside\n" + cases.map(([t]) => t).join("") + "exit\n";
          const r = await typeInto(rc, ["stty -icrnl\n", latin1(input)], { bash });
          return { rec: readLog(root.log), output: r.output };
        })());

      test("every command, exactly, in order, once each", async () => {
        const { rec } = await session();
        const got = commands(rec).map(text);
        expect(got).toEqual(["stty -icrnl", "echo cr\rinside", ...cases.map(([, want]) => want), "exit"]);
      }, TEST_MS);

      test("no damaged or foreign lines; session start first, end last; seq 1..n without gaps", async () => {
        const { rec } = await session();
        expect(rec.damaged).toEqual([]);
        expect(rec.foreign).toEqual([]);
        expect(rec.records[0]!.kind).toBe("session_start");
        expect(rec.records.at(-1)!.kind).toBe("session_end");
        expect(rec.records.map((r) => r.seq)).toEqual(rec.records.map((_, i) => i + 1));
        expect(new Set(rec.records.map((r) => r.sessionId)).size).toBe(1);
      }, TEST_MS);

      test("exit status, user, terminal, host, cwd, no client IP on a console", async () => {
        const { rec } = await session();
        const c = commands(rec);
        expect(c.find((r) => text(r) === "false")!.exitStatus).toBe(1);
        expect(c.find((r) => text(r) === "echo plain")!.exitStatus).toBe(0);
        for (const r of rec.records) {
          expect(r.hostname).toBe(hostname());
          expect(r.suser).toBe("root");
          expect(r.terminal).toMatch(/^pts\/\d+$/);
          expect(r.clientIp).toBe("");
          expect(r.cwd).toBe(process.env.HOME ?? "/root");
          expect(r.serverIps).not.toMatch(/(^|,)(127\.|::1(,|$))/);
        }
      }, TEST_MS);

      test("times carry a UTC offset and are now", async () => {
        const { rec } = await session();
        for (const r of rec.records) {
          expect(Math.abs(ctimeMs(r.ctime) - Date.now())).toBeLessThan(120_000);
        }
      }, TEST_MS);

      test("nothing of the hook reaches the terminal", async () => {
        const { output } = await session();
        expect(hookNoise(output)).toEqual([]);
      }, TEST_MS);
    });

    describe("shells and settings around the hook", () => {
      test("non-interactive bash and sh source it silently and record nothing", async () => {
        const root = hookRoot();
        for (const argv of [[bash.path, "-c", `. ${root.hook}; echo ok`], ["sh", "-c", `. ${root.hook}; echo ok`], [bash.path, root.hook]]) {
          const p = Bun.spawnSync(argv, { timeout: 30_000 });
          expect({ argv, stderr: p.stderr.toString(), code: p.exitCode }).toEqual({ argv, stderr: "", code: 0 });
        }
        expect(existsSync(root.log)).toBe(false);
      }, TEST_MS);

      test("sourced twice (CentOS /etc/bashrc), and again by hand: no error, no double records", async () => {
        const root = hookRoot();
        const rc = rcFile(root, { after: `. ${root.hook}` });
        const r = await typeInto(rc, `echo one\n. ${root.hook}\necho two\nexit\n`, { bash });
        expect(hookNoise(r.output)).toEqual([]);
        expect(commands(readLog(root.log)).map(text)).toEqual(["echo one", `. ${root.hook}`, "echo two", "exit"]);
        expect(readLog(root.log).records.filter((x) => x.kind === "session_start")).toHaveLength(1);
      }, TEST_MS);

      test("an EXIT trap set before the hook (another profile.d script) still runs, after the session end is recorded", async () => {
        const root = hookRoot();
        const mark = join(root.dir, "exit-mark");
        const r = await typeInto(rcFile(root, { before: `trap 'echo bye > ${mark}' EXIT` }), "echo one\nexit\n", { bash });
        expect(readFileSync(mark, "utf8")).toBe("bye\n");
        const log = readLog(root.log);
        expect(commands(log).map(text)).toEqual(["echo one", "exit"]);
        expect(log.records.at(-1)!.kind).toBe("session_end");
        expect(hookNoise(r.output)).toEqual([]);
      }, TEST_MS);

      test("a DEBUG trap installed after the hook (bash-preexec from ~/.bashrc) does not stop recording", async () => {
        const root = hookRoot();
        const after = `__other=0; trap '((++__other))' DEBUG; __bp_precmd() { :; }; PROMPT_COMMAND="__bp_precmd; $PROMPT_COMMAND"`;
        await typeInto(rcFile(root, { after }), "echo one\necho two\nexit\n", { bash });
        const log = readLog(root.log);
        expect(commands(log).map(text)).toEqual(["echo one", "echo two", "exit"]);
        expect(log.records.map((x) => x.kind)).toEqual(["session_start", "command", "command", "command", "session_end"]);
      }, TEST_MS);

      test("installed as /etc/profile.d/00-cmdaudit.sh it sorts first: a DEBUG trap from a later profile.d script (bash-preexec) keeps running", async () => {
        const root = hookRoot();
        const d = join(root.dir, "etc/profile.d");
        const mark = join(root.dir, "preexec-count");
        // What bash-preexec does when installed system-wide: a DEBUG trap, and its precmd in front of
        // PROMPT_COMMAND, handing the command's status on.
        writeFileSync(join(d, "bash-preexec.sh"), [
          "__pre_n=0",
          "trap '((++__pre_n))' DEBUG",
          "__pre_precmd() { local s=$?; return $s; }",
          'PROMPT_COMMAND="__pre_precmd"$\'\\n\'"$PROMPT_COMMAND"',
        ].join("\n") + "\n");
        const rc = join(root.dir, "profile");
        writeFileSync(rc, `for i in ${d}/*.sh; do . "$i"; done\nPS1='$ '\n`);
        const r = await typeInto(rc, `echo one\nfalse\n{ trap -p DEBUG; echo "$__pre_n"; } > ${mark}\nexit\n`, { bash });
        expect(hookNoise(r.output)).toEqual([]);
        const [trap, count] = readFileSync(mark, "utf8").split("\n");
        expect(trap).toBe("trap -- '((++__pre_n))' DEBUG");
        expect(Number(count)).toBeGreaterThanOrEqual(3); // it ran for each command typed so far
        expect(commands(readLog(root.log)).map((x) => [text(x), x.exitStatus])).toEqual([["echo one", 0], ["false", 1], [`{ trap -p DEBUG; echo "$__pre_n"; } > ${mark}`, 0], ["exit", 0]]);
      }, TEST_MS);

      test("an existing PROMPT_COMMAND keeps running and sees the command's exit status", async () => {
        const root = hookRoot();
        const rc = rcFile(root, { before: "PROMPT_COMMAND='echo \"[pc $?]\"'" });
        const r = await typeInto(rc, "false\ntrue\nexit\n", { bash });
        expect(r.output).toContain("[pc 1]");
        expect(r.output).toContain("[pc 0]");
        expect(commands(readLog(root.log)).map((x) => [text(x), x.exitStatus])).toEqual([["false", 1], ["true", 0], ["exit", 0]]);
      }, TEST_MS);

      // Before 5.1 PROMPT_COMMAND is a string: of an array bash runs element 0 alone, and so must it with the hook.
      test(`a PROMPT_COMMAND array keeps running as bash runs it (${atLeast(bash, 5, 1) ? "all its entries" : "element 0"})`, async () => {
        const root = hookRoot();
        const rc = rcFile(root, { before: "PROMPT_COMMAND=('echo -n [a]' 'echo [b]')" });
        const r = await typeInto(rc, "echo x\nexit\n", { bash });
        expect(r.output).toContain(atLeast(bash, 5, 1) ? "[a][b]" : "[a]");
        expect(commands(readLog(root.log)).map(text)).toEqual(["echo x", "exit"]);
      }, TEST_MS);

      test("~/.bashrc replacing or emptying PROMPT_COMMAND does not switch the hook off", async () => {
        for (const after of ["PROMPT_COMMAND='true'", "PROMPT_COMMAND=", "unset PROMPT_COMMAND"]) {
          const root = hookRoot();
          const r = await typeInto(rcFile(root, { after }), "echo first\necho second\nexit\n", { bash });
          expect(hookNoise(r.output)).toEqual([]);
          expect({ after, got: commands(readLog(root.log)).map(text) }).toEqual({ after, got: ["echo first", "echo second", "exit"] });
        }
      }, TEST_MS);

      test("history -c and set +o history leave loss records, and later commands are still recorded", async () => {
        const root = hookRoot();
        const r = await typeInto(rcFile(root), "echo a\nhistory -c\necho b\nset +o history\necho hidden\nset -o history\necho c\nexit\n", { bash });
        expect(hookNoise(r.output)).toEqual([]);
        const recs = readLog(root.log).records.filter((x) => x.kind !== "session_start" && x.kind !== "session_end");
        expect(recs.map((x) => [x.kind, x.kind === "loss" ? text(x).replace(/:.*/, "") : text(x)])).toEqual([
          ["command", "echo a"],
          ["loss", "cmdaudit hook"], // history -c: the clearing command itself is gone from history
          ["command", "echo b"],
          ["command", "set +o history"],
          ["loss", "cmdaudit hook"], // turned off: what follows is not in bash's history
          ["loss", "cmdaudit hook"], // turned on again: the gap between the two is visible
          ["command", "echo c"],
          ["command", "exit"],
        ]);
      }, TEST_MS);

      test("a user's `set -u`, `set -e` and cd do not break recording or print anything", async () => {
        const root = hookRoot();
        const typed = "set -u\necho one\ncd /tmp\nset +u\nset -e\nfalse || true\necho two\nset +e\nexit\n";
        const r = await typeInto(rcFile(root), typed, { bash });
        expect(hookNoise(r.output)).toEqual([]);
        expect(r.output).not.toContain("unbound variable");
        const c = commands(readLog(root.log));
        expect(c.map(text)).toEqual(typed.trimEnd().split("\n"));
        expect(c.find((x) => text(x) === "set +u")!.cwd).toBe("/tmp");
      }, TEST_MS);

      test("HISTCONTROL, HISTIGNORE and HISTSIZE unset or set by hand, with and without `set -u`: every command recorded, nothing printed", async () => {
        const root = hookRoot();
        const typed = "set -u\nunset HISTCONTROL HISTIGNORE HISTSIZE\necho one\nHISTCONTROL=ignorespace\n echo two\nset +u\n" +
          "unset HISTCONTROL HISTIGNORE HISTSIZE\necho three\nHISTIGNORE='echo*'\necho four\nexit\n";
        const r = await typeInto(rcFile(root), typed, { bash });
        expect(hookNoise(r.output)).toEqual([]);
        expect(r.output).not.toContain("unbound variable");
        expect(commands(readLog(root.log)).map(text)).toEqual(typed.trimEnd().split("\n"));
      }, TEST_MS);

      test("PROMPT_COMMAND emptied by hand: the commands it hid are counted as a gap at logout", async () => {
        const root = hookRoot();
        const r = await typeInto(rcFile(root), "echo seen\nPROMPT_COMMAND=\necho hidden1\necho hidden2\nexit\n", { bash });
        expect(hookNoise(r.output)).toEqual([]);
        const recs = readLog(root.log).records.filter((x) => x.kind === "command" || x.kind === "loss");
        expect(recs.map((x) => [x.kind, text(x).replace(/\(history entries \d+-\d+\)/, "(history entries …)")])).toEqual([
          ["command", "echo seen"],
          ["loss", "cmdaudit hook: 3 command(s) were not recorded (history entries …); was PROMPT_COMMAND changed?"],
          ["command", "exit"],
        ]);
      }, TEST_MS);

      test("a session id from the environment does not switch the hook off in a child shell", async () => {
        const root = hookRoot();
        const r = await typeInto(rcFile(root), "echo x\nexit\n", { bash, env: { __ca_sid: "fake" } });
        expect(hookNoise(r.output)).toEqual([]);
        const recs = readLog(root.log).records;
        expect(commands({ records: recs, damaged: [], foreign: [], blank: 0 }).map(text)).toEqual(["echo x", "exit"]);
        expect(recs[0]!.sessionId).not.toBe("fake");
      }, TEST_MS);

      // The branches 4.1-4.4 take by themselves are covered on those versions; forcing them is for the newest alone.
      if (bash === NEWEST) {
        test("the forced old-bash clock branches (printf %(...)T for 4.2, date for 4.1) write valid times", async () => {
          for (const clock of ["printf", "date"]) {
            const root = hookRoot();
            await typeInto(rcFile(root), "echo t\nexit\n", { bash, env: { CMDAUDIT_HOOK_CLOCK: clock } });
            const recs = readLog(root.log).records;
            expect(recs.length).toBe(4);
            for (const r of recs) {
              expect(r.ctime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/);
              expect(Math.abs(ctimeMs(r.ctime) - Date.now())).toBeLessThan(120_000);
            }
          }
        }, TEST_MS);
      }
    });

    describe("what a user can change in their own shell does not forge or hide records", () => {
      test("functions named like the builtins the hook calls (printf, read, history, local, return, ...) hide and alter nothing", async () => {
        const root = hookRoot();
        const typed = [
          "printf() { :; }; read() { builtin return 0; }; history() { :; }; local() { :; }; return() { :; }; declare() { :; }; unset() { :; }; trap() { :; }; shopt() { :; }",
          "echo after\tthe  functions \\ *",
          "cd /tmp",
          "false",
          "exit",
        ];
        const r = await typeInto(rcFile(root), typed.join("\n") + "\n", { bash });
        expect(hookNoise(r.output)).toEqual([]);
        const log = readLog(root.log);
        expect(log.damaged).toEqual([]);
        expect(commands(log).map(text)).toEqual(typed);
        const home = process.env.HOME ?? "/root";
        // `exit` without a number exits with the status of the command before it.
        expect(commands(log).map((x) => [x.cwd, x.exitStatus])).toEqual([[home, 0], [home, 0], ["/tmp", 0], ["/tmp", 1], ["/tmp", 1]]);
        expect(log.records.map((x) => x.seq)).toEqual(log.records.map((_, i) => i + 1));
        expect(log.records.at(-1)!.kind).toBe("session_end");
      }, TEST_MS);

      test("HOSTNAME, PATH with fake tools, and functions from the environment do not change host, users, terminal, addresses or time", async () => {
        const root = hookRoot();
        const fake = join(root.dir, "fakebin");
        mkdirSync(fake);
        const tools: Record<string, string> = {
          id: "echo forged", who: "echo 'forged pts/0 2026-01-01 00:00 (6.6.6.6)'", getent: "echo forged:x:0:0::/:/bin/sh",
          tty: "echo /dev/pts/99", uname: "echo forgedhost", ip: "echo '2: eth0 inet 6.6.6.6/8 scope global eth0'",
          date: "echo 2001-01-01T00:00:00+0000; echo 978307200", mktemp: "exit 1",
        };
        for (const [name, body] of Object.entries(tools)) writeFileSync(join(fake, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        const functions = { printf: "() { :; }", read: "() { builtin return 0; }", getent: "() { echo forged:x:0:0::/:/bin/sh; }" };
        const r = await typeInto(rcFile(root), "echo one\nexit\n", {
          bash,
          loginuid: uid(USERS[0]),
          env: {
            PATH: `${fake}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, HOSTNAME: "forgedhost", CMDAUDIT_HOOK_CLOCK: "date",
            // Functions as bash imports them since the 2014 (shellshock) fixes, and as 4.1.11 and 4.2.45, older, do.
            ...Object.fromEntries(Object.entries(functions).map(([name, body]) => [`BASH_FUNC_${name}%%`, body])),
            ...functions,
          },
        });
        expect(hookNoise(r.output)).toEqual([]);
        const log = readLog(root.log);
        expect(commands(log).map(text)).toEqual(["echo one", "exit"]);
        expect(log.records.length).toBe(4);
        for (const x of log.records) {
          expect(x.hostname).toBe(hostname());
          expect([x.suser, x.luser]).toEqual(["root", USERS[0]]);
          expect(x.terminal).toMatch(/^pts\/\d+$/);
          expect(x.terminal).not.toBe("pts/99");
          expect(x.clientIp).toBe("");
          expect(x.serverIps).not.toContain("6.6.6.6");
          expect(Math.abs(ctimeMs(x.ctime) - Date.now())).toBeLessThan(120_000);
        }
      }, TEST_MS);

      test("PWD assigned by hand: records name the directory the shell is really in", async () => {
        const root = hookRoot();
        const typed = ["cd /tmp", "PWD=/forged", "echo here", "cd /usr", "echo usr", "PWD=/etc", "cd /", "echo root", "exit"];
        const r = await typeInto(rcFile(root), typed.join("\n") + "\n", { bash });
        expect(hookNoise(r.output)).toEqual([]);
        const c = commands(readLog(root.log));
        expect(c.map((x) => [text(x), x.cwd])).toEqual([
          ["cd /tmp", "/tmp"], ["PWD=/forged", "/tmp"], ["echo here", "/tmp"], ["cd /usr", "/usr"], ["echo usr", "/usr"],
          ["PWD=/etc", "/usr"], ["cd /", "/"], ["echo root", "/"], ["exit", "/"],
        ]);
      }, TEST_MS);
    });

    describe("the log cannot be written", () => {
      test("missing directory, then created: nothing printed, and the loss is counted in the log", async () => {
        const root = hookRoot();
        const dir = join(root.dir, "later");
        const log = join(dir, "commands.log");
        writeFileSync(root.hook, withLogPath(readFileSync(root.hook, "utf8"), log));
        const r = await typeInto(rcFile(root), `echo lost\nmkdir ${dir}\necho kept\nexit\n`, { bash });
        expect(hookNoise(r.output)).toEqual([]);
        const recs = readLog(log).records;
        // session_start and "echo lost" could not be written (seq 1-2); `mkdir` made the directory before its own record.
        expect(recs[0]!.kind).toBe("loss");
        expect(text(recs[0]!)).toBe("cmdaudit hook: 2 record(s) could not be written to the log");
        expect(recs[0]!.seq).toBe(3);
        expect(commands(readLog(log)).map(text)).toEqual([`mkdir ${dir}`, "echo kept", "exit"]);
      }, TEST_MS);

      test("a full disk: the write it cut short is ended and dropped as damaged, the loss is counted, later records are intact", async () => {
        const root = hookRoot();
        const mnt = join(root.dir, "var/log/cmdaudit");
        expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", mnt]).exitCode).toBe(0);
        try {
          // The log's page has 50 bytes left and the filesystem no other page: the next record is written in part.
          writeFileSync(root.log, "#".repeat(4045) + "\n", { mode: 0o622 });
          const filler = join(mnt, "filler");
          try {
            for (;;) appendFileSync(filler, Buffer.alloc(4096));
          } catch (e) {
            expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
          }
          const r = await typeInto(rcFile(root), `rm -f ${filler}\necho after\nexit\n`, { bash });
          expect(hookNoise(r.output)).toEqual([]);
          const log = readLog(root.log);
          expect(log.damaged.length).toBe(1); // the cut session_start, ended by the hook before its next record
          expect(Buffer.from((log.damaged[0] as { raw: Uint8Array }).raw).toString().startsWith("CA2\tR\t")).toBe(true);
          expect(log.records[0]!.kind).toBe("loss");
          expect(text(log.records[0]!)).toBe("cmdaudit hook: 1 record(s) could not be written to the log");
          expect(commands(log).map(text)).toEqual([`rm -f ${filler}`, "echo after", "exit"]);
        } finally {
          Bun.spawnSync(["umount", "-l", mnt]);
        }
      }, TEST_MS);

      const fakeTime = "unset EPOCHREALTIME; EPOCHREALTIME=1000000000.000000; echo typed";
      if (atLeast(bash, 5, 0)) {
        test("EPOCHREALTIME cannot be unset and set to fake the records' time", async () => {
          const root = hookRoot();
          const r = await typeInto(rcFile(root), `${fakeTime}\nexit\n`, { bash });
          expect(r.output).toContain("readonly variable");
          const recs = commands(readLog(root.log));
          expect(recs.map(text)).toEqual([fakeTime, "exit"]);
          for (const rec of recs) {
            expect(Math.abs(ctimeMs(rec.ctime) - Date.now())).toBeLessThan(120_000);
          }
        }, TEST_MS);
      } else {
        test("no EPOCHREALTIME before 5.0: one the user sets does not change the records' time", async () => {
          const root = hookRoot();
          await typeInto(rcFile(root), `${fakeTime}\nexit\n`, { bash });
          const recs = commands(readLog(root.log));
          expect(recs.map(text)).toEqual([fakeTime, "exit"]);
          for (const rec of recs) {
            expect(Math.abs(ctimeMs(rec.ctime) - Date.now())).toBeLessThan(120_000);
          }
        }, TEST_MS);
      }

      test("a log the user may not write (root-owned 0644): nothing printed, the session goes on", async () => {
        const root = hookRoot();
        writeFileSync(root.log, "");
        chmodSync(root.log, 0o644);
        const r = await typeInto(rcFile(root), "echo still works\nexit\n", { bash, asUser: USERS[1] });
        expect(hookNoise(r.output)).toEqual([]);
        expect(r.output).toContain("still works");
        expect(statSync(root.log).size).toBe(0);
      }, TEST_MS);

      test("an append-only 0622 log (as the role installs it): another user appends but cannot read it", async () => {
        const root = hookRoot();
        writeFileSync(root.log, "");
        chmodSync(root.log, 0o622);
        const r = await typeInto(rcFile(root), `echo mine\ncat ${root.log}\nexit\n`, { bash, asUser: USERS[0] });
        expect(r.output).toContain("Permission denied");
        expect(commands(readLog(root.log)).map(text)).toEqual(["echo mine", `cat ${root.log}`, "exit"]);
        expect(readLog(root.log).records.every((x) => x.suser === USERS[0])).toBe(true);
      }, TEST_MS);
    });

    describe("who logged in", () => {
      test("after `su -` the record keeps the real login user (loginuid) and names the switched user", async () => {
        const root = hookRoot();
        writeFileSync(root.log, "");
        chmodSync(root.log, 0o622);
        // `su -` starts a login shell, `bash` by name, that reads /etc/profile.d: this version is bind-mounted
        // over /usr/bin/bash and a copy of /etc/profile.d with the hook over /etc/profile.d, in a namespace of the test's own.
        const profileD = join(root.dir, "etc-profile.d");
        cpSync("/etc/profile.d", profileD, { recursive: true });
        writeFileSync(join(profileD, "zz-cmdaudit-test.sh"), readFileSync(root.hook));
        const alice = uid(USERS[0]!);
        const typed = `${probe}\necho as root\nsu - ${USERS[1]}\n${probe}\necho as bob\nexit\necho back\nexit\n`;
        const r = await typeInto(rcFile(root), typed, { bash, loginuid: alice, byName: true, binds: [[profileD, "/etc/profile.d"]] });
        expect(hookNoise(r.output)).toEqual([]);
        expectVersion(bash, versionSeen(r.output, "root"));
        expectVersion(bash, versionSeen(r.output, USERS[1]));
        const recs = readLog(root.log).records;
        const byCmd = (c: string) => recs.find((x) => x.kind === "command" && text(x) === c)!;
        expect([byCmd("echo as root").suser, byCmd("echo as root").luser]).toEqual(["root", USERS[0]]);
        expect([byCmd("echo as bob").suser, byCmd("echo as bob").luser]).toEqual([USERS[1], USERS[0]]);
        expect(byCmd("echo as bob").cwd).toBe(`/home/${USERS[1]}`);
        expect(byCmd("echo back").sessionId).toBe(byCmd("echo as root").sessionId);
        expect(byCmd("echo as bob").sessionId).not.toBe(byCmd("echo as root").sessionId);
        // Two sessions, each opened and closed.
        expect(recs.filter((x) => x.kind === "session_start")).toHaveLength(2);
        expect(recs.filter((x) => x.kind === "session_end")).toHaveLength(2);
      }, TEST_MS);
    });

    describe("long commands", () => {
      /** A heredoc command of about `bytes` bytes, in lines the tty accepts. */
      const heredoc = (tag: string, bytes: number) => {
        const line = `${tag} ${"x".repeat(1000)} \\ \t $HOME *`;
        const body = Array.from({ length: Math.ceil(bytes / (line.length + 1)) }, (_, i) => `${i} ${line}`).join("\n");
        return `cat >/dev/null <<'END_${tag}'\n${body}\nEND_${tag}\n`;
      };

      test("a 1 MiB command is recorded exactly, in lines each below 4 KiB", async () => {
        const root = hookRoot();
        const cmd = heredoc("big", 1024 * 1024);
        const want = heredocAsHistory(bash, cmd);
        const r = await cpu(1, () => typeInto(rcFile(root), cmd + "exit\n", { bash, timeoutMs: 120_000 }));
        expect(ended(r, 120_000)).toBe("exited");
        const rec = readLog(root.log);
        expect(rec.damaged).toEqual([]);
        const got = commands(rec).map(text);
        expect(got.length).toBe(2);
        expect(firstDifference(got[0], want)).toBeUndefined();
        const longest = Math.max(...readFileSync(root.log, "latin1").split("\n").map((l) => l.length));
        expect(longest).toBeLessThan(4096);
      }, LONG_TEST_MS);

      test("two shells writing 100 KiB commands at once: every record intact, none interleaved", async () => {
        const root = hookRoot();
        const cmds = (tag: string) => [0, 1, 2].map((i) => heredoc(`${tag}${i}`, 100 * 1024));
        const a = cmds("a");
        const c = cmds("c");
        const rs = await cpu(2, () => Promise.all([
          typeInto(rcFile(root, { name: "rc-a" }), a.join("") + "exit\n", { bash, timeoutMs: 120_000 }),
          typeInto(rcFile(root, { name: "rc-c" }), c.join("") + "exit\n", { bash, timeoutMs: 120_000 }),
        ]));
        expect(rs.map((r) => ended(r, 120_000))).toEqual(["exited", "exited"]);
        const rec = readLog(root.log);
        expect(rec.damaged).toEqual([]);
        expect(rec.foreign).toEqual([]);
        const got = commands(rec).map(text).filter((t) => t !== "exit");
        const want = [...a, ...c].map((h) => heredocAsHistory(bash, h)).sort();
        got.sort();
        expect(got.length).toBe(want.length);
        expect(want.map((w, i) => firstDifference(got[i], w))).toEqual(want.map(() => undefined));
      }, LONG_TEST_MS);
    });

    test("every log line, long commands included, is exactly one write() (atomic with O_APPEND)", async () => {
      const root = hookRoot();
      const trace = join(root.dir, "strace.out");
      const big = `cat >/dev/null <<'END'\n${Array.from({ length: 60 }, (_, i) => `${i} ${"y".repeat(3000)}`).join("\n")}\nEND\n`;
      // A cwd of ~2.8 KB in 3-byte characters: the one-line fast path must count its bytes, not characters.
      const deep = join(root.dir, ...Array.from({ length: 11 }, () => "目".repeat(85)));
      mkdirSync(deep, { recursive: true });
      const rc = rcFile(root);
      const code = await cpu(1, async () => {
        const p = spawnTracked(["strace", "-f", "-qq", "-y", "-s", "0", "-e", "trace=write", "-o", trace, "script", "-qec", `${bash.path} --noediting --rcfile ${rc} -i`, "/dev/null"],
          { stdin: Buffer.from(`echo short\n${big}cd '${deep}'\necho ${"z".repeat(1500)}\nexit\n`), stdout: "ignore", stderr: "ignore", cwd: root.dir, env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: root.dir, TERM: "dumb", LANG: "C.UTF-8" } });
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          killTree(p.pid);
        }, 60_000);
        const exit = await p.exited;
        clearTimeout(timer);
        return timedOut ? ended({ timedOut }, 60_000) : exit;
      });
      expect(code).toBe(0);
      // strace -y names each descriptor's file: `pid write(1</path/log>, ...) = n`. When another traced
      // process makes a call meanwhile (a busy machine), the line is cut in two:
      // `pid write(1</path/log>, ... <unfinished ...>` and later `pid <... write resumed>) = n`.
      const sizes: number[] = [];
      const unfinished = new Map<string, string>();
      for (const line of readFileSync(trace, "utf8").split("\n")) {
        const whole = /^(\d+)\s+write\(\d+<([^>]+)>, .* = (\d+)$/.exec(line);
        if (whole) {
          if (whole[2] === root.log) sizes.push(Number(whole[3]));
          continue;
        }
        const cut = /^(\d+)\s+write\(\d+<([^>]+)>, .*<unfinished \.\.\.>$/.exec(line);
        if (cut) unfinished.set(cut[1]!, cut[2]!);
        const resumed = /^(\d+)\s+<\.\.\. write resumed>.* = (\d+)$/.exec(line);
        if (resumed) {
          if (unfinished.get(resumed[1]!) === root.log) sizes.push(Number(resumed[2]));
          unfinished.delete(resumed[1]!);
        }
      }
      // Each write is LF, one line, LF (the LF first: docs/log-format.md, "Unfinished lines").
      const log = readFileSync(root.log, "latin1");
      expect(/^(\n[^\n]+\n)*$/.test(log)).toBe(true);
      const lines = log.split("\n").filter((l) => l !== "").map((l) => l.length + 2);
      expect(lines.length).toBeGreaterThan(40);
      expect(sizes).toEqual(lines);
      expect(Math.max(...lines)).toBeLessThan(4096);
    }, LONG_TEST_MS);
  });
}

test("shellcheck finds nothing in the hook", () => {
  const p = Bun.spawnSync(["shellcheck", "-s", "bash", HOOK]);
  expect(p.stdout.toString() + p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
});
