/**
 * The audit log line codec (docs/log-format.md): the hook writes these lines,
 * the reporter and POST /api/v1/ingest/raw read them. Also reads the 2018
 * seed's `[time] [(suser) luser tty ip] [host@ips] command` lines.
 */
import { escapeBytes, unescapeBytes } from "./escape.ts";
import { LOG_CHUNK_BYTES, MAX_LOG_LINE_BYTES, MAX_LOG_PARTS, MAX_COMMAND_BYTES } from "./limits.ts";
import { commandFromBytes, RECORD_KINDS, type RecordKind, type WireRecord } from "./record.ts";
import { formatUtcOffset } from "./time.ts";

export const LOG_MAGIC = "CA1";
const HEAD_FIELDS = 17;
const PART_FIELDS = 7;
/** By default a record whose parts are still missing this many bytes later is declared damaged. */
const MAX_PENDING_SPAN = 16 * 1024 * 1024;

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
  head: Omit<LogRecord, "command">;
  nparts: number;
  chunks: Uint8Array[];
  bytes: number;
  offset: number;
  /** Offset of its latest line: the span to the next part is what the decoder bounds. */
  last: number;
  lines: Uint8Array[];
}

// ignoreBOM: a leading U+FEFF in a field or command is data, not a byte-order mark to drop.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const te = new TextEncoder();
const KIND_SET = new Set<string>(RECORD_KINDS);
const SESSION_ID = /^[A-Za-z0-9._:@-]{1,64}$/;
const UINT = /^(0|[1-9][0-9]{0,15})$/;
const LEGACY = /^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] \[\(([^()\]]*)\) ?([^\]]*)\] \[([^\]@]*)@([^\]]*)\] /;

function splitTabs(line: Uint8Array, n: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < n - 1; i++) {
    const t = line.indexOf(0x09, start);
    if (t < 0) return null;
    out.push(line.subarray(start, t));
    start = t + 1;
  }
  const last = line.subarray(start);
  if (last.indexOf(0x09) >= 0) return null;
  out.push(last);
  return out;
}

function text(b: Uint8Array, name: string): string {
  const u = unescapeBytes(b);
  if (typeof u === "string") throw new DamagedLine(`${name}: ${u}`);
  return utf8.decode(u);
}

function uint(b: Uint8Array, name: string, max: number): number {
  const s = bin(b);
  if (!UINT.test(s) || Number(s) > max) throw new DamagedLine(`${name} ${JSON.stringify(s.slice(0, 20))} is not a number`);
  return Number(s);
}

class DamagedLine extends Error {}

/**
 * Streaming decoder: push each complete line (without its "\n") with its byte
 * offset in the file; records come out when all their parts are in. The decoder
 * copies what it keeps between calls, so the caller may reuse its read buffer;
 * the events a call returns may share bytes with that call's `line`.
 */
export class LogDecoder {
  private pending = new Map<string, Pending>();
  private readonly maxPendingSpan: number;
  /** `maxPendingSpan`: bytes after a record's head by which all its parts must have come (a shell writes them back to back). */
  constructor(private readonly opts: { legacyUtcOffset: number; maxPendingSpan?: number }) {
    this.maxPendingSpan = opts.maxPendingSpan ?? MAX_PENDING_SPAN;
  }

  push(line: Uint8Array, offset: number): DecodeEvent[] {
    const end = offset + line.length + 1;
    const out: DecodeEvent[] = [];
    this.expire(offset, out);
    if (line.length > MAX_LOG_LINE_BYTES) {
      out.push({ type: "damaged", reason: `line longer than ${MAX_LOG_LINE_BYTES} bytes`, raw: line, offset });
      return out;
    }
    if (line[0] === 0x43 && line[1] === 0x41 && line[2] === 0x31 && line[3] === 0x09) {
      try {
        this.pushV1(line, offset, end, out);
      } catch (e) {
        if (!(e instanceof DamagedLine)) throw e;
        out.push({ type: "damaged", reason: e.message, raw: line, offset });
      }
      return out;
    }
    const legacy = this.legacy(line);
    // The seed's `echo $y` split the command on IFS whitespace, so it never wrote a TAB: a seed-looking
    // line with one is a truncated seed line merged with a CA1 line, whose fields it would swallow.
    if (legacy && line.indexOf(0x09) >= 0) out.push({ type: "damaged", reason: "seed line with a TAB", raw: line, offset });
    else if (legacy) out.push({ type: "record", record: legacy, offset, end });
    else out.push({ type: "foreign", raw: line, offset });
    return out;
  }

