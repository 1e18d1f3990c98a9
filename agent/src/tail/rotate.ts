/**
 * The reporter's own rotation: the live log becomes `<log>.<epoch>.<inode>` (hard link, then a
 * fresh log renamed over the live name), the rotated file is sealed (0600, append-only) while it
 * waits for the server, and is deleted once drained and quiet.
 */
import { closeSync, fchmodSync, fstatSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { setAppendOnly } from "../libc.ts";
import type { State, TrackedFile } from "../state.ts";
import type { Events, LogSettings } from "./context.ts";
import { newTracked, statOrNull } from "./track.ts";

export const LOG_MODE = 0o622;
/** A rotated file: root's alone. Users append only to the live log; what waits for the server is nobody else's to rewrite. */
export const ROTATED_MODE = 0o600;

/** [epoch, inode] of a `<log>.<epoch>.<inode>` name. */
function rotationKey(live: string, path: string): [number, number] {
  return basename(path).slice(basename(live).length + 1).split(".").map(Number) as [number, number];
}

/**
 * `<log>.<epoch seconds>.<inode>`: the name the reporter gives a file it rotated. The epoch only
 * ever grows past those of `earlier` (the rotated files still there): two rotations in one second,
 * or a clock set back, still sort in the order they happened.
 */
export function ownRotationName(live: string, ino: number, nowMs: number, earlier: readonly string[]): string {
  const last = earlier.reduce((m, p) => Math.max(m, rotationKey(live, p)[0]), -1);
  return `${live}.${Math.max(Math.floor(nowMs / 1000), last + 1)}.${ino}`;
}

export function isOwnRotationName(live: string, path: string): boolean {
  return dirname(path) === dirname(live) && new RegExp(`^${escapeRe(basename(live))}\\.\\d+\\.\\d+$`).test(basename(path));
}

/** `<log>.<epoch>.<inode>` files in the log's directory, oldest rotation first. */
export function ownRotatedFiles(live: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dirname(live));
  } catch {
    return [];
  }
  const key = (p: string) => rotationKey(live, p);
  return names.map((n) => join(dirname(live), n)).filter((p) => isOwnRotationName(live, p))
    .sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
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

/**
 * Seal the files we rotated that are not sealed yet: rotated by an older version, or a run died
 * between the rename and the seal. Never the live log's inode (a run that died between the link
 * and the rename left it under a rotated name too).
 */
export function sealUnsealed(files: readonly TrackedFile[], liveSt: Stats | null, ev: Events): void {
  for (const f of files) {
    if (f.role !== "rotated" || !f.ownRotation || (liveSt && f.dev === liveSt.dev && f.ino === liveSt.ino)) continue;
    try {
      sealRotated(f.path);
    } catch (e) {
      ev.warn(`cannot make ${f.path} mode 600 and append-only: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
}

/** Delete a file the reporter rotated: its append-only flag first (an append-only file cannot be unlinked). */
export function unlinkRotated(path: string): void {
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

/** Rotate the live log once it reached `rotate_bytes`: clear append-only, rename, seal the rotated file (0600, append-only), create a fresh append-only live log. */
export function rotateIfDue(cfg: LogSettings<"rotate_bytes">, state: State, nowMs: number, ev: Events): boolean {
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
  const to = ownRotationName(f.path, st.ino, nowMs, ownRotatedFiles(f.path));
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
  state.files.push(newTracked(live, nst, "live"));
  return true;
}

/** Forget rotated files that are read to the end and untouched for the grace period; delete those we rotated. */
export function retireDrained(cfg: LogSettings<"path" | "rotate_grace_seconds">, state: State, nowMs: number, ev: Events): void {
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
export function isQuiet(cfg: LogSettings<"rotate_grace_seconds">, f: TrackedFile, nowMs: number): boolean {
  const st = statOrNull(f.path);
  return !!st && nowMs - st.mtimeMs >= cfg.log.rotate_grace_seconds * 1000;
}
