/* SPDX-License-Identifier: MIT */
/*
 * format.h -- THE mapped layout of a shmcache table file, format 2.
 *
 * A table file is three regions, all at offsets recorded in the header:
 *
 *   [ header: one page ][ index: nbuckets x 64-byte buckets ][ arena ]
 *
 * The header says what the file is (magic, format version, header size) and
 * its geometry; the geometry is written once, at creation, and covered by a
 * CRC-32C so that a reader can tell a damaged header from a valid one.
 * Each bucket is one cache line: a sequence counter (the seqlock of
 * doc/design.md, "Reader and writer") and FMT_SLOTS slots.  A slot packs a
 * 32-bit tag taken from the key hash with the position of an entry in the
 * arena, so a lookup touches one bucket line and then the one entry whose tag
 * matches.  The bucket count is any number from 2 up, sized from the expected
 * item size (fmt_buckets() maps a hash onto it by multiplication, not by a
 * mask).
 *
 * The arena is a ring of entries in insertion order (daemon/evict.c), each
 * a 16-byte header followed by the key and the value, back to back, padded
 * to FMT_UNIT (8) bytes.  For 16-byte keys and 100-byte values an item
 * costs 16 bytes of header, 4 of padding and about 11 of index (a slot per
 * item at 85% load): 31 bytes in all.  Which bytes of an entry mean what,
 * and when an entry is sound, is defined once, in entry.h.
 *
 * Rules: fixed-width integers only, explicit padding, offsets never
 * pointers, every size and offset pinned by _Static_assert.  Fields shared
 * between the writer and readers are accessed with __atomic builtins (see
 * seqlock.h).  Changing anything here is a format change: bump
 * FMT_VERSION, and teach daemon/convert.c to read the old one.  The file
 * is host-endian; the magic doubles as a byte-order check.  The magic,
 * version and header size (bytes 0-15) and h_state (byte 128) stay where
 * they are in every format, so that any reader can tell a file is from
 * another version and that it was retired.  h_residency (byte 144) took
 * four bytes of line 2's padding without a version change (see FMT_RES_*).
 */
#ifndef SHMC_FORMAT_H
#define SHMC_FORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* "SHMCACHE" read as a little-endian 64-bit word. */
#define FMT_MAGIC 0x45484341434d4853ULL
#define FMT_VERSION 2u

#define FMT_PAGE 4096u
#define FMT_LINE 64u
#define FMT_SLOTS 7u
/* Arena granularity: entries start on and span multiples of this. */
#define FMT_UNIT 8u
/* A slot holds position + 1 in units, and the ring word two positions in
 * 32 bits each, so this bounds the arena (32 GiB). */
#define FMT_ARENA_MAX ((uint64_t)(UINT32_MAX - 1u) * FMT_UNIT)
/* Smallest useful table: the header, 2 buckets, and 4 KiB of arena. */
#define FMT_MIN_BUCKETS 2u
#define FMT_MAX_BUCKETS (1u << 30)
/* Hard limits of the format; a table may configure lower ones.  Values up
 * to 128 MiB keep every entry below 2^31 bits, the length up to which
 * CRC-32C detects any 3 flipped bits. */
#define FMT_KEY_MAX 4096u
#define FMT_VALUE_MAX (1u << 27)

/* h_state */
#define FMT_STATE_ALIVE 1u
#define FMT_STATE_RETIRED 2u

/*
 * h_residency: how the daemon keeps the table in memory, which tells a
 * reader how to map it.  The daemon stores it at every open and reload
 * (the table's populate, lock and huge_pages settings); readers read it
 * once, when they map the table.  It was zero padding in every earlier
 * format 2 file and no reader looked at it, so the format is unchanged:
 * an old file reads as "no advice", an old reader ignores the word.  It
 * is advice, not geometry, and outside the header checksum: a forged word
 * can cost a reader time and memory at open, never a wrong answer.
 */
