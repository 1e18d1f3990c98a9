import { createRoute } from "@hono/zod-openapi";
import type { AppDeps } from "../app.ts";
import { errors, newRouter, tokenRequired } from "../openapi.ts";

export function metricsRoutes(deps: AppDeps) {
  const open = deps.config.metrics_public;
  const route = createRoute({
    method: "get", path: "/", operationId: "metrics", tags: ["operations"],
    summary: open ? "Prometheus metrics (public: metrics_public is on)" : "Prometheus metrics (read token)",
    ...(open ? { security: [], middleware: [] } : tokenRequired(deps.tokens.read)),
    responses: {
      200: { description: "The Prometheus text format.", content: { "text/plain": { schema: { type: "string" } } } },
      ...(open ? {} : { 401: errors[401] }),
    },
  });
  return newRouter().openapi(route, (c) => c.text(deps.metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }));
}
