import { describe, expect, test } from "bun:test";
import {
  LOG_CHUNK_BYTES,
  LOG_MAGIC,
  LogDecoder,
  MAX_COMMAND_BYTES,
  MAX_LEGACY_LINE_BYTES,
  MAX_LOG_LINE_BYTES,
  MAX_LOG_PARTS,
  MAX_PENDING_GAP,
  MAX_PENDING_LINES,
  encodeRecord,
  escapeBytes,
  lines,
  normalizeRecord,
  toWireRecord,
  wireRecordSchema,
  type DecodeEvent,
  type LogRecord,
} from "../../protocol/index.ts";
import {
  Rng,
  asCa1,
  bytes,
  classify,
  decodeAll,
  expected,
  interleave,
  latin1,
  physicalLines,
  rec,
  sameRecord,
  splitLines,
  te,
} from "./helpers.ts";

/** PIPE_BUF on Linux: writes up to this size to a pipe or O_APPEND file are not interleaved. */
const PIPE_BUF = 4096;
const SEP = "\t";

/** Build a raw line from fields (latin1, one byte per char) — for hand-made damaged lines. */
function raw(...fields: string[]): Uint8Array {
  return Buffer.from(fields.join(SEP), "latin1");
}

interface HeadOptions { magic?: "CA1" | "CA2"; sid?: string; seq?: string; kind?: string; nparts?: string; len?: string; chunk?: string; exit?: string; dur?: string; host?: string }

/** A hand-made head line (CA2 unless `magic` says CA1, which has no durationMs field) with the given command chunk. */
function headLine(o: HeadOptions = {}): Uint8Array {
  const chunk = o.chunk ?? "ls";
  const magic = o.magic ?? "CA2";
  return raw(magic, "R", o.sid ?? "s-1", o.seq ?? "1", o.kind ?? "command", "2024-03-01T12:34:56+08:00", o.host ?? "web01",
    "10.0.0.1", "root", "alice", "pts/3", "192.168.1.20", "/root", o.exit ?? "0", ...(magic === "CA2" ? [o.dur ?? "1500"] : []),
    o.nparts ?? "1", o.len ?? String(Buffer.byteLength(chunk, "latin1")), chunk);
}

function partLine(o: { magic?: "CA1" | "CA2"; sid?: string; seq?: string; part: string; len?: string; chunk: string }): Uint8Array {
  return raw(o.magic ?? LOG_MAGIC, "P", o.sid ?? "s-1", o.seq ?? "1", o.part, o.len ?? String(Buffer.byteLength(o.chunk, "latin1")), o.chunk);
}

function roundTrip(command: string | Uint8Array, chunkBytes?: number): LogRecord {
  const r = rec({ command });
  const d = decodeAll(encodeRecord(r, chunkBytes));
  expect(d.damaged).toEqual([]);
  expect(d.foreign).toEqual([]);
  expect(d.records.length).toBe(1);
  const got = d.records[0]!;
  expect(sameRecord(got, expected(r))).toBe(true);
  return got;
}

describe("encodeRecord → LogDecoder: exact round trip", () => {
  test.each([
    ["leading and trailing spaces", "   ls -la   "],
    ["runs of spaces", "echo a     b      c"],
    ["tabs", "printf '%s\\t%s\\n' a\tb\t\t"],
    ["backslashes", "echo \\\\server\\share \\$HOME"],
    ["trailing backslash", "echo foo\\"],
    ["only backslashes", "\\\\\\\\\\"],
    ["literal \\n text", "printf 'a\\nb'"],
    ["real newline", "echo a\necho b"],
    ["literal \\n next to a real newline", "x\\n\ny\\\nz"],
    ["glob characters", "rm -rf /tmp/*.log ?? [abc]* {a,b} ~"],
    ["quotes", `echo "double" 'single' \`back\` $'ansi\\t' "nested 'q'"`],
    ["heredoc", "cat <<'EOF' > /etc/x.conf\nkey = value\n\tindented\n  spaced  \nEOF"],
    ["multi-line with continuation", "docker run \\\n  --rm \\\n  -it alpine"],
    ["carriage returns", "echo a\r\necho b\r"],
    ["] [ in the command", 'echo "] [(root) x pts/9 1.1.1.1] [evil@2.2.2.2] "'],
    ["unicode", "echo 你好 😀 é ₀"],
    ["NUL and other controls", "a\x00b\x01c\x1b[31md\x7f"],
    ["escape-like text", "\\t\\n\\r\\\\"],
    ["a single character", "x"],
    ["empty", ""],
  ])("%s", (_name, command) => {
    roundTrip(command);
  });

  test("non-UTF-8 bytes are carried exactly", () => {
    const cmd = Uint8Array.of(0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x5c, 0x0a, 0xe2, 0x82);
    roundTrip(cmd);
    const all = Uint8Array.from({ length: 512 }, (_, i) => i & 0xff);
    roundTrip(all);
    roundTrip(all, 7);
  });

  test("a leading byte-order mark survives decoding and toWireRecord", () => {
    const cmd = Uint8Array.of(0xef, 0xbb, 0xbf, 0x6c, 0x73);
    const got = roundTrip(cmd);
    const w = toWireRecord(got);
    expect(w.command).toBe("\ufeffls");
    expect(w.commandB64).toBeUndefined();
    const r = rec({ hostname: "\ufeffhost", cwd: "\ufeff/dir" });
    const d = decodeAll(encodeRecord(r));
    expect(d.records[0]!.hostname).toBe("\ufeffhost");
    expect(d.records[0]!.cwd).toBe("\ufeff/dir");
  });

  test("every head field round-trips, escapes included", () => {
    const r = rec({
      kind: "session_start",
      ctime: "2024-12-31T23:59:59.999999-05:30",
      hostname: "h\\o\ts\nt\r",
      serverIps: "10.0.0.1,fe80::1",
      suser: "ro\\ot",
      luser: "用户",
      terminal: "pts/\t0",
      clientIp: "",
      sessionId: "host:123@4.5_a-b",
      seq: Number.MAX_SAFE_INTEGER,
      cwd: "/tmp/a\tb\\c\nd",
      exitStatus: null,
      command: "",
    });
    const d = decodeAll(encodeRecord(r));
    expect(d.records.length).toBe(1);
    expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
    for (const kind of ["command", "session_end", "loss"] as const) {
      expect(decodeAll(encodeRecord(rec({ kind, exitStatus: 255 }))).records[0]!.kind).toBe(kind);
    }
  });

  test("a line holds exactly 18 (head) or 7 (part) TAB-separated fields and ends in LF", () => {
    const enc = encodeRecord(rec({ command: "a\tb".repeat(3000), exitStatus: 2, durationMs: 1834 }));
    const ls = splitLines(enc);
    expect(ls.length).toBeGreaterThan(1);
    expect(enc[enc.length - 1]).toBe(0x0a);
    expect(latin1(ls[0]!.line).split("\t").length).toBe(18);
    expect(latin1(ls[0]!.line)).toStartWith("CA2\tR\ts-1\t1\tcommand\t");
    expect(latin1(ls[0]!.line).split("\t").slice(13, 16)).toEqual(["2", "1834", String(ls.length)]);
    for (const { line } of ls.slice(1)) {
      expect(latin1(line).split("\t").length).toBe(7);
      expect(latin1(line)).toStartWith("CA2\tP\ts-1\t1\t");
    }
  });

  test("durationMs: absent or null is an empty field; 0 and 2^53-1 round-trip", () => {
    const field = (r: ReturnType<typeof rec>) => latin1(splitLines(encodeRecord(r))[0]!.line).split("\t")[14];
    expect(field(rec())).toBe("");
    expect(field(rec({ durationMs: null }))).toBe("");
    expect(field(rec({ durationMs: 0 }))).toBe("0");
    for (const durationMs of [null, 0, 1, 999, 86_400_000, Number.MAX_SAFE_INTEGER]) {
      const r = rec({ durationMs, command: "x".repeat(LOG_CHUNK_BYTES + 1) });
      const d = decodeAll(encodeRecord(r));
      expect(d.damaged).toEqual([]);
      expect(d.records.map((x) => x.durationMs)).toEqual([durationMs]);
      expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
    }
  });
});

