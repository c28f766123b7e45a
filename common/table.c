/*
 * table.c -- validate a table file and look keys up in it, lock-free.
 *
 * This is the reader of DESIGN.md section 3.  It runs in client processes
 * over a PROT_READ mapping that another process (the daemon) changes while
 * we read, and that anyone able to write the file could have filled with
 * garbage.  So:
 *  - geometry is copied out of the header once, validated (fmt_validate)
 *    against the real file size, and never re-read;
 *  - every slot position, entry size and length loaded from the mapping is
 *    checked against the arena bounds, in 64-bit arithmetic that cannot
 *    overflow, before anything is read through it;
 *  - every loop is bounded: FMT_SLOTS per bucket, two buckets, and a
 *    wait for a busy bucket capped in time and attempts (seq_wait());
 *  - a value is copied into the caller's buffer and its checksum computed
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

#include "error.h"
#include "hash.h"
#include "seqlock.h"
#include "table.h"

/* Internal verdict of one bucket probe: the read section must restart. */
#define PROBE_RETRY 1

static void value_copy(struct hcheck *c, unsigned char *dst,
                       const unsigned char *src, uint64_t n);
static int probe_bucket(const struct table *t, const struct fmt_bucket *b,
                        uint64_t hash, const void *key, uint32_t klen,
                        void *buf, size_t bufsize, struct table_hit *hit);

