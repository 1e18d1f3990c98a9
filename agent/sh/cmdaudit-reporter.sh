#!/bin/sh
# cmdaudit-reporter.sh: the POSIX sh fallback reporter, for hosts that cannot run
# the Bun-compiled one (CentOS 6: glibc 2.12, kernel 2.6.32).
#
# Ships the raw lines of the audit log to POST /api/v1/ingest/raw and advances
# its checkpoint by exactly the bytes the server answers as `consumed`. Uses only
# what CentOS 6 ships: POSIX sh, coreutils, grep, sed, awk, gzip, curl 7.19,
# flock (util-linux-ng; a mkdir lock otherwise) and chattr (e2fsprogs).
#
#   cmdaudit-reporter.sh [-c FILE] [run|status|check]
#
# Config: /etc/cmdaudit/reporter.conf (or -c FILE, or $CMDAUDIT_REPORTER_CONF),
# KEY=value lines, parsed, never sourced. See agent/sh/README.md.
#
# Exit codes: 0 ok, 1 internal error, 2 config error, 3 server unreachable /
# 5xx / timeout after retries, 4 server refused (4xx), 5 another run holds the lock,
# 6 stuck: the server answers but settles nothing of the largest body this run may send.

set -u
umask 077
LC_ALL=C
export LC_ALL

PROG=cmdaudit-reporter
TAB=$(printf '\t')
NL='
'
CR=$(printf '\r')
MAX_BATCH=33554432   # the server's default limits.max_body_bytes
MAX_LINES=10000      # the server's default limits.max_records_per_batch: a body holds at most this many lines
CEIL=0               # half the size of a body that got 413 in this run: no body of the run grows past it (0: none)
STUCK=               # why the run stopped a file it cannot move (exit 6)
RUN_STARTED=0        # 1 once the queue is built: the end of the run describes what is unread
END_BUSY=0
CUR_PATH=            # the path of the tracked file (FILE) in this run
TMPD=
LOCKDIR=
ANSWERED=0   # 1 once the server gave an ingest answer in this run
CURL_FRAC=0  # 1 when curl takes fractions of a second (7.32 and later)
MIN_LEFT=1000
PO_CUT=0

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

cleanup() {
  [ -n "$TMPD" ] && rm -rf "$TMPD"
  [ -n "$LOCKDIR" ] && rm -rf "$LOCKDIR"
  TMPD=
  LOCKDIR=
}

# die CODE MESSAGE: remember the error in the state (when there is one), say it, exit.
die() {
  die_code=$1
  shift
  say "$*"
  if [ -n "${STATE:-}" ] && [ -n "${S_ID:-}" ] && [ "$die_code" != 2 ] && [ "$die_code" != 5 ]; then
    # A run that ends early (server down, stuck) still counts its dead letters and describes what is unread.
    [ "$RUN_STARTED" = 1 ] && [ "$die_code" != 1 ] && end_run
    S_LAST_ERR="$(date -u +%Y-%m-%dT%H:%M:%SZ) exit $die_code: $(printf '%s' "$*" | tr '\n\r' '  ')"
    state_save 2>/dev/null
  fi
  cleanup
  exit "$die_code"
}

# now: NOW is the time in milliseconds since the epoch (one fork).
now() {
  NOW=$(date +%s%N)
  case $NOW in
    *N*|'') NOW=$(( $(date +%s) * 1000 )) ;;
    *) NOW=$(( NOW / 1000000 )) ;;
  esac
}

# is_uint VALUE: decimal digits only, at most 18 of them (fits shell arithmetic).
is_uint() {
  case $1 in ''|*[!0-9]*) return 1 ;; esac
  [ ${#1} -le 18 ]
}

# trim VALUE: TRIMMED is VALUE without leading and trailing blanks (no fork).
trim() {
  TRIMMED=$1
  TRIMMED=${TRIMMED#"${TRIMMED%%[![:space:]]*}"}
  TRIMMED=${TRIMMED%"${TRIMMED##*[![:space:]]}"}
}

# ---------------------------------------------------------------- config

load_config() {
  cf=$1
  URL=
  TOKEN_FILE=
  CA_FILE=
  LOG=/var/log/cmdaudit/commands.log
  STATE_DIR=/var/lib/cmdaudit
  ROTATE_BYTES=67108864
  MAX_RETAINED_BYTES=536870912
  BATCH_BYTES=1048576
  TIMEOUT=20
  BUDGET=50
  ROTATE_GRACE=60
  UNFINISHED_SECONDS=120
  GZIP=1
  if [ ! -f "$cf" ] || [ ! -r "$cf" ]; then say "config $cf: cannot read the file"; exit 2; fi
  cf_errs=0
  cf_n=0
  while IFS= read -r cf_line || [ -n "$cf_line" ]; do
    cf_n=$((cf_n + 1))
    cf_line=${cf_line%"$CR"}
    trim "$cf_line"
    cf_line=$TRIMMED
    case $cf_line in ''|'#'*) continue ;; esac
    case $cf_line in
      *=*) ;;
      *) say "config $cf line $cf_n: not KEY=value"; cf_errs=$((cf_errs + 1)); continue ;;
    esac
    trim "${cf_line%%=*}"
    cf_k=$TRIMMED
    trim "${cf_line#*=}"
    cf_v=$TRIMMED
    case $cf_v in
      \"*\") cf_v=${cf_v#\"}; cf_v=${cf_v%\"} ;;
      \'*\') cf_v=${cf_v#\'}; cf_v=${cf_v%\'} ;;
    esac
    case $cf_k in
      URL) URL=$cf_v ;;
      TOKEN_FILE) TOKEN_FILE=$cf_v ;;
      CA_FILE) CA_FILE=$cf_v ;;
      LOG) LOG=$cf_v ;;
      STATE_DIR) STATE_DIR=$cf_v ;;
      ROTATE_BYTES) ROTATE_BYTES=$cf_v ;;
      MAX_RETAINED_BYTES) MAX_RETAINED_BYTES=$cf_v ;;
      BATCH_BYTES) BATCH_BYTES=$cf_v ;;
      TIMEOUT) TIMEOUT=$cf_v ;;
      BUDGET) BUDGET=$cf_v ;;
      ROTATE_GRACE) ROTATE_GRACE=$cf_v ;;
      UNFINISHED_SECONDS) UNFINISHED_SECONDS=$cf_v ;;
      GZIP) GZIP=$cf_v ;;
      *) say "config $cf line $cf_n: unknown key $cf_k"; cf_errs=$((cf_errs + 1)) ;;
    esac
  done < "$cf"
  cfbad() { say "config $cf: $1"; cf_errs=$((cf_errs + 1)); }
  case $URL in
    '') cfbad "URL is required" ;;
    *[[:space:]\"\\]*) cfbad "URL must not hold blanks, quotes or backslashes" ;;
    http://?*|https://?*) URL=${URL%/} ;;
    *) cfbad "URL must start with http:// or https://" ;;
  esac
  TOKEN=
  if [ -z "$TOKEN_FILE" ]; then
    cfbad "TOKEN_FILE is required"
  elif [ ! -f "$TOKEN_FILE" ] || [ ! -r "$TOKEN_FILE" ]; then
    cfbad "TOKEN_FILE $TOKEN_FILE cannot be read"
  else
    IFS= read -r TOKEN < "$TOKEN_FILE" || [ -n "$TOKEN" ] || TOKEN=
    TOKEN=${TOKEN%"$CR"}
    trim "$TOKEN"
    TOKEN=$TRIMMED
    case $TOKEN in
      '') cfbad "TOKEN_FILE $TOKEN_FILE holds no token" ;;
    esac
    case $TOKEN in
      *[!\ -~]*|*[\"\\\ ]*) cfbad "TOKEN_FILE $TOKEN_FILE: the token holds a blank, quote, backslash, control or non-ASCII byte" ;;
    esac
  fi
  if [ -n "$CA_FILE" ] && { [ ! -f "$CA_FILE" ] || [ ! -r "$CA_FILE" ]; }; then cfbad "CA_FILE $CA_FILE cannot be read"; fi
  case $LOG in /?*) ;; *) cfbad "LOG must be an absolute path" ;; esac
  case $LOG in */) cfbad "LOG must name a file" ;; esac
  case $STATE_DIR in /?*) STATE_DIR=${STATE_DIR%/} ;; *) cfbad "STATE_DIR must be an absolute path" ;; esac
  for cf_k in ROTATE_BYTES MAX_RETAINED_BYTES BATCH_BYTES TIMEOUT BUDGET; do
    eval "cf_v=\$$cf_k"
    if ! is_uint "$cf_v" || [ "$cf_v" -lt 1 ]; then cfbad "$cf_k must be a whole number of at least 1 (got \"$cf_v\")"; fi
  done
  is_uint "$ROTATE_GRACE" || cfbad "ROTATE_GRACE must be a whole number of seconds (got \"$ROTATE_GRACE\")"
  is_uint "$UNFINISHED_SECONDS" || cfbad "UNFINISHED_SECONDS must be a whole number of seconds (got \"$UNFINISHED_SECONDS\")"
  case $GZIP in 0|1) ;; *) cfbad "GZIP must be 1 or 0 (got \"$GZIP\")" ;; esac
  if is_uint "$BATCH_BYTES" && [ "$BATCH_BYTES" -gt "$MAX_BATCH" ]; then cfbad "BATCH_BYTES must be at most $MAX_BATCH"; fi
  [ "$cf_errs" -eq 0 ] || exit 2
  LOGDIR=${LOG%/*}
  [ -n "$LOGDIR" ] || LOGDIR=/
  STATE=$STATE_DIR/state
  DEADDIR=$STATE_DIR/deadletter
  LOSSDIR=$STATE_DIR/loss
}

# ---------------------------------------------------------------- state

state_load() {
  S_ID=
  S_FILE=
  S_OFF=0
  S_LOSS_SEQ=0
  S_LAST_OK=
  S_LAST_ERR=
  S_DROP_REC=0
  S_DROP_BYTES=0
  S_DROP_FILES=0
  S_FP_FILE=
  S_FP_LEN=0
  S_FP=
  S_TAIL_FILE=
  S_TAIL_OFF=0
  S_TAIL_LEN=0
  S_TAIL=
  S_WAIT_FILE=
  S_WAIT_OFF=0
  S_WAIT_SINCE=0
  S_UR_FILE=
  S_UR_PATH=
  S_UR_OFF=0
  S_UR_SIZE=0
  S_UR_LEN=0
  S_UR_CK=
  S_UR_RECS=0
  S_DL_KEY=
  S_DL_FILE=
  S_DL_PATH=
  S_DL_N=0
  S_DL_GIVEN=0
  S_DL_FROM=0
  S_DL_TO=0
  if [ -f "$STATE" ]; then
    while IFS= read -r st_l; do
      st_v=${st_l#*=}
      case $st_l in
        REPORTER_ID=*) S_ID=$st_v ;;
        FILE=*) S_FILE=$st_v ;;
        OFFSET=*) S_OFF=$st_v ;;
        LOSS_SEQ=*) S_LOSS_SEQ=$st_v ;;
        LAST_SUCCESS=*) S_LAST_OK=$st_v ;;
        LAST_ERROR=*) S_LAST_ERR=$st_v ;;
        DROPPED_RECORDS=*) S_DROP_REC=$st_v ;;
        DROPPED_BYTES=*) S_DROP_BYTES=$st_v ;;
        DROPPED_FILES=*) S_DROP_FILES=$st_v ;;
        HEAD_FILE=*) S_FP_FILE=$st_v ;;
        HEAD_BYTES=*) S_FP_LEN=$st_v ;;
        HEAD_CKSUM=*) S_FP=$st_v ;;
        TAIL_FILE=*) S_TAIL_FILE=$st_v ;;
        TAIL_OFFSET=*) S_TAIL_OFF=$st_v ;;
        TAIL_BYTES=*) S_TAIL_LEN=$st_v ;;
        TAIL_CKSUM=*) S_TAIL=$st_v ;;
        WAIT_FILE=*) S_WAIT_FILE=$st_v ;;
        WAIT_OFFSET=*) S_WAIT_OFF=$st_v ;;
        WAIT_SINCE=*) S_WAIT_SINCE=$st_v ;;
        UNREAD_FILE=*) S_UR_FILE=$st_v ;;
        UNREAD_PATH=*) S_UR_PATH=$st_v ;;
        UNREAD_OFFSET=*) S_UR_OFF=$st_v ;;
        UNREAD_SIZE=*) S_UR_SIZE=$st_v ;;
        UNREAD_BYTES=*) S_UR_LEN=$st_v ;;
        UNREAD_CKSUM=*) S_UR_CK=$st_v ;;
        UNREAD_RECORDS=*) S_UR_RECS=$st_v ;;
        DEADLETTER_KEY=*) S_DL_KEY=$st_v ;;
        DEADLETTER_FILE=*) S_DL_FILE=$st_v ;;
        DEADLETTER_PATH=*) S_DL_PATH=$st_v ;;
        DEADLETTER_RECORDS=*) S_DL_N=$st_v ;;
        DEADLETTER_GIVEN_UP=*) S_DL_GIVEN=$st_v ;;
        DEADLETTER_FROM=*) S_DL_FROM=$st_v ;;
        DEADLETTER_TO=*) S_DL_TO=$st_v ;;
      esac
    done < "$STATE"
  fi
  for st_k in S_OFF S_LOSS_SEQ S_DROP_REC S_DROP_BYTES S_DROP_FILES S_FP_LEN S_TAIL_OFF S_TAIL_LEN S_WAIT_OFF S_WAIT_SINCE \
    S_UR_OFF S_UR_SIZE S_UR_LEN S_UR_RECS S_DL_N S_DL_GIVEN S_DL_FROM S_DL_TO; do
    eval "st_v=\$$st_k"
    is_uint "$st_v" || eval "$st_k=0"
  done
  case $S_FILE in [0-9]*/[0-9]*) ;; *) S_FILE= ; S_OFF=0 ;; esac
  [ "$S_TAIL_LEN" -le 256 ] || S_TAIL_FILE=
  case $S_DL_KEY in ''|*[!A-Za-z0-9._-]*) S_DL_KEY= ; S_DL_FILE= ; S_DL_N=0 ;; esac
  case $S_ID in
    reporter.sh.*) case $S_ID in *[!A-Za-z0-9._:@-]*) S_ID= ;; esac ;;
    *) S_ID= ;;
  esac
}

