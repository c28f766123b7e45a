/* SPDX-License-Identifier: MIT */
/*
 * store.h -- the writer's side of one table (daemon only).
 *
 * The layers, lowest first; each calls only those above it in this list:
 *   index.c   buckets and slots: find, link, unlink, relocate
 *   verify.c  make an unclean table sound; rebuild the ring from the slots
 *   evict.c   the arena ring: room for a new entry, victims, expiry sweep
 *   store.c   the table's file and mapping; set, delete, touch, flush
 *   migrate.c build a table from the live entries of another (resize,
 *             format 1 conversion)
 * Every function must be called from the one writer thread that owns the
 * store; none of them locks.
 */
#ifndef SHMC_STORE_H
#define SHMC_STORE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "entry.h"
#include "format.h"
#include "table.h"

/* What verify_table() found in a table that was not closed cleanly. */
struct verify_report {
    uint64_t kept;    /* linked entries that checked out */
    uint64_t dropped; /* slots unlinked: bad position, entry or checksum */
    uint64_t padded;  /* bytes of dead space made into ring pads */
    int reset;        /* no memory to check with: everything dropped */
};

/* How a table is laid out when it is created. */
struct store_geom {
    uint64_t file_size; /* whole file, bytes */
    uint32_t nbuckets;  /* 0 = size the index from item_bytes */
    uint32_t max_key;   /* 0 = 250 */
    uint32_t max_value; /* 0 = 1 MiB, or less if the arena is small */
    uint64_t generation;
    uint32_t item_bytes; /* expected key + value bytes; 0 = 100 */
};

/* Why index_unlink() drops an entry (which counter it bumps). */
#define UNLINK_DELETE 0
#define UNLINK_EVICT 1 /* the arena is full of live data */
#define UNLINK_EXPIRE 2
#define UNLINK_DAMAGED 3
#define UNLINK_EVICT_INDEX 4 /* both buckets of a new key are full */
#define UNLINK_REPLACED 5    /* a new version was linked over it */

/* Default high-water mark of live data, percent of the arena. */
#define STORE_LIVE_HWM_PCT 90u

/* store_set() modes, memcached's set/add/replace. */
#define STORE_SET 0
#define STORE_ADD 1
#define STORE_REPLACE 2

struct store {
    int fd;
    int lock_fd; /* holds the flock on <path>.lock */
    char path[PATH_MAX];
    unsigned char *base;
    uint64_t size;
    struct fmt_header *hdr;
    struct fmt_bucket *buckets;
    unsigned char *arena;
    uint64_t arena_size;
    struct table view; /* read-only view of the same mapping */
    /* Writer-private state, published to the header after each change.
     * The ring holds [tail, head) in bytes; used == 0 means empty. */
    uint64_t head, tail, used;
    uint64_t live;     /* bytes of linked entries; used - live is dead */
    uint64_t live_hwm; /* above this much live data, evict; below, move */
    uint64_t entries, sets, deletes, evictions, expirations, relocations;
    uint64_t moves, evictions_index;
    /* Per slot (bucket * FMT_SLOTS + slot): how often readers hit it
     * lately, 0-3 (hints.c raises it, evict.c spends it); NULL if it
     * could not be allocated (then the policy is plain FIFO). */
    uint8_t *freq;
    uint32_t sweep_cursor; /* next bucket evict_expired() looks at */
    int was_clean;         /* the last writer closed the table cleanly */
    struct verify_report verified; /* what verify_table() found at open */
};

/* An entry of size bytes stops being live (unlinked or replaced). */
static inline void
store_live_drop(struct store *s, uint64_t size)
{
    s->live -= size < s->live ? size : s->live;
}

/* Fills a table being built, before it is renamed into place. */
typedef int (*store_fill_fn)(struct store *s, void *arg, char *why,
                             size_t whylen);

int store_layout(const struct store_geom *g, struct fmt_header *h, char *why,
                 size_t whylen);
int store_lock(const char *path, char *why, size_t whylen);
int store_build(const char *path, int lock_fd, const struct store_geom *g,
                mode_t mode, store_fill_fn fill, void *arg, struct store **out,
                char *why, size_t whylen);
int store_create(const char *path, const struct store_geom *g, mode_t mode,
                 struct store **out, char *why, size_t whylen);
int store_open(const char *path, struct store **out, char *why, size_t whylen);
void store_close(struct store *s);
void store_abandon(struct store *s);
void store_retire(struct store *s);
int store_retire_fd(int fd);
int store_retire_file(const char *path);
int store_sync(struct store *s);
int store_check_size(const struct store *s, char *why, size_t whylen);
int store_check_linked(const struct store *s, char *why, size_t whylen);
int store_restore_size(struct store *s);
void store_heartbeat(struct store *s, uint64_t now_ms);
void store_publish(struct store *s);
void store_set_live_hwm(struct store *s, unsigned pct);

int store_set(struct store *s, const void *key, size_t klen, const void *val,
              size_t vlen, uint64_t expiry_ms, uint32_t flags, int mode,
              uint64_t now_ms);
int store_delete(struct store *s, const void *key, size_t klen,
                 uint64_t now_ms);
int store_touch(struct store *s, const void *key, size_t klen,
                uint64_t expiry_ms, uint64_t now_ms);
void store_flush(struct store *s);
uint64_t store_expire(struct store *s, uint64_t now_ms, uint32_t nbuckets);

#endif /* SHMC_STORE_H */
