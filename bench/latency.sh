#!/bin/sh
# SPDX-License-Identifier: MIT
# Set latency through the daemon while its table keeps making room:
# bench_set --latency over KEYS random keys (default 200,000, about twice
# what the 16 MiB table holds), one set per round trip, RUNS times
# (default 3), each on a fresh throwaway daemon.  SHMCACHED=path runs
# another build of the daemon (to compare two versions in one session).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" build >/dev/null
. "$top/scripts/daemon-lib.sh"
bin=${SHMCACHED:-$top/build/daemon/shmcached}
keys=${KEYS:-200000}
runs=${RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/shmc-bench-lat.XXXXXX")
dpid=""
trap '[ -z "$dpid" ] || kill "$dpid" 2>/dev/null || true; rm -rf "$work"' EXIT
i=0
while [ "$i" -lt "$runs" ]; do
    rm -rf "$work/d"
    shmc_start_daemon "$bin" "$work/d" \
        '{"log_level": "warning", "tables": {"default": {"size_bytes": 16777216, "max_value_bytes": 4096, "default_ttl_s": 0}}}'
    dpid=$SHMC_DPID
    "$top/build/bench/bench_set" "$work/d/run/control.sock" \
        --latency "$keys" --sets 300000
    kill "$dpid"
    wait "$dpid" 2>/dev/null || true
    dpid=""
    i=$((i + 1))
done
