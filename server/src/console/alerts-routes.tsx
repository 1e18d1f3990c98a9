/**
 * The console's alert pages: raised alerts (/alerts), the rules in force with their backtest
 * (/rules), and, for admins, rules added and removed as the admin API does it. Every view of
 * audit data and every change is written to the access log.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { parse as parseYaml, stringify } from "yaml";
import { backtest } from "../alerts/backtest.ts";
import { BUILTIN_RULES } from "../alerts/builtin-rules.ts";
import { type RuleConfig, ruleSchema } from "../alerts/rules.ts";
import type { AppDeps } from "../app.ts";
import { isRange, issueText, parseAlertSearch, rangeStartUs } from "./query.ts";
import { sameSecret, type Viewer } from "./session.ts";
import { visibleHosts } from "./visible.ts";
import { AlertsPage } from "./views/alerts.tsx";
import { Layout } from "./views/layout.tsx";
import { type BacktestForm, RulesPage, type RulesPageProps } from "./views/rules.tsx";

const PAGE = 100;
/** The API's bounds (routes/rules.ts): a backtest from the console costs no more than one through it. */
const BACKTEST = { maxRecords: 1_000_000, examples: 20, budgetMs: 30_000, batchMs: 5_000 };

export interface ConsoleKit {
  authed: MiddlewareHandler;
  log(c: Context, user: string, action: string, detail: string): Promise<void>;
}

type Form = Record<string, string | File>;
const field = (form: Form, k: string): string => {
  const v = form[k];
  return typeof v === "string" ? v : "";
};

/** A rule typed as YAML or JSON (JSON is YAML), checked by the config's own schema; the error names the key. */
export function parseRuleText(text: string): { rule: RuleConfig; error?: undefined } | { rule?: undefined; error: string } {
  if (!text.trim()) return { error: "rule: type a rule (YAML or JSON)" };
  let value: unknown;
  try {
    value = parseYaml(text, { maxAliasCount: 10 });
  } catch (e) {
    return { error: `rule: neither YAML nor JSON: ${(e as Error).message.split("\n")[0]!.slice(0, 200)}` };
  }
  const parsed = ruleSchema.safeParse(value);
  return parsed.success ? { rule: parsed.data } : { error: issueText(parsed.error.issues) };
}

