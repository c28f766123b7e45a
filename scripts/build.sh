#!/bin/sh
# SPDX-License-Identifier: MIT
# Configure and build into a directory (default build/), generating the
# build system first if this is a fresh clone.  Extra arguments go to
# configure.  A development build: --enable-werror unless the arguments
# say --enable-werror or --disable-werror themselves.  Used by demo.sh and
# test.sh.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
# A tree configured in place (./configure, or dpkg-buildpackage) refuses
# the out-of-tree build below ("source directory already configured"):
# clean it first.
if [ -f config.status ]; then
    echo "build.sh: the source tree was configured in place; cleaning it" >&2
    make distclean >/dev/null 2>&1 || rm -f config.status
fi
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    autoreconf -fi
fi
mkdir -p "$dir"
cd "$dir"
case " $* " in
*" --enable-werror"* | *" --disable-werror "*) ;;
*) set -- --enable-werror "$@" ;;
esac
# The Python binding is part of every development build.
case " $* " in
*" --with-python"* | *" --without-python "*) ;;
*) set -- --with-python "$@" ;;
esac
# Configure again when configure changed or the arguments did (the demo
# and the test command share build/).
printf '%s\n' "$@" >.build-args.new
if [ ! -f Makefile ] || [ ../configure -nt Makefile ] ||
    ! cmp -s .build-args.new .build-args; then
    ../configure -q "$@"
fi
mv .build-args.new .build-args
make -j"$(nproc)"
