#!/bin/sh
# Reproduce the README's performance table: 1,000,000 random lookups of
# 16-byte keys with 100-byte and 1000-byte values, from a reader process,
# against the minimal reference reader, REPEAT processes of RUNS
# alternating runs each.  Tables live in $BENCH_DIR (default /dev/shm, a
# tmpfs, as memory-mode tables do).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" build >/dev/null
keys=${KEYS:-1000000}
runs=${RUNS:-5}
repeat=${REPEAT:-3}
dir=${BENCH_DIR:-/dev/shm}
for v in 100 1000; do
    i=0
    while [ "$i" -lt "$repeat" ]; do
        "$top/build/bench/bench" --keys "$keys" --value-size "$v" \
            --runs "$runs" --dir "$dir"
        i=$((i + 1))
    done
done
