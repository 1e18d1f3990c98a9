/**
 * The two system calls Bun has no API for: flock(2), so two cron runs never
 * overlap, and the append-only inode flag (`chattr +a`) through ioctl(2), so a
 * rotation works without e2fsprogs. Loaded on first use from the system's libc.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

const LOCK_EX = 2;
const LOCK_NB = 4;
// <linux/fs.h>: FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (the kernel reads and writes an int), FS_APPEND_FL.
const FS_IOC_GETFLAGS = 0x80086601n;
const FS_IOC_SETFLAGS = 0x40086602n;
const FS_APPEND_FL = 0x20;

let lib: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  });
}
function libc() {
  return (lib ??= open()).symbols;
}

/** Non-blocking exclusive lock on an open file; false when another process holds it. */
export function tryLockExclusive(fd: number): boolean {
  return libc().flock(fd, LOCK_EX | LOCK_NB) === 0;
}

/** Whether the file is append-only; null when the filesystem has no such flag. */
export function isAppendOnly(fd: number): boolean | null {
  const flags = new Int32Array(2);
  if (libc().ioctl(fd, FS_IOC_GETFLAGS, ptr(flags)) !== 0) return null;
  return (flags[0]! & FS_APPEND_FL) !== 0;
}

/** Set or clear the append-only flag (root only); false when the filesystem or the caller cannot. */
export function setAppendOnly(fd: number, on: boolean): boolean {
  const flags = new Int32Array(2);
  const l = libc();
  if (l.ioctl(fd, FS_IOC_GETFLAGS, ptr(flags)) !== 0) return false;
  const next = on ? flags[0]! | FS_APPEND_FL : flags[0]! & ~FS_APPEND_FL;
  if (next === flags[0]) return true;
  flags[0] = next;
  return l.ioctl(fd, FS_IOC_SETFLAGS, ptr(flags)) === 0;
}
