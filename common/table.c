/* SPDX-License-Identifier: MIT */
/*
 * table.c -- validate a table file and look keys up in it, lock-free.
 *
 * This is the reader of doc/design.md, "Reader and writer".  It runs in client
 * processes over a PROT_READ mapping that another process (the daemon) changes
 * while we read, and that anyone able to write the file could have filled with
 * garbage.  So:
 *  - geometry is copied out of the header once, validated (fmt_validate)
 *    against the real file size, and never re-read;
 *  - every slot position, entry size and length loaded from the mapping is
 *    checked against the arena bounds, in 64-bit arithmetic that cannot
 *    overflow, before anything is read through it;
 *  - every loop is bounded: FMT_SLOTS per bucket, two buckets, and a
 *    wait for a busy bucket capped in time and attempts (seq_wait());
 *  - what a sound entry is comes from entry.h, as for the writer;
 *  - a value is copied into the caller's buffer and its CRC-32C computed
 *    in the same pass; the copy is trusted only after the bucket sequence
 *    proved it stable and the checksum matched.  A stable entry with a bad
 *    checksum is reported as SHMC_ECORRUPT, never returned.
 * Nothing here writes the mapping, allocates, blocks, or makes a system
 * call on the lookup path (the clock, when an entry has an expiry, is read
 * through the vDSO).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "entry.h"
#include "error.h"
#include "hash.h"
#include "mapping.h"
#include "seqlock.h"
#include "table.h"

/* Internal verdict of one bucket probe: the read section must restart. */
#define PROBE_RETRY 1
/* Keys table_lookup_many() prefetches together. */
#define LOOKUP_GROUP 16

static int probe_bucket(const struct table *t, const struct fmt_bucket *b,
                        uint64_t hash, const void *key, uint32_t klen,
                        void *buf, size_t bufsize, struct table_hit *hit);

/* Checksum over the immutable part of the header (lines 0 and 1). */
uint64_t
fmt_geom_check(const struct fmt_header *h)
{
    return crc32c_final(crc32c_bytes(
        CRC32C_INIT, h, offsetof(struct fmt_header, h_geom_check)));
}

/* Say why a header is unusable, into why[whylen]. */
#define INVALID(code, ...)                                                     \
    do {                                                                       \
        if (why != NULL && whylen > 0)                                         \
            snprintf(why, whylen, __VA_ARGS__);                                \
        return (code);                                                         \
    } while (0)

/*
 * Check a private copy of a header against the size of the file it came
 * from.  Returns 0, SHMC_EVERSION or SHMC_ECORRUPT.
 */
