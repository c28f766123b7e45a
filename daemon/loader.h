/* SPDX-License-Identifier: MIT */
/*
 * loader.h -- read-through: a LOAD of a key missing from a table runs the
 * table's loader once, however many clients ask meanwhile (loader.c).  A
 * run is a child process (loader.c itself) or a request to Redis
 * (redis.c), which reports the result through loader_done().
 */
#ifndef SHMC_LOADER_H
#define SHMC_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct dtable;
struct load;
struct peer;

/* loader_done()'s how: the result is "no such key" (a negative entry). */
#define LOADER_DONE_NEGATIVE 1u
/* ... or it must not be stored, only given to the waiters (it may be
 * stale already: an invalidation of the key came while it was loaded). */
#define LOADER_DONE_NOSTORE 2u

/* A table's loader counters (STATS "loader"). */
struct loader_stats {
    uint64_t calls;      /* loader runs started */
    uint64_t merged;     /* LOADs that joined a run already under way */
    uint64_t values;     /* runs that produced a value */
    uint64_t negatives;  /* runs that said "no such key" (exit 1) */
    uint64_t errors;     /* runs that failed: bad exit, signal, too big */
    uint64_t timeouts;   /* runs killed at timeout_ms */
    uint64_t refused;    /* LOADs refused: max_queued keys already waiting */
    uint64_t not_stored; /* results answered but not stored (raced) */
    uint64_t latency_ms_total, latency_ms_max;
    uint32_t running, queued;
    /* Persistent workers (worker.c). */
    uint64_t workers_started;  /* processes started, ever */
    uint64_t workers_recycled; /* retired: request limit, idle, reload */
    uint64_t workers_lost;     /* killed at a timeout, died, broke protocol */
    uint32_t workers_running;  /* alive now, idle or busy */
    uint32_t workers_idle;     /* ... of which waiting for a key */
};

int loader_init(struct daemon *d);
int loader_request(struct daemon *d, struct dtable *t, const void *key,
                   size_t klen, struct peer *p, uint32_t id);
void loader_forget(struct daemon *d, struct peer *p);
void loader_shutdown(struct daemon *d);
void loader_done(struct load *l, int status, const void *val, size_t vlen,
                 unsigned how);
int loader_may_move(struct load *l);
void loader_moved(struct load *l, void *src);
int loader_store(struct dtable *t, const void *key, size_t klen,
                 const void *val, size_t vlen, unsigned how);

#endif /* SHMC_LOADER_H */
