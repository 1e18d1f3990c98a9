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
# session id counts: one imported from the environment must not switch the hook off.
if [ -n "${__cmdaudit_sid+x}" ]; then
  case $(builtin declare -p __cmdaudit_sid 2>/dev/null) in "declare -r"*) builtin return 0 ;; esac
  builtin unset __cmdaudit_sid 2>/dev/null || builtin return 0
fi

__cmdaudit_log=/var/log/cmdaudit/commands.log # cmdaudit:log (the Ansible role sets this path)
__cmdaudit_chunk=3072                          # escaped command bytes per line
__cmdaudit_line_max=4000                       # a head line stays one write() below PIPE_BUF
__cmdaudit_seq=0
__cmdaudit_failed=0
__cmdaudit_histoff=0
__cmdaudit_last=-1                             # history number of the last recorded entry; -1: not primed
__cmdaudit_r=
__cmdaudit_st=0
__cmdaudit_n=0
__cmdaudit_h=
__cmdaudit_p=
__cmdaudit_sp=
__cmdaudit_pwd=
__cmdaudit_pwd_esc=
__cmdaudit_pwd_ascii=1
__cmdaudit_room=0
__cmdaudit_room_fast=-1
__cmdaudit_to_eof=1073741824                   # read -N: more characters than any history entry

