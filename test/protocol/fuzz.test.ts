/**
 * Seeded fuzzing of the log-line codec. Every run uses the same seeds, so a failure is
 * reproducible; change SEED locally to explore further.
 */
import { describe, expect, test } from "bun:test";
import {
  LOG_CHUNK_BYTES,
  LOG_MAGIC,
  LogDecoder,
  MAX_LOG_PARTS,
  RECORD_FLAGS,
  RECORD_KINDS,
  encodeRecord,
  escapeBytes,
  formatCommandTime,
  normalizeRecord,
  recordFlags,
  type DecodeEvent,
  type EncodableRecord,
  type LogRecord,
} from "../../protocol/index.ts";
import { Rng, asCa1, bytes, classify, decodeAll, diffFields, expected, latin1, physicalLines, randomBytes, randomText, sameRecord } from "./helpers.ts";

const SEED = 20181212;
const SID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-";
const T_2000 = Date.UTC(2000, 0, 1) * 1000, T_2100 = Date.UTC(2100, 0, 1) * 1000;

function randomRecord(rng: Rng, id: number, maxCommand: number): EncodableRecord {
  let sid = "";
  for (let i = rng.int(40); i > 0; i--) sid += rng.pick([...SID_CHARS]);
  const ts = T_2000 + Math.floor(rng.next() * (T_2100 - T_2000));
  return {
    kind: rng.chance(0.8) ? "command" : rng.pick(RECORD_KINDS),
    ctime: formatCommandTime(ts, rng.chance(0.1) ? null : rng.range(-720, 840)),
    hostname: randomText(rng, 12),
    serverIps: randomText(rng, 20),
    suser: randomText(rng, 6),
    luser: randomText(rng, 6),
    terminal: randomText(rng, 6),
    clientIp: randomText(rng, 8),
    sessionId: `${sid}-${id}`,
    seq: rng.chance(0.2) ? Number.MAX_SAFE_INTEGER - rng.int(10) : rng.int(1_000_000),
    cwd: randomText(rng, 30),
    exitStatus: rng.chance(0.3) ? null : rng.int(256),
    durationMs: rng.chance(0.2) ? null : rng.chance(0.1) ? Number.MAX_SAFE_INTEGER - rng.int(10) : rng.int(100_000),
    command: randomBytes(rng, rng.chance(0.05) ? maxCommand * 50 : maxCommand),
  };
}

/** A chunk size that stresses splitting but keeps within MAX_LOG_PARTS. */
function randomChunk(rng: Rng, r: EncodableRecord): number {
  const c = rng.pick([1, 2, 3, 5, 8, 64, 1000, LOG_CHUNK_BYTES]);
  const escaped = escapeBytes(typeof r.command === "string" ? new TextEncoder().encode(r.command) : r.command).length;
  return Math.ceil(escaped / c) > MAX_LOG_PARTS ? LOG_CHUNK_BYTES : c;
}

/** A part line with the other magic: the hook may write `CA1\tP` parts after a `CA2` head. */
function otherPartMagic(line: Uint8Array): Uint8Array {
  const l = Uint8Array.from(line);
  if (l[4] === 0x50 /* P */) l[2] = l[2] === 0x31 ? 0x32 : 0x31;
  return l;
}

/**
 * A stream of records from distinct sessions, their lines interleaved. A share `ca1` of the
 * records is written as CA1 lines (their durationMs is then null), and some part lines carry
 * the other magic.
 */
