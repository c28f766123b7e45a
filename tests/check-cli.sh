#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: shmcachectl, every command and exit status, against a daemon.
set -u
ctl=${SHMCACHECTL:-client/tool/shmcachectl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-cli.XXXXXX")
dpid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
[ -n "${rspid:-}" ] && kill "$rspid" 2>/dev/null
rm -rf "$tmp"' EXIT
. "${top_srcdir:-.}/scripts/daemon-lib.sh"
shmc_start_daemon "${SHMCACHED:-daemon/shmcached}" "$tmp" \
    '{"log_level": "warning", "tables": {"default": {"size_bytes": 2097152, "max_value_bytes": 100000, "max_key_bytes": 64}, "persistent": {"mode": "disk", "size_bytes": 2097152, "max_value_bytes": 100000}}}'
dpid=$SHMC_DPID
export SHMCACHE_SOCKET="$tmp/run/control.sock"

n=0
fails=0
# t NAME EXPECTED-STATUS EXPECTED-STDOUT CMD...: run, compare, print TAP.
t() {
    name=$1 want=$2 wout=$3
    shift 3
    n=$((n + 1))
    out=$("$@" 2>"$tmp/err")
    st=$?
    if [ "$st" -eq "$want" ] && { [ "$wout" = "*" ] || [ "$out" = "$wout" ]; }; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name: status $st (want $want), output '$out' (want '$wout')"
        sed 's/^/# /' "$tmp/err"
        fails=$((fails + 1))
    fi
}

# u NAME TEXT CMD...: a usage error: status 64 and one line on stderr
# that contains TEXT (not the whole help).
u() {
    name=$1 text=$2
    shift 2
    n=$((n + 1))
    "$@" >/dev/null 2>"$tmp/err"
    st=$?
    if [ "$st" -eq 64 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
        grep -qF -- "$text" "$tmp/err"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name: status $st (want 64), want one line with '$text'"
        sed 's/^/# /' "$tmp/err"
        fails=$((fails + 1))
    fi
}

echo "1..101"
t "get of a missing key exits 1" 1 "" "$ctl" get nope
t "set" 0 "" "$ctl" set k hello
t "get prints the raw value" 0 "hello" "$ctl" get k
t "--json get" 0 '{"key":"k","value":"hello"}' "$ctl" --json get k
printf 'from\nstdin' >"$tmp/in"
t "set - reads stdin" 0 "" sh -c "\"$ctl\" set s - <\"$tmp/in\""
t "get of a stdin value" 0 "$(printf 'from\nstdin')" "$ctl" get s
t "binary value in --json is base64" 0 '{"key":"b","value_b64":"/wA="}' \
    sh -c "printf '\377\000' | \"$ctl\" set b - && \"$ctl\" --json get b"
t "add of an existing key exits 1" 1 "" "$ctl" add k other
t "add of a new key" 0 "" "$ctl" add k2 v
t "replace of a missing key exits 1" 1 "" "$ctl" replace nope v
t "replace" 0 "" "$ctl" replace k2 v2
t "incr of a number" 0 "11" sh -c "\"$ctl\" set n 10 && \"$ctl\" incr n"
t "incr by -20 stops at 0" 0 "0" "$ctl" incr n -20
t "incr of a non-number exits 1" 1 "" "$ctl" incr k
t "touch --ttl" 0 "" "$ctl" touch k --ttl 100
t "del" 0 "" "$ctl" del k
t "del again exits 1" 1 "" "$ctl" del k
t "del of several keys deletes them all" 0 "" \
    sh -c "\"$ctl\" set d1 1 && \"$ctl\" set d2 2 && \"$ctl\" del d1 d2 &&
        ! \"$ctl\" get d1 && ! \"$ctl\" get d2"
"$ctl" set d3 3 && "$ctl" set d4 4
t "del of several, one absent, exits 1" 1 "" "$ctl" del d3 nope d4
t "del of several: the absent key named on stderr, the others gone" 0 "*" \
    sh -c "\"$ctl\" del d3 nope2 2>&1 | grep -qx 'shmcachectl: del nope2: key not found' &&
        ! \"$ctl\" get d3 && ! \"$ctl\" get d4"
t "setneg, then get exits 1" 1 "" sh -c "\"$ctl\" setneg gone && \"$ctl\" get gone"
t "--json get of a miss says found:false" 1 '{"key":"nope","found":false}' \
    "$ctl" --json get nope
t "--json get of a negative entry says so" 1 \
    '{"key":"gone","found":false,"negative":true}' "$ctl" --json get gone
t "add of an existing key says so on stderr" 0 "*" \
    sh -c "\"$ctl\" set ak v; \"$ctl\" add ak w 2>&1 | grep -q 'add ak: key already exists'"
t "usage error exits 64" 64 "" "$ctl" frobnicate
t "key over the limit exits 64" 64 "" "$ctl" set "$(printf '%080d' 0)" v
t "unknown table exits 69" 69 "" "$ctl" -t nosuch get k
t "unknown table: the message names table and socket" 0 "*" \
    sh -c "\"$ctl\" -t nosuch set k v 2>&1 | grep -q 'has no table \"nosuch\"'"
t "no daemon: the message names the socket" 0 "*" \
    sh -c "\"$ctl\" -s \"$tmp/none.sock\" set k v 2>&1 |
        grep -q \"cannot reach shmcached at $tmp/none.sock\""
t "stats is JSON with the table's counters" 0 "*" \
    sh -c "\"$ctl\" stats | grep -q '\"name\":\"default\".*\"entries\":'"
t "tables lists the table" 0 "*" sh -c "\"$ctl\" tables | grep -q '\"default\"'"
t "sync" 0 "" "$ctl" sync
t "ping: the round trip's time" 0 "*" \
    sh -c "\"$ctl\" ping | grep -Eqx 'reply from $SHMCACHE_SOCKET in [0-9]+[.][0-9]{3} ms'"
t "--json ping" 0 "*" \
    sh -c "\"$ctl\" --json ping | grep -Eqx '[{]\"socket\":\"$SHMCACHE_SOCKET\",\"latency_us\":[0-9]+[}]'"
t "ping with no daemon exits 1" 1 "" "$ctl" -s "$tmp/none.sock" ping
"$ctl" set tk v --ttl 100 && "$ctl" set tn v --ttl 4294967295
t "ttl: whole seconds left" 0 "*" sh -c "\"$ctl\" ttl tk | grep -Eqx '(99|100)'"
t "ttl of a key that never expires is -1" 0 "-1" "$ctl" ttl tn
t "ttl of a miss exits 1" 1 "" "$ctl" ttl nope
t "--json ttl" 0 '{"key":"tn","ttl_s":-1}' "$ctl" --json ttl tn
t "--json ttl of a miss says found:false" 1 '{"key":"nope","found":false}' \
    "$ctl" --json ttl nope
t "mget: a line per key, empty for a miss, exit 1" 1 "$(printf 'v\n\nv')" \
    "$ctl" mget tk nope tn
t "mget of hits only exits 0" 0 "$(printf 'v\nv')" "$ctl" mget tk tn
t "--json mget: an object per key" 1 \
    "$(printf '%s\n' '{"key":"tk","value":"v"}' '{"key":"nope","found":false}')" \
    "$ctl" --json mget tk nope
t "stats --all: the daemon's counters and every table" 0 "*" \
    sh -c "\"$ctl\" stats --all |
        grep -q '\"uptime_s\":.*\"connections_refused\":.*\"requests\":.*\"tables\":\\[{\"source\":\"daemon\",\"name\":\"default\"'"
t "-- ends the options: a key may start with --" 0 "x" \
    sh -c "\"$ctl\" set -- --json x && \"$ctl\" get -- --json"
t "-- before the command" 0 "x" "$ctl" -- get -- --json
u "usage: too few arguments, in one line" "set takes KEY VALUE|-, got 1 argument" \
    "$ctl" set k
u "usage: an unknown option after the command" "get: unknown option --jsn" \
    "$ctl" get --jsn k
u "usage: an unknown option before it" "unknown option --bogus" "$ctl" --bogus get k
u "usage: an unknown command" 'unknown command "frobnicate"' "$ctl" frobnicate
u "usage: --ttl where it means nothing" "get takes no --ttl" "$ctl" get k --ttl 5
u "usage: no command" "no command given" "$ctl"
u "usage: del without a key" "del takes KEY..., got 0 arguments" "$ctl" del
u "usage: del with an empty key among others" "del: a key cannot be empty" \
    "$ctl" del a ""
t "--help after the command is help, not an error" 0 "*" \
    sh -c "\"$ctl\" get --help | grep -q '^usage: shmcachectl'"
u "usage: a missing option argument" "option -t needs an argument" "$ctl" -t
"$ctl" dump >"$tmp/dump.jl"
t "dump writes one JSON line per entry" 0 "$("$ctl" stats | sed 's/.*"entries":\([0-9]*\).*/\1/')" \
    sh -c "wc -l <\"$tmp/dump.jl\" | tr -d ' '"
# 77: a uid the table's ACL does not admit (needs root to become one).
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1; then
    chmod 755 "$tmp"
    t "write refused by the ACL exits 77" 77 "" \
        runuser -u nobody -- env SHMCACHE_SOCKET="$SHMCACHE_SOCKET" "$ctl" set acl x
else
    n=$((n + 1))
    echo "ok $n # SKIP exit 77 needs root to act as another uid"
fi
t "flush" 0 "" sh -c "\"$ctl\" flush && ! \"$ctl\" get k2"
"$ctl" set k3 v3 >/dev/null
t "invalidate TABLE flushes that table (nscd -i)" 0 "" sh -c \
    "\"$ctl\" -t nosuch invalidate default && ! \"$ctl\" get k3"
t "load restores a dump" 0 "v2" sh -c "\"$ctl\" -q load <\"$tmp/dump.jl\" && \"$ctl\" get k2"
t "load keeps binary values" 0 '{"key":"b","value_b64":"/wA="}' "$ctl" --json get b
t "load rejects garbage" 64 "" sh -c "echo 'not json' | \"$ctl\" load"
head -c 80000 /dev/zero | tr '\0' 'x' >"$tmp/big"
printf 'a\000b' | "$ctl" set nul - && "$ctl" set big - <"$tmp/big"
"$ctl" dump >"$tmp/dump2.jl" && "$ctl" flush
t "load restores values with NUL bytes" 0 "$(printf 'a\000b' | od -An -tx1)" \
    sh -c "\"$ctl\" -q load <\"$tmp/dump2.jl\" && \"$ctl\" get nul | od -An -tx1"
t "load restores an 80 KB value" 0 "80000" sh -c "\"$ctl\" get big | wc -c | tr -d ' '"
t "inspect of a healthy table" 0 "*" "$ctl" inspect "$tmp/run/default.shm"
t "inspect counts large values as healthy" 0 "*" \
    sh -c "\"$ctl\" inspect \"$tmp/run/default.shm\" | grep -q '\"damaged_entries\":0'"
arena=$("$ctl" stats | sed 's/.*"arena_bytes":\([0-9]*\).*/\1/')
cp "$tmp/run/default.shm" "$tmp/copy.shm"
printf '\377\377\377\377' | dd of="$tmp/copy.shm" bs=1 seek=$((2097152 - arena + 48)) \
    conv=notrunc 2>/dev/null
t "inspect of a damaged table exits 1" 1 "*" "$ctl" inspect "$tmp/copy.shm"
t "inspect counts the damaged entry" 0 "*" \
    sh -c "\"$ctl\" inspect \"$tmp/copy.shm\" | grep -q '\"damaged_entries\":[1-9]'"
printf 'not a table' >"$tmp/junk.shm"
t "inspect of a non-table exits 1" 1 "" "$ctl" -q inspect "$tmp/junk.shm"
# load in batches (shmc_mset): 5000 lines of mixed TTLs, negative and
# binary entries, then 10 keys again with other values (the last wins).
python3 -c 'import base64, json, time
now = int(time.time() * 1000)
for i in range(5000):
    e = {"key": "lk%d" % i}
    if i % 97 == 0:
        e["negative"] = True
    elif i % 13 == 0:
        e["value_b64"] = base64.b64encode(b"\xff\x00%d" % i).decode()
    else:
        e["value"] = "v%d" % i
    if i % 7 == 0:
        e["expiry_ms"] = now + 3600000 + i % 3 * 1000
    print(json.dumps(e))
for i in range(1, 11):
    print(json.dumps({"key": "lk%d" % i, "value": "again%d" % i}))' >"$tmp/load.jl"
# same DUMP INPUT: the dump holds exactly what the lines said, the last
# line of a key winning (expiry aside).
cat >"$tmp/same.py" <<'EOF2'
import json, sys
def entries(path):
    d = {}
    for line in open(path):
        e = json.loads(line)
        d[e.get("key")] = ("neg",) if e.get("negative") else (e.get("value"), e.get("value_b64"))
    return d
got, want = entries(sys.argv[1]), entries(sys.argv[2])
if got != want:
    bad = [k for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]
    print("differ:", len(got), "vs", len(want), [(k, got.get(k), want.get(k)) for k in bad])
EOF2
reqs() { "$ctl" stats --all | sed 's/.*"requests":\([0-9]*\).*/\1/'; }
"$ctl" flush
r0=$(reqs)
t "load with stderr not a terminal is silent" 0 "" \
    sh -c "\"$ctl\" load <\"$tmp/load.jl\" 2>&1"
r1=$(reqs)
t "load in batches: a few requests for 5000 lines" 0 "" \
    sh -c "[ $((r1 - r0)) -lt 300 ] || echo '$((r1 - r0)) requests'"
t "load stored every line, the last of a key winning" 0 "" \
    sh -c "\"$ctl\" dump >\"$tmp/load-dump.jl\" && python3 \"$tmp/same.py\" \"$tmp/load-dump.jl\" \"$tmp/load.jl\""
t "load keeps the TTLs" 0 "*" sh -c "\"$ctl\" ttl lk21 | grep -Eqx '(3599|3600)'"
if command -v script >/dev/null 2>&1; then
    "$ctl" flush
    script -qec "\"$ctl\" load <\"$tmp/load.jl\"" /dev/null </dev/null >"$tmp/tty.out" 2>&1
    t "load on a terminal shows its progress and a summary" 0 "*" \
        grep -Eq "$(printf '\r')shmcachectl: loaded 5010 keys, [0-9.]+ MiB in [0-9.]+ s, [0-9]+ keys/s" "$tmp/tty.out"
    t "load -q on a terminal is silent" 0 "" \
        script -qec "\"$ctl\" -q load <\"$tmp/load.jl\"" /dev/null </dev/null
else
    n=$((n + 2))
    echo "ok $((n - 1)) # SKIP no script(1) to give load a terminal"
    echo "ok $n # SKIP no script(1) to give load a terminal"
fi
t "load: a bad line is named, what came before is stored" 64 "before" \
    sh -c "printf '%s\n' '{\"key\":\"lb\",\"value\":\"before\"}' '{\"key\":\"lc\"}' |
        \"$ctl\" load 2>\"$tmp/lerr\"; st=\$?; \"$ctl\" get lb; grep -q 'line 2: no value' \"$tmp/lerr\" && exit \$st"
"$ctl" set tn v --ttl 4294967295
"$ctl" set kept v >/dev/null
"$ctl" -t persistent set pk pv --ttl 4294967295 >/dev/null
# keys FILE: the keys of a stats document, in order (--all: the top
# level's, then each table's on its own line).
keys() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(k for k in d))
for t in d.get("tables", []):
    print(" ".join(t))' "$1"
}
"$ctl" stats >"$tmp/stats-up.json" && "$ctl" stats --all >"$tmp/all-up.json"
keys "$tmp/stats-up.json" >"$tmp/keys-up"
keys "$tmp/all-up.json" >"$tmp/keys-all-up"
kill "$dpid" && wait "$dpid" 2>/dev/null
dpid=
t "get works with the daemon down (from the mapping)" 0 "v" "$ctl" get kept
"$ctl" stats >"$tmp/stats-down.json" && "$ctl" stats --all >"$tmp/all-down.json"
t "stats with the daemon up: source daemon" 0 "daemon" \
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["source"])' \
    "$tmp/stats-up.json"
