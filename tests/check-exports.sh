#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: libshmcache exports exactly the functions shmcache.h declares with
# SHMC_EXPORT: nothing internal leaks, nothing declared is missing.
set -u
top=${top_srcdir:-.}
lib=client/.libs/libshmcache.so
echo "1..1"
if [ ! -f "$lib" ] || ! command -v nm >/dev/null 2>&1; then
    echo "ok 1 # SKIP no shared library or nm"
    exit 0
fi
# A declaration may break after its return type: join such lines first.
want=$(sed -e '/^SHMC_EXPORT[^(]*$/N' -e 's/\n/ /' "$top/client/shmcache.h" |
    sed -n 's/^SHMC_EXPORT[^(]* \**\(shmc_[a-z_]*\)(.*/\1/p' | sort)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort)
if [ "$want" = "$have" ]; then
    echo "ok 1 - exports: $(echo $have | wc -w) shmc_ functions"
else
    echo "not ok 1 - export list differs from shmcache.h"
    diff -u "want" - <<EOD | sed 's/^/# /'
$(echo "$want")
EOD
    echo "# exported:"; echo "$have" | sed 's/^/#   /'
fi
