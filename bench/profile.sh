#!/bin/sh
# SPDX-License-Identifier: MIT
# Where a lookup's time goes: instruction and simulated cache-miss counts
# per get, under callgrind, for shmcache (shmc_get), the floor reader and
# LMDB (mdb_get with its read transaction renewed), on bench_vs's
# workload.  This machine's VM exposes no hardware counters (perf stat
# says "not supported"), so callgrind's counts stand in for them; they do
# not depend on how busy the machine is.
#
#   bench/profile.sh [--keys N] [--value-size V]
#
# Defaults: 1,000,000 keys, 100-byte values (about 8 minutes).  Prints,
# per contender: instructions (Ir), data reads (Dr) and first-level data
# read misses (D1mr) per get.  Time itself is not measured here (see
# bench/run.sh): a lookup of a random key among a million is bound by its
# memory accesses, which callgrind counts but does not time.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
keys=1000000
vsize=100
while [ $# -gt 0 ]; do
    case $1 in
    --keys)
        keys=$2
        shift 2
        ;;
    --value-size)
        vsize=$2
        shift 2
        ;;
    *)
        echo "usage: bench/profile.sh [--keys N] [--value-size V]" >&2
        exit 64
        ;;
    esac
done

"$top/scripts/deps.sh" bench valgrind
"$top/scripts/build.sh" build >/dev/null
bin=$top/build

work=$(mktemp -d "${TMPDIR:-/tmp}/shmc-profile.XXXXXX")
dpid=""
cleanup() {
    if [ -n "$dpid" ]; then
        kill "$dpid" 2>/dev/null || true
        wait "$dpid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/daemon-lib.sh
. "$top/scripts/daemon-lib.sh"
size=$((keys * (vsize + 43) * 8 / 5 / 2097152 * 2097152 + 67108864))
shmc_start_daemon "$bin/daemon/shmcached" "$work/d" \
    "{\"log_level\": \"warning\", \"tables\": {\"bench\": {\"size_bytes\": $size, \"default_ttl_s\": 0, \"max_value_bytes\": 65536, \"expected_item_bytes\": $((vsize + 16))}}}"
dpid=$SHMC_DPID

# Only the three get functions are counted; the loads, the readers'
# setup and the other phases are not.  Forked readers write files of
# their own (%p); the one that ran the alternating gets has all three.
echo "bench/profile.sh: running bench_vs under callgrind ($keys keys, $vsize-byte values)..."
(cd "$work" && LD_LIBRARY_PATH=$bin/client/.libs valgrind --tool=callgrind \
    --cache-sim=yes --callgrind-out-file="$work/cg.%p" \
    --toggle-collect=sc_get --toggle-collect=floor_get \
    --toggle-collect=lm_get \
    "$bin/bench/.libs/bench_vs" --keys "$keys" --runs 1 --rt-ops 100 \
    --value-size "$vsize" --dir "$work" \
    --shmcache "$work/d/run/control.sock" --table bench --lmdb \
    >"$work/bench.log" 2>&1) || {
    cat "$work/bench.log" >&2
    exit 1
}

# The profile that holds all three (the gets pass).  Call counts come
# from the callers' view; totals per function from the inclusive one.
for f in "$work"/cg.*; do
    callgrind_annotate --inclusive=yes --tree=caller "$f" >"$f.tree" 2>/dev/null ||
        continue
    if ! grep -q ':sc_get ' "$f.tree" || ! grep -q ':floor_get ' "$f.tree" ||
        ! grep -q ':lm_get ' "$f.tree"; then
        continue
    fi
    callgrind_annotate --inclusive=yes "$f" >"$f.incl" 2>/dev/null
    awk -v keys="$keys" -v vsize="$vsize" '
        function num(s) { gsub(",", "", s); return s == "." ? 0 : s + 0 }
        # Drop the "(x%)" columns, keep the counts and the name.
        function clean(s) { gsub(/\([^)]*\)/, "", s); return s }
        FNR == 1 { file++ }
        file == 1 && /< .*get_pass \(/ {
            n = $0; sub(/.*get_pass \(/, "", n); sub(/x\).*/, "", n)
            pending = num(n); next
        }
        file == 1 && /\* / && pending > 0 {
            for (i = 1; i <= 3; i++) {
                fn = i == 1 ? "floor_get" : i == 2 ? "sc_get" : "lm_get"
                if ($0 ~ (":" fn " ")) calls[fn] = pending
            }
        }
        file == 1 { pending = 0; next }
        file == 2 {
            line = clean($0); sub(/^ +/, "", line); split(line, c, " +")
            # c[1] Ir, c[2] Dr, c[3] Dw, c[4] I1mr, c[5] D1mr
            if (line !~ /^ *[0-9]/) next
            name = $NF == "" ? $(NF - 1) : $NF
            if ($0 ~ /\[/) { name = $0; sub(/ \[.*/, "", name); sub(/.* /, "", name) }
            sub(/.*\.\.\//, "", name)
            if (name in ir) next
            ir[name] = num(c[1]); dr[name] = num(c[2]); d1[name] = num(c[5])
            order[++n] = name
        }
        END {
            printf "\n| per get (%d keys, %d-byte values) | instructions | data reads | D1 read misses |\n", keys, vsize
            print "|---|---:|---:|---:|"
            split("floor_get sc_get lm_get", fns, " ")
            for (i = 1; i <= 3; i++)
                for (k = 1; k <= n; k++)
                    if (order[k] ~ (":" fns[i] "$")) {
                        printf "| %s | %.0f | %.0f | %.1f |\n", fns[i],
                            ir[order[k]] / calls[fns[i]],
                            dr[order[k]] / calls[fns[i]],
                            d1[order[k]] / calls[fns[i]]
                        break
                    }
            print "\nInside sc_get (instructions per get, inclusive):"
            for (k = 1; k <= n; k++)
                if (order[k] ~ /(get\.c:shmc_get|table\.c:|hash\.c:|crc32c\.c:)/)
                    printf "  %-40s %6.0f\n", order[k], ir[order[k]] / calls["sc_get"]
        }' "$f.tree" "$f.incl"
    exit 0
done
echo "bench/profile.sh: no profile held all three gets" >&2
exit 1
