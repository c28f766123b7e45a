#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: shmcachectl stats --format prometheus, read back by promtool (Debian's
# prometheus package; those tests SKIP without it) and by the strict reader
# tests/promcheck.py, with the daemon up and down.  The daemon's directory
# has a double quote and a backslash in its name, so label escaping is
# exercised by the table paths.
set -u
ctl=${SHMCACHECTL:-client/tool/shmcachectl}
top=${top_srcdir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-prom\"q\\b.XXXXXX")
dpid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; rm -rf "$tmp"' EXIT
. "$top/scripts/daemon-lib.sh"
shmc_start_daemon "${SHMCACHED:-daemon/shmcached}" "$tmp" \
    '{"log_level": "warning", "tables": {"default": {"size_bytes": 2097152, "max_value_bytes": 100000}, "persistent": {"mode": "disk", "size_bytes": 2097152, "max_value_bytes": 100000}}}'
dpid=$SHMC_DPID
export SHMCACHE_SOCKET="$tmp/run/control.sock"
promtool=$(command -v promtool ||
    { [ -x "$top/build/tools/usr/bin/promtool" ] &&
        echo "$top/build/tools/usr/bin/promtool"; } || true)

n=0
# t NAME CMD...: ok if CMD exits 0 and prints nothing; else its output.
t() {
    name=$1
    shift
    n=$((n + 1))
    if "$@" >"$tmp/out" 2>&1 && [ ! -s "$tmp/out" ]; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        sed 's/^/# /' "$tmp/out"
    fi
}
# p NAME FILE: FILE has samples, and promtool check metrics reads it
# without a word.
p() {
    if [ -z "$promtool" ]; then
        n=$((n + 1))
        echo "ok $n # SKIP $1: no promtool (Debian package prometheus)"
        return
    fi
    t "$1" sh -c 'grep -q "^shmcache_table_entries{" "$2" &&
        "$1" check metrics <"$2"' sh "$promtool" "$2"
}
# u NAME TEXT CMD...: a usage error: exit 64, TEXT on stderr.
u() {
    name=$1 text=$2
    shift 2
    n=$((n + 1))
    "$@" >/dev/null 2>"$tmp/err"
    st=$?
    if [ "$st" -eq 64 ] && grep -qF -- "$text" "$tmp/err"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name: status $st (want 64 and '$text')"
        sed 's/^/# /' "$tmp/err"
    fi
}

echo "1..16"
"$ctl" set a 1 >/dev/null && "$ctl" set b 2 >/dev/null && "$ctl" del b >/dev/null
"$ctl" -t persistent set p 1 >/dev/null
"$ctl" stats --all --format prometheus >"$tmp/all.prom"
"$ctl" stats --all >"$tmp/all.json"
"$ctl" -t persistent stats --format=prometheus >"$tmp/one.prom"
"$ctl" -t persistent stats >"$tmp/one.json"
p "daemon up, --all: promtool check metrics" "$tmp/all.prom"
p "daemon up, one table: promtool check metrics" "$tmp/one.prom"
t "daemon up, --all: strict reading, figures as in the JSON" \
    python3 "$top/tests/promcheck.py" "$tmp/all.prom" "$tmp/all.json"
t "daemon up, one table: strict reading, figures as in the JSON" \
    python3 "$top/tests/promcheck.py" "$tmp/one.prom" "$tmp/one.json"
t "daemon up: shmcache_up 1" grep -qx 'shmcache_up 1' "$tmp/all.prom"
t "daemon up: the daemon's counters" \
    sh -c 'grep -q "^shmcache_daemon_requests_total [1-9]" "$1" &&
        grep -q "^# TYPE shmcache_daemon_requests_total counter" "$1"' sh \
    "$tmp/all.prom"
t "one table: only its samples, no daemon families" \
    sh -c 'grep -q "{table=\"persistent\"" "$1" &&
        ! grep -v "^#" "$1" | grep -v "^shmcache_up " |
        grep -v "{table=\"persistent\""' sh "$tmp/one.prom"
kill "$dpid" && wait "$dpid" 2>/dev/null
dpid=
"$ctl" stats --all --format prometheus >"$tmp/down.prom"
"$ctl" stats --all >"$tmp/down.json"
p "daemon down: promtool check metrics" "$tmp/down.prom"
t "daemon down: strict reading, figures as in the JSON" \
    python3 "$top/tests/promcheck.py" "$tmp/down.prom" "$tmp/down.json"
t "daemon down: shmcache_up 0 and both tables from their files" \
    sh -c 'grep -qx "shmcache_up 0" "$1" &&
        grep -q "^shmcache_table_entries{table=\"default\"} 1$" "$1" &&
        grep -q "^shmcache_table_entries{table=\"persistent\"} 1$" "$1" &&
        ! grep -q "^shmcache_daemon_" "$1"' sh "$tmp/down.prom"
t "a bad file is refused by the strict reader" sh -c \
    'printf "# TYPE shmcache_x counter\nshmcache_x 1\n" >"$1/bad.prom" &&
        ! python3 "$2/tests/promcheck.py" "$1/bad.prom" >/dev/null' sh \
    "$tmp" "$top"
u "--format wants json or prometheus" \
    '--format wants json or prometheus, got "yaml"' "$ctl" stats --format yaml
u "--format needs an argument" "option --format needs an argument" \
    "$ctl" stats --format
u "only stats takes --format" "get takes no --format" \
    "$ctl" get k --format prometheus
u "--json and --format prometheus exclude each other" "exclude each other" \
    "$ctl" --json stats --format prometheus
t "--format json is the default" sh -c \
    '"$1" stats --format json | grep -q "^{\"source\":\"file\""' sh "$ctl"
exit 0
