#!/bin/sh
# fetch-xenstored.sh DESTDIR
#
# Puts Debian's real C xenstored at DESTDIR/usr/lib/xen-4.17/bin/xenstored
# without installing the hypervisor: the xen-utils-4.17 .deb is only
# downloaded and unpacked (dpkg -x); installing it would pull in udev, init
# scripts and the hypervisor.  The shared libraries xenstored links against
# come from ordinary Debian runtime packages, which are apt-get installed if
# missing (needs root).
#
# Idempotent: does nothing when the binary is already there (apart from the
# cheap check that its runtime libraries are installed).  Exits non-zero
# with a message on stderr on any failure.
set -eu

PKG=xen-utils-4.17
BIN_REL=usr/lib/xen-4.17/bin/xenstored
# Packages providing the libraries `ldd xenstored` lists (Debian 12):
# libxenctrl.so.4.17 is in libxenmisc4.17.
RUNTIME_PKGS="libxenmisc4.17 libxenevtchn1 libxengnttab1 libxentoollog1
              libxentoolcore1 libxencall1 libxenforeignmemory1
              libxendevicemodel1"

die() {
    echo "fetch-xenstored.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: fetch-xenstored.sh DESTDIR"
DEST=$1
BIN="$DEST/$BIN_REL"

# Install whichever of RUNTIME_PKGS is not installed yet.
ensure_runtime_pkgs() {
    missing=""
    for p in $RUNTIME_PKGS; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=""
        [ "$st" = installed ] || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" -eq 0 ] ||
        die "xenstored needs these packages; run: sudo apt-get install$missing"
    echo "fetch-xenstored.sh: installing$missing" >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $missing >&2 ||
        { apt-get update >&2 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y \
              --no-install-recommends $missing >&2; } ||
        die "apt-get install$missing failed"
}

# Download the .deb into directory $1 (retrying after apt-get update).
download_deb() {
    # apt drops privileges to _apt for downloads; let it write there.
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$1"
    fi
    if ! (cd "$1" && apt-get download "$PKG" >&2); then
        [ "$(id -u)" -eq 0 ] ||
            die "apt-get download $PKG failed (run apt-get update as root?)"
        apt-get update >&2 || die "apt-get update failed"
        (cd "$1" && apt-get download "$PKG" >&2) ||
            die "apt-get download $PKG failed"
    fi
}

# Unpack the .deb into DEST; the binary itself is renamed into place last,
# so an interrupted run never leaves a half-written xenstored behind.
unpack_deb() {
    tmp=$1
    deb=""
    for f in "$tmp"/"$PKG"_*.deb; do
        [ -f "$f" ] && deb=$f
    done
    [ -n "$deb" ] || die "no $PKG .deb in $tmp after download"
    dpkg -x "$deb" "$tmp/root" || die "dpkg -x $deb failed"
    [ -x "$tmp/root/$BIN_REL" ] || die "$deb contains no $BIN_REL"
    mv "$tmp/root/$BIN_REL" "$tmp/xenstored"
    cp -a "$tmp/root/." "$DEST/" || die "copying into $DEST failed"
    cp -a "$tmp/xenstored" "$BIN.partial" && mv -f "$BIN.partial" "$BIN" ||
        die "installing $BIN failed"
}

check_libs() {
    notfound=$(ldd "$BIN" 2>&1 | grep 'not found' || true)
    [ -z "$notfound" ] ||
        die "$BIN has unresolved libraries:
$notfound"
}

main() {
    ensure_runtime_pkgs
    mkdir -p "$DEST" || die "cannot create $DEST"
    # Serialise concurrent runs on the same DESTDIR.
    exec 9>"$DEST/.fetch.lock"
    flock 9 || die "cannot lock $DEST/.fetch.lock"
    if [ ! -x "$BIN" ]; then
        tmp=$(mktemp -d) || die "mktemp failed"
        trap 'rm -rf "$tmp"' EXIT
        download_deb "$tmp"
        unpack_deb "$tmp"
    fi
    check_libs
}

main
