/**
 * The audit log line codec (docs/log-format.md): the hook writes these lines,
 * the reporter and POST /api/v1/ingest/raw read them. Also reads the 2018
 * seed's `[time] [(suser) luser tty ip] [host@ips] command` lines.
 */
import { escapeBytes, unescapeBytes } from "./escape.ts";
import { LOG_CHUNK_BYTES, MAX_COMMAND_BYTES, MAX_LEGACY_LINE_BYTES, MAX_LOG_LINE_BYTES, MAX_LOG_PARTS, MAX_PENDING_GAP, MAX_PENDING_LINES } from "./limits.ts";
import { commandFromBytes, RECORD_KINDS, type RecordKind, type WireRecord } from "./record.ts";
import { formatUtcOffset } from "./time.ts";
import { isAscii } from "node:buffer";

/** The magic `encodeRecord` writes. The decoder also reads `CA1` heads (no durationMs field). */
export const LOG_MAGIC = "CA2";
const HEAD_FIELDS_V1 = 17;
/** CA2 heads: CA1's fields with durationMs inserted after the exit status. */
const HEAD_FIELDS_V2 = 18;
const PART_FIELDS = 7;

/** One record read from the log; `command` holds the exact bytes. */
export interface LogRecord {
  kind: RecordKind;
  ctime: string;
  /** Set for seed-format lines: the offset the reader assumed for their zone-less time. */
  utcOffset?: string;
  hostname: string;
  serverIps: string;
  suser: string;
  luser: string;
  terminal: string;
  clientIp: string;
  sessionId?: string;
  seq?: number;
  cwd?: string;
  exitStatus?: number | null;
  /** Milliseconds from the command's start to the prompt after it; null on CA1 lines and when not measured. */
  durationMs?: number | null;
  command: Uint8Array;
  legacy: boolean;
}

export type DecodeEvent =
  /** `offset`..`end`: bytes from the record's first line to the end of its last one. */
  | { type: "record"; record: LogRecord; offset: number; end: number }
  | { type: "damaged"; reason: string; raw: Uint8Array; offset: number }
  /** Neither format: raw bash history lines the seed's HISTFILE mix-up left behind, blank lines. */
  | { type: "foreign"; raw: Uint8Array; offset: number };

interface Pending {
  /** The record, `command` set once all the chunks are in. */
  head: LogRecord;
  nparts: number;
  chunks: Uint8Array[];
  bytes: number;
  offset: number;
  /** Offset of its latest line: the span to the next part is what the decoder bounds. */
  last: number;
  /** Number (from 1) of its latest line, for the same bound in lines. */
  lastLine: number;
  lines: Uint8Array[];
}

