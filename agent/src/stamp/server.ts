/**
 * The stamping daemon (docs/transport.md, option D): shells connect to 127.0.0.1:PORT (a port below
 * 1024, which users cannot bind) with bash's own /dev/tcp and write their records; each connection is
 * spooled to a file of its own under a root-only directory, headed by what the kernel says of the
 * writer (socket-owner.ts), never by what its lines claim. Per uid: a byte quota of unshipped spool and
 * a connection cap; past them lines are dropped and counted, and other users are not affected. It
 * never blocks on a client: it reads everything and writes locally.
 *
 * The connection's key: the daemon sends one line, a random key, when it accepts; the hook keeps it in
 * an unexported shell variable and starts every line with it and a TAB. A process that inherited the
 * connection (a root shell's, through `su bob`: bash cannot mark it close-on-exec) can write to it but
 * never learned the key: its lines are kept apart, marked `#unkeyed`, and counted.
 *
 * Spool file `<uid>-<opened ms>-<n>.spool` (0600):
 *   #stamp v1 uid=U loginuid=L|- session=S|- pid=P|- opened=ISO
 *   <each non-empty keyed line as received, without its key>
 *   #unkeyed <a line without the connection's key>
 *   #dropped N lines (quota|too long|no space) when some were
 *   #unfinished B bytes                        a last line without its LF
 *   #closed ISO
 * A connection the kernel cannot attribute (its writer closed it before the daemon looked) is spooled
 * to `unattributed-…` with `uid=-`: its lines are kept, vouched for by no one. A connection over its
 * uid's cap is closed at once and counted (a spool file of the uid with `#refused`).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { socketOwner, type SocketOwner } from "./socket-owner.ts";

export interface StampOptions {
  port: number;
  spoolDir: string;
  /** Unshipped spool bytes a uid may hold; lines past it are dropped and counted. */
  quotaBytesPerUid: number;
  /** Open connections a uid may hold; more are refused and counted. */
  maxConnectionsPerUid: number;
  /** A line longer than this is dropped and counted (the hook's lines are below 4 KiB). */
  maxLineBytes: number;
  /** Where socket-owner.ts reads /proc (tests). */
  proc?: string;
}

export interface StampCounters {
  connections: number;
  unattributed: number;
  refused: number;
  lines: number;
  dropped: number;
  /** Lines without their connection's key: not the hook's. */
  unkeyed: number;
}

interface Conn {
  owner: SocketOwner;
  /** The key line the daemon sent, as the hook echoes it before each line ("<hex>\t"). */
  key: Buffer;
  fd: number;
  pending: Buffer[];
  pendingBytes: number;
  /** Skipping the rest of a line that was too long. */
  skipping: boolean;
  droppedQuota: number;
  droppedLong: number;
  /** Lines the disk had no room for. */
  droppedNoSpace: number;
  /** Bytes in the spool file: a write the disk cut short is cut back to this. */
  size: number;
}

const SPOOL = /^(\d+|unattributed)-\d+-\d+\.spool$/;
/** The quota bucket of connections no uid could be found for. */
const NO_UID = -1;
const LF = 0x0a;