function randomStream(rng: Rng, n: number, maxCommand: number, idBase = 0, ca1 = 0.3): { recs: EncodableRecord[]; lines: { rec: number; line: Uint8Array }[] } {
  const recs = Array.from({ length: n }, (_, i) => randomRecord(rng, idBase + i, maxCommand));
  const tagged = recs.map((r, i) => {
    let enc = encodeRecord(r, randomChunk(rng, r));
    if (rng.chance(ca1)) {
      enc = asCa1(enc);
      r.durationMs = null;
    }
    return physicalLines(enc).map((line) => ({ rec: i, line: rng.chance(0.1) ? otherPartMagic(line) : line }));
  });
  const queues = tagged.map((q) => [...q]);
  const lines: { rec: number; line: Uint8Array }[] = [];
  for (;;) {
    const live = queues.filter((q) => q.length > 0);
    if (live.length === 0) break;
    lines.push(rng.pick(live).shift()!);
  }
  return { recs, lines };
}

/** Feed a buffer to a fresh decoder; any exception fails the test with the input attached. */
function decodeSafely(buf: Uint8Array): ReturnType<typeof classify> {
  try {
    return decodeAll(buf);
  } catch (e) {
    throw new Error(`decoder threw on input ${Buffer.from(buf).toString("base64")}: ${String(e)}`);
  }
}

function isOriginal(r: LogRecord, originals: LogRecord[]): boolean {
  return originals.some((o) => sameRecord(r, o));
}

describe("fuzz: round trip", () => {
  test("thousands of random records, interleaved in batches, decode exactly", () => {
    const rng = new Rng(SEED);
    let total = 0, multi = 0, ca1 = 0, measured = 0;
    for (let batch = 0; batch < 60; batch++) {
      const { recs, lines } = randomStream(rng, 50, 200, batch * 1000);
      multi += recs.filter((_, i) => lines.filter((l) => l.rec === i).length > 1).length;
      ca1 += lines.filter((l) => latin1(l.line).startsWith("CA1\tR\t")).length;
      measured += recs.filter((r) => r.durationMs !== null).length;
      const d = decodeSafely(bytes(...lines.map((l) => l.line)));
      expect(d.damaged).toEqual([]);
      expect(d.foreign).toEqual([]);
      expect(d.records.length).toBe(recs.length);
      const bySid = new Map(d.records.map((r) => [r.sessionId!, r]));
      for (const r of recs) {
        const got = bySid.get(r.sessionId);
        expect(got).toBeDefined();
        if (!sameRecord(got!, expected(r))) {
          throw new Error(`mismatch for ${JSON.stringify({ ...r, command: Buffer.from(r.command).toString("base64") })}: ${diffFields(got!, expected(r)).join(", ")}`);
        }
      }
      total += recs.length;
    }
    expect(total).toBe(3000);
    expect(multi).toBeGreaterThan(500); // the chunking paths were exercised
    expect(ca1).toBeGreaterThan(500); // and both head formats
    expect(measured).toBeGreaterThan(1000);
  });
});

