#!/bin/bash
# scripts/run.sh [XSP_SWITCH_ARGS...]
#
# Installs missing packages, builds build/ if needed, then runs the xsp components (the
# switch, the registrar, then xsp-plugin-file with a default SR, file://STATE_DIR/sr1,
# created and attached) in the foreground on a private run directory until Ctrl-C
# (SIGINT) or SIGTERM, which stops them all (last started first).  If one component exits on its own, the others are stopped too
# and the exit status is non-zero.  Arguments go to xsp-switch (e.g. --listen tcp://…).
# Environment:
#   XSP_RUN_DIR=DIR        run directory to use (kept); default: a fresh private
#                          $TMPDIR/xsp-run.XXXXXX, removed on exit
#   XSP_BUILD_DIR=DIR      build directory (default: build)
#   XSP_START_TIMEOUT=S    seconds a component gets to become ready (default 10)
#   XSP_NO_BUILD=1         use the binaries already in the build directory (tests do)
#   XSP_LOG_LEVEL=L        the components' --log-level: err, warn (default), info, debug
#   XSP_STATE_DIR=DIR      the registrar's state directory (default RUN_DIR/state); its
#                          store is `--store auto`: xenstore when xenstored runs, else the
#                          file DIR/registrar.state; xsp-plugin-file keeps its state in
#                          DIR/plugin-file and the default SR is the directory DIR/sr1
# shellcheck disable=SC2317  # (stop_all, cleanup, switch_ready run from traps / indirectly)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

case ${1:-} in
  -h | --help) awk 'NR > 1 && /^#/ && !/shellcheck/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$root/scripts/run.sh"; exit 0 ;;
esac

