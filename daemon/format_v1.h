/* SPDX-License-Identifier: MIT */
/*
 * format_v1.h -- the mapped layout of format 1 tables, kept only so that
 * migrate.c can convert them (and the tests can make them).  Nothing here
 * is ever written by the daemon.
 *
 * Format 1: a 320-byte header (same line 0 as format 2, line 1 with the
 * seed, generation, creation time and a checksum of lines 0-1, h_state at
 * byte 128, the ring as three byte offsets on line 3); a power-of-two
 * count of 64-byte buckets of 7 slots (tag << 32 | 16-byte unit + 1); and
 * 16-byte aligned entries of a 40-byte header, the key padded to 8 bytes,
 * then the value.  Its checksum is a sum of per-word products (why it was
 * replaced: two flips of one bit in two words cancel).
 */
#ifndef SHMC_FORMAT_V1_H
#define SHMC_FORMAT_V1_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define V1_VERSION 1u
#define V1_UNIT 16u
#define V1_HEADER_SIZE 320u
#define V1_ENTRY_PAD 0x1u
#define V1_ENTRY_NEGATIVE 0x2u

struct v1_header {
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
    uint64_t h_seed[2];
    uint64_t h_generation;
    uint64_t h_created_ms;
    uint64_t h_geom_check;
    uint64_t h_pad1[3];
    uint32_t h_state;
    uint32_t h_clean;
    uint64_t h_heartbeat_ms;
    uint64_t h_pad2[6];
    uint64_t h_ring_head, h_ring_tail, h_ring_used;
    uint64_t h_pad3[5];
    uint64_t h_counters[8];
};

struct v1_entry {
    uint32_t e_size;
    uint32_t e_flags;
    uint32_t e_klen;
    uint32_t e_vlen;
    uint64_t e_hash;
    uint64_t e_expiry_ms;
    uint64_t e_check;
};

_Static_assert(sizeof(struct v1_header) == V1_HEADER_SIZE, "v1 header");
_Static_assert(offsetof(struct v1_header, h_state) == 128, "v1 state");
_Static_assert(sizeof(struct v1_entry) == 40, "v1 entry");

#define V1_VALUE_OFF(klen) (sizeof(struct v1_entry) + (((klen) + 7u) & ~7u))
#define V1_ENTRY_SIZE(klen, vlen)                                              \
    ((V1_VALUE_OFF(klen) + (uint64_t)(vlen) + V1_UNIT - 1) & ~(uint64_t)15)

/* The format 1 checksum of n bytes folded into (*acc, *k). */
static inline void
v1_check_bytes(uint64_t *acc, uint64_t *k, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t w;

    for (; n > 0; n -= n < 8 ? n : 8, p += 8) {
        w = 0;
        memcpy(&w, p, n < 8 ? n : 8);
        *acc += (w ^ *k) * 0xff51afd7ed558ccdULL;
        *k += 0x9e3779b97f4a7c15ULL;
    }
}

/* Its final mix. */
static inline uint64_t
v1_check_final(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 29;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 32;
    return x;
}

/* The checksum a format 1 entry with these contents carries. */
static inline uint64_t
v1_entry_check(const struct v1_entry *e, const void *key, const void *value)
{
    uint64_t acc = 0, k = 0x9e3779b97f4a7c15ULL;
    uint64_t w[4] = {(uint64_t)e->e_klen | (uint64_t)e->e_vlen << 32,
                     e->e_flags & V1_ENTRY_NEGATIVE, e->e_hash, e->e_expiry_ms};

    v1_check_bytes(&acc, &k, w, sizeof(w));
    v1_check_bytes(&acc, &k, key, e->e_klen);
    v1_check_bytes(&acc, &k, value, e->e_vlen);
    return v1_check_final(acc);
}

/* The checksum of a format 1 header (lines 0 and 1 up to h_geom_check). */
static inline uint64_t
v1_geom_check(const struct v1_header *h)
{
    uint64_t acc = 0, k = 0x9e3779b97f4a7c15ULL;

    v1_check_bytes(&acc, &k, h, offsetof(struct v1_header, h_geom_check));
    return v1_check_final(acc);
}

#endif /* SHMC_FORMAT_V1_H */
