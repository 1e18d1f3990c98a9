/**
 * Attacks on the log by another local user (issue 13, "Swallowing"), against the hook in real
 * interactive shells on a pty, on a log set up as the role sets it up: root's, mode 0622,
 * append-only (chattr +a where the file system takes it). The attacker is a user made for this
 * file and removed after it. Every test runs on every bash of BASHES.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BASHES, commands, hookNoise, hookRoot, type HookRoot, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, spawnTracked, text, typeInto } from "./support.ts";

/** The attacker: an unprivileged user of this test file's own. */
const MALLORY = `cmdaudit-mal${process.pid % 100000}`;
const TEST_MS = 120_000;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the hook attack tests run as root (they create a user)");
  const r = Bun.spawnSync(["useradd", "-M", "-s", "/bin/sh", MALLORY]);
  if (r.exitCode !== 0) throw new Error(`useradd ${MALLORY}: ${r.stderr}`);
});
afterAll(async () => {
  await removeHookRoots(); // the attacker's processes first
  Bun.spawnSync(["userdel", MALLORY]);
}, REMOVE_ROOTS_MS);

/** A log as the role installs it: root's, 0622, append-only when the file system allows. */
function roleLog(): HookRoot {
  const root = hookRoot();
  writeFileSync(root.log, "");
  chmodSync(root.log, 0o622);
  Bun.spawnSync(["chattr", "+a", root.log], { stdout: "ignore", stderr: "ignore" });
  return root;
}

/** Run `argv` as the attacker; its exit code. */
const asMallory = (argv: string[]) => Bun.spawnSync(["runuser", "-u", MALLORY, "--", ...argv]).exitCode;

/**
 * The attacker's loop: whenever the log grows, append one byte `x` without a newline (the file's
 * size is all it needs: it cannot read the log). Prints "ready", and when `stop` exists, the
 * number of bytes it appended.
 */
const WATCHER = `
my ($log, $stop) = @ARGV; $| = 1;
my $n = 0; my $last = -s $log;
print "ready\\n";
until (-e $stop) {
  my $s = -s $log;
  if ($s != $last) {
    open(my $h, ">>", $log) or die "open: $!"; syswrite($h, "x") == 1 or die "write: $!"; close($h);
    $n++; $last = -s $log;
  }
  select(undef, undef, undef, 0.0002);
}
print "$n\\n";
`;

const TYPED = ["echo one", "id -u", "echo 'three'", "true", "ls / >/dev/null", "echo six", "exit"];

for (const bash of BASHES) {
  describe.concurrent(`bash ${bash.version}`, () => {
    test("a byte without a newline before root's shell: every command is a record; the byte is a line of its own", async () => {
      const root = roleLog();
      expect(asMallory(["sh", "-c", 'printf x >> "$1"', "sh", root.log])).toBe(0);
      const r = await typeInto(rcFile(root), TYPED.join("\n") + "\n", { bash });
      expect(hookNoise(r.output)).toEqual([]);
      const log = readLog(root.log);
      expect(commands(log).map(text)).toEqual(TYPED);
      expect(log.records.map((x) => x.seq)).toEqual(log.records.map((_, i) => i + 1));
      expect(log.damaged).toEqual([]);
      // What the attacker wrote is visible as itself: one foreign line (the server counts it as ignored).
      expect(log.foreign.map((e) => Buffer.from(e.raw).toString("latin1"))).toEqual(["x"]);
    }, TEST_MS);

    test("a loop appending a byte whenever the log grows: every command is a record; every byte it wrote is in x-only lines", async () => {
      const root = roleLog();
      const stop = join(root.dir, "stop");
      const watcher = spawnTracked(["runuser", "-u", MALLORY, "--", "perl", "-e", WATCHER, root.log, stop], { stdout: "pipe", stderr: "pipe" });
      let said = "";
      const reading = (async () => {
        for await (const c of watcher.stdout) said += Buffer.from(c).toString();
      })();
      const err = new Response(watcher.stderr).text();
      for (const until = Date.now() + 10_000; !said.includes("\n") && Date.now() < until;) await Bun.sleep(20);
      expect(said).toBe("ready\n");
      const r = await typeInto(rcFile(root), TYPED.join("\n") + "\n", { bash });
      await Bun.sleep(100); // the byte after the last record, if the loop saw it
      writeFileSync(stop, "");
      expect(await watcher.exited).toBe(0);
      await reading;
      expect(await err).toBe("");
      const [, count] = said.trim().split("\n");
      const appended = Number(count);
      expect(hookNoise(r.output)).toEqual([]);
      const log = readLog(root.log);
      expect(commands(log).map(text)).toEqual(TYPED);
      expect(log.records.map((x) => x.seq)).toEqual(log.records.map((_, i) => i + 1));
      expect(log.damaged).toEqual([]);
      const foreign = log.foreign.map((e) => Buffer.from(e.raw).toString("latin1"));
      expect(foreign.every((l) => /^x+$/.test(l))).toBe(true);
      // Exact: every byte the attacker wrote shows up, in x-only lines or the unfinished last one; none in a record.
      const tail = readFileSync(root.log, "latin1").split("\n").at(-1)!;
      expect(tail).toMatch(/^x*$/);
      expect(foreign.join("").length + tail.length).toBe(appended);
      expect(appended).toBeGreaterThan(0);
    }, TEST_MS);
  });
}