state_save() {
  st_tmp=$STATE.tmp.$$
  {
    printf 'REPORTER_ID=%s\n' "$S_ID"
    printf 'FILE=%s\n' "$S_FILE"
    printf 'OFFSET=%s\n' "$S_OFF"
    printf 'LOSS_SEQ=%s\n' "$S_LOSS_SEQ"
    printf 'LAST_SUCCESS=%s\n' "$S_LAST_OK"
    printf 'LAST_ERROR=%s\n' "$S_LAST_ERR"
    printf 'DROPPED_RECORDS=%s\n' "$S_DROP_REC"
    printf 'DROPPED_BYTES=%s\n' "$S_DROP_BYTES"
    printf 'DROPPED_FILES=%s\n' "$S_DROP_FILES"
    printf 'HEAD_FILE=%s\n' "$S_FP_FILE"
    printf 'HEAD_BYTES=%s\n' "$S_FP_LEN"
    printf 'HEAD_CKSUM=%s\n' "$S_FP"
    printf 'TAIL_FILE=%s\n' "$S_TAIL_FILE"
    printf 'TAIL_OFFSET=%s\n' "$S_TAIL_OFF"
    printf 'TAIL_BYTES=%s\n' "$S_TAIL_LEN"
    printf 'TAIL_CKSUM=%s\n' "$S_TAIL"
    printf 'WAIT_FILE=%s\n' "$S_WAIT_FILE"
    printf 'WAIT_OFFSET=%s\n' "$S_WAIT_OFF"
    printf 'WAIT_SINCE=%s\n' "$S_WAIT_SINCE"
    printf 'UNREAD_FILE=%s\n' "$S_UR_FILE"
    printf 'UNREAD_PATH=%s\n' "$S_UR_PATH"
    printf 'UNREAD_OFFSET=%s\n' "$S_UR_OFF"
    printf 'UNREAD_SIZE=%s\n' "$S_UR_SIZE"
    printf 'UNREAD_BYTES=%s\n' "$S_UR_LEN"
    printf 'UNREAD_CKSUM=%s\n' "$S_UR_CK"
    printf 'UNREAD_RECORDS=%s\n' "$S_UR_RECS"
    printf 'DEADLETTER_KEY=%s\n' "$S_DL_KEY"
    printf 'DEADLETTER_FILE=%s\n' "$S_DL_FILE"
    printf 'DEADLETTER_PATH=%s\n' "$S_DL_PATH"
    printf 'DEADLETTER_RECORDS=%s\n' "$S_DL_N"
    printf 'DEADLETTER_GIVEN_UP=%s\n' "$S_DL_GIVEN"
    printf 'DEADLETTER_FROM=%s\n' "$S_DL_FROM"
    printf 'DEADLETTER_TO=%s\n' "$S_DL_TO"
  } > "$st_tmp" || st_bad=1
  if [ -n "${st_bad:-}" ] || ! mv -f "$st_tmp" "$STATE"; then rm -f "$st_tmp"; say "cannot write $STATE"; cleanup; exit 1; fi
}

init_state_dir() {
  mkdir -p "$STATE_DIR" "$DEADDIR" "$LOSSDIR" || die 1 "cannot create $STATE_DIR"
  chmod 0700 "$STATE_DIR" "$DEADDIR" "$LOSSDIR" || die 1 "cannot chmod $STATE_DIR"
}

new_reporter_id() {
  S_ID=reporter.sh.$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  case $S_ID in reporter.sh.????????????????) ;; *) die 1 "cannot read /dev/urandom" ;; esac
}

# ---------------------------------------------------------------- lock

