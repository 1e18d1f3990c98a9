import { describe, expect, test } from "bun:test";
import {
  MAX_COMMAND_BYTES,
  MAX_HOSTNAME,
  MAX_SERVER_IPS,
  commandFromBytes,
  normalizeRecord,
  wireRecordSchema,
  type AuditRecord,
} from "../../protocol/index.ts";
import { pythonMd5 } from "./helpers.ts";

const opts = { legacyUtcOffset: 480 };

/** Exactly what the 2018 python reporter posts: its eight keys, values as its regex cut them. */
const SEED = {
  ctime: "2018-12-11 11:58:00",
  suser: "root",
  luser: "root",
  terminal: "pts/0",
  clientIp: "192.168.1.2",
  hostname: "web01",
  serverIps: "10.0.0.1,10.0.0.2",
  command: "ls -la",
};

/** A record as the cmdaudit reporter sends one read from a `CA1` line. */
const V2 = {
  kind: "command",
  ctime: "2024-03-01T12:34:56.123456+08:00",
  hostname: "web01",
  serverIps: "10.0.0.1",
  suser: "root",
  luser: "alice",
  terminal: "pts/3",
  clientIp: "192.168.1.20",
  sessionId: "s-1",
  seq: 7,
  cwd: "/root",
  exitStatus: 0,
  command: "ls",
};

function ok(input: unknown, o = opts): AuditRecord {
  const r = normalizeRecord(input, o);
  if (typeof r === "string") throw new Error(`expected a record, got: ${r}`);
  return r;
}

function err(input: unknown, o = opts): string {
  const r = normalizeRecord(input, o);
  if (typeof r !== "string") throw new Error(`expected an error, got a record: ${JSON.stringify(r)}`);
  return r;
}

const us = (iso: string) => Date.parse(iso) * 1000;

describe("normalizeRecord: the seed's payload", () => {
  test("the eight seed fields are a whole record", () => {
    const r = ok(SEED);
    const [oci] = pythonMd5(["web01-2018-12-11 11:58:00-root-root-ls -la"]);
    expect(r).toEqual({
      oci: oci!,
      kind: "command",
      ctime: "2018-12-11 11:58:00",
      tsUs: us("2018-12-11T11:58:00+08:00"),
      utcOffset: null,
      hostname: "web01",
      serverIps: "10.0.0.1,10.0.0.2",
      suser: "root",
      luser: "root",
      terminal: "pts/0",
      clientIp: "192.168.1.2",
      command: "ls -la",
      commandRaw: null,
      sessionId: null,
      seq: null,
      cwd: null,
      exitStatus: null,
      durationMs: null,
      attestation: "none",
      attestedUser: null,
      attestedLoginUser: null,
      flags: [],
      redactions: [],
    });
  });

  test("the zone-less seed time takes the configured offset", () => {
    expect(ok(SEED, { legacyUtcOffset: 0 }).tsUs).toBe(us("2018-12-11T11:58:00Z"));
    expect(ok(SEED, { legacyUtcOffset: -330 }).tsUs).toBe(us("2018-12-11T11:58:00-05:30"));
    expect(ok(SEED, { legacyUtcOffset: -330 }).utcOffset).toBeNull();
  });

  test("a legacy record may state the offset of its zone-less time in utcOffset", () => {
    const r = ok({ ...SEED, utcOffset: "+09:00" });
    expect(r.utcOffset).toBe(540);
    expect(r.tsUs).toBe(us("2018-12-11T11:58:00+09:00"));
    expect(r.ctime).toBe("2018-12-11 11:58:00");
    expect(err({ ...SEED, utcOffset: "CST" })).toBe('utcOffset "CST" is not ±HH:MM');
    expect(err({ ...SEED, utcOffset: "+25:00" })).toBe('utcOffset "+25:00" is not ±HH:MM');
  });

  test("a seed console login: the login time in clientIp means no client IP", () => {
    expect(ok({ ...SEED, terminal: "tty1", clientIp: "11:58" }).clientIp).toBe("");
    expect(ok({ ...SEED, terminal: "pts/0", clientIp: ":0" }).clientIp).toBe("");
    expect(ok({ ...SEED, clientIp: "" }).clientIp).toBe("");
    expect(ok({ ...SEED, clientIp: "2001:db8::1" }).clientIp).toBe("2001:db8::1");
  });

  test("the legacy oci keeps the original ctime text, not the normalised one", () => {
    const r = ok({ ...SEED, ctime: "2018-12-11T11:58:00" });
    expect(r.ctime).toBe("2018-12-11 11:58:00");
    expect(r.oci).toBe(pythonMd5(["web01-2018-12-11T11:58:00-root-root-ls -la"])[0]!);
  });
});

