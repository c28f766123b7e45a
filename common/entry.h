/* SPDX-License-Identifier: MIT */
/*
 * entry.h -- what the bytes of an arena entry mean, and when an entry is
 * sound: the one definition that the reader (table.c), the writer
 * (daemon/store.c), the evictor (daemon/evict.c) and the verifier
 * (daemon/verify.c) all use.  Two definitions would be two formats.
 *
 * An entry is 16 bytes of header, the key, the value, and zeros up to the
 * next 8-byte unit.  Read as two little-endian 64-bit words:
 *
 *   word 0  bits  0-31  e_check   CRC-32C of the whole entry (header, key,
 *                                 value, padding) with these 32 bits zero
 *           bits 32-59  value length (a pad: its size in bytes)
 *           bits 60-63  flags: FMT_ENTRY_PAD, FMT_ENTRY_NEGATIVE
 *   word 1  bits  0-15  key length, 1..FMT_KEY_MAX
 *           bits 16-23  e_lcheck  CRC-8 of bytes 4-9 (value length, flags,
 *                                 key length)
 *           bits 24-63  expiry, signed ms from the table's epoch; 0 never
 *
 * Why two checks: CRC-32C catches any 3 flipped bits in a message of fixed
 * length, but a flipped length bit changes which bytes are checked; the
 * CRC-8 catches any 3 flipped bits among the length fields on its own
 * (check_entry.c proves both), so together no error of up to 3 bits goes
 * unseen, and random damage passes with probability about 2^-32.
 *
 * A sound entry (entry_sound()): not a pad, no unknown flag, a negative
 * entry has no value, key and value lengths within the table's limits,
 * the CRC-8 matches, and it ends inside the arena.  The reader also checks
 * the CRC-32C of every entry it returns; the writer and the evictor check
 * only the header (following a slot must stay cheap), the verifier both.
 */
#ifndef SHMC_ENTRY_H
#define SHMC_ENTRY_H

#include <stdint.h>

#include "crc32c.h"
#include "format.h"

/* entry_sound() verdicts */
#define ENTRY_OK 0
#define ENTRY_IS_PAD 1 /* a ring pad: not an entry, skip its size */
#define ENTRY_BAD 2    /* damaged */

/* An entry header, decoded. */
struct entry_head {
    uint64_t w0, w1;    /* the words as read */
    uint32_t flags;     /* FMT_ENTRY_* */
    uint32_t klen;      /* 0 for a pad */
    uint32_t vlen;      /* value length; a pad: its size */
    uint32_t check;     /* e_check */
    uint64_t expiry_ms; /* absolute, CLOCK_REALTIME ms; 0 = never */
    uint64_t size;      /* bytes the entry occupies */
};

/* What a table allows (a private copy of validated header fields). */
struct entry_limits {
    uint64_t arena_size;
    uint64_t epoch_ms;
    uint32_t max_key;
    uint32_t max_value;
};

/* The CRC-8 an entry with these length words must carry. */
static inline uint8_t
entry_lcheck(uint32_t vlen_word, uint32_t klen)
{
    unsigned char b[6] = {(unsigned char)vlen_word,
                          (unsigned char)(vlen_word >> 8),
                          (unsigned char)(vlen_word >> 16),
                          (unsigned char)(vlen_word >> 24),
                          (unsigned char)klen,
                          (unsigned char)(klen >> 8)};

    return crc8(b, sizeof(b));
}

/*
 * Expiry as stored: a signed 40-bit count of ms from the table's epoch
 * (about +-17.4 years, clamped), so that entries written with a clock set
 * before the table was created keep their exact expiry; 0 means never, so
 * an expiry exactly at the epoch is stored 1 ms earlier.
 */
static inline uint64_t
entry_expiry_encode(uint64_t expiry_ms, uint64_t epoch_ms)
{
    int64_t rel;

    if (expiry_ms == 0)
        return 0;
    rel = (int64_t)(expiry_ms - epoch_ms);
    if (rel > FMT_EXPIRY_REL_MAX)
        rel = FMT_EXPIRY_REL_MAX;
    else if (rel < -FMT_EXPIRY_REL_MAX)
        rel = -FMT_EXPIRY_REL_MAX;
    else if (rel == 0)
        rel = -1;
    return (uint64_t)rel & FMT_EXPIRY_MASK;
}