take_lock() {
  if command -v flock >/dev/null 2>&1 && [ -z "${CMDAUDIT_REPORTER_NO_FLOCK:-}" ]; then
    exec 9>>"$STATE_DIR/reporter.lock" || die 1 "cannot open $STATE_DIR/reporter.lock"
    flock -n 9 || { say "another run holds $STATE_DIR/reporter.lock"; exit 5; }
    return 0
  fi
  lk=$STATE_DIR/reporter.lock.d
  lk_try=0
  while ! mkdir "$lk" 2>/dev/null; do
    lk_try=$((lk_try + 1))
    lk_pid=
    [ -f "$lk/pid" ] && IFS= read -r lk_pid < "$lk/pid"
    if [ -n "$lk_pid" ] && kill -0 "$lk_pid" 2>/dev/null; then
      say "another run (pid $lk_pid) holds $lk"
      exit 5
    fi
    if [ -z "$lk_pid" ] && [ "$lk_try" -lt 3 ]; then
      sleep 1   # the holder may be between mkdir and writing its pid
      continue
    fi
    [ "$lk_try" -gt 5 ] && { say "cannot take the lock $lk"; exit 5; }
    rm -rf "$lk"
  done
  LOCKDIR=$lk
  echo $$ > "$lk/pid"
}

# ---------------------------------------------------------------- files

# fstat PATH: F_ID (dev/inode), F_SIZE, F_MTIME of PATH; fails when there is no such file.
fstat() {
  F_ID=
  F_SIZE=
  F_MTIME=
  fs_v=$(stat -L -c '%d/%i %s %Y' -- "$1" 2>/dev/null) || return 1
  F_ID=${fs_v%% *}
  fs_v=${fs_v#* }
  F_SIZE=${fs_v%% *}
  F_MTIME=${fs_v#* }
  [ -n "$F_MTIME" ]
}

# read_chunk PATH ID OFF N OUT: copy N bytes from OFF of PATH into OUT, only when
# PATH is (still) the file ID; the identity is checked on the open descriptor.
read_chunk() {
  {
    rc_id=$(stat -L -c '%d/%i' /dev/fd/3 2>/dev/null) || return 1
    [ "$rc_id" = "$2" ] || return 1
    tail -c +"$(($3 + 1))" <&3 | head -c "$4" > "$5"
  } 3< "$1"
}

# head_sum PATH N: HEAD_SUM is the cksum of the first N bytes of PATH (the file's fingerprint:
# bytes once written never change in a log that is only appended to).
head_sum() {
  hs_v=$(head -c "$2" -- "$1" 2>/dev/null | cksum)
  HEAD_SUM=${hs_v%% *}
}

# range_sum PATH ID FROM N: RANGE_SUM is the cksum of the N bytes at FROM of PATH, read only when
# PATH is (still) the file ID (checked on the open descriptor); fails when it is not, or is shorter.
range_sum() {
  RANGE_SUM=
  rs_v=$( { rs_id=$(stat -L -c '%d/%i' /dev/fd/3 2>/dev/null) && [ "$rs_id" = "$2" ] && tail -c +"$(($3 + 1))" <&3 | head -c "$4" | cksum; } 3< "$1" 2>/dev/null) || return 1
  [ "${rs_v#* }" = "$4" ] || return 1
  RANGE_SUM=${rs_v%% *}
}

# has_lf PATH ID FROM N: is there a line end in the N bytes at FROM of PATH (the file ID)?
has_lf() {
  hl_v=$( { hl_id=$(stat -L -c '%d/%i' /dev/fd/3 2>/dev/null) && [ "$hl_id" = "$2" ] && tail -c +"$(($3 + 1))" <&3 | head -c "$4" | tr -dc '\n' | head -c 1 | wc -c; } 3< "$1" 2>/dev/null)
  case $hl_v in *1*) return 0 ;; esac
  return 1
}

# tail_fp PATH: the fingerprint of the tracked file's bytes just before the checkpoint (up to 256):
# a file rewritten in place no longer holds them, even when it starts as before and is longer.
tail_fp() {
  S_TAIL_FILE=$S_FILE
  S_TAIL_OFF=$S_OFF
  S_TAIL_LEN=$S_OFF
  [ "$S_TAIL_LEN" -gt 256 ] && S_TAIL_LEN=256
  S_TAIL=
  [ "$S_TAIL_LEN" -gt 0 ] || return 0
  if range_sum "$1" "$S_FILE" $((S_OFF - S_TAIL_LEN)) "$S_TAIL_LEN"; then S_TAIL=$RANGE_SUM; else S_TAIL_FILE=; fi
}

# rewritten PATH: is the tracked file at PATH (same inode) no longer the file the checkpoint is in?
# Shorter than the checkpoint, other first bytes, or other bytes just before the checkpoint.
rewritten() {
  fstat "$1" && [ "$F_ID" = "$S_FILE" ] || return 1
  [ "$F_SIZE" -lt "$S_OFF" ] && return 0
  if [ "$S_FP_FILE" = "$S_FILE" ] && [ "$S_FP_LEN" -gt 0 ]; then
    [ "$F_SIZE" -lt "$S_FP_LEN" ] && return 0
    head_sum "$1" "$S_FP_LEN"
    [ "$HEAD_SUM" = "$S_FP" ] || return 0
  fi
  if [ "$S_TAIL_FILE" = "$S_FILE" ] && [ "$S_TAIL_OFF" = "$S_OFF" ] && [ "$S_TAIL_LEN" -gt 0 ]; then
    range_sum "$1" "$S_FILE" $((S_OFF - S_TAIL_LEN)) "$S_TAIL_LEN" || return 0
    [ "$RANGE_SUM" = "$S_TAIL" ] || return 0
  fi
  return 1
}

# find_copy: a file of the log directory that starts with the tracked file's first bytes and holds
# the same bytes just before the checkpoint (what logrotate's copytruncate left). COPY_ID, COPY_PATH.
find_copy() {
  COPY_ID=
  COPY_PATH=
  [ "$S_FP_FILE" = "$S_FILE" ] && [ "$S_FP_LEN" -gt 0 ] || return 1
  for fc_f in "$LOGDIR"/* "$LOGDIR"/.[!.]*; do
    [ -f "$fc_f" ] || continue
    fstat "$fc_f" || continue
    if [ "$F_ID" = "$S_FILE" ] || [ "$F_SIZE" -lt "$S_OFF" ] || [ "$F_SIZE" -lt "$S_FP_LEN" ]; then continue; fi
    head_sum "$fc_f" "$S_FP_LEN"
    [ "$HEAD_SUM" = "$S_FP" ] || continue
    if [ "$S_TAIL_FILE" = "$S_FILE" ] && [ "$S_TAIL_OFF" = "$S_OFF" ] && [ "$S_TAIL_LEN" -gt 0 ]; then
      range_sum "$fc_f" "$F_ID" $((S_OFF - S_TAIL_LEN)) "$S_TAIL_LEN" || continue
      [ "$RANGE_SUM" = "$S_TAIL" ] || continue
    fi
    COPY_ID=$F_ID
    COPY_PATH=$fc_f
    return 0
  done
  return 1
}

# ---------------------------------------------------------------- what was unread

ur_clear() {
  S_UR_FILE=
  S_UR_PATH=
  S_UR_OFF=0
  S_UR_SIZE=0
  S_UR_LEN=0
  S_UR_CK=
  S_UR_RECS=0
}

# describe_unread: at the end of a run, the complete lines of the tracked file not yet settled
# ([OFFSET, last line end)): length, cksum, record count, and its last line (the anchor, kept raw
# in STATE_DIR/unread.anchor). A rewrite or removal found by the next run is a loss only of what
# this range held and neither a copy nor the rewritten file still holds.
describe_unread() {
  [ -n "$S_FILE" ] && [ -n "$CUR_PATH" ] || return 0
  fstat "$CUR_PATH" && [ "$F_ID" = "$S_FILE" ] || return 0
  du_size=$F_SIZE
  if [ "$du_size" -le "$S_OFF" ]; then ur_clear; state_save; return 0; fi
  [ "$S_UR_FILE" = "$S_FILE" ] && [ "$S_UR_OFF" = "$S_OFF" ] && [ "$S_UR_SIZE" = "$du_size" ] && return 0
  du_t=$TMPD/unread
  read_chunk "$CUR_PATH" "$S_FILE" "$S_OFF" $((du_size - S_OFF)) "$du_t" || return 0
  du_n=$(( $(wc -c < "$du_t") ))
  if [ "$du_n" -gt 0 ] && ! last_byte_is_lf "$du_t"; then
    du_n=$((du_n - $(tail -n 1 "$du_t" | wc -c) ))
  fi
  ur_clear
  if [ "$du_n" -gt 0 ]; then
    du_ck=$(head -c "$du_n" "$du_t" | cksum)
    S_UR_RECS=$(head -c "$du_n" "$du_t" | grep -a -c -e "^CA[12]${TAB}R${TAB}" -e '^\[[0-9]')
    is_uint "$S_UR_RECS" || S_UR_RECS=0
    if head -c "$du_n" "$du_t" | tail -n 1 > "$STATE_DIR/unread.anchor.tmp" && mv -f "$STATE_DIR/unread.anchor.tmp" "$STATE_DIR/unread.anchor"; then
      S_UR_FILE=$S_FILE
      S_UR_PATH=$CUR_PATH
      S_UR_OFF=$S_OFF
      S_UR_LEN=$du_n
      S_UR_CK=${du_ck%% *}
    fi
  fi
  S_UR_SIZE=$du_size
  [ -n "$S_UR_FILE" ] || { S_UR_FILE=$S_FILE; S_UR_OFF=$S_OFF; }
  rm -f "$du_t"
  state_save
}

# anchor_in PATH ID: does PATH (the file ID) still hold the unread range? Its last line (the anchor)
# at a line start, and the range's length ending after it with the same cksum (bash trimmed the
# file and kept its end).
anchor_in() {
  ai_a=$STATE_DIR/unread.anchor
  [ -f "$ai_a" ] || return 1
  ai_al=$(( $(wc -c < "$ai_a") ))
  [ "$ai_al" -gt 0 ] || return 1
  grep -a -b -x -F -f "$ai_a" -- "$1" 2>/dev/null | cut -d: -f1 | tail -n 100 > "$TMPD/anchors"
  while IFS= read -r ai_o; do
    is_uint "$ai_o" || continue
    ai_from=$((ai_o + ai_al - S_UR_LEN))
    [ "$ai_from" -ge 0 ] || continue
    range_sum "$1" "$2" "$ai_from" "$S_UR_LEN" && [ "$RANGE_SUM" = "$S_UR_CK" ] && return 0
  done < "$TMPD/anchors"
  return 1
}

# ---------------------------------------------------------------- dead letters are losses

# dl_count BODY: DL_NEW is how many of the records the answer rejected lie in the settled part of
# BODY (CONSUMED bytes; those beyond it are sent again and counted then), DL_NEW_GIVEN how many of
# them were unfinished multi-part records given up ("record parts missing"), DL_NEW_FIRST and
# DL_NEW_LAST the offsets in BODY of the first and last of them.
dl_count() {
  dc_l=$(( $(head -c "$CONSUMED" "$1" | wc -l) ))
  dc_v=$(printf '%s\n' "$ANSWER" | tr '{' '\n' | awk -v max="$dc_l" '
    /^"line":[0-9]+,/ {
      n = substr($0, 8) + 0
      if (n >= 1 && n <= max) {
        c++
        if (index($0, "record parts missing")) g++
        if (lo == 0 || n < lo) lo = n
        if (n > hi) hi = n
      }
    }
    END { printf "%d %d %d %d", c, g, lo, hi }')
  DL_NEW=${dc_v%% *}
  dc_v=${dc_v#* }
  DL_NEW_GIVEN=${dc_v%% *}
  dc_v=${dc_v#* }
  dc_lo=${dc_v%% *}
  dc_hi=${dc_v#* }
  DL_NEW_FIRST=0
  DL_NEW_LAST=0
  if ! { is_uint "$DL_NEW" && is_uint "$DL_NEW_GIVEN" && is_uint "$dc_lo" && is_uint "$dc_hi"; }; then DL_NEW=0; DL_NEW_GIVEN=0; return 0; fi
  [ "$DL_NEW" -gt 0 ] || return 0
  DL_NEW_FIRST=$(( $(head -n $((dc_lo - 1)) "$1" | wc -c) ))
  DL_NEW_LAST=$(( $(head -n $((dc_hi - 1)) "$1" | wc -c) ))
}

# dl_add PATH ID: add DL_NEW dead-lettered records of PATH (the file ID; the body was sent from
# S_OFF) to this run's count for that file (kept in the state with the checkpoint).
dl_add() {
  [ "$DL_NEW" -gt 0 ] || return 0
  [ -n "$S_DL_FILE" ] && [ "$S_DL_FILE" != "$2" ] && dl_flush
  if [ -z "$S_DL_FILE" ]; then
    S_DL_FILE=$2
    S_DL_PATH=$1
    S_DL_FROM=$((S_OFF + DL_NEW_FIRST))
    S_DL_N=0
    S_DL_GIVEN=0
    S_DL_KEY=dl.$(printf '%s' "$2" | tr / _).$S_DL_FROM.$(date +%s)
  fi
  S_DL_N=$((S_DL_N + DL_NEW))
  S_DL_GIVEN=$((S_DL_GIVEN + DL_NEW_GIVEN))
  S_DL_TO=$((S_OFF + DL_NEW_LAST))
}

# dl_flush: this run's dead-lettered records of one file become one pending loss record.
dl_flush() {
  if [ -n "$S_DL_FILE" ] && [ -n "$S_DL_KEY" ] && [ "$S_DL_N" -gt 0 ]; then
    df_rej=$((S_DL_N - S_DL_GIVEN))
    df_why=
    [ "$S_DL_GIVEN" -gt 0 ] && df_why="$S_DL_GIVEN unfinished multi-part (parts missing, given up)"
    [ "$df_rej" -gt 0 ] && df_why="${df_why:+$df_why, }$df_rej rejected by the server"
    df_at="offsets $S_DL_FROM-$S_DL_TO"
    [ "$S_DL_FROM" = "$S_DL_TO" ] && df_at="offset $S_DL_FROM"
    new_loss "$S_DL_KEY" "cmdaudit reporter: $S_DL_N record(s) of $S_DL_PATH at $df_at were not stored: $df_why; kept in $DEADDIR"
  fi
  [ -n "$S_DL_FILE" ] || return 0
  S_DL_KEY=
  S_DL_FILE=
  S_DL_PATH=
  S_DL_N=0
  S_DL_GIVEN=0
  S_DL_FROM=0
  S_DL_TO=0
  state_save
}

# end_run: at the end of every run that built its queue, also one cut short: the run's dead letters
# become loss records, and what is unread is described.
end_run() {
  [ "$END_BUSY" = 0 ] || return 0
  END_BUSY=1
  dl_flush
  describe_unread
  END_BUSY=0
}

last_byte_is_lf() {
  [ "$(( $(tail -c 1 "$1" | od -An -tu1) ))" = 10 ]
}

# qoff: QOFF is the host's UTC offset for the query string (%2B, %3A).
qoff() {
  QOFF=$(utc_offset)
  case $QOFF in +*) QOFF=%2B${QOFF#+} ;; esac
  QOFF=${QOFF%%:*}%3A${QOFF#*:}
}

utc_offset() {
  uo=$(date +%z)
  case $uo in
    [+-][0-9][0-9][0-9][0-9]) ;;
    *) uo=+0000 ;;
  esac
  printf '%s:%s' "${uo%??}" "${uo#???}"
}

# create_log PATH: an empty audit log, root-owned, mode 0622 (append-only when the
# file system allows it); made aside and moved into place.
new_log_aside() {
  nl_tmp=$LOGDIR/.${LOG##*/}.new.$$
  rm -f "$nl_tmp"
  : > "$nl_tmp" || return 1
  chown 0:0 "$nl_tmp" 2>/dev/null
  chmod 0622 "$nl_tmp" || { rm -f "$nl_tmp"; return 1; }
  printf '%s' "$nl_tmp"
}

