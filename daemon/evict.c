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
#include "evict.h"
#include "index.h"
#include "seqlock.h"
#include "verify.h"

/* Reclaim the entry at the ring tail.  Returns 0, or -1 if the ring does
 * not parse there (only a stray write into the mapping can do that). */
static int
evict_tail(struct store *s, uint64_t now_ms)
{
    const unsigned char *e = s->arena + s->tail;
    uint32_t bucket, slot, pos = (uint32_t)(s->tail / FMT_UNIT);
    struct entry_head h;

    switch (index_entry_at(s, s->tail, &h)) {
    case ENTRY_OK:
        if (index_find_pos(s, index_key_hash(s, e, &h), pos, &bucket, &slot))
            index_unlink(s, bucket, slot,
                         entry_expired(&h, now_ms) ? UNLINK_EXPIRE
                                                   : UNLINK_EVICT);
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
 * Make need contiguous bytes free at the ring head (evicting from the tail
 * as needed).  The ring never becomes completely full: head == tail means
 * empty, so the free part always keeps at least one unit.  Returns 0, or
 * SHMC_ENOSPACE if need exceeds the arena.
 */
int
evict_make_room(struct store *s, uint64_t need, uint64_t now_ms)
{
    struct verify_report r;
    uint64_t room;
    int repaired = 0;

    if (need >= s->arena_size)
        return SHMC_ENOSPACE;
    for (;;) {
        if (s->used == 0)
            s->head = s->tail = 0;
        if (s->used == 0 || s->head > s->tail) {
            /* Data lies in [tail, head): the room is up to the end, and
             * may be used to the last byte only if the head then wraps to
             * a position short of the tail. */
            room = s->arena_size - s->head;
            if (room > need || (room == need && s->tail > 0))
                return 0;
            if (room > 0) {
                /* Fill the rest of the arena with a pad; wrap. */
                seq_store_u64((uint64_t *)(s->arena + s->head),
                              entry_pad_word(room));
                s->used += room;
            }
            /* If the tail is at 0 the ring is full for a moment; the
             * code below evicts from the tail. */
            s->head = 0;
        }
        /* Data wraps: free space is [head, tail). */
        if (s->tail > s->head && s->tail - s->head > need)
            return 0;
        if (evict_tail(s, now_ms) != 0) {
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
