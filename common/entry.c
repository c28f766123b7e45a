/* SPDX-License-Identifier: MIT */
/*
 * entry.c -- the checksum of an entry in memory (see entry.h).
 *
 * Used by the writer after it has written an entry, by the verifier and by
 * table walks.  The lock-free lookup in table.c folds the same words in the
 * same order while it compares and copies (check_entry.c tests that the two
 * agree for every length).
 */
#include "config.h"

#include <stdint.h>

#include "entry.h"

/* The CRC-32C an entry with header h and this payload (key, then value)
 * must carry; the payload is read with relaxed loads. */
uint32_t
entry_crc(const struct entry_head *h, const void *payload)
{
    uint64_t n = (uint64_t)h->klen + h->vlen, w;
    const unsigned char *p = payload;
    uint32_t crc = entry_crc_start(h->w0, h->w1);

    crc = crc32c_words(crc, NULL, p, (size_t)(n / 8));
    if (n % 8 != 0) {
        /* ORDERING: relaxed; as in crc32c_words(). */
        w = __atomic_load_n((const uint64_t *)(p + n / 8 * 8),
                            __ATOMIC_RELAXED);
        w &= (1ULL << (n % 8 * 8)) - 1u;
        crc = crc32c_word(crc, w);
    }
    return crc32c_final(crc);
}
