# shellcheck shell=bash
# Helpers of the transport benches (sourced; root; inside journald-ns.sh): throw-away users and
# login-like sessions. A session here is what pam_loginuid and pam_systemd make of a login: the
# process in cgroup user.slice/user-UID.slice/session-N.scope (in every systemd hierarchy this
# host has: cgroup v2 and the v1 name=systemd one) and its audit loginuid set, which makes the
# kernel give it a new audit session id. transport_cleanup (an EXIT trap of the caller) deletes
# the users and the cgroups made here; cgroups are not namespaced by unshare -m.

transport_users=()
transport_cg_roots=()
for d in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
  [[ -f $d/cgroup.procs ]] && transport_cg_roots+=("$d")
done
((${#transport_cg_roots[@]})) || transport_cg_roots=(/sys/fs/cgroup)
transport_slices=() # user.slice where this host has none: removed at the end
for d in "${transport_cg_roots[@]}"; do [[ -d $d/user.slice ]] || transport_slices+=("$d/user.slice"); done

# A new user (no home, no group of its own) named $1, deleted by transport_cleanup.
transport_user_add() {
  useradd -M -N -g nogroup -s /bin/bash "$1"
  transport_users+=("$1")
}

# as_session USER N COMMAND...: COMMAND as USER (uid, gid, groups; HOME=/tmp) in session N.
as_session() {
  local user=$1 n=$2 uid root cg dirs=()
  shift 2
  uid=$(id -u "$user")
  for root in "${transport_cg_roots[@]}"; do
    cg=$root/user.slice/user-$uid.slice/session-$n.scope
    mkdir -p "$cg"
    dirs+=("$cg")
  done
  # The subshell moves itself into the scope, sets its loginuid (once: it is unset here), then
  # becomes the user's process.
  (
    for cg in "${dirs[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
    echo "$uid" >/proc/self/loginuid
    exec setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups \
      env -i PATH=/usr/bin:/bin HOME=/tmp USER="$user" LOGNAME="$user" "$@"
  )
}

# Users made here and their cgroups (the deepest first; one with processes left stays, and says so).
transport_cleanup() {
  local u root d
  for u in "${transport_users[@]}"; do
    for root in "${transport_cg_roots[@]}"; do
      d=$root/user.slice/user-$(id -u "$u").slice
      [[ -d $d ]] || continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || echo "cgroup $d not removed" >&2
    done
    userdel "$u" 2>/dev/null || echo "user $u not removed" >&2
  done
  for d in "${transport_slices[@]}"; do rmdir "$d" 2>/dev/null || echo "cgroup $d not removed" >&2; done
  return 0
}
