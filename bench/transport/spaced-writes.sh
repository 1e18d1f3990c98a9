#!/bin/bash
# The cost of one record written as a prompt writes it, 1 ms apart (so each write goes out alone,
# as at a prompt, not coalesced as in write-cost.sh's tight loop): the shell's CPU per write for
# none, an append to a file, and a write to the stamping daemon's connection with the hook's two
# checks (`-t` and `read -t 0`).
#
#   bench/transport/spaced-writes.sh PORT [N] [bash version]
#
# PORT: a stamping daemon on 127.0.0.1 (`cmdaudit-reporter listen`, or the one the hook bench
# starts); defaults N=10000, bash 5.2.15 of ../shared/bash. Prints µs of CPU (user + sys, `times`)
# per write above `none`, for each of 2 rounds. 2026-12-03, 2 cores: file +17-20 µs, daemon
# +30 µs (~12 µs more than the file: the kernel's loopback TCP send runs in the writer's time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:?usage: spaced-writes.sh PORT [N] [bash version]}
n=${2:-10000}
bash_bin=$(cd "$here/../../../shared/bash/${3:-5.2.15}" && pwd)/bash
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/idle"
cat > "$work/loop.bash" <<'LOOP'
mode=$1 n=$2 port=$3 work=$4
line="CA2	R	abcdefabcdefabcdefabcdefabcdef12	a record line of about a hundred bytes: fields 1 2 3 4 5 6 7 8 9 0 xxxxxxxxxxxxxxxx"
exec {z}<>"$work/idle"
if [[ $mode == tcp ]]; then exec {fd}<>"/dev/tcp/127.0.0.1/$port"; read -r -t 1 -u "$fd" key; fi
for ((i = 0; i < n; i++)); do
  read -r -t 0.001 -u "$z" _
  case $mode in
    file) printf '%s\n' "$line" >> "$work/f.log" ;;
    tcp) [[ ! -t $fd ]] && ! read -t 0 -u "$fd"; printf '%s\n' "$key	$line" >&"$fd" ;;
    none) : "$line" ;;
  esac
done
times
LOOP
cpu() { # total CPU seconds of `times`' first line (the shell's own user and sys)
  "$bash_bin" "$work/loop.bash" "$1" "$n" "$port" "$work" | head -1 | awk '{
    t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } printf "%.6f", t }'
}
for round in 1 2; do
  none=$(cpu none); file=$(cpu file); tcp=$(cpu tcp)
  awk -v r="$round" -v n="$n" -v a="$none" -v f="$file" -v t="$tcp" \
    'BEGIN { printf "round %d: file +%.1f µs, daemon +%.1f µs per write (none %.1f µs)\n", r, (f - a) / n * 1e6, (t - a) / n * 1e6, a / n * 1e6 }'
done
