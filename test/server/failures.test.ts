/**
 * Failures: a store that throws, and unknown paths.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import type { Store } from "../../server/src/db/store.ts";
import { type IngestAnswer, json, recordCounters, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

describe("failures", () => {
  test("a store that fails to insert → 503, nothing claimed; the log names no command", async () => {
    const secretCmd = "mysql -psup3rs3cret-in-command";
    suite.secrets.add(secretCmd);
    const t = await suite.newApp({}, (s) => Object.assign(Object.create(s) as Store, {
      insert: () => Promise.reject(Object.assign(new Error(`Duplicate entry '${secretCmd}' for INSERT ... VALUES ('${secretCmd}')`), { cause: { code: "ER_LOCK_DEADLOCK", errno: 1213 } })),
    }));
    const res = await t.post([suite.v2({ sessionId: "f", seq: 1, command: secretCmd })]);
    expect(res.status).toBe(503);
    expect((await json<IngestAnswer>(res)).msg).toMatch(/retry/);
    expect(recordCounters(await (await t.get("/metrics")).text())).toEqual({ accepted: 0, duplicate: 0, rejected: 0 });
    expect(t.logs.some((l) => l.includes("\"store insert failed\"") && l.includes("ER_LOCK_DEADLOCK"))).toBe(true);
  });

  test("unknown paths → 404 JSON", async () => {
    const t = await suite.newApp();
    const res = await t.get("/api/v1/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 404, msg: "not found" });
  });
});