describe("normalizeRecord: time", () => {
  test.each([
    ["2024-03-01T12:34:56+08:00", 480, "2024-03-01T04:34:56Z", 0],
    ["2024-03-01T12:34:56+0800", 480, "2024-03-01T04:34:56Z", 0],
    ["2024-03-01T12:34:56Z", 0, "2024-03-01T12:34:56Z", 0],
    ["2024-03-01 12:34:56-05:30", -330, "2024-03-01T18:04:56Z", 0],
    ["2024-03-01T12:34:56.5+08:00", 480, "2024-03-01T04:34:56Z", 500_000],
    ["2024-03-01T12:34:56.123456+08:00", 480, "2024-03-01T04:34:56Z", 123_456],
  ])("%p → offset %p, instant %p + %p µs", (ctime, off, utc, frac) => {
    const r = ok({ ...V2, ctime });
    expect(r.utcOffset).toBe(off);
    expect(r.tsUs).toBe(us(utc) + frac);
    expect(r.ctime).toBe("2024-03-01 12:34:56");
  });

  test.each(["2018-02-30T00:00:00+08:00", "2018-12-11T24:00:00+08:00", "2019-02-29T10:00:00Z"])(
    "invalid date %p is rejected",
    (ctime) => {
      expect(err({ ...V2, ctime })).toBe(`ctime ${JSON.stringify(ctime)} is not a valid date and time`);
      expect(err({ ...SEED, ctime: ctime.replace(/(Z|[+-]\d\d:\d\d)$/, "") })).toContain("is not a valid date and time");
    },
  );

  test("a session record must carry its UTC offset", () => {
    expect(err({ ...V2, ctime: "2024-03-01T12:34:56" })).toBe("ctime has no UTC offset");
    expect(err({ ...V2, ctime: "2024-03-01 12:34:56.5" })).toBe("ctime has no UTC offset");
    // Stated separately, the offset is unambiguous.
    const r = ok({ ...V2, ctime: "2024-03-01 12:34:56", utcOffset: "+08:00" });
    expect(r.utcOffset).toBe(480);
    expect(r.tsUs).toBe(us("2024-03-01T12:34:56+08:00"));
  });

  test("garbage and over-long ctime", () => {
    expect(err({ ...V2, ctime: "yesterday" })).toStartWith('ctime "yesterday" is not');
    expect(err({ ...V2, ctime: "2".repeat(65) })).toBe("ctime is too long");
    expect(err({ ...V2, ctime: 1700000000 })).toBe("ctime must be a string");
  });
});

