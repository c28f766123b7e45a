/* SPDX-License-Identifier: MIT */
/*
 * evict.h -- the arena ring: what leaves a table, and when.
 */
#ifndef SHMC_EVICT_H
#define SHMC_EVICT_H

#include <stdint.h>

#include "store.h"

int evict_make_room(struct store *s, uint64_t need, uint64_t now_ms);
void evict_advance_head(struct store *s, uint64_t size);
uint32_t evict_victim(const struct store *s, uint32_t b1, uint32_t b2,
                      uint32_t *bucket);
uint64_t evict_expired(struct store *s, uint64_t now_ms, uint32_t nbuckets);

#endif /* SHMC_EVICT_H */
