#!/bin/bash
# The same attacks against the alternative, tcp-uid-sink.py (a root daemon on a loopback port
# below 1024 that stamps each line with the uid the kernel gives the client socket):
#
#   bench/transport/tcp-attacks.sh
#
# (root; no journald needed). Two throw-away users in two logins (lib.sh):
#   forge   the attacker's bash sends a line claiming root: what the sink stamps on it
#   flood   the attacker sends 40 MB while the victim's shell writes 2,000 records (bash 5.2,
#           /dev/tcp fd opened once), with an 8 MiB per-uid quota: what each got stored
#   squat   the attacker tries to bind the sink's port first (a user who could would receive
#           every shell's records)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/bash" && pwd)
# shellcheck source=bench/transport/lib.sh
. "$here/lib.sh"
attacker=cmdaudit-ta$$ victim=cmdaudit-tv$$
transport_user_add "$attacker"
transport_user_add "$victim"
work=$(mktemp -d /var/tmp/cmdaudit-tcp.XXXXXX)
port=$((700 + RANDOM % 200))
python3 "$here/tcp-uid-sink.py" --port "$port" --dir "$work/attested" --quota-bytes $((8 << 20)) >"$work/sink.out" 2>&1 &
sink=$!
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
  kill "$sink" 2>/dev/null || true
  rm -rf "$work" /tmp/transport-bash.$$
  transport_cleanup
}
trap cleanup EXIT
for _ in $(seq 50); do grep -q listening "$work/sink.out" && break; sleep 0.1; done
cp "$shared/5.2.15/bash" /tmp/transport-bash.$$
chmod 755 /tmp/transport-bash.$$
auid=$(id -u "$attacker") vuid=$(id -u "$victim")

# shellcheck disable=SC2016 # the attacker's bash expands it
as_session "$attacker" 951 /tmp/transport-bash.$$ --norc -c \
  'exec {fd}>"/dev/tcp/127.0.0.1/$1"; printf "CA2\tR\tsid1\t1\tcommand\t...\troot\troot\trm -rf /data\n" >&"$fd"; sleep 0.5' _ "$port"
sleep 0.5
echo "forge: the line claiming root is stored as: $(grep -h 'rm -rf' "$work"/attested/*.log | cut -f1-6 | tr '\t' ' ') (conn uid loginuid sessionid pid comm) in $(grep -l 'rm -rf' "$work"/attested/*.log | xargs -n1 basename)"

# shellcheck disable=SC2016
as_session "$attacker" 952 /tmp/transport-bash.$$ --norc -c \
  'exec {fd}>"/dev/tcp/127.0.0.1/$1"; base64 -w 2000 /dev/urandom | head -c 40000000 >&"$fd"' _ "$port" &
flood=$!
# shellcheck disable=SC2016
as_session "$victim" 953 /tmp/transport-bash.$$ --norc -c '
  exec {fd}>"/dev/tcp/127.0.0.1/$1"
  exec {z}<> <(:)
  pad=$(printf %150s) max=0
  for ((i = 1; i <= 2000; i++)); do
    read -r -t 0.002 -u "$z" _
    t0=${EPOCHREALTIME/[.,]/}
    printf "CA2\tR\tvictim\t%d\tcommand\t%s\n" "$i" "$pad" >&"$fd"
    t1=${EPOCHREALTIME/[.,]/}
    ((t1 - t0 > max)) && max=$((t1 - t0))
  done
  echo "victim: 2000 writes, max $max µs"' _ "$port" | sed 's/^/  /'
wait "$flood" || true
sleep 1
echo "flood: victim records stored $(grep -c 'victim' "$work/attested/$vuid.log" || true) of 2000;" \
  "attacker: $(stat -c %s "$work/attested/$auid.log") bytes stored, $(grep -h '#dropped' "$work/attested/$auid.log" | cut -f7- | tr '\t' ' ' | paste -sd, -) lines dropped and counted"

echo "squat: $(as_session "$attacker" 954 python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', $port + 1))" 2>&1 | tail -1)"
