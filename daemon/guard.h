/* SPDX-License-Identifier: MIT */
/*
 * guard.h -- surviving a SIGBUS from a table mapping whose file shrank
 * (guard.c has the whole story).
 *
 * Use, in a function of its own that holds no lock and no allocation
 * across the guarded calls:
 *
 *     struct guard g;
 *
 *     if (sigsetjmp(g.env, 0) != 0)
 *         return -1;               (a page of the mapping faulted)
 *     guard_arm(&g, st->base, st->size);
 *     ... touch the mapping ...
 *     guard_disarm(&g);
 *     return 0;
 */
#ifndef SHMC_GUARD_H
#define SHMC_GUARD_H

#include <setjmp.h>
#include <stdint.h>

struct guard {
    sigjmp_buf env;
    const unsigned char *lo; /* the guarded mapping */
    uint64_t len;
};

int guard_init(void);
void guard_arm(struct guard *g, const void *base, uint64_t len);
void guard_disarm(struct guard *g);

#endif /* SHMC_GUARD_H */
