/**
 * A body of log lines as it may leave this host (issue [redact]): the secrets in it replaced, every
 * line kept a line, so the server's `consumed` maps back to the file exactly.
 *
 * The body is decoded with the log codec (what the server will do with it). Then, line for line:
 * - a record whose command holds a secret: its lines (head and parts, wherever they are) get the
 *   redacted command, escaped and cut again over the same lines; every other field byte for byte;
 *   a 2018 line keeps its fields and gets the redacted command. Its redactions are declared in the
 *   X-Cmdaudit-Redactions header (protocol/redact/raw-header.ts) at the body offset of its first line.
 * - the lines of a record given up in this body (parts missing): the same, with what its parts hold.
 * - a record still waiting for its parts (its command is not all here: a secret may be cut in two)
 *   is held back: each of its lines goes as an empty line, which every decoder reads past, and the
 *   checkpoint stops at its first line, so it is sent whole with a later body.
 * - any other line (bash history, damaged lines) with a secret: the line redacted as it is.
 * So line n of the body is line n of the file: the server's `rejected[].line` names file lines, and
 * a `consumed` at a line start of the body is that line's start in the file (capped at the first
 * record held back). Without a secret and with nothing held back, the body goes as it is.
 *
 * Only lines where a rule's keyword occurs, and lines of records in parts, are decoded: any other
 * line, read while no record waits for its parts, is one record or none that no rule can match
 * (Redactor.nextMaybeSecret), the same as decoding it would give.
 */
import { escapeBytes, LogDecoder, type DecodeEvent, type LogRecord, unescapeBytes } from "../../../protocol/index.ts";
import { MAX_REDACTIONS } from "../../../protocol/redact/declared.ts";
import type { Redaction, Redactor } from "../../../protocol/redact/index.ts";
import {
  MAX_RAW_REDACTIONS_HEADER_BYTES, RAW_REDACTIONS_SEPARATOR, type RawRedactions, encodeRawRedactions, rawRedactionsEntry,
} from "../../../protocol/redact/raw-header.ts";

export interface WireBody {
  /** What is posted. */
  bytes: Uint8Array;
  /** The X-Cmdaudit-Redactions value; undefined when no record of the body is redacted. */
  header: string | undefined;
  /** Bytes of the file body a `consumed` of the server's answer settles: a line start, never past a record held back. */
  settled(consumed: number): number;
}

/** The body as it is (redaction off). */
export function asIs(body: Uint8Array): WireBody {
  return { bytes: body, header: undefined, settled: (consumed) => Math.min(consumed, body.length) };
}

/**
 * Memory for the bodies a reader sends one after another: a body written into it replaces the one
 * before, whose bytes must no longer be in use (on some hosts the first touch of fresh pages costs
 * more than writing the body). Without one, each body gets its own memory.
 */
export class WireBuffer {
  private memory = new Uint8Array(0);

  take(length: number): Uint8Array {
    if (this.memory.length < length) this.memory = new Uint8Array(length + (length >> 3));
    return this.memory.subarray(0, length);
  }
}

export interface BodyOptions {
  /** `?final=1`: records without all their parts are given up by the server, so sent (redacted) now. */
  final: boolean;
  /** `?giveUp=1`: the record whose first line starts the body is given up, so sent now. */
  giveUp: boolean;
  legacyUtcOffset: number;
  /** Longest header value (default MAX_RAW_REDACTIONS_HEADER_BYTES); records past it wait for a later body. */
  maxHeaderBytes?: number;
  /** Where a rewritten body is written: it lives until the next body written there. */
  into?: WireBuffer;
}

const TAB = 0x09;
const LF = 0x0a;
const BACKSLASH = 0x5c;
const NL = new Uint8Array([LF]);
const EMPTY = new Uint8Array(0);

/** Whether body[start, end) is a line the decoder reads as a CA head ("R") or part ("P") line. */
function caType(body: Uint8Array, start: number, end: number): "head" | "part" | null {
  if (end - start < 5 || body[start] !== 0x43 || body[start + 1] !== 0x41 || (body[start + 2] !== 0x31 && body[start + 2] !== 0x32) || body[start + 3] !== TAB) return null;
  const type = body[start + 4];
  return type === 0x52 ? "head" : type === 0x50 ? "part" : null;
}

