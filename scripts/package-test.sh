#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the Debian packages from this tree, check them with lintian (no
# errors allowed), install them on this machine, show the result works,
# and purge them again, checking that the purge leaves nothing behind.
# Needs root (it installs packages); prints TAP-ish lines and "package: N
# passed, N failed", or "package: skipped (REASON)" and exits 77.
#
# It never touches a real installation: it refuses to run (a skip) where
# shmcached is installed other than by an earlier run of itself, or where
# its directories hold files, and it removes nothing but through the purge
# of the packages it installed.  Runs take turns (a lock), and a marker
# says the packages on the machine are its own, so a run that was killed
# is cleaned up by the next.
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
skip() {
    echo "package: skipped ($1)"
    exit 77
}
pkgs="shmcached libshmcache0 libshmcache-dev python3-shmcache libnss-shmcache"
lock=/run/lock/shmcache-package-test.lock
marker=/var/lib/shmcache-package-test.installed

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg-buildpackage >/dev/null; then
    skip "needs root and dpkg-buildpackage"
fi
# One run at a time (a second waits up to 15 minutes).
mkdir -p /run/lock
exec 9>"$lock"
flock -w 900 9 || skip "another package test still holds $lock"

purge() {
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pkgs >"$1" 2>&1
}
# What of shmcache is on this machine that this script did not put there.
foreign() {
    for p in $pkgs; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
        case "$st" in
        "" | not-installed) ;;
        *) echo "package $p ($st)" ;;
        esac
    done
    for f in /usr/sbin/shmcached /usr/local/sbin/shmcached \
        /usr/bin/shmcachectl /usr/local/bin/shmcachectl /etc/shmcached \
        /usr/local/etc/shmcached /lib/systemd/system/shmcached.service \
        /usr/lib/systemd/system/shmcached.service \
        /usr/local/lib/systemd/system/shmcached.service \
        /etc/systemd/system/shmcached.service; do
        [ -e "$f" ] && echo "$f"
    done
    for d in /var/lib/shmcached /run/shmcached; do
        [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] &&
            echo "files in $d"
    done
}
if [ -e "$marker" ]; then
    # An earlier run was killed before it purged: its packages, its files.
    echo "# an earlier run left its packages installed ($marker): purging"
    purge /dev/null
    rm -f "$marker"
fi
found=$(foreign | tr '\n' ';' | sed 's/;$//; s/;/; /g')
[ -z "$found" ] ||
    skip "refused: shmcache is on this machine other than by this test: $found"

work=$(mktemp -d "${TMPDIR:-/tmp}/shmc-pkg.XXXXXX")
# What the tools leave in $TMPDIR (lintian's ELF caches, ...) goes with
# the work directory.
mkdir -p "$work/tmp"
export TMPDIR="$work/tmp"
src="$work/shmcache-0.1.0"
dpid=
cleanup() {
    [ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
    # Only what this run installed: the marker says so.
    if [ -e "$marker" ]; then
        purge /dev/null
        rm -f "$marker"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

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
if dpkg-deb -c "$work"/libshmcache-dev_*.deb |
    grep -q ' ./usr/share/doc/libshmcache-dev/protocol.md'; then
    ok "libshmcache-dev ships doc/protocol.md"
else
    bad "libshmcache-dev lacks protocol.md"
fi
lintian --tag-display-limit 0 "$work"/*.changes >"$work/lintian.log" 2>&1
if grep -q '^E:' "$work/lintian.log"; then
    bad "lintian reports errors"
    sed 's/^/# /' "$work/lintian.log"
else
    ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.log") warnings)"
fi
touch "$marker"
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
    2>"$work/daemon.log" 9>&- &
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
# Purge: the daemon's tables and directories go too (Debian policy).
shmcachectl -s /run/shmcached/control.sock -t persistent set pkg disk >/dev/null
kill "$dpid" && wait "$dpid" 2>/dev/null
dpid=
if [ -f /var/lib/shmcached/persistent.shm ] &&
    [ -f /run/shmcached/default.shm ]; then
    ok "before the purge: tables in /var/lib/shmcached and /run/shmcached"
else
    bad "no tables in /var/lib/shmcached and /run/shmcached to purge"
    ls -la /var/lib/shmcached /run/shmcached 2>&1 | sed 's/^/# /'
fi
if purge "$work/purge.log"; then
    rm -f "$marker"
    ok "apt-get purge of the packages"
else
    bad "apt-get purge"
    tail -20 "$work/purge.log" | sed 's/^/# /'
fi
left=$(ls -d /var/lib/shmcached /run/shmcached /etc/shmcached \
    /usr/sbin/shmcached /lib/systemd/system/shmcached.service 2>/dev/null)
if [ -z "$left" ]; then
    ok "purge leaves no state, config, program or unit behind"
else
    bad "purge left $(echo $left)"
fi
remaining=$(for p in $pkgs; do
    dpkg-query -W -f='${db:Status-Status} ${Package}\n' "$p" 2>/dev/null
done | grep -v '^not-installed' | grep -v '^ *$')
[ -z "$remaining" ] && ok "dpkg knows none of the packages any more" ||
    bad "dpkg still lists: $remaining"
finish
