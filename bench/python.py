#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Gets and sets per second from Python: shmcache against redis-py (with
and without hiredis), pymemcache and py-lmdb, on the same data (N keys of
16 bytes, V-byte values), with every server on a Unix socket in a temp dir.
The C library's shmc_get() is measured on the same lookups in the same run
(bench/bench_get), alternating with the Python runs, so the cost Python
adds is a difference of two numbers taken side by side.

usage: bench/python.py [--build DIR] [--keys N] [--value-size V]
                       [--runs R] [--quick] [--json FILE]

Needs the tree built with the binding (scripts/build.sh build) and, for
the others, Debian's memcached, redis-server, python3-redis,
python3-hiredis, python3-pymemcache and python3-lmdb
(scripts/deps.sh bench).  Run it with Debian's /usr/bin/python3.
"""
import argparse
import ctypes
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
MULT = 2654435761  # the walk i * MULT mod N, as bench_get.c


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(TOP, "build"))
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--quick", action="store_true",
                   help="fewer keys and runs: a smoke test")
    p.add_argument("--json", default=None,
                   help="also write the results here as JSON")
    a = p.parse_args()
    if a.quick:
        a.keys, a.runs = 20_000, 3
    return a


def import_shmcache(build):
    # Load the library just built first, so the extension's NEEDED entry
    # is satisfied without LD_LIBRARY_PATH.
    ctypes.CDLL(os.path.join(build, "client", ".libs", "libshmcache.so.0"),
                mode=ctypes.RTLD_GLOBAL)
    sys.path.insert(0, os.path.join(build, "python", "build"))
    import shmcache
    return shmcache


def wait_for(path, proc, what):
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("bench/python.py: %s did not start" % what)
        time.sleep(0.01)


class Servers:
    """Every server of the run, stopped by PID on exit (also on error)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, argv, sock, **kw):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=log, **kw)
        self.procs.append((proc, log))
        wait_for(sock, proc, name)
        return sock

    def stop(self):
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()


def per_op_ns(fn, ops, runs):
    """Median over runs of ns per operation of fn(ops)."""
    res = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn(ops)
        res.append((time.perf_counter_ns() - t0) / ops)
    return statistics.median(res)