ensure_log() {
  [ -e "$LOG" ] && return 0
  [ -d "$LOGDIR" ] || die 1 "log directory $LOGDIR does not exist"
  el=$(new_log_aside) || die 1 "cannot create $LOG"
  # ln does not replace an existing file: a log made meanwhile wins.
  ln "$el" "$LOG" 2>/dev/null
  rm -f "$el"
  chattr +a "$LOG" >/dev/null 2>&1
  return 0
}

# seal_rotated PATH: a file this reporter rotated is root's alone (0600) and append-only
# (where the file system has the flag), so no user can rewrite or truncate it while it waits
# for the server. chmod fails on an append-only file: the flag is cleared first.
seal_rotated() {
  chattr -a "$1" >/dev/null 2>&1
  chmod 0600 "$1" || say "cannot make $1 mode 0600"
  chattr +a "$1" >/dev/null 2>&1
  return 0
}

# rm_rotated PATH: delete a file this reporter rotated (an append-only file cannot be removed).
# Never the live log's flag: after a run killed between the hard link and the rename, its inode
# has a rotated name too (that name then stays, as before).
rm_rotated() {
  if [ "$(stat -c %d/%i -- "$1" 2>/dev/null)" != "$(stat -c %d/%i -- "$LOG" 2>/dev/null)" ]; then
    chattr -a "$1" >/dev/null 2>&1
  fi
  rm -f "$1"
}

# rotate: LOG -> LOG.<epoch>.<inode>, a new empty LOG in its place with no
# moment without a LOG (hard link, then rename over it); the rotated file sealed at once.
rotate_live() {
  fstat "$LOG" || return 0
  [ "$F_SIZE" -ge "$ROTATE_BYTES" ] || return 0
  rl_ino=${F_ID#*/}
  # Rotated files are read oldest first by the <epoch> in their name: two rotations in one
  # second must not leave the order to the inode numbers, so the epoch only ever grows.
  rl_e=$(date +%s)
  rl_last=$(list_rotated | tail -n 1)
  rl_last=${rl_last#"$LOG".}
  rl_last=${rl_last%%.*}
  case $rl_last in ''|*[!0-9]*) ;; *) [ "$rl_e" -gt "$rl_last" ] || rl_e=$((rl_last + 1)) ;; esac
  rl_to=$LOG.$rl_e.$rl_ino
  rl_new=$(new_log_aside) || die 1 "cannot create a new $LOG"
  chattr -a "$LOG" >/dev/null 2>&1
  if ln "$LOG" "$rl_to" 2>/dev/null; then
    mv -f "$rl_new" "$LOG" || { rm -f "$rl_new" "$rl_to"; chattr +a "$LOG" >/dev/null 2>&1; die 1 "cannot rotate $LOG"; }
    seal_rotated "$rl_to"
  else
    mv "$LOG" "$rl_to" || { rm -f "$rl_new"; chattr +a "$LOG" >/dev/null 2>&1; die 1 "cannot rotate $LOG"; }
    ln "$rl_new" "$LOG" 2>/dev/null
    rm -f "$rl_new"
    seal_rotated "$rl_to"
  fi
  chattr +a "$LOG" >/dev/null 2>&1
  return 0
}

