/* SPDX-License-Identifier: MIT */
/**
 * @file shmcache.h
 * @brief libshmcache: the client library of the shmcache key-value cache.
 *
 * A shmcache table is a hash table in a file that the daemon, shmcached,
 * maps read-write and every client maps read-only.  shmc_get() looks a
 * key up straight in that shared memory: no system call, no lock and no
 * round trip to the daemon on a hit; it copies the value into the
 * caller's buffer and checks it (sequence counters and a checksum) before
 * it returns it.  Every change (shmc_set(), shmc_del(), ...) is a request
 * to the daemon over its Unix control socket.
 *
 * @par Threads
 * A handle may be shared by threads.  shmc_get() runs in parallel in any
 * number of threads without locking; writes on one handle are serialised
 * by a mutex inside the handle (use one handle per thread for parallel
 * writes).  shmc_close() must not race with any other call on the handle.
 *
 * @par fork()
 * A child inherits the handle's mapping, which stays valid: shmc_get()
 * works in the child.  Writes work too: the child's first request drops
 * the connection it inherited (closing only its own copy) and makes its
 * own, so parent and child never share a socket.  As for any mutex, a
 * fork() while another thread of the parent is inside a write on the same
 * handle leaves the child's copy of that handle unusable for writes; the
 * child must then open its own.
 *
 * @par Caveats
 * - The table file must not be truncated while mapped.  shmcached never
 *   shrinks a table it serves; it replaces one by building a new file and
 *   marking the old one retired, which shmc_get() notices and follows (old
 *   mappings stay valid until shmc_close(), so a concurrent reader is never
 *   left with unmapped memory).  If root or the daemon's user truncates a
 *   live table file anyway, a lookup that touches a page past the cut
 *   raises SIGBUS in the reader (the library installs no signal handler)
 *   until the daemon notices, within one sweep (expire_interval_ms): it
 *   then gives the old file its size back, marks it retired and replaces
 *   the table, and shmc_get() follows as above.  A cut file is never
 *   (re)opened: its size must match its header (SHMC_ECORRUPT).
 * - Keys are 1 to max_key_bytes bytes (250 by default, 4096 at most);
 *   values up to the table's max_value_bytes.  Keys and values are
 *   arbitrary bytes.
 * - Expiry is wall-clock time; a clock stepped backwards revives entries.
 * - The table format is host-endian and assumes a 64-bit daemon and
 *   client on the same machine.
 */
#ifndef SHMCACHE_H
#define SHMCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMC_VERSION_MAJOR 0
#define SHMC_VERSION_MINOR 1
#define SHMC_VERSION_PATCH 0
/** The version as 0xMMmmpp, for compile-time comparisons. */
#define SHMC_VERSION_HEX                                                       \
    ((SHMC_VERSION_MAJOR << 16) | (SHMC_VERSION_MINOR << 8) |                  \
     SHMC_VERSION_PATCH)

#if defined(SHMC_BUILDING) && defined(__GNUC__)
#define SHMC_EXPORT __attribute__((visibility("default")))
#else
#define SHMC_EXPORT
#endif
#if defined(__GNUC__)
#define SHMC_WUR __attribute__((warn_unused_result))
#else
#define SHMC_WUR
#endif

/**
 * @defgroup errors Result codes
 * Functions return 0 on success and a negative code on failure: -errno for
 * system errors, or one of these (all <= -1000).  shmc_strerror() names
 * both.  The numbers are stable; they also travel on the wire.
 * @{
 */
#define SHMC_ENOTFOUND (-1000) /**< no such key, or it expired */
#define SHMC_ENEGATIVE (-1001) /**< key cached as known absent */
#define SHMC_ERANGE (-1002)    /**< value larger than the buffer */
#define SHMC_EBUSY (-1003)     /**< bucket kept changing (writer stuck) */
#define SHMC_ECORRUPT (-1004)  /**< table file damaged */
#define SHMC_EVERSION (-1005)  /**< unknown table format or protocol */
#define SHMC_ERETIRED (-1006)  /**< table replaced (handled internally) */
#define SHMC_EEXISTS (-1007)   /**< add: the key is already there */
#define SHMC_ETOOBIG (-1008)   /**< key or value over the table's limit */
#define SHMC_ENOSPACE (-1009)  /**< entry larger than the table can hold */
#define SHMC_EPROTO (-1010)    /**< malformed request or reply */
#define SHMC_ENOTABLE (-1011)  /**< no table of that name */
#define SHMC_ENOTNUM (-1012)   /**< incr/decr on a non-number */
#define SHMC_EREADONLY (-1013) /**< handle has no daemon to write through */
#define SHMC_ENOLOADER (-1014) /**< the table has no loader */
#define SHMC_ELOADER (-1015)   /**< the loader failed (crashed, bad exit) */
/** @} */