/* The absolute expiry (0: never) of a stored one. */
static inline uint64_t
entry_expiry_decode(uint64_t x, uint64_t epoch_ms)
{
    int64_t rel;

    if (x == 0)
        return 0;
    /* Sign-extend 40 bits. */
    rel = (int64_t)(x << 24) >> 24;
    if (rel < 0 && (uint64_t)-rel >= epoch_ms)
        return 1; /* before the clock's zero: long past */
    return epoch_ms + (uint64_t)rel;
}

/* The two header words of an entry (e_check zero). */
static inline void
entry_encode(uint32_t klen, uint32_t vlen, uint32_t flags, uint64_t expiry_ms,
             uint64_t epoch_ms, uint64_t *w0, uint64_t *w1)
{
    uint32_t vw = vlen | flags << FMT_VLEN_BITS;

    *w0 = (uint64_t)vw << 32;
    *w1 = (uint64_t)klen | (uint64_t)entry_lcheck(vw, klen) << 16 |
          entry_expiry_encode(expiry_ms, epoch_ms) << 24;
}

/* The first word of a pad of size bytes. */
static inline uint64_t
entry_pad_word(uint64_t size)
{
    return (uint64_t)((uint32_t)size | FMT_ENTRY_PAD << FMT_VLEN_BITS) << 32;
}

/* Decode an entry header (w1 is not looked at for a pad). */
static inline void
entry_decode(uint64_t w0, uint64_t w1, uint64_t epoch_ms, struct entry_head *h)
{
    uint32_t vw = (uint32_t)(w0 >> 32);
    uint64_t exp = w1 >> 24;

    h->w0 = w0;
    h->w1 = w1;
    h->check = (uint32_t)w0;
    h->flags = vw >> FMT_VLEN_BITS;
    h->vlen = vw & FMT_VLEN_MASK;
    if (h->flags & FMT_ENTRY_PAD) {
        h->klen = 0;
        h->expiry_ms = 0;
        h->size = h->vlen;
        return;
    }
    h->klen = (uint16_t)w1;
    h->expiry_ms = entry_expiry_decode(exp, epoch_ms);
    h->size = FMT_ENTRY_SIZE(h->klen, h->vlen);
}

/*
 * Judge a decoded header found at arena offset off: ENTRY_OK, ENTRY_IS_PAD
 * (a pad that fits: skip h->size bytes) or ENTRY_BAD.  off itself must be
 * in the arena and at least 8 bytes before its end; the caller loads w1
 * only if 16 bytes remain, and passes 0 otherwise (only a pad fits).
 */
static inline int
entry_sound(const struct entry_head *h, uint64_t off,
            const struct entry_limits *l)
{
    if (h->flags & FMT_ENTRY_PAD)
        return h->flags == FMT_ENTRY_PAD && h->size >= FMT_UNIT &&
                       h->size % FMT_UNIT == 0 && h->size <= l->arena_size - off
                   ? ENTRY_IS_PAD
                   : ENTRY_BAD;
    if ((h->flags & ~FMT_ENTRY_USER_MASK) != 0 || h->klen == 0 ||
        h->klen > l->max_key || h->vlen > l->max_value ||
        ((h->flags & FMT_ENTRY_NEGATIVE) && h->vlen != 0) ||
        (uint8_t)(h->w1 >> 16) !=
            entry_lcheck((uint32_t)(h->w0 >> 32), h->klen) ||
        h->size > l->arena_size - off)
        return ENTRY_BAD;
    return ENTRY_OK;
}

/* Start the CRC-32C of an entry: its header with e_check zero. */
static inline uint32_t
entry_crc_start(uint64_t w0, uint64_t w1)
{
    return crc32c_word(crc32c_word(CRC32C_INIT, w0 & ~(uint64_t)UINT32_MAX),
                       w1);
}

/* Whether an entry has expired at now_ms. */
static inline int
entry_expired(const struct entry_head *h, uint64_t now_ms)
{
    return h->expiry_ms != 0 && h->expiry_ms <= now_ms;
}

uint32_t entry_crc(const struct entry_head *h, const void *payload);

#endif /* SHMC_ENTRY_H */