t "stats with the daemon down: source file" 0 "file" \
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["source"])' \
    "$tmp/stats-down.json"
t "stats: the same keys with the daemon up and down" 0 "$(cat "$tmp/keys-up")" \
    keys "$tmp/stats-down.json"
t "stats with the daemon down: counters from the header" 0 "*" \
    sh -c "grep -q '\"entries\":[1-9]' \"$tmp/stats-down.json\""
t "stats --all works with the daemon down, every table, the same keys" 0 \
    "$(cat "$tmp/keys-all-up")" keys "$tmp/all-down.json"
t "stats --all with the daemon down names every table and its mode" 0 \
    "default memory persistent disk" python3 -c 'import json, sys
print(" ".join(t["name"] + " " + t["mode"]
               for t in json.load(open(sys.argv[1]))["tables"]))' "$tmp/all-down.json"
t "stats --all with no daemon and no table file exits 69" 69 "" \
    "$ctl" -s "$tmp/none/control.sock" stats --all
t "stats -f FILE names the table after the file" 0 "*" \
    sh -c "\"$ctl\" -f \"$tmp/run/default.shm\" stats | grep -q '\"name\":\"default\"'"
t "set with the daemon down exits 69" 69 "" "$ctl" set x y
# A daemon that stops while it has the connection (a restart under socket
# activation) resets it: a read then maps the file.  A stand-in socket
# that resets every connection, beside a copy of the table.
mkdir "$tmp/reset" && cp "$tmp/run/default.shm" "$tmp/reset/"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
while True:
    c, _ = s.accept()
    c.recv(1)  # the rest stays unread: close() resets the connection
    time.sleep(0.02)
    c.close()' "$tmp/reset/control.sock" &
