/*
 * hash.h -- the seeded key hash and the entry checksum.
 *
 * hash_key() is SipHash-1-3 keyed with the table's random 128-bit seed
 * (h_seed): a client that does not know the seed cannot aim many keys at
 * one bucket (glibc nscd's unseeded hash let one user flood a chain).
 * hash_siphash() exposes the round counts so the test suite can check the
 * implementation against SipHash-2-4's published vectors.
 *
 * The checksum (struct hcheck) is not keyed and not cryptographic: it makes
 * random damage to an entry visible.  Each 64-bit word w_i contributes
 * (w_i ^ k_i) * C with a position-dependent k_i and an odd C, summed; so any
 * change confined to one word is always detected, and the per-word products
 * are independent, which lets the reader fold the checksum into its copy
 * loop at close to memcpy speed.
 */
#ifndef SHMC_HASH_H
#define SHMC_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HCHECK_MUL 0xff51afd7ed558ccdULL
#define HCHECK_STEP 0x9e3779b97f4a7c15ULL

struct hcheck {
    uint64_t acc;
    uint64_t k;
};

uint64_t hash_siphash(const uint64_t seed[2], const void *data, size_t len,
                      int crounds, int drounds);
uint64_t hash_key(const uint64_t seed[2], const void *key, size_t len);
uint64_t hash_check_bytes(const void *data, size_t len);

/* Start a checksum. */
static inline void
hcheck_init(struct hcheck *c)
{
    c->acc = 0;
    c->k = HCHECK_STEP;
}

/* Add one 64-bit word. */
static inline void
hcheck_word(struct hcheck *c, uint64_t w)
{
    c->acc += (w ^ c->k) * HCHECK_MUL;
    c->k += HCHECK_STEP;
}

/* Add n bytes of private memory, the tail zero-extended to a word. */
static inline void
hcheck_bytes(struct hcheck *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t w;

    for (; n >= 8; n -= 8, p += 8) {
        memcpy(&w, p, 8);
        hcheck_word(c, w);
    }
    if (n > 0) {
        w = 0;
        memcpy(&w, p, n);
        hcheck_word(c, w);
    }
}

/* Finish: avalanche the sum so that nearby sums give unrelated results. */
static inline uint64_t
hcheck_final(const struct hcheck *c)
{
    uint64_t x = c->acc;

    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 29;
    x *= HCHECK_MUL;
    x ^= x >> 32;
    return x;
}

#endif /* SHMC_HASH_H */
