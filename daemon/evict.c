/*
 * evict.c -- what leaves a table, and when.
 *
 * Policy: FIFO over the arena ring.  New entries are appended at the ring
 * head; when the head needs room, the entry at the tail -- the oldest
 * write -- is reclaimed.  If it is still linked, it is first unlinked
 * inside its bucket's write section (counted as an eviction, or as an
 * expiration if its time was up anyway); only then does the head move over
 * its bytes.  Replaced and deleted versions are already unlinked and are
 * reclaimed silently.  Because allocation is a ring, free space is always
 * contiguous: a set fails only when one entry is larger than the arena,
 * never because of fragmentation.
 *
 * When both candidate buckets of a new key are full, the oldest entry of
 * those 14 slots (by ring age) makes way: the index is bounded too.
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
#include "seqlock.h"
#include "store.h"

/* Reclaim the entry at the ring tail. */
static void
evict_tail(struct store *s, uint64_t now_ms)
{
    struct fmt_entry *e = (struct fmt_entry *)(s->arena + s->tail);
    uint32_t bucket, slot, pos = (uint32_t)(s->tail / FMT_UNIT);
    uint64_t size = e->e_size;

    if (size < FMT_UNIT || size % FMT_UNIT != 0 ||
        size > s->arena_size - s->tail || size > s->used ||
        (!(e->e_flags & FMT_ENTRY_PAD) && size < sizeof(*e))) {
        /* The ring no longer parses (it was verified at open, so only a
         * stray write could do this): start over rather than guess. */
        s->evictions += s->entries;
        store_flush(s);
        return;
    }
    if (!(e->e_flags & FMT_ENTRY_PAD) &&
        store_find_pos(s, e->e_hash, pos, &bucket, &slot))
        store_unlink(s, bucket, slot, store_drop_reason(e, now_ms));
    s->tail += size;
    s->used -= size;
    if (s->tail == s->arena_size)
        s->tail = 0;
}

/*
 * Make need contiguous bytes free at the ring head (evicting from the tail
 * as needed).  Returns 0, or SHMC_ENOSPACE if need exceeds the arena.
 */
int
evict_make_room(struct store *s, uint64_t need, uint64_t now_ms)
{
    struct fmt_entry *pad;
    uint64_t room;

    if (need > s->arena_size)
        return SHMC_ENOSPACE;
    for (;;) {
        if (s->used == 0)
            s->head = s->tail = 0;
        if (s->used == 0 || s->head > s->tail) {
            /* Data lies in [tail, head): the room is up to the end. */
            room = s->arena_size - s->head;
            if (room >= need)
                return 0;
            if (room > 0) {
                /* Fill the rest of the arena with a pad; wrap. */
                pad = (struct fmt_entry *)(s->arena + s->head);
                seq_store_u32(&pad->e_size, (uint32_t)room);
                seq_store_u32(&pad->e_flags, FMT_ENTRY_PAD);
                seq_store_u32(&pad->e_klen, 0);
                seq_store_u32(&pad->e_vlen, 0);
                s->used += room;
            }
            s->head = 0;
            continue;
        }
        /* Data wraps: free space is [head, tail). */
        if (s->tail - s->head >= need)
            return 0;
        evict_tail(s, now_ms);
    }
}

/*
 * Pick the slot whose entry is oldest in the ring among buckets b1 and b2
 * (both full).  Returns the slot index and sets *bucket.
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
        /* Distance from the tail: smaller is older. */
        age = (off + s->arena_size - s->tail) % s->arena_size;
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
    const struct fmt_entry *e;
    uint64_t n = 0, v;
    uint32_t i, j;

    for (i = 0; i < nbuckets && i <= s->view.mask; i++) {
        s->sweep_cursor = (s->sweep_cursor + 1) & s->view.mask;
        for (j = 0; j < FMT_SLOTS; j++) {
            v = s->buckets[s->sweep_cursor].b_slot[j];
            if (v == 0)
                continue;
            e = store_slot_entry(s, v);
            if (e == NULL) {
                /* A damaged slot in a table opened as clean: drop it. */
                store_unlink(s, s->sweep_cursor, j, UNLINK_EVICT);
            } else if (store_expired(e, now_ms)) {
                store_unlink(s, s->sweep_cursor, j, UNLINK_EXPIRE);
                n++;
            }
        }
    }
    if (n > 0)
        store_publish(s);
    return n;
}