#define FMT_RES_POPULATE 0x1u /* readers prefault their mapping at open */
#define FMT_RES_LOCK 0x2u     /* the daemon holds the table mlock()ed */
#define FMT_RES_HUGE 0x4u     /* backed by huge pages: map it 2 MiB-aligned */
#define FMT_RES_MASK 0x7u

/* e_flags */
#define FMT_ENTRY_PAD 0x1u      /* ring filler up to the arena end */
#define FMT_ENTRY_NEGATIVE 0x2u /* cached "known absent"; no value */
#define FMT_ENTRY_USER_MASK FMT_ENTRY_NEGATIVE

/*
 * The header.  Line 0 and line 1 are written once at creation; line 2 is
 * liveness; line 3 the writer's ring, one word so that no crash and no torn
 * write can leave it half updated; lines 4 and 5 hold counters, each group
 * on its own line so that readers polling one do not share a line with the
 * writer's hot stores.
 */
struct fmt_header {
    /* line 0: identity and geometry (immutable, covered by h_geom_check) */
    uint64_t h_magic;
    uint32_t h_version;
    uint32_t h_header_size;
    uint64_t h_file_size;
    uint64_t h_index_off;
    uint64_t h_arena_off;
    uint64_t h_arena_size;
    uint32_t h_nbuckets;
    uint32_t h_max_key;
    uint32_t h_max_value;
    uint32_t h_pad0;
    /* line 1: identity of this table instance (immutable) */
    uint64_t h_seed[2];
    uint64_t h_generation;
    uint64_t h_epoch_ms;   /* creation time; entry expiries count from it */
    uint64_t h_geom_check; /* CRC-32C of line 0 and line 1 up to here */
    uint64_t h_pad1[3];
    /* line 2: liveness, read by readers on every lookup */
    uint32_t h_state;        /* FMT_STATE_*, atomic */
    uint32_t h_clean;        /* 1 while no writer has the table open */
    uint64_t h_heartbeat_ms; /* atomic; refreshed by the daemon */
    uint32_t h_residency;    /* atomic; FMT_RES_*, advice (below) */
    uint32_t h_pad2a;
    uint64_t h_pad2[5];
    /* line 3: the writer's ring (atomic; trusted only if h_clean and the
     * seal matches) */
    uint64_t h_ring; /* FMT_RING(head, tail) in units; head == tail: empty */
    uint64_t h_seal; /* at a clean close: CRC-32C of h_ring, lines 4-5 */
    uint64_t h_pad3[6];
    /* line 4: gauges and counters (atomic; writer stores, anyone reads) */
    uint64_t h_entries; /* live (linked) entries */
    uint64_t h_sets;
    uint64_t h_deletes;
    uint64_t h_evictions;   /* live entries dropped: the arena was full */
    uint64_t h_expirations; /* entries dropped because they expired */
    uint64_t h_relocations; /* entries moved to their second bucket */
    uint64_t h_live_bytes;  /* arena bytes of linked entries */
    uint64_t h_moves;       /* live entries copied forward, not evicted */
    /* line 5: more counters */
    uint64_t h_evictions_index; /* live entries dropped: both buckets full */
    uint64_t h_pad5[7];
};

struct fmt_bucket {
    /* seqlock; odd while the writer changes the bucket.  64 bits, so a
     * reader stalled mid-lookup never sees it wrap back to its value. */
    uint64_t b_seq;
    uint64_t b_slot[FMT_SLOTS]; /* FMT_SLOT(tag, pos); 0 = empty */
};

/*
 * An entry's fixed header (bit by bit in entry.h).  A ring pad, which may
 * be a single unit, uses only the first word: FMT_ENTRY_PAD and its size
 * in e_vlen.
 */
struct fmt_entry {
    uint32_t e_check;  /* CRC-32C of the entry with this field zero */
    uint32_t e_vlen;   /* bits 0-27 value length, 28-31 FMT_ENTRY_* */
    uint16_t e_klen;   /* key length, 1..FMT_KEY_MAX */
    uint8_t e_lcheck;  /* CRC-8 of e_vlen and e_klen */
    uint8_t e_exp_hi;  /* expiry: bits 32-39 ... */
    uint32_t e_exp_lo; /* ... and 0-31: signed ms from h_epoch_ms; 0 never */
    /* key, then value, then zeros up to the next unit */
};

