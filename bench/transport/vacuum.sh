#!/bin/bash
# Records vacuumed while the reporter is down, and what a reader resuming from its cursor sees:
#
#   bench/transport/journald-ns.sh -c RuntimeMaxUse=16M -c RuntimeMaxFileSize=2M -- bench/transport/vacuum.sh
#   bench/transport/journald-ns.sh -p -c SystemMaxUse=16M -c SystemMaxFileSize=2M -- bench/transport/vacuum.sh
#
# (root; volatile, then persistent storage with per-user journal files). A throw-away victim
# user's shell writes 100 records (cmdaudit-vac); the "reporter" reads the first 10 and keeps
# the 10th's cursor, then goes away; another user, in another login, writes 25,000 lines of 2 KB
# of base64 noise (it does not compress; about one rate-limit burst here); the reporter comes back and reads after its cursor. Printed: what
# it gets (count, exit status, stderr), the seqnum in its cursor (i=) and the oldest seqnum the
# journal still holds, the journal files, and journald's own messages about vacuuming.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/transport/lib.sh
. "$here/lib.sh"
trap transport_cleanup EXIT
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }
victim=cmdaudit-tv$$ filler=cmdaudit-tf$$
transport_user_add "$victim"
transport_user_add "$filler"
seqnum() { sed -n 's/.*;i=\([0-9a-f]*\);.*/\1/p' <<<"$1" | { read -r h && echo $((16#$h)); }; }

# shellcheck disable=SC2016 # the victim's shell expands it
as_session "$victim" 941 bash -c 'for i in $(seq 100); do echo "CA2 record $i"; done | systemd-cat -t cmdaudit-vac'
sleep 1
echo "stored: $(journalctl -q -o cat SYSLOG_IDENTIFIER=cmdaudit-vac | wc -l) victim records"
cursor=$(journalctl -q -o json SYSLOG_IDENTIFIER=cmdaudit-vac | sed -n 10p | jq -r .__CURSOR)
echo "reporter read 10, cursor seqnum $(seqnum "$cursor"); reporter down"

# shellcheck disable=SC2016 # the filler's shell expands it
as_session "$filler" 942 bash -c 'base64 -w 2000 /dev/urandom | head -n 25000 | systemd-cat -t filler'
sleep 2
echo "filler lines stored: $(journalctl -q -o cat SYSLOG_IDENTIFIER=filler | wc -l); victim records left: $(journalctl -q -o cat SYSLOG_IDENTIFIER=cmdaudit-vac | wc -l)"

echo "reporter back: journalctl -o json --all --after-cursor C SYSLOG_IDENTIFIER=cmdaudit-vac"
status=0
journalctl -q -o json --all --after-cursor "$cursor" SYSLOG_IDENTIFIER=cmdaudit-vac >/tmp/vac.out.$$ 2>/tmp/vac.err.$$ || status=$?
echo "  got $(wc -l </tmp/vac.out.$$) entries, exit status $status, stderr: $(head -c 200 /tmp/vac.err.$$)"
first=$(head -1 /tmp/vac.out.$$ | jq -r '.__CURSOR // empty')
[[ -z $first ]] || echo "  first entry it got: seqnum $(seqnum "$first"), $(head -1 /tmp/vac.out.$$ | jq -r .MESSAGE)"
status=0
journalctl -q -o json --cursor "$cursor" -n 1 >/dev/null 2>/tmp/vac.err.$$ || status=$?
echo "  journalctl --cursor C (seek to the exact entry): exit status $status $(head -c 200 /tmp/vac.err.$$)"
head_cursor=$(journalctl -q -o json | head -1 | jq -r .__CURSOR || true) # || true: journalctl gets SIGPIPE
echo "  the journal's oldest entry now: seqnum $(seqnum "$head_cursor") (the cursor's +1 would be $(($(seqnum "$cursor") + 1)): a gap of $(($(seqnum "$head_cursor") - $(seqnum "$cursor") - 1)) entries of any writer)"
rm -f /tmp/vac.out.$$ /tmp/vac.err.$$
echo "journal files:"
find /run/log/journal /var/log/journal -name '*.journal*' -printf '  %p %s\n' 2>/dev/null | sed 's#/[0-9a-f]\{32\}/#/…/#' | sort | head -20
journalctl -q -o cat _PID="$JOURNALD_PID" | grep -iE 'vacuum|delet|rotat|Suppressed' | sort | uniq -c | head | sed 's/^/  journald: /' || true