  /** End of input that will never grow (a drained rotated file): unfinished records are damaged. */
  finish(): DecodeEvent[] {
    const out: DecodeEvent[] = [];
    for (const [key, p] of this.pending) this.abandon(key, p, "record parts missing at end of input", out);
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
      if (now - p.last > this.maxPendingSpan) this.abandon(key, p, "record parts missing", out);
    }
  }

  private abandon(key: string, p: Pending, reason: string, out: DecodeEvent[]): void {
    this.pending.delete(key);
    const raw = new Uint8Array(p.lines.reduce((n, l) => n + l.length + 1, 0));
    let o = 0;
    for (const l of p.lines) { raw.set(l, o); o += l.length; raw[o++] = 0x0a; }
    out.push({ type: "damaged", reason: `${reason} (${p.chunks.length} of ${p.nparts})`, raw, offset: p.offset });
  }

  private pushV1(line: Uint8Array, offset: number, end: number, out: DecodeEvent[]): void {
    const type = line[4];
    if (type === 0x52 /* R */) {
      const f = splitTabs(line, HEAD_FIELDS);
      if (!f || f[1]!.length !== 1) throw new DamagedLine(`head line does not have ${HEAD_FIELDS} fields`);
      const sessionId = bin(f[2]!);
      if (!SESSION_ID.test(sessionId)) throw new DamagedLine("bad session id");
      const seq = uint(f[3]!, "seq", Number.MAX_SAFE_INTEGER);
      const kind = bin(f[4]!);
      if (!KIND_SET.has(kind)) throw new DamagedLine(`unknown kind ${JSON.stringify(kind.slice(0, 20))}`);
      const exitField = f[13]!;
      const nparts = uint(f[14]!, "nparts", MAX_LOG_PARTS);
      if (nparts < 1) throw new DamagedLine("nparts is 0");
      const chunk = this.chunk(f[15]!, f[16]!);
      const head: Omit<LogRecord, "command"> = {
        kind: kind as RecordKind,
        ctime: bin(f[5]!),
        hostname: text(f[6]!, "hostname"),
        serverIps: text(f[7]!, "serverIps"),
        suser: text(f[8]!, "suser"),
        luser: text(f[9]!, "luser"),
        terminal: text(f[10]!, "terminal"),
        clientIp: text(f[11]!, "clientIp"),
        sessionId,
        seq,
        cwd: text(f[12]!, "cwd"),
        exitStatus: exitField.length ? uint(exitField, "exit", 255) : null,
        legacy: false,
      };
      const key = `${sessionId}\0${seq}`;
      for (const [k, p] of this.pending) {
        // A shell writes a record's parts back to back: a newer record of the same session means the old one was cut.
        if (p.head.sessionId === sessionId) this.abandon(k, p, "record parts missing", out);
      }
      if (nparts === 1) {
        this.complete({ head, nparts, chunks: [chunk], bytes: chunk.length, offset, last: offset, lines: [line] }, end, out);
      } else {
        const own = line.slice(); // kept past this call: the caller may reuse its buffer
        this.pending.set(key, { head, nparts, chunks: [own.subarray(own.length - chunk.length)], bytes: chunk.length, offset, last: offset, lines: [own] });
      }
      return;
    }
    if (type === 0x50 /* P */) {
      const f = splitTabs(line, PART_FIELDS);
      if (!f || f[1]!.length !== 1) throw new DamagedLine(`part line does not have ${PART_FIELDS} fields`);
      const key = `${bin(f[2]!)}\0${bin(f[3]!)}`;
      const p = this.pending.get(key);
      if (!p) throw new DamagedLine("part line without its head line");
      const part = uint(f[4]!, "part", MAX_LOG_PARTS);
      if (part !== p.chunks.length + 1) {
        this.abandon(key, p, `part ${part} out of order`, out);
        throw new DamagedLine(`part ${part} out of order`);
      }
      const chunk = this.chunk(f[5]!, f[6]!);
      const own = line.slice(); // kept past this call; the chunk is the line's last field
      p.chunks.push(own.subarray(own.length - chunk.length));
      p.lines.push(own);
      p.last = offset;
      p.bytes += chunk.length;
      if (p.bytes > MAX_COMMAND_BYTES * 2 + LOG_CHUNK_BYTES) {
        this.abandon(key, p, "record too long", out);
        return;
      }
      if (p.chunks.length === p.nparts) {
        this.pending.delete(key);
        this.complete(p, end, out);
      }
      return;
    }
    throw new DamagedLine("unknown line type");
  }

  private chunk(lenField: Uint8Array, chunk: Uint8Array): Uint8Array {
    const len = uint(lenField, "len", MAX_LOG_LINE_BYTES);
    if (len !== chunk.length) throw new DamagedLine(`chunk is ${chunk.length} bytes, header says ${len}`);
    return chunk;
  }

  private complete(p: Pending, end: number, out: DecodeEvent[]): void {
    const escaped = p.chunks.length === 1 ? p.chunks[0]! : Buffer.concat(p.chunks);
    const command = unescapeBytes(escaped);
    if (typeof command === "string") {
      out.push({ type: "damaged", reason: `command: ${command}`, raw: Buffer.concat(p.lines.flatMap((l) => [l, NL])), offset: p.offset });
      return;
    }
    out.push({ type: "record", record: { ...p.head, command }, offset: p.offset, end });
  }

  private legacy(line: Uint8Array): LogRecord | null {
    // latin1 keeps one char per byte, so the match length is the byte offset of the command.
    const s = bin(line.subarray(0, Math.min(line.length, 2048)));
    const m = LEGACY.exec(s);
    if (!m) return null;
    const who = Buffer.from(m[3]!, "latin1").toString("utf8").trim().split(/ +/);
    return {
      kind: "command",
      ctime: m[1]!,
      utcOffset: formatUtcOffset(this.opts.legacyUtcOffset),
      hostname: Buffer.from(m[4]!, "latin1").toString("utf8"),
      serverIps: m[5]!,
      suser: Buffer.from(m[2]!, "latin1").toString("utf8"),
      luser: who[0] ?? "",
      terminal: who[1] ?? "",
      clientIp: who[2] ?? "",
      command: line.subarray(m[0].length),
      legacy: true,
    };
  }
}

const NL = new Uint8Array([0x0a]);

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
  command: Uint8Array | string;
}

export function encodeRecord(r: EncodableRecord, chunkBytes = LOG_CHUNK_BYTES): Uint8Array {
  const e = (s: string) => bin(escapeBytes(te.encode(s)));
  const cmd = escapeBytes(typeof r.command === "string" ? te.encode(r.command) : r.command);
  const nparts = Math.max(1, Math.ceil(cmd.length / chunkBytes));
  const parts: Uint8Array[] = [];
  const first = cmd.subarray(0, chunkBytes);
  const head = [LOG_MAGIC, "R", r.sessionId, String(r.seq), r.kind, r.ctime, e(r.hostname), e(r.serverIps), e(r.suser),
    e(r.luser), e(r.terminal), e(r.clientIp), e(r.cwd), r.exitStatus === null ? "" : String(r.exitStatus),
    String(nparts), String(first.length), ""].join("\t");
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
