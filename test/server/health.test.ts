/**
 * /healthz and /readyz.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import type { Store } from "../../server/src/db/store.ts";
import { RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

describe("/healthz and /readyz", () => {
  test("/healthz and /readyz need no token; readyz is 503 when the store does not answer", async () => {
    const t = await suite.newApp();
    const h = await t.app.request("/healthz");
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: "ok" });
    const r = await t.app.request("/readyz");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ready" });

    const failing = await suite.newApp({}, (s) => Object.assign(Object.create(s) as Store, { ping: () => Promise.reject(new Error("ECONNREFUSED")) }));
    const f = await failing.app.request("/readyz");
    expect(f.status).toBe(503);
    expect(await f.json()).toEqual({ status: "unavailable" });
    expect((await failing.app.request("/healthz")).status).toBe(200);

    const hanging = await suite.newApp({}, (s) => Object.assign(Object.create(s) as Store, { ping: () => new Promise<void>(() => {}) }));
    const started = Date.now();
    const hres = await hanging.app.request("/readyz");
    expect(hres.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
