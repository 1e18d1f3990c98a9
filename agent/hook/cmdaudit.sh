# shellcheck shell=bash
# cmdaudit: records every interactive bash command, and session start and end,
# as lines of docs/log-format.md appended to the audit log. Installed as
# /etc/profile.d/00-cmdaudit.sh. Interactive bash only, once per shell, bash >= 4.1;
# it never prints to the user's terminal: write failures are counted and
# reported in the log as a `loss` record once writing works again.

# POSIX up to here: /etc/profile.d is also read by sh, and by non-interactive bash.
# `|| exit 0`: run as a script instead of sourced, it also ends quietly.
# shellcheck disable=SC2317
[ -n "${BASH_VERSION-}" ] || { return 0 2>/dev/null || exit 0; }
# shellcheck disable=SC2317
case $- in *i*) ;; *) { return 0 2>/dev/null || exit 0; } ;; esac
# Loaded already (CentOS /etc/bashrc sources profile.d again)? Only our own readonly
# session id counts: one imported from the environment must not switch the hook off. Before
# 2026-12 it was __cmdaudit_sid: a shell that loaded that version keeps it.
if [ -n "${__cmdaudit_sid+x}" ]; then
  case $(builtin declare -p __cmdaudit_sid 2>/dev/null) in "declare -r"*) builtin return 0 ;; esac
fi
if [ -n "${__ca_sid+x}" ]; then
  case $(builtin declare -p __ca_sid 2>/dev/null) in "declare -r"*) builtin return 0 ;; esac
  builtin unset __ca_sid 2>/dev/null || builtin return 0
fi

# Names: __ca_ and short, because bash 4.2 (CentOS 7) pays a mbrtowc() per character of every
# name it expands in a UTF-8 locale: __cmdaudit_ cost it 90,000 instructions (10 %) a prompt.
# The two lines the role rewrites keep their long names.
__cmdaudit_log=/var/log/cmdaudit/commands.log # cmdaudit:log (the Ansible role sets this path)
__cmdaudit_port=0 # cmdaudit:port (the role sets it: the stamping daemon on 127.0.0.1; 0: the log file only)
__ca_sock=-1                             # the descriptor of the daemon's connection; -1: none
__ca_k=                                  # the connection's key and a TAB, which start each line on it
__ca_pv=                                 # the last record the prompt wrote on the connection,
__ca_un=0                                # 1 while nothing has shown it arrived (__ca_resend)
__ca_chunk=3072                          # escaped command bytes per line
__ca_line_max=4000                       # a head line stays one write() below PIPE_BUF
__ca_seq=0
__ca_failed=0
__ca_histoff=0
__ca_last=-1                             # history number of the last recorded entry; -1: not primed
__ca_r=
__ca_st=0
__ca_n=0
__ca_h=
__ca_p=
__ca_sp=
__ca_pwd=
__ca_pwd_esc=
__ca_pwd_ascii=1
__ca_room=0
__ca_room_fast=-1
__ca_a=()                                # the history entry's lines (mapfile)
__ca_maxl=64                             # lines of an entry bash reads itself; longer ones go to awk
__ca_big=8192                            # bytes of an entry bash escapes itself; longer ones go to awk
__ca_t0=                                 # the command's start, set by PS0 (bash >= 5.0)
__ca_tp=0                                # the start of the last command recorded with it
__ca_b=()
__ca_ct=                                 # the command's start as a ctime field
__ca_d=                                  # its duration in ms, empty when unknown

