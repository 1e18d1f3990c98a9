#!/usr/bin/env python3
"""Prototype of the alternative to journald (docs/transport.md): a root daemon on a loopback TCP
port below 1024 that the hook reaches with bash's own /dev/tcp (one connect per shell, no helper
process, 0 forks per prompt), and that stamps each line with what the kernel says of the
connection, never what the line says:

  uid         the socket's owner, from /proc/net/tcp (sk_uid: the creating process's fsuid)
  pid, loginuid, sessionid, comm
              of a process holding the socket (its inode found in /proc/*/fd) at accept time

Lines go to DIR/<uid>.log (DIR 0700, root's), one per line received:
  conn-id TAB uid TAB loginuid TAB sessionid TAB pid TAB comm TAB line
A per-uid byte quota bounds what one user can make the daemon store; what goes over is
dropped and counted, and the count written as a `#dropped` line when the connection closes.

  python3 bench/transport/tcp-uid-sink.py --port 700 --dir /var/tmp/x [--quota-bytes N]

A prototype for measurement (write-cost.sh, attacks.sh), not the product: no rotation, no
reader protocol, IPv4 only.
"""
import argparse
import os
import selectors
import socket
import sys


def hexaddr(ip: str, port: int) -> str:
    a = socket.inet_aton(ip)
    return "%08X:%04X" % (int.from_bytes(a, "little"), port)


def socket_owner(peer: tuple[str, int], ours: tuple[str, int]) -> tuple[int, int] | None:
    """(uid, inode) of the client end of this connection, from /proc/net/tcp."""
    local, remote = hexaddr(*peer), hexaddr(*ours)
    with open("/proc/net/tcp") as f:
        next(f)
        for row in f:
            p = row.split()
            if p[1] == local and p[2] == remote:
                return int(p[7]), int(p[9])
    return None


def holder(inode: int) -> dict[str, str]:
    """pid, loginuid, sessionid and comm of a process with the socket open (first found)."""
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    info = {"pid": pid}
                    for k in ("loginuid", "sessionid", "comm"):
                        with open(f"/proc/{pid}/{k}") as f:
                            info[k] = f.read().strip()
                    return info
        except OSError:
            continue
    return {"pid": "?", "loginuid": "?", "sessionid": "?", "comm": "?"}


class Conn:
    def __init__(self, cid: int, stamp: str, uid: int):
        self.cid, self.stamp, self.uid = cid, stamp, uid
        self.buf = b""
        self.dropped = 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--quota-bytes", type=int, default=64 << 20)
    ap.add_argument("--line-max", type=int, default=65536)
    a = ap.parse_args()
    os.makedirs(a.dir, mode=0o700, exist_ok=True)
    os.chmod(a.dir, 0o700)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(128)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    files: dict[int, object] = {}
    used: dict[int, int] = {}
    ncid = 0
    print("listening", a.port, flush=True)

    def out(uid: int, data: bytes) -> None:
        if uid not in files:
            files[uid] = open(os.path.join(a.dir, f"{uid}.log"), "ab", buffering=0)
        files[uid].write(data)  # type: ignore[attr-defined]

    while True:
        for key, _ in sel.select():
            if key.fileobj is srv:
                c, peer = srv.accept()
                owner = socket_owner(peer, c.getsockname())
                if owner is None:  # gone before we looked: nothing can be attested
                    c.close()
                    continue
                uid, inode = owner
                h = holder(inode)
                ncid += 1
                stamp = f"{ncid}\t{uid}\t{h['loginuid']}\t{h['sessionid']}\t{h['pid']}\t{h['comm']}\t"
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, Conn(ncid, stamp, uid))
                continue
            c, st = key.fileobj, key.data
            data = c.recv(1 << 16)  # type: ignore[union-attr]
            if data:
                st.buf += data
                *whole, st.buf = st.buf.split(b"\n")
                if len(st.buf) > a.line_max:  # an endless line: cut, the reader sees the mark
                    whole.append(st.buf + b"\t#cut")
                    st.buf = b""
                chunk = b"".join(st.stamp.encode() + w + b"\n" for w in whole)
                if used.get(st.uid, 0) + len(chunk) > a.quota_bytes:
                    st.dropped += len(whole)
                else:
                    used[st.uid] = used.get(st.uid, 0) + len(chunk)
                    out(st.uid, chunk)
                continue
            sel.unregister(c)
            c.close()  # type: ignore[union-attr]
            tail = st.stamp.encode() + b"#unterminated\t" + st.buf + b"\n" if st.buf else b""
            out(st.uid, tail + st.stamp.encode() + b"#closed\n")
            if st.dropped:
                out(st.uid, st.stamp.encode() + f"#dropped\t{st.dropped}\n".encode())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