describe("fuzz: garbage", () => {
  test("random bytes never throw and never make a record", () => {
    const rng = new Rng(SEED + 1);
    for (let i = 0; i < 2000; i++) {
      const len = rng.int(400);
      const buf = new Uint8Array(len);
      for (let j = 0; j < len; j++) buf[j] = rng.chance(0.03) ? 0x0a : rng.chance(0.1) ? 0x09 : rng.int(256);
      const d = decodeSafely(rng.chance(0.3) ? bytes(rng.pick(["CA1", "CA2"]), "\t", rng.pick(["R", "P", "X"]), "\t", buf, "\n") : bytes(buf, "\n"));
      expect(d.records).toEqual([]);
    }
  });

  test("lines of plausible CA2 and CA1 fields: never throw; whatever is accepted re-encodes to the very same line", () => {
    const rng = new Rng(SEED + 2);
    const BAD = ["", "01", "-1", "256", "9007199254740992", "a b", "\\", "\\q", "x\\", "R", "P", "CA1", "CA2", "1x", "é", "1.5"];
    const TEXT = ["", "x", "é", "\\t", "\\\\", "\\n\\r", "CA1", "CA2", "a b", "1.2.3.4"];
    const common: Record<number, () => string> = {
      2: () => rng.pick(["s-1", "a:b@c.d_e", "x".repeat(64)]),
      3: () => rng.pick(["0", "1", "42", "9007199254740991"]),
      4: () => rng.pick(RECORD_KINDS),
      5: () => rng.pick(["2024-03-01T12:34:56+08:00", "2018-12-11 11:58:00", "x"]),
      13: () => rng.pick(["", "0", "255"]),
    };
    const good: Record<string, Record<number, () => string>> = {
      CA1: { ...common, 14: () => "1" },
      CA2: { ...common, 14: () => rng.pick(["", "0", "1834", "9007199254740991"]), 15: () => "1" },
    };
    let accepted = 0, acceptedCa1 = 0;
    for (let i = 0; i < 20000; i++) {
      const head = rng.chance(0.8);
      const magic = rng.chance(0.3) ? "CA1" : LOG_MAGIC;
      const n = rng.chance(0.9) ? (head ? (magic === "CA1" ? 17 : 18) : 7) : rng.range(2, 20);
      const fields = [magic, head ? "R" : "P"];
      for (let f = 2; f < n; f++) {
        if (rng.chance(0.06)) fields.push(rng.pick(BAD));
        else fields.push((head ? good[magic]![f] : undefined)?.() ?? rng.pick(TEXT));
      }
      // Make the declared length right most of the time so the checks behind it are reached.
      if (n >= 3 && rng.chance(0.8)) fields[n - 2] = String(Buffer.byteLength(fields[n - 1]!));
      const line = Buffer.from(fields.join("\t"));
      const dec = new LogDecoder({ legacyUtcOffset: 0 });
      let events: DecodeEvent[];
      try {
        events = [...dec.push(line, 0), ...dec.finish()];
      } catch (e) {
        throw new Error(`decoder threw on ${JSON.stringify(fields)}: ${String(e)}`);
      }
      for (const e of events) {
        if (e.type !== "record") continue;
        accepted++;
        const r = e.record;
        if (magic === "CA1") {
          acceptedCa1++;
          expect(r.durationMs).toBeNull();
        }
        const again = encodeRecord({ ...r, sessionId: r.sessionId ?? "", seq: r.seq ?? 0, cwd: r.cwd ?? "", exitStatus: r.exitStatus ?? null });
        expect(latin1(magic === "CA1" ? asCa1(again) : again)).toBe(line.toString("latin1") + "\n");
      }
    }
    expect(accepted).toBeGreaterThan(1000); // the acceptance path was reached often
    expect(acceptedCa1).toBeGreaterThan(300);
  });
});

type Mutation = (rng: Rng, lines: Uint8Array[]) => Uint8Array;

/**
 * Damage that the format must detect: the result may lose records but must never yield
 * one that is not exactly an original.
 */
const MUTATIONS: Record<string, Mutation> = {
  "truncate the stream": (rng, ls) => {
    const all = bytes(...ls);
    return all.subarray(0, rng.int(all.length));
  },
  "truncate one line": (rng, ls) => {
    const i = rng.int(ls.length);
    const l = ls[i]!;
    const cut = rng.range(0, l.length - 2);
    return bytes(...ls.slice(0, i), l.subarray(0, cut), "\n", ...ls.slice(i + 1));
  },
  "truncate one line and merge it with the next": (rng, ls) => {
    const i = rng.int(ls.length);
    const l = ls[i]!;
    return bytes(...ls.slice(0, i), l.subarray(0, rng.range(0, l.length - 1)), ...ls.slice(i + 1));
  },
  "insert a newline": (rng, ls) => {
    const all = bytes(...ls);
    const at = rng.int(all.length + 1);
    return bytes(all.subarray(0, at), "\n", all.subarray(at));
  },
  "insert several newlines": (rng, ls) => {
    let all = bytes(...ls);
    for (let k = rng.range(2, 6); k > 0; k--) {
      const at = rng.int(all.length + 1);
      all = bytes(all.subarray(0, at), "\n", all.subarray(at));
    }
    return all;
  },
  "drop a line": (rng, ls) => {
    const i = rng.int(ls.length);
    return bytes(...ls.slice(0, i), ...ls.slice(i + 1));
  },
  "duplicate a line": (rng, ls) => {
    const i = rng.int(ls.length);
    return bytes(...ls.slice(0, i + 1), ls[i]!, ...ls.slice(i + 1));
  },
  "swap two lines": (rng, ls) => {
    const c = [...ls];
    const i = rng.int(c.length), j = rng.int(c.length);
    [c[i], c[j]] = [c[j]!, c[i]!];
    return bytes(...c);
  },
  "insert a garbage line": (rng, ls) => {
    const i = rng.int(ls.length + 1);
    return bytes(...ls.slice(0, i), randomBytes(rng, 80).filter((b) => b !== 0x0a), "\n", ...ls.slice(i));
  },
};

