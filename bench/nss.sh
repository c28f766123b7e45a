#!/bin/sh
# SPDX-License-Identifier: MIT
# getpwnam and getaddrinfo calls per second on this host's own entries:
# through libnss_shmcache (hits from the mapped tables), through glibc's
# nscd, and through "files" directly; and what a first lookup (a miss)
# costs each.  nscd runs in a private mount namespace with its own
# /var/run/nscd and /var/cache/nscd, so no other process of the host uses
# it; shmcached runs in a temp dir.  Three rounds, alternating; medians.
#
# usage: bench/nss.sh [SECONDS per measurement, default 2]
# SHMC_NSS_PERSISTENT=false measures the nss loader's one-shot mode (a
# process per miss) instead of its persistent workers.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-2}
b="$top/build"
"$top/scripts/deps.sh" bench
[ -x "$b/bench/bench_nss" ] || "$top/scripts/build.sh" build >/dev/null
. "$top/scripts/daemon-lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-nssbench.XXXXXX")
chmod 755 "$tmp"
dpid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; rm -rf "$tmp"' EXIT
L="$b/nss/shmcache-nss-load"
t() { printf '"%s": {"size_bytes": "8M", "max_value_bytes": 65536, "loader":
  {"type": "nss", "database": "%s", "command": ["%s"], "persistent": %s}}' \
    "$1" "$1" "$L" "${SHMC_NSS_PERSISTENT:-true}"; }
shmc_start_daemon "$b/daemon/shmcached" "$tmp" \
    "{\"log_level\": \"warning\", \"tables\": {$(t passwd), $(t hosts)}}"
dpid=$SHMC_DPID
users=$(getent -s files passwd | cut -d: -f1 | tr '\n' ' ')
hosts=$(awk '!/^[[:space:]]*(#|$)/ { print $2 }' /etc/hosts | sort -u |
    tr '\n' ' ')
run() { "$b/bench/bench_nss" "$@" $users -- $hosts; }
shm() {
    SHMCACHE_SOCKET="$tmp/run/control.sock" \
        LD_LIBRARY_PATH="$b/nss/.libs" run shmcache "$secs"
}
nscd_run() {
    unshare -m sh -c '
        mount -t tmpfs tmpfs /var/run/nscd && mount -t tmpfs tmpfs /var/cache/nscd &&
        /usr/sbin/nscd && sleep 0.3 && "$@"; rc=$?; /usr/sbin/nscd -K; exit $rc' \
        nscd "$b/bench/bench_nss" default "$secs" $users -- $hosts
}
for r in 1 2 3; do
    echo "files    $(run files "$secs")" >>"$tmp/out"
    echo "shmcache $(shm)" >>"$tmp/out"
    # A fresh daemon table each round would need a restart: flush instead,
    # so that first_ms measures misses every round.
    "$b/client/tool/shmcachectl" -s "$tmp/run/control.sock" -t passwd flush
    "$b/client/tool/shmcachectl" -s "$tmp/run/control.sock" -t hosts flush
    if [ -x /usr/sbin/nscd ] && [ -d /var/run/nscd ]; then
        echo "nscd     $(nscd_run)" >>"$tmp/out"
    fi
done
median() { # source field
    grep "^$1 " "$tmp/out" | tr ' ' '\n' | sed -n "s/^$2=//p" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
echo "$(echo $users | wc -w) users, $(echo $hosts | wc -w) host names," \
    "${secs} s per measurement, median of 3 rounds"
echo
echo "| | getpwnam/s | getaddrinfo/s | first getpwnam, ms |"
echo "|---|---:|---:|---:|"
for s in shmcache nscd files; do
    grep -q "^$s " "$tmp/out" || continue
    echo "| $s | $(median $s getpwnam_per_s) | $(median $s getaddrinfo_per_s) |" \
        "$(median $s first_ms) |"
done
sp=$(median shmcache getpwnam_per_s)
fp=$(median files getpwnam_per_s)
np=$(median nscd getpwnam_per_s)
echo
awk -v s="$sp" -v f="$fp" -v n="${np:-0}" 'BEGIN {
    printf "getpwnam: shmcache / files = %.1fx (target >= 3x)\n", s / f
    if (n > 0) printf "getpwnam: shmcache / nscd = %.1fx (target >= 10x)\n", s / n
}'
