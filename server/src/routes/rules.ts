import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { backtestAnswerSchema, ruleSummarySchema, rulesAnswerSchema, time } from "../../../protocol/http.ts";
import { errorSchema } from "../../../protocol/index.ts";
import { backtest } from "../alerts/backtest.ts";
import { BUILTIN_RULES } from "../alerts/builtin-rules.ts";
import { ruleSchema } from "../alerts/rules.ts";
import type { RuleEntry } from "../alerts/rulebook.ts";
import type { AppDeps } from "../app.ts";
import { HTTPException } from "hono/http-exception";
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

const idParam = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { error: "an id holds a-z 0-9 . _ - (1-64 characters, lower case)" }) });

const put = (deps: AppDeps) => createRoute({
  method: "put", path: "/{id}", operationId: "putRule", tags: ["alerts"],
  summary: "Add or replace a rule (admin token): in force on every server of this database within 10 s, on this one at once",
  description: "The body is a rule as in the config's alerts.rules; its id must be the path's. The ids of built-in and config rules are the config's: 409.",
  ...tokenRequired(deps.tokens.admin),
  request: { params: idParam, body: { required: true, content: { "application/json": { schema: ruleSchema } } } },
  responses: { 200: json(ruleSummarySchema, "The rule as stored."), 400: errors[400], 401: errors[401], 409: json(errorSchema, "The id is a built-in or config rule's.") },
});

const remove = (deps: AppDeps) => createRoute({
  method: "delete", path: "/{id}", operationId: "deleteRule", tags: ["alerts"],
  summary: "Remove a rule added through the API (admin token)",
  ...tokenRequired(deps.tokens.admin),
  request: { params: idParam },
  responses: { 200: json(z.object({ removed: z.string() }), "Removed."), 401: errors[401], 404: json(errorSchema, "No rule of that id was added through the API."), 409: json(errorSchema, "The id is a built-in or config rule's.") },
});

export function ruleSummary(e: RuleEntry) {
  return {
    id: e.rule.id, severity: e.rule.severity, description: e.rule.description, builtin: e.source === "builtin", source: e.source,
    enabled: e.config?.enabled ?? true, definition: e.config ? { ...e.config } : null,
  };
}

/** GET: the rules. PUT/DELETE /{id}: rules of the API's own (admin token). POST /test: a rule over stored history. */
export function rulesRoutes(deps: AppDeps, limits = { budgetMs: 30_000, batchMs: 5_000 }) {
  const book = deps.alerts.rules;
  return newRouter()
    .openapi(list(deps), async (c) => c.json({ rules: (await book.list()).map(ruleSummary) }, 200))
    .openapi(put(deps), async (c) => {
      const { id } = c.req.valid("param");
      const rule = c.req.valid("json");
      if (rule.id !== id) throw new HTTPException(400, { message: `id: the body's id (${rule.id}) is not the path's (${id})` });
      if (book.ownedByConfig(id)) return c.json({ code: 409, msg: `${id} is a built-in or config rule: change it in the config` }, 409);
      await deps.store.putStoredRule({ id, body: JSON.stringify(rule), updatedUs: Date.now() * 1000 });
      await book.refresh();
      deps.logger.log("info", "alert rule stored", { rule: id, enabled: rule.enabled });
      return c.json(ruleSummary((await book.list()).find((e) => e.rule.id === id)!), 200);
    })
    .openapi(remove(deps), async (c) => {
      const { id } = c.req.valid("param");
      if (book.ownedByConfig(id)) return c.json({ code: 409, msg: `${id} is a built-in or config rule: change it in the config` }, 409);
      if (!(await deps.store.removeStoredRule(id))) return c.json({ code: 404, msg: `no rule ${id} was added through the API` }, 404);
      await book.refresh();
      deps.logger.log("info", "alert rule removed", { rule: id });
      return c.json({ removed: id }, 200);
    })
    .openapi(test(deps), async (c) => {
      const b = c.req.valid("json");
      const res = await backtest(deps.store, b.rule ?? b.builtin!, { host: b.host, fromUs: b.from, toUs: b.to }, {
        maxRecords: b.maxRecords, examples: b.examples, ...limits,
      });
      return c.json({ ...res, examples: res.examples.map(presentRecord) }, 200);
    });
}
