#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 16's benchmark: shmcache as a near cache in front of Redis.
#
#   bench/near.sh [--quick] [bench_near options...]
#
# Hot-key reads on a Zipf workload from 2 processes while a writer updates
# Redis, three ways (bench/bench_near.c says how each is measured):
# through shmcached's near table (conf/nearcache-example.json), straight
# to Redis (one GET round trip per read), and through a per-process
# client-side cache over hiredis with CLIENT TRACKING.  Reports reads/s,
# the hit ratio and the staleness of each, prints a Markdown table and
# writes bench/results/near.json.
#
# redis-server (no persistence, --port 0) and shmcached run on Unix
# sockets in a temp dir, and are stopped by PID, and the temp dir removed,
# however the script ends.  Installs what it needs first (scripts/deps.sh
# bench: redis-server, libhiredis-dev), then builds into build/.
#
# --quick: 20,000 keys, 1 s per mode, one run (a few seconds): a smoke test
# of the benchmark, not a measurement; written to
# bench/results/near-quick.json so that it never replaces a measurement.
# Further options go to bench_near (--keys N, --seconds S, --alpha A,
# --write-rate W, --runs R, --modes LIST).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi
case "${1:-}" in
-h | --help)
    echo "usage: bench/near.sh [--quick] [bench_near options...]" >&2
    exit 64
    ;;
esac

"$top/scripts/deps.sh" bench
# A build configured before hiredis was installed has no redis loader and
# no bench_near: configure again then.
if [ -f "$top/build/config.h" ] && pkg-config --exists hiredis 2>/dev/null &&
    ! grep -q '^#define HAVE_HIREDIS 1' "$top/build/config.h"; then
    rm -f "$top/build/.build-args"
fi
"$top/scripts/build.sh" build >/dev/null
bin=$top/build
if [ ! -x "$bin/bench/bench_near" ]; then
    echo "bench/near.sh: build/bench/bench_near missing (built without" \
        "hiredis?)" >&2
    exit 1
fi
redis_server=${REDIS_SERVER:-/usr/bin/redis-server}
# shellcheck source=scripts/daemon-lib.sh
. "$top/scripts/daemon-lib.sh"

# Everything started here is stopped by PID, and the temp dir removed,
# however the script ends.
pids=""
tmp=""
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null || true
    done
    for p in $pids; do
        wait "$p" 2>/dev/null || true
    done
    pids=""
    [ -z "$tmp" ] || rm -rf "$tmp"
    tmp=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-bench-near.XXXXXX")

# Redis: no persistence, no TCP port, a socket only we may use.
"$redis_server" --port 0 --unixsocket "$tmp/redis.sock" \
    --unixsocketperm 700 --save "" --appendonly no --dir "$tmp" \
    --logfile "$tmp/redis.log" --daemonize no &
rpid=$!
pids="$pids $rpid"
if ! shmc_wait_socket "$tmp/redis.sock" "$rpid"; then
    echo "bench/near.sh: redis-server did not start:" >&2
    cat "$tmp/redis.log" >&2 || true
    exit 1
fi

# shmcached with the example config, its endpoint our Redis.
example="$top/conf/nearcache-example.json"
conf=$(sed "s|\"/run/redis/redis-server.sock\"|\"$tmp/redis.sock\"|" \
    "$example")
case "$conf" in
*"\"$tmp/redis.sock\""*) ;;
*)
    echo "bench/near.sh: no Redis endpoint to replace in $example" >&2
    exit 1
    ;;
esac
started=0
shmc_start_daemon "$bin/daemon/shmcached" "$tmp/shmcached" "$conf" ||
    started=$?
pids="$pids $SHMC_DPID"
if [ "$started" -ne 0 ]; then
    echo "bench/near.sh: shmcached did not start:" >&2
    cat "$tmp/shmcached/daemon.log" >&2 || true
    exit 1
fi

if [ "$quick" -eq 1 ]; then
    set -- --quick "$@"
    out=near-quick.json
else
    out=near.json
fi
if ! "$bin/bench/bench_near" --redis "$tmp/redis.sock" \
    --shmcache "$tmp/shmcached/run/control.sock" --table near \
    --json "$tmp/near.json" "$@"; then
    echo "bench/near.sh: bench_near failed; shmcached's log:" >&2
    tail -n 20 "$tmp/shmcached/daemon.log" >&2 || true
    exit 1
fi
mkdir -p "$top/bench/results"
cp "$tmp/near.json" "$top/bench/results/$out"
echo
"$bin/bench/bench_near" --report "$top/bench/results/$out"
echo
echo "bench/near.sh: results in bench/results/$out"
