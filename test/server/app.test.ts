/**
 * The HTTP API in-process: createApp() on a real SQLite store, driven through
 * app.request(). Expected values are computed here (Date.UTC, python3 for the
 * seed reporter, a hand-written CSV parser), never by the server's own code.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { encodeRecord, type EncodableRecord, MAX_PENDING_LINES, normalizeRecord } from "../../protocol/index.ts";
import { asCa1 } from "../protocol/helpers.ts";
import type { Config } from "../../server/src/config.ts";
import type { Store } from "../../server/src/db/store.ts";
import { testConfig } from "../support/config.ts";
import {
  cleanupTmpDirs, INGEST_TOKEN, type IngestAnswer, makeApp, type Page, type Presented, READ_TOKEN, recordCounters,
  SEED_UA, seedReporterPayload, type TestApp, utcUs,
} from "./helpers.ts";

/** Every log line of every app in this file, checked at the end for leaks. */
const LOGS: string[] = [];
/** Strings that must never reach a log line: tokens, command texts, query values. */
const SECRETS = new Set<string>([INGEST_TOKEN, READ_TOKEN]);
const apps: TestApp[] = [];

async function newApp(over: Partial<Config> = {}, store?: (s: Store) => Store): Promise<TestApp> {
  const t = await makeApp(over, { logs: LOGS, ...(store ? { store } : {}) });
  apps.push(t);
  return t;
}
const DEFAULT_LIMITS = testConfig().limits;
const limits = (over: Partial<Config["limits"]>): Config["limits"] => ({ ...DEFAULT_LIMITS, ...over });

/** Commands are secrets for the log check; return the record unchanged. */
function cmd<T extends { command?: string }>(r: T): T {
  if (r.command) SECRETS.add(r.command);
  return r;
}
/** Build a query string and register every value as a secret. */
function qs(params: Record<string, string>): string {
  for (const [k, v] of Object.entries(params)) if (!["kind", "format", "limit", "exitStatus"].includes(k)) SECRETS.add(v);
  return new URLSearchParams(params).toString();
}

afterAll(async () => {
  for (const a of apps) await a.close();
  cleanupTmpDirs();
});

const json = async <T>(res: Response): Promise<T> => (await res.json()) as T;

/** ISO 8601 of a UTC instant (ms) at a given offset (minutes east): the oracle for `time`. */
function isoAt(utcMs: number, offsetMin: number, us = 0): string {
  const d = new Date(utcMs + offsetMin * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const frac = us ? "." + p(us, 6) : "";
  const a = Math.abs(offsetMin);
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac}${offsetMin < 0 ? "-" : "+"}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}

/** A hook-style JSON record (all the cmdaudit fields). */
function v2(over: Record<string, unknown> = {}): Record<string, unknown> {
  return cmd({
    kind: "command",
    ctime: "2024-03-01T12:34:56.123456+08:00",
    hostname: "web02.example.com",
    serverIps: "10.0.0.7",
    suser: "root",
    luser: "alice",
    terminal: "pts/3",
    clientIp: "192.168.7.7",
    sessionId: "s-default",
    seq: 1,
    cwd: "/home/alice",
    exitStatus: 0,
    command: "make -j8",
    ...over,
  } as Record<string, unknown> & { command?: string });
}

