#!/bin/sh
# test-fixture-sh.sh - ctest check of xenstored-fixture.sh: start, a
# write/read round trip with the xenstore-* tools, stop, and that stop
# really ended the daemon.  Uses XSP_XENSTORED / XSP_XSSHIM like the fixture.
set -u

here=$(cd "$(dirname "$0")" && pwd)
fixture=$here/xenstored-fixture.sh
rundir=$(mktemp -d /tmp/xsp-fixture-sh-XXXXXX) || exit 1
failed=0

# True if pid $1 no longer runs.  The daemon was started by a shell that
# has exited, so init reaps it: a zombie left behind counts as gone.
gone() {
    state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ -z "$state" ] || [ "$state" = Z ]
}

check() {  # check DESCRIPTION COMMAND...
    what=$1
    shift
    if "$@"; then
        echo "PASS: $what"
    else
        echo "FAIL: $what"
        failed=1
    fi
}

if ! "$fixture" start "$rundir"; then
    echo "FAIL: xenstored-fixture.sh start $rundir"
    exit 1
fi
echo "PASS: xenstored-fixture.sh start"
pid=$(cat "$rundir/pid")

export XENSTORED_PATH="$rundir/socket"
check "xenstore-write /xsp-sh/k" xenstore-write /xsp-sh/k value
check "xenstore-read /xsp-sh/k = value" \
    test "$(xenstore-read /xsp-sh/k 2>&1)" = value

check "xenstored-fixture.sh stop" "$fixture" stop "$rundir"
check "xenstored (pid $pid) gone after stop" gone "$pid"

if [ $failed -ne 0 ]; then
    echo "run directory kept for inspection: $rundir"
    exit 1
fi
rm -rf "$rundir"
