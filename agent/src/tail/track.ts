/**
 * Which file is which, and what changed in it since the checkpoint: a file is its device + inode,
 * its first bytes (`head`) and a fingerprint of the bytes before the checkpoint (`tail`); the range
 * still unread at the end of a run is described (length, sha256, records, last bytes) so that a
 * rewrite or a removal before the next run counts exactly what it destroyed.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { State, TrackedFile } from "../state.ts";
import { countRecords } from "./records.ts";

export const HEAD_BYTES = 64;
/** Bytes before the checkpoint whose hash (`tail`) must still be there at the next run. */
export const TAIL_BYTES = 256;
/** Bytes at the end of an unread range kept to find the range again in a rewritten file. */
const ANCHOR_BYTES = 64;

export type Unread = NonNullable<TrackedFile["unread"]>;

/** A file seen for the first time: to be read from 0. */
export function newTracked(path: string, st: Stats, role: TrackedFile["role"]): TrackedFile {
  return { path, dev: st.dev, ino: st.ino, offset: 0, size: st.size, head: "", role, ownRotation: false, tail: "", unread: null };
}

export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function withFd<T>(path: string, fn: (fd: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

function readHead(path: string, n = HEAD_BYTES): Buffer {
  return withFd(path, (fd) => {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  });
}

/** Does the file still start with the bytes we saw at its start? */
function sameHead(path: string, head: string): boolean {
  if (!head) return true;
  const want = Buffer.from(head, "hex");
  return readHead(path, want.length).equals(want);
}

/** The file in `dir` with this device and inode, if it is still there under any name. */
export function findByInode(dir: string, dev: number, ino: number): string | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  for (const n of names) {
    const st = statOrNull(join(dir, n));
    if (st && st.isFile() && st.dev === dev && st.ino === ino) return join(dir, n);
  }
  return null;
}

/** sha256 (hex) of bytes [from, to) of an open file. */
function hashRange(fd: number, from: number, to: number): string {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, Math.max(1, to - from)));
  for (let pos = from; pos < to;) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
    if (got <= 0) break;
    h.update(buf.subarray(0, got));
    pos += got;
  }
  return h.digest("hex");
}

/** The `tail` fingerprint at `offset`: sha256 of the up to 256 bytes before it ("" at 0). */
export function tailAt(fd: number, offset: number): string {
  return offset === 0 ? "" : hashRange(fd, Math.max(0, offset - TAIL_BYTES), offset);
}

/** The same, of the bytes before `offset` held in memory (`before`: at least its last min(256, offset) bytes). */
export function tailOf(before: Uint8Array, offset: number): string {
  if (offset === 0) return "";
  const n = Math.min(TAIL_BYTES, offset);
  return before.length < n ? "?" : createHash("sha256").update(before.subarray(before.length - n)).digest("hex");
}

/** `f.tail` as of its offset, taken from the file (a state file from before `tail` had none). */
export function tailFromFile(f: TrackedFile): string {
  return withFd(f.path, (fd) => tailAt(fd, f.offset));
}

/** Are the bytes before `f.offset` in `path` still those the checkpoint was taken after? (Unknown `tail`: yes.) */
function sameTail(path: string, f: TrackedFile): boolean {
  if (!f.tail || f.offset === 0) return true;
  return withFd(path, (fd) => fstatSync(fd).size >= f.offset && tailAt(fd, f.offset) === f.tail);
}

/**
 * The file at `f.path` is still `f`'s inode (`st`): was it rewritten in place since the checkpoint
 * (shorter than it, or its head or the bytes before it differ)? Then it is to be read again from 0.
 */
export function rewrittenInPlace(f: TrackedFile, st: Stats): boolean {
  return st.size < f.offset || !sameHead(f.path, f.head) || !sameTail(f.path, f);
}

/** Does the copy hold the unread range at the same offset? */
export function copyHolds(path: string, u: Unread): boolean {
  return withFd(path, (fd) => fstatSync(fd).size >= u.size && hashRange(fd, u.offset, u.size) === u.sha256);
}

