/* SPDX-License-Identifier: MIT */
/*
 * bench_fill.c -- how many items a table of a given size holds: distinct
 * keys of KLEN bytes and values of VLEN bytes are set until the table has
 * taken twice what it can hold, then the entries it keeps are counted.
 * Reports items per MiB of file and the overhead per item (file bytes per
 * item beyond its key and value), for the index sized from the item size
 * (expected_item_bytes = KLEN + VLEN) and from the default (100 bytes).
 *
 * usage: bench_fill [--size BYTES] [--key-size K] [--value-size V]
 *                   [--dir DIR]
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define NOW 1700000000000ULL

/* Fill a table of size bytes; print one line; return entries held. */
static uint64_t
fill(const char *path, uint64_t size, uint32_t klen, uint32_t vlen,
     uint32_t item_bytes)
{
    struct store_geom g = {size, 0, klen, vlen, 1, item_bytes};
    unsigned char key[4096], *val = calloc(1, vlen + 1);
    struct store *s;
    char why[256];
    uint64_t i, held, cap = size / (klen + vlen) * 2 + 1000;

    if (val == NULL || store_create(path, &g, 0600, &s, why, sizeof(why))) {
        fprintf(stderr, "bench_fill: %s\n", why);
        exit(1);
    }
    memset(key, 'k', klen);
    for (i = 0; i < cap; i++) {
        memcpy(key, &i, klen < 8 ? klen : 8);
        memcpy(val, &i, vlen < 8 ? vlen : 8);
        if (store_set(s, key, klen, val, vlen, 0, 0, STORE_SET, NOW) != 0) {
            fprintf(stderr, "bench_fill: set failed\n");
            exit(1);
        }
    }
    held = s->entries;
    printf("shmcache key=%u value=%u expected_item_bytes=%u size=%llu "
           "buckets=%u items=%llu items_per_mib=%.0f overhead_per_item=%.1f\n",
           klen, vlen, item_bytes ? item_bytes : 100, (unsigned long long)size,
           s->view.nbuckets, (unsigned long long)held,
           held / (size / 1048576.0), (double)size / held - klen - vlen);
    store_close(s);
    unlink(path);
    free(val);
    return held;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'},
        {"key-size", required_argument, NULL, 'k'},
        {"value-size", required_argument, NULL, 'v'},
        {"dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    uint64_t size = 64u << 20;
    uint32_t klen = 16, vlen = 100;
    const char *dir = "/dev/shm";
    char path[512];
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            size = strtoull(optarg, NULL, 10);
            break;
        case 'k':
            klen = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'v':
            vlen = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_fill [--size BYTES] [--key-size K] "
                            "[--value-size V] [--dir DIR]\n");
            return 64;
        }
    }
    if (klen < 8 || klen > 4096 || vlen < 8) {
        fprintf(stderr, "bench_fill: key-size 8..4096, value-size >= 8\n");
        return 64;
    }
    snprintf(path, sizeof(path), "%s/shmc-fill.%d.shm", dir, (int)getpid());
    fill(path, size, klen, vlen, klen + vlen);
    fill(path, size, klen, vlen, 0);
    return 0;
}
