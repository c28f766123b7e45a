#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: libnss_shmcache.so.2 through glibc's own getent, against a daemon in
# a temp dir whose passwd, group and hosts tables use the "nss" loader
# (the helper just built; persistent workers for passwd and hosts, a
# process per key for group), without touching the host's nsswitch.conf:
# `getent -s shmcache` loads our module by its soname from
# LD_LIBRARY_PATH.  Every answer must equal `getent -s files`.  Then the
# workers: few of them answer every miss, one killed between loads costs
# no answer; and, in a private mount namespace with its own passwd and
# nsswitch.conf, a worker sees an edit of passwd at once (glibc keeps no
# copy across calls) and an edit of nsswitch.conf replaces the workers.
set -u
top=${top_srcdir:-.}
. "$top/scripts/daemon-lib.sh"
n=0
bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); bad=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
finish() { echo "1..$n"; exit 0; }

mod=nss/.libs/libnss_shmcache.so.2
helper=$PWD/nss/shmcache-nss-load
if [ ! -f "$mod" ] || ! command -v getent >/dev/null 2>&1; then
    echo "1..0 # SKIP no module built, or no getent"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-nss.XXXXXX")
chmod 755 "$tmp" # the loader runs as nobody when we are root
dpid=
npid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
    [ -n "$npid" ] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
    rm -rf "$tmp"' EXIT

table() { # name database positive-ttl negative-ttl [persistent]
    printf '"%s": {"size_bytes": "4M", "max_value_bytes": 65536,
      "default_ttl_s": %s, "negative_ttl_s": %s,
      "loader": {"type": "nss", "database": "%s", "persistent": %s,
                 "command": ["%s"]}}' "$1" "$3" "$4" "$2" "${5:-true}" \
        "$helper"
}
conf="{\"log_level\": \"warning\", \"tables\": {
  $(table passwd passwd 600 20), $(table group group 3600 60 false),
  $(table hosts hosts 3600 20)}}"
if ! shmc_start_daemon "${SHMCACHED:-daemon/shmcached}" "$tmp" "$conf"; then
    nok "daemon starts"
    sed 's/^/# /' "$tmp/daemon.log"
    finish
fi
dpid=$SHMC_DPID
export SHMCACHE_SOCKET="$tmp/run/control.sock"
export LD_LIBRARY_PATH="$PWD/nss/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# A sanitizer build's module needs the runtimes loaded first.
pre=$(shmc_sanitizer_preload "$mod")
ours() { LD_PRELOAD="$pre" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    getent -s shmcache "$@" 2>&1; echo "rc=$?"; }
files() { getent -s files "$@" 2>&1; echo "rc=$?"; }

# Compare our answer with files' for one query; collect mismatches.
mism=0
same() {
    a=$(ours "$@")
    b=$(files "$@")
    if [ "$a" != "$b" ]; then
        mism=$((mism + 1))
        [ "$mism" -le 5 ] && printf '# %s:\n#   shmcache: %s\n#   files:    %s\n' \
            "$*" "$(echo "$a" | tr '\n' ' ')" "$(echo "$b" | tr '\n' ' ')"
    fi
}
check_all() { # label
    if [ "$mism" -eq 0 ]; then ok "$1"; else nok "$1 ($mism differ)"; fi
    mism=0
}

users=$(getent -s files passwd | cut -d: -f1)
uids=$(getent -s files passwd | cut -d: -f3 | sort -un)
groups=$(getent -s files group | cut -d: -f1)
gids=$(getent -s files group | cut -d: -f3 | sort -un)
for u in $users; do same passwd "$u"; done
check_all "passwd by name: $(echo $users | wc -w) users equal files"
for u in $uids; do same passwd "$u"; done
check_all "passwd by uid: $(echo $uids | wc -w) uids equal files"
for g in $groups; do same group "$g"; done
check_all "group by name: $(echo $groups | wc -w) groups equal files"
for g in $gids; do same group "$g"; done
check_all "group by gid equal files"
for u in $users; do same initgroups "$u"; done
check_all "initgroups of every user equal files"
hosts=$(awk '!/^[[:space:]]*(#|$)/ { for (i = 2; i <= NF; i++) if ($i !~ /^#/) print $i; else break }' /etc/hosts | sort -u)
addrs=$(awk '!/^[[:space:]]*(#|$)/ { print $1 }' /etc/hosts | sort -u)
for h in $hosts; do same hosts "$h"; done
check_all "hosts by name: $(echo $hosts | wc -w) names of /etc/hosts equal files"
for a in $addrs; do same hosts "$a"; done
check_all "hosts by address: $(echo $addrs | wc -w) addresses equal files"
for q in "passwd no-such-user-$$" "passwd 4000000123" "group no-such-group-$$" \
    "group 4000000123" "hosts no-such-host-$$.invalid" "hosts 192.0.2.213"; do
    same $q
