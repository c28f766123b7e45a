/* SPDX-License-Identifier: MIT */
/*
 * testutil.h -- helpers shared by the Check suites: private temp dirs and
 * self-checking values.
 *
 * A self-checking value names its own key and version and ends in a
 * checksum of everything before it, so a reader that gets a torn value
 * (bytes of two versions) or another key's value can tell from the bytes
 * alone.
 *
 * Tests wait for conditions, never for a guessed time: poll, bounded by a
 * deadline, so a busy machine makes a test slower but not wrong.
 *
 *     double end = tu_deadline(10);
 *     while (!condition && tu_poll(end))
 *         ;
 *     ck_assert(condition);
 */
#ifndef SHMC_TESTUTIL_H
#define SHMC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a self-checking value needs beyond the key. */
#define TU_VALUE_OVERHEAD 16u

char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
char *tu_path(const char *dir, const char *name);
size_t tu_key(char *buf, size_t size, uint64_t i);
void tu_value(void *buf, size_t vlen, const void *key, size_t klen,
              uint64_t version);
int tu_value_ok(const void *buf, size_t vlen, const void *key, size_t klen,
                uint64_t *version);
uint64_t tu_rand(uint64_t *state);
double tu_now(void);
double tu_deadline(double seconds);
int tu_poll(double end);
unsigned tu_env_uint(const char *name, unsigned dflt);

#endif