/** The decoder's key of a CA line, `session TAB seq` (fields 2 and 3 as they are), or null. */
function keyOf(line: Uint8Array): string | null {
  const t1 = line.indexOf(TAB, 4);
  const t2 = t1 < 0 ? -1 : line.indexOf(TAB, t1 + 1);
  const t3 = t2 < 0 ? -1 : line.indexOf(TAB, t2 + 1);
  return t3 < 0 ? null : Buffer.from(line.buffer, line.byteOffset + t1 + 1, t3 - t1 - 1).toString("latin1");
}

/** A CA line's chunk (after its last TAB) and what comes before its length field. */
function chunkOf(line: Uint8Array): { before: Uint8Array; chunk: Uint8Array } {
  const last = line.lastIndexOf(TAB);
  const len = line.lastIndexOf(TAB, last - 1);
  return { before: line.subarray(0, len + 1), chunk: line.subarray(last + 1) };
}

/**
 * Whether a head line's parts field (third from the end: the chunk after the last TAB holds none)
 * says 1: valid or not, the decoder never keeps such a line waiting for parts.
 */
function singlePart(body: Uint8Array, start: number, end: number): boolean {
  const chunkTab = body.lastIndexOf(TAB, end - 1);
  const lenTab = chunkTab > start ? body.lastIndexOf(TAB, chunkTab - 1) : -1;
  return lenTab >= start + 2 && body[lenTab - 1] === 0x31 && body[lenTab - 2] === TAB;
}

