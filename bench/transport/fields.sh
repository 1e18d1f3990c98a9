#!/bin/bash
# Which trusted fields journald stamps on a record, and what a user can forge:
#
#   bench/transport/journald-ns.sh -- bench/transport/fields.sh
#
# (root). A throw-away user in a login-like session (lib.sh: session scope cgroup, audit loginuid)
# writes three entries with the identifier cmdaudit-fields:
#   hook    as the hook would: a bash with an fd to `systemd-cat -t cmdaudit-fields` opened once,
#           one record while the writer lives on, then a last one and the fd closed at once
#           (a session_end: the writer exits before journald has read it)
#   stream  a forgery: the user's own `systemd-cat -t cmdaudit-fields`, a line claiming root
#   native  a forgery over the native socket (logger --journald): _UID=0, _PID=1, _COMM=bash,
#           _SYSTEMD_UNIT, _AUDIT_LOGINUID, _SOURCE_REALTIME_TIMESTAMP, _BOOT_ID set by the user
# and prints each entry's fields from `journalctl -o json`. The user is then deleted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/transport/lib.sh
. "$here/lib.sh"
trap transport_cleanup EXIT
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }

user=cmdaudit-tf$$
transport_user_add "$user"
uid=$(id -u "$user")
echo "user $user uid $uid gid $(id -g "$user"); this kernel: CONFIG_AUDIT=$( (zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null) | grep -c '^CONFIG_AUDIT=y' || true)"

record="CA2	R	sid1	1	command	2026-12-02T15:47:45+0000	web-01	10.0.0.5	root	root	pts/3		/root	0		1	12	rm -rf /data"
# shellcheck disable=SC2016 # expanded by the user's bash
as_session "$user" 901 bash --norc --noprofile -c '
  exec {fd}> >(exec systemd-cat -t cmdaudit-fields)
  printf "%s\n" "hook: $1" >&"$fd"
  sleep 0.5
  printf "%s\n" "hook, last: $1" >&"$fd"
  exec {fd}>&-
  printf "%s\n" "stream: $1" | systemd-cat -t cmdaudit-fields
  printf "%s\n" _UID=0 _GID=0 _PID=1 _COMM=bash _EXE=/usr/bin/bash _SYSTEMD_UNIT=sshd.service \
    _AUDIT_LOGINUID=0 _AUDIT_SESSION=1 _BOOT_ID=00000000000000000000000000000000 \
    _SOURCE_REALTIME_TIMESTAMP=1000000 _TRANSPORT=stdout _STREAM_ID=0123 \
    SYSLOG_IDENTIFIER=cmdaudit-fields "MESSAGE=native: $1" >/tmp/native.$$
  logger --journald=/tmp/native.$$
  rm -f /tmp/native.$$
  sleep 0.3
' _ "$record"
echo "the session's own view: loginuid $(as_session "$user" 902 cat /proc/self/loginuid), sessionid $(as_session "$user" 903 cat /proc/self/sessionid) (a new one at each login)"
sleep 0.3
fields=(MESSAGE SYSLOG_IDENTIFIER _TRANSPORT _UID _GID _PID _COMM _EXE _CMDLINE _AUDIT_LOGINUID _AUDIT_SESSION
  _SYSTEMD_CGROUP _SYSTEMD_UNIT _SYSTEMD_SESSION _SYSTEMD_OWNER_UID _STREAM_ID _BOOT_ID __REALTIME_TIMESTAMP _SOURCE_REALTIME_TIMESTAMP __CURSOR)
journalctl -q -o json SYSLOG_IDENTIFIER=cmdaudit-fields | while read -r entry; do
  echo "---"
  for f in "${fields[@]}"; do
    v=$(jq -r --arg f "$f" 'if has($f) then (.[$f] | if type == "array" then "bytes: \(length)" else tostring end) else "(absent)" end' <<<"$entry")
    printf '  %-27s %s\n' "$f" "${v:0:110}"
  done
done
