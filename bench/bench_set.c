/* SPDX-License-Identifier: MIT */
/*
 * bench_set.c -- write throughput through shmcached's control socket.
 *
 * Three ways to send N sets of 16-byte keys and V-byte values:
 *   rtt        one request, wait for its reply, repeat;
 *   pipelined  windows of W requests in one write, then the W replies;
 *   batched    BATCH frames of 100 items, pipelined the same way.
 * Each mode runs R times; the median sets/s is printed.  A PING round trip
 * on the same socket is measured alongside as the reference floor.
 *
 * With --latency K instead: one set per round trip, keys drawn at random
 * from K, N times after a first pass that sets all K (so a table smaller
 * than K items keeps evicting or moving entries), and the percentiles of
 * the round-trip times are printed.
 *
 * usage: bench_set SOCKET [--sets N] [--value-size V] [--runs R]
 *                         [--latency K]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define KLEN 16
#define WINDOW 256
#define PER_BATCH 100
#define MAX_RUNS 31

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
    fprintf(stderr, "bench_set: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void
send_all(int fd, const unsigned char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            die("send");
        p += w;
        n -= (size_t)w;
    }
}

/* Read `count` replies, checking each status. */
static void
read_replies(int fd, unsigned count)
{
    static unsigned char buf[1 << 16];
    static size_t have;
    uint32_t len;
    ssize_t r;

    while (count > 0) {
        while (have >= 16 && (len = proto_get32(buf)) <= have) {
            if ((int)proto_get32(buf + 12) != 0) {
                fprintf(stderr, "bench_set: status %d\n",
                        (int)proto_get32(buf + 12));
                exit(1);
            }
            memmove(buf, buf + len, have - len);
            have -= len;
            if (--count == 0)
                return;
        }
        r = recv(fd, buf + have, sizeof(buf) - have, 0);
        if (r <= 0)
            die("recv");
        have += (size_t)r;
    }
}

/* Key i, fixed width: "key:" and 12 digits (formatted by hand, so the
 * client spends its time sending, not in snprintf). */