# Escape backslash, TAB, LF and CR (docs/log-format.md); result in __cmdaudit_r.
__cmdaudit_esc() {
  builtin local s="$1" # quoted: after `builtin`, local is no declaration and its words are split
  if [[ $s == *[$'\\\t\n\r']* ]]; then
    s=${s//\\/\\\\}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
  fi
  __cmdaudit_r=$s
}

# Local time with UTC offset, without a fork where the bash version allows.
# CMDAUDIT_HOOK_CLOCK forces a branch; the tests use it to cover old bash versions.
if [ -n "${CMDAUDIT_HOOK_CLOCK-}" ]; then
  __cmdaudit_clock=$CMDAUDIT_HOOK_CLOCK
elif ((BASH_VERSINFO[0] >= 5)); then
  __cmdaudit_clock=epochrealtime
elif ((BASH_VERSINFO[0] > 4 || BASH_VERSINFO[1] >= 2)); then
  __cmdaudit_clock='printf'
else
  __cmdaudit_clock='date'
fi
# strftime (which stats the zone file) runs once a minute: a UTC offset changes only on a
# minute boundary, so the seconds are added to the minute's "YYYY-MM-DDTHH:MM:" and offset.
# One __cmdaudit_now per clock, chosen here; it sets __cmdaudit_t.
__cmdaudit_fast=0 __cmdaudit_dot='' __cmdaudit_min=-1 __cmdaudit_tpre='' __cmdaudit_tz='' __cmdaudit_t='' __cmdaudit_e='' __cmdaudit_s=''
__cmdaudit_minute() {
  builtin local x
  builtin printf -v x '%(%Y-%m-%dT%H:%M:|%S|%z)T' "$1"
  __cmdaudit_tpre=${x%%|*} __cmdaudit_tz=${x##*|}
  x=${x#*|}
  __cmdaudit_min=$(($1 - 10#${x%|*}))
  __cmdaudit_s=$(($1 - __cmdaudit_min + 100))
}
case $__cmdaudit_clock in
epochrealtime)
  __cmdaudit_fast=1 __cmdaudit_dot=. # the prompt's inline path
  # Readonly keeps it dynamic, but a user can no longer unset it and then set the records' time.
  builtin readonly EPOCHREALTIME 2>/dev/null
  # EPOCHREALTIME is "SSSSSSSSSS.UUUUUU" (a comma in some locales): fixed widths, so plain
  # substrings, which cost far less in bash than pattern removal.
  __cmdaudit_now() {
    __cmdaudit_e=$EPOCHREALTIME # globals here: a `local` costs more than the assignment
    ((${__cmdaudit_e:0:10} - __cmdaudit_min < 60 && ${__cmdaudit_e:0:10} >= __cmdaudit_min)) || __cmdaudit_minute "${__cmdaudit_e:0:10}"
    __cmdaudit_s=$((${__cmdaudit_e:0:10} - __cmdaudit_min + 100)) # 1SS: two digits after ${s:1}
    __cmdaudit_t=$__cmdaudit_tpre${__cmdaudit_s:1}.${__cmdaudit_e:11}$__cmdaudit_tz
  }
  ;;
printf)
  __cmdaudit_fast=2 # the prompt's inline path, without microseconds
  __cmdaudit_now() {
    builtin local s
    builtin printf -v s '%(%s)T' -1
    ((s - __cmdaudit_min < 60 && s >= __cmdaudit_min)) || __cmdaudit_minute "$s"
    s=$((s - __cmdaudit_min + 100))
    __cmdaudit_t=$__cmdaudit_tpre${s:1}$__cmdaudit_tz
  }
  ;;
*)
  __cmdaudit_now() {
    __cmdaudit_t=$(PATH=/usr/bin:/bin builtin exec date +%Y-%m-%dT%H:%M:%S%z) # bash 4.1: the one fork (and exec) per record
  }
  ;;
esac

# Append one line; 1 if it could not be written. The callers send stderr to /dev/null
# once around all of this, so no failure ever reaches the terminal.
__cmdaudit_emit() {
  builtin printf '%s\n' "$1" >>"$__cmdaudit_log"
}

# After a cd: the escaped cwd, whether it is ASCII, and how many command bytes still fit a
# one-line record (the other head fields fit in 200). PWD is a variable a user may assign
# (`PWD=/tmp`) without leaving the directory: when it does not name the directory the shell is
# in, the real one is recorded, and __cmdaudit_room_fast (-1) keeps the prompt's inline path off
# (so this check runs again at every prompt) until a cd makes PWD true again.
__cmdaudit_cwd() {
  builtin local LC_ALL=C d="$PWD" true_pwd=1 # byte lengths
  if [[ ! . -ef $PWD ]]; then
    true_pwd=0
    d=$(builtin pwd -P 2>/dev/null) || d=$PWD # a fork, only while PWD is false
  fi
  __cmdaudit_esc "$d"
  __cmdaudit_pwd=$PWD __cmdaudit_pwd_esc=$__cmdaudit_r __cmdaudit_pwd_ascii=$__cmdaudit_fixed_ascii
  [[ $d == *[![:ascii:]]* ]] && __cmdaudit_pwd_ascii=0
  __cmdaudit_room=$((__cmdaudit_line_max - __cmdaudit_fixed_len - 200 - ${#__cmdaudit_pwd_esc}))
  __cmdaudit_room_fast=$((true_pwd ? __cmdaudit_room : -1))
}

# One record (kind, exit status, text): one line when it fits, else head and part lines.
__cmdaudit_write() {
  [[ $PWD == "$__cmdaudit_pwd" && __cmdaudit_room_fast -ge 0 ]] || __cmdaudit_cwd
  # Lengths and offsets must count bytes: for ASCII text they do in any locale, and
  # changing LC_ALL costs two setlocale() calls, so only non-ASCII text pays for it.
  if ((!__cmdaudit_pwd_ascii)) || [[ $3 == *[![:ascii:]]* ]]; then
    builtin local LC_ALL=C
  fi
  ((++__cmdaudit_seq))
  __cmdaudit_now
  if [[ $3 == *[$'\\\t\n\r']* ]]; then
    __cmdaudit_esc "$3"
    set -- "$1" "$2" "$__cmdaudit_r" # $3 is the escaped text from here on
  fi
  # The common case: one line well below the limit.
  if ((${#3} < __cmdaudit_room)); then
    builtin printf 'CA1\tR\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t1\t%s\t%s\n' "$__cmdaudit_sid" "$__cmdaudit_seq" "$1" "$__cmdaudit_t" \
      "$__cmdaudit_fixed" "$__cmdaudit_pwd_esc" "$2" "${#3}" "$3" >>"$__cmdaudit_log"
    builtin return $? # explicit: a bare `return` in the EXIT trap returns the status before the trap
  fi
  builtin local c="$3" head chunk first n="${#3}" np off part=2 tab=$'\t'
  head="CA1${tab}R${tab}${__cmdaudit_sid}${tab}${__cmdaudit_seq}${tab}$1${tab}${__cmdaudit_t}${tab}${__cmdaudit_fixed}${tab}${__cmdaudit_pwd_esc}${tab}$2${tab}"
  first=$((__cmdaudit_line_max - ${#head} - 16))
  ((first > __cmdaudit_chunk)) && first=$__cmdaudit_chunk
  ((first < 0)) && first=0
  np=1
  ((n > first)) && np=$((1 + (n - first + __cmdaudit_chunk - 1) / __cmdaudit_chunk))
  chunk=${c:0:first}
  __cmdaudit_emit "${head}${np}${tab}${#chunk}${tab}${chunk}" || builtin return 1
  for ((off = first; off < n; off += __cmdaudit_chunk)); do
    chunk=${c:off:__cmdaudit_chunk}
    __cmdaudit_emit "CA1${tab}P${tab}${__cmdaudit_sid}${tab}${__cmdaudit_seq}${tab}${part}${tab}${#chunk}${tab}${chunk}" || builtin return 1
    part=$((part + 1))
  done
}

# A record, preceded by a `loss` record when earlier ones could not be written.
__cmdaudit_record() {
  builtin local lost="$__cmdaudit_failed"
  if ((lost > 0)); then
    __cmdaudit_failed=0
    # A write cut short by a full disk leaves a line without its end: end it, so that it cannot
    # swallow the next record (the reader drops it as damaged; the loss record below counts it).
    builtin printf '\n' >>"$__cmdaudit_log"
    __cmdaudit_write loss "" "cmdaudit hook: $lost record(s) could not be written to the log" ||
      { __cmdaudit_failed=$((lost + 1)) && builtin return 1; }
  fi
  __cmdaudit_write "$@" || __cmdaudit_failed=$((__cmdaudit_failed + 1))
}

# The newest history entry into __cmdaudit_r and its number into __cmdaudit_n (0: history empty).
# `history 1` is appended to the scratch file through one descriptor (the callers make it
# stdout, with stderr on /dev/null: one redirection for all) and read back through a second
# one, which starts where the last read stopped: no fork, no open, no truncation.
__cmdaudit_entry() {
  [[ -z ${HISTTIMEFORMAT-} ]] || builtin local HISTTIMEFORMAT=''
  builtin history 1 || builtin return 1 # stdout is the scratch file (the callers redirect it)
  builtin read -r -N "$__cmdaudit_to_eof" -u "$__cmdaudit_rd" __cmdaudit_h
  __cmdaudit_parse
}
# The entry read into __cmdaudit_h: its number into __cmdaudit_n, its text into __cmdaudit_r.
__cmdaudit_parse() {
  # Empty the scratch file every 512 entries, and after a long one.
  ((++__cmdaudit_scratch < 512 && ${#__cmdaudit_h} < 65536)) || __cmdaudit_scratch_reset
  # "%5d%c %s\n": the number in at least 5 columns, '*' when modified or a space, a space,
  # then the entry as typed. While PROMPT_COMMAND runs, HISTCMD is that number plus one,
  # which spares parsing it (elsewhere, or if the user unset HISTCMD, it is parsed).
  builtin printf -v __cmdaudit_p '%5d' "$((__cmdaudit_n = HISTCMD - 1))"
  if [[ ${__cmdaudit_h:0:${#__cmdaudit_p}} != "$__cmdaudit_p" ]]; then
    __cmdaudit_n=0
    __cmdaudit_p=${__cmdaudit_h:0:40}
    __cmdaudit_sp=${__cmdaudit_p%%[! ]*}
    __cmdaudit_p=${__cmdaudit_p:${#__cmdaudit_sp}}
    __cmdaudit_p=${__cmdaudit_p%%[!0-9]*}
    [[ -n $__cmdaudit_p ]] || builtin return 0
    __cmdaudit_n=$__cmdaudit_p __cmdaudit_p=$__cmdaudit_sp$__cmdaudit_p
  fi
  __cmdaudit_r=${__cmdaudit_h:${#__cmdaudit_p}+2:${#__cmdaudit_h}-${#__cmdaudit_p}-3} # without the prefix and the final newline
}

# Empty the scratch file (it is unlinked: nobody else can). A plain `exec`: as `builtin exec`
# its redirections would last only for that command.
__cmdaudit_scratch_reset() {
  builtin : >"/dev/fd/$__cmdaudit_w" && exec {__cmdaudit_rd}<&- {__cmdaudit_rd}<"/dev/fd/$__cmdaudit_w"
  __cmdaudit_scratch=0
}

__cmdaudit_collect_other() {
  if ((__cmdaudit_last < 0)); then
    __cmdaudit_last=$__cmdaudit_n # first prompt: what history holds now was not typed here
    builtin return 0
  fi
  if ((__cmdaudit_n < __cmdaudit_last)); then
    __cmdaudit_record loss "" "cmdaudit hook: the history list was cleared (history -c); the command that did it is not recorded"
    __cmdaudit_last=0
  fi
  if ((__cmdaudit_n > __cmdaudit_last)); then
    # One prompt sees one new entry; more means this hook did not run in between
    # (PROMPT_COMMAND was emptied or replaced by hand): only the newest can still be read.
    if ((__cmdaudit_n > __cmdaudit_last + 1 && __cmdaudit_last > 0)); then
      __cmdaudit_record loss "" "cmdaudit hook: $((__cmdaudit_n - __cmdaudit_last - 1)) command(s) were not recorded (history entries $((__cmdaudit_last + 1))-$((__cmdaudit_n - 1))); was PROMPT_COMMAND changed?"
    fi
    __cmdaudit_last=$__cmdaudit_n
    __cmdaudit_record command "$1" "$__cmdaudit_r"
  fi
}
# History cannot be switched back on from PROMPT_COMMAND (bash restores the option after
# it), so switching it off and on is recorded: the gap is visible.
__cmdaudit_history_switched() {
  if [[ :$SHELLOPTS: != *:history:* ]]; then
    ((__cmdaudit_histoff)) || __cmdaudit_record loss "" "cmdaudit hook: history was turned off (set +o history); commands typed until it is turned on again are not recorded"
    __cmdaudit_histoff=1
  else
    __cmdaudit_histoff=0
    __cmdaudit_record loss "" "cmdaudit hook: history was turned on again"
  fi
}

# PROMPT_COMMAND: record the command that just ran, then keep history unfiltered.
# HISTCONTROL/HISTIGNORE/HISTSIZE set by the user take effect only until this prompt,
# so they never hide the next command (set from ~/.bashrc, they are reset before the first).
# Everything it writes goes through one redirection: stderr to /dev/null (nothing ever
# reaches the terminal), stdout to the scratch file (for `history 1`).
__cmdaudit_prompt() {
  __cmdaudit_st=$?
  {
    [[ -z ${HISTTIMEFORMAT-} ]] || builtin local HISTTIMEFORMAT=''
    # stdout is the scratch file; `read -N <more than it holds>` reads to its end and returns 1
    # there, keeping every byte (-N splits nothing on IFS: no `IFS=`, which through `builtin` costs
    # more than the rest of the read)
    if builtin history 1 && ! builtin read -r -N "$__cmdaudit_to_eof" -u "$__cmdaudit_rd" __cmdaudit_h; then
      # The common case inline: "%5d%c %s\n" with the number HISTCMD - 1 (HISTCMD is the
      # next number while PROMPT_COMMAND runs), one new command, the same cwd, short ASCII
      # text with nothing to escape, a clock without a fork. Anything else: __cmdaudit_slow.
      __cmdaudit_r=${__cmdaudit_h:7:${#__cmdaudit_h}>8?${#__cmdaudit_h}-8:0}
      if [[ "     $((__cmdaudit_n = HISTCMD - 1))" == *"${__cmdaudit_h:0:5}" && ${__cmdaudit_h:5:2} == [\ *]\  && $PWD == "$__cmdaudit_pwd" &&
        $__cmdaudit_r != *[$'\\\t\n\r']* && $__cmdaudit_r != *[![:ascii:]]* ]] &&
        ((__cmdaudit_n == __cmdaudit_last + 1 && __cmdaudit_n < 100000 && !__cmdaudit_failed && __cmdaudit_fast &&
          ${#__cmdaudit_r} < __cmdaudit_room_fast && ++__cmdaudit_scratch < 512 && (__cmdaudit_last = __cmdaudit_n) && ++__cmdaudit_seq)); then
        if ((__cmdaudit_fast == 1)); then __cmdaudit_e=$EPOCHREALTIME; else builtin printf -v __cmdaudit_e '%(%s)T' -1; fi
        ((__cmdaudit_s = ${__cmdaudit_e:0:10} - __cmdaudit_min + 100, __cmdaudit_s < 160 && __cmdaudit_s >= 100)) || __cmdaudit_minute "${__cmdaudit_e:0:10}"
        # One word with literal TABs between the fields: far cheaper in bash than printf
        # formatting each field (1SS: the seconds as two digits after ${s:1}).
        builtin printf '%s\n' "CA1	R	$__cmdaudit_sid	$__cmdaudit_seq	command	$__cmdaudit_tpre${__cmdaudit_s:1}$__cmdaudit_dot${__cmdaudit_e:11}$__cmdaudit_tz	$__cmdaudit_fixed	$__cmdaudit_pwd_esc	$__cmdaudit_st	1	${#__cmdaudit_r}	$__cmdaudit_r" >>"$__cmdaudit_log" || ((++__cmdaudit_failed))
      else
        __cmdaudit_slow || builtin : # `|| :`: a user's `set -e` does not apply inside
      fi
    fi
    [[ -o history && $__cmdaudit_histoff == 0 && -z ${HISTCONTROL-}${HISTIGNORE-} && ${HISTSIZE-} == [1-9]* ]] || __cmdaudit_history_checks || builtin :
  } 2>&"$__cmdaudit_null" 1>&"$__cmdaudit_w"
  builtin return "$__cmdaudit_st"
}
# The other cases, with the entry in __cmdaudit_h.
__cmdaudit_slow() {
  __cmdaudit_parse
  if ((__cmdaudit_n == __cmdaudit_last + 1 && __cmdaudit_last >= 0 && !__cmdaudit_failed)); then
    __cmdaudit_last=$__cmdaudit_n # one new command
    __cmdaudit_write command "$__cmdaudit_st" "$__cmdaudit_r" || ((++__cmdaudit_failed))
  elif ((__cmdaudit_n != __cmdaudit_last)); then
    __cmdaudit_collect_other "$__cmdaudit_st"
  fi
}
# History switched off or on, or filtered (HISTCONTROL/HISTIGNORE/HISTSIZE set by the user take
# effect only until this prompt, so they never hide the next command; set from ~/.bashrc,
# they are reset before the first).
__cmdaudit_history_checks() {
  [[ -o history && $__cmdaudit_histoff == 0 ]] || __cmdaudit_history_switched
  HISTCONTROL='' HISTIGNORE=''
  [[ ${HISTSIZE-} == [1-9]* ]] || HISTSIZE=10000
}

# Collect the last command (`exit` itself, usually) as a prompt would, then close the session.
__cmdaudit_exit() {
  __cmdaudit_prompt
  __cmdaudit_record session_end "$__cmdaudit_st" "" 2>&"$__cmdaudit_null"
}

# At the first top-level command after the startup files ran (FUNCNAME holds only this
# trap handler then): put the prompt hook back in front if ~/.bashrc replaced
# PROMPT_COMMAND, prime it if it never ran, and remove this trap.
# Returns 0 once it has run, and the trap string then removes the trap: `trap - DEBUG`
# inside a function would be undone when the function returns.
__cmdaudit_guard() {
  ((${#FUNCNAME[@]} == 1)) || builtin return 1
  __cmdaudit_hook_prompt
  ((__cmdaudit_last < 0)) || builtin return 0
  __cmdaudit_entry 2>&"$__cmdaudit_null" 1>&"$__cmdaudit_w" || builtin return 0
  # HISTCMD is the running command's number while a typed command runs (already in the
  # history: record it at the next prompt), and the next number while PROMPT_COMMAND runs.
  if [[ ${HISTCMD-} == "$__cmdaudit_n" ]]; then
    __cmdaudit_last=$((__cmdaudit_n - 1))
  else
    __cmdaudit_last=$__cmdaudit_n
  fi
}
__cmdaudit_hook_prompt() {
  builtin local pc
  for pc in "${PROMPT_COMMAND[@]}"; do
    [[ $pc == *__cmdaudit_prompt* ]] && builtin return 0
  done
  if ((${#PROMPT_COMMAND[@]} > 1)); then
    PROMPT_COMMAND=(__cmdaudit_prompt "${PROMPT_COMMAND[@]}") # bash >= 5.1 arrays
  else
    # shellcheck disable=SC2128,SC2178 # a string, or a one-element array used as its first element
    PROMPT_COMMAND="__cmdaudit_prompt${PROMPT_COMMAND:+$'\n'$PROMPT_COMMAND}"
  fi
}

# What cannot change within the session, computed once at login.
__cmdaudit_init() {
  # The system's own tools, not a user's: PATH and functions (even ones imported from the
  # environment) must not choose what is recorded. HOSTNAME comes from the environment too.
  builtin local LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin line ip ips='' host='' suser luser='' tty='' client='' who='' boot='' epoch uid f d
  exec {__cmdaudit_null}>/dev/null
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
  if [[ $__cmdaudit_clock == date ]]; then epoch=$(builtin command date +%s); else builtin printf -v epoch '%(%s)T' -1; fi
  __cmdaudit_sid=${boot:0:8}.$epoch.$$.$RANDOM
  builtin local fixed="" v
  for v in "$host" "$ips" "$suser" "$luser" "$tty" "$client"; do
    __cmdaudit_esc "$v"
    fixed=${fixed:+$fixed$'\t'}$__cmdaudit_r
  done
  __cmdaudit_fixed=${fixed}
  __cmdaudit_fixed_len=${#fixed} # bytes: LC_ALL=C here
  __cmdaudit_fixed_ascii=1
  [[ $fixed == *[![:ascii:]]* ]] && __cmdaudit_fixed_ascii=0
  # A private scratch file for `history 1` (tmpfs if there is one), unlinked at once and
  # reached through two descriptors: one appends, the other reads what was appended.
  __cmdaudit_w='' __cmdaudit_rd='' __cmdaudit_scratch=0
  for d in /dev/shm "${TMPDIR:-/tmp}"; do
    [[ -d $d && -w $d ]] || continue
    f=$(builtin command mktemp "$d/.cmdaudit.XXXXXXXXXX" 2>/dev/null) || continue
    # shellcheck disable=SC2094 # both ends of the same file, on purpose
    exec {__cmdaudit_w}>>"$f" {__cmdaudit_rd}<"$f"
    builtin command rm -f "$f"
    break
  done
  __cmdaudit_record session_start "" "" 2>&"$__cmdaudit_null"
}

__cmdaudit_init
builtin readonly __cmdaudit_to_eof __cmdaudit_fast __cmdaudit_dot __cmdaudit_log __cmdaudit_chunk __cmdaudit_line_max __cmdaudit_clock __cmdaudit_sid \
  __cmdaudit_fixed __cmdaudit_fixed_len __cmdaudit_fixed_ascii __cmdaudit_null __cmdaudit_w
builtin readonly -f __cmdaudit_esc __cmdaudit_cwd __cmdaudit_minute __cmdaudit_now __cmdaudit_emit __cmdaudit_write __cmdaudit_record __cmdaudit_entry __cmdaudit_parse __cmdaudit_slow __cmdaudit_scratch_reset \
  __cmdaudit_collect_other __cmdaudit_history_switched __cmdaudit_history_checks \
  __cmdaudit_prompt __cmdaudit_exit __cmdaudit_guard __cmdaudit_hook_prompt __cmdaudit_init
builtin shopt -s cmdhist lithist
__cmdaudit_hook_prompt
# An EXIT trap set before this file (another profile.d script) keeps running, after ours.
# `trap -p` prints "trap -- 'command' EXIT", quoted for eval; one fork, at login. (A DEBUG trap
# set before this file cannot be kept: bash hides it while it sources a file, so the guard's trap
# replaces it. Hence the name 00-cmdaudit.sh: first in /etc/profile.d, and a later script's DEBUG
# trap replaces the guard instead.)
__cmdaudit_trap_cmd() { __cmdaudit_x=$2; }
__cmdaudit_x=$(builtin trap -p EXIT) && [[ -n $__cmdaudit_x ]] && builtin eval "__cmdaudit_trap_cmd ${__cmdaudit_x#trap }"
# shellcheck disable=SC2064 # the other trap's command is copied in now, on purpose
builtin trap "__cmdaudit_exit${__cmdaudit_x:+$'\n'$__cmdaudit_x}" EXIT
__cmdaudit_x=''
builtin unset -f __cmdaudit_trap_cmd
builtin trap '__cmdaudit_guard && builtin trap - DEBUG' DEBUG
