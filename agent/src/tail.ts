/**
 * Which bytes of which files still have to go to the server: files are followed
 * by device + inode, whoever renames or truncates them. The reporter rotates the
 * live log itself and keeps the retained backlog under a cap, turning anything it
 * must drop into a counted `loss` record.
 */
import { closeSync, existsSync, fchmodSync, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, unlinkSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ReporterConfig } from "./config.ts";
import { setAppendOnly } from "./libc.ts";
import type { State, TrackedFile } from "./state.ts";

const HEAD_BYTES = 64;
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

/** After a copytruncate: the copy is an untracked sibling that starts like the old file and holds at least what we had read. */
function findCopy(state: State, live: string, f: TrackedFile): string | null {
  if (!f.head) return null;
  const dir = dirname(live);
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (p === live || !n.startsWith(basename(live))) continue;
    const st = statOrNull(p);
    if (!st || !st.isFile() || st.size < f.offset) continue;
    if (state.files.some((t) => t.dev === st.dev && t.ino === st.ino)) continue;
    if (sameHead(p, f.head)) return p;
  }
  return null;
}

function track(path: string, st: Stats, role: TrackedFile["role"]): TrackedFile {
  return { path, dev: st.dev, ino: st.ino, offset: 0, size: st.size, head: "", role, ownRotation: false };
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
  const lost = (f: TrackedFile, how: string) => {
    if (f.size > f.offset) ev.loss(`cmdaudit reporter: ${f.path} ${how} with at least ${f.size - f.offset} byte(s) not yet sent; those records are lost`);
  };

  for (const f of state.files) {
    if (f.role === "extra" && !cfg.log.extra_paths.includes(f.path)) continue; // no longer configured
    const st = statOrNull(f.path);
    if (st && st.dev === f.dev && st.ino === f.ino) {
      if (st.size < f.offset || !sameHead(f.path, f.head)) {
        // Truncated in place (logrotate copytruncate, `: > log`): the copy, if any, holds what we had not read.
        const copy = f.role === "live" ? findCopy(state, live, f) : null;
        if (copy) {
          const cst = statSync(copy);
          next.push({ ...f, path: copy, dev: cst.dev, ino: cst.ino, size: cst.size, role: "rotated", ownRotation: false });
          ev.warn(`${f.path} was truncated by another program; reading the rest from its copy ${copy}`);
        } else {
          lost(f, "was truncated by another program");
        }
        next.push({ ...track(f.path, st, f.role), size: st.size });
        continue;
      }
      next.push({ ...f, size: st.size });
      continue;
    }
    // Renamed away (`mv`, logrotate without copytruncate, our own rotation before a crash) or removed.
    const moved = findByInode(dirname(f.path), f.dev, f.ino);
    if (moved) {
      const mst = statSync(moved);
      next.push({ ...f, path: moved, size: mst.size, role: f.role === "extra" ? "extra" : "rotated", ownRotation: f.ownRotation || isOwnRotationName(live, moved) });
    } else {
      lost(f, "was removed");
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

/** Remember the first bytes of a file once read, to recognise it later. */
export function rememberHead(f: TrackedFile): void {
  if (f.head.length >= HEAD_BYTES * 2 || f.offset === 0) return;
  f.head = readHead(f.path, Math.min(HEAD_BYTES, f.offset)).toString("hex");
}
