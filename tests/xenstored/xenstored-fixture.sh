#!/bin/sh
# xenstored-fixture.sh start RUNDIR | stop RUNDIR
#
# Runs Debian's real xenstored with the xsshim LD_PRELOAD shim (no
# hypervisor needed) in the background, for tests and manual poking:
#   start  starts it with XENSTORED_RUNDIR=RUNDIR (socket RUNDIR/socket,
#          pid RUNDIR/pid, output RUNDIR/xenstored.log, trace
#          RUNDIR/trace.log); prints nothing and exits 0 once the socket
#          answers a request (within ~5 s), else exits non-zero with the
#          reason and the log tail on stderr.
#   stop   SIGTERM, up to 3 s grace, then SIGKILL; removes pid and socket.
# Clients then use: XENSTORED_PATH=RUNDIR/socket xenstore-ls
#
# Environment (defaults in brackets):
#   XSP_BUILD_DIR  the CMake build dir [<repo>/build, i.e. ../../build
#                  relative to this script]
#   XSP_XENSTORED  xenstored binary
#                  [$XSP_BUILD_DIR/xen/usr/lib/xen-4.17/bin/xenstored,
#                  put there by fetch-xenstored.sh]
#   XSP_XSSHIM     shim library [$XSP_BUILD_DIR/lib/libxsshim.so]
set -eu

START_TIMEOUT_TENTHS=50
STOP_TIMEOUT_TENTHS=30

here=$(cd "$(dirname "$0")" && pwd)
: "${XSP_BUILD_DIR:=$here/../../build}"
: "${XSP_XENSTORED:=$XSP_BUILD_DIR/xen/usr/lib/xen-4.17/bin/xenstored}"
: "${XSP_XSSHIM:=$XSP_BUILD_DIR/lib/libxsshim.so}"

die() {
    echo "xenstored-fixture.sh: $*" >&2
    exit 1
}

# True if pid $1 exists and is not a zombie (an orphan nobody reaps yet).
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

is_xenstored() {
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = xenstored ]
}

# True if the daemon behind RUNDIR/socket answers a read of "/".
answers() {
    XENSTORED_PATH="$1/socket" timeout 2 xenstore-read / >/dev/null 2>&1
}

log_tail() {
    echo "--- tail of $1/xenstored.log ---" >&2
    tail -n 20 "$1/xenstored.log" >&2 2>/dev/null || true
}

start() {
    rundir=$1
    [ -x "$XSP_XENSTORED" ] ||
        die "no xenstored at $XSP_XENSTORED (run fetch-xenstored.sh or set XSP_XENSTORED)"
    [ -r "$XSP_XSSHIM" ] ||
        die "no shim at $XSP_XSSHIM (build target xsshim or set XSP_XSSHIM)"
    command -v xenstore-read >/dev/null ||
        die "xenstore-read not found (apt-get install xenstore-utils)"
    mkdir -p "$rundir" || die "cannot create $rundir"
    rundir=$(cd "$rundir" && pwd)
    if [ -f "$rundir/pid" ] && pid=$(cat "$rundir/pid") &&
       alive "$pid" && is_xenstored "$pid"; then
        die "xenstored already running in $rundir (pid $pid)"
    fi
    rm -f "$rundir/pid"

    XENSTORED_RUNDIR=$rundir XENSTORED_PATH=$rundir/socket \
        LD_PRELOAD=$XSP_XSSHIM \
        "$XSP_XENSTORED" -N -F "$rundir/pid" -T "$rundir/trace.log" \
        </dev/null >>"$rundir/xenstored.log" 2>&1 &
    pid=$!

    i=0
    while [ $i -lt $START_TIMEOUT_TENTHS ]; do
        if ! alive "$pid"; then
            log_tail "$rundir"
            die "xenstored exited during start-up (see above)"
        fi
        answers "$rundir" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    log_tail "$rundir"
    die "xenstored (pid $pid) did not answer on $rundir/socket within 5 s"
}

stop() {
    rundir=$1
    [ -f "$rundir/pid" ] || return 0          # not running: nothing to do
    pid=$(cat "$rundir/pid")
    if alive "$pid" && is_xenstored "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        i=0
        while alive "$pid" && [ $i -lt $STOP_TIMEOUT_TENTHS ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.1
        fi
        ! alive "$pid" || die "xenstored (pid $pid) survived SIGKILL"
    fi
    rm -f "$rundir/pid" "$rundir/socket"
}

[ $# -eq 2 ] && [ -n "$2" ] || die "usage: xenstored-fixture.sh start|stop RUNDIR"
case $1 in
    start) start "$2" ;;
    stop) stop "$2" ;;
    *) die "usage: xenstored-fixture.sh start|stop RUNDIR" ;;
esac