describe("normalizeRecord: session records", () => {
  test("a full v2 record", () => {
    const r = ok(V2);
    expect(r.sessionId).toBe("s-1");
    expect(r.seq).toBe(7);
    expect(r.cwd).toBe("/root");
    expect(r.exitStatus).toBe(0);
    expect(r.utcOffset).toBe(480);
    expect(r.commandRaw).toBeNull();
  });

  test("sessionId and seq only together", () => {
    const { seq: _seq, ...noSeq } = V2;
    const { sessionId: _sid, ...noSid } = V2;
    expect(err(noSeq)).toBe("sessionId and seq must be given together");
    expect(err(noSid)).toBe("sessionId and seq must be given together");
  });

  test("sessionId charset and length", () => {
    expect(ok({ ...V2, sessionId: "host:1234@5.6_a-b" }).sessionId).toBe("host:1234@5.6_a-b");
    expect(ok({ ...V2, sessionId: "a".repeat(64) }).sessionId).toBe("a".repeat(64));
    for (const bad of ["", "a".repeat(65), "a b", "a\tb", "a/b", "é"]) {
      expect(err({ ...V2, sessionId: bad })).toStartWith("sessionId must be 1-64 characters");
    }
  });

  test("seq bounds", () => {
    expect(ok({ ...V2, seq: 0 }).seq).toBe(0);
    expect(ok({ ...V2, seq: Number.MAX_SAFE_INTEGER }).seq).toBe(Number.MAX_SAFE_INTEGER);
    expect(err({ ...V2, seq: 1.5 })).toBe("seq must be an integer");
    expect(err({ ...V2, seq: "1" })).toBe("seq must be a number");
    expect(err({ ...V2, seq: -1 })).toContain("seq");
    expect(err({ ...V2, seq: -1 })).not.toContain("must be a number");
    expect(err({ ...V2, seq: Number.MAX_SAFE_INTEGER + 1 })).toContain("seq");
  });

  test("clientIp must be an address on session records", () => {
    expect(err({ ...V2, clientIp: "11:58" })).toBe('clientIp "11:58" is not an IPv4 or IPv6 address');
    expect(err({ ...V2, clientIp: "host.example" })).toBe('clientIp "host.example" is not an IPv4 or IPv6 address');
    expect(ok({ ...V2, clientIp: "" }).clientIp).toBe("");
    expect(ok({ ...V2, clientIp: "::1" }).clientIp).toBe("::1");
  });

  test("exitStatus bounds", () => {
    expect(ok({ ...V2, exitStatus: 255 }).exitStatus).toBe(255);
    expect(ok({ ...V2, exitStatus: null }).exitStatus).toBeNull();
    const { exitStatus: _e, ...noExit } = V2;
    expect(ok(noExit).exitStatus).toBeNull();
    expect(err({ ...V2, exitStatus: 256 })).toBe("exitStatus must be 0-255");
    expect(err({ ...V2, exitStatus: -1 })).toBe("exitStatus must be 0-255");
    expect(err({ ...V2, exitStatus: 1.5 })).toContain("exitStatus");
    expect(err({ ...V2, exitStatus: "0" })).toBe("exitStatus must be a number");
  });

  test("durationMs: absent or null is null; an integer 0 … 2^53-1; anything else names the field", () => {
    expect(ok(V2).durationMs).toBeNull();
    expect(ok({ ...V2, durationMs: null }).durationMs).toBeNull();
    for (const d of [0, 1, 1834, 86_400_000, Number.MAX_SAFE_INTEGER]) expect(ok({ ...V2, durationMs: d }).durationMs).toBe(d);
    expect(ok({ ...SEED, durationMs: 5 }).durationMs).toBe(5);
    expect(ok({ ...V2, kind: "session_start", command: undefined }).durationMs).toBeNull();
    expect(err({ ...V2, durationMs: -1 })).toBe("durationMs must not be negative");
    expect(err({ ...V2, durationMs: 1.5 })).toBe("durationMs must be an integer");
    expect(err({ ...V2, durationMs: Number.MAX_SAFE_INTEGER + 1 })).toBe("durationMs is larger than 2^53-1");
    expect(err({ ...V2, durationMs: 1e300 })).toBe("durationMs is larger than 2^53-1");
    for (const bad of ["1", "", true, [1], { ms: 1 }]) expect(err({ ...V2, durationMs: bad })).toBe("durationMs must be a number");
    // JSON cannot carry NaN or Infinity, but a caller of normalizeRecord can.
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) expect(err({ ...V2, durationMs: bad })).toContain("durationMs");
    const parsed = JSON.parse('{"durationMs": 1e3}') as { durationMs: number };
    expect(ok({ ...V2, ...parsed }).durationMs).toBe(1000);
  });

  test("cwd", () => {
    expect(ok({ ...V2, cwd: "/tmp/with\ttab\nand newline" }).cwd).toBe("/tmp/with\ttab\nand newline");
    expect(err({ ...V2, cwd: "/\ud800" })).toBe("cwd contains an unpaired UTF-16 surrogate");
    expect(err({ ...V2, cwd: "/" + "a".repeat(4096) })).toBe("cwd is longer than 4096 characters");
  });
});

describe("normalizeRecord: kinds", () => {
  test("kind defaults to command", () => {
    expect(ok(SEED).kind).toBe("command");
  });

  test.each(["session_start", "session_end", "loss"])("%p may have no command", (kind) => {
    const { command: _c, ...rest } = V2;
    const r = ok({ ...rest, kind });
    expect(r.kind).toBe(kind as AuditRecord["kind"]);
    expect(r.command).toBe("");
  });

  test("a command record needs a non-empty command", () => {
    const { command: _c, ...rest } = V2;
    expect(err(rest)).toBe("command is missing");
    expect(err({ ...V2, command: "" })).toBe("command is empty");
    expect(err({ ...V2, command: undefined, commandB64: "" })).toBe("command is empty");
  });

  test("unknown kind", () => {
    expect(err({ ...V2, kind: "login" })).toBe("kind must be one of command, session_start, session_end, loss");
  });
});

