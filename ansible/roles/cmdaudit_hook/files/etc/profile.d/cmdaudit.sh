# shellcheck shell=bash
# cmdaudit: records every interactive bash command, and session start and end,
# as lines of docs/log-format.md appended to the audit log. Installed as
# /etc/profile.d/cmdaudit.sh. Interactive bash only, once per shell, bash >= 4.1;
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
  case $(declare -p __cmdaudit_sid 2>/dev/null) in "declare -r"*) return 0 ;; esac
  unset __cmdaudit_sid 2>/dev/null || return 0
fi

__cmdaudit_log=/var/log/cmdaudit/commands.log # cmdaudit:log (the Ansible role sets this path)
__cmdaudit_chunk=3072                          # escaped command bytes per line
__cmdaudit_line_max=4000                       # a head line stays one write() below PIPE_BUF
__cmdaudit_seq=0
__cmdaudit_failed=0
__cmdaudit_histoff=0
__cmdaudit_last=-1                             # history number of the last recorded entry; -1: not primed
__cmdaudit_r=

# Escape backslash, TAB, LF and CR (docs/log-format.md); result in __cmdaudit_r.
__cmdaudit_esc() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  __cmdaudit_r=${s//$'\r'/\\r}
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
__cmdaudit_now() {
  case $__cmdaudit_clock in
  epochrealtime)
    local e=$EPOCHREALTIME # "s.micro"; some locales write a comma
    printf -v __cmdaudit_r '%(%Y-%m-%dT%H:%M:%S)T.%s%(%z)T' "${e%[.,]*}" "${e#*[.,]}" "${e%[.,]*}"
    ;;
  printf) printf -v __cmdaudit_r '%(%Y-%m-%dT%H:%M:%S%z)T' -1 ;;
  *) __cmdaudit_r=$(date +%Y-%m-%dT%H:%M:%S%z) ;; # bash 4.1: the one fork per record
  esac
}

# Append one line; 1 if it could not be written.
__cmdaudit_emit() {
  { printf '%s\n' "$1" >>"$__cmdaudit_log"; } 2>&"$__cmdaudit_null"
}

