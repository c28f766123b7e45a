#!/bin/sh
# SPDX-License-Identifier: MIT
# Quick start, part one: install what is missing, build, and run the
# daemon with a demo.  Everything runs unprivileged in a temporary
# directory; nothing is installed.
#
# shmcached starts with the shipped config (tables "default" in memory
# mode and "persistent" in disk mode); a demo client writes through the
# control socket, maps the table read-only and reads it lock-free while
# another process keeps updating it; then the daemon is stopped with
# SIGTERM (tables synced, marked clean).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" build >/dev/null

dir=$(mktemp -d "${TMPDIR:-/tmp}/shmcache-demo.XXXXXX")
mkdir -p "$dir/run" "$dir/state"
"$top/build/daemon/shmcached" --foreground -c "$top/conf/shmcached.json" \
    --runtime-dir "$dir/run" --state-dir "$dir/state" &
pid=$!
# Every step may fail harmlessly (the daemon is usually gone already): under
# set -e a failing command would abort the trap and skip the cleanup.
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
      rm -rf "$dir"' EXIT

"$top/build/tests/daemon_demo" "$dir/run/control.sock" default
kill -TERM "$pid"
wait "$pid"
echo "demo: daemon stopped cleanly (tables were in $dir, now removed)"
