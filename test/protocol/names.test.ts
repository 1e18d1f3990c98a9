/**
 * Record flags (protocol/names.ts): real names are accepted unflagged, every look-alike,
 * invisible or nonstandard form is flagged, and normalizeRecord carries the flags without
 * touching the record or its oci.
 */
import { describe, expect, test } from "bun:test";
import {
  RECORD_FLAGS, hasInvisible, imitatesAscii, isStandardHostname, isStandardTerminal, isStandardUser, normalizeRecord, recordFlags,
  type AuditRecord, type FlaggedFields,
} from "../../protocol/index.ts";

const PLAIN: FlaggedFields = { hostname: "web01", suser: "root", luser: "alice", terminal: "pts/3", cwd: "/root" };
const flagsOf = (over: Partial<FlaggedFields>) => recordFlags({ ...PLAIN, ...over });

function normalized(over: Record<string, unknown>): AuditRecord {
  const r = normalizeRecord({
    ctime: "2024-05-01T10:00:00+08:00", hostname: "web01", serverIps: "10.0.0.1", suser: "root", luser: "alice",
    terminal: "pts/3", clientIp: "10.0.0.9", sessionId: "s-1", seq: 1, cwd: "/root", command: "id", ...over,
  }, { legacyUtcOffset: 480 });
  if (typeof r === "string") throw new Error(`rejected: ${r}`);
  return r;
}

describe("host names (RFC 1123)", () => {
  test.each([
    "web01", "rt-srv", "ip-10-0-0-1.ec2.internal", "db-master.prod.example.com", "a", "0", "3com", "x".repeat(63),
    `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`, "localhost", "WEB01", "10.0.0.1",
  ])("%p is standard", (h) => {
    expect(isStandardHostname(h)).toBe(true);
    expect(flagsOf({ hostname: h })).toEqual([]);
  });

  test.each([
    "-web01", "web01-", "web..01", ".web01", "web01.", "web_01", "x".repeat(64), `${"a.".repeat(126)}ab`, "web 01", "web01:22",
    "évian", "数据库-主机", "web01@10.0.0.1", "evil-host@6.6.6.6", "", "a.-b", "a.b-",
  ])("%p is flagged hostname-nonstandard", (h) => {
    expect(isStandardHostname(h)).toBe(false);
    expect(flagsOf({ hostname: h })).toContain("hostname-nonstandard");
  });

  test("253 characters is the limit", () => {
    const at253 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    expect(at253.length).toBe(253);
    expect(isStandardHostname(at253)).toBe(true);
    expect(isStandardHostname(at253 + "d")).toBe(false);
  });
});

describe("user names (POSIX portable, sssd name@domain, Samba name$)", () => {
  test.each([
    "root", "www-data", "_apt", "svc.backup", "john.doe@corp.example.com", "HOST$", "alice", "1000", "systemd-network",
    "nobody", "a", "_", "Administrator", "jane_doe@EXAMPLE.COM", "web01$", "",
  ])("%p is standard", (u) => {
    expect(isStandardUser(u)).toBe(true);
    expect(flagsOf({ suser: u })).toEqual([]);
    expect(flagsOf({ luser: u })).toEqual([]);
  });

  test.each([
    "-root", "ro ot", "root$$", "$", "$root", "ro$ot", "@corp.example.com", "john@", "john@corp_example.com", "john@@corp.com",
    "a@b@c.com", "john@corp.example.com.", "john$@corp.com", "user:x", "ro/ot", "张三", "émilie", "root\\x", "ro'ot",
  ])("%p is flagged user-nonstandard, as suser and as luser", (u) => {
    expect(isStandardUser(u)).toBe(false);
    expect(flagsOf({ suser: u })).toContain("user-nonstandard");
    expect(flagsOf({ luser: u })).toContain("user-nonstandard");
  });
});

describe("terminals", () => {
  test.each(["pts/3", "tty1", "ttyS0", ":0", ":10.0", "console", "pts/12", "hvc0", "ttyUSB0", "", "tty-a_b.c"])("%p is standard", (t) => {
    expect(isStandardTerminal(t)).toBe(true);
    expect(flagsOf({ terminal: t })).toEqual([]);
  });

  test.each(["pts 3", "pts/3\u200b", "终端/1", "pts\\3", "tty@1", "pts/3$", "[12345]"])("%p is flagged terminal-nonstandard", (t) => {
    expect(isStandardTerminal(t)).toBe(false);
    expect(flagsOf({ terminal: t })).toContain("terminal-nonstandard");
  });
});

