import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { backtestAnswerSchema, rulesAnswerSchema, time } from "../../../protocol/http.ts";
import { backtest } from "../alerts/backtest.ts";
import { BUILTIN_RULES } from "../alerts/builtin-rules.ts";
import { activeRules, ruleSchema } from "../alerts/rules.ts";
import type { AppDeps } from "../app.ts";
import { errors, json, newRouter, tokenRequired } from "../openapi.ts";
import { presentRecord } from "../present.ts";

const backtestBodySchema = z.strictObject({
  rule: ruleSchema.optional().meta({ description: "A rule as in the config's alerts.rules (its `enabled` is ignored)." }),
  builtin: z.string().max(64).optional().meta({ description: "Or a built-in rule, by id." }),
  host: z.string().max(255).optional(),
  from: time().optional().meta({ description: "Inclusive lower bound, ISO 8601 with a UTC offset." }),
  to: time().optional().meta({ description: "Exclusive upper bound, ISO 8601 with a UTC offset." }),
  maxRecords: z.number().int().min(1).max(10_000_000).default(1_000_000).meta({ description: "The most records looked at, newest first." }),
  examples: z.number().int().min(0).max(100).default(20),
}).refine((b) => (b.rule === undefined) !== (b.builtin === undefined), { error: "give rule or builtin, one of them" })
  .refine((b) => b.builtin === undefined || BUILTIN_RULES.some((r) => r.id === b.builtin), { path: ["builtin"], error: "not the id of a built-in rule" })
  .meta({ id: "BacktestRequest" });

const list = (deps: AppDeps) => createRoute({
  method: "get", path: "/", operationId: "listRules", tags: ["query"],
  summary: "The alert rules in force (read token)",
  ...tokenRequired(deps.tokens.read),
  responses: { 200: json(rulesAnswerSchema, "The rules."), 401: errors[401] },
});

const test = (deps: AppDeps) => createRoute({
  method: "post", path: "/test", operationId: "backtestRule", tags: ["query"],
  summary: "Run a rule over stored history before turning it on: matches per day and examples (read token)",
  description: "Newest first, at most maxRecords records and 30 s; a rule whose regex takes longer than 5 s on 1,000 records is stopped (`stopped` says so).",
  ...tokenRequired(deps.tokens.read),
  request: { body: { required: true, content: { "application/json": { schema: backtestBodySchema } } } },
  responses: { 200: json(backtestAnswerSchema, "What the rule matched."), 400: errors[400], 401: errors[401] },
});

/** GET: the rules in force. POST /test: a rule over stored history. */
export function rulesRoutes(deps: AppDeps, limits = { budgetMs: 30_000, batchMs: 5_000 }) {
  return newRouter()
    .openapi(list(deps), (c) => {
      const rules = activeRules(deps.config.alerts).map((r) => ({ id: r.id, severity: r.severity, description: r.description, builtin: r.builtin }));
      return c.json({ rules }, 200);
    })
    .openapi(test(deps), async (c) => {
      const b = c.req.valid("json");
      const res = await backtest(deps.store, b.rule ?? b.builtin!, { host: b.host, fromUs: b.from, toUs: b.to }, {
        maxRecords: b.maxRecords, examples: b.examples, ...limits,
      });
      return c.json({ ...res, examples: res.examples.map(presentRecord) }, 200);
    });
}
