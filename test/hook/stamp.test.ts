/**
 * The hook on the attested path (docs/transport.md): real interactive shells of every bash on a pty
 * write to the real stamping daemon (agent/src/stamp/server.ts) over bash's /dev/tcp. Every record
 * arrives as it would in the log file; the daemon going away, coming later, or the shell's own
 * descriptor closed loses nothing silently: each ends in a contiguous seq, or a loss record with the
 * exact count.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStampServer } from "../../agent/src/stamp/server.ts";
import { readSpool, type SpoolContent } from "../../agent/src/stamp/spool-records.ts";
import { toWireRecord, type WireRecord } from "../../protocol/index.ts";
import { startPrivilegedStampServer } from "../support/stamp.ts";
import { BASHES, type Bash, commands, hookNoise, hookRoot, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, typeInto } from "./support.ts";

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-hook-stamp-"));
afterAll(async () => {
  await removeHookRoots();
  rmSync(dir, { recursive: true, force: true });
}, REMOVE_ROOTS_MS);

let n = 0;
const daemon = (port = 0, spoolDir = join(dir, `spool-${++n}`)) =>
  startPrivilegedStampServer({ port, spoolDir, quotaBytesPerUid: 64 << 20, maxConnectionsPerUid: 64, maxLineBytes: 65536 });

/** Every spool file of `spoolDir` once all are closed, oldest connection first, as the reporter reads them. */
async function spooled(spoolDir: string): Promise<SpoolContent[]> {
  for (let i = 0; i < 200; i++) {
    const names = readdirSync(spoolDir).filter((f) => f.endsWith(".spool"));
    const all = names.map((f) => readFileSync(join(spoolDir, f)));
    if (all.length && all.every((b) => b.includes("\n#closed "))) {
      // `<uid>-<opened ms>-<n>.spool`; n counts within one daemon's life.
      const order = (f: string) => f.replace(/\.spool$/, "").split("-").slice(-2).map(Number) as [number, number];
      return names
        .map((f, i) => [f, all[i]!] as const)
        .sort(([a], [b]) => order(a)[0] - order(b)[0] || order(a)[1] - order(b)[1])
        .map(([, b]) => readSpool(b, (uid) => String(uid), 0));
    }
    await Bun.sleep(50);
  }
  throw new Error(`spool not settled in ${spoolDir}`);
}

/** What a record says, without when (the clock) and which session (random). */
const gist = (w: WireRecord) => ({ kind: w.kind, seq: w.seq, command: w.command ?? w.commandB64, cwd: w.cwd, exitStatus: w.exitStatus, suser: w.suser });
const seqs = (rs: WireRecord[]) => rs.map((r) => r.seq);
const upTo = (k: number) => Array.from({ length: k }, (_, i) => i + 1);

// A TAB, non-ASCII, a multi-line command, and one long enough for the awk path (> 8 KiB).
const LONG = `cat >/dev/null <<'END'\n${Array.from({ length: 12 }, (_, i) => `${i} ${"z".repeat(1000)}`).join("\n")}\nEND`;
const TYPED = ["echo one", "echo 'a\tb'", "echo été 中文", "for i in 1 2; do\n  echo $i\ndone", LONG, "false", "cd /tmp", "exit"].join("\n") + "\n";

