/* SPDX-License-Identifier: MIT */
/*
 * table.h -- the read side of a table: header validation and the lock-free
 * lookup.  Used by the library (readers) and by the daemon (to validate a
 * file before it writes to it).
 */
#ifndef SHMC_TABLE_H
#define SHMC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "format.h"

/* A validated read-only view of a mapped table.  Geometry is a private
 * copy taken at attach time: nothing here is re-read from the mapping. */
struct table {
    const unsigned char *base;
    uint64_t size;
    const struct fmt_header *hdr;
    const struct fmt_bucket *buckets;
    const unsigned char *arena;
    uint64_t arena_size;
    uint64_t seed[2];
    uint64_t generation;
    uint32_t nbuckets;
    uint32_t max_key;
    uint32_t max_value;
    struct entry_limits lim; /* what entry_sound() checks against */
    uint32_t busy_ms;        /* wait for a busy bucket (0: spin only) */
    uint32_t residency;      /* FMT_RES_* advice read at attach time */
    uint32_t serve_retired;  /* atomic; 1: answer even if RETIRED (nothing
                                newer exists to reopen) */
    int mapped; /* 1 if table_open_fd() mapped it; table_close() unmaps */
};

/* What a successful (or ERANGE) lookup found. */
struct table_hit {
    uint64_t vlen;
    uint64_t expiry_ms;
    uint32_t flags;
    uint32_t retries; /* read sections restarted for this lookup */
    uint32_t bucket;  /* where the entry was found (a hint's address) */
    uint32_t slot;
    uint32_t tag;
};

/* An entry copied out by table_read_slot(). */
struct table_entry {
    uint64_t klen, vlen, expiry_ms;
    uint32_t flags;
};

uint64_t fmt_geom_check(const struct fmt_header *h);
int fmt_validate(const struct fmt_header *h, uint64_t file_size, char *why,
                 size_t whylen);

int table_attach(struct table *t, const void *base, uint64_t size, char *why,
                 size_t whylen);
int table_open_fd(struct table *t, int fd, char *why, size_t whylen);
void table_close(struct table *t);
uint32_t table_state(const struct table *t);
int table_lookup(const struct table *t, const void *key, size_t klen, void *buf,
                 size_t bufsize, uint64_t now_ms, struct table_hit *hit);
void table_lookup_many(const struct table *t, size_t n,
                       const void *const keys[], const size_t klens[],
                       void *const bufs[], const size_t bufsizes[],
                       uint64_t now_ms, struct table_hit hits[], int rcs[]);
uint64_t table_now_ms(void);
int table_read_slot(const struct table *t, uint32_t bucket, uint32_t slot,
                    void *key, size_t keysize, void *val, size_t valsize,
                    struct table_entry *e);

#endif /* SHMC_TABLE_H */