/** Remove a byte range that holds at least one LF: the head of one line is joined to the tail of another. */
function cutAcrossLines(rng: Rng, ls: Uint8Array[]): Uint8Array {
  const all = bytes(...ls);
  const nls = [...all.keys()].filter((k) => all[k] === 0x0a);
  const nl = rng.pick(nls);
  const from = rng.range(Math.max(0, nl - 200), nl), to = rng.range(nl + 1, Math.min(all.length, nl + 200));
  return bytes(all.subarray(0, from), all.subarray(to));
}

describe("fuzz: damage never forges a record", () => {
  for (const [name, mutate] of Object.entries(MUTATIONS)) {
    test(name, () => {
      const rng = new Rng(SEED + name.length * 7919);
      let survived = 0, lost = 0;
      for (let trial = 0; trial < 300; trial++) {
        const { recs, lines } = randomStream(rng, rng.range(1, 6), 40, trial * 10);
        const originals = recs.map(expected);
        const buf = mutate(rng, lines.map((l) => l.line));
        const d = decodeSafely(buf);
        for (const r of d.records) {
          if (!isOriginal(r, originals)) {
            throw new Error(`${name}: forged record ${JSON.stringify({ ...r, command: Buffer.from(r.command).toString("base64") })} from ${Buffer.from(buf).toString("base64")}`);
          }
        }
        survived += d.records.length;
        lost += recs.length - new Set(d.records.map((r) => r.sessionId)).size;
      }
      expect(survived).toBeGreaterThan(0);
      // Every mutation except a duplicated or swapped line destroys something now and then.
      if (!["duplicate a line", "swap two lines", "insert a garbage line"].includes(name)) expect(lost).toBeGreaterThan(0);
    });
  }
});

describe("fuzz: damage the format cannot always detect (no checksum)", () => {
  test("a cut joining two lines: a forged record is a chimera whose fields all come from originals but the seam", () => {
    // When the fields before the seam and after it add up to a whole line, the joined line
    // parses (e.g. one record's session and times with another's command). Documented in
    // docs/log-format.md; here we pin that nothing beyond the seam field is invented.
    const rng = new Rng(SEED + 4);
    const keys: (keyof LogRecord)[] = ["kind", "ctime", "hostname", "serverIps", "suser", "luser", "terminal", "clientIp", "sessionId", "seq", "cwd", "exitStatus", "durationMs"];
    let chimeras = 0;
    for (let trial = 0; trial < 300; trial++) {
      // One head format per stream: joining a CA2 head to the tail of a CA1 head shifts the fields
      // after the seam by one, which is a different (and also undetected) kind of chimera.
      const { recs, lines } = randomStream(rng, rng.range(2, 6), 40, trial * 10, trial % 2);
      const originals = recs.map(expected);
      const d = decodeSafely(cutAcrossLines(rng, lines.map((l) => l.line)));
      for (const r of d.records) {
        if (isOriginal(r, originals)) continue;
        chimeras++;
        const invented = keys.filter((k) => !originals.some((o) => o[k] === r[k]));
        const cmdInvented = !originals.some((o) => Buffer.compare(Buffer.from(o.command), Buffer.from(r.command)) === 0);
        expect(invented.length + (cmdInvented ? 1 : 0)).toBeLessThanOrEqual(1);
      }
    }
    expect(chimeras).toBeGreaterThan(0); // the limit is real: keep the doc honest
  });
});