build_dir=${XSP_BUILD_DIR:-build}
start_timeout=${XSP_START_TIMEOUT:-10}
log_level=${XSP_LOG_LEVEL:-warn}
bin=$root/$build_dir/bin
case $build_dir in /*) bin=$build_dir/bin ;; esac

status() { printf '[xsp] %-10s %s\n' "$1" "$2"; }

# --- build --------------------------------------------------------------------------------
if [ "${XSP_NO_BUILD:-0}" = 1 ]; then
  [ -x "$bin/xsp-switch" ] || { echo "run.sh: XSP_NO_BUILD=1 but $bin/xsp-switch is missing" >&2; exit 1; }
else
  bash scripts/build.sh "$build_dir"
fi

# --- run directory ------------------------------------------------------------------------
if [ -n "${XSP_RUN_DIR:-}" ]; then
  mkdir -p "$XSP_RUN_DIR"
  chmod 700 "$XSP_RUN_DIR"
  run_dir=$(cd "$XSP_RUN_DIR" && pwd)
  remove_run_dir=0
else
  run_dir=$(mktemp -d "${TMPDIR:-/tmp}/xsp-run.XXXXXX")   # mode 0700
  remove_run_dir=1
fi
endpoint=ipc://$run_dir/switch.sock
# An ipc endpoint is a unix socket path: at most 107 bytes.
if [ ${#run_dir} -gt 90 ]; then
  echo "run.sh: run dir path too long for a unix socket: $run_dir (set XSP_RUN_DIR to a shorter one)" >&2
  exit 1
fi

# --- component supervision ----------------------------------------------------------------
names=()   # component names, in start order
pids=()    # their pids
stopping=0

# stop_all: SIGTERM each running component, last started first; SIGKILL after 10 s.
stop_all() {
  local i pid name n rc
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]} name=${names[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for ((n = 0; n < 100; n++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      status "$name" "did not stop within 10 s: killed"
    fi
    rc=0; wait "$pid" 2>/dev/null || rc=$?
    case $rc in 0 | 130 | 143) status "$name" "stopped" ;; *) status "$name" "stopped (exit status $rc)" ;; esac
  done
  pids=() names=()
}

cleanup() {
  trap - INT TERM HUP
  stop_all
  if [ "$remove_run_dir" = 1 ]; then rm -rf "$run_dir"; fi
}
trap cleanup EXIT
trap 'stopping=1' INT TERM HUP

# start_component NAME READY_FUNCTION DESCRIPTION COMMAND [ARGS...]
# Starts COMMAND in the background and waits until READY_FUNCTION succeeds (it is called
# repeatedly), the component exits (fatal), or the start timeout passes (a warning).
start_component() {
  local name=$1 ready=$2 desc=$3 pid n
  shift 3
  if [ ! -x "$1" ]; then
    status "$name" "FAILED: $1 not found (did the build produce it?)"
    exit 1
  fi
  # Its own session: a Ctrl-C on the terminal reaches only this script, which then stops
  # the components in order (plugins unregister while the switch still runs).
  setsid "$1" --log-level "$log_level" "${@:2}" &
  pid=$!
  names+=("$name") pids+=("$pid")
  for ((n = 0; n < start_timeout * 10; n++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0; wait "$pid" || rc=$?
      unset 'pids[-1]' 'names[-1]'
      status "$name" "FAILED to start (exit status $rc): $*"
      exit 1
    fi
    "$ready" && { status "$name" "up    pid $pid  $desc"; return 0; }
    [ "$stopping" = 1 ] && return 0
    sleep 0.1
  done
  status "$name" "running (pid $pid) but not ready after ${start_timeout} s: $desc"
}

# Ready when a switch socket appears that was not there before (libzmq replaces a stale one).
sock=$run_dir/switch.sock
old_sock_inode=$(stat -c %i "$sock" 2>/dev/null || echo none)
switch_ready() { [ -S "$sock" ] && [ "$(stat -c %i "$sock" 2>/dev/null)" != "$old_sock_inode" ]; }

# Ready once it answers Registrar.list (a request sent earlier waits in its queue).
registrar_ready() { "$bin/xsp" --switch "$endpoint" plugins >/dev/null 2>&1; }

# Ready once the registrar resolves file: URIs to it (it registers after subscribing).
plugin_file_ready() { "$bin/xsp" --switch "$endpoint" resolve file: >/dev/null 2>&1; }

# The default SR: created on first use, attached on every start (both idempotent here).
default_sr() {
  local sr=$1 out
  if [ ! -d "${sr#file://}/.xsp" ]; then
    out=$("$bin/xsp" --switch "$endpoint" sr create "$sr" "default SR" "created by scripts/run.sh" 2>&1) ||
      { status "sr" "FAILED to create $sr: $out"; return 1; }
  fi
  out=$("$bin/xsp" --switch "$endpoint" sr attach --scheme file --configuration "uri=$sr" 2>&1) ||
    { status "sr" "FAILED to attach $sr: $out"; return 1; }
  status "sr" "attached $sr"
}

# --- start ----------------------------------------------------------------------------------
# The components, in start order: one start_component line each (NAME READY_FUNCTION
# DESCRIPTION COMMAND...).  Plugins go after the registrar: they register with it.
state_dir=${XSP_STATE_DIR:-$run_dir/state}
mkdir -p "$state_dir"
state_dir=$(cd "$state_dir" && pwd)
sr_uri=file://$state_dir/sr1
status "run dir" "$run_dir$([ "$remove_run_dir" = 1 ] && echo ' (private, removed on exit)')"
components() {
  start_component switch switch_ready "$endpoint" "$bin/xsp-switch" --run-dir "$run_dir" "$@"
  [ "$stopping" = 0 ] || return 0
  start_component registrar registrar_ready "org.xen.xsp.registrar  store auto (xenstore, else $state_dir/registrar.state)" \
    "$bin/xsp-registrar" --switch "$endpoint" --store auto --state-dir "$state_dir"
  [ "$stopping" = 0 ] || return 0
  start_component plugin-file plugin_file_ready "org.xen.xsp.storage.file  file: URIs, state $state_dir/plugin-file" \
    "$bin/xsp-plugin-file" --switch "$endpoint" --state-dir "$state_dir/plugin-file"
  [ "$stopping" = 0 ] || return 0
  default_sr "$sr_uri" || exit 1
}
components "$@"

if [ "$stopping" = 0 ]; then
  cat <<MSG
[xsp] all components up; Ctrl-C stops them.  In another terminal:
    export XSP_SWITCH=$endpoint XSP_SR=$sr_uri PATH=$bin:\$PATH
    xsp plugins                      # what registered; xsp resolve URI: who serves it
    xsp sr ls \$XSP_SR               # the default SR's volumes (README: a walk-through)
MSG
fi

# --- supervise ------------------------------------------------------------------------------
while [ "$stopping" = 0 ]; do
  exited='' rc=0
  wait -n -p exited "${pids[@]}" || rc=$?
  [ -n "${exited:-}" ] || continue       # a trapped signal interrupted wait
  for i in "${!pids[@]}"; do
    [ "${pids[i]}" = "$exited" ] || continue
    name=${names[i]}
    unset 'pids[i]' 'names[i]'
    pids=("${pids[@]}") names=("${names[@]}")
    break
  done
  # A component may have been signalled directly (it runs in its own session).
  if [ "$stopping" = 1 ]; then
    case $rc in 0 | 130 | 143) status "$name" "stopped" ;; *) status "$name" "stopped (exit status $rc)" ;; esac
    break
  fi
  status "$name" "exited on its own (exit status $rc): stopping the others"
  [ "$rc" -ne 0 ] || rc=1
  exit "$rc"
done
echo "[xsp] stopping"
exit 0
