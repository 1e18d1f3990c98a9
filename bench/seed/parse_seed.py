#!/usr/bin/env python3
"""
The parsing loop of the 2018 seed reporter (seed/000_*.txt, section 3), ported to
python3 for bench/parse.ts. It does not post anything.

    python3 parse_seed.py LOG [ROUNDS]

Reads LOG once, then ROUNDS times (default 3) runs the seed's loop over it (split on
"\\n", match, pat.split, lstrip/rstrip/split, dict) and json.dumps(pool), and prints
the timings (file read excluded) as one JSON object on stdout.

py2 ran the loop on byte strings, with one regex character per byte: here the bytes are
decoded as latin-1 (one char per byte) and the pattern is compiled with re.ASCII, so `.`,
`\\s` and `split()` see what py2 saw. py2's json.dumps then decoded each str as UTF-8
(the script also set the default encoding to utf-8): when the log is not pure ASCII,
to_text does that for every field before json.dumps.
"""
import json
import re
import statistics
import sys
import time

pat = re.compile(r'^(\[.*\])\s(\[.*\])\s(\[.*\])\s(.*)$', re.ASCII)


def to_text(s):
    # py2's json.dumps(str) decodes with UTF-8 (it raised on invalid bytes; we substitute).
    return s if s.isascii() else s.encode('latin-1').decode('utf-8', 'replace')


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
    if not data.isascii():
        pool = [{k: to_text(v) for k, v in d.items()} for d in pool]
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
        data = raw.decode('latin-1')
        pool = parse(data)
        body = json.dumps(pool)
        seconds.append(time.perf_counter() - t0)
        records, out_bytes = len(pool), len(body)
        del pool, body, data
    print(json.dumps({"bytes": len(raw), "records": records, "jsonBytes": out_bytes,
                      "seconds": seconds, "median": statistics.median(seconds)}))


if __name__ == '__main__':
    main()
