#!/bin/sh
# install_pkgconfig: install the build into a temporary prefix, then compile and run a
# C program against the installed libxsp using only `pkg-config --cflags --libs xsp`.
#
# usage: test_install_pkgconfig.sh CMAKE BUILD_DIR CC PKG_CONFIG VERSION
set -eu
cmake=$1 build=$2 cc=$3 pkgconfig=$4 version=$5

tmp=$(mktemp -d /tmp/xsp-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL - $*"; exit 1; }
ok() { echo "ok - $*"; }

prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install --prefix $prefix"; }
ok "cmake --install into $prefix"

pc=$(find "$prefix" -path '*/pkgconfig/xsp.pc' | head -n 1)
[ -n "$pc" ] || fail "no */pkgconfig/xsp.pc under $prefix"
ok "installed ${pc#$prefix/}"
[ -f "$prefix/include/xsp/xsp.h" ] || fail "no include/xsp/xsp.h under $prefix"
ok "installed include/xsp/xsp.h"

# Everything lands inside the prefix (nothing in the real /etc or /usr/local), the daemons,
# the CLI, the file plugin and the libxl block script included.
outside=$(grep -v "^$prefix/" "$build/install_manifest.txt" || true)
[ -z "$outside" ] || fail "cmake --install --prefix wrote outside the prefix: $outside"
for f in sbin/xsp-switch sbin/xsp-registrar bin/xsp bin/xsp-plugin-file; do
    [ -x "$prefix/$f" ] || fail "no executable $f under $prefix"
done
[ -x "$prefix/etc/xen/scripts/block-xsp" ] || fail "no executable etc/xen/scripts/block-xsp under $prefix"
ok "daemons, CLI, plugin and etc/xen/scripts/block-xsp installed, nothing outside the prefix"

# Only the temporary prefix: nothing from the system or the build tree.
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
got=$("$pkgconfig" --modversion xsp) || fail "pkg-config --modversion xsp"
[ "$got" = "$version" ] || fail "pkg-config --modversion xsp: $got, want $version"
ok "pkg-config --modversion xsp = $got"
flags=$("$pkgconfig" --cflags --libs xsp) || fail "pkg-config --cflags --libs xsp"
ok "pkg-config --cflags --libs xsp: $flags"
"$pkgconfig" --libs --static xsp >/dev/null || fail "pkg-config --libs --static xsp (Requires.private)"
ok "pkg-config --libs --static xsp resolves Requires.private"
libdir=$("$pkgconfig" --variable=libdir xsp)
incdir=$("$pkgconfig" --variable=includedir xsp)
[ -f "$incdir/xsp/xsp.h" ] || fail "includedir $incdir has no xsp/xsp.h"
ls "$libdir"/libxsp.so* >/dev/null 2>&1 || fail "libdir $libdir has no libxsp.so"
ok "libdir and includedir point into the prefix"

# Every installed header compiles on its own with only pkg-config's flags (this covers
# the headers generated from sdk/idl and the IDL runtime headers once they are installed).
cflags=$("$pkgconfig" --cflags xsp)
n=0
for h in "$incdir"/xsp/*.h; do
    name=xsp/$(basename "$h")
    # shellcheck disable=SC2086
    printf '#include <%s>\nint xsp_install_check;\n' "$name" |
        "$cc" -Wall -Wextra -Werror -fsyntax-only -x c - $cflags ||
        fail "installed <$name> does not compile on its own"
    n=$((n + 1))
done
ok "all $n installed headers compile on their own"

cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <xsp/xsp.h>

int main(void)
{
    const char *name = xsp_code_name(XSP_E_SERVER_LOST);
    printf("%s\n", name);
    return strcmp(name, "server-lost") == 0 ? 0 : 1;
}
C
# shellcheck disable=SC2086  # $flags is a list of words
# a sanitized libxsp needs the program built with the same runtime first in line
"$cc" -Wall -Wextra -Werror ${XSP_SAN_CFLAGS:-} -o "$tmp/prog" "$tmp/prog.c" $flags ||
    fail "compiling against the installed headers and library"
ok "compiled a program with \$(pkg-config --cflags --libs xsp)"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/prog") || fail "running it: '$out'"
[ "$out" = "server-lost" ] || fail "xsp_code_name(XSP_E_SERVER_LOST) = '$out'"
ok "it runs against the installed libxsp: xsp_code_name(XSP_E_SERVER_LOST) = $out"
lib=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/prog" | awk '/libxsp/ {print $3}')
case $lib in
    "$libdir"/*) ok "libxsp resolved from the prefix ($lib)" ;;
    *) fail "libxsp resolved from '$lib', not $libdir" ;;
esac
