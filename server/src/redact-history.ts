/**
 * `cmdaudit-server redact-history`: the server's redactor applied to rows stored before it (or before
 * one of its rules) existed. Walks servercmdhist by id in batches and rewrites only the rows whose
 * command holds a secret: command, command_raw and redactions, nothing else (the key stays, so a
 * record resent through a server with these rules is a duplicate, not a conflict).
 *
 * Resumable and safe to run twice at once: the progress (cmdaudit_redact_progress) is one row, and a
 * batch's rewrites are committed in the transaction that moves it, only if it is still what the
 * job read (Store.advanceRedactProgress). A killed job loses at most the batch it was in; a second
 * job with the same rules takes the batches the first has not, and one with other rules starts the
 * pass over (the first then stops).
 */
import { createHash } from "node:crypto";
import { keepCommand } from "../../protocol/record.ts";
import type { Redactor } from "../../protocol/redact/index.ts";
import { type Config, ConfigError } from "./config.ts";
import type { RedactProgress, Store, StoredCommand } from "./db/store.ts";
import { jsonLogger } from "./log.ts";
import { serverRedactor } from "./redaction.ts";

export const REDACT_HISTORY_USAGE = "       cmdaudit-server redact-history [--config FILE] [--batch N] [--dry-run]   apply the redaction rules to stored commands";
export const DEFAULT_BATCH = 500;
export const MAX_BATCH = 10_000;

/**
 * What the redactor does, as a hash: its rules (what each matches, not their descriptions) and the
 * exceptions. Not the fingerprint key: another key changes no rule's matches.
 */
export function rulesFingerprint(redactor: Redactor, exceptions: readonly string[]): string {
  const rules = redactor.rules.map((r) => [r.id, r.pattern.source, r.pattern.flags, [...r.keywords], r.minEntropy ?? 0, r.allowPlaceholders ?? true]);
  return createHash("sha256").update(JSON.stringify({ rules, exceptions })).digest("hex");
}

/**
 * A stored command with the redactor's secrets replaced, as ingest keeps a command (protocol/record.ts
 * keepCommand): the redactions the row lists carried to where their markers moved. Undefined when
 * nothing is replaced.
 */
export function redactStored(redactor: Redactor, row: StoredCommand): StoredCommand | undefined {
  if (row.command === "" && row.commandRaw === null) return undefined;
  const kept = keepCommand(row.command, row.commandRaw, row.redactions, redactor);
  // A row lists only markers it holds (ingest checked them), so this is never a reason.
  if (typeof kept === "string") throw new Error(`stored row ${row.id}: ${kept}`);
  if (kept.redactions.length === row.redactions.length) return undefined;
  return { id: row.id, oci: row.oci, ...kept };
}

export interface RedactHistoryOptions {
  /** rulesFingerprint of the redactor. */
  rules: string;
  batch: number;
  dryRun: boolean;
  /** A progress line (no newline). */
  report: (line: string) => void;
  /** At most one progress line this often (the last one is always written). */
  reportEveryMs?: number;
  nowUs?: () => number;
}

export interface RedactHistorySummary {
  /** Rows this run read, and rewrote (would rewrite, with dryRun). */
  seen: number;
  changed: number;
  /** The pass as the progress holds it at the end (undefined with dryRun). */
  progress?: RedactProgress;
  /** Where this run started: rows with id <= fromId were done before it. */
  fromId: number;
  throughId: number;
  ms: number;
}

const short = (rules: string) => rules.slice(0, 12);

/** Strictly increasing, so a progress never comes back to a value another job read. */
const stamp = (p: RedactProgress | undefined, nowUs: () => number) => Math.max(nowUs(), (p?.updatedUs ?? 0) + 1);

/**
 * The pass this run works on: the one under way with these rules, a finished one extended to the
 * rows stored since (by servers that may have run other rules), or a new one from id 0.
 */
async function startPass(store: Store, opts: RedactHistoryOptions, nowUs: () => number): Promise<{ progress: RedactProgress; extended: boolean }> {
  let p = await store.redactProgress();
  for (;;) {
    if (p?.rules === opts.rules && p.finishedUs === 0) return { progress: p, extended: false };
    const last = await store.lastRecordId();
    if (p?.rules === opts.rules && last <= p.endId) return { progress: p, extended: false };
    const extending = p?.rules === opts.rules;
    let next: RedactProgress;
    if (extending) {
      next = { ...p!, endId: last, finishedUs: 0, updatedUs: stamp(p, nowUs) };
    } else {
      if (p) opts.report(`redact-history: the rules changed since the last pass (${short(p.rules)}, at id ${p.lastId} of ${p.endId}): starting over with ${short(opts.rules)}`);
      const now = stamp(p, nowUs);
      next = { rules: opts.rules, lastId: 0, endId: last, seen: 0, changed: 0, startedUs: now, updatedUs: now, finishedUs: 0 };
    }
    if (await store.advanceRedactProgress(p, next, [])) return { progress: next, extended: extending };
    p = await store.redactProgress();
  }
}

