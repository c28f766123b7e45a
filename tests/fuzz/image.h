/* SPDX-License-Identifier: MIT */
/*
 * image.h -- the table image fuzz_table and fuzz_verify damage: a 64 KiB
 * table holding IMAGE_KEYS keys with self-checking values, built once, and
 * the patch format of their inputs.
 */
#ifndef SHMC_FUZZ_IMAGE_H
#define SHMC_FUZZ_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGE_KEYS 200
#define IMAGE_NOW 1700000000000ULL

/* Bytes of the value stored under key i. */
#define IMAGE_VLEN(i) (40u + (unsigned)((i) % 200))

size_t image_build(const char *path, unsigned char **pristine);
void image_patch(unsigned char *image, size_t image_size, const uint8_t *data,
                 size_t size);
int image_value_ok(const void *buf, size_t n, const char *key, uint64_t i);

#endif
