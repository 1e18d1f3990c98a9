import { createRoute } from "@hono/zod-openapi";
import { type Alert, alertsPageSchema, alertsQuerySchema, formatCommandTime } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import type { StoredAlert } from "../db/store.ts";
import { errors, json, newRouter, tokenRequired } from "../openapi.ts";

export function presentAlert(a: StoredAlert): Alert {
  return {
    id: a.id, rule: a.ruleId, severity: a.severity, hostname: a.hostname, luser: a.luser, suser: a.suser, sessionId: a.sessionId, seq: a.seq,
    command: a.command, recordTime: formatCommandTime(a.recordTsUs, null), raised: formatCommandTime(a.raisedUs, null),
  };
}

const list = (deps: AppDeps) => createRoute({
  method: "get", path: "/", operationId: "listAlerts", tags: ["query"],
  summary: "Raised alerts, newest first (read token)",
  ...tokenRequired(deps.tokens.read),
  request: { query: alertsQuerySchema },
  responses: { 200: json(alertsPageSchema, "A page of alerts."), 400: errors[400], 401: errors[401] },
});

export function alertsRoutes(deps: AppDeps) {
  return newRouter().openapi(list(deps), async (c) => {
    const q = c.req.valid("query");
    const limit = Math.min(q.limit ?? 100, deps.config.limits.max_page_size);
    const rows = await deps.store.alerts({ host: q.host, ruleId: q.rule, severity: q.severity, fromUs: q.from, toUs: q.to }, limit + 1, q.cursor === undefined ? undefined : Number(q.cursor));
    const page = rows.slice(0, limit);
    return c.json({ items: page.map(presentAlert), nextCursor: rows.length > limit ? String(page.at(-1)!.id) : null }, 200);
  });
}
