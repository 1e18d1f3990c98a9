import { describe, expect, test } from "bun:test";
import { formatCommandTime, formatUtcOffset, parseCommandTime, parseUtcOffset, type ParsedTime } from "../../protocol/index.ts";
import { Rng } from "./helpers.ts";

function ok(s: string, assumed?: number): ParsedTime {
  const t = parseCommandTime(s, assumed);
  if (typeof t === "string") throw new Error(`expected ${s} to parse: ${t}`);
  return t;
}

/** Microseconds from the platform's own ISO parser (millisecond precision), an independent oracle. */
function platformUs(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`Date.parse rejected ${iso}`);
  return ms * 1000;
}

describe("parseUtcOffset", () => {
  test.each([
    ["+08:00", 480],
    ["+0800", 480],
    ["+08", 480],
    ["-05:30", -330],
    ["-0530", -330],
    ["+00:00", 0],
    ["-00:00", 0],
    ["Z", 0],
    ["z", 0],
    ["+23:59", 23 * 60 + 59],
    ["+05:45", 345],
  ])("%p → %p minutes", (s, min) => {
    const got = parseUtcOffset(s);
    // "-00:00" gives -0, which is 0 for every use (formatting, JSON, SQL); compare numerically.
    expect(got === undefined ? got : got + 0).toBe(min);
  });

  test.each(["", "08:00", "+8:00", "+24:00", "+08:60", "+08:0", "+08:000", "UTC", "+08:00 ", " +08:00", "GMT+8"])(
    "%p is malformed",
    (s) => {
      expect(parseUtcOffset(s)).toBeUndefined();
    },
  );
});

describe("formatUtcOffset", () => {
  test.each([
    [480, "+08:00"],
    [-330, "-05:30"],
    [0, "+00:00"],
    [345, "+05:45"],
    [-720, "-12:00"],
    [840, "+14:00"],
  ])("%p → %p", (min, s) => {
    expect(formatUtcOffset(min)).toBe(s);
    expect(parseUtcOffset(s)).toBe(min);
  });
});

