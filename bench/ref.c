/* SPDX-License-Identifier: MIT */
/*
 * ref.c -- the reference table: the simplest thing that does a lookup's
 * job, measured in the same runs as ours (bench.c, bench_vs.c) as the
 * floor.
 *
 * Exactly the floor issue 11 defines: a MAP_SHARED file holding an
 * open-addressing index of 8-byte slots (a 16-bit hash tag and the
 * entry's offset; twice as many slots, rounded up to a power of two, as
 * keys; linear probing) and an arena of entries {sequence, value length,
 * key length, key, value}.  A lookup hashes the key, probes the index for
 * its tag, and copies the key check and the value out of the entry under
 * the entry's own sequence counter (a 32-bit seqlock with the orderings of
 * common/seqlock.h), retrying while it is odd or changed.  No seed, no
 * checksum, no bounds checks, no expiry.  Keys are REF_KLEN bytes, values
 * the table's vlen.  One process writes (ref_put), any number read
 * (ref_get) through their own mappings.
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

/* An arena entry; the key and then the value follow. */
struct ref_entry {
    uint32_t seq;
    uint32_t vlen;
    uint32_t klen;
    uint32_t pad;
};

#define REF_TAG(h) ((uint64_t)((h) >> 48))
#define REF_SLOT(tag, off) ((tag) << 48 | ((off) + 1u))
#define REF_SLOT_OFF(s) (((s) & (((uint64_t)1 << 48) - 1u)) - 1u)

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

/*
 * A cheap unseeded hash of a 16-byte key: the two words combined, then
 * MurmurHash3's 64-bit finaliser, so that every key bit reaches the low
 * bits that pick the slot.  (An earlier mix without the finaliser left
 * the low bits to a few key bytes; on keys "key:%012u" linear probing
 * then took 24 probes per lookup instead of 1.5, and the floor was
 * slower than it should be.)
 */
static uint64_t
ref_hash(const char *key)
{
    uint64_t a, b, h;

    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    h = (a * 0x9e3779b97f4a7c15ULL) ^ b;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t *
ref_index(const struct ref *r)
{
    return (uint64_t *)r->base;
}

static struct ref_entry *
ref_entry_at(const struct ref *r, uint64_t off)
{
    return (struct ref_entry *)(r->base + r->arena + off);
}

/* Create the file at path for nkeys keys of vlen-byte values, mapped
 * writable.  Returns 0 or -errno. */
int
ref_create(struct ref *r, const char *path, uint64_t nkeys, uint32_t vlen)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->vlen = vlen;
    r->entry_size =
        (sizeof(struct ref_entry) + REF_KLEN + vlen + 7) & ~(size_t)7;
    for (r->mask = 1; r->mask < nkeys * 2; r->mask <<= 1)
        ;
    r->arena = r->mask * 8u;
    r->size = r->arena + nkeys * r->entry_size;
    r->capacity = nkeys;
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

/* Insert or overwrite (writer side).  At most the nkeys given to
 * ref_create() distinct keys. */
void
ref_put(struct ref *r, const char *key, const void *val)
{
    uint64_t h = ref_hash(key), i, slot, *index = ref_index(r), off;
    struct ref_entry *e;

    for (i = h & r->mask;; i = (i + 1) & r->mask) {
        slot = index[i];
        if (slot == 0) {
            if (r->used >= r->capacity)
                return; /* full: the benchmarks never get here */
            off = r->used++ * r->entry_size;
            e = ref_entry_at(r, off);
            e->vlen = r->vlen;
            e->klen = REF_KLEN;
            memcpy(e + 1, key, REF_KLEN);
            memcpy((char *)(e + 1) + REF_KLEN, val, r->vlen);
            /* ORDERING: release; a reader that finds the slot finds the
             * entry written. */
            __atomic_store_n(&index[i], REF_SLOT(REF_TAG(h), off),
                             __ATOMIC_RELEASE);
            return;
        }
        if (REF_TAG(slot) != REF_TAG(h))
            continue;
        e = ref_entry_at(r, REF_SLOT_OFF(slot));
        if (memcmp(e + 1, key, REF_KLEN) == 0) {
            ref_write_begin(&e->seq);
            memcpy((char *)(e + 1) + REF_KLEN, val, r->vlen);
            ref_write_end(&e->seq);
            return;
        }
    }
}

/* Lookup (reader side): 0 and the value in buf, or -1. */
int
ref_get(const struct ref *r, const char *key, void *buf)
{
    uint64_t h = ref_hash(key), i, n, slot;
    const uint64_t *index = ref_index(r);
    const struct ref_entry *e;
    uint32_t s1;
    int same;

    for (i = h & r->mask, n = 0; n <= r->mask; i = (i + 1) & r->mask, n++) {
        /* ORDERING: acquire; pairs with the release in ref_put(). */
        slot = __atomic_load_n(&index[i], __ATOMIC_ACQUIRE);
        if (slot == 0)
            return -1;
        if (REF_TAG(slot) != REF_TAG(h))
            continue;
        e = ref_entry_at(r, REF_SLOT_OFF(slot));
        do {
            s1 = ref_read_begin(&e->seq);
            same = e->klen == REF_KLEN && memcmp(e + 1, key, REF_KLEN) == 0;
            if (same)
                memcpy(buf, (const char *)(e + 1) + REF_KLEN, e->vlen);
        } while (ref_read_retry(&e->seq, s1));
        if (same)
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
