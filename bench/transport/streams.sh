#!/bin/bash
# Can one user use up journald's stdout streams, so that another's new login gets none?
#
#   bench/transport/journald-ns.sh -- bench/transport/streams.sh [streams]
#
# (root; default 4,200 streams). A throw-away user opens that many stream connections to
# /run/systemd/journal/stdout from one python3 process (raising its own soft RLIMIT_NOFILE to the
# hard one, as any user may), sends each the stream header and keeps them open. A second user
# then logs in as the hook would (bash 5.2, an fd to `systemd-cat -t cmdaudit-late` opened once)
# and writes three records, each inside `trap '' PIPE`: what the writes return and what journald
# stored. Then the same after the first user's connections are closed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/bash" && pwd)
# shellcheck source=bench/transport/lib.sh
. "$here/lib.sh"
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }
count=${1:-4200}
hog=cmdaudit-th$$ late=cmdaudit-tl$$
transport_user_add "$hog"
transport_user_add "$late"
cp "$shared/5.2.15/bash" /tmp/transport-bash.$$
chmod 755 /tmp/transport-bash.$$
hog_pid=0
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
  ((hog_pid == 0)) || kill "$hog_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f /tmp/transport-bash.$$ /tmp/transport-hog.$$ /tmp/transport-hog.$$.out
  transport_cleanup
}
trap cleanup EXIT
echo "hard RLIMIT_NOFILE of the user's processes here: $(as_session "$hog" 930 sh -c 'ulimit -Hn')"

cat >/tmp/transport-hog.$$ <<'EOF'
import os, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/run/systemd/journal/stdout")
    s.sendall(b"hog%d\n\n6\n0\n0\n0\n0\n" % i)
    held.append(s)
time.sleep(1)
print("hog: pid %d holds %d connections" % (os.getpid(), len(held)), flush=True)
time.sleep(3600)
EOF
chmod 644 /tmp/transport-hog.$$

# shellcheck disable=SC2016 # the late user's program
late_prog='
  exec {fd}> >(exec systemd-cat -t cmdaudit-late)
  sleep 0.5
  for i in 1 2 3; do
    trap "" PIPE; printf "record %s of the late login (%s)\n" "$i" "$1" >&"$fd"; s=$?; trap - PIPE
    echo "  late login, write $i: status $s"
  done
'
streams() { find /run/systemd/journal/streams -type f | wc -l; }
as_session "$hog" 930 python3 /tmp/transport-hog.$$ "$count" >/tmp/transport-hog.$$.out &
for _ in $(seq 300); do
  grep -q hog: /tmp/transport-hog.$$.out && break
  sleep 0.2
done
cat /tmp/transport-hog.$$.out
hog_pid=$(sed -n 's/^hog: pid \([0-9]*\) .*/\1/p' /tmp/transport-hog.$$.out)
echo "stream state files journald keeps: $(streams)"
as_session "$late" 931 /tmp/transport-bash.$$ --norc --noprofile -c "$late_prog" _ "while the hog holds its streams"
kill "$hog_pid"
wait 2>/dev/null || true
hog_pid=0
for _ in $(seq 100); do
  (($(streams) < 10)) && break
  sleep 0.1
done
echo "stream state files journald keeps: $(streams)"
as_session "$late" 932 /tmp/transport-bash.$$ --norc --noprofile -c "$late_prog" _ "after the hog closed them"
sleep 2
echo "journald stored:"
journalctl -q -o cat SYSLOG_IDENTIFIER=cmdaudit-late | sed 's/^/  /'
journalctl -q -o cat _PID="$JOURNALD_PID" | grep -i stream | sort | uniq -c | sed 's/^/  journald: /' || true