/** RFC 4180: fields separated by commas, records by CRLF, quoted fields may hold anything with "" for a quote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let atStart = true;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\"" && field === "" && atStart) {
      // Quoted field.
      i++;
      for (;;) {
        if (i >= text.length) throw new Error("unterminated quoted field");
        if (text[i] === "\"") {
          if (text[i + 1] === "\"") { field += "\""; i += 2; continue; }
          i++;
          break;
        }
        field += text[i++];
      }
      const n = text[i];
      if (n !== undefined && n !== "," && !(n === "\r" && text[i + 1] === "\n")) throw new Error(`junk after closing quote at ${i}`);
      atStart = false;
      continue;
    }
    if (c === ",") { row.push(field); field = ""; atStart = true; i++; continue; }
    if (c === "\r" && text[i + 1] === "\n") { row.push(field); rows.push(row); row = []; field = ""; atStart = true; i += 2; continue; }
    if (c === "\r" || c === "\n" || c === "\"") throw new Error(`bare ${JSON.stringify(c)} in an unquoted field at ${i}`);
    field += c;
    atStart = false;
    i++;
  }
  if (!atStart || field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

// ---------------------------------------------------------------------------------------------
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
  SEED_COMMANDS.forEach((c) => SECRETS.add(c));

  test("its exact payload and headers get code 0 and the rows read back with the exact values", async () => {
    const t = await newApp({ legacy_utc_offset: "+08:00" });
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
    const base = { kind: "command", utcOffset: null, sessionId: null, seq: null, cwd: null, exitStatus: null, durationMs: null };
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
    const t = await newApp();
    const seed = cmd({ ctime: "2018-12-11 11:58:00", suser: "root", luser: "root", terminal: "pts/0", clientIp: "10.0.0.9", hostname: "h", serverIps: "10.0.0.1", command: "uptime-twice" });
    expect(await json<IngestAnswer>(await t.post([seed, seed]))).toMatchObject({ accepted: 1, duplicates: 1 });
    const a = v2({ sessionId: "twice", seq: 1, command: "date-twice" });
    const b = v2({ sessionId: "twice", seq: 2, command: "date-twice" });
    expect(await json<IngestAnswer>(await t.post([a, b]))).toMatchObject({ accepted: 2, duplicates: 0 });
    expect((await t.all({ q: "twice" })).length).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------
describe("POST /api/v1/commands", () => {
  test("extended records keep every field; times with offsets; commandB64 round-trips non-UTF-8 bytes", async () => {
    const t = await newApp();
    const raw = Uint8Array.from([0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x00]);
    const recs = [
      v2({ sessionId: "ext.1", seq: 7, serverIps: ["10.0.0.7", "fe80::1"], clientIp: "2001:db8::5", cwd: "/home/alice/dir with space", exitStatus: 130, durationMs: 61_250 }),
      v2({ sessionId: "ext.1", seq: 8, ctime: "2024-03-01T01:02:03-05:30", exitStatus: null, durationMs: null, command: "echo ünïcødé 😀" }),
      v2({ sessionId: "ext.1", seq: 9, ctime: "2024-03-01T00:00:00Z", kind: "session_start", command: undefined, exitStatus: null, cwd: "/" }),
      v2({ sessionId: "ext:2@h", seq: 0, ctime: "2024-03-01T00:00:01.5+00:00", command: undefined, commandB64: Buffer.from(raw).toString("base64") }),
      v2({ sessionId: "ext:2@h", seq: 1, ctime: "2024-03-01T00:00:02+00:00", command: undefined, commandB64: Buffer.from("valid ütf8").toString("base64") }),
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
    const t = await newApp();
    const noLuser = v2({ sessionId: "bad", seq: 3 });
    delete noLuser.luser;
    const batch: unknown[] = [
      v2({ sessionId: "ok", seq: 0 }),
      v2({ sessionId: "bad", seq: 1, exitStatus: 300 }),
      v2({ sessionId: "ok", seq: 2 }),
      noLuser,
      v2({ sessionId: "bad", seq: 4, hostname: "" }),
      v2({ sessionId: "bad", seq: 5, foo: 1 }),
      v2({ sessionId: "bad", seq: 6, ctime: "yesterday" }),
      v2({ sessionId: "bad", seq: 7, clientIp: "not-an-ip" }),
      v2({ sessionId: "bad", seq: undefined }),
      42,
      v2({ sessionId: "bad", seq: 10, command: "x\ud800y" }),
      v2({ sessionId: "bad", seq: 11, command: undefined, commandB64: "!!!!" }),
      v2({ sessionId: "bad", seq: 12, kind: "bogus" }),
      v2({ sessionId: "bad", seq: 13, luser: "\u001b[31mroot" }),
      v2({ sessionId: "bad", seq: 14, seq2: 1 }),
      v2({ sessionId: "ok", seq: 15 }),
      v2({ sessionId: "bad", seq: 16, durationMs: -1 }),
      v2({ sessionId: "bad", seq: 17, durationMs: 1.5 }),
      v2({ sessionId: "bad", seq: 18, durationMs: "1834" }),
      v2({ sessionId: "bad", seq: 19, durationMs: 2 ** 53 }),
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
    const t = await newApp();
    expect(await json<IngestAnswer>(await t.post([]))).toMatchObject({ code: 0, accepted: 0, duplicates: 0, rejected: [] });
    const r = v2({ sessionId: "rep", seq: 1 });
    expect(await json<IngestAnswer>(await t.post([r, r, r]))).toMatchObject({ accepted: 1, duplicates: 2 });
    expect((await t.all()).length).toBe(1);
  });

  test("gzip body is decoded; invalid gzip → 400; unsupported encoding → 415", async () => {
    const t = await newApp();
    const body = JSON.stringify([v2({ sessionId: "gz", seq: 1, command: "gzipped-command" })]);
    const ok = await t.post(Bun.gzipSync(Buffer.from(body)), { "Content-Encoding": "gzip" });
    expect(ok.status).toBe(200);
    expect(await json<IngestAnswer>(ok)).toMatchObject({ accepted: 1 });
    expect((await t.all())[0]!.command).toBe("gzipped-command");

    const upper = await t.post(Bun.gzipSync(Buffer.from(JSON.stringify([v2({ sessionId: "gz", seq: 2 })]))), { "Content-Encoding": "GZIP" });
    expect(await json<IngestAnswer>(upper)).toMatchObject({ accepted: 1 });

    const bad = await t.post(Buffer.from("this is not gzip at all"), { "Content-Encoding": "gzip" });
    expect(bad.status).toBe(400);
    expect((await json<IngestAnswer>(bad)).msg).toMatch(/gzip/);
    const truncated = Bun.gzipSync(Buffer.from(JSON.stringify(Array.from({ length: 50 }, (_, i) => v2({ sessionId: "gzt", seq: i })))));
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
    const t = await newApp();
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
      const a = await json<IngestAnswer>(res);
      expect(a.code).toBe(400);
      expect(a.msg).toMatch(msg);
    }
  });

  describe("size limits", () => {
    const MAX = 64 * 1024;
    const big = () => JSON.stringify([v2({ sessionId: "big", seq: 1, command: "x".repeat(MAX) })]);

    test("a body over max_body_bytes with Content-Length → 413, nothing stored", async () => {
      const t = await newApp({ limits: limits({ max_body_bytes: MAX }) });
      const body = big();
      const res = await t.post(body, { "Content-Length": String(Buffer.byteLength(body)) });
      expect(res.status).toBe(413);
      expect((await json<IngestAnswer>(res)).msg).toContain(String(MAX));
      // A Content-Length that lies (says small) does not get the body past the limit either.
      const lie = await t.post(body, { "Content-Length": "10" });
      expect(lie.status).toBe(413);
      // Just under the limit is fine.
      const under = JSON.stringify([v2({ sessionId: "big", seq: 2, command: "y".repeat(MAX - 1000) })]);
      expect((await t.post(under)).status).toBe(200);
      expect((await t.all()).map((r) => r.seq)).toEqual([2]);
    });

    test("a chunked body without Content-Length → 413, and the server stops reading it", async () => {
      const t = await newApp({ limits: limits({ max_body_bytes: MAX }) });
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
      const t = await newApp({ limits: limits({ max_body_bytes: MAX }) });
      const bomb = Bun.gzipSync(new Uint8Array(32 * 1024 * 1024).fill(0x20), { level: 9 });
      expect(bomb.length).toBeLessThan(MAX);
      const res = await t.post(bomb, { "Content-Encoding": "gzip" });
      expect(res.status).toBe(413);
      // Decompressing to exactly the limit is still allowed: a valid batch padded with whitespace.
      const rec = JSON.stringify([v2({ sessionId: "pad", seq: 1 })]);
      const padded = Buffer.from(rec + " ".repeat(MAX - rec.length));
      expect(padded.length).toBe(MAX);
      const ok = await t.post(Bun.gzipSync(padded), { "Content-Encoding": "gzip" });
      expect(ok.status).toBe(200);
    });

    test("more records than max_records_per_batch → 413, nothing stored", async () => {
      const t = await newApp({ limits: limits({ max_records_per_batch: 20 }) });
      const batch = Array.from({ length: 21 }, (_, i) => v2({ sessionId: "many", seq: i }));
      const res = await t.post(batch);
      expect(res.status).toBe(413);
      expect((await json<IngestAnswer>(res)).msg).toMatch(/21.*20/);
      expect((await t.all()).length).toBe(0);
      expect(await json<IngestAnswer>(await t.post(batch.slice(0, 20)))).toMatchObject({ accepted: 20 });
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe("auth", () => {
  const UNAUTHORIZED = { code: 401, msg: "unauthorized" };
  const WRONG = "wrong-token-0123456789abcdef";
  SECRETS.add(WRONG);

  async function expect401(res: Response) {
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual(UNAUTHORIZED);
    return text;
  }

  test("no token, a wrong token, or the other scope's token → 401 that says only unauthorized", async () => {
    const t = await newApp();
    const body = JSON.stringify([v2({ sessionId: "auth", seq: 1, command: "auth-should-not-store" })]);
    const post = (h: Record<string, string>) => t.app.request("/api/v1/commands", { method: "POST", headers: { "Content-Type": "application/json", ...h }, body });
    const raw = (h: Record<string, string>) => t.app.request("/api/v1/ingest/raw", { method: "POST", headers: h, body: "x\n" });
    const get = (p: string, h: Record<string, string>) => t.app.request(p, { headers: h });
    const bodies = new Set<string>();
    const refused: Record<string, string>[] = [{}, { AccessToken: WRONG }, { Authorization: `Bearer ${WRONG}` }, { AccessToken: READ_TOKEN },
      { Authorization: `Bearer ${READ_TOKEN}` }, { AccessToken: "" }, { Authorization: INGEST_TOKEN }, { Authorization: `Basic ${btoa("u:" + INGEST_TOKEN)}` }];
    for (const h of refused) {
      bodies.add(await expect401(await post(h)));
      bodies.add(await expect401(await raw(h)));
    }
    for (const p of ["/api/v1/commands", "/api/v1/hosts", "/metrics", "/api/v1/commands?format=csv"]) {
      const notRead: Record<string, string>[] = [{}, { AccessToken: WRONG }, { AccessToken: INGEST_TOKEN }, { Authorization: `Bearer ${INGEST_TOKEN}` }];
      for (const h of notRead) {
        bodies.add(await expect401(await get(p, h)));
      }
    }
    expect(bodies.size).toBe(1); // the same bytes whatever the reason
    expect((await t.all()).length).toBe(0);
  });

  test("Authorization: Bearer and AccessToken both work for both scopes", async () => {
    const t = await newApp();
    const body = (seq: number) => JSON.stringify([v2({ sessionId: "hdr", seq })]);
    const h = { "Content-Type": "application/json" };
    expect((await t.app.request("/api/v1/commands", { method: "POST", headers: { ...h, AccessToken: INGEST_TOKEN }, body: body(1) })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { method: "POST", headers: { ...h, Authorization: `Bearer ${INGEST_TOKEN}` }, body: body(2) })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { method: "POST", headers: { ...h, Authorization: `bearer ${INGEST_TOKEN}` }, body: body(3) })).status).toBe(200);
    for (const p of ["/api/v1/commands", "/api/v1/hosts", "/metrics"]) {
      expect((await t.app.request(p, { headers: { AccessToken: READ_TOKEN } })).status).toBe(200);
      expect((await t.app.request(p, { headers: { Authorization: `Bearer ${READ_TOKEN}` } })).status).toBe(200);
    }
    expect((await t.all()).length).toBe(3);
  });

  test("a sha256:<hex> configured token accepts the token, not the digest itself", async () => {
    const ingest = "hashed-ingest-token-ABCDEFGHIJ";
    const read = "hashed-read-token-KLMNOPQRSTUV";
    SECRETS.add(ingest).add(read);
    const hex = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
    const t = await newApp({ tokens: { ingest: [`sha256:${hex(ingest)}`], read: [`sha256:${hex(read)}`, READ_TOKEN] } });
    const post = (tok: string) => t.app.request("/api/v1/commands", { method: "POST", headers: { AccessToken: tok }, body: JSON.stringify([v2({ sessionId: "sha", seq: 1 })]) });
    expect((await post(ingest)).status).toBe(200);
    await expect401(await post(`sha256:${hex(ingest)}`));
    await expect401(await post(hex(ingest)));
    await expect401(await post(INGEST_TOKEN)); // no longer configured
    expect((await t.app.request("/api/v1/commands", { headers: { Authorization: `Bearer ${read}` } })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { headers: { Authorization: `Bearer ${READ_TOKEN}` } })).status).toBe(200);
  });

  test("a malformed sha256: entry (a truncated digest) never turns requests into 500s", async () => {
    const { configSchema } = await import("../../server/src/config.ts");
    const { createApp } = await import("../../server/src/app.ts");
    const truncated = `sha256:${"ab".repeat(31)}c`; // 63 hex digits
    // Refused by the config validation, naming the key…
    const parsed = configSchema.safeParse({ tokens: { ingest: [truncated, INGEST_TOKEN], read: [READ_TOKEN] } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual(["tokens.ingest.0"]);
    // …and an app given one anyway (config built in code) either refuses to start or keeps serving the valid tokens.
    const base = await newApp();
    const config = { ...testConfig(), tokens: { ingest: [truncated, INGEST_TOKEN], read: [READ_TOKEN] } };
    let app: ReturnType<typeof createApp> | undefined;
    try { app = createApp({ store: base.store, config }); } catch { app = undefined; }
    if (app) {
      const res = await app.request("/api/v1/commands", { method: "POST", headers: { AccessToken: INGEST_TOKEN }, body: "[]" });
      expect(res.status).toBe(200);
      expect((await app.request("/api/v1/commands", { method: "POST", headers: { AccessToken: WRONG }, body: "[]" })).status).toBe(401);
    }
  });

  test("/healthz and /readyz need no token; readyz is 503 when the store does not answer", async () => {
    const t = await newApp();
    const h = await t.app.request("/healthz");
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: "ok" });
    const r = await t.app.request("/readyz");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ready" });

    const failing = await newApp({}, (s) => Object.assign(Object.create(s) as Store, { ping: () => Promise.reject(new Error("ECONNREFUSED")) }));
    const f = await failing.app.request("/readyz");
    expect(f.status).toBe(503);
    expect(await f.json()).toEqual({ status: "unavailable" });
    expect((await failing.app.request("/healthz")).status).toBe(200);

    const hanging = await newApp({}, (s) => Object.assign(Object.create(s) as Store, { ping: () => new Promise<void>(() => {}) }));
    const started = Date.now();
    const hres = await hanging.app.request("/readyz");
    expect(hres.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("metrics_public serves /metrics without a token, and only /metrics", async () => {
    const t = await newApp({ metrics_public: true });
    expect((await t.app.request("/metrics")).status).toBe(200);
    expect((await t.app.request("/api/v1/hosts")).status).toBe(401);
    expect((await t.app.request("/api/v1/commands")).status).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------------
describe("GET /api/v1/commands", () => {
  interface Src { json: Record<string, unknown>; utcMs: number; us: number; tsUs: number; host: string; luser: string; suser: string; clientIp: string; session: string; seq: number; kind: string; exitStatus: number | null; command: string }
  const BASE = Date.UTC(2024, 4, 1, 0, 0, 0); // 2024-05-01T00:00:00Z
  const OFFSETS = [480, -330, 0, 345, -600];
  const SRC: Src[] = Array.from({ length: 60 }, (_, i) => {
    const kind = i % 10 === 3 ? "session_start" : i % 10 === 7 ? "session_end" : "command";
    const utcMs = BASE + i * 1013_000;
    const us = i % 4 === 0 ? 123456 : 0;
    const s: Src = {
      json: {},
      utcMs, us,
      tsUs: utcMs * 1000 + us,
      host: ["alpha", "beta", "gamma"][i % 3]!,
      luser: ["alice", "bob", "carol", "dave"][i % 4]!,
      suser: ["root", "alice", "postgres"][(i * 7 + 1) % 3]!,
      clientIp: ["10.9.0.1", "10.9.0.2", "2001:db8::9"][(i >> 1) % 3]!,
      session: `sess-${i % 6}`,
      seq: i,
      kind,
      exitStatus: kind === "command" ? [0, 1, 2, null, 130][i % 5]! : null,
      command: kind === "command" ? `cmd-${i} ${["grep", "Grep", "tar", "100%", "a_b"][i % 5]} x` : "",
    };
    s.json = {
      kind, ctime: isoAt(utcMs, OFFSETS[i % 5]!, us), hostname: s.host, serverIps: "10.0.0.1", suser: s.suser, luser: s.luser,
      terminal: "pts/1", clientIp: s.clientIp, sessionId: s.session, seq: s.seq, cwd: "/", exitStatus: s.exitStatus,
      ...(s.command ? { command: s.command } : {}),
    };
    if (s.command) SECRETS.add(s.command);
    return s;
  });
  let t: TestApp;
  const key = (r: { sessionId: string | null; seq: number | null }) => `${r.sessionId}/${r.seq}`;
  const expected = (f: (s: Src) => boolean) => SRC.filter(f).sort((a, b) => b.tsUs - a.tsUs).map((s) => `${s.session}/${s.seq}`);

  test("setup: 60 records stored", async () => {
    t = await newApp({ limits: limits({ max_page_size: 50 }) });
    expect(await json<IngestAnswer>(await t.post(SRC.map((s) => s.json)))).toMatchObject({ accepted: 60, rejected: [] });
    // Cross-check the oracle against the first row: time is the instant at the record's own offset.
    const rows = await t.all();
    expect(rows.map(key)).toEqual(expected(() => true));
    for (const r of rows) {
      const s = SRC[r.seq!]!;
      expect(r.time).toBe(s.json.ctime as string);
    }
  });

  const FROM_I = 10, TO_I = 40;
  const filters: [string, () => Record<string, string>, (s: Src) => boolean][] = [
    ["host", () => ({ host: "beta" }), (s) => s.host === "beta"],
    ["luser", () => ({ luser: "bob" }), (s) => s.luser === "bob"],
    ["suser", () => ({ suser: "postgres" }), (s) => s.suser === "postgres"],
    ["clientIp (IPv6)", () => ({ clientIp: "2001:db8::9" }), (s) => s.clientIp === "2001:db8::9"],
    ["session", () => ({ session: "sess-4" }), (s) => s.session === "sess-4"],
    ["kind", () => ({ kind: "session_start" }), (s) => s.kind === "session_start"],
    ["exitStatus=0", () => ({ exitStatus: "0" }), (s) => s.exitStatus === 0],
    ["exitStatus=130", () => ({ exitStatus: "130" }), (s) => s.exitStatus === 130],
    ["q is case-sensitive", () => ({ q: "Grep" }), (s) => s.command.includes("Grep")],
    ["q with % is literal", () => ({ q: "0%" }), (s) => s.command.includes("0%")],
    ["q with _ is literal", () => ({ q: "a_b" }), (s) => s.command.includes("a_b")],
    ["q prefix", () => ({ q: "cmd-1" }), (s) => s.command.includes("cmd-1")],
    // from is inclusive, to exclusive; both given at offsets other than the records' own.
    ["from/to with offsets", () => ({ from: isoAt(SRC[FROM_I]!.utcMs, 120, SRC[FROM_I]!.us), to: isoAt(SRC[TO_I]!.utcMs, -180, SRC[TO_I]!.us) }),
      (s) => s.tsUs >= SRC[FROM_I]!.tsUs && s.tsUs < SRC[TO_I]!.tsUs],
    ["from Z", () => ({ from: "2024-05-01T10:00:00Z" }), (s) => s.tsUs >= Date.UTC(2024, 4, 1, 10) * 1000],
    ["combined", () => ({ host: "alpha", luser: "alice", to: "2024-05-01T20:00:00+08:00" }),
      (s) => s.host === "alpha" && s.luser === "alice" && s.tsUs < Date.UTC(2024, 4, 1, 12) * 1000],
    ["nothing matches", () => ({ host: "no-such-host" }), () => false],
  ];
  for (const [name, params, pred] of filters) {
    test(`filter: ${name}`, async () => {
      const p = params();
      const want = expected(pred);
      const res = await t.get(`/api/v1/commands?${qs({ ...p, limit: "50" })}`);
      expect(res.status).toBe(200);
      const page = await json<Page>(res);
      expect(page.items.map(key)).toEqual(want);
      if (name !== "nothing matches") expect(want.length).toBeGreaterThan(0);
    });
  }

  test("the filter boundaries are exact: from includes its instant, to excludes its instant", async () => {
    const at = SRC[FROM_I]!.json.ctime as string;
    const incl = await json<Page>(await t.get(`/api/v1/commands?${qs({ from: at, to: at, limit: "50" })}`));
    expect(incl.items).toEqual([]);
    const one = await json<Page>(await t.get(`/api/v1/commands?${qs({ from: at, to: SRC[FROM_I + 1]!.json.ctime as string, limit: "50" })}`));
    expect(one.items.map(key)).toEqual([`${SRC[FROM_I]!.session}/${FROM_I}`]);
  });

  test("unknown query parameter → 400 naming it; bad values → 400 naming the parameter", async () => {
    const cases: [string, RegExp][] = [
      ["hostname=alpha", /hostname/],
      ["host=alpha&sessionId=x", /sessionId/],
      ["from=yesterday", /from/],
      ["to=2024-13-01T00:00:00Z", /to/],
      ["from=2024-05-01T10:00:00", /from/], // no offset: ambiguous, refused
      ["kind=bogus", /kind/],
      ["exitStatus=256", /exitStatus/],
      ["exitStatus=abc", /exitStatus/],
      ["limit=0", /limit/],
      ["limit=abc", /limit/],
      ["limit=51", /limit/], // max_page_size is 50 here
      ["format=xml", /format/],
      ["q=", /q/],
    ];
    for (const [q, msg] of cases) {
      const res = await t.get(`/api/v1/commands?${q}`);
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
      const a = await json<IngestAnswer>(res);
      expect(a.msg).toMatch(msg);
    }
    expect((await t.get("/api/v1/commands?limit=50")).status).toBe(200);
  });

  test("bad cursors → 400", async () => {
    for (const c of ["garbage!!", Buffer.from("1.2.3").toString("base64url"), Buffer.from("abc.1").toString("base64url"), "x".repeat(65), ""]) {
      const res = await t.get(`/api/v1/commands?${new URLSearchParams({ cursor: c })}`);
      expect({ c, status: res.status }).toEqual({ c, status: 400 });
      expect((await json<IngestAnswer>(res)).msg).toMatch(/cursor/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe("pagination and exports", () => {
  /** Commands that stress CSV: quotes, commas, CR/LF, leading/trailing spaces, a lone quote. */
  const NASTY = ["say \"hi\", then \"bye\"", "line1\nline2\r\nline3\r", "a,b,c", " leading and trailing ", "\"", "'single' `back`", "tab\there", "=1+2,\"=cmd\""];

  test("nextCursor walks all rows exactly once, newest first, with many equal timestamps", async () => {
    const t = await newApp({ limits: limits({ max_page_size: 50 }) });
    const N = 230;
    const recs = Array.from({ length: N }, (_, i) => v2({ sessionId: `pg-${i % 7}`, seq: i, ctime: isoAt(Date.UTC(2024, 0, 1, 0, 0, i % 12), 0), command: `page-cmd-${i}` }));
    // Two batches so ids do not follow time.
    await t.post(recs.filter((_, i) => i % 2 === 1));
    await t.post(recs.filter((_, i) => i % 2 === 0));
    for (const [limit, filter] of [[7, {}], [1, { session: "pg-3" }], [50, {}], [23, { q: "page-cmd-1" }]] as const) {
      const seen: Presented[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q = new URLSearchParams({ ...filter, limit: String(limit) });
        if (cursor) q.set("cursor", cursor);
        const res = await t.get(`/api/v1/commands?${q}`);
        expect(res.status).toBe(200);
        const page = await json<Page>(res);
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.items);
        cursor = page.nextCursor;
        expect(++pages).toBeLessThan(N + 3);
      } while (cursor);
      const pred = (i: number) => ("session" in filter ? i % 7 === 3 : "q" in filter ? `page-cmd-${i}`.includes("page-cmd-1") : true);
      const want = Array.from({ length: N }, (_, i) => i).filter(pred);
      expect(seen.length).toBe(want.length);
      expect(new Set(seen.map((r) => r.id)).size).toBe(want.length);
      expect(seen.map((r) => r.seq!).sort((a, b) => a - b)).toEqual(want);
      // Strictly descending by (time, id).
      for (let i = 1; i < seen.length; i++) {
        const a = Date.parse(seen[i - 1]!.time!), b = Date.parse(seen[i]!.time!);
        expect(a > b || (a === b && seen[i - 1]!.id > seen[i]!.id)).toBe(true);
      }
    }
  });

  test("records at the far ends of the accepted time range paginate too", async () => {
    const t = await newApp();
    const times = ["1970-01-01T00:00:01Z", "2000-02-29T12:00:00+05:45", "2255-06-05T23:47:34Z", "2999-12-31T23:59:59-12:00", "9999-12-31T23:59:59Z"];
    const ans = await json<IngestAnswer>(await t.post(times.map((ctime, i) => v2({ sessionId: "edge", seq: i, ctime }))));
    const stored = ans.accepted;
    const seen: Presented[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 20; guard++) {
      const q = new URLSearchParams({ limit: "1" });
      if (cursor) q.set("cursor", cursor);
      const res = await t.get(`/api/v1/commands?${q}`);
      expect({ cursor, status: res.status }).toEqual({ cursor, status: 200 });
      const page = await json<Page>(res);
      seen.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen.length).toBe(stored);
    expect(new Set(seen.map((r) => r.seq)).size).toBe(stored);
  });

  test("a ctime at either end of the accepted range is either refused (naming ctime) or shown exactly as sent", async () => {
    const t = await newApp();
    // Local 1970-01-01 is accepted, but at +08:00 the first two are at / before 1970-01-01T00:00:00Z;
    // the last two are instants past 2^53 µs (year 2255), where a double no longer holds every microsecond.
    const times = ["1970-01-01T08:00:00+08:00", "1970-01-01T07:59:59+08:00", "2999-12-31T23:59:59.999999-12:00", "9999-12-31T23:59:59.999999Z"];
    const outcome: Record<string, string> = {};
    for (const [i, ctime] of times.entries()) {
      const ans = await json<IngestAnswer>(await t.post([v2({ sessionId: "range", seq: i, ctime })]));
      if (ans.rejected.length) {
        outcome[ctime] = /ctime/.test(ans.rejected[0]!.error) ? "ok" : `refused without naming ctime: ${ans.rejected[0]!.error}`;
        continue;
      }
      const [row] = await t.all({ session: "range", q: "make" }).then((rows) => rows.filter((r) => r.seq === i));
      outcome[ctime] = row?.time === ctime ? "ok" : `stored, shown as ${row?.time}`;
    }
    // "ok": refused with a reason naming ctime, or stored and shown exactly as sent.
    expect(outcome).toEqual(Object.fromEntries(times.map((c) => [c, "ok"])));
  });


  test("the CSV parser of this test is itself right", () => {
    expect(parseCsv("a,\"b,\"\"c\"\"\",\r\n\"x\r\ny\",,z\r\n")).toEqual([["a", "b,\"c\"", ""], ["x\r\ny", "", "z"]]);
    expect(() => parseCsv("a\"b\r\n")).toThrow();
    expect(() => parseCsv("\"a\"b\r\n")).toThrow();
  });

  const COLUMNS = ["id", "time", "hostname", "serverIps", "luser", "suser", "terminal", "clientIp", "sessionId", "seq", "kind", "cwd", "exitStatus", "command", "commandB64", "durationMs"];

  test("ndjson and csv exports hold every row exactly once; CSV parses back with commands intact", async () => {
    const t = await newApp();
    const N = 2600; // more than two of the exporter's 1000-row pages, with equal timestamps across page ends
    const srcs = Array.from({ length: N }, (_, i) => {
      const base = { sessionId: `ex-${i % 13}`, seq: i, hostname: i % 2 ? "exp-a" : "exp-b", ctime: isoAt(Date.UTC(2024, 1, 1, 0, 0, i % 5), 60), exitStatus: i % 3 === 0 ? null : i % 256,
        ...(i % 4 === 0 ? {} : { durationMs: i % 4 === 1 ? null : i % 4 === 2 ? i * 1000 : Number.MAX_SAFE_INTEGER - i }) };
      if (i % 97 === 0) return v2({ ...base, command: undefined, commandB64: Buffer.from([0x6c, 0x73, 0x20, 0xff, 0x2c, 0x22, 0x0a, i & 0xff]).toString("base64") });
      return v2({ ...base, command: `${NASTY[i % NASTY.length]} #${i}` });
    }).map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>);
    for (let i = 0; i < N; i += 1000) expect((await json<IngestAnswer>(await t.post(srcs.slice(i, i + 1000)))).rejected).toEqual([]);
    const all = await t.all();
    expect(all.length).toBe(N);
    const byId = new Map(all.map((r) => [r.id, r]));

    const nd = async (res: Response) => {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("application/x-ndjson");
      const text = await res.text();
      expect(text.endsWith("\n")).toBe(true);
      return text.slice(0, -1).split("\n").map((l) => JSON.parse(l) as Presented);
    };
    for (const res of [await t.get("/api/v1/commands", { Accept: "application/x-ndjson" }), await t.get("/api/v1/commands?format=ndjson")]) {
      const rows = await nd(res);
      expect(rows.length).toBe(N);
      expect(new Set(rows.map((r) => r.id)).size).toBe(N);
      for (const r of rows) expect(r).toEqual(byId.get(r.id)!);
    }

    const csv = async (res: Response) => {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/csv");
      return parseCsv(await res.text());
    };
    for (const res of [await t.get("/api/v1/commands", { Accept: "text/csv" }), await t.get("/api/v1/commands?format=csv", { Accept: "application/json" })]) {
      const [header, ...rows] = await csv(res);
      expect(header).toEqual(COLUMNS);
      expect(rows.length).toBe(N);
      const ids = new Set<number>();
      for (const row of rows) {
        expect(row.length).toBe(COLUMNS.length);
        const o = Object.fromEntries(COLUMNS.map((c, i) => [c, row[i]!]));
        const id = Number(o.id);
        ids.add(id);
        const src = srcs[byId.get(id)!.seq!]!;
        if (src.command !== undefined) {
          expect(o.command).toBe(src.command as string);
          expect(o.commandB64).toBe("");
        } else {
          expect(o.commandB64).toBe(src.commandB64 as string);
        }
        expect(o.sessionId).toBe(src.sessionId as string);
        expect(o.seq).toBe(String(src.seq));
        expect(o.hostname).toBe(src.hostname as string);
        expect(o.exitStatus).toBe(src.exitStatus === null ? "" : String(src.exitStatus));
        expect(o.durationMs).toBe(src.durationMs === undefined || src.durationMs === null ? "" : String(src.durationMs));
        expect(o.time).toBe(src.ctime as string);
      }
      expect(ids.size).toBe(N);
    }

    // Exports honour filters and limit.
    const onlyA = await nd(await t.get("/api/v1/commands?host=exp-a&format=ndjson"));
    expect(onlyA.length).toBe(N / 2);
    expect(onlyA.every((r) => r.hostname === "exp-a")).toBe(true);
    const limited = await nd(await t.get("/api/v1/commands?format=ndjson&limit=1500"));
    expect(limited.map((r) => r.id)).toEqual(all.slice(0, 1500).map((r) => r.id));
    const [, ...csvQ] = await csv(await t.get(`/api/v1/commands?format=csv&${qs({ q: "\"hi\"" })}`));
    expect(csvQ.length).toBe(srcs.filter((s) => typeof s.command === "string" && s.command.includes("\"hi\"")).length);
    // A bad cursor is refused before the stream starts.
    expect((await t.get("/api/v1/commands?format=csv&cursor=zzz")).status).toBe(400);
  });
});

