/**
 * What an unprivileged local user can do to the audit trail of a host set up as the roles set it up
 * (issue 13): the hook in real interactive shells on a pty (login uid set, as pam_loginuid does),
 * writing to the compiled reporter's stamping daemon (`cmdaudit-reporter listen` on a port below
 * 1024), the log file root's, 0622, append-only, and `cmdaudit-reporter run` shipping both to the
 * real server on MariaDB with the host's own token. The attacker is mallory; alice is another user.
 * Each test is one attack: what is stored, what is flagged, and the exact counts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { encodeRecord, type EncodableRecord } from "../../protocol/index.ts";
import { hostToken } from "../../server/src/host-token.ts";
import { type Backend, reporterBinary, removeTempDirs, startBackend } from "../agent/support.ts";
import { BASHES, type Bash, hookRoot, type HookRoot, rcFile, REMOVE_ROOTS_MS, removeHookRoots, spawnTracked, typeInto } from "../hook/support.ts";
import { READ_TOKEN } from "../support/config.ts";
import { exportRows } from "../support/query.ts";

const ALICE = `cmdaudit-al${process.pid % 100000}`;
const MALLORY = `cmdaudit-ml${process.pid % 100000}`;
const HOST = readFileSync("/proc/sys/kernel/hostname", "utf8").trim();
const KEY = "local-users-host-key-0123456789abcdefghij";
/** Per uid, as the test sets the daemon up: small, so that flooding reaches it quickly. */
const QUOTA = 256 * 1024;
const CAP = 8;

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-attacks-"));
const uid: Record<string, number> = {};
let backend: Backend;
let binary: string;
let daemon: Bun.Subprocess<"ignore", "ignore", "pipe"> | undefined;
let port = 0;
let root: HookRoot;
let rc: string;
const log = join(dir, "commands.log");
const config = join(dir, "reporter.yml");
const stateDir = join(dir, "state");

interface Row {
  kind: string; hostname: string; suser: string; luser: string; sessionId: string | null; seq: number | null; command: string;
  attestation: string; attestedUser: string | null; attestedLoginUser: string | null; flags: string[];
}
/** GET /api/v1/sessions: `missingSeqs` counts the seqs absent between the first and the last, `conflicts` the rows flagged conflict. */
interface Session { sessionId: string; records: number; missingSeqs: number; started: boolean; ended: boolean; conflicts: number; attestedUsers: string[] }

/** The stamping daemon as the role runs it: the compiled reporter's `listen`, on a free port below 1024. */
async function startDaemon(): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    port = 600 + Math.floor(Math.random() * 420);
    writeFileSync(config, stringify({
      server: { url: backend.server.url, token: hostToken(KEY, HOST), timeout_seconds: 5 },
      log: { path: log, rotate_grace_seconds: 0 },
      state_dir: stateDir,
      run: { budget_seconds: 60, attempts: 3, backoff_ms: 50 },
      stamp: { port, quota_bytes_per_uid: QUOTA, max_connections_per_uid: CAP },
    }), { mode: 0o600 });
    const p = Bun.spawn([binary, "-c", config, "listen"], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const reader = p.stderr.getReader();
    let err = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      err += new TextDecoder().decode(value);
      if (err.includes("listening on")) {
        reader.releaseLock();
        daemon = p;
        return;
      }
    }
    await p.exited; // the port was taken: another one
  }
  throw new Error("the stamping daemon did not start on any port tried");
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the local-user attack tests run as root (they create users)");
  for (const u of [ALICE, MALLORY]) {
    const r = Bun.spawnSync(["useradd", "-M", "-s", "/bin/bash", u]);
    if (r.exitCode !== 0) throw new Error(`useradd ${u}: ${r.stderr}`);
    uid[u] = Number(Bun.spawnSync(["id", "-u", u]).stdout.toString().trim());
  }
  chmodSync(dir, 0o755);
  const keyFile = join(dir, "host.key");
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  [backend, binary] = await Promise.all([startBackend({ CMDAUDIT_HOST_KEY_FILE: keyFile }), reporterBinary()]);
  // The log as the hook role leaves it: root's, 0622, append-only. The hook's port: the daemon's.
  writeFileSync(log, "");
  chmodSync(log, 0o622);
  Bun.spawnSync(["chattr", "+a", log], { stdout: "ignore", stderr: "ignore" });
  await startDaemon();
  root = hookRoot({ log, stampPort: port });
  rc = rcFile(root);
}, 180_000);

