/**
 * GET /api/v1/hosts: records, arrival times, silence and state per host.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import { normalizeRecord } from "../../protocol/index.ts";
import { type IngestAnswer, isoAt, json, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

describe("GET /api/v1/hosts", () => {
  test("hosts: records, lastReceived, silentSeconds, most silent first", async () => {
    const t = await suite.newApp();
    // A host that last reported an hour ago, written through the store with that arrival time.
    const nowUs = Date.now() * 1000;
    const oldRes = await t.post([suite.v2({ hostname: "probe", sessionId: "p", seq: 1 })]);
    expect(oldRes.status).toBe(200);
    // Direct insert with an old receivedUs: the store's contract takes the arrival time from the caller.
    const old = normalizeRecord(suite.v2({ hostname: "quiet", sessionId: "q", seq: 1, ctime: "2024-01-01T00:00:00+00:00" }), { legacyUtcOffset: 0 });
    if (typeof old === "string") throw new Error(old);
    await t.store.insert([old], nowUs - 3600 * 1e6);

    const t0 = Date.now();
    const batch = [
      ...Array.from({ length: 5 }, (_, i) => suite.v2({ hostname: "busy", sessionId: "b", seq: i, ctime: isoAt(Date.UTC(2024, 2, 1, 10, 0, i), 0) })),
      ...Array.from({ length: 2 }, (_, i) => suite.v2({ hostname: "calm", sessionId: "c", seq: i, ctime: isoAt(Date.UTC(2024, 2, 2, 10, 0, i), 120) })),
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
    const t = await suite.newApp({ hosts: { silent_after_seconds: 600 } });
    const nowUs = Date.now() * 1000;
    const rec = (hostname: string) => {
      const r = normalizeRecord(suite.v2({ hostname, sessionId: hostname, seq: 1 }), { legacyUtcOffset: 0 });
      if (typeof r === "string") throw new Error(r);
      return r;
    };
    // Both stored 20 minutes ago; "wedged" keeps resending what is stored (duplicates only).
    await t.store.insert([rec("wedged"), rec("gone")], nowUs - 1200 * 1e6);
    expect(await json<IngestAnswer>(await t.post([suite.v2({ hostname: "wedged", sessionId: "wedged", seq: 1 })]))).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await t.post([suite.v2({ hostname: "fresh", sessionId: "fresh", seq: 1 })])).status).toBe(200);
    const { hosts } = await json<{ hosts: { hostname: string; state: string; silentSeconds: number; lastStored: string; lastReceived: string }[] }>(await t.get("/api/v1/hosts"));
    const h = new Map(hosts.map((x) => [x.hostname, x]));
    expect([...h].map(([n, x]) => [n, x.state])).toEqual([["gone", "silent"], ["wedged", "stalled"], ["fresh", "live"]]);
    const w = h.get("wedged")!;
    expect(w.silentSeconds).toBeGreaterThanOrEqual(1200);
    expect(Date.now() - Date.parse(w.lastReceived)).toBeLessThan(5000);
    expect(Date.parse(w.lastReceived) - Date.parse(w.lastStored)).toBeGreaterThanOrEqual(1199_000);
    expect(h.get("fresh")!.silentSeconds).toBeLessThanOrEqual(2);
  });
});