describe("CA1 lines (written before durationMs) are still read", () => {
  test("a CA1 head gives the same record with durationMs null", () => {
    for (const command of ["ls -la", "y".repeat(LOG_CHUNK_BYTES * 2 + 5)]) {
      const r = rec({ command, durationMs: 1834 });
      const ca1 = asCa1(encodeRecord(r));
      expect(latin1(ca1)).toStartWith("CA1\tR\ts-1\t1\tcommand\t");
      const d = decodeAll(ca1);
      expect(d.damaged).toEqual([]);
      expect(d.records.length).toBe(1);
      expect(d.records[0]!.durationMs).toBeNull();
      expect(sameRecord(d.records[0]!, expected({ ...r, durationMs: null }))).toBe(true);
    }
  });

  test("the hand-made CA1 head of the spec: 17 fields, nparts at 14, len at 15", () => {
    const d = decodeAll(bytes(headLine({ magic: "CA1", exit: "", chunk: "uptime" }), "\n"));
    expect(d.damaged).toEqual([]);
    expect(d.records.map((r) => [r.exitStatus, r.durationMs, latin1(r.command)])).toEqual([[null, null, "uptime"]]);
  });

  test("a part line matches its head by session and seq, whatever the magic of either", () => {
    for (const head of ["CA1", "CA2"] as const) {
      for (const parts of [["CA1", "CA1"], ["CA2", "CA2"], ["CA1", "CA2"], ["CA2", "CA1"]] as const) {
        const buf = bytes(headLine({ magic: head, nparts: "3", chunk: "ab" }), "\n",
          partLine({ magic: parts[0], part: "2", chunk: "c\\" }), "\n", partLine({ magic: parts[1], part: "3", chunk: "\\d" }), "\n");
        const d = decodeAll(buf);
        expect(d.damaged).toEqual([]);
        expect(d.records.map((r) => [latin1(r.command), r.durationMs])).toEqual([["abc\\d", head === "CA2" ? 1500 : null]]);
      }
    }
  });

  test("a head's field count must be its magic's: a CA2 line is never read with CA1's layout, nor the other way", () => {
    const ca2 = latin1(headLine({ dur: "7" }));
    const ca1 = latin1(headLine({ magic: "CA1" }));
    expect(ca2.split("\t").length).toBe(18);
    expect(ca1.split("\t").length).toBe(17);
    // What an old decoder (CA1 only) would get from a CA2 line relabelled CA1, and the reverse.
    const d = decodeAll(bytes("CA1" + ca2.slice(3), "\n", "CA2" + ca1.slice(3), "\n"));
    expect(d.records).toEqual([]);
    expect(d.damaged.map((e) => e.reason)).toEqual(["head line does not have 17 fields", "head line does not have 18 fields"]);
  });
});

describe("encodeRecord: CA2 layout", () => {
});

describe("the worked examples of docs/log-format.md", () => {
  const base = {
    kind: "command" as const, hostname: "web01", suser: "root", luser: "alice", terminal: "pts/3", clientIp: "192.168.1.20",
    sessionId: "web01:4242:1709267000",
  };

  test("one line: literal backslash-n, a real newline, a TAB", () => {
    const r = { ...base, ctime: "2024-03-01T12:34:56.123456+08:00", serverIps: "10.0.0.5,10.0.1.5", seq: 17, cwd: "/home/alice", exitStatus: 0,
      durationMs: 1834, command: "echo 'C:\\new'\nprintf 'a\\tb'\t# tab" };
    // Written from the spec, field by field: the 37 escaped bytes are `echo 'C:\\new'\nprintf 'a\\tb'\t# tab`.
    const want = ["CA2", "R", "web01:4242:1709267000", "17", "command", "2024-03-01T12:34:56.123456+08:00", "web01",
      "10.0.0.5,10.0.1.5", "root", "alice", "pts/3", "192.168.1.20", "/home/alice", "0", "1834", "1", "37",
      "echo 'C:\\\\new'\\nprintf 'a\\\\tb'\\t# tab"].join("\t") + "\n";
    expect(latin1(encodeRecord(r))).toBe(want);
    expect(encodeRecord(r).length).toBe(188);
    expect(sameRecord(decodeAll(Buffer.from(want, "latin1")).records[0]!, expected(r))).toBe(true);
  });

  test("the CA1 form of the first example (read, no longer written)", () => {
    const line = ["CA1", "R", "web01:4242:1709267000", "17", "command", "2024-03-01T12:34:56.123456+08:00", "web01",
      "10.0.0.5,10.0.1.5", "root", "alice", "pts/3", "192.168.1.20", "/home/alice", "0", "1", "37",
      "echo 'C:\\\\new'\\nprintf 'a\\\\tb'\\t# tab"].join("\t") + "\n";
    expect(line.length).toBe(183);
    const r = { ...base, ctime: "2024-03-01T12:34:56.123456+08:00", serverIps: "10.0.0.5,10.0.1.5", seq: 17, cwd: "/home/alice", exitStatus: 0,
      durationMs: null, command: "echo 'C:\\new'\nprintf 'a\\tb'\t# tab" };
    expect(sameRecord(decodeAll(Buffer.from(line, "latin1")).records[0]!, expected(r))).toBe(true);
  });

  test("three lines: chunks of 9 bytes split a UTF-8 character and an escape", () => {
    const r = { ...base, ctime: "2024-03-01T12:34:57+08:00", serverIps: "10.0.0.5", seq: 18, cwd: "/tmp", exitStatus: null,
      command: "cat Grüße.txt\t\\" };
    const want = Buffer.concat([
      Buffer.from("CA2\tR\tweb01:4242:1709267000\t18\tcommand\t2024-03-01T12:34:57+08:00\tweb01\t10.0.0.5\troot\talice\tpts/3\t192.168.1.20\t/tmp\t\t\t3\t9\tcat Gr", "latin1"),
      Buffer.from([0xc3, 0xbc, 0xc3, 0x0a]),
      Buffer.from("CA2\tP\tweb01:4242:1709267000\t18\t2\t9\t", "latin1"),
      Buffer.from([0x9f]),
      Buffer.from("e.txt\\t\\\nCA2\tP\tweb01:4242:1709267000\t18\t3\t1\t\\\n", "latin1"),
    ]);
    expect(latin1(encodeRecord(r, 9))).toBe(latin1(want));
    expect(sameRecord(decodeAll(want).records[0]!, expected(r))).toBe(true);
  });
});

