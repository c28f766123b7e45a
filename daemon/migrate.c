/* SPDX-License-Identifier: MIT */
/*
 * migrate.c -- fill a new table with the live entries of an old one.
 *
 * Used when a table's geometry changes (size, buckets, limits) and when a
 * format 1 file is found at start: store_build() calls migrate_fill() on
 * the new table before renaming it into place, so readers see the old
 * table until the new one is complete, and a crash meanwhile loses
 * nothing (the old file is still at its path).
 *
 * Which entries: every linked, sound (checksum included), unexpired entry
 * of the source.  If they do not all fit, the newest win: entries are
 * sorted by age in the source's ring, the oldest that would overflow ~90%
 * of the new arena are skipped, and the rest are inserted oldest first,
 * so the new ring keeps the old order and FIFO eviction (should the index
 * still overflow) drops the oldest.  Values keep their expiry and flags.
 *
 * The format 1 reader here trusts nothing in the old file: every offset
 * and length is checked against the mapping, as the lock-free reader does.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "format_v1.h"
#include "hash.h"
#include "index.h"
#include "migrate.h"

/* A live entry of the source: where it is and how old. */
struct item {
    uint64_t age; /* distance from the source's ring tail: larger = newer */
    const unsigned char *key, *val;
    uint32_t klen, vlen, flags;
    uint64_t expiry_ms;
};

/* A growing array of items. */
struct items {
    struct item *v;
    size_t n, cap;
};

/* Append one item; -ENOMEM if it cannot grow. */
static int
items_add(struct items *a, const struct item *it)
{
    struct item *nv;

    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        nv = realloc(a->v, a->cap * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        a->v = nv;
    }
    a->v[a->n++] = *it;
    return 0;
}

/* qsort order: oldest first. */
static int
by_age(const void *a, const void *b)
{
    const struct item *x = a, *y = b;

    return x->age < y->age ? -1 : x->age > y->age;
}

/* Collect the live entries of a format 2 table. */
static int
collect_v2(const struct store *s, struct migrate_src *src, struct items *a)
{
    const unsigned char *e;
    struct entry_head h;
    struct item it;
    uint32_t b, i;
    uint64_t v, off;

    for (b = 0; b < s->view.nbuckets; b++)
        for (i = 0; i < FMT_SLOTS; i++) {
            v = s->buckets[b].b_slot[i];
            if (v == 0)
                continue;
            e = index_entry(s, v, &h);
            if (e == NULL ||
                entry_crc(&h, e + sizeof(struct fmt_entry)) != h.check) {
                src->damaged++;
                continue;
            }
            if (entry_expired(&h, src->now_ms))
                continue;
            off = (uint64_t)(e - s->arena);
            it.age = (off + s->arena_size - s->tail) % s->arena_size;
            it.key = e + sizeof(struct fmt_entry);
            it.val = it.key + h.klen;
            it.klen = h.klen;
            it.vlen = h.vlen;
            it.flags = h.flags & FMT_ENTRY_USER_MASK;
            it.expiry_ms = h.expiry_ms;
            if (items_add(a, &it) != 0)
                return -ENOMEM;
        }
    return 0;
}

/* Whether a mapped file is a format 1 table whose geometry we can read:
 * 0, or SHMC_ECORRUPT / SHMC_EVERSION with why[] filled. */
int
migrate_v1_valid(const unsigned char *base, uint64_t size, char *why,
                 size_t whylen)
{
    struct v1_header h;
    const char *bad = NULL;

    if (size < FMT_PAGE) {
        snprintf(why, whylen, "file too short for a header");
        return SHMC_ECORRUPT;
    }
    memcpy(&h, base, sizeof(h));
    if (h.h_magic != FMT_MAGIC || h.h_version != V1_VERSION)
        bad = "not a format 1 table";
    else if (h.h_header_size != V1_HEADER_SIZE ||
             h.h_geom_check != v1_geom_check(&h))
        bad = "format 1 header checksum mismatch";
    else if (h.h_file_size != size || h.h_index_off != FMT_PAGE ||
             h.h_nbuckets < 2 || (h.h_nbuckets & (h.h_nbuckets - 1)) != 0 ||
             h.h_nbuckets > FMT_MAX_BUCKETS ||
             h.h_arena_off < FMT_PAGE + (uint64_t)h.h_nbuckets * FMT_LINE ||
             h.h_arena_off > size || h.h_arena_size > size - h.h_arena_off ||
             h.h_arena_size % V1_UNIT != 0 || h.h_max_key > FMT_KEY_MAX)
        bad = "format 1 geometry does not fit the file";
    if (bad != NULL) {
        snprintf(why, whylen, "%s", bad);
        return SHMC_ECORRUPT;
    }
    return 0;
}

