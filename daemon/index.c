/* SPDX-License-Identifier: MIT */
/*
 * index.c -- the writer's operations on buckets and slots.
 *
 * Every change to what a bucket can reach happens here, inside one write
 * section of that bucket (doc/design.md, "Reader and writer"): a slot is
 * stored, cleared or moved between seq_write_begin() and seq_write_end(), so a
 * reader that overlapped the change retries.  A new entry is complete in the
 * arena before index_store_slot() publishes it; an entry's memory is reused
 * (evict.c) only after index_unlink() has cleared its slot.
 *
 * Every slot the writer follows goes through index_entry(), which applies
 * entry_sound() -- the same test the reader applies -- so a damaged table
 * can never make the daemon read outside its mapping, and the writer never
 * skips an entry the reader would accept, or the other way round.
 */
#include "config.h"

#include <string.h>

#include "hash.h"
#include "index.h"
#include "seqlock.h"

/*
 * Decode the entry header at arena offset off into *h.  Returns what
 * entry_sound() says (ENTRY_OK, ENTRY_IS_PAD, ENTRY_BAD); ENTRY_BAD if off
 * is outside the arena or misaligned.
 */
int
index_entry_at(const struct store *s, uint64_t off, struct entry_head *h)
{
    const unsigned char *p = s->arena + off;
    uint64_t w1 = 0;

    memset(h, 0, sizeof(*h));
    if (off % FMT_UNIT != 0 || off >= s->arena_size ||
        s->arena_size - off < FMT_UNIT)
        return ENTRY_BAD;
    if (s->arena_size - off >= sizeof(struct fmt_entry))
        w1 = seq_load_word(p + 8);
    entry_decode(seq_load_word(p), w1, s->view.lim.epoch_ms, h);
    return entry_sound(h, off, &s->view.lim);
}

/* The sound entry a slot links (its header in *h), or NULL. */
const unsigned char *
index_entry(const struct store *s, uint64_t slot, struct entry_head *h)
{
    uint64_t off = (uint64_t)FMT_SLOT_POS(slot) * FMT_UNIT;

    if (slot == 0 || index_entry_at(s, off, h) != ENTRY_OK)
        return NULL;
    return s->arena + off;
}

/* The seeded hash of a sound entry's key. */
uint64_t
index_key_hash(const struct store *s, const unsigned char *e,
               const struct entry_head *h)
{
    return hash_key(s->view.seed, e + sizeof(struct fmt_entry), h->klen);
}

/* Find a key's slot; returns 1 and sets bucket, slot and *h if present. */
int
index_find(const struct store *s, uint64_t hash, const void *key, uint32_t klen,
           uint32_t *bucket, uint32_t *slot, struct entry_head *h)
{
    uint32_t b[2], tag = (uint32_t)(hash >> 32), i, j;
    const unsigned char *e;
    uint64_t v;

    fmt_buckets(hash, s->view.nbuckets, &b[0], &b[1]);
    for (j = 0; j < 2; j++) {
        for (i = 0; i < FMT_SLOTS; i++) {
            v = s->buckets[b[j]].b_slot[i];
            if (v == 0 || FMT_SLOT_TAG(v) != tag)
                continue;
            e = index_entry(s, v, h);
            if (e != NULL && h->klen == klen &&
                memcmp(e + sizeof(struct fmt_entry), key, klen) == 0) {
                *bucket = b[j];
                *slot = i;
                return 1;
            }
        }
    }
    return 0;
}

/* Find the slot that links the entry at unit position pos. */
int
index_find_pos(const struct store *s, uint64_t hash, uint32_t pos,
               uint32_t *bucket, uint32_t *slot)
{
    uint32_t b[2], i, j;
    uint64_t want = FMT_SLOT((uint32_t)(hash >> 32), pos);

    fmt_buckets(hash, s->view.nbuckets, &b[0], &b[1]);
    for (j = 0; j < 2; j++)
        for (i = 0; i < FMT_SLOTS; i++)
            if (s->buckets[b[j]].b_slot[i] == want) {
                *bucket = b[j];
                *slot = i;
                return 1;
            }
    return 0;
}