# list_rotated: the files this reporter rotated (LOG.<digits>.<digits>), oldest first.
list_rotated() {
  for lr_f in "$LOG".*; do
    [ -f "$lr_f" ] || continue
    lr_n=${lr_f#"$LOG".}
    case $lr_n in *.*) ;; *) continue ;; esac
    lr_e=${lr_n%%.*}
    lr_i=${lr_n#*.}
    case $lr_e in ''|*[!0-9]*) continue ;; esac
    case $lr_i in ''|*[!0-9]*) continue ;; esac
    printf '%s %s %s\n' "$lr_e" "$lr_i" "$lr_f"
  done | sort -n -k1,1 -k2,2 | cut -d' ' -f3-
}

# find_by_id ID: a file of the log directory that is the file ID (someone else's rotation).
find_by_id() {
  for fb_f in "$LOGDIR"/* "$LOGDIR"/.[!.]*; do
    [ -f "$fb_f" ] || continue
    [ "$(stat -c '%d/%i' -- "$fb_f" 2>/dev/null)" = "$1" ] && { printf '%s' "$fb_f"; return 0; }
  done
  return 1
}

# ---------------------------------------------------------------- loss records

escape_text() {
  printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/$TAB/\\\\t/g" -e "s/$CR/\\\\r/g" | awk 'NR > 1 { printf "%s", "\\n" } { printf "%s", $0 }'
}

# new_loss KEY TEXT: a pending loss record (sent before any data, at the next contact).
new_loss() {
  # The same loss found again (a run killed before it finished dropping a file): keep the
  # pending record as it is, with its time and maybe its seq.
  for nlo_o in "$LOSSDIR"/*."$1"; do
    [ -f "$nlo_o" ] && return 0
  done
  nlo_f=$LOSSDIR/$(date +%s).$1
  nlo_ct=$(date +%Y-%m-%dT%H:%M:%S)$(utc_offset)
  {
    printf 'ctime=%s\n' "$nlo_ct"
    printf 'text=%s\n' "$(printf '%s' "$2" | tr '\n' ' ')"
  } > "$nlo_f.tmp" || die 1 "cannot write $nlo_f"
  mv -f "$nlo_f.tmp" "$nlo_f" || die 1 "cannot write $nlo_f"
}

# ---------------------------------------------------------------- HTTP

write_curl_conf() {
  CURLCONF=$TMPD/curl.conf
  # umask 077: the file is 0600 from the start. curl reads the token from here, never from argv.
  printf 'header = "AccessToken: %s"\nuser-agent = "cmdaudit-reporter-sh"\n' "$TOKEN" > "$CURLCONF" || die 1 "cannot write $CURLCONF"
}

# curl_caps: CURL_FRAC=1 when curl takes --max-time in fractions of a second (7.32 and
# later; older ones read whole seconds only). MIN_LEFT: the least time left (ms) a request may start with.
curl_caps() {
  CURL_FRAC=0
  MIN_LEFT=1000
  cc_v=$(curl --version 2>/dev/null | head -n 1)
  cc_v=${cc_v#curl }
  cc_v=${cc_v%% *}
  cc_maj=${cc_v%%.*}
  cc_min=${cc_v#*.}
  cc_min=${cc_min%%.*}
  is_uint "$cc_maj" && is_uint "$cc_min" || return 0
  if [ "$cc_maj" -gt 7 ] || { [ "$cc_maj" -eq 7 ] && [ "$cc_min" -ge 32 ]; }; then
    CURL_FRAC=1
    MIN_LEFT=100
  fi
}

# post_once BODY FINAL [GIVEUP]: one POST; sets HTTP (000 when there was no answer) and ANSWER (the body).
# GIVEUP=1: the unfinished record at the body's first byte has waited UNFINISHED_SECONDS (&giveUp=1).
# The request ends by DEADLINE, connect and read included: curl's --max-time and --connect-timeout
# are TIMEOUT or the time left, whichever is less (PO_CUT=1: the time left). With less than
# MIN_LEFT ms left it does not start (HTTP 000, PO_CUT=1).
post_once() {
  po_body=$1
  po_url="$URL/api/v1/ingest/raw?utcOffset=$QOFF"
  [ "$2" = 1 ] && po_url="$po_url&final=1"
  [ "${3:-0}" = 1 ] && po_url="$po_url&giveUp=1"
  set -- curl -s -S -K "$CURLCONF" -X POST -H 'Expect:' -H 'Content-Type: application/octet-stream' -w '\n%{http_code}'
  if [ "$GZIP" = 1 ]; then
    gzip -c -n < "$po_body" > "$TMPD/body.gz" || die 1 "gzip failed"
    set -- "$@" -H 'Content-Encoding: gzip' --data-binary "@$TMPD/body.gz"
  else
    set -- "$@" --data-binary "@$po_body"
  fi
  [ -n "$CA_FILE" ] && set -- "$@" --cacert "$CA_FILE"
  now
  po_left=$((DEADLINE - NOW))
  if [ "$po_left" -lt "$MIN_LEFT" ]; then
    HTTP=000
    ANSWER=
    PO_CUT=1
    echo "the run's budget (BUDGET=$BUDGET s) ended before the request could start" > "$TMPD/curl.err"
    return 0
  fi
  if [ "$po_left" -ge $((TIMEOUT * 1000)) ]; then
    po_mt=$TIMEOUT
    PO_CUT=0
  else
    PO_CUT=1
    [ "$po_left" -lt 1 ] && po_left=1
    po_mt=$((po_left / 1000))
    if [ "$CURL_FRAC" = 1 ]; then
      po_ms=$((po_left % 1000))
      case $po_ms in ?) po_ms=00$po_ms ;; ??) po_ms=0$po_ms ;; esac
      po_mt=$po_mt.$po_ms
    fi
  fi
  set -- "$@" --max-time "$po_mt" --connect-timeout "$po_mt"
  # The answer and, on its own last line, the status: one fork, no files to parse.
  # curl must not hold the lock descriptor: a kill -9 of this script then frees the lock at
  # once. (bash runs a command substitution with redirections in a subshell of its own: the
  # descriptor is closed there, and curl replaces that subshell.)
  ANSWER=$(exec 9>&- 2>"$TMPD/curl.err" </dev/null; exec "$@" "$po_url")
  HTTP=${ANSWER##*"$NL"}
  case $ANSWER in *"$NL"*) ANSWER=${ANSWER%"$NL"*} ;; *) ANSWER= ;; esac
  case $HTTP in [0-9][0-9][0-9]) ;; *) HTTP=000 ;; esac
  [ "$HTTP" = 000 ] && ANSWER=
}

# server_msg: the "msg" of the server's answer (at most 200 bytes).
server_msg() {
  case $ANSWER in
    '{"code":'*',"msg":"'*) sm=${ANSWER#*,\"msg\":\"}; sm=${sm%%\"*} ;;
    *) sm= ;;
  esac
  printf '%.200s' "$sm"
}

# send BODY FINAL [GIVEUP]: POST until the server answers 200 with a parsable answer, with
# exponential backoff and jitter inside the run's budget. Sets CONSUMED, REJECTED.
# Returns 1 when the budget ran out before the first attempt or in the middle of a request,
# after the server had answered others in this run (progress is saved: exit 0); exits 3
# (no answer in the whole budget, or retries cut by its end) or 4.
send() {
  sd_try=0
  while :; do
    now
    # No request starts at or past the deadline (nor with less than MIN_LEFT ms of it left).
    if [ $((DEADLINE - NOW)) -lt "$MIN_LEFT" ]; then
      [ "$sd_try" -eq 0 ] && [ "$ANSWERED" = 1 ] && return 1
      [ "$sd_try" -eq 0 ] && die 3 "server unreachable: no answer within the run's budget (BUDGET=$BUDGET s; resumes next run)"
      die 3 "server unreachable: $SD_ERR (gave up at the end of the run's budget; resumes next run)"
    fi
    post_once "$1" "$2" "${3:-0}"
    case $HTTP in
      200)
        # `consumed` is the answer's last key: take the number before the final brace.
        CONSUMED=${ANSWER%\}}
        CONSUMED=${CONSUMED##*\"consumed\":}
        case $ANSWER in
          '{"code":0,'*'"consumed":'*'}')
            if is_uint "$CONSUMED"; then
              case $ANSWER in '{"code":0,"msg":"ok",'*) REJECTED=0 ;; *) REJECTED=1 ;; esac
              ANSWERED=1
              return 0
            fi
            ;;
        esac
        SD_ERR="HTTP 200 without a cmdaudit answer"
        ;;
      000) SD_ERR="no answer ($(tr '\n' ' ' < "$TMPD/curl.err" | head -c 200))" ;;
      413) SD_ERR="HTTP 413 $(server_msg)"; return 2 ;;
      408|429|5[0-9][0-9]) SD_ERR="HTTP $HTTP $(server_msg)" ;;
      4[0-9][0-9]) die 4 "server refused: HTTP $HTTP $(server_msg)" ;;
      *) SD_ERR="HTTP $HTTP $(server_msg)" ;;
    esac
    sd_try=$((sd_try + 1))
    sd_exp=$sd_try
    [ "$sd_exp" -gt 6 ] && sd_exp=6
    sd_base=$(( 250 * (1 << sd_exp) ))
    sd_rand=$(( $(od -An -N2 -tu2 /dev/urandom) ))
    sd_delay=$(( sd_base / 2 + sd_rand % (sd_base / 2 + 1) ))
    now
    if [ $((NOW + sd_delay)) -ge "$DEADLINE" ]; then
      # Cut by the deadline after the server had answered in this run: the budget ran out, not the server.
      [ "$HTTP" = 000 ] && [ "$PO_CUT" = 1 ] && [ "$ANSWERED" = 1 ] && return 1
      die 3 "server unreachable: $SD_ERR (gave up at the end of the run's budget; resumes next run)"
    fi
    sleep "$((sd_delay / 1000)).$(printf '%03d' $((sd_delay % 1000)))" 9>&-
  done
}

# dead_letter NAME BODY: keep a body the server rejected lines of, with its answer.
dead_letter() {
  dl=$DEADDIR/$1
  if ! { cp "$2" "$dl.body.tmp" && printf '%s\n' "$ANSWER" > "$dl.answer.tmp" && mv -f "$dl.body.tmp" "$dl.body" && mv -f "$dl.answer.tmp" "$dl.answer"; }; then
    die 1 "cannot write dead letter $dl"
  fi
  chmod 0600 "$dl.body" "$dl.answer"
}

send_losses() {
  for sl_f in "$LOSSDIR"/*; do
    [ -f "$sl_f" ] || continue
    case $sl_f in *.tmp) continue ;; esac
    sl_ct=$(sed -n 's/^ctime=//p' "$sl_f")
    sl_text=$(sed -n 's/^text=//p' "$sl_f")
    sl_seq=$(sed -n 's/^seq=//p' "$sl_f")
    if ! is_uint "$sl_seq"; then
      # The seq is fixed before the first attempt: a resend after a crash is the same record.
      sl_seq=$S_LOSS_SEQ
      { grep -v '^seq=' "$sl_f"; printf 'seq=%s\n' "$sl_seq"; } > "$sl_f.tmp" || die 1 "cannot write $sl_f"
      mv -f "$sl_f.tmp" "$sl_f" || die 1 "cannot write $sl_f"
    fi
    sl_esc=$(escape_text "$sl_text")
    sl_len=$(( $(printf '%s' "$sl_esc" | wc -c) ))
    printf 'CA1\tR\t%s\t%s\tloss\t%s\t%s\t\troot\troot\t\t\t/\t\t1\t%s\t%s\n' \
      "$S_ID" "$sl_seq" "$sl_ct" "$(escape_text "$HOST")" "$sl_len" "$sl_esc" > "$TMPD/loss.body"
    send "$TMPD/loss.body" 1
    case $? in
      1) return 1 ;;
      2) die 4 "server refused a loss record: $SD_ERR" ;;
    esac
    [ "$REJECTED" = 1 ] && dead_letter "loss.${sl_f##*/}" "$TMPD/loss.body"
    [ $((sl_seq + 1)) -gt "$S_LOSS_SEQ" ] && S_LOSS_SEQ=$((sl_seq + 1))
    S_LAST_OK=$((NOW / 1000))
    state_save
    rm -f "$sl_f"
  done
  return 0
}