def main():
    a = parse()
    shmcache = import_shmcache(a.build)
    n, vsize = a.keys, a.value_size
    keys = [b"key:%012d" % i for i in range(n)]
    vals = [(b"v" + k) * (vsize // 17 + 1) for k in keys]
    vals = [v[:vsize] for v in vals]
    # The walk, as bench_get.c makes it: a fresh key object per step,
    # made in walk order, so that keys are read from memory in sequence
    # in both programs and only the lookups are random.
    order = [b"key:%012d" % (i * MULT % n) for i in range(n)]
    local_ops = n            # in-process lookups: one pass over the keys
    remote_ops = min(n, 2_000 if a.quick else 20_000)  # a round trip each
    results = {}
    tmp = tempfile.mkdtemp(prefix="shmcache-pybench.")
    servers = Servers(tmp)
    try:
        # --- shmcache ------------------------------------------------
        conf = os.path.join(tmp, "shmcached.json")
        size = max(64 << 20, n * (vsize + 64) * 4)
        with open(conf, "w") as f:
            json.dump({"max_request_bytes": 4 << 20, "tables": {"bench": {
                "size_bytes": size, "max_value_bytes": 65536,
                "expected_item_bytes": vsize + 16}}}, f)
        os.makedirs(os.path.join(tmp, "run"))
        os.makedirs(os.path.join(tmp, "state"))
        sock = servers.start("shmcached", [
            os.path.join(a.build, "daemon", "shmcached"), "--foreground",
            "-c", conf, "--runtime-dir", os.path.join(tmp, "run"),
            "--state-dir", os.path.join(tmp, "state")],
            os.path.join(tmp, "run", "control.sock"))
        c = shmcache.Cache(sock, "bench")
        data = dict(zip(keys, vals))

        def shm_set_many(_ops):
            assert c.set_many(data) == []
        t = per_op_ns(shm_set_many, n, a.runs)
        results["shmcache"] = {"set_many_per_s": 1e9 / t}
        assert c.get_many(keys) == data, "shmcache: values differ"
        get = c.get

        def shm_get(ops):
            for k in order[:ops]:
                get(k)
        shm_get(local_ops)  # untimed, as bench_get.c's first pass
        py, cref = [], []
        for _ in range(a.runs):  # alternate Python and C, run by run
            py.append(per_op_ns(shm_get, local_ops, 1))
            out = subprocess.run(
                [os.path.join(a.build, "bench", "bench_get"), sock, "bench",
                 str(n), str(local_ops), "1", str(vsize)],
                check=True, capture_output=True, text=True)
            cref.append(float(out.stdout))
        results["shmcache"]["get_ns"] = statistics.median(py)
        results["shmcache_c"] = {"get_ns": statistics.median(cref)}

        def shm_get_many(_ops):
            for i in range(0, n, 100):
                c.get_many(keys[i:i + 100])
        results["shmcache"]["get_many_ns_per_key"] = per_op_ns(
            shm_get_many, n, a.runs)
        setter = c.set

        def shm_set(ops):
            for k in order[:ops]:
                setter(k, data[k])
        results["shmcache"]["set_ns"] = per_op_ns(shm_set, remote_ops, a.runs)
        c.close()

        # --- Redis, with and without hiredis -------------------------
        try:
            import redis
            import redis.connection
        except ImportError:
            redis = None
        if redis is not None and shutil.which("redis-server"):
            rsock = servers.start("redis", [
                "redis-server", "--port", "0", "--unixsocket",
                os.path.join(tmp, "redis.sock"), "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no"],
                os.path.join(tmp, "redis.sock"))
            parsers = [("redis_py", redis.connection.PythonParser)]
            if redis.connection.HIREDIS_AVAILABLE:
                parsers.append(("redis_py_hiredis",
                                redis.connection.HiredisParser))
            for name, parser in parsers:
                pool = redis.ConnectionPool(
                    connection_class=redis.UnixDomainSocketConnection,
                    path=rsock, parser_class=parser)
                r = redis.Redis(connection_pool=pool)
                r.flushall()

                def r_bulk(_ops):
                    p = r.pipeline(transaction=False)
                    for i, k in enumerate(keys):
                        p.set(k, data[k])
                        if i % 100 == 99:
                            p.execute()
                    p.execute()
                res = {"set_many_per_s": 1e9 / per_op_ns(r_bulk, n, a.runs)}
                for k in keys[:: max(1, n // 1000)]:
                    assert r.get(k) == data[k], "redis: values differ"
                rget = r.get

                def r_get(ops):
                    for k in order[:ops]:
                        rget(k)
                res["get_ns"] = per_op_ns(r_get, remote_ops, a.runs)
                rset = r.set

                def r_set(ops):
                    for k in order[:ops]:
                        rset(k, data[k])
                res["set_ns"] = per_op_ns(r_set, remote_ops, a.runs)

                def r_mget(_ops):
                    for i in range(0, n, 100):
                        r.mget(keys[i:i + 100])
                res["get_many_ns_per_key"] = per_op_ns(r_mget, n, a.runs)
                results[name] = res
                r.close()

        # --- memcached through pymemcache ----------------------------
        try:
            from pymemcache.client.base import Client as McClient
        except ImportError:
            McClient = None
        mc_bin = shutil.which("memcached") or (
            "/usr/bin/memcached" if os.path.exists("/usr/bin/memcached")
            else None)
        if McClient is not None and mc_bin:
            msock = os.path.join(tmp, "memcached.sock")
            argv = [mc_bin, "-s", msock, "-a", "0700", "-m", "1024"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
            servers.start("memcached", argv, msock)
            m = McClient(msock)

            def m_bulk(_ops):
                for i in range(0, n, 100):
                    m.set_many({k: data[k] for k in keys[i:i + 100]})
            res = {"set_many_per_s": 1e9 / per_op_ns(m_bulk, n, a.runs)}
            for k in keys[:: max(1, n // 1000)]:
                assert m.get(k) == data[k], "memcached: values differ"
            mget1 = m.get

            def m_get(ops):
                for k in order[:ops]:
                    mget1(k)
            res["get_ns"] = per_op_ns(m_get, remote_ops, a.runs)
            mset1 = m.set

            def m_set(ops):
                for k in order[:ops]:
                    mset1(k, data[k])
            res["set_ns"] = per_op_ns(m_set, remote_ops, a.runs)

            def m_getmany(_ops):
                for i in range(0, n, 100):
                    m.get_many(keys[i:i + 100])
            res["get_many_ns_per_key"] = per_op_ns(m_getmany, n, a.runs)
            results["pymemcache"] = res
            m.close()

        # --- LMDB, in process ----------------------------------------
        try:
            import lmdb
        except ImportError:
            lmdb = None
        if lmdb is not None:
            env = lmdb.open(os.path.join(tmp, "lmdb"), map_size=size * 4,
                            sync=False, metasync=False)

            def l_bulk(_ops):
                for i in range(0, n, 100):
                    with env.begin(write=True) as txn:
                        for k in keys[i:i + 100]:
                            txn.put(k, data[k])
            res = {"set_many_per_s": 1e9 / per_op_ns(l_bulk, n, a.runs)}
            with env.begin() as txn:
                for k in keys:
                    assert txn.get(k) == data[k], "lmdb: values differ"

            def l_get(ops):
                # One read transaction per get, as a cache lookup would be.
                for k in order[:ops]:
                    with env.begin() as txn:
                        txn.get(k)
            res["get_ns"] = per_op_ns(l_get, local_ops, a.runs)

            def l_set(ops):
                for k in order[:ops]:
                    with env.begin(write=True) as txn:
                        txn.put(k, data[k])
            res["set_ns"] = per_op_ns(l_set, remote_ops, a.runs)
            results["py_lmdb"] = res
            env.close()
    finally:
        servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    report(a, results)


def report(a, results):
    def cell(v, fmt="{:,.0f}"):
        return "-" if v is None else fmt.format(v)
    print("Python %s, %d keys, %d-byte values, median of %d runs\n"
          % (platform.python_version(), a.keys, a.value_size, a.runs))
    print("| | get, ns | get_many, ns/key | set, ns | bulk sets/s |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print("| %s | %s | %s | %s | %s |" % (
            name, cell(r.get("get_ns")), cell(r.get("get_many_ns_per_key")),
            cell(r.get("set_ns")), cell(r.get("set_many_per_s"))))
    s, cref = results["shmcache"], results["shmcache_c"]
    extra = s["get_ns"] - cref["get_ns"]
    print("\nPython get costs C shmc_get + %.0f ns (target <= 150): %s"
          % (extra, "met" if extra <= 150 else "MISSED"))
    for other in ("redis_py", "redis_py_hiredis"):
        if other in results:
            ratio = results[other]["get_ns"] / s["get_ns"]
            print("get vs %s: %.0fx faster (target >= 50x): %s"
                  % (other, ratio, "met" if ratio >= 50 else "MISSED"))
    print("set_many: %.0f sets/s (target >= 500,000): %s"
          % (s["set_many_per_s"],
             "met" if s["set_many_per_s"] >= 500_000 else "MISSED"))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump({"machine": {"python": platform.python_version(),
                                   "cpus": os.cpu_count(),
                                   "kernel": platform.release()},
                       "keys": a.keys, "value_size": a.value_size,
                       "runs": a.runs, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