# One record (kind, exit status, text) as a head line and, for long text, part lines.
__cmdaudit_write() {
  local LC_ALL=C # byte lengths and byte offsets
  local t cwd c head chunk first n np off part=2 tab=$'\t'
  __cmdaudit_seq=$((__cmdaudit_seq + 1))
  __cmdaudit_now
  t=$__cmdaudit_r
  __cmdaudit_esc "$PWD"
  cwd=$__cmdaudit_r
  __cmdaudit_esc "$3"
  c=$__cmdaudit_r
  n=${#c}
  head="CA1${tab}R${tab}${__cmdaudit_sid}${tab}${__cmdaudit_seq}${tab}$1${tab}${t}${tab}${__cmdaudit_fixed}${tab}${cwd}${tab}$2${tab}"
  first=$((__cmdaudit_line_max - ${#head} - 16))
  ((first > __cmdaudit_chunk)) && first=$__cmdaudit_chunk
  ((first < 0)) && first=0
  np=1
  ((n > first)) && np=$((1 + (n - first + __cmdaudit_chunk - 1) / __cmdaudit_chunk))
  chunk=${c:0:first}
  __cmdaudit_emit "${head}${np}${tab}${#chunk}${tab}${chunk}" || return 1
  for ((off = first; off < n; off += __cmdaudit_chunk)); do
    chunk=${c:off:__cmdaudit_chunk}
    __cmdaudit_emit "CA1${tab}P${tab}${__cmdaudit_sid}${tab}${__cmdaudit_seq}${tab}${part}${tab}${#chunk}${tab}${chunk}" || return 1
    part=$((part + 1))
  done
}

# A record, preceded by a `loss` record when earlier ones could not be written.
__cmdaudit_record() {
  local lost=$__cmdaudit_failed
  if ((lost > 0)); then
    __cmdaudit_failed=0
    __cmdaudit_write loss "" "cmdaudit hook: $lost record(s) could not be written to the log" ||
      { __cmdaudit_failed=$((lost + 1)) && return 1; }
  fi
  __cmdaudit_write "$@" || __cmdaudit_failed=$((__cmdaudit_failed + 1))
}

# The newest history entry into __cmdaudit_r and its number into __cmdaudit_n (0: history empty).
__cmdaudit_entry() {
  local HISTTIMEFORMAT='' h
  __cmdaudit_n=0
  __cmdaudit_r=
  { builtin history 1 >"/dev/fd/$__cmdaudit_tmp"; } 2>&"$__cmdaudit_null" || return 1
  IFS= read -r -d '' h <"/dev/fd/$__cmdaudit_tmp" 2>&"$__cmdaudit_null"
  # "%5d%c %s\n": number, '*' when modified, a space, then the entry exactly as typed.
  [[ ${h:0:40} =~ ^\ *([0-9]+)[\ *]\  ]] || return 0
  __cmdaudit_n=${BASH_REMATCH[1]}
  h=${h:${#BASH_REMATCH[0]}}
  __cmdaudit_r=${h%$'\n'}
}

# Record what was typed since the last call.
__cmdaudit_collect() {
  local st=$1 LC_ALL=C __cmdaudit_n
  __cmdaudit_entry || return 0
  if ((__cmdaudit_last < 0)); then
    __cmdaudit_last=$__cmdaudit_n # first prompt: what history holds now was not typed here
    return 0
  fi
  if ((__cmdaudit_n < __cmdaudit_last)); then
    __cmdaudit_record loss "" "cmdaudit hook: the history list was cleared (history -c); the command that did it is not recorded"
    __cmdaudit_last=0
  fi
  if ((__cmdaudit_n > __cmdaudit_last)); then
    __cmdaudit_last=$__cmdaudit_n
    __cmdaudit_record command "$st" "$__cmdaudit_r"
  fi
}

# PROMPT_COMMAND: record the command that just ran, then keep history unfiltered and on.
__cmdaudit_prompt() {
  local st=$?
  __cmdaudit_collect "$st"
  # HISTCONTROL/HISTIGNORE/HISTSIZE set by the user take effect only until this prompt,
  # so they never hide the next command (set from ~/.bashrc, they are reset before the first).
  [[ -z ${HISTCONTROL-}${HISTIGNORE-} ]] || HISTCONTROL='' HISTIGNORE=''
  [[ ${HISTSIZE-} == [1-9]* ]] || HISTSIZE=10000
  # History cannot be switched back on from here (bash restores the option after
  # PROMPT_COMMAND), so switching it off and on is recorded: the gap is visible.
  local LC_ALL=C
  if [[ :$SHELLOPTS: != *:history:* ]]; then
    ((__cmdaudit_histoff)) || __cmdaudit_record loss "" "cmdaudit hook: history was turned off (set +o history); commands typed until it is turned on again are not recorded"
    __cmdaudit_histoff=1
  elif ((__cmdaudit_histoff)); then
    __cmdaudit_histoff=0
    __cmdaudit_record loss "" "cmdaudit hook: history was turned on again"
  fi
  return "$st"
}

__cmdaudit_exit() {
  local st=$? LC_ALL=C
  __cmdaudit_collect "$st"
  __cmdaudit_record session_end "$st" ""
}

# At the first top-level command after the startup files ran (FUNCNAME holds only this
# trap handler then): put the prompt hook back in front if ~/.bashrc replaced
# PROMPT_COMMAND, prime it if it never ran, and remove this trap.
__cmdaudit_guard() {
  ((${#FUNCNAME[@]} == 1)) || return 0
  trap - DEBUG
  __cmdaudit_hook_prompt
  ((__cmdaudit_last < 0)) || return 0
  local LC_ALL=C __cmdaudit_n
  __cmdaudit_entry || return 0
  # HISTCMD is the running command's number while a typed command runs (already in the
  # history: record it at the next prompt), and the next number while PROMPT_COMMAND runs.
  if [[ ${HISTCMD-} == "$__cmdaudit_n" ]]; then
    __cmdaudit_last=$((__cmdaudit_n - 1))
  else
    __cmdaudit_last=$__cmdaudit_n
  fi
}
__cmdaudit_hook_prompt() {
  local pc
  for pc in "${PROMPT_COMMAND[@]}"; do
    [[ $pc == *__cmdaudit_prompt* ]] && return 0
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
  local LC_ALL=C line ip ips='' host suser luser='' tty='' client='' who='' boot='' epoch uid f
  exec {__cmdaudit_null}>/dev/null
  host=${HOSTNAME:-$(uname -n 2>/dev/null)}
  # Every address that is not loopback, IPv4 and IPv6 (`ip -o addr`: "N: dev inet ADDR/LEN ... scope S").
  while read -r line; do
    [[ $line == *" scope host"* ]] && continue
    [[ $line =~ \ inet6?\ ([0-9A-Fa-f.:]+)/ ]] || continue
    ip=${BASH_REMATCH[1]}
    ips=${ips:+$ips,}$ip
  done < <(PATH=/sbin:/usr/sbin:/bin:/usr/bin ip -o addr show 2>/dev/null)
  suser=$(id -un 2>/dev/null) || suser=${USER-}
  tty=$(tty 2>/dev/null) && tty=${tty#/dev/} || tty=
  # utmp for this terminal: "user tty date time (host)", written by root, not by the user.
  who=$(who -m 2>/dev/null)
  if [[ $who =~ \(([0-9A-Fa-f.:%]+)\)[[:space:]]*$ ]]; then
    client=${BASH_REMATCH[1]}
  fi
  # The real login user: the kernel's audit loginuid survives su and sudo; then utmp, sudo, ourselves.
  read -r uid </proc/self/loginuid 2>/dev/null # no trailing newline: read fails but sets uid
  if [[ $uid =~ ^[0-9]+$ ]] && ((uid != 4294967295)); then
    luser=$(getent passwd "$uid" 2>/dev/null) && luser=${luser%%:*}
    [[ -n $luser ]] || luser=$uid
  fi
  [[ -n $luser ]] || { [[ $who =~ ^([^[:space:]]+) ]] && luser=${BASH_REMATCH[1]}; }
  [[ -n $luser ]] || luser=${SUDO_USER:-$suser}
  if [[ -z $client && -n ${SSH_CONNECTION-} ]]; then
    client=${SSH_CONNECTION%% *}
  fi
  # Only a numeric address is a client IP: never a login time or an X display.
  [[ $client =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || $client =~ ^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*(%[A-Za-z0-9_.-]+)?$ ]] || client=
  read -r boot </proc/sys/kernel/random/boot_id 2>/dev/null
  boot=${boot//-/}
  if [[ $__cmdaudit_clock == date ]]; then epoch=$(date +%s); else printf -v epoch '%(%s)T' -1; fi
  __cmdaudit_sid=${boot:0:8}.$epoch.$$.$RANDOM
  local fixed="" v
  for v in "$host" "$ips" "$suser" "$luser" "$tty" "$client"; do
    __cmdaudit_esc "$v"
    fixed=${fixed:+$fixed$'\t'}$__cmdaudit_r
  done
  __cmdaudit_fixed=${fixed}
  # A private scratch file for `history 1`, unlinked at once and reached through its descriptor.
  __cmdaudit_tmp=
  if f=$(mktemp "${TMPDIR:-/tmp}/.cmdaudit.XXXXXXXXXX" 2>/dev/null); then
    exec {__cmdaudit_tmp}<>"$f"
    rm -f "$f"
  fi
  __cmdaudit_record session_start "" ""
}

__cmdaudit_init
readonly __cmdaudit_log __cmdaudit_chunk __cmdaudit_line_max __cmdaudit_clock __cmdaudit_sid \
  __cmdaudit_fixed __cmdaudit_null __cmdaudit_tmp
readonly -f __cmdaudit_esc __cmdaudit_now __cmdaudit_emit __cmdaudit_write __cmdaudit_record __cmdaudit_entry \
  __cmdaudit_collect __cmdaudit_prompt __cmdaudit_exit __cmdaudit_guard __cmdaudit_hook_prompt __cmdaudit_init
shopt -s cmdhist lithist
__cmdaudit_hook_prompt
trap __cmdaudit_exit EXIT
trap __cmdaudit_guard DEBUG