// ---------------------------------------------------------------------------------------------
describe("hosts and metrics", () => {
  test("hosts: records, lastReceived, silentSeconds, most silent first", async () => {
    const t = await newApp();
    // A host that last reported an hour ago, written through the store with that arrival time.
    const nowUs = Date.now() * 1000;
    const oldRes = await t.post([v2({ hostname: "probe", sessionId: "p", seq: 1 })]);
    expect(oldRes.status).toBe(200);
    // Direct insert with an old receivedUs: the store's contract takes the arrival time from the caller.
    const old = normalizeRecord(v2({ hostname: "quiet", sessionId: "q", seq: 1, ctime: "2024-01-01T00:00:00+00:00" }), { legacyUtcOffset: 0 });
    if (typeof old === "string") throw new Error(old);
    await t.store.insert([old], nowUs - 3600 * 1e6);

    const t0 = Date.now();
    const batch = [
      ...Array.from({ length: 5 }, (_, i) => v2({ hostname: "busy", sessionId: "b", seq: i, ctime: isoAt(Date.UTC(2024, 2, 1, 10, 0, i), 0) })),
      ...Array.from({ length: 2 }, (_, i) => v2({ hostname: "calm", sessionId: "c", seq: i, ctime: isoAt(Date.UTC(2024, 2, 2, 10, 0, i), 120) })),
    ];
    await t.post(batch);
    await t.post(batch); // duplicates do not count
    const t1 = Date.now();
    const res = await t.get("/api/v1/hosts");
    expect(res.status).toBe(200);
    const { hosts } = await json<{ hosts: { hostname: string; records: number; serverIps: string; firstSeen: string | null; lastSeen: string | null; lastReceived: string | null; silentSeconds: number | null }[] }>(res);
    expect(hosts.map((h) => h.hostname)[0]).toBe("quiet");
    expect(new Set(hosts.map((h) => h.hostname))).toEqual(new Set(["quiet", "probe", "busy", "calm"]));
    const h = new Map(hosts.map((x) => [x.hostname, x]));
    expect(h.get("busy")!.records).toBe(5);
    expect(h.get("calm")!.records).toBe(2);
    expect(h.get("quiet")!.records).toBe(1);
    expect(h.get("busy")!.firstSeen).toBe("2024-03-01T10:00:00Z");
    expect(h.get("busy")!.lastSeen).toBe("2024-03-01T10:00:04Z");
    expect(h.get("calm")!.lastSeen).toBe("2024-03-02T10:00:01Z");
    const q = h.get("quiet")!;
    expect(q.silentSeconds!).toBeGreaterThanOrEqual(3600);
    expect(q.silentSeconds!).toBeLessThanOrEqual(3600 + 5);
    expect(Math.abs(Date.parse(q.lastReceived!) - (nowUs / 1000 - 3600_000))).toBeLessThan(2);
    for (const name of ["busy", "calm"]) {
      const lr = Date.parse(h.get(name)!.lastReceived!);
      expect(lr).toBeGreaterThanOrEqual(t0 - 1);
      expect(lr).toBeLessThanOrEqual(t1 + 1);
      expect(h.get(name)!.silentSeconds!).toBeLessThanOrEqual(2);
      expect(h.get(name)!.silentSeconds!).toBeGreaterThanOrEqual(0);
    }
    // Ascending lastStored (here the same as lastReceived): the order the list promises.
    const lrs = hosts.map((x) => Date.parse(x.lastReceived!));
    expect([...lrs].sort((a, b) => a - b)).toEqual(lrs);
  });

  test("hosts: a host whose batches store nothing new is stalled, not live; one that sends nothing is silent", async () => {
    const t = await newApp({ hosts: { silent_after_seconds: 600 } });
    const nowUs = Date.now() * 1000;
    const rec = (hostname: string) => {
      const r = normalizeRecord(v2({ hostname, sessionId: hostname, seq: 1 }), { legacyUtcOffset: 0 });
      if (typeof r === "string") throw new Error(r);
      return r;
    };
    // Both stored 20 minutes ago; "wedged" keeps resending what is stored (duplicates only).
    await t.store.insert([rec("wedged"), rec("gone")], nowUs - 1200 * 1e6);
    expect(await json<IngestAnswer>(await t.post([v2({ hostname: "wedged", sessionId: "wedged", seq: 1 })]))).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await t.post([v2({ hostname: "fresh", sessionId: "fresh", seq: 1 })])).status).toBe(200);
    const { hosts } = await json<{ hosts: { hostname: string; state: string; silentSeconds: number; lastStored: string; lastReceived: string }[] }>(await t.get("/api/v1/hosts"));
    const h = new Map(hosts.map((x) => [x.hostname, x]));
    expect([...h].map(([n, x]) => [n, x.state])).toEqual([["gone", "silent"], ["wedged", "stalled"], ["fresh", "live"]]);
    const w = h.get("wedged")!;
    expect(w.silentSeconds).toBeGreaterThanOrEqual(1200);
    expect(Date.now() - Date.parse(w.lastReceived)).toBeLessThan(5000);
    expect(Date.parse(w.lastReceived) - Date.parse(w.lastStored)).toBeGreaterThanOrEqual(1199_000);
    expect(h.get("fresh")!.silentSeconds).toBeLessThanOrEqual(2);
  });

  test("metrics: accepted/duplicate/rejected counters match the answers", async () => {
    const t = await newApp();
    const sum = { accepted: 0, duplicate: 0, rejected: 0 };
    const add = (a: IngestAnswer) => { sum.accepted += a.accepted; sum.duplicate += a.duplicates; sum.rejected += a.rejected.length; };
    add(await json<IngestAnswer>(await t.post([v2({ sessionId: "m", seq: 1 }), v2({ sessionId: "m", seq: 2 }), { bad: 1 }])));
    add(await json<IngestAnswer>(await t.post([v2({ sessionId: "m", seq: 1 }), v2({ sessionId: "m", seq: 3 }), 7, "x"])));
    const line = Buffer.from(encodeRecord({ kind: "command", ctime: "2024-01-01T00:00:00+00:00", hostname: "mh", serverIps: "", suser: "", luser: "u", terminal: "", clientIp: "", sessionId: "mraw", seq: 1, cwd: "/", exitStatus: 0, command: "metrics-raw" }));
    SECRETS.add("metrics-raw");
    add(await json<IngestAnswer>(await t.postRaw(Buffer.concat([line, line, Buffer.from("CA1\tR\tbroken\n")]))));
    expect(sum).toEqual({ accepted: 4, duplicate: 2, rejected: 4 });
    // Refused requests count nothing.
    await t.post("not json");
    await t.post([v2({ sessionId: "m", seq: 9 })], { AccessToken: "nope-nope-nope-nope" });
    const res = await t.get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(recordCounters(text)).toEqual(sum);
    expect(text).toMatch(/^cmdaudit_http_requests_total\{method="POST",route="[^"]*",status="401"\} 1$/m);
    expect(text).toMatch(/^cmdaudit_ingest_duration_seconds_count 3$/m);
  });
});