describe("chunking", () => {
  test("a 1 MiB command splits into many parts, each line a single write below PIPE_BUF", () => {
    const rng = new Rng(1);
    const cmd = new Uint8Array(1024 * 1024);
    for (let i = 0; i < cmd.length; i++) cmd[i] = rng.chance(0.05) ? rng.pick([0x5c, 0x0a, 0x09, 0x0d]) : rng.range(0x20, 0x7e);
    const enc = encodeRecord(rec({ command: cmd }));
    const escapedLen = escapeBytes(cmd).length;
    const ls = splitLines(enc);
    const nparts = Math.ceil(escapedLen / LOG_CHUNK_BYTES);
    expect(ls.length).toBe(nparts);
    expect(latin1(ls[0]!.line).split("\t")[15]).toBe(String(nparts));
    let total = 0;
    ls.forEach(({ line }, i) => {
      expect(line.length + 1).toBeLessThanOrEqual(PIPE_BUF);
      const f = latin1(line).split("\t");
      const chunkLen = Number(f[f.length - 2]);
      expect(chunkLen).toBe(f[f.length - 1]!.length);
      expect(chunkLen).toBeLessThanOrEqual(LOG_CHUNK_BYTES);
      if (i > 0) expect(f[4]).toBe(String(i + 1));
      if (i < ls.length - 1) expect(chunkLen).toBe(LOG_CHUNK_BYTES);
      total += chunkLen;
    });
    expect(total).toBe(escapedLen);
    const d = decodeAll(enc);
    expect(d.damaged).toEqual([]);
    expect(d.records.length).toBe(1);
    expect(Buffer.compare(Buffer.from(d.records[0]!.command), Buffer.from(cmd))).toBe(0);
  });

  test("the largest command (MAX_COMMAND_BYTES, all escapes) stays within MAX_LOG_PARTS", () => {
    const cmd = new Uint8Array(MAX_COMMAND_BYTES).fill(0x5c);
    const enc = encodeRecord(rec({ command: cmd }));
    const n = splitLines(enc).length;
    expect(n).toBe(Math.ceil((2 * MAX_COMMAND_BYTES) / LOG_CHUNK_BYTES));
    expect(n).toBeLessThanOrEqual(MAX_LOG_PARTS);
    const d = decodeAll(enc);
    expect(d.damaged).toEqual([]);
    expect(d.records[0]!.command.length).toBe(MAX_COMMAND_BYTES);
  });

  test("a chunk boundary may split an escape sequence", () => {
    const cmd = "a".repeat(LOG_CHUNK_BYTES - 1) + "\\" + "\n" + "b";
    const enc = encodeRecord(rec({ command: cmd }));
    const ls = splitLines(enc);
    expect(ls.length).toBe(2);
    // The head's chunk ends with the first byte of "\\\\", the part starts with the second.
    expect(ls[0]!.line[ls[0]!.line.length - 1]).toBe(0x5c);
    expect(latin1(ls[1]!.line)).toBe("CA2\tP\ts-1\t1\t2\t4\t\\\\nb");
    roundTrip(cmd);
  });

  test("a chunk boundary may split a UTF-8 character", () => {
    const cmd = "a".repeat(LOG_CHUNK_BYTES - 1) + "é€";
    const ls = splitLines(encodeRecord(rec({ command: cmd })));
    expect(ls[0]!.line[ls[0]!.line.length - 1]).toBe(0xc3);
    expect(ls[1]!.line[ls[1]!.line.length - 4]).toBe(0xa9);
    roundTrip(cmd);
  });

  test("any chunk size decodes to the same command", () => {
    const cmd = "héllo\\world\t\n\r😀".repeat(20);
    for (const size of [1, 2, 3, 5, 64, LOG_CHUNK_BYTES]) roundTrip(cmd, size);
  });

  test("a command that escapes to exactly one chunk is one line; one byte more is two", () => {
    expect(splitLines(encodeRecord(rec({ command: "a".repeat(LOG_CHUNK_BYTES) }))).length).toBe(1);
    expect(splitLines(encodeRecord(rec({ command: "a".repeat(LOG_CHUNK_BYTES + 1) }))).length).toBe(2);
    expect(splitLines(encodeRecord(rec({ command: "\n".repeat(LOG_CHUNK_BYTES / 2) }))).length).toBe(1);
  });
});

describe("no forged records", () => {
  test("a command holding a full fake CA2 or CA1 line gives one record", () => {
    const fake = latin1(encodeRecord(rec({ sessionId: "evil", seq: 99, luser: "root", command: "rm -rf /" })));
    expect(fake).toStartWith("CA2\tR\t");
    const r = rec({ command: `true\n${fake}echo done\n${latin1(asCa1(Buffer.from(fake, "latin1")))}` });
    const d = decodeAll(encodeRecord(r));
    expect(d.events.length).toBe(1);
    expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
  });

  test("a command holding a fake part line for a pending record of its own session cannot complete it", () => {
    const long = rec({ sessionId: "v", seq: 1, command: "x".repeat(LOG_CHUNK_BYTES + 10) });
    const [head, part2] = physicalLines(encodeRecord(long));
    const forger = rec({ sessionId: "w", command: `\n${latin1(partLine({ sid: "v", seq: "1", part: "2", chunk: "EVIL" }))}\n` });
    const d = decodeAll(bytes(head!, encodeRecord(forger), part2!));
    expect(d.damaged).toEqual([]);
    expect(d.records.length).toBe(2);
    expect(sameRecord(d.records[0]!, expected(forger))).toBe(true);
    expect(sameRecord(d.records[1]!, expected(long))).toBe(true);
  });

  test("a command holding a fake seed line gives one record", () => {
    const seed = "[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [evil@6.6.6.6] rm -rf /";
    for (const command of [seed, `echo hi\n${seed}`, `echo hi\n${seed}\n`, `\r\n${seed}`]) {
      const r = rec({ command });
      const d = decodeAll(encodeRecord(r));
      expect(d.events.length).toBe(1);
      expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
    }
  });

  test("head fields cannot inject fields or lines", () => {
    const r = rec({ hostname: "h\tCA1\tR\tx", cwd: "/\nCA1\tR\ts\t1\tcommand", terminal: "\\t" });
    const d = decodeAll(encodeRecord(r));
    expect(d.events.length).toBe(1);
    expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
  });
});

describe("interleaving", () => {
  test("parts of several sessions interleaved with each other and with single lines", () => {
    const a = rec({ sessionId: "A", seq: 5, command: "A".repeat(LOG_CHUNK_BYTES * 2 + 1) });
    const b = rec({ sessionId: "B", seq: 9, command: "B\\".repeat(LOG_CHUNK_BYTES) });
    const c = rec({ sessionId: "C", seq: 1, command: "echo c" });
    const [a1, a2, a3] = physicalLines(encodeRecord(a));
    const [b1, b2, b3] = physicalLines(encodeRecord(b));
    const [c1] = physicalLines(encodeRecord(c));
    const order = [a1!, b1!, a2!, c1!, b2!, a3!, b3!];
    const buf = bytes(...order);
    const offs: number[] = [];
    order.reduce((o, l) => (offs.push(o), o + l.length), 0);

    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    const events: DecodeEvent[] = [];
    const pendingAfter: (number | null)[] = [];
    for (const { line, offset } of lines(buf)) {
      events.push(...dec.push(line, offset));
      pendingAfter.push(dec.pendingFrom());
    }
    events.push(...dec.finish());
    expect(events.map((e) => e.type)).toEqual(["record", "record", "record"]);
    const recs = events as Extract<DecodeEvent, { type: "record" }>[];
    // Emitted when complete: C, then A, then B; offset = head line, end = after the last line.
    expect(sameRecord(recs[0]!.record, expected(c))).toBe(true);
    expect([recs[0]!.offset, recs[0]!.end]).toEqual([offs[3]!, offs[3]! + c1!.length]);
    expect(sameRecord(recs[1]!.record, expected(a))).toBe(true);
    expect([recs[1]!.offset, recs[1]!.end]).toEqual([offs[0]!, offs[5]! + a3!.length]);
    expect(sameRecord(recs[2]!.record, expected(b))).toBe(true);
    expect([recs[2]!.offset, recs[2]!.end]).toEqual([offs[1]!, buf.length]);
    // pendingFrom: the oldest unfinished record's first line, null when nothing is open.
    expect(pendingAfter).toEqual([offs[0]!, offs[0]!, offs[0]!, offs[0]!, offs[0]!, offs[1]!, null]);
  });

  test("records of many sessions shuffled line by line", () => {
    const rng = new Rng(5);
    const rs = Array.from({ length: 40 }, (_, i) =>
      rec({ sessionId: `s${i}`, seq: i, command: "x\ty\\z\n".repeat(rng.int(3000)) + String(i) }));
    const buf = bytes(...interleave(rng, rs.map((r) => physicalLines(encodeRecord(r)))));
    const d = decodeAll(buf);
    expect(d.damaged).toEqual([]);
    expect(d.records.length).toBe(rs.length);
    for (const r of rs) expect(d.records.some((got) => sameRecord(got, expected(r)))).toBe(true);
  });

  test("offsets and pendingFrom honour the base the caller gives", () => {
    const enc = encodeRecord(rec({ command: "y".repeat(LOG_CHUNK_BYTES + 1) }));
    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    const [first, second] = [...lines(enc, 1000)];
    expect(first!.offset).toBe(1000);
    expect(dec.push(first!.line, first!.offset)).toEqual([]);
    expect(dec.pendingFrom()).toBe(1000);
    const ev = dec.push(second!.line, second!.offset);
    expect(ev.length).toBe(1);
    expect(ev[0]).toMatchObject({ type: "record", offset: 1000, end: 1000 + enc.length });
    expect(dec.pendingFrom()).toBeNull();
  });

  test("the decoder keeps its own copy of pending lines: the caller may reuse its read buffer", () => {
    const r = rec({ command: "q".repeat(LOG_CHUNK_BYTES) + "tail" });
    const [l1, l2] = physicalLines(encodeRecord(r));
    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    const buf = new Uint8Array(8192);
    buf.set(l1!);
    expect(dec.push(buf.subarray(0, l1!.length - 1), 0)).toEqual([]);
    buf.fill(0x21); // the reporter reads the next block into the same buffer
    buf.set(l2!);
    const ev = dec.push(buf.subarray(0, l2!.length - 1), l1!.length);
    expect(ev.length).toBe(1);
    expect(ev[0]!.type).toBe("record");
    expect(sameRecord((ev[0] as Extract<DecodeEvent, { type: "record" }>).record, expected(r))).toBe(true);
  });
});

