#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Items held per MiB by memcached and Redis, for bench/memory.sh.

Talks to each server over a Unix socket with its own text protocol (no
client library needed): memcached is given a memory limit and twice the
items it can hold, then asked how many it kept; Redis (no limit) is loaded
with a fixed count and asked how much memory they took.  Prints one line
per server in the format of bench_fill.
"""
import os
import socket
import subprocess
import sys
import time


def connect(path, tries=100):
    for _ in range(tries):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            time.sleep(0.05)
    sys.exit("memory.py: cannot connect to %s" % path)


def recv_until(s, marker):
    buf = b""
    while not buf.endswith(marker):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    return buf


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def key(i, klen):
    return (b"%d" % i).rjust(klen, b"k")


def memcached(work, klen, vlen, mib):
    sock = os.path.join(work, "mc.sock")
    p = subprocess.Popen(["memcached", "-s", sock, "-m", str(mib), "-U", "0",
                          "-u", "root"])
    try:
        s = connect(sock)
        val = b"v" * vlen
        n = mib * 1048576 // (klen + vlen) * 2
        batch = []
        for i in range(n):
            batch.append(b"set %s 0 0 %d noreply\r\n%s\r\n" %
                         (key(i, klen), vlen, val))
            if len(batch) == 1000:
                s.sendall(b"".join(batch))
                batch = []
        s.sendall(b"".join(batch) + b"stats\r\n")
        stats = {}
        for line in recv_until(s, b"END\r\n").decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                stats[parts[1]] = parts[2]
        items = int(stats["curr_items"])
        limit = int(stats["limit_maxbytes"])
        rss = rss_kib(p.pid) * 1024
        print("memcached key=%d value=%d limit=%d items=%d items_per_mib=%.0f "
              "overhead_per_item=%.1f rss_overhead_per_item=%.1f" %
              (klen, vlen, limit, items, items / (limit / 1048576.0),
               limit / items - klen - vlen, rss / items - klen - vlen))
    finally:
        p.terminate()
        p.wait()


def redis(work, klen, vlen, count):
    sock = os.path.join(work, "redis.sock")
    p = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                          "--save", "", "--appendonly", "no", "--dir", work],
                         stdout=subprocess.DEVNULL)
    try:
        s = connect(sock)

        def info():
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
            hdr = b""
            while not hdr.endswith(b"\r\n"):
                hdr += s.recv(1)
            size = int(hdr[1:-2])
            body = b""
            while len(body) < size + 2:
                body += s.recv(size + 2 - len(body))
            d = {}
            for line in body.decode().splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    d[k] = v
            return int(d["used_memory"])

        before = info()
        rss_before = rss_kib(p.pid) * 1024
        val = b"v" * vlen
        batch = []
        for i in range(count):
            k = key(i, klen)
            batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" %
                         (len(k), k, vlen, val))
            if len(batch) == 1000:
                s.sendall(b"".join(batch))
                recv_until(s, b"+OK\r\n" * 1)
                batch = []
        s.sendall(b"".join(batch))
        # Wait for every reply: a PING after the SETs answers last.
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        recv_until(s, b"+PONG\r\n")
        used = info() - before
        rss = rss_kib(p.pid) * 1024 - rss_before
        print("redis key=%d value=%d items=%d used_memory=%d "
              "items_per_mib=%.0f overhead_per_item=%.1f "
              "rss_overhead_per_item=%.1f" %
              (klen, vlen, count, used, count / (used / 1048576.0),
               used / count - klen - vlen, rss / count - klen - vlen))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    work, klen, vlen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    memcached(work, klen, vlen, 64)
    redis(work, klen, vlen, 64 * 1048576 // (klen + vlen + 40))
