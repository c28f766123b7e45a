/*
 * persist.c -- make a table that was not closed cleanly safe to serve and
 * to write again (DESIGN.md sections 4 and 7).
 *
 * A writer killed mid-operation (SIGKILL, power loss in disk mode) can
 * leave: a bucket sequence odd (repaired by store.c before we run), an
 * entry linked twice (a relocation cut in half), an entry whose checksum
 * no longer matches (a touch cut in half), or, in a damaged file, slots
 * and entries that are plain garbage.  The writer must never follow any of
 * those, so before the table is used:
 *
 *  1. Walk the arena ring from the header's tail for `used` bytes, each
 *     step bounds-checked, and mark where every entry starts.  store.c
 *     publishes the ring so that [tail, head) always covers every linked
 *     entry.  At the first entry that does not parse the ring is cut:
 *     entries before it are kept, the rest will be dropped.
 *  2. Check every slot: it must point at an entry start found in step 1,
 *     whose hash maps to this bucket and matches the slot's tag and the
 *     key's SipHash, whose sizes fit, and whose checksum is right; and no
 *     other slot may already link it.  Anything else is unlinked (inside
 *     the bucket's write section, as readers may be mapped already).
 *
 * Cost: one pass over the index and one over the linked entries' bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "seqlock.h"
#include "store.h"

#define BIT_SET(m, i) ((m)[(i) / 64] |= 1ULL << ((i) % 64))
#define BIT_GET(m, i) (((m)[(i) / 64] >> ((i) % 64)) & 1u)

/*
 * Walk the ring, marking entry starts.  If an entry does not parse, the
 * ring is cut just before it (head moves back there): what came before is
 * still usable, and the slots that point past the cut are dropped in the
 * next step because no start was marked for them.  Returns 1 if cut.
 */
static int
walk_ring(struct store *s, uint64_t *starts)
{
    uint64_t pos = s->tail, left = s->used, size;
    const struct fmt_entry *e;

    while (left > 0) {
        if (pos == s->arena_size)
            pos = 0;
        e = (const struct fmt_entry *)(s->arena + pos);
        size = e->e_size;
        if (size < FMT_UNIT || size % FMT_UNIT != 0 || size > left ||
            size > s->arena_size - pos ||
            (!(e->e_flags & FMT_ENTRY_PAD) &&
             (size < sizeof(*e) || e->e_klen == 0 ||
              FMT_ENTRY_SIZE(e->e_klen, e->e_vlen) > size))) {
            s->head = pos;
            s->used -= left;
            return 1;
        }
        if (!(e->e_flags & FMT_ENTRY_PAD))
            BIT_SET(starts, pos / FMT_UNIT);
        pos += size;
        left -= size;
    }
    return 0;
}

/* Whether the slot value v in bucket b links a sound entry. */
static int
slot_ok(const struct store *s, uint32_t b, uint64_t v, const uint64_t *starts)
{
    uint32_t pos = FMT_SLOT_POS(v), b1, b2;
    const struct fmt_entry *e;
    const unsigned char *key;

    if ((uint64_t)pos >= s->arena_size / FMT_UNIT || !BIT_GET(starts, pos))
        return 0;
    e = (const struct fmt_entry *)(s->arena + (uint64_t)pos * FMT_UNIT);
    key = (const unsigned char *)(e + 1);
    if (FMT_SLOT_TAG(v) != (uint32_t)(e->e_hash >> 32) ||
        e->e_klen > s->view.max_key || e->e_vlen > s->view.max_value)
        return 0;
    table_buckets(e->e_hash, s->view.mask, s->view.shift, &b1, &b2);
    if (b != b1 && b != b2)
        return 0;
    if (hash_key(s->view.seed, key, e->e_klen) != e->e_hash)
        return 0;
    return fmt_entry_check(e->e_klen, e->e_vlen, e->e_flags, e->e_hash,
                           e->e_expiry_ms, key,
                           (const unsigned char *)e +
                               FMT_VALUE_OFF(e->e_klen)) == e->e_check;
}

/* Verify the whole table (see the file comment) and say what was found. */
void
persist_verify(struct store *s, struct persist_report *r)
{
    size_t words = (size_t)(s->arena_size / FMT_UNIT / 64 + 1);
    uint64_t *starts = calloc(words, sizeof(uint64_t));
    uint64_t *linked = calloc(words, sizeof(uint64_t));
    struct fmt_bucket *bk;
    uint32_t b, i, pos;
    uint64_t v;

    memset(r, 0, sizeof(*r));
    if (starts == NULL || linked == NULL) {
        /* Cannot check: keep nothing. */
        r->ring_reset = 1;
        for (b = 0; b <= s->view.mask; b++)
            for (i = 0; i < FMT_SLOTS; i++)
                r->dropped += s->buckets[b].b_slot[i] != 0;
        store_flush(s);
        goto out;
    }
    r->ring_cut = walk_ring(s, starts);
    for (b = 0; b <= s->view.mask; b++) {
        bk = &s->buckets[b];
        for (i = 0; i < FMT_SLOTS; i++) {
            v = bk->b_slot[i];
            if (v == 0)
                continue;
            pos = FMT_SLOT_POS(v);
            if (slot_ok(s, b, v, starts) && !BIT_GET(linked, pos)) {
                BIT_SET(linked, pos);
                r->kept++;
                continue;
            }
            seq_write_begin(&bk->b_seq);
            seq_store_u64(&bk->b_slot[i], 0);
            seq_write_end(&bk->b_seq);
            r->dropped++;
        }
    }
    s->entries = r->kept;
    store_publish(s);
out:
    if (r->ring_reset || r->ring_cut || r->dropped > 0)
        log_warn("persist: verified unclean table kept=%llu dropped=%llu%s",
                 (unsigned long long)r->kept, (unsigned long long)r->dropped,
                 r->ring_reset ? " ring=reset"
                 : r->ring_cut ? " ring=cut at first damaged entry"
                               : "");
    free(starts);
    free(linked);
}
