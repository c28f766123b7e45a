/*
 * format.h -- THE mapped layout of a shmcache table file.
 *
 * A table file is three regions, all at offsets recorded in the header:
 *
 *   [ header: one page ][ index: nbuckets x 64-byte buckets ][ arena ]
 *
 * The header says what the file is (magic, format version, header size) and
 * its geometry; the geometry is written once, at creation, and covered by a
 * checksum so that a reader can tell a damaged header from a valid one.
 * Each bucket is one cache line: a sequence counter (the seqlock of
 * DESIGN.md section 3) and FMT_SLOTS slots.  A slot packs a 32-bit tag taken
 * from the key hash with the position of an entry in the arena, so a lookup
 * touches one bucket line and then the one entry whose tag matches.  The
 * arena is a ring of entries in insertion order (see daemon/evict.c), each
 * aligned to FMT_UNIT bytes: a fixed header, the key padded to 8 bytes, then
 * the value.
 *
 * Rules: fixed-width integers only, explicit padding, offsets never
 * pointers, every size and offset pinned by _Static_assert.  Fields shared
 * between the writer and readers are accessed with __atomic builtins (see
 * seqlock.h).  Changing anything here is a format change: bump
 * FMT_VERSION.  The file is host-endian; the magic doubles as a byte-order
 * check (a file from the other endianness fails the magic test).
 */
#ifndef SHMC_FORMAT_H
#define SHMC_FORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* "SHMCACHE" read as a little-endian 64-bit word. */
#define FMT_MAGIC 0x45484341434d4853ULL
#define FMT_VERSION 1u

#define FMT_PAGE 4096u
#define FMT_LINE 64u
#define FMT_SLOTS 7u
/* Arena granularity: entries start on and span multiples of this. */
#define FMT_UNIT 16u
/* A slot's position field counts units, so this bounds the arena. */
#define FMT_ARENA_MAX ((uint64_t)UINT32_MAX * FMT_UNIT)
/* Smallest useful table: the header, 2 buckets, and 4 KiB of arena. */
#define FMT_MIN_BUCKETS 2u
#define FMT_MAX_BUCKETS (1u << 30)
/* Hard limits of the format; a table may configure lower ones. */
#define FMT_KEY_MAX 4096u
#define FMT_VALUE_MAX (1u << 30)

/* h_state */
#define FMT_STATE_ALIVE 1u
#define FMT_STATE_RETIRED 2u

/* e_flags */
#define FMT_ENTRY_PAD 0x1u      /* ring filler up to the arena end */
#define FMT_ENTRY_NEGATIVE 0x2u /* cached "known absent"; no value */
#define FMT_ENTRY_USER_MASK FMT_ENTRY_NEGATIVE

/*
 * The header.  Line 0 and line 1 are written once at creation; line 2 is the
 * writer's ring state (persisted so that a restart can reuse the table);
 * lines 3 and up hold counters, each group on its own line so that readers
 * polling one do not share a line with the writer's hot stores.
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
    uint64_t h_created_ms;
    uint64_t h_geom_check; /* hash_check over line 0, line 1 up to here */
    uint64_t h_pad1[3];
    /* line 2: liveness, read by readers on every lookup */
    uint32_t h_state;        /* FMT_STATE_*, atomic */
    uint32_t h_clean;        /* 1 while no writer has the table open */
    uint64_t h_heartbeat_ms; /* atomic; refreshed by the daemon */
    uint64_t h_pad2[6];
    /* line 3: the writer's ring (atomic; readers only report it) */
    uint64_t h_ring_head; /* arena offset where the next entry goes */
    uint64_t h_ring_tail; /* arena offset of the oldest entry */
    uint64_t h_ring_used; /* bytes between tail and head */
    uint64_t h_pad3[5];
    /* line 4: gauges and counters (atomic; writer stores, anyone reads) */
    uint64_t h_entries; /* live (linked) entries */
    uint64_t h_sets;
    uint64_t h_deletes;
    uint64_t h_evictions;   /* live entries dropped to make room */
    uint64_t h_expirations; /* entries dropped because they expired */
    uint64_t h_relocations; /* entries moved to their second bucket */
    uint64_t h_pad4[2];
};

