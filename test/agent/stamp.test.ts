/**
 * The stamping daemon (agent/src/stamp, docs/transport.md option D) on real loopback TCP, with real
 * users writing through bash's own /dev/tcp: each connection's spool file is headed by the uid the
 * kernel gives the client socket, whatever its lines claim; a user who floods or opens connection
 * after connection loses only their own lines, counted exactly; another user's lines are intact.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findSocket, socketOwner } from "../../agent/src/stamp/socket-owner.ts";
import { startStampServer } from "../../agent/src/stamp/server.ts";
import { readSpool, uidNames } from "../../agent/src/stamp/spool-records.ts";
import { encodeRecord } from "../../protocol/index.ts";
import { hostToken } from "../../server/src/host-token.ts";
import { RouteSuite } from "../server/helpers.ts";
import { testConfig } from "../support/config.ts";

const USERS = [`cmdaudit-st${process.pid % 100000}a`, `cmdaudit-st${process.pid % 100000}b`] as const;
const dir = mkdtempSync(join(tmpdir(), "cmdaudit-stamp-"));
/** In-process servers for the spool-to-server test (and its checks that no log line holds a secret). */
const suite = new RouteSuite();
const uidOf = (u: string) => Number(Bun.spawnSync(["id", "-u", u]).stdout.toString().trim());

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the stamp tests run as root (they create users)");
  for (const u of USERS) {
    const r = Bun.spawnSync(["useradd", "-M", "-s", "/bin/bash", u]);
    if (r.exitCode !== 0) throw new Error(`useradd ${u}: ${r.stderr}`);
  }
});
afterAll(() => {
  for (const u of USERS) {
    Bun.spawnSync(["pkill", "-KILL", "-u", u]);
    Bun.spawnSync(["userdel", u]);
  }
  // `run` makes its live log append-only, as the role does.
  Bun.spawnSync(["chattr", "-R", "-a", dir], { stdout: "ignore", stderr: "ignore" });
  rmSync(dir, { recursive: true, force: true });
});

/** Run a bash script as `user` (async: the daemon runs in this process). */
async function asUser(user: string | null, script: string, env: Record<string, string>): Promise<number> {
  const argv = user ? ["runuser", "-u", user, "--", "bash", "-c", script] : ["bash", "-c", script];
  const p = Bun.spawn(argv, { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env }, stdout: "ignore", stderr: "pipe" });
  return p.exited;
}

