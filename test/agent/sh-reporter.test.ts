/**
 * The POSIX sh fallback reporter (agent/sh/cmdaudit-reporter.sh), run by real
 * dash and bash --posix against the real server process on MariaDB, with real
 * faults: a closed port, injected 500s, a slow answer, kill -9, rotations,
 * truncation. What the server stores is read back through the query API and
 * compared with what was written: nothing lost, nothing twice.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, appendFileSync, copyFileSync, chmodSync, linkSync, mkdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../support/mysql.ts";
import { canOpenForAppend, startSilentServer } from "./support.ts";
import { type RunningServer, startServer } from "../support/server.ts";
import {
  appendOnlySupported, Case, cleanupCases, closedPort, FaultProxy, INGEST, isAppendOnly, READ, rowKeys, SCRIPT, stored, writtenKeys,
} from "./sh-support.ts";

/** Per case, counted from when the case is queued in its shell's lane (see Lane). */
const LANE_TIMEOUT = 150_000;

const SHELLS: { name: string; argv: string[] }[] = [
  { name: "dash", argv: ["dash"] },
  { name: "bash-posix", argv: ["bash", "--posix"] },
];
const TOOLS = ["dash", "bash", "curl", "gzip", "flock", "chattr", "lsattr", "shellcheck", "od", "stat"];
const missing = TOOLS.filter((t) => Bun.which(t) === null);
// In CI a missing prerequisite fails the run; on a developer machine the cases are skipped.
const runIt = missing.length === 0 || process.env.CI === "true";

test("prerequisites of the sh reporter tests are installed", () => {
  if (process.env.CI === "true") expect(missing).toEqual([]);
  else if (missing.length) console.warn(`sh reporter tests skipped, missing: ${missing.join(", ")}`);
});