describe.each(BASHES)("bash $version", (bash: Bash) => {
  test("every record goes to the daemon, as the log file would have it, on the user's own attested connection; nothing goes to the file", async () => {
    const d = daemon();
    try {
      const root = hookRoot({ stampPort: d.port });
      const r = await typeInto(rcFile(root), TYPED, { bash, timeoutMs: 60_000 });
      expect(hookNoise(r.output)).toEqual([]);
      const files = await spooled(d.spoolDir);
      expect(files.length).toBe(1);
      expect(files[0]!.stamp.uid).toBe(0);
      expect(files[0]!.losses).toEqual([]);
      expect(files[0]!.damaged).toEqual([]);
      expect(readLog(root.log).records).toEqual([]);
      // The same input in the file mode: the same records.
      const fileRoot = hookRoot();
      await typeInto(rcFile(fileRoot), TYPED, { bash, timeoutMs: 60_000 });
      const viaFile = readLog(fileRoot.log).records.map(toWireRecord);
      expect(files[0]!.records.map(gist)).toEqual(viaFile.map(gist));
      expect(commands(readLog(fileRoot.log)).length).toBe(8);
      expect(seqs(files[0]!.records)).toEqual(upTo(10));
      expect(d.counters).toMatchObject({ connections: 1, unattributed: 0, dropped: 0, unkeyed: 0 });
    } finally {
      d.stop();
    }
  }, 150_000);

  test("the daemon restarted mid-session: the shell lives on, reconnects, and every record arrives once, seqs contiguous, no loss", async () => {
    let d = daemon();
    const { port, spoolDir } = { port: d.port, spoolDir: d.spoolDir };
    try {
      const root = hookRoot({ stampPort: port });
      const r = await typeInto(rcFile(root), ["echo before\n", "echo after\necho again\nexit\n"], {
        bash,
        between: async () => {
          d.stop();
          d = daemon(port, spoolDir);
        },
      });
      expect(hookNoise(r.output)).toEqual([]);
      expect(r.output).toContain("again");
      const files = await spooled(spoolDir);
      expect(files.length).toBe(2);
      const all = files.flatMap((f) => f.records);
      expect(all.map((w) => [w.kind, w.command])).toEqual([
        ["session_start", ""], ["command", "echo before"], ["command", "echo after"], ["command", "echo again"], ["command", "exit"], ["session_end", ""],
      ]);
      expect(seqs(all)).toEqual(upTo(6));
      expect(new Set(all.map((w) => w.sessionId)).size).toBe(1);
      expect(files.flatMap((f) => f.losses)).toEqual([]);
      expect(readLog(root.log).records).toEqual([]);
    } finally {
      d.stop();
    }
  }, 60_000);

  test("no daemon at login: the session writes to the log file, and keeps to it when a daemon starts later; none lost", async () => {
    const probe = daemon();
    const { port, spoolDir } = { port: probe.port, spoolDir: probe.spoolDir };
    probe.stop();
    let d: ReturnType<typeof daemon> | undefined;
    try {
      const root = hookRoot({ stampPort: port });
      const r = await typeInto(rcFile(root), ["echo early\n", "echo late\nexit\n"], {
        bash,
        between: async () => {
          d = daemon(port, spoolDir);
        },
      });
      expect(hookNoise(r.output)).toEqual([]);
      const inFile = readLog(root.log).records.map(toWireRecord);
      expect(inFile.map((w) => w.command)).toEqual(["", "echo early", "echo late", "exit", ""]);
      expect(seqs(inFile)).toEqual(upTo(5));
      expect(d!.counters.connections).toBe(0);
    } finally {
      d?.stop();
    }
  }, 60_000);

  test("the daemon stops for good mid-session: the shell lives on; later records go to the log file; all seqs there once, none lost", async () => {
    const d = daemon();
    try {
      const root = hookRoot({ stampPort: d.port });
      const r = await typeInto(rcFile(root), ["echo before\n", "echo after\necho again\nexit\n"], { bash, between: async () => d.stop() });
      expect(hookNoise(r.output)).toEqual([]);
      expect(r.output).toContain("$ again");
      const files = await spooled(d.spoolDir);
      const inSpool = files.flatMap((f) => f.records);
      const inFile = readLog(root.log).records.map(toWireRecord);
      expect(inSpool.map((w) => w.command)).toEqual(["", "echo before"]);
      expect(inFile.map((w) => w.command)).toEqual(["echo after", "echo again", "exit", ""]);
      expect(seqs([...inSpool, ...inFile])).toEqual(upTo(6));
    } finally {
      d.stop();
    }
  }, 60_000);

  test("a daemon on a port users may bind (at or above ip_unprivileged_port_start) is never used: the session writes to the log file", async () => {
    const d = startStampServer({ port: 0, spoolDir: join(dir, `spool-${++n}`), quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 8, maxLineBytes: 65536 });
    try {
      expect(d.port).toBeGreaterThanOrEqual(Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8")));
      const root = hookRoot({ stampPort: d.port });
      await typeInto(rcFile(root), "echo one\nexit\n", { bash });
      expect(readLog(root.log).records.map((r) => r.kind)).toEqual(["session_start", "command", "command", "session_end"]);
      expect(d.counters.connections).toBe(0);
    } finally {
      d.stop();
    }
  }, 60_000);

  test("the user closes the hook's descriptor (an off-switch): the next record goes on a new connection, nothing is lost, the terminal stays the terminal", async () => {
    const d = daemon();
    try {
      const root = hookRoot({ stampPort: d.port });
      const off = 'eval "exec $__ca_sock>&-"';
      const r = await typeInto(rcFile(root), `${off}\necho after\n[ -t 1 ] && [ -t 2 ] && echo both-ttys\nexit\n`, { bash });
      expect(hookNoise(r.output).filter((l) => !l.endsWith(off))).toEqual([]);
      expect(r.output).toContain("$ both-ttys\r\n$ "); // printed, and the prompt on the terminal after it
      const files = await spooled(d.spoolDir);
      expect(files.length).toBe(2);
      const all = files.flatMap((f) => f.records);
      expect(all.map((w) => w.command)).toEqual(["", off, "echo after", "[ -t 1 ] && [ -t 2 ] && echo both-ttys", "exit", ""]);
      expect(seqs(all)).toEqual(upTo(6));
      expect(files.flatMap((f) => f.losses)).toEqual([]);
      expect(d.counters.unkeyed).toBe(0);
      expect(readLog(root.log).records).toEqual([]);
    } finally {
      d.stop();
    }
  }, 60_000);
});
