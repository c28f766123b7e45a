#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: the Python binding's pytest suite (python/tests/), run with the
# module built in python/build/ against the library and daemon just built;
# one TAP line per pytest test.
set -u
top=${top_srcdir:-.}
if [ -z "${PYTHON:-}" ] || [ ! -f python/build/shmcache/__init__.py ]; then
    echo "1..0 # SKIP not configured --with-python"
    exit 0
fi
if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
    echo "1..0 # SKIP no pytest for $PYTHON (apt-get install python3-pytest)"
    exit 0
fi
. "$top/scripts/daemon-lib.sh"
pre=$(shmc_sanitizer_preload client/.libs/libshmcache.so)
out=$(mktemp)
# pytest's own temp dirs (tmp_path) in one of ours, removed afterwards:
# by default it keeps the last three under /tmp/pytest-of-$USER.
base=$(mktemp -d "${TMPDIR:-/tmp}/shmc-pytest.XXXXXX")
trap 'rm -rf "$out" "$base"' EXIT
PYTHONPATH="$PWD/python/build" LD_LIBRARY_PATH="$PWD/client/.libs" \
    PYTHONDONTWRITEBYTECODE=1 LD_PRELOAD="$pre" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    "$PYTHON" -m pytest -v -p no:cacheprovider --basetemp="$base/t" \
    "$top/python/tests" \
    >"$out" 2>&1
rc=$?
n=0
bad=0
while IFS= read -r line; do
    case "$line" in
    *::*" PASSED"* | *::*" FAILED"* | *::*" ERROR"* | *::*" SKIPPED"*)
        name=${line#*::}
        name=${name%% *}
        n=$((n + 1))
        case "$line" in
        *" PASSED"*) echo "ok $n - python: $name" ;;
        *" SKIPPED"*) echo "ok $n - python: $name # SKIP" ;;
        *) echo "not ok $n - python: $name"; bad=1 ;;
        esac
        ;;
    esac
done <"$out"
if [ "$n" -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; }; then
    n=$((n + 1))
    echo "not ok $n - pytest exited $rc"
    bad=1
fi
[ "$bad" -ne 0 ] && sed 's/^/# /' "$out"
echo "1..$n"
