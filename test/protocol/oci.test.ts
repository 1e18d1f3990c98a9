import { describe, expect, test } from "bun:test";
import { LogDecoder, encodeRecord, legacyOci, normalizeRecord, sessionOci, toWireRecord, type AuditRecord } from "../../protocol/index.ts";
import { asCa1, bytes, decodeAll, pythonMd5, rec } from "./helpers.ts";

const opts = { legacyUtcOffset: 480 };

function ok(input: unknown): AuditRecord {
  const r = normalizeRecord(input, opts);
  if (typeof r === "string") throw new Error(r);
  return r;
}

describe("legacyOci: the seed's md5(\"host-ctime-luser-suser-command\")", () => {
  const cases: [string, string, string, string, string | Uint8Array][] = [
    ["web01", "2018-12-11 11:58:00", "root", "root", "ls -la"],
    ["web01", "2018-12-11 11:58:00", "alice", "root", "sudo -i"],
    ["主机", "2018-12-11 11:58:00", "用户", "管理员", "echo 你好"],
    ["h-1", "2018-12-11 11:58:00", "", "", "a-b-c"],
    ["h", "2018-12-11 11:58:00", "u", "s", Uint8Array.of(0x6c, 0x73, 0xff, 0x00, 0x0a)],
    ["h", "2018-12-11 11:58:00", "u", "s", ""],
  ];

  test("matches python3 hashlib for text and raw bytes", () => {
    const want = pythonMd5(cases.map(([h, c, l, s, cmd]) => bytes(`${h}-${c}-${l}-${s}-`, cmd)));
    cases.forEach(([h, c, l, s, cmd], i) => {
      expect(legacyOci(h, c, l, s, cmd)).toBe(want[i]!);
    });
  });

  test("matches `md5sum`", () => {
    const p = Bun.spawnSync(["md5sum"], { stdin: Buffer.from("web01-2018-12-11 11:58:00-root-root-ls -la") });
    expect(p.exitCode).toBe(0);
    expect(legacyOci("web01", "2018-12-11 11:58:00", "root", "root", "ls -la")).toBe(p.stdout.toString().split(" ")[0]!);
  });

  test("the same command as a string or as its UTF-8 bytes gives the same key", () => {
    expect(legacyOci("h", "t", "l", "s", "é€😀")).toBe(legacyOci("h", "t", "l", "s", new TextEncoder().encode("é€😀")));
  });

  test("the seed's formula is ambiguous where fields hold '-': documented, not fixed", () => {
    // luser "a-b" + suser "c" and luser "a" + suser "b-c" hash the same text.
    expect(legacyOci("h", "t", "a-b", "c", "x")).toBe(legacyOci("h", "t", "a", "b-c", "x"));
  });
});

describe("sessionOci", () => {
  test("is md5 of \"cmdaudit2\\0host\\0session\\0seq\"", () => {
    const want = pythonMd5(["cmdaudit2\0web01\0s-1\x000", "cmdaudit2\0web01\0s-1\x007", "cmdaudit2\0主机\0a:b@c\x009007199254740991"]);
    expect(sessionOci("web01", "s-1", 0)).toBe(want[0]!);
    expect(sessionOci("web01", "s-1", 7)).toBe(want[1]!);
    expect(sessionOci("主机", "a:b@c", Number.MAX_SAFE_INTEGER)).toBe(want[2]!);
  });

  test("is 32 lower-case hex digits, like the seed's char(32) column", () => {
    expect(sessionOci("h", "s", 1)).toMatch(/^[0-9a-f]{32}$/);
    expect(legacyOci("h", "t", "l", "s", "c")).toMatch(/^[0-9a-f]{32}$/);
  });

  test("each of host, session and seq changes the key; NUL separators keep fields apart", () => {
    const k = sessionOci("h", "s", 1);
    expect(sessionOci("h2", "s", 1)).not.toBe(k);
    expect(sessionOci("h", "s2", 1)).not.toBe(k);
    expect(sessionOci("h", "s", 2)).not.toBe(k);
    expect(sessionOci("h1", "1", 1)).not.toBe(sessionOci("h", "11", 1));
  });
});

