#!/bin/sh
# Quick start, part one: install what is missing, build, run the demo.
#
# Until the shmcached daemon lands, the demo is the table layer on its own:
# a writer process fills a table file and keeps updating it while a reader
# process looks keys up lock-free through its own read-only mapping.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" build
exec "$top/build/tests/table_demo" "$@"
