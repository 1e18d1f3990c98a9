/** Shared helpers for the protocol tests: a seeded PRNG, a whole-buffer decoder, record factories. */
import { Rng } from "../support/rng.ts";
export { Rng };
import { LogDecoder, lines, type DecodeEvent, type EncodableRecord, type LogRecord } from "../../protocol/index.ts";

export const te = new TextEncoder();

/** Concatenate byte strings (strings are UTF-8 encoded). */
export function bytes(...parts: (string | Uint8Array | number[])[]): Uint8Array {
  const bufs = parts.map((p) => (typeof p === "string" ? te.encode(p) : p instanceof Uint8Array ? p : Uint8Array.from(p)));
  return Buffer.concat(bufs);
}

/** Bytes as a latin1 string: one char per byte, for readable `toContain` checks on raw lines. */
export function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Split a buffer on "\n" the slow, obvious way (independent of `lines()`), keeping offsets. */
export function splitLines(buf: Uint8Array): { line: Uint8Array; offset: number }[] {
  const out: { line: Uint8Array; offset: number }[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x0a) {
      out.push({ line: buf.slice(start, i), offset: start });
      start = i + 1;
    }
  }
  return out;
}

export interface Decoded {
  events: DecodeEvent[];
  records: LogRecord[];
  damaged: Extract<DecodeEvent, { type: "damaged" }>[];
  foreign: Extract<DecodeEvent, { type: "foreign" }>[];
}

export function classify(events: DecodeEvent[]): Decoded {
  const records: LogRecord[] = [];
  const damaged: Decoded["damaged"] = [];
  const foreign: Decoded["foreign"] = [];
  for (const e of events) {
    if (e.type === "record") records.push(e.record);
    else if (e.type === "damaged") damaged.push(e);
    else foreign.push(e);
  }
  return { events, records, damaged, foreign };
}

/** Decode a whole file: every complete line, then finish(). A trailing partial line is ignored. */
export function decodeAll(buf: Uint8Array, legacyUtcOffset = 480): Decoded {
  const d = new LogDecoder({ legacyUtcOffset });
  const events: DecodeEvent[] = [];
  for (const { line, offset } of splitLines(buf)) events.push(...d.push(line, offset));
  events.push(...d.finish());
  return classify(events);
}

export function rec(over: Partial<EncodableRecord> = {}): EncodableRecord {
  return {
    kind: "command",
    ctime: "2024-03-01T12:34:56.123456+08:00",
    hostname: "web01.example.com",
    serverIps: "10.0.0.1,10.0.0.2",
    suser: "root",
    luser: "alice",
    terminal: "pts/3",
    clientIp: "192.168.1.20",
    sessionId: "s-1",
    seq: 1,
    cwd: "/home/alice",
    exitStatus: 0,
    command: "ls -la",
    ...over,
  };
}

/** The LogRecord that decoding `encodeRecord(r)` must give back. */
export function expected(r: EncodableRecord): LogRecord {
  return {
    kind: r.kind,
    ctime: r.ctime,
    hostname: r.hostname,
    serverIps: r.serverIps,
    suser: r.suser,
    luser: r.luser,
    terminal: r.terminal,
    clientIp: r.clientIp,
    sessionId: r.sessionId,
    seq: r.seq,
    cwd: r.cwd,
    exitStatus: r.exitStatus,
    durationMs: r.durationMs ?? null,
    command: typeof r.command === "string" ? te.encode(r.command) : r.command,
    legacy: false,
  };
}

/**
 * The same lines as the CA1 format the hook wrote before durationMs: each CA2 head loses field 14
 * (durationMs) and every line the magic `CA1`. Done on the raw fields, not through the encoder.
 */
export function asCa1(encoded: Uint8Array): Uint8Array {
  return bytes(...splitLines(encoded).map(({ line }) => {
    const s = latin1(line);
    if (!s.startsWith("CA2\t")) throw new Error(`not a CA2 line: ${s.slice(0, 40)}`);
    const f = s.split("\t");
    const ca1 = f[1] === "R" ? [...f.slice(0, 14), ...f.slice(15)] : f;
    ca1[0] = "CA1";
    return bytes(Buffer.from(ca1.join("\t"), "latin1"), "\n");
  }));
}

