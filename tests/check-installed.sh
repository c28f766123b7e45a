#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: the README's library example, compiled as written against a
# `make install DESTDIR=...` of this build with pkg-config, then run
# against a daemon.
set -u
top=${top_srcdir:-.}
echo "1..5"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-installed.XXXXXX")
dpid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; rm -rf "$tmp"' EXIT

if ${MAKE:-make} install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1; then
    echo "ok 1 - make install DESTDIR"
else
    echo "not ok 1 - make install DESTDIR"
    sed 's/^/# /' "$tmp/install.log"
    exit 0
fi
pc=$(find "$tmp/root" -name libshmcache.pc | head -n 1)
libdir=$(dirname "$(find "$tmp/root" -name 'libshmcache.so.0' | head -n 1)")
sed -n '/<!-- example:begin -->/,/<!-- example:end -->/p' "$top/README.md" |
    sed '1,2d;$d' | sed '$d' >"$tmp/example.c"
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$tmp/root" \
    pkg-config --cflags --libs libshmcache)
# The build's own CFLAGS/LDFLAGS: a sanitizer build's library needs them.
if ${CC:-cc} ${CFLAGS:-} -Wall -Wextra -Werror "$tmp/example.c" \
    -o "$tmp/example" $flags ${LDFLAGS:-} >"$tmp/cc.log" 2>&1; then
    echo "ok 2 - README example builds with pkg-config: $flags"
else
    echo "not ok 2 - README example does not build"
    sed 's/^/# /' "$tmp/cc.log" "$tmp/example.c"
    exit 0
fi

. "$top/scripts/daemon-lib.sh"
shmc_start_daemon "${SHMCACHED:-daemon/shmcached}" "$tmp" \
    '{"log_level": "warning", "tables": {"default": {"size_bytes": 1048576, "max_value_bytes": 65536}}}'
dpid=$SHMC_DPID
out=$(SHMCACHE_SOCKET="$tmp/run/control.sock" LD_LIBRARY_PATH="$libdir" \
    "$tmp/example" 2>&1)
if [ "$out" = "alice" ]; then
    echo "ok 3 - README example runs: $out"
else
    echo "not ok 3 - README example printed: $out"
fi

# The Python binding as a user installs it: pip, against the installed
# library (found with pkg-config), then the README's Python example.
if [ -z "${PYTHON:-}" ] || ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    echo "ok 4 # SKIP not configured --with-python, or no pip"
    echo "ok 5 # SKIP not configured --with-python, or no pip"
    exit 0
fi
# pip builds in the source directory: give it a copy.
cp -R "$top/python" "$tmp/pysrc"
chmod -R u+w "$tmp/pysrc"
rm -rf "$tmp/pysrc/build"
if PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$tmp/root" \
    "$PYTHON" -m pip install -q --no-build-isolation --no-deps --no-index --no-cache-dir \
    --target "$tmp/pylib" "$tmp/pysrc" >"$tmp/pip.log" 2>&1; then
    echo "ok 4 - pip install --no-build-isolation ./python"
else
    echo "not ok 4 - pip install ./python"
    sed 's/^/# /' "$tmp/pip.log"
    exit 0
fi
sed -n '/<!-- pyexample:begin -->/,/<!-- pyexample:end -->/p' "$top/README.md" |
    sed '1,2d;$d' | sed '$d' >"$tmp/example.py"
out=$(cd "$tmp" && SHMCACHE_SOCKET="$tmp/run/control.sock" \
    LD_LIBRARY_PATH="$libdir" PYTHONPATH="$tmp/pylib" \
    PYTHONDONTWRITEBYTECODE=1 LD_PRELOAD="$(shmc_sanitizer_preload "$libdir/libshmcache.so.0")" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    "$PYTHON" "$tmp/example.py" 2>&1)
if [ "$out" = "alice" ]; then
    echo "ok 5 - README Python example runs: $out"
else
    echo "not ok 5 - README Python example printed: $out"
fi
