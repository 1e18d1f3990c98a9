/**
 * One cron run: lock, follow the files, rotate, keep the backlog under its cap,
 * report losses, then ship complete lines from each file's checkpoint. A
 * checkpoint moves only by what the server acknowledged as settled, and is
 * saved (fsync + rename) after every batch: a crash anywhere resends, and the
 * server's idempotent key stores the resent records once.
 */
import { shipSpool } from "./stamp/ship-spool.ts";
import { closeSync, fstatSync, mkdirSync, openSync, readSync, type Stats } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { encodeRecord, formatCommandTime, formatUtcOffset, MAX_RECORDS_PER_BODY, parseUtcOffset } from "../../protocol/index.ts";
import type { Redactor } from "../../protocol/redact/index.ts";
import type { ReporterConfig } from "./config.ts";
import { deadLetterFile, rejectedRaw, writeDeadLetters } from "./deadletter.ts";
import { tryLockExclusive } from "./libc.ts";
import { reporterRedaction, type ReporterRedaction } from "./redaction.ts";
import { BodyTooLarge, BudgetUsedUp, createShipper, ServerRefused, ServerUnreachable, type RawAnswer, type Shipper } from "./ship.ts";
import { loadState, saveState, type PendingLoss, type State, type TrackedFile } from "./state.ts";
import { enforceCap } from "./tail/cap.ts";
import type { Events } from "./tail/context.ts";
import { reconcile } from "./tail/reconcile.ts";
import { recordsIn } from "./tail/records.ts";
import { redactBody, WireBuffer } from "./tail/redact-body.ts";
import { isQuiet, retireDrained, rotateIfDue } from "./tail/rotate.ts";
import { describeUnread, rememberHead, TAIL_BYTES, tailOf } from "./tail/track.ts";

/** 6: `run`: a file is stuck (the server answers and settles nothing); `check`: that, or the log file or state dir is not as the hook needs it. */
export const EXIT = { ok: 0, internal: 1, config: 2, unreachable: 3, refused: 4, locked: 5, stuck: 6 } as const;

/** Lines per body at most: the server's records per request; a line holds at most one record. */
const MAX_LINES_PER_BODY = MAX_RECORDS_PER_BODY;

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
  /** Default: what the config's `redact` asks for (reporterRedaction; a key that cannot be read throws its ConfigError). */
  redaction?: ReporterRedaction;
}

