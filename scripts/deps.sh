#!/bin/bash
# scripts/deps.sh — install the Debian 12 packages xsp needs to build, test and run.
#
# Idempotent: when every package is already installed it prints nothing and exits 0.
# Otherwise it prints what is missing, runs `apt-get update` once and installs exactly
# the missing packages (no recommends).  Needs root (or sudo) only in that case.
# Works in a minimal debootstrap root: no sudo, no apt lists yet, no ca-certificates.
#
# This is the one place the package list lives.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config          # toolchain
  libzmq3-dev libczmq-dev libmsgpack-dev    # transport and wire format
  libxen-dev xenstore-utils                 # libxl block-script bridge, xenstore tools
  python3 python3-zmq python3-msgpack       # tools and tests (always /usr/bin/python3)
  clang libclang-rt-14-dev                  # fuzzers (libFuzzer runtime)
  valgrind util-linux procps                # tests: valgrind, losetup, pgrep/ps
  xfsprogs                                  # tests/file: an XFS image with reflink (file_reflink)
)

say() { echo "deps.sh: $*" >&2; }

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  say "this is not a Debian/Ubuntu system (no dpkg-query/apt-get)."
  say "install these (Debian 12 names) by hand: ${PACKAGES[*]}"
  exit 1
fi

# One dpkg-query for all packages; unknown ones are simply absent from the output.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
            awk '$NF == "installed" { print $1 }' || true)
missing=()
for p in "${PACKAGES[@]}"; do
  grep -qxF -- "$p" <<<"$installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    say "missing packages: ${missing[*]}"
    say "run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
fi

say "installing ${#missing[@]} missing package(s): ${missing[*]}"
log=$(mktemp "${TMPDIR:-/tmp}/xsp-deps.XXXXXX.log")
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (another shell, unattended-upgrades) rather than fail.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600)

fail() {
  say "FAILED: $1 (last lines of $log follow)"
  tail -n 30 "$log" >&2
  exit 1
}

"${APT[@]}" update >"$log" 2>&1 || fail "apt-get update"
"${APT[@]}" install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
  fail "apt-get install ${missing[*]}"

# Check the result rather than trusting apt's exit code alone.
still=()
for p in "${missing[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "${st##* }" = installed ] || still+=("$p")
done
[ ${#still[@]} -eq 0 ] || fail "still not installed: ${still[*]}"

say "installed ${#missing[@]} package(s) in $((SECONDS - start)) s (apt log: $log)"