# Escape backslash, TAB, LF and CR (docs/log-format.md); result in __ca_r.
__ca_esc() {
  builtin local s="$1" # quoted: after `builtin`, local is no declaration and its words are split
  if [[ $s == *[$'\\\t\n\r']* ]]; then
    s=${s//\\/\\\\}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
  fi
  __ca_r=$s
}

# Local time with UTC offset, without a fork where the bash version allows.
# CMDAUDIT_HOOK_CLOCK forces a branch; the tests use it to cover old bash versions.
if [ -n "${CMDAUDIT_HOOK_CLOCK-}" ]; then
  __ca_clock=$CMDAUDIT_HOOK_CLOCK
elif ((BASH_VERSINFO[0] >= 5)); then
  __ca_clock=epochrealtime
elif ((BASH_VERSINFO[0] > 4 || BASH_VERSINFO[1] >= 2)); then
  __ca_clock='printf'
else
  __ca_clock='date'
fi
# strftime (which stats the zone file) runs once a minute: a UTC offset changes only on a
# minute boundary, so the seconds are added to the minute's "YYYY-MM-DDTHH:MM:" and offset.
# One __ca_now per clock, chosen here; it sets __ca_t.
__ca_fast=0 __ca_min=-1 __ca_tpre='' __ca_tz='' __ca_t='' __ca_e='' __ca_s=''
__ca_minute() {
  builtin local x
  builtin printf -v x '%(%Y-%m-%dT%H:%M:|%S|%z)T' "$1"
  __ca_tpre=${x%%|*} __ca_tz=${x##*|}
  x=${x#*|}
  __ca_min=$(($1 - 10#${x%|*}))
  __ca_s=$(($1 - __ca_min + 100))
}
case $__ca_clock in
epochrealtime)
  __ca_fast=1 # PS0 stamps commands to the microsecond
  # Readonly keeps it dynamic, but a user can no longer unset it and then set the records' time.
  builtin readonly EPOCHREALTIME 2>/dev/null
  # EPOCHREALTIME is "SSSSSSSSSS.UUUUUU" (a comma in some locales): fixed widths, so plain
  # substrings, which cost far less in bash than pattern removal.
  __ca_now() {
    __ca_e=$EPOCHREALTIME # globals here: a `local` costs more than the assignment
    ((${__ca_e:0:10} - __ca_min < 60 && ${__ca_e:0:10} >= __ca_min)) || __ca_minute "${__ca_e:0:10}"
    __ca_s=$((${__ca_e:0:10} - __ca_min + 100)) # 1SS: two digits after ${s:1}
    __ca_t=$__ca_tpre${__ca_s:1}.${__ca_e:11}$__ca_tz
  }
  ;;
printf)
  __ca_fast=2
  __ca_now() {
    builtin local s
    builtin printf -v s '%(%s)T' -1
    ((s - __ca_min < 60 && s >= __ca_min)) || __ca_minute "$s"
    s=$((s - __ca_min + 100))
    __ca_t=$__ca_tpre${s:1}$__ca_tz
  }
  ;;
*)
  __ca_now() {
    __ca_t=$(PATH=/usr/bin:/bin builtin exec date +%Y-%m-%dT%H:%M:%S%z) # bash 4.1: the one fork (and exec) per record
  }
  ;;
esac

# The stamping daemon (docs/transport.md): one connection per shell, opened at login, and again
# when it went away. The daemon stamps it with what the kernel says of this process (uid, login
# uid, audit session) and sends a key, read once into an unexported variable: a process that
# inherits the descriptor (through `su`: bash cannot mark it close-on-exec) can write to it, but
# its lines lack the key, and the daemon keeps them apart. No port, nothing listening, or no key
# within 1 s: the records go to the log file (unattested).
__ca_connect() {
  builtin local key=''
  __ca_sock=-1 __ca_k=''
  if ((__cmdaudit_port > 0)) && exec {__ca_sock}<>"/dev/tcp/127.0.0.1/$__cmdaudit_port"; then
    builtin read -r -t 1 -u "$__ca_sock" key
    if [[ ${#key} == 32 && $key != *[!0-9a-f]* ]]; then
      __ca_k="$key	"
    else
      exec {__ca_sock}>&-
      __ca_sock=-1
    fi
  fi
  __ca_rp=$'\n'"${__ca_k}CA2	R	$__ca_sid	" # the start of every record line, LF first
}
# Before a record: is the descriptor still the daemon's connection? It must be a socket (the user
# may have closed it, and bash then reuses the number for the descriptors it saves around a
# redirection), not at its end (a connection the daemon closed reads as ready), and no write may
# have failed on it. Else a new connection; without one, each record tries again. A connection
# the daemon closed is closed here too; any other descriptor is left alone: it may not be ours.
__ca_via() {
  if ((__ca_sock >= 0)); then
    [[ -S /dev/fd/$__ca_sock ]] || { __ca_connect; builtin return 0; }
    if builtin read -t 0 -u "$__ca_sock"; then
      exec {__ca_sock}>&-
    elif ((!__ca_failed)); then
      __ca_un=0 # still open: the prompt's last record went in before any end
      builtin return 0
    fi
  elif ((__cmdaudit_port <= 0)); then
    builtin return 0
  fi
  __ca_connect
  ((!__ca_un)) || __ca_again "$__ca_pv" || ((++__ca_failed))
}

# The prompt writes without asking first whether the daemon closed the connection (that check
# cost ~10 µs a prompt): a record written after the close is lost, and only the next write fails
# (EPIPE, the PIPE trap set at login keeps the shell alive). So the last record stays at hand
# until a later write or check shows it arrived; when the connection is found gone, it is written
# again on the new one (or to the log file), with the one that failed. A copy that had arrived
# after all is the same record, which the server stores once.
__ca_again() {
  __ca_emit "CA2	R	$__ca_sid	${1%$'\n'}" || builtin return 1 # the prompt's record keeps its LF; __ca_emit adds one
  __ca_un=0
}
__ca_resend() {
  __ca_connect
  if { ((!__ca_un)) || __ca_again "$__ca_pv"; } && __ca_again "$__ca_y"; then
    ((__ca_sock < 0)) || __ca_pv=$__ca_y __ca_un=1
  else
    ((++__ca_failed))
  fi
}

# Write one line, on the daemon's connection or appended to the log; 1 if it could not be
# written. The callers send stderr to /dev/null once around all of this, so no failure ever
# reaches the terminal.
# Every line of the hook is written LF first, in the same write(): the log is writable by every
# user, and a line someone left without its LF must not swallow the record (docs/log-format.md).
# Both LFs are in the argument, none in the format: bash's stdout is line-buffered, and printf puts
# a format's characters one by one, so a leading LF there would be a write() of its own.
__ca_emit() {
  if ((__ca_sock >= 0)); then
    builtin printf '%s' $'\n'"$__ca_k$1"$'\n' >&"$__ca_sock"
  else
    builtin printf '%s' $'\n'"$1"$'\n' >>"$__cmdaudit_log"
  fi
}

# After a cd: the escaped cwd, whether it is ASCII, and how many command bytes still fit a
# one-line record (the other head fields fit in 200). PWD is a variable a user may assign
# (`PWD=/tmp`) without leaving the directory: when it does not name the directory the shell is
# in, the real one is recorded, and __ca_room_fast (-1) keeps the prompt's inline path off
# (so this check runs again at every prompt) until a cd makes PWD true again.
__ca_cwd() {
  builtin local LC_ALL=C d="$PWD" true_pwd=1 # byte lengths
  if [[ ! . -ef $PWD ]]; then
    true_pwd=0
    d=$(builtin pwd -P 2>/dev/null) || d=$PWD # a fork, only while PWD is false
  fi
  __ca_esc "$d"
  __ca_pwd=$PWD __ca_pwd_esc=$__ca_r __ca_pwd_ascii=$__ca_fixed_ascii
  [[ $d == *[![:ascii:]]* ]] && __ca_pwd_ascii=0
  __ca_room=$((__ca_line_max - __ca_fixed_len - 200 - ${#__ca_pwd_esc}))
  __ca_room_fast=$((true_pwd ? __ca_room : -1))
}

# A head line up to its nparts field (kind, exit status, ctime, duration), into __ca_hd, and
# how many escaped command bytes its line takes, into __ca_first.
__ca_head() {
  __ca_hd="CA2	R	$__ca_sid	$__ca_seq	$1	$3	$__ca_fixed	$__ca_pwd_esc	$2	$4	"
  __ca_first=$((__ca_line_max - ${#__ca_hd} - 16))
  ((__ca_first <= __ca_chunk)) || __ca_first=$__ca_chunk
  ((__ca_first >= 0)) || __ca_first=0
}

# One record (kind, exit status, text, ctime, duration in ms or empty): one line when it fits,
# else head and part lines.
__ca_write() {
  __ca_via
  [[ $PWD == "$__ca_pwd" && __ca_room_fast -ge 0 ]] || __ca_cwd
  # Lengths and offsets must count bytes: for ASCII text they do in any locale, and
  # changing LC_ALL costs two setlocale() calls, so only non-ASCII text pays for it.
  if ((!__ca_pwd_ascii)) || [[ $3 == *[![:ascii:]]* ]]; then
    builtin local LC_ALL=C
  fi
  ((++__ca_seq))
  if [[ $3 == *[$'\\\t\n\r']* ]]; then
    __ca_esc "$3"
    set -- "$1" "$2" "$__ca_r" "$4" "$5" # $3 is the escaped text from here on
  fi
  # The common case: one line well below the limit.
  if ((${#3} < __ca_room)); then
    __ca_emit "CA2	R	$__ca_sid	$__ca_seq	$1	$4	$__ca_fixed	$__ca_pwd_esc	$2	$5	1	${#3}	$3"
    builtin return $? # explicit: a bare `return` in the EXIT trap returns the status before the trap
  fi
  builtin local c="$3" chunk n="${#3}" np off part=2 tab=$'\t'
  __ca_head "$1" "$2" "$4" "$5"
  np=1
  ((n > __ca_first)) && np=$((1 + (n - __ca_first + __ca_chunk - 1) / __ca_chunk))
  chunk=${c:0:__ca_first}
  __ca_emit "${__ca_hd}${np}${tab}${#chunk}${tab}${chunk}" || builtin return 1
  for ((off = __ca_first; off < n; off += __ca_chunk)); do
    chunk=${c:off:__ca_chunk}
    __ca_emit "CA2${tab}P${tab}${__ca_sid}${tab}${__ca_seq}${tab}${part}${tab}${#chunk}${tab}${chunk}" || builtin return 1
    part=$((part + 1))
  done
}

# A long command, still in the scratch file after the __ca_pl bytes of its history prefix
# (exit status, ctime, duration): awk escapes it and cuts it into the same lines as
# __ca_write, one write() each, in time linear in its length (bash's own string
# operations are not: seconds for a MiB). Run with an empty environment and a fixed locale: the
# user's variables (AWKPATH, POSIXLY_CORRECT, LANG) must not change what it writes.
# The last line of the entry is dropped when empty: the LF after a here-document's delimiter.
# shellcheck disable=SC2016 # awk's program, not bash's
__ca_awk_prog='
NR == 1 { $0 = substr($0, skip + 1) }
{ gsub(/\\/, "&&"); gsub(/\t/, "\\t"); gsub(/\r/, "\\r"); L[++n] = $0 }
function out(c,   pre) {
  if (part == 1) pre = ENVIRON["CMDAUDIT_HEAD"] np; else pre = ENVIRON["CMDAUDIT_PART"] part
  printf "\n%s\t%d\t%s\n", pre, length(c), c
  fflush(); part++; need = chunk
}
END {
  if (n > 1 && L[n] == "") n--
  total = 2 * (n - 1); for (i = 1; i <= n; i++) total += length(L[i])
  np = 1; if (total > first) np = 1 + int((total - first + chunk - 1) / chunk)
  part = 1; need = first; buf = ""
  for (i = 1; i <= n; i++) {
    buf = buf (i > 1 ? "\\n" : "") L[i]; delete L[i]; pos = 1
    while (length(buf) - pos + 1 > need) { out(substr(buf, pos, need)); pos += need }
    buf = substr(buf, pos)
  }
  out(buf)
  exit (part == np + 1 ? 0 : 1)
}'
__ca_write_long() {
  __ca_via
  [[ $PWD == "$__ca_pwd" && __ca_room_fast -ge 0 ]] || __ca_cwd
  ((++__ca_seq))
  __ca_head command "$1" "$2" "$3"
  # Read the entry again, from the start of an emptied scratch file.
  __ca_scratch_reset
  builtin history 1 || builtin return 1
  if ((__ca_sock >= 0)); then __ca_awk_lines >&"$__ca_sock"; else __ca_awk_lines >>"$__cmdaudit_log"; fi
}
__ca_awk_lines() {
  builtin local tab=$'\t'
  builtin command "$__ca_env" -i LC_ALL=C "CMDAUDIT_HEAD=$__ca_k$__ca_hd" "CMDAUDIT_PART=${__ca_k}CA2${tab}P${tab}${__ca_sid}${tab}${__ca_seq}${tab}" \
    "$__ca_awk" -v "skip=$__ca_pl" -v "first=$__ca_first" -v "chunk=$__ca_chunk" "$__ca_awk_prog" <&"$__ca_rd"
}

# The `loss` record of earlier records that could not be written, if any; 1 if it could not be
# written either (the caller's record then counts as lost too).
__ca_lost() {
  builtin local lost="$__ca_failed"
  ((lost > 0)) || builtin return 0
  __ca_via # while the count is set: the connection a write failed on is replaced first
  __ca_failed=0
  # A write cut short by a full disk leaves a line without its end: the LF this record is written
  # after ends it (the reader drops it as damaged; this loss record counts it).
  __ca_now
  __ca_write loss "" "cmdaudit hook: $lost record(s) could not be written to the log" "$__ca_t" "" ||
    { __ca_failed=$((lost + 1)) && builtin return 1; }
}
# A record, preceded by a `loss` record when earlier ones could not be written.
# Arguments: kind, exit status, text; a command's ctime and duration (empty: now, unknown).
__ca_record() {
  __ca_lost || builtin return 1
  builtin local t="${4-}"
  [[ -n $t ]] || { __ca_now && t=$__ca_t; }
  __ca_write "$1" "$2" "$3" "$t" "${5-}" || __ca_failed=$((__ca_failed + 1))
}

# The newest history entry: `history 1` appends it to the scratch file through one descriptor
# (the callers make it stdout, with stderr on /dev/null: one redirection for all), and mapfile
# reads it back through a second one, which starts where the last read stopped: no fork, no
# open, no truncation. Its lines go to __ca_a (at most __ca_maxl of them).
# mapfile, not `read`: read -N stops at byte 0xff on bash 4.1/4.2 and cuts or changes
# non-ASCII characters on 4.3/4.4; mapfile reads bytes on every version.
# HISTTIMEFORMAT (local to the callers) puts the second bash stamped the entry with before it.
__ca_htf='%Y-%m-%dT%H:%M:%S%z '
__ca_t0pat='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' # PS0's stamp: 16 digits
__ca_tpat='[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9][+-][0-9][0-9][0-9][0-9] '
__ca_entry() {
  builtin local HISTTIMEFORMAT="$__ca_htf"
  builtin history 1 || builtin return 1 # stdout is the scratch file (the callers redirect it)
  builtin mapfile -n "$__ca_maxl" -u "$__ca_rd" __ca_a
  __ca_join
  __ca_parse
}
__ca_join() {
  if ((${#__ca_a[@]} == 1)); then __ca_h=${__ca_a[0]}; else builtin printf -v __ca_h %s "${__ca_a[@]}"; fi
}
# The entry read into __ca_h ("%5d%c " HISTTIMEFORMAT text LF): its number into __ca_n,
# the length of all that comes before its text into __ca_pl, its start second into
# __ca_ct as a ctime (empty if it has no time), its text into
# __ca_r, without the LF bash keeps after a here-document's delimiter line.
__ca_parse() {
  # Empty the scratch file every 512 entries, and after a long one.
  ((++__ca_scratch < 512 && ${#__ca_h} < 65536)) || __ca_scratch_reset
  builtin local p="${__ca_h:0:40}" sp
  __ca_n=0 __ca_ct='' __ca_r=''
  sp=${p%%[! ]*}
  p=${p:${#sp}}
  p=${p%%[!0-9]*}
  [[ -n $p ]] || builtin return 0
  __ca_n=$((10#$p)) __ca_pl=$((${#sp} + ${#p} + 2))
  p=${__ca_h:__ca_pl}
  # shellcheck disable=SC2053 # a pattern
  if [[ ${p:0:25} == $__ca_tpat ]]; then
    __ca_ct=${p:0:24} __ca_pl=$((__ca_pl + 25))
    p=${p:25}
  fi
  # The last character by offset: ${p%$'\n'} on text that does not end with one tries every
  # suffix on bash 4.3 (a second for 60 KB).
  [[ ${p: -1} != $'\n' ]] || p=${p:0:${#p}-1}
  [[ ${p: -1} != $'\n' ]] || p=${p:0:${#p}-1}
  __ca_r=$p
}

# Empty the scratch file (it is unlinked: nobody else can). A plain `exec`: as `builtin exec`
# its redirections would last only for that command.
__ca_scratch_reset() {
  builtin : >"/dev/fd/$__ca_w" && exec {__ca_rd}<&- {__ca_rd}<"/dev/fd/$__ca_w"
  __ca_scratch=0
}

# When the command just parsed started, into __ca_t, and its duration into __ca_d.
# bash >= 5.0: PS0 stamped the start to the microsecond (__ca_t0, see __ca_t0_ok).
# Otherwise the second bash stamped the history entry with, and no duration: bash < 5.0 has no
# clock finer than a second.
__ca_when() {
  __ca_d=''
  if ((__ca_fast == 1)) && __ca_t0_ok; then
    ((__ca_s = ${__ca_t0:0:10} - __ca_min + 100, __ca_s < 160 && __ca_s >= 100)) || __ca_minute "${__ca_t0:0:10}"
    __ca_t=$__ca_tpre${__ca_s:1}.${__ca_t0:10}$__ca_tz __ca_d=$(((__ca_e - __ca_t0) / 1000))
    __ca_t0='' __ca_tp=$__ca_e
    builtin return 0
  fi
  __ca_t0=''
  # No start from PS0: a PS0 set by the user replaced the hook's? It runs after the hook's again.
  [[ ${PS0-} == "$__ca_ps0"* ]] || PS0=$__ca_ps0${PS0-}
  [[ -n $__ca_ct ]] || __ca_stamp
  if [[ -n $__ca_ct ]]; then __ca_t=$__ca_ct; else __ca_now; fi
}
# PS0's stamp, believed between the previous command's (or the login) and now, into __ca_e:
# a user can assign the variable, but cannot move a start outside that window this way.
__ca_t0_ok() {
  __ca_e=${EPOCHREALTIME:0:10}${EPOCHREALTIME:11}
  ((${#__ca_t0} == 16)) && [[ $__ca_t0 != *[!0-9]* ]] &&
    ((__ca_t0 >= __ca_tp && __ca_t0 >= __ca_login && __ca_t0 <= __ca_e))
}
# bash >= 5.0 reads entries without their stamp (PS0 has the start); when PS0's is missing, the
# stamp of the newest entry, into __ca_ct (stdout: the scratch file).
__ca_stamp() {
  builtin local HISTTIMEFORMAT="$__ca_htf" p
  builtin history 1 && builtin mapfile -n 1 -u "$__ca_rd" __ca_b
  __ca_scratch_reset # the entry's other lines are not read
  p=${__ca_b[0]-}
  p=${p#"${p%%[! ]*}"}
  p=${p#"${p%%[!0-9]*}"}
  p=${p:2}
  # shellcheck disable=SC2053 # a pattern
  [[ ${p:0:25} == $__ca_tpat ]] && __ca_ct=${p:0:24}
}

__ca_collect_other() {
  if ((__ca_last < 0)); then
    __ca_last=$__ca_n # first prompt: what history holds now was not typed here
    builtin return 0
  fi
  if ((__ca_n < __ca_last)); then
    __ca_record loss "" "cmdaudit hook: the history list was cleared (history -c); the command that did it is not recorded"
    __ca_last=0
  fi
  if ((__ca_n > __ca_last)); then
    # One prompt sees one new entry; more means this hook did not run in between
    # (PROMPT_COMMAND was emptied or replaced by hand): only the newest can still be read.
    if ((__ca_n > __ca_last + 1 && __ca_last > 0)); then
      __ca_record loss "" "cmdaudit hook: $((__ca_n - __ca_last - 1)) command(s) were not recorded (history entries $((__ca_last + 1))-$((__ca_n - 1))); was PROMPT_COMMAND changed?"
    fi
    __ca_last=$__ca_n
    __ca_command "$1"
  fi
}
# The command just parsed, with the exit status $1: a long one through awk, else in bash.
__ca_command() {
  builtin local long=0
  ((${#__ca_a[@]} < __ca_maxl && ${#__ca_h} <= __ca_big)) || long=1
  # No awk: bash reads the rest of a long entry itself, and escapes it, slowly.
  if ((long)) && [[ -z $__ca_awk ]]; then
    long=0
    ((${#__ca_a[@]} < __ca_maxl)) || { builtin mapfile -O "${#__ca_a[@]}" -u "$__ca_rd" __ca_a && __ca_join && __ca_parse; }
  fi
  __ca_when
  if ((long)); then
    __ca_lost || builtin return 0
    __ca_write_long "$1" "$__ca_t" "$__ca_d" || ((++__ca_failed))
    builtin return 0
  fi
  __ca_record command "$1" "$__ca_r" "$__ca_t" "$__ca_d"
}
# History cannot be switched back on from PROMPT_COMMAND (bash restores the option after
# it), so switching it off and on is recorded: the gap is visible.
__ca_history_switched() {
  if [[ :$SHELLOPTS: != *:history:* ]]; then
    ((__ca_histoff)) || __ca_record loss "" "cmdaudit hook: history was turned off (set +o history); commands typed until it is turned on again are not recorded"
    __ca_histoff=1
  else
    __ca_histoff=0
    __ca_record loss "" "cmdaudit hook: history was turned on again"
  fi
}

# The other cases, with the entry's lines in __ca_a. Bytes, whatever the user's locale:
# in GBK or Big5 the second byte of a character can be `\`, which must be escaped as a byte.
__ca_slow() {
  builtin local LC_ALL=C
  __ca_join
  __ca_parse
  if ((__ca_n == __ca_last + 1 && __ca_last >= 0 && !__ca_failed)); then
    __ca_last=$__ca_n # one new command
    __ca_command "$__ca_st"
  elif ((__ca_n != __ca_last)); then
    __ca_collect_other "$__ca_st"
  fi
}
# History switched off or on, or filtered (HISTCONTROL/HISTIGNORE/HISTSIZE set by the user take
# effect only until this prompt, so they never hide the next command; set from ~/.bashrc,
# they are reset before the first).
__ca_checks() {
  [[ -o history && $__ca_histoff == 0 ]] || __ca_history_switched
  HISTCONTROL='' HISTIGNORE=''
  [[ ${HISTSIZE-} == [1-9]* ]] || HISTSIZE=10000
}

# Collect the last command (`exit` itself, usually) as a prompt would, then close the session.
__ca_exit() {
  __ca_prompt
  __ca_record session_end "$__ca_st" "" 2>&"$__ca_null"
}

# At the first top-level command after the startup files ran (FUNCNAME holds only this
# trap handler then): put the prompt hook (and PS0's stamp) back in front if ~/.bashrc replaced
# them, prime it if it never ran, and remove this trap.
# Returns 0 once it has run, and the trap string then removes the trap: `trap - DEBUG`
# inside a function would be undone when the function returns.
__ca_guard() {
  ((${#FUNCNAME[@]} == 1)) || builtin return 1
  __ca_functrace_off
  # Is the command about to run one the user typed (in the history already: record it at the
  # next prompt), or one of PROMPT_COMMAND's at the first prompt? bash >= 5.1: HISTCMD is the
  # running command's number when it was typed, the next number in PROMPT_COMMAND. Before 5.1
  # HISTCMD is 1 in a trap: a PROMPT_COMMAND with a command in it ran at the first prompt, before
  # anything was typed, so this trap fired there.
  builtin local typed=0
  if ((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))); then
    typed=-1
  elif [[ ${PROMPT_COMMAND-} != *[![:space:]]* ]]; then
    typed=1
  fi
  __ca_hook_prompt
  [[ ${PS0-} == "$__ca_ps0"* ]] || PS0=$__ca_ps0${PS0-}
  ((__ca_last < 0)) || builtin return 0
  __ca_entry 2>&"$__ca_null" 1>&"$__ca_w" || builtin return 0
  ((typed >= 0)) || { [[ ${HISTCMD-} == "$__ca_n" ]] && typed=1; }
  __ca_last=$((__ca_n - (typed > 0)))
}
__ca_hook_prompt() {
  builtin local pc
  for pc in "${PROMPT_COMMAND[@]}"; do
    [[ $pc == *__ca_prompt* ]] && builtin return 0
  done
  if ((${#PROMPT_COMMAND[@]} > 1 && (BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1)))); then
    PROMPT_COMMAND=(__ca_prompt "${PROMPT_COMMAND[@]}") # bash >= 5.1 runs every element
  else
    # A string, or the first element of an array, the only one bash < 5.1 runs.
    # shellcheck disable=SC2128,SC2178
    PROMPT_COMMAND="__ca_prompt${PROMPT_COMMAND:+$'\n'$PROMPT_COMMAND}"
  fi
}
# bash < 4.4 puts back the DEBUG trap a sourced file found when it ends, undoing one that the
# file set (bash-preexec in a later /etc/profile.d script), unless functrace is on. So the hook
# turns it on while the startup files run, and off at the first command or prompt.
__ca_ft=0
__ca_functrace_off() {
  ((__ca_ft)) || builtin return 0
  __ca_ft=0
  builtin set +T
}

# What cannot change within the session, computed once at login.
__ca_init() {
  # The system's own tools, not a user's: PATH and functions (even ones imported from the
  # environment) must not choose what is recorded. HOSTNAME comes from the environment too.
  builtin local LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin line ip ips='' host='' suser luser='' tty='' client='' who='' boot='' epoch uid f d
  # Set once, so that bash stamps every history entry from now on (history_comment_char).
  builtin local HISTTIMEFORMAT="$__ca_htf"
  exec {__ca_null}>/dev/null
  builtin read -r host </proc/sys/kernel/hostname 2>/dev/null
  [[ -n $host ]] || host=$(builtin command uname -n 2>/dev/null)
  # Every address that is not loopback, IPv4 and IPv6 (`ip -o addr`: "N: dev inet ADDR/LEN ... scope S").
  while builtin read -r line; do
    [[ $line == *" scope host"* ]] && continue
    [[ $line =~ \ inet6?\ ([0-9A-Fa-f.:]+)/ ]] || continue
    ip=${BASH_REMATCH[1]}
    ips=${ips:+$ips,}$ip
  done < <(builtin command ip -o addr show 2>/dev/null)
  suser=$(builtin command id -un 2>/dev/null) || suser=${USER-}
  tty=$(builtin command tty 2>/dev/null) && tty=${tty#/dev/} || tty=
  # utmp for this terminal: "user tty date time (host)", written by root, not by the user.
  who=$(builtin command who -m 2>/dev/null)
  if [[ $who =~ \(([0-9A-Fa-f.:%]+)\)[[:space:]]*$ ]]; then
    client=${BASH_REMATCH[1]}
  fi
  # The real login user: the kernel's audit loginuid survives su and sudo; then utmp, sudo, ourselves.
  builtin read -r uid </proc/self/loginuid 2>/dev/null # no trailing newline: read fails but sets uid
  if [[ $uid =~ ^[0-9]+$ ]] && ((uid != 4294967295)); then
    luser=$(builtin command getent passwd "$uid" 2>/dev/null) && luser=${luser%%:*}
    [[ -n $luser ]] || luser=$uid
  fi
  [[ -n $luser ]] || { [[ $who =~ ^([^[:space:]]+) ]] && luser=${BASH_REMATCH[1]}; }
  [[ -n $luser ]] || luser=${SUDO_USER:-$suser}
  if [[ -z $client && -n ${SSH_CONNECTION-} ]]; then
    client=${SSH_CONNECTION%% *}
  fi
  # Only a numeric address is a client IP: never a login time or an X display.
  [[ $client =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || $client =~ ^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*(%[A-Za-z0-9_.-]+)?$ ]] || client=
  builtin read -r boot </proc/sys/kernel/random/boot_id 2>/dev/null
  boot=${boot//-/}
  if [[ $__ca_clock == date ]]; then epoch=$(builtin command date +%s); else builtin printf -v epoch '%(%s)T' -1; fi
  __ca_sid=${boot:0:8}.$epoch.$$.$RANDOM
  # The daemon's port is one no user can take first, unless the kernel lets users bind it
  # (ip_unprivileged_port_start, 0 in some containers): then, and when nothing answers at login,
  # the session writes to the log file, and never tries the daemon (port 0).
  builtin read -r f </proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null
  [[ $f =~ ^[0-9]+$ ]] && ((__cmdaudit_port >= f)) && __cmdaudit_port=0
  __ca_connect 2>&"$__ca_null"
  ((__ca_sock >= 0)) || __cmdaudit_port=0
  builtin local fixed="" v
  for v in "$host" "$ips" "$suser" "$luser" "$tty" "$client"; do
    __ca_esc "$v"
    fixed=${fixed:+$fixed$'\t'}$__ca_r
  done
  __ca_fixed=${fixed}
  __ca_fixed_len=${#fixed} # bytes: LC_ALL=C here
  __ca_fixed_ascii=1
  [[ $fixed == *[![:ascii:]]* ]] && __ca_fixed_ascii=0
  # A private scratch file for `history 1` (tmpfs if there is one), unlinked at once and
  # reached through two descriptors: one appends, the other reads what was appended.
  __ca_w='' __ca_rd='' __ca_scratch=0
  for d in /dev/shm "${TMPDIR:-/tmp}"; do
    [[ -d $d && -w $d ]] || continue
    f=$(builtin command mktemp "$d/.cmdaudit.XXXXXXXXXX" 2>/dev/null) || continue
    # shellcheck disable=SC2094 # both ends of the same file, on purpose
    exec {__ca_w}>>"$f" {__ca_rd}<"$f"
    builtin command rm -f "$f"
    break
  done
  # awk, for long commands, run through env with an empty environment; without them, bash does it.
  __ca_awk='' __ca_env=''
  for f in /usr/bin/awk /bin/awk; do [[ -x $f ]] && { __ca_awk=$f && break; }; done
  for f in /usr/bin/env /bin/env; do [[ -x $f ]] && { __ca_env=$f && break; }; done
  [[ -n $__ca_env ]] || __ca_awk=''
  # bash >= 5.0: PS0, expanded when a command has been read and is about to run, stamps its start
  # (an array subscript assigns without printing anything, and needs no fork). A PS0 of the user's
  # keeps running after it.
  # bash >= 5.0 reads entries without their stamp (PS0 has the start): "%5d%c " and the text.
  __ca_htf_read=$__ca_htf __ca_pfx=32 __ca_login=0
  if ((__ca_fast == 1)); then
    __ca_htf_read='' __ca_pfx=7 __ca_login=${EPOCHREALTIME/[.,]/}
  fi
  __ca_ps0=''
  if ((__ca_fast == 1)); then
    # shellcheck disable=SC2016 # expanded by bash each time PS0 is
    __ca_ps0='${__ca_z[__ca_t0=${EPOCHREALTIME:0:10}${EPOCHREALTIME:11}]-}'
    PS0=$__ca_ps0${PS0-}
  fi
  # stdio's first output on bash's (line-buffered) stdout goes out a character at a time, an LF
  # alone: put one byte through it first, to /dev/null, so that the first record is one write() too.
  builtin printf x >&"$__ca_null"
  __ca_record session_start "" "" 2>&"$__ca_null"
}

__ca_init

# PROMPT_COMMAND: record the command that just ran, then keep history unfiltered.
# Everything it writes goes through one redirection: stderr to /dev/null (nothing ever
# reaches the terminal), stdout to the scratch file (for `history 1`).
# The common case inline: "%5d%c " with the number after the last one recorded (not HISTCMD - 1:
# HISTCMD is 1 in PROMPT_COMMAND before bash 5.1), on bash < 5.0 the entry's stamp
# (__ca_tpat), one new one-line command, the same cwd, short ASCII text with nothing to
# escape, a start from PS0 on bash >= 5.0. Anything else: __ca_slow. The entry's line in
# $1, its text in $2 with the LF that ends the line (its only one): positional parameters are
# the cheapest names to expand (each character of a ${name} costs bash 4.2 a mbrtowc() in UTF-8).
# Records are one word with literal TABs between the fields, far cheaper in bash than printf
# formatting each field; LF first (in __ca_rp), both LFs in the argument (see
# __ca_emit), the second the one $2 ends with.
# One definition per clock and destination, chosen here: bash copies a function's whole body each
# time it runs it, so the lines of another branch, or a test of the destination, would cost every
# prompt. The destination is the one __ca_init found: the daemon's connection, or the log
# file for the whole session. They differ in two places: on the connection, the descriptor must
# still be the connection (else __ca_slow, whose __ca_via connects again, or writes to the log
# file while it cannot), and the line is written to it; whether the daemon closed it is not asked
# before each write (see __ca_again). "Still the connection", cheaply: a user who closed it leaves its number to the descriptors bash
# saves around the block's redirection (the terminal, at the next prompt): `-t` (one ioctl) sees
# that, where `-S /dev/fd/N` (a path walk through /proc) costs ~6 µs more a prompt; a saved
# /dev/null or file reads as ready, a connection at its end too. Anything else that number may
# then hold (a pipe the user's stdout is) gets their own next record: as with diverting the
# descriptor on purpose, their session then shows no end. __ca_via checks -S.
if ((__cmdaudit_port > 0 && __ca_fast == 1)); then
  __ca_prompt() {
    __ca_st=$?
    {
      [[ -z ${HISTTIMEFORMAT-} ]] || builtin local HISTTIMEFORMAT='' # entries without their stamp
      # An empty history (the first prompt, history -c) and anything else: __ca_slow.
      # shellcheck disable=SC2053 # a pattern
      if builtin history 1 && builtin mapfile -n "$__ca_maxl" -u "$__ca_rd" __ca_a && ((${#__ca_a[@]} == 1)) &&
        builtin set -- "${__ca_a[0]}" && builtin set -- "$1" "${1:__ca_pfx}" &&
        ((${#2} > 0 && ${#2} <= __ca_room_fast && __ca_last >= 0 && __ca_last < 99999 && !__ca_failed && __ca_sock >= 0)) &&
        [[ "     $((__ca_n = __ca_last + 1))" == *"${1:0:5}" && ${1:5:2} == [\ *]\  &&
        $PWD == "$__ca_pwd" && $2 != *[$'\\\t\r']* && $2 != *[![:ascii:]]* ]] && ((++__ca_scratch < 512)) &&
        __ca_e=${EPOCHREALTIME:0:10}${EPOCHREALTIME:11} && [[ $__ca_t0 == $__ca_t0pat ]] &&
        [[ ! -t $__ca_sock ]] &&
        ((__ca_t0 >= __ca_tp && __ca_t0 >= __ca_login && __ca_t0 <= __ca_e && (__ca_last = __ca_n, ++__ca_seq))); then
        ((__ca_s = ${__ca_t0:0:10} - __ca_min + 100, __ca_s < 160 && __ca_s >= 100)) || __ca_minute "${__ca_t0:0:10}"
        __ca_y="$__ca_seq	command	$__ca_tpre${__ca_s:1}.${__ca_t0:10}$__ca_tz	$__ca_fixed	$__ca_pwd_esc	$__ca_st	$(((__ca_e - __ca_t0) / 1000))	1	$((${#2} - 1))	$2"
        if builtin printf '%s' "$__ca_rp$__ca_y" >&"$__ca_sock"; then __ca_pv=$__ca_y __ca_un=1; else __ca_resend; fi
        __ca_t0='' __ca_tp=$__ca_e
      else
        __ca_slow || builtin : # `|| :`: a user's `set -e` does not apply inside
      fi
      [[ -o history && $__ca_histoff == 0 && -z ${HISTCONTROL-}${HISTIGNORE-} && ${HISTSIZE-} == [1-9]* ]] || __ca_checks || builtin :
    } 2>&"$__ca_null" 1>&"$__ca_w"
    builtin return "$__ca_st"
  }
elif ((__cmdaudit_port > 0)); then
  __ca_prompt() {
    __ca_st=$?
    {
      builtin local HISTTIMEFORMAT="$__ca_htf_read" # entries with their stamp
      # An empty history (the first prompt, history -c) and anything else: __ca_slow.
      # shellcheck disable=SC2053 # a pattern
      if builtin history 1 && builtin mapfile -n "$__ca_maxl" -u "$__ca_rd" __ca_a && ((${#__ca_a[@]} == 1)) &&
        builtin set -- "${__ca_a[0]}" && builtin set -- "$1" "${1:__ca_pfx}" &&
        ((${#2} > 0 && ${#2} <= __ca_room_fast && __ca_last >= 0 && __ca_last < 99999 && !__ca_failed && __ca_sock >= 0)) &&
        [[ "     $((__ca_n = __ca_last + 1))" == *"${1:0:5}" && ${1:5:2} == [\ *]\  &&
        $PWD == "$__ca_pwd" && $2 != *[$'\\\t\r']* && $2 != *[![:ascii:]]* ]] && ((++__ca_scratch < 512)) &&
        [[ ${1:7:25} == $__ca_tpat ]] && [[ ! -t $__ca_sock ]] &&
        ((__ca_last = __ca_n, ++__ca_seq)); then
        __ca_y="$__ca_seq	command	${1:7:24}	$__ca_fixed	$__ca_pwd_esc	$__ca_st		1	$((${#2} - 1))	$2"
        if builtin printf '%s' "$__ca_rp$__ca_y" >&"$__ca_sock"; then __ca_pv=$__ca_y __ca_un=1; else __ca_resend; fi
      else
        __ca_slow || builtin :
      fi
      # Without the user's `set -u`, the same checks with plain $NAME: each ${NAME-} costs bash 4.2
      # ~3,000 instructions per character of the name in UTF-8 (80,000 a prompt here).
      [[ $- != *u* && -o history && $__ca_histoff == 0 && -z $HISTCONTROL$HISTIGNORE && $HISTSIZE == [1-9]* ]] ||
        [[ -o history && $__ca_histoff == 0 && -z ${HISTCONTROL-}${HISTIGNORE-} && ${HISTSIZE-} == [1-9]* ]] || __ca_checks || builtin :
    } 2>&"$__ca_null" 1>&"$__ca_w"
    builtin return "$__ca_st"
  }
elif ((__ca_fast == 1)); then
  __ca_prompt() {
    __ca_st=$?
    {
      [[ -z ${HISTTIMEFORMAT-} ]] || builtin local HISTTIMEFORMAT='' # entries without their stamp
      # An empty history (the first prompt, history -c) and anything else: __ca_slow.
      # shellcheck disable=SC2053 # a pattern
      if builtin history 1 && builtin mapfile -n "$__ca_maxl" -u "$__ca_rd" __ca_a && ((${#__ca_a[@]} == 1)) &&
        builtin set -- "${__ca_a[0]}" && builtin set -- "$1" "${1:__ca_pfx}" &&
        ((${#2} > 0 && ${#2} <= __ca_room_fast && __ca_last >= 0 && __ca_last < 99999 && !__ca_failed)) &&
        [[ "     $((__ca_n = __ca_last + 1))" == *"${1:0:5}" && ${1:5:2} == [\ *]\  &&
        $PWD == "$__ca_pwd" && $2 != *[$'\\\t\r']* && $2 != *[![:ascii:]]* ]] && ((++__ca_scratch < 512)) &&
        __ca_e=${EPOCHREALTIME:0:10}${EPOCHREALTIME:11} && [[ $__ca_t0 == $__ca_t0pat ]] &&
        ((__ca_t0 >= __ca_tp && __ca_t0 >= __ca_login && __ca_t0 <= __ca_e && (__ca_last = __ca_n, ++__ca_seq))); then
        ((__ca_s = ${__ca_t0:0:10} - __ca_min + 100, __ca_s < 160 && __ca_s >= 100)) || __ca_minute "${__ca_t0:0:10}"
        builtin printf '%s' "$__ca_rp$__ca_seq	command	$__ca_tpre${__ca_s:1}.${__ca_t0:10}$__ca_tz	$__ca_fixed	$__ca_pwd_esc	$__ca_st	$(((__ca_e - __ca_t0) / 1000))	1	$((${#2} - 1))	$2" >>"$__cmdaudit_log" || ((++__ca_failed))
        __ca_t0='' __ca_tp=$__ca_e
      else
        __ca_slow || builtin : # `|| :`: a user's `set -e` does not apply inside
      fi
      [[ -o history && $__ca_histoff == 0 && -z ${HISTCONTROL-}${HISTIGNORE-} && ${HISTSIZE-} == [1-9]* ]] || __ca_checks || builtin :
    } 2>&"$__ca_null" 1>&"$__ca_w"
    builtin return "$__ca_st"
  }
else
  __ca_prompt() {
    __ca_st=$?
    {
      builtin local HISTTIMEFORMAT="$__ca_htf_read" # entries with their stamp
      # An empty history (the first prompt, history -c) and anything else: __ca_slow.
      # shellcheck disable=SC2053 # a pattern
      if builtin history 1 && builtin mapfile -n "$__ca_maxl" -u "$__ca_rd" __ca_a && ((${#__ca_a[@]} == 1)) &&
        builtin set -- "${__ca_a[0]}" && builtin set -- "$1" "${1:__ca_pfx}" &&
        ((${#2} > 0 && ${#2} <= __ca_room_fast && __ca_last >= 0 && __ca_last < 99999 && !__ca_failed)) &&
        [[ "     $((__ca_n = __ca_last + 1))" == *"${1:0:5}" && ${1:5:2} == [\ *]\  &&
        $PWD == "$__ca_pwd" && $2 != *[$'\\\t\r']* && $2 != *[![:ascii:]]* ]] && ((++__ca_scratch < 512)) &&
        [[ ${1:7:25} == $__ca_tpat ]] && ((__ca_last = __ca_n, ++__ca_seq)); then
        builtin printf '%s' "$__ca_rp$__ca_seq	command	${1:7:24}	$__ca_fixed	$__ca_pwd_esc	$__ca_st		1	$((${#2} - 1))	$2" >>"$__cmdaudit_log" || ((++__ca_failed))
      else
        __ca_slow || builtin :
      fi
      # Without the user's `set -u`, the same checks with plain $NAME: each ${NAME-} costs bash 4.2
      # ~3,000 instructions per character of the name in UTF-8 (80,000 a prompt here).
      [[ $- != *u* && -o history && $__ca_histoff == 0 && -z $HISTCONTROL$HISTIGNORE && $HISTSIZE == [1-9]* ]] ||
        [[ -o history && $__ca_histoff == 0 && -z ${HISTCONTROL-}${HISTIGNORE-} && ${HISTSIZE-} == [1-9]* ]] || __ca_checks || builtin :
    } 2>&"$__ca_null" 1>&"$__ca_w"
    builtin return "$__ca_st"
  }
fi

builtin readonly __ca_fast __cmdaudit_log __cmdaudit_port __ca_chunk __ca_line_max __ca_clock __ca_sid \
  __ca_fixed __ca_fixed_len __ca_fixed_ascii __ca_null __ca_w __ca_maxl __ca_big \
  __ca_htf __ca_htf_read __ca_pfx __ca_login __ca_tpat __ca_t0pat __ca_awk_prog __ca_awk __ca_env __ca_ps0
builtin readonly -f __ca_esc __ca_cwd __ca_minute __ca_now __ca_emit __ca_write __ca_write_long \
  __ca_connect __ca_via __ca_again __ca_resend __ca_awk_lines \
  __ca_head __ca_lost __ca_record __ca_entry __ca_join __ca_parse __ca_when __ca_t0_ok __ca_stamp __ca_slow __ca_scratch_reset \
  __ca_collect_other __ca_command __ca_history_switched __ca_checks \
  __ca_prompt __ca_exit __ca_guard __ca_hook_prompt __ca_functrace_off __ca_init
builtin shopt -s cmdhist lithist
__ca_hook_prompt
if ((BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4)) && [[ $- != *T* ]]; then
  __ca_ft=1
  builtin set -T
fi
# An EXIT trap set before this file (another profile.d script) keeps running, after ours.
# `trap -p` prints "trap -- 'command' EXIT", quoted for eval; one fork, at login. (A DEBUG trap
# set before this file cannot be kept: bash hides it while it sources a file, so the guard's trap
# replaces it. Hence the name 00-cmdaudit.sh: first in /etc/profile.d, and a later script's DEBUG
# trap replaces the guard instead.)
__ca_trap_cmd() { __ca_x=$2; }
__ca_x=$(builtin trap -p EXIT) && [[ -n $__ca_x ]] && builtin eval "__ca_trap_cmd ${__ca_x#trap }"
# shellcheck disable=SC2064 # the other trap's command is copied in now, on purpose
builtin trap "__ca_exit${__ca_x:+$'\n'$__ca_x}" EXIT
__ca_x=''
builtin unset -f __ca_trap_cmd
# A write on a connection the daemon has just dropped raises SIGPIPE, which would end the shell: a
# PIPE trap of the hook's own keeps it (programs the shell starts still get SIGPIPE as before). A
# PIPE trap set before this file is left as it is.
if ((__cmdaudit_port > 0)) && [[ -z $(builtin trap -p PIPE) ]]; then builtin trap : PIPE; fi
builtin trap '__ca_guard && builtin trap - DEBUG' DEBUG