/** The spool files, each as its lines, once every connection has closed. */
async function spool(spoolDir: string, files: number): Promise<string[][]> {
  for (let i = 0; i < 100; i++) {
    const all = readdirSync(spoolDir).filter((f) => f.endsWith(".spool")).map((f) => readFileSync(join(spoolDir, f), "utf8"));
    if (all.length >= files && all.every((t) => /#(closed|refused) /.test(t))) return all.map((t) => t.split("\n").filter(Boolean));
    await Bun.sleep(50);
  }
  throw new Error(`spool not settled in ${spoolDir}`);
}

describe("socket owner", () => {
  test("a /proc/net/tcp row is found by its local and remote address; its uid and inode read", () => {
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:03D3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:A0F2 0100007F:03D3 01 00000000:00000000 00:00000000 00000000  1001        0 222 1 0000000000000000 20 4 30 10 -1",
      "   2: 0100007F:03D3 0100007F:A0F2 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1",
    ].join("\n");
    expect(findSocket(table, "127.0.0.1:41202", "127.0.0.1:979")).toEqual({ uid: 1001, inode: 222 });
    expect(findSocket(table, "127.0.0.1:979", "127.0.0.1:41202")).toEqual({ uid: 0, inode: 333 });
    expect(findSocket(table, "127.0.0.1:1", "127.0.0.1:979")).toBeUndefined();
    // A socket its writer closed already (TIME_WAIT, or orphaned) shows uid 0 and inode 0: no one's, never root's.
    const closed = "   3: 0100007F:A0F3 0100007F:03D3 06 00000000:00000000 03:00000F5A 00000000     0        0 0 3 0000000000000000";
    expect(findSocket(`${table}\n${closed}`, "127.0.0.1:41203", "127.0.0.1:979")).toBeUndefined();
  });

  test("the holder's ids come from a process still holding the socket: one gone meanwhile (a forked child of the shell) is passed over", () => {
    const proc = join(dir, "fake-proc");
    const holder = (pid: number, socket: number, ids?: { loginuid: string; sessionid: string }) => {
      mkdirSync(join(proc, String(pid), "fd"), { recursive: true });
      symlinkSync(`socket:[${socket}]`, join(proc, String(pid), "fd", "3"));
      if (ids) for (const [k, v] of Object.entries(ids)) writeFileSync(join(proc, String(pid), k), `${v}\n`);
    };
    mkdirSync(join(proc, "net"), { recursive: true });
    writeFileSync(join(proc, "net", "tcp"), [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   1: 0100007F:A0F2 0100007F:03D3 01 00000000:00000000 00:00000000 00000000  1001        0 222 1 0000000000000000 20 4 30 10 -1",
    ].join("\n"));
    holder(100, 222); // its ids are gone: it exited after its descriptors were read
    holder(200, 999, { loginuid: "5", sessionid: "5" }); // another socket
    holder(300, 222, { loginuid: "1001", sessionid: "7" });
    expect(socketOwner(41202, 979, proc)).toEqual({ uid: 1001, inode: 222, pid: 300, loginUid: 1001, auditSession: 7 });
    // An unset login uid is a reading, not a reason to look further.
    holder(150, 222, { loginuid: "4294967295", sessionid: "4294967295" });
    expect(socketOwner(41202, 979, proc)).toEqual({ uid: 1001, inode: 222, pid: 150, loginUid: null, auditSession: null });
    rmSync(join(proc, "150"), { recursive: true });
    rmSync(join(proc, "300"), { recursive: true });
    expect(socketOwner(41202, 979, proc)).toEqual({ uid: 1001, inode: 222, pid: null, loginUid: null, auditSession: null });
  });
});

describe("the daemon", () => {
  test("each connection is stamped with the kernel's uid of its socket, whatever its lines claim; root's too", async () => {
    const spoolDir = join(dir, "who");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    try {
      const env = { PORT: String(d.port) };
      // A forged line claiming root, a real one, and a last line without its LF; each writer holds its
      // connection a moment, as a shell does for its session (one closed at once is test "writers that close at once").
      const forge = 'exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\tCA2\\tR\\tforged\\tsuser=root\\n" "$K" >&3; printf "\\n%s\\tmine\\n" "$K" >&3; printf "%s\\thalf" "$K" >&3; sleep 1';
      expect(await asUser(USERS[0], forge, env)).toBe(0);
      expect(await asUser(null, 'exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\troot line\\n" "$K" >&3; sleep 1', env)).toBe(0);
      const files = await spool(spoolDir, 2);
      const byUid = new Map(files.map((f) => [Number(/uid=(\d+)/.exec(f[0]!)![1]), f]));
      const a = byUid.get(uidOf(USERS[0]))!;
      expect(a[0]).toMatch(/^#stamp v1 uid=\d+ loginuid=(\d+|-) session=(\d+|-) pid=(\d+|-) opened=\S+$/);
      expect(a.slice(1, -1)).toEqual(["CA2\tR\tforged\tsuser=root", "mine", "#unfinished 37 bytes"]); // the key, its TAB and "half"
      expect(a.at(-1)).toMatch(/^#closed /);
      expect(byUid.get(0)!.slice(1, -1)).toEqual(["root line"]);
      expect(d.counters).toMatchObject({ connections: 2, unattributed: 0, refused: 0, lines: 3, dropped: 0 });
    } finally {
      d.stop();
    }
  }, 60_000);

  test("a user flooding past the quota loses only their own lines, counted exactly; another user's lines are all there", async () => {
    const spoolDir = join(dir, "flood");
    const quota = 64 * 1024;
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: quota, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    try {
      const env = { PORT: String(d.port) };
      const line = "x".repeat(99); // 100 bytes with its LF
      // Each holds its connection a moment after writing, as a shell does for its whole session.
      const flood = `exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; for i in $(seq 2000); do printf '%s\\t%s\\n' "$K" ${line} >&3; done; sleep 1`;
      const victim = 'exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; for i in $(seq 500); do printf "\\n%s\\tvictim %d\\n" "$K" $i >&3; done; sleep 1';
      const [f, v] = await Promise.all([asUser(USERS[0], flood, env), asUser(USERS[1], victim, env)]);
      expect([f, v]).toEqual([0, 0]);
      const files = await spool(spoolDir, 2);
      const byUid = new Map(files.map((x) => [Number(/uid=(\d+)/.exec(x[0]!)![1]), x]));
      const flooder = byUid.get(uidOf(USERS[0]))!;
      const kept = flooder.filter((l) => l === line).length;
      const dropped = Number(/^#dropped (\d+) lines \(quota\)$/.exec(flooder.find((l) => l.startsWith("#dropped"))!)![1]);
      expect(kept + dropped).toBe(2000);
      expect(kept).toBeGreaterThan(0);
      expect(kept * 100).toBeLessThanOrEqual(quota);
      expect(byUid.get(uidOf(USERS[1]))!.filter((l) => l.startsWith("victim ")).length).toBe(500);
      expect(d.counters.dropped).toBe(dropped);
    } finally {
      d.stop();
    }
  }, 60_000);

  test("a root connection inherited through su: the other user can write to it but not with its key; those lines are marked unkeyed and counted", async () => {
    const spoolDir = join(dir, "inherit");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    try {
      // Root's shell: its key in an unexported variable; then bob, started from it, inherits fd 3 (bash
      // cannot mark it close-on-exec), finds nothing left to read on it, and writes as best he can.
      const bob = 'read -r -t 1 -u 3 stolen; printf "\\n%s\\tforged as root\\n" "${stolen:-guess}" >&3; printf "\\nno key at all\\n" >&3';
      const root = `exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\troot before\\n" "$K" >&3; `
        + `runuser -u ${USERS[1]} -- bash -c '${bob}'; printf "\\n%s\\troot after\\n" "$K" >&3; sleep 1`;
      expect(await asUser(null, root, { PORT: String(d.port) })).toBe(0);
      const [f] = await spool(spoolDir, 1);
      expect(f![0]).toMatch(/^#stamp v1 uid=0 /);
      expect(f!.slice(1, -1)).toEqual(["root before", "#unkeyed guess\tforged as root", "#unkeyed no key at all", "root after"]);
      expect(d.counters).toMatchObject({ lines: 2, unkeyed: 2 });
    } finally {
      d.stop();
    }
  }, 60_000);

  test("writers that close at once are stamped with their own uid or with none, never root's", async () => {
    const spoolDir = join(dir, "quick");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 64, maxLineBytes: 65536 });
    try {
      const quick = 'for i in $(seq 40); do (exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\tquick %d\\n" "$K" $i >&3) & done; wait';
      expect(await asUser(USERS[0], quick, { PORT: String(d.port) })).toBe(0);
      const files = await spool(spoolDir, 40);
      const uids = files.map((f) => /uid=(\d+|-)/.exec(f[0]!)![1]);
      expect(uids.filter((u) => u !== String(uidOf(USERS[0])) && u !== "-")).toEqual([]);
      expect(files.flatMap((f) => f.filter((l) => l.startsWith("quick "))).length).toBe(40); // kept either way
      expect(d.counters.unattributed).toBe(uids.filter((u) => u === "-").length);
    } finally {
      d.stop();
    }
  }, 60_000);

  test("connections past a uid's cap are refused and counted; another uid still connects", async () => {
    const spoolDir = join(dir, "cap");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 3, maxLineBytes: 65536 });
    try {
      const env = { PORT: String(d.port) };
      // Five connections held open at once, each writing one line after all are open.
      const hold = 'trap "" PIPE; for n in 3 4 5 6 7; do eval "exec $n<>/dev/tcp/127.0.0.1/$PORT"; eval "read -r -t 5 -u $n K$n"; done; sleep 0.5; for n in 3 4 5 6 7; do eval "k=\\$K$n"; printf "\\n%s\\tline %d\\n" "$k" $n >&$n 2>/dev/null; done; true';
      expect(await asUser(USERS[0], hold, env)).toBe(0);
      expect(await asUser(USERS[1], 'exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\tother\\n" "$K" >&3; sleep 1', env)).toBe(0);
      const files = await spool(spoolDir, 6);
      const a = files.filter((f) => f[0]!.includes(`uid=${uidOf(USERS[0])} `));
      expect(a.filter((f) => f.some((l) => l.startsWith("#refused"))).length).toBe(2);
      expect(a.filter((f) => f.some((l) => /^line \d$/.test(l))).length).toBe(3);
      expect(files.filter((f) => f.includes("other")).length).toBe(1);
      expect(d.counters.refused).toBe(2);
    } finally {
      d.stop();
    }
  }, 60_000);
});

describe("a full file system", () => {
  test("lines the disk has no room for are dropped whole and counted; the count is written once there is room; the daemon goes on", async () => {
    const mnt = join(dir, "full");
    mkdirSync(mnt);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt]).exitCode).toBe(0);
    const d = startStampServer({ port: 0, spoolDir: join(mnt, "spool"), quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    try {
      // Leave about 8 KiB: then 200 lines of 200 bytes (40 KB) cannot all fit.
      const filler = join(mnt, "filler");
      Bun.spawnSync(["sh", "-c", `dd if=/dev/zero of=${filler} bs=1k count=64 2>/dev/null; truncate -s -8k ${filler}`]);
      const n = 200;
      const script = `exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; for i in $(seq ${n}); do printf '\\n%s\\tline %03d %s\\n' "$K" $i "$(printf '%0190d' 0)" >&3; done; sleep 0.5; rm -f ${filler}; sleep 0.2`;
      expect(await asUser(null, script, { PORT: String(d.port) })).toBe(0);
      await Bun.sleep(5500); // the daemon writes what it holds back at its next 5 s tick
      const [f] = await spool(join(mnt, "spool"), 1);
      const kept = f!.filter((l) => l.startsWith("line ")).length;
      const dropped = Number(/^#dropped (\d+) lines \(no space\)$/m.exec(f!.join("\n"))?.[1]);
      expect(kept).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      expect(kept + dropped).toBe(n);
      // Every kept line is whole: none was cut by the full disk.
      expect(f!.filter((l) => l.startsWith("line ")).every((l) => l.length === "line 001 ".length + 190)).toBe(true);
      expect(f!.at(-1)).toMatch(/^#closed /);
      // The daemon still takes connections.
      expect(await asUser(USERS[0], 'exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\tafter\\n" "$K" >&3; sleep 0.3', { PORT: String(d.port) })).toBe(0);
      expect((await spool(join(mnt, "spool"), 2)).some((x) => x.includes("after"))).toBe(true);
    } finally {
      d.stop();
      Bun.spawnSync(["umount", mnt]);
    }
  }, 60_000);
});

describe("cmdaudit-reporter listen", () => {
  test("runs the daemon from the reporter's config until SIGTERM, then prints its counters and exits 0", async () => {
    const spoolDir = join(dir, "cli-spool");
    const cfg = join(dir, "cli.yml");
    writeFileSync(cfg, `server:\n  url: http://127.0.0.1:9\n  token: cli-test-token-0123456789\nstate_dir: ${join(dir, "cli-state")}\nstamp:\n  port: 0\n  spool_dir: ${spoolDir}\n`);
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../agent/src/main.ts"), "-c", cfg, "listen"], { stdout: "ignore", stderr: "pipe" });
    const reader = proc.stderr.getReader();
    let err = "";
    while (!/listening on 127\.0\.0\.1:(\d+)/.test(err)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`listen exited: ${err}`);
      err += new TextDecoder().decode(value);
    }
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(err)![1]!;
    const script = 'exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf "\\n%s\\tfrom the cli\\n" "$K" >&3; sleep 1';
    expect(await asUser(USERS[0], script, { PORT: port })).toBe(0);
    const [f] = await spool(spoolDir, 1);
    expect(f![0]).toContain(`uid=${uidOf(USERS[0])} `);
    expect(f!.slice(1, -1)).toEqual(["from the cli"]);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      err += new TextDecoder().decode(value);
    }
    expect(err).toContain('stopped: {"connections":1,"unattributed":0,"refused":0,"lines":1,"dropped":0,"unkeyed":0}');
  }, 60_000);
});

