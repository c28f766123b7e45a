#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what building and testing shmcache needs on Debian 12 (or a close
# relative), but only what is missing.  Run as root, or with sudo available.
# "deps.sh bench" adds what the comparisons in bench/ run against,
# "deps.sh fuzz" the compiler and runtime of the fuzz targets, "deps.sh
# valgrind" what tests/valgrind.sh runs the daemon under.  groff-base
# and mandoc are for tests/check-man.sh, which lints the man pages.
set -eu

PKGS="autoconf automake libtool pkg-config make gcc libc6-dev
      libevent-dev libjansson-dev check
      python3-dev python3-setuptools python3-pytest python3-pip
      groff-base mandoc
      debhelper dh-python fakeroot lintian"
case "${1:-}" in
bench) PKGS="$PKGS memcached redis-server python3-redis python3-hiredis
       python3-pymemcache python3-lmdb" ;;
fuzz) PKGS="$PKGS clang-14 libclang-rt-14-dev" ;;
valgrind) PKGS="$PKGS valgrind" ;;
esac

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
fi
echo "deps.sh: installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    --no-install-recommends $missing
