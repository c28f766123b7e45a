/* SPDX-License-Identifier: MIT */
/*
 * ref.h -- the reference table the benchmarks measure our lookup against:
 * the floor (see ref.c).
 */
#ifndef SHMC_BENCH_REF_H
#define SHMC_BENCH_REF_H

#include <stddef.h>
#include <stdint.h>

/* Keys are exactly this long. */
#define REF_KLEN 16

struct ref {
    int fd;
    unsigned char *base; /* the current mapping, or NULL */
    size_t size, slot_size;
    uint64_t mask;
    uint32_t vlen;
};

int ref_create(struct ref *r, const char *path, uint64_t nkeys, uint32_t vlen);
int ref_map(struct ref *r, int writable);
void ref_unmap(struct ref *r);
void ref_close(struct ref *r);
void ref_put(struct ref *r, const char *key, const void *val);
int ref_get(const struct ref *r, const char *key, void *buf);

#endif /* SHMC_BENCH_REF_H */
