#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian packages under a real systemd, in a Debian tree this script
# builds itself (issue 13):
#
#   scripts/systemd-test.sh [DEBDIR]
#
# debootstrap --variant=minbase bookworm into a temp dir, install the
# packages (built from this tree, or the shmcached and libshmcache0 .debs
# in DEBDIR), boot systemd as PID 1 of new PID, mount and UTS namespaces
# in a chroot of it, and drive it with nsenter: the socket unit, a client
# activating the service, status and journal, Restart= after SIGKILL,
# readers across a restart, reload (SIGHUP), stop, and reads with the
# daemon stopped.  systemd-nspawn would be the tool, but it refuses to run
# on a host without a system bus.
#
# Needs root, debootstrap (scripts/deps.sh), unshare and nsenter,
# PID and mount namespaces, and a Debian mirror (the one apt uses, or
# $SHMC_DEBIAN_MIRROR).  Without one of them it says which and exits 77.
# Downloaded packages are kept in build/debootstrap-cache (or
# $SHMC_DEBOOTSTRAP_CACHE); nothing else outside its temp dir is left.
# Prints TAP-ish lines and "systemd: N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
finish() {
    echo "systemd: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}
skip() {
    echo "systemd: skipped ($1)"
    exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root"
for c in debootstrap unshare nsenter chroot; do
    command -v "$c" >/dev/null ||
        skip "no $c (scripts/deps.sh installs debootstrap)"
done
unshare --pid --fork --mount --uts true 2>/dev/null ||
    skip "this host gives no PID, mount and UTS namespaces"
mirror=${SHMC_DEBIAN_MIRROR:-$(sed -n 's|^URIs: *\(http[^ ]*/debian\)$|\1|p' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
cache=${SHMC_DEBOOTSTRAP_CACHE:-$top/build/debootstrap-cache}

# /var/tmp: the tree is ~250 MB, more than a small /tmp may hold.  The
# root must be searchable by the daemon's user (mktemp makes it 0700).
work=$(mktemp -d "${SHMC_SYSTEMD_TMP:-/var/tmp}/shmc-systemd.XXXXXX")
chmod 755 "$work"
root="$work/root"
upid=
sd=
cleanup() {
    # PID 1 of the namespace takes every process in it along; the mounts
    # were made in its private mount namespace and go with it.
    [ -n "$sd" ] && kill -KILL "$sd" 2>/dev/null
    [ -n "$upid" ] && wait "$upid" 2>/dev/null
    if grep -q " $work" /proc/self/mountinfo; then
        echo "# mounts under $work remain; not removing it"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# In the booted tree, as systemd's namespaces see it.
inside() { nsenter -t "$sd" -m -p -u chroot "$root" "$@"; }
# Wait up to $1 tenths of a second for "$2..." to succeed.
until_ok() {
    _n=$1
    shift
    while ! "$@" >/dev/null 2>&1; do
        _n=$((_n - 1))
        [ "$_n" -gt 0 ] || return 1
        sleep 0.1
    done
}

t0=$(date +%s)
debs=${1:-}
if [ -z "$debs" ]; then
    debs="$work/debs"
    mkdir -p "$debs/src"
    (cd "$top" && git ls-files -co --exclude-standard | tar -cf - -T -) |
        tar -xf - -C "$debs/src"
    if (cd "$debs/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage \
        -us -uc -b) >"$work/build.log" 2>&1; then
        ok "dpkg-buildpackage"
    else
        bad "dpkg-buildpackage"
        tail -30 "$work/build.log" | sed 's/^/# /'
        finish
    fi
fi
set -- "$debs"/shmcached_*.deb "$debs"/libshmcache0_*.deb
[ -f "$1" ] && [ -f "$2" ] || skip "no shmcached and libshmcache0 .debs in $debs"

mkdir -p "$cache"
if debootstrap --variant=minbase --cache-dir="$cache" \
    --include=systemd,systemd-sysv,dbus,libevent-core-2.1-7,libjansson4,adduser \
    bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    ok "debootstrap --variant=minbase bookworm ($(($(date +%s) - t0)) s so far)"
else
    tail -5 "$work/debootstrap.log" | sed 's/^/# /'
    skip "debootstrap from $mirror failed (no network?)"
fi
# Units that wait for a terminal or a seat this tree has not: masked, so
# that the boot settles.
for u in getty.target serial-getty@ttyS0.service console-getty.service \
    systemd-logind.service e2scrub_reap.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done
echo shmc-systemd-test >"$root/etc/hostname"
# With apt, so that the packages' dependencies come as they would.
cp "$@" "$root/tmp/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if unshare --pid --fork --mount --mount-proc="$root/proc" chroot "$root" \
    sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends /tmp/*.deb' \
    >"$work/install.log" 2>&1; then
    ok "the packages install into the tree"
else
    bad "the packages do not install"
    tail -20 "$work/install.log" | sed 's/^/# /'
    finish
fi

# Boot.  The root must be a mount point for the units' namespaces
# (ProtectSystem= and friends), hence the bind mount.
unshare --pid --fork --mount --uts --propagation private sh -c '
    mount --bind "$1" "$1" && mount -t proc proc "$1/proc" &&
    exec chroot "$1" /lib/systemd/systemd --system' sh "$root" \
    >"$work/boot.log" 2>&1 &
upid=$!
until_ok 50 pgrep -P "$upid" || { cat "$work/boot.log"; finish; }
sd=$(pgrep -P "$upid")
if until_ok 300 inside systemctl is-active systemd-journald.service; then
    ok "systemd boots as PID 1 of the namespace (pid $sd here)"
else
    bad "systemd did not come up"
    sed 's/^/# /' "$work/boot.log"
    finish
fi

inside systemctl start shmcached.socket &&
    [ "$(inside systemctl is-active shmcached.socket)" = active ] &&
    [ "$(inside systemctl is-active shmcached.service)" = inactive ] &&
    ok "shmcached.socket listens; the service waits" ||
    bad "shmcached.socket does not start"
if inside shmcachectl set k v && [ "$(inside shmcachectl get k)" = v ] &&
    [ "$(inside systemctl is-active shmcached.service)" = active ]; then
    ok "a client activates the service through the socket"
else
    bad "no activation through the socket"
    inside systemctl status shmcached --no-pager -l | sed 's/^/# /'
fi
prop() { inside systemctl show -p "$1" --value shmcached.service; }
status="$(prop ActiveState)/$(prop SubState) user=$(prop User) \"$(prop StatusText)\""
case "$status" in
"active/running user=shmcache \"Serving "*) ok "systemctl status: $status" ;;
*) bad "systemctl status says $status" ;;
esac
# Priorities reach the journal: "main: ready" is a notice, so -p notice
# shows it and -p warning does not (without <N> prefixes all is info).
if inside journalctl -u shmcached -p notice -o cat | grep -q 'main: ready' &&
    ! inside journalctl -u shmcached -p warning -o cat | grep -q 'main: ready' &&
    inside journalctl -u shmcached -o cat |
    grep -q 'control: listening .*(inherited from systemd)'; then
    ok "journal: the daemon's lines, with their priorities"
else
    bad "journal lacks the daemon's lines or their priorities"
    inside journalctl -u shmcached --no-pager | tail -20 | sed 's/^/# /'
fi

pid=$(inside systemctl show -p MainPID --value shmcached)
inside systemctl kill -s KILL shmcached.service
new() { p=$(inside systemctl show -p MainPID --value shmcached) &&
    [ "$p" != 0 ] && [ "$p" != "$pid" ] &&
    [ "$(inside systemctl is-active shmcached)" = active ]; }
if until_ok 100 new && [ "$(inside shmcachectl get k)" = v ]; then
    ok "Restart= after SIGKILL: a new daemon, the memory table kept"
else
    bad "no restart after SIGKILL"
    inside systemctl status shmcached --no-pager -l | sed 's/^/# /'
fi

# Readers keep reading across a restart: through the daemon, or the file
# while it is down.
inside sh -c 'i=0; while [ $i -lt 300 ]; do
    r=$(shmcachectl get k 2>&1); [ "$r" = v ] || echo "read $i: $r"
    i=$((i + 1)); done' >"$work/readers.log" 2>&1 &
rpid=$!
sleep 0.3
pid=$(inside systemctl show -p MainPID --value shmcached)
inside systemctl restart shmcached.service
wait "$rpid"
if [ ! -s "$work/readers.log" ] && new; then
    ok "readers across systemctl restart: 300 reads, none failed"
else
    bad "readers across systemctl restart"
    head -5 "$work/readers.log" | sed 's/^/# /'
fi

pid=$(inside systemctl show -p MainPID --value shmcached)
if inside systemctl reload shmcached.service &&
    [ "$(inside systemctl show -p MainPID --value shmcached)" = "$pid" ] &&
    [ "$(inside systemctl is-active shmcached)" = active ] &&
    inside journalctl -u shmcached -o cat | grep -q 'Reloaded shmcached'; then
    ok "systemctl reload: SIGHUP, the same daemon, active"
else
    bad "systemctl reload"
    inside journalctl -u shmcached --no-pager | tail -8 | sed 's/^/# /'
fi

inside shmcachectl -t persistent set pk pv >/dev/null
if inside systemctl stop shmcached.service shmcached.socket &&
    [ "$(inside systemctl is-active shmcached.service)" = inactive ] &&
    inside journalctl -u shmcached -o cat | grep -q 'main: stopped cleanly'; then
    ok "systemctl stop: stopped cleanly"
else
    bad "systemctl stop"
    inside journalctl -u shmcached --no-pager | tail -8 | sed 's/^/# /'
fi
if [ "$(inside shmcachectl get k)" = v ] &&
    [ "$(inside shmcachectl -t persistent get pk)" = pv ] &&
    inside shmcachectl stats | grep -q '"source":"file"'; then
    ok "the daemon stopped: memory and disk tables still read"
else
    bad "reads with the daemon stopped"
fi
echo "# $(($(date +%s) - t0)) s"
finish