describe("parseCommandTime", () => {
  test("ISO 8601 with a colon offset", () => {
    const t = ok("2018-12-11T11:58:00+08:00");
    expect(t).toEqual({ wall: "2018-12-11 11:58:00", tsUs: platformUs("2018-12-11T03:58:00Z"), utcOffset: 480 });
  });

  test.each([
    ["2018-12-11T11:58:00+0800", 480],
    ["2018-12-11T11:58:00+08", 480],
    ["2018-12-11T11:58:00Z", 0],
    ["2018-12-11 11:58:00-05:30", -330],
    ["2018-12-11T11:58:00-0530", -330],
  ])("%p: offset %p, instant agrees with Date.parse", (s, off) => {
    const t = ok(s);
    expect(t.utcOffset).toBe(off);
    expect(t.wall).toBe("2018-12-11 11:58:00");
    // Date.parse wants the extended form; rebuild it from the expected offset.
    const iso = `2018-12-11T11:58:00${formatUtcOffset(off)}`;
    expect(t.tsUs).toBe(platformUs(iso));
  });

  test("fractions: milli, micro and nano seconds; beyond micro is truncated", () => {
    const base = platformUs("2024-03-01T12:34:56+08:00");
    expect(ok("2024-03-01T12:34:56.5+08:00").tsUs).toBe(base + 500_000);
    expect(ok("2024-03-01T12:34:56.123+08:00").tsUs).toBe(base + 123_000);
    expect(ok("2024-03-01T12:34:56.123456+08:00").tsUs).toBe(base + 123_456);
    expect(ok("2024-03-01T12:34:56.123456789+08:00").tsUs).toBe(base + 123_456);
    expect(ok("2024-03-01T12:34:56.000001Z").tsUs).toBe(platformUs("2024-03-01T12:34:56Z") + 1);
    // The wall time drops the fraction.
    expect(ok("2024-03-01T12:34:56.999999+08:00").wall).toBe("2024-03-01 12:34:56");
  });

  test("a fraction of more than 9 digits or an empty fraction is rejected", () => {
    expect(typeof parseCommandTime("2024-03-01T12:34:56.1234567890Z")).toBe("string");
    expect(typeof parseCommandTime("2024-03-01T12:34:56.Z")).toBe("string");
  });

  test("zone-less time: an error without an assumed offset, the assumed offset otherwise", () => {
    expect(parseCommandTime("2018-12-11 11:58:00")).toBe("ctime has no UTC offset");
    const t = ok("2018-12-11 11:58:00", 480);
    expect(t.utcOffset).toBeNull();
    expect(t.tsUs).toBe(platformUs("2018-12-11T11:58:00+08:00"));
    expect(ok("2018-12-11 11:58:00", -330).tsUs).toBe(platformUs("2018-12-11T11:58:00-05:30"));
    // An explicit offset wins over the assumed one.
    expect(ok("2018-12-11T11:58:00Z", 480)).toEqual({ wall: "2018-12-11 11:58:00", tsUs: platformUs("2018-12-11T11:58:00Z"), utcOffset: 0 });
  });

  test.each([
    "2019-02-29T00:00:00Z", // not a leap year
    "2018-02-30T00:00:00Z",
    "2018-04-31T00:00:00Z",
    "2018-13-01T00:00:00Z",
    "2018-00-10T00:00:00Z",
    "2018-01-00T00:00:00Z",
    "2018-12-11T24:00:00Z",
    "2018-12-31T24:00:00Z",
    "2018-12-11T23:60:00Z",
    "2018-12-11T23:59:60Z", // leap seconds are not accepted
    "1969-12-31T23:59:59Z",
  ])("%p is not a valid date and time", (s) => {
    expect(parseCommandTime(s)).toBe(`ctime ${JSON.stringify(s)} is not a valid date and time`);
  });

  test("the instant must fall after 1970-01-01T00:00:00Z and hold exact microseconds (up to 2^53-1 µs)", () => {
    // The local date is 1970 but the instant is at or before the epoch.
    for (const s of ["1970-01-01T08:00:00+08:00", "1970-01-01T07:59:59+08:00", "1970-01-01T00:00:00Z"]) {
      expect(parseCommandTime(s)).toBe(`ctime ${JSON.stringify(s)} is outside 1970-01-01T00:00:00Z … 2255-06-05T23:47:34Z`);
    }
    expect(parseCommandTime("1970-01-01 05:00:00", 480)).toStartWith("ctime ");
    expect(ok("1970-01-01T00:00:00.000001Z").tsUs).toBe(1);
    expect(ok("1970-01-01T08:00:01+08:00").tsUs).toBe(1_000_000);
    // Number.MAX_SAFE_INTEGER µs is 2255-06-05T23:47:34.740991Z: the last instant a double holds exactly.
    expect(ok("2255-06-05T23:47:34.740991Z").tsUs).toBe(Number.MAX_SAFE_INTEGER);
    for (const s of ["2255-06-05T23:47:34.740992Z", "2999-12-31T23:59:59.999999-12:00", "9999-12-31T23:59:59.999999Z"]) {
      expect(parseCommandTime(s)).toBe(`ctime ${JSON.stringify(s)} is outside 1970-01-01T00:00:00Z … 2255-06-05T23:47:34Z`);
    }
  });

  test("a leap day in a leap year is valid", () => {
    expect(ok("2020-02-29T00:00:00Z").tsUs).toBe(platformUs("2020-02-29T00:00:00Z"));
    expect(ok("2000-02-29T00:00:00Z").tsUs).toBe(platformUs("2000-02-29T00:00:00Z"));
  });

  test("a bad offset is named", () => {
    expect(parseCommandTime("2018-12-11T11:58:00+25:00")).toBe('ctime has a bad UTC offset "+25:00"');
    expect(parseCommandTime("2018-12-11T11:58:00+08:61")).toBe('ctime has a bad UTC offset "+08:61"');
  });

  test.each([
    "",
    "2018-12-11",
    "2018-12-11T11:58",
    "18-12-11 11:58:00",
    "2018/12/11 11:58:00",
    "2018-12-11T11:58:00 +08:00",
    " 2018-12-11T11:58:00Z",
    "2018-12-11T11:58:00Z ",
    "2018-12-11t11:58:00Z",
    "2018-12-11T11:58:00UTC",
    "１２３４-12-11T11:58:00Z", // full-width digits are not \d in JS regexes, but be sure
    "2018-12-11T11:58:00+08:00\n",
  ])("%p is not ISO 8601", (s) => {
    const t = parseCommandTime(s);
    expect(typeof t).toBe("string");
    expect(t as string).toStartWith("ctime ");
  });

  test("the error quotes at most 40 characters of a long input", () => {
    const msg = parseCommandTime("x".repeat(1000)) as string;
    expect(msg).toBe(`ctime ${JSON.stringify("x".repeat(40))} is not "YYYY-MM-DDTHH:MM:SS[.frac]±HH:MM"`);
  });
});

describe("formatCommandTime", () => {
  test("formats in the record's own offset", () => {
    const ts = platformUs("2018-12-11T03:58:00Z");
    expect(formatCommandTime(ts, 480)).toBe("2018-12-11T11:58:00+08:00");
    expect(formatCommandTime(ts, -330)).toBe("2018-12-10T22:28:00-05:30");
    expect(formatCommandTime(ts + 1, 0)).toBe("2018-12-11T03:58:00.000001+00:00");
    expect(formatCommandTime(ts + 123_456, null)).toBe("2018-12-11T03:58:00.123456Z");
  });

  test("parse(format(ts, off)) gives ts and off back", () => {
    const rng = new Rng(11);
    const lo = platformUs("1971-01-01T00:00:00Z"), hi = platformUs("2100-01-01T00:00:00Z");
    for (let i = 0; i < 3000; i++) {
      const ts = lo + Math.floor(rng.next() * (hi - lo));
      const off = rng.chance(0.1) ? null : rng.range(-14 * 60, 14 * 60);
      const t = ok(formatCommandTime(ts, off));
      expect(t.tsUs).toBe(ts);
      expect(t.utcOffset).toBe(off ?? 0);
    }
  });
});
