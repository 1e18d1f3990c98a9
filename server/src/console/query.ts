import { commandsQuerySchema } from "../../../protocol/index.ts";
import type { CommandFilter } from "../db/store.ts";
import { commandFilter } from "../present.ts";

/** The search form's fields: the query API's filters, by the same names. */
const FIELDS = ["q", "host", "luser", "suser", "clientIp", "session", "kind", "exitStatus", "flagged", "from", "to"] as const;
type Field = (typeof FIELDS)[number];
const RANGE_US = { "1h": 3600e6, "24h": 86400e6, "7d": 7 * 86400e6, "30d": 30 * 86400e6, all: 0 } as const;
export type Range = keyof typeof RANGE_US;

export interface SearchForm {
  /** What the viewer typed, to show it back. */
  values: Partial<Record<Field, string>>;
  range: Range;
  /** The whole query without the cursor: the page's URL, its export's and its next page's. */
  queryString: string;
  cursor: string | undefined;
}

/**
 * The URL's query as a filter, checked by the query API's own schema: an empty field is no filter, a
 * wrong one an error naming it. A range preset applies when no explicit `from` is given.
 */
export function parseSearch(params: URLSearchParams, nowUs: number): { form: SearchForm; filter?: CommandFilter; error?: string } {
  const values: Partial<Record<Field, string>> = {};
  const keep = new URLSearchParams();
  for (const k of FIELDS) {
    const v = params.get(k);
    if (v !== null && v !== "") {
      values[k] = v;
      keep.set(k, v);
    }
  }
  const rawRange = params.get("range") ?? "all";
  const range: Range = rawRange in RANGE_US ? (rawRange as Range) : "all";
  if (range !== "all") keep.set("range", range);
  const cursor = params.get("cursor") || undefined;
  const form: SearchForm = { values, range, queryString: keep.toString(), cursor };
  const unknown = [...params.keys()].find((k) => !(FIELDS as readonly string[]).includes(k) && k !== "range" && k !== "cursor" && k !== "format");
  if (unknown) return { form, error: `unknown parameter: ${unknown.slice(0, 40)}` };
  if (!(rawRange in RANGE_US)) return { form, error: `range: one of ${Object.keys(RANGE_US).join(", ")}` };
  const parsed = commandsQuerySchema.safeParse(values);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    return { form, error: `${i.path.join(".")}: ${i.message}` };
  }
  const filter = commandFilter(parsed.data);
  filter.fromUs ??= RANGE_US[range] ? nowUs - RANGE_US[range] : undefined;
  return { form, filter };
}