// ignoreBOM: a leading U+FEFF in a field or command is data, not a byte-order mark to drop.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const te = new TextEncoder();
const KIND_SET = new Set<string>(RECORD_KINDS);
// The who part is `who am i | awk '{print $1" "$2" "$NF}'` without parentheses: its last word can be
// bracketed (mosh: "(mosh [12345])" → "[12345]"), so balanced [...] groups are part of it.
const LEGACY = /^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] \[\(([^()\]]*)\) ?((?:[^[\]]|\[[^[\]]*\])*)\] \[([^\]@]*)@([^\]]*)\] /;
/** How every 2018 line begins (its date): one that begins so and does not parse is damaged, never foreign. */
const LEGACY_START = /^\[\d{4}-\d\d-\d\d \d\d:\d\d/;
const LEGACY_SCAN_BYTES = 2048;
const MAX_SESSION_ID = 64;
/** Longest canonical number: 16 digits, enough for 2^53−1. */
const MAX_DIGITS = 16;

/** Bytes allowed in a session id: `A-Z a-z 0-9 . _ : @ -`. */
const SESSION_ID_BYTE = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-") SESSION_ID_BYTE[c.charCodeAt(0)] = 1;

class DamagedLine extends Error {}

function text(b: Uint8Array, name: string): string {
  const u = unescapeBytes(b);
  if (typeof u === "string") throw new DamagedLine(`${name}: ${u}`);
  return utf8.decode(u);
}

/**
 * A CA1/CA2 line cut at its TABs. The fields before the chunk are decoded to one string
 * once, and every field but the chunk is a slice of it. When that part of the line is
 * ASCII without a backslash (the usual case), a text field is also its own unescaped
 * UTF-8 text; otherwise text fields are unescaped and decoded from their bytes.
 */
class Fields {
  /** tabs[i] is the TAB after field i. */
  private readonly tabs: number[];
  /** Fields 0 … n−2, one char per byte. */
  private readonly str: string;
  /** True when `str` holds no byte ≥ 0x80 and no backslash: text fields need no decoding. */
  private readonly plain: boolean;

  private constructor(private readonly line: Uint8Array, tabs: number[]) {
    this.tabs = tabs;
    const head = line.subarray(0, tabs[tabs.length - 1]);
    const ascii = isAscii(head);
    this.str = ascii ? utf8.decode(head) : bin(head);
    this.plain = ascii && this.str.indexOf("\\") < 0;
  }

  /** The line's n fields, or null when it has another number of fields (the last one holds no TAB). */
  static split(line: Uint8Array, n: number): Fields | null {
    const tabs: number[] = [];
    const len = line.length;
    for (let i = 0; i < len && tabs.length < n - 1; i++) if (line[i] === 0x09) tabs.push(i);
    if (tabs.length < n - 1 || line.indexOf(0x09, tabs[n - 2]! + 1) >= 0) return null;
    return new Fields(line, tabs);
  }

  private start(i: number): number {
    return i === 0 ? 0 : this.tabs[i - 1]! + 1;
  }

  private end(i: number): number {
    return i < this.tabs.length ? this.tabs[i]! : this.line.length;
  }

  length(i: number): number {
    return this.end(i) - this.start(i);
  }

  bytes(i: number): Uint8Array {
    return this.line.subarray(this.start(i), this.end(i));
  }

  /** Field i (not the chunk) as one char per byte. */
  bin(i: number): string {
    return this.str.slice(this.start(i), this.tabs[i]);
  }

  /** Field i (not the chunk), unescaped, as UTF-8 text. */
  text(i: number, name: string): string {
    return this.plain ? this.bin(i) : text(this.bytes(i), name);
  }

  /** A canonical decimal (`0|[1-9][0-9]{0,15}`) of at most `max`. */
  uint(i: number, name: string, max: number): number {
    const a = this.start(i), b = this.end(i);
    const line = this.line;
    let ok = b > a && b - a <= MAX_DIGITS && !(line[a] === 0x30 && b - a > 1);
    let v = 0;
    for (let k = a; ok && k < b; k++) {
      const d = line[k]! - 0x30;
      if (d < 0 || d > 9) ok = false;
      else v = v * 10 + d;
    }
    // Above 2^53 v may be rounded, but then it is still above any max we use.
    if (!ok || v > max) throw new DamagedLine(`${name} ${JSON.stringify(bin(this.bytes(i)).slice(0, 20))} is not a number`);
    return v;
  }

  sessionId(i: number): string {
    const a = this.start(i), b = this.end(i);
    let ok = b > a && b - a <= MAX_SESSION_ID;
    for (let k = a; ok && k < b; k++) ok = SESSION_ID_BYTE[this.line[k]!] === 1;
    if (!ok) throw new DamagedLine("bad session id");
    return this.bin(i);
  }

  /** The last field, checked against the declared length in field `lenField`. */
  chunk(lenField: number): Uint8Array {
    const len = this.uint(lenField, "len", MAX_LOG_LINE_BYTES);
    const chunk = this.line.subarray(this.tabs[this.tabs.length - 1]! + 1);
    if (len !== chunk.length) throw new DamagedLine(`chunk is ${chunk.length} bytes, header says ${len}`);
    return chunk;
  }
}

/**
 * Streaming decoder: push each complete line (without its "\n") with its byte
 * offset in the file; records come out when all their parts are in. The decoder
 * copies what it keeps between calls, so the caller may reuse its read buffer;
 * the events a call returns may share bytes with that call's `line`.
 */
export class LogDecoder {
  /** Records waiting for parts, by `sessionId TAB seq` (a TAB cannot occur in either). */
  private pending = new Map<string, Pending>();
  private readonly maxPendingSpan: number;
  private readonly maxPendingLines: number;
  private readonly legacyUtcOffset: string;
  private lineNo = 0;
  /**
   * `maxPendingSpan` (bytes) and `maxPendingLines`: how far after a record's latest part its next
   * one must have come (a shell writes them back to back); defaults MAX_PENDING_GAP and MAX_PENDING_LINES.
   */
  constructor(opts: { legacyUtcOffset: number; maxPendingSpan?: number; maxPendingLines?: number }) {
    this.maxPendingSpan = opts.maxPendingSpan ?? MAX_PENDING_GAP;
    this.maxPendingLines = opts.maxPendingLines ?? MAX_PENDING_LINES;
    this.legacyUtcOffset = formatUtcOffset(opts.legacyUtcOffset);
  }

  /** No multi-part record is waiting for its parts: a reader may stop here and start again after. */
  get idle(): boolean {
    return this.pending.size === 0;
  }

  push(line: Uint8Array, offset: number): DecodeEvent[] {
    const end = offset + line.length + 1;
    const out: DecodeEvent[] = [];
    this.lineNo++;
    if (this.pending.size > 0) this.expire(offset, out);
    const startsLegacy = line[0] === 0x5b /* [ */ && LEGACY_START.test(bin(line.subarray(0, 32)));
    const maxLine = startsLegacy ? MAX_LEGACY_LINE_BYTES : MAX_LOG_LINE_BYTES;
    if (line.length > maxLine) {
      out.push({ type: "damaged", reason: `line longer than ${maxLine} bytes`, raw: line, offset });
      return out;
    }
    // "CA1\t" or "CA2\t"
    if (line[0] === 0x43 && line[1] === 0x41 && (line[2] === 0x32 || line[2] === 0x31) && line[3] === 0x09) {
      try {
        this.pushCa(line, offset, end, out);
      } catch (e) {
        if (!(e instanceof DamagedLine)) throw e;
        out.push({ type: "damaged", reason: e.message, raw: line, offset });
      }
      return out;
    }
    // Every line LEGACY matches also begins as LEGACY_START says: no other line is tried as a 2018 line.
    const legacy = startsLegacy ? this.legacy(line) : null;
    // The seed's `echo $y` split the command on IFS whitespace, so it never wrote a TAB: a seed-looking
    // line with one is a truncated seed line merged with a CA1/CA2 line, whose fields it would swallow.
    if (legacy && line.indexOf(0x09) >= 0) out.push({ type: "damaged", reason: "seed line with a TAB", raw: line, offset });
    else if (legacy) out.push({ type: "record", record: legacy, offset, end });
    else if (startsLegacy) {
      out.push({ type: "damaged", reason: "begins like a 2018 line ([date]) but its [time] [(user) who] [host@ips] fields do not parse", raw: line, offset });
    } else {
      // A record start inside the line: a record written onto a line someone left without its LF
      // (one byte is enough). Ignoring the line would erase that record without a trace.
      const glued = recordStartInside(line);
      if (glued) out.push({ type: "damaged", reason: glued, raw: line, offset });
      else out.push({ type: "foreign", raw: line, offset });
    }
    return out;
  }

  /** End of input that will never grow (a drained rotated file): unfinished records are damaged. */
  finish(): DecodeEvent[] {
    const out: DecodeEvent[] = [];
    for (const [key, p] of this.pending) this.abandon(key, p, "record parts missing at end of input", out);
    return out;
  }

  /**
   * Give up the unfinished records whose head line starts before `before` (a reporter's
   * `giveUp`: the record has waited at the end of the log longer than any shell takes to
   * write its parts).
   */
  giveUp(before: number): DecodeEvent[] {
    const out: DecodeEvent[] = [];
    for (const [key, p] of this.pending) if (p.offset < before) this.abandon(key, p, "record parts missing, given up by the reporter", out);
    return out;
  }

  /** Offset of the first line of the oldest unfinished record, or null. */
  pendingFrom(): number | null {
    let min: number | null = null;
    for (const p of this.pending.values()) if (min === null || p.offset < min) min = p.offset;
    return min;
  }

  private expire(now: number, out: DecodeEvent[]): void {
    for (const [key, p] of this.pending) {
      if (now - p.last > this.maxPendingSpan || this.lineNo - p.lastLine > this.maxPendingLines) this.abandon(key, p, "record parts missing", out);
    }
  }

  private abandon(key: string, p: Pending, reason: string, out: DecodeEvent[]): void {
    this.pending.delete(key);
    const raw = new Uint8Array(p.lines.reduce((n, l) => n + l.length + 1, 0));
    let o = 0;
    for (const l of p.lines) { raw.set(l, o); o += l.length; raw[o++] = 0x0a; }
    out.push({ type: "damaged", reason: `${reason} (${p.chunks.length} of ${p.nparts})`, raw, offset: p.offset });
  }

  private pushCa(line: Uint8Array, offset: number, end: number, out: DecodeEvent[]): void {
    const type = line[4];
    if (type === 0x52 /* R */) this.pushHead(line, line[2] === 0x32, offset, end, out);
    // Part lines are the same in CA1 and CA2: a part matches its head by session id and seq, whatever the magic.
    else if (type === 0x50 /* P */) this.pushPart(line, offset, end, out);
    else throw new DamagedLine("unknown line type");
  }

  private pushHead(line: Uint8Array, v2: boolean, offset: number, end: number, out: DecodeEvent[]): void {
    const fields = v2 ? HEAD_FIELDS_V2 : HEAD_FIELDS_V1;
    const f = Fields.split(line, fields);
    if (!f || f.length(1) !== 1) throw new DamagedLine(`head line does not have ${fields} fields`);
    const sessionId = f.sessionId(2);
    const seq = f.uint(3, "seq", Number.MAX_SAFE_INTEGER);
    const kind = f.bin(4);
    if (!KIND_SET.has(kind)) throw new DamagedLine(`unknown kind ${JSON.stringify(kind.slice(0, 20))}`);
    // CA2 has durationMs at 14, which moves nparts and len one field on.
    const shift = v2 ? 1 : 0;
    const nparts = f.uint(14 + shift, "nparts", MAX_LOG_PARTS);
    if (nparts < 1) throw new DamagedLine("nparts is 0");
    const chunk = f.chunk(15 + shift);
    const head: LogRecord = {
      kind: kind as RecordKind,
      ctime: f.bin(5),
      hostname: f.text(6, "hostname"),
      serverIps: f.text(7, "serverIps"),
      suser: f.text(8, "suser"),
      luser: f.text(9, "luser"),
      terminal: f.text(10, "terminal"),
      clientIp: f.text(11, "clientIp"),
      sessionId,
      seq,
      cwd: f.text(12, "cwd"),
      exitStatus: f.length(13) ? f.uint(13, "exit", 255) : null,
      durationMs: v2 && f.length(14) ? f.uint(14, "durationMs", Number.MAX_SAFE_INTEGER) : null,
      legacy: false,
      command: NO_BYTES, // set by complete(), last as before: JSON of a record keeps its key order
    };
    if (this.pending.size > 0) {
      for (const [k, p] of this.pending) {
        // A shell writes a record's parts back to back: a newer record of the same session means the old one was cut.
        if (p.head.sessionId === sessionId) this.abandon(k, p, "record parts missing", out);
      }
    }
    if (nparts === 1) {
      this.complete(head, chunk, [line], offset, end, out);
    } else {
      const own = line.slice(); // kept past this call: the caller may reuse its buffer
      const key = `${sessionId}\t${seq}`;
      this.pending.set(key, { head, nparts, chunks: [own.subarray(own.length - chunk.length)], bytes: chunk.length, offset, last: offset, lastLine: this.lineNo, lines: [own] });
    }
  }

  private pushPart(line: Uint8Array, offset: number, end: number, out: DecodeEvent[]): void {
    const f = Fields.split(line, PART_FIELDS);
    if (!f || f.length(1) !== 1) throw new DamagedLine(`part line does not have ${PART_FIELDS} fields`);
    const key = `${f.bin(2)}\t${f.bin(3)}`;
    const p = this.pending.get(key);
    if (!p) throw new DamagedLine("part line without its head line");
    const part = f.uint(4, "part", MAX_LOG_PARTS);
    if (part !== p.chunks.length + 1) {
      this.abandon(key, p, `part ${part} out of order`, out);
      throw new DamagedLine(`part ${part} out of order`);
    }
    const chunk = f.chunk(5);
    const own = line.slice(); // kept past this call; the chunk is the line's last field
    p.chunks.push(own.subarray(own.length - chunk.length));
    p.lines.push(own);
    p.last = offset;
    p.lastLine = this.lineNo;
    p.bytes += chunk.length;
    if (p.bytes > MAX_COMMAND_BYTES * 2 + LOG_CHUNK_BYTES) {
      this.abandon(key, p, "record too long", out);
      return;
    }
    if (p.chunks.length === p.nparts) {
      this.pending.delete(key);
      this.complete(p.head, Buffer.concat(p.chunks), p.lines, p.offset, end, out);
    }
  }

  private complete(record: LogRecord, escaped: Uint8Array, lines: Uint8Array[], offset: number, end: number, out: DecodeEvent[]): void {
    const command = unescapeBytes(escaped);
    if (typeof command === "string") {
      out.push({ type: "damaged", reason: `command: ${command}`, raw: Buffer.concat(lines.flatMap((l) => [l, NL])), offset });
      return;
    }
    record.command = command;
    out.push({ type: "record", record, offset, end });
  }

  private legacy(line: Uint8Array): LogRecord | null {
    const prefix = line.subarray(0, Math.min(line.length, LEGACY_SCAN_BYTES));
    // An ASCII prefix is its own UTF-8 text. Otherwise latin1 keeps one char per byte, so the
    // match length is the byte offset of the command, and the fields are decoded afterwards.
    const ascii = isAscii(prefix);
    const m = LEGACY.exec(ascii ? utf8.decode(prefix) : bin(prefix));
    if (!m) return null;
    const decode = ascii ? (s: string) => s : (s: string) => Buffer.from(s, "latin1").toString("utf8");
    const who = decode(m[3]!).trim().split(/ +/);
    return {
      kind: "command",
      ctime: m[1]!,
      utcOffset: this.legacyUtcOffset,
      hostname: decode(m[4]!),
      serverIps: m[5]!,
      suser: decode(m[2]!),
      luser: who[0] ?? "",
      terminal: who[1] ?? "",
      clientIp: who[2] ?? "",
      command: line.subarray(m[0].length),
      legacy: true,
    };
  }
}

/** A 2018 line's start anywhere in a string. */
const LEGACY_START_ANYWHERE = /\[\d{4}-\d\d-\d\d \d\d:\d\d/;

/**
 * Why a line that is neither format holds a record after other bytes (`CA1`/`CA2` TAB, or a 2018
 * line's `[YYYY-MM-DD HH:MM`), or null. Checked only on such lines, which the hook never writes.
 */
function recordStartInside(line: Uint8Array): string | null {
  const glued = (start: string, at: number) => `record start (${start}) after ${at} byte(s) of something else: a record written onto an unfinished line`;
  for (let i = line.indexOf(0x43 /* C */); i >= 0; i = line.indexOf(0x43, i + 1)) {
    if (line[i + 1] === 0x41 && (line[i + 2] === 0x32 || line[i + 2] === 0x31) && line[i + 3] === 0x09) return glued(`CA${line[i + 2] === 0x32 ? 2 : 1} TAB`, i);
  }
  if (line.indexOf(0x5b /* [ */) < 0) return null;
  const m = LEGACY_START_ANYWHERE.exec(bin(line));
  return m ? glued("[date] of a 2018 line", m.index) : null;
}

/**
 * Whether a whole line holds a record's head: a CA2/CA1 head or a 2018 line at its start, or such a
 * start after other bytes (a record glued onto an unfinished line, which the decoder calls damaged).
 * What the reporters count as records when they describe bytes they could not send.
 */
export function holdsRecordStart(line: Uint8Array): boolean {
  // A line of the hook's own format is a head (R) or a part (P, whose escaped text holds no TAB):
  // never something a record was glued onto.
  if (line[0] === 0x43 && line[1] === 0x41 && (line[2] === 0x32 || line[2] === 0x31) && line[3] === 0x09) return line[4] === 0x52 && line[5] === 0x09;
  if (line[0] === 0x5b && line[1] !== undefined && line[1] >= 0x30 && line[1] <= 0x39) return true;
  return recordStartInside(line) !== null;
}

const NL = new Uint8Array([0x0a]);
const NO_BYTES = new Uint8Array(0);

/** Split a buffer into complete lines; bytes after the last "\n" are left for later. */
export function* lines(buf: Uint8Array, base = 0): Generator<{ line: Uint8Array; offset: number }> {
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) return;
    yield { line: buf.subarray(start, nl), offset: base + start };
    start = nl + 1;
  }
}