/* Collect the live entries of a format 1 file (already validated). */
static int
collect_v1(struct migrate_src *src, struct items *a)
{
    const struct v1_header *h = (const struct v1_header *)src->v1;
    const unsigned char *arena = src->v1 + h->h_arena_off;
    const uint64_t *slots = (const uint64_t *)(src->v1 + h->h_index_off);
    uint64_t asize = h->h_arena_size, v, off, i;
    struct v1_entry e;
    struct item it;

    for (i = 0; i < (uint64_t)h->h_nbuckets * 8; i++) {
        if (i % 8 == 0)
            continue; /* the bucket's sequence word */
        v = slots[i];
        if (v == 0)
            continue;
        off = (uint64_t)((uint32_t)v - 1u) * V1_UNIT;
        if (off >= asize || asize - off < sizeof(e)) {
            src->damaged++;
            continue;
        }
        memcpy(&e, arena + off, sizeof(e));
        if ((e.e_flags & V1_ENTRY_PAD) || e.e_klen == 0 ||
            e.e_klen > FMT_KEY_MAX || e.e_vlen > FMT_VALUE_MAX ||
            e.e_size > asize - off ||
            V1_ENTRY_SIZE(e.e_klen, e.e_vlen) > e.e_size ||
            ((e.e_flags & V1_ENTRY_NEGATIVE) && e.e_vlen != 0) ||
            hash_key(h->h_seed, arena + off + sizeof(e), e.e_klen) !=
                e.e_hash ||
            v1_entry_check(&e, arena + off + sizeof(e),
                           arena + off + V1_VALUE_OFF(e.e_klen)) != e.e_check) {
            src->damaged++;
            continue;
        }
        if (e.e_expiry_ms != 0 && e.e_expiry_ms <= src->now_ms)
            continue;
        it.age =
            asize != 0 ? (off + asize - h->h_ring_tail % asize) % asize : 0;
        it.key = arena + off + sizeof(e);
        it.val = arena + off + V1_VALUE_OFF(e.e_klen);
        it.klen = e.e_klen;
        it.vlen = e.e_vlen;
        it.flags = e.e_flags & V1_ENTRY_NEGATIVE ? FMT_ENTRY_NEGATIVE : 0;
        it.expiry_ms = e.e_expiry_ms;
        if (items_add(a, &it) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* Fill dst from the source in arg (a struct migrate_src); see the file
 * comment.  Returns 0, or -ENOMEM with why[] filled. */
int
migrate_fill(struct store *dst, void *arg, char *why, size_t whylen)
{
    struct migrate_src *src = arg;
    struct items a = {NULL, 0, 0};
    uint64_t budget = dst->arena_size / 10 * 9, bytes = 0, slots;
    size_t first, i;
    int rc;

    slots = (uint64_t)dst->view.nbuckets * FMT_SLOTS * 9 / 10;
    rc = src->from != NULL ? collect_v2(src->from, src, &a)
                           : collect_v1(src, &a);
    if (rc != 0) {
        snprintf(why, whylen, "out of memory collecting entries");
        free(a.v);
        return rc;
    }
    src->found = a.n;
    if (a.n > 1)
        qsort(a.v, a.n, sizeof(*a.v), by_age);
    /* The newest that fit. */
    for (first = a.n; first > 0; first--) {
        const struct item *it = &a.v[first - 1];
        uint64_t sz = FMT_ENTRY_SIZE(it->klen, it->vlen);

        if (it->klen > dst->view.max_key || it->vlen > dst->view.max_value)
            continue; /* over the new limits: cannot be kept */
        if (bytes + sz > budget || a.n - first + 1 > slots)
            break;
        bytes += sz;
    }
    for (i = first; i < a.n; i++)
        (void)store_set(dst, a.v[i].key, a.v[i].klen, a.v[i].val, a.v[i].vlen,
                        a.v[i].expiry_ms, a.v[i].flags, STORE_SET, src->now_ms);
    src->kept = dst->entries;
    free(a.v);
    return 0;
}
