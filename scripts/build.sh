#!/bin/sh
# SPDX-License-Identifier: MIT
# Configure and build into a directory (default build/), generating the
# build system first if this is a fresh clone.  Extra arguments go to
# configure.  Used by demo.sh and test.sh.
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
# The Python binding is part of every development build.
if [ ! -f Makefile ] || [ ../configure -nt Makefile ]; then
    ../configure -q --with-python "$@"
fi
make -j"$(nproc)"
