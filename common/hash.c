/* SPDX-License-Identifier: MIT */
/*
 * hash.c -- SipHash for the seeded key hash (see hash.h for why SipHash).
 *
 * Written from the SipHash paper (Aumasson and Bernstein, 2012): four 64-bit
 * lanes initialised from the key and four constants, each 8-byte
 * little-endian message word absorbed with c compression rounds, a last
 * word that carries the length in its top byte, then d finalisation rounds.
 * Pure functions: no state, no allocation, safe from any thread.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "hash.h"

/* Rotate left. */
static inline uint64_t
rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* One SipRound over the four lanes. */
static inline void
sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

/* Read a little-endian 64-bit word from unaligned memory.  One load on a
 * little-endian host (the byte loop this replaces was not merged into one
 * by gcc: 40 instructions a word, a sixth of a lookup's). */
static inline uint64_t
load_le64(const unsigned char *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/*
 * SipHash-c-d of data under a 128-bit key given as two little-endian words.
 * Always inlined, so each caller's constant round counts unroll.
 */
static inline __attribute__((always_inline)) uint64_t
siphash(const uint64_t seed[2], const void *data, size_t len, int crounds,
        int drounds)
{
    const unsigned char *p = data;
    uint64_t v[4], m;
    size_t left = len;
    int i;

    v[0] = seed[0] ^ 0x736f6d6570736575ULL;
    v[1] = seed[1] ^ 0x646f72616e646f6dULL;
    v[2] = seed[0] ^ 0x6c7967656e657261ULL;
    v[3] = seed[1] ^ 0x7465646279746573ULL;

    for (; left >= 8; left -= 8, p += 8) {
        m = load_le64(p);
        v[3] ^= m;
        for (i = 0; i < crounds; i++)
            sip_round(v);
        v[0] ^= m;
    }
    m = (uint64_t)(len & 0xff) << 56;
    for (i = (int)left - 1; i >= 0; i--)
        m |= (uint64_t)p[i] << (8 * i);
    v[3] ^= m;
    for (i = 0; i < crounds; i++)
        sip_round(v);
    v[0] ^= m;

    v[2] ^= 0xff;
    for (i = 0; i < drounds; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* SipHash with the given round counts (the test suite checks 2-4). */
uint64_t
hash_siphash(const uint64_t seed[2], const void *data, size_t len, int crounds,
             int drounds)
{
    return siphash(seed, data, len, crounds, drounds);
}

/* The table's key hash: SipHash-1-3 under the table seed. */
uint64_t
hash_key(const uint64_t seed[2], const void *key, size_t len)
{
    return siphash(seed, key, len, 1, 3);
}