/* Checksum over the immutable part of the header (lines 0 and 1). */
uint64_t
fmt_geom_check(const struct fmt_header *h)
{
    return hash_check_bytes(h, offsetof(struct fmt_header, h_geom_check));
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
    if (h->h_nbuckets < FMT_MIN_BUCKETS || h->h_nbuckets > FMT_MAX_BUCKETS ||
        (h->h_nbuckets & (h->h_nbuckets - 1)) != 0)
        INVALID(SHMC_ECORRUPT, "bucket count %u is not a power of two",
                h->h_nbuckets);
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

/* The checksum an entry with these contents must carry. */
uint64_t
fmt_entry_check(uint32_t klen, uint64_t vlen, uint32_t flags, uint64_t hash,
                uint64_t expiry_ms, const void *key, const void *value)
{
    struct hcheck c;

    hcheck_init(&c);
    hcheck_word(&c, (uint64_t)klen | vlen << 32);
    hcheck_word(&c, flags & FMT_ENTRY_USER_MASK);
    hcheck_word(&c, hash);
    hcheck_word(&c, expiry_ms);
    hcheck_bytes(&c, key, klen);
    hcheck_bytes(&c, value, vlen);
    return hcheck_final(&c);
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
    int rc, bits;

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
    t->mask = h.h_nbuckets - 1;
    for (bits = 0; (1u << bits) < h.h_nbuckets; bits++)
        ;
    t->shift = 64 - bits;
    t->max_key = h.h_max_key;
    t->max_value = h.h_max_value;
    t->busy_ms = SEQ_BUSY_MS;
    return 0;
}

/* Map a table file read-only from an open descriptor (kept by the caller). */
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
    base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        INVALID(-errno, "mmap: %s", strerror(errno));
    rc = table_attach(t, base, (uint64_t)st.st_size, why, whylen);
    if (rc != 0) {
        munmap(base, (size_t)st.st_size);
        return rc;
    }
    t->mapped = 1;
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
    struct seq_wait w = {0, 0};
    uint32_t b1, b2;
    uint64_t hash;
    int rc;

    memset(hit, 0, sizeof(*hit));
    if (klen == 0 || klen > t->max_key)
        return SHMC_ETOOBIG;
    /* ORDERING: relaxed; a flag its owner sets once, any order is fine. */
    if (table_state(t) != FMT_STATE_ALIVE &&
        !__atomic_load_n(&t->serve_retired, __ATOMIC_RELAXED))
        return SHMC_ERETIRED;
    hash = hash_key(t->seed, key, klen);
    table_buckets(hash, t->mask, t->shift, &b1, &b2);

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
 * Compare the key at p (8-aligned shared memory) with the caller's key,
 * folding the shared words into the checksum.  Returns 1 if equal.
 */
static int
key_equal(struct hcheck *c, const unsigned char *p, const unsigned char *key,
          uint32_t klen)
{
    uint64_t w, k;

    for (; klen >= 8; klen -= 8, p += 8, key += 8) {
        w = seq_load_word(p);
        memcpy(&k, key, 8);
        if (w != k)
            return 0;
        hcheck_word(c, w);
    }
    if (klen > 0) {
        w = seq_load_word(p);
        memset((unsigned char *)&w + klen, 0, 8 - klen);
        k = 0;
        memcpy(&k, key, klen);
        if (w != k)
            return 0;
        hcheck_word(c, w);
    }
    return 1;
}

/*
 * Copy n bytes of value from 8-aligned shared memory into dst (NULL: only
 * checksum them), folding every word into the checksum.
 */
static void
value_copy(struct hcheck *c, unsigned char *dst, const unsigned char *src,
           uint64_t n)
{
    uint64_t w, line;

    /* Ask for every line of a long value at once, so that their cache
     * misses overlap instead of arriving one after another. */
    for (line = 64; line < n; line += 64)
        __builtin_prefetch(src + line);
    if (dst != NULL) {
        for (; n >= 8; n -= 8, src += 8, dst += 8) {
            w = seq_load_word(src);
            memcpy(dst, &w, 8);
            hcheck_word(c, w);
        }
    } else {
        for (; n >= 8; n -= 8, src += 8) {
            w = seq_load_word(src);
            hcheck_word(c, w);
        }
    }
    if (n > 0) {
        w = seq_load_word(src);
        memset((unsigned char *)&w + n, 0, 8 - n);
        if (dst != NULL)
            memcpy(dst, &w, n);
        hcheck_word(c, w);
    }
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
    uint32_t tag = (uint32_t)(hash >> 32);
    uint32_t i, e_size, e_flags, e_vlen;
    uint64_t s1;
    uint64_t slot, off, expiry, check;
    const struct fmt_entry *e;
    const unsigned char *p;
    struct hcheck c;
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
        p = t->arena + off;
        e = (const struct fmt_entry *)p;
        if (seq_load_u64(&e->e_hash) != hash ||
            seq_load_u32(&e->e_klen) != klen)
            continue;
        e_size = seq_load_u32(&e->e_size);
        e_flags = seq_load_u32(&e->e_flags);
        e_vlen = seq_load_u32(&e->e_vlen);
        /* The entry must lie inside the arena and hold what it claims. */
        if (e_size > t->arena_size - off ||
            FMT_ENTRY_SIZE(klen, e_vlen) > e_size ||
            (e_flags & FMT_ENTRY_PAD) != 0) {
            damaged = 1;
            continue;
        }
        expiry = seq_load_u64(&e->e_expiry_ms);
        check = seq_load_u64(&e->e_check);
        hcheck_init(&c);
        hcheck_word(&c, (uint64_t)klen | (uint64_t)e_vlen << 32);
        hcheck_word(&c, e_flags & FMT_ENTRY_USER_MASK);
        hcheck_word(&c, hash);
        hcheck_word(&c, expiry);
        if (!key_equal(&c, p + sizeof(*e), key, klen))
            continue;
        value_copy(&c, e_vlen <= bufsize ? buf : NULL, p + FMT_VALUE_OFF(klen),
                   e_vlen);
        if (seq_read_retry(&b->b_seq, s1))
            return PROBE_RETRY;
        /* Stable: now the copy may be judged. */
        if (hcheck_final(&c) != check)
            return SHMC_ECORRUPT;
        hit->vlen = e_vlen;
        hit->expiry_ms = expiry;
        hit->flags = e_flags & FMT_ENTRY_USER_MASK;
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
    const struct fmt_entry *en;
    const unsigned char *p;
    uint64_t s1, v, off, check;
    uint32_t e_size, e_flags;
    struct hcheck c;
    int fits;

    s1 = seq_read_begin(&b->b_seq);
    if (s1 & 1u)
        return PROBE_RETRY;
    v = seq_load_word(&b->b_slot[slot]);
    if (v == 0)
        return seq_read_retry(&b->b_seq, s1) ? PROBE_RETRY : SHMC_ENOTFOUND;
    off = (uint64_t)FMT_SLOT_POS(v) * FMT_UNIT;
    if (off >= t->arena_size || t->arena_size - off < sizeof(*en))
        return seq_read_retry(&b->b_seq, s1) ? PROBE_RETRY : SHMC_ECORRUPT;
    p = t->arena + off;
    en = (const struct fmt_entry *)p;
    e_size = seq_load_u32(&en->e_size);
    e_flags = seq_load_u32(&en->e_flags);
    e->klen = seq_load_u32(&en->e_klen);
    e->vlen = seq_load_u32(&en->e_vlen);
    e->hash = seq_load_u64(&en->e_hash);
    e->expiry_ms = seq_load_u64(&en->e_expiry_ms);
    check = seq_load_u64(&en->e_check);
    if (e->klen == 0 || e->klen > t->max_key || e->vlen > t->max_value ||
        e_size > t->arena_size - off ||
        FMT_ENTRY_SIZE(e->klen, e->vlen) > e_size ||
        (e_flags & FMT_ENTRY_PAD) != 0)
        return seq_read_retry(&b->b_seq, s1) ? PROBE_RETRY : SHMC_ECORRUPT;
    fits = e->klen <= keysize && e->vlen <= valsize;
    hcheck_init(&c);
    hcheck_word(&c, e->klen | e->vlen << 32);
    hcheck_word(&c, e_flags & FMT_ENTRY_USER_MASK);
    hcheck_word(&c, e->hash);
    hcheck_word(&c, e->expiry_ms);
    value_copy(&c, fits ? key : NULL, p + sizeof(*en), e->klen);
    value_copy(&c, fits ? val : NULL, p + FMT_VALUE_OFF(e->klen), e->vlen);
    if (seq_read_retry(&b->b_seq, s1))
        return PROBE_RETRY;
    if (hcheck_final(&c) != check)
        return SHMC_ECORRUPT;
    e->flags = e_flags & FMT_ENTRY_USER_MASK;
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
    if (bucket > t->mask || slot >= FMT_SLOTS)
        return -EINVAL;
    for (;;) {
        rc = read_slot_once(t, bucket, slot, key, keysize, val, valsize, e);
        if (rc != PROBE_RETRY)
            return rc;
        if (!seq_wait(&w, t->busy_ms))
            return SHMC_EBUSY;
    }
}
