#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what building and testing shmcache needs on Debian 12 (or a close
# relative), but only what is missing.  Run as root, or with sudo available.
# redis-server and libhiredis-dev are for the redis loader and
# tests/check_redis (a real Redis on a Unix socket).  "deps.sh bench" adds
# what the comparisons in bench/ run against (the servers, and the C
# libraries bench/bench_vs.c links when configure finds them),
# "deps.sh fuzz" the compiler and runtime of the fuzz targets, "deps.sh
# valgrind" what tests/valgrind.sh runs the daemon under.  groff-base
# and mandoc are for tests/check-man.sh, which lints the man pages;
# debootstrap for scripts/systemd-test.sh.  (On a host booted with
# systemd, installing redis-server -- and memcached and nscd for "bench"
# -- starts their services, as apt does.)  tests/check-prometheus.sh reads
# shmcachectl's metrics with promtool: it is taken out of Debian's
# prometheus package into build/tools/ (apt-get download, dpkg-deb -x)
# rather than installed, which would also install and start a Prometheus
# server.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

# promtool, unless the host has one.
fetch_promtool() {
    tools="$top/build/tools"
    if command -v promtool >/dev/null 2>&1 ||
        [ -x "$tools/usr/bin/promtool" ]; then
        return 0
    fi
    mkdir -p "$tools/deb"
    if (cd "$tools/deb" && apt-get download -q prometheus >/dev/null 2>&1) &&
        dpkg-deb -x "$tools"/deb/prometheus_*.deb "$tools/x" &&
        mkdir -p "$tools/usr/bin" &&
        mv "$tools/x/usr/bin/promtool" "$tools/usr/bin/promtool"; then
        echo "deps.sh: promtool taken from Debian's prometheus package"
    else
        echo "deps.sh: could not fetch promtool (check-prometheus.sh will" \
            "skip it)" >&2
    fi
    rm -rf "$tools/deb" "$tools/x"
}

PKGS="autoconf automake libtool pkg-config make gcc libc6-dev
      libevent-dev libjansson-dev check libhiredis-dev redis-server
      python3-dev python3-setuptools python3-pytest python3-pip
      groff-base mandoc debootstrap
      debhelper dh-python fakeroot lintian"
case "${1:-}" in
bench) PKGS="$PKGS memcached liblmdb-dev python3-redis python3-hiredis
       python3-pymemcache python3-lmdb nscd" ;;
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
if [ -z "$missing" ]; then
    [ -n "${1:-}" ] || fetch_promtool
    exit 0
fi

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
[ -n "${1:-}" ] || fetch_promtool
