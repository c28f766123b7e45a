/* SPDX-License-Identifier: MIT */
/*
 * index.h -- the writer's operations on a table's buckets (daemon only).
 */
#ifndef SHMC_INDEX_H
#define SHMC_INDEX_H

#include <stdint.h>

#include "store.h"

const unsigned char *index_entry(const struct store *s, uint64_t slot,
                                 struct entry_head *h);
int index_entry_at(const struct store *s, uint64_t off, struct entry_head *h);
uint64_t index_key_hash(const struct store *s, const unsigned char *e,
                        const struct entry_head *h);
int index_find(const struct store *s, uint64_t hash, const void *key,
               uint32_t klen, uint32_t *bucket, uint32_t *slot,
               struct entry_head *h);
int index_find_pos(const struct store *s, uint64_t hash, uint32_t pos,
                   uint32_t *bucket, uint32_t *slot);
void index_store_slot(struct store *s, uint32_t bucket, uint32_t slot,
                      uint64_t v);
void index_unlink(struct store *s, uint32_t bucket, uint32_t slot, int why);
uint32_t index_free_slot(const struct store *s, uint32_t bucket);
void index_clear(struct store *s);
int index_relocate(struct store *s, uint32_t b1, uint32_t b2, uint32_t *bucket,
                   uint32_t *slot);

#endif /* SHMC_INDEX_H */
