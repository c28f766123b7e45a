/* SPDX-License-Identifier: MIT */
/*
 * evict.c -- what leaves a table, and when.
 *
 * The arena is a ring: new entries are appended at the head; when the head
 * needs room, the entry at the tail -- the oldest write -- is dealt with:
 *  - dead bytes (a pad, a replaced or deleted version) are reclaimed;
 *  - a linked entry whose time is up is unlinked (an expiration);
 *  - a live entry that readers hit since it last came by (its frequency
 *    count from hints.c is above 0) is moved to the head, one count
 *    poorer: CLOCK with 2-bit counts, over the ring;
 *  - another live entry is moved too while live data is under the
 *    high-water mark and enough dead bytes lie ahead to be worth passing:
 *    dead bytes are reclaimed before any live entry is dropped;
 *  - otherwise it is evicted, inside its bucket's write section.
 * A move copies the entry and repoints its slot in one write section, so
 * readers find it at the old place or the new one.  Bytes moved per set
 * are bounded by one turn of the ring, so the work stays amortised
 * O(size of the set).  Because allocation is a ring, free space is always
 * contiguous: a set fails only when one entry is larger than the arena.
 *
 * When both candidate buckets of a new key are full, the least hit and
 * then oldest entry of those 14 slots makes way: the index is bounded too.
 *
 * Expiry: readers treat expired entries as misses on their own; the daemon
 * also calls evict_expired() from a timer to unlink them, a bounded number
 * of buckets per call, so the index frees their slots early.  Their arena
 * bytes come back when the tail passes them.
 *
 * Called only from the writer thread, through store.c.
 */
#include "config.h"

#include "error.h"
#include "evict.h"
#include "index.h"
#include "seqlock.h"
#include "verify.h"

/* Fill the rest of the arena after the head with a pad and wrap the head
 * to 0.  If the tail is at 0 the ring is full for a moment; the caller
 * then reclaims from the tail. */
static void
wrap_head(struct store *s)
{
    uint64_t room = s->arena_size - s->head;

    if (room > 0) {
        seq_store_u64((uint64_t *)(s->arena + s->head), entry_pad_word(room));
        s->used += room;
    }
    s->head = 0;
}

/* Get the head ready for an entry of size bytes: whether it fits there
 * without the head catching up with the tail, wrapping the head to the
 * start of the arena first if that makes it fit. */
static int
prepare_head(struct store *s, uint64_t size)
{
    uint64_t room;

    if (s->used == 0)
        return size < s->arena_size;
    if (s->head > s->tail) {
        room = s->arena_size - s->head;
        if (room > size || (room == size && s->tail > 0))
            return 1;
        if (s->tail <= size)
            return 0;
        wrap_head(s); /* the start of the arena has the room */
    }
    return s->tail - s->head > size;
}

/*
 * Copy the live entry at the tail (h, linked by bucket/slot) to the head
 * and repoint its slot in one write section, as relocation does across
 * buckets: a reader finds it at the old place or the new one, and the old
 * bytes are reclaimed only once the slot no longer points at them.
 */
static void
move_tail_entry(struct store *s, const struct entry_head *h, uint32_t bucket,
                uint32_t slot)
{
    const uint64_t *from = (const uint64_t *)(s->arena + s->tail);
    uint64_t *to = (uint64_t *)(s->arena + s->head), i, v;

    for (i = 0; i < h->size / 8; i++)
        seq_store_u64(&to[i], from[i]);
    v = s->buckets[bucket].b_slot[slot];
    index_store_slot(s, bucket, slot,
                     FMT_SLOT(FMT_SLOT_TAG(v), s->head / FMT_UNIT));
    evict_advance_head(s, h->size);
    s->moves++;
}

/*
 * Reclaim the entry at the ring tail: dead bytes (a pad, an unlinked old
 * version) go at once; a linked entry that expired is unlinked; a live one
 * is moved to the head if the ring holds at least want dead bytes further
 * on (moving past them is worth it), live data is under the high-water
 * mark and *move_budget (bytes, decremented) allows; else it is evicted.
 * So a table of live data only stays a plain FIFO.  Returns 0,
 * or -1 if the ring does not parse there (only a stray write into the mapping
 * can do that).
 */
static int
evict_tail(struct store *s, uint64_t now_ms, uint64_t *move_budget,
           uint64_t want)
{
    const unsigned char *e = s->arena + s->tail;
    uint32_t bucket, slot, pos = (uint32_t)(s->tail / FMT_UNIT);
    struct entry_head h;

    uint8_t *freq;

    switch (index_entry_at(s, s->tail, &h)) {
    case ENTRY_OK:
        if (!index_find_pos(s, index_key_hash(s, e, &h), pos, &bucket, &slot))
            break; /* dead: replaced or deleted */
        freq = s->freq != NULL ? &s->freq[(uint64_t)bucket * FMT_SLOTS + slot]
                               : NULL;
        if (entry_expired(&h, now_ms)) {
            index_unlink(s, bucket, slot, UNLINK_EXPIRE);
        } else if (*move_budget >= h.size &&
                   ((freq != NULL && *freq > 0) ||
                    (s->live <= s->live_hwm && s->used - s->live >= want)) &&
                   prepare_head(s, h.size)) {
            /* Readers hit it since it last passed here: it goes round
             * again, one count poorer (CLOCK with 2-bit counts).  Or dead
             * bytes ahead are worth passing. */
            if (freq != NULL && *freq > 0)
                (*freq)--;
            move_tail_entry(s, &h, bucket, slot);
            *move_budget -= h.size;
        } else
            index_unlink(s, bucket, slot, UNLINK_EVICT);
        break;
    case ENTRY_IS_PAD:
        break;
    default:
        return -1;
    }
    if (h.size > s->used)
        return -1;
    s->tail += h.size;
    s->used -= h.size;
    if (s->tail == s->arena_size)
        s->tail = 0;
    return 0;
}

