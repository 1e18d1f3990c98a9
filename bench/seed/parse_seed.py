#!/usr/bin/env python3
"""
The parsing loop of the 2018 seed reporter (seed/000_*.txt, section 3), ported to
python3 for bench/parse.ts. It does not post anything.

    python3 parse_seed.py LOG [ROUNDS]

Reads LOG once, then ROUNDS times (default 3) runs the seed's loop over it (split on
"\\n", match, pat.split, lstrip/rstrip/split, dict) and json.dumps(pool), and prints
the timings (file read excluded) as one JSON object on stdout.

py2 ran the loop on byte strings and json.dumps decoded them as UTF-8 (the script had also set
the default encoding to utf-8). Here the bytes are decoded as UTF-8 once, with surrogateescape so
that no byte is lost, and the pattern is compiled with re.ASCII so `\\s` is ASCII whitespace as in
py2. What still differs, only for unusual bytes: `split()` also splits on non-ASCII Unicode spaces,
and invalid UTF-8 comes out as \\udcXX escapes where py2's json.dumps raised an error.
"""
import json
import re
import statistics
import sys
import time

pat = re.compile(r'^(\[.*\])\s(\[.*\])\s(\[.*\])\s(.*)$', re.ASCII)


def parse(data):
    pool = []
    for cmd in data.split("\n"):
        if pat.match(cmd):
            cmd = [i for i in pat.split(cmd) if i]
            if cmd and isinstance(cmd, (list, tuple)) and len(cmd) == 4:
                try:
                    ctime = cmd[0].lstrip('[').rstrip(']')
                    suser, luser, terminal, clientIp = cmd[1].lstrip('[').rstrip(']').split()
                    suser = suser.replace('(', '').replace(')', '')
                    hostname, serverIps = cmd[2].lstrip('[').rstrip(']').split('@')
                    command = cmd[3]
                except Exception:
                    pass  # the seed printed a traceback and the line
                else:
                    pool.append(dict(ctime=ctime, suser=suser, luser=luser, terminal=terminal, clientIp=clientIp, hostname=hostname, serverIps=serverIps, command=command))
    return pool


def main():
    path = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with open(path, 'rb') as f:
        raw = f.read()
    seconds = []
    records = out_bytes = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        data = raw.decode('utf-8', 'surrogateescape')
        pool = parse(data)
        body = json.dumps(pool)
        seconds.append(time.perf_counter() - t0)
        records, out_bytes = len(pool), len(body)
        del pool, body, data
    print(json.dumps({"bytes": len(raw), "records": records, "jsonBytes": out_bytes,
                      "seconds": seconds, "median": statistics.median(seconds)}))


if __name__ == '__main__':
    main()