test.skipIf(!runIt)("shellcheck -s sh finds nothing in the reporter", () => {
  const p = Bun.spawnSync(["shellcheck", "-s", "sh", SCRIPT]);
  expect(p.stdout.toString() + p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
});

let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let srv: RunningServer | undefined;
let dataDir: Case | undefined;

beforeAll(async () => {
  if (!runIt) return;
  db = await createTestDatabase("shrep");
  dataDir = new Case(["true"], "data", "http://unused");
  srv = await startServer({
    CMDAUDIT_DATABASE_URL: db.url, CMDAUDIT_INGEST_TOKENS: INGEST, CMDAUDIT_READ_TOKENS: READ,
    CMDAUDIT_DATA_DIR: dataDir.dir, CMDAUDIT_LOG_LEVEL: "info",
  });
}, 60_000);

afterAll(async () => {
  if (srv && srv.proc.exitCode === null) await srv.stop();
  await db?.drop();
  cleanupCases();
}, 30_000);

const server = () => {
  if (!srv) throw new Error("server not started");
  return srv.url;
};

/** Everything the case wrote is stored, once; nothing else of its host. */
async function expectStored(c: Case): Promise<void> {
  const rows = await stored(server(), { host: c.host });
  expect(rowKeys(rows)).toEqual(writtenKeys(c.written));
}

/** The loss records this case's reporter sent. */
async function lossRows(c: Case) {
  return stored(server(), { session: c.state().REPORTER_ID ?? "none", kind: "loss" });
}

const deadLetters = (c: Case) => readdirSync(join(c.stateDir, "deadletter"));

/** Runs the functions given to it one at a time, in order. */
class Lane {
  private tail: Promise<unknown> = Promise.resolve();
  run(fn: () => Promise<void>): Promise<void> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

// LANES cases per shell run side by side, and both shells at once: the cases are independent
// (own directories, hosts, proxies) and spend their time in fork/exec and waiting on the network.
const LANES = 2;
describe.concurrent.each(SHELLS)("sh reporter under $name", ({ name, argv }) => {
  let n = 0;
  const lanes = Array.from({ length: LANES }, () => new Lane());
  let next = 0;
  const it = (label: string, fn: () => Promise<void>) => {
    const lane = lanes[next++ % LANES]!;
    test.skipIf(!runIt)(label, () => lane.run(fn), LANE_TIMEOUT);
  };
  const mk = (conf: Record<string, string> = {}, url?: string) => new Case(argv, `${name}-${++n}`, url ?? server(), conf);

  it("ships seed lines, CA1 records, foreign lines in several batches; silent; a rerun sends nothing new", async () => {
    const c = mk();
    c.some(60, "basic");
    appendFileSync(c.log, "#1544500000\nls -la\n\n");
    c.record("multi\nline\there-doc\\n" + "x".repeat(7000));
    c.record(new Uint8Array([0x63, 0x61, 0x74, 0x20, 0xff, 0xfe, 0x0a, 0xc3]));
    c.record("", { kind: "session_end" });
    expect(statSync(c.log).size).toBeGreaterThan(3 * 4096);
    const r = await c.run();
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(Number(c.state().OFFSET)).toBe(statSync(c.log).size);
    expect(c.state().REPORTER_ID).toMatch(/^reporter\.sh\.[0-9a-f]{16}$/);
    expect(statSync(c.stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(c.stateDir, "state")).mode & 0o777).toBe(0o600);
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const st = await c.run("status");
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("backlog_bytes: 0\n");
    expect(st.stdout).toContain("dead_letters: 0\n");
    expect(st.stdout).toContain("last_error: none\n");
    expect(st.stdout).not.toContain("last_success: never");
  });

  it("a 1 MiB command and non-UTF-8 bytes, batches smaller than one record, without gzip", async () => {
    const c = mk({ GZIP: "0", BATCH_BYTES: "65536" });
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i % 251 === 0 ? 0x0a : i % 97 === 0 ? 0x5c : i % 89 === 0 ? 0xff : 0x61 + (i % 26);
    c.some(5, "before");
    c.record(big);
    c.some(5, "after");
    const r = await c.run();
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
  });

  it("a partial last line is held back and sent once it is finished", async () => {
    const c = mk();
    c.some(4, "p");
    const before = statSync(c.log).size;
    const full = c.record("echo finished later", { file: join(c.dir, "scratch") });
    appendFileSync(c.log, full.subarray(0, 30));
    const pending = c.written.pop()!;
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
    expect(Number(c.state().OFFSET)).toBe(before);
    appendFileSync(c.log, full.subarray(30));
    c.written.push(pending);
    c.some(3, "p2");
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
    expect(Number(c.state().OFFSET)).toBe(statSync(c.log).size);
  });

  it("server down for the whole run: exit 3, nothing advanced; back: everything, once", async () => {
    const c = mk({ BUDGET: "2" }, closedPort());
    c.some(20, "down");
    const t0 = Date.now();
    const r = await c.run();
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("server unreachable");
    expect(Date.now() - t0).toBeLessThan(2000 + 10_000);
    expect(c.state().OFFSET).toBe("0");
    expect((await c.run("status")).stdout).toMatch(/last_error: .*exit 3/);
    expect(await stored(server(), { host: c.host })).toEqual([]);
    c.conf({ URL: server() });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect((await c.run("status")).stdout).toContain("last_error: none\n");
  });

  it("a server that accepts and never answers: the run ends within BUDGET, no request goes on past it (connect and read included), exit 3, checkpoint kept; then everything once", async () => {
    const silent = startSilentServer();
    let c: Case;
    try {
      c = mk({ TIMEOUT: "30", BUDGET: "4" }, silent.url);
      c.some(20, "silent");
      // TIMEOUT above BUDGET: one request, cut at the deadline. TIMEOUT below it: retried, the last try cut at the deadline.
      for (const timeout of ["30", "2"]) {
        c.conf({ URL: silent.url, TIMEOUT: timeout, BUDGET: "4" });
        const from = silent.opened.length;
        const t0 = performance.now();
        const r = await c.run();
        const wall = (performance.now() - t0) / 1000;
        // The run's clock starts before its first request: every connection ends within BUDGET of the first one's start, plus the time
        // curl's timer and the close take to arrive on a loaded 2-core CI host (0.32 s seen once). An uncapped TIMEOUT would show as 30 s.
        const span = await silent.span(from);
        console.log(`sh reporter (${name}), never-answering server, BUDGET 4 s, TIMEOUT ${timeout} s: ${wall.toFixed(2)} s, exit ${r.code}, last close ${(span / 1000).toFixed(2)} s after the first connect`);
        expect(r.code).toBe(3);
        expect(r.stderr).toContain("server unreachable");
        // Wall time seen from here adds process start and exit, seconds on a loaded CI host; the bound that matters is `span`.
        expect(wall).toBeLessThanOrEqual(4 + 8);
        expect(silent.openNow()).toBe(0);
        expect(span).toBeLessThanOrEqual(4000 + 500);
        expect(c.state().OFFSET).toBe("0");
        expect((await c.run("status")).stdout).toMatch(/last_error: .*exit 3: server unreachable/);
      }
    } finally {
      silent.stop();
    }
    c.conf({ URL: server() });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
  });

  it("the log filling a small tmpfs: everything written before ENOSPC is shipped; rotation frees the space", async () => {
    const c = mk({ ROTATE_BYTES: "65536", MAX_RETAINED_BYTES: "1048576", BATCH_BYTES: "65536" });
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", c.logDir]).exitCode).toBe(0);
    try {
      writeFileSync(c.log, "");
      chmodSync(c.log, 0o622);
      let full = false;
      for (let i = 0; i < 100_000 && !full; i++) {
        try {
          c.record(`echo fill ${i}`); // counted as written only once appended whole
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
          full = true;
        }
      }
      expect(full).toBe(true);
      expect((await c.run()).code).toBe(0);
      expect(readdirSync(c.logDir)).toEqual(["commands.log"]);
      c.some(20, "room again");
      expect((await c.run()).code).toBe(0);
      await expectStored(c);
    } finally {
      Bun.spawnSync(["umount", "-l", c.logDir]);
    }
  });

  it("HTTP 500 on the middle batch: retried, everything once", async () => {
    const proxy = new FaultProxy(server(), (k) => (k === 3 ? "fail" : "pass"));
    try {
      const c = mk({ BATCH_BYTES: "2048" }, proxy.url);
      c.some(40, "five");
      expect((await c.run()).code).toBe(0);
      await expectStored(c);
      // Three batches at least, the third request failed, the one after it repeated it.
      expect(proxy.requests).toBeGreaterThanOrEqual(4);
    } finally {
      proxy.stop();
    }
  });

  it("a server slower than TIMEOUT: retried, stored once; the token is in no process's argv", async () => {
    const proxy = new FaultProxy(server(), (k) => (k === 1 ? 2500 : "pass"));
    try {
      const c = mk({ TIMEOUT: "1" }, proxy.url);
      c.some(10, "slow");
      const p = c.spawn();
      while (proxy.requests < 1) await Bun.sleep(20);
      const argvs: string[] = [];
      for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        try {
          argvs.push(readFileSync(`/proc/${pid}/cmdline`, "latin1"));
        } catch { /* gone */ }
      }
      expect(argvs.some((a) => a.includes("curl"))).toBe(true);
      expect(argvs.filter((a) => a.includes(INGEST))).toEqual([]);
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect({ code, out, err }).toEqual({ code: 0, out: "", err: "" });
      expect(proxy.requests).toBeGreaterThan(1);
      await expectStored(c);
    } finally {
      proxy.stop();
    }
  });

  it("kill -9 of the reporter mid-run, then a rerun: everything, once", async () => {
    const proxy = new FaultProxy(server(), () => 100);
    try {
      const c = mk({ BATCH_BYTES: "1024" }, proxy.url);
      c.some(30, "kill");
      const p = c.spawn();
      while (proxy.requests < 3) await Bun.sleep(20);
      p.kill("SIGKILL");
      await p.exited;
      expect(Number(c.state().OFFSET)).toBeLessThan(statSync(c.log).size);
      proxy.plan = () => "pass";
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      await expectStored(c);
      expect(readdirSync(c.stateDir).filter((f) => f.startsWith("tmp."))).toEqual([]);
    } finally {
      proxy.stop();
    }
  });

  it("a 1 MiB command on one 2018 line (as the 2018 hook wrote it) is shipped and stored exactly, with the lines around it", async () => {
    const c = mk({ BATCH_BYTES: "262144" });
    c.seed("before");
    c.seed("echo " + "0123456789abcdef".repeat(64 * 1024) + " end");
    c.seed("after");
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
  });

  it("BUDGET used up mid-backlog: exit 0 with the progress saved; the next run goes on from there", async () => {
    const proxy = new FaultProxy(server(), () => 400);
    try {
      // BUDGET is a hard bound (no request starts or goes on past it): on a loaded host (CI) a few seconds can go by before the
      // first answer, so the budget leaves room for that while the backlog (~36 bodies of 1 KiB at 400 ms each) cannot fit in it.
      const c = mk({ BATCH_BYTES: "1024", BUDGET: "7" }, proxy.url);
      c.some(400, "budget");
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      const off = Number(c.state().OFFSET);
      expect(off).toBeGreaterThan(0);
      expect(off).toBeLessThan(statSync(c.log).size);
      proxy.plan = () => "pass";
      c.conf({ URL: server(), BATCH_BYTES: "65536", BUDGET: "60" }); // the rest in a few bodies, whatever the load
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      await expectStored(c);
    } finally {
      proxy.stop();
    }
  });

  it("rotation by the reporter: new log 0622 (append-only), rotated file drained then deleted", async () => {
    const c = mk({ ROTATE_BYTES: "3000" });
    c.some(40, "rot");
    const ino = statSync(c.log).ino;
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const st = statSync(c.log);
    expect(st.ino).not.toBe(ino);
    expect(st.size).toBe(0);
    expect(st.mode & 0o777).toBe(0o622);
    expect(st.uid).toBe(0);
    if (appendOnlySupported(c.dir)) expect(isAppendOnly(c.log)).toBe(true);
    expect(readdirSync(c.logDir)).toEqual(["commands.log"]);
    c.some(10, "rot2");
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
  });

  it("a rotated file waiting for the server is root's alone (0600) and append-only: no other user can open it to write; later shipped once and deleted", async () => {
    const c = mk({ URL: closedPort(), BUDGET: "2", ROTATE_BYTES: "3000" });
    chmodSync(c.dir, 0o755); // other users can reach the log directory, as in /var/log/cmdaudit
    expect(appendOnlySupported(c.dir)).toBe(true); // the temp dir's file system must take chattr +a (ext4 does)
    c.some(40, "sealed");
    expect((await c.run()).code).toBe(3); // rotated, nothing sent
    const rotated = readdirSync(c.logDir).filter((f) => f !== "commands.log").map((f) => join(c.logDir, f));
    expect(rotated.length).toBe(1);
    const st = statSync(rotated[0]!);
    expect({ mode: (st.mode & 0o777).toString(8), uid: st.uid, appendOnly: isAppendOnly(rotated[0]!) }).toEqual({ mode: "600", uid: 0, appendOnly: true });
    expect(canOpenForAppend("nobody", c.log)).toBe(true); // the live log: the hook's users append to it
    expect(canOpenForAppend("nobody", rotated[0]!)).toBe(false);
    c.some(5, "sealed2");
    c.conf({ URL: server(), ROTATE_BYTES: "3000" });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(readdirSync(c.logDir)).toEqual(["commands.log"]);
  });

  it("a rotated file left unsealed (an older version's, or a run killed before the seal) is sealed by the next run; a hard link of the live log under a rotated name is not", async () => {
    const c = mk({ URL: closedPort(), BUDGET: "2" });
    const old = `${c.log}.${Math.floor(Date.now() / 1000) - 60}.1`;
    c.some(6, "unsealed", old);
    chmodSync(old, 0o622);
    c.some(3, "live");
    expect((await c.run()).code).toBe(3);
    expect([(statSync(old).mode & 0o777).toString(8), isAppendOnly(old)]).toEqual(["600", true]);
    const linked = `${c.log}.${Math.floor(Date.now() / 1000) + 60}.${statSync(c.log).ino}`;
    linkSync(c.log, linked); // a run that died between the link and the rename
    expect((await c.run()).code).toBe(3);
    expect((statSync(c.log).mode & 0o777).toString(8)).toBe("622"); // the hook's users still write to it
    unlinkSync(linked);
    c.conf({ URL: server() });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(readdirSync(c.logDir)).toEqual(["commands.log"]);
  });

  it("a rotated file inside ROTATE_GRACE is sent but kept; after the grace it is finished and deleted", async () => {
    const c = mk({ ROTATE_BYTES: "1000", ROTATE_GRACE: "3600" });
    c.some(12, "grace");
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
    const rotated = readdirSync(c.logDir).filter((f) => /^commands\.log\.\d+\.\d+$/.test(f));
    expect(rotated.length).toBe(1);
    c.some(3, "grace2");
    expect((await c.run()).code).toBe(0);
    c.conf({ ROTATE_BYTES: "1000", ROTATE_GRACE: "0" });
    expect((await c.run()).code).toBe(0);
    expect(readdirSync(c.logDir)).toEqual(["commands.log"]);
    await expectStored(c);
  });

  it("rotation by someone else (mv): the old file is found by inode and drained, the new one read from 0", async () => {
    const c = mk({ GZIP: "0" });
    c.some(10, "mv1");
    expect((await c.run()).code).toBe(0);
    c.some(5, "mv2");
    const old = join(c.logDir, "commands.log.1");
    renameSync(c.log, old);
    writeFileSync(c.log, "");
    chmodSync(c.log, 0o622);
    c.some(5, "mv3");
    c.some(2, "late", old);
    // A writer cut off mid-line in a file that will not grow: sent with final=1 and an LF added, not held back forever.
    const cut = c.seed("echo no newline at the end", { file: join(c.dir, "scratch") });
    appendFileSync(old, cut.subarray(0, cut.length - 1));
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(existsSync(old)).toBe(true);
    expect(Number(c.state().OFFSET)).toBe(statSync(c.log).size);
    c.some(3, "mv4");
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
  });

  it("a tracked file rotated away and removed with records unread at the last run: exactly those counted in a stored loss record; the new log from 0", async () => {
    const c = mk();
    c.some(6, "gone1");
    expect((await c.run()).code).toBe(0);
    const from = statSync(c.log).size;
    const bytes = c.some(3, "gone-lost");
    c.written.splice(-3);
    c.conf({ URL: closedPort(), BUDGET: "2" });
    expect((await c.run()).code).toBe(3); // the server was away: 3 records unread
    const old = join(c.logDir, "commands.log.1");
    renameSync(c.log, old);
    writeFileSync(c.log, "");
    chmodSync(c.log, 0o622);
    rmSync(old);
    c.some(4, "gone2");
    c.conf({});
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const loss = await lossRows(c);
    expect(loss.map((r) => r.command)).toEqual([expect.stringContaining(`3 record(s) (${bytes} bytes) of ${c.log} at offset ${from} `)]);
  });

  it("a tracked file rotated away and removed with nothing unread at the last run: no loss record (nobody saw what was written after it)", async () => {
    const c = mk();
    c.some(6, "gone1");
    expect((await c.run()).code).toBe(0);
    const old = join(c.logDir, "commands.log.1");
    renameSync(c.log, old);
    writeFileSync(c.log, "");
    chmodSync(c.log, 0o622);
    c.some(3, "gone-unseen", old);
    c.written.splice(-3);
    rmSync(old);
    c.some(4, "gone2");
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
  });

  it("copytruncate between runs: the rest from the copy, the new content from 0, no loss record (nothing was lost)", async () => {
    const c = mk();
    c.some(20, "ct1");
    expect((await c.run()).code).toBe(0);
    c.some(4, "ct1b"); // only in the copy once the log is truncated
    copyFileSync(c.log, join(c.logDir, "commands.log.1"));
    truncateSync(c.log, 0);
    c.some(30, "ct2"); // longer than before: only the fingerprints show the truncation
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
    c.some(2, "ct3");
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
  });

  it("copytruncate after the reporter saw everything, and again with records unread while the server was down: everything stored once, no loss record", async () => {
    const c = mk();
    c.some(20, "cs1");
    expect((await c.run()).code).toBe(0);
    copyFileSync(c.log, join(c.logDir, "commands.log.1"));
    truncateSync(c.log, 0);
    c.some(30, "cs2");
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
    c.some(25, "cs3-unread");
    c.conf({ URL: closedPort(), BUDGET: "2" });
    expect((await c.run()).code).toBe(3);
    copyFileSync(c.log, join(c.logDir, "commands.log.2"));
    truncateSync(c.log, 0);
    c.some(40, "cs4"); // longer than the checkpoint again
    c.conf({});
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
  });

  it("`: > log` between runs, no copy, nothing unread at the last run: the new content from 0, no loss record", async () => {
    const c = mk();
    c.some(20, "tr1");
    expect((await c.run()).code).toBe(0);
    truncateSync(c.log, 0);
    c.some(3, "tr2");
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
  });

  it("rewritten in place (same inode, same first 64 bytes, longer than the checkpoint) after 15,000 records were shipped: every new record stored, no loss record", async () => {
    const c = mk({ BATCH_BYTES: "1048576" });
    const old = Buffer.concat(Array.from({ length: 15_000 }, (_, i) => c.seedBytes(`echo before the rewrite ${i}`)));
    writeFileSync(c.log, old);
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const ino = statSync(c.log).ino;
    const nu = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => c.seedBytes(`echo written in place ${i}`)));
    expect(nu.subarray(0, 64)).toEqual(old.subarray(0, 64));
    expect(nu.length).toBeGreaterThan(old.length);
    writeFileSync(c.log, nu);
    expect(statSync(c.log).ino).toBe(ino);
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await stored(server(), { host: c.host })).length).toBe(35_000); // (a short message when thousands are missing)
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
  });

  it("server down with 300 records unread, then the log trimmed in place keeping its end (as bash trims a HISTFILE): all recovered, no loss record", async () => {
    const c = mk({ BATCH_BYTES: "65536" });
    c.some(200, "trim1");
    expect((await c.run()).code).toBe(0);
    c.some(300, "trim2-unread");
    c.conf({ URL: closedPort(), BUDGET: "2", BATCH_BYTES: "65536" });
    expect((await c.run()).code).toBe(3);
    const lines = readFileSync(c.log).toString("latin1").split("\n");
    expect(lines.at(-1)).toBe("");
    const kept = lines.slice(-401).join("\n"); // the last 400 lines: 100 shipped, 300 unread
    const ino = statSync(c.log).ino;
    writeFileSync(c.log, Buffer.from(kept, "latin1"));
    expect(statSync(c.log).ino).toBe(ino);
    c.some(5, "trim3");
    c.conf({ BATCH_BYTES: "65536" });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    expect(await lossRows(c)).toEqual([]);
  });

  it("server down with 300 records unread, then the log rewritten in place with other content: a loss record with exactly those 300 records and their bytes", async () => {
    const c = mk({ BATCH_BYTES: "65536" });
    c.some(200, "rw1");
    expect((await c.run()).code).toBe(0);
    const from = statSync(c.log).size;
    const bytes = c.some(300, "rw2-unread");
    c.written.splice(-300);
    c.conf({ URL: closedPort(), BUDGET: "2", BATCH_BYTES: "65536" });
    expect((await c.run()).code).toBe(3);
    truncateSync(c.log, 0);
    c.some(260, "rw3"); // longer than the checkpoint
    expect(statSync(c.log).size).toBeGreaterThan(from);
    c.conf({ BATCH_BYTES: "65536" });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const loss = await lossRows(c);
    expect(loss.map((r) => r.command)).toEqual([
      `cmdaudit reporter: 300 record(s) (${bytes} bytes) of ${c.log} at offset ${from} were not sent before the file was rewritten in place and are not in it any more`,
    ]);
  });

  it("retained log over MAX_RETAINED_BYTES while the server is down: oldest rotated file dropped, exact count in a stored loss record", async () => {
    const down = closedPort();
    const conf = (url: string, cap: number) => ({ URL: url, BUDGET: "1", ROTATE_BYTES: "2000", MAX_RETAINED_BYTES: String(cap) });
    const c = mk(conf(down, 1 << 30));
    const sizes: number[] = [];
    const counts: number[] = [];
    for (const tag of ["cap1", "cap2", "cap3"]) {
      const before = c.written.length;
      sizes.push(c.some(17, tag));
      counts.push(c.written.length - before);
      expect(sizes.at(-1)!).toBeGreaterThan(2000);
      // The third run finds more than the cap retained: the oldest rotated file (cap1) must go, and only it.
      if (tag === "cap3") c.conf(conf(down, sizes[1]! + sizes[2]! + 10));
      expect((await c.run()).code).toBe(3);
    }
    const st = await c.run("status");
    expect(st.stdout).toContain(`dropped_records: ${counts[0]}\n`);
    expect(st.stdout).toContain(`dropped_bytes: ${sizes[0]}\n`);
    expect(st.stdout).toContain("pending_loss_records: 1\n");
    const dropped = c.written.splice(0, counts[0]!);
    expect(dropped.length).toBe(counts[0]!);
    c.conf({ ...conf(server(), sizes[1]! + sizes[2]! + 10), BUDGET: "20" });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const loss = await lossRows(c);
    expect(loss.length).toBe(1);
    expect(loss[0]!.command).toMatch(new RegExp(`^cmdaudit reporter: dropped ${counts[0]} record\\(s\\) \\(${sizes[0]} bytes\\) of commands\\.log\\.\\d+\\.\\d+ \\(retained log over MAX_RETAINED_BYTES while the server was unreachable\\)$`));
    expect(loss[0]!.ctime).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect((await c.run("status")).stdout).toContain("pending_loss_records: 0\n");
  });

  it("the backlog cap counts CA2 and CA1 head lines and seed lines, not part lines or foreign lines", async () => {
    const down = closedPort();
    const conf = (url: string, cap: number) => ({ URL: url, BUDGET: "1", ROTATE_BYTES: "2000", MAX_RETAINED_BYTES: String(cap) });
    const c = mk(conf(down, 1 << 30));
    // The file that will be dropped: 7 records, 4 of them CA2 (one of 3 lines), 2 CA1 (one of 3 lines), 1 seed line.
    let first = 0;
    first += c.record("echo ca2 one").length;
    first += c.record("echo ca2 long " + "y".repeat(7000)).length;
    first += c.record("echo ca1 one", { ca1: true }).length;
    first += c.record("echo ca1 long " + "z".repeat(7000), { ca1: true }).length;
    first += c.seed("echo seed one").length;
    first += c.record("echo ca2 two").length;
    first += c.record("echo ca2 three").length;
    const junk = "#1764122400\nls -la\n\n";
    appendFileSync(c.log, junk);
    first += junk.length;
    const text = readFileSync(c.log, "latin1");
    expect([/^CA2\tR\t/gm, /^CA1\tR\t/gm, /^CA2\tP\t/gm, /^CA1\tP\t/gm].map((re) => text.match(re)?.length ?? 0)).toEqual([4, 2, 2, 2]);
    expect((await c.run()).code).toBe(3);
    const sizes = [first];
    for (const tag of ["mix2", "mix3"]) {
      sizes.push(c.some(17, tag));
      if (tag === "mix3") c.conf(conf(down, sizes[1]! + sizes[2]! + 10));
      expect((await c.run()).code).toBe(3);
    }
    const st = await c.run("status");
    expect(st.stdout).toContain(`dropped_bytes: ${first}\n`);
    expect(st.stdout).toContain("dropped_records: 7\n");
    c.written.splice(0, 7);
    c.conf({ ...conf(server(), sizes[1]! + sizes[2]! + 10), BUDGET: "20" });
    expect((await c.run()).code).toBe(0);
    await expectStored(c);
    expect((await lossRows(c)).map((r) => r.command)).toEqual([expect.stringMatching(/^cmdaudit reporter: dropped 7 record\(s\) /)]);
  });

  it("a new rotation sorts after every earlier one, even when the clock stepped back: older files are read first, none is skipped", async () => {
    const down = closedPort();
    const c = mk({ URL: down, BUDGET: "1", ROTATE_BYTES: "2000" });
    // Rotated an hour "later" than now: the clock has since been set back.
    const earlier = `${c.log}.${Math.floor(Date.now() / 1000) + 3600}.1`;
    c.some(17, "rotated-before-the-clock-step", earlier);
    c.some(17, "live");
    expect((await c.run()).code).toBe(3);
    const order = (name: string) => name.slice(c.log.length + 1).split(".").map(Number);
    const rotated = readdirSync(c.logDir).map((f) => join(c.logDir, f)).filter((f) => /\.\d+\.\d+$/.test(f))
      .sort((a, b) => order(a)[0]! - order(b)[0]! || order(a)[1]! - order(b)[1]!);
    expect(rotated.length).toBe(2);
    expect(rotated[0]).toBe(earlier);
    expect(readFileSync(rotated[1]!, "latin1")).toContain("echo live 0");
    c.conf({ URL: server() });
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
  });

  it("records the server rejects go to a dead letter (body and answer, 0600); the rest is stored", async () => {
    const c = mk();
    c.some(3, "dl1");
    c.record("bad date", { ctime: "2024-02-30T10:00:00+08:00", expect: false });
    appendFileSync(c.log, "CA1\tR\tbroken\n");
    c.some(3, "dl2");
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const dl = deadLetters(c).sort();
    expect(dl.length).toBe(2);
    const answer = readFileSync(join(c.stateDir, "deadletter", dl.find((f) => f.endsWith(".answer"))!), "utf8");
    expect(answer).toContain('"line":4');
    expect(answer).toContain('"line":5');
    const body = readFileSync(join(c.stateDir, "deadletter", dl.find((f) => f.endsWith(".body"))!), "latin1");
    expect(body).toContain("bad date");
    for (const f of dl) expect(statSync(join(c.stateDir, "deadletter", f)).mode & 0o777).toBe(0o600);
    expect((await c.run("status")).stdout).toContain("dead_letters: 1\n");
  });

  it("records the server rejects are also counted, exactly, in one stored loss record naming the file and offsets", async () => {
    const c = mk();
    c.some(3, "dlc1");
    const at = statSync(c.log).size;
    c.record("bad date", { ctime: "2024-02-30T10:00:00+08:00", expect: false });
    appendFileSync(c.log, "CA1\tR\tbroken\n");
    c.some(3, "dlc2");
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    await expectStored(c);
    const loss = (await lossRows(c)).map((r) => r.command);
    expect(loss).toEqual([expect.stringMatching(new RegExp(`^cmdaudit reporter: 2 record\\(s\\) of ${c.log.replace(/[.]/g, "\\.")} at offsets? ${at}\\b`))]);
    expect(loss[0]!.match(/record\(s\)/g)!.length).toBe(1);
    expect((await c.run()).code).toBe(0);
    expect(await lossRows(c)).toHaveLength(1);
  });

  it("an unfinished multi-part record then a long incomplete last line at the end of the live log: a handful of POSTs, exit 0, both wait", async () => {
    const proxy = new FaultProxy(server());
    try {
      const c = mk({ GZIP: "0" }, proxy.url);
      c.some(20, "spin");
      const at = statSync(c.log).size;
      c.unfinished();
      appendFileSync(c.log, "CA2\tR\t" + "z".repeat(300_000)); // a line still being written, longer than many bodies
      const t0 = performance.now();
      const r = await c.run();
      const wall = (performance.now() - t0) / 1000;
      console.log(`sh reporter (${name}), unfinished record + incomplete last line: ${proxy.requests} POSTs, ${wall.toFixed(2)} s, exit ${r.code}`);
      expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(proxy.requests).toBeLessThanOrEqual(4);
      expect(Number(c.state().OFFSET)).toBe(at);
      await expectStored(c);
      const n = proxy.requests;
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(proxy.requests - n).toBeLessThanOrEqual(1);
      expect(Number(c.state().OFFSET)).toBe(at);
      expect(proxy.log.filter((l) => l.search.includes("giveUp"))).toEqual([]);
    } finally {
      proxy.stop();
    }
  });

  it("an unfinished record in the middle of the log, 3,000 lines after it: given up within one body, counted in one loss record; the rest stored once", async () => {
    const proxy = new FaultProxy(server());
    try {
      const c = mk({ GZIP: "0", BATCH_BYTES: "65536" }, proxy.url);
      c.some(10, "mid1");
      const at = statSync(c.log).size;
      c.unfinished();
      c.some(3000, "mid2");
      const r = await c.run();
      console.log(`sh reporter (${name}), unfinished record mid-log: ${proxy.requests} POSTs`);
      expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(Number(c.state().OFFSET)).toBe(statSync(c.log).size);
      await expectStored(c);
      expect(proxy.requests).toBeLessThan(40);
      const loss = (await lossRows(c)).map((r) => r.command);
      expect(loss).toEqual([expect.stringMatching(new RegExp(`^cmdaudit reporter: 1 record\\(s\\) of \\S+ at offsets? ${at}\\b.*unfinished`))]);
    } finally {
      proxy.stop();
    }
  });

  it("an unfinished record at the end of the live log: waits UNFINISHED_SECONDS (a clock set back restarts the wait), then sent with giveUp=1, given up, counted in one loss record", async () => {
    const proxy = new FaultProxy(server());
    try {
      const c = mk({ UNFINISHED_SECONDS: "2" }, proxy.url);
      c.some(10, "end1");
      const at = statSync(c.log).size;
      c.unfinished();
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      await expectStored(c);
      expect(Number(c.state().OFFSET)).toBe(at);
      // The clock was set back: the wait began "in the future"; it starts again from now.
      const st = readFileSync(join(c.stateDir, "state"), "utf8");
      expect(st).toMatch(/^WAIT_SINCE=\d+$/m);
      writeFileSync(join(c.stateDir, "state"), st.replace(/^WAIT_SINCE=\d+$/m, `WAIT_SINCE=${Math.floor(Date.now() / 1000) + 3600}`));
      await Bun.sleep(2200);
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(Number(c.state().OFFSET)).toBe(at);
      expect(proxy.log.filter((l) => l.search.includes("giveUp"))).toEqual([]);
      await Bun.sleep(2200);
      const n = proxy.requests;
      const t0 = performance.now();
      const r = await c.run();
      const wall = (performance.now() - t0) / 1000;
      console.log(`sh reporter (${name}), unfinished record at the end, wait over: ${proxy.requests - n} POSTs, ${wall.toFixed(2)} s, exit ${r.code}`);
      expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(Number(c.state().OFFSET)).toBe(statSync(c.log).size);
      expect(proxy.log.filter((l) => l.search.includes("&giveUp=1")).length).toBe(1);
      const loss = (await lossRows(c)).map((r) => r.command);
      expect(loss).toEqual([expect.stringMatching(new RegExp(`^cmdaudit reporter: 1 record\\(s\\) of \\S+ at offsets? ${at}\\b`))]);
      c.some(3, "end2");
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      await expectStored(c);
      expect(await lossRows(c)).toHaveLength(1);
    } finally {
      proxy.stop();
    }
  });

  it("stuck (a front proxy's 413 below the body an unfinished record needs): the run stops after a few POSTs, exit 6, file, offset, body size and answer in status and check; unstuck later", async () => {
    const proxy = new FaultProxy(server());
    proxy.maxBody = 100_000;
    try {
      const c = mk({ GZIP: "0", BATCH_BYTES: "16384" }, proxy.url);
      c.some(10, "stuck1");
      const at = statSync(c.log).size;
      c.unfinished();
      c.some(3000, "stuck2");
      const t0 = performance.now();
      const r = await c.run();
      const wall = (performance.now() - t0) / 1000;
      console.log(`sh reporter (${name}), stuck: ${proxy.requests} POSTs, ${wall.toFixed(2)} s, exit ${r.code}`);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain("stuck");
      expect(proxy.requests).toBeLessThanOrEqual(8);
      expect(Number(c.state().OFFSET)).toBe(at);
      const st = await c.run("status");
      expect(st.code).toBe(0);
      const err = st.stdout.match(/^last_error: (.*)$/m)![1]!;
      expect(err).toContain("exit 6");
      expect(err).toContain(c.log);
      expect(err).toContain(`offset ${at}`);
      expect(err).toMatch(/\d+-byte body/);
      expect(err).toContain('"consumed":0');
      const ck = await c.run("check");
      expect(ck.code).toBe(6);
      expect(ck.stdout).toContain(err.slice(err.indexOf("stuck")));
      proxy.maxBody = Infinity;
      expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
      await expectStored(c);
      expect((await c.run("status")).stdout).toContain("last_error: none\n");
      expect((await c.run("check")).code).toBe(0);
      expect((await lossRows(c)).map((r) => r.command)).toEqual([expect.stringMatching(/^cmdaudit reporter: 1 record\(s\) /)]);
    } finally {
      proxy.stop();
    }
  });

  it("a lock held by another run: exit 5 (flock, and the mkdir fallback with stale-pid detection)", async () => {
    const c = mk();
    c.some(3, "lock");
    mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
    // In a session of its own: the kill below reaches flock's child (sleep) too, which would otherwise be left running.
    const holder = Bun.spawn(["setsid", "flock", join(c.stateDir, "reporter.lock"), "sleep", "30"], { stdout: "ignore", stderr: "ignore" });
    try {
      while (!existsSync(join(c.stateDir, "reporter.lock"))) await Bun.sleep(10);
      await Bun.sleep(100);
      const r = await c.run();
      expect(r.code).toBe(5);
      expect(r.stderr).toContain("another run");
    } finally {
      process.kill(-holder.pid, "SIGKILL");
      await holder.exited;
    }
    const env = { CMDAUDIT_REPORTER_NO_FLOCK: "1" };
    const lockDir = join(c.stateDir, "reporter.lock.d");
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, "pid"), `${process.pid}\n`);
    expect((await c.run("run", env)).code).toBe(5);
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    writeFileSync(join(lockDir, "pid"), `${dead.pid}\n`);
    expect(await c.run("run", env)).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(lockDir)).toBe(false);
    await expectStored(c);
  });

  it("config errors exit 2 and name the key; the token is never printed", async () => {
    const c = mk();
    writeFileSync(c.confFile, readFileSync(c.confFile, "utf8") + "COLOUR=blue\nGZIP=2\n");
    const r = await c.run();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown key COLOUR");
    expect(r.stderr).toContain("GZIP");
    c.conf({ URL: "" });
    const r2 = await c.run("check");
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain("URL");
    c.conf({});
    writeFileSync(c.tokenFile, "not the token 0123456789\n");
    const r3 = await c.run("check");
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain("TOKEN_FILE");
    expect(r3.stderr + r3.stdout).not.toContain("not the token");
    const wrong = "wrong-token-0123456789abcdef";
    writeFileSync(c.tokenFile, wrong + "\n");
    c.some(2, "cfg");
    const outs: string[] = [];
    for (const cmd of ["check", "run", "status"]) {
      const x = await c.run(cmd);
      outs.push(x.stdout + x.stderr);
      if (cmd !== "status") expect(x.code).toBe(4);
    }
    for (const o of outs) expect(o).not.toContain(wrong);
    for (const f of readdirSync(c.stateDir)) {
      const p = join(c.stateDir, f);
      if (statSync(p).isFile()) expect(readFileSync(p, "latin1")).not.toContain(wrong);
    }
    writeFileSync(c.tokenFile, INGEST + "\n");
    const ok = await c.run("check");
    expect(ok.stdout).toContain("server: ok");
    expect(ok.stdout).toContain("log: ok");
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain(INGEST);
    chmodSync(c.log, 0o644);
    expect((await c.run("check")).code).toBe(1);
    chmodSync(c.log, 0o622);
    c.conf({ URL: closedPort() });
    const down = await c.run("check");
    expect(down.code).toBe(3);
    expect(down.stdout).toContain("server: no answer");
  });
});
