/* SPDX-License-Identifier: MIT */
/*
 * ref.h -- the reference table the benchmarks measure our lookup against:
 * the floor (see ref.c); and what the programs that measure against it
 * (bench.c, bench_vs.c) both need to time and summarise their runs.
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
    size_t size;         /* index, then arena */
    size_t arena;        /* where the arena starts */
    size_t entry_size;
    uint64_t mask;     /* index slots - 1 */
    uint64_t capacity; /* entries the arena holds */
    uint64_t used;     /* entries written (writer only) */
    uint32_t vlen;
};

int ref_create(struct ref *r, const char *path, uint64_t nkeys, uint32_t vlen);
int ref_map(struct ref *r, int writable);
void ref_unmap(struct ref *r);
void ref_close(struct ref *r);
void ref_put(struct ref *r, const char *key, const void *val);
int ref_get(const struct ref *r, const char *key, void *buf);

/* Timing and summaries for the programs measuring against it. */
double ref_now_s(void);
uint64_t ref_rand(uint64_t *state);
double ref_median(double *v, int n);

#endif /* SHMC_BENCH_REF_H */