afterAll(async () => {
  daemon?.kill("SIGTERM");
  await daemon?.exited;
  await removeHookRoots();
  for (const u of [ALICE, MALLORY]) {
    Bun.spawnSync(["pkill", "-KILL", "-u", u]);
    Bun.spawnSync(["userdel", u]);
  }
  await backend?.stop();
  Bun.spawnSync(["chattr", "-R", "-a", dir], { stdout: "ignore", stderr: "ignore" });
  rmSync(dir, { recursive: true, force: true });
  removeTempDirs();
}, REMOVE_ROOTS_MS);

/** A file `user` can read (attack scripts, record lines). */
function shared(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o644 });
  chmodSync(p, 0o644);
  return p;
}

/** An interactive shell of `user`, logged in as themselves (login uid), typing `lines`. */
async function shell(user: string, bash: Bash, lines: string[], between?: (i: number) => Promise<void>): Promise<string> {
  const chunks = between ? lines : [lines.join("")];
  const r = await typeInto(rc, chunks, { bash, asUser: user, loginuid: uid[user], cwd: dir, env: { HOME: dir }, between, timeoutMs: 60_000 });
  return r.output;
}

/** `cmdaudit-reporter run`, as cron runs it: ships the log and the daemon's spool. */
async function ship(): Promise<void> {
  await Bun.sleep(300); // the daemon closes a connection's spool file when it sees the end
  const p = Bun.spawn([binary, "-c", config, "run"], { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`reporter run: exit ${code}\n${out}${err}`);
}

const rows = (filter: Record<string, string>) => exportRows<Row>(backend.server.url, { host: HOST, ...filter }, READ_TOKEN);
const bySeq = (rs: Row[]) => [...rs].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0) || (a.command < b.command ? -1 : a.command > b.command ? 1 : 0));

/** The reporter's own loss records so far, oldest first (its session id is in its state file). */
async function reporterLosses(): Promise<string[]> {
  const { reporterId } = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as { reporterId: string };
  return bySeq(await rows({ session: reporterId })).map((r) => r.command);
}
let seenLosses = 0;
/** Loss records the reporter stored since the last call. */
async function newLosses(): Promise<string[]> {
  const all = await reporterLosses();
  const fresh = all.slice(seenLosses);
  seenLosses = all.length;
  return fresh.sort();
}

