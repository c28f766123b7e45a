/* SPDX-License-Identifier: MIT */
/*
 * bench_load.c -- loading a table through libshmcache: shmc_set() (one
 * round trip per item) against shmc_mset() (batches), and reading it back
 * with shmc_get() against shmc_mget().  16-byte keys, V-byte values, every
 * value read back is checked; R runs each, medians printed.
 *
 * usage: bench_load SOCKET [--keys N] [--value-size V] [--runs R]
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmcache.h"

#define MAX_RUNS 31
#define CHUNK 10000

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_load: %s: %s\n", what, shmc_strerror(rc));
    exit(1);
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'n'},
        {"value-size", required_argument, NULL, 'v'},
        {"runs", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    size_t nkeys = 200000, vlen = 100, i, j, c, *klens, *vlens, *got, *sizes;
    const void **keys, **vals;
    double res[4][MAX_RUNS], t0;
    char *kbuf, *vbuf, *out;
    void **bufs;
    int opt, runs = 3, r, rc, *rcs, m;
    const char *names[4] = {"set_per_s", "mset_per_s", "get_per_s",
                            "mget_per_s"};
    shmc_t *h;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'n')
            nkeys = strtoul(optarg, NULL, 10);
        else if (opt == 'v')
            vlen = strtoul(optarg, NULL, 10);
        else if (opt == 'r')
            runs = atoi(optarg);
        else
            return 64;
    }
    if (optind >= argc || runs < 1 || runs > MAX_RUNS || nkeys < CHUNK ||
        vlen < 8) {
        fprintf(stderr, "usage: bench_load SOCKET [--keys N] "
                        "[--value-size V] [--runs R]\n");
        return 64;
    }
    if ((rc = shmc_open(argv[optind], "default", 0, &h)) != 0)
        die("shmc_open", rc);
    kbuf = malloc(nkeys * 16);
    vbuf = malloc(vlen);
    out = malloc(CHUNK * (vlen + 8));
    keys = malloc(sizeof(*keys) * CHUNK);
    vals = malloc(sizeof(*vals) * CHUNK);
    bufs = malloc(sizeof(*bufs) * CHUNK);
    klens = malloc(sizeof(*klens) * CHUNK);
    vlens = malloc(sizeof(*vlens) * CHUNK);
    got = malloc(sizeof(*got) * CHUNK);
    sizes = malloc(sizeof(*sizes) * CHUNK);
    rcs = malloc(sizeof(*rcs) * CHUNK);
    if (kbuf == NULL || vbuf == NULL || out == NULL || keys == NULL ||
        vals == NULL || bufs == NULL || klens == NULL || vlens == NULL ||
        got == NULL || sizes == NULL || rcs == NULL)
        die("malloc", -12);
    for (i = 0; i < nkeys; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key:%012zu", i % 1000000000000u);
        memcpy(kbuf + i * 16, k, 16);
    }
    memset(vbuf, 'v', vlen);
    for (r = 0; r < runs; r++) {
        /* One round trip per set, on a tenth of the keys. */
        t0 = now_s();
        for (i = 0; i < nkeys / 10; i++)
            if ((rc = shmc_set(h, kbuf + i * 16, 16, vbuf, vlen, 0)) != 0)
                die("shmc_set", rc);
        res[0][r] = (double)(nkeys / 10) / (now_s() - t0);
        /* Batches of CHUNK. */
        t0 = now_s();
        for (i = 0; i < nkeys; i += c) {
            c = nkeys - i < CHUNK ? nkeys - i : CHUNK;
            for (j = 0; j < c; j++) {
                keys[j] = kbuf + (i + j) * 16;
                klens[j] = 16;
                vals[j] = vbuf;
                vlens[j] = vlen;
            }
            if ((rc = shmc_mset(h, c, keys, klens, vals, vlens, 0, rcs)) != 0)
                die("shmc_mset", rc);
            for (j = 0; j < c; j++)
                if (rcs[j] != 0)
                    die("shmc_mset item", rcs[j]);
        }
        res[1][r] = (double)nkeys / (now_s() - t0);
        /* Reading back: one by one, then CHUNK at a time. */
        t0 = now_s();
        for (i = 0; i < nkeys; i++) {
            size_t n;
            if ((rc = shmc_get(h, kbuf + i * 16, 16, out, vlen + 8, &n)) != 0 ||
                n != vlen || memcmp(out, vbuf, vlen) != 0)
                die("shmc_get", rc ? rc : -5);
        }
        res[2][r] = (double)nkeys / (now_s() - t0);
        t0 = now_s();
        for (i = 0; i < nkeys; i += c) {
            c = nkeys - i < CHUNK ? nkeys - i : CHUNK;
            for (j = 0; j < c; j++) {
                keys[j] = kbuf + (i + j) * 16;
                klens[j] = 16;
                bufs[j] = out + j * (vlen + 8);
                sizes[j] = vlen + 8;
            }
            if ((rc = shmc_mget(h, c, keys, klens, bufs, sizes, got, rcs)) != 0)
                die("shmc_mget", rc);
            for (j = 0; j < c; j++)
                if (rcs[j] != 0 || got[j] != vlen ||
                    memcmp(bufs[j], vbuf, vlen) != 0)
                    die("shmc_mget item", rcs[j] ? rcs[j] : -5);
        }
        res[3][r] = (double)nkeys / (now_s() - t0);
    }
    for (m = 0; m < 4; m++) {
        qsort(res[m], (size_t)runs, sizeof(double), cmp);
        printf("%s%s=%.0f", m ? " " : "", names[m], res[m][runs / 2]);
    }
    printf(" (keys=%zu value=%zu, median of %d)\n", nkeys, vlen, runs);
    shmc_close(h);
    return 0;
}
