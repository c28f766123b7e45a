/* SPDX-License-Identifier: MIT */
/*
 * hints.h -- readers' hit hints, drained into the writer's frequency
 * counts (format.h describes the hint area).
 */
#ifndef SHMC_HINTS_H
#define SHMC_HINTS_H

#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/* Most hint areas per table, and per uid within a table. */
#define HINTS_MAX 256u
#define HINTS_PER_UID 16u
/* An area without a hit for this long is let go. */
#define HINTS_IDLE_MS (10u * 60u * 1000u)

struct hint_area {
    uint64_t *w; /* FMT_HINT_WORDS words, shared with one reader */
    dev_t dev;   /* the memfd's identity: given twice, kept once */
    ino_t ino;
    uid_t uid;           /* who registered it */
    uint64_t last_ms;    /* when it last held a hint */
    uint64_t seen[2];    /* its hit and miss counts, as last added */
    uint64_t counted_ms; /* when they were (CLOCK_MONOTONIC) */
};

struct hints {
    struct hint_area a[HINTS_MAX];
    unsigned n;
    uint64_t drained; /* hints applied, ever */
    uint64_t stale;   /* hints that matched no slot (stale or forged) */
    uint64_t hits;    /* readers' lock-free hits, as their areas report */
    uint64_t misses;  /* ... and misses */
};

int hints_add(struct hints *hs, int fd, uid_t uid, uint64_t now_ms);
uint64_t hints_drain(struct hints *hs, struct store *s, uint64_t now_ms);
void hints_count(struct hints *hs);
void hints_free(struct hints *hs);

#endif /* SHMC_HINTS_H */
