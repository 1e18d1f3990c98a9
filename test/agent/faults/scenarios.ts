/**
 * One fault suite for both reporters (docs/reporter.md, "Faults: the rules both reporters
 * follow"), the way test/store/conformance.ts serves both databases: each scenario runs the
 * reporter through its driver against the real server on MariaDB over loopback, with a fault
 * proxy in front where the fault is on the wire, and ends with the three rules: every record
 * written is stored exactly once, what is lost is counted exactly in stored loss records, no
 * false loss.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { READ_TOKEN } from "../../support/config.ts";
import { exportRows } from "../../support/query.ts";
import { appendOnlySupported, closedPort, isAppendOnly } from "../sh-support.ts";
import { type Backend, startBackend, startSilentServer } from "../support.ts";
import type { Knobs, Ran, ReporterDriver, RunOptions, Spawned } from "./driver.ts";
import { cleanupAll, expectRules, FAKETIME_LIB, FaultHost, faultProxy, gate, json429, json500, mountTmpfs, until } from "./support.ts";

/** A request that gives up the unfinished records at the body's start (docs: `?giveUp=1`; the server takes `giveUp=N`, N ≥ 1). */
const GIVE_UP = /[?&]giveUp=[1-9]\d*(&|$)/;

/** Timeout of one scenario. */
const SCENARIO_MS = 120_000;

