/**
 * POST /api/v1/commands: the 2018 seed reporter's payload, extended records, rejections, encodings and size limits.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import { INGEST_TOKEN, type IngestAnswer, json, limits, RouteSuite, SEED_UA, seedReporterPayload } from "./helpers.ts";
import type { ErrorAnswer } from "../../protocol/http.ts";

const suite = new RouteSuite();

describe("the 2018 seed reporter", () => {
  // Lines exactly as the seed's PROMPT_COMMAND echoes them, plus what its HISTFILE mix-up leaves behind.
  const SEED_LOG = [
    "[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1,10.0.0.2] ls -la",
    "ls -la",
    "[2018-12-11 11:58:05] [(root) alice pts/1 192.168.1.3] [web01@10.0.0.1,10.0.0.2] echo \"你好, world\" > /tmp/x",
    "[2018-12-11 12:00:00] [(postgres) bob tty1 11:58] [db01@10.0.1.5] psql -c 'select 1'",
    "",
  ].join("\n");
  const SEED_COMMANDS = ["ls -la", "echo \"你好, world\" > /tmp/x", "psql -c 'select 1'"];
  SEED_COMMANDS.forEach((c) => suite.secrets.add(c));

  test("its exact payload and headers get code 0 and the rows read back with the exact values", async () => {
    const t = await suite.newApp({ legacy_utc_offset: "+08:00" });
    const payload = seedReporterPayload(SEED_LOG);
    // The python reporter's json.dumps: ", " separators, non-ASCII as \u escapes.
    expect(payload).toContain('"ctime": "2018-12-11 11:58:00", "suser": "root"');
    expect(payload).toContain("\\u4f60\\u597d");
    const before = Date.now();
    const res = await t.app.request("/api/v1/commands", {
      method: "POST",
      headers: { AccessToken: INGEST_TOKEN, "User-Agent": SEED_UA, "Content-Type": "application/json" },
      body: payload,
    });
    const after = Date.now();
    expect(res.status).toBe(200);
    const ans = await json<IngestAnswer>(res);
    expect(ans.code).toBe(0); // what the seed checks: `if res["code"] == 0`
    expect(ans).toMatchObject({ accepted: 3, duplicates: 0, rejected: [] });

    const rows = await t.all();
    expect(rows.length).toBe(3);
    const base = { kind: "command" as const, utcOffset: null, sessionId: null, seq: null, cwd: null, exitStatus: null, durationMs: null, flags: [], attestation: "none" as const, attestedUser: null, attestedLoginUser: null, redactions: [] };
    // Newest first; zone-less ctime at the configured +08:00, shown in UTC.
    expect(rows.map(({ id: _id, receivedAt: _r, ...rest }) => rest)).toEqual([
      { ...base, time: "2018-12-11T04:00:00Z", ctime: "2018-12-11 12:00:00", hostname: "db01", serverIps: "10.0.1.5",
        luser: "bob", suser: "postgres", terminal: "tty1", clientIp: "", command: "psql -c 'select 1'" },
      { ...base, time: "2018-12-11T03:58:05Z", ctime: "2018-12-11 11:58:05", hostname: "web01", serverIps: "10.0.0.1,10.0.0.2",
        luser: "alice", suser: "root", terminal: "pts/1", clientIp: "192.168.1.3", command: "echo \"你好, world\" > /tmp/x" },
      { ...base, time: "2018-12-11T03:58:00Z", ctime: "2018-12-11 11:58:00", hostname: "web01", serverIps: "10.0.0.1,10.0.0.2",
        luser: "root", suser: "root", terminal: "pts/0", clientIp: "192.168.1.2", command: "ls -la" },
    ]);
    for (const r of rows) {
      expect(r).not.toHaveProperty("commandB64");
      const rec = Date.parse(r.receivedAt!);
      expect(rec).toBeGreaterThanOrEqual(before - 1);
      expect(rec).toBeLessThanOrEqual(after + 1);
    }
    // The seed truncates its log after code 0 — but a retry of the same payload must not duplicate rows.
    const again = await json<IngestAnswer>(await t.post(payload, { "User-Agent": SEED_UA }));
    expect(again).toMatchObject({ code: 0, accepted: 0, duplicates: 3 });
    expect((await t.all()).length).toBe(3);
  });

  test("two identical seed commands in the same second are one row (the seed's oci), session records stay two", async () => {
    const t = await suite.newApp();
    const seed = suite.cmd({ ctime: "2018-12-11 11:58:00", suser: "root", luser: "root", terminal: "pts/0", clientIp: "10.0.0.9", hostname: "h", serverIps: "10.0.0.1", command: "uptime-twice" });
    expect(await json<IngestAnswer>(await t.post([seed, seed]))).toMatchObject({ accepted: 1, duplicates: 1 });
    const a = suite.v2({ sessionId: "twice", seq: 1, command: "date-twice" });
    const b = suite.v2({ sessionId: "twice", seq: 2, command: "date-twice" });
    expect(await json<IngestAnswer>(await t.post([a, b]))).toMatchObject({ accepted: 2, duplicates: 0 });
    expect((await t.all({ q: "twice" })).length).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------
describe("POST /api/v1/commands", () => {
  test("extended records keep every field; times with offsets; commandB64 round-trips non-UTF-8 bytes", async () => {
    const t = await suite.newApp();
    const raw = Uint8Array.from([0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x00]);
    const recs = [
      suite.v2({ sessionId: "ext.1", seq: 7, serverIps: ["10.0.0.7", "fe80::1"], clientIp: "2001:db8::5", cwd: "/home/alice/dir with space", exitStatus: 130, durationMs: 61_250 }),
      suite.v2({ sessionId: "ext.1", seq: 8, ctime: "2024-03-01T01:02:03-05:30", exitStatus: null, durationMs: null, command: "echo ünïcødé 😀" }),
      suite.v2({ sessionId: "ext.1", seq: 9, ctime: "2024-03-01T00:00:00Z", kind: "session_start", command: undefined, exitStatus: null, cwd: "/" }),
      suite.v2({ sessionId: "ext:2@h", seq: 0, ctime: "2024-03-01T00:00:01.5+00:00", command: undefined, commandB64: Buffer.from(raw).toString("base64") }),
      suite.v2({ sessionId: "ext:2@h", seq: 1, ctime: "2024-03-01T00:00:02+00:00", command: undefined, commandB64: Buffer.from("valid ütf8").toString("base64") }),
    ].map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>); // drops the undefined keys
    const ans = await json<IngestAnswer>(await t.post(recs));
    expect(ans).toMatchObject({ code: 0, accepted: 5, duplicates: 0, rejected: [] });

    const rows = await t.all();
    const by = new Map(rows.map((r) => [`${r.sessionId}/${r.seq}`, r]));
    const common = { hostname: "web02.example.com", suser: "root", luser: "alice", terminal: "pts/3" };
    expect(by.get("ext.1/7")).toMatchObject({
      ...common, kind: "command", time: "2024-03-01T12:34:56.123456+08:00", ctime: "2024-03-01 12:34:56", utcOffset: "+08:00",
      serverIps: "10.0.0.7,fe80::1", clientIp: "2001:db8::5", cwd: "/home/alice/dir with space", exitStatus: 130, durationMs: 61_250, command: "make -j8",
    });
    expect(by.get("ext.1/8")).toMatchObject({
      time: "2024-03-01T01:02:03-05:30", ctime: "2024-03-01 01:02:03", utcOffset: "-05:30", exitStatus: null, durationMs: null, command: "echo ünïcødé 😀",
    });
    expect(by.get("ext.1/9")).toMatchObject({ kind: "session_start", time: "2024-03-01T00:00:00+00:00", utcOffset: "+00:00", command: "", cwd: "/", durationMs: null });
    const bin = by.get("ext:2@h/0")!;
    expect(bin.commandB64).toBe(Buffer.from(raw).toString("base64"));
    expect(bin.command).toBe("echo \uFFFD\uFFFD\n\uFFFD(\u0000");
    expect(bin.time).toBe("2024-03-01T00:00:01.500000+00:00");
    const txt = by.get("ext:2@h/1")!;
    expect(txt.command).toBe("valid ütf8");
    expect(txt).not.toHaveProperty("commandB64");
    // The instants order the rows: 12:34:56+08 = 04:34:56Z; 01:02:03-05:30 = 06:32:03Z.
    expect(rows.map((r) => `${r.sessionId}/${r.seq}`)).toEqual(["ext.1/8", "ext.1/7", "ext:2@h/1", "ext:2@h/0", "ext.1/9"]);
    // Resending the non-UTF-8 record is a duplicate (same session/seq), not a second row.
    expect(await json<IngestAnswer>(await t.post([recs[3]]))).toMatchObject({ accepted: 0, duplicates: 1 });
  });

  test("a batch with invalid records: each rejected index with a reason naming the field; the valid ones stored", async () => {
    const t = await suite.newApp();
    const noLuser = suite.v2({ sessionId: "bad", seq: 3 });
    delete noLuser.luser;
    const batch: unknown[] = [
      suite.v2({ sessionId: "ok", seq: 0 }),
      suite.v2({ sessionId: "bad", seq: 1, exitStatus: 300 }),
      suite.v2({ sessionId: "ok", seq: 2 }),
      noLuser,
      suite.v2({ sessionId: "bad", seq: 4, hostname: "" }),
      suite.v2({ sessionId: "bad", seq: 5, foo: 1 }),
      suite.v2({ sessionId: "bad", seq: 6, ctime: "yesterday" }),
      suite.v2({ sessionId: "bad", seq: 7, clientIp: "not-an-ip" }),
      suite.v2({ sessionId: "bad", seq: undefined }),
      42,
      suite.v2({ sessionId: "bad", seq: 10, command: "x\ud800y" }),
      suite.v2({ sessionId: "bad", seq: 11, command: undefined, commandB64: "!!!!" }),
      suite.v2({ sessionId: "bad", seq: 12, kind: "bogus" }),
      suite.v2({ sessionId: "bad", seq: 13, luser: "\u001b[31mroot" }),
      suite.v2({ sessionId: "bad", seq: 14, seq2: 1 }),
      suite.v2({ sessionId: "ok", seq: 15 }),
      suite.v2({ sessionId: "bad", seq: 16, durationMs: -1 }),
      suite.v2({ sessionId: "bad", seq: 17, durationMs: 1.5 }),
      suite.v2({ sessionId: "bad", seq: 18, durationMs: "1834" }),
      suite.v2({ sessionId: "bad", seq: 19, durationMs: 2 ** 53 }),
    ];
    const wantField: Record<number, RegExp> = {
      1: /exitStatus/, 3: /luser/, 4: /hostname/, 5: /foo/, 6: /ctime/, 7: /clientIp/, 8: /seq/, 9: /record/,
      10: /command/, 11: /commandB64/, 12: /kind/, 13: /luser/, 14: /seq2/,
      16: /^durationMs must not be negative$/, 17: /^durationMs must be an integer$/, 18: /^durationMs must be a number$/, 19: /^durationMs is larger than 2\^53-1$/,
    };
    const ans = await json<IngestAnswer>(await t.post(JSON.parse(JSON.stringify(batch))));
    expect(ans.code).toBe(0);
    expect(ans.accepted).toBe(3);
    expect(ans.duplicates).toBe(0);
    expect(ans.rejected.map((r) => r.index)).toEqual(Object.keys(wantField).map(Number));
    for (const r of ans.rejected) expect(r.error).toMatch(wantField[r.index!]!);
    expect(ans.msg).toContain("17");
    const rows = await t.all();
    expect(rows.map((r) => `${r.sessionId}/${r.seq}`).sort()).toEqual(["ok/0", "ok/15", "ok/2"]);

    // Resend: the three are duplicates, nothing is stored twice, the same rejections.
    const again = await json<IngestAnswer>(await t.post(JSON.parse(JSON.stringify(batch))));
    expect(again).toMatchObject({ accepted: 0, duplicates: 3 });
    expect(again.rejected.map((r) => r.index)).toEqual(ans.rejected.map((r) => r.index));
    expect((await t.all()).length).toBe(3);
  });

  test("an empty array is fine; a record repeated inside one batch is stored once", async () => {
    const t = await suite.newApp();
    expect(await json<IngestAnswer>(await t.post([]))).toMatchObject({ code: 0, accepted: 0, duplicates: 0, rejected: [] });
    const r = suite.v2({ sessionId: "rep", seq: 1 });
    expect(await json<IngestAnswer>(await t.post([r, r, r]))).toMatchObject({ accepted: 1, duplicates: 2 });
    expect((await t.all()).length).toBe(1);
  });

  test("gzip body is decoded; invalid gzip → 400; unsupported encoding → 415", async () => {
    const t = await suite.newApp();
    const body = JSON.stringify([suite.v2({ sessionId: "gz", seq: 1, command: "gzipped-command" })]);
    const ok = await t.post(Bun.gzipSync(Buffer.from(body)), { "Content-Encoding": "gzip" });
    expect(ok.status).toBe(200);
    expect(await json<IngestAnswer>(ok)).toMatchObject({ accepted: 1 });
    expect((await t.all())[0]!.command).toBe("gzipped-command");

    const upper = await t.post(Bun.gzipSync(Buffer.from(JSON.stringify([suite.v2({ sessionId: "gz", seq: 2 })]))), { "Content-Encoding": "GZIP" });
    expect(await json<IngestAnswer>(upper)).toMatchObject({ accepted: 1 });

    const bad = await t.post(Buffer.from("this is not gzip at all"), { "Content-Encoding": "gzip" });
    expect(bad.status).toBe(400);
    expect((await json<IngestAnswer>(bad)).msg).toMatch(/gzip/);
    const truncated = Bun.gzipSync(Buffer.from(JSON.stringify(Array.from({ length: 50 }, (_, i) => suite.v2({ sessionId: "gzt", seq: i })))));
    const cut = await t.post(truncated.subarray(0, truncated.length >> 1), { "Content-Encoding": "gzip" });
    expect(cut.status).toBe(400);

    for (const enc of ["br", "deflate", "x-gzip"]) {
      const res = await t.post(body, { "Content-Encoding": enc });
      expect(res.status).toBe(415);
      expect((await json<IngestAnswer>(res)).msg).toContain(enc);
    }
    expect((await t.all()).length).toBe(2);
  });

  test("invalid JSON and non-array bodies → 400 with a clear message", async () => {
    const t = await suite.newApp();
    const cases: [string, RegExp][] = [
      ["[{\"ctime\": ", /not valid JSON/],
      ["", /not valid JSON/],
      ["\uFEFF[]", /not valid JSON/],
      ["{\"ctime\": \"2018-12-11 11:58:00\"}", /JSON array/],
      ["\"a string\"", /JSON array/],
      ["null", /JSON array/],
      ["42", /JSON array/],
    ];
    for (const [body, msg] of cases) {
      const res = await t.post(body);
      expect(res.status).toBe(400);
      const a = await json<ErrorAnswer>(res);
      expect(a.code).toBe(400);
      expect(a.msg).toMatch(msg);
    }
  });

  describe("size limits", () => {
    const MAX = 64 * 1024;
    const big = () => JSON.stringify([suite.v2({ sessionId: "big", seq: 1, command: "x".repeat(MAX) })]);

    test("a body over max_body_bytes with Content-Length → 413, nothing stored", async () => {
      const t = await suite.newApp({ limits: limits({ max_body_bytes: MAX }) });
      const body = big();
      const res = await t.post(body, { "Content-Length": String(Buffer.byteLength(body)) });
      expect(res.status).toBe(413);
      expect((await json<IngestAnswer>(res)).msg).toContain(String(MAX));
      // A Content-Length that lies (says small) does not get the body past the limit either.
      const lie = await t.post(body, { "Content-Length": "10" });
      expect(lie.status).toBe(413);
      // Just under the limit is fine.
      const under = JSON.stringify([suite.v2({ sessionId: "big", seq: 2, command: "y".repeat(MAX - 1000) })]);
      expect((await t.post(under)).status).toBe(200);
      expect((await t.all()).map((r) => r.seq)).toEqual([2]);
    });

    test("a chunked body without Content-Length → 413, and the server stops reading it", async () => {
      const t = await suite.newApp({ limits: limits({ max_body_bytes: MAX }) });
      let pulled = 0;
      const CHUNK = 4096;
      const endless = new ReadableStream<Uint8Array>({
        pull(c) {
          pulled += CHUNK;
          c.enqueue(new Uint8Array(CHUNK).fill(0x20));
        },
      });
      const req = new Request("http://localhost/api/v1/commands", {
        method: "POST", headers: { AccessToken: INGEST_TOKEN, "Content-Type": "application/json" }, body: endless,
      });
      expect(req.headers.get("content-length")).toBeNull();
      const res = await t.app.request(req);
      expect(res.status).toBe(413);
      expect(pulled).toBeLessThan(MAX + 16 * CHUNK);
    });

    test("a gzip bomb (small compressed, huge decompressed) → 413", async () => {
      const t = await suite.newApp({ limits: limits({ max_body_bytes: MAX }) });
      const bomb = Bun.gzipSync(new Uint8Array(32 * 1024 * 1024).fill(0x20), { level: 9 });
      expect(bomb.length).toBeLessThan(MAX);
      const res = await t.post(bomb, { "Content-Encoding": "gzip" });
      expect(res.status).toBe(413);
      // Decompressing to exactly the limit is still allowed: a valid batch padded with whitespace.
      const rec = JSON.stringify([suite.v2({ sessionId: "pad", seq: 1 })]);
      const padded = Buffer.from(rec + " ".repeat(MAX - rec.length));
      expect(padded.length).toBe(MAX);
      const ok = await t.post(Bun.gzipSync(padded), { "Content-Encoding": "gzip" });
      expect(ok.status).toBe(200);
    });

    test("more records than max_records_per_batch → 413, nothing stored", async () => {
      const t = await suite.newApp({ limits: limits({ max_records_per_batch: 20 }) });
      const batch = Array.from({ length: 21 }, (_, i) => suite.v2({ sessionId: "many", seq: i }));
      const res = await t.post(batch);
      expect(res.status).toBe(413);
      expect((await json<IngestAnswer>(res)).msg).toMatch(/21.*20/);
      expect((await t.all()).length).toBe(0);
      expect(await json<IngestAnswer>(await t.post(batch.slice(0, 20)))).toMatchObject({ accepted: 20 });
    });
  });
});

