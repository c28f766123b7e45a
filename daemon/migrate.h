/* SPDX-License-Identifier: MIT */
/*
 * migrate.h -- build a table from the live entries of another: a resize
 * (geometry changed) or a format 1 conversion.
 */
#ifndef SHMC_MIGRATE_H
#define SHMC_MIGRATE_H

#include <stdint.h>

#include "store.h"

/* Where the entries come from, and what became of them. */
struct migrate_src {
    const struct store *from; /* a format 2 table, or NULL for ... */
    const unsigned char *v1;  /* ... a format 1 file mapped read-only */
    uint64_t v1_size;
    uint64_t now_ms;
    uint64_t found;   /* live, sound entries in the source */
    uint64_t kept;    /* of those, in the new table */
    uint64_t damaged; /* entries that failed their checks, skipped */
};

int migrate_fill(struct store *dst, void *arg, char *why, size_t whylen);
int migrate_v1_valid(const unsigned char *base, uint64_t size, char *why,
                     size_t whylen);

#endif /* SHMC_MIGRATE_H */
