import { alertsQuerySchema, commandsQuerySchema } from "../../../protocol/index.ts";
import type { AlertFilter, CommandFilter } from "../db/store.ts";
import { commandFilter } from "../present.ts";

/** The search form's fields: the query API's filters, by the same names. */
const FIELDS = ["q", "host", "luser", "suser", "clientIp", "session", "kind", "exitStatus", "flagged", "from", "to"] as const;
type Field = (typeof FIELDS)[number];
/** The alerts page's fields: the alerts API's filters, by the same names. */
const ALERT_FIELDS = ["host", "rule", "severity", "from", "to"] as const;
type AlertField = (typeof ALERT_FIELDS)[number];
const RANGE_US = { "1h": 3600e6, "24h": 86400e6, "7d": 7 * 86400e6, "30d": 30 * 86400e6, all: 0 } as const;
export type Range = keyof typeof RANGE_US;
export const RANGES = [["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["all", "all time"]] as const;

export const isRange = (s: string): s is Range => Object.hasOwn(RANGE_US, s);
/** The lower bound a range preset puts on a time; undefined for all time. */
export const rangeStartUs = (range: Range, nowUs: number): number | undefined => (RANGE_US[range] ? nowUs - RANGE_US[range] : undefined);

export interface SearchForm<F extends string = Field> {
  /** What the viewer typed, to show it back. */
  values: Partial<Record<F, string>>;
  range: Range;
  /** The whole query without the cursor: the page's URL, its export's and its next page's. */
  queryString: string;
  cursor: string | undefined;
}
export type AlertSearchForm = SearchForm<AlertField>;

/** A zod error as one line naming the field (or the whole value, when the issue has no path). */
export function issueText(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.slice(0, 5).map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message)).join("; ");
}

/** The non-empty fields, the range preset, and the error of a parameter that is not the form's. */
function readForm<F extends string>(params: URLSearchParams, fields: readonly F[], cursorName: string, also: readonly string[]): { form: SearchForm<F>; error?: string } {
  const values: Partial<Record<F, string>> = {};
  const keep = new URLSearchParams();
  for (const k of fields) {
    const v = params.get(k);
    if (v !== null && v !== "") {
      values[k] = v;
      keep.set(k, v);
    }
  }
  const rawRange = params.get("range") ?? "all";
  const range: Range = isRange(rawRange) ? rawRange : "all";
  if (range !== "all") keep.set("range", range);
  const cursor = params.get(cursorName) || undefined;
  const form: SearchForm<F> = { values, range, queryString: keep.toString(), cursor };
  const known = new Set<string>([...fields, "range", cursorName, ...also]);
  const unknown = [...params.keys()].find((k) => !known.has(k));
  if (unknown) return { form, error: `unknown parameter: ${unknown.slice(0, 40)}` };
  if (!isRange(rawRange)) return { form, error: `range: one of ${Object.keys(RANGE_US).join(", ")}` };
  return { form };
}

/**
 * The URL's query as a filter, checked by the query API's own schema: an empty field is no filter, a
 * wrong one an error naming it. A range preset applies when no explicit `from` is given.
 */
export function parseSearch(params: URLSearchParams, nowUs: number): { form: SearchForm; filter?: CommandFilter; error?: string } {
  const { form, error } = readForm(params, FIELDS, "cursor", ["format"]);
  if (error) return { form, error };
  const parsed = commandsQuerySchema.safeParse(form.values);
  if (!parsed.success) return { form, error: issueText(parsed.error.issues.slice(0, 1)) };
  const filter = commandFilter(parsed.data);
  filter.fromUs ??= rangeStartUs(form.range, nowUs);
  return { form, filter };
}

const alertFields = alertsQuerySchema.pick({ host: true, rule: true, severity: true, from: true, to: true });

/** The alerts page's query as a filter, as parseSearch does it; its cursor (`before`) is an alert id. */
export function parseAlertSearch(params: URLSearchParams, nowUs: number): { form: AlertSearchForm; filter?: AlertFilter; before?: number; error?: string } {
  const { form, error } = readForm(params, ALERT_FIELDS, "before", []);
  if (error) return { form, error };
  if (form.cursor !== undefined && !/^[1-9]\d{0,15}$/.test(form.cursor)) return { form, error: "before: an alert id (the page's own link)" };
  const parsed = alertFields.safeParse(form.values);
  if (!parsed.success) return { form, error: issueText(parsed.error.issues.slice(0, 1)) };
  const q = parsed.data;
  const filter: AlertFilter = { host: q.host, ruleId: q.rule, severity: q.severity, fromUs: q.from ?? rangeStartUs(form.range, nowUs), toUs: q.to };
  return { form, filter, before: form.cursor === undefined ? undefined : Number(form.cursor) };
}
