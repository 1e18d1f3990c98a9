/** The compiled reporter reads a 429's Retry-After (RFC 9110: delay-seconds or an HTTP date) as a floor for its next try. */
import { expect, test } from "bun:test";
import { retryAfterMs } from "../../../agent/src/ship.ts";

test("Retry-After: seconds, an HTTP date, or nothing usable", () => {
  const now = Date.UTC(2026, 11, 2, 12, 0, 0);
  expect(retryAfterMs("20", now)).toBe(20_000);
  expect(retryAfterMs(" 0 ", now)).toBe(0);
  expect(retryAfterMs("Wed, 02 Dec 2026 12:00:30 GMT", now)).toBe(30_000);
  expect(retryAfterMs("Wed, 02 Dec 2026 11:00:00 GMT", now)).toBe(0);
  expect(retryAfterMs(null, now)).toBeUndefined();
  expect(retryAfterMs("soon", now)).toBeUndefined();
  expect(retryAfterMs("-5", now)).toBeUndefined();
});
