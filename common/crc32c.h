/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum of table entries and of
 * the table header, and CRC-8 for an entry's length fields.
 *
 * Why CRC-32C: over any message shorter than 2^31 bits it detects every
 * error of up to 3 flipped bits (Hamming distance 4), and random damage
 * with probability 1 - 2^-32; the additive checksum of format 1 missed two
 * flips of the same bit in two words.  x86-64 computes it with the SSE4.2
 * crc32 instruction, 8 bytes per instruction; elsewhere a table does.
 *
 * The checksum is folded one 64-bit word at a time, the way the reader
 * copies an entry out of shared memory: crc32c_word() on each word,
 * starting from CRC32C_INIT, and crc32c_final() at the end.  The platform
 * test lives in crc32c.c, nowhere else.
 */
#ifndef SHMC_CRC32C_H
#define SHMC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define CRC32C_INIT 0xffffffffu

/* Fold n 64-bit words (read with relaxed atomic loads: src may be shared
 * memory that another process writes) into crc; if dst is not NULL, copy
 * them there as well.  Returns the new running value. */
uint32_t crc32c_words(uint32_t crc, void *dst, const void *src, size_t n);
/* The same by table, whatever the CPU has (for the tests). */
uint32_t crc32c_words_portable(uint32_t crc, void *dst, const void *src,
                               size_t n);
/* Fold n bytes of private memory, the last word zero-extended. */
uint32_t crc32c_bytes(uint32_t crc, const void *src, size_t n);
/* Fold one 64-bit word. */
uint32_t crc32c_word(uint32_t crc, uint64_t w);
/* Whether the hardware instruction is in use (for the benchmark). */
int crc32c_hardware(void);

/* The final value of a running CRC. */
static inline uint32_t
crc32c_final(uint32_t crc)
{
    return crc ^ 0xffffffffu;
}

/* CRC-8 (polynomial 0x2f) over n bytes: Hamming distance 4 over the 56
 * bits of an entry's length fields and itself (check_entry.c proves it
 * exhaustively). */
uint8_t crc8(const void *src, size_t n);

#endif /* SHMC_CRC32C_H */
