import { Hono } from "hono";
import type { AppDeps } from "../app.ts";
import { requireToken } from "../auth.ts";

export function metricsRoutes(deps: AppDeps) {
  const app = new Hono();
  if (!deps.config.metrics_public) app.use(requireToken(deps.tokens.read));
  return app.get("/", (c) => c.text(deps.metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }));
}
