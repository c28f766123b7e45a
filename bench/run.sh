#!/bin/sh
# SPDX-License-Identifier: MIT
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

# Writes through the daemon: a throwaway shmcached on $dir with one 512 MiB
# memory table, driven by bench_set (round trip, pipelined, batched).
. "$top/scripts/daemon-lib.sh"
work=$(mktemp -d "$dir/shmc-bench-daemon.XXXXXX")
shmc_start_daemon "$top/build/daemon/shmcached" "$work" \
    '{"log_level": "warning", "tables": {"default": {"size_bytes": 536870912, "default_ttl_s": 0}}}'
dpid=$SHMC_DPID
trap 'kill "$dpid" 2>/dev/null; rm -rf "$work"' EXIT
i=0
while [ "$i" -lt "$repeat" ]; do
    "$top/build/bench/bench_set" "$work/run/control.sock" --runs "$runs"
    i=$((i + 1))
done

# Disk mode: READY time of a 1 GiB disk table reopened clean and after
# SIGKILL (verification), then the cost of the periodic msync on writes:
# bench_set against a disk table with sync_interval_s 0 (never) and 1.
"$top/build/bench/bench_restart" "$top/build/daemon/shmcached" \
    --runs "$runs" --dir "${PERSIST_DIR:-/var/tmp}"
for interval in 0 1; do
        pw=$(mktemp -d "${PERSIST_DIR:-/var/tmp}/shmc-bench-sync.XXXXXX")
    shmc_start_daemon "$top/build/daemon/shmcached" "$pw" \
        "{\"log_level\": \"warning\", \"sync_interval_s\": $interval, \"tables\": {\"default\": {\"mode\": \"disk\", \"size_bytes\": 536870912, \"default_ttl_s\": 0}}}"
    spid=$SHMC_DPID
    printf 'disk table, sync_interval_s=%s: ' "$interval"
    "$top/build/bench/bench_set" "$pw/run/control.sock" --runs "$runs"
    kill "$spid"
    wait "$spid" 2>/dev/null
    rm -rf "$pw"
done
