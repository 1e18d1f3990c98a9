#!/bin/bash
# What an interactive shell does when the other end of its record fd goes away:
#
#   bench/transport/journald-ns.sh -- bench/transport/kill-writer.sh [bash version ...]
#
# (root; default bash 5.2.15 and 4.2.45 of ../shared/bash). In a real interactive bash on a pty
# (util-linux `script`), with the fd opened once as the hook would, the user kills the writer
# (systemd-cat's cat: the user's own process) and the shell then writes two more records, each
# as the hook writes (`printf ... >&fd`, stderr to /dev/null), and says whether it is still alive
# and what `$?` was; then the same with each write wrapped in `trap '' PIPE` ... `trap - PIPE`.
# The same with bash's /dev/tcp fd to tcp-uid-sink.py when that sink is killed (only root can:
# a restart). Then what journald kept of the killed streams.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/bash" && pwd)
versions=("$@")
((${#versions[@]})) || versions=(5.2.15 4.2.45)
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }
work=$(mktemp -d /var/tmp/cmdaudit-kill.XXXXXX)
trap 'rm -rf "$work"' EXIT

session() { # bash version, label, the commands that open the fd and kill its reader, [trap]
  local b=$shared/$1/bash pre='' post=''
  [[ -z ${4-} ]] || pre="builtin trap '' PIPE; " post="; builtin trap - PIPE"
  # shellcheck disable=SC2016 # expanded by the session's shell
  printf '%s\n' "$3" \
    'sleep 0.3; echo "reader alive: $(ps -o comm= --ppid $$ | grep -cE "^(cat|systemd-cat)$")"' \
    "${pre}builtin printf '%s\n' 'record 2 ($2)' >&\"\$fd\" 2>/dev/null; s=\$?$post; echo \"write 2: status \$s\"" \
    "${pre}builtin printf '%s\n' 'record 3 ($2)' >&\"\$fd\" 2>/dev/null; s=\$?$post; echo \"write 3: status \$s\"" \
    'echo "shell still alive"' 'exit' |
    script -qec "$b --norc --noprofile -i" /dev/null >"$work/out" 2>&1
  echo "  bash $1, $2${4:+, writes inside trap '' PIPE}: script exit status $? (a shell killed by SIGPIPE: 141 or the signal)"
  tr -d '\r' <"$work/out" | grep -aoE '(reader alive: [0-9]+|write [23]: status [0-9]+|shell still alive)$' | sed 's/^/    /'
  tr -d '\r' <"$work/out" | grep -q 'shell still alive$' || echo "    the shell died (no 'shell still alive')"
}

port=$((700 + RANDOM % 200))
for v in "${versions[@]}"; do
  for t in '' trap; do
    session "$v" journald "exec {fd}> >(exec systemd-cat -t cmdaudit-kill-$v); w=\$!
builtin printf '%s\n' 'record 1 (journald${t:+, trap})' >&\"\$fd\"; sleep 0.2
kill \$w" $t
  done
  python3 "$here/tcp-uid-sink.py" --port "$port" --dir "$work/attested" >"$work/sink.out" 2>&1 &
  sink=$!
  for _ in $(seq 50); do grep -q listening "$work/sink.out" && break; sleep 0.1; done
  # The sink is killed from outside the session (by root): `sleep` leaves time for that.
  (sleep 1.5 && kill "$sink") &
  session "$v" tcp "exec {fd}>/dev/tcp/127.0.0.1/$port
builtin printf '%s\n' 'record 1 (tcp)' >&\"\$fd\"
sleep 2"
  wait
  echo "  journald kept of the killed stream ($v):"
  journalctl -q -o cat SYSLOG_IDENTIFIER="cmdaudit-kill-$v" | sed 's/^/    /'
done