describe("damaged lines", () => {
  function one(line: Uint8Array): DecodeEvent {
    const ev = new LogDecoder({ legacyUtcOffset: 0 }).push(line, 0);
    expect(ev.length).toBe(1);
    return ev[0]!;
  }
  function reason(line: Uint8Array): string {
    const e = one(line);
    if (e.type !== "damaged") throw new Error(`expected damaged, got ${e.type}`);
    // Damage found in one line: raw is that line without its LF. Damage of a whole record
    // (its joined command does not unescape): raw is all its lines, each with its LF.
    expect(latin1(e.raw)).toBe(e.reason.startsWith("command: ") ? latin1(line) + "\n" : latin1(line));
    expect(e.offset).toBe(0);
    return e.reason;
  }

  test("the hand-made head line is valid (so the variants below test one thing each)", () => {
    expect(one(headLine()).type).toBe("record");
    expect(one(partLine({ part: "2", chunk: "x" })).type).toBe("damaged");
  });

  test("a truncated line: the chunk is shorter than declared", () => {
    const l = splitLines(encodeRecord(rec({ command: "echo hello world" })))[0]!.line;
    expect(reason(l.subarray(0, l.length - 3))).toBe("chunk is 13 bytes, header says 16");
  });

  test("a truncated line cut before the chunk has too few fields", () => {
    const l = splitLines(encodeRecord(rec()))[0]!.line;
    const cut = latin1(l).indexOf("/home/alice");
    expect(reason(l.subarray(0, cut))).toBe("head line does not have 18 fields");
    expect(reason(asCa1(bytes(l, "\n")).subarray(0, cut))).toBe("head line does not have 17 fields");
    expect(reason(raw("CA1", "P", "s-1", "1", "2", "3"))).toBe("part line does not have 7 fields");
    expect(reason(raw("CA2", "P", "s-1", "1", "2", "3"))).toBe("part line does not have 7 fields");
  });

  test("length mismatch both ways", () => {
    expect(reason(headLine({ chunk: "ls", len: "3" }))).toBe("chunk is 2 bytes, header says 3");
    expect(reason(headLine({ chunk: "ls", len: "1" }))).toBe("chunk is 2 bytes, header says 1");
    expect(reason(headLine({ chunk: "ls", len: "02" }))).toBe('len "02" is not a number');
    expect(reason(headLine({ chunk: "ls", len: "" }))).toBe('len "" is not a number');
    expect(reason(headLine({ chunk: "ls", len: String(MAX_LOG_LINE_BYTES + 1) }))).toContain("is not a number");
  });

  test("wrong field count", () => {
    // A raw TAB in the command (the writer forgot to escape it) adds a field.
    expect(reason(headLine({ chunk: "a\tb", len: "3" }))).toBe("head line does not have 18 fields");
    expect(reason(headLine({ magic: "CA1", chunk: "a\tb", len: "3" }))).toBe("head line does not have 17 fields");
    expect(reason(raw("CA1", "R", "s-1"))).toBe("head line does not have 17 fields");
    expect(reason(raw("CA2", "R", "s-1"))).toBe("head line does not have 18 fields");
    expect(reason(raw("CA1", "P", "s-1", "1", "2", "1", "x", "y"))).toBe("part line does not have 7 fields");
    // The type field must be exactly one character.
    expect(reason(raw("CA1", "RR", ...Array(15).fill("x")))).toBe("head line does not have 17 fields");
    expect(reason(raw("CA2", "RR", ...Array(16).fill("x")))).toBe("head line does not have 18 fields");
  });

  test("bad escapes in a field or the command", () => {
    expect(reason(headLine({ host: "web\\q01" }))).toBe("hostname: unknown escape \\q");
    expect(reason(headLine({ host: "web01\\" }))).toBe("hostname: dangling backslash");
    expect(reason(headLine({ chunk: "echo \\x" }))).toBe("command: unknown escape \\x");
    expect(reason(headLine({ chunk: "echo \\" }))).toBe("command: dangling backslash");
  });

  test("a dangling backslash at the end of the last part (a record cut mid-escape)", () => {
    const d = decodeAll(bytes(headLine({ nparts: "2", chunk: "abc" }), "\n", partLine({ part: "2", chunk: "d\\" }), "\n"));
    expect(d.records).toEqual([]);
    expect(d.damaged.length).toBe(1);
    expect(d.damaged[0]!.reason).toBe("command: dangling backslash");
    expect(latin1(d.damaged[0]!.raw)).toBe(latin1(bytes(headLine({ nparts: "2", chunk: "abc" }), "\n", partLine({ part: "2", chunk: "d\\" }), "\n")));
  });

  test("bad numbers and identifiers", () => {
    expect(reason(headLine({ sid: "" }))).toBe("bad session id");
    expect(reason(headLine({ sid: "a b" }))).toBe("bad session id");
    expect(reason(headLine({ sid: "x".repeat(65) }))).toBe("bad session id");
    expect(reason(headLine({ seq: "01" }))).toBe('seq "01" is not a number');
    expect(reason(headLine({ seq: "-1" }))).toBe('seq "-1" is not a number');
    expect(reason(headLine({ seq: "9007199254740992" }))).toBe('seq "9007199254740992" is not a number');
    expect(reason(headLine({ kind: "login" }))).toBe('unknown kind "login"');
    expect(reason(headLine({ exit: "256" }))).toBe('exit "256" is not a number');
    expect(reason(headLine({ exit: "-1" }))).toBe('exit "-1" is not a number');
    expect(reason(headLine({ magic: "CA1", exit: "256" }))).toBe('exit "256" is not a number');
    expect(reason(headLine({ magic: "CA1", nparts: "0" }))).toBe("nparts is 0");
    expect(reason(headLine({ nparts: "0" }))).toBe("nparts is 0");
    expect(reason(headLine({ nparts: String(MAX_LOG_PARTS + 1) }))).toBe(`nparts "${MAX_LOG_PARTS + 1}" is not a number`);
    expect(reason(raw("CA1", "X", "s-1"))).toBe("unknown line type");
    expect(reason(raw("CA2", "X", "s-1"))).toBe("unknown line type");
  });

  test("durationMs: empty or a canonical decimal 0 … 2^53-1", () => {
    for (const [dur, want] of [["", null], ["0", 0], ["1", 1], ["1834", 1834], ["9007199254740991", Number.MAX_SAFE_INTEGER]] as const) {
      const e = one(headLine({ dur }));
      if (e.type !== "record") throw new Error(`durationMs ${JSON.stringify(dur)}: ${e.type === "damaged" ? e.reason : e.type}`);
      expect(e.record.durationMs).toBe(want);
    }
    for (const dur of ["01", "00", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "9007199254740992", "12345678901234567", "\xe9", "NaN"]) {
      expect(reason(headLine({ dur }))).toBe(`durationMs ${JSON.stringify(dur)} is not a number`);
    }
  });

  test("an ASCII head, one with a byte ≥ 0x80 and one with an escape give the same reasons and fields", () => {
    // The decoder takes the fields of an ASCII head without a backslash from one decoded string,
    // and decodes each field on its own otherwise. (raw() writes each char as one latin1 byte.)
    for (const host of ["web01", "w\xe9b01", "web\\\\01"]) {
      expect(reason(headLine({ host, seq: "01" }))).toBe('seq "01" is not a number');
      expect(reason(headLine({ host, seq: "12345678901234567" }))).toBe('seq "12345678901234567" is not a number');
      expect(reason(headLine({ host, sid: "s\xe9" }))).toBe("bad session id");
      expect(reason(headLine({ host, kind: "l\xe9gin" }))).toBe('unknown kind "l\xe9gin"');
      expect(reason(headLine({ host, exit: "2\xe9" }))).toBe('exit "2\xe9" is not a number');
      expect(reason(headLine({ host, len: "\xe92" }))).toBe('len "\xe92" is not a number');
      expect(reason(headLine({ host, chunk: "a\\qb" }))).toBe("command: unknown escape \\q");
      const e = one(headLine({ host, chunk: "\xe9\\\\" }));
      if (e.type !== "record") throw new Error(`expected a record, got ${e.type}`);
      expect(e.record.hostname).toBe({ web01: "web01", "w\xe9b01": "w\ufffdb01" }[host] ?? "web\\01");
      expect([e.record.serverIps, e.record.luser, e.record.cwd, e.record.seq, e.record.exitStatus]).toEqual(["10.0.0.1", "alice", "/root", 1, 0]);
      expect(latin1(e.record.command)).toBe("\xe9\\");
    }
  });

  test("an over-long line is damaged without being parsed", () => {
    const long = bytes("CA1\tR\t", "x".repeat(MAX_LOG_LINE_BYTES));
    expect(reason(long)).toBe(`line longer than ${MAX_LOG_LINE_BYTES} bytes`);
    const foreignLong = new Uint8Array(MAX_LOG_LINE_BYTES + 1).fill(0x61);
    expect(reason(foreignLong)).toBe(`line longer than ${MAX_LOG_LINE_BYTES} bytes`);
    const legacyTooLong = bytes("[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@1.1.1.1] ", "x".repeat(MAX_LEGACY_LINE_BYTES));
    expect(reason(legacyTooLong)).toBe(`line longer than ${MAX_LEGACY_LINE_BYTES} bytes`);
  });

  test("a 2018 line holds a whole command of up to MAX_COMMAND_BYTES on one line, as the 2018 hook wrote it", () => {
    for (const n of [MAX_LOG_LINE_BYTES + 1, 1024 * 1024, MAX_COMMAND_BYTES]) {
      const command = "y".repeat(n - 5) + " \xe9€x";
      const d = decodeAll(bytes(`[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@1.1.1.1] ${command}`, "\n"));
      expect(d.events.map((e) => e.type)).toEqual(["record"]);
      expect(Buffer.from(d.records[0]!.command as Uint8Array).equals(Buffer.from(command))).toBe(true);
    }
  });

  test("a truncated line merged with the next line", () => {
    const a = encodeRecord(rec({ sessionId: "a", command: "echo first" }));
    const b = encodeRecord(rec({ sessionId: "b", command: "echo second" }));
    for (let cut = 1; cut < a.length - 1; cut++) {
      const d = decodeAll(bytes(a.subarray(0, cut), b));
      expect(d.records).toEqual([]);
      expect(d.damaged.length + d.foreign.length).toBe(1);
    }
  });

  test("a truncated seed line merged with a CA1 line is damaged, not a seed record", () => {
    const seed = "[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@1.1.1.1] echo fir";
    const d = decodeAll(bytes(seed, encodeRecord(rec())));
    expect(d.records).toEqual([]);
    expect(d.damaged.length).toBe(1);
  });

  test("a part line without its head", () => {
    expect(reason(partLine({ part: "2", chunk: "x" }))).toBe("part line without its head line");
    // The part names another seq of a pending session: still no head.
    const d = decodeAll(bytes(headLine({ nparts: "2" }), "\n", partLine({ seq: "2", part: "2", chunk: "x" }), "\n"));
    expect(d.damaged.map((e) => e.reason)).toEqual(["part line without its head line", "record parts missing at end of input (1 of 2)"]);
  });

  test("an out-of-order part abandons the record", () => {
    const r = rec({ command: "z".repeat(LOG_CHUNK_BYTES * 3) });
    const [h, p2, p3] = physicalLines(encodeRecord(r));
    const d = decodeAll(bytes(h!, p3!, p2!));
    expect(d.records).toEqual([]);
    expect(d.damaged.map((e) => e.reason)).toEqual([
      "part 3 out of order (1 of 3)",
      "part 3 out of order",
      "part line without its head line",
    ]);
    expect(latin1(d.damaged[0]!.raw)).toBe(latin1(h!));
    expect(d.damaged[0]!.offset).toBe(0);
    expect(d.damaged[1]!.offset).toBe(h!.length);
    expect(d.damaged[2]!.offset).toBe(h!.length + p3!.length);
  });

  test("a duplicated part is out of order", () => {
    const r = rec({ command: "z".repeat(LOG_CHUNK_BYTES * 3) });
    const [h, p2, p3] = physicalLines(encodeRecord(r));
    const d = decodeAll(bytes(h!, p2!, p2!, p3!));
    expect(d.records).toEqual([]);
    expect(d.damaged.map((e) => e.reason)).toEqual([
      "part 2 out of order (2 of 3)",
      "part 2 out of order",
      "part line without its head line",
    ]);
  });

  test("missing parts: abandoned when a newer record of the same session arrives", () => {
    const old = rec({ sessionId: "S", seq: 1, command: "o".repeat(LOG_CHUNK_BYTES * 3) });
    const [h, p2] = physicalLines(encodeRecord(old));
    const other = rec({ sessionId: "T", seq: 1, command: "t".repeat(LOG_CHUNK_BYTES + 1) });
    const [t1, t2] = physicalLines(encodeRecord(other));
    const next = rec({ sessionId: "S", seq: 2, command: "echo next" });
    const buf = bytes(h!, t1!, p2!, encodeRecord(next), t2!);
    const d = decodeAll(buf);
    expect(d.events.map((e) => e.type)).toEqual(["damaged", "record", "record"]);
    expect(d.damaged[0]!.reason).toBe("record parts missing (2 of 3)");
    expect(d.damaged[0]!.offset).toBe(0);
    // The damaged event carries the record's lines (not the other session's), each with its LF.
    expect(latin1(d.damaged[0]!.raw)).toBe(latin1(bytes(h!, p2!)));
    expect(sameRecord(d.records[0]!, expected(next))).toBe(true);
    // The other session's record is not disturbed.
    expect(sameRecord(d.records[1]!, expected(other))).toBe(true);
  });

  test("a repeated head (same session and seq) restarts the record", () => {
    const r = rec({ command: "r".repeat(LOG_CHUNK_BYTES + 5) });
    const [h, p2] = physicalLines(encodeRecord(r));
    const d = decodeAll(bytes(h!, h!, p2!));
    expect(d.events.map((e) => e.type)).toEqual(["damaged", "record"]);
    expect(d.damaged[0]!.reason).toBe("record parts missing (1 of 2)");
    expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
  });

  test("missing parts at finish()", () => {
    const r = rec({ command: "f".repeat(LOG_CHUNK_BYTES * 2 + 1) });
    const [h, p2] = physicalLines(encodeRecord(r));
    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    expect(dec.push(h!.subarray(0, h!.length - 1), 100)).toEqual([]);
    expect(dec.push(p2!.subarray(0, p2!.length - 1), 100 + h!.length)).toEqual([]);
    expect(dec.pendingFrom()).toBe(100);
    const fin = dec.finish();
    expect(fin.length).toBe(1);
    expect(fin[0]).toMatchObject({ type: "damaged", reason: "record parts missing at end of input (2 of 3)", offset: 100 });
    expect(latin1((fin[0] as Extract<DecodeEvent, { type: "damaged" }>).raw)).toBe(latin1(bytes(h!, p2!)));
    expect(dec.pendingFrom()).toBeNull();
    expect(dec.finish()).toEqual([]);
  });

  test("missing parts: abandoned MAX_PENDING_GAP bytes after the latest part", () => {
    const span = MAX_PENDING_GAP;
    const r = rec({ command: "g".repeat(LOG_CHUNK_BYTES * 2 + 1) });
    const [h, p2, p3] = physicalLines(encodeRecord(r));
    const filler = splitLines(encodeRecord(rec({ sessionId: "other", command: "x" })))[0]!.line;
    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    dec.push(h!.subarray(0, h!.length - 1), 0);
    // The gap counts from the latest part, not from the head.
    dec.push(p2!.subarray(0, p2!.length - 1), 1000);
    // Exactly MAX_PENDING_GAP later the record is still waiting…
    expect(dec.push(filler, 1000 + span).map((e) => e.type)).toEqual(["record"]);
    expect(dec.pendingFrom()).toBe(0);
    // …one byte further it is given up, before the line at hand is read.
    const ev = dec.push(filler, 1000 + span + 1);
    expect(ev.map((e) => e.type)).toEqual(["damaged", "record"]);
    expect((ev[0] as Extract<DecodeEvent, { type: "damaged" }>).reason).toBe("record parts missing (2 of 3)");
    expect(dec.pendingFrom()).toBeNull();
    // Its late part is then a part without head.
    expect(dec.push(p3!.subarray(0, p3!.length - 1), span + 5000).map((e) => e.type === "damaged" && e.reason)).toEqual(["part line without its head line"]);
  });

  test("missing parts: abandoned after MAX_PENDING_LINES lines since the latest part, not one line sooner", () => {
    const r = rec({ command: "l".repeat(LOG_CHUNK_BYTES * 2 + 1) });
    const [h, p2, p3] = physicalLines(encodeRecord(r));
    const filler = splitLines(encodeRecord(rec({ sessionId: "other", command: "x" })))[0]!.line;
    const run = (between: number) => {
      const dec = new LogDecoder({ legacyUtcOffset: 0 });
      const events: DecodeEvent[] = [...dec.push(h!.subarray(0, h!.length - 1), 0), ...dec.push(p2!.subarray(0, p2!.length - 1), 1)];
      for (let i = 0; i < between; i++) events.push(...dec.push(filler, 2 + i));
      events.push(...dec.push(p3!.subarray(0, p3!.length - 1), 2 + between));
      return classify(events);
    };
    const inTime = run(MAX_PENDING_LINES - 1);
    expect(inTime.damaged).toEqual([]);
    expect(inTime.records.filter((x) => sameRecord(x, expected(r))).length).toBe(1);
    const late = run(MAX_PENDING_LINES);
    expect(late.damaged.map((e) => e.reason)).toEqual(["record parts missing (2 of 3)", "part line without its head line"]);
    expect(late.records.filter((x) => sameRecord(x, expected(r)))).toEqual([]);
  });

  test("giveUp(before) abandons only the unfinished records whose head starts before it", () => {
    const a = rec({ sessionId: "A", command: "a".repeat(LOG_CHUNK_BYTES + 1) });
    const b = rec({ sessionId: "B", command: "b".repeat(LOG_CHUNK_BYTES + 1) });
    const [ah] = physicalLines(encodeRecord(a));
    const [bh, bp] = physicalLines(encodeRecord(b));
    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    dec.push(ah!.subarray(0, ah!.length - 1), 0);
    dec.push(bh!.subarray(0, bh!.length - 1), ah!.length);
    const given = dec.giveUp(1);
    expect(given.map((e) => e.type === "damaged" && e.reason)).toEqual(["record parts missing, given up by the reporter (1 of 2)"]);
    expect(given[0]!.offset).toBe(0);
    expect(dec.pendingFrom()).toBe(ah!.length);
    // B goes on and completes.
    const done = dec.push(bp!.subarray(0, bp!.length - 1), ah!.length + bh!.length);
    expect(done.map((e) => e.type)).toEqual(["record"]);
    expect(dec.giveUp(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  test("a record whose parts add up to too many bytes is abandoned", () => {
    const chunk = "x".repeat(MAX_LOG_LINE_BYTES - 200);
    const dec = new LogDecoder({ legacyUtcOffset: 0 });
    const events: DecodeEvent[] = [...dec.push(headLine({ nparts: String(MAX_LOG_PARTS), chunk }), 0)];
    let off = 1;
    for (let part = 2; part <= 200 && !events.some((e) => e.type === "damaged"); part++) {
      events.push(...dec.push(partLine({ part: String(part), chunk }), off++));
    }
    const d = classify(events);
    expect(d.records).toEqual([]);
    expect(d.damaged.length).toBe(1);
    expect(d.damaged[0]!.reason).toMatch(/^record too long \(\d+ of 4096\)$/);
    const parts = Number(/\((\d+) of/.exec(d.damaged[0]!.reason)![1]);
    expect(parts * chunk.length).toBeGreaterThan(MAX_COMMAND_BYTES * 2 + LOG_CHUNK_BYTES);
    expect((parts - 1) * chunk.length).toBeLessThanOrEqual(MAX_COMMAND_BYTES * 2 + LOG_CHUNK_BYTES);
  });
});

describe("lines that begin like a 2018 record ([date]) and do not parse are damaged with a reason, never foreign", () => {
  test.each([
    ["[2018-12-11 11:58:00] ls", "a half seed line"],
    ["[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@1.1.1.1]", "a seed line without the space before the command"],
    ["[2018-12-11 11:58] [(root) root pts/0 1.2.3.4] [h@1.1.1.1] ls", "a seed line with a short time"],
    ["[2018-12-11 11:58:00] [root root pts/0 1.2.3.4] [h@1.1.1.1] ls", "a seed line without (suser)"],
    ["[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h] ls", "a seed line without @"],
    ["[2018-12-11 11:58:00] [(root) root pts/3 [12345] [h@1.1.1.1] ls", "an unbalanced [ in the who part"],
  ])("%p (%s)", (line) => {
    const d = decodeAll(bytes(line, "\n"));
    expect(d.events.map((e) => e.type)).toEqual(["damaged"]);
    expect(latin1(d.damaged[0]!.raw)).toBe(line);
    expect(d.damaged[0]!.reason).toContain("2018 line");
  });
});

describe("2018 lines as the 2018 hook wrote them", () => {
  test.each([
    ["[2024-05-01 03:00:00] [(root) root pts/3 [12345]] [web01@10.0.0.1] vim /etc/hosts", "root", "pts/3", "[12345]", "a mosh session (who am i: (mosh [12345]))"],
    ["[2024-05-01 03:00:00] [(root) root pts/4 [mosh]] [web01@10.0.0.1] ls", "root", "pts/4", "[mosh]", "mosh without a pid"],
    ["[2024-05-01 03:00:00] [(root) alice tty1 :0] [web01@10.0.0.1] ls", "alice", "tty1", ":0", "an X display"],
    ["[2024-05-01 03:00:00] [(root) ] [web01@10.0.0.1] crontab -l", "", "", "", "no terminal (cron, su -c)"],
  ])("%p", (line, luser, terminal, clientIp) => {
    const d = decodeAll(bytes(line, "\n"));
    expect(d.events.map((e) => e.type)).toEqual(["record"]);
    const r = d.records[0]!;
    expect({ suser: r.suser, luser: r.luser, terminal: r.terminal, clientIp: r.clientIp, hostname: r.hostname, legacy: r.legacy })
      .toEqual({ suser: "root", luser, terminal, clientIp, hostname: "web01", legacy: true });
    expect(latin1(r.command as Uint8Array)).toBe(line.slice(line.indexOf("@10.0.0.1] ") + "@10.0.0.1] ".length));
  });
});

describe("foreign lines", () => {
  test.each([
    ["", "a blank line"],
    ["#1544500000", "a bash history timestamp"],
    ["ls -la", "a raw history command"],
    ["CA1 R s 1 command", "spaces instead of TABs"],
    ["CA3\tR\ts\t1", "another magic"],
    ["CA0\tR\ts\t1", "another magic below"],
    ["CA2 R s 1 command", "CA2 with spaces instead of TABs"],
    ["ca1\tR\ts\t1", "lower-case magic"],
    ["CA1", "just the magic"],
    ["[2018] ls", "a bracketed year"],
    ["[12:00:00] service started", "a bracketed time"],
  ])("%p (%s)", (line) => {
    const d = decodeAll(bytes(line, "\n"));
    expect(d.events.length).toBe(1);
    expect(d.foreign.length).toBe(1);
    expect(latin1(d.foreign[0]!.raw)).toBe(line);
  });

  test("a bash history file mixed with CA2 and CA1 lines", () => {
    const r = rec({ durationMs: 12 });
    const old = rec({ seq: 2, command: "uptime" });
    const d = decodeAll(bytes("#1544500000\nls -la\n", encodeRecord(r), "#1544500001\n\n", asCa1(encodeRecord(old)), "cd /\n"));
    expect(d.events.map((e) => e.type)).toEqual(["foreign", "foreign", "record", "foreign", "foreign", "record", "foreign"]);
    expect(sameRecord(d.records[0]!, expected(r))).toBe(true);
    expect(sameRecord(d.records[1]!, expected(old))).toBe(true);
  });
});

describe("a line with a record start after other bytes is damaged, never foreign (a line left unfinished, a record written onto it)", () => {
  const SEED = "[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1] ls -la";
  const head = () => encodeRecord(rec({ command: "rm -rf /tmp/x" })).subarray(0, -1);
  const ca1Head = () => asCa1(encodeRecord(rec({ command: "uptime" }))).subarray(0, -1);
  test.each([
    ["x", "CA2 head", head],
    ["#1544500000", "CA2 head", head],
    ["\t\t", "CA2 head", head],
    ["x", "CA1 head", ca1Head],
    ["x", "2018 line", () => te.encode(SEED)],
    ["ls -la ", "2018 line", () => te.encode(SEED)],
    ["CA", "CA2 head", head],
    ["[", "2018 line", () => te.encode(SEED)],
  ])("%p then a %s", (prefix, _what, line) => {
    const glued = bytes(prefix, line());
    const d = decodeAll(bytes(glued, "\n"));
    expect(d.events.map((e) => e.type)).toEqual(["damaged"]);
    expect(latin1(d.damaged[0]!.raw)).toBe(latin1(glued));
    expect(d.damaged[0]!.reason).toMatch(/^record start \((CA[12] TAB|\[date\] of a 2018 line)\) after \d+ byte\(s\) of something else: /);
  });

  test("a glued part line is damaged, and so is the record it belonged to", () => {
    const r = rec({ command: "x".repeat(20) });
    const [h, p2, p3] = physicalLines(encodeRecord(r, 8));
    const d = decodeAll(bytes(h!, "y", p2!, p3!));
    expect(d.records).toEqual([]);
    expect(d.foreign).toEqual([]);
    expect(d.damaged.map((e) => e.reason.slice(0, 20))).toEqual(["record start (CA2 TA", "part 3 out of order ", "part 3 out of order"]);
  });

  test("what holds no record start stays foreign", () => {
    const d = decodeAll(bytes("xCA3\tR\n", "xCA2 R\n", "xCA2R\n", "x[2018] ls\n", "x[12:00:00] up\n", "x[2018-12-11 11\n", "ca2\tR\n"));
    expect(d.events.map((e) => e.type)).toEqual(Array(7).fill("foreign"));
  });

  test("a 2018 line whose command holds a record start is still read as one (the 2018 hook logged such commands)", () => {
    const d = decodeAll(bytes(SEED, " '[2018-12-11 11:58'\n"));
    expect(d.events.map((e) => e.type)).toEqual(["record"]);
  });
});

describe("legacy seed lines", () => {
  function legacy(line: string | Uint8Array, offset = 480): LogRecord {
    const d = decodeAll(bytes(line, "\n"), offset);
    expect(d.events.length).toBe(1);
    expect(d.records.length).toBe(1);
    return d.records[0]!;
  }

  test("an SSH login line", () => {
    const r = legacy("[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1,10.0.0.2] ls -la");
    expect(r).toEqual({
      kind: "command",
      ctime: "2018-12-11 11:58:00",
      utcOffset: "+08:00",
      hostname: "web01",
      serverIps: "10.0.0.1,10.0.0.2",
      suser: "root",
      luser: "root",
      terminal: "pts/0",
      clientIp: "192.168.1.2",
      command: te.encode("ls -la"),
      legacy: true,
    });
  });

  test("the offset stated for zone-less seed times is the decoder's", () => {
    expect(legacy("[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@] x", -330).utcOffset).toBe("-05:30");
    expect(legacy("[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@] x", 0).utcOffset).toBe("+00:00");
  });

  test("after su: suser is the current user, luser the login user", () => {
    const r = legacy("[2018-12-11 11:58:00] [(root) alice pts/1 10.1.1.1] [h@10.0.0.1] systemctl restart nginx");
    expect([r.suser, r.luser, r.terminal, r.clientIp]).toEqual(["root", "alice", "pts/1", "10.1.1.1"]);
  });

  test("a console login: the login time stands where the client IP would be", () => {
    const r = legacy("[2018-12-11 11:58:00] [(root) root tty1 11:58] [web01@10.0.0.1] reboot");
    expect([r.luser, r.terminal, r.clientIp]).toEqual(["root", "tty1", "11:58"]);
    const n = normalizeRecord(toWireRecord(r), { legacyUtcOffset: 480 });
    if (typeof n === "string") throw new Error(n);
    expect(n.clientIp).toBe("");
    expect(n.terminal).toBe("tty1");
  });

  test("no utmp entry: `[(root) ]`", () => {
    const r = legacy("[2018-12-11 11:58:00] [(root) ] [web01@10.0.0.1] crontab -l");
    expect([r.suser, r.luser, r.terminal, r.clientIp]).toEqual(["root", "", "", ""]);
    expect(latin1(r.command)).toBe("crontab -l");
  });

  test("`] [` in the command cannot move fields (parsed left to right)", () => {
    const line = '[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [web01@10.0.0.1] echo "] [(evil) x y 6.6.6.6] [evil@6.6.6.6] "';
    const r = legacy(line);
    expect([r.suser, r.luser, r.clientIp, r.hostname, r.serverIps]).toEqual(["root", "root", "1.2.3.4", "web01", "10.0.0.1"]);
    expect(latin1(r.command)).toBe('echo "] [(evil) x y 6.6.6.6] [evil@6.6.6.6] "');
  });

  test("the seed's own greedy regex would have moved the fields (why we parse left to right)", () => {
    const line = '[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [web01@10.0.0.1] echo "] [x] [y"';
    const script = [
      "import re, sys",
      "pat = re.compile(r'^(\\[.*\\])\\s(\\[.*\\])\\s(\\[.*\\])\\s(.*)$')",
      "print([i for i in pat.split(sys.argv[1]) if i][3])",
    ].join("\n");
    const p = Bun.spawnSync(["python3", "-c", script, line]);
    expect(p.exitCode).toBe(0);
    expect(p.stdout.toString().trim()).toBe('[y"');
    expect(latin1(legacy(line).command)).toBe('echo "] [x] [y"');
  });

  test("the command is the exact rest of the line, bytes included", () => {
    const cmd = Uint8Array.of(0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0xc3, 0xa9, 0x20, 0x20, 0x5c);
    const r = legacy(bytes("[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [web01@10.0.0.1] ", cmd));
    expect([...r.command]).toEqual([...cmd]);
    const w = toWireRecord(r);
    expect(w.command).toBeUndefined();
    expect(w.commandB64).toBe(Buffer.from(cmd).toString("base64"));
  });

  test("UTF-8 hostnames and users are decoded", () => {
    const r = legacy("[2018-12-11 11:58:00] [(管理员) 用户 pts/0 1.2.3.4] [主机@10.0.0.1] 列表");
    expect([r.suser, r.luser, r.hostname]).toEqual(["管理员", "用户", "主机"]);
    expect(new TextDecoder().decode(r.command)).toBe("列表");
  });

  test("a seed record goes through toWireRecord and normalizeRecord with the seed's oci", () => {
    const r = legacy("[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1,10.0.0.2] ls -la");
    const w = toWireRecord(r);
    expect(w).toEqual({
      kind: "command", ctime: "2018-12-11 11:58:00", utcOffset: "+08:00", hostname: "web01", serverIps: "10.0.0.1,10.0.0.2",
      suser: "root", luser: "root", terminal: "pts/0", clientIp: "192.168.1.2", command: "ls -la",
    });
    const n = normalizeRecord(w, { legacyUtcOffset: 0 });
    if (typeof n === "string") throw new Error(n);
    // Same key as the seed's backend computed for the same line.
    const seedPayload = { ctime: "2018-12-11 11:58:00", suser: "root", luser: "root", terminal: "pts/0", clientIp: "192.168.1.2", hostname: "web01", serverIps: "10.0.0.1,10.0.0.2", command: "ls -la" };
    const s = normalizeRecord(seedPayload, { legacyUtcOffset: 480 });
    if (typeof s === "string") throw new Error(s);
    expect(n.oci).toBe(s.oci);
    expect(n.tsUs).toBe(s.tsUs);
    expect(n.utcOffset).toBe(480);
  });

  test("a line with a TAB is not a seed line (the seed's `echo $y` never writes one)", () => {
    const d = decodeAll(bytes("[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@1.1.1.1] a\tb\n"));
    expect(d.records).toEqual([]);
    expect(d.damaged.length).toBe(1);
  });
});

describe("lines()", () => {
  test("yields complete lines with offsets and leaves a partial last line", () => {
    const got = [...lines(bytes("ab\n\ncd\nef"), 10)].map(({ line, offset }) => [latin1(line), offset]);
    expect(got).toEqual([["ab", 10], ["", 13], ["cd", 14]]);
  });

  test("nothing for an empty buffer or one without LF", () => {
    expect([...lines(new Uint8Array(0))]).toEqual([]);
    expect([...lines(bytes("no newline"))]).toEqual([]);
  });

  test("CR is part of the line", () => {
    expect([...lines(bytes("a\r\n"))].map((l) => latin1(l.line))).toEqual(["a\r"]);
  });

  test("feeding a file in arbitrary blocks gives the same events as feeding it whole", () => {
    const rng = new Rng(3);
    const rs = Array.from({ length: 30 }, (_, i) => rec({ sessionId: `b${i % 7}`, seq: i, command: "w\n".repeat(rng.int(4000)) }));
    const file = bytes("#1544500000\n", ...rs.map((r) => encodeRecord(r)), "[2018-12-11 11:58:00] [(root) ] [h@] x\n", "trailing partial");
    const whole = decodeAll(file);
    // Stream: blocks of random size; keep the unfinished tail and prepend it to the next block.
    const dec = new LogDecoder({ legacyUtcOffset: 480 });
    const events: DecodeEvent[] = [];
    let carry = new Uint8Array(0), base = 0, pos = 0;
    while (pos < file.length) {
      const n = rng.range(1, 5000);
      const buf = bytes(carry, file.subarray(pos, pos + n));
      pos += n;
      let used = 0;
      for (const { line, offset } of lines(buf, base)) {
        events.push(...dec.push(line, offset));
        used = offset - base + line.length + 1;
      }
      carry = buf.slice(used);
      base += used;
    }
    events.push(...dec.finish());
    expect(latin1(carry)).toBe("trailing partial");
    const streamed = classify(events);
    expect(streamed.events.length).toBe(whole.events.length);
    expect(streamed.records.length).toBe(rs.length + 1);
    streamed.records.forEach((r, i) => expect(sameRecord(r, whole.records[i]!)).toBe(true));
  });
});

describe("toWireRecord", () => {
  test("a CA2 record becomes a valid wire record that normalises to the same values", () => {
    const r = rec({ command: "echo 'x'\n\tdone", exitStatus: 3, cwd: "/srv", durationMs: 2500 });
    const got = decodeAll(encodeRecord(r)).records[0]!;
    const w = toWireRecord(got);
    expect(w).toEqual({
      kind: "command", ctime: r.ctime, hostname: r.hostname, serverIps: r.serverIps, suser: r.suser, luser: r.luser,
      terminal: r.terminal, clientIp: r.clientIp, sessionId: r.sessionId, seq: r.seq, cwd: "/srv", exitStatus: 3,
      durationMs: 2500, command: "echo 'x'\n\tdone",
    });
    expect(wireRecordSchema.safeParse(w).success).toBe(true);
    const n = normalizeRecord(w, { legacyUtcOffset: 0 });
    if (typeof n === "string") throw new Error(n);
    expect(n.command).toBe("echo 'x'\n\tdone");
    expect(n.sessionId).toBe(r.sessionId);
    expect(n.utcOffset).toBe(480);
    expect(n.durationMs).toBe(2500);
  });

  test("a CA1 record and a CA2 record without a measured start: durationMs null; a seed record: no durationMs (null once normalised)", () => {
    const r = rec({ durationMs: 2500 });
    for (const line of [asCa1(encodeRecord(r)), encodeRecord({ ...r, durationMs: null })]) {
      const w = toWireRecord(decodeAll(line).records[0]!);
      expect(w.durationMs).toBeNull();
      const n = normalizeRecord(w, { legacyUtcOffset: 0 });
      if (typeof n === "string") throw new Error(n);
      expect(n.durationMs).toBeNull();
    }
    const seed = toWireRecord(decodeAll(bytes("[2018-12-11 11:58:00] [(root) root pts/0 1.2.3.4] [h@1.1.1.1] ls\n")).records[0]!);
    expect("durationMs" in seed).toBe(false);
    const n = normalizeRecord(seed, { legacyUtcOffset: 0 });
    if (typeof n === "string") throw new Error(n);
    expect(n.durationMs).toBeNull();
  });

  test("non-UTF-8 commands go as commandB64 and come back byte-exact in commandRaw", () => {
    const cmd = Uint8Array.of(0x6c, 0x73, 0x20, 0xb0, 0xa1, 0xff);
    const got = decodeAll(encodeRecord(rec({ command: cmd }))).records[0]!;
    const w = toWireRecord(got);
    expect(w.command).toBeUndefined();
    expect(w.commandB64).toBe(Buffer.from(cmd).toString("base64"));
    const n = normalizeRecord(w, { legacyUtcOffset: 0 });
    if (typeof n === "string") throw new Error(n);
    expect([...n.commandRaw!]).toEqual([...cmd]);
  });

  test("null exit status and session records without a command", () => {
    const got = decodeAll(encodeRecord(rec({ kind: "session_end", command: "", exitStatus: null }))).records[0]!;
    const w = toWireRecord(got);
    expect(w.exitStatus).toBeNull();
    expect(w.command).toBe("");
    expect(typeof normalizeRecord(w, { legacyUtcOffset: 0 })).toBe("object");
  });
});
