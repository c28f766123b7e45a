#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: shmcached --check-config over tests/data/config: every valid/*.json
# passes (exit 0); every invalid/NAME.json fails with exit 78 and a
# message that contains "NAME.json:" followed by invalid/NAME.err (line,
# column and text: the table, the key, the value and the limit).
set -u
bin=${SHMCACHED:-daemon/shmcached}
data=${top_srcdir:-.}/tests/data/config
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-conf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

set -- "$data"/valid/*.json "$data"/invalid/*.json
echo "1..$#"
n=0
for f in "$@"; do
    n=$((n + 1))
    name=${f##*/}
    "$bin" --check-config -c "$f" >"$tmp/out" 2>"$tmp/err"
    st=$?
    case $f in
    */valid/*)
        if [ "$st" -eq 0 ]; then
            echo "ok $n - valid/$name"
        else
            echo "not ok $n - valid/$name: status $st"
            sed 's/^/# /' "$tmp/err"
        fi
        ;;
    *)
        want="$name:$(cat "${f%.json}.err")"
        if [ "$st" -eq 78 ] && grep -qF -- "$want" "$tmp/err"; then
            echo "ok $n - invalid/$name"
        else
            echo "not ok $n - invalid/$name: status $st (want 78)"
            echo "# want: $want"
            sed 's/^/# got:  /' "$tmp/err"
        fi
        ;;
    esac
done