/** A prefix someone left without its LF: random bytes (no LF), a bash history line, or a record line cut short. */
function unfinishedLine(rng: Rng, cutFrom: Uint8Array[]): Uint8Array {
  const kind = rng.int(3);
  if (kind === 0) {
    for (;;) {
      const p = randomBytes(rng, rng.range(1, 60)).filter((b) => b !== 0x0a);
      // Not a record start itself: that line would be tried as a record (and is damaged on its own terms, tested elsewhere).
      if (p.length && !/^(CA[12]\t|\[\d{4}-\d\d-\d\d \d\d:\d\d)/.test(latin1(p))) return p;
    }
  }
  if (kind === 1) return bytes(rng.pick(["x", "#1544500000", "ls -la", " ", "\t", "CA", "CA2", "[", "\r"]));
  const l = rng.pick(cutFrom);
  return l.subarray(0, rng.range(1, l.length - 1));
}

describe("fuzz: a record line written onto a line someone left unfinished", () => {
  test("random prefixes before a record line: that line is damaged, never foreign; its record is given up as damaged; every other record is exact", () => {
    const rng = new Rng(SEED + 5);
    let glued = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const { recs, lines } = randomStream(rng, rng.range(1, 6), 40, trial * 10);
      const originals = recs.map(expected);
      const at = rng.int(lines.length);
      const victim = lines[at]!.rec;
      const prefix = unfinishedLine(rng, lines.map((l) => l.line));
      const ls = lines.map((l, i) => (i === at ? bytes(prefix, l.line) : l.line));
      const offset = bytes(...ls.slice(0, at)).length;
      const d = decodeSafely(bytes(...ls));
      expect(d.foreign).toEqual([]);
      const here = d.damaged.find((e) => e.offset === offset);
      if (!here) throw new Error(`glued line not damaged: ${Buffer.from(bytes(...ls)).toString("base64")}`);
      // A cut record line before it makes the line a damaged record line; any other prefix is named as such.
      if (latin1(ls[at]!).match(/^(CA[12]\t|\[\d{4}-)/) === null) expect(here.reason).toMatch(/^record start \(.*\) after \d+ byte\(s\) of something else/);
      expect(d.records.length).toBe(recs.length - 1);
      for (const r of d.records) expect(isOriginal(r, originals) && !sameRecord(r, originals[victim]!)).toBe(true);
      glued++;
    }
    expect(glued).toBe(3000);
  });

  test("random prefixes before a 2018 line: damaged, never foreign", () => {
    const rng = new Rng(SEED + 6);
    const seed = "[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1,10.0.0.2] ls -la /root";
    for (let trial = 0; trial < 2000; trial++) {
      const prefix = unfinishedLine(rng, [bytes(seed.slice(0, 20))]);
      if (latin1(prefix).startsWith("[2018")) continue; // a 2018 line cut short, then a 2018 line: one 2018 line, by the format
      const d = decodeSafely(bytes(prefix, seed, "\n", seed.replace("ls -la", "id"), "\n"));
      expect(d.events.map((e) => e.type)).toEqual(["damaged", "record"]);
    }
  });
});

/** Which record fields a byte of a line feeds, by field index; [] = a byte whose change must be detected. */
const TEXT_FIELD: Record<number, (keyof LogRecord)[]> = {
  2: ["sessionId"], 3: ["seq"], 5: ["ctime"], 6: ["hostname"], 7: ["serverIps"], 8: ["suser"], 9: ["luser"],
  10: ["terminal"], 11: ["clientIp"], 12: ["cwd"], 13: ["exitStatus"],
};
/** nparts (a smaller one cuts the command short) and the chunk feed the command. */
const HEAD_FIELD: Record<string, Record<number, (keyof LogRecord)[]>> = {
  CA1: { ...TEXT_FIELD, 14: ["command"], 16: ["command"] },
  CA2: { ...TEXT_FIELD, 14: ["durationMs"], 15: ["command"], 17: ["command"] },
};
const NPARTS_FIELD: Record<string, number> = { CA1: 14, CA2: 15 };
const PART_FIELD: Record<number, (keyof LogRecord)[]> = { 6: ["command"] };

describe("fuzz: single bit flips", () => {
  test("never throw; a flip changes at most the one field it lands in, and structural bytes are always caught", () => {
    const rng = new Rng(SEED + 3);
    const undetected = new Map<string, number>();
    let flips = 0;
    for (let trial = 0; trial < 4000; trial++) {
      const { recs, lines } = randomStream(rng, rng.range(1, 4), 30, trial * 10);
      const originals = recs.map(expected);
      const li = rng.int(lines.length);
      const { rec: victim, line } = lines[li]!;
      const pos = rng.int(line.length);
      // A copy: Buffer#slice would share the bytes, and the checks below must see the line as written.
      const mutated = Uint8Array.from(line);
      mutated[pos]! ^= 1 << rng.int(8);
      flips++;
      const buf = bytes(...lines.slice(0, li).map((l) => l.line), mutated, ...lines.slice(li + 1).map((l) => l.line));
      const d = decodeSafely(buf);

      const isHead = line[4] === 0x52;
      const magic = latin1(line.subarray(0, 3));
      const field = pos === line.length - 1 ? -1 : line.subarray(0, pos).filter((b) => b === 0x09).length;
      const isTab = line[pos] === 0x09;
      const allowed: string[] = isTab || field < 0 ? [] : ((isHead ? HEAD_FIELD[magic]! : PART_FIELD)[field] ?? []);
      const forged = d.records.filter((r) => !isOriginal(r, originals));
      expect(forged.length).toBeLessThanOrEqual(1);
      for (const r of forged) {
        const diff = diffFields(r, originals[victim]!);
        const where = `${isHead ? `${magic} head` : "part"} field ${field}${isTab ? " (TAB)" : ""}`;
        if (!diff.every((k) => allowed.includes(k))) {
          throw new Error(`flip in ${where} changed ${diff.join(", ")}: ${Buffer.from(buf).toString("base64")}`);
        }
        if (isHead && field === NPARTS_FIELD[magic]) {
          // A smaller part count ends the record early: its command is a prefix of the original.
          const o = originals[victim]!.command;
          expect(r.command.length).toBeLessThan(o.length);
          expect(Buffer.compare(Buffer.from(r.command), Buffer.from(o.subarray(0, r.command.length)))).toBe(0);
        }
        undetected.set(where, (undetected.get(where) ?? 0) + 1);
      }
    }
    expect(flips).toBe(4000);
    // The format has no checksum: flips inside free-text fields and the command go through. Make
    // sure the test saw that happen (it exercises the "allowed" branch), and nothing structural did.
    expect(undetected.size).toBeGreaterThan(3);
    for (const where of undetected.keys()) expect(where).toMatch(/^(CA1 head field (2|3|5|6|7|8|9|10|11|12|13|14|16)|CA2 head field (2|3|5|6|7|8|9|10|11|12|13|14|15|17)|part field 6)$/);
    expect(undetected.get("CA2 head field 14")).toBeGreaterThan(0); // a flipped durationMs digit is one of them
  });
});

// ---------------------------------------------------------------------------------------------
// Record flags (protocol/names.ts)

const PORTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
const LDH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";
const TTY = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/:._-";
/** Bidi controls, zero-width and other characters that are not shown. */
const HIDDEN = ["\u061c", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
  "\u2060", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\u00ad", "\u180e", "\u034f", "\ufe0f", "\u3164", "\u{e0020}"];
/** Look-alikes of ASCII letters, digits and the hyphen: Cyrillic, Greek, full-width, dashes. */
const LOOKALIKE: Record<string, string[]> = {
  a: ["\u0430", "\uff41"], e: ["\u0435", "\uff45"], o: ["\u043e", "\u03bf", "\uff4f"], p: ["\u0440", "\u03c1"], c: ["\u0441"],
  x: ["\u0445", "\u03c7"], r: ["\uff52"], s: ["\u0455", "\uff53"], i: ["\u0456", "\u0131"], "0": ["\uff10"], "1": ["\uff11"],
  "-": ["\u2010", "\u2011", "\u2212", "\uff0d"], A: ["\u0410", "\u0391"], T: ["\u0422", "\u03a4"],
};

const randomOf = (rng: Rng, chars: string, min: number, max: number) => {
  let s = "";
  for (let n = rng.range(min, max); n > 0; n--) s += chars[rng.int(chars.length)];
  return s;
};
function randomHostname(rng: Rng): string {
  const labels = Array.from({ length: rng.range(1, 4) }, () => {
    const inner = randomOf(rng, LDH, 0, rng.chance(0.1) ? 61 : 10);
    return rng.chance(0.3) ? randomOf(rng, PORTABLE.slice(0, 62), 1, 1) : `${randomOf(rng, PORTABLE.slice(0, 62), 1, 1)}${inner}${randomOf(rng, PORTABLE.slice(0, 62), 1, 1)}`;
  });
  return labels.join(".");
}
function randomUser(rng: Rng): string {
  const name = randomOf(rng, PORTABLE.replace("-", ""), 1, 1) + randomOf(rng, PORTABLE, 0, 20);
  const form = rng.int(4);
  return form === 0 ? `${name}@${randomHostname(rng)}`.slice(0, 64).replace(/[-.]+$/, "") : form === 1 ? `${name}$` : name;
}
const randomTerminal = (rng: Rng) => randomOf(rng, TTY, 0, 12);
/** A random string from every class: portable ASCII, other ASCII, non-ASCII, hidden characters, look-alikes. */
function randomName(rng: Rng): string {
  let s = "";
  for (let n = rng.int(16); n > 0; n--) {
    const r = rng.next();
    if (r < 0.6) s += PORTABLE[rng.int(PORTABLE.length)];
    else if (r < 0.7) s += String.fromCharCode(rng.range(0x21, 0x7e));
    else if (r < 0.8) s += rng.pick(HIDDEN);
    else if (r < 0.9) s += rng.pick(rng.pick(Object.values(LOOKALIKE)));
    else s += String.fromCodePoint(rng.chance(0.9) ? rng.range(0xa0, 0xd7ff) : rng.range(0x10000, 0x10ffff));
  }
  return s;
}
const insertAt = (rng: Rng, s: string, c: string) => {
  const i = rng.int(s.length + 1);
  return s.slice(0, i) + c + s.slice(i);
};
const NAME_FIELDS = ["hostname", "suser", "luser", "terminal"] as const;
const NONSTANDARD = { hostname: "hostname-nonstandard", suser: "user-nonstandard", luser: "user-nonstandard", terminal: "terminal-nonstandard" } as const;

describe("fuzz: record flags", () => {
  test("random names and cwds: never throw, the same flags every time, in RECORD_FLAGS order, each once", () => {
    const rng = new Rng(SEED + 10);
    for (let i = 0; i < 20_000; i++) {
      const f = { hostname: randomName(rng), suser: randomName(rng), luser: randomName(rng), terminal: randomName(rng), cwd: rng.chance(0.2) ? null : randomText(rng, 20) };
      const flags = recordFlags(f);
      expect(recordFlags({ ...f })).toEqual(flags);
      const order = flags.map((x) => RECORD_FLAGS.indexOf(x));
      expect(order.every((x, k) => x >= 0 && (k === 0 || x > order[k - 1]!))).toBe(true);
    }
  });

  test("ASCII portable names (RFC 1123 hosts, portable users, name@domain, name$, terminals) are never flagged", () => {
    const rng = new Rng(SEED + 11);
    for (let i = 0; i < 20_000; i++) {
      const f = { hostname: randomHostname(rng), suser: rng.chance(0.1) ? "" : randomUser(rng), luser: randomUser(rng), terminal: randomTerminal(rng), cwd: rng.chance(0.1) ? null : `/${randomName(rng).replace(/[^\x20-\x7e]/g, "")}` };
      if (f.hostname.length > 253) continue;
      expect({ f, flags: recordFlags(f) }).toEqual({ f, flags: [] });
    }
  });

  test("a name with a hidden character is always flagged name-invisible and nonstandard; a look-alike letter makes it name-confusable", () => {
    const rng = new Rng(SEED + 12);
    for (let i = 0; i < 20_000; i++) {
      const base = { hostname: randomHostname(rng), suser: randomUser(rng), luser: randomUser(rng), terminal: randomTerminal(rng), cwd: "/" };
      const field = rng.pick(NAME_FIELDS);
      const hidden = { ...base, [field]: insertAt(rng, rng.chance(0.5) ? base[field] : randomName(rng), rng.pick(HIDDEN)) };
      expect(recordFlags(hidden)).toEqual(expect.arrayContaining([NONSTANDARD[field], "name-invisible"]));
      const swappable = [...base[field]].map((c, k) => [c, k] as const).filter(([c]) => LOOKALIKE[c]);
      if (swappable.length === 0) continue;
      const [c, k] = rng.pick(swappable);
      const chars = [...base[field]];
      chars[k] = rng.pick(LOOKALIKE[c]!);
      const fake = { ...base, [field]: chars.join("") };
      expect({ name: fake[field], flags: recordFlags(fake) }).toEqual({ name: fake[field], flags: expect.arrayContaining([NONSTANDARD[field], "name-confusable"]) });
    }
  });

  test("a cwd with a control, bidi or zero-width character is always flagged cwd-control", () => {
    const rng = new Rng(SEED + 13);
    const bad = () => rng.chance(0.5) ? rng.pick(HIDDEN) : String.fromCharCode(rng.chance(0.7) ? rng.int(0x20) : rng.range(0x7f, 0x9f));
    for (let i = 0; i < 20_000; i++) {
      const cwd = insertAt(rng, randomText(rng, 30), bad());
      expect(recordFlags({ hostname: "web01", suser: "root", luser: "root", terminal: "pts/0", cwd })).toContain("cwd-control");
    }
  });

  test("through normalizeRecord: a record is never refused for its names' form, its flags are its names' flags, the oci ignores them", () => {
    const rng = new Rng(SEED + 14);
    for (let i = 0; i < 5_000; i++) {
      // what the wire schema takes in a name: no control character, no whitespace
      const name = () => randomName(rng).replace(/[\s\u0000-\u001f\u007f-\u009f]/g, "");
      const wire = { ctime: "2024-05-01T10:00:00+08:00", hostname: name() || "h", suser: name(), luser: name(), terminal: name(), sessionId: "s-1", seq: i, cwd: randomText(rng, 20), command: "id" };
      const r = normalizeRecord(wire, { legacyUtcOffset: 480 });
      if (typeof r === "string") throw new Error(`refused ${JSON.stringify(wire)}: ${r}`);
      expect(r.flags).toEqual(recordFlags(wire));
      const plain = normalizeRecord({ ...wire, hostname: wire.hostname, suser: "root", luser: "root", terminal: "pts/0", cwd: "/" }, { legacyUtcOffset: 480 });
      expect(typeof plain === "string" ? plain : plain.oci).toBe(r.oci);
    }
  });
});
