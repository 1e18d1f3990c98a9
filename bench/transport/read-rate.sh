#!/bin/bash
# How fast a reporter reads records back with journalctl, after a saved cursor:
#
#   bench/transport/journald-ns.sh -- bench/transport/read-rate.sh [N]
#
# (root; default N=100000). Writes N record-like lines of 262 bytes (cmdaudit-rate) interleaved
# with N other lines (noise), from the root cgroup (no unit: journald's rate limit does not apply),
# then times, best of 3: journalctl -o json --all --after-cursor C with a SYSLOG_IDENTIFIER match,
# with a _UID match, and with no match (every entry), C being the cursor of the first entry
# written. µs per entry returned, and how many were returned.
set -euo pipefail
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }
n=${1:-100000}
line="CA2	R	5c462956.1796226465.12345.6789	42	command	2026-12-02T15:47:45.123456+0000	web-01.example.com	10.0.0.5,fe80::1	alice	alice	pts/3	192.0.2.10	/home/alice/projects/cmdaudit	0	12	1	49	git log --oneline --decorate --graph -n 20 main"
echo start | systemd-cat -t cmdaudit-rate-start
sleep 0.5
cursor=$(journalctl -q -o json SYSLOG_IDENTIFIER=cmdaudit-rate-start | jq -r .__CURSOR)
yes "$line" | head -n "$n" | systemd-cat -t cmdaudit-rate &
yes "noise $line" | head -n "$n" | systemd-cat -t noise &
wait
for _ in $(seq 120); do
  (($(journalctl -q -o cat SYSLOG_IDENTIFIER=cmdaudit-rate | wc -l) >= n)) && break
  sleep 1
done
best() { # command...: the best wall time of 3 runs in µs, and the entries it printed
  local b=0 t0 t1 got
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    got=$("$@" | wc -l)
    t1=$(date +%s%N)
    ((b == 0 || (t1 - t0) / 1000 < b)) && b=$(((t1 - t0) / 1000))
  done
  echo "$b $got"
}
for match in SYSLOG_IDENTIFIER=cmdaudit-rate _UID=0 ''; do
  read -r us got < <(best journalctl -q -o json --all --after-cursor "$cursor" ${match:+"$match"})
  printf '  match %-32s %7d entries in %6.2f s: %5.2f µs/entry\n' "${match:-(none)}" "$got" "$(echo "$us / 1000000" | bc -l)" "$(echo "$us / $got" | bc -l)"
done
