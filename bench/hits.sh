#!/bin/sh
# SPDX-License-Identifier: MIT
# Reproduce the README's hit-ratio table: a look-aside client (get, and
# set on a miss) replays Zipf workloads (alpha 0.99 and 0.8 over KEYS keys,
# default 1,000,000) through a throwaway shmcached whose table holds about
# 5%, 10% and 20% of the keys, next to exact LRU, FIFO and S3-FIFO
# simulations holding as many items as the table did; then the cost of a
# reader's hint on a get.  Unix socket only, tables in a temp dir.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" build >/dev/null
make -C "$top/build" bench/bench_hits >/dev/null
. "$top/scripts/daemon-lib.sh"
keys=${KEYS:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/shmc-bench-hits.XXXXXX")
dpid=""
trap '[ -z "$dpid" ] || kill "$dpid" 2>/dev/null || true; rm -rf "$work"' EXIT
for alpha in 0.99 0.8; do
    for pct in 5 10 20; do
        # About 150 file bytes per 16/100-byte item at the default 90%
        # high-water mark; the benchmark reports the capacity it got.
        size=$(((keys * pct / 100 * 150 * 100 / 88 + 65535) / 65536 * 65536))
        rm -rf "$work/d"
        shmc_start_daemon "$top/build/daemon/shmcached" "$work/d" \
            "{\"log_level\": \"warning\", \"expire_interval_ms\": 100, \"tables\": {\"default\": {\"size_bytes\": $size, \"expected_item_bytes\": 116, \"max_value_bytes\": 4096, \"default_ttl_s\": 0}}}"
        dpid=$SHMC_DPID
        "$top/build/bench/bench_hits" "$work/d/run/control.sock" \
            "$work/d/run/default.shm" --keys "$keys" --alpha "$alpha"
        kill "$dpid"
        wait "$dpid" 2>/dev/null || true
        dpid=""
    done
done