describe("a spool file as records (spool-records.ts), stored by the server", () => {
  test("records a user wrote are vouched for by the stamp: genuine ones stored clean, ones claiming root stored flagged forged; what the daemon left out becomes loss texts", async () => {
    const spoolDir = join(dir, "records");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    const alice = USERS[0];
    const line = (seq: number, suser: string, command: string) => Buffer.from(encodeRecord({
      kind: "command", ctime: new Date().toISOString(), hostname: "stamp-host", serverIps: "10.0.0.1", suser, luser: suser, terminal: "pts/1",
      clientIp: "", sessionId: "st-sess", seq, cwd: "/tmp", exitStatus: 0, command,
    })).toString("utf8").replace(/\n$/, "");
    try {
      const lines = [line(1, alice, "id"), line(2, "root", "rm -rf /var/lib/mysql")];
      const script = `exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf '\\n%s\\t%s\\n' "$K" "$L1" "$K" "$L2" >&3; printf '\\nno key\\n' >&3; sleep 1`;
      expect(await asUser(alice, script, { PORT: String(d.port), L1: lines[0]!, L2: lines[1]! })).toBe(0);
      const [name] = readdirSync(spoolDir);
      const content = readSpool(readFileSync(join(spoolDir, name!)), uidNames(), 0);
      expect(content.stamp.uid).toBe(uidOf(alice));
      expect(content.closed).toBe(true);
      expect(content.records.map((r) => [r.seq, r.suser, r.attestation, r.attestedUser])).toEqual([[1, alice, "kernel", alice], [2, "root", "kernel", alice]]);
      expect(content.losses).toEqual([`1 line(s) on a connection of ${alice} (uid ${uidOf(alice)}) were written without its key, by a process that inherited the connection: not records of its owner`]);

      // The server stores both; the one claiming root is a forgery attempt by alice.
      const key = "stamp-host-key-0123456789abcdefghijklmno";
      const t = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: key } });
      const res = await t.post(content.records, { AccessToken: hostToken(key, "stamp-host") });
      expect(((await res.json()) as { accepted: number }).accepted).toBe(2);
      const rows = (await t.all()).sort((a, b) => a.seq! - b.seq!);
      expect(rows.map((r) => [r.command, r.attestation, r.attestedUser, r.flags.includes("forged")])).toEqual([
        ["id", "kernel", alice, false], ["rm -rf /var/lib/mysql", "kernel", alice, true],
      ]);
    } finally {
      d.stop();
    }
  }, 60_000);
});