export function alertPages(app: Hono, d: AppDeps, kit: ConsoleKit): void {
  // Read when a request comes: the routes are also listed without deps (the OpenAPI test).
  const rules = () => d.alerts.rules;
  const viewerOf = (c: Context): Viewer => c.get("viewer");
  const builtinIds = BUILTIN_RULES.map((b) => b.id);
  /** Users with a backtest running: one at a time each, a worker and up to 30 s of reads apiece. */
  const running = new Set<string>();

  const rulesPage = async (c: Context, props: Omit<RulesPageProps, "viewer" | "rules" | "builtinIds">, status: 200 | 400 | 404 | 409 | 429 = 200) =>
    c.html(<RulesPage viewer={viewerOf(c)} rules={await rules().list()} builtinIds={builtinIds} {...props} />, status);

  /** A posted form: its fields when its CSRF token is this session's. */
  const postedForm = async (c: Context): Promise<Form | undefined> => {
    const form = await c.req.parseBody();
    return sameSecret(viewerOf(c).csrf, field(form, "_csrf")) ? form : undefined;
  };
  const badToken = (c: Context) => c.text("the form's CSRF token is wrong", 403);

  /** Admins only; a reader's attempt is refused, and logged. */
  const adminOnly: MiddlewareHandler = async (c, next) => {
    const v = viewerOf(c);
    if (v.user.role === "admin") return next();
    await kit.log(c, v.user.name, "forbidden", `${c.req.method} ${new URL(c.req.url).pathname}`);
    return c.html(<Layout title="Rules" viewer={v}><p class="error">Admins only.</p></Layout>, 403);
  };

  app.get("/alerts", kit.authed, async (c) => {
    const v = viewerOf(c);
    const { form, filter, before, error } = parseAlertSearch(new URL(c.req.url).searchParams, Date.now() * 1000);
    const ruleIds = (await rules().list()).map((e) => e.rule.id);
    if (error || !filter) return c.html(<AlertsPage viewer={v} form={form} rows={[]} before={undefined} ruleIds={ruleIds} error={error ?? "bad query"} />, 400);
    const hostIn = await visibleHosts(v.user, d.config, d.store);
    await kit.log(c, v.user.name, "alerts", [form.queryString || "(everything)", before === undefined ? "" : `before ${before}`].join(" ").trim());
    const rows = await d.store.alerts({ ...filter, hostIn }, PAGE + 1, before);
    const page = rows.slice(0, PAGE);
    return c.html(<AlertsPage viewer={v} form={form} rows={page} before={rows.length > PAGE ? page.at(-1)!.id : undefined} ruleIds={ruleIds} />);
  });

  app.get("/rules", kit.authed, async (c) => {
    const v = viewerOf(c);
    const editId = v.user.role === "admin" ? c.req.query("edit") : undefined;
    const editing = editId === undefined ? undefined : (await rules().list()).find((e) => e.source === "api" && e.rule.id === editId)?.config;
    await kit.log(c, v.user.name, "rules", "");
    return rulesPage(c, editing ? { edit: { text: stringify(editing) } } : {});
  });

  app.post("/rules", kit.authed, adminOnly, async (c) => {
    const form = await postedForm(c);
    if (!form) return badToken(c);
    const user = viewerOf(c).user.name;
    const text = field(form, "rule");
    const refuse = async (error: string, status: 400 | 409) => {
      await kit.log(c, user, "rule-put-refused", error);
      return rulesPage(c, { edit: { text, error } }, status);
    };
    const { rule, error } = parseRuleText(text);
    if (!rule) return refuse(error, 400);
    if (rules().ownedByConfig(rule.id)) return refuse(`id: ${rule.id} is a built-in or config rule: change it in the config`, 409);
    await d.store.putStoredRule({ id: rule.id, body: JSON.stringify(rule), updatedUs: Date.now() * 1000 });
    await rules().refresh();
    d.logger.log("info", "alert rule stored", { rule: rule.id, enabled: rule.enabled });
    await kit.log(c, user, "rule-put", JSON.stringify(rule));
    return c.redirect(`/rules#rule-${rule.id}`, 303);
  });

  app.post("/rules/delete", kit.authed, adminOnly, async (c) => {
    const form = await postedForm(c);
    if (!form) return badToken(c);
    const user = viewerOf(c).user.name;
    const id = field(form, "id").slice(0, 64);
    const refuse = async (error: string, status: 404 | 409) => {
      await kit.log(c, user, "rule-delete-refused", error);
      return rulesPage(c, { edit: { text: "", error } }, status);
    };
    if (rules().ownedByConfig(id)) return refuse(`id: ${id} is a built-in or config rule: change it in the config`, 409);
    if (!(await d.store.removeStoredRule(id))) return refuse(`id: no rule ${id} was added here or through the API`, 404);
    await rules().refresh();
    d.logger.log("info", "alert rule removed", { rule: id });
    await kit.log(c, user, "rule-delete", id);
    return c.redirect("/rules", 303);
  });

  app.post("/rules/backtest", kit.authed, async (c) => {
    const form = await postedForm(c);
    if (!form) return badToken(c);
    const v = viewerOf(c);
    const range = field(form, "range");
    const bf: BacktestForm = { rule: field(form, "rule"), existing: field(form, "existing"), host: field(form, "host").trim(), range: isRange(range) ? range : "all" };
    const refuse = (error: string, status: 400 | 429 = 400) => rulesPage(c, { backtest: { form: bf, error } }, status);
    let target: RuleConfig | string;
    if (bf.rule.trim()) {
      const { rule, error } = parseRuleText(bf.rule);
      if (!rule) return refuse(error);
      target = rule;
    } else if (builtinIds.includes(bf.existing)) {
      target = bf.existing;
    } else {
      const entry = (await rules().list()).find((e) => e.config && e.rule.id === bf.existing);
      if (!entry?.config) return refuse(bf.existing ? `existing: no rule ${bf.existing}` : "rule: type a rule or choose one");
      target = entry.config;
    }
    if (bf.host.length > 255) return refuse("host: at most 255 characters");
    if (running.has(v.user.name)) return refuse("a backtest of yours is still running: wait for it", 429);
    const hostIn = await visibleHosts(v.user, d.config, d.store);
    await kit.log(c, v.user.name, "backtest", `${typeof target === "string" ? target : JSON.stringify(target)} host=${bf.host} range=${bf.range}`);
    running.add(v.user.name);
    try {
      const result = await backtest(d.store, target, { host: bf.host || undefined, fromUs: rangeStartUs(bf.range, Date.now() * 1000), hostIn }, BACKTEST);
      return rulesPage(c, { backtest: { form: bf, result } });
    } finally {
      running.delete(v.user.name);
    }
  });
}
