import { Hono } from "hono";
import type { AppDeps } from "../app.ts";

/** Unauthenticated: process liveness and database readiness, nothing else. */
export function healthRoutes(deps: AppDeps) {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) => {
      try {
        await Promise.race([deps.store.ping(), Bun.sleep(2000).then(() => Promise.reject(new Error("timeout")))]);
        return c.json({ status: "ready" });
      } catch {
        return c.json({ status: "unavailable" }, 503);
      }
    });
}
