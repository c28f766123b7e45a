/* SPDX-License-Identifier: MIT */
/*
 * bench_hits.c -- hit ratio of a look-aside cache, and what a hint costs.
 *
 * A client replays a Zipf workload against a running shmcached through
 * libshmcache, as an application would: shmc_get(), and on a miss
 * shmc_set() of the value (16-byte keys, 100-byte values).  The first
 * half of the requests warms the table; the hit ratio is counted over the
 * second half.  In the same run, the same request sequence is replayed
 * through simulations of an exact LRU, a FIFO and S3-FIFO (Yang et al.,
 * SOSP '23: a small FIFO of 10%, a main FIFO with reinsertion, and ghost
 * entries) holding the same number of items as the table held.
 *
 * Then the cost of recording hints: lookups of resident keys through the
 * daemon handle (which records a hint per hit) and through a handle on
 * the file (which records none), alternated, medians of the runs.
 *
 * usage: bench_hits SOCKET TABLE_PATH [--keys N] [--alpha A]
 *                   [--requests R] [--runs N]
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmcache.h"

#define VLEN 100
#define MAX_RUNS 31

/* ---- helpers ---- */

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "bench_hits: %s: %s\n", what, why);
    exit(1);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Key id -> its 16-byte key. */
static void
make_key(char *k, uint32_t id)
{
    snprintf(k, 17, "key:%012u", id);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* ---- the workload: Zipf ranks, scrambled onto key ids ---- */

/* Requests drawn from Zipf(alpha) over nkeys, by inverse CDF. */
static uint32_t *
zipf_trace(uint32_t nkeys, double alpha, uint64_t nreq)
{
    double *cdf = malloc(sizeof(double) * nkeys), sum = 0, u;
    uint32_t *trace = malloc(sizeof(uint32_t) * nreq), lo, hi, mid, i;
    uint64_t s = 42, r;

    if (cdf == NULL || trace == NULL)
        die("malloc", "out of memory");
    for (i = 0; i < nkeys; i++)
        cdf[i] = (sum += 1.0 / pow((double)i + 1, alpha));
    for (r = 0; r < nreq; r++) {
        u = (double)(rnd(&s) >> 11) / 9007199254740992.0 * sum;
        for (lo = 0, hi = nkeys - 1; lo < hi;) {
            mid = lo + (hi - lo) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* Rank -> key id: popularity unrelated to key order. */
        trace[r] = (uint32_t)(((uint64_t)lo * 2654435761u) % nkeys);
    }
    free(cdf);
    return trace;
}

/* ---- simulations (capacity in items) ---- */

/* A FIFO queue of key ids in a ring. */
struct queue {
    uint32_t *v;
    uint64_t head, tail, cap; /* items in [tail, head) */
};

static void
q_init(struct queue *q, uint64_t cap)
{
    q->v = malloc(sizeof(uint32_t) * (cap + 1));
    if (q->v == NULL)
        die("malloc", "out of memory");
    q->head = q->tail = 0;
    q->cap = cap + 1;
}

static uint64_t
q_len(const struct queue *q)
{
    return q->head - q->tail;
}

static void
q_push(struct queue *q, uint32_t x)
{
    q->v[q->head++ % q->cap] = x;
}

static uint32_t
q_pop(struct queue *q)
{
    return q->v[q->tail++ % q->cap];
}

/* Exact LRU: a doubly linked list over key ids. */
static double
sim_lru(const uint32_t *t, uint64_t n, uint64_t warm, uint32_t nkeys,
        uint64_t cap)
{
    int32_t *prev = malloc(4 * (size_t)nkeys), *next = malloc(4 * (size_t)nkeys);
    char *in = calloc(nkeys, 1);
    int32_t head = -1, tail = -1, x;
    uint64_t i, size = 0, hits = 0;

    if (prev == NULL || next == NULL || in == NULL)
        die("malloc", "out of memory");
    for (i = 0; i < n; i++) {
        x = (int32_t)t[i];
        if (in[x]) {
            hits += i >= warm;
            if (x == head)
                continue;
            /* unlink */
            next[prev[x]] = next[x];
            if (next[x] >= 0)
                prev[next[x]] = prev[x];
            else
                tail = prev[x];
        } else {
            if (size == cap) { /* evict the tail */
                in[tail] = 0;
                tail = prev[tail];
                if (tail >= 0)
                    next[tail] = -1;
                else
                    head = -1;
                size--;
            }
            in[x] = 1;
            size++;
        }
        prev[x] = -1;
        next[x] = head;
        if (head >= 0)
            prev[head] = x;
        head = x;
        if (tail < 0)
            tail = x;
    }
    free(prev);
    free(next);
    free(in);
    return (double)hits / (double)(n - warm);
}

/* FIFO. */
static double
sim_fifo(const uint32_t *t, uint64_t n, uint64_t warm, uint32_t nkeys,
         uint64_t cap)
{
    char *in = calloc(nkeys, 1);
    struct queue q;
    uint64_t i, hits = 0;

    q_init(&q, cap);
    for (i = 0; i < n; i++) {
        if (in[t[i]]) {
            hits += i >= warm;
            continue;
        }
        if (q_len(&q) == cap)
            in[q_pop(&q)] = 0;
        q_push(&q, t[i]);
        in[t[i]] = 1;
    }
    free(q.v);
    free(in);
    return (double)hits / (double)(n - warm);
}

/* S3-FIFO: where each key is. */
#define S3_NONE 0
#define S3_SMALL 1
#define S3_MAIN 2

/* S3-FIFO, as in the paper's Algorithm 1 (promotion from the small queue
 * at a count above 1, 2-bit counts, ghosts as many as the main queue). */
static double
sim_s3fifo(const uint32_t *t, uint64_t n, uint64_t warm, uint32_t nkeys,
           uint64_t cap)
{
    uint64_t scap = cap / 10 ? cap / 10 : 1, mcap = cap - scap, i, hits = 0;
    char *where = calloc(nkeys, 1), *ghost = calloc(nkeys, 1);
    uint8_t *freq = calloc(nkeys, 1);
    struct queue s, m, g;
    uint32_t x, y;

    if (where == NULL || ghost == NULL || freq == NULL)
        die("malloc", "out of memory");
    q_init(&s, cap);
    q_init(&m, cap);
    q_init(&g, mcap);
    for (i = 0; i < n; i++) {
        x = t[i];
        if (where[x] != S3_NONE) {
            hits += i >= warm;
            if (freq[x] < 3)
                freq[x]++;
            continue;
        }
        /* Make room for one. */
        while (q_len(&s) + q_len(&m) >= cap) {
            if (q_len(&s) >= scap || q_len(&m) == 0) {
                y = q_pop(&s);
                if (freq[y] > 1) {
                    q_push(&m, y);
                    where[y] = S3_MAIN;
                    freq[y] = 0;
                } else {
                    where[y] = S3_NONE;
                    if (q_len(&g) == mcap)
                        ghost[q_pop(&g)] = 0;
                    q_push(&g, y);
                    ghost[y] = 1;
                }
            } else {
                y = q_pop(&m);
                if (freq[y] > 0) {
                    freq[y]--;
                    q_push(&m, y);
                } else {
                    where[y] = S3_NONE;
                }
            }
        }
        freq[x] = 0;
        if (ghost[x]) {
            q_push(&m, x);
            where[x] = S3_MAIN;
        } else {
            q_push(&s, x);
            where[x] = S3_SMALL;
        }
    }
    free(s.v);
    free(m.v);
    free(g.v);
    free(where);
    free(ghost);
    free(freq);
    return (double)hits / (double)(n - warm);
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'n'},
        {"alpha", required_argument, NULL, 'a'},
        {"requests", required_argument, NULL, 'r'},
        {"runs", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    uint32_t nkeys = 1000000, *trace;
    uint64_t nreq = 0, warm, i, hits = 0, cap;
    double alpha = 0.99, t0, with[MAX_RUNS], without[MAX_RUNS],
        ratio[MAX_RUNS];
    char k[17], v[VLEN], buf[VLEN];
    int c, runs = 5, run, rc;
    struct shmc_info info;
    shmc_t *h, *hf;
    size_t n;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            nkeys = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'a':
            alpha = strtod(optarg, NULL);
            break;
        case 'r':
            nreq = strtoull(optarg, NULL, 10);
            break;
        case 'u':
            runs = atoi(optarg);
            break;
        default:
            goto usage;
        }
    }
    if (argc - optind != 2 || nkeys < 100 || runs < 1 || runs > MAX_RUNS)
        goto usage;
    if (nreq == 0)
        nreq = 2 * (uint64_t)nkeys;
    warm = nreq / 2;
    trace = zipf_trace(nkeys, alpha, nreq);

    if ((rc = shmc_open(argv[optind], "default", 0, &h)) != 0)
        die("shmc_open", shmc_strerror(rc));
    memset(v, 'v', sizeof(v));
    for (i = 0; i < nreq; i++) {
        make_key(k, trace[i]);
        rc = shmc_get(h, k, 16, buf, sizeof(buf), &n);
        if (rc == 0) {
            hits += i >= warm;
            continue;
        }
        if (rc != SHMC_ENOTFOUND)
            die("shmc_get", shmc_strerror(rc));
        memcpy(v, k, 16);
        if ((rc = shmc_set(h, k, 16, v, sizeof(v), 0)) != 0)
            die("shmc_set", shmc_strerror(rc));
    }
    if ((rc = shmc_info(h, &info, sizeof(info))) != 0)
        die("shmc_info", shmc_strerror(rc));
    cap = info.entries;
    printf("alpha=%.2f keys=%u requests=%llu capacity=%llu (%.1f%% of keys) "
           "shmcache=%.2f%% lru=%.2f%% fifo=%.2f%% s3fifo=%.2f%% "
           "evictions=%llu moves=%llu\n",
           alpha, nkeys, (unsigned long long)nreq, (unsigned long long)cap,
           100.0 * (double)cap / nkeys,
           100.0 * (double)hits / (double)(nreq - warm),
           100.0 * sim_lru(trace, nreq, warm, nkeys, cap),
           100.0 * sim_fifo(trace, nreq, warm, nkeys, cap),
           100.0 * sim_s3fifo(trace, nreq, warm, nkeys, cap),
           (unsigned long long)(info.evictions + info.evictions_index),
           (unsigned long long)info.moves);
    fflush(stdout);

    /* The cost of a hint: resident keys, with and without one. */
    if ((rc = shmc_open_file(argv[optind + 1], 0, &hf)) != 0)
        die("shmc_open_file", shmc_strerror(rc));
    for (run = 0; run < runs; run++) {
        shmc_t *which[2] = {h, hf};
        double *out[2] = {&with[run], &without[run]};
        int w;
        for (w = 0; w < 2; w++) {
            uint64_t found = 0;
            t0 = now_s();
            for (i = warm; i < nreq; i++) {
                make_key(k, trace[i]);
                found += shmc_get(which[w], k, 16, buf, sizeof(buf), &n) == 0;
            }
            *out[w] = (now_s() - t0) * 1e9 / (double)(nreq - warm);
            if (found == 0)
                die("hint cost", "no key resident");
        }
        ratio[run] = with[run] / without[run];
    }
    printf("get_ns_with_hints=%.1f get_ns_without=%.1f ratio=%.3f "
           "(medians of %d alternating runs, Zipf keys, misses included)\n",
           median(with, runs), median(without, runs), median(ratio, runs),
           runs);
    shmc_close(hf);
    shmc_close(h);
    free(trace);
    return 0;
usage:
    fprintf(stderr, "usage: bench_hits SOCKET TABLE_PATH [--keys N] "
                    "[--alpha A] [--requests R] [--runs N]\n");
    return 64;
}
