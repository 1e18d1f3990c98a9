/**
 * Who holds the other end of a loopback TCP connection, as the kernel records it (docs/transport.md,
 * option D): the client socket's owner uid from /proc/net/tcp (set at socket() from the creator's
 * fsuid; a user cannot choose it), and the loginuid and audit session of a process holding it.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface SocketOwner {
  uid: number;
  inode: number;
  /** A process holding the socket, if one was found (it may have exited already). */
  pid: number | null;
  /** The login's uid (pam_loginuid), null when unset (4294967295) or unknown. */
  loginUid: number | null;
  /** The kernel's audit session id, null when unset or unknown. */
  auditSession: number | null;
}

const UNSET = 4294967295;

/** "0100007F:1F90" → "127.0.0.1:8080" (IPv4 rows of /proc/net/tcp: the address little-endian hex, the port big-endian). */
function decode(hex: string): string {
  const [a, p] = hex.split(":");
  const n = Number.parseInt(a!, 16);
  return `${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${n >>> 24}:${Number.parseInt(p!, 16)}`;
}

/**
 * The row of the socket at `local` connected to `remote` ("127.0.0.1:PORT" each), from /proc/net/tcp's
 * text, while a process still holds it. A socket its writer already closed (inode 0: orphaned, or
 * TIME_WAIT) shows uid 0 whoever made it: such a row is no one's, never root's.
 */
export function findSocket(table: string, local: string, remote: string): { uid: number; inode: number } | undefined {
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (decode(f[1]!) === local && decode(f[2]!) === remote) {
      const inode = Number(f[9]);
      return inode > 0 ? { uid: Number(f[7]), inode } : undefined;
    }
  }
  return undefined;
}

/** Whether process `pid` has an open fd on socket `inode`. */
function holds(pid: string, want: string, proc: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`${proc}/${pid}/fd`);
  } catch {
    return false; // gone, or not ours to read
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`${proc}/${pid}/fd/${fd}`) === want) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * A process with an open fd on socket `inode`, with its login uid and audit session, or null (one
 * scan of /proc; done once per connection). The shell that opened the socket may have forked
 * children that hold it too and exit at any moment: a holder whose ids cannot be read, or which no
 * longer holds the socket once they are read (its pid may be another process's by then), is passed
 * over for the next.
 */
export function holderOf(inode: number, proc = "/proc"): { pid: number; loginUid: number | null; auditSession: number | null } | null {
  const want = `socket:[${inode}]`;
  // Lowest pid first (as /proc lists them): the shell that opened the socket before the children it forked.
  const pids = readdirSync(proc).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(a) - Number(b));
  for (const name of pids) {
    if (!holds(name, want, proc)) continue;
    const loginUid = readId(`${proc}/${name}/loginuid`);
    const auditSession = readId(`${proc}/${name}/sessionid`);
    if (loginUid === undefined || auditSession === undefined || !holds(name, want, proc)) continue;
    return { pid: Number(name), loginUid, auditSession };
  }
  return null;
}

/** An id file of /proc/PID: the number, null when unset (4294967295), undefined when it cannot be read (the process is gone). */
function readId(path: string): number | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
  const n = Number(text);
  return Number.isInteger(n) && n !== UNSET && text !== "" ? n : null;
}

/**
 * The owner of the client end of a connection the daemon accepted: `clientPort` is the peer's port,
 * `serverPort` the daemon's, both on 127.0.0.1. Undefined when the kernel no longer lists it.
 */
export function socketOwner(clientPort: number, serverPort: number, proc = "/proc"): SocketOwner | undefined {
  const row = findSocket(readFileSync(`${proc}/net/tcp`, "utf8"), `127.0.0.1:${clientPort}`, `127.0.0.1:${serverPort}`);
  if (!row) return undefined;
  const holder = row.inode > 0 ? holderOf(row.inode, proc) : null;
  return { ...row, pid: holder?.pid ?? null, loginUid: holder?.loginUid ?? null, auditSession: holder?.auditSession ?? null };
}