async function sessionOf(sid: string): Promise<Session> {
  const res = await fetch(`${backend.server.url}/api/v1/sessions?host=${encodeURIComponent(HOST)}&limit=500`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
  const page = (await res.json()) as { items: Session[] };
  const s = page.items.find((x) => x.sessionId === sid);
  if (!s) throw new Error(`no session ${sid}`);
  return s;
}

/** The session id the hook of an attacker's shell printed (`echo SID=$__ca_sid`). */
const sidIn = (out: string) => /SID=(\S+)\r?\n/.exec(out.replace(/echo SID=\$__ca_sid/g, ""))![1]!;

/** A record line as the hook writes it (without the LF), claiming whatever `over` says. */
function recordLine(over: Partial<EncodableRecord>): string {
  const r: EncodableRecord = {
    kind: "command", ctime: `${new Date().toISOString().slice(0, 19)}+0000`, hostname: HOST, serverIps: "", suser: MALLORY, luser: MALLORY,
    terminal: "pts/9", clientIp: "", sessionId: "x", seq: 1, cwd: "/tmp", exitStatus: 0, command: "true", ...over,
  };
  return Buffer.from(encodeRecord(r)).toString("utf8").replace(/\n$/, "");
}

/** Mallory's script: each line of `file` (base64), written on the hook's own connection with its key. */
const onHookConnection = (file: string) =>
  `while IFS= read -r l; do printf '\\n%s%s\\n' "$__ca_k" "$(printf %s "$l" | base64 -d)" >&"$__ca_sock"; done < ${file}\n`;
/** Mallory's script: each line of `file` (base64), on a connection of her own (its own key). */
const onOwnConnection = (file: string) =>
  `exec 7<>/dev/tcp/127.0.0.1/${port}; read -r -t 5 -u 7 K; while IFS= read -r l; do printf '\\n%s\\t%s\\n' "$K" "$(printf %s "$l" | base64 -d)" >&7; done < ${file}; exec 7>&-\n`;
const b64 = (lines: string[]) => lines.map((l) => Buffer.from(l).toString("base64")).join("\n") + "\n";

for (const bash of [BASHES.find((b) => b.version.startsWith("4.2"))!, BASHES.at(-1)!]) {
  describe(`bash ${bash.version}`, () => {
    const tag = bash.version.replace(/\./g, "");

    test("forging root's, alice's and another host's records: each stored flagged forged as mallory's, or refused and counted; her own records clean", async () => {
      const forged = [
        recordLine({ sessionId: `forge-root-${tag}`, suser: "root", luser: "root", command: "rm -rf /var/lib/mysql" }),
        recordLine({ sessionId: `forge-alice-${tag}`, suser: ALICE, luser: ALICE, command: "cat ~/secret" }),
        recordLine({ sessionId: `forge-host-${tag}`, hostname: "db1.example", command: "drop database prod" }),
      ];
      const own = recordLine({ sessionId: `forge-own-${tag}`, suser: "root", luser: ALICE, command: "shutdown -h now" });
      const a = shared(`forge-${tag}.sh`, onHookConnection(shared(`forge-${tag}.b64`, b64(forged))) + onOwnConnection(shared(`forge-own-${tag}.b64`, b64([own]))));
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", `. ${a}\n`, "exit\n"]);
      await ship();
      const sid = sidIn(out);
      for (const s of [`forge-root-${tag}`, `forge-alice-${tag}`, `forge-own-${tag}`]) {
        const r = await rows({ session: s });
        expect(r.map((x) => [x.suser, x.attestation, x.attestedUser, x.attestedLoginUser, x.flags])).toEqual([[s.includes("alice") ? ALICE : "root", "kernel", MALLORY, MALLORY, ["forged"]]]);
      }
      expect(await rows({ session: `forge-host-${tag}` })).toEqual([]);
      const losses = await newLosses();
      expect(losses.length).toBe(1);
      expect(losses[0]).toMatch(/rejected by the server: .*db1\.example/);
      // Her own session: every record hers, attested, none flagged.
      const mine = bySeq(await rows({ session: sid }));
      expect(mine.map((x) => x.command)).toEqual(["", "echo SID=$__ca_sid", `. ${a}`, "exit", ""]);
      expect(mine.every((x) => x.attestation === "kernel" && x.attestedUser === MALLORY && x.suser === MALLORY && x.flags.length === 0)).toBe(true);
    }, 120_000);

    test("pre-empting her own next record: both texts kept under that seq, both flagged conflict (the session counts the two)", async () => {
      // When `. preempt.sh` runs, the hook's last seq is S; that command becomes S+1, the next one S+2.
      const script = shared(`preempt-${tag}.sh`, [
        "h=$(cat /proc/sys/kernel/hostname); t=$(date +%Y-%m-%dT%H:%M:%S%z); c='echo innocent'",
        `printf '\\n%sCA2\\tR\\t%s\\t%s\\tcommand\\t%s\\t%s\\t\\t%s\\t%s\\tpts/9\\t\\t/tmp\\t0\\t\\t1\\t%s\\t%s\\n' "$__ca_k" "$__ca_sid" "$((__ca_seq + 2))" "$t" "$h" "${MALLORY}" "${MALLORY}" "\${#c}" "$c" >&"$__ca_sock"`,
      ].join("\n") + "\n");
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", `. ${script}\n`, "echo the-real-command\n", "exit\n"]);
      await ship();
      const sid = sidIn(out);
      const mine = bySeq(await rows({ session: sid }));
      const seq = mine.find((x) => x.command === "echo the-real-command")!.seq;
      expect(mine.filter((x) => x.seq === seq).map((x) => [x.command, x.flags]).sort()).toEqual([["echo innocent", ["conflict"]], ["echo the-real-command", ["conflict"]]]);
      expect(mine.filter((x) => x.flags.length > 0).length).toBe(2);
      expect((await sessionOf(sid)).conflicts).toBe(2);
      expect(await newLosses()).toEqual([]);
    }, 120_000);

    test("a byte without a newline on her shell's connection: every command still stored; the byte is one unkeyed line, counted", async () => {
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", 'printf x >&"$__ca_sock"\n', "echo after\n", "exit\n"]);
      await ship();
      const mine = bySeq(await rows({ session: sidIn(out) }));
      expect(mine.map((x) => x.command)).toEqual(["", "echo SID=$__ca_sid", 'printf x >&"$__ca_sock"', "echo after", "exit", ""]);
      expect(await newLosses()).toEqual([
        `1 line(s) on a connection of ${MALLORY} (uid ${uid[MALLORY]}) were written without its key, by a process that inherited the connection: not records of its owner`,
      ]);
    }, 120_000);

    test("flooding the daemon past her quota: she loses only her own lines, stored + dropped = written exactly; alice's shell meanwhile loses nothing", async () => {
      const n = 4000;
      const flood = shared(`flood-${tag}.txt`, Array.from({ length: n }, (_, i) => recordLine({ sessionId: `flood-${tag}`, seq: i + 1, command: `echo flood ${i} ${"f".repeat(200)}` })).join("\n") + "\n");
      const script = shared(`flood-${tag}.sh`, `exec 3<>/dev/tcp/127.0.0.1/${port}; read -r -t 5 -u 3 K; while IFS= read -r l; do printf '\\n%s\\t%s\\n' "$K" "$l"; done < ${flood} >&3; sleep 1\n`);
      const flooder = spawnTracked(["runuser", "-u", MALLORY, "--", "bash", script], { stdout: "ignore", stderr: "pipe" });
      const out = await shell(ALICE, bash, ["echo SID=$__ca_sid\n", "echo one\n", "echo two\n", "echo three\n", "exit\n"]);
      expect(await flooder.exited).toBe(0);
      await ship();
      const hers = bySeq(await rows({ session: sidIn(out) }));
      expect(hers.map((x) => x.command)).toEqual(["", "echo SID=$__ca_sid", "echo one", "echo two", "echo three", "exit", ""]);
      expect(hers.every((x) => x.attestedUser === ALICE && x.flags.length === 0)).toBe(true);
      const stored = (await rows({ session: `flood-${tag}` })).length;
      const losses = await newLosses();
      expect(losses.length).toBe(1);
      const dropped = Number(new RegExp(`^(\\d+) line\\(s\\) of a connection of ${MALLORY} \\(uid \\d+\\) were dropped by the stamping daemon \\(quota\\)$`).exec(losses[0]!)?.[1]);
      expect(stored).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      expect(stored + dropped).toBe(n);
      await Bun.sleep(6000); // the daemon re-reads its spool's size every 5 s: her quota is free again after that
    }, 180_000);

    test("holding more connections than her cap: the ones over it are refused and counted; alice still connects and is recorded", async () => {
      const held = CAP + 3;
      const script = shared(`cap-${tag}.sh`, `for i in $(seq ${held}); do exec {f}<>/dev/tcp/127.0.0.1/${port}; done; sleep 4\n`);
      const holder = spawnTracked(["runuser", "-u", MALLORY, "--", "bash", script], { stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(1500);
      const out = await shell(ALICE, bash, ["echo SID=$__ca_sid\n", "exit\n"]);
      await holder.exited;
      await ship();
      expect(bySeq(await rows({ session: sidIn(out) })).map((x) => [x.command, x.attestedUser])).toEqual([["", ALICE], ["echo SID=$__ca_sid", ALICE], ["exit", ALICE], ["", ALICE]]);
      expect(await newLosses()).toEqual(Array(held - CAP).fill(`a connection of ${MALLORY} (uid ${uid[MALLORY]}) was refused: over ${CAP} connections of this uid`));
    }, 120_000);

    test("killing: her own shell (kill -9 $$) leaves a session without an end; the daemon (root's) she cannot kill", async () => {
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", `kill -9 ${daemon!.pid}; echo kill-status=$?\n`, "kill -9 $$\n"]);
      expect(out).toContain("kill-status=1");
      expect(daemon!.exitCode).toBeNull();
      await ship();
      const s = await sessionOf(sidIn(out));
      expect([s.started, s.ended, s.missingSeqs, s.records]).toEqual([true, false, 0, 3]);
      expect(await newLosses()).toEqual([]);
    }, 120_000);

    test("off-switch: unset PROMPT_COMMAND; the commands it hid are counted at exit, exactly", async () => {
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", "unset PROMPT_COMMAND\n", "echo hidden-1\n", "echo hidden-2\n", "exit\n"]);
      await ship();
      const mine = bySeq(await rows({ session: sidIn(out) }));
      expect(mine.map((x) => [x.kind, x.command.replace(/\(history entries \d+-\d+\)/, "(history entries …)")])).toEqual([
        ["session_start", ""], ["command", "echo SID=$__ca_sid"],
        ["loss", "cmdaudit hook: 3 command(s) were not recorded (history entries …); was PROMPT_COMMAND changed?"],
        ["command", "exit"], ["session_end", ""],
      ]);
    }, 120_000);

    test("off-switch: unset PROMPT_COMMAND and the EXIT trap: nothing more is recorded, and the session has no end", async () => {
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", "unset PROMPT_COMMAND; trap - EXIT\n", "echo hidden\n", "exit\n"]);
      await ship();
      const s = await sessionOf(sidIn(out));
      expect([s.started, s.ended, s.records]).toEqual([true, false, 2]);
    }, 120_000);

    test("off-switch: closing the hook's connection; the next record goes on a new one, nothing lost", async () => {
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", 'eval "exec $__ca_sock>&-"\n', "echo after\n", "exit\n"]);
      await ship();
      const mine = bySeq(await rows({ session: sidIn(out) }));
      expect(mine.map((x) => [x.seq, x.attestedUser])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, MALLORY]));
      expect(await newLosses()).toEqual([]);
    }, 120_000);

    test("off-switch: the hook's descriptor pointed at a listener of her own that never answers: her later records go there; the session shows no end", async () => {
      // Her own listener on a high port (users may bind those), which reads and keeps nothing.
      const sink = shared(`sink-${tag}.py`, "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(5); print(s.getsockname()[1], flush=True)\nc,_=s.accept()\nwhile c.recv(65536): pass\n");
      const listener = spawnTracked(["runuser", "-u", MALLORY, "--", "python3", sink], { stdout: "pipe", stderr: "ignore" });
      const reader = listener.stdout.getReader();
      const sinkPort = Number(new TextDecoder().decode((await reader.read()).value).trim());
      reader.releaseLock();
      const divert = `exec 9<>/dev/tcp/127.0.0.1/${sinkPort}; eval "exec $__ca_sock>&9 9>&-"`;
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", `${divert}\n`, "echo hidden\n", "exit\n"]);
      await listener.exited;
      await ship();
      const s = await sessionOf(sidIn(out));
      expect([s.started, s.ended, s.records, s.missingSeqs]).toEqual([true, false, 2, 0]);
      expect(await newLosses()).toEqual([]);
    }, 120_000);

    test("off-switch: the hook's seq set back: every record it collides with is kept, both flagged conflict", async () => {
      const out = await shell(MALLORY, bash, ["echo SID=$__ca_sid\n", "__ca_seq=0\n", "echo again\n", "exit\n"]);
      await ship();
      const s = await sessionOf(sidIn(out));
      // The session start is seq 1 and `echo SID` 2; then `__ca_seq=0` itself is written as 1 and `echo again`
      // as 2 (two collisions, four rows flagged), `exit` 3 and the end 4.
      expect(s.conflicts).toBe(4);
      const mine = bySeq(await rows({ session: sidIn(out) }));
      expect(mine.map((x) => [x.seq, x.command, x.flags])).toEqual([
        [1, "", ["conflict"]], [1, "__ca_seq=0", ["conflict"]], [2, "echo SID=$__ca_sid", ["conflict"]], [2, "echo again", ["conflict"]],
        [3, "exit", []], [4, "", []],
      ]);
    }, 120_000);
  });
}

test("the log file stays writable by every user (the fallback when the daemon is down): a record mallory appends claiming root is stored unattested, never kernel", async () => {
  const line = recordLine({ sessionId: "file-forge", suser: "root", luser: "root", command: "userdel alice" });
  const r = Bun.spawnSync(["runuser", "-u", MALLORY, "--", "sh", "-c", 'printf "\\n%s\\n" "$1" >> "$2"', "sh", line, root.log]);
  expect(r.exitCode).toBe(0);
  await ship();
  expect((await rows({ session: "file-forge" })).map((x) => [x.suser, x.attestation, x.attestedUser])).toEqual([["root", "none", null]]);
}, 60_000);
