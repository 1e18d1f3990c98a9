/**
 * Run one rule over stored history, newest first, before it is turned on: matches per day and a
 * few examples. Bounded by a record count and a time budget; the matching runs in a worker that is
 * stopped when one batch takes too long (a regex too slow for the text it meets).
 */
import type { CommandFilter, Cursor, Store, StoredRecord } from "../db/store.ts";
import type { RuleConfig } from "./rules.ts";

export interface BacktestResult {
  scanned: number;
  matched: number;
  /** Every record in the range was looked at. */
  complete: boolean;
  /** Why not, when not. */
  stopped: string | null;
  /** UTC days, newest first: how many records matched that day. */
  days: { day: string; matches: number }[];
  examples: StoredRecord[];
}

const PAGE = 1000;
/**
 * The worker's module. The compiled server (server/build.ts, which defines the version) carries it
 * as an entry point of its own, at its path under server/src: there, relative to the binary's root.
 */
const WORKER = process.env.CMDAUDIT_SERVER_VERSION !== undefined ? "./alerts/backtest-worker.ts" : new URL("./backtest-worker.ts", import.meta.url).href;

export async function backtest(store: Store, rule: RuleConfig | string, filter: CommandFilter, opts: { maxRecords: number; budgetMs: number; batchMs: number; examples: number }): Promise<BacktestResult> {
  const worker = new Worker(WORKER);
  const res: BacktestResult = { scanned: 0, matched: 0, complete: false, stopped: null, days: [], examples: [] };
  const days = new Map<string, number>();
  const deadline = performance.now() + opts.budgetMs;
  try {
    worker.postMessage({ rule });
    let after: Cursor | undefined;
    for (;;) {
      const want = Math.min(PAGE, opts.maxRecords - res.scanned);
      if (want <= 0) {
        if ((await store.query(filter, 1, after)).length === 0) res.complete = true;
        else res.stopped = `stopped after ${opts.maxRecords} records (maxRecords)`;
        break;
      }
      if (performance.now() > deadline) { res.stopped = `stopped after ${opts.budgetMs} ms (the time budget)`; break; }
      const rows = await store.query(filter, want, after);
      if (rows.length === 0) { res.complete = true; break; }
      const batch = rows.map((r) => ({ command: r.command, kind: r.kind, flags: r.flags, hostname: r.hostname, luser: r.luser, suser: r.suser }));
      const matched = await new Promise<number[] | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), opts.batchMs);
        worker.onmessage = (e: MessageEvent<{ matched: number[] }>) => { clearTimeout(timer); resolve(e.data.matched); };
        worker.postMessage({ batch });
      });
      if (!matched) { res.stopped = `stopped: ${rows.length} records took the rule more than ${opts.batchMs} ms (a regex too slow for them)`; break; }
      res.scanned += rows.length;
      for (const i of matched) {
        const r = rows[i]!;
        res.matched++;
        const day = r.tsUs > 0 ? new Date(Math.floor(r.tsUs / 1000)).toISOString().slice(0, 10) : "unknown";
        days.set(day, (days.get(day) ?? 0) + 1);
        if (res.examples.length < opts.examples) res.examples.push(r);
      }
      const last = rows.at(-1)!;
      if (rows.length < want) { res.complete = true; break; }
      after = { tsUs: last.tsUs, id: last.id };
    }
  } finally {
    worker.terminate();
  }
  res.days = [...days].map(([day, matches]) => ({ day, matches }));
  return res;
}