/** Walk the history; rewrites committed batch by batch with the progress (nothing written with dryRun). */
export async function redactHistory(store: Store, redactor: Redactor, opts: RedactHistoryOptions): Promise<RedactHistorySummary> {
  const nowUs = opts.nowUs ?? (() => Date.now() * 1000);
  const t0 = performance.now();
  let lastReport = t0;
  const run = { seen: 0, changed: 0 };
  const rate = () => Math.round(run.seen / Math.max((performance.now() - t0) / 1000, 0.001));
  const report = (done: number, total: number, changed: number, id: number, end: number, force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < (opts.reportEveryMs ?? 1000)) return;
    lastReport = now;
    const pct = total > 0 ? ((100 * Math.min(done, total)) / total).toFixed(1) : "100.0";
    opts.report(`redact-history: ${done}/${total} rows (${pct}%), ${changed} ${opts.dryRun ? "would change" : "changed"}, ${rate()} rows/s, id ${id} of ${end}`);
  };

  if (opts.dryRun) {
    const p = await store.redactProgress();
    const same = p?.rules === opts.rules;
    const fromId = same ? p.lastId : 0;
    const throughId = same && p.finishedUs === 0 ? p.endId : await store.lastRecordId();
    const total = await store.countRecords(fromId, throughId);
    for (let id = fromId; ;) {
      const rows = await store.commandsAfter(id, throughId, opts.batch);
      for (const row of rows) if (redactStored(redactor, row)) run.changed++;
      run.seen += rows.length;
      if (rows.length) id = rows.at(-1)!.id;
      report(run.seen, total, run.changed, id, throughId, rows.length < opts.batch);
      if (rows.length < opts.batch) break;
    }
    return { ...run, fromId, throughId, ms: performance.now() - t0 };
  }

  const started = await startPass(store, opts, nowUs);
  const extended = started.extended;
  let p = started.progress;
  const fromId = p.lastId;
  if (extended) opts.report(`redact-history: every row up to id ${fromId} was done with these rules: going on to id ${p.endId} (rows stored since)`);
  else if (fromId > 0 && p.finishedUs === 0) opts.report(`redact-history: resuming at id ${fromId} of ${p.endId} (${p.seen} rows read, ${p.changed} changed so far)`);
  let total = p.seen + await store.countRecords(p.lastId, p.endId);
  let shared = false;
  while (p.finishedUs === 0) {
    const rows = await store.commandsAfter(p.lastId, p.endId, opts.batch);
    const rewrites: StoredCommand[] = [];
    for (const row of rows) {
      let r: StoredCommand | undefined;
      try {
        r = redactStored(redactor, row);
      } catch (e) {
        throw new Error(`row ${row.id}: ${(e as Error).message}`);
      }
      if (r) rewrites.push(r);
    }
    const end = rows.length < opts.batch;
    const now = stamp(p, nowUs);
    const next: RedactProgress = {
      ...p, lastId: end ? p.endId : rows.at(-1)!.id, seen: p.seen + rows.length, changed: p.changed + rewrites.length, updatedUs: now, finishedUs: end ? now : 0,
    };
    if (await store.advanceRedactProgress(p, next, rewrites)) {
      p = next;
      run.seen += rows.length;
      run.changed += rewrites.length;
      report(p.seen, total, p.changed, p.lastId, p.endId, end);
      continue;
    }
    // Another job moved the progress first: go on from where it is, if it applies these rules.
    const now2 = await store.redactProgress();
    if (!now2 || now2.rules !== opts.rules) {
      throw new Error(`another redact-history run started a pass with other rules (${now2 ? short(now2.rules) : "none"}); this run (${short(opts.rules)}) stops`);
    }
    if (!shared) opts.report(`redact-history: another run is applying the same rules: sharing the work from id ${now2.lastId}`);
    shared = true;
    if (now2.endId !== p.endId) total = now2.seen + await store.countRecords(now2.lastId, now2.endId);
    p = now2;
  }
  return { ...run, progress: p, fromId, throughId: p.endId, ms: performance.now() - t0 };
}

/** `redact-history`: the exit status (0 done, 1 failed, 2 redaction off or a bad redaction config). */
export async function redactHistoryCommand(
  config: Config, args: { batch: number; dryRun: boolean }, openStore: () => Promise<Store>,
  io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
): Promise<number> {
  let redactor: Redactor | undefined;
  try {
    redactor = serverRedactor(config, jsonLogger(config.log_level, io.err));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.err(`cmdaudit-server redact-history: ${e.message}\n`);
    return 2;
  }
  if (!redactor) {
    io.err("cmdaudit-server redact-history: redaction is off (redact.enabled: false): there are no rules to apply\n");
    return 2;
  }
  const rules = rulesFingerprint(redactor, config.redact.exceptions);
  const store = await openStore();
  try {
    const s = await redactHistory(store, redactor, { rules, batch: args.batch, dryRun: args.dryRun, report: (l) => io.err(`${l}\n`) });
    const secs = (s.ms / 1000).toFixed(1);
    if (args.dryRun) {
      io.out(`redact-history: dry run: ${s.changed} of ${s.seen} rows would change (ids ${s.fromId + 1}-${s.throughId}, rules ${short(rules)}, ${secs} s); nothing written\n`);
    } else {
      const p = s.progress!;
      io.out(`redact-history: done: ${p.seen} rows up to id ${p.endId} redacted with rules ${short(rules)}, ${p.changed} changed; this run: ${s.seen} rows read, ${s.changed} changed, ${secs} s\n`);
    }
    return 0;
  } catch (e) {
    io.err(`cmdaudit-server redact-history: ${(e as Error).message.split("\n")[0]}\n`);
    return 1;
  } finally {
    await store.close();
  }
}
