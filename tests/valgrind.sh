#!/bin/sh
# SPDX-License-Identifier: MIT
# The integration suites with the daemon under valgrind memcheck (issue
# 12): check_daemon, check_client, check_loader and check_persist, each
# daemon they start run by a wrapper as
#   valgrind --leak-check=full --errors-for-leak-kinds=definite
#            --error-exitcode=99
# so a daemon with a memory error or a definite leak exits 99, which the
# tests that check its exit status see; every valgrind log is scanned
# too.  Not part of make check (a run takes minutes); on demand:
#   tests/valgrind.sh [BUILD_DIR] [SUITE...]
# BUILD_DIR defaults to build/ (scripts/build.sh build), the suites to
# all four.  Valgrind comes from Debian: scripts/deps.sh valgrind.
# Exit: 0 clean, 1 a suite failed or valgrind reported, 77 no valgrind.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
[ $# -gt 0 ] && shift
suites=${*:-check_daemon check_client check_loader check_persist}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind.sh: no valgrind (scripts/deps.sh valgrind)" >&2
    exit 77
fi
if nm "$build/daemon/shmcached" 2>/dev/null | grep -q __asan_init; then
    echo "valgrind.sh: $build is an ASan build; valgrind needs a plain one" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-valgrind.XXXXXX")
logs=$tmp/logs
mkdir "$logs"
cat >"$tmp/shmcached" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --errors-for-leak-kinds=definite \\
    --error-exitcode=99 --child-silent-after-fork=yes \\
    --log-file="$logs/vg.%p.log" "$build/daemon/shmcached" "\$@"
EOF
chmod +x "$tmp/shmcached"

failed=0
for s in $suites; do
    echo "== $s (daemon under valgrind)"
    # RSS figures mean nothing under valgrind: check_daemon skips them.
    if env SHMCACHED="$tmp/shmcached" \
        SHMCACHECTL="$build/client/tool/shmcachectl" \
        SHMC_RSS_UNTRUSTED=1 CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10} \
        CK_VERBOSITY=normal top_srcdir="$top" \
        "$build/tests/$s" >"$tmp/$s.out" 2>&1; then
        tail -n 1 "$tmp/$s.out"
    else
        failed=$((failed + 1))
        grep -v '^[0-9]*%: Checks' "$tmp/$s.out" | tail -n 40
        tail -n 1 "$tmp/$s.out"
    fi
done

# Every daemon's log: errors, and what it lost for good.
n=$(ls "$logs" | wc -l)
bad=$(grep -l 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]' "$logs"/* \
    2>/dev/null)
checked=$(grep -l 'HEAP SUMMARY' "$logs"/* 2>/dev/null | wc -l)
echo "== valgrind: $n daemon runs ($checked ran to exit and were checked" \
    "for leaks; the others were killed, as crash tests do)," \
    "$(echo "$bad" | grep -c .) with errors"
for f in $bad; do
    echo "--- $f"
    cat "$f"
    failed=$((failed + 1))
done
# Leaks valgrind counts as possible or reachable are not errors here, but
# are shown in a summary.
grep -h 'possibly lost: [1-9]\|still reachable: [1-9]' "$logs"/* 2>/dev/null |
    sed 's/^==[0-9]*== */  /' | sort | uniq -c
if [ "$failed" -eq 0 ]; then
    rm -rf "$tmp"
    exit 0
fi
echo "valgrind.sh: logs kept in $tmp"
exit 1
