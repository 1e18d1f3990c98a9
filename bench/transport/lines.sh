#!/bin/bash
# What journald makes of the lines the hook writes, and of longer ones, over a stdout stream:
#
#   bench/transport/journald-ns.sh -- bench/transport/lines.sh
#
# (root). Through one `systemd-cat -t cmdaudit-lines` stream: a 4,000-byte line (the longest the
# hook writes: docs/log-format.md, __ca_line_max), a 1 MiB line, a line with a raw CR, an ESC
# and a byte 0xff (the hook escapes CR but keeps other bytes as they are), and a last line
# without its LF. For each: the entries stored, their MESSAGE length, _LINE_BREAK, and whether
# `journalctl -o json --all` gives MESSAGE as a string or as an array of bytes; then how many
# MESSAGEs plain `journalctl -o json` (without --all) gives as null: those over 4,096 bytes.
set -euo pipefail
[[ -S /run/systemd/journal/stdout ]] || { echo "run me through journald-ns.sh" >&2; exit 2; }
echo "LineMax in effect: $(grep -h '^LineMax' /run/systemd/journald.conf.d/*.conf 2>/dev/null || echo 'default (48K)')"
{
  printf 'L4000 %s\n' "$(head -c 3994 /dev/zero | tr '\0' x)"
  printf 'L1MiB %s\n' "$(head -c 1048570 /dev/zero | tr '\0' y)"
  printf 'BYTES cr:\r esc:\033 ff:\377 end\n'
  printf 'NOLF the last line, without its LF'
} | systemd-cat -t cmdaudit-lines
sleep 1
journalctl -q -o json --all SYSLOG_IDENTIFIER=cmdaudit-lines |
  jq -r '[(.MESSAGE | if type == "array" then "bytes" else "string" end),
          (.MESSAGE | if type == "array" then (.[0:5] | implode) else .[0:5] end | if . == "yyyyy" then "L1MiB" else . end),
          (.MESSAGE | length), (._LINE_BREAK // "-")] | @tsv' |
  awk -F'\t' '{ k = $2 FS $1 FS $4; n[k]++; len[k] = len[k] (len[k] == "" ? "" : ",") $3 }
    END { for (k in n) { split(k, f, FS); printf "  %-6s MESSAGE as %-6s _LINE_BREAK=%-9s entries: %d, lengths: %.80s\n", f[1], f[2], f[3], n[k], len[k] } }' | sort
echo "  without --all: $(journalctl -q -o json SYSLOG_IDENTIFIER=cmdaudit-lines | jq -r 'select(.MESSAGE == null) | 1' | wc -l) MESSAGE fields given as null"
