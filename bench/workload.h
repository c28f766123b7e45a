/* SPDX-License-Identifier: MIT */
/*
 * workload.h -- what the side-by-side benchmarks (bench_vs.c, bench_near.c)
 * draw and check: keys by Zipf popularity, and self-checking values.
 */
#ifndef SHMC_BENCH_WORKLOAD_H
#define SHMC_BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

/* Zipf(alpha) over n keys: rank r has weight 1/r^alpha and is a key index
 * chosen by a random permutation, so that popularity has nothing to do
 * with key order.  A draw costs one random number and one table read
 * (Vose's alias method).  NULL when out of memory. */
struct zipf;
struct zipf *zipf_new(uint64_t n, double alpha, uint64_t seed);
uint32_t zipf_draw(const struct zipf *z, uint64_t *rng);
void zipf_free(struct zipf *z);

/* Values of vlen bytes (at least 24): [key index][version][filler][check
 * word of both], so that a torn, stale-mixed or misdirected value shows.
 * value_ok() says whether buf[len] is an intact value of key i, and its
 * version in *ver (if not NULL). */
void value_make(unsigned char *buf, size_t vlen, uint64_t i, uint64_t ver);
int value_ok(const unsigned char *buf, size_t len, size_t vlen, uint64_t i,
             uint64_t *ver);

#endif /* SHMC_BENCH_WORKLOAD_H */
