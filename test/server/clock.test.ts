/**
 * Record times against the server's clock: a record further ahead than records.max_future_seconds
 * (default 1 h) is rejected with its reason on both ingest routes, in every record format, and never
 * reaches the pages or the hosts view.
 */
import { describe, expect, test } from "bun:test";
import { cat, enc, type IngestAnswer, isoAt, json, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();
const HOUR_MS = 3600_000;
/** A legacy (2018) line at a local wall time `ms` (UTC) shown at +08:00, the offset the test apps assume. */
const legacyLine = (ms: number, cmd: string) =>
  `[${new Date(ms + 8 * HOUR_MS).toISOString().slice(0, 19).replace("T", " ")}] [(root) root pts/0 192.168.1.2] [clock-legacy@10.0.0.1] ${cmd}\n`;

describe("record times ahead of the server's clock", () => {
  test("JSON: a record dated 2255, or 61 min ahead, is rejected with its reason; 59 min ahead is stored", async () => {
    const t = await suite.newApp();
    const now = Date.now();
    const recs = [
      suite.v2({ sessionId: "clk", seq: 1, hostname: "clock-host", ctime: isoAt(now - 60_000, 480), command: "echo past" }),
      suite.v2({ sessionId: "clk", seq: 2, hostname: "clock-host", ctime: isoAt(now + 59 * 60_000, 480), command: "echo soon" }),
      suite.v2({ sessionId: "clk", seq: 3, hostname: "clock-host", ctime: isoAt(now + 61 * 60_000, 480), command: "echo later" }),
      suite.v2({ sessionId: "clk", seq: 4, hostname: "clock-host", ctime: "2255-01-01T00:00:00+00:00", serverIps: "6.6.6.6", command: "echo pinned" }),
    ];
    const ans = await json<IngestAnswer>(await t.post(recs));
    expect(ans.accepted).toBe(2);
    expect(ans.rejected.map((r) => r.index)).toEqual([2, 3]);
    for (const r of ans.rejected) expect(r.error).toMatch(/^time \S+ is \d+ s ahead of the server's clock \(at most 3600 s: records\.max_future_seconds\)$/);
    expect(ans.rejected[1]!.error).toContain("2255-01-01");
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["echo past", "echo soon"]);
    // The hosts view is not pinned by the refused record: its address and date never arrive.
    const hosts = (await json<{ hosts: { hostname: string; serverIps: string; lastSeen: string }[] }>(await t.get("/api/v1/hosts"))).hosts;
    expect(hosts.map((h) => [h.hostname, h.serverIps])).toEqual([["clock-host", "10.0.0.7"]]);
    expect(hosts[0]!.lastSeen < "2200").toBe(true);
  });

  test("raw: hook lines and 2018 lines ahead of the clock are rejected by line, the rest stored and the body consumed", async () => {
    const t = await suite.newApp({ legacy_utc_offset: "+08:00" });
    const now = Date.now();
    const body = cat(
      enc(suite.hook({ sessionId: "clk-raw", seq: 1, ctime: isoAt(now, 0), command: "echo now" })),
      enc(suite.hook({ sessionId: "clk-raw", seq: 2, ctime: isoAt(now + 2 * HOUR_MS, 0), command: "echo ahead" })),
      legacyLine(now - HOUR_MS, "echo legacy past"),
      legacyLine(now + 3 * HOUR_MS, "echo legacy ahead"),
    );
    const ans = await json<IngestAnswer>(await t.postRaw(body));
    expect({ accepted: ans.accepted, consumed: ans.consumed, lines: ans.rejected.map((r) => r.line) }).toEqual({ accepted: 2, consumed: body.length, lines: [2, 4] });
    for (const r of ans.rejected) expect(r.error).toContain("ahead of the server's clock");
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["echo legacy past", "echo now"]);
  });

  test("records.max_future_seconds sets the bound", async () => {
    const t = await suite.newApp({ records: { max_future_seconds: 600, max_age_days: 0 } });
    const now = Date.now();
    const ans = await json<IngestAnswer>(await t.post([
      suite.v2({ sessionId: "clk-cfg", seq: 1, ctime: isoAt(now + 5 * 60_000, 0) }),
      suite.v2({ sessionId: "clk-cfg", seq: 2, ctime: isoAt(now + 15 * 60_000, 0) }),
    ]));
    expect(ans.accepted).toBe(1);
    expect(ans.rejected.map((r) => [r.index, /at most 600 s/.test(r.error)])).toEqual([[1, true]]);
  });
});

describe("record times far behind the server's clock", () => {
  const DAY_MS = 24 * HOUR_MS;

  test("records.max_age_days (default 30): older records are rejected with the reason on both routes, in every format; younger ones are stored", async () => {
    const { configSchema } = await import("../../server/src/config.ts");
    expect(configSchema.parse({}).records.max_age_days).toBe(30);
    const t = await suite.newApp({ legacy_utc_offset: "+08:00", records: { max_future_seconds: 3600, max_age_days: 30 } });
    const now = Date.now();
    const ans = await json<IngestAnswer>(await t.post([
      suite.v2({ sessionId: "age", seq: 1, ctime: isoAt(now - 29 * DAY_MS, 480), command: "echo 29 days ago" }),
      suite.v2({ sessionId: "age", seq: 2, ctime: isoAt(now - 31 * DAY_MS, 480), command: "echo backdated" }),
      suite.v2({ sessionId: "age", seq: 3, ctime: "2001-09-11T08:46:00-04:00", command: "echo long ago" }),
    ]));
    expect(ans.accepted).toBe(1);
    expect(ans.rejected.map((r) => r.index)).toEqual([1, 2]);
    for (const r of ans.rejected) expect(r.error).toMatch(/^time \S+ is \d+ days before the server's clock \(at most 30: records\.max_age_days; 0 takes old logs\)$/);
    const body = cat(
      enc(suite.hook({ sessionId: "age-raw", seq: 1, ctime: isoAt(now - 40 * DAY_MS, 0), command: "echo hook old" })),
      legacyLine(now - 40 * DAY_MS, "echo legacy old"),
      legacyLine(now - DAY_MS, "echo legacy recent"),
    );
    const raw = await json<IngestAnswer>(await t.postRaw(body));
    expect({ accepted: raw.accepted, consumed: raw.consumed, lines: raw.rejected.map((r) => r.line) }).toEqual({ accepted: 1, consumed: body.length, lines: [1, 2] });
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["echo 29 days ago", "echo legacy recent"]);
  });

  test("max_age_days: 0 takes old logs (importing the 2018 hook's)", async () => {
    const t = await suite.newApp({ legacy_utc_offset: "+08:00", records: { max_future_seconds: 3600, max_age_days: 0 } });
    const ans = await json<IngestAnswer>(await t.postRaw("[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1] echo from 2018\n"));
    expect(ans.accepted).toBe(1);
  });
});