describe("oci through normalizeRecord", () => {
  const V2 = {
    ctime: "2024-03-01T12:34:56+08:00", hostname: "web01", luser: "alice", suser: "root", terminal: "pts/1",
    clientIp: "10.1.1.1", command: "make", sessionId: "s-1", seq: 1,
  };

  test("two identical commands in the same second with different seq are two records", () => {
    expect(ok({ ...V2, seq: 1 }).oci).not.toBe(ok({ ...V2, seq: 2 }).oci);
  });

  test("a resend (same host, session, seq) is the same record, whatever else differs", () => {
    const a = ok(V2);
    const b = ok({ ...V2, ctime: "2024-03-01T12:34:57.5+08:00", command: "make -j8", commandB64: undefined, exitStatus: 2, durationMs: 1834 });
    expect(b.oci).toBe(a.oci);
    expect(ok({ ...V2, durationMs: 0 }).oci).toBe(a.oci);
    expect(a.oci).toBe(sessionOci("web01", "s-1", 1));
  });

  test("the same session id on two hosts is two records", () => {
    expect(ok(V2).oci).not.toBe(ok({ ...V2, hostname: "web02" }).oci);
  });

  test("records without a session use the seed's formula on the original ctime and exact bytes", () => {
    const seed = { ctime: "2018-12-11 11:58:00", hostname: "web01", serverIps: "10.0.0.1", suser: "root", luser: "root", terminal: "pts/0", clientIp: "1.2.3.4", command: "ls -la" };
    const raw = Uint8Array.of(0x6c, 0x73, 0x20, 0xb0, 0xa1);
    const want = pythonMd5(["web01-2018-12-11 11:58:00-root-root-ls -la", bytes("web01-2018-12-11 11:58:00-root-root-", raw)]);
    expect(ok(seed).oci).toBe(want[0]!);
    expect(ok({ ...seed, command: undefined, commandB64: Buffer.from(raw).toString("base64") }).oci).toBe(want[1]!);
    // The seed gave identical commands in one second one key: that is the legacy behaviour, kept for resends.
    expect(ok(seed).oci).toBe(ok({ ...seed, terminal: "pts/9", clientIp: "9.9.9.9" }).oci);
  });

  test("a seed line read from the log gets the key the seed's backend gave it", () => {
    const line = "[2018-12-11 11:58:00] [(root) alice pts/0 1.2.3.4] [web01@10.0.0.1] systemctl restart nginx";
    const d = decodeAll(bytes(line, "\n"));
    const n = ok(toWireRecord(d.records[0]!));
    expect(n.oci).toBe(pythonMd5(["web01-2018-12-11 11:58:00-alice-root-systemctl restart nginx"])[0]!);
  });

  test("durationMs is not part of any key: a resend that lost or gained it is the same record", () => {
    const seed = { ctime: "2018-12-11 11:58:00", hostname: "web01", suser: "root", luser: "root", command: "ls -la" };
    expect(ok({ ...seed, durationMs: 7 }).oci).toBe(ok(seed).oci);
    expect(ok({ ...V2, durationMs: 7 }).oci).toBe(ok({ ...V2, durationMs: null }).oci);
  });

  test("a CA1 record read from the log gets the session key, and so does its CA2 form", () => {
    const r = rec({ hostname: "db1", sessionId: "db1:4242:1700000000", seq: 17 });
    const dec = new LogDecoder(opts);
    const enc = encodeRecord(r);
    const ev = dec.push(enc.subarray(0, enc.length - 1), 0);
    expect(ev[0]!.type).toBe("record");
    const n = ok(toWireRecord((ev[0] as Extract<(typeof ev)[number], { type: "record" }>).record));
    expect(n.oci).toBe(pythonMd5(["cmdaudit2\0db1\0db1:4242:1700000000\x0017"])[0]!);
    const ca1 = decodeAll(asCa1(encodeRecord({ ...r, durationMs: 40 }))).records[0]!;
    expect(ca1.durationMs).toBeNull();
    expect(ok(toWireRecord(ca1)).oci).toBe(n.oci);
  });
});
