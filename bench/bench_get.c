/* SPDX-License-Identifier: MIT */
/*
 * bench_get.c -- the C side of bench/python.py: shmc_get() over keys
 * "key:%012u" (16 bytes) of an already loaded table, in the order
 * i * 2654435761 mod N that python.py walks too, so the two measure the
 * same lookups, after one untimed pass.  As in python.py, the keys are
 * laid out in memory in the order they are looked up (there, one bytes
 * object each, made in that order), so neither pays for fetching keys
 * from random places.  Every value's length is checked against the
 * expected one.  Prints the median ns per get of R runs.
 *
 * usage: bench_get SOCKET TABLE N OPS RUNS VALUE_SIZE
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmcache.h"

#define MAX_RUNS 31

static double
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
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
    double res[MAX_RUNS], t0;
    unsigned long n, ops, i, vsize;
    char *keys, buf[65536];
    int runs, r, rc;
    size_t vlen;
    shmc_t *h;

    if (argc != 7 || (n = strtoul(argv[3], NULL, 10)) == 0 ||
        (ops = strtoul(argv[4], NULL, 10)) == 0 || (runs = atoi(argv[5])) < 1 ||
        runs > MAX_RUNS || (vsize = strtoul(argv[6], NULL, 10)) > sizeof(buf)) {
        fprintf(stderr, "usage: bench_get SOCKET TABLE N OPS RUNS "
                        "VALUE_SIZE\n");
        return 64;
    }
    if ((rc = shmc_open(argv[1], argv[2], 0, &h)) != 0) {
        fprintf(stderr, "bench_get: open: %s\n", shmc_strerror(rc));
        return 1;
    }
    if ((keys = malloc(ops * 17)) == NULL)
        return 1;
    for (i = 0; i < ops; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key:%012lu",
                 (i * 2654435761u % n) % 1000000000000ul);
        memcpy(keys + i * 17, k, 17);
    }
    /* A first pass, untimed: this process's page faults on the mapping
     * are not lookups. */
    for (i = 0; i < ops; i++)
        if (shmc_get(h, keys + i * 17, 16, buf, sizeof(buf), &vlen) != 0)
            break;
    for (r = 0; r < runs; r++) {
        t0 = now_ns();
        for (i = 0; i < ops; i++) {
            const char *k = keys + i * 17;
            rc = shmc_get(h, k, 16, buf, sizeof(buf), &vlen);
            if (rc != 0 || vlen != vsize) {
                fprintf(stderr, "bench_get: %.16s: %s\n", k,
                        rc ? shmc_strerror(rc) : "wrong length");
                return 1;
            }
        }
        res[r] = (now_ns() - t0) / (double)ops;
    }
    qsort(res, (size_t)runs, sizeof(double), cmp);
    printf("%.1f\n", res[runs / 2]);
    shmc_close(h);
    free(keys);
    return 0;
}
