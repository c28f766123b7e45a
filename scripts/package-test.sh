#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the Debian packages from this tree, check them with lintian (no
# errors allowed), install them on this machine, show the result works,
# and purge them again.  Needs root (it installs packages); prints TAP-ish
# lines and "package: N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
finish() {
    echo "package: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg-buildpackage >/dev/null; then
    echo "package: skipped (needs root and dpkg-buildpackage)"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/shmc-pkg.XXXXXX")
src="$work/shmcache-0.1.0"
dpid=
cleanup() {
    [ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q \
        shmcached libshmcache0 libshmcache-dev python3-shmcache libnss-shmcache >/dev/null 2>&1
    rm -rf "$work" /var/lib/shmcached/*.shm /var/lib/shmcached/*.lock \
        /run/shmcached/*.shm /run/shmcached/*.lock
}
trap cleanup EXIT

mkdir -p "$src"
(cd "$top" && git ls-files -co --exclude-standard | tar -cf - -T -) |
    tar -xf - -C "$src"
if (cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) \
    >"$work/build.log" 2>&1; then
    ok "dpkg-buildpackage: $(cd "$work" && ls *.deb | tr '\n' ' ')"
else
    bad "dpkg-buildpackage"
    tail -30 "$work/build.log" | sed 's/^/# /'
    finish
fi
lintian --tag-display-limit 0 "$work"/*.changes >"$work/lintian.log" 2>&1
if grep -q '^E:' "$work/lintian.log"; then
    bad "lintian reports errors"
    sed 's/^/# /' "$work/lintian.log"
else
    ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.log") warnings)"
fi
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    "$work"/shmcached_*.deb "$work"/libshmcache0_*.deb \
    "$work"/libshmcache-dev_*.deb "$work"/python3-shmcache_*.deb \
    "$work"/libnss-shmcache_*.deb \
    >"$work/install.log" 2>&1; then
    ok "packages install"
else
    bad "packages install"
    tail -20 "$work/install.log" | sed 's/^/# /'
    finish
fi
getent passwd shmcache >/dev/null && ok "the shmcache user exists" ||
    bad "no shmcache user"
[ -f /lib/systemd/system/shmcached.service ] &&
    [ -f /lib/systemd/system/shmcached.socket ] &&
    ok "units installed" || bad "units missing"
if systemd-analyze verify /lib/systemd/system/shmcached.service \
    /lib/systemd/system/shmcached.socket >"$work/verify.log" 2>&1; then
    ok "systemd-analyze verify of the installed units"
else
    bad "systemd-analyze verify"
    sed 's/^/# /' "$work/verify.log"
fi
/usr/sbin/shmcached --check-config >/dev/null && ok "installed config is valid" ||
    bad "installed config rejected"
pkg-config --exists libshmcache && ok "libshmcache.pc installed" ||
    bad "no libshmcache.pc"
# Start it as the unit would (user shmcache, the directories systemd
# would provide) and use it.
install -d -o shmcache -g shmcache -m 0750 /run/shmcached /var/lib/shmcached
runuser -u shmcache -- env RUNTIME_DIRECTORY=/run/shmcached \
    STATE_DIRECTORY=/var/lib/shmcached /usr/sbin/shmcached --foreground \
    2>"$work/daemon.log" &
dpid=$!
i=0
while [ ! -S /run/shmcached/control.sock ] && [ "$i" -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done
if shmcachectl -s /run/shmcached/control.sock set pkg works &&
    [ "$(shmcachectl -s /run/shmcached/control.sock get pkg)" = works ]; then
    ok "the installed daemon starts as shmcache and serves"
else
    bad "the installed daemon does not serve"
    sed 's/^/# /' "$work/daemon.log"
fi
if /usr/bin/python3 -c '
import shmcache
with shmcache.Cache("/run/shmcached/control.sock") as c:
    c.set("py", b"works")
    assert c["pkg"] == b"works" and c.get("py") == b"works"
' >"$work/python.log" 2>&1; then
    ok "python3-shmcache: import shmcache, get and set"
else
    bad "python3-shmcache does not work"
    sed 's/^/# /' "$work/python.log"
fi
# The NSS module against the daemon started with the shipped config (its
# passwd table loads through the nss loader); nsswitch.conf is not touched.
if [ "$(getent -s shmcache passwd root)" = "$(getent -s files passwd root)" ] &&
    [ -n "$(getent -s files passwd root)" ]; then
    ok "libnss-shmcache: getent -s shmcache passwd root equals files"
else
    bad "libnss-shmcache: getent -s shmcache passwd root: $(getent -s shmcache passwd root 2>&1)"
    sed 's/^/# /' "$work/daemon.log"
fi
finish