rspid=$!
i=0
while [ ! -S "$tmp/reset/control.sock" ] && [ "$i" -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done
t "a connection reset while opening: get reads the file" 0 "v" \
    "$ctl" -s "$tmp/reset/control.sock" get kept
t "a connection reset while opening: set says so, 69" 69 "" \
    "$ctl" -s "$tmp/reset/control.sock" set x y
kill "$rspid" 2>/dev/null
wait "$rspid" 2>/dev/null
t "ttl with the daemon down (from the mapping)" 0 "-1" "$ctl" ttl tn
# Disk tables too (issue 13, item 7): the daemon links the table's file
# into the runtime directory, where the tool looks.
t "a disk table's runtime entry links to its file" 0 \
    "$(readlink -f "$tmp/state/persistent.shm")" readlink "$tmp/run/persistent.shm"
t "get from a disk table with the daemon down" 0 "pv" "$ctl" -t persistent get pk
t "ttl from a disk table with the daemon down" 0 "-1" "$ctl" -t persistent ttl pk
t "dump of a disk table with the daemon down" 0 '{"key":"pk","value":"pv"}' \
    "$ctl" -t persistent dump
t "no daemon and no table file: 69, the message names the socket" 0 "" sh -c \
    "\"$ctl\" -t nosuch get k 2>&1 >/dev/null | grep -q 'cannot reach shmcached at $SHMCACHE_SOCKET'; [ \$? -eq 0 ] && { \"$ctl\" -q -t nosuch get k; [ \$? -eq 69 ]; }"
# Swap the modes: the old link goes (the daemon must not open a disk
# table as a memory table through it), and the old memory file is
# retired (its readers reopen) and replaced by the link.
ln "$tmp/run/default.shm" "$tmp/old-default.shm"
shmc_start_daemon "${SHMCACHED:-daemon/shmcached}" "$tmp" \
    '{"log_level": "warning", "tables": {"persistent": {"size_bytes": 2097152, "max_value_bytes": 100000}, "default": {"mode": "disk", "size_bytes": 2097152, "max_value_bytes": 100000, "max_key_bytes": 64}}}'
dpid=$SHMC_DPID
"$ctl" set kd vd >/dev/null && "$ctl" -t persistent set km vm >/dev/null
t "a table now in memory has its own file, not the old link" 0 "" \
    sh -c "[ -f \"$tmp/run/persistent.shm\" ] && [ ! -L \"$tmp/run/persistent.shm\" ]"
t "a table now on disk: its old memory file is retired" 0 "*" \
    sh -c "\"$ctl\" -f \"$tmp/old-default.shm\" stats | grep -q '\"retired\":true'"
t "... and replaced by the link" 0 \
    "$(readlink -f "$tmp/state/default.shm")" readlink "$tmp/run/default.shm"
kill "$dpid" && wait "$dpid" 2>/dev/null
dpid=
t "reads with the daemon down follow the swap (disk)" 0 "vd" "$ctl" get kd
t "reads with the daemon down follow the swap (memory)" 0 "vm" \
    "$ctl" -t persistent get km
t "the disk file of the table now in memory is kept" 0 "pv" \
    "$ctl" -f "$tmp/state/persistent.shm" get pk
exit 0
