/* SPDX-License-Identifier: MIT */
/*
 * workload.c -- Zipf draws and self-checking values for the benchmarks
 * (workload.h).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "workload.h"

/* One column of the alias table: below cut, yes; else no. */
struct zcol {
    uint32_t cut, yes, no;
};

struct zipf {
    uint64_t n;
    struct zcol col[];
};

struct zipf *
zipf_new(uint64_t n, double alpha, uint64_t seed)
{
    struct zipf *z = malloc(sizeof(*z) + n * sizeof(struct zcol));
    double *p = malloc(n * sizeof(*p)), sum = 0;
    uint32_t *perm = malloc(n * sizeof(*perm));
    uint32_t *small = malloc(n * sizeof(*small));
    uint32_t *large = malloc(n * sizeof(*large));
    uint64_t i, ns = 0, nl = 0;

    if (z == NULL || p == NULL || perm == NULL || small == NULL ||
        large == NULL || n == 0) {
        free(z);
        z = NULL;
        goto out;
    }
    z->n = n;
    for (i = 0; i < n; i++) {
        perm[i] = (uint32_t)i;
        p[i] = pow((double)(i + 1), -alpha);
        sum += p[i];
    }
    for (i = n - 1; i > 0; i--) {
        uint64_t j = ref_rand(&seed) % (i + 1);
        uint32_t t = perm[i];

        perm[i] = perm[j];
        perm[j] = t;
    }
    /* Scaled so that the mean column holds 1: a column under 1 takes the
     * rest of its share from one over 1. */
    for (i = 0; i < n; i++) {
        p[i] = p[i] * (double)n / sum;
        if (p[i] < 1.0)
            small[ns++] = (uint32_t)i;
        else
            large[nl++] = (uint32_t)i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t s = small[--ns], l = large[nl - 1];

        z->col[s].cut = (uint32_t)(p[s] * 4294967296.0);
        z->col[s].yes = perm[s];
        z->col[s].no = perm[l];
        p[l] -= 1.0 - p[s];
        if (p[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* What is left holds 1, up to rounding. */
    while (nl > 0) {
        i = large[--nl];
        z->col[i].cut = UINT32_MAX;
        z->col[i].yes = z->col[i].no = perm[i];
    }
    while (ns > 0) {
        i = small[--ns];
        z->col[i].cut = UINT32_MAX;
        z->col[i].yes = z->col[i].no = perm[i];
    }
out:
    free(p);
    free(perm);
    free(small);
    free(large);
    return z;
}

uint32_t
zipf_draw(const struct zipf *z, uint64_t *rng)
{
    uint64_t x = ref_rand(rng);
    const struct zcol *c = &z->col[((x >> 32) * z->n) >> 32];

    return (uint32_t)x < c->cut ? c->yes : c->no;
}

void
zipf_free(struct zipf *z)
{
    free(z);
}

/* The check word of key i's value, version ver. */
static uint64_t
value_check(uint64_t i, uint64_t ver)
{
    uint64_t x = (i + 0x632be59bd9b4e019ULL) * 0xd6e8feb86659fd93ULL;

    x ^= (ver ^ (x >> 29)) * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 32);
}

/* The filler between the words: printable, not the same in every word,
 * built once (grown if a larger value asks) so that checking it is one
 * memcmp.  Benchmarks are single-threaded where they make or check
 * values. */
static const unsigned char *
filler(size_t n)
{
    static unsigned char *f;
    static size_t have;
    size_t k;

    if (n > have) {
        unsigned char *g = realloc(f, n);
        if (g == NULL)
            abort();
        for (k = have; k < n; k++)
            g[k] = (unsigned char)('a' + k % 26);
        f = g;
        have = n;
    }
    return f;
}

void
value_make(unsigned char *buf, size_t vlen, uint64_t i, uint64_t ver)
{
    uint64_t c = value_check(i, ver);

    memcpy(buf, &i, 8);
    memcpy(buf + 8, &ver, 8);
    memcpy(buf + 16, filler(vlen) + 16, vlen - 24);
    memcpy(buf + vlen - 8, &c, 8);
}

int
value_ok(const unsigned char *buf, size_t len, size_t vlen, uint64_t i,
         uint64_t *ver)
{
    uint64_t a, v, c;

    if (len != vlen)
        return 0;
    memcpy(&a, buf, 8);
    memcpy(&v, buf + 8, 8);
    memcpy(&c, buf + vlen - 8, 8);
    if (a != i || c != value_check(i, v) ||
        memcmp(buf + 16, filler(vlen) + 16, vlen - 24) != 0)
        return 0;
    if (ver != NULL)
        *ver = v;
    return 1;
}