describe("invisible characters and look-alikes", () => {
  const INVISIBLES = ["\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u034f", "\u3164", "\ufe0f", "\u{e0041}", "\u2800"];

  test.each(INVISIBLES.map((c) => [c.codePointAt(0)!.toString(16)]))("U+%s in any name is name-invisible and -nonstandard", (hex) => {
    const c = String.fromCodePoint(parseInt(hex, 16));
    expect(hasInvisible(c)).toBe(true);
    expect(flagsOf({ hostname: `web${c}01` })).toEqual(expect.arrayContaining(["hostname-nonstandard", "name-invisible"]));
    expect(flagsOf({ suser: `ro${c}ot` })).toEqual(expect.arrayContaining(["user-nonstandard", "name-invisible"]));
    expect(flagsOf({ luser: `${c}alice` })).toEqual(expect.arrayContaining(["user-nonstandard", "name-invisible"]));
    expect(flagsOf({ terminal: `pts/3${c}` })).toEqual(expect.arrayContaining(["terminal-nonstandard", "name-invisible"]));
  });

  test.each([
    ["r\u043eot", "root"], // Cyrillic о
    ["\u0440\u043e\u043et", "root"], // Cyrillic р, о, о
    ["rt-s\u0440v", "rt-srv"],
    ["rt\u2010srv", "rt-srv"], // hyphen U+2010
    ["rt\u2212srv", "rt-srv"], // minus sign
    ["\uff52\uff4f\uff4f\uff54", "root"], // full-width
    ["w\u0435b01", "web01"], // Cyrillic е
    ["\u0391dmin", "Admin"], // Greek Alpha
    ["\u{1d42b}oot", "root"], // mathematical bold r (NFKC)
    ["web\uff10\uff11", "web01"], // full-width digits
    ["r\u043e\u200bot", "root"], // look-alike and invisible
    ["d\u0131sk", "disk"], // dotless i
  ])("%p imitates %p: name-confusable", (name, ascii) => {
    expect(ascii).toMatch(/^[\x21-\x7e]+$/);
    expect(name).not.toBe(ascii);
    expect(imitatesAscii(name)).toBe(true);
    expect(flagsOf({ hostname: name })).toEqual(expect.arrayContaining(["hostname-nonstandard", "name-confusable"]));
    expect(flagsOf({ luser: name })).toEqual(expect.arrayContaining(["user-nonstandard", "name-confusable"]));
  });

  test.each(["数据库-主机", "张三", "émilie", "终端/1", "root", "ro\u202eot", "web\u200b01", "web01"])("%p does not imitate an ASCII name", (name) => {
    expect(imitatesAscii(name)).toBe(false);
  });

  test("the attack names of the issue, with their exact flags", () => {
    expect(flagsOf({ suser: "ro\u202eot" })).toEqual(["user-nonstandard", "name-invisible"]);
    expect(flagsOf({ hostname: "web\u200b01" })).toEqual(["hostname-nonstandard", "name-invisible"]);
    expect(flagsOf({ luser: "r\u043eot" })).toEqual(["user-nonstandard", "name-confusable"]);
    expect(flagsOf({ hostname: "\uff52\uff4f\uff4f\uff54" })).toEqual(["hostname-nonstandard", "name-confusable"]);
    expect(flagsOf({ hostname: "rt-s\u0440v", suser: "r\u043e\u200bot", terminal: "pts/3\u202e", cwd: "/tmp/\u001b[2J" }))
      .toEqual(["hostname-nonstandard", "user-nonstandard", "terminal-nonstandard", "name-invisible", "name-confusable", "cwd-control"]);
  });

  test("two names that render alike are never both unflagged", () => {
    // Each group renders as one name; at most one member of each may be unflagged (the ASCII one).
    const groups = [
      ["root", "r\u043eot", "ro\u202eot", "\u202eroot", "ro\u200bot", "\uff52\uff4f\uff4f\uff54", "root\u00ad", "r\u043e\u043et", "ro\u2060ot"],
      ["web01", "web\u200b01", "w\u0435b01", "web\uff10\uff11", "web01\u200d", "\u2066web01\u2069"],
      ["rt-srv", "rt-s\u0440v", "rt\u2010srv", "rt\u2011srv", "rt\u2212srv", "rt-srv\ufe0f", "rt\u00ad-srv"],
      ["pts/3", "pts/3\u200b", "\u0440ts/3", "pts\u22153"],
    ];
    for (const group of groups) {
      for (const field of ["hostname", "suser", "luser", "terminal"] as const) {
        const unflagged = group.filter((name) => recordFlags({ ...PLAIN, [field]: name }).length === 0);
        expect({ field, unflagged: unflagged.length <= 1 }).toEqual({ field, unflagged: true });
        for (const name of unflagged) expect(name).toMatch(/^[\x21-\x7e]+$/);
      }
    }
  });
});

