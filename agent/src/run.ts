/**
 * One cron run: lock, follow the files, rotate, keep the backlog under its cap,
 * report losses, then ship complete lines from each file's checkpoint. A
 * checkpoint moves only by what the server acknowledged as settled, and is
 * saved (fsync + rename) after every batch: a crash anywhere resends, and the
 * server's idempotent key stores the resent records once.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync, type Stats } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { encodeRecord, formatCommandTime, formatUtcOffset, parseUtcOffset } from "../../protocol/index.ts";
import type { ReporterConfig } from "./config.ts";
import { rejectedRaw, writeDeadLetters } from "./deadletter.ts";
import { tryLockExclusive } from "./libc.ts";
import { BodyTooLarge, BudgetUsedUp, createShipper, ServerRefused, ServerUnreachable, type Shipper } from "./ship.ts";
import { loadState, saveState, type State, type TrackedFile } from "./state.ts";
import { enforceCap, isQuiet, reconcile, rememberHead, retireDrained, rotateIfDue, type Events } from "./tail.ts";

export const EXIT = { ok: 0, internal: 1, config: 2, unreachable: 3, refused: 4, locked: 5 } as const;

export type Config = ReporterConfig & { tokenValue: string };

/** Hold `<state_dir>/reporter.lock` (flock) for the life of the process; null when another run has it. */
export function acquireLock(stateDir: string): number | null {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const fd = openSync(join(stateDir, "reporter.lock"), "a", 0o600);
  if (tryLockExclusive(fd)) return fd;
  closeSync(fd);
  return null;
}

export function hostUtcOffset(cfg: ReporterConfig): string {
  return cfg.log.legacy_utc_offset ?? formatUtcOffset(-new Date().getTimezoneOffset());
}

export interface RunOptions {
  warn?: (msg: string) => void;
  now?: () => number;
}

export async function run(cfg: Config, opts: RunOptions = {}): Promise<number> {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`cmdaudit-reporter: ${m}\n`));
  const now = opts.now ?? Date.now;
  const started = now();
  const deadline = started + cfg.run.budget_seconds * 1000;
  const lock = acquireLock(cfg.state_dir);
  if (lock === null) {
    warn("another run holds the lock; nothing done");
    return EXIT.locked;
  }
  try {
    const state = loadState(cfg.state_dir);
    const save = () => saveState(cfg.state_dir, state);
    const localOffset = -new Date(started).getTimezoneOffset();
    const ev: Events = {
      warn,
      loss(text) {
        state.pendingLoss.push({ seq: state.nextLossSeq++, ctime: formatCommandTime(now() * 1000, localOffset), text });
        warn(text);
      },
    };
    state.lastRun = new Date(started).toISOString();
    reconcile(cfg, state, ev);
    save();
    if (rotateIfDue(cfg, state, now(), ev)) save();
    enforceCap(cfg, state, ev, save);
    save();

    const utcOffset = hostUtcOffset(cfg);
    const shipper = createShipper(cfg, utcOffset, deadline);
    try {
      try {
        await sendLosses(state, shipper, save);
        for (const f of [...state.files]) {
          await drain(cfg, state, f, shipper, { deadline, now, save, warn, legacyUtcOffset: parseUtcOffset(utcOffset)! });
        }
      } catch (e) {
        // The budget ran out (between two bodies or in the middle of a request) after the server
        // had answered in this run: the progress is saved and the next run goes on (exit 0).
        // A server that answered nothing in the whole budget is unreachable (exit 3).
        if (!(e instanceof BudgetUsedUp && shipper.answered())) throw e;
      }
      retireDrained(cfg, state, now(), ev);
      state.lastSuccess = new Date(now()).toISOString();
      state.lastError = null;
      save();
      return EXIT.ok;
    } catch (e) {
      if (e instanceof ServerUnreachable || e instanceof ServerRefused) {
        state.lastError = `${new Date(now()).toISOString()} ${e.message}`;
        save();
        warn(e.message);
        return e instanceof ServerRefused ? EXIT.refused : EXIT.unreachable;
      }
      throw e;
    }
  } finally {
    closeSync(lock);
  }
}

/** The reporter's own `loss` records, each once: its seq was fixed when the loss was counted. */
async function sendLosses(state: State, shipper: Shipper, save: () => void): Promise<void> {
  while (state.pendingLoss.length) {
    const l = state.pendingLoss[0]!;
    const body = encodeRecord({
      kind: "loss", ctime: l.ctime, hostname: hostname(), serverIps: "", suser: "root", luser: "root", terminal: "",
      clientIp: "", sessionId: state.reporterId, seq: l.seq, cwd: "/", exitStatus: null, command: l.text,
    });
    await shipper.postRaw(body, true);
    state.pendingLoss.shift();
    save();
  }
}

interface DrainCtx {
  deadline: number;
  now: () => number;
  save: () => void;
  warn: (m: string) => void;
  legacyUtcOffset: number;
}

