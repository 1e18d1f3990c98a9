/**
 * Which bytes of which files still have to go to the server: files are followed
 * by device + inode, whoever renames or truncates them. The reporter rotates the
 * live log itself and keeps the retained backlog under a cap, turning anything it
 * must drop into a counted `loss` record.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fchmodSync, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, unlinkSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ReporterConfig } from "./config.ts";
import { setAppendOnly } from "./libc.ts";
import type { State, TrackedFile } from "./state.ts";

const HEAD_BYTES = 64;
/** Bytes before the checkpoint whose hash (`tail`) must still be there at the next run. */
export const TAIL_BYTES = 256;
/** Bytes at the end of an unread range kept to find the range again in a rewritten file. */
const ANCHOR_BYTES = 64;
export const LOG_MODE = 0o622;
/** A rotated file: root's alone. Users append only to the live log; what waits for the server is nobody else's to rewrite. */
export const ROTATED_MODE = 0o600;

export interface Events {
  /** Something the operator should know (printed to stderr by `run`). */
  warn(msg: string): void;
  /** A loss the server must be told about: becomes a `loss` record with a fixed seq. */
  loss(text: string): void;
}

/** `<log>.<epoch seconds>.<inode>`: the name the reporter gives a file it rotated. */
export function ownRotationName(live: string, st: { ino: number }, nowMs: number): string {
  return `${live}.${Math.floor(nowMs / 1000)}.${st.ino}`;
}
function isOwnRotationName(live: string, path: string): boolean {
  return dirname(path) === dirname(live) && new RegExp(`^${escapeRe(basename(live))}\\.\\d+\\.\\d+$`).test(basename(path));
}
/** `<log>.<epoch>.<inode>` files in the log's directory, oldest rotation first. */
function ownRotatedFiles(live: string): string[] {
  const key = (p: string) => basename(p).slice(basename(live).length + 1).split(".").map(Number) as [number, number];
  let names: string[];
  try {
    names = readdirSync(dirname(live));
  } catch {
    return [];
  }
  return names.map((n) => join(dirname(live), n)).filter((p) => isOwnRotationName(live, p))
    .sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}
