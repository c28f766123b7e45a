/* SPDX-License-Identifier: MIT */
/*
 * tables.h -- the daemon's open tables, one per configured table.
 */
#ifndef SHMC_TABLES_H
#define SHMC_TABLES_H

#include <limits.h>

#include "conf.h"
#include "hints.h"
#include "loader.h"
#include "residency.h"
#include "redis.h"
#include "store.h"

struct dtable {
    struct conf_table cfg; /* settings in force (SIGHUP may change some) */
    struct store *st;
    struct store *replaced;     /* old file, retired once the socket listens */
    struct hints hints;         /* readers' hit hints (hints.c) */
    struct loader_stats lstats; /* loader.c */
    struct residency res;       /* what populate/lock/huge_pages achieved */
    struct redis_stats rstats;  /* redis.c */
    uint64_t epoch_retry_ms;    /* a rebuild for the clock failed then */
    uint64_t replace_failed_ms; /* replacing a deleted file failed then */
    char path[PATH_MAX];
};

int tables_open(const struct conf *c, const char *runtime_dir,
                const char *state_dir, struct dtable **out, size_t *n,
                char *err, size_t errlen);
void tables_close(struct dtable *t, size_t n);
int tables_check_size(struct dtable *t);
int tables_check_epoch(struct dtable *t, uint64_t now_ms);
void tables_faulted(struct dtable *t);
void tables_flush(struct dtable *t);
int tables_delete(struct dtable *t, const void *key, size_t klen, uint64_t now);
void tables_retire_replaced(struct dtable *t, size_t n);
void tables_apply_mode(const struct dtable *t);
int tables_apply_residency(struct dtable *t, char *err, size_t errlen);
struct dtable *tables_find(struct dtable *t, size_t n, const char *name,
                           size_t len);
int tables_same_geometry(const struct conf_table *a,
                         const struct conf_table *b);

#endif /* SHMC_TABLES_H */