export function startStampServer(opts: StampOptions) {
  mkdirSync(opts.spoolDir, { recursive: true, mode: 0o700 });
  const counters: StampCounters = { connections: 0, unattributed: 0, refused: 0, lines: 0, dropped: 0, unkeyed: 0 };
  const open = new Map<number, number>();
  /** Spool bytes per uid, re-read from the directory (the reporter deletes what it shipped). */
  let spooled = new Map<number, number>();
  const rescan = () => {
    const next = new Map<number, number>();
    for (const name of readdirSync(opts.spoolDir)) {
      const m = SPOOL.exec(name);
      if (!m) continue;
      const uid = m[1] === "unattributed" ? NO_UID : Number(m[1]);
      try {
        next.set(uid, (next.get(uid) ?? 0) + statSync(join(opts.spoolDir, name)).size);
      } catch {
        // shipped and deleted meanwhile
      }
    }
    spooled = next;
  };
  rescan();
  const timer = setInterval(() => {
    rescan();
    for (const c of closing) finish(c);
  }, 5000);
  let seq = 0;
  /** A new spool file; undefined when the file system has no room for one. */
  const spoolFile = (uid: number) => {
    const path = join(opts.spoolDir, `${uid === NO_UID ? "unattributed" : uid}-${Date.now()}-${++seq}.spool`);
    try {
      return { path, fd: openSync(path, "a", 0o600) };
    } catch {
      return undefined;
    }
  };
  /**
   * Append to the connection's spool file, counted against its uid's quota. False when the disk took
   * none of it: a write cut short (a full file system) is cut back, so the file never holds half a line.
   */
  const put = (c: Conn, data: string | Buffer): boolean => {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    try {
      if (writeSync(c.fd, b) !== b.length) throw new Error("short write");
    } catch {
      try {
        ftruncateSync(c.fd, c.size);
      } catch {
        // nothing more to undo with
      }
      return false;
    }
    c.size += b.length;
    spooled.set(c.owner.uid, (spooled.get(c.owner.uid) ?? 0) + b.length);
    return true;
  };
  /** Connections closed while the disk was full: their last lines are written when it has room again. */
  const closing = new Set<Conn>();
  const finish = (c: Conn) => {
    const tail = [
      c.droppedQuota ? `#dropped ${c.droppedQuota} lines (quota)\n` : "",
      c.droppedLong ? `#dropped ${c.droppedLong} lines (too long)\n` : "",
      c.droppedNoSpace ? `#dropped ${c.droppedNoSpace} lines (no space)\n` : "",
      c.pendingBytes ? `#unfinished ${c.pendingBytes} bytes\n` : "",
      `#closed ${new Date().toISOString()}\n`,
    ].join("");
    if (!put(c, tail)) return closing.add(c);
    closing.delete(c);
    closeSync(c.fd);
  };
  const line = (c: Conn, bytes: Buffer) => {
    if (bytes.length === 0) return; // the hook writes an LF before each line
    const keyed = bytes.length >= c.key.length && timingSafeEqual(bytes.subarray(0, c.key.length), c.key);
    const out = keyed ? bytes.subarray(c.key.length) : Buffer.concat([Buffer.from("#unkeyed "), bytes]);
    if ((spooled.get(c.owner.uid) ?? 0) + out.length + 1 > opts.quotaBytesPerUid) {
      c.droppedQuota++;
      counters.dropped++;
      return;
    }
    if (!put(c, Buffer.concat([out, Buffer.from([LF])]))) {
      c.droppedNoSpace++;
      counters.dropped++;
      return;
    }
    if (keyed) counters.lines++;
    else counters.unkeyed++;
  };
  const id = (n: number | null) => (n === null ? "-" : String(n));
  /** A spool file's first line: what the kernel says of the writer (spool-records.ts reads it). */
  const stampLine = (o: SocketOwner) =>
    `#stamp v1 uid=${id(o.uid === NO_UID ? null : o.uid)} loginuid=${id(o.loginUid)} session=${id(o.auditSession)} pid=${id(o.pid)} opened=${new Date().toISOString()}\n`;

  const server = Bun.listen<Conn | undefined>({
    hostname: "127.0.0.1",
    port: opts.port,
    socket: {
      open(socket) {
        counters.connections++;
        let owner: SocketOwner | undefined;
        try {
          owner = socketOwner(socket.remotePort, server.port, opts.proc);
        } catch {
          owner = undefined;
        }
        if (!owner) {
          counters.unattributed++;
          owner = { uid: NO_UID, inode: 0, pid: null, loginUid: null, auditSession: null };
        }
        const held = open.get(owner.uid) ?? 0;
        if (held >= opts.maxConnectionsPerUid) {
          counters.refused++;
          const f = spoolFile(owner.uid);
          if (f) {
            try {
              writeSync(f.fd, `${stampLine(owner)}#refused over ${opts.maxConnectionsPerUid} connections of this uid\n`);
            } catch {
              unlinkSync(f.path); // a full disk: counted in the daemon's counters only
            }
            closeSync(f.fd);
          }
          socket.end();
          return;
        }
        const key = randomBytes(16).toString("hex");
        const f = spoolFile(owner.uid);
        if (!f) {
          counters.dropped++; // no room for a file: no key, so the shell writes to the log file
          socket.end();
          return;
        }
        open.set(owner.uid, held + 1);
        const c: Conn = {
          owner, key: Buffer.from(`${key}\t`), fd: f.fd, pending: [], pendingBytes: 0, skipping: false, droppedQuota: 0, droppedLong: 0, droppedNoSpace: 0, size: 0,
        };
        if (!put(c, stampLine(owner))) {
          // No room for even the stamp: no key, so the shell writes to the log file (and counts what it cannot).
          counters.dropped++;
          closeSync(f.fd);
          unlinkSync(f.path);
          open.set(owner.uid, held);
          socket.end();
          return;
        }
        socket.data = c;
        socket.write(`${key}\n`);
      },
      data(socket, chunk) {
        const c = socket.data;
        if (!c) return;
        let buf = Buffer.from(chunk);
        for (let nl = buf.indexOf(LF); nl >= 0; nl = buf.indexOf(LF)) {
          const head = buf.subarray(0, nl);
          if (c.skipping) c.skipping = false;
          else line(c, c.pendingBytes ? Buffer.concat([...c.pending, head]) : head);
          c.pending = [];
          c.pendingBytes = 0;
          buf = buf.subarray(nl + 1);
        }
        if (buf.length === 0 || c.skipping) return;
        c.pending.push(Buffer.from(buf));
        c.pendingBytes += buf.length;
        if (c.pendingBytes > opts.maxLineBytes) {
          c.droppedLong++;
          counters.dropped++;
          c.pending = [];
          c.pendingBytes = 0;
          c.skipping = true;
        }
      },
      close(socket) {
        const c = socket.data;
        if (!c) return;
        socket.data = undefined;
        finish(c);
        open.set(c.owner.uid, (open.get(c.owner.uid) ?? 1) - 1);
      },
      error(socket) {
        socket.end();
      },
    },
  });

  return {
    port: server.port,
    spoolDir: opts.spoolDir,
    counters,
    stop() {
      clearInterval(timer);
      server.stop(true);
    },
  };
}
