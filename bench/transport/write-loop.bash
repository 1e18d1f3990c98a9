# shellcheck shell=bash
# Run by write-cost.sh with each bash under test (bash >= 4.1):
#
#   BASH write-loop.bash TRANSPORT N TARGET
#
# Writes N copies of one 262-byte record line the way a prompt would, with builtins only, and
# prints "shell_cpu_seconds wall_ns helper_ticks": the shell's own CPU time (user + sys, `times`),
# the wall time of the loop alone, and the CPU clock ticks (user + sys) of the helper process. TRANSPORT:
#   none     printf -v only: the loop and formatting, nothing written (the baseline)
#   file     `>>TARGET` per record, as agent/hook/cmdaudit.sh does (open, write, close)
#   journald `>&fd`, fd opened once: a pipe to `systemd-cat -t TARGET` (a stream to journald)
#   journald-trap  the same, each write inside `trap '' PIPE` ... `trap - PIPE` (a dead reader
#            then fails the write with EPIPE instead of killing the shell: kill-writer.sh)
#   tcp      `>&fd`, fd opened once: bash's /dev/tcp/127.0.0.1/TARGET
# The helper is systemd-cat, which connects the stream and execs cat (0 ticks without one); it
# is read 0.3 s after the loop, with the pipe still open, once cat has passed everything on.
transport=$1 n=$2 target=$3
line="CA2	R	5c462956.1796226465.12345.6789	42	command	2026-12-02T15:47:45.123456+0000	web-01.example.com	10.0.0.5,fe80::1	alice	alice	pts/3	192.0.2.10	/home/alice/projects/cmdaudit	0	12	1	49	git log --oneline --decorate --graph -n 20 main"
helper=0
case $transport in
journald*) exec {fd}> >(exec systemd-cat -t "$target") && helper=$! ;;
tcp) exec {fd}>"/dev/tcp/127.0.0.1/$target" ;;
esac
times_file=$target.times
[[ $transport == file ]] || times_file=${TMPDIR:-/tmp}/write-loop.$$.times
cpu() { # `times` of this shell (in a command substitution it would be the subshell's)
  local t
  times >"$times_file"
  read -r t <"$times_file" # "0m0.012s 0m0.003s": user and sys of the shell itself
  [[ $t =~ ^([0-9]+)m([0-9.]+)s\ ([0-9]+)m([0-9.]+)s$ ]]
  c="${BASH_REMATCH[1]} * 60 + ${BASH_REMATCH[2]} + ${BASH_REMATCH[3]} * 60 + ${BASH_REMATCH[4]}"
}
cpu && c0=$c w0=$(date +%s%N)
case $transport in
none) for ((i = 0; i < n; i++)); do builtin printf -v x '%s\n' "$line"; done ;;
file) for ((i = 0; i < n; i++)); do builtin printf '%s\n' "$line" >>"$target"; done ;;
journald-trap) for ((i = 0; i < n; i++)); do
  builtin trap '' PIPE
  builtin printf '%s\n' "$line" >&"$fd"
  builtin trap - PIPE
done ;;
*) for ((i = 0; i < n; i++)); do builtin printf '%s\n' "$line" >&"$fd"; done ;;
esac
w1=$(date +%s%N) && cpu && c1=$c
rm -f "$times_file"
ticks=0
if ((helper)); then
  sleep 0.3
  read -r -a st <"/proc/$helper/stat" # pid (comm) state ...: utime and stime are fields 14 and 15
  ticks=$((st[13] + st[14]))
fi
echo "$(echo "($c1) - ($c0)" | bc) $((w1 - w0)) $ticks"
: "$x"
