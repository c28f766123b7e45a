/* SPDX-License-Identifier: MIT */
/*
 * hash.h -- the seeded key hash.
 *
 * hash_key() is SipHash-1-3 keyed with the table's random 128-bit seed
 * (h_seed): a client that does not know the seed cannot aim many keys at
 * one bucket (glibc nscd's unseeded hash let one user flood a chain).
 * hash_siphash() exposes the round counts so the test suite can check the
 * implementation against SipHash-2-4's published vectors.
 *
 * (Entry checksums are CRC-32C: crc32c.h.)
 */
#ifndef SHMC_HASH_H
#define SHMC_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint64_t hash_siphash(const uint64_t seed[2], const void *data, size_t len,
                      int crounds, int drounds);
uint64_t hash_key(const uint64_t seed[2], const void *key, size_t len);

#endif /* SHMC_HASH_H */