/* e_vlen: value length and flags. */
#define FMT_VLEN_BITS 28u
#define FMT_VLEN_MASK ((1u << FMT_VLEN_BITS) - 1u)
#define FMT_EXPIRY_MASK ((1ULL << 40) - 1u)
#define FMT_EXPIRY_REL_MAX ((1LL << 39) - 1) /* ~17.4 years from the epoch */

/* A slot holds the tag in its high half and unit position + 1 below. */
#define FMT_SLOT(tag, pos) (((uint64_t)(tag) << 32) | ((uint32_t)(pos) + 1u))
#define FMT_SLOT_TAG(s) ((uint32_t)((s) >> 32))
#define FMT_SLOT_POS(s) ((uint32_t)(s)-1u)

/*
 * Reader hints (doc/design.md, "The ring and eviction"): a reader handle
 * creates a sealed memfd of FMT_HINT_WORDS words, passes it to the daemon
 * (PROTO_OP_HINTS), and records each hit in it with a relaxed store:
 * FMT_HINT(tag, bucket, slot) at word FMT_HINT_FIRST + (bucket * FMT_SLOTS
 * + slot) % (FMT_HINT_WORDS - FMT_HINT_FIRST). The daemon drains those words
 * (zeroing them) into per-entry frequency counts of its own, and writes the
 * time of its last drain into word 0. A hint is checked against the slot's
 * tag; a forged or stale one can only change what is evicted, never what
 * anyone reads. Words FMT_HINT_HITS and FMT_HINT_MISSES hold the handle's
 * running counts of hits and misses, which the daemon reads (never clears)
 * for the table's reader_hits and reader_misses: statistics, which a
 * hostile reader can inflate for its own area and nothing else.
 */
#define FMT_HINT_WORDS 16384u
#define FMT_HINT_HITS 1u
#define FMT_HINT_MISSES 2u
#define FMT_HINT_FIRST 3u
#define FMT_HINT(tag, bucket, slot)                                            \
    ((uint64_t)((tag) >> 1) << 33 | (uint64_t)(bucket) << 3 | (uint64_t)(slot))
#define FMT_HINT_TAG31(h) ((uint32_t)((h) >> 33))
#define FMT_HINT_BUCKET(h) ((uint32_t)((h) >> 3) & ((1u << 30) - 1u))
#define FMT_HINT_SLOT(h) ((uint32_t)(h)&7u)
#define FMT_HINT_INDEX(bucket, slot)                                           \
    (FMT_HINT_FIRST + (uint32_t)(((uint64_t)(bucket)*FMT_SLOTS + (slot)) %     \
                                 (FMT_HINT_WORDS - FMT_HINT_FIRST)))

/* The ring word: head and tail positions, in units. */
#define FMT_RING(head, tail) (((uint64_t)(head) << 32) | (uint32_t)(tail))
#define FMT_RING_HEAD(r) ((uint32_t)((r) >> 32))
#define FMT_RING_TAIL(r) ((uint32_t)(r))

/* Bytes between tail and head of a ring word, in an arena of size bytes. */
static inline uint64_t
fmt_ring_used(uint64_t ring, uint64_t size)
{
    uint64_t head = (uint64_t)FMT_RING_HEAD(ring) * 8u;
    uint64_t tail = (uint64_t)FMT_RING_TAIL(ring) * 8u;

    return size == 0 ? 0 : (head + size - tail) % size;
}

#define FMT_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uint64_t)(a)-1))
/* Bytes an entry of this shape occupies in the arena. */
#define FMT_ENTRY_SIZE(klen, vlen)                                             \
    FMT_ALIGN_UP(sizeof(struct fmt_entry) + (uint64_t)(klen) +                 \
                     (uint64_t)(vlen),                                         \
                 FMT_UNIT)