/** ttl_s value: never expire (0 means the table's default TTL). */
#define SHMC_TTL_NEVER 0xffffffffu

/** An open table.  Opaque. */
typedef struct shmc shmc_t;

/**
 * @brief Open a table through the daemon.
 *
 * Connects to the daemon's control socket, asks for a read-only descriptor
 * of the table (the daemon checks the caller's uid/gid against the table's
 * read ACL), maps it PROT_READ and closes the descriptor.  The connection
 * is kept for writes.
 *
 * @param[in] socket_path the daemon's control socket; NULL means
 *            $SHMCACHE_SOCKET (ignored in setuid and setgid programs,
 *            as secure_getenv() does), else /run/shmcached/control.sock.
 * @param[in] table the table's name, e.g. "default".
 * @param[in] flags 0 (reserved for future use).
 * @param[out] out the new handle, to be freed with shmc_close().
 * @return 0; -ENOENT or -ECONNREFUSED when no daemon listens; -EACCES when
 *         the ACL refuses; SHMC_ENOTABLE; SHMC_EVERSION; SHMC_ECORRUPT;
 *         SHMC_EPROTO; -EINVAL for bad arguments; -ENOMEM; other -errno.
 */
SHMC_EXPORT SHMC_WUR int shmc_open(const char *socket_path, const char *table,
                                   int flags, shmc_t **out);

/**
 * @brief Open a table file directly, without a daemon.
 *
 * Maps the file read-only.  Lookups work as with shmc_open(); writes fail
 * with SHMC_EREADONLY.  Useful for tools and for reading while the daemon
 * is down.
 *
 * @param[in] table_path path of a table file (e.g. /run/shmcached/t.shm).
 * @param[in] flags 0 (reserved).
 * @param[out] out the new handle.
 * @return 0; -errno from open/mmap; SHMC_ECORRUPT or SHMC_EVERSION if the
 *         file is not a table this library reads; -EINVAL; -ENOMEM.
 */
SHMC_EXPORT SHMC_WUR int shmc_open_file(const char *table_path, int flags,
                                        shmc_t **out);

/**
 * @brief Close a handle: unmap every mapping it made and close its socket.
 * @param[in] h the handle, or NULL.
 * @note No other call on h may run concurrently or follow.
 */
SHMC_EXPORT void shmc_close(shmc_t *h);

/**
 * @brief Look a key up, lock-free, and copy its value out.
 *
 * @param[in] h the handle.
 * @param[in] key, klen the key.
 * @param[out] buf, bufsize where the value goes.
 * @param[out] vlen the value's length (also on SHMC_ERANGE); may be NULL.
 * @return 0 (the value is in buf); SHMC_ENOTFOUND (absent or expired);
 *         SHMC_ENEGATIVE (cached as known absent); SHMC_ERANGE (buf too
 *         small, *vlen says how large it must be); SHMC_ETOOBIG (key empty
 *         or longer than the table allows); SHMC_EBUSY (a bucket stayed
 *         busy for 20 ms: the daemon died mid-write); SHMC_ECORRUPT;
 *         -EINVAL (NULL handle, or NULL key/buf with a length); or, if the
 *         table was replaced and reopening it failed (no daemon), that
 *         error: the next attempt is made 100 ms later at the earliest.
 * @note No system call and no lock on a hit.  The copy in buf is the
 *       caller's: nothing returned points into the shared mapping.  Hits
 *       (counted by shmc_counters()) are 0, SHMC_ENEGATIVE and
 *       SHMC_ERANGE; misses are SHMC_ENOTFOUND.  A file that is retired
 *       with nothing newer at its path (a copy, say) keeps answering.
 */