done
check_all "names that do not exist: not found, as in files"

# A hit is answered from the table: no further loader run.
calls() {
    "${SHMCACHECTL:-client/tool/shmcachectl}" -s "$SHMCACHE_SOCKET" -t passwd \
        stats 2>/dev/null | tr ',{}' '\n\n\n' | sed -n 's/.*"calls": *//p' | head -n 1
}
before=$(calls)
ours passwd root >/dev/null
ours passwd root >/dev/null
after=$(calls)
if [ -n "$before" ] && [ "$before" = "$after" ]; then
    ok "repeated lookups hit the table (loader calls stay $after)"
else
    nok "repeated lookups ran the loader ($before -> $after)"
fi

# Persistent workers: a handful answered every miss of passwd and hosts.
ctl() { "${SHMCACHECTL:-client/tool/shmcachectl}" -s "$SHMCACHE_SOCKET" "$@"; }
stat_of() { # table name
    ctl -t "$1" stats 2>/dev/null | tr ',{}' '\n\n\n' |
        sed -n "s/.*\"$2\": *//p" | head -n 1
}
pc=$(stat_of passwd calls)
pw=$(stat_of passwd workers_started)
hw=$(stat_of hosts workers_started)
if [ -n "$pw" ] && [ "$pw" -ge 1 ] && [ "$pw" -le 4 ] && [ "$pc" -ge 20 ] &&
    [ -n "$hw" ] && [ "$hw" -le 4 ]; then
    ok "persistent workers: $pc passwd misses answered by $pw worker(s)"
else
    nok "persistent workers: passwd calls=$pc workers_started=$pw, hosts workers_started=$hw"
fi

# Kill every worker between loads: the next misses still answer right.
kids=$(pgrep -P "$dpid" 2>/dev/null || true)
# First: each is undumpable, so no other process of its user may trace it
# or write its memory (the kernel then gives its /proc files to root).
if [ -n "$kids" ] && [ "$(id -u)" -eq 0 ]; then
    dumpable=""
    for k in $kids; do
        kuid=$(awk '/^Uid:/ { print $2 }' "/proc/$k/status" 2>/dev/null)
        owner=$(stat -c %u "/proc/$k/environ" 2>/dev/null)
        if [ -n "$kuid" ] && [ "$kuid" != 0 ] && [ "$owner" = "$kuid" ]; then
            dumpable="$dumpable $k"
        fi
    done
    if [ -z "$dumpable" ]; then
        ok "workers are not dumpable by their own user"
    else
        nok "workers dumpable by their user:$dumpable"
    fi
fi
if [ -n "$kids" ]; then
    kill -9 $kids
    ctl -t passwd flush && ctl -t hosts flush
    for u in $users; do same passwd "$u"; done
    for h in $hosts; do same hosts "$h"; done
    lost=$(stat_of passwd workers_lost)
    if [ "$mism" -eq 0 ] && [ "${lost:-0}" -ge 1 ]; then
        ok "workers killed between loads: every answer still equals files (workers_lost=$lost)"
    else
        nok "workers killed between loads: $mism differ, workers_lost=$lost"
    fi
    mism=0
else
    nok "no worker processes under the daemon (pid $dpid)"
fi

# Hostile table content (a writer of the table could store anything)
# never crashes the process that asks: real names' entries replaced by
# malformed values are misses.
if ctl -t passwd set nroot 'no-nul-bytes-here' &&
    printf 'a\0b\0notanumber\0' | ctl -t passwd set u0 - &&
    printf 'g\0x\0' | ctl -t group set nroot - &&
    printf 'h\0999999999\0' | ctl -t hosts set nlocalhost -; then
    crashed=0
    for q in "passwd root" "passwd 0" "group root" "hosts localhost"; do
        r=$(ours $q | tail -n 1)
        [ "$r" = "rc=2" ] || { crashed=1; echo "# getent $q: $r"; }
    done
    if [ "$crashed" -eq 0 ]; then
        ok "malformed values are misses, never a crash"
    else
        nok "malformed values"
    fi
else
    nok "storing malformed values with shmcachectl"
fi