int
fmt_validate(const struct fmt_header *h, uint64_t file_size, char *why,
             size_t whylen)
{
    uint64_t index_end;

    if (file_size < FMT_PAGE)
        INVALID(SHMC_ECORRUPT, "file too short for a header (%llu bytes)",
                (unsigned long long)file_size);
    if (h->h_magic != FMT_MAGIC)
        INVALID(SHMC_ECORRUPT, "bad magic: not a shmcache table");
    if (h->h_version != FMT_VERSION)
        INVALID(SHMC_EVERSION, "format version %u, this build reads %u",
                h->h_version, FMT_VERSION);
    if (h->h_header_size != sizeof(struct fmt_header))
        INVALID(SHMC_EVERSION, "header size %u, expected %zu", h->h_header_size,
                sizeof(struct fmt_header));
    if (h->h_geom_check != fmt_geom_check(h))
        INVALID(SHMC_ECORRUPT, "header checksum mismatch");
    if (h->h_file_size != file_size)
        INVALID(SHMC_ECORRUPT, "file is %llu bytes, header says %llu",
                (unsigned long long)file_size,
                (unsigned long long)h->h_file_size);
    if (h->h_nbuckets < FMT_MIN_BUCKETS || h->h_nbuckets > FMT_MAX_BUCKETS)
        INVALID(SHMC_ECORRUPT, "bucket count %u", h->h_nbuckets);
    if (h->h_index_off != FMT_PAGE)
        INVALID(SHMC_ECORRUPT, "index offset %llu",
                (unsigned long long)h->h_index_off);
    index_end = h->h_index_off + (uint64_t)h->h_nbuckets * FMT_LINE;
    if (h->h_arena_off < index_end || h->h_arena_off % FMT_PAGE != 0 ||
        h->h_arena_off > file_size)
        INVALID(SHMC_ECORRUPT, "arena offset %llu",
                (unsigned long long)h->h_arena_off);
    if (h->h_arena_size == 0 || h->h_arena_size % FMT_UNIT != 0 ||
        h->h_arena_size > FMT_ARENA_MAX ||
        h->h_arena_size > file_size - h->h_arena_off)
        INVALID(SHMC_ECORRUPT, "arena size %llu",
                (unsigned long long)h->h_arena_size);
    if (h->h_max_key == 0 || h->h_max_key > FMT_KEY_MAX ||
        h->h_max_value > FMT_VALUE_MAX ||
        FMT_ENTRY_SIZE(h->h_max_key, h->h_max_value) > h->h_arena_size)
        INVALID(SHMC_ECORRUPT, "limits key=%u value=%u do not fit the arena",
                h->h_max_key, h->h_max_value);
    return 0;
}

/*
 * Build a view of a table already mapped at base (size bytes).  The header
 * is copied before it is checked, so a writer changing it meanwhile cannot
 * make us act on values we did not check.
 */
int
table_attach(struct table *t, const void *base, uint64_t size, char *why,
             size_t whylen)
{
    struct fmt_header h;
    size_t i;
    int rc;

    memset(t, 0, sizeof(*t));
    if (size < FMT_PAGE)
        INVALID(SHMC_ECORRUPT, "file too short for a header (%llu bytes)",
                (unsigned long long)size);
    /* Word by word with relaxed loads: the writer may be storing to the
     * mutable lines (state, counters) while we copy. */
    for (i = 0; i < sizeof(h) / 8; i++)
        ((uint64_t *)&h)[i] = seq_load_word((const uint64_t *)base + i);
    rc = fmt_validate(&h, size, why, whylen);
    if (rc != 0)
        return rc;

    t->base = base;
    t->size = size;
    t->hdr = base;
    t->buckets = (const struct fmt_bucket *)(t->base + h.h_index_off);
    t->arena = t->base + h.h_arena_off;
    t->arena_size = h.h_arena_size;
    t->seed[0] = h.h_seed[0];
    t->seed[1] = h.h_seed[1];
    t->generation = h.h_generation;
    t->nbuckets = h.h_nbuckets;
    t->max_key = h.h_max_key;
    t->max_value = h.h_max_value;
    t->lim.arena_size = h.h_arena_size;
    t->lim.epoch_ms = h.h_epoch_ms;
    t->lim.max_key = h.h_max_key;
    t->lim.max_value = h.h_max_value;
    t->busy_ms = SEQ_BUSY_MS;
    t->residency = h.h_residency & FMT_RES_MASK;
    return 0;
}

/*
 * Map a table file read-only from an open descriptor (kept by the caller),
 * 2 MiB-aligned (mapping.c), and prefault it if the daemon says the table
 * is kept populated (FMT_RES_POPULATE): a reader then takes no page fault
 * on its lookups either.
 */
