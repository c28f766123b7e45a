/* SPDX-License-Identifier: MIT */
/*
 * redis.h -- a table backed by Redis: read-through GETs and Redis's
 * client-side-caching invalidations (redis.c).  Without hiredis the
 * daemon has no redis loader (conf.c refuses one) and these are stubs.
 */
#ifndef SHMC_REDIS_H
#define SHMC_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct daemon;
struct dtable;
struct load;
struct peer;

/* A redis table's counters (STATS "redis"). */
struct redis_stats {
    uint64_t gets;             /* GETs sent */
    uint64_t invalidations;    /* invalidation messages received */
    uint64_t keys_invalidated; /* keys they named that we dropped */
    uint64_t flushes;          /* table flushed: FLUSHALL, connection lost */
    uint64_t connects;         /* sessions established */
    uint64_t reconnects;       /* ... after the first */
    uint64_t disconnects;      /* sessions lost */
    uint64_t pings;            /* round trips through both connections */
    uint64_t writes;           /* local writes sent through to Redis */
    uint64_t lag_us;           /* the last ping's round trip */
    uint64_t lag_us_max;       /* ... the longest one */
    uint64_t fresh_ms;         /* CLOCK_MONOTONIC ms: every invalidation
                                  Redis sent before then has been applied */
    uint32_t connected;        /* 1 while the session is up */
};

/*
 * How stale a value the table holds can be, at most, as far as this
 * session knows: the time since the latest point before which every
 * invalidation is known to have been applied (the send time of the last
 * ping that came back).  0 when the session is down: the table was
 * flushed when it was lost.
 */
static inline uint64_t
redis_window_ms(const struct redis_stats *r, uint64_t now_ms)
{
    return r->connected && now_ms > r->fresh_ms ? now_ms - r->fresh_ms : 0;
}

#ifdef HAVE_HIREDIS
int redis_setup(struct daemon *d);
void redis_shutdown(struct daemon *d);
int redis_load(struct daemon *d, struct dtable *t, struct load *l,
               const void *key, size_t klen, void **req);
void redis_cancel(void *req);
int redis_write(struct daemon *d, struct dtable *t, struct peer *p, uint32_t id,
                int op, const void *key, size_t klen, const void *val,
                size_t vlen, uint32_t ttl_s);
void redis_forget(struct daemon *d, struct peer *p);
#else
static inline int
redis_setup(struct daemon *d)
{
    (void)d;
    return 0;
}

static inline void
redis_shutdown(struct daemon *d)
{
    (void)d;
}

static inline int
redis_load(struct daemon *d, struct dtable *t, struct load *l, const void *key,
           size_t klen, void **req)
{
    (void)d, (void)t, (void)l, (void)key, (void)klen, (void)req;
    return SHMC_ELOADER;
}

static inline void
redis_cancel(void *req)
{
    (void)req;
}

static inline int
redis_write(struct daemon *d, struct dtable *t, struct peer *p, uint32_t id,
            int op, const void *key, size_t klen, const void *val, size_t vlen,
            uint32_t ttl_s)
{
    (void)d, (void)t, (void)p, (void)id, (void)op, (void)key, (void)klen;
    (void)val, (void)vlen, (void)ttl_s;
    return SHMC_ELOADER;
}

static inline void
redis_forget(struct daemon *d, struct peer *p)
{
    (void)d, (void)p;
}
#endif

#endif /* SHMC_REDIS_H */
