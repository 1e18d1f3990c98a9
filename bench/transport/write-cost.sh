#!/bin/bash
# Per-record cost of writing a record line to each transport, on real bash builds, 0 forks per record:
#
#   bench/transport/journald-ns.sh -- bench/transport/write-cost.sh [N] [bash version ...]
#
# (root; defaults: N=20000, bash 5.2.15 and 4.2.45 of ../shared/bash). For each bash and transport
# (write-loop.bash: none, file, journald, journald-trap, and tcp where python3 runs tcp-uid-sink.py),
# median of 5 runs of N writes of a 262-byte line:
#   shell µs   the writing shell's CPU per record minus the `none` baseline: what a prompt pays
#   wall µs    wall time per record of the loop (a tight loop: throughput, not a prompt's latency)
#   sink µs    CPU per record of the receiving side: journald + the systemd-cat/cat helper, or the
#              tcp sink daemon, from /proc/PID/stat (clock ticks)
# then forks and execs of a whole run at N=1000 and N=2000 (strace -f): equal counts mean none
# per record. The file transport appends to a file on /var/tmp (the disk, like /var/log/cmdaudit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/bash" && pwd)
n=${1:-20000}
shift || true
versions=("$@")
((${#versions[@]})) || versions=(5.2.15 4.2.45)
[[ -S /run/systemd/journal/stdout && -n ${JOURNALD_PID-} ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }

work=$(mktemp -d /var/tmp/cmdaudit-transport.XXXXXX)
export TMPDIR=$work
sink_pid=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  ((sink_pid == 0)) || kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

transports=(none file journald journald-trap)
port=0
if command -v python3 >/dev/null; then
  port=$((700 + RANDOM % 200)) # below 1024: only root can bind it (see docs/transport.md)
  python3 "$here/tcp-uid-sink.py" --port "$port" --dir "$work/attested" >"$work/sink.out" 2>&1 &
  sink_pid=$!
  for _ in $(seq 50); do grep -q listening "$work/sink.out" 2>/dev/null && break; sleep 0.1; done
  transports+=(tcp)
fi

ticks() { # utime + stime of a pid, in clock ticks
  local st
  read -r -a st <"/proc/$1/stat"
  echo $((st[13] + st[14]))
}
hz=$(getconf CLK_TCK)
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '%-8s %-13s %10s %10s %10s\n' bash transport 'shell µs' 'wall µs' 'sink µs'
for v in "${versions[@]}"; do
  b=$shared/$v/bash
  base=''
  for t in "${transports[@]}"; do
    target=$work/records.log
    case $t in journald*) target=cmdaudit-bench-$t-$v ;; tcp) target=$port ;; esac
    shells=() walls=() sinks=()
    for _ in 1 2 3 4 5; do
      rm -f "$work/records.log"
      j0=$(ticks "$JOURNALD_PID")
      s0=0
      ((sink_pid == 0)) || s0=$(ticks "$sink_pid")
      read -r cpu wall helper < <("$b" --norc --noprofile "$here/write-loop.bash" "$t" "$n" "$target")
      sleep 0.3 # journald and the sink catch up
      sink=0
      case $t in
      journald*) sink=$(($(ticks "$JOURNALD_PID") - j0 + helper)) ;;
      tcp) sink=$(($(ticks "$sink_pid") - s0)) ;;
      esac
      shells+=("$cpu") walls+=("$wall") sinks+=("$sink")
    done
    cpu=$(printf '%s\n' "${shells[@]}" | median)
    [[ -n $base ]] || base=$cpu
    printf '%-8s %-13s %10.2f %10.2f %10.2f\n' "$v" "$t" \
      "$(echo "($cpu - $base) * 1000000 / $n" | bc -l)" \
      "$(printf '%s\n' "${walls[@]}" | median | awk -v n="$n" '{ print $1 / 1000 / n }')" \
      "$(printf '%s\n' "${sinks[@]}" | median | awk -v n="$n" -v hz="$hz" '{ print $1 * 1e6 / hz / n }')"
  done
done
# journald stored every record of the journald runs?
for v in "${versions[@]}"; do
  echo "journald entries stored per run, bash $v: $(($(journalctl -q -o cat SYSLOG_IDENTIFIER="cmdaudit-bench-journald-$v" | wc -l) / 5)) of $n"
done

echo
echo "forks (clone/fork/vfork) and execs of one run, strace -f:"
for v in "${versions[@]}"; do
  for t in "${transports[@]}"; do
    [[ $t != none ]] || continue
    target=$work/records.log
    case $t in journald*) target=cmdaudit-bench-forks ;; tcp) target=$port ;; esac
    counts=''
    for k in 1000 2000; do
      strace -f -qq -o "$work/strace" -e trace=clone,clone3,fork,vfork,execve \
        "$shared/$v/bash" --norc --noprofile "$here/write-loop.bash" "$t" "$k" "$target" >/dev/null
      counts+=" N=$k: $(grep -cE '(clone3?|v?fork)\(' "$work/strace") forks $(grep -c 'execve(' "$work/strace") execs;"
    done
    echo "  $v $t:$counts"
  done
done