# ---------------------------------------------------------------- draining

# drain PATH ID KIND: send PATH (the file ID) from S_OFF on. KIND is live, rotated
# (ours: deleted when done) or foreign (someone else's rotation: kept).
# Returns 0 when a rotated file is finished (its end acknowledged with final=1),
# 1 when the run should stop here (live file caught up, partial record waiting,
# rotated file still inside ROTATE_GRACE, file gone), 2 when the file is stuck (STUCK says why).
drain() {
  dr_path=$1
  dr_id=$2
  dr_kind=$3
  dr_batch=$BATCH_BYTES
  [ "$CEIL" -gt 0 ] && [ "$dr_batch" -gt "$CEIL" ] && dr_batch=$CEIL
  dr_giveup=0
  while :; do
    fstat "$dr_path" && [ "$F_ID" = "$dr_id" ] || return 1
    dr_size=$F_SIZE
    dr_mtime=$F_MTIME
    dr_final=0
    if [ "$dr_kind" != live ] && [ $(( $(date +%s) - dr_mtime )) -ge "$ROTATE_GRACE" ]; then dr_final=1; fi
    if [ "$S_OFF" -ge "$dr_size" ]; then
      # Everything up to the end is settled; a rotated file still ends with a final=1 request
      # (an empty one when the end was reached before), so nothing is held back for good.
      [ "$dr_kind" = live ] && return 1
      [ "$dr_final" = 1 ] && [ "$S_OFF" -eq "$dr_size" ] && return 0
      return 1
    fi
    dr_n=$((dr_size - S_OFF))
    [ "$dr_n" -gt "$dr_batch" ] && dr_n=$dr_batch
    dr_body=$TMPD/body
    read_chunk "$dr_path" "$dr_id" "$S_OFF" "$dr_n" "$dr_body" || return 1
    dr_got=$(( $(wc -c < "$dr_body") ))
    [ "$dr_got" -eq "$dr_n" ] || return 1
    # At most MAX_LINES lines: the server takes at most that many records a request.
    dr_lines=$(( $(wc -l < "$dr_body") ))
    dr_cut=0
    if [ "$dr_lines" -gt "$MAX_LINES" ]; then
      { head -n "$MAX_LINES" "$dr_body" > "$dr_body.l" && mv -f "$dr_body.l" "$dr_body"; } || die 1 "cannot write $dr_body"
      dr_n=$(( $(wc -c < "$dr_body") ))
      dr_lines=$MAX_LINES
      dr_cut=1
    fi
    dr_end=$((S_OFF + dr_n))
    dr_isfinal=0
    if [ "$dr_final" = 1 ] && [ "$dr_end" -eq "$dr_size" ]; then
      dr_isfinal=1
      # The last line of a file that will not grow has no LF: end it, so it is settled (as a
      # damaged or foreign line) instead of held back forever.
      last_byte_is_lf "$dr_body" || printf '\n' >> "$dr_body"
    fi
    send "$dr_body" "$dr_isfinal" "$dr_giveup"
    case $? in
      1) return 1 ;;
      2)
        [ "$dr_n" -le 4096 ] && die 4 "server refused: $SD_ERR"
        # 413 halves the body and makes that the ceiling of every body of this run: 413 and
        # growth never alternate.
        dr_batch=$((dr_n / 2))
        if [ "$CEIL" -eq 0 ] || [ "$dr_batch" -lt "$CEIL" ]; then CEIL=$dr_batch; fi
        continue
        ;;
    esac
    [ "$CONSUMED" -gt "$dr_n" ] && CONSUMED=$dr_n
    if [ "$REJECTED" = 1 ]; then
      dr_ck=$(cksum < "$dr_body")
      dead_letter "${dr_id%%/*}_${dr_id#*/}.$S_OFF.${dr_ck%% *}" "$dr_body"
      # Dead letters are losses too: counted with the checkpoint, in one loss record per file and run.
      dl_count "$dr_body"
      dl_add "$dr_path" "$dr_id"
    fi
    S_OFF=$((S_OFF + CONSUMED))
    S_LAST_OK=$((NOW / 1000))
    S_LAST_ERR=
    if [ "$CONSUMED" -gt 0 ]; then
      tail_fp "$dr_path"
      [ "$S_WAIT_FILE" = "$dr_id" ] && S_WAIT_FILE=
    fi
    state_save
    if [ "$CONSUMED" -eq 0 ]; then
      dr_ans=$(printf '%s' "$ANSWER" | tr '\n\r' '  ' | head -c 300)
      if [ "$dr_giveup" = 1 ] || [ "$dr_isfinal" = 1 ]; then
        STUCK="the server answers but settled nothing of a $dr_n-byte body at offset $S_OFF of $dr_path sent with $( [ "$dr_giveup" = 1 ] && echo giveUp=1 || echo final=1 ) (answer: $dr_ans)"
        return 2
      fi
      if [ "$dr_end" -lt "$dr_size" ] && has_lf "$dr_path" "$dr_id" "$dr_end" $((dr_size - dr_end)); then
        # Complete lines beyond the body: a record needs more of them. Grow within the limits.
        dr_lim=$MAX_BATCH
        [ "$CEIL" -gt 0 ] && [ "$CEIL" -lt "$dr_lim" ] && dr_lim=$CEIL
        if [ "$dr_cut" = 0 ] && [ "$dr_batch" -lt "$dr_lim" ]; then
          dr_batch=$((dr_batch * 2))
          [ "$dr_batch" -gt "$dr_lim" ] && dr_batch=$dr_lim
          continue
        fi
        STUCK="the server answers but settled nothing of a $dr_n-byte body at offset $S_OFF of $dr_path, the largest this run may send (at most $MAX_LINES lines and $dr_lim bytes) (answer: $dr_ans)"
        return 2
      fi
      # Nothing complete beyond the body. A partial last line waits for its end; a rotated file
      # is finished with final=1 after ROTATE_GRACE.
      [ "$dr_lines" -eq 0 ] && return 1
      [ "$dr_kind" = live ] || return 1
      # An unfinished record at the end of the live log: its parts may still come. Wait
      # UNFINISHED_SECONDS at this offset (a clock set back restarts the wait), then give it up.
      dr_now=$(date +%s)
      if [ "$S_WAIT_FILE" != "$dr_id" ] || [ "$S_WAIT_OFF" != "$S_OFF" ] || [ "$S_WAIT_SINCE" -gt "$dr_now" ]; then
        S_WAIT_FILE=$dr_id
        S_WAIT_OFF=$S_OFF
        S_WAIT_SINCE=$dr_now
        state_save
      fi
      if [ $((dr_now - S_WAIT_SINCE)) -ge "$UNFINISHED_SECONDS" ]; then
        dr_giveup=1
        continue
      fi
      return 1
    fi
    dr_giveup=0
    # The end of the data was sent and a rest is held back (a partial line or record): wait.
    [ "$dr_end" -ge "$dr_size" ] && [ "$CONSUMED" -lt "$dr_n" ] && [ "$dr_isfinal" = 0 ] && return 1
    dr_batch=$BATCH_BYTES
    [ "$CEIL" -gt 0 ] && [ "$dr_batch" -gt "$CEIL" ] && dr_batch=$CEIL
  done
}