export function faultSuite(driver: ReporterDriver): void {
  let be: Backend;
  const url = () => be.server.url;

  beforeAll(async () => {
    await driver.prepare();
    be = await startBackend();
  }, 300_000);
  afterAll(async () => {
    await cleanupAll();
    await be?.stop();
  });

  const noteId = (h: FaultHost) => {
    const id = driver.reporterId(h.stateDir);
    if (id) h.reporterIds.add(id);
  };
  const configure = (h: FaultHost, u: string, over: Partial<Knobs> = {}) => driver.configure(h.dir, h.knobs(u, over));
  const spawn = (h: FaultHost, opts?: RunOptions): Spawned => {
    const s = driver.spawn(h.dir, opts);
    return { ...s, done: s.done.then((r) => { noteId(h); return r; }) };
  };
  const run = (h: FaultHost, opts?: RunOptions): Promise<Ran> => spawn(h, opts).done;
  /** The exit code, with the run's stderr beside it in a failure's diff. */
  const expectExit = (r: Ran, code: number) => expect({ code: r.code, stderr: r.stderr.slice(0, 800) }).toEqual({ code, stderr: expect.any(String) });
  /** A last ordinary run against the server (new lines, nothing in the way; pending loss records go out), then the three rules. */
  const settleAndCheck = async (h: FaultHost, over: Partial<Knobs> = {}) => {
    configure(h, url(), over);
    h.write(3);
    expectExit(await run(h), 0);
    await expectRules(be.server, h);
  };

  describe(`${driver.name} reporter under faults`, () => {
    test("server down: the run exits 3 within its budget and says so; once the server is back every record arrives once", async () => {
      const h = new FaultHost("down");
      h.write(300);
      configure(h, closedPort(), { budgetSeconds: 4, timeoutSeconds: 2 });
      const r = await run(h);
      expectExit(r, 3);
      expect(r.ms).toBeLessThan(4000 + 1500);
      expect((await driver.status(h.dir)).lastError).not.toBeNull();
      h.write(20);
      configure(h, url());
      expectExit(await run(h), 0);
      await settleAndCheck(h);
    }, SCENARIO_MS);

    test("HTTP 500 mid-batch, before and after the server committed: retried, stored once", async () => {
      const h = new FaultHost("e500");
      h.write(1500); // about 5 bodies of 64 KiB
      const failed: number[] = [];
      const proxy = faultProxy(url(), (n) => {
        // Request 2: a 500 without the server seeing it; request 4: the server commits, the reporter gets a 500.
        if (n === 2) { failed.push(n); return json500(); }
        if (n === 4) return { after: async () => { failed.push(n); return json500(); } };
        return "forward";
      });
      try {
        configure(h, proxy.url);
        expectExit(await run(h), 0);
        expect(failed).toEqual([2, 4]);
        expect(proxy.posts()).toBeGreaterThanOrEqual(6);
        await settleAndCheck(h);
      } finally {
        proxy.stop();
      }
    }, SCENARIO_MS);

    test("server answers 429 with Retry-After (its rate limit): retried, never exit 4; the backlog is kept (exit 3) and a later run stores every record once", async () => {
      const h = new FaultHost("e429");
      h.write(300);
      let retryAfter = 1;
      const refused: number[] = [];
      const proxy = faultProxy(url(), (n) => { refused.push(n); return json429(retryAfter); });
      try {
        for (const [seconds, minRequests] of [[1, 2], [3600, 1]] as const) {
          // Retry-After 1 s: tried again within the budget. 3600 s: past the budget, the run does not wait for it.
          retryAfter = seconds;
          configure(h, proxy.url, { budgetSeconds: 4, timeoutSeconds: 2 });
          const from = refused.length;
          const r = await run(h);
          console.log(`[${driver.name}] 429 with Retry-After ${seconds}: ${refused.length - from} request(s), run took ${r.ms} ms with a 4 s budget, exit ${r.code}`);
          expectExit(r, 3);
          expect(r.ms).toBeLessThan(4000 + 1500);
          expect(refused.length - from).toBeGreaterThanOrEqual(minRequests);
          expect((await driver.status(h.dir)).lastError).toContain("429");
        }
        expect(await exportRows(url(), { host: h.hostname }, READ_TOKEN)).toEqual([]);
        // The server answers one more 429, then takes the bodies: the run waits it out and catches up.
        let first = true;
        proxy.setFault(() => {
          if (!first) return "forward";
          first = false;
          return json429(1);
        });
        h.write(20);
        configure(h, proxy.url);
        expectExit(await run(h), 0);
        expect(first).toBe(false);
        await settleAndCheck(h);
      } finally {
        proxy.stop();
      }
    }, SCENARIO_MS);

    test("a proxy answers 408 (it gave up waiting for the body): another attempt, never exit 4; every record stored once", async () => {
      const h = new FaultHost("e408");
      h.write(50);
      let timeouts = 0;
      const proxy = faultProxy(url(), () => {
        if (timeouts >= 1) return "forward";
        timeouts++;
        return new Response("<html>408 Request Time-out</html>", { status: 408, headers: { "content-type": "text/html" } });
      });
      try {
        configure(h, proxy.url);
        expectExit(await run(h), 0);
        expect(timeouts).toBe(1);
        await settleAndCheck(h);
      } finally {
        proxy.stop();
      }
    }, SCENARIO_MS);

    test("a server that accepts and never answers: the budget is a hard wall-clock bound, connect and read timeouts included; exit 3, status says why", async () => {
      const h = new FaultHost("hang");
      h.write(100);
      const silent = startSilentServer();
      try {
        // A request timeout above the budget, then one that lets a retry start just before the deadline.
        for (const [budget, timeout] of [[4, 30], [5, 2], [4, 2]] as const) {
          configure(h, silent.url, { budgetSeconds: budget, timeoutSeconds: timeout });
          const from = silent.opened.length;
          const r = await run(h);
          // The run's clock starts before its first connection: every connection is closed within the budget of the
          // first one's start (+0.1 s for the close to arrive). The run's own wall time adds process start and exit.
          const span = await silent.span(from);
          console.log(`[${driver.name}] server that never answers: run took ${r.ms} ms with a ${budget} s budget and a ${timeout} s timeout, exit ${r.code}, last close ${Math.round(span)} ms after the first connect`);
          expectExit(r, 3);
          expect(silent.openNow()).toBe(0);
          expect(span).toBeLessThanOrEqual(budget * 1000 + 100);
          expect(r.ms).toBeLessThan(budget * 1000 + 3000);
          expect((await driver.status(h.dir)).lastError).not.toBeNull();
        }
        expect(silent.connections()).toBeGreaterThanOrEqual(2);
      } finally {
        silent.stop();
      }
      await settleAndCheck(h);
    }, SCENARIO_MS);

    test("kill -9 mid-batch (request held at the proxy): the next run resends, every record once", async () => {
      const h = new FaultHost("kill-mid");
      h.write(1500);
      const hold = gate();
      const proxy = faultProxy(url(), async (n) => {
        if (n === 2) { await hold.wait; return json500(); }
        return "forward";
      });
      try {
        configure(h, proxy.url);
        const s = spawn(h);
        await until(() => proxy.seen.length >= 2, 30_000, "the second request at the proxy");
        s.kill9();
        const r = await s.done;
        expect(r.code).toBe(128 + 9);
        hold.open();
        proxy.setFault(() => "forward");
        expectExit(await run(h), 0);
        await settleAndCheck(h);
      } finally {
        hold.open();
        proxy.stop();
      }
    }, SCENARIO_MS);

    test("kill -9 between the server's commit and the checkpoint: the batch is resent and stored once", async () => {
      const h = new FaultHost("kill-commit");
      h.write(1500);
      const committed = gate();
      const hold = gate();
      const proxy = faultProxy(url(), (n) => {
        if (n === 2) return { after: async (res) => { committed.open(); await hold.wait; return res; } };
        return "forward";
      });
      try {
        configure(h, proxy.url);
        const s = spawn(h);
        await Promise.race([committed.wait, Bun.sleep(30_000).then(() => { throw new Error("the second request was not committed within 30 s"); })]);
        s.kill9();
        const r = await s.done;
        expect(r.code).toBe(128 + 9);
        hold.open();
        expectExit(await run(h), 0);
        await settleAndCheck(h);
      } finally {
        hold.open();
        proxy.stop();
      }
    }, SCENARIO_MS);

    test("rename + create (logrotate `create`), a late line in the old file: both drained, the old file kept, every record once", async () => {
      const h = new FaultHost("create");
      configure(h, url());
      h.write(100);
      expectExit(await run(h), 0);
      h.write(200);
      const moved = `${h.log}.1`;
      renameSync(h.log, moved);
      writeFileSync(h.log, "", { mode: 0o622 });
      h.write(50);
      h.write(1, moved); // a shell that opened the old file just before the rename
      expectExit(await run(h), 0);
      expect(existsSync(moved)).toBe(true); // not the reporter's to delete
      await settleAndCheck(h);
    }, SCENARIO_MS);

    test("the reporter's own rotation while the server is away: rotated files wait sealed (0600, append-only where the file system has the flag), then everything arrives once", async () => {
      const h = new FaultHost("rotate");
      const over = { rotateBytes: 64 * 1024, budgetSeconds: 3, timeoutSeconds: 1 };
      configure(h, closedPort(), over);
      h.write(500); // > 64 KiB
      expectExit(await run(h), 3);
      h.write(500);
      expectExit(await run(h), 3);
      const rotated = readdirSync(h.logDir).filter((f) => /^commands\.log\.\d+\.\d+$/.test(f)).map((f) => join(h.logDir, f));
      expect(rotated.length).toBe(2);
      const flag = appendOnlySupported(h.dir);
      expect(rotated.map((f) => ({ f, mode: (statSync(f).mode & 0o777).toString(8), appendOnly: flag ? isAppendOnly(f) : true })))
        .toEqual(rotated.map((f) => ({ f, mode: "600", appendOnly: true })));
      expect((statSync(h.log).mode & 0o777).toString(8)).toBe("622");
      configure(h, url(), { rotateBytes: 64 * 1024 });
      h.write(50);
      expectExit(await run(h), 0);
      await settleAndCheck(h, { rotateBytes: 64 * 1024 });
    }, SCENARIO_MS);

    test("copytruncate, the reporter running in the window and sending: nothing lost, no loss record", async () => {
      const h = new FaultHost("ct-sent");
      configure(h, url());
      h.write(200);
      expectExit(await run(h), 0);
      h.write(100);
      copyFileSync(h.log, `${h.log}.1`);
      h.write(50); // in the window: after the copy, before the truncate
      expectExit(await run(h), 0); // the reporter runs in the window and sends them
      truncateSync(h.log, 0);
      h.write(30);
      expectExit(await run(h), 0);
      await settleAndCheck(h);
    }, SCENARIO_MS);

    test("copytruncate, the reporter seeing the window's lines with the server down: they are counted lost exactly", async () => {
      const h = new FaultHost("ct-lost");
      configure(h, url());
      h.write(200);
      expectExit(await run(h), 0); // checkpoint: the end of these 200
      copyFileSync(h.log, `${h.log}.1`); // the copy holds exactly the settled bytes
      h.writeLost(50); // in the window; a run sees them but cannot send them
      configure(h, closedPort(), { budgetSeconds: 3, timeoutSeconds: 1 });
      expectExit(await run(h), 3);
      truncateSync(h.log, 0);
      h.write(30);
      configure(h, url());
      expectExit(await run(h), 0);
      await settleAndCheck(h);
    }, SCENARIO_MS);

    test("in-place rewrite keeping the same first 64 bytes, longer than the checkpoint (bash trimming a HISTFILE): read again from 0, nothing lost", async () => {
      const h = new FaultHost("rewrite", { longSession: true });
      const over = { batchBytes: 256 * 1024 };
      configure(h, url(), over);
      const first = h.encodeExpected(3000);
      for (const b of first) appendFileSync(h.log, b);
      expectExit(await run(h), 0);
      const checkpoint = statSync(h.log).size;
      const unsent = h.encodeExpected(1000);
      for (const b of unsent) appendFileSync(h.log, b);
      const before = readFileSync(h.log);
      const ino = statSync(h.log).ino;
      // Keep the last 3,500 records, on the same inode.
      const kept = Buffer.concat([...first.slice(500), ...unsent]);
      writeFileSync(h.log, kept);
      expect(statSync(h.log).ino).toBe(ino);
      expect(kept.length).toBeGreaterThan(checkpoint);
      expect(kept.subarray(0, 64).equals(before.subarray(0, 64))).toBe(true);
      h.write(200);
      expectExit(await run(h), 0);
      await settleAndCheck(h, over);
    }, SCENARIO_MS);

    test("in-place rewrite while the server was away (bash trimming the file, keeping its unsent end): the unread range is recovered from the rewritten file, no false loss", async () => {
      const h = new FaultHost("rewrite-away", { longSession: true });
      const over = { batchBytes: 256 * 1024 };
      configure(h, url(), over);
      const first = h.encodeExpected(3000);
      for (const b of first) appendFileSync(h.log, b);
      expectExit(await run(h), 0);
      const checkpoint = statSync(h.log).size;
      const unsent = h.encodeExpected(1000);
      for (const b of unsent) appendFileSync(h.log, b);
      // A run sees the unsent range but cannot send it.
      configure(h, closedPort(), { ...over, budgetSeconds: 3, timeoutSeconds: 1 });
      expectExit(await run(h), 3);
      const ino = statSync(h.log).ino;
      // Keep the last 2,000 records (all of the unsent ones), on the same inode: shorter than the checkpoint.
      const kept = Buffer.concat([...first.slice(2000), ...unsent]);
      writeFileSync(h.log, kept);
      expect(statSync(h.log).ino).toBe(ino);
      expect(kept.length).toBeLessThan(checkpoint);
      h.write(100);
      configure(h, url(), over);
      expectExit(await run(h), 0);
      await settleAndCheck(h, over);
    }, SCENARIO_MS);

    test("partial last line: held back, sent once it is finished", async () => {
      const h = new FaultHost("partial");
      configure(h, url());
      h.write(20);
      const { first, rest } = h.splitRecord();
      appendFileSync(h.log, first);
      expectExit(await run(h), 0);
      appendFileSync(h.log, rest);
      h.write(5);
      expectExit(await run(h), 0);
      await settleAndCheck(h);
    }, SCENARIO_MS);

    test("unfinished multi-part record in the middle of the log, followed by 1,200 lines: given up within one run, dead-lettered, counted, everything after it stored", async () => {
      const h = new FaultHost("unfin-mid");
      const proxy = faultProxy(url());
      try {
        configure(h, proxy.url, { budgetSeconds: 30 });
        h.write(100);
        const u = h.writeUnfinished(2);
        h.write(1200);
        const r = await run(h);
        console.log(`[${driver.name}] unfinished record mid-log + 1,200 lines: ${proxy.posts()} POST(s), ${r.ms} ms, exit ${r.code}`);
        expectExit(r, 0);
        expect(driver.deadLetters(h.stateDir)).toContain(u.session);
        // Everything after it is stored by this one run.
        const after = await exportRows<{ seq: number | null }>(be.server.url, { host: h.hostname, session: h.session }, READ_TOKEN);
        expect(after.length).toBe(1300);
      } finally {
        proxy.stop();
      }
      await settleAndCheck(h, { budgetSeconds: 30 });
    }, SCENARIO_MS);

    test("unfinished multi-part record at the end of the live log, then a partial line: one bounded run, then a later run gives it up with giveUp", async () => {
      const h = new FaultHost("unfin-end");
      const proxy = faultProxy(url());
      try {
        // The measured run: unfinished_seconds left at its default (120 s), a 10 s budget.
        configure(h, proxy.url, { budgetSeconds: 10 });
        h.write(50);
        h.writeUnfinished(2);
        const { first, rest } = h.splitRecord();
        appendFileSync(h.log, first);
        const r1 = await run(h);
        const posts1 = proxy.posts();
        console.log(`[${driver.name}] one run against an unfinished record at the end of the log: ${posts1} POST(s), ${r1.ms} ms, exit ${r1.code}`);
        expectExit(r1, 0);
        expect(posts1).toBeLessThanOrEqual(4);
        expect(r1.ms).toBeLessThan(5000);
        expect(proxy.seen.filter((s) => GIVE_UP.test(s.url)).length).toBe(0); // not before unfinished_seconds
        // The records before it went in that run.
        expect((await exportRows<{ seq: number | null }>(be.server.url, { host: h.hostname, session: h.session }, READ_TOKEN)).length).toBe(50);
        // unfinished_seconds small: a later run gives it up. The wait starts at the first body that
        // ends at the record's last line and is settled 0 bytes; a reporter that does not resend in
        // the run that settled up to the record starts it one run later, hence up to two later runs.
        configure(h, proxy.url, { budgetSeconds: 10, unfinishedSeconds: 2 });
        let posts = posts1;
        for (const i of [2, 3]) {
          await Bun.sleep(3000);
          const r = await run(h);
          const n = proxy.posts() - posts;
          posts += n;
          console.log(`[${driver.name}] later run ${i} (unfinished_seconds 2, 3 s later): ${n} POST(s), ${r.ms} ms, exit ${r.code}, giveUp requests so far ${proxy.seen.filter((s) => GIVE_UP.test(s.url)).length}`);
          expectExit(r, 0);
          expect(n).toBeLessThanOrEqual(4);
          if (proxy.seen.some((s) => GIVE_UP.test(s.url))) break;
        }
        expect(proxy.seen.filter((s) => GIVE_UP.test(s.url)).length).toBeGreaterThanOrEqual(1);
        appendFileSync(h.log, rest);
      } finally {
        proxy.stop();
      }
      await settleAndCheck(h, { unfinishedSeconds: 2 });
    }, SCENARIO_MS);

    test("disk full in the state dir, at the start of a run and after the server committed a body: failing runs exit non-zero; nothing lost or stored twice, no false loss", async () => {
      const h = new FaultHost("diskfull");
      const fs = mountTmpfs(h.stateDir, "1m");
      const filler = join(h.stateDir, "filler");
      const fill = () => Bun.spawnSync(["dd", "if=/dev/zero", `of=${filler}`, "bs=4096"], { stdout: "ignore", stderr: "ignore" });
      const committed = gate();
      const hold = gate();
      const proxy = faultProxy(url());
      try {
        configure(h, url());
        h.write(100);
        expectExit(await run(h), 0);
        // Full before the run starts.
        fill();
        h.write(300);
        const a = await run(h);
        console.log(`[${driver.name}] run with the state dir full from the start: exit ${a.code}, stderr ${JSON.stringify(a.stderr.slice(0, 300))}`);
        expect(a.code).not.toBe(0);
        // Both say which file in the state dir could not be written, not "internal error".
        expect(a.stderr).toContain(h.stateDir);
        expect(a.stderr).not.toContain("internal error");
        rmSync(filler);
        expectExit(await run(h), 0);
        // Full while the server commits a body: the checkpoint cannot be saved.
        h.write(1500);
        proxy.setFault((n) => (n === 2 ? { after: async (res) => { committed.open(); await hold.wait; return res; } } : "forward"));
        configure(h, proxy.url);
        const s = spawn(h);
        await Promise.race([committed.wait, Bun.sleep(30_000).then(() => { throw new Error("the second request was not committed within 30 s"); })]);
        fill();
        hold.open();
        const b = await s.done;
        console.log(`[${driver.name}] run whose state dir filled up after the server committed a body: exit ${b.code}, stderr ${JSON.stringify(b.stderr.slice(0, 300))}`);
        expect(b.code).not.toBe(0);
        expect(b.stderr).toContain(h.stateDir);
        rmSync(filler);
        proxy.setFault(() => "forward");
        h.write(50);
        expectExit(await run(h), 0);
        await settleAndCheck(h);
      } finally {
        hold.open();
        proxy.stop();
        fs.umount();
      }
    }, SCENARIO_MS);

    test("clock stepped back a day between runs, with rotations: every record once, no false loss", async () => {
      expect(existsSync(FAKETIME_LIB)).toBe(true);
      const h = new FaultHost("clock");
      const over = { rotateBytes: 64 * 1024, budgetSeconds: 4, timeoutSeconds: 1 };
      // Server away: each run rotates the log and keeps the rotated file.
      configure(h, closedPort(), over);
      h.write(500); // > 64 KiB
      expectExit(await run(h), 3);
      h.write(500);
      expectExit(await run(h, { clockOffset: "-1d" }), 3);
      const rotated = readdirSync(h.logDir).filter((f) => f.startsWith("commands.log."));
      expect(rotated.length).toBe(2);
      // Back, still a day behind: drain everything.
      configure(h, url(), { rotateBytes: 64 * 1024 });
      h.write(100);
      expectExit(await run(h, { clockOffset: "-1d" }), 0);
      // The stepped clock took effect in the reporter (else this scenario would test nothing).
      const st = await driver.status(h.dir);
      expect(st.lastSuccessMs).not.toBeNull();
      expect(Math.abs((st.lastSuccessMs ?? 0) - (Date.now() - 86_400_000))).toBeLessThan(120_000);
      // And forward again.
      h.write(100);
      expectExit(await run(h), 0);
      await settleAndCheck(h, { rotateBytes: 64 * 1024 });
    }, SCENARIO_MS);

    test("clock stepped back while an unfinished record waits at the end of the log: the wait restarts, and the record is still given up", async () => {
      const h = new FaultHost("clock-unfin");
      const proxy = faultProxy(url());
      const over = { unfinishedSeconds: 2, budgetSeconds: 10 };
      const giveUps = () => proxy.seen.filter((s) => GIVE_UP.test(s.url)).length;
      try {
        configure(h, proxy.url, over);
        h.write(20);
        h.writeUnfinished(2);
        expectExit(await run(h), 0);
        expectExit(await run(h), 0); // the wait has started by now (see the scenario above)
        expect(giveUps()).toBe(0);
        await Bun.sleep(3000);
        expectExit(await run(h, { clockOffset: "-1d" }), 0); // a day earlier: the wait restarts
        expect(giveUps()).toBe(0);
        await Bun.sleep(3000);
        expectExit(await run(h, { clockOffset: "-1d" }), 0); // 3 s into the new wait
        expect(giveUps()).toBeGreaterThanOrEqual(1);
      } finally {
        proxy.stop();
      }
      await settleAndCheck(h, over);
    }, SCENARIO_MS);
  });
}

