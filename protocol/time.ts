/**
 * Command time: the hook writes ISO 8601 with a UTC offset; the 2018 seed wrote a
 * zone-less local "YYYY-MM-DD HH:MM:SS" (ambiguous across a fleet, so the caller
 * must say which offset to assume for it).
 */

export interface ParsedTime {
  /** Local wall-clock time as the seed stored it: "YYYY-MM-DD HH:MM:SS". */
  wall: string;
  /** UTC instant in microseconds since the epoch. */
  tsUs: number;
  /** Offset from UTC in minutes; null when the input had none and one was assumed. */
  utcOffset: number | null;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** "+08:00", "+0800", "+08", "-05:30", "Z" → minutes; undefined if malformed. */
export function parseUtcOffset(s: string): number | undefined {
  if (s === "Z" || s === "z") return 0;
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(s);
  if (!m) return undefined;
  const h = Number(m[2]);
  const min = Number(m[3] ?? "0");
  if (h > 23 || min > 59) return undefined;
  return (m[1] === "-" ? -1 : 1) * (h * 60 + min);
}

export function formatUtcOffset(min: number): string {
  const sign = min < 0 ? "-" : "+";
  const a = Math.abs(min);
  return `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/**
 * Parse a command time. `assumedOffset` (minutes) applies to zone-less input;
 * without it such input is an error. Returns a message string on failure.
 */
export function parseCommandTime(s: string, assumedOffset?: number): ParsedTime | string {
  const m = ISO.exec(s);
  if (!m) return `ctime ${JSON.stringify(s.slice(0, 40))} is not "YYYY-MM-DDTHH:MM:SS[.frac]±HH:MM"`;
  const [, y, mo, d, h, mi, se, frac, zone] = m as unknown as string[];
  let offset: number | null;
  if (zone !== undefined) {
    const o = parseUtcOffset(zone);
    if (o === undefined) return `ctime has a bad UTC offset ${JSON.stringify(zone)}`;
    offset = o;
  } else if (assumedOffset !== undefined) {
    offset = null;
  } else {
    return "ctime has no UTC offset";
  }
  const Y = Number(y), M = Number(mo), D = Number(d), H = Number(h), MI = Number(mi), S = Number(se);
  const localMs = Date.UTC(Y, M - 1, D, H, MI, S);
  const check = new Date(localMs);
  if (Y < 1970 || check.getUTCFullYear() !== Y || check.getUTCMonth() !== M - 1 || check.getUTCDate() !== D ||
      H > 23 || MI > 59 || S > 59) {
    return `ctime ${JSON.stringify(s)} is not a valid date and time`;
  }
  const us = frac ? Number(frac.slice(0, 6).padEnd(6, "0")) : 0;
  const off = offset ?? assumedOffset ?? 0;
  const tsUs = (localMs - off * 60_000) * 1000 + us;
  // The instant itself (not just the local date) must be after the epoch, and a double must hold
  // its microseconds exactly: up to Number.MAX_SAFE_INTEGER µs, 2255-06-05T23:47:34.740991Z.
  if (tsUs <= 0 || !Number.isSafeInteger(tsUs)) {
    return `ctime ${JSON.stringify(s)} is outside 1970-01-01T00:00:00Z … 2255-06-05T23:47:34Z`;
  }
  return { wall: `${y}-${mo}-${d} ${h}:${mi}:${se}`, tsUs, utcOffset: offset };
}

/** ISO 8601 in the record's own offset (UTC when unknown), microseconds when non-zero. */
export function formatCommandTime(tsUs: number, utcOffset: number | null): string {
  const off = utcOffset ?? 0;
  const ms = Math.floor(tsUs / 1000);
  const us = tsUs - ms * 1000;
  const local = new Date(ms + off * 60_000);
  const frac = (local.getUTCMilliseconds() * 1000 + us);
  const base = `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  const f = frac ? "." + String(frac).padStart(6, "0") : "";
  return base + f + (utcOffset === null ? "Z" : formatUtcOffset(off));
}

function pad(n: number): string {
  return n < 10 ? "0" + n : String(n);
}