describe("cwd", () => {
  test.each(["/root", "/home/émilie/📁", "/数据", "/tmp/a b", "/", "/tmp/100%", "/tmp/'q'\"", "C:\\temp"])("%p is not flagged", (cwd) => {
    expect(flagsOf({ cwd })).toEqual([]);
  });

  test("no cwd is not flagged", () => {
    expect(flagsOf({ cwd: null })).toEqual([]);
  });

  test.each(["\u0000", "\u0001", "\t", "\n", "\r", "\u001b[31m", "\u007f", "\u0080", "\u009b", "\u009f", "\u202e", "\u200b", "\u2066", "\ufeff", "\u00ad"])(
    "a cwd holding %p is flagged cwd-control (only that)",
    (c) => {
      expect(flagsOf({ cwd: `/tmp/x${c}y` })).toEqual(["cwd-control"]);
    },
  );
});

describe("flag lists", () => {
  test("in RECORD_FLAGS order, each once, whatever flags the same name twice", () => {
    const f = flagsOf({ hostname: "r\u043e\u202eot", suser: "r\u043eot", luser: "\u202eroot", terminal: "\u0440ts/3\u200b", cwd: "\u001b" });
    expect(f).toEqual(RECORD_FLAGS.filter((x) => x !== "conflict" && x !== "forged")); // the store's and the attestation's, never a name's
    expect(new Set(f).size).toBe(f.length);
  });
});

describe("normalizeRecord", () => {
  test("an ordinary record has no flags", () => {
    expect(normalized({}).flags).toEqual([]);
  });

  test("flagged records are kept exactly: names and cwd as sent", () => {
    const r = normalized({ hostname: "rt-s\u0440v", suser: "ro\u202eot", luser: "john.doe@corp.example.com", terminal: "pts/3", cwd: "/tmp/\u001b[2J\u202e" });
    expect([r.hostname, r.suser, r.luser, r.cwd]).toEqual(["rt-s\u0440v", "ro\u202eot", "john.doe@corp.example.com", "/tmp/\u001b[2J\u202e"]);
    expect(r.flags).toEqual(["hostname-nonstandard", "user-nonstandard", "name-invisible", "name-confusable", "cwd-control"]);
  });

  test("a legacy record (empty suser and terminal) with a Samba machine account is not flagged", () => {
    const r = normalizeRecord({ ctime: "2018-12-11 11:58:00", hostname: "web01", serverIps: "10.0.0.1", suser: "", luser: "WEB01$", terminal: "", clientIp: "11:58", command: "ls" }, { legacyUtcOffset: 480 });
    expect(typeof r === "string" ? r : r.flags).toEqual([]);
  });

  test("flags are not part of the oci: the look-alike's oci is its own, the flags change nothing else", () => {
    const real = normalized({ hostname: "rt-srv" });
    const fake = normalized({ hostname: "rt-s\u0440v" });
    expect(real.oci).not.toBe(fake.oci);
    // the same session record with a control character in cwd: same oci (a resend), flags differ
    const plainCwd = normalized({ cwd: "/tmp" });
    const oddCwd = normalized({ cwd: "/tmp\u001b" });
    expect(oddCwd.oci).toBe(plainCwd.oci);
    expect([plainCwd.flags, oddCwd.flags]).toEqual([[], ["cwd-control"]]);
    const { flags: _a, cwd: _c1, ...a } = plainCwd;
    const { flags: _b, cwd: _c2, ...b } = oddCwd;
    expect(a).toEqual(b);
  });
});
