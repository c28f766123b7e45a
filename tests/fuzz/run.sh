#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/fuzz/run.sh [SECONDS]: build every libFuzzer target with clang
# (ASan + UBSan), replay the regression inputs in regress/TARGET/, then
# fuzz each target for SECONDS (default 30) from its seed corpus in
# corpus/TARGET/ (copied: the tree is not changed).  Exits non-zero on any
# finding; the input that caused it is kept in build/fuzz/findings/, to be
# added to regress/TARGET/ once fixed.  Needs clang-14 and
# libclang-rt-14-dev (scripts/deps.sh fuzz installs them).  FUZZ_TARGETS
# (default: all four) names the targets to run.
set -eu
secs=${1:-30}
top=$(cd "$(dirname "$0")/../.." && pwd)
"$top/scripts/deps.sh" fuzz
"$top/scripts/build.sh" build >/dev/null # for config.h
out="$top/build/fuzz"
mkdir -p "$out/findings"
cc=$(command -v clang-14 || command -v clang)
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -I$top/build -I$top/common -I$top/daemon
       -I$top/tests"
c="$top/common"
reader="$c/crc32c.c $c/entry.c $c/error.c $c/hash.c $c/mapping.c $c/table.c"
writer="$top/daemon/index.c $top/daemon/verify.c $top/daemon/evict.c
        $top/daemon/store.c $top/daemon/migrate.c $top/daemon/log.c
        $top/tests/testutil.c"
failed=0
for t in ${FUZZ_TARGETS:-fuzz_proto fuzz_table fuzz_verify fuzz_config}; do
    case $t in
    fuzz_proto) srcs="$c/proto.c $c/error.c" libs="" ;;
    fuzz_config) srcs="$top/daemon/conf.c $top/daemon/log.c $c/proto.c
                       $top/tests/testutil.c"
                 libs=$(pkg-config --libs jansson) ;;
    *) srcs="$reader $writer $top/tests/fuzz/image.c" libs="" ;;
    esac
    # shellcheck disable=SC2086
    $cc $flags -o "$out/$t" "$top/tests/fuzz/$t.c" $srcs $libs
    status=0
    set -- "$top/tests/fuzz/regress/$t"/*
    if [ -e "$1" ]; then
        "$out/$t" "$@" >"$out/$t.regress.log" 2>&1 || status=1
    fi
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/shmc-fuzz.XXXXXX")
    cp "$top/tests/fuzz/corpus/$t"/* "$corpus/"
    "$out/$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$out/findings/$t-" "$corpus" >"$out/$t.log" 2>&1 ||
        status=1
    rm -rf "$corpus"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    if [ "$status" -ne 0 ]; then
        failed=$((failed + 1))
        echo "fuzz: $t FAILED (see $out/$t.log)"
        tail -n 30 "$out/$t.log" >&2
    else
        echo "fuzz: $t ok runs=${runs:-?} seconds=$secs"
    fi
done
[ "$failed" -eq 0 ]
