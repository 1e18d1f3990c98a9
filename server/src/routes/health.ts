import { createRoute } from "@hono/zod-openapi";
import { livenessSchema, readinessSchema } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import { json, newRouter } from "../openapi.ts";

const liveness = createRoute({
  method: "get", path: "/healthz", operationId: "liveness", tags: ["health"],
  summary: "The process answers", security: [],
  responses: { 200: json(livenessSchema, "Alive.") },
});

const readiness = createRoute({
  method: "get", path: "/readyz", operationId: "readiness", tags: ["health"],
  summary: "The database answers within 2 s", security: [],
  responses: {
    200: json(readinessSchema, "Ready to take and serve records."),
    503: json(readinessSchema, "The database does not answer."),
  },
});

/** Unauthenticated: process liveness and database readiness, nothing else. */
export function healthRoutes(deps: AppDeps) {
  return newRouter()
    .openapi(liveness, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readiness, async (c) => {
      try {
        await Promise.race([deps.store.ping(), Bun.sleep(2000).then(() => Promise.reject(new Error("timeout")))]);
        return c.json({ status: "ready" as const }, 200);
      } catch {
        return c.json({ status: "unavailable" as const }, 503);
      }
    });
}
