#!/bin/sh
# SPDX-License-Identifier: MIT
# Reproduce the README's memory table: items held per MiB and bytes of
# overhead per item, for 16-byte keys with 100- and 1000-byte values, in a
# 64 MiB shmcache table (bench_fill), a 64 MiB memcached (its stats after
# loading twice what fits) and Redis (INFO memory after loading as many).
# Servers listen on Unix sockets in a temp dir only.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" bench
"$top/scripts/build.sh" build >/dev/null
make -C "$top/build" bench/bench_fill >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/shmc-bench-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT
for v in 100 1000; do
    "$top/build/bench/bench_fill" --key-size 16 --value-size "$v" --dir "$work"
    /usr/bin/python3 "$top/bench/memory.py" "$work" 16 "$v"
done
