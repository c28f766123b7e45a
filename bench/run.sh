#!/bin/sh
# SPDX-License-Identifier: MIT
# Reproduce the README's performance figures.
#
#   bench/run.sh [--quick]
#
# 1. Lookups: 1,000,000 random lookups of 16-byte keys with 100-byte and
#    1000-byte values, from a reader process, against the minimal
#    reference reader, REPEAT processes of RUNS alternating runs each;
#    once more with 150 rounds of other work after each lookup; then the
#    residency options (populate, lock, huge pages) on the same lookups.
#    Tables live in $BENCH_DIR (default /dev/shm, a tmpfs, as memory-mode
#    tables do).
# 2. Writes through the daemon (bench_set), and disk mode (bench_restart).
# 3. Side by side (bench_vs): shmcache, memcached, Redis, LMDB and the
#    reference reader on one workload (1,000,000 keys; 100- and 1000-byte
#    values; every value verified; random and Zipf(0.99)-skewed gets).  memcached, Redis and shmcached run on
#    Unix sockets in a temp dir, never on a TCP port, and are stopped by
#    PID on the way out, on error too.  Prints a Markdown table and writes
#    bench/results/latest.json.
#
# --quick runs everything small and once (100,000 keys; under 3 minutes):
# a smoke test of the benchmark, not a measurement.  Installs what it
# compares against first (scripts/deps.sh bench: memcached, redis-server,
# liblmdb-dev, libhiredis-dev).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
case "${1:-}" in
--quick) quick=1 ;;
"") ;;
*)
    echo "usage: bench/run.sh [--quick]" >&2
    exit 64
    ;;
esac

"$top/scripts/deps.sh" bench
# A build configured before hiredis and liblmdb were installed would
# leave their contenders out: configure again then.
if [ -f "$top/build/config.h" ] &&
    pkg-config --exists hiredis lmdb 2>/dev/null &&
    ! grep -q '^#define HAVE_LMDB 1' "$top/build/config.h"; then
    rm -f "$top/build/.build-args"
fi
"$top/scripts/build.sh" build >/dev/null

if [ "$quick" -eq 1 ]; then
    keys=${KEYS:-100000}
    runs=${RUNS:-3}
    repeat=${REPEAT:-1}
    restart_size=268435456
    vs_args="--quick"
else
    keys=${KEYS:-1000000}
    runs=${RUNS:-5}
    repeat=${REPEAT:-3}
    restart_size=1073741824
    vs_args="--keys $keys --runs 3"
fi
dir=${BENCH_DIR:-/dev/shm}
persist=${PERSIST_DIR:-/var/tmp}
bin=$top/build

# Everything started here is stopped by PID, and every temp dir removed,
# however the script ends.
pids=""
dirs=""
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null || true
    done
    for p in $pids; do
        wait "$p" 2>/dev/null || true
    done
    pids=""
    # shellcheck disable=SC2086
    [ -z "$dirs" ] || rm -rf $dirs
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# stop PID: stop one server and forget it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    # shellcheck disable=SC2086 # a list of PIDs, split on purpose
    pids=$(printf '%s\n' $pids | grep -vx "$1" | tr '\n' ' ')
}
# shellcheck source=scripts/daemon-lib.sh
. "$top/scripts/daemon-lib.sh"
# wait_socket PATH PID NAME: until PATH is a socket, 10 s at most.
wait_socket() {
    if ! shmc_wait_socket "$1" "$2"; then
        echo "bench/run.sh: $3 did not start" >&2
        exit 1
    fi
}

# ---- 1. lookups against the reference ----
for v in 100 1000; do
    i=0
    while [ "$i" -lt "$repeat" ]; do
        "$bin/bench/bench" --keys "$keys" --value-size "$v" \
            --runs "$runs" --dir "$dir"
        i=$((i + 1))
    done
done
# The same lookups with application work between them (bench.c --work):
# back to back, the reference's short lookup overlaps the misses of
# several lookups; with work in between, each pays its own.
for v in 100 1000; do
    "$bin/bench/bench" --keys "$keys" --value-size "$v" \
        --runs "$runs" --dir "$dir" --work 150
done
# Residency options on the same lookups (100-byte values).
for r in populate lock huge populate,lock,huge; do
    i=0
    while [ "$i" -lt "$repeat" ]; do
        "$bin/bench/bench" --keys "$keys" --value-size 100 \
            --runs "$runs" --dir "$dir" --residency "$r"
        i=$((i + 1))
    done
done