static void
make_key(char *k, uint64_t i)
{
    int d;

    memcpy(k, "key:", 4);
    for (d = KLEN - 1; d >= 4; d--, i /= 10)
        k[d] = (char)('0' + i % 10);
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The --latency mode (see the file comment). */
static int
latency(int fd, unsigned char *req, size_t one, const unsigned char *val,
        unsigned vlen, uint64_t nkeys, uint64_t nsets)
{
    double *lat = malloc(sizeof(double) * nsets), t0;
    uint64_t i, seed = 0x9e3779b97f4a7c15ULL;
    char key[KLEN];
    size_t n;

    if (lat == NULL)
        die("malloc");
    for (i = 0; i < nkeys + nsets; i++) {
        if (i < nkeys) {
            make_key(key, i);
        } else {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            make_key(key, seed % nkeys);
        }
        n = proto_request(req, one, PROTO_OP_SET, (uint32_t)i, "default", key,
                          KLEN, val, vlen, 0, 0);
        t0 = now_s();
        send_all(fd, req, n);
        read_replies(fd, 1);
        if (i >= nkeys)
            lat[i - nkeys] = (now_s() - t0) * 1e6;
    }
    qsort(lat, nsets, sizeof(double), cmp);
    printf("set_latency_us keys=%llu sets=%llu value=%u p50=%.1f p99=%.1f "
           "p99.9=%.1f max=%.1f\n",
           (unsigned long long)nkeys, (unsigned long long)nsets, vlen,
           lat[nsets / 2], lat[nsets * 99 / 100], lat[nsets * 999 / 1000],
           lat[nsets - 1]);
    free(lat);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sets", required_argument, NULL, 'n'},
        {"value-size", required_argument, NULL, 'v'},
        {"runs", required_argument, NULL, 'r'},
        {"latency", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    uint64_t lkeys = 0;
    uint64_t nsets = 1000000, i, j;
    unsigned vlen = 100, runs = 3, r, m;
    double res[4][MAX_RUNS], t0;
    unsigned char *req, *items, *val;
    char key[KLEN];
    struct sockaddr_un sa;
    size_t n, one;
    int c, fd;
    const char *names[4] = {"ping_rtt", "set_rtt", "set_pipelined",
                            "set_batched"};

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            nsets = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            vlen = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            runs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            lkeys = strtoull(optarg, NULL, 10);
            break;
        default:
            return 64;
        }
    }
    if (optind >= argc || runs < 1 || runs > MAX_RUNS || nsets < WINDOW) {
        fprintf(stderr, "usage: bench_set SOCKET [--sets N] "
                        "[--value-size V] [--runs R]\n");
        return 64;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[optind]);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect");
    val = calloc(1, vlen);
    one = proto_request(NULL, 0, PROTO_OP_SET, 0, "default", key, KLEN, val,
                        vlen, 0, 0);
    req = malloc(one * WINDOW + 4096);
    items = malloc((10 + KLEN + vlen) * PER_BATCH);
    n = proto_request(req, 64, PROTO_OP_HELLO, 0, NULL, NULL, 0, NULL, 0, 0, 0);
    send_all(fd, req, n);
    read_replies(fd, 1);
    if (lkeys > 0)
        return latency(fd, req, one, val, vlen, lkeys, nsets);

    for (r = 0; r < runs; r++) {
        /* Reference: a bare PING round trip. */
        n = proto_request(req, 64, PROTO_OP_PING, 0, NULL, NULL, 0, NULL, 0, 0,
                          0);
        t0 = now_s();
        for (i = 0; i < nsets / 10; i++) {
            send_all(fd, req, n);
            read_replies(fd, 1);
        }
        res[0][r] = (double)(nsets / 10) / (now_s() - t0);

        t0 = now_s();
        for (i = 0; i < nsets / 10; i++) {
            make_key(key, i);
            n = proto_request(req, one, PROTO_OP_SET, (uint32_t)i, "default",
                              key, KLEN, val, vlen, 0, 0);
            send_all(fd, req, n);
            read_replies(fd, 1);
        }
        res[1][r] = (double)(nsets / 10) / (now_s() - t0);

        t0 = now_s();
        for (i = 0; i < nsets; i += WINDOW) {
            for (n = 0, j = 0; j < WINDOW; j++) {
                make_key(key, i + j);
                n += proto_request(req + n, one, PROTO_OP_SET, (uint32_t)j,
                                   "default", key, KLEN, val, vlen, 0, 0);
            }
            send_all(fd, req, n);
            read_replies(fd, WINDOW);
        }
        res[2][r] = (double)nsets / (now_s() - t0);

        t0 = now_s();
        for (i = 0; i < nsets; i += PER_BATCH * 8) {
            /* Eight batch frames in flight at a time. */
            size_t total = 0;
            unsigned char *big = malloc(8 * (one * PER_BATCH + 64));
            for (m = 0; m < 8; m++) {
                for (n = 0, j = 0; j < PER_BATCH; j++) {
                    make_key(key, i + m * PER_BATCH + j);
                    n += proto_batch_item(items + n,
                                          (10 + KLEN + vlen) * PER_BATCH, key,
                                          KLEN, val, vlen, 0);
                }
                total += proto_request(big + total, one * PER_BATCH + 64,
                                       PROTO_OP_BATCH, m, "default", NULL, 0,
                                       items, n, 0, PER_BATCH);
            }
            send_all(fd, big, total);
            read_replies(fd, 8);
            free(big);
        }
        res[3][r] = (double)nsets / (now_s() - t0);
    }
    for (m = 0; m < 4; m++) {
        qsort(res[m], runs, sizeof(double), cmp);
        printf("%s%s=%.0f", m ? " " : "", names[m], res[m][runs / 2]);
    }
    printf(" per_s (median of %u; value=%u bytes)\n", runs, vlen);
    return 0;
}