function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function readHead(path: string, n = HEAD_BYTES): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Does the file still start with the bytes we saw at its start? */
function sameHead(path: string, head: string): boolean {
  if (!head) return true;
  const want = Buffer.from(head, "hex");
  return readHead(path, want.length).equals(want);
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The file in `dir` with this device and inode, if it is still there under any name. */
function findByInode(dir: string, dev: number, ino: number): string | null {
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

function withFd<T>(path: string, fn: (fd: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Are the bytes before `f.offset` in `path` still those the checkpoint was taken after? (Unknown `tail`: yes.) */
function sameTail(path: string, f: TrackedFile): boolean {
  if (!f.tail || f.offset === 0) return true;
  return withFd(path, (fd) => fstatSync(fd).size >= f.offset && tailAt(fd, f.offset) === f.tail);
}

type Unread = NonNullable<TrackedFile["unread"]>;

/** Does the copy hold the unread range at the same offset? */
function copyHolds(path: string, u: Unread): boolean {
  return withFd(path, (fd) => fstatSync(fd).size >= u.size && hashRange(fd, u.offset, u.size) === u.sha256);
}

/**
 * Does the rewritten file still hold the unread range, anywhere (bash trimming a HISTFILE keeps its
 * end, so the range moved towards the start)? Its anchor (the range's last bytes) is looked for, and
 * the checksum over the range's length ending there decides.
 */
function rewrittenHolds(path: string, u: Unread): boolean {
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
function findCopy(state: State, live: string, f: TrackedFile): string | null {
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

function track(path: string, st: Stats, role: TrackedFile["role"]): TrackedFile {
  return { path, dev: st.dev, ino: st.ino, offset: 0, size: st.size, head: "", role, ownRotation: false, tail: "", unread: null };
}

/** Create the live log as the hook needs it: root's, mode 0622 (users append, nobody else reads), append-only. */
export function createLiveLog(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const fd = openSync(path, "ax", LOG_MODE);
  try {
    fchmodSync(fd, LOG_MODE); // the process umask (077) narrowed the create mode
    setAppendOnly(fd, true);
  } finally {
    closeSync(fd);
  }
}

/**
 * Seal a file the reporter rotated: mode 0600 and append-only (`chattr +a`), so while it waits
 * for the server (days, in an outage) no user can rewrite or truncate it. Where the file system
 * has no append-only flag (tmpfs) the mode alone keeps users out. Idempotent.
 */
export function sealRotated(path: string): void {
  const fd = openSync(path, "r");
  try {
    if ((fstatSync(fd).mode & 0o7777) !== ROTATED_MODE) {
      setAppendOnly(fd, false); // the mode of an append-only file cannot be changed
      fchmodSync(fd, ROTATED_MODE);
    }
    setAppendOnly(fd, true);
  } finally {
    closeSync(fd);
  }
}

/** Delete a file the reporter rotated: its append-only flag first (an append-only file cannot be unlinked). */
function unlinkRotated(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    setAppendOnly(fd, false);
  } catch {
    /* gone already: unlink says so */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  unlinkSync(path);
}

/**
 * Bring `state.files` in line with the disk: follow renamed files by inode, notice
 * truncation, forget files that vanished (counting what was unread as lost).
 */
export function reconcile(cfg: ReporterConfig, state: State, ev: Events): void {
  const live = cfg.log.path;
  if (!existsSync(live)) {
    try {
      createLiveLog(live);
      ev.warn(`created the missing log ${live}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") ev.warn(`cannot create the log ${live}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
  const next: TrackedFile[] = [];
  /** What was unread at the end of the last run, unless `holds` finds it still there: counted exactly (records and bytes). */
  const lost = (f: TrackedFile, how: "rewritten in place" | "removed", holds: () => boolean) => {
    const u = f.unread;
    if (u === undefined) {
      // A state file from before unread ranges were described: only the bytes are known.
      if (f.size > f.offset) ev.loss(`cmdaudit reporter: ${f.path} was ${how} with at least ${f.size - f.offset} byte(s) not yet sent; those records are lost`);
      return;
    }
    if (u === null || u.size <= u.offset || holds()) return;
    ev.loss(`cmdaudit reporter: ${u.records} record(s) (${u.size - u.offset} bytes) of ${f.path} at offset ${u.offset} were not sent before the file was ${how}${how === "removed" ? "" : " and are not in it any more"}`);
  };

  for (const f of state.files) {
    if (f.role === "extra" && !cfg.log.extra_paths.includes(f.path)) continue; // no longer configured
    const st = statOrNull(f.path);
    if (st && st.dev === f.dev && st.ino === f.ino) {
      if (st.size < f.offset || !sameHead(f.path, f.head) || !sameTail(f.path, f)) {
        // Rewritten in place (logrotate copytruncate, `: > log`, bash trimming a HISTFILE, an editor):
        // read it again from 0 (the server stores each record once). The copy, if any, holds the rest.
        const copy = f.role === "live" ? findCopy(state, live, f) : null;
        if (copy) {
          const cst = statSync(copy);
          next.push({ ...f, path: copy, dev: cst.dev, ino: cst.ino, size: cst.size, role: "rotated", ownRotation: false, waiting: undefined });
          ev.warn(`${f.path} was truncated by another program; reading the rest from its copy ${copy}`);
        }
        lost(f, "rewritten in place", () => (!!copy && copyHolds(copy, f.unread!)) || rewrittenHolds(f.path, f.unread!));
        next.push({ ...track(f.path, st, f.role), ownRotation: f.ownRotation });
        continue;
      }
      if (f.tail === undefined) f.tail = withFd(f.path, (fd) => tailAt(fd, f.offset)); // from a state file before `tail`
      next.push({ ...f, size: st.size });
      continue;
    }
    // Renamed away (`mv`, logrotate without copytruncate, our own rotation before a crash) or removed.
    const moved = findByInode(dirname(f.path), f.dev, f.ino);
    if (moved) {
      const mst = statSync(moved);
      next.push({ ...f, path: moved, size: mst.size, role: f.role === "extra" ? "extra" : "rotated", ownRotation: f.ownRotation || isOwnRotationName(live, moved) });
    } else {
      lost(f, "removed", () => false);
    }
  }
  // Files we rotated that the state does not know (it was moved away to start over): older than
  // anything tracked, so read first, in the order they were rotated. Never dropped unread.
  // Not the live log under a second name either (a run that died between the link and the rename).
  const orphans: TrackedFile[] = [];
  const liveNow = statOrNull(live);
  for (const p of ownRotatedFiles(live)) {
    const st = statOrNull(p);
    const known = (f: TrackedFile) => st !== null && f.dev === st.dev && f.ino === st.ino;
    const isLive = !!st && !!liveNow && st.dev === liveNow.dev && st.ino === liveNow.ino;
    if (st?.isFile() && !isLive && !next.some(known) && !orphans.some(known)) orphans.push({ ...track(p, st, "rotated"), ownRotation: true });
  }
  state.files = [...orphans, ...next];

  const liveSt = statOrNull(live);
  if (liveSt && !state.files.some((f) => f.role === "live" && f.dev === liveSt.dev && f.ino === liveSt.ino)) {
    // Any older live entry is a file that was rotated away by someone else.
    for (const f of state.files) if (f.role === "live") f.role = "rotated";
    state.files.push(track(live, liveSt, "live"));
  }
  for (const p of cfg.log.extra_paths) {
    const st = statOrNull(p);
    if (st && st.isFile() && !state.files.some((f) => f.dev === st.dev && f.ino === st.ino)) state.files.push(track(p, st, "extra"));
  }
  // Oldest first: rotated files (in the order they were rotated), then older logs, then the live one.
  const rank = { rotated: 0, extra: 1, live: 2 } as const;
  state.files.sort((a, b) => rank[a.role] - rank[b.role]);
  // Files we rotated that are not sealed yet: rotated by an older version, or a run died between the rename and the seal.
  // Never the live log's inode (a run that died between the link and the rename left it under a rotated name too).
  for (const f of state.files) {
    if (f.role !== "rotated" || !f.ownRotation || (liveSt && f.dev === liveSt.dev && f.ino === liveSt.ino)) continue;
    try {
      sealRotated(f.path);
    } catch (e) {
      ev.warn(`cannot make ${f.path} mode 600 and append-only: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
}

/** Rotate the live log once it reached `rotate_bytes`: clear append-only, rename, seal the rotated file (0600, append-only), create a fresh append-only live log. */
export function rotateIfDue(cfg: ReporterConfig, state: State, nowMs: number, ev: Events): boolean {
  const f = state.files.find((t) => t.role === "live");
  if (!f || f.size < cfg.log.rotate_bytes) return false;
  const fd = openSync(f.path, "r");
  let st: Stats;
  try {
    st = fstatSync(fd);
    if (st.ino !== f.ino) return false;
    setAppendOnly(fd, false); // an append-only file cannot be renamed
  } finally {
    closeSync(fd);
  }
  const to = ownRotationName(f.path, st, nowMs);
  const live = f.path;
  // Link the old file to its rotated name, then rename a fresh file over the live name: a shell
  // opening the log always finds one (with a plain rename there would be a moment without).
  const fresh = `${live}.cmdaudit-new`;
  try {
    linkSync(live, to);
    rmSync(fresh, { force: true });
    const nfd = openSync(fresh, "wx", LOG_MODE);
    try {
      fchmodSync(nfd, LOG_MODE); // the process umask (077) narrowed the create mode
    } finally {
      closeSync(nfd);
    }
    renameSync(fresh, live); // an append-only file cannot be renamed: the flag is set once it is in place
  } catch (e) {
    ev.warn(`cannot rotate ${live}: ${(e as NodeJS.ErrnoException).code}`);
    return false;
  }
  // At once: the rotated file is root's alone (0600) and append-only again while it waits for the server.
  try {
    sealRotated(to);
  } catch (e) {
    ev.warn(`cannot make ${to} mode 600 and append-only: ${(e as NodeJS.ErrnoException).code}`);
  }
  const lfd = openSync(live, "r");
  try {
    setAppendOnly(lfd, true);
  } finally {
    closeSync(lfd);
  }
  Object.assign(f, { path: to, role: "rotated", ownRotation: true, size: st.size });
  const nst = statSync(live);
  state.files.push(track(live, nst, "live"));
  return true;
}

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

/**
 * Keep the unsent backlog under `max_retained_bytes` (the server may be away for
 * days): drop the oldest rotated files first, counting exactly what they held.
 * `save` runs before a file is deleted, so a crash never loses the count.
 */
export function enforceCap(cfg: ReporterConfig, state: State, ev: Events, save: () => void): void {
  const backlog = () => state.files.reduce((n, f) => n + Math.max(0, f.size - f.offset), 0);
  while (backlog() > cfg.log.max_retained_bytes) {
    const victim = state.files.find((f) => f.role === "rotated");
    if (!victim) break;
    const bytes = victim.size - victim.offset;
    const records = countRecords(victim.path, victim.offset, victim.size);
    state.counters.droppedRecords += records;
    state.counters.droppedBytes += bytes;
    ev.loss(`cmdaudit reporter: dropped ${records} record(s) (${bytes} bytes) of ${victim.path}: the retained log passed log.max_retained_bytes (${cfg.log.max_retained_bytes}) while the server could not be reached`);
    state.files = state.files.filter((f) => f !== victim);
    save();
    if (victim.ownRotation) {
      try {
        unlinkRotated(victim.path);
      } catch (e) {
        ev.warn(`cannot delete ${victim.path}: ${(e as NodeJS.ErrnoException).code}`);
      }
    }
  }
}

/** Forget rotated files that are read to the end and untouched for the grace period; delete those we rotated. */
export function retireDrained(cfg: ReporterConfig, state: State, nowMs: number, ev: Events): void {
  state.files = state.files.filter((f) => {
    if (f.role !== "rotated" || f.offset < f.size || !isQuiet(cfg, f, nowMs)) return true;
    if (f.ownRotation) {
      // A run that died between link and rename left the same inode under an older rotated name too.
      const names = [f.path, ...ownRotatedFiles(cfg.log.path).filter((p) => p !== f.path && statOrNull(p)?.ino === f.ino)];
      for (const p of names) {
        try {
          unlinkRotated(p);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") { ev.warn(`cannot delete ${p}: ${(e as NodeJS.ErrnoException).code}`); return true; }
        }
      }
    }
    return false;
  });
}

/** A rotated file nobody has written to for the grace period will not grow: it can be read as final. */
export function isQuiet(cfg: ReporterConfig, f: TrackedFile, nowMs: number): boolean {
  const st = statOrNull(f.path);
  return !!st && nowMs - st.mtimeMs >= cfg.log.rotate_grace_seconds * 1000;
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
