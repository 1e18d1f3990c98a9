/**
 * POST /api/v1/ingest/raw: hook lines (CA1, CA2), seed legacy lines, damaged and unfinished records, giveUp and limits.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import { MAX_PENDING_LINES, encodeRecord } from "../../protocol/index.ts";
import { asCa1 } from "../protocol/helpers.ts";
import { cat, enc, type IngestAnswer, json, limits, parseCsv, type Presented, RouteSuite, seedReporterPayload, utcUs } from "./helpers.ts";

const suite = new RouteSuite();

describe("POST /api/v1/ingest/raw", () => {

  test("hook lines (a 1 MiB multi-part command, escapes, non-UTF-8 bytes) are stored exactly", async () => {
    const t = await suite.newApp();
    // Exactly 1 MiB of UTF-8 with every escaped byte and multi-byte chars crossing chunk ends.
    const unit = "printf 'a\\tb\\\\n'\t| tr\r\n€ ";
    let big = unit.repeat(Math.floor((1024 * 1024) / Buffer.byteLength(unit)));
    big += "x".repeat(1024 * 1024 - Buffer.byteLength(big));
    expect(Buffer.byteLength(big)).toBe(1024 * 1024);
    suite.secrets.add(big);
    const nonUtf8 = Uint8Array.from([0x63, 0x61, 0x74, 0x20, 0xe9, 0x74, 0xe9, 0x5c, 0x09]);
    const recs = [
      suite.hook({ seq: 1, command: "echo \"tab\there\" \\ back\\slash" }),
      suite.hook({ seq: 2, command: big }),
      suite.hook({ seq: 3, command: nonUtf8, exitStatus: null, ctime: "2024-03-01T12:35:00.000001-03:00" }),
      suite.hook({ seq: 4, kind: "session_end", command: "", cwd: "/tmp\tdir", hostname: "raw\\host" }),
    ];
    const body = cat(...recs.map(enc));
    expect(body.toString("latin1").split("\n").length - 1).toBeGreaterThan(300); // many parts
    const res = await t.postRaw(body);
    expect(res.status).toBe(200);
    const ans = await json<IngestAnswer>(res);
    expect(ans).toMatchObject({ code: 0, accepted: 4, duplicates: 0, rejected: [], ignored: 0, consumed: body.length });
    const rows = await t.all();
    const by = new Map(rows.map((r) => [r.seq!, r]));
    expect(by.get(1)!.command).toBe("echo \"tab\there\" \\ back\\slash");
    expect(by.get(2)!.command.length).toBe(big.length);
    expect(by.get(2)!.command === big).toBe(true);
    expect(by.get(3)!.commandB64).toBe(Buffer.from(nonUtf8).toString("base64"));
    expect(by.get(3)!).toMatchObject({ exitStatus: null, time: "2024-03-01T12:35:00.000001-03:00", utcOffset: "-03:00" });
    expect(by.get(4)!).toMatchObject({ kind: "session_end", command: "", cwd: "/tmp\tdir", hostname: "raw\\host" });
    expect(by.get(1)!).toMatchObject({
      kind: "command", time: "2024-03-01T12:34:56+08:00", ctime: "2024-03-01 12:34:56", utcOffset: "+08:00", hostname: "rawhost",
      serverIps: "10.1.1.1,10.1.1.2", suser: "root", luser: "alice", terminal: "pts/0", clientIp: "192.168.0.5", sessionId: "raw-s", cwd: "/srv", exitStatus: 0,
    });
    // Resend: all duplicates.
    expect(await json<IngestAnswer>(await t.postRaw(Bun.gzipSync(body), "", { "Content-Encoding": "gzip" }))).toMatchObject({ accepted: 0, duplicates: 4 });
  });

  const SEED_LINE = "[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1,10.0.0.2] ls -la /root";
  const SEED_LINE2 = "[2018-12-11 23:30:00] [(root) ] [web01@10.0.0.1] crontab -l";
  suite.secrets.add("ls -la /root").add("crontab -l");

  test("seed legacy lines with ?utcOffset= or X-Cmdaudit-Utc-Offset; raw history lines ignored", async () => {
    const t = await suite.newApp();
    const body = [SEED_LINE, "ls -la", "cd /etc", "", SEED_LINE2, ""].join("\n");
    const ans = await json<IngestAnswer>(await t.postRaw(body, `?${new URLSearchParams({ utcOffset: "+08:00" })}`));
    expect(ans).toMatchObject({ code: 0, accepted: 2, duplicates: 0, rejected: [], ignored: 2, consumed: Buffer.byteLength(body) });
    const rows = await t.all();
    expect(rows.map((r) => r.command)).toEqual(["crontab -l", "ls -la /root"]);
    expect(rows[1]!).toMatchObject({ ctime: "2018-12-11 11:58:00", hostname: "web01", serverIps: "10.0.0.1,10.0.0.2", suser: "root", luser: "root", terminal: "pts/0", clientIp: "192.168.1.2" });
    expect(Date.parse(rows[1]!.time!)).toBe(utcUs(2018, 12, 11, 11, 58, 0, 480) / 1000);
    expect(rows[0]!).toMatchObject({ suser: "root", luser: "", terminal: "", clientIp: "" });
    expect(Date.parse(rows[0]!.time!)).toBe(utcUs(2018, 12, 11, 23, 30, 0, 480) / 1000);

    const t2 = await suite.newApp();
    const a2 = await json<IngestAnswer>(await t2.postRaw(SEED_LINE + "\n", "", { "X-Cmdaudit-Utc-Offset": "-05:00" }));
    expect(a2.accepted).toBe(1);
    expect(Date.parse((await t2.all())[0]!.time!)).toBe(utcUs(2018, 12, 11, 11, 58, 0, -300) / 1000);
    // The query parameter wins over the header.
    const t3 = await suite.newApp();
    await t3.postRaw(SEED_LINE + "\n", "?utcOffset=Z", { "X-Cmdaudit-Utc-Offset": "-05:00" });
    expect(Date.parse((await t3.all())[0]!.time!)).toBe(utcUs(2018, 12, 11, 11, 58, 0, 0) / 1000);
    // A bad offset is refused.
    const bad = await t3.postRaw(SEED_LINE + "\n", "?utcOffset=8");
    expect(bad.status).toBe(400);
    expect((await json<IngestAnswer>(bad)).msg).toMatch(/utcOffset/);
  });

  test("2018 lines as the 2018 hook wrote them (mosh, X display) are stored; a line that begins like one and does not parse is rejected by line, never ignored", async () => {
    const t = await suite.newApp({ legacy_utc_offset: "+08:00" });
    suite.secrets.add("vim /etc/hosts").add("rm -rf /tmp/x");
    const body = [
      "[2024-05-01 03:00:00] [(root) root pts/3 [12345]] [mosh-host@10.0.0.9] vim /etc/hosts",
      "[2024-05-01 03:00:01] [(root) root pts/3 [12345] [mosh-host@10.0.0.9] rm -rf /tmp/x",
      "[2024-05-01 03:00:02] [(root) alice tty1 :0] [mosh-host@10.0.0.9] ls",
      "ls -la",
      "",
    ].join("\n");
    const ans = await json<IngestAnswer>(await t.postRaw(body));
    expect(ans).toMatchObject({ accepted: 2, ignored: 1, consumed: Buffer.byteLength(body) });
    expect(ans.rejected.map((r) => r.line)).toEqual([2]);
    expect(ans.rejected[0]!.error).toContain("2018 line");
    const rows = await t.all();
    expect(rows.map((r) => [r.command, r.luser, r.terminal, r.clientIp])).toEqual([["ls", "alice", "tty1", ""], ["vim /etc/hosts", "root", "pts/3", ""]]);
  });

  test("a seed line sent raw and the same record sent as JSON are one record with the same presentation", async () => {
    const t = await suite.newApp({ legacy_utc_offset: "+08:00" });
    const viaRaw = await json<IngestAnswer>(await t.postRaw(SEED_LINE + "\n"));
    expect(viaRaw.accepted).toBe(1);
    const [fromRaw] = await t.all();
    const payload = seedReporterPayload(SEED_LINE + "\n");
    const viaJson = await json<IngestAnswer>(await t.post(payload));
    expect(viaJson).toMatchObject({ accepted: 0, duplicates: 1 });
    const t2 = await suite.newApp({ legacy_utc_offset: "+08:00" });
    await t2.post(payload);
    const [fromJson] = await t2.all();
    const strip = ({ id: _i, receivedAt: _r, ...rest }: Presented) => rest;
    expect(strip(fromRaw!)).toEqual(strip(fromJson!));
  });

  test("CA2 lines carry durationMs into JSON, NDJSON and CSV; CA1 lines (before durationMs) still ingest with durationMs null", async () => {
    const t = await suite.newApp();
    const long = "echo " + "d".repeat(8000); // a multi-part record: CA2 head, CA2 parts; CA1 head, CA1 parts
    suite.secrets.add(long);
    const ca2 = [
      suite.hook({ sessionId: "dur", seq: 1, command: "sleep 1.834", durationMs: 1834 }),
      suite.hook({ sessionId: "dur", seq: 2, command: "true-fast", durationMs: 0 }),
      suite.hook({ sessionId: "dur", seq: 3, command: long, durationMs: Number.MAX_SAFE_INTEGER }),
      suite.hook({ sessionId: "dur", seq: 4, command: "no-start-stamp", durationMs: null }),
      suite.hook({ sessionId: "dur", seq: 5, kind: "session_end", command: "" }),
    ];
    const ca1 = [
      suite.hook({ sessionId: "old", seq: 1, command: "from-a-ca1-hook", durationMs: 999 }), // the CA1 line has no field for it
      suite.hook({ sessionId: "old", seq: 2, command: long }),
    ];
    const ca1Body = cat(...ca1.map((r) => Buffer.from(asCa1(encodeRecord(r)))));
    expect(ca1Body.toString("latin1").split("\n").filter((l) => l.startsWith("CA1\t")).length).toBe(4); // 1 + a head and 2 parts
    expect(ca1Body.toString("latin1")).not.toContain("CA2");
    const body = cat(...ca2.map(enc), ca1Body);
    const ans = await json<IngestAnswer>(await t.postRaw(body));
    expect(ans).toMatchObject({ code: 0, accepted: 7, duplicates: 0, rejected: [], ignored: 0, consumed: body.length });

    const want = new Map([["dur/1", 1834], ["dur/2", 0], ["dur/3", Number.MAX_SAFE_INTEGER], ["dur/4", null], ["dur/5", null], ["old/1", null], ["old/2", null]]);
    const key = (r: Presented) => `${r.sessionId}/${r.seq}`;
    const rows = await t.all();
    expect(new Map(rows.map((r) => [key(r), r.durationMs]))).toEqual(want);
    expect(rows.find((r) => key(r) === "old/2")!.command).toBe(long);
    expect(rows.find((r) => key(r) === "dur/3")!.command).toBe(long);
    const nd = (await (await t.get("/api/v1/commands?format=ndjson")).text()).trimEnd().split("\n").map((l) => JSON.parse(l) as Presented);
    expect(new Map(nd.map((r) => [key(r), r.durationMs]))).toEqual(want);
    const [header, ...lines] = parseCsv(await (await t.get("/api/v1/commands?format=csv")).text());
    const col = (name: string) => header!.indexOf(name);
    expect(header!.slice(-6)).toEqual(["durationMs", "flags", "attestation", "attestedUser", "attestedLoginUser", "redactions"]); // each added column is appended
    expect(new Map(lines.map((l) => [`${l[col("sessionId")]}/${l[col("seq")]}`, l[col("durationMs")]]))).toEqual(
      new Map([...want].map(([k, v]) => [k, v === null ? "" : String(v)])));
    // The JSON route gives the same record the same presentation (and is a duplicate of it).
    const t2 = await suite.newApp();
    await t2.post([suite.v2({ ...ca2[0], ctime: "2024-03-01T12:34:56+08:00", hostname: "rawhost", serverIps: "10.1.1.1,10.1.1.2", clientIp: "192.168.0.5", cwd: "/srv", terminal: "pts/0" })]);
    const strip = ({ id: _i, receivedAt: _r, ...rest }: Presented) => rest;
    expect(strip((await t2.all())[0]!)).toEqual(strip(rows.find((r) => key(r) === "dur/1")!));
  });

  test("a hook line whose user is ro\\u202eot (bidi override) and a 2018 line with a look-alike host are stored exactly and flagged", async () => {
    const t = await suite.newApp();
    const fakeHost = "rt-s\u0440v"; // Cyrillic р
    const line2018 = `[2024-03-01 11:58:00] [(root) admin pts/9 198.51.100.66] [${fakeHost}@10.0.0.1] uptime`;
    suite.secrets.add("uptime");
    const body = cat(
      enc(suite.hook({ sessionId: "bidi", seq: 1, suser: "ro\u202eot", command: "id -un" })),
      enc(suite.hook({ sessionId: "bidi", seq: 2, command: "whoami", cwd: "/tmp/\u001b]0;x\u0007" })),
      enc(suite.hook({ sessionId: "bidi", seq: 3, command: "hostname" })),
      `${line2018}\n`,
    );
    const ans = await json<IngestAnswer>(await t.postRaw(body, "?utcOffset=%2B08:00"));
    expect(ans).toMatchObject({ code: 0, accepted: 4, duplicates: 0, rejected: [], ignored: 0 });
    const rows = await t.all();
    const by = (cmd: string) => rows.find((r) => r.command === cmd)!;
    expect([by("id -un").suser, by("id -un").flags]).toEqual(["ro\u202eot", ["user-nonstandard", "name-invisible"]]);
    expect([by("whoami").cwd, by("whoami").flags]).toEqual(["/tmp/\u001b]0;x\u0007", ["cwd-control"]]);
    expect(by("hostname").flags).toEqual([]);
    expect([by("uptime").hostname, by("uptime").flags]).toEqual([fakeHost, ["hostname-nonstandard", "name-confusable"]]);
    expect((await t.all({ suser: "root" })).map((r) => r.command).sort()).toEqual(["hostname", "uptime", "whoami"]);
    expect((await t.all({ flagged: "true" })).map((r) => r.command).sort()).toEqual(["id -un", "uptime", "whoami"]);
  });

  test("a damaged line is rejected with its line number, the others stored", async () => {
    const t = await suite.newApp();
    const r1 = enc(suite.hook({ sessionId: "dmg", seq: 1, command: "first-good" }));
    const r2 = enc(suite.hook({ sessionId: "dmg", seq: 2, command: "second-good" }));
    const damaged = Buffer.from("CA1\tR\tdmg\t3\tcommand\tnot enough fields\n");
    const badLen = Buffer.from(enc(suite.hook({ sessionId: "dmg2", seq: 1, command: "len-mismatch" })).toString("latin1").replace("len-mismatch", "len-mismatch!"), "latin1");
    const body = cat(r1, "some history line\n", damaged, r2, badLen);
    const ans = await json<IngestAnswer>(await t.postRaw(body));
    expect(ans.accepted).toBe(2);
    expect(ans.ignored).toBe(1);
    expect(ans.rejected.map((r) => r.line)).toEqual([3, 5]);
    for (const r of ans.rejected) expect(r.error).toMatch(/^damaged line: /);
    expect(ans.consumed).toBe(body.length);
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["first-good", "second-good"]);
  });

  test("a partial last line and a record whose parts are cut are held back; resending from consumed stores them once", async () => {
    const t = await suite.newApp();
    const A = enc(suite.hook({ sessionId: "cutA", seq: 1, command: "complete-A" }));
    const longCmd = "B".repeat(7000) + "-cut-B";
    suite.secrets.add(longCmd);
    const B = enc(suite.hook({ sessionId: "cutB", seq: 1, command: longCmd }));
    const C = enc(suite.hook({ sessionId: "cutC", seq: 1, command: "complete-C" }));
    const D = enc(suite.hook({ sessionId: "cutD", seq: 1, command: "partial-D" }));
    const bLines = B.toString("latin1").split("\n").slice(0, -1).map((l) => Buffer.from(l + "\n", "latin1"));
    expect(bLines.length).toBe(3);
    // A, B head, B part 2, C, then half of D's line: B part 3 and the rest of D are not written yet.
    const full = cat(A, bLines[0]!, bLines[1]!, C, bLines[2]!, D);
    const firstLen = A.length + bLines[0]!.length + bLines[1]!.length + C.length + (D.length >> 1);
    const first = cat(A, bLines[0]!, bLines[1]!, C, D.subarray(0, D.length >> 1));
    expect(first.length).toBe(firstLen);
    const a1 = await json<IngestAnswer>(await t.postRaw(first));
    expect(a1).toMatchObject({ accepted: 2, rejected: [] });
    expect(a1.consumed).toBe(A.length); // stops before B's head
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["complete-A", "complete-C"]);
    // Resend from `consumed` with the rest.
    const rest = full.subarray(a1.consumed!);
    const a2 = await json<IngestAnswer>(await t.postRaw(rest));
    expect(a2).toMatchObject({ accepted: 2, duplicates: 1, rejected: [], consumed: rest.length });
    const rows = await t.all();
    expect(rows.map((r) => r.command).sort()).toEqual([longCmd, "complete-A", "complete-C", "partial-D"].sort());
    // Only a partial line held back: consumed is where it starts.
    const t2 = await suite.newApp();
    const a3 = await json<IngestAnswer>(await t2.postRaw(cat(A, D.subarray(0, 10))));
    expect(a3).toMatchObject({ accepted: 1, consumed: A.length });
  });

  test("?final=1 rejects unfinished records instead of holding them back", async () => {
    const t = await suite.newApp();
    const A = enc(suite.hook({ sessionId: "finA", seq: 1, command: "final-A" }));
    const B = enc(suite.hook({ sessionId: "finB", seq: 1, command: "F".repeat(7000) }));
    const bLines = B.toString("latin1").split("\n").slice(0, -1).map((l) => Buffer.from(l + "\n", "latin1"));
    const body = cat(A, bLines[0]!, bLines[1]!);
    const ans = await json<IngestAnswer>(await t.postRaw(body, "?final=1"));
    expect(ans.accepted).toBe(1);
    expect(ans.rejected.length).toBe(1);
    expect(ans.rejected[0]!.line).toBe(2);
    expect(ans.rejected[0]!.error).toMatch(/missing/);
    expect(ans.consumed).toBe(body.length);
    expect((await t.all()).map((r) => r.command)).toEqual(["final-A"]);
  });

  test("a record whose last part is never written does not wedge a client tailing the log (small max_body_bytes)", async () => {
    // The client protocol of this endpoint: resend from `consumed`. A record cut for good (the shell was killed
    // between two part lines) holds `consumed` at its head; what follows must not pile up until every request is a 413.
    const t = await suite.newApp({ limits: limits({ max_body_bytes: 64 * 1024 }) });
    const cut = enc(suite.hook({ sessionId: "orphan", seq: 1, command: "O".repeat(7000) }));
    let pending: Buffer = Buffer.from(cut.subarray(0, cut.lastIndexOf(0x0a, cut.length - 2) + 1)); // head and part 2 of 3
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      pending = cat(pending, enc(suite.hook({ sessionId: `tail-${i}`, seq: 1, command: `tail-${i} ${"t".repeat(2000)}` })));
      const res = await t.postRaw(pending);
      statuses.push(res.status);
      if (res.status !== 200) continue;
      pending = pending.subarray((await json<IngestAnswer>(res)).consumed!);
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const rows = await t.all();
    expect(rows.filter((r) => r.sessionId!.startsWith("tail-")).length).toBe(60);
  });

  test("at default limits a record cut for good is given up within one body: 1,000 lines after its latest part, never a 413", async () => {
    const t = await suite.newApp();
    const cut = enc(suite.hook({ sessionId: "cut", seq: 1, command: "C".repeat(7000) }));
    const headAndPart2 = cut.subarray(0, cut.lastIndexOf(0x0a, cut.length - 2) + 1);
    const after = (n: number, from = 0) => Array.from({ length: n }, (_, i) => enc(suite.hook({ sessionId: `after-${from + i}`, seq: 1, command: `after ${from + i}` })));
    // 1,000 lines after its latest part the record may still complete: held back, nothing settled.
    const waiting = cat(headAndPart2, ...after(MAX_PENDING_LINES));
    const a1 = await json<IngestAnswer>(await t.postRaw(waiting));
    expect(a1).toMatchObject({ accepted: MAX_PENDING_LINES, rejected: [], consumed: 0 });
    // One line more and it is given up: rejected with its reason, consumed past everything.
    const body = cat(waiting, ...after(1, MAX_PENDING_LINES));
    const res = await t.postRaw(body);
    expect(res.status).toBe(200);
    const a2 = await json<IngestAnswer>(res);
    expect(a2).toMatchObject({ accepted: 1, duplicates: MAX_PENDING_LINES, consumed: body.length });
    expect(a2.rejected).toEqual([{ line: 1, error: "damaged line: record parts missing (2 of 3)" }]);
    expect((await t.all()).length).toBe(MAX_PENDING_LINES + 1);
  });

  test("?giveUp=N gives up the unfinished records whose head is in the body's first N bytes, and no other", async () => {
    const t = await suite.newApp();
    const split = (b: Buffer) => b.toString("latin1").split("\n").slice(0, -1).map((l) => Buffer.from(l + "\n", "latin1"));
    const dead = split(enc(suite.hook({ sessionId: "dead", seq: 1, command: "D".repeat(7000) })));
    const A = enc(suite.hook({ sessionId: "gvA", seq: 1, command: "between" }));
    const writing = split(enc(suite.hook({ sessionId: "writing", seq: 1, command: "W".repeat(7000) })));
    const body = cat(dead[0]!, dead[1]!, A, writing[0]!);
    // Without giveUp both wait.
    expect(await json<IngestAnswer>(await t.postRaw(body))).toMatchObject({ accepted: 1, rejected: [], consumed: 0 });
    const ans = await json<IngestAnswer>(await t.postRaw(body, "?giveUp=1"));
    expect(ans.rejected).toEqual([{ line: 1, error: "damaged line: record parts missing, given up by the reporter (2 of 3)" }]);
    expect(ans).toMatchObject({ accepted: 0, duplicates: 1, consumed: dead[0]!.length + dead[1]!.length + A.length });
    // The record still being written completes with the next body, from consumed.
    const rest = cat(writing[0]!, ...writing.slice(1));
    expect(await json<IngestAnswer>(await t.postRaw(rest, "?giveUp=1"))).toMatchObject({ accepted: 1, rejected: [], consumed: rest.length });
    for (const bad of ["-1", "x", "1.5", "9".repeat(16)]) {
      const r = await t.postRaw(body, `?giveUp=${encodeURIComponent(bad)}`);
      expect(r.status).toBe(400);
      expect((await json<IngestAnswer>(r)).msg).toMatch(/giveUp/);
    }
  });

  test("raw ingest limits: body size and record count", async () => {
    const t = await suite.newApp({ limits: limits({ max_body_bytes: 8192, max_records_per_batch: 3 }) });
    const many = cat(...Array.from({ length: 4 }, (_, i) => enc(suite.hook({ sessionId: "lim", seq: i }))));
    expect((await t.postRaw(many)).status).toBe(413);
    expect((await t.postRaw("x".repeat(9000) + "\n")).status).toBe(413);
    expect((await t.all()).length).toBe(0);
  });
});

