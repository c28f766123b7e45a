/* SPDX-License-Identifier: MIT */
/*
 * bench.c -- lookup and load speed of the table layer, against a minimal
 * reference measured in the same run.
 *
 * The reference (ref.c) is the simplest thing that does the same job: a
 * plain open-addressing table of fixed-size slots in a MAP_SHARED file in
 * the same directory, each slot {sequence, hash, key, value}, read by
 * copying the value under the slot's own sequence counter.  It has no
 * seeded hash, no checksum, no bounds checks, no expiry and no
 * variable-size values, so it is the floor our lookup is compared with.
 *
 * Both tables are filled by this process; a forked reader process maps both
 * read-only and times random lookups of every key (in one shuffled order,
 * the same for both), alternating ours and the reference run by run so that
 * drift on a shared machine hits both alike.  Reported: the median ns per
 * lookup of each, and the median of the per-run ratios.
 *
 * --residency populate,lock,huge applies a table's residency options
 * (daemon/residency.c) to our table before it is loaded, as the daemon
 * would, and the reader maps it as libshmcache does (table_open_fd(), which
 * prefaults it when told to).  The reference is left on 4 KiB pages, as the
 * floor to beat.  Reported too: the reader's open (map + prefault) and its
 * first, cold, run over the keys.
 *
 * --work N follows every lookup, ours and the reference's alike, with N
 * rounds of independent register arithmetic (4 instructions a round that
 * the core runs in parallel), standing for what an application does
 * between two gets.  Back to back (N = 0) a short lookup gains from the
 * core overlapping the memory misses of several consecutive lookups, as
 * far as its instruction window reaches; with work in between each
 * lookup pays its own misses, and the figures compare single lookups.
 *
 * usage: bench [--keys N] [--value-size V] [--runs R] [--dir DIR]
 *              [--residency populate,lock,huge] [--work N]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "ref.h"
#include "residency.h"
#include "store.h"
#include "table.h"

#define KLEN REF_KLEN
#define MAX_RUNS 31

/* ---- helpers ---- */

/* n rounds of four independent additions, kept in registers and out of
 * the optimiser's reach. */
static void
app_work(unsigned n, uint64_t i)
{
    uint64_t a = i, b = i + 1, c = i + 2, d = i + 3;

    for (; n > 0; n--) {
        a += 3;
        b ^= 5;
        c += 7;
        d ^= 9;
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    }
    __asm__ volatile("" : : "r"(a ^ b ^ c ^ d));
}

static void
make_key(char *k, uint64_t i)
{
    char tmp[32];

    snprintf(tmp, sizeof(tmp), "key:%012llu",
             (unsigned long long)(i % 1000000000000ULL));
    memcpy(k, tmp, KLEN);
}

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "bench: %s: %s\n", what, why);
    exit(1);
}