/** Ship one file from its checkpoint to its last complete line (or until the budget is used up). */
async function drain(cfg: Config, state: State, f: TrackedFile, shipper: Shipper, ctx: DrainCtx): Promise<void> {
  let fd: number;
  try {
    fd = openSync(f.path, "r");
  } catch (e) {
    ctx.warn(`cannot read ${f.path}: ${(e as NodeJS.ErrnoException).code}`);
    return;
  }
  try {
    let st: Stats = fstatSync(fd);
    if (st.ino !== f.ino || st.dev !== f.dev) return; // replaced since reconcile: the next run follows it
    const final = f.role === "rotated" && isQuiet(cfg, f, ctx.now());
    let batch = cfg.batch.bytes;
    let maxLines = cfg.batch.max_lines;
    for (;;) {
      st = fstatSync(fd);
      f.size = st.size;
      if (f.offset >= st.size) break;
      if (ctx.now() >= ctx.deadline) throw new BudgetUsedUp(`no answer within the run's budget (run.budget_seconds: ${cfg.run.budget_seconds} s)`);
      const want = Math.min(batch, st.size - f.offset);
      const buf = Buffer.allocUnsafe(want);
      const got = readSync(fd, buf, 0, want, f.offset);
      const chunk = buf.subarray(0, got);
      const atEnd = f.offset + got >= st.size;
      const lastNl = chunk.lastIndexOf(0x0a);
      if (lastNl < 0) {
        if (!atEnd && batch < cfg.batch.max_bytes) { batch = Math.min(batch * 2, cfg.batch.max_bytes); continue; }
        if (!atEnd) {
          if (!skipOverlongLine(cfg, state, f, fd, st.size, ctx)) break;
          continue;
        }
        if (final) {
          writeDeadLetters(cfg.state_dir, [{ file: f.path, offset: f.offset, reason: "unfinished line at the end of a rotated file", raw: chunk }]);
          state.counters.deadLetters++;
          f.offset += got;
          ctx.save();
        }
        break; // the live log's partial last line: finished by a later write, read by a later run
      }
      const body = chunk.subarray(0, cutAtLine(chunk, lastNl, maxLines));
      const toEnd = f.offset + body.length >= st.size;
      let answer;
      try {
        answer = await shipper.postRaw(body, final && toEnd);
      } catch (e) {
        if (e instanceof BodyTooLarge && batch > 64 * 1024) { batch = Math.max(64 * 1024, Math.floor(batch / 2)); continue; }
        throw e;
      }
      const letters = rejectedRaw(body, answer, final && toEnd, ctx.legacyUtcOffset).map((l) => ({ ...l, offset: f.offset + l.offset, file: f.path }));
      writeDeadLetters(cfg.state_dir, letters);
      state.counters.deadLetters += letters.length;
      if (answer.consumed === 0) {
        // A record longer than the batch: send a bigger body. At the end of the live log: its parts are still being written.
        if (!toEnd && (batch < cfg.batch.max_bytes || body.length < chunk.length)) {
          batch = Math.min(batch * 2, cfg.batch.max_bytes);
          maxLines *= 2;
          continue;
        }
        if (!toEnd) ctx.warn(`${f.path}: the server settled nothing of ${body.length} bytes at offset ${f.offset}; retrying next run`);
        break;
      }
      f.offset += answer.consumed;
      state.counters.sentBytes += answer.consumed;
      state.counters.accepted += answer.accepted;
      state.counters.duplicates += answer.duplicates;
      rememberHead(f);
      ctx.save();
      batch = cfg.batch.bytes;
      maxLines = cfg.batch.max_lines;
    }
  } finally {
    closeSync(fd);
  }
}

/** A line longer than any body the server takes cannot be a record: keep its start as a dead letter and move past it. */
function skipOverlongLine(cfg: Config, state: State, f: TrackedFile, fd: number, size: number, ctx: DrainCtx): boolean {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = f.offset + cfg.batch.max_bytes;
  while (pos < size) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    const nl = buf.subarray(0, got).indexOf(0x0a);
    if (nl >= 0) {
      const start = Buffer.allocUnsafe(65536);
      const n = readSync(fd, start, 0, start.length, f.offset);
      writeDeadLetters(cfg.state_dir, [{ file: f.path, offset: f.offset, reason: `line of ${pos + nl - f.offset} bytes is longer than batch.max_bytes; only its first ${n} bytes are kept here`, raw: start.subarray(0, n) }]);
      state.counters.deadLetters++;
      f.offset = pos + nl + 1;
      ctx.save();
      return true;
    }
    pos += got;
  }
  // No end yet: wait for it (a later run), without resending what cannot be a record.
  ctx.warn(`${f.path}: a line at offset ${f.offset} is longer than batch.max_bytes and not finished yet`);
  return false;
}

/** Body length: up to the last complete line, and at most `maxLines` lines (the server caps records per body). */
function cutAtLine(chunk: Uint8Array, lastNl: number, maxLines: number): number {
  let nl = -1;
  for (let n = 0; n < maxLines; n++) {
    nl = chunk.indexOf(0x0a, nl + 1);
    if (nl < 0 || nl >= lastNl) return lastNl + 1;
  }
  return nl + 1;
}
