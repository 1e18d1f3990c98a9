/** Counting records in raw log bytes: a record is a head line (CA2, CA1) or a seed line; part lines are not records. */
import { closeSync, openSync, readSync } from "node:fs";

/** Count the records in a byte range without keeping it in memory: CA2 and CA1 head lines, and seed lines. */
export function countRecords(path: string, from: number, to: number): number {
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(1024 * 1024);
  let n = 0;
  let atLineStart = from === 0;
  let pos = from;
  // A record starts at a line start: find the first one after `from` unless `from` is one.
  if (!atLineStart) {
    const prev = Buffer.alloc(1);
    readSync(fd, prev, 0, 1, from - 1);
    atLineStart = prev[0] === 0x0a;
  }
  let carry = Buffer.alloc(0);
  try {
    while (pos < to) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
      if (got <= 0) break;
      const chunk = carry.length ? Buffer.concat([carry, buf.subarray(0, got)]) : buf.subarray(0, got);
      let start = 0;
      if (!atLineStart) {
        const nl = chunk.indexOf(0x0a);
        if (nl < 0) { carry = Buffer.alloc(0); pos += got; continue; }
        start = nl + 1;
        atLineStart = true;
      }
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        const avail = (nl < 0 ? chunk.length : nl) - start;
        if (avail < 6 && nl < 0) { carry = Buffer.from(chunk.subarray(start)); break; }
        if (isRecordStart(chunk, start)) n++;
        if (nl < 0) { carry = Buffer.alloc(0); atLineStart = false; break; }
        start = nl + 1;
      }
      pos += got;
    }
    if (carry.length && isRecordStart(carry, 0)) n++;
  } finally {
    closeSync(fd);
  }
  return n;
}

function isRecordStart(b: Buffer, i: number): boolean {
  // "CA2\tR\t", "CA1\tR\t" or a seed line "[2"
  if (b[i] === 0x43) return b[i + 1] === 0x41 && (b[i + 2] === 0x32 || b[i + 2] === 0x31) && b[i + 3] === 0x09 && b[i + 4] === 0x52 && b[i + 5] === 0x09;
  return b[i] === 0x5b && b[i + 1] !== undefined && b[i + 1]! >= 0x30 && b[i + 1]! <= 0x39;
}

/** Records (head lines: CA2, CA1, seed) among whole lines in `buf`, which starts at a line start. */
export function recordsIn(buf: Uint8Array): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let n = 0;
  for (let i = 0; i < b.length;) {
    if (isRecordStart(b, i)) n++;
    const nl = b.indexOf(0x0a, i);
    if (nl < 0) break;
    i = nl + 1;
  }
  return n;
}
