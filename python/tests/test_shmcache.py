# SPDX-License-Identifier: MIT
"""The shmcache module against a real daemon started in a temp dir.

The daemon is $SHMCACHED (make check sets it to the one just built); the
module is whatever `import shmcache` finds (make check puts the built one
first on sys.path).
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import shmcache

CONF = {
    "max_request_bytes": 2097152,
    "tables": {
        "t": {"size_bytes": 8 << 20, "max_value_bytes": 1 << 20},
        "small": {"size_bytes": 1 << 20, "max_key_bytes": 16,
                  "max_value_bytes": 1000},
        "only_root": {"size_bytes": 1 << 20, "max_value_bytes": 1000,
                      "read_uids": [0], "write_uids": [0]},
        "disk": {"mode": "disk", "size_bytes": 1 << 20,
                 "max_value_bytes": 1000},
        "loaded": {"size_bytes": 1 << 20, "max_value_bytes": 100000,
                   "loader": {"type": "exec", "command": None,
                              "timeout_ms": 700}},
    },
}

# The "loaded" table's loader: the value of k is "v:k".
LOADER = """#!/bin/sh
key=$(cat)
case "$key" in
missing*) exit 1 ;;
fail*) exit 3 ;;
hang*) sleep 30 ;;
big*) head -c 70000 /dev/zero ;;
*) printf 'v:%s' "$key" ;;
esac
"""


class Daemon:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shmcache-py.")
        os.chmod(self.dir, 0o755)  # the ACL test connects as nobody
        self.sock = os.path.join(self.dir, "run", "control.sock")
        loader = os.path.join(self.dir, "loader.sh")
        with open(loader, "w") as f:
            f.write(LOADER)
        os.chmod(loader, 0o755)
        conf = json.loads(json.dumps(CONF))
        conf["tables"]["loaded"]["loader"]["command"] = [loader]
        with open(os.path.join(self.dir, "conf.json"), "w") as f:
            json.dump(conf, f)
        self.proc = None
        try:
            self.start()
        except BaseException:
            self.remove()
            raise

    def start(self):
        binary = os.environ.get("SHMCACHED", "shmcached")
        for d in ("run", "state"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
            os.chmod(os.path.join(self.dir, d), 0o755)
        self.log = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, "--foreground", "-c",
             os.path.join(self.dir, "conf.json"),
             "--runtime-dir", os.path.join(self.dir, "run"),
             "--state-dir", os.path.join(self.dir, "state")],
            stderr=self.log)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.close()
                with open(self.log.name) as f:
                    raise RuntimeError("shmcached did not start: "
                                       + f.read())
            time.sleep(0.01)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(10)
            self.proc = None
            self.log.close()

    def restart(self):
        self.stop()
        os.unlink(self.sock) if os.path.exists(self.sock) else None
        self.start()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir)


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    d.remove()


@pytest.fixture
def c(daemon):
    with shmcache.Cache(daemon.sock, "t") as cache:
        yield cache


def test_set_get_default_and_mapping_protocol(c):
    assert c.get(b"k") is None
    assert c.get(b"k", b"dflt") == b"dflt"
    assert c.get(b"k", default=7) == 7
    c.set(b"k", b"v")
    assert c.get(b"k") == b"v"
    assert c.get(key=b"k") == b"v"
    assert c[b"k"] == b"v"
    assert b"k" in c and b"nope" not in c
    c[b"k2"] = b"v2"
    assert c[b"k2"] == b"v2"
    del c[b"k2"]
    assert b"k2" not in c
    with pytest.raises(KeyError) as e:
        c[b"k2"]
    assert isinstance(e.value, shmcache.NotFound)
    assert e.value.code == shmcache.ENOTFOUND and e.value.args == (b"k2",)
    with pytest.raises(KeyError):
        del c[b"k2"]
    with pytest.raises(TypeError):
        c.get(b"k", 1, 2)
    with pytest.raises(TypeError):
        c.get(b"k", nope=1)


def test_str_is_utf8_and_values_are_buffers(c):
    c.set("clé", "välue")
    assert c.get("clé") == "välue".encode()
    assert c.get("clé".encode()) == "välue".encode()
    c.set(b"ba", bytearray(b"xyz"))
    c.set(b"mv", memoryview(b"abcdef")[1:4])
    assert c[b"ba"] == b"xyz" and c[b"mv"] == b"bcd"
    c.set(b"empty", b"")
    assert c.get(b"empty") == b"" and b"empty" in c
    with pytest.raises(TypeError):
        c.set(1, b"v")
    with pytest.raises(TypeError):
        c.set(b"k", 1.5)
    with pytest.raises(TypeError):
        c.get(None)


def test_large_values_grow_the_buffer(c):
    for n in (4095, 4096, 4097, 100_000, 1 << 20):
        v = os.urandom(n)
        c.set(b"big", v)
        assert c.get(b"big") == v
    assert c.get_many([b"big"]) == {b"big": v}
    c.set(b"small", b"s")
    assert c.get(b"small") == b"s"


def test_add_replace_delete_touch_incr_decr(c):
    c.add(b"a", b"1")
    with pytest.raises(shmcache.Exists) as e:
        c.add(b"a", b"2")
    assert e.value.code == shmcache.EEXISTS
    c.replace(b"a", b"5")
    assert c[b"a"] == b"5"
    with pytest.raises(shmcache.NotFound):
        c.replace(b"zz", b"1")
    assert c.incr(b"a") == 6
    assert c.incr(b"a", 10) == 16
    assert c.decr(b"a", 20) == 0
    assert c.decr(b"a", delta=0) == 0
    with pytest.raises(shmcache.NotFound):
        c.incr(b"zz")
    c.set(b"word", b"abc")
    with pytest.raises(shmcache.NotNumber) as e:
        c.incr(b"word")
    assert isinstance(e.value, ValueError)
    with pytest.raises(ValueError):
        c.incr(b"a", -1)
    assert c.touch(b"a", 100) is True
    assert c.touch(b"zz", 100) is False
    assert c.delete(b"a") is True
    assert c.delete(b"a") is False


def test_ttl_expires_and_bounds(c):
    c.set(b"short", b"v", ttl=1)
    c.set(b"never", b"v", ttl=shmcache.TTL_NEVER)
    assert c[b"short"] == b"v"
    deadline = time.monotonic() + 5
    while b"short" in c and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"short" not in c and b"never" in c
    with pytest.raises(ValueError):
        c.set(b"k", b"v", ttl=-1)
    with pytest.raises(ValueError):
        c.set(b"k", b"v", ttl=1 << 32)
    with pytest.raises(TypeError):
        c.set(b"k", b"v", ttl="1")


def test_negative_entries(c):
    c.set_negative(b"ghost", ttl=60)
    assert c.get(b"ghost") is None
    assert c.get(b"ghost", b"d") == b"d"
    assert b"ghost" not in c
    assert c.lookup(b"ghost") is shmcache.NEGATIVE
    assert not shmcache.NEGATIVE and repr(shmcache.NEGATIVE) == \
        "shmcache.NEGATIVE"
    assert c.lookup(b"absent") is None
    c.set(b"there", b"x")
    assert c.lookup(b"there") == b"x"
    with pytest.raises(shmcache.NotFound) as e:
        c[b"ghost"]
    assert e.value.code == shmcache.ENEGATIVE


def test_get_many_and_set_many(c):
    items = {b"m%05d" % i: b"value-%d" % i * (i % 7 + 1) for i in range(5000)}
    assert c.set_many(items) == []
    keys = list(items) + [b"missing-1", b"missing-2"]
    got = c.get_many(keys)
    assert got == items
    assert c.get_many([]) == {}
    assert c.get_many(iter([b"m00001"])) == {b"m00001": items[b"m00001"]}
    # str keys come back as given; pairs and other mappings work too.
    assert c.set_many([("s1", "one"), (b"s2", bytearray(b"two"))], ttl=60) \
        == []
    assert c.get_many(["s1", b"s2"]) == {"s1": b"one", b"s2": b"two"}
    # Values larger than a get_many slot are fetched on their own.
    big = os.urandom(300_000)
    c.set(b"big", big)
    assert c.get_many([b"s1", b"big", b"s2"])[b"big"] == big
    with pytest.raises(TypeError):
        c.set_many([b"not-a-pair"])
    with pytest.raises(TypeError):
        c.get_many([b"ok", 3])


def test_set_many_reports_items_not_stored(daemon):
    with shmcache.Cache(daemon.sock, "small") as s:
        failed = s.set_many({b"ok": b"1", b"k" * 17: b"2",
                             b"big": b"x" * 1001, b"ok2": b"3"})
        assert sorted(failed) == [b"big", b"k" * 17]
        assert s[b"ok"] == b"1" and s[b"ok2"] == b"3"


def test_delete_many(c):
    items = {b"d%05d" % i: b"v%d" % i for i in range(5000)}
    assert c.set_many(items) == []
    keys = list(items)[::2] + [b"absent", "also-absent"]
    assert c.delete_many(keys) == [b"absent", "also-absent"]
    assert [k for k in items if k in c] == list(items)[1::2]
    # Any iterable; a key named twice is gone the second time.
    assert c.delete_many(iter([b"d00001", b"d00001"])) == [b"d00001"]
    assert c.delete_many([]) == []
    c.set("clé", "v")
    assert c.delete_many(["clé"]) == [] and "clé" not in c
    with pytest.raises(TypeError):
        c.delete_many([b"d00003", 3])
    assert b"d00003" in c  # a bad key: nothing sent
    with pytest.raises(TypeError):
        c.delete_many(5)


def test_delete_many_reports_keys_not_deleted(daemon):
    with shmcache.Cache(daemon.sock, "small") as s:
        s.set_many({b"a": b"1", b"b": b"2"})
        assert s.delete_many([b"a", b"k" * 17, b"nope", b"b"]) == \
            [b"k" * 17, b"nope"]
        assert b"a" not in s and b"b" not in s


def test_limits_raise_too_big(daemon):
    with shmcache.Cache(daemon.sock, "small") as s:
        with pytest.raises(shmcache.TooBig) as e:
            s.set(b"k" * 17, b"v")
        assert e.value.code == shmcache.ETOOBIG
        assert isinstance(e.value, ValueError)
        with pytest.raises(shmcache.TooBig):
            s.set(b"k", b"v" * 1001)


def test_flush_sync_stats_info_tables_counters_items(daemon, c):
    c.set_many({b"a": b"1", b"b": b"2"})
    c.set_negative(b"n")
    assert dict(c.items()) == {b"a": b"1", b"b": b"2"}
    assert sorted(c) == [b"a", b"b"]
    st = c.stats()
    assert st["name"] == "t" and st["entries"] == 3 and st["sets"] >= 3
    everything = c.stats(all=True)
    assert everything["pid"] == daemon.proc.pid
    assert sorted(t["name"] for t in everything["tables"]) == sorted(
        CONF["tables"])
    assert sorted(t["name"] for t in c.tables()) == sorted(CONF["tables"])
    info = c.info()
    assert info["format_version"] == 2 and info["entries"] == 3
    assert info["max_value_bytes"] == 1 << 20
    c.get(b"a")
    c.get(b"zzz")
    hits, misses = c.counters()
    assert hits >= 1 and misses >= 1
    c.flush()
    assert c.get(b"a") is None
    with shmcache.Cache(daemon.sock, "disk") as d:
        d.set(b"p", b"q")
        d.sync()


def test_exceptions_for_the_daemon_and_tables(daemon, tmp_path):
    with pytest.raises(shmcache.NoDaemon) as e:
        shmcache.Cache(str(tmp_path / "nothing.sock"), "t")
    assert isinstance(e.value, ConnectionError)
    assert e.value.code < 0 and e.value.errno > 0
    with pytest.raises(shmcache.NoTable) as e:
        shmcache.Cache(daemon.sock, "no_such_table")
    assert isinstance(e.value, LookupError)
    assert e.value.code == shmcache.ENOTABLE
    assert issubclass(shmcache.PermissionDenied, PermissionError)
    assert all(issubclass(x, shmcache.Error) for x in (
        shmcache.NotFound, shmcache.Exists, shmcache.TooBig,
        shmcache.NoDaemon, shmcache.PermissionDenied, shmcache.Busy,
        shmcache.Corrupt, shmcache.ReadOnly, shmcache.NotNumber,
        shmcache.NoTable, shmcache.NoLoader, shmcache.LoaderError,
        shmcache.Timeout))
    assert shmcache.strerror(shmcache.ENOTFOUND) == "key not found"
    assert shmcache.library_version() == shmcache.__version__


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_acl_refusal_is_permission_denied(daemon):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                shmcache.Cache(daemon.sock, "only_root")
            except shmcache.PermissionDenied as e:
                code = 0 if isinstance(e, PermissionError) else 2
            except BaseException as e:
                os.write(w, repr(e).encode())
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    why = os.read(r, 1000)
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0, why


def test_closed_handle_and_context_manager(daemon):
    c = shmcache.Cache(daemon.sock, "t")
    assert not c.closed and "'t'" in repr(c)
    with c as same:
        assert same is c
    assert c.closed and "closed" in repr(c)
    c.close()  # twice: no effect
    for call in (lambda: c.get(b"k"), lambda: c.set(b"k", b"v"),
                 lambda: c.get_many([b"k"]), lambda: c.delete_many([b"k"]),
                 lambda: b"k" in c):
        with pytest.raises(ValueError):
            call()


def test_open_file_reads_without_daemon(daemon):
    with shmcache.Cache(daemon.sock, "t") as c:
        c.set(b"k", b"v")
    path = os.path.join(daemon.dir, "run", "t.shm")
    daemon.stop()
    with shmcache.Cache.open_file(path) as f:
        assert f[b"k"] == b"v"
        with pytest.raises(shmcache.ReadOnly) as e:
            f.set(b"k", b"w")
        assert e.value.code == shmcache.EREADONLY
        with pytest.raises(shmcache.ReadOnly):
            f.delete_many([b"k"])
        assert f[b"k"] == b"v"
    with pytest.raises(shmcache.Error):
        shmcache.Cache.open_file(os.path.join(daemon.dir, "conf.json"))
    with pytest.raises(shmcache.Error):
        shmcache.Cache.open_file(os.path.join(daemon.dir, "missing.shm"))


def test_daemon_restart_under_a_live_handle(daemon, c):
    c.set(b"k", b"before")
    daemon.restart()
    # Memory tables survive a restart of the daemon (the file is reused).
    assert c.get(b"k") == b"before"
    c.set(b"k", b"after")  # reconnects by itself
    assert c.get(b"k") == b"after"
    daemon.stop()
    with pytest.raises(shmcache.NoDaemon):
        c.set(b"k", b"x")
    assert c.get(b"k") == b"after"  # reads need no daemon


def test_threads_share_a_handle(c):
    errors = []

    def writer(tid):
        try:
            for i in range(300):
                k = b"t%d-%d" % (tid, i)
                c.set(k, k * 3)
                if c.get(k) != k * 3:
                    errors.append(k)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader():
        try:
            for _ in range(20000):
                v = c.get(b"t0-1")
                if v is not None and v != b"t0-1" * 3:
                    errors.append(v)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_close_while_another_thread_writes(c):
    c.set(b"k", b"v")
    stop = threading.Event()
    seen = []

    def writer():
        while not stop.is_set():
            try:
                c.set(b"k", b"v" * 1000)
            except ValueError:  # closed
                seen.append("closed")
                return

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.05)
    c.close()
    stop.set()
    t.join(10)
    assert not t.is_alive() and c.closed


def test_forked_child_reads_and_writes(c):
    c.set(b"parent", b"p")
    c.set(b"n", b"0")
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = c.get(b"parent") == b"p"
            for i in range(200):
                c.set(b"child%d" % i, b"c")
            ok = ok and c.incr(b"n", 1000) >= 1000
        except BaseException:
            ok = False
        finally:
            os._exit(0 if ok else 1)
    for i in range(200):
        c.set(b"par%d" % i, b"p")
        c.incr(b"n")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.get(b"child199") == b"c" and c.get(b"par199") == b"p"
    assert c.incr(b"n", 0) == 1200


def test_default_socket_from_environment(daemon, monkeypatch):
    monkeypatch.setenv("SHMCACHE_SOCKET", daemon.sock)
    with shmcache.Cache(table="t") as c:
        c.set(b"env", b"yes")
        assert c[b"env"] == b"yes"
    with pytest.raises(shmcache.NoTable):
        shmcache.Cache()  # the table "default" does not exist here


def test_get_or_load_runs_the_tables_loader(daemon):
    with shmcache.Cache(daemon.sock, "loaded") as c:
        assert c.get(b"k1") is None
        assert c.get_or_load(b"k1") == b"v:k1"
        assert c.get(b"k1") == b"v:k1"          # stored: a lock-free hit now
        assert c.get_or_load("clé") == "v:clé".encode()
        assert c.get_or_load(b"big1") == bytes(70000)   # over 64 KiB
        assert c.get_or_load(b"missing1") is None
        assert c.get_or_load(b"missing1", b"d") == b"d"
        assert c.lookup(b"missing1") is shmcache.NEGATIVE
        with pytest.raises(shmcache.LoaderError) as e:
            c.get_or_load(b"fail1")
        assert e.value.code == shmcache.ELOADER
        with pytest.raises(TimeoutError) as e:
            c.get_or_load(b"hang1")
        assert isinstance(e.value, shmcache.Timeout)
        loader = c.stats()["loader"]
        assert loader["calls"] == 6 and loader["timeouts"] == 1
    with shmcache.Cache(daemon.sock, "t") as c:
        with pytest.raises(shmcache.NoLoader):
            c.get_or_load(b"k")
