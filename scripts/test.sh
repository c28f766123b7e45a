#!/bin/sh
# SPDX-License-Identifier: MIT
# Quick start, part two (and CI): install what is missing, build, and run
# the whole test suite three ways:
#   1. build/       -O2, -Werror (--enable-werror): make check
#   2. build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer: make check
#   3. the libFuzzer targets of tests/fuzz/, 30 s each (clang, ASan+UBSan)
#   4. build/       make distcheck (tarball, VPATH build, install/uninstall;
#                   configured as a distribution would, without -Werror)
#   5. Debian packages built, checked by lintian, installed, run, purged
#   6. the packages under a real systemd in a debootstrapped tree
# plus a short benchmark run so bench/ cannot rot.
# Ends with one line "shmcache: N passed, N failed".
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh"

passed=0
failed=0
# Add a build's automake test summary to the totals.
tally() {
    log="$1/test-suite.log"
    p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
    f=$(sed -n 's/^# FAIL: *//p' "$log" | head -n1)
    e=$(sed -n 's/^# ERROR: *//p' "$log" | head -n1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
}
# Run make check in a build dir; show the log of anything that failed.
check() {
    rm -f "$1/test-suite.log"
    if ! make -C "$1" -j"$(nproc)" check; then
        before=$failed
        [ -f "$1/test-suite.log" ] && tally "$1" && cat "$1/test-suite.log" >&2
        # A build error fails make check before any test runs.
        [ "$failed" -eq "$before" ] && failed=$((failed + 1))
        echo "shmcache: $passed passed, $failed failed"
        exit 1
    fi
    tally "$1"
}

echo "== build and test (gcc -O2 -Werror)"
"$top/scripts/build.sh" build --enable-werror
check build

echo "== build and test under ASan + UBSan"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
"$top/scripts/build.sh" build-asan --enable-werror CFLAGS="-O1 -g -fno-omit-frame-pointer $san" \
    LDFLAGS="$san"
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
UBSAN_OPTIONS=print_stacktrace=1 \
    check build-asan

echo "== fuzz targets, ${SHMC_FUZZ_SECONDS:-30} s each"
if tests/fuzz/run.sh "${SHMC_FUZZ_SECONDS:-30}" >build/fuzz-run.log 2>&1; then
    fz=0
else
    fz=1
fi
cat build/fuzz-run.log
passed=$((passed + $(grep -c '^fuzz: .* ok ' build/fuzz-run.log || true)))
if [ "$fz" -ne 0 ]; then
    failed=$((failed + $(grep -c '^fuzz: .* FAILED' build/fuzz-run.log || true)))
    [ "$(grep -c '^fuzz: .* FAILED' build/fuzz-run.log || true)" -gt 0 ] ||
        failed=$((failed + 1))
    echo "shmcache: $passed passed, $failed failed"
    exit 1
fi

echo "== make distcheck"
make -C build distcheck

echo "== Debian packages: build, lintian, install, run, purge"
# Its own exit status, not tee's: 0 passed, 77 skipped (the reason is
# printed: not root, or shmcache installed here by something else).
{
    pst=0
    scripts/package-test.sh || pst=$?
    echo "$pst" >build/package-test.rc
} | tee build/package-test.log
pst=$(cat build/package-test.rc)
pp=$(sed -n 's/^package: \([0-9]*\) passed.*/\1/p' build/package-test.log)
pf=$(sed -n 's/^package: [0-9]* passed, \([0-9]*\) failed$/\1/p' \
    build/package-test.log)
passed=$((passed + ${pp:-0}))
if [ "$pst" -ne 0 ] && [ "$pst" -ne 77 ]; then
    failed=$((failed + ${pf:-0}))
    [ "${pf:-0}" -gt 0 ] || failed=$((failed + 1))
    echo "shmcache: $passed passed, $failed failed"
    exit 1
fi

echo "== the packages under a real systemd (debootstrap, a booted tree)"
# 0 passed, 77 skipped (the reason is printed: the host cannot).
{
    sst=0
    scripts/systemd-test.sh || sst=$?
    echo "$sst" >build/systemd-test.rc
} | tee build/systemd-test.log
sst=$(cat build/systemd-test.rc)
sp=$(sed -n 's/^systemd: \([0-9]*\) passed.*/\1/p' build/systemd-test.log)
sf=$(sed -n 's/^systemd: [0-9]* passed, \([0-9]*\) failed$/\1/p' \
    build/systemd-test.log)
passed=$((passed + ${sp:-0}))
if [ "$sst" -ne 0 ] && [ "$sst" -ne 77 ]; then
    failed=$((failed + ${sf:-0}))
    [ "${sf:-0}" -gt 0 ] || failed=$((failed + 1))
    echo "shmcache: $passed passed, $failed failed"
    exit 1
fi

echo "== benchmark smoke run (figures from bench/run.sh, not from here)"
build/bench/bench --keys 20000 --value-size 100 --runs 1 --dir "${TMPDIR:-/tmp}"
"$top/scripts/deps.sh" bench
/usr/bin/python3 bench/python.py --quick
bench/near.sh --quick

echo "shmcache: $passed passed, $failed failed"
