#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: the systemd units.
#  1. exposure level from `systemd-analyze security --offline=yes` <= 2.0
#  2. `systemd-analyze verify` of service and socket, with ExecStart and
#     the man: references pointing at a scratch install of what this tree
#     builds (the units must name files that really get installed).
# Skipped (TAP "1..0 # SKIP") where systemd-analyze is missing.
set -u
top=${top_srcdir:-.}
bin=${SHMCACHED:-daemon/shmcached}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "1..0 # SKIP systemd-analyze not installed"
    exit 0
fi
echo "1..2"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/sbin" "$tmp/man/man5" "$tmp/man/man8" "$tmp/units"
cp "$bin" "$tmp/sbin/shmcached"
cp doc/shmcached.8 "$tmp/man/man8/"
cp doc/shmcached.json.5 "$tmp/man/man5/"
sed "s|@sbindir@|$tmp/sbin|" "$top/systemd/shmcached.service.in" \
    > "$tmp/units/shmcached.service"
cp "$top/systemd/shmcached.socket" "$tmp/units/"

out=$(systemd-analyze security --offline=yes --threshold=20 \
    "$tmp/units/shmcached.service" 2>&1)
if [ $? -eq 0 ]; then
    echo "ok 1 - security: $(echo "$out" | grep 'Overall exposure' | sed 's/.*: //')"
else
    echo "not ok 1 - security exposure above 2.0"
    echo "$out" | sed 's/^/# /'
fi

out=$(MANPATH="$tmp/man" systemd-analyze verify \
    "$tmp/units/shmcached.service" "$tmp/units/shmcached.socket" 2>&1)
if [ $? -eq 0 ]; then
    echo "ok 2 - systemd-analyze verify"
else
    echo "not ok 2 - systemd-analyze verify"
    echo "$out" | sed 's/^/# /'
fi