describe("normalizeRecord: command and commandB64", () => {
  test("exact text is kept: spaces, tabs, newlines, backslashes", () => {
    const command = "  echo  'a\tb' \\\n  && cat <<EOF\nx\\ny\nEOF\n ";
    expect(ok({ ...V2, command }).command).toBe(command);
  });

  test("valid UTF-8 sent as base64 gives text and no raw bytes", () => {
    const r = ok({ ...V2, command: undefined, commandB64: Buffer.from("echo héllo €").toString("base64") });
    expect(r.command).toBe("echo héllo €");
    expect(r.commandRaw).toBeNull();
  });

  test("non-UTF-8 bytes are kept exactly in commandRaw", () => {
    const raw = Uint8Array.of(0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0xfe, 0xc3, 0x28, 0x80);
    const r = ok({ ...V2, command: undefined, commandB64: Buffer.from(raw).toString("base64") });
    expect([...r.commandRaw!]).toEqual([...raw]);
    expect(r.command).toBe("echo \ufffd\ufffd\ufffd(\ufffd");
  });

  test("a leading byte-order mark is part of the command, not dropped", () => {
    const raw = Uint8Array.of(0xef, 0xbb, 0xbf, 0x6c, 0x73);
    const r = ok({ ...V2, command: undefined, commandB64: Buffer.from(raw).toString("base64") });
    expect(r.command).toBe("\ufeffls");
    expect(Buffer.byteLength(r.command)).toBe(5);
    expect(ok({ ...V2, command: "\ufeffls" }).command).toBe("\ufeffls");
    const legacy = ok({ ...SEED, command: undefined, commandB64: Buffer.from(raw).toString("base64") });
    expect(legacy.oci).toBe(pythonMd5([Buffer.concat([Buffer.from("web01-2018-12-11 11:58:00-root-root-"), raw])])[0]!);
  });

  test("commandFromBytes", () => {
    expect(commandFromBytes(Buffer.from("ok"))).toEqual({ command: "ok", commandRaw: null });
    const bad = Uint8Array.of(0xe2, 0x82);
    const r = commandFromBytes(bad);
    expect(r.command).toBe("\ufffd");
    expect(r.commandRaw).toBe(bad);
    expect(commandFromBytes(Uint8Array.of(0xef, 0xbb, 0xbf))).toEqual({ command: "\ufeff", commandRaw: null });
  });

  test.each(["abc", "ab$=", "A===", "====", "AA==AA==", "AAAA\n", "AA=A", "YWJj ZA==", "-_-_"])(
    "invalid base64 %p is rejected",
    (commandB64) => {
      expect(err({ ...V2, command: undefined, commandB64 })).toBe("commandB64 is not valid base64");
    },
  );

  test("command and commandB64 together are rejected", () => {
    expect(err({ ...V2, commandB64: "bHM=" })).toBe("give command or commandB64, not both");
  });

  test("unpaired surrogates in command are rejected", () => {
    expect(err({ ...V2, command: "echo \ud800" })).toBe("command contains an unpaired UTF-16 surrogate (send the bytes as commandB64)");
    expect(err({ ...V2, command: "\udc00x" })).toStartWith("command contains an unpaired UTF-16 surrogate");
    // A proper pair is fine.
    expect(ok({ ...V2, command: "echo \ud83d\ude00" }).command).toBe("echo 😀");
  });

  test("oversize command, counted in UTF-8 bytes", () => {
    expect(ok({ ...V2, command: "a".repeat(MAX_COMMAND_BYTES) }).command.length).toBe(MAX_COMMAND_BYTES);
    expect(err({ ...V2, command: "a".repeat(MAX_COMMAND_BYTES + 1) })).toBe(`command is longer than ${MAX_COMMAND_BYTES} bytes`);
    // Fewer characters than the limit but more bytes.
    expect(err({ ...V2, command: "é".repeat(MAX_COMMAND_BYTES / 2 + 1) })).toBe(`command is longer than ${MAX_COMMAND_BYTES} bytes`);
    const big = Buffer.alloc(MAX_COMMAND_BYTES + 1, 0x61).toString("base64");
    expect(err({ ...V2, command: undefined, commandB64: big })).toBe(`command is longer than ${MAX_COMMAND_BYTES} bytes`);
  });
});