/** How many of the first `n` values, increasing with their index, are at most `x` (a binary search). */
function countAtMost(n: number, valueAt: (i: number) => number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (valueAt(mid) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

class LinesMixedUp extends Error {
  constructor(what: string) {
    super(`redaction: ${what}: the lines of a record could not be told apart; nothing was sent`);
  }
}

/** The body with its secrets replaced (see the top of this file); `redactor` null: as it is. */
export function redactBody(body: Uint8Array, redactor: Redactor | null, opts: BodyOptions): WireBody {
  if (!redactor) return asIs(body);
  const maxHeader = opts.maxHeaderBytes ?? MAX_RAW_REDACTIONS_HEADER_BYTES;
  // Line i is body[starts[i], ends[i]) and its LF; a view of it is made only for lines that are read.
  const starts: number[] = [];
  const ends: number[] = [];
  for (let at = 0; at < body.length;) {
    const lf = body.indexOf(LF, at);
    if (lf < 0) throw new Error("redaction: a body must end with a complete line");
    starts.push(at);
    ends.push(lf);
    at = lf + 1;
  }
  const count = starts.length;
  const lineOf = (i: number) => body.subarray(starts[i], ends[i]);

  /** New content of a line (without its LF); undefined: as it is. */
  const out: (Uint8Array | undefined)[] = new Array(count);
  /** Lines sent as empty lines (their record is held back). */
  const held = new Set<number>();
  /** Lines rewritten or held back. */
  const touched = new Set<number>();
  const rewrite = (i: number, bytes: Uint8Array) => {
    out[i] = bytes;
    touched.add(i);
  };
  /** First body offset held back: `consumed` never settles past it. */
  let cap = Infinity;
  const hold = (ls: number[]) => {
    for (const i of ls) {
      held.add(i);
      touched.add(i);
    }
    cap = Math.min(cap, starts[ls[0]!]!);
  };
  const declared: { lines: number[]; redactions: Redaction[] }[] = [];

  const lineAt = (offset: number) => {
    const i = countAtMost(count, (k) => starts[k]!, offset) - 1;
    if (i < 0 || starts[i] !== offset) throw new LinesMixedUp(`no line starts at body offset ${offset}`);
    return i;
  };

  /** The escaped command spread over the lines' chunks, in order, each line keeping everything before its length field. */
  const rechunk = (ls: number[], escaped: Uint8Array) => {
    const n = ls.length;
    const base = Math.floor(escaped.length / n);
    const extra = escaped.length % n;
    let at = 0;
    ls.forEach((i, j) => {
      const size = base + (j < extra ? 1 : 0);
      const { before } = chunkOf(lineOf(i));
      rewrite(i, Buffer.concat([before, Buffer.from(`${size}\t`, "latin1"), escaped.subarray(at, at + size)]));
      at += size;
    });
  };

  /** A line that is no record's, redacted as it is. */
  const scrub = (i: number) => {
    const line = lineOf(i);
    if (line.length === 0) return;
    const r = redactor.redactBytes(line);
    if (r.redactions.length) rewrite(i, r.bytes);
  };

  const record = (rec: LogRecord, ls: number[]) => {
    const r = redactor.redactBytes(rec.command);
    if (!r.redactions.length) return;
    if (rec.legacy) {
      const i = ls[0]!;
      const line = lineOf(i);
      const cut = line.length - rec.command.length;
      if (ls.length !== 1 || !equal(line.subarray(cut), rec.command)) throw new LinesMixedUp(`a 2018 line at body offset ${starts[i]}`);
      rewrite(i, Buffer.concat([line.subarray(0, cut), r.bytes]));
    } else {
      const escaped = Buffer.concat(ls.map((i) => chunkOf(lineOf(i)).chunk));
      const had = unescapeBytes(escaped);
      if (typeof had === "string" || !equal(had, rec.command)) throw new LinesMixedUp(`the record at body offset ${starts[ls[0]!]}`);
      rechunk(ls, escapeBytes(r.bytes));
    }
    declared.push({ lines: ls, redactions: r.redactions.slice(0, MAX_REDACTIONS) });
  };

  /** The lines of a record the server gives up: what its parts hold, redacted, over the same lines. */
  const givenUp = (ls: number[]) => {
    const escaped = Buffer.concat(ls.map((i) => chunkOf(lineOf(i)).chunk));
    let trailing = 0;
    while (trailing < escaped.length && escaped[escaped.length - 1 - trailing] === BACKSLASH) trailing++;
    // An escape cut by the missing part (a lone backslash at the end) is kept as it is.
    const tail = escaped.subarray(escaped.length - (trailing % 2));
    const command = unescapeBytes(escaped.subarray(0, escaped.length - tail.length));
    if (typeof command === "string") {
      // Not an escaped command (an unknown escape): the escaped bytes themselves, redacted.
      const r = redactor.redactBytes(escaped);
      if (r.redactions.length) rechunk(ls, r.bytes);
      return;
    }
    const r = redactor.redactBytes(command);
    if (r.redactions.length) rechunk(ls, Buffer.concat([escapeBytes(r.bytes), tail]));
  };

  // Which lines each unfinished record holds: the decoder's own key, and its events' offsets.
  const groups = new Map<number, { key: string; lines: number[] }>();
  const pendingHead = new Map<string, number>();
  const take = (offset: number) => {
    const g = groups.get(offset);
    if (!g) return undefined;
    groups.delete(offset);
    if (pendingHead.get(g.key) === offset) pendingHead.delete(g.key);
    return g;
  };
  const check = (g: { lines: number[] }, raw: Uint8Array) => {
    if (!equal(raw, Buffer.concat(g.lines.flatMap((i) => [lineOf(i), NL])))) throw new LinesMixedUp(`the record at body offset ${starts[g.lines[0]!]}`);
  };
  const onEvent = (ev: DecodeEvent) => {
    if (ev.type === "foreign") return scrub(lineAt(ev.offset));
    const g = take(ev.offset);
    if (ev.type === "record") return record(ev.record, g ? g.lines : [lineAt(ev.offset)]);
    if (!g) return scrub(lineAt(ev.offset));
    check(g, ev.raw);
    givenUp(g.lines);
  };

  const decoder = new LogDecoder({ legacyUtcOffset: opts.legacyUtcOffset });
  // Where the next text a rule could match begins (a keyword holds no LF, so none spans two lines).
  let next = redactor.nextMaybeSecret(body, 0, body.length);
  for (let i = 0; i < count; i++) {
    const offset = starts[i]!;
    const end = ends[i]!;
    const type = caType(body, offset, end);
    if (next !== -1 && next < offset) next = redactor.nextMaybeSecret(body, offset, body.length);
    // Most lines hold no keyword: with no record waiting for parts, such a line is one record (or
    // none) that the decoder would give alone, and no rule can match in it, so it goes as it is, unread.
    if (decoder.idle && (next === -1 || next >= end) && (type === null || (type === "head" && singlePart(body, offset, end)))) continue;
    const line = lineOf(i);
    const events = decoder.push(line, offset);
    // A CA line the decoder kept (no event of its own): a head now waiting for parts, or a part it took.
    const kept = type !== null && !events.some((e) => e.offset === offset);
    const key = kept ? keyOf(line) : null;
    if (kept && key === null) throw new LinesMixedUp(`the line at body offset ${offset}`);
    if (kept && type === "part") {
      const head = pendingHead.get(key!);
      if (head === undefined) throw new LinesMixedUp(`the part line at body offset ${offset}`);
      groups.get(head)!.lines.push(i);
    }
    for (const ev of events) onEvent(ev);
    if (kept && type === "head") {
      groups.set(offset, { key: key!, lines: [i] });
      pendingHead.set(key!, offset);
    }
  }
  if (opts.giveUp) decoder.giveUp(1).forEach(onEvent);
  for (const ev of decoder.finish()) {
    if (opts.final) { onEvent(ev); continue; }
    // Still waiting for its parts: held back, whole, for a later body.
    const g = take(ev.offset);
    if (!g || ev.type !== "damaged") throw new LinesMixedUp(`the unfinished record at body offset ${ev.offset}`);
    check(g, ev.raw);
    hold(g.lines);
  }
  if (groups.size) throw new LinesMixedUp("a record left over");

  if (!declared.length && !touched.size) return asIs(body);

  /** Where each line starts in what is sent: only the touched lines' lengths change. */
  const layout = () => {
    const lines = [...touched].sort((a, b) => a - b);
    /** shift[k]: bytes the touched lines before lines[k] add (negative: remove). */
    const shift = new Array<number>(lines.length + 1);
    let sum = 0;
    lines.forEach((i, k) => {
      shift[k] = sum;
      sum += (held.has(i) ? 0 : out[i]!.length) - (ends[i]! - starts[i]!);
    });
    shift[lines.length] = sum;
    const wireStart = (i: number) => starts[i]! + shift[countAtMost(lines.length, (k) => lines[k]!, i - 1)]!;
    return { lines, wireStart, length: body.length + sum };
  };

  // The header: records in body order while they fit; the first that does not and every redacted one
  // after it are held back for a later body (sent undeclared they would be stored with unlisted markers).
  // One that does not fit alone, at the body's start, declares what fits: the rest of its markers stay
  // in its text, unlisted, and no secret leaves all the same.
  declared.sort((a, b) => a.lines[0]! - b.lines[0]!);
  const before = layout();
  const entries: RawRedactions[] = [];
  let size = 0;
  let full = false;
  for (const d of declared) {
    if (full) { hold(d.lines); continue; }
    const entry = { offset: before.wireStart(d.lines[0]!), redactions: d.redactions };
    const add = rawRedactionsEntry(entry).length + (entries.length ? RAW_REDACTIONS_SEPARATOR.length : 0);
    if (size + add <= maxHeader) {
      entries.push(entry);
      size += add;
    } else if (entries.length === 0 && entry.offset === 0) {
      while (entry.redactions.length > 1 && rawRedactionsEntry(entry).length > maxHeader) entry.redactions = entry.redactions.slice(0, Math.floor(entry.redactions.length / 2));
      if (rawRedactionsEntry(entry).length <= maxHeader) {
        entries.push(entry);
        size += rawRedactionsEntry(entry).length;
      }
    } else {
      full = true;
      hold(d.lines);
    }
  }
  const placed = layout();
  // Runs of lines that go as they are are copied as one piece.
  const parts: Uint8Array[] = [];
  let run = 0;
  for (const i of placed.lines) {
    parts.push(body.subarray(run, starts[i]), held.has(i) ? NL : out[i]!, held.has(i) ? EMPTY : NL);
    run = ends[i]! + 1;
  }
  parts.push(body.subarray(run));
  const bytes = opts.into ? opts.into.take(placed.length) : new Uint8Array(placed.length);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return {
    bytes,
    header: entries.length ? encodeRawRedactions(entries) : undefined,
    settled(consumed) {
      // The last line starting at or before `consumed` (a `consumed` inside a line settles only up to its start).
      const file = consumed >= placed.length ? body.length : count ? starts[countAtMost(count, placed.wireStart, consumed) - 1]! : 0;
      return Math.min(file, cap);
    },
  };
}
