#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: where a daemon's log lines go, and its pid file.  A detached
# shmcached logs to --log-file (reopened on SIGHUP) or to syslog, writes
# --pid-file and removes it when it stops, refuses a pid file a running
# daemon holds, runs in "/" with its relative paths resolved first; under
# systemd (JOURNAL_STREAM) stderr lines carry "<N>" priority prefixes.
set -u
bin=${SHMCACHED:-daemon/shmcached}
sink=${LOGSINK:-tests/logsink}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-log.XXXXXX")
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
. "${top_srcdir:-.}/scripts/daemon-lib.sh"

n=0
# ok COND-STATUS NAME [DETAIL]: one TAP line.
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2${3:+: $3}"
    fi
}
# wait_for CMD...: run CMD every 50 ms until it succeeds, for up to 10 s.
wait_for() {
    _i=0
    until "$@"; do
        [ "$_i" -ge 200 ] && return 1
        sleep 0.05
        _i=$((_i + 1))
    done
}
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }

echo "1..12"
conf='{"log_level": "notice", "tables": {"default": {"size_bytes": 1048576, "max_value_bytes": 1000}}}'
mkdir -p "$tmp/a"
printf '%s\n' "$conf" >"$tmp/a/conf.json"

# Detached, with every path relative to where it was started.
(cd "$tmp/a" && "$bin" -c conf.json --runtime-dir run --state-dir state \
    --log-file d.log --pid-file d.pid 2>"$tmp/a/stderr")
st=$?
ok "$st" "detached start with --log-file and --pid-file exits 0" "status $st"
pid=$(cat "$tmp/a/d.pid" 2>/dev/null)
pids="$pids $pid"
[ -n "$pid" ] && alive "$pid" && grep -q '^shmcached' "/proc/$pid/comm"
ok $? "the pid file names the running daemon" "pid '$pid'"
grep -q "notice: main: ready tables=1 socket=$tmp/a/run/control.sock pid=$pid" \
    "$tmp/a/d.log"
ok $? "the log file says it is ready, with the absolute socket path" \
    "$(cat "$tmp/a/d.log" "$tmp/a/stderr")"
[ "$(readlink "/proc/$pid/cwd")" = / ]
ok $? "the detached daemon runs in /" "cwd $(readlink "/proc/$pid/cwd")"

# A second daemon on the same pid file, elsewhere: refused, file kept.
mkdir -p "$tmp/b"
"$bin" -c "$tmp/a/conf.json" --runtime-dir "$tmp/b/run" \
    --state-dir "$tmp/b/state" --pid-file "$tmp/a/d.pid" 2>"$tmp/b/stderr"
st=$?
[ "$st" -eq 69 ] &&
    grep -q "pid file $tmp/a/d.pid is held by a running daemon (pid $pid)" \
        "$tmp/b/stderr" &&
    [ "$(cat "$tmp/a/d.pid")" = "$pid" ]
ok $? "a pid file a running daemon holds is refused (69) and kept" \
    "status $st, $(cat "$tmp/b/stderr"), pid file $(cat "$tmp/a/d.pid")"

# logrotate: move the file away, SIGHUP; the reload (of the config by its
# path made absolute) is logged in a new file.
mv "$tmp/a/d.log" "$tmp/a/d.log.1"
kill -HUP "$pid"
wait_for grep -q "config: reloaded path=$tmp/a/conf.json" "$tmp/a/d.log" \
    2>/dev/null
ok $? "SIGHUP reopens the log file and reloads the config" \
    "$(cat "$tmp/a/d.log" 2>&1)"

kill "$pid"
wait_for gone "$pid"
[ ! -e "$tmp/a/d.pid" ] && grep -q 'main: stopped cleanly' "$tmp/a/d.log"
ok $? "a clean stop removes the pid file" "$(ls "$tmp/a")"

# A pid file left by a daemon that was killed holds no lock: taken over.
echo 999999 >"$tmp/a/d.pid"
"$bin" -c "$tmp/a/conf.json" --runtime-dir "$tmp/a/run" \
    --state-dir "$tmp/a/state" --log-file "$tmp/a/d.log" \
    --pid-file "$tmp/a/d.pid" 2>"$tmp/a/stderr"
st=$?
pid=$(cat "$tmp/a/d.pid")
pids="$pids $pid"
[ "$st" -eq 0 ] && [ "$pid" != 999999 ] && alive "$pid"
ok $? "a stale pid file is taken over" "status $st, pid file $pid"
kill "$pid"
wait_for gone "$pid"

# A log file that cannot be created: the start fails and says why.
"$bin" -c "$tmp/a/conf.json" --runtime-dir "$tmp/a/run" \
    --state-dir "$tmp/a/state" --log-file "$tmp/nodir/d.log" 2>"$tmp/a/stderr"
st=$?
[ "$st" -eq 69 ] && grep -q "cannot open the log file $tmp/nodir/d.log" \
    "$tmp/a/stderr"
ok $? "an unusable log file fails the start (69) with its path" \
    "status $st, $(cat "$tmp/a/stderr")"

# Under systemd: stderr is the journal stream, so "<N>" and no timestamp.
mkdir -p "$tmp/j"
: >"$tmp/j/daemon.log"
js=$(stat -c '%d:%i' "$tmp/j/daemon.log")
shmc_start_daemon "$bin" "$tmp/j" "$conf" JOURNAL_STREAM="$js"
jpid=$SHMC_DPID
pids="$pids $jpid"
grep -q '^<5>main: ready tables=1' "$tmp/j/daemon.log"
ok $? "under journald stderr lines start with <N>" "$(cat "$tmp/j/daemon.log")"
kill "$jpid"
wait "$jpid" 2>/dev/null
grep -q '^[0-9]\{4\}-.*notice: main: ready' "$tmp/a/d.log"
ok $? "elsewhere lines carry a timestamp and the level's name"

# Detached without --log-file: syslog.  glibc's syslog() writes to
# /dev/log, so the daemon runs in a mount namespace whose /dev holds a
# socket of ours there (needs root or an unprivileged mount namespace).
mkdir -p "$tmp/s/dev"
if ! unshare -m true 2>/dev/null; then
    n=$((n + 1))
    echo "ok $n # SKIP syslog needs a mount namespace (unshare -m)"
    exit 0
fi
"$sink" "$tmp/s/dev/log" "main: ready" 10 >"$tmp/s/syslog" &
spid=$!
pids="$pids $spid"
wait_for test -S "$tmp/s/dev/log"
printf '%s\n' "$conf" >"$tmp/s/conf.json"
: >"$tmp/s/dev/null"
unshare -m sh -c 'mount --bind /dev/null "$1/dev/null" &&
    mount --rbind "$1/dev" /dev &&
    exec "$2" -c "$1/conf.json" --runtime-dir "$1/run" --state-dir "$1/state" \
        --pid-file "$1/d.pid"' sh "$tmp/s" "$bin" 2>"$tmp/s/stderr"
st=$?
wait "$spid"
sst=$?
spid=$(cat "$tmp/s/d.pid" 2>/dev/null)
pids="$pids $spid"
[ "$st" -eq 0 ] && [ "$sst" -eq 0 ] &&
    grep -q '^<29>.*shmcached\[[0-9]*\]: main: ready tables=1' "$tmp/s/syslog"
ok $? "detached without --log-file: syslog, facility daemon" \
    "status $st, sink $sst, got: $(cat "$tmp/s/syslog" "$tmp/s/stderr")"
[ -n "$spid" ] && kill "$spid" && wait_for gone "$spid"
exit 0