int
table_open_fd(struct table *t, int fd, char *why, size_t whylen)
{
    struct stat st;
    void *base;
    int rc;

    if (fstat(fd, &st) != 0)
        INVALID(-errno, "fstat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        INVALID(SHMC_ECORRUPT, "not a regular file");
    if ((uint64_t)st.st_size < FMT_PAGE)
        INVALID(SHMC_ECORRUPT, "file too short for a header (%lld bytes)",
                (long long)st.st_size);
    base = mapping_map(fd, (uint64_t)st.st_size, PROT_READ);
    if (base == MAP_FAILED)
        INVALID(-errno, "mmap: %s", strerror(errno));
    rc = table_attach(t, base, (uint64_t)st.st_size, why, whylen);
    if (rc != 0) {
        munmap(base, (size_t)st.st_size);
        return rc;
    }
    t->mapped = 1;
    /* Advice only: a table that cannot be prefaulted still works. */
    if (t->residency & FMT_RES_POPULATE)
        (void)mapping_populate(base, t->size);
    return 0;
}

/* Unmap a table mapped by table_open_fd(). */
void
table_close(struct table *t)
{
    if (t->mapped)
        munmap((void *)t->base, (size_t)t->size);
    memset(t, 0, sizeof(*t));
}

/* The table's state word (FMT_STATE_*). */
uint32_t
table_state(const struct table *t)
{
    /* ORDERING: acquire; pairs with the release store that retires the
     * table in the daemon, so a reader that sees RETIRED also sees the
     * replacement file already renamed into place. */
    return __atomic_load_n(&t->hdr->h_state, __ATOMIC_ACQUIRE);
}

/* Wall-clock milliseconds, through the vDSO (no system call). */
uint64_t
table_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* table_lookup() with the key's hash already known. */
static int
lookup_hashed(const struct table *t, uint64_t hash, const void *key,
              size_t klen, void *buf, size_t bufsize, uint64_t now_ms,
              struct table_hit *hit)
{
    struct seq_wait w = {0, 0};
    uint32_t b1, b2;
    int rc;

    memset(hit, 0, sizeof(*hit));
    /* ORDERING: relaxed; a flag its owner sets once, any order is fine. */
    if (table_state(t) != FMT_STATE_ALIVE &&
        !__atomic_load_n(&t->serve_retired, __ATOMIC_RELAXED))
        return SHMC_ERETIRED;
    fmt_buckets(hash, t->nbuckets, &b1, &b2);

    for (;;) {
        rc = probe_bucket(t, &t->buckets[b1], hash, key, (uint32_t)klen, buf,
                          bufsize, hit);
        if (rc != 0 && rc != PROBE_RETRY) {
            /* Not in the first bucket (or it is damaged): try the second;
             * a hit there wins, a miss keeps the first verdict. */
            int rc2 = probe_bucket(t, &t->buckets[b2], hash, key,
                                   (uint32_t)klen, buf, bufsize, hit);
            if (rc2 != SHMC_ENOTFOUND)
                rc = rc2;
        }
        if (rc != PROBE_RETRY)
            break;
        hit->retries++;
        if (!seq_wait(&w, t->busy_ms))
            break;
    }
    if (rc == PROBE_RETRY)
        return SHMC_EBUSY;
    if (rc != 0)
        return rc;
    if (hit->expiry_ms != 0 &&
        hit->expiry_ms <= (now_ms != 0 ? now_ms : table_now_ms()))
        return SHMC_ENOTFOUND;
    if (hit->flags & FMT_ENTRY_NEGATIVE)
        return SHMC_ENEGATIVE;
    if (hit->vlen > bufsize)
        return SHMC_ERANGE;
    return 0;
}

/*
 * Look key up at time now_ms (0: read the clock, and only if the entry has
 * an expiry).  On success (0) the value is in buf[0..hit->vlen).  Returns
 * SHMC_ENOTFOUND (absent or expired), SHMC_ENEGATIVE (cached as absent),
 * SHMC_ERANGE (hit->vlen says how much room it needs), SHMC_EBUSY,
 * SHMC_ECORRUPT, SHMC_ERETIRED, or SHMC_ETOOBIG for a key longer than the
 * table allows.
 */
int
table_lookup(const struct table *t, const void *key, size_t klen, void *buf,
             size_t bufsize, uint64_t now_ms, struct table_hit *hit)
{
    if (klen == 0 || klen > t->max_key) {
        memset(hit, 0, sizeof(*hit));
        return SHMC_ETOOBIG;
    }
    return lookup_hashed(t, hash_key(t->seed, key, klen), key, klen, buf,
                         bufsize, now_ms, hit);
}

/*
 * table_lookup() of n keys at once, the results in rcs[] and hits[]: all
 * keys are hashed and their first buckets prefetched, then the entries
 * their matching slots point at, then each is looked up as usual -- so
 * the memory misses of many keys overlap instead of adding up (MICA,
 * NSDI '14, batches its lookups the same way).  The prefetches read the
 * mapping outside any read section; they only warm the cache, and every
 * byte returned is still read and validated by table_lookup()'s rules.
 */
void
table_lookup_many(const struct table *t, size_t n, const void *const keys[],
                  const size_t klens[], void *const bufs[],
                  const size_t bufsizes[], uint64_t now_ms,
                  struct table_hit hits[], int rcs[])
{
    uint64_t hash[LOOKUP_GROUP], slot, off;
    uint32_t b1[LOOKUP_GROUP], b2, tag, s;
    int usable[LOOKUP_GROUP];
    size_t base, i, g;

    for (base = 0; base < n; base += LOOKUP_GROUP) {
        g = n - base < LOOKUP_GROUP ? n - base : LOOKUP_GROUP;
        for (i = 0; i < g; i++) {
            usable[i] = klens[base + i] != 0 && klens[base + i] <= t->max_key;
            if (!usable[i])
                continue;
            hash[i] = hash_key(t->seed, keys[base + i], klens[base + i]);
            fmt_buckets(hash[i], t->nbuckets, &b1[i], &b2);
            __builtin_prefetch(&t->buckets[b1[i]]);
        }
        for (i = 0; i < g; i++) {
            if (!usable[i])
                continue;
            tag = (uint32_t)(hash[i] >> 32);
            for (s = 0; s < FMT_SLOTS; s++) {
                slot = seq_load_word(&t->buckets[b1[i]].b_slot[s]);
                off = (uint64_t)FMT_SLOT_POS(slot) * FMT_UNIT;
                if (slot != 0 && FMT_SLOT_TAG(slot) == tag &&
                    off < t->arena_size)
                    __builtin_prefetch(t->arena + off);
            }
        }
        for (i = 0; i < g; i++) {
            if (!usable[i]) {
                memset(&hits[base + i], 0, sizeof(hits[0]));
                rcs[base + i] = SHMC_ETOOBIG;
                continue;
            }
            rcs[base + i] = lookup_hashed(
                t, hash[i], keys[base + i], klens[base + i], bufs[base + i],
                bufsizes[base + i], now_ms, &hits[base + i]);
        }
    }
}

/* The first n bytes of a word (little-endian), the rest zero. */
static inline uint64_t
word_head(uint64_t w, unsigned n)
{
    return n >= 8 ? w : w & ((1ULL << (n * 8)) - 1u);
}

/*
 * Read the payload of an entry -- klen key bytes, then vlen value bytes,
 * from 8-aligned shared memory at p -- folding every word into *crc in
 * the order entry_crc() does.  The key part is compared with key (unless
 * NULL) or copied to kdst (unless NULL); the value part is copied to vdst
 * (unless NULL).  Returns 0, or 1 as soon as the key differs.
 *
 * The value starts wherever the key ends, so when klen is not a multiple
 * of 8 one word holds the end of the key and the start of the value; the
 * words after it map onto consecutive 8-byte pieces of the value, copied
 * (unaligned) in one crc32c_words() call.
 */
static int
payload_read(uint32_t *crc, const unsigned char *p, uint32_t klen,
             uint64_t vlen, const void *key, void *kdst, void *vdst)
{
    uint64_t n = klen + vlen, nk = klen / 8, ws, we, i, w, k;
    unsigned r = klen % 8, m;
    unsigned char *v = vdst;

    /* Ask for every line of a long entry at once, so that their cache
     * misses overlap instead of arriving one after another. */
    for (i = 64; i < n; i += 64)
        __builtin_prefetch(p + i);
    if (key != NULL) {
        for (i = 0; i < nk; i++) {
            w = seq_load_word(p + i * 8);
            memcpy(&k, (const unsigned char *)key + i * 8, 8);
            if (w != k)
                return 1;
            *crc = crc32c_word(*crc, w);
        }
    } else {
        *crc = crc32c_words(*crc, kdst, p, (size_t)nk);
    }
    ws = nk;
    if (r != 0) {
        /* The word where the key ends (and perhaps the value starts). */
        m = n - nk * 8 < 8 ? (unsigned)(n - nk * 8) : 8;
        w = word_head(seq_load_word(p + nk * 8), m);
        if (key != NULL) {
            k = 0;
            memcpy(&k, (const unsigned char *)key + nk * 8, r);
            if (word_head(w, r) != k)
                return 1;
        } else if (kdst != NULL) {
            memcpy((unsigned char *)kdst + nk * 8, &w, r);
        }
        if (v != NULL && m > r)
            memcpy(v, (unsigned char *)&w + r, m - r);
        *crc = crc32c_word(*crc, w);
        ws = nk + 1;
    }
    /* Whole words of value, then the last, partial one. */
    we = n / 8;
    if (we > ws)
        *crc = crc32c_words(*crc, v != NULL ? v + (ws * 8 - klen) : NULL,
                            p + ws * 8, (size_t)(we - ws));
    if (n % 8 != 0 && we >= ws) {
        m = (unsigned)(n % 8);
        w = word_head(seq_load_word(p + we * 8), m);
        if (v != NULL)
            memcpy(v + (we * 8 - klen), &w, m);
        *crc = crc32c_word(*crc, w);
    }
    return 0;
}

/* Load and decode the header of the entry at arena offset off (which has
 * at least 16 bytes left: the caller checked). */
static inline void
load_head(const struct table *t, uint64_t off, struct entry_head *h)
{
    const unsigned char *p = t->arena + off;

    entry_decode(seq_load_word(p), seq_load_word(p + 8), t->lim.epoch_ms, h);
}

/*
 * One read section over one bucket.  Returns 0 (found, hit filled),
 * SHMC_ENOTFOUND, SHMC_ECORRUPT (a stable slot pointing at garbage), or
 * PROBE_RETRY.
 */
static int
probe_bucket(const struct table *t, const struct fmt_bucket *b, uint64_t hash,
             const void *key, uint32_t klen, void *buf, size_t bufsize,
             struct table_hit *hit)
{
    uint32_t tag = (uint32_t)(hash >> 32), i, crc;
    uint64_t s1, slot, off;
    struct entry_head h;
    int damaged = 0;

    s1 = seq_read_begin(&b->b_seq);
    if (s1 & 1u)
        return PROBE_RETRY;
    for (i = 0; i < FMT_SLOTS; i++) {
        slot = seq_load_word(&b->b_slot[i]);
        if (slot == 0 || FMT_SLOT_TAG(slot) != tag)
            continue;
        off = (uint64_t)FMT_SLOT_POS(slot) * FMT_UNIT;
        if (off >= t->arena_size ||
            t->arena_size - off < sizeof(struct fmt_entry)) {
            damaged = 1;
            continue;
        }
        load_head(t, off, &h);
        if (h.klen != klen && !(h.flags & FMT_ENTRY_PAD))
            continue; /* another key with the same tag */
        if (entry_sound(&h, off, &t->lim) != ENTRY_OK) {
            damaged = 1;
            continue;
        }
        crc = entry_crc_start(h.w0, h.w1);
        if (payload_read(&crc, t->arena + off + sizeof(struct fmt_entry), klen,
                         h.vlen, key, NULL, h.vlen <= bufsize ? buf : NULL))
            continue;
        if (seq_read_retry(&b->b_seq, s1))
            return PROBE_RETRY;
        /* Stable: now the copy may be judged. */
        if (crc32c_final(crc) != h.check)
            return SHMC_ECORRUPT;
        hit->vlen = h.vlen;
        hit->expiry_ms = h.expiry_ms;
        hit->flags = h.flags & FMT_ENTRY_USER_MASK;
        hit->bucket = (uint32_t)(b - t->buckets);
        hit->slot = i;
        hit->tag = tag;
        return 0;
    }
    if (seq_read_retry(&b->b_seq, s1))
        return PROBE_RETRY;
    return damaged ? SHMC_ECORRUPT : SHMC_ENOTFOUND;
}

/*
 * One read section over one slot, copying out whatever entry it links
 * (for a walk of the table, where the key is not known beforehand).
 * Returns 0, SHMC_ENOTFOUND (empty slot), SHMC_ERANGE (buffers too small;
 * sizes in *e), SHMC_ECORRUPT, or PROBE_RETRY.
 */
static int
read_slot_once(const struct table *t, uint32_t bucket, uint32_t slot, void *key,
               size_t keysize, void *val, size_t valsize, struct table_entry *e)
{
    const struct fmt_bucket *b = &t->buckets[bucket];
    struct entry_head h;
    uint64_t s1, v, off;
    uint32_t crc;
    int fits;

    s1 = seq_read_begin(&b->b_seq);
    if (s1 & 1u)
        return PROBE_RETRY;
    v = seq_load_word(&b->b_slot[slot]);
    if (v == 0)
        return seq_read_retry(&b->b_seq, s1) ? PROBE_RETRY : SHMC_ENOTFOUND;
    off = (uint64_t)FMT_SLOT_POS(v) * FMT_UNIT;
    if (off >= t->arena_size || t->arena_size - off < sizeof(struct fmt_entry))
        return seq_read_retry(&b->b_seq, s1) ? PROBE_RETRY : SHMC_ECORRUPT;
    load_head(t, off, &h);
    if (entry_sound(&h, off, &t->lim) != ENTRY_OK)
        return seq_read_retry(&b->b_seq, s1) ? PROBE_RETRY : SHMC_ECORRUPT;
    e->klen = h.klen;
    e->vlen = h.vlen;
    e->expiry_ms = h.expiry_ms;
    fits = h.klen <= keysize && h.vlen <= valsize;
    crc = entry_crc_start(h.w0, h.w1);
    payload_read(&crc, t->arena + off + sizeof(struct fmt_entry), h.klen,
                 h.vlen, NULL, fits ? key : NULL, fits ? val : NULL);
    if (seq_read_retry(&b->b_seq, s1))
        return PROBE_RETRY;
    if (crc32c_final(crc) != h.check)
        return SHMC_ECORRUPT;
    e->flags = h.flags & FMT_ENTRY_USER_MASK;
    return fits ? 0 : SHMC_ERANGE;
}

/*
 * Copy out the entry that slot `slot` of bucket `bucket` links, checked
 * like a lookup.  Returns 0, SHMC_ENOTFOUND (empty), SHMC_ERANGE (*e has
 * the sizes needed), SHMC_ECORRUPT or SHMC_EBUSY.
 */
int
table_read_slot(const struct table *t, uint32_t bucket, uint32_t slot,
                void *key, size_t keysize, void *val, size_t valsize,
                struct table_entry *e)
{
    struct seq_wait w = {0, 0};
    int rc;

    memset(e, 0, sizeof(*e));
    if (bucket >= t->nbuckets || slot >= FMT_SLOTS)
        return -EINVAL;
    for (;;) {
        rc = read_slot_once(t, bucket, slot, key, keysize, val, valsize, e);
        if (rc != PROBE_RETRY)
            return rc;
        if (!seq_wait(&w, t->busy_ms))
            return SHMC_EBUSY;
    }
}