/*
 * The two candidate buckets of a key hash, out of nb: the low half of the
 * hash picks the first, the high half (the slot's tag), scrambled, the
 * second; multiplication maps each onto [0, nb) without a power of two.
 * The second depends on the tag alone (unless it collides with the first),
 * so the writer can move an entry without hashing its key again.
 */
static inline uint32_t
fmt_bucket_of_tag(uint32_t tag, uint32_t nb)
{
    return (uint32_t)(((uint64_t)(uint32_t)(tag * 0x9e3779b1u) * nb) >> 32);
}

static inline void
fmt_buckets(uint64_t hash, uint32_t nb, uint32_t *b1, uint32_t *b2)
{
    *b1 = (uint32_t)(((uint64_t)(uint32_t)hash * nb) >> 32);
    *b2 = fmt_bucket_of_tag((uint32_t)(hash >> 32), nb);
    if (*b2 == *b1)
        *b2 = *b1 + 1u == nb ? 0 : *b1 + 1u;
}

_Static_assert(sizeof(struct fmt_header) == 6 * FMT_LINE, "header lines");
_Static_assert(sizeof(struct fmt_header) <= FMT_PAGE, "header fits a page");
_Static_assert(offsetof(struct fmt_header, h_magic) == 0, "magic first");
_Static_assert(offsetof(struct fmt_header, h_version) == 8, "version");
_Static_assert(offsetof(struct fmt_header, h_header_size) == 12, "hsize");
_Static_assert(offsetof(struct fmt_header, h_pad0) == 60, "line 0");
_Static_assert(offsetof(struct fmt_header, h_seed) == 1 * FMT_LINE, "line 1");
_Static_assert(offsetof(struct fmt_header, h_geom_check) == 96, "check");
_Static_assert(offsetof(struct fmt_header, h_state) == 2 * FMT_LINE, "line 2");
_Static_assert(offsetof(struct fmt_header, h_heartbeat_ms) == 136, "hb");
_Static_assert(offsetof(struct fmt_header, h_residency) == 144, "residency");
_Static_assert(offsetof(struct fmt_header, h_entries) == 4 * FMT_LINE,
               "line 4");
_Static_assert(sizeof(struct fmt_bucket) == FMT_LINE, "bucket is a line");
_Static_assert(offsetof(struct fmt_bucket, b_slot) == 8, "slots");
_Static_assert(offsetof(struct fmt_header, h_ring) == 3 * FMT_LINE, "ring");
_Static_assert(offsetof(struct fmt_header, h_seal) == 3 * FMT_LINE + 8, "seal");
_Static_assert(sizeof(struct fmt_entry) == 16, "entry header");
_Static_assert(offsetof(struct fmt_entry, e_vlen) == 4, "e_vlen");
_Static_assert(offsetof(struct fmt_entry, e_klen) == 8, "e_klen");
_Static_assert(offsetof(struct fmt_entry, e_lcheck) == 10, "e_lcheck");
_Static_assert(offsetof(struct fmt_entry, e_exp_lo) == 12, "e_exp_lo");
_Static_assert(FMT_VALUE_MAX <= FMT_VLEN_MASK, "value length fits e_vlen");
_Static_assert(FMT_ENTRY_SIZE(FMT_KEY_MAX, FMT_VALUE_MAX) <= FMT_VLEN_MASK,
               "a pad as large as the largest entry fits e_vlen");
_Static_assert(FMT_KEY_MAX <= UINT16_MAX, "key length fits e_klen");
_Static_assert(FMT_MAX_BUCKETS <= (1u << 30), "a hint holds a bucket");
_Static_assert(FMT_ENTRY_SIZE(FMT_KEY_MAX, FMT_VALUE_MAX) * 8 < (1ULL << 31),
               "CRC-32C keeps Hamming distance 4 over the largest entry");
/* Cross-process atomics must not fall back to a process-local lock. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics lock-free");

#endif /* SHMC_FORMAT_H */