/** Structural equality of two decoded records with exact byte comparison of `command`. */
export function sameRecord(a: LogRecord, b: LogRecord): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof LogRecord>;
  for (const k of keys) {
    if (k === "command") {
      if (Buffer.compare(Buffer.from(a.command), Buffer.from(b.command)) !== 0) return false;
    } else if (a[k] !== b[k]) return false;
  }
  return true;
}

/** Names of the fields in which two records differ. */
export function diffFields(a: LogRecord, b: LogRecord): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof LogRecord>;
  const out: string[] = [];
  for (const k of keys) {
    if (k === "command") {
      if (Buffer.compare(Buffer.from(a.command), Buffer.from(b.command)) !== 0) out.push(k);
    } else if (a[k] !== b[k]) out.push(k);
  }
  return out;
}


/** Bytes that stress the codec: the escaped ones, escape letters, high bytes, UTF-8 lead/continuation bytes. */
const SPECIAL = [0x5c, 0x09, 0x0a, 0x0d, 0x6e, 0x74, 0x72, 0x20, 0x00, 0x5b, 0x5d, 0x43, 0x41, 0x31, 0x52, 0x50, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xef, 0xbb, 0xbf, 0xff, 0xfe, 0x80];

/** A random byte string, biased towards bytes that matter to the codec. */
export function randomBytes(rng: Rng, maxLen: number): Uint8Array {
  const len = rng.chance(0.1) ? 0 : rng.int(maxLen + 1);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = rng.chance(0.4) ? rng.pick(SPECIAL) : rng.int(256);
  return out;
}

/** A random well-formed string (what a text field can hold), with controls, escapes and astral chars. */
export function randomText(rng: Rng, maxLen: number): string {
  const len = rng.int(maxLen + 1);
  let s = "";
  for (let i = 0; i < len; i++) {
    const r = rng.next();
    if (r < 0.3) s += rng.pick(["\\", "\t", "\n", "\r", "\\n", "\\t", " ", "[", "]", "@", "CA1", "\0", "\x1b"]);
    else if (r < 0.8) s += String.fromCharCode(rng.range(0x21, 0x7e));
    else if (r < 0.95) s += String.fromCodePoint(rng.range(0xa0, 0xd7ff));
    else s += String.fromCodePoint(rng.range(0x10000, 0x10ffff));
  }
  return s;
}

/** Shuffle the lines of several encoded records together, each record's own lines kept in order. */
export function interleave(rng: Rng, recs: Uint8Array[][]): Uint8Array[] {
  const queues = recs.map((ls) => [...ls]);
  const out: Uint8Array[] = [];
  for (;;) {
    const live = queues.filter((q) => q.length > 0);
    if (live.length === 0) return out;
    out.push(rng.pick(live).shift()!);
  }
}

/** The physical lines of an encoded record, each with its "\n". */
export function physicalLines(encoded: Uint8Array): Uint8Array[] {
  return splitLines(encoded).map(({ line }) => bytes(line, "\n"));
}

/**
 * md5 hex digests computed by python3's hashlib in a subprocess: an oracle that shares no code
 * with protocol/oci.ts. Takes byte strings (strings are UTF-8 encoded) and answers in one call.
 */
export function pythonMd5(inputs: (string | Uint8Array)[]): string[] {
  const payload = JSON.stringify(inputs.map((i) => Buffer.from(typeof i === "string" ? te.encode(i) : i).toString("base64")));
  const script = "import sys, json, base64, hashlib\nprint(json.dumps([hashlib.md5(base64.b64decode(x)).hexdigest() for x in json.load(sys.stdin)]))";
  const p = Bun.spawnSync(["python3", "-c", script], { stdin: Buffer.from(payload) });
  if (p.exitCode !== 0) throw new Error(`python3 failed: ${p.stderr.toString()}`);
  return JSON.parse(p.stdout.toString()) as string[];
}