SHMC_EXPORT SHMC_WUR int shmc_get(shmc_t *h, const void *key, size_t klen,
                                  void *buf, size_t bufsize, size_t *vlen);

/**
 * @brief Look n keys up at once, lock-free, as shmc_get() each.
 *
 * The keys are hashed and their buckets and entries prefetched in groups,
 * so that the memory misses of many keys overlap; then each is looked up
 * and copied out exactly as shmc_get() does.
 * @param[in] keys, klens the n keys.
 * @param[out] bufs, bufsizes where each value goes.
 * @param[out] vlens each value's length (also on SHMC_ERANGE); may be NULL.
 * @param[out] rcs each key's result, as shmc_get() returns it.
 * @return 0 when every key has a result in rcs[]; -EINVAL (NULL handle or
 *         arrays, or a NULL key or buffer with a length).
 */
SHMC_EXPORT SHMC_WUR int shmc_mget(shmc_t *h, size_t n,
                                   const void *const keys[],
                                   const size_t klens[], void *const bufs[],
                                   const size_t bufsizes[], size_t vlens[],
                                   int rcs[]);

/**
 * @brief Look a key up as shmc_get() does; on a miss, have the daemon run
 * the table's loader for it and return what it found.
 *
 * A hit costs what shmc_get() costs (no system call).  A miss is one round
 * trip: the daemon runs the table's loader ("loader" in shmcached.json(5))
 * once for the key however many clients miss it meanwhile, stores the
 * value (or a negative entry) with the table's TTLs, and answers them all;
 * later lookups hit lock-free.
 *
 * @return as shmc_get(), plus: SHMC_ENEGATIVE when the loader says the key
 *         does not exist; SHMC_ENOLOADER (the table has none);
 *         SHMC_ELOADER (it failed: bad exit status, killed); -ETIMEDOUT
 *         (it ran past its timeout_ms and was killed); SHMC_EBUSY (too
 *         many keys already waiting for the loader); SHMC_EREADONLY
 *         (handle from shmc_open_file()); and the transport errors of
 *         shmc_set().
 * @note The reply is awaited for at most 10 s (the library's I/O
 *       timeout): keep the loader's timeout_ms below that.
 */
SHMC_EXPORT SHMC_WUR int shmc_get_or_load(shmc_t *h, const void *key,
                                          size_t klen, void *buf,
                                          size_t bufsize, size_t *vlen);

/**
 * @brief Store key -> value through the daemon.
 * @param[in] ttl_s seconds to live; 0 = the table's default TTL;
 *            SHMC_TTL_NEVER = no expiry.
 * @return 0; SHMC_EREADONLY (handle from shmc_open_file()); SHMC_ETOOBIG
 *         (checked before sending, against the table's limits);
 *         SHMC_ENOSPACE; SHMC_ENOTABLE; -EACCES (write ACL); -EINVAL
 *         (NULL handle or key, empty key); -ENOENT / -ECONNREFUSED (no
 *         daemon); SHMC_EPROTO; other -errno.
 * @note Transport failures: a request that never reached the daemon, or
 *       one that may be carried out twice safely (set, touch, set-negative,
 *       flush, sync), is sent again once on a new connection.  For the
 *       others (add, replace, del, incr) -ECONNRESET, -EPIPE or -ETIMEDOUT
 *       (no reply within 10 s) means it may or may not have happened.
 */
SHMC_EXPORT SHMC_WUR int shmc_set(shmc_t *h, const void *key, size_t klen,
                                  const void *val, size_t vlen, uint32_t ttl_s);

/**
 * @brief Store n items through the daemon, in as few frames and round
 *        trips as the request limits allow (BATCH frames of up to 4096
 *        items or 256 KiB; a larger item goes alone).
 * @param[in] keys, klens, vals, vlens the n items.
 * @param[in] ttl_s as shmc_set(), for every item.
 * @param[out] rcs each item's result, as shmc_set() returns it.
 * @return 0 when every item has a result in rcs[]; otherwise an error for
 *         the whole call (as shmc_set(): no daemon, a transport failure
 *         after the retry, SHMC_EREADONLY, -ENOMEM, -EINVAL), and the
 *         items without a result may or may not have been stored: their
 *         rcs[] entries hold that error (none when the error is -EINVAL
 *         for the arrays themselves).
 * @note Sets may be carried out twice safely, so a frame whose reply was
 *       lost is sent again once on a new connection, as for shmc_set().
 */