describe("run ships the spool", () => {
  test("records through the JSON route, attested (the one claiming root flagged forged), the daemon's markers as loss records; a closed file is deleted and a second run sends nothing", async () => {
    const { run } = await import("../../agent/src/run.ts");
    const { loadReporterConfig } = await import("../../agent/src/config.ts");
    const stateDir = join(dir, "run-state");
    const spoolDir = join(stateDir, "spool");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    const key = "run-spool-host-key-0123456789abcdefghijkl";
    const t = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: key } });
    const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: t.app.fetch });
    const host = (await import("node:os")).hostname();
    const token = hostToken(key, host);
    suite.secret(key, token);
    const alice = USERS[0];
    const line = (seq: number, suser: string, command: string) => Buffer.from(encodeRecord({
      kind: "command", ctime: new Date().toISOString(), hostname: host, serverIps: "", suser, luser: suser, terminal: "pts/1",
      clientIp: "", sessionId: "run-sess", seq, cwd: "/tmp", exitStatus: 0, command,
    })).toString("utf8").replace(/\n$/, "");
    try {
      const script = `exec 3<>/dev/tcp/127.0.0.1/$PORT; read -r -t 5 -u 3 K; printf '\\n%s\\t%s\\n' "$K" "$L1" "$K" "$L2" >&3; printf '\\nno key\\n' >&3; sleep 1`;
      expect(await asUser(alice, script, { PORT: String(d.port), L1: line(1, alice, "whoami"), L2: line(2, "root", "cat /etc/shadow") })).toBe(0);
      await spool(spoolDir, 1);
      const cfgPath = join(dir, "run.yml");
      writeFileSync(cfgPath, `server:\n  url: http://127.0.0.1:${http.port}\n  token: ${token}\nstate_dir: ${stateDir}\nlog:\n  path: ${join(dir, "run-commands.log")}\n`);
      const cfg = loadReporterConfig(cfgPath);
      const warnings: string[] = [];
      expect(await run(cfg, { warn: (m) => warnings.push(m) })).toBe(0);
      const rows = await t.all();
      const cmds = rows.filter((r) => r.kind === "command").sort((a, b) => a.seq! - b.seq!);
      expect(cmds.map((r) => [r.command, r.attestation, r.attestedUser, r.flags.includes("forged")])).toEqual([
        ["whoami", "kernel", alice, false], ["cat /etc/shadow", "kernel", alice, true],
      ]);
      expect(rows.filter((r) => r.kind === "loss").map((r) => r.command)).toEqual([
        `1 line(s) on a connection of ${alice} (uid ${uidOf(alice)}) were written without its key, by a process that inherited the connection: not records of its owner`,
      ]);
      expect(readdirSync(spoolDir)).toEqual([]);
      expect(await run(cfg, { warn: (m) => warnings.push(m) })).toBe(0);
      expect((await t.all()).length).toBe(rows.length);
    } finally {
      http.stop(true);
      d.stop();
    }
  }, 60_000);
  test("a connection open across runs: each run reads its spool file from where the last stopped; every record stored once, none sent twice", async () => {
    const { run } = await import("../../agent/src/run.ts");
    const { loadReporterConfig } = await import("../../agent/src/config.ts");
    const { loadState: readState } = await import("../../agent/src/state.ts");
    const stateDir = join(dir, "step-state");
    const spoolDir = join(stateDir, "spool");
    const d = startStampServer({ port: 0, spoolDir, quotaBytesPerUid: 1 << 20, maxConnectionsPerUid: 16, maxLineBytes: 65536 });
    const key = "run-step-host-key-0123456789abcdefghijklm";
    const t = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: key } });
    const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: t.app.fetch });
    const host = (await import("node:os")).hostname();
    const token = hostToken(key, host);
    suite.secret(key, token);
    const alice = USERS[1];
    const line = (seq: number, command: string) => Buffer.from(encodeRecord({
      kind: "command", ctime: new Date().toISOString().slice(0, 19) + "+0000", hostname: host, serverIps: "", suser: alice, luser: alice, terminal: "pts/1",
      clientIp: "", sessionId: "step-sess", seq, cwd: "/tmp", exitStatus: 0, command,
    })).toString("utf8").replace(/\n$/, "");
    try {
      // The writer holds its connection and writes a line for each line it reads from its stdin.
      const writer = Bun.spawn(["runuser", "-u", alice, "--", "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${d.port}; read -r -t 5 -u 3 K; while IFS= read -r l; do printf '\\n%s\\t%s\\n' "$K" "$l" >&3; done`], { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
      const feed = writer.stdin;
      const cfgPath = join(dir, "step.yml");
      writeFileSync(cfgPath, `server:\n  url: http://127.0.0.1:${http.port}\n  token: ${token}\nstate_dir: ${stateDir}\nlog:\n  path: ${join(dir, "step-commands.log")}\n`);
      const cfg = loadReporterConfig(cfgPath);
      const ship = async () => expect(await run(cfg, { warn: () => {} })).toBe(0);
      const spoolFile = async () => {
        for (let i = 0; i < 100 && !readdirSync(spoolDir).length; i++) await Bun.sleep(20);
        return join(spoolDir, readdirSync(spoolDir)[0]!);
      };
      feed.write(`${line(1, "one")}\n${line(2, "two")}\n`);
      await feed.flush();
      const file = await spoolFile();
      for (let i = 0; i < 100 && readFileSync(file, "utf8").split("\n").length < 4; i++) await Bun.sleep(20);
      await ship();
      const name = file.split("/").at(-1)!;
      const size1 = readFileSync(file).length;
      expect(readState(stateDir).spool[name]!.offset).toBe(size1);
      feed.write(`${line(3, "three")}\n`);
      await feed.flush();
      for (let i = 0; i < 100 && readFileSync(file).length === size1; i++) await Bun.sleep(20);
      await ship();
      expect(readState(stateDir).spool[name]!.offset).toBe(readFileSync(file).length);
      const stored = (await t.all()).filter((r) => r.sessionId === "step-sess");
      expect(stored.map((r) => r.command).sort()).toEqual(["one", "three", "two"]);
      expect(readState(stateDir).counters.duplicates).toBe(0);
      feed.end();
      expect(await writer.exited).toBe(0);
    } finally {
      http.stop(true);
      d.stop();
    }
  }, 60_000);
});