# ---- 2. writes through the daemon; disk mode ----
work=$(mktemp -d "$dir/shmc-bench-daemon.XXXXXX")
dirs="$dirs $work"
shmc_start_daemon "$bin/daemon/shmcached" "$work" \
    '{"log_level": "warning", "tables": {"default": {"size_bytes": 536870912, "default_ttl_s": 0}}}'
dpid=$SHMC_DPID
pids="$pids $dpid"
i=0
while [ "$i" -lt "$repeat" ]; do
    "$bin/bench/bench_set" "$work/run/control.sock" --runs "$runs"
    i=$((i + 1))
done
stop "$dpid"

# Disk mode: READY time of a disk table reopened clean and after SIGKILL
# (verification), then the cost of the periodic msync on writes:
# bench_set against a disk table with sync_interval_s 0 (never) and 1.
"$bin/bench/bench_restart" "$bin/daemon/shmcached" --size "$restart_size" \
    --runs "$runs" --dir "$persist"
for interval in 0 1; do
    pw=$(mktemp -d "$persist/shmc-bench-sync.XXXXXX")
    dirs="$dirs $pw"
    shmc_start_daemon "$bin/daemon/shmcached" "$pw" \
        "{\"log_level\": \"warning\", \"sync_interval_s\": $interval, \"tables\": {\"default\": {\"mode\": \"disk\", \"size_bytes\": 536870912, \"default_ttl_s\": 0}}}"
    spid=$SHMC_DPID
    pids="$pids $spid"
    printf 'disk table, sync_interval_s=%s: ' "$interval"
    "$bin/bench/bench_set" "$pw/run/control.sock" --runs "$runs"
    stop "$spid"
    rm -rf "$pw"
done

# ---- 3. side by side ----
vs=$(mktemp -d "$dir/shmc-bench-vs.XXXXXX")
dirs="$dirs $vs"
mc_user=""
[ "$(id -u)" -ne 0 ] || mc_user="-u root" # memcached refuses root otherwise
for v in 100 1000; do
    # Fresh servers per value size, so that RSS growth is this load's.
    # shmcache: a table with room to spare (no eviction under the writer),
    # at least 1 GiB in a full run, and the same with huge pages.
    size=$((keys * (v + 43) * 8 / 5 / 2097152 * 2097152 + 67108864))
    if [ "$quick" -eq 0 ] && [ "$size" -lt 1073741824 ]; then
        size=1073741824
    fi
    sd=$vs/shmcached-$v
    shmc_start_daemon "$bin/daemon/shmcached" "$sd" \
        "{\"log_level\": \"warning\", \"tables\": {
          \"bench\": {\"size_bytes\": $size, \"default_ttl_s\": 0,
                      \"max_value_bytes\": 65536,
                      \"expected_item_bytes\": $((v + 16))},
          \"bench_huge\": {\"size_bytes\": $size, \"default_ttl_s\": 0,
                      \"max_value_bytes\": 65536,
                      \"expected_item_bytes\": $((v + 16)),
                      \"huge_pages\": true, \"populate\": true}}}"
    spid=$SHMC_DPID
    pids="$pids $spid"
    # shellcheck disable=SC2086
    memcached -s "$vs/memcached.sock" -a 0700 -m 4096 $mc_user \
        2>"$vs/memcached.log" &
    mpid=$!
    pids="$pids $mpid"
    redis-server --port 0 --unixsocket "$vs/redis.sock" \
        --unixsocketperm 700 --save "" --appendonly no \
        --dir "$vs" >"$vs/redis.log" 2>&1 &
    rpid=$!
    pids="$pids $rpid"
    wait_socket "$vs/memcached.sock" "$mpid" memcached
    wait_socket "$vs/redis.sock" "$rpid" redis-server
    # shellcheck disable=SC2086
    "$bin/bench/bench_vs" $vs_args --value-size "$v" --dir "$vs" \
        --shmcache "$sd/run/control.sock" --table bench \
        --huge-table bench_huge \
        --memcached "$vs/memcached.sock" --memcached-pid "$mpid" \
        --redis "$vs/redis.sock" --redis-pid "$rpid" --lmdb \
        --json "$vs/results.json"
    stop "$rpid"
    stop "$mpid"
    stop "$spid"
    rm -rf "$sd"
done
mkdir -p "$top/bench/results"
cp "$vs/results.json" "$top/bench/results/latest.json"
echo
"$bin/bench/bench_vs" --report "$top/bench/results/latest.json"
echo
echo "bench/run.sh: results in bench/results/latest.json"