struct fmt_bucket {
    /* seqlock; odd while the writer changes the bucket.  64 bits, so a
     * reader stalled mid-lookup never sees it wrap back to its value. */
    uint64_t b_seq;
    uint64_t b_slot[FMT_SLOTS]; /* FMT_SLOT(tag, pos); 0 = empty */
};

/*
 * An entry in the arena.  e_size and e_flags come first so that a ring pad
 * (which may be as short as one FMT_UNIT) is readable with the same struct.
 * e_check covers klen, vlen, user flags, hash, expiry, key and value
 * (entry_check() in table.c computes it the same way on both sides).
 */
struct fmt_entry {
    uint32_t e_size;  /* bytes this entry occupies, multiple of FMT_UNIT */
    uint32_t e_flags; /* FMT_ENTRY_* */
    uint32_t e_klen;
    uint32_t e_vlen;
    uint64_t e_hash;      /* full seeded key hash */
    uint64_t e_expiry_ms; /* absolute, CLOCK_REALTIME ms; 0 = never */
    uint64_t e_check;
    /* key, padded to 8 bytes, then value */
};

/* A slot holds the tag in its high half and unit position + 1 below. */
#define FMT_SLOT(tag, pos) (((uint64_t)(tag) << 32) | ((pos) + 1u))
#define FMT_SLOT_TAG(s) ((uint32_t)((s) >> 32))
#define FMT_SLOT_POS(s) ((uint32_t)(s)-1u)

#define FMT_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uint64_t)(a)-1))
/* Offset of the value inside an entry. */
#define FMT_VALUE_OFF(klen)                                                    \
    (sizeof(struct fmt_entry) + FMT_ALIGN_UP((uint64_t)(klen), 8))
/* Bytes an entry of this shape occupies in the arena. */
#define FMT_ENTRY_SIZE(klen, vlen)                                             \
    FMT_ALIGN_UP(FMT_VALUE_OFF(klen) + (uint64_t)(vlen), FMT_UNIT)

_Static_assert(sizeof(struct fmt_header) == 5 * FMT_LINE, "header lines");
_Static_assert(sizeof(struct fmt_header) <= FMT_PAGE, "header fits a page");
_Static_assert(offsetof(struct fmt_header, h_magic) == 0, "magic first");
_Static_assert(offsetof(struct fmt_header, h_version) == 8, "version");
_Static_assert(offsetof(struct fmt_header, h_header_size) == 12, "hsize");
_Static_assert(offsetof(struct fmt_header, h_pad0) == 60, "line 0");
_Static_assert(offsetof(struct fmt_header, h_seed) == 1 * FMT_LINE, "line 1");
_Static_assert(offsetof(struct fmt_header, h_geom_check) == 96, "check");
_Static_assert(offsetof(struct fmt_header, h_state) == 2 * FMT_LINE, "line 2");
_Static_assert(offsetof(struct fmt_header, h_heartbeat_ms) == 136, "hb");
_Static_assert(offsetof(struct fmt_header, h_ring_head) == 3 * FMT_LINE,
               "line 3");
_Static_assert(offsetof(struct fmt_header, h_entries) == 4 * FMT_LINE,
               "line 4");
_Static_assert(sizeof(struct fmt_bucket) == FMT_LINE, "bucket is a line");
_Static_assert(offsetof(struct fmt_bucket, b_slot) == 8, "slots");
_Static_assert(sizeof(struct fmt_entry) == 40, "entry header");
_Static_assert(offsetof(struct fmt_entry, e_hash) == 16, "e_hash");
_Static_assert(offsetof(struct fmt_entry, e_check) == 32, "e_check");
_Static_assert(FMT_VALUE_OFF(1) % 8 == 0, "value is word aligned");
_Static_assert(FMT_ENTRY_SIZE(FMT_KEY_MAX, FMT_VALUE_MAX) < UINT32_MAX,
               "e_size holds the largest entry");
/* Cross-process atomics must not fall back to a process-local lock. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics lock-free");

#endif /* SHMC_FORMAT_H */
