#!/bin/bash
# Runs a command next to a private systemd-journald, so that nothing of the host changes:
#
#   bench/transport/journald-ns.sh [-c 'Key=Value' ...] [-p] -- command [args...]
#
# In a new mount namespace (unshare -m, private propagation) it mounts tmpfs on /run/systemd,
# /run/log and /var/log (so the host's journal directories and /var/log/cmdaudit are hidden, not
# touched), writes the -c settings to /run/systemd/journald.conf.d/bench.conf ([Journal]), starts
# /lib/systemd/systemd-journald, waits for its sockets and runs the command (as root, inside the
# namespace: its children, e.g. `runuser`, see the same journal). -p makes storage persistent
# (/var/log/journal on the tmpfs, flushed to as at boot); the default is what journald does without /var/log/journal:
# volatile, in /run/log/journal. JOURNALD_PID is exported to the command. journald is stopped
# when the command ends; the mounts go with the namespace. Root only.
set -euo pipefail

if [[ ${1-} != --inside ]]; then
  ((EUID == 0)) || { echo "journald-ns.sh: run as root" >&2; exit 2; }
  exec unshare -m --propagation private -- "$0" --inside "$@"
fi
shift

conf=()
persistent=0
while (($#)); do
  case $1 in
  -c) conf+=("$2") && shift 2 ;;
  -p) persistent=1 && shift ;;
  --) shift && break ;;
  *) echo "journald-ns.sh: unknown option $1" >&2 && exit 2 ;;
  esac
done
(($#)) || { echo "journald-ns.sh: no command" >&2; exit 2; }

for d in /run/systemd /run/log /var/log; do mount -t tmpfs -o mode=0755,size=1g tmpfs "$d"; done
mkdir -p /run/systemd/journald.conf.d
printf '[Journal]\n' >/run/systemd/journald.conf.d/bench.conf
if ((${#conf[@]})); then printf '%s\n' "${conf[@]}" >>/run/systemd/journald.conf.d/bench.conf; fi
if ((persistent)); then mkdir -p /var/log/journal; fi

/lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
JOURNALD_PID=$!
export JOURNALD_PID
# shellcheck disable=SC2317 # called by the EXIT trap
stop_journald() { kill "$JOURNALD_PID" 2>/dev/null && wait "$JOURNALD_PID" 2>/dev/null; return 0; }
trap stop_journald EXIT
for _ in $(seq 100); do
  [[ -S /run/systemd/journal/stdout && -S /run/systemd/journal/socket ]] && break
  sleep 0.05
done
[[ -S /run/systemd/journal/stdout ]] || { echo "journald-ns.sh: journald did not start" >&2; exit 1; }
# What systemd-journal-flush.service does at boot: from now on, /var/log/journal.
if ((persistent)); then journalctl --flush; fi

status=0
"$@" || status=$?
exit "$status"
