#!/bin/bash
# One user floods journald while another's shell writes records: how many of the other's are
# dropped, and how long its writes take meanwhile:
#
#   bench/transport/journald-ns.sh [-c RateLimitBurst=N ...] -- bench/transport/flood.sh [seconds]
#
# (root; default 6 s of flood). Two throw-away users (lib.sh). The victim is a bash 5.2 with an fd
# to `systemd-cat -t cmdaudit-victim` opened once, writing 2,000 records 2 ms apart and timing
# each write; the attacker pipes `yes` (200-byte lines) into `systemd-cat -t flood` for the whole
# time. Twice: the two in different session scopes (two logins), then in the same scope (the
# victim's shell started inside the attacker's login, as `su`, `sudo -i` or `runuser` leave it:
# they do not make a new session). journald's rate limit is per unit (the scope), per priority.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/bash" && pwd)
# shellcheck source=bench/transport/lib.sh
. "$here/lib.sh"
trap transport_cleanup EXIT
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }
secs=${1:-6}
attacker=cmdaudit-ta$$ victim=cmdaudit-tv$$
transport_user_add "$attacker"
transport_user_add "$victim"
cp "$shared/5.2.15/bash" /tmp/transport-bash.$$ # a path both users can run
chmod 755 /tmp/transport-bash.$$
trap 'rm -f /tmp/transport-bash.$$; transport_cleanup' EXIT

# shellcheck disable=SC2016 # the victim's program, expanded by its bash
victim_prog='
  exec {fd}> >(exec systemd-cat -t "$1")
  exec {z}<> <(:) # read -t on it: a sleep without a fork
  max=0 sum=0 pad=$(printf %150s)
  for ((i = 1; i <= 2000; i++)); do
    read -r -t 0.002 -u "$z" _
    t0=${EPOCHREALTIME/[.,]/}
    printf "CA2\tR\tvictim\t%d\tcommand\t...\t%s\n" "$i" "$pad" >&"$fd"
    t1=${EPOCHREALTIME/[.,]/}
    ((d = t1 - t0, sum += d, d > max)) && max=$d
  done
  echo "victim: 2000 writes, mean $((sum / 2000)) µs, max $max µs"
'
run() { # label, attacker session, victim session
  local tag=cmdaudit-victim-$2-$3 before
  before=$(journalctl -q -o cat _PID="$JOURNALD_PID" | grep -c Suppressed || true)
  # shellcheck disable=SC2016 # the attacker's shell expands it
  as_session "$attacker" "$2" timeout "$secs" bash -c 'yes "$(printf %200s)" | systemd-cat -t flood' &
  sleep 0.5
  as_session "$victim" "$3" /tmp/transport-bash.$$ --norc --noprofile -c "$victim_prog" _ "$tag" | sed 's/^/  /'
  wait || true
  sleep 1
  echo "$1: victim records stored $(journalctl -q -o cat SYSLOG_IDENTIFIER="$tag" | wc -l) of 2000;" \
    "flood lines stored $(journalctl -q -o cat SYSLOG_IDENTIFIER=flood _SYSTEMD_UNIT="session-$2.scope" | wc -l)"
  journalctl -q -o cat _PID="$JOURNALD_PID" | { grep Suppressed || true; } | tail -n +"$((before + 1))" | sed 's/^/  journald: /'
}
run "different scopes (session-921 floods, victim in session-922)" 921 922
sleep 2
run "same scope (victim's shell inside the flooding login, session-923)" 923 923
# journald reports what it dropped only when the unit logs again after the interval (30 s):
echo "waiting for the rate limit intervals to end, then one more line from each flooding scope"
sleep 31
as_session "$attacker" 921 systemd-cat -t flood echo after
as_session "$attacker" 923 systemd-cat -t flood echo after
sleep 1
journalctl -q -o cat _PID="$JOURNALD_PID" | { grep Suppressed || true; } | sed 's/^/  journald: /'