/** Wire form of a decoded record: `command` when the bytes are UTF-8, `commandB64` otherwise. */
export function toWireRecord(r: LogRecord): WireRecord {
  const w: WireRecord = {
    kind: r.kind, ctime: r.ctime, hostname: r.hostname, serverIps: r.serverIps, suser: r.suser,
    luser: r.luser, terminal: r.terminal, clientIp: r.clientIp,
  };
  if (r.utcOffset !== undefined) w.utcOffset = r.utcOffset;
  if (r.sessionId !== undefined) { w.sessionId = r.sessionId; w.seq = r.seq; }
  if (r.cwd !== undefined) w.cwd = r.cwd;
  if (r.exitStatus !== undefined) w.exitStatus = r.exitStatus;
  if (r.durationMs !== undefined) w.durationMs = r.durationMs;
  const { command, commandRaw } = commandFromBytes(r.command);
  if (commandRaw) w.commandB64 = Buffer.from(commandRaw).toString("base64");
  else w.command = command;
  return w;
}

/** What the hook writes, as the reference encoder (tests, benchmarks, reporter-made records). */
export interface EncodableRecord {
  kind: RecordKind;
  ctime: string;
  hostname: string;
  serverIps: string;
  suser: string;
  luser: string;
  terminal: string;
  clientIp: string;
  sessionId: string;
  seq: number;
  cwd: string;
  exitStatus: number | null;
  /** Written as an empty field when absent or null. */
  durationMs?: number | null;
  command: Uint8Array | string;
}