// ---------------------------------------------------------------------------------------------
describe("POST /api/v1/ingest/raw", () => {
  const hook = (over: Partial<EncodableRecord> = {}): EncodableRecord => {
    const r: EncodableRecord = {
      kind: "command", ctime: "2024-03-01T12:34:56+08:00", hostname: "rawhost", serverIps: "10.1.1.1,10.1.1.2", suser: "root",
      luser: "alice", terminal: "pts/0", clientIp: "192.168.0.5", sessionId: "raw-s", seq: 1, cwd: "/srv", exitStatus: 0, command: "ls", ...over,
    };
    if (typeof r.command === "string" && r.command.length > 3) SECRETS.add(r.command);
    return r;
  };
  const enc = (r: EncodableRecord) => Buffer.from(encodeRecord(r));
  const cat = (...parts: (Buffer | string)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));

  test("hook lines (a 1 MiB multi-part command, escapes, non-UTF-8 bytes) are stored exactly", async () => {
    const t = await newApp();
    // Exactly 1 MiB of UTF-8 with every escaped byte and multi-byte chars crossing chunk ends.
    const unit = "printf 'a\\tb\\\\n'\t| tr\r\n€ ";
    let big = unit.repeat(Math.floor((1024 * 1024) / Buffer.byteLength(unit)));
    big += "x".repeat(1024 * 1024 - Buffer.byteLength(big));
    expect(Buffer.byteLength(big)).toBe(1024 * 1024);
    SECRETS.add(big);
    const nonUtf8 = Uint8Array.from([0x63, 0x61, 0x74, 0x20, 0xe9, 0x74, 0xe9, 0x5c, 0x09]);
    const recs = [
      hook({ seq: 1, command: "echo \"tab\there\" \\ back\\slash" }),
      hook({ seq: 2, command: big }),
      hook({ seq: 3, command: nonUtf8, exitStatus: null, ctime: "2024-03-01T12:35:00.000001-03:00" }),
      hook({ seq: 4, kind: "session_end", command: "", cwd: "/tmp\tdir", hostname: "raw\\host" }),
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
  SECRETS.add("ls -la /root").add("crontab -l");

  test("seed legacy lines with ?utcOffset= or X-Cmdaudit-Utc-Offset; raw history lines ignored", async () => {
    const t = await newApp();
    const body = [SEED_LINE, "ls -la", "cd /etc", "", SEED_LINE2, ""].join("\n");
    const ans = await json<IngestAnswer>(await t.postRaw(body, `?${new URLSearchParams({ utcOffset: "+08:00" })}`));
    expect(ans).toMatchObject({ code: 0, accepted: 2, duplicates: 0, rejected: [], ignored: 3, consumed: Buffer.byteLength(body) });
    const rows = await t.all();
    expect(rows.map((r) => r.command)).toEqual(["crontab -l", "ls -la /root"]);
    expect(rows[1]!).toMatchObject({ ctime: "2018-12-11 11:58:00", hostname: "web01", serverIps: "10.0.0.1,10.0.0.2", suser: "root", luser: "root", terminal: "pts/0", clientIp: "192.168.1.2" });
    expect(Date.parse(rows[1]!.time!)).toBe(utcUs(2018, 12, 11, 11, 58, 0, 480) / 1000);
    expect(rows[0]!).toMatchObject({ suser: "root", luser: "", terminal: "", clientIp: "" });
    expect(Date.parse(rows[0]!.time!)).toBe(utcUs(2018, 12, 11, 23, 30, 0, 480) / 1000);

    const t2 = await newApp();
    const a2 = await json<IngestAnswer>(await t2.postRaw(SEED_LINE + "\n", "", { "X-Cmdaudit-Utc-Offset": "-05:00" }));
    expect(a2.accepted).toBe(1);
    expect(Date.parse((await t2.all())[0]!.time!)).toBe(utcUs(2018, 12, 11, 11, 58, 0, -300) / 1000);
    // The query parameter wins over the header.
    const t3 = await newApp();
    await t3.postRaw(SEED_LINE + "\n", "?utcOffset=Z", { "X-Cmdaudit-Utc-Offset": "-05:00" });
    expect(Date.parse((await t3.all())[0]!.time!)).toBe(utcUs(2018, 12, 11, 11, 58, 0, 0) / 1000);
    // A bad offset is refused.
    const bad = await t3.postRaw(SEED_LINE + "\n", "?utcOffset=8");
    expect(bad.status).toBe(400);
    expect((await json<IngestAnswer>(bad)).msg).toMatch(/utcOffset/);
  });

  test("a seed line sent raw and the same record sent as JSON are one record with the same presentation", async () => {
    const t = await newApp({ legacy_utc_offset: "+08:00" });
    const viaRaw = await json<IngestAnswer>(await t.postRaw(SEED_LINE + "\n"));
    expect(viaRaw.accepted).toBe(1);
    const [fromRaw] = await t.all();
    const payload = seedReporterPayload(SEED_LINE + "\n");
    const viaJson = await json<IngestAnswer>(await t.post(payload));
    expect(viaJson).toMatchObject({ accepted: 0, duplicates: 1 });
    const t2 = await newApp({ legacy_utc_offset: "+08:00" });
    await t2.post(payload);
    const [fromJson] = await t2.all();
    const strip = ({ id: _i, receivedAt: _r, ...rest }: Presented) => rest;
    expect(strip(fromRaw!)).toEqual(strip(fromJson!));
  });

  test("CA2 lines carry durationMs into JSON, NDJSON and CSV; CA1 lines (before durationMs) still ingest with durationMs null", async () => {
    const t = await newApp();
    const long = "echo " + "d".repeat(8000); // a multi-part record: CA2 head, CA2 parts; CA1 head, CA1 parts
    SECRETS.add(long);
    const ca2 = [
      hook({ sessionId: "dur", seq: 1, command: "sleep 1.834", durationMs: 1834 }),
      hook({ sessionId: "dur", seq: 2, command: "true-fast", durationMs: 0 }),
      hook({ sessionId: "dur", seq: 3, command: long, durationMs: Number.MAX_SAFE_INTEGER }),
      hook({ sessionId: "dur", seq: 4, command: "no-start-stamp", durationMs: null }),
      hook({ sessionId: "dur", seq: 5, kind: "session_end", command: "" }),
    ];
    const ca1 = [
      hook({ sessionId: "old", seq: 1, command: "from-a-ca1-hook", durationMs: 999 }), // the CA1 line has no field for it
      hook({ sessionId: "old", seq: 2, command: long }),
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
    expect(header!.at(-1)).toBe("durationMs");
    expect(new Map(lines.map((l) => [`${l[col("sessionId")]}/${l[col("seq")]}`, l[col("durationMs")]]))).toEqual(
      new Map([...want].map(([k, v]) => [k, v === null ? "" : String(v)])));
    // The JSON route gives the same record the same presentation (and is a duplicate of it).
    const t2 = await newApp();
    await t2.post([v2({ ...ca2[0], ctime: "2024-03-01T12:34:56+08:00", hostname: "rawhost", serverIps: "10.1.1.1,10.1.1.2", clientIp: "192.168.0.5", cwd: "/srv", terminal: "pts/0" })]);
    const strip = ({ id: _i, receivedAt: _r, ...rest }: Presented) => rest;
    expect(strip((await t2.all())[0]!)).toEqual(strip(rows.find((r) => key(r) === "dur/1")!));
  });

  test("a damaged line is rejected with its line number, the others stored", async () => {
    const t = await newApp();
    const r1 = enc(hook({ sessionId: "dmg", seq: 1, command: "first-good" }));
    const r2 = enc(hook({ sessionId: "dmg", seq: 2, command: "second-good" }));
    const damaged = Buffer.from("CA1\tR\tdmg\t3\tcommand\tnot enough fields\n");
    const badLen = Buffer.from(enc(hook({ sessionId: "dmg2", seq: 1, command: "len-mismatch" })).toString("latin1").replace("len-mismatch", "len-mismatch!"), "latin1");
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
    const t = await newApp();
    const A = enc(hook({ sessionId: "cutA", seq: 1, command: "complete-A" }));
    const longCmd = "B".repeat(7000) + "-cut-B";
    SECRETS.add(longCmd);
    const B = enc(hook({ sessionId: "cutB", seq: 1, command: longCmd }));
    const C = enc(hook({ sessionId: "cutC", seq: 1, command: "complete-C" }));
    const D = enc(hook({ sessionId: "cutD", seq: 1, command: "partial-D" }));
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
    const t2 = await newApp();
    const a3 = await json<IngestAnswer>(await t2.postRaw(cat(A, D.subarray(0, 10))));
    expect(a3).toMatchObject({ accepted: 1, consumed: A.length });
  });

  test("?final=1 rejects unfinished records instead of holding them back", async () => {
    const t = await newApp();
    const A = enc(hook({ sessionId: "finA", seq: 1, command: "final-A" }));
    const B = enc(hook({ sessionId: "finB", seq: 1, command: "F".repeat(7000) }));
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
    const t = await newApp({ limits: limits({ max_body_bytes: 64 * 1024 }) });
    const cut = enc(hook({ sessionId: "orphan", seq: 1, command: "O".repeat(7000) }));
    let pending: Buffer = Buffer.from(cut.subarray(0, cut.lastIndexOf(0x0a, cut.length - 2) + 1)); // head and part 2 of 3
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      pending = cat(pending, enc(hook({ sessionId: `tail-${i}`, seq: 1, command: `tail-${i} ${"t".repeat(2000)}` })));
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
    const t = await newApp();
    const cut = enc(hook({ sessionId: "cut", seq: 1, command: "C".repeat(7000) }));
    const headAndPart2 = cut.subarray(0, cut.lastIndexOf(0x0a, cut.length - 2) + 1);
    const after = (n: number, from = 0) => Array.from({ length: n }, (_, i) => enc(hook({ sessionId: `after-${from + i}`, seq: 1, command: `after ${from + i}` })));
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
    const t = await newApp();
    const split = (b: Buffer) => b.toString("latin1").split("\n").slice(0, -1).map((l) => Buffer.from(l + "\n", "latin1"));
    const dead = split(enc(hook({ sessionId: "dead", seq: 1, command: "D".repeat(7000) })));
    const A = enc(hook({ sessionId: "gvA", seq: 1, command: "between" }));
    const writing = split(enc(hook({ sessionId: "writing", seq: 1, command: "W".repeat(7000) })));
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
    const t = await newApp({ limits: limits({ max_body_bytes: 8192, max_records_per_batch: 3 }) });
    const many = cat(...Array.from({ length: 4 }, (_, i) => enc(hook({ sessionId: "lim", seq: i }))));
    expect((await t.postRaw(many)).status).toBe(413);
    expect((await t.postRaw("x".repeat(9000) + "\n")).status).toBe(413);
    expect((await t.all()).length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
describe("failures", () => {
  test("a store that fails to insert → 503, nothing claimed; the log names no command", async () => {
    const secretCmd = "mysql -psup3rs3cret-in-command";
    SECRETS.add(secretCmd);
    const t = await newApp({}, (s) => Object.assign(Object.create(s) as Store, {
      insert: () => Promise.reject(Object.assign(new Error(`Duplicate entry '${secretCmd}' for INSERT ... VALUES ('${secretCmd}')`), { cause: { code: "ER_LOCK_DEADLOCK", errno: 1213 } })),
    }));
    const res = await t.post([v2({ sessionId: "f", seq: 1, command: secretCmd })]);
    expect(res.status).toBe(503);
    expect((await json<IngestAnswer>(res)).msg).toMatch(/retry/);
    expect(recordCounters(await (await t.get("/metrics")).text())).toEqual({ accepted: 0, duplicate: 0, rejected: 0 });
    expect(t.logs.some((l) => l.includes("\"store insert failed\"") && l.includes("ER_LOCK_DEADLOCK"))).toBe(true);
  });

  test("unknown paths → 404 JSON", async () => {
    const t = await newApp();
    const res = await t.get("/api/v1/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 404, msg: "not found" });
  });
});

// ---------------------------------------------------------------------------------------------
describe("logs", () => {
  test("every request was logged, and no log line holds a token, a command or a query value", () => {
    expect(LOGS.length).toBeGreaterThan(100);
    for (const l of LOGS) expect(() => JSON.parse(l)).not.toThrow();
    const secrets = [...SECRETS].filter((s) => s.length >= 3);
    const leaks: string[] = [];
    for (const l of LOGS) {
      // Also compare against the JSON-escaped form, which is how a string lands in a JSON log line.
      for (const s of secrets) if (l.includes(s) || l.includes(JSON.stringify(s).slice(1, -1)) || (s.isWellFormed() && l.includes(encodeURIComponent(s)))) leaks.push(`${s.slice(0, 40)} in ${l.slice(0, 200)}`);
    }
    expect(leaks).toEqual([]);
  });
});