/*
 * Make need contiguous bytes free at the ring head, and keep a reserve of
 * free space beyond them so that a live entry reaching the tail can be
 * moved rather than evicted.  Dead bytes are reclaimed before any live
 * entry is dropped: live entries at the tail are moved forward while live
 * data is under the high-water mark.  Moving does not free space, so the
 * bytes moved per call are bounded by one turn of the ring; after that,
 * or above the mark, the tail entry is evicted (FIFO).  The ring never
 * becomes completely full: head == tail means empty.  Returns 0, or
 * SHMC_ENOSPACE if need exceeds the arena.
 */
int
evict_make_room(struct store *s, uint64_t need, uint64_t now_ms)
{
    struct verify_report r;
    uint64_t keep, room, move_budget;
    int repaired = 0;

    if (need >= s->arena_size)
        return SHMC_ENOSPACE;
    /* The reserve: room for a wrap's pad and then a move of the largest
     * entry (each smaller than the largest entry), at most 1/8 of the
     * arena, and never so much that an empty table could not hold need. */
    keep = 2 * FMT_ENTRY_SIZE(s->view.max_key, s->view.max_value) + FMT_UNIT;
    if (keep > s->arena_size / 8)
        keep = s->arena_size / 8;
    if (keep > (s->arena_size - need) / 2)
        keep = (s->arena_size - need) / 2;
    move_budget = s->used; /* one turn of the ring */
    for (;;) {
        if (s->used == 0)
            s->head = s->tail = 0;
        if (s->used == 0 || s->head > s->tail) {
            /* Data lies in [tail, head): the room is up to the end, and
             * may be used to the last byte only if the head then wraps to
             * a position short of the tail. */
            room = s->arena_size - s->head;
            if (!(room > need || (room == need && s->tail > 0))) {
                wrap_head(s);
                continue; /* the start of the arena may have room */
            }
            if (s->arena_size - s->used >= need + keep)
                return 0;
        } else if (s->tail - s->head > need &&
                   s->arena_size - s->used >= need + keep) {
            /* Data wraps: free space is [head, tail). */
            return 0;
        }
        if (evict_tail(s, now_ms, &move_budget,
                       need + keep - (s->arena_size - s->used)) != 0) {
            /* Rebuild the ring from the slots once; if it still does not
             * parse, start over rather than guess. */
            if (repaired++ == 0) {
                verify_table(s, &r);
                continue;
            }
            s->evictions += s->entries;
            index_clear(s);
            s->head = s->tail = s->used = 0;
        }
    }
}

/* The entry just written at the head (size bytes) joins the ring. */
void
evict_advance_head(struct store *s, uint64_t size)
{
    s->head += size;
    s->used += size;
    if (s->head == s->arena_size)
        s->head = 0;
}

/*
 * Pick the slot to give up among buckets b1 and b2 (both full): the least
 * hit (frequency count), and of those the oldest in the ring.  Returns the
 * slot index and sets *bucket.
 */
uint32_t
evict_victim(const struct store *s, uint32_t b1, uint32_t b2, uint32_t *bucket)
{
    uint64_t best_age = UINT64_MAX, age, off, v;
    uint32_t i, best = 0, b;

    *bucket = b1;
    for (i = 0; i < 2 * FMT_SLOTS; i++) {
        b = i < FMT_SLOTS ? b1 : b2;
        v = s->buckets[b].b_slot[i % FMT_SLOTS];
        off = (uint64_t)FMT_SLOT_POS(v) * FMT_UNIT;
        /* Distance from the tail: smaller is older; hits weigh more. */
        age = (off + s->arena_size - s->tail) % s->arena_size;
        if (s->freq != NULL)
            age += (uint64_t)s->freq[(uint64_t)b * FMT_SLOTS + i % FMT_SLOTS] *
                   s->arena_size;
        if (age < best_age) {
            best_age = age;
            best = i % FMT_SLOTS;
            *bucket = b;
        }
    }
    return best;
}

/*
 * Unlink expired entries from up to nbuckets buckets, continuing where the
 * last call stopped.  Returns how many were unlinked.
 */
uint64_t
evict_expired(struct store *s, uint64_t now_ms, uint32_t nbuckets)
{
    struct entry_head h;
    uint64_t n = 0, v;
    uint32_t i, j;

    for (i = 0; i < nbuckets && i < s->view.nbuckets; i++) {
        s->sweep_cursor =
            s->sweep_cursor + 1 >= s->view.nbuckets ? 0 : s->sweep_cursor + 1;
        for (j = 0; j < FMT_SLOTS; j++) {
            v = s->buckets[s->sweep_cursor].b_slot[j];
            if (v == 0)
                continue;
            if (index_entry(s, v, &h) == NULL) {
                /* A damaged slot in a table opened as clean: drop it. */
                index_unlink(s, s->sweep_cursor, j, UNLINK_DAMAGED);
            } else if (entry_expired(&h, now_ms)) {
                index_unlink(s, s->sweep_cursor, j, UNLINK_EXPIRE);
                n++;
            }
        }
    }
    return n;
}
