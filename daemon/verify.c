/* SPDX-License-Identifier: MIT */
/*
 * verify.c -- make a table that was not closed cleanly safe to serve and
 * to write again (doc/design.md, "Lifecycle"), from its slots alone.
 *
 * A writer killed at any point (SIGKILL, power loss in disk mode) can
 * leave: a bucket sequence odd (repaired by store.c before we run), an
 * entry linked twice (a relocation cut in half), an entry whose checksum
 * does not match (a touch cut in half, or damage), a ring word that no
 * longer describes the arena, and, in a damaged file, slots and entries
 * that are plain garbage.  What the writer guarantees at every instant is
 * only this: a linked entry is complete and nothing overwrites it before
 * its slot is cleared.  So verification trusts nothing but that:
 *
 *  1. Every slot must link a sound entry (entry_sound(), the CRC-32C,
 *     the key's hash giving the slot's tag and one of its two buckets),
 *     linked by no other slot.  Anything else is unlinked, inside the
 *     bucket's write section, as readers may already be mapped.
 *  2. The linked entries, in address order, must not overlap; the ring is
 *     rebuilt around them: its free part is the largest gap between two
 *     of them, every other gap becomes ring pads, so the allocator can
 *     walk the ring again.  The header's ring word is never consulted, so
 *     no crash point and no torn header can cost an entry that checks out.
 *
 * Cost: one pass over the index, one over the bytes of linked entries, a
 * bitmap of one bit per arena unit (arena / 64 bytes of memory).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "log.h"
#include "seqlock.h"
#include "verify.h"

#define BIT_SET(m, i) ((m)[(i) / 64] |= 1ULL << ((i) % 64))
#define BIT_GET(m, i) (((m)[(i) / 64] >> ((i) % 64)) & 1u)

/* Largest pad: the biggest multiple of the unit e_vlen can hold. */
#define PAD_MAX ((uint64_t)FMT_VLEN_MASK & ~(uint64_t)(FMT_UNIT - 1))

/* Whether slot value v of bucket b links a sound entry. */
static int
slot_ok(const struct store *s, uint32_t b, uint64_t v)
{
    const unsigned char *e;
    struct entry_head h;
    uint32_t b1, b2;
    uint64_t hash;

    e = index_entry(s, v, &h);
    if (e == NULL)
        return 0;
    hash = index_key_hash(s, e, &h);
    fmt_buckets(hash, s->view.nbuckets, &b1, &b2);
    if (FMT_SLOT_TAG(v) != (uint32_t)(hash >> 32) || (b != b1 && b != b2))
        return 0;
    return entry_crc(&h, e + sizeof(struct fmt_entry)) == h.check;
}

/* Make [from, to) of the arena (no linked entry in it) into ring pads. */
static uint64_t
pad_gap(struct store *s, uint64_t from, uint64_t to)
{
    uint64_t n, total = to - from;

    while (from < to) {
        n = to - from < PAD_MAX ? to - from : PAD_MAX;
        seq_store_u64((uint64_t *)(s->arena + from), entry_pad_word(n));
        from += n;
    }
    return total;
}

/* Unlink the entry at unit position pos (it overlaps an earlier one);
 * the caller keeps the counts. */
static void
drop_at(struct store *s, uint32_t pos)
{
    const unsigned char *e = s->arena + (uint64_t)pos * FMT_UNIT;
    struct entry_head h;
    uint32_t b, i;

    index_entry_at(s, (uint64_t)pos * FMT_UNIT, &h);
    if (index_find_pos(s, index_key_hash(s, e, &h), pos, &b, &i))
        index_store_slot(s, b, i, 0);
}

/*
 * Step 2: walk the linked entries in address order, dropping overlaps and
 * padding gaps; set the ring so that its free part is the largest gap.
 */