/* Store every key through the writer API; returns the seconds it took. */
static double
load(struct store *st, const char *keys, uint64_t nkeys, unsigned char *val,
     uint32_t vlen)
{
    double t0 = ref_now_s();
    uint64_t i;

    for (i = 0; i < nkeys; i++) {
        memcpy(val, &i, sizeof(i)); /* each value names its key */
        if (store_set(st, keys + i * KLEN, KLEN, val, vlen, 0, 0, STORE_SET,
                      0) != 0)
            die("store_set", "failed");
    }
    return ref_now_s() - t0;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'n'},
        {"value-size", required_argument, NULL, 'v'},
        {"runs", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {"residency", required_argument, NULL, 'R'},
        {"work", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct residency res;
    uint32_t want = 0;
    char resname[64] = "none";
    uint64_t nkeys = 1000000, i, j, seed = 42, misses = 0;
    uint32_t vlen = 100;
    int runs = 5, c, r, status;
    unsigned work = 0;
    const char *dir = "/dev/shm";
    char path[512], rpath[512], why[256], *keys, *order;
    unsigned char *val, *buf;
    struct store_geom g = {0, 0, 64, 0, 1, 0};
    struct store *st;
    struct ref ref;
    struct table tb;
    struct table_hit hit;
    double t0, load_s, ref_load_s, *out, warm[MAX_RUNS];
    pid_t pid;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            nkeys = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            vlen = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'w':
            work = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            want = (strstr(optarg, "populate") ? FMT_RES_POPULATE : 0u) |
                   (strstr(optarg, "lock") ? FMT_RES_LOCK : 0u) |
                   (strstr(optarg, "huge") ? FMT_RES_HUGE : 0u);
            snprintf(resname, sizeof(resname), "%s", optarg);
            break;
        default:
            fprintf(stderr, "usage: bench [--keys N] [--value-size V] "
                            "[--runs R] [--dir DIR] "
                            "[--residency populate,lock,huge] [--work N]\n");
            return 64;
        }
    }
    if (nkeys < 1 || vlen < 8 || runs < 1 || runs > MAX_RUNS)
        die("arguments", "keys >= 1, value-size >= 8, 1 <= runs <= 31");

    /* Keys, and one random lookup order shared by both tables. */
    keys = malloc(nkeys * KLEN);
    order = malloc(nkeys * KLEN);
    val = malloc(vlen);
    buf = malloc(vlen + 64);
    if (keys == NULL || order == NULL || val == NULL || buf == NULL)
        die("malloc", strerror(ENOMEM));
    for (i = 0; i < nkeys; i++)
        make_key(keys + i * KLEN, i);
    for (i = 0; i < nkeys; i++) {
        j = ref_rand(&seed) % nkeys;
        memcpy(order + i * KLEN, keys + j * KLEN, KLEN);
    }

    /* Our table: room for every key with a quarter to spare. */
    snprintf(path, sizeof(path), "%s/shmc-bench.%d.shm", dir, (int)getpid());
    g.max_value = vlen;
    /* The index sized automatically for items of this size, as a user's
     * expected_item_bytes would; the arena with a quarter to spare. */
    g.item_bytes = KLEN + vlen;
    g.file_size = FMT_ALIGN_UP(
        nkeys * (FMT_ENTRY_SIZE(KLEN, vlen) + 11) * 5 / 4 + (1u << 20),
        FMT_PAGE);
    if (store_create(path, &g, 0600, &st, why, sizeof(why)) != 0)
        die("store_create", why);
    memset(&res, 0, sizeof(res));
    if (want != 0 && residency_apply(st, want, &res) != 0)
        die("residency", res.why);
    if (res.why[0] != '\0')
        fprintf(stderr, "bench: residency: %s\n", res.why);
    load_s = load(st, keys, nkeys, val, vlen);
    if (st->hdr->h_evictions != 0)
        die("load", "table too small: entries were evicted");

    /* The reference: load factor 0.5. */
    snprintf(rpath, sizeof(rpath), "%s/shmc-bench-ref.%d", dir, (int)getpid());
    if ((c = ref_create(&ref, rpath, nkeys, vlen)) != 0)
        die("reference", strerror(-c));
    t0 = ref_now_s();
    for (i = 0; i < nkeys; i++) {
        memcpy(val, &i, sizeof(i));
        ref_put(&ref, keys + i * KLEN, val);
    }
    ref_load_s = ref_now_s() - t0;
    ref_unmap(&ref);

    /* Per run: ours, the reference; then the reader's open and its first
     * run's figure for ours. */
    out = mmap(NULL, sizeof(double) * (2 * MAX_RUNS + 2),
               PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid = fork();
    if (pid == 0) {
        /* The reader: a separate process with read-only mappings. */
        int tfd = open(path, O_RDONLY);
        t0 = ref_now_s();
        if (tfd < 0 || table_open_fd(&tb, tfd, why, sizeof(why)) != 0)
            die("reader", why);
        out[2 * MAX_RUNS] = (ref_now_s() - t0) * 1e3;
        if (ref_map(&ref, 0) != 0)
            die("reader mmap", strerror(errno));
        for (r = 0; r < runs; r++) {
            t0 = ref_now_s();
            for (i = 0; i < nkeys; i++) {
                if (table_lookup(&tb, order + i * KLEN, KLEN, buf, vlen + 64, 0,
                                 &hit) != 0)
                    misses++;
                app_work(work, i);
            }
            out[2 * r] = (ref_now_s() - t0) * 1e9 / (double)nkeys;
            if (r == 0)
                out[2 * MAX_RUNS + 1] = out[0];
            t0 = ref_now_s();
            for (i = 0; i < nkeys; i++) {
                if (ref_get(&ref, order + i * KLEN, buf) != 0)
                    misses++;
                app_work(work, i);
            }
            out[2 * r + 1] = (ref_now_s() - t0) * 1e9 / (double)nkeys;
        }
        _exit(misses == 0 ? 0 : 2);
    }
    waitpid(pid, &status, 0);
    /* Reload into the same, now faulted-in table: the writer's own cost. */
    for (r = 0; r < runs; r++) {
        store_flush(st);
        warm[r] = (double)nkeys / load(st, keys, nkeys, val, vlen);
    }
    store_close(st);
    ref_close(&ref);
    unlink(path);
    unlink(rpath);
    {
        char lpath[600];
        snprintf(lpath, sizeof(lpath), "%s.lock", path);
        unlink(lpath);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("reader", "failed or missed keys");

    {
        double ours[MAX_RUNS], theirs[MAX_RUNS], ratio[MAX_RUNS];
        for (r = 0; r < runs; r++) {
            ours[r] = out[2 * r];
            theirs[r] = out[2 * r + 1];
            ratio[r] = ours[r] / theirs[r];
        }
        printf("keys=%llu value=%u runs=%d work=%u lookup_ns=%.1f "
               "ref_lookup_ns=%.1f "
               "ratio=%.2f load_per_s=%.0f warm_load_per_s=%.0f "
               "ref_load_per_s=%.0f residency=%s huge_pages=%s "
               "huge_mib=%llu reader_open_ms=%.2f first_lookup_ns=%.1f\n",
               (unsigned long long)nkeys, vlen, runs, work,
               ref_median(ours, runs), ref_median(theirs, runs),
               ref_median(ratio, runs), (double)nkeys / load_s,
               ref_median(warm, runs), (double)nkeys / ref_load_s, resname,
               residency_huge_name(res.huge),
               (unsigned long long)(res.huge_bytes >> 20), out[2 * MAX_RUNS],
               out[2 * MAX_RUNS + 1]);
    }
    return 0;
}