# A daemon in a private mount namespace whose /etc/passwd and
# /etc/nsswitch.conf are copies we may edit (in place: the bind mounts
# hold the inodes).  invalidate_on names the copy of nsswitch.conf, as a
# real config names /etc/nsswitch.conf.
ns=$tmp/ns
user=shmc-nss-test-$$
if unshare -m true 2>/dev/null && command -v mount >/dev/null; then
    mkdir -p "$ns/run" "$ns/state"
    cp /etc/passwd "$ns/passwd"
    printf 'passwd: files\ngroup: files\nhosts: files\n' >"$ns/nsswitch.conf"
    chmod 644 "$ns/passwd" "$ns/nsswitch.conf"
    printf '{"log_level": "warning", "tables": {"passwd": {"size_bytes": "4M",
      "max_value_bytes": 65536, "default_ttl_s": 600, "negative_ttl_s": 600,
      "invalidate_on": ["%s/nsswitch.conf"],
      "loader": {"type": "nss", "database": "passwd",
                 "command": ["%s"]}}}}\n' "$ns" "$helper" >"$ns/conf.json"
    unshare -m sh -c 'mount --bind "$1/passwd" /etc/passwd &&
        mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
        exec "$2" --foreground -c "$1/conf.json" --runtime-dir "$1/run" \
            --state-dir "$1/state"' ns "$ns" \
        "$(cd "$(dirname "${SHMCACHED:-daemon/shmcached}")" && pwd)/shmcached" \
        2>"$ns/daemon.log" &
    npid=$!
    i=0
    while [ ! -S "$ns/run/control.sock" ] && [ "$i" -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    nsq() { SHMCACHE_SOCKET="$ns/run/control.sock" ours "$@"; }
    nsctl() { "${SHMCACHECTL:-client/tool/shmcachectl}" \
        -s "$ns/run/control.sock" -t passwd "$@"; }
    nstat() { nsctl stats 2>/dev/null | tr ',{}' '\n\n\n' |
        sed -n "s/.*\"$1\": *//p" | head -n 1; }
    before=$(nsq passwd "$user" | tail -n 1)
    echo "$user:x:4000000100:4000000100::/nonexistent:/usr/sbin/nologin" \
        >>"$ns/passwd"
    nsctl flush
    after=$(nsq passwd "$user")
    started=$(nstat workers_started)
    if [ "$before" = "rc=2" ] &&
        [ "$after" = "$user:x:4000000100:4000000100::/nonexistent:/usr/sbin/nologin
rc=0" ] && [ "$started" = 1 ]; then
        ok "a worker sees an edit of passwd at once (same worker, no cache of its own)"
    else
        nok "passwd edit: before '$before', after '$(echo $after)', workers_started=$started"
        sed 's/^/# /' "$ns/daemon.log"
    fi
    # An edit of nsswitch.conf replaces the workers.  (glibc 2.33 and
    # later notice the change themselves; a source's module that read its
    # own settings once, or leaked, does not.)  The new worker answers.
    printf 'passwd: files\ngroup: files\nhosts: files\n# edited\n' \
        >"$ns/nsswitch.conf"
    i=0
    while [ "$(nstat workers_recycled)" != 1 ] && [ "$i" -lt 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    r=$(nsq passwd root)
    if [ "$(nstat workers_recycled)" = 1 ] &&
        [ "$r" = "$(files passwd root)" ] &&
        [ "$(nstat workers_started)" = 2 ]; then
        ok "a changed nsswitch.conf replaces the workers"
    else
        nok "nsswitch.conf change: recycled=$(nstat workers_recycled) started=$(nstat workers_started) root: $(echo $r)"
        sed 's/^/# /' "$ns/daemon.log"
    fi
    kill "$npid"
    wait "$npid" 2>/dev/null
    npid=
else
    skip "no private mount namespace (needs root)"
    skip "no private mount namespace (needs root)"
fi

# No daemon: UNAVAIL at once, and the next source answers.
kill "$dpid"
wait "$dpid" 2>/dev/null
dpid=
export SHMCACHE_SOCKET="$tmp/nothing.sock"
t0=$(date +%s%N)
r=$(LD_PRELOAD="$pre" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    getent -s 'shmcache files' passwd root 2>&1)
t1=$(date +%s%N)
if [ "$r" = "$(getent -s files passwd root)" ] &&
    [ $(((t1 - t0) / 1000000)) -lt 1000 ]; then
    ok "no daemon: files answers, in $(((t1 - t0) / 1000000)) ms"
else
    nok "no daemon: got '$r' in $(((t1 - t0) / 1000000)) ms"
fi
finish
