/** Counting records in raw log bytes: a record is a head line (CA2, CA1) or a seed line; part lines are not records. */
import { closeSync, openSync, readSync } from "node:fs";
import { holdsRecordStart, lines } from "../../../protocol/index.ts";

/**
 * Count the records in a byte range without keeping it in memory: CA2 and CA1 head lines and seed
 * lines, also glued onto a line someone left unfinished (holdsRecordStart). A line that runs past `to`
 * counts by what is there.
 */
export function countRecords(path: string, from: number, to: number): number {
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(1024 * 1024);
  let n = 0;
  let pos = from;
  // A record starts at a line start: skip to the first one after `from` unless `from` is one.
  let skipping = false;
  if (from > 0) {
    const prev = Buffer.alloc(1);
    readSync(fd, prev, 0, 1, from - 1);
    skipping = prev[0] !== 0x0a;
  }
  let carry: Buffer = Buffer.alloc(0);
  try {
    while (pos < to) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
      if (got <= 0) break;
      pos += got;
      const chunk = carry.length ? Buffer.concat([carry, buf.subarray(0, got)]) : buf.subarray(0, got);
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        if (!skipping && holdsRecordStart(chunk.subarray(start, nl))) n++;
        skipping = false;
        start = nl + 1;
      }
      carry = Buffer.from(chunk.subarray(start));
    }
    if (!skipping && carry.length && holdsRecordStart(carry)) n++;
  } finally {
    closeSync(fd);
  }
  return n;
}

/** Records (head lines: CA2, CA1, seed, also glued onto an unfinished line) among whole lines in `buf`, which starts at a line start. */
export function recordsIn(buf: Uint8Array): number {
  let n = 0;
  for (const { line } of lines(buf)) if (holdsRecordStart(line)) n++;
  // A last line without its LF counts too.
  const last = buf.lastIndexOf(0x0a);
  if (last < buf.length - 1 && holdsRecordStart(buf.subarray(last + 1))) n++;
  return n;
}
