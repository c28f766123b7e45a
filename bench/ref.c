/* SPDX-License-Identifier: MIT */
/*
 * ref.c -- the reference table: the simplest thing that does a lookup's
 * job, measured in the same runs as ours (bench.c, bench_vs.c) as the
 * floor.
 *
 * A plain open-addressing table of fixed-size slots in a MAP_SHARED file,
 * at load factor 0.5, each slot {sequence, used, hash, key, value}, read
 * by copying the value under the slot's own sequence counter (a 32-bit
 * seqlock with the orderings of common/seqlock.h).  It has no seeded
 * hash, no checksum, no bounds checks, no expiry and no variable-size
 * values.  Keys are REF_KLEN bytes, values the table's vlen.  One process
 * writes (ref_put), any number read (ref_get) through their own
 * mappings.
 *
 * At the end, the few helpers every program that measures against the
 * floor needs, so that they time and summarise runs the same way: a
 * monotonic clock in seconds, a fast deterministic generator for lookup
 * orders, and the median of a run's figures.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ref.h"

struct ref_slot {
    uint32_t seq; /* the reference keeps the smallest layout: 32 bits */
    uint32_t used;
    uint64_t hash;
    char key[REF_KLEN];
    /* value follows */
};

/* The reference's own seqlock on a 32-bit word, same orderings as
 * seqlock.h (whose 64-bit word would make the reference's slot larger). */
static void
ref_write_begin(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
    /* ORDERING: pairs with the acquire fence in ref_read_retry(). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
ref_write_end(uint32_t *seq)
{
    /* ORDERING: pairs with the acquire load in ref_read_begin(). */
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

static uint32_t
ref_read_begin(const uint32_t *seq)
{
    /* ORDERING: pairs with the release store in ref_write_end(). */
    return __atomic_load_n(seq, __ATOMIC_ACQUIRE);
}

static int
ref_read_retry(const uint32_t *seq, uint32_t s1)
{
    /* ORDERING: pairs with the release fence in ref_write_begin(). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return (s1 & 1u) || __atomic_load_n(seq, __ATOMIC_RELAXED) != s1;
}

/* A cheap unseeded hash of a 16-byte key (two multiplies). */
static uint64_t
ref_hash(const char *key)
{
    uint64_t a, b;

    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    a = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    return a ^ (a >> 29);
}

static struct ref_slot *
ref_at(const struct ref *r, uint64_t i)
{
    return (struct ref_slot *)(r->base + i * r->slot_size);
}

/* Create the file at path for nkeys keys of vlen-byte values, mapped
 * writable.  Returns 0 or -errno. */
int
ref_create(struct ref *r, const char *path, uint64_t nkeys, uint32_t vlen)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->vlen = vlen;
    r->slot_size = (sizeof(struct ref_slot) + vlen + 7) & ~(size_t)7;
    for (r->mask = 1; r->mask < nkeys * 2; r->mask <<= 1)
        ;
    r->size = r->mask * r->slot_size;
    r->mask--;
    r->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (r->fd < 0)
        return -errno;
    rc = posix_fallocate(r->fd, 0, (off_t)r->size);
    if (rc != 0) {
        close(r->fd);
        return -rc;
    }
    return ref_map(r, 1);
}

/* (Re)map the file, writable or read-only.  Returns 0 or -errno. */
int
ref_map(struct ref *r, int writable)
{
    void *p;

    ref_unmap(r);
    p = mmap(NULL, r->size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
             MAP_SHARED, r->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    r->base = p;
    return 0;
}

/* Drop the mapping (the file stays open). */
void
ref_unmap(struct ref *r)
{
    if (r->base != NULL)
        munmap(r->base, r->size);
    r->base = NULL;
}

/* Drop the mapping and the descriptor (the caller unlinks the file). */
void
ref_close(struct ref *r)
{
    ref_unmap(r);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* Insert or overwrite (writer side). */
void
ref_put(struct ref *r, const char *key, const void *val)
{
    uint64_t h = ref_hash(key), i;
    struct ref_slot *s;

    for (i = h & r->mask;; i = (i + 1) & r->mask) {
        s = ref_at(r, i);
        if (!s->used || memcmp(s->key, key, REF_KLEN) == 0)
            break;
    }
    ref_write_begin(&s->seq);
    s->hash = h;
    memcpy(s->key, key, REF_KLEN);
    memcpy(s + 1, val, r->vlen);
    s->used = 1;
    ref_write_end(&s->seq);
}

/* Lookup (reader side): 0 and the value in buf, or -1. */
int
ref_get(const struct ref *r, const char *key, void *buf)
{
    uint64_t h = ref_hash(key), i, n;
    const struct ref_slot *s;
    uint32_t s1;

    for (i = h & r->mask, n = 0; n <= r->mask; i = (i + 1) & r->mask, n++) {
        s = ref_at(r, i);
    again:
        s1 = ref_read_begin(&s->seq);
        if (!__atomic_load_n(&s->used, __ATOMIC_RELAXED))
            return -1;
        if (s->hash != h || memcmp(s->key, key, REF_KLEN) != 0) {
            if (ref_read_retry(&s->seq, s1))
                goto again;
            continue;
        }
        memcpy(buf, s + 1, r->vlen);
        if (ref_read_retry(&s->seq, s1))
            goto again;
        return 0;
    }
    return -1;
}

/* ---- timing and summaries ---- */

/* Seconds on the monotonic clock. */
double
ref_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The next number of a xorshift64* sequence (*state must not be 0). */
uint64_t
ref_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static int
ref_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median of v[0, n) (n >= 1), which it sorts. */
double
ref_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), ref_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
