/*
 * store.h -- the writer's side of a table (daemon only).
 *
 * Every function here must be called from the one writer thread that owns
 * the store; none of them locks.  store.c owns the mapping and the index,
 * evict.c decides what leaves the arena ring.
 */
#ifndef SHMC_STORE_H
#define SHMC_STORE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "format.h"
#include "table.h"

/* What persist_verify() found in a table that was not closed cleanly. */
struct persist_report {
    uint64_t kept;    /* linked entries that checked out */
    uint64_t dropped; /* slots unlinked: bad position, entry or checksum */
    int ring_cut;     /* the ring was cut at its first damaged entry */
    int ring_reset;   /* no memory to check with: everything dropped */
};

/* How a table is laid out when it is created. */
struct store_geom {
    uint64_t file_size; /* whole file, bytes */
    uint32_t nbuckets;  /* power of two; 0 = derive from file_size */
    uint32_t max_key;   /* 0 = 250 */
    uint32_t max_value; /* 0 = 1 MiB, or less if the arena is small */
    uint64_t generation;
};

/* Why store_unlink() drops an entry (which counter it bumps). */
#define UNLINK_DELETE 0
#define UNLINK_EVICT 1
#define UNLINK_EXPIRE 2

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
    /* Writer-private copies, published to the header after each change. */
    uint64_t head, tail, used;
    uint64_t entries, sets, deletes, evictions, expirations, relocations;
    uint32_t sweep_cursor; /* next bucket evict_expired() looks at */
    int was_clean;         /* the last writer closed the table cleanly */
    struct persist_report verified; /* what persist_verify() found */
};

int store_create(const char *path, const struct store_geom *g, mode_t mode,
                 struct store **out, char *why, size_t whylen);
int store_replace(struct store *old, const struct store_geom *g, mode_t mode,
                  struct store **out, char *why, size_t whylen);
int store_open(const char *path, struct store **out, char *why, size_t whylen);
void store_close(struct store *s);
void store_retire(struct store *s);
int store_sync(struct store *s);
void store_heartbeat(struct store *s, uint64_t now_ms);

int store_set(struct store *s, const void *key, size_t klen, const void *val,
              size_t vlen, uint64_t expiry_ms, uint32_t flags, int mode,
              uint64_t now_ms);
int store_delete(struct store *s, const void *key, size_t klen,
                 uint64_t now_ms);
int store_touch(struct store *s, const void *key, size_t klen,
                uint64_t expiry_ms, uint64_t now_ms);
void store_flush(struct store *s);

/* Shared by store.c and evict.c. */
int store_find_pos(const struct store *s, uint64_t hash, uint32_t pos,
                   uint32_t *bucket, uint32_t *slot);
void store_unlink(struct store *s, uint32_t bucket, uint32_t slot, int why);
void store_publish(struct store *s);
void store_publish_ring(struct store *s);
int store_expired(const struct fmt_entry *e, uint64_t now_ms);
struct fmt_entry *store_slot_entry(const struct store *s, uint64_t slot);
int store_drop_reason(const struct fmt_entry *e, uint64_t now_ms);

/* persist.c */
void persist_verify(struct store *s, struct persist_report *r);

/* evict.c */
int evict_make_room(struct store *s, uint64_t need, uint64_t now_ms);
uint32_t evict_victim(const struct store *s, uint32_t b1, uint32_t b2,
                      uint32_t *bucket);
uint64_t evict_expired(struct store *s, uint64_t now_ms, uint32_t nbuckets);

#endif /* SHMC_STORE_H */