describe("normalizeRecord: identity fields", () => {
  test.each([
    ["hostname", "web\n01"],
    ["hostname", "web\t01"],
    ["hostname", "\x1b[31mweb01"],
    ["hostname", "web\x7f"],
    ["hostname", "web\u009b31m"], // C1 CSI
    ["hostname", "web\0"],
    ["luser", "ali\nce"],
    ["suser", "root\r"],
    ["terminal", "pts/0\x1b]0;x\x07"],
    ["clientIp", "1.2.3.4\n"],
  ])("%p with a control character is rejected", (name, value) => {
    expect(err({ ...SEED, [name]: value })).toBe(`${name} contains a control character`);
  });

  test.each([
    ["hostname", "web01 "],
    ["hostname", " web01"],
    ["hostname", "web 01"],
    ["hostname", "web01\u00a0"],
    ["luser", "alice "],
    ["suser", "ro ot"],
    ["terminal", "pts/0 "],
    ["clientIp", "10.0.0.1 "],
    ["serverIps", "10.0.0.1, 10.0.0.2"],
  ])("%p with whitespace is rejected", (name, value) => {
    expect(err({ ...SEED, [name]: value })).toBe(`${name} contains whitespace`);
  });

  test("hostname is required, non-empty and bounded", () => {
    const { hostname: _h, ...rest } = SEED;
    expect(err(rest)).toBe("hostname must be a string");
    expect(err({ ...SEED, hostname: "" })).toBe("hostname is empty");
    expect(ok({ ...SEED, hostname: "h".repeat(MAX_HOSTNAME) }).hostname.length).toBe(MAX_HOSTNAME);
    expect(err({ ...SEED, hostname: "h".repeat(MAX_HOSTNAME + 1) })).toBe(`hostname is longer than ${MAX_HOSTNAME} characters`);
  });

  test("luser is required; suser, terminal, clientIp, serverIps default to empty", () => {
    const { luser: _l, ...noLuser } = SEED;
    expect(err(noLuser)).toBe("luser must be a string");
    const r = ok({ ctime: SEED.ctime, hostname: "h", luser: "", command: "x" });
    expect([r.suser, r.luser, r.terminal, r.clientIp, r.serverIps]).toEqual(["", "", "", "", ""]);
  });

  test("non-ASCII identity values are kept", () => {
    const r = ok({ ...SEED, hostname: "主机-01", luser: "用户" });
    expect(r.hostname).toBe("主机-01");
    expect(r.luser).toBe("用户");
  });

  test("serverIps as a string or an array", () => {
    expect(ok({ ...SEED, serverIps: ["10.0.0.1", "10.0.0.2"] }).serverIps).toBe("10.0.0.1,10.0.0.2");
    expect(ok({ ...SEED, serverIps: [] }).serverIps).toBe("");
    expect(err({ ...SEED, serverIps: "1".repeat(MAX_SERVER_IPS + 1) })).toBe(`serverIps is longer than ${MAX_SERVER_IPS} characters`);
    // 200 entries of 15 characters fit the array rules but not the joined limit.
    const many = Array.from({ length: 200 }, () => "255.255.255.255");
    expect(err({ ...SEED, serverIps: many })).toBe(`serverIps is longer than ${MAX_SERVER_IPS} characters`);
    expect(err({ ...SEED, serverIps: ["10.0.0.1\n"] })).toContain("control character");
  });
});

describe("normalizeRecord: shape errors", () => {
  test("unknown fields are named", () => {
    expect(err({ ...SEED, oci: "x", id: 1 })).toBe("unknown field(s): oci, id");
    expect(err({ ...SEED, Command: "x" })).toBe("unknown field(s): Command");
  });

  test("non-objects are not records", () => {
    for (const input of [null, [], [SEED], "record", 42, true, undefined]) {
      expect(err(input)).toBe("record must be a JSON object");
    }
  });

  test("wrong types name the field", () => {
    expect(err({ ...SEED, hostname: 1 })).toBe("hostname must be a string");
    expect(err({ ...SEED, command: 1 })).toBe("command must be a string");
    expect(err({ ...SEED, command: undefined, commandB64: 1 })).toBe("commandB64 must be a base64 string");
  });

  test("the input object is not modified", () => {
    const input = { ...SEED, serverIps: ["a", "b"] };
    const copy = structuredClone(input);
    ok(input);
    expect(input).toEqual(copy);
  });

  test("wireRecordSchema accepts the seed payload as is", () => {
    expect(wireRecordSchema.safeParse(SEED).success).toBe(true);
    expect(wireRecordSchema.safeParse(V2).success).toBe(true);
  });
});