SHMC_EXPORT SHMC_WUR int
shmc_mset(shmc_t *h, size_t n, const void *const keys[], const size_t klens[],
          const void *const vals[], const size_t vlens[], uint32_t ttl_s,
          int rcs[]);

/**
 * @brief Delete a key through the daemon.
 * @return 0; SHMC_ENOTFOUND; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_del(shmc_t *h, const void *key, size_t klen);

/**
 * @brief Delete n keys through the daemon, in as few round trips as the
 *        request limits allow: one DELETE frame per key, sent in runs of
 *        up to 4096 frames or 64 KiB before their replies are read.
 * @param[in] keys, klens the n keys (duplicates are deleted in order: the
 *            second gets SHMC_ENOTFOUND).
 * @param[out] rcs each key's result, as shmc_del() returns it: 0,
 *             SHMC_ENOTFOUND, SHMC_ETOOBIG (longer than the table's
 *             max_key_bytes, or its frame over the daemon's
 *             max_request_bytes), -EINVAL (NULL or empty key).
 * @return 0 when every key has a result in rcs[]; otherwise an error for
 *         the whole call: the errors of shmc_set() (no daemon,
 *         SHMC_ENOTABLE, -EACCES, SHMC_EREADONLY, -ENOMEM, SHMC_EPROTO,
 *         -EINVAL for a NULL handle or array), or a transport failure:
 *         -ECONNRESET, -EPIPE, -ETIMEDOUT.  The keys without a result may
 *         or may not have been deleted; their rcs[] entries hold that
 *         error (none when the error is -EINVAL for the arrays).  An
 *         entry is 0 only for a key this call deleted.
 * @note A delete must not be carried out twice (the second would answer
 *       SHMC_ENOTFOUND), so after a lost connection only the frames that
 *       never left are sent again, once, on a new connection, as
 *       shmc_del() does.
 */
SHMC_EXPORT SHMC_WUR int shmc_mdel(shmc_t *h, size_t n,
                                   const void *const keys[],
                                   const size_t klens[], int rcs[]);

/**
 * @brief Cache "key is known absent" (a negative entry) for ttl_s seconds.
 * @param[in] ttl_s 0 = the table's negative TTL; SHMC_TTL_NEVER allowed.
 * @return as shmc_set().  shmc_get() then returns SHMC_ENEGATIVE.
 */
SHMC_EXPORT SHMC_WUR int shmc_set_negative(shmc_t *h, const void *key,
                                           size_t klen, uint32_t ttl_s);

/**
 * @brief Store key -> value only if the key is absent (or expired).
 * @return 0; SHMC_EEXISTS if it is there; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_add(shmc_t *h, const void *key, size_t klen,
                                  const void *val, size_t vlen, uint32_t ttl_s);

/**
 * @brief Store key -> value only if the key is present and live.
 * @return 0; SHMC_ENOTFOUND if it is not; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_replace(shmc_t *h, const void *key, size_t klen,
                                      const void *val, size_t vlen,
                                      uint32_t ttl_s);

/**
 * @brief Give a live key a new TTL (0 = the table default), keeping its
 * value.
 * @return 0; SHMC_ENOTFOUND; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_touch(shmc_t *h, const void *key, size_t klen,
                                    uint32_t ttl_s);

/**
 * @brief Add delta to a value that is a decimal number (memcached's incr
 * and decr: a decrement stops at 0, an increment wraps at 2^64).
 * @param[out] value the new value; may be NULL.
 * @return 0; SHMC_ENOTFOUND; SHMC_ENOTNUM (the value is not a number);
 *         and the errors of shmc_set().
 * @note Never retried after a lost connection (it must not apply twice):
 *       -ECONNRESET or -EPIPE means it may or may not have happened.
 */
SHMC_EXPORT SHMC_WUR int shmc_incr(shmc_t *h, const void *key, size_t klen,
                                   int64_t delta, uint64_t *value);