# ---------------------------------------------------------------- run

# The files to send, oldest first, as "KIND ID PATH" lines in $TMPD/queue; drops
# the oldest of our rotated files while the unsent bytes are over MAX_RETAINED_BYTES.
build_queue() {
  bq=$TMPD/queue
  : > "$bq"
  list_rotated > "$TMPD/rotated"
  bq_live=
  fstat "$LOG" && bq_live=$F_ID
  bq_found=0
  [ -n "$S_FILE" ] && [ "$S_FILE" = "$bq_live" ] && bq_found=1
  while IFS= read -r bq_f; do
    fstat "$bq_f" || continue
    # Rotated by an older version, or a run killed between the rename and the seal. (Never the
    # live log: a run killed between the hard link and the rename left it under this name too.)
    if [ "$F_ID" != "$bq_live" ] && [ "$(stat -c %a -- "$bq_f" 2>/dev/null)" != 600 ]; then seal_rotated "$bq_f"; fi
    if [ -n "$S_FILE" ] && [ "$F_ID" = "$S_FILE" ]; then bq_found=1; fi
    printf 'rotated %s %s\n' "$F_ID" "$bq_f" >> "$bq"
  done < "$TMPD/rotated"
  if [ -n "$S_FILE" ] && [ "$bq_found" = 0 ]; then
    if bq_p=$(find_by_id "$S_FILE"); then
      { printf 'foreign %s %s\n' "$S_FILE" "$bq_p"; cat "$bq"; } > "$bq.tmp" && mv -f "$bq.tmp" "$bq"
    else
      # Removed by another tool: lost is what was unread at the end of the last run (what was
      # written after it nobody saw, and nobody can count).
      if [ "$S_UR_FILE" = "$S_FILE" ] && [ "$S_UR_LEN" -gt 0 ]; then
        new_loss "gone.$(printf '%s' "$S_FILE" | tr / _).$S_UR_OFF" "cmdaudit reporter: $S_UR_RECS record(s) ($S_UR_LEN bytes) of $S_UR_PATH at offset $S_UR_OFF were not sent before the file was removed (rotated away and deleted or compressed by another tool)"
      fi
      ur_clear
      S_FILE=
      S_OFF=0
    fi
  fi
  [ -n "$bq_live" ] && printf 'live %s %s\n' "$bq_live" "$LOG" >> "$bq"
  # Rotated files before the tracked one were finished (deleted after the state was saved).
  if [ -n "$S_FILE" ]; then
    : > "$bq.tmp"
    bq_seen=0
    while IFS= read -r bq_l; do
      bq_k=${bq_l%% *}
      bq_r=${bq_l#* }
      bq_i=${bq_r%% *}
      if [ "$bq_seen" = 0 ] && [ "$bq_i" != "$S_FILE" ]; then
        [ "$bq_k" = rotated ] && rm_rotated "${bq_r#* }"
        continue
      fi
      bq_seen=1
      printf '%s\n' "$bq_l" >> "$bq.tmp"
    done < "$bq"
    mv -f "$bq.tmp" "$bq"
  fi
  # The path of the tracked file in this run (its checkpoint's file is first in the queue).
  CUR_PATH=
  if [ -n "$S_FILE" ] && IFS= read -r bq_l < "$bq"; then
    bq_k=${bq_l%% *}
    bq_r=${bq_l#* }
    bq_i=${bq_r%% *}
    bq_p=${bq_r#* }
    [ "$bq_i" = "$S_FILE" ] && CUR_PATH=$bq_p
  fi
  # Rewritten in place (copytruncate, `: > log`, bash trimming a HISTFILE, an editor): shorter than
  # the checkpoint, other first bytes or other bytes just before the checkpoint. Read it again from
  # 0 (the server stores each record once); the rest of the old content from logrotate's copy.
  bq_ur=0
  [ "$S_UR_FILE" = "$S_FILE" ] && [ "$S_UR_LEN" -gt 0 ] && bq_ur=1
  if [ -n "$CUR_PATH" ] && { [ "$S_OFF" -gt 0 ] || [ "$bq_ur" = 1 ]; } && rewritten "$CUR_PATH"; then
    bq_rec=0
    if [ "$bq_k" = live ] && find_copy; then
      { printf 'foreign %s %s\n' "$COPY_ID" "$COPY_PATH"; cat "$bq"; } > "$bq.tmp" && mv -f "$bq.tmp" "$bq"
      if [ "$bq_ur" = 1 ] && range_sum "$COPY_PATH" "$COPY_ID" "$S_UR_OFF" "$S_UR_LEN" && [ "$RANGE_SUM" = "$S_UR_CK" ]; then bq_rec=1; fi
      S_FILE=$COPY_ID
      S_FP_FILE=$COPY_ID
      S_TAIL_FILE=$COPY_ID
      CUR_PATH=$COPY_PATH
    else
      S_OFF=0
      S_FP_FILE=
      S_TAIL_FILE=
    fi
    if [ "$bq_ur" = 1 ] && [ "$bq_rec" = 0 ] && anchor_in "$bq_p" "$bq_i"; then bq_rec=1; fi
    if [ "$bq_ur" = 1 ] && [ "$bq_rec" = 0 ]; then
      new_loss "rewritten.$(printf '%s' "$bq_i" | tr / _).$S_UR_OFF.$S_UR_CK" "cmdaudit reporter: $S_UR_RECS record(s) ($S_UR_LEN bytes) of $S_UR_PATH at offset $S_UR_OFF were not sent before the file was rewritten in place and are not in it any more"
    fi
    ur_clear
    state_save
  fi
  # Bounded disk use.
  while :; do
    bq_total=0
    bq_first=1
    while IFS= read -r bq_l; do
      bq_r=${bq_l#* }
      fstat "${bq_r#* }" || continue
      if [ "$bq_first" = 1 ] && [ "$F_ID" = "$S_FILE" ]; then bq_total=$((bq_total + F_SIZE - S_OFF)); else bq_total=$((bq_total + F_SIZE)); fi
      bq_first=0
    done < "$bq"
    [ "$bq_total" -gt "$MAX_RETAINED_BYTES" ] || break
    bq_drop=$(grep '^rotated ' "$bq" | head -n 1)
    [ -n "$bq_drop" ] || break
    bq_r=${bq_drop#* }
    bq_i=${bq_r%% *}
    bq_p=${bq_r#* }
    bq_from=0
    IFS= read -r bq_l < "$bq"
    [ "$bq_l" = "$bq_drop" ] && [ "$bq_i" = "$S_FILE" ] && bq_from=$S_OFF
    fstat "$bq_p" || break
    bq_bytes=$((F_SIZE - bq_from))
    bq_recs=$(tail -c +"$((bq_from + 1))" "$bq_p" | grep -a -c -e "^CA[12]${TAB}R${TAB}" -e '^\[')
    new_loss "drop.${bq_p##*/}" "cmdaudit reporter: dropped $bq_recs record(s) ($bq_bytes bytes) of ${bq_p##*/} (retained log over MAX_RETAINED_BYTES while the server was unreachable)"
    grep -v -x -F -e "$bq_drop" "$bq" > "$bq.tmp"
    mv -f "$bq.tmp" "$bq"
    if [ "$bq_i" = "$S_FILE" ]; then
      S_FILE=
      S_OFF=0
      if IFS= read -r bq_l < "$bq"; then bq_r=${bq_l#* }; S_FILE=${bq_r%% *}; fi
    fi
    S_DROP_REC=$((S_DROP_REC + bq_recs))
    S_DROP_BYTES=$((S_DROP_BYTES + bq_bytes))
    S_DROP_FILES=$((S_DROP_FILES + 1))
    state_save
    rm_rotated "$bq_p"
  done
  state_save
}

cmd_run() {
  now
  DEADLINE=$((NOW + BUDGET * 1000))
  curl_caps
  qoff
  HOST=$(hostname 2>/dev/null || uname -n)
  write_curl_conf
  ensure_log
  rotate_live
  # Dead letters counted by a run that was killed before it ended.
  dl_flush
  build_queue
  RUN_STARTED=1
  send_losses || { end_run; cleanup; exit 0; }
  rq_n=$(( $(wc -l < "$TMPD/queue") ))
  rq_i=1
  while [ "$rq_i" -le "$rq_n" ]; do
    rq_l=$(sed -n "${rq_i}p" "$TMPD/queue")
    rq_k=${rq_l%% *}
    rq_r=${rq_l#* }
    rq_id=${rq_r%% *}
    rq_p=${rq_r#* }
    if [ "$rq_id" != "$S_FILE" ]; then
      S_FILE=$rq_id
      S_OFF=0
      tail_fp "$rq_p"
      state_save
    fi
    CUR_PATH=$rq_p
    # The fingerprint of the file being read, while it is intact: its first 64 bytes.
    if { [ "$S_FP_FILE" != "$S_FILE" ] || [ "$S_FP_LEN" -lt 64 ]; } && fstat "$rq_p" && [ "$F_ID" = "$rq_id" ]; then
      rq_fl=$F_SIZE
      [ "$rq_fl" -gt 64 ] && rq_fl=64
      if [ "$S_FP_FILE" != "$S_FILE" ] || [ "$rq_fl" -gt "$S_FP_LEN" ]; then
        head_sum "$rq_p" "$rq_fl"
        S_FP_FILE=$S_FILE
        S_FP_LEN=$rq_fl
        S_FP=$HEAD_SUM
        state_save
      fi
    fi
    # The fingerprint of the bytes before the checkpoint (a state written by an older version has none).
    if { [ "$S_TAIL_FILE" != "$S_FILE" ] || [ "$S_TAIL_OFF" != "$S_OFF" ]; } && fstat "$rq_p" && [ "$F_ID" = "$rq_id" ] && [ "$F_SIZE" -ge "$S_OFF" ]; then
      tail_fp "$rq_p"
      state_save
    fi
    drain "$rq_p" "$rq_id" "$rq_k"
    rq_rc=$?
    [ "$rq_rc" = 2 ] && break
    [ "$rq_rc" = 0 ] || break
    # Finished (a rotated file, read to its end with final=1): the checkpoint moves to
    # the next file first, then ours is deleted.
    rq_i=$((rq_i + 1))
    rq_l=$(sed -n "${rq_i}p" "$TMPD/queue")
    rq_r=${rq_l#* }
    S_FILE=${rq_r%% *}
    S_OFF=0
    S_TAIL_FILE=$S_FILE
    S_TAIL_OFF=0
    S_TAIL_LEN=0
    S_TAIL=
    CUR_PATH=${rq_r#* }
    state_save
    [ "$rq_k" = rotated ] && rm_rotated "$rq_p"
  done
  end_run
  # The loss records of this run (dead letters) go now, not only at the next contact.
  if send_losses && [ -z "$STUCK" ]; then
    state_save
    cleanup
    exit 0
  fi
  [ -n "$STUCK" ] && die 6 "stuck: $STUCK"
  state_save
  cleanup
  exit 0
}

cmd_status() {
  st_bl=$( { list_rotated; printf '%s\n' "$LOG"; } | {
    st_backlog=0
    st_files=0
    while IFS= read -r st_f; do
      fstat "$st_f" || continue
      st_files=$((st_files + 1))
      if [ "$F_ID" = "$S_FILE" ]; then st_backlog=$((st_backlog + F_SIZE - S_OFF)); else st_backlog=$((st_backlog + F_SIZE)); fi
    done
    echo "$st_backlog $st_files"
  })
  st_backlog=${st_bl% *}
  st_files=${st_bl#* }
  st_dead=0
  for st_f in "$DEADDIR"/*.answer; do [ -f "$st_f" ] && st_dead=$((st_dead + 1)); done
  st_loss=0
  for st_f in "$LOSSDIR"/*; do
    case $st_f in *.tmp) continue ;; esac
    [ -f "$st_f" ] && st_loss=$((st_loss + 1))
  done
  printf 'reporter_id: %s\n' "${S_ID:-none yet}"
  printf 'log: %s\n' "$LOG"
  printf 'backlog_bytes: %s\n' "$st_backlog"
  printf 'backlog_files: %s\n' "$st_files"
  if is_uint "$S_LAST_OK"; then
    printf 'last_success: %s\n' "$(date -u -d "@$S_LAST_OK" +%Y-%m-%dT%H:%M:%SZ)"
  else
    printf 'last_success: %s\n' "${S_LAST_OK:-never}"
  fi
  printf 'last_error: %s\n' "${S_LAST_ERR:-none}"
  printf 'dead_letters: %s\n' "$st_dead"
  printf 'pending_loss_records: %s\n' "$st_loss"
  printf 'dropped_records: %s\n' "$S_DROP_REC"
  printf 'dropped_bytes: %s\n' "$S_DROP_BYTES"
  printf 'dropped_files: %s\n' "$S_DROP_FILES"
  exit 0
}

cmd_check() {
  ck_rc=0
  echo "config: ok ($CONF)"
  if [ ! -f "$LOG" ]; then
    echo "log: $LOG does not exist"
    ck_rc=1
  else
    ck_mode=$(stat -c '%a' -- "$LOG")
    if [ "$ck_mode" = 622 ]; then echo "log: ok ($LOG, mode 0622)"; else echo "log: $LOG has mode 0$ck_mode, not 0622"; ck_rc=1; fi
  fi
  # The last run stopped a file it could not move although the server answered (exit 6).
  ck_stuck=0
  if [ -f "$STATE" ] && [ -r "$STATE" ]; then
    state_load
    case $S_LAST_ERR in
      *' exit 6: '*) echo "reporter: ${S_LAST_ERR#* exit 6: } (last run ${S_LAST_ERR%% *})"; ck_stuck=1 ;;
    esac
  fi
  now
  DEADLINE=$((NOW + TIMEOUT * 1000 + 1000))
  qoff
  TMPD=$(mktemp -d "${TMPDIR:-/tmp}/cmdaudit-reporter.XXXXXX") || die 1 "mktemp failed"
  write_curl_conf
  : > "$TMPD/empty"
  GZIP=0
  post_once "$TMPD/empty" 0
  case $HTTP in
    200)
      if case $ANSWER in '{"code":0,'*) true ;; *) false ;; esac; then echo "server: ok ($URL accepts the token)"; else echo "server: HTTP 200 without a cmdaudit answer from $URL"; ck_rc=3; fi
      ;;
    000) echo "server: no answer from $URL ($(tr '\n' ' ' < "$TMPD/curl.err" | head -c 200))"; ck_rc=3 ;;
    4[0-9][0-9]) echo "server: $URL refused: HTTP $HTTP $(server_msg)"; ck_rc=4 ;;
    *) echo "server: $URL answered HTTP $HTTP $(server_msg)"; ck_rc=3 ;;
  esac
  [ "$ck_stuck" = 1 ] && [ "$ck_rc" = 0 ] && ck_rc=6
  cleanup
  exit "$ck_rc"
}

usage() {
  echo "usage: $0 [-c FILE] [run|status|check]" >&2
  exit 2
}

CONF=${CMDAUDIT_REPORTER_CONF:-/etc/cmdaudit/reporter.conf}
while [ $# -gt 0 ]; do
  case $1 in
    -c) [ $# -ge 2 ] || usage; CONF=$2; shift 2 ;;
    -h|--help) echo "usage: $0 [-c FILE] [run|status|check]"; exit 0 ;;
    -*) usage ;;
    *) break ;;
  esac
done
CMD=${1:-run}
[ $# -le 1 ] || usage
case $CMD in run|status|check) ;; *) usage ;; esac

load_config "$CONF"
trap 'cleanup' EXIT
trap 'cleanup; exit 1' HUP INT TERM

case $CMD in
  status)
    [ -d "$STATE_DIR" ] || { S_FILE=; S_OFF=0; S_ID=; S_LAST_OK=; S_LAST_ERR=; S_DROP_REC=0; S_DROP_BYTES=0; S_DROP_FILES=0; DEADDIR=/nonexistent; LOSSDIR=/nonexistent; cmd_status; }
    state_load
    cmd_status
    ;;
  check)
    cmd_check
    ;;
esac

init_state_dir
take_lock
state_load
TMPD=$STATE_DIR/tmp.$$
rm -rf "$TMPD"
mkdir "$TMPD" || die 1 "cannot create $TMPD"
# Leftovers of runs killed before they cleaned up.
for old in "$STATE_DIR"/tmp.*; do
  [ "$old" = "$TMPD" ] && continue
  op=${old##*.}
  case $op in ''|*[!0-9]*) continue ;; esac
  kill -0 "$op" 2>/dev/null || rm -rf "$old"
done
if [ -z "$S_ID" ]; then
  new_reporter_id
  state_save
fi
cmd_run