/* Store v into a slot in its own write section.  The slot's frequency
 * count (hints.c) stays if the slot keeps its tag (the same key, newly
 * written or moved), and restarts at 0 otherwise. */
void
index_store_slot(struct store *s, uint32_t bucket, uint32_t slot, uint64_t v)
{
    struct fmt_bucket *b = &s->buckets[bucket];

    if (s->freq != NULL &&
        (v == 0 || FMT_SLOT_TAG(v) != FMT_SLOT_TAG(b->b_slot[slot])))
        s->freq[(uint64_t)bucket * FMT_SLOTS + slot] = 0;
    seq_write_begin(&b->b_seq);
    seq_store_u64(&b->b_slot[slot], v);
    seq_write_end(&b->b_seq);
}

/* Unlink one slot in its own write section; why is an UNLINK_* reason,
 * which says which counter it bumps. */
void
index_unlink(struct store *s, uint32_t bucket, uint32_t slot, int why)
{
    struct entry_head h;

    if (index_entry(s, s->buckets[bucket].b_slot[slot], &h) != NULL)
        store_live_drop(s, h.size);
    index_store_slot(s, bucket, slot, 0);
    s->entries--;
    switch (why) {
    case UNLINK_EXPIRE:
        s->expirations++;
        break;
    case UNLINK_EVICT:
    case UNLINK_DAMAGED:
        s->evictions++;
        break;
    case UNLINK_EVICT_INDEX:
        s->evictions_index++;
        break;
    default:
        s->deletes++;
    }
}

/* A free slot of a bucket, or FMT_SLOTS. */
uint32_t
index_free_slot(const struct store *s, uint32_t bucket)
{
    uint32_t i;

    for (i = 0; i < FMT_SLOTS; i++)
        if (s->buckets[bucket].b_slot[i] == 0)
            break;
    return i;
}

/*
 * Both buckets of a new key are full: move one of their entries that sits
 * in its first bucket to its second bucket, if that has room, and hand
 * back the slot it left.  Returns 1 on success.
 *
 * Readers probe a key's first bucket, then its second.  The move links the
 * entry in the second bucket before it unlinks it from the first, in two
 * write sections, so a reader finds it in one or the other at every
 * moment.  (Moving the other way could miss, so it is never done.)
 */
int
index_relocate(struct store *s, uint32_t b1, uint32_t b2, uint32_t *bucket,
               uint32_t *slot)
{
    uint32_t from[2] = {b1, b2}, i, j, eb2, to;
    struct entry_head h;
    uint64_t v;

    for (j = 0; j < 2; j++) {
        for (i = 0; i < FMT_SLOTS; i++) {
            v = s->buckets[from[j]].b_slot[i];
            if (index_entry(s, v, &h) == NULL)
                continue; /* unsound: evict_victim() may take it */
            /* In its second bucket already (or its two collide): stays. */
            eb2 = fmt_bucket_of_tag(FMT_SLOT_TAG(v), s->view.nbuckets);
            if (eb2 == from[j])
                continue;
            to = index_free_slot(s, eb2);
            if (to == FMT_SLOTS)
                continue;
            index_store_slot(s, eb2, to, v);
            if (s->freq != NULL)
                s->freq[(uint64_t)eb2 * FMT_SLOTS + to] =
                    s->freq[(uint64_t)from[j] * FMT_SLOTS + i];
            index_store_slot(s, from[j], i, 0);
            *bucket = from[j];
            *slot = i;
            s->relocations++;
            return 1;
        }
    }
    return 0;
}

/* Unlink every entry (a flush), one write section per busy bucket. */
void
index_clear(struct store *s)
{
    struct fmt_bucket *b;
    uint32_t i, j;
    int busy;

    for (i = 0; i < s->view.nbuckets; i++) {
        b = &s->buckets[i];
        for (busy = 0, j = 0; j < FMT_SLOTS; j++)
            busy |= b->b_slot[j] != 0;
        if (!busy)
            continue;
        seq_write_begin(&b->b_seq);
        for (j = 0; j < FMT_SLOTS; j++)
            seq_store_u64(&b->b_slot[j], 0);
        seq_write_end(&b->b_seq);
    }
    s->entries = 0;
    s->live = 0;
}