/**
 * @brief Drop every entry of the handle's table.
 * @return 0; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_flush(shmc_t *h);

/**
 * @brief Ask the daemon to write the table to its file now (disk mode).
 * @return 0; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_sync(shmc_t *h);

/** shmc_stats_json() scopes. */
#define SHMC_STATS_TABLE 0 /**< the handle's table */
#define SHMC_STATS_ALL 1   /**< the daemon and every table */
#define SHMC_LIST_TABLES 2 /**< an array naming every table */

/**
 * @brief The daemon's statistics or table list, as JSON text.
 * @param[in] which SHMC_STATS_TABLE, SHMC_STATS_ALL or SHMC_LIST_TABLES.
 * @param[out] json a NUL-terminated string the caller frees with free().
 * @return 0; -EINVAL; and the errors of shmc_set().
 */
SHMC_EXPORT SHMC_WUR int shmc_stats_json(shmc_t *h, int which, char **json);

/** What the table's header says (shmc_info()).  New fields are only ever
 *  added at the end; pass sizeof(struct shmc_info). */
struct shmc_info {
    uint64_t file_size, arena_bytes, used_bytes;
    uint64_t buckets, max_key_bytes, max_value_bytes;
    uint64_t generation, created_ms, heartbeat_ms;
    uint64_t entries, sets, deletes, evictions, expirations, relocations;
    uint32_t format_version;
    uint32_t retired; /**< 1: replaced; the handle reopens on next get */
    uint32_t clean;   /**< 1: no daemon has the table open */
    uint32_t reserved;
    /** Arena bytes of linked entries; used_bytes - live_bytes are dead
     *  (replaced, deleted) bytes not yet reclaimed. */
    uint64_t live_bytes;
    /** Live entries moved forward in the arena instead of evicted. */
    uint64_t moves;
    /** Live entries evicted because both buckets of a new key were full
     *  (evictions counts those evicted because the arena was full). */
    uint64_t evictions_index;
};

/**
 * @brief Read the table's header from the mapping (no daemon needed).
 * @param[in] size sizeof(struct shmc_info) as the caller knows it.
 * @return 0; -EINVAL.
 * @note The counters are the daemon's, read without synchronisation:
 *       each is exact, together they are not a snapshot.
 */
SHMC_EXPORT SHMC_WUR int shmc_info(const shmc_t *h, struct shmc_info *info,
                                   size_t size);

/**
 * @brief Walk the table's entries from the mapping, one per call.
 *
 * Start with *cursor = 0; each call returns the next live entry and
 * advances *cursor.  Lock-free like shmc_get(); every entry is checked
 * before it is returned.
 *
 * @param[in,out] cursor position; leave it alone between calls.
 * @param[out] key, keysize, klen the key (klen may be NULL).
 * @param[out] val, valsize, vlen the value (vlen may be NULL).
 * @param[out] expiry_ms absolute wall-clock expiry, 0 = none (may be NULL).
 * @param[out] negative 1 for a negative entry (may be NULL).
 * @return 0 (an entry); SHMC_ENOTFOUND at the end; SHMC_ERANGE if key or
 *         value does not fit (*klen and *vlen say the sizes needed; the
 *         cursor stays, so call again with larger buffers); SHMC_ECORRUPT
 *         for a damaged entry (the cursor moves past it); SHMC_EBUSY.
 * @note A walk of a table that changes meanwhile is not a snapshot: an
 *       entry written or moved during the walk may be missed or seen
 *       twice.  Expired entries are skipped.
 */
SHMC_EXPORT SHMC_WUR int shmc_scan(shmc_t *h, uint64_t *cursor, void *key,
                                   size_t keysize, size_t *klen, void *val,
                                   size_t valsize, size_t *vlen,
                                   uint64_t *expiry_ms, int *negative);

/**
 * @brief Hits and misses of shmc_get() on this handle (readers' hits never
 * reach the daemon, so only the clients can count them).
 * @param[out] hits, misses may be NULL.  ENEGATIVE counts as a hit.
 */
SHMC_EXPORT void shmc_counters(const shmc_t *h, uint64_t *hits,
                               uint64_t *misses);

/**
 * @brief Describe a result code (ours or -errno).
 * @return a static string; never NULL.
 */
SHMC_EXPORT const char *shmc_strerror(int err);

/** @brief The library's version, "MAJOR.MINOR.PATCH". */
SHMC_EXPORT const char *shmc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMCACHE_H */