static void
rebuild_ring(struct store *s, const uint64_t *linked, struct verify_report *r)
{
    uint64_t units = s->arena_size / FMT_UNIT, u, end = 0, first = UINT64_MAX;
    uint64_t gap_from = 0, gap_to = 0, off;
    struct entry_head h;

    s->live = 0;
    for (u = 0; u < units; u++) {
        if (linked[u / 64] == 0) {
            u |= 63; /* skip an empty word of the bitmap */
            continue;
        }
        if (!BIT_GET(linked, u))
            continue;
        off = u * FMT_UNIT;
        if (off < end) {
            drop_at(s, (uint32_t)u);
            r->kept--;
            r->dropped++;
            continue;
        }
        index_entry_at(s, off, &h);
        s->live += h.size;
        if (first == UINT64_MAX)
            first = off;
        else if (off - end > gap_to - gap_from) {
            gap_from = end;
            gap_to = off;
        }
        if (off > end)
            r->padded += pad_gap(s, end, off);
        end = off + h.size;
    }
    if (first == UINT64_MAX) {
        s->head = s->tail = s->used = 0;
        return;
    }
    if (end < s->arena_size)
        r->padded += pad_gap(s, end, s->arena_size);
    /* The gap that wraps around the arena's end: [end, size) + [0, first). */
    if (s->arena_size - end + first >= gap_to - gap_from) {
        gap_from = end;
        gap_to = first;
    }
    s->head = gap_from == s->arena_size ? 0 : gap_from;
    s->tail = gap_to;
    s->used = (s->head + s->arena_size - s->tail) % s->arena_size;
    if (s->used == 0) {
        /* No gap at all: the entries fill the arena exactly, which the
         * writer never does.  Make room by dropping the first. */
        index_entry_at(s, s->tail, &h);
        drop_at(s, (uint32_t)(s->tail / FMT_UNIT));
        s->live -= h.size;
        r->kept--;
        r->dropped++;
        pad_gap(s, s->tail, s->tail + h.size);
        s->used = s->arena_size - h.size;
        s->tail = (s->tail + h.size) % s->arena_size;
    }
}

/* Verify the whole table (see the file comment) and say what was found. */
void
verify_table(struct store *s, struct verify_report *r)
{
    size_t words = (size_t)(s->arena_size / FMT_UNIT / 64 + 1);
    uint64_t *linked = calloc(words, sizeof(uint64_t));
    struct fmt_bucket *bk;
    uint32_t b, i, pos;
    uint64_t v;

    memset(r, 0, sizeof(*r));
    if (linked == NULL) {
        /* Cannot check: keep nothing. */
        r->reset = 1;
        for (b = 0; b < s->view.nbuckets; b++)
            for (i = 0; i < FMT_SLOTS; i++)
                r->dropped += s->buckets[b].b_slot[i] != 0;
        index_clear(s);
        s->head = s->tail = s->used = 0;
        goto out;
    }
    s->entries = 0;
    for (b = 0; b < s->view.nbuckets; b++) {
        bk = &s->buckets[b];
        for (i = 0; i < FMT_SLOTS; i++) {
            v = bk->b_slot[i];
            if (v == 0)
                continue;
            pos = FMT_SLOT_POS(v);
            if (slot_ok(s, b, v) && !BIT_GET(linked, pos)) {
                BIT_SET(linked, pos);
                r->kept++;
                continue;
            }
            index_store_slot(s, b, i, 0);
            r->dropped++;
        }
    }
    s->entries = r->kept;
    rebuild_ring(s, linked, r);
    s->entries = r->kept;
out:
    if (r->reset || r->dropped > 0)
        log_warn("verify: unclean table path=%s kept=%llu dropped=%llu%s",
                 s->path, (unsigned long long)r->kept,
                 (unsigned long long)r->dropped,
                 r->reset ? " reset=out of memory" : "");
    else
        log_info("verify: unclean table path=%s kept=%llu padded=%llu", s->path,
                 (unsigned long long)r->kept, (unsigned long long)r->padded);
    free(linked);
}
