#!/bin/bash
# scripts/build.sh [BUILD_DIR] [CMAKE_ARGS...]
#
# Installs missing Debian packages (scripts/deps.sh), configures BUILD_DIR (default: build)
# when it has not been configured yet or when CMAKE_ARGS are given, then builds with one job
# per core.  Binaries land in BUILD_DIR/bin, libraries in BUILD_DIR/lib.
#   scripts/build.sh                              # build/
#   scripts/build.sh build-asan -DXSP_SANITIZE=ON # sanitizer build
# Set XSP_SKIP_DEPS=1 to skip the package check (scripts that already ran it do).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { echo "build.sh: $*" >&2; }

dir=${1:-build}
[ $# -gt 0 ] && shift
case $dir in -*) say "usage: build.sh [BUILD_DIR] [CMAKE_ARGS...] (got option '$dir' as BUILD_DIR)"; exit 2;; esac

[ "${XSP_SKIP_DEPS:-0}" = 1 ] || bash "$root/scripts/deps.sh"

# A build dir copied from another checkout points at that checkout's sources: start it afresh.
cache=$dir/CMakeCache.txt
if [ -f "$cache" ]; then
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
  if [ -n "$src" ] && [ "$(cd "$src" 2>/dev/null && pwd -P)" != "$(pwd -P)" ]; then
    say "$dir was configured for $src, not $root: reconfiguring from scratch"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
fi

start=$SECONDS
# Configure when asked to (CMAKE_ARGS), never configured, or a previous configure failed.
if [ $# -gt 0 ] || [ ! -f "$cache" ] || { [ ! -f "$dir/Makefile" ] && [ ! -f "$dir/build.ninja" ]; }; then
  cmake -S "$root" -B "$dir" "$@"
fi
cmake --build "$dir" -j "$(nproc)"
say "built $dir in $((SECONDS - start)) s"