export async function run(cfg: Config, opts: RunOptions = {}): Promise<number> {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`cmdaudit-reporter: ${m}\n`));
  const now = opts.now ?? Date.now;
  const started = now();
  const deadline = started + cfg.run.budget_seconds * 1000;
  // Before anything is read or sent: with redaction on and no key, nothing leaves this host.
  const { redactor } = opts.redaction ?? reporterRedaction(cfg);
  const lock = acquireLock(cfg.state_dir);
  if (lock === null) {
    warn("another run holds the lock; nothing done");
    return EXIT.locked;
  }
  try {
    const state = loadState(cfg.state_dir);
    const save = () => saveState(cfg.state_dir, state);
    const localOffset = -new Date(started).getTimezoneOffset();
    const newLoss = (text: string): PendingLoss => {
      const l = { seq: state.nextLossSeq++, ctime: formatCommandTime(now() * 1000, localOffset), text };
      state.pendingLoss.push(l);
      return l;
    };
    const ev: Events = {
      warn,
      loss(text) {
        newLoss(text);
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
    const stuck: string[] = [];
    const ctx: DrainCtx = {
      deadline, now, save, warn, legacyUtcOffset: parseUtcOffset(utcOffset)!, newLoss, redactor, wireBuffer: new WireBuffer(),
      cap: { bytes: cfg.batch.max_bytes, lines: MAX_LINES_PER_BODY },
    };
    try {
      try {
        await sendLosses(state, shipper, ctx);
        for (const f of [...state.files]) {
          const why = await drain(cfg, state, f, shipper, ctx);
          if (why) stuck.push(why);
        }
        await shipSpool(cfg, state, shipper, { save, loss: (text) => ev.loss(text), legacyUtcOffset: ctx.legacyUtcOffset, redactor });
        await sendLosses(state, shipper, ctx); // the losses this run counted (dead letters), at once
      } catch (e) {
        // The budget ran out (between two bodies or in the middle of a request) after the server
        // had answered in this run: the progress is saved and the next run goes on (exit 0).
        // A server that answered nothing in the whole budget is unreachable (exit 3).
        if (!(e instanceof BudgetUsedUp && shipper.answered())) throw e;
      }
      retireDrained(cfg, state, now(), ev);
      describeUnread(state);
      if (stuck.length) {
        const msg = stuck.join("; ");
        state.stuck = msg;
        state.lastError = `${new Date(now()).toISOString()} ${msg}`;
        save();
        warn(msg);
        return EXIT.stuck;
      }
      delete state.stuck;
      state.lastSuccess = new Date(now()).toISOString();
      state.lastError = null;
      save();
      return EXIT.ok;
    } catch (e) {
      if (e instanceof ServerUnreachable || e instanceof ServerRefused) {
        describeUnread(state);
        // A file found stuck before the server went away stays named (status, check).
        if (stuck.length) state.stuck = stuck.join("; ");
        state.lastError = `${new Date(now()).toISOString()} ${e.message}${stuck.length ? `; ${state.stuck}` : ""}`;
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
async function sendLosses(state: State, shipper: Shipper, ctx: Pick<DrainCtx, "save" | "redactor" | "legacyUtcOffset">): Promise<void> {
  while (state.pendingLoss.length) {
    const l = state.pendingLoss[0]!;
    const body = encodeRecord({
      kind: "loss", ctime: l.ctime, hostname: hostname(), serverIps: "", suser: "root", luser: "root", terminal: "",
      clientIp: "", sessionId: state.reporterId, seq: l.seq, cwd: "/", exitStatus: null, command: l.text,
    });
    // Its text is the reporter's own, but it may quote what it counts (a server's reason): redacted like the log.
    const wire = redactBody(body, ctx.redactor, { final: true, giveUp: false, legacyUtcOffset: ctx.legacyUtcOffset });
    await shipper.postRaw(wire.bytes, true, false, wire.header);
    state.pendingLoss.shift();
    ctx.save();
  }
}

interface DrainCtx {
  deadline: number;
  now: () => number;
  save: () => void;
  warn: (m: string) => void;
  legacyUtcOffset: number;
  /** A `loss` record waiting to be sent, its seq fixed now; its text may still be updated before it is sent. */
  newLoss: (text: string) => PendingLoss;
  /** The largest body this run may send (bytes, lines): `batch.max_bytes` and 10,000 lines, halved by each 413. */
  cap: { bytes: number; lines: number };
  /** Replaces the secrets of each body before it is sent (tail/redact-body.ts); null: bodies go as read. */
  redactor: Redactor | null;
  /** Holds the body being sent, when redaction rewrote it; bodies are sent one at a time. */
  wireBuffer: WireBuffer;
}

/** What one drain dead-lettered: counted in one `loss` record per file and run, saved with the checkpoint it moved. */
class DeadTally {
  private records = 0;
  private offsets: number[] = [];
  private why = new Map<string, number>();
  private loss: PendingLoss | null = null;
  constructor(private readonly path: string, private readonly stateDir: string, private readonly ctx: DrainCtx) {}

  /** Count these dead letters (call before the save that moves the checkpoint past them). */
  add(letters: { offset: number; reason: string; raw: Uint8Array }[]): void {
    for (const l of letters) {
      const n = recordsIn(l.raw);
      if (n === 0) continue; // not a record (a part line whose head is gone, a line of no known format)
      this.records += n;
      this.offsets.push(l.offset);
      const label = /record parts missing|given up/.test(l.reason) ? "unfinished multi-part record(s) given up"
        : /longer than batch\.max_bytes/.test(l.reason) ? "line(s) longer than batch.max_bytes"
        : /unfinished line at the end/.test(l.reason) ? "unfinished last line(s) of a rotated file"
        : "rejected by the server";
      this.why.set(label, (this.why.get(label) ?? 0) + n);
    }
    if (!this.records) return;
    const at = this.offsets.slice(0, 10).join(", ") + (this.offsets.length > 10 ? ", …" : "");
    const why = [...this.why].map(([label, n]) => `${n} ${label}`).join(", ");
    const text = `cmdaudit reporter: ${this.records} record(s) of ${this.path} at offset(s) ${at} were not stored: ${why}; kept in ${deadLetterFile(this.stateDir)}`;
    if (this.loss) this.loss.text = text;
    else this.loss = this.ctx.newLoss(text);
  }

  warn(): void {
    if (this.loss) this.ctx.warn(this.loss.text);
  }
}

function describeAnswer(a: RawAnswer): string {
  return JSON.stringify({ consumed: a.consumed, accepted: a.accepted, duplicates: a.duplicates, rejected: a.rejected.length, ignored: a.ignored, msg: a.msg }).slice(0, 300);
}

function countLines(b: Uint8Array): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** The up to TAIL_BYTES bytes before `offset`. */
function readBefore(fd: number, offset: number): Buffer {
  const from = Math.max(0, offset - TAIL_BYTES);
  const buf = Buffer.alloc(offset - from);
  const got = readSync(fd, buf, 0, buf.length, from);
  return buf.subarray(0, got);
}

/** Is there a complete line in the file after `from` (a `\n` in [from, size))? */
function lineEndAfter(fd: number, from: number, size: number): boolean {
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let pos = from; pos < size;) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (got <= 0) return false;
    if (buf.subarray(0, got).indexOf(0x0a) >= 0) return true;
    pos += got;
  }
  return false;
}

/**
 * Ship one file from its checkpoint to its last complete line (or until the budget is used up).
 * Returns null, or why the file is stuck: the server answered and settled nothing of the largest
 * body this run may send, or of a `giveUp` or `final` body (the run then exits 6).
 */
async function drain(cfg: Config, state: State, f: TrackedFile, shipper: Shipper, ctx: DrainCtx): Promise<string | null> {
  let fd: number;
  try {
    fd = openSync(f.path, "r");
  } catch (e) {
    ctx.warn(`cannot read ${f.path}: ${(e as NodeJS.ErrnoException).code}`);
    return null;
  }
  const dead = new DeadTally(f.path, cfg.state_dir, ctx);
  // The last bytes before the checkpoint, kept in memory: the `tail` fingerprint is of the bytes the
  // server settled, even when the file is rewritten in the middle of this run (copytruncate).
  let before = readBefore(fd, f.offset);
  /** The checkpoint moves (`settled`: the bytes it moves over, when in memory): a new `tail`, no wait any more; saved by the caller. */
  const advance = (to: number, settled?: Uint8Array) => {
    const inMemory = !!settled && settled.length === to - f.offset;
    if (inMemory && f.offset === 0 && !f.head) f.head = Buffer.from(settled.subarray(0, 64)).toString("hex"); // the bytes the server saw
    before = inMemory ? Buffer.concat([before, settled]).subarray(-TAIL_BYTES) : readBefore(fd, to);
    f.offset = to;
    f.tail = tailOf(before, to);
    delete f.waiting;
    rememberHead(f, fd, to);
  };
  const expired = () => {
    const w = f.waiting;
    const t = ctx.now();
    return !!w && w.offset === f.offset && t >= w.since && t - w.since >= cfg.run.unfinished_seconds * 1000;
  };
  try {
    let st: Stats = fstatSync(fd);
    if (st.ino !== f.ino || st.dev !== f.dev) return null; // replaced since reconcile: the next run follows it
    const final = f.role === "rotated" && isQuiet(cfg, f, ctx.now());
    const base = () => [Math.min(cfg.batch.bytes, ctx.cap.bytes), Math.min(cfg.batch.max_lines, ctx.cap.lines)] as const;
    let [batch, maxLines] = base();
    /** Length of the largest body at this offset of which the server settled nothing (0: none). */
    let zero = 0;
    let lastZeroAnswer = "";
    const stuck = (what: string) => `stuck: ${f.path} at offset ${f.offset}: ${what}; this file waits for the next run`;
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
        if (!atEnd && batch < ctx.cap.bytes) { batch = Math.min(batch * 2, ctx.cap.bytes); continue; }
        if (!atEnd) {
          if (ctx.cap.bytes < cfg.batch.max_bytes) return stuck(`the line there is longer than the ${ctx.cap.bytes} bytes the server still takes in this run (HTTP 413)`);
          if (!skipOverlongLine(cfg, state, f, fd, st.size, ctx, dead, advance)) break;
          continue;
        }
        if (final) {
          const letter = { file: f.path, offset: f.offset, reason: "unfinished line at the end of a rotated file", raw: chunk };
          writeDeadLetters(cfg.state_dir, [letter]);
          state.counters.deadLetters++;
          dead.add([letter]);
          advance(f.offset + got);
          ctx.save();
        }
        break; // the live log's partial last line: finished by a later write, read by a later run
      }
      const body = chunk.subarray(0, cutAtLine(chunk, lastNl, maxLines));
      /** The body ends at the file's last complete line (what follows, if anything, is a partial line). */
      let last: boolean | undefined;
      const atLastLine = () => (last ??= body.length === lastNl + 1 && (atEnd || !lineEndAfter(fd, f.offset + got, st.size)));
      // A file that will not grow, read to its last complete line: the server gives up what is unfinished in it.
      const finalBody = final && atLastLine();
      // The record at the checkpoint has waited for its parts long enough: the server gives it up.
      const giveUp = !final && expired() && atLastLine();
      if (!giveUp && zero > 0 && body.length <= zero) {
        // No larger body is possible (its limits, or no complete line beyond it).
        if (!final && atLastLine()) break; // waiting for parts (see below); never resent in this run
        return stuck(`the server settled nothing of a body of ${zero} bytes, the largest this run may send (lines ≤ ${maxLines}, bytes ≤ ${ctx.cap.bytes}); its answer: ${lastZeroAnswer}`);
      }
      // What leaves the host: the body with its secrets replaced, line for line (tail/redact-body.ts).
      const wire = redactBody(body, ctx.redactor, { final: finalBody, giveUp, legacyUtcOffset: ctx.legacyUtcOffset, into: ctx.wireBuffer });
      let answer: RawAnswer;
      try {
        answer = await shipper.postRaw(wire.bytes, finalBody, giveUp, wire.header);
      } catch (e) {
        if (!(e instanceof BodyTooLarge)) throw e;
        // 413: halve, and never grow again in this run to the size the server refused.
        const lines = countLines(body);
        if (lines <= 1) return stuck(`the server refuses even a body of one line (${body.length} bytes): HTTP 413 ${e.message}`);
        ctx.cap = { bytes: Math.min(ctx.cap.bytes, Math.max(1, Math.floor(body.length / 2))), lines: Math.min(ctx.cap.lines, Math.max(1, Math.floor(lines / 2))) };
        batch = Math.min(batch, ctx.cap.bytes);
        maxLines = Math.min(maxLines, ctx.cap.lines);
        continue;
      }
      // The file bytes the answer settles: the body's lines are the file's, line for line; never past a record held back.
      const consumed = wire.settled(answer.consumed);
      // Only what the server settled: a line rejected beyond `consumed` comes again with the next body.
      // Line n of what was sent is line n of `body`: the letters keep the file's bytes (this host's own state dir).
      const letters = rejectedRaw(body, answer, finalBody, ctx.legacyUtcOffset, giveUp)
        .filter((l) => l.offset < consumed).map((l) => ({ ...l, offset: f.offset + l.offset, file: f.path }));
      writeDeadLetters(cfg.state_dir, letters);
      state.counters.deadLetters += letters.length;
      if (consumed === 0) {
        if (giveUp || finalBody) return stuck(`the server settled nothing of a ${giveUp ? "giveUp" : "final"} body of ${body.length} bytes; its answer: ${describeAnswer(answer)}`);
        zero = body.length;
        if (!final && atLastLine()) {
          // An unfinished record at the end of the file: its shell may still be writing its parts.
          // The wait is kept in the state (a clock set back restarts it); once over, giveUp.
          const t = ctx.now();
          if (!f.waiting || f.waiting.offset !== f.offset || t < f.waiting.since) f.waiting = { offset: f.offset, since: t };
          ctx.save();
          if (expired()) continue;
          break;
        }
        // A record longer than the body: a bigger one, within the limits (the zero check above ends the growth).
        const nextBatch = Math.min(batch * 2, ctx.cap.bytes);
        const nextLines = Math.min(maxLines * 2, ctx.cap.lines);
        if (nextBatch === batch && nextLines === maxLines) {
          return stuck(`the server settled nothing of a body of ${body.length} bytes (${countLines(body)} lines), the largest this run may send; its answer: ${describeAnswer(answer)}`);
        }
        lastZeroAnswer = describeAnswer(answer);
        batch = nextBatch;
        maxLines = nextLines;
        continue;
      }
      dead.add(letters);
      advance(f.offset + consumed, body.subarray(0, consumed));
      state.counters.sentBytes += consumed;
      state.counters.accepted += answer.accepted;
      state.counters.duplicates += answer.duplicates;
      ctx.save();
      [batch, maxLines] = base();
      zero = 0;
      lastZeroAnswer = "";
    }
    return null;
  } finally {
    closeSync(fd);
    dead.warn();
  }
}

/** A line longer than any body the server takes cannot be a record: keep its start as a dead letter and move past it. */
function skipOverlongLine(cfg: Config, state: State, f: TrackedFile, fd: number, size: number, ctx: DrainCtx, dead: DeadTally, advance: (to: number) => void): boolean {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = f.offset + cfg.batch.max_bytes;
  while (pos < size) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    const nl = buf.subarray(0, got).indexOf(0x0a);
    if (nl >= 0) {
      const start = Buffer.allocUnsafe(65536);
      const n = readSync(fd, start, 0, start.length, f.offset);
      const letter = { file: f.path, offset: f.offset, reason: `line of ${pos + nl - f.offset} bytes is longer than batch.max_bytes; only its first ${n} bytes are kept here`, raw: start.subarray(0, n) };
      writeDeadLetters(cfg.state_dir, [letter]);
      state.counters.deadLetters++;
      dead.add([letter]);
      advance(pos + nl + 1);
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
