/**
 * The compiled reporter against the real server on MariaDB, under real faults.
 * Every test compares what the query API returns with what was written to the
 * log: nothing lost, nothing stored twice, commands byte for byte.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, linkSync, readdirSync, readFileSync, renameSync, statSync, copyFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { INGEST_TOKEN, READ_TOKEN } from "../support/config.ts";
import { appendOnlySupported, isAppendOnly } from "./sh-support.ts";
import { appendUnfinishedRecord, type Backend, canOpenForAppend, expectExactlyStored, lossRecords, makeHost, removeTempDirs, reporterBinary, runReporter, startBackend, startProxy, startSilentServer, storedFor } from "./support.ts";

let be: Backend;
beforeAll(async () => {
  await reporterBinary();
  be = await startBackend();
}, 120_000);
afterAll(async () => {
  await be?.stop();
  removeTempDirs();
});

const state = (dir: string) => JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));

describe("delivery", () => {
  test("ships every record once; an idle run sends nothing; the checkpoint is the end of the last line", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(500);
    const r = await runReporter(h);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("");
    expect(r.code).toBe(0);
    await expectExactlyStored(be.server, h);
    const s = state(h.stateDir);
    expect(s.files[0].offset).toBe(statSync(h.log).size);
    const proxy = startProxy(be.server.url);
    h.configure(proxy.url);
    expect((await runReporter(h)).code).toBe(0);
    expect(proxy.requests()).toBe(0);
    proxy.stop();
  });

  test("server down for the whole run: exit 3, nothing lost; once it is back everything arrives once", async () => {
    const h = makeHost();
    h.configure("http://127.0.0.1:9", { run: { attempts: 2, backoff_ms: 10 } });
    h.write(300);
    const r = await runReporter(h);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("cannot reach");
    expect(r.stderr).not.toContain(INGEST_TOKEN);
    const st = await runReporter(h, ["status", "--json"]);
    const status = JSON.parse(st.stdout);
    expect(status.backlogBytes).toBe(statSync(h.log).size);
    expect(status.lastError).toContain("cannot reach");
    h.configure(be.server.url);
    h.write(10);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(JSON.parse((await runReporter(h, ["status", "--json"])).stdout).backlogBytes).toBe(0);
  });

  test("HTTP 500 on the middle batch: retried, stored once", async () => {
    const h = makeHost();
    h.write(1500); // about 4 batches of 64 KiB
    let failed = 0;
    const proxy = startProxy(be.server.url, (n) => (n === 2 && !failed++ ? new Response('{"code":1,"msg":"boom"}', { status: 500 }) : "forward"));
    h.configure(proxy.url);
    const r = await runReporter(h);
    expect(r.code).toBe(0);
    expect(failed).toBe(1);
    expect(proxy.requests()).toBeGreaterThanOrEqual(4);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  });

  test("a slow server past the timeout: the request is retried; the late commit and the resend are stored once", async () => {
    const h = makeHost();
    h.write(200);
    const proxy = startProxy(be.server.url, (n) => (n === 1 ? { after: async (res) => { await Bun.sleep(2500); return res; } } : "forward"));
    h.configure(proxy.url, { server: { timeout_seconds: 1 } });
    const r = await runReporter(h);
    expect(r.code).toBe(0);
    expect(proxy.requests()).toBeGreaterThanOrEqual(2);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  });

  test("a server that accepts and never answers: the run ends within run.budget_seconds (connect and read included), exit 3, checkpoint kept; then everything once", async () => {
    const h = makeHost();
    h.write(200);
    const silent = startSilentServer();
    try {
      h.configure(silent.url, { server: { timeout_seconds: 30 }, run: { budget_seconds: 4, attempts: 5, backoff_ms: 50 } });
      const t0 = performance.now();
      const r = await runReporter(h);
      const wall = (performance.now() - t0) / 1000;
      console.log(`compiled reporter, never-answering server, budget 4 s, timeout 30 s: ${wall.toFixed(2)} s, exit ${r.code}`);
      expect(silent.connections()).toBeGreaterThanOrEqual(1);
      expect(wall).toBeLessThanOrEqual(4 + 2);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("budget");
      expect(state(h.stateDir).files[0].offset).toBe(0);
      const st = JSON.parse((await runReporter(h, ["status", "--json"])).stdout);
      expect(st.lastError).toContain("budget");
      expect(st.backlogBytes).toBe(statSync(h.log).size);
    } finally {
      silent.stop();
    }
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
  }, 120_000);

  test("the same batch delivered twice (a retry after a lost answer) is stored once", async () => {
    const h = makeHost();
    h.write(100);
    let dropped = 0;
    // The server commits the first request; its answer never reaches the reporter.
    const proxy = startProxy(be.server.url, (n) => (n === 1 ? { after: async () => { dropped++; return new Response("", { status: 502 }); } } : "forward"));
    h.configure(proxy.url);
    expect((await runReporter(h)).code).toBe(0);
    expect(dropped).toBe(1);
    await expectExactlyStored(be.server, h);
  });

  test("kill -9 between sending and checkpointing: the rerun resends, stored once", async () => {
    const h = makeHost();
    h.write(1200);
    let proc: Bun.Subprocess | undefined;
    // Committed by the server, then the reporter dies before it can save the checkpoint.
    const proxy = startProxy(be.server.url, (n) => (n === 2 ? { after: async (res) => { proc!.kill("SIGKILL"); await proc!.exited; return res; } } : "forward"));
    h.configure(proxy.url);
    const r = await runReporter(h, ["run"], { onSpawn: (p) => (proc = p) });
    expect(proc!.signalCode).toBe("SIGKILL");
    expect(r.code).not.toBe(0);
    const before = state(h.stateDir).files[0].offset;
    expect(before).toBeLessThan(statSync(h.log).size);
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  });

  test("two runs at once: the second finds the lock taken and exits 5", async () => {
    const h = makeHost();
    h.write(50);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const proxy = startProxy(be.server.url, async (n) => { if (n === 1) await held; return "forward" as const; });
    h.configure(proxy.url);
    const first = runReporter(h);
    while (proxy.requests() === 0) await Bun.sleep(20);
    const second = await runReporter(h);
    expect(second.code).toBe(5);
    expect(second.stderr).toContain("lock");
    release();
    expect((await first).code).toBe(0);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  });

  test("a partial last line waits for the next run and is then stored whole", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(20);
    const log = readFileSync(h.log);
    truncateSync(h.log, 0);
    const cut = log.length - 30;
    writeFileSync(h.log, log.subarray(0, cut));
    expect((await runReporter(h)).code).toBe(0);
    expect((await storedFor(be.server, h.hostname)).length).toBe(19);
    expect(state(h.stateDir).files[0].offset).toBe(log.lastIndexOf(0x0a, cut - 1) + 1);
    h.append(log.subarray(cut));
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
  });

  test("non-UTF-8 bytes and a 1 MiB command arrive byte for byte", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    const big = Buffer.alloc(1024 * 1024, "a");
    big.write("\t\\n\n\r", 1000);
    h.write(3, (i) => ({ command: i === 0 ? new Uint8Array([0x6c, 0x73, 0x20, 0xff, 0xfe, 0x80]) : i === 1 ? big : "after" }));
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
  });

  test("bodies of at most batch.max_lines lines; a record with more parts than that still goes whole", async () => {
    const h = makeHost();
    h.write(250);
    h.write(1, () => ({ command: Buffer.alloc(1024 * 1024, "b") })); // about 350 part lines
    h.write(250);
    const proxy = startProxy(be.server.url);
    h.configure(proxy.url, { batch: { max_lines: 100 } });
    expect((await runReporter(h)).code).toBe(0);
    expect(proxy.requests()).toBeGreaterThanOrEqual(6);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  });

  test("records the server rejects go to the dead-letter file with the reason and the raw line; status counts them", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(5);
    h.write(1, () => ({ ctime: "2026-02-30T10:00:00+08:00" }));
    h.written.pop(); // not stored: rejected
    h.append("CA1\tR\tdamaged\n");
    h.append("#1700000000\nls -la\n"); // raw bash history: ignored, never an event
    h.write(5);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const letters = readFileSync(join(h.stateDir, "deadletter.ndjson"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(letters.length).toBe(2);
    expect(letters[0].reason).toContain("2026-02-30");
    expect(letters[0].raw).toContain("2026-02-30T10:00:00+08:00");
    expect(letters[1].raw).toBe("CA1\tR\tdamaged");
    expect(letters[1].reason).toContain("damaged");
    expect(statSync(join(h.stateDir, "deadletter.ndjson")).mode & 0o777).toBe(0o600);
    const st = await runReporter(h, ["status"]);
    expect(st.stdout).toContain("dead letters:  2");
  });

  test("seed-format lines from the 2018 hook's log are shipped; its raw history lines are not", async () => {
    const h = makeHost();
    const seedLog = join(h.dir, "XingkaOpsCmdHist.log");
    writeFileSync(seedLog, `[2018-12-11 10:00:01] [(root) alice pts/0 10.0.0.9] [${h.hostname}@10.0.0.4] ls -la\n#1544500000\nls -la\n[2018-12-11 10:00:02] [(root) alice pts/0 10.0.0.9] [${h.hostname}@10.0.0.4] cat a] [b\n`);
    h.configure(be.server.url, { log: { extra_paths: [seedLog], legacy_utc_offset: "+08:00" } });
    expect((await runReporter(h)).code).toBe(0);
    const rows = await storedFor(be.server, h.hostname);
    expect(rows.map((r) => r.command).sort()).toEqual(["cat a] [b", "ls -la"]);
    expect(rows.every((r) => r.time?.endsWith("+08:00"))).toBe(true);
    expect(readFileSync(seedLog, "utf8")).toContain("ls -la"); // never truncated
  });

  test("a 1 MiB command on one 2018 line (as the 2018 hook wrote it) is shipped and stored exactly, with the lines around it", async () => {
    const h = makeHost();
    const seedLog = join(h.dir, "XingkaOpsCmdHist.log");
    const big = "echo " + "0123456789abcdef".repeat(64 * 1024) + " end";
    const line = (t: string, cmd: string) => `[2018-12-11 10:00:0${t}] [(root) alice pts/0 10.0.0.9] [${h.hostname}@10.0.0.4] ${cmd}\n`;
    writeFileSync(seedLog, line("1", "before") + line("2", big) + line("3", "after"));
    // Bodies of 64 KiB: the line is sent in a body grown for it (up to batch.max_bytes, 16 MiB by default).
    h.configure(be.server.url, { log: { extra_paths: [seedLog], legacy_utc_offset: "+08:00" }, batch: { bytes: 64 * 1024 } });
    expect(await runReporter(h)).toMatchObject({ code: 0, stderr: "" });
    const rows = await storedFor(be.server, h.hostname);
    expect(rows.map((r) => r.command.length).sort((a, b) => a - b)).toEqual(["after".length, "before".length, big.length]);
    expect(rows.find((r) => r.command.length === big.length)!.command === big).toBe(true);
  });
});

describe("rotation", () => {
  test("by the reporter at rotate_bytes: append-only cleared, renamed, a fresh 0622 log; the rotated file is drained then deleted", async () => {
    const h = makeHost();
    h.configure(be.server.url, { log: { rotate_bytes: 64 * 1024 } });
    h.write(600);
    expect((await runReporter(h)).code).toBe(0);
    const st = statSync(h.log);
    expect(st.size).toBe(0);
    expect(st.mode & 0o777).toBe(0o622);
    expect(st.uid).toBe(0);
    const attrs = Bun.spawnSync(["lsattr", "-d", h.log], { stdout: "pipe" }).stdout.toString().split(" ")[0]!;
    expect(attrs).toContain("a"); // append-only: users can add lines, not truncate or delete
    expect(readdirSync(join(h.dir, "log"))).toEqual(["commands.log"]);
    h.write(50);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
  });

  test("state moved away to start over: the files it had rotated but not sent are read again, stored once, then deleted", async () => {
    const h = makeHost();
    h.configure("http://127.0.0.1:9", { log: { rotate_bytes: 64 * 1024 }, run: { attempts: 1 } });
    for (let i = 0; i < 3; i++) {
      h.write(600);
      expect((await runReporter(h)).code).toBe(3); // rotated, nothing sent
    }
    expect(readdirSync(join(h.dir, "log")).filter((n) => n !== "commands.log").length).toBe(3);
    renameSync(h.stateDir, `${h.stateDir}.old`);
    h.write(5);
    h.configure(be.server.url, { log: { rotate_bytes: 64 * 1024 } });
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(readdirSync(join(h.dir, "log"))).toEqual(["commands.log"]);
  });

  test("a rotated file waiting for the server is root's alone (0600) and append-only: no other user can open it to write; later shipped once and deleted", async () => {
    const h = makeHost();
    expect(appendOnlySupported(h.dir)).toBe(true); // the temp dir's file system must take chattr +a (ext4 does)
    h.configure("http://127.0.0.1:9", { log: { rotate_bytes: 64 * 1024 }, run: { attempts: 1 } });
    h.write(600);
    expect((await runReporter(h)).code).toBe(3); // rotated, nothing sent
    const rotated = readdirSync(join(h.dir, "log")).filter((n) => n !== "commands.log").map((n) => join(h.dir, "log", n));
    expect(rotated.length).toBe(1);
    const st = statSync(rotated[0]!);
    expect({ mode: (st.mode & 0o777).toString(8), uid: st.uid, appendOnly: isAppendOnly(rotated[0]!) }).toEqual({ mode: "600", uid: 0, appendOnly: true });
    expect(canOpenForAppend("nobody", h.log)).toBe(true); // the live log: the hook's users append to it
    expect(canOpenForAppend("nobody", rotated[0]!)).toBe(false);
    h.write(5);
    h.configure(be.server.url, { log: { rotate_bytes: 64 * 1024 } });
    const r = await runReporter(h);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(readdirSync(join(h.dir, "log"))).toEqual(["commands.log"]);
  });

  test("a rotated file left unsealed (an older version's, or a run killed before the seal) is sealed by the next run; a hard link of the live log under a rotated name is not", async () => {
    const h = makeHost();
    h.configure("http://127.0.0.1:9", { run: { attempts: 1 } });
    const old = `${h.log}.${Math.floor(Date.now() / 1000) - 60}.1`;
    h.write(20, undefined, old);
    chmodSync(old, 0o622);
    h.write(5);
    const linked = `${h.log}.${Math.floor(Date.now() / 1000)}.${statSync(h.log).ino}`;
    linkSync(h.log, linked); // a run that died between the link and the rename
    expect((await runReporter(h)).code).toBe(3);
    expect([(statSync(old).mode & 0o777).toString(8), isAppendOnly(old)]).toEqual(["600", true]);
    expect((statSync(h.log).mode & 0o777).toString(8)).toBe("622"); // the hook's users still write to it
    unlinkSync(linked);
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(readdirSync(join(h.dir, "log"))).toEqual(["commands.log"]);
  });

  test("a rotated file is kept until the grace period has passed (a shell may still append to it)", async () => {
    const h = makeHost();
    h.configure(be.server.url, { log: { rotate_bytes: 64 * 1024, rotate_grace_seconds: 3600 } });
    h.write(600);
    expect((await runReporter(h)).code).toBe(0);
    const rotated = readdirSync(join(h.dir, "log")).filter((n) => n !== "commands.log");
    expect(rotated.length).toBe(1);
    // A late write by a shell that opened the old file before the rename.
    h.write(1, () => ({}), join(h.dir, "log", rotated[0]!));
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(readdirSync(join(h.dir, "log")).length).toBe(2);
  });

  test("by someone else with mv in the middle of a read: the old inode is drained, the new file read from 0", async () => {
    const h = makeHost();
    h.write(1000);
    const proxy = startProxy(be.server.url, (n) => {
      if (n === 2) {
        renameSync(h.log, h.log + ".1");
        writeFileSync(h.log, "", { mode: 0o622 });
        h.write(100);
      }
      return "forward";
    });
    h.configure(proxy.url);
    expect((await runReporter(h)).code).toBe(0);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(existsSync(h.log + ".1")).toBe(true); // not ours to delete
    proxy.stop();
  });

  test("by logrotate copytruncate in the middle of a read: the rest is read from the copy, then the new content", async () => {
    const h = makeHost();
    h.write(1000);
    const proxy = startProxy(be.server.url, (n) => {
      if (n === 2) {
        copyFileSync(h.log, h.log + ".1");
        truncateSync(h.log, 0);
        h.write(100);
      }
      return "forward";
    });
    h.configure(proxy.url);
    expect((await runReporter(h)).code).toBe(0);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  });
});

describe("bounded disk use", () => {
  test("server away, backlog over max_retained_bytes: the oldest rotated file is dropped, counted exactly, and reported as a loss record", async () => {
    const h = makeHost();
    // Each 600-record file is about 120 KiB: two fit under the cap, three do not.
    const cfg = { log: { rotate_bytes: 64 * 1024, max_retained_bytes: 300 * 1024 }, run: { attempts: 1 } };
    h.configure("http://127.0.0.1:9", cfg);
    const first = h.write(600); // > 64 KiB: rotated on the first run
    expect((await runReporter(h)).code).toBe(3);
    h.write(600);
    expect((await runReporter(h)).code).toBe(3);
    h.write(600); // third file: the first one must go
    expect((await runReporter(h)).code).toBe(3);
    const s = state(h.stateDir);
    expect(s.counters.droppedRecords).toBe(first.length);
    expect(s.pendingLoss.length).toBe(1);
    h.written = h.written.slice(first.length);
    h.configure(be.server.url, cfg);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const loss = await storedFor(be.server, { session: s.reporterId });
    expect(loss.length).toBe(1);
    expect(loss[0]!.command).toContain(`dropped ${first.length} record(s)`);
    const st = JSON.parse((await runReporter(h, ["status", "--json"])).stdout);
    expect(st.dropped.records).toBe(first.length);
    expect(st.pendingLossReports).toBe(0);
  });

  test("the backlog cap counts CA2 and CA1 head lines (hooks before and after durationMs), not their part lines", async () => {
    const h = makeHost();
    const cfg = { log: { rotate_bytes: 64 * 1024, max_retained_bytes: 300 * 1024 }, run: { attempts: 1 } };
    h.configure("http://127.0.0.1:9", cfg);
    // The file that will be dropped: CA2 and CA1 records, every 100th one long enough for 2 part lines.
    const cmd = (i: number) => ({ command: `echo mixed ${i} ${"m".repeat(i % 100 === 0 ? 7000 : i % 97)}`, durationMs: i });
    const first = [...h.write(250, cmd), ...h.write(250, cmd, h.log, true), ...h.write(100, cmd)];
    const text = readFileSync(h.log, "latin1");
    const heads = [/^CA2\tR\t/gm, /^CA1\tR\t/gm].map((re) => text.match(re)?.length ?? 0);
    expect(heads).toEqual([350, 250]);
    expect(text.match(/^CA[12]\tP\t/gm)?.length).toBe(12);
    expect(text.length).toBeLessThan(170 * 1024); // with the next file (about 120 KiB) still under the cap: dropped on the third run
    expect((await runReporter(h)).code).toBe(3);
    h.write(600);
    expect((await runReporter(h)).code).toBe(3);
    h.write(600);
    expect((await runReporter(h)).code).toBe(3);
    const s = state(h.stateDir);
    expect(s.counters.droppedRecords).toBe(first.length);
    h.written = h.written.slice(first.length);
    h.configure(be.server.url, cfg);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const loss = await storedFor(be.server, { session: s.reporterId });
    expect(loss.map((r) => r.command)).toEqual([expect.stringContaining(`dropped ${first.length} record(s)`)]);
  });

  test("the log filling a small tmpfs: everything written before ENOSPC is shipped, rotation frees the space", async () => {
    const h = makeHost();
    const mnt = join(h.dir, "log");
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs", mnt]);
    expect(m.exitCode).toBe(0);
    try {
      writeFileSync(h.log, "", { mode: 0o622 });
      h.configure(be.server.url, { log: { rotate_bytes: 64 * 1024, max_retained_bytes: 1024 * 1024 } });
      let full = false;
      for (let i = 0; i < 10_000 && !full; i++) {
        try {
          h.write(1);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
          full = true; // the record was not written whole: write() does not count it

        }
      }
      expect(full).toBe(true);
      expect((await runReporter(h)).code).toBe(0);
      expect(readdirSync(mnt)).toEqual(["commands.log"]);
      h.write(100); // room again
      expect((await runReporter(h)).code).toBe(0);
      await expectExactlyStored(be.server, h);
    } finally {
      Bun.spawnSync(["umount", "-l", mnt]);
    }
  });
});

describe("https", () => {
  test("with the server's CA in server.ca_file: shipped over TLS; without it the certificate is refused (exit 3)", async () => {
    const h = makeHost();
    const cert = join(h.dir, "cert.pem");
    const key = join(h.dir, "key.pem");
    const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdout: "pipe", stderr: "pipe" });
    expect(gen.exitCode).toBe(0);
    const tls = await startBackend({ CMDAUDIT_TLS_CERT_FILE: cert, CMDAUDIT_TLS_KEY_FILE: key });
    try {
      expect(tls.server.url).toStartWith("https://");
      h.write(20);
      h.configure(tls.server.url, { run: { attempts: 1 } });
      const refused = await runReporter(h);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain("cannot reach");
      h.configure(tls.server.url, { server: { ca_file: cert } });
      expect((await runReporter(h)).code).toBe(0);
      const rows = await fetch(`${tls.server.url}/api/v1/commands?host=${h.hostname}`, { headers: { AccessToken: READ_TOKEN }, tls: { ca: readFileSync(cert, "utf8") } });
      expect(((await rows.json()) as { items: unknown[] }).items.length).toBe(20);
    } finally {
      await tls.stop();
    }
  }, 60_000);
});

describe("cli", () => {
  test("a config with an unknown key: exit 2, the key named, the token never printed", async () => {
    const h = makeHost();
    writeFileSync(h.configPath, `server:\n  url: http://127.0.0.1:9\n  token: ${INGEST_TOKEN}\n  tiemout: 3\nlog:\n  rotate_bytes: 12\n`);
    const r = await runReporter(h);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("server.tiemout");
    expect(r.stderr).toContain("log.rotate_bytes");
    expect(r.stderr + r.stdout).not.toContain(INGEST_TOKEN);
  });

  test("check: config, log mode and append-only flag, server and token", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    const bad = await runReporter(h, ["check"]);
    // makeHost's log is root's and mode 0622 but not append-only.
    expect(bad.stdout).toContain("not append-only");
    expect(bad.code).toBe(6);
    Bun.spawnSync(["chattr", "+a", h.log]);
    try {
      const good = await runReporter(h, ["check"]);
      expect(good.stdout).toContain("accepts the ingest token");
      expect(good.code).toBe(0);
      h.configure(be.server.url, { server: { token: "wrong-token-0123456789" } });
      const refused = await runReporter(h, ["check"]);
      expect(refused.code).toBe(4);
      expect(refused.stdout).toContain("refused the token");
      expect(refused.stdout).not.toContain("wrong-token-0123456789");
    } finally {
      Bun.spawnSync(["chattr", "-a", h.log]);
    }
  });
});


describe("faults", () => {
  const letters = (dir: string) => {
    const f = join(dir, "deadletter.ndjson");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { reason: string; offset: number; file: string }) : [];
  };
  const zeroAnswer = () => new Response(JSON.stringify({ code: 0, msg: "ok", accepted: 0, duplicates: 0, rejected: [], ignored: 0, consumed: 0 }), { headers: { "Content-Type": "application/json" } });

  test("spin: an unfinished record and then a partial last line at the end of the live log take a handful of POSTs, not thousands", async () => {
    const h = makeHost();
    h.write(50);
    appendUnfinishedRecord(h, 2);
    h.append("CA2\tR\t2026-11-26T10:59:59"); // a line still being written
    const proxy = startProxy(be.server.url);
    h.configure(proxy.url, { run: { budget_seconds: 10 } });
    const t0 = performance.now();
    const r = await runReporter(h);
    const wall = (performance.now() - t0) / 1000;
    console.log(`compiled reporter, unfinished record + partial line at the end: ${proxy.requests()} POST(s), ${wall.toFixed(2)} s, exit ${r.code}`);
    expect(r.code).toBe(0);
    expect(proxy.requests()).toBeLessThanOrEqual(4);
    expect(wall).toBeLessThan(5);
    await expectExactlyStored(be.server, h);
    proxy.stop();
  }, 30_000);

  test("wedge, middle: an unfinished record followed by 3,000 lines is given up within the bodies the reporter sends; dead-lettered and counted in a loss record", async () => {
    const h = makeHost();
    h.write(10);
    const at = statSync(h.log).size;
    appendUnfinishedRecord(h, 2);
    h.write(3000);
    const proxy = startProxy(be.server.url);
    h.configure(proxy.url, { run: { budget_seconds: 20 } });
    const r = await runReporter(h);
    expect(r.code).toBe(0);
    expect(proxy.requests()).toBeLessThanOrEqual(25);
    await expectExactlyStored(be.server, h);
    const dl = letters(h.stateDir);
    expect(dl.map((l) => [l.offset, l.reason.includes("record parts missing")])).toEqual([[at, true]]);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss.length).toBe(1);
    expect(loss[0]).toContain("1 record(s)");
    expect(loss[0]).toContain(h.log);
    expect(loss[0]).toContain(String(at));
    proxy.stop();
  }, 60_000);

  test("wedge, end: an unfinished record at the end of the live log waits run.unfinished_seconds (a clock set back restarts the wait), then is given up with giveUp=1", async () => {
    const h = makeHost();
    h.write(20);
    const at = statSync(h.log).size;
    appendUnfinishedRecord(h, 2);
    const proxy = startProxy(be.server.url);
    h.configure(proxy.url, { run: { unfinished_seconds: 2 } });
    const r1 = await runReporter(h);
    expect(r1.code).toBe(0);
    expect(state(h.stateDir).files[0].offset).toBe(at);
    const since = state(h.stateDir).files[0].waiting;
    expect(since.offset).toBe(at);
    // The clock was set back an hour: the wait starts again, nothing is given up.
    const s = state(h.stateDir);
    s.files[0].waiting.since = Date.now() + 3600_000;
    writeFileSync(join(h.stateDir, "state.json"), JSON.stringify(s));
    await Bun.sleep(2100);
    expect((await runReporter(h)).code).toBe(0);
    expect(state(h.stateDir).files[0].offset).toBe(at);
    expect(state(h.stateDir).files[0].waiting.since).toBeLessThanOrEqual(Date.now());
    expect(proxy.seen.some((x) => x.url.includes("giveUp"))).toBe(false);
    await Bun.sleep(2100);
    const before = proxy.requests();
    const t0 = performance.now();
    const r3 = await runReporter(h);
    const wall = (performance.now() - t0) / 1000;
    console.log(`compiled reporter, unfinished record at the end, wait over: ${proxy.requests() - before} POST(s), ${wall.toFixed(2)} s, exit ${r3.code}`);
    expect(r3.code).toBe(0);
    expect(proxy.seen.filter((x) => x.url.includes("giveUp=1")).length).toBe(1);
    expect(state(h.stateDir).files[0].offset).toBe(statSync(h.log).size);
    expect(letters(h.stateDir).map((l) => [l.offset, l.reason.includes("given up")])).toEqual([[at, true]]);
    h.write(5);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss.length).toBe(1);
    expect(loss[0]).toContain("1 record(s)");
    expect(loss[0]).toContain("given up");
    proxy.stop();
  }, 60_000);

  test("stuck: a server that answers but settles nothing: a few POSTs, the other files drained, exit 6 with file, offset, body size and answer in status; check fails with it", async () => {
    const h = makeHost();
    const extra = join(h.dir, "older.log");
    h.write(2000, () => ({ sessionId: "stuck-live" }));
    h.written = [];
    h.write(20, () => ({ sessionId: "drained-extra" }), extra);
    const proxy = startProxy(be.server.url, (_n, _req, body) => (Buffer.from(body).includes("stuck-live") ? zeroAnswer() : "forward"));
    h.configure(proxy.url, { log: { extra_paths: [extra] }, batch: { bytes: 64 * 1024, max_bytes: 256 * 1024, gzip: false }, run: { budget_seconds: 10 } });
    const r = await runReporter(h);
    expect(r.code).toBe(6);
    expect(proxy.requests()).toBeLessThanOrEqual(6);
    await expectExactlyStored(be.server, h);
    const st = JSON.parse((await runReporter(h, ["status", "--json"])).stdout);
    expect(st.lastError).toContain(h.log);
    expect(st.lastError).toContain("offset 0");
    expect(st.lastError).toMatch(/2\d{5} bytes/);
    expect(st.lastError).toContain('"consumed":0');
    expect((await runReporter(h, ["status"])).stdout).toContain(`stuck:         ${h.log} at offset 0`);
    const c = await runReporter(h, ["check"]);
    expect(c.code).toBe(6);
    expect(c.stdout).toContain(st.lastError.slice(st.lastError.indexOf(" ") + 1));
    proxy.stop();
  }, 60_000);

  test("stuck on a giveUp body: a server that settles nothing even when asked to give the record up: two POSTs at the record, exit 6, the file named", async () => {
    const h = makeHost();
    h.write(5);
    const at = statSync(h.log).size;
    appendUnfinishedRecord(h, 2);
    let bodies = 0;
    const proxy = startProxy(be.server.url, (_n, req) => (new URL(req.url).pathname.endsWith("/ingest/raw") && bodies++ > 0 ? zeroAnswer() : "forward"));
    h.configure(proxy.url, { run: { unfinished_seconds: 0, budget_seconds: 10 } });
    const r = await runReporter(h);
    expect(r.code).toBe(6);
    expect(proxy.seen.map((x) => x.url.includes("giveUp=1"))).toEqual([false, false, true]);
    expect(r.stderr).toContain(`stuck: ${h.log} at offset ${at}`);
    expect(JSON.parse((await runReporter(h, ["status", "--json"])).stdout).stuck).toContain("giveUp");
    proxy.stop();
  }, 30_000);

  test("413 halves the body and caps it for the run: 413 and growth never alternate; stuck when the largest body left settles nothing", async () => {
    const h = makeHost();
    h.write(10);
    appendUnfinishedRecord(h, 2);
    h.write(3000);
    const proxy = startProxy(be.server.url, (_n, _req, body) => (body.byteLength > 150 * 1024 ? new Response('{"code":1,"msg":"too large"}', { status: 413 }) : "forward"));
    h.configure(proxy.url, { batch: { gzip: false }, run: { budget_seconds: 10 } });
    const r = await runReporter(h);
    const sizes = proxy.seen.map((x) => x.bytes);
    expect(r.code).toBe(6);
    expect(sizes.filter((b) => b > 150 * 1024).length).toBe(1);
    expect(proxy.requests()).toBeLessThanOrEqual(6);
    proxy.stop();
  }, 60_000);

  test("a file renamed away that ends with an unfinished record and a partial line: both dead-lettered at once (final), counted in one loss record, the new log shipped", async () => {
    const h = makeHost();
    h.write(20);
    appendUnfinishedRecord(h, 2);
    h.append("CA2\tR\t2026-11-26T10:59:59");
    const proxy = startProxy(be.server.url);
    h.configure(proxy.url, { run: { budget_seconds: 10 } });
    expect((await runReporter(h)).code).toBe(0);
    renameSync(h.log, h.log + ".1");
    writeFileSync(h.log, "", { mode: 0o622 });
    h.write(5);
    const before = proxy.requests();
    const r = await runReporter(h);
    expect(r.code).toBe(0);
    expect(proxy.requests() - before).toBeLessThanOrEqual(4);
    await expectExactlyStored(be.server, h);
    expect(letters(h.stateDir).length).toBe(2);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss.length).toBe(1);
    expect(loss[0]).toContain(`2 record(s) of ${h.log}.1`);
    proxy.stop();
  }, 30_000);

  test("rejected records are counted in a loss record with the exact count", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(5);
    h.write(2, () => ({ ctime: "2026-02-30T10:00:00+08:00" }));
    h.written.splice(-2);
    h.write(5);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss.length).toBe(1);
    expect(loss[0]).toContain("2 record(s)");
    expect(loss[0]).toContain("rejected");
  });

  test("rewritten in place with the same first 64 bytes and longer than the checkpoint: read again from 0, every new record stored, no loss record", async () => {
    const h = makeHost();
    h.configure(be.server.url, { batch: { bytes: 1024 * 1024 } });
    h.write(15_000);
    expect((await runReporter(h)).code).toBe(0);
    const old = readFileSync(h.log);
    const firstLine = old.subarray(0, old.indexOf(0x0a) + 1);
    truncateSync(h.log, 0); // same inode
    h.append(firstLine);
    h.write(16_000);
    expect(statSync(h.log).size).toBeGreaterThan(old.length);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(await lossRecords(be.server, h.stateDir)).toEqual([]);
  }, 120_000);

  test("server down with 300 records unread, then the file trimmed in place keeping its end (bash HISTFILE trimming): all recovered, no loss record", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(500);
    expect((await runReporter(h)).code).toBe(0);
    h.write(300);
    h.configure("http://127.0.0.1:9", { run: { attempts: 1 } });
    expect((await runReporter(h)).code).toBe(3);
    const text = readFileSync(h.log);
    let cut = 0;
    for (let i = 0; i < 200; i++) cut = text.indexOf(0x0a, cut) + 1;
    truncateSync(h.log, 0);
    h.append(text.subarray(cut));
    h.write(10);
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(await lossRecords(be.server, h.stateDir)).toEqual([]);
  }, 60_000);

  test("server down with 300 records unread, then the file rewritten with other content: a loss record of exactly 300 record(s)", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(500);
    expect((await runReporter(h)).code).toBe(0);
    const at = statSync(h.log).size;
    h.write(300);
    const bytes = statSync(h.log).size - at;
    h.configure("http://127.0.0.1:9", { run: { attempts: 1 } });
    expect((await runReporter(h)).code).toBe(3);
    h.written.splice(-300);
    truncateSync(h.log, 0);
    h.write(100);
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss.length).toBe(1);
    expect(loss[0]).toContain(`300 record(s) (${bytes} bytes)`);
    expect(loss[0]).toContain(`offset ${at}`);
  }, 60_000);

  test("server down with 300 records unread, then the file renamed away and removed: a loss record of exactly 300 record(s); the new log shipped", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(100);
    expect((await runReporter(h)).code).toBe(0);
    const at = statSync(h.log).size;
    h.write(300);
    h.configure("http://127.0.0.1:9", { run: { attempts: 1 } });
    expect((await runReporter(h)).code).toBe(3);
    h.written.splice(-300);
    renameSync(h.log, h.log + ".old");
    writeFileSync(h.log, "", { mode: 0o622 }); // before the unlink: a new inode, not the old one reused
    unlinkSync(h.log + ".old");
    h.write(10);
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss.length).toBe(1);
    expect(loss[0]).toContain(`300 record(s)`);
    expect(loss[0]).toContain(`offset ${at}`);
    expect(loss[0]).toContain("removed");
  }, 60_000);

  test("a state file from before tail, unread and waiting loads; the next run takes the tail from the file and ships the rest once", async () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(50);
    expect((await runReporter(h)).code).toBe(0);
    const s = state(h.stateDir);
    for (const f of s.files) { delete f.tail; delete f.unread; delete f.waiting; }
    delete s.stuck;
    writeFileSync(join(h.stateDir, "state.json"), JSON.stringify(s));
    h.write(20);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    const after = state(h.stateDir).files[0];
    expect(after.offset).toBe(statSync(h.log).size);
    expect(after.tail).toMatch(/^[0-9a-f]{64}$/);
    expect(after.unread).toBeNull();
  });

  test("copytruncate after the reporter saw lines it could not send: the copy is found by head and tail, nothing lost, everything stored once", async () => {
    const h = makeHost();
    h.configure("http://127.0.0.1:9", { run: { attempts: 1 } });
    h.write(300);
    expect((await runReporter(h)).code).toBe(3);
    h.write(50); // after the run, before the copy
    copyFileSync(h.log, h.log + ".1");
    truncateSync(h.log, 0);
    h.write(100);
    h.configure(be.server.url);
    expect((await runReporter(h)).code).toBe(0);
    expect((await runReporter(h)).code).toBe(0);
    await expectExactlyStored(be.server, h);
    expect(await lossRecords(be.server, h.stateDir)).toEqual([]);
  }, 60_000);
});