/**
 * Does the rewritten file still hold the unread range, anywhere (bash trimming a HISTFILE keeps its
 * end, so the range moved towards the start)? Its anchor (the range's last bytes) is looked for, and
 * the checksum over the range's length ending there decides.
 */
export function rewrittenHolds(path: string, u: Unread): boolean {
  const anchor = Buffer.from(u.anchor, "hex");
  const len = u.size - u.offset;
  if (!anchor.length) return len === 0;
  return withFd(path, (fd) => {
    const size = fstatSync(fd).size;
    const ends: number[] = [];
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (let pos = 0; pos < size;) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (got <= 0) break;
      const chunk = buf.subarray(0, got);
      for (let i = chunk.indexOf(anchor); i >= 0; i = chunk.indexOf(anchor, i + 1)) ends.push(pos + i + anchor.length);
      if (pos + got >= size) break;
      pos += Math.max(1, got - anchor.length + 1);
    }
    // The likeliest places last: a trimmed file keeps its end. A few candidates are enough.
    for (const e of [...new Set(ends)].reverse().slice(0, 64)) {
      if (e >= len && hashRange(fd, e - len, e) === u.sha256) return true;
    }
    return false;
  });
}

/** After a copytruncate: the copy is an untracked sibling that starts like the old file and holds the bytes before the checkpoint. */
export function findCopy(state: State, live: string, f: TrackedFile): string | null {
  if (!f.head) return null;
  const dir = dirname(live);
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (p === live || !n.startsWith(basename(live))) continue;
    const st = statOrNull(p);
    if (!st || !st.isFile() || st.size < f.offset) continue;
    if (state.files.some((t) => t.dev === st.dev && t.ino === st.ino)) continue;
    if (sameHead(p, f.head) && sameTail(p, f)) return p;
  }
  return null;
}

/** Remember the first bytes of a file (up to 64, as far as it has them), to recognise it later. */
export function rememberHead(f: TrackedFile, fd: number, size: number): void {
  const n = Math.min(HEAD_BYTES, size);
  if (n * 2 <= f.head.length) return;
  const buf = Buffer.alloc(n);
  const got = readSync(fd, buf, 0, n, 0);
  const head = buf.subarray(0, got).toString("hex");
  if (head.startsWith(f.head)) f.head = head; // else rewritten since: the next run's reconcile tells
}

/**
 * At the end of every run: for each file with bytes not yet settled, describe that range (length,
 * sha256, record count, its last bytes), so that a rewrite or a removal before the next run counts
 * exactly what it destroyed, and nothing it did not. Recomputed only when offset or size moved.
 */
export function describeUnread(state: State): void {
  for (const f of state.files) {
    let fd: number;
    try {
      fd = openSync(f.path, "r");
    } catch {
      continue; // gone: the next run's reconcile counts the last description
    }
    try {
      const st = fstatSync(fd);
      if (st.dev !== f.dev || st.ino !== f.ino) continue;
      if (st.size < f.offset) {
        // Rewritten during this run (copytruncate mid-read): the next run follows it (the copy, or from 0);
        // what was unread here can no longer be read to be described.
        f.unread = null;
        continue;
      }
      f.size = st.size;
      rememberHead(f, fd, st.size);
      if (f.offset >= st.size) { f.unread = null; continue; }
      if (f.unread && f.unread.offset === f.offset && f.unread.size === st.size) continue;
      const a = Math.max(f.offset, st.size - ANCHOR_BYTES);
      const anchor = Buffer.alloc(st.size - a);
      readSync(fd, anchor, 0, anchor.length, a);
      f.unread = { offset: f.offset, size: st.size, sha256: hashRange(fd, f.offset, st.size), records: countRecords(f.path, f.offset, st.size), anchor: anchor.toString("hex") };
    } finally {
      closeSync(fd);
    }
  }
}