/** ASCII text that escaping leaves as it is: no backslash, TAB, LF or CR. */
const NO_ESCAPE = /^[\x00-\x08\x0b\x0c\x0e-\x5b\x5d-\x7f]*$/;

export function encodeRecord(r: EncodableRecord, chunkBytes = LOG_CHUNK_BYTES): Uint8Array {
  const e = (s: string) => (NO_ESCAPE.test(s) ? s : bin(escapeBytes(te.encode(s))));
  const cmd = escapeBytes(typeof r.command === "string" ? te.encode(r.command) : r.command);
  const nparts = Math.max(1, Math.ceil(cmd.length / chunkBytes));
  const parts: Uint8Array[] = [];
  const first = cmd.subarray(0, chunkBytes);
  const head = [LOG_MAGIC, "R", r.sessionId, String(r.seq), r.kind, r.ctime, e(r.hostname), e(r.serverIps), e(r.suser),
    e(r.luser), e(r.terminal), e(r.clientIp), e(r.cwd), r.exitStatus === null ? "" : String(r.exitStatus),
    r.durationMs == null ? "" : String(r.durationMs), String(nparts), String(first.length), ""].join("\t");
  parts.push(Buffer.from(head, "latin1"), first, NL);
  for (let i = 1; i < nparts; i++) {
    const c = cmd.subarray(i * chunkBytes, (i + 1) * chunkBytes);
    parts.push(Buffer.from([LOG_MAGIC, "P", r.sessionId, String(r.seq), String(i + 1), String(c.length), ""].join("\t"), "latin1"), c, NL);
  }
  return Buffer.concat(parts);
}

/** Bytes → string of the same length, one char per byte (ISO-8859-1; TextDecoder's "latin1" is windows-1252). */
function bin(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}
