#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: -Werror is in the compiler flags exactly when configure was given
# --enable-werror (the last --enable/--disable-werror wins), so a plain
# ./configure, make distcheck and debian/rules never get it and a newer
# compiler cannot break a distribution build.  Run in the build directory.
set -u
top=${top_srcdir:-.}
echo "1..3"

want=no
eval "set -- $(./config.status --config)"
for a in "$@"; do
    case $a in
    --enable-werror | --enable-werror=yes) want=yes ;;
    --disable-werror | --enable-werror=no) want=no ;;
    esac
done
flags=$(sed -n 's/^WARN_CFLAGS = //p' Makefile)
case " $flags " in
*" -Werror "*) have=yes ;;
*) have=no ;;
esac
if [ "$have" = "$want" ]; then
    echo "ok 1 - -Werror only with --enable-werror (configured: $want)"
else
    echo "not ok 1 - -Werror is $have, --enable-werror says $want" \
        "(WARN_CFLAGS = $flags)"
fi

if grep -q 'enable-werror' "$top/debian/rules"; then
    echo "not ok 2 - debian/rules must not pass --enable-werror"
else
    echo "ok 2 - debian/rules builds without -Werror"
fi

# A plain configure, as a user or a distribution runs it (about 2 s).
abs_top=$(cd "$top" && pwd)
if [ -f "$abs_top/config.status" ]; then
    echo "ok 3 # SKIP the source tree is configured in place"
else
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-werror.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if (cd "$tmp" && "$abs_top/configure" -q >/dev/null 2>&1); then
        flags=$(sed -n 's/^WARN_CFLAGS = //p' "$tmp/Makefile")
        case " $flags " in
        *" -Werror "*) echo "not ok 3 - a plain configure gives -Werror" ;;
        *) echo "ok 3 - a plain configure gives no -Werror" ;;
        esac
    else
        echo "not ok 3 - a plain configure failed"
        sed 's/^/# /' "$tmp/config.log" | tail -n 20
    fi
fi
