/* SPDX-License-Identifier: MIT */
/*
 * residency.h -- keep a table in memory as its config asks: prefaulted,
 * locked, on huge pages (daemon only; the reader's half is mapping.c).
 */
#ifndef SHMC_RESIDENCY_H
#define SHMC_RESIDENCY_H

#include <stdint.h>

#include "store.h"

/* struct residency.huge */
#define RESIDENCY_HUGE_OFF 0         /* not asked for */
#define RESIDENCY_HUGE_ON 1          /* the whole table is on huge pages */
#define RESIDENCY_HUGE_PARTIAL 2     /* some of it */
#define RESIDENCY_HUGE_UNAVAILABLE 3 /* none: why[] says why */

/* What residency_apply() did to one store; zero it for a new store. */
struct residency {
    uint32_t want;        /* FMT_RES_* asked for */
    uint32_t have;        /* FMT_RES_* in effect, published in h_residency */
    int huge;             /* RESIDENCY_HUGE_* */
    const char *huge_via; /* "hugetlbfs", "tmpfs", or "" */
    uint64_t huge_bytes;  /* bytes on huge pages, measured when applied */
    uint64_t ms;          /* how long applying took */
    char why[320];        /* what asked for is not in effect, and why */
};

int residency_apply(struct store *s, uint32_t want, struct residency *r);
int residency_huge_bytes(const struct store *s, uint64_t *bytes);
const char *residency_huge_name(int huge);
const char *residency_shmem_thp(char *buf, size_t size);

#endif /* SHMC_RESIDENCY_H */
