/* SPDX-License-Identifier: MIT */
/*
 * store.c -- one table's file and writable mapping, and the operations on
 * it: set, delete, touch, flush.
 *
 * A table is built beside its final name (posix_fallocate, never sparse: a
 * hole on a full tmpfs is a SIGBUS in every reader), its header written,
 * optionally filled (migrate.c: a resize or a conversion), then renamed
 * into place, so a reader opening the path sees either the old table or a
 * complete new one.  A crash while building leaves only a temporary file,
 * removed by the next build.  Opening an existing file validates its header
 * (fmt_validate), repairs bucket sequences left odd by a writer that died
 * mid-write, and verifies (verify.c) a table that was not closed cleanly;
 * a freshly built one is not.  An exclusive flock on <path>.lock keeps a
 * second writer out; it is not on the table file itself, because readers
 * are handed descriptors of that file and could otherwise take the lock
 * and keep the next daemon from starting.
 *
 * The clean flag is ordered with msync: cleared and synced before the
 * first change after open, set only after the final sync at close.  So in
 * disk mode, a power loss can never bring back a table marked clean whose
 * entries did not all reach the disk.
 *
 * A set writes the new entry, complete, into free arena memory (evict.c
 * makes room), then one write section of its bucket links it (over the old
 * version, if any).  Only the single writer thread calls these functions.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"
#include "evict.h"
#include "hash.h"
#include "index.h"
#include "mapping.h"
#include "seqlock.h"
#include "store.h"
#include "verify.h"

#define DEFAULT_MAX_KEY 250u
#define DEFAULT_MAX_VALUE (1u << 20)
#define DEFAULT_ITEM_BYTES 100u
/* Index sizing: a bucket per 7 x 85% = 5.95 items of the expected size, so
 * an item costs its entry plus 6400/595 (10.8) bytes of index. */
#define ITEMS_PER_BUCKET_X100 595u

static int store_map(struct store *s, int fd, uint64_t size, int fresh,
                     char *why, size_t whylen);

#define FAIL(code, ...)                                                        \
    do {                                                                       \
        if (why != NULL && whylen > 0)                                         \
            snprintf(why, whylen, __VA_ARGS__);                                \
        rc = (code);                                                           \
        goto fail;                                                             \
    } while (0)

/* The bucket count that sizes the index for items of item_bytes. */
static uint64_t
auto_buckets(uint64_t file_size, uint32_t item_bytes)
{
    uint64_t entry = FMT_ENTRY_SIZE(0, item_bytes);
    uint64_t items = (file_size - FMT_PAGE) * ITEMS_PER_BUCKET_X100 /
                     (entry * ITEMS_PER_BUCKET_X100 + FMT_LINE * 100u);

    return (items * 100u + ITEMS_PER_BUCKET_X100 - 1) / ITEMS_PER_BUCKET_X100;
}

/*
 * Fill a header for geometry g (everything but the seed), or say why g
 * cannot be built.  The one place defaults are resolved: the daemon
 * compares a table with its config through this function too.
 */
int
store_layout(const struct store_geom *g, struct fmt_header *h, char *why,
             size_t whylen)
{
    uint64_t nb, arena_off, arena_size;
    uint32_t max_key = g->max_key ? g->max_key : DEFAULT_MAX_KEY;
    uint32_t max_value = g->max_value ? g->max_value : DEFAULT_MAX_VALUE;
    uint32_t item = g->item_bytes ? g->item_bytes : DEFAULT_ITEM_BYTES;
    int rc;

    if (g->file_size < 4 * (uint64_t)FMT_PAGE)
        FAIL(-EINVAL, "table size %llu is below the minimum of %u bytes",
             (unsigned long long)g->file_size, 4 * FMT_PAGE);
    if (max_key > FMT_KEY_MAX || max_value > FMT_VALUE_MAX)
        FAIL(-EINVAL, "limits key=%u value=%u exceed the format's %u/%u",
             max_key, max_value, FMT_KEY_MAX, FMT_VALUE_MAX);
    nb = g->nbuckets ? g->nbuckets : auto_buckets(g->file_size, item);
    if (nb < FMT_MIN_BUCKETS)
        nb = FMT_MIN_BUCKETS;
    if (nb > FMT_MAX_BUCKETS)
        FAIL(-EINVAL, "bucket count %llu is above the format's %u",
             (unsigned long long)nb, FMT_MAX_BUCKETS);
    arena_off = FMT_ALIGN_UP(FMT_PAGE + nb * FMT_LINE, FMT_PAGE);
    if (arena_off + FMT_PAGE > g->file_size)
        FAIL(-EINVAL, "%llu buckets leave no arena in %llu bytes",
             (unsigned long long)nb, (unsigned long long)g->file_size);
    arena_size = (g->file_size - arena_off) & ~((uint64_t)FMT_UNIT - 1);
    if (arena_size > FMT_ARENA_MAX)
        arena_size = FMT_ARENA_MAX;
    /* Shrink the value limit of a small table rather than refuse it, but
     * never below what the caller asked for explicitly. */
    while (FMT_ENTRY_SIZE(max_key, max_value) > arena_size / 2) {
        if (g->max_value != 0 || max_value == 0)
            FAIL(-EINVAL,
                 "an entry of key=%u value=%u bytes does not fit "
                 "half the %llu-byte arena",
                 max_key, max_value, (unsigned long long)arena_size);
        max_value /= 2;
    }

    memset(h, 0, sizeof(*h));
    h->h_magic = FMT_MAGIC;
    h->h_version = FMT_VERSION;
    h->h_header_size = sizeof(*h);
    h->h_file_size = g->file_size;
    h->h_index_off = FMT_PAGE;
    h->h_arena_off = arena_off;
    h->h_arena_size = arena_size;
    h->h_nbuckets = (uint32_t)nb;
    h->h_max_key = max_key;
    h->h_max_value = max_value;
    h->h_generation = g->generation;
    h->h_epoch_ms = table_now_ms();
    return 0;
fail:
    return rc;
}

/* Take the writer lock of the table at path: the fd holding it, or -EBUSY
 * if another writer has it, or another -errno. */
int
store_lock(const char *path, char *why, size_t whylen)
{
    char lpath[PATH_MAX];
    int fd, rc;

    if ((size_t)snprintf(lpath, sizeof(lpath), "%s.lock", path) >=
        sizeof(lpath))
        FAIL(-ENAMETOOLONG, "path too long: %s", path);
    fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        FAIL(-errno, "open %s: %s", lpath, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        FAIL(rc, "%s is locked by another writer", path);
    }
    return fd;
fail:
    return rc;
}

/*
 * Write a new table's header at offset 0 of fd (size bytes).  hugetlbfs
 * has no write(): there, through a mapping of the whole file (its length
 * must be a multiple of the huge page size, as the file's is).  Returns 0
 * or -errno.
 */
static int
write_header(int fd, const struct fmt_header *h, uint64_t size)
{
    void *p;

    if (pwrite(fd, h, sizeof(*h), 0) == (ssize_t)sizeof(*h))
        return 0;
    if (errno != EINVAL)
        return errno ? -errno : -EIO;
    p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    memcpy(p, h, sizeof(*h));
    munmap(p, (size_t)size);
    return 0;
}

/* Remove <path>.new.* left by a build that died (we hold the lock). */
static void
remove_stale_builds(const char *path)
{
    char dir[PATH_MAX], full[PATH_MAX + 256];
    const char *slash = strrchr(path, '/'), *base;
    struct dirent *de;
    size_t blen;
    DIR *d;

    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
        base = path;
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        base = slash + 1;
    }
    blen = strlen(base);
    d = opendir(dir[0] ? dir : "/");
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, base, blen) == 0 &&
            strncmp(de->d_name + blen, ".new.", 5) == 0) {
            snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
            unlink(full);
        }
    closedir(d);
}

/*
 * Build a new table for path with the lock held on lock_fd (consumed): in
 * a temporary file, filled by fill(s, arg) if not NULL, then renamed over
 * path.  Returns 0, -errno, -EINVAL, or what fill returned, with why[]
 * filled.
 */
int
store_build(const char *path, int lock_fd, const struct store_geom *g,
            mode_t mode, store_fill_fn fill, void *arg, struct store **out,
            char *why, size_t whylen)
{
    struct fmt_header h;
    char tmp[PATH_MAX] = "";
    struct store *s = NULL;
    int fd = -1, rc, saved;

    *out = NULL;
    if (lock_fd < 0)
        return lock_fd;
    remove_stale_builds(path);
    rc = store_layout(g, &h, why, whylen);
    if (rc != 0)
        goto fail;
    if (getrandom(h.h_seed, sizeof(h.h_seed), 0) != sizeof(h.h_seed))
        FAIL(errno ? -errno : -EIO, "getrandom: %s",
             strerror(errno ? errno : EIO));
    h.h_geom_check = fmt_geom_check(&h);
    h.h_state = FMT_STATE_ALIVE;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new.XXXXXX", path) >=
        sizeof(tmp)) {
        tmp[0] = '\0';
        FAIL(-ENAMETOOLONG, "path too long: %s", path);
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "create %s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto fail;
    }
    if (fchmod(fd, mode) != 0)
        FAIL(-errno, "chmod %s: %s", tmp, strerror(errno));
    rc = posix_fallocate(fd, 0, (off_t)g->file_size);
    if (rc != 0)
        FAIL(-rc, "allocate %llu bytes for %s: %s",
             (unsigned long long)g->file_size, tmp, strerror(rc));
    rc = write_header(fd, &h, g->file_size);
    if (rc != 0)
        FAIL(rc, "write header of %s: %s", tmp, strerror(-rc));
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        FAIL(-ENOMEM, "out of memory");
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->lock_fd = -1;
    rc = store_map(s, fd, g->file_size, 1, why, whylen);
    if (rc != 0)
        goto fail;
    fd = -1; /* s owns it now */
    if (fill != NULL && (rc = fill(s, arg, why, whylen)) != 0)
        goto fail;
    store_publish(s);
    SEQ_CRASH_POINT(); /* complete, not yet in place */
    if (rename(tmp, path) != 0)
        FAIL(-errno, "rename %s to %s: %s", tmp, path, strerror(errno));
    SEQ_CRASH_POINT(); /* in place, the old table not yet retired */
    s->lock_fd = lock_fd;
    *out = s;
    return 0;
fail:
    saved = errno;
    if (s != NULL && s->base != NULL) {
        munmap(s->base, s->size);
        close(s->fd);
    }
    if (s != NULL)
        free(s->freq);
    free(s);
    if (fd >= 0)
        close(fd);
    close(lock_fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    errno = saved;
    return rc;
}

/*
 * Create a new, empty table at path (replacing any file there) and open it
 * for writing.  Returns as store_build(), or -EBUSY if another writer
 * holds the table.
 */
int
store_create(const char *path, const struct store_geom *g, mode_t mode,
             struct store **out, char *why, size_t whylen)
{
    return store_build(path, store_lock(path, why, whylen), g, mode, NULL, NULL,
                       out, why, whylen);
}

/*
 * Open an existing table for writing.  Returns 0, -errno, -EBUSY if another
 * writer holds it, or SHMC_ECORRUPT / SHMC_EVERSION with why[] filled.
 */
int
store_open(const char *path, struct store **out, char *why, size_t whylen)
{
    struct store *s = NULL;
    struct stat st;
    int fd = -1, lock_fd, rc;

    *out = NULL;
    lock_fd = store_lock(path, why, whylen);
    if (lock_fd < 0)
        return lock_fd;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        FAIL(-errno, "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0)
        FAIL(-errno, "stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)FMT_PAGE)
        FAIL(SHMC_ECORRUPT, "%s: not a table file", path);
    /* A file someone else made or may change (planted in a shared
     * directory, say) is never adopted. */
    if (st.st_uid != geteuid() || (st.st_mode & 022) != 0)
        FAIL(-EPERM, "%s is owned by uid %u with mode %04o: not ours", path,
             (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        FAIL(-ENOMEM, "out of memory");
    snprintf(s->path, sizeof(s->path), "%s", path);
    rc = store_map(s, fd, (uint64_t)st.st_size, 0, why, whylen);
    if (rc != 0)
        goto fail;
    s->lock_fd = lock_fd;
    *out = s;
    return 0;
fail:
    free(s);
    if (fd >= 0)
        close(fd);
    close(lock_fd);
    return rc;
}

/* The seal of a clean close: a CRC-32C of the ring word and the counters,
 * so that one stray or torn word cannot pass for a clean table's state. */
static uint64_t
seal_of(const struct fmt_header *h)
{
    uint32_t crc = crc32c_word(CRC32C_INIT, h->h_ring);

    crc = crc32c_bytes(crc, &h->h_entries,
                       sizeof(*h) - offsetof(struct fmt_header, h_entries));
    return crc32c_final(crc);
}

/* Adopt the header's ring and counters if the seal of a clean close
 * vouches for them and the ring fits this arena; 0 if not. */
static int
adopt_clean_state(struct store *s)
{
    const struct fmt_header *h = s->hdr;
    uint64_t r = h->h_ring, units = s->arena_size / FMT_UNIT;
    uint64_t head = FMT_RING_HEAD(r), tail = FMT_RING_TAIL(r);

    if (h->h_seal != seal_of(h) || head >= units || tail >= units)
        return 0;
    s->entries = h->h_entries;
    s->sets = h->h_sets;
    s->deletes = h->h_deletes;
    s->evictions = h->h_evictions;
    s->expirations = h->h_expirations;
    s->relocations = h->h_relocations;
    s->live = h->h_live_bytes;
    s->moves = h->h_moves;
    s->evictions_index = h->h_evictions_index;
    s->head = head * FMT_UNIT;
    s->tail = tail * FMT_UNIT;
    s->used = (s->head + s->arena_size - s->tail) % s->arena_size;
    return 1;
}

/*
 * Map fd read-write and validate it; a fresh table (just built) starts
 * empty, a clean one adopts its ring and counters, any other is verified.
 * On success s owns fd.
 */
static int
store_map(struct store *s, int fd, uint64_t size, int fresh, char *why,
          size_t whylen)
{
    struct fmt_header *h;
    uint32_t i;
    int rc;

    s->base = mapping_map(fd, size, PROT_READ | PROT_WRITE);
    if (s->base == MAP_FAILED) {
        s->base = NULL;
        FAIL(-errno, "mmap: %s", strerror(errno));
    }
    s->fd = fd;
    s->size = size;
    rc = table_attach(&s->view, s->base, size, why, whylen);
    if (rc != 0)
        goto fail;
    /* Geometry from the validated copy, never re-read from the file. */
    h = s->hdr = (struct fmt_header *)s->base;
    s->buckets = (struct fmt_bucket *)s->view.buckets;
    s->arena = (unsigned char *)s->view.arena;
    s->arena_size = s->view.arena_size;
    store_set_live_hwm(s, STORE_LIVE_HWM_PCT);
    s->freq = calloc((size_t)s->view.nbuckets * FMT_SLOTS, 1);

    /* A table found at its path is live, whatever its state word says
     * (a stray RETIRED would send readers round in circles). */
    if (h->h_state != FMT_STATE_ALIVE)
        /* ORDERING: release; pairs with the acquire in table_state(). */
        __atomic_store_n(&h->h_state, FMT_STATE_ALIVE, __ATOMIC_RELEASE);
    /* A writer that died inside a write section left its bucket odd;
     * nothing else writes, so closing the section is safe. */
    for (i = 0; i < s->view.nbuckets; i++)
        if (s->buckets[i].b_seq & 1u)
            seq_write_end(&s->buckets[i].b_seq);
    s->was_clean = !fresh && h->h_clean == 1 && adopt_clean_state(s);
    if (!fresh && !s->was_clean)
        verify_table(s, &s->verified);
    /* Unclean from here on, and durably so before any change. */
    seq_store_u32(&h->h_clean, 0);
    msync(s->base, FMT_PAGE, MS_SYNC);
    store_publish(s);
    return 0;
fail:
    if (s->base != NULL)
        munmap(s->base, size);
    s->base = NULL;
    free(s->freq);
    s->freq = NULL;
    return rc;
}

/* Publish state, flush it, mark the table clean, and let it go. */
void
store_close(struct store *s)
{
    if (s == NULL)
        return;
    store_publish(s);
    seq_store_u64(&s->hdr->h_seal, seal_of(s->hdr));
    if (msync(s->base, s->size, MS_SYNC) == 0) {
        /* Clean only once everything it vouches for is on disk. */
        seq_store_u32(&s->hdr->h_clean, 1);
        msync(s->base, FMT_PAGE, MS_SYNC);
    }
    munmap(s->base, s->size);
    close(s->fd);
    close(s->lock_fd); /* last: the lock outlives every write */
    free(s->freq);
    free(s);
}

/* Let the table go without publishing, syncing or marking it clean, as a
 * writer killed at this point would (the recovery tests use it). */
void
store_abandon(struct store *s)
{
    munmap(s->base, s->size);
    close(s->fd);
    close(s->lock_fd);
    free(s->freq);
    free(s);
}

/* Write the table to its file now (disk mode; cheap on tmpfs). */
int
store_sync(struct store *s)
{
    store_publish(s);
    return msync(s->base, s->size, MS_SYNC) == 0 ? 0 : -errno;
}

/*
 * Whether the file is still as large as its mapping: 0; 1 if it shrank
 * (truncated under us: an access beyond its end would raise SIGBUS), with
 * why[] saying so; or -errno if it cannot be told.
 */
int
store_check_size(const struct store *s, char *why, size_t whylen)
{
    struct stat st;

    if (fstat(s->fd, &st) != 0)
        return -errno;
    if ((uint64_t)st.st_size >= s->size)
        return 0;
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "file truncated to %lld bytes (mapped %llu)",
                 (long long)st.st_size, (unsigned long long)s->size);
    return 1;
}

/*
 * Whether the file still has a name: 0; 1 if its last link is gone
 * (deleted under us: nobody can open it again, and a disk table's writes
 * would die with the daemon), with why[] saying so; or -errno.
 */
int
store_check_linked(const struct store *s, char *why, size_t whylen)
{
    struct stat st;

    if (fstat(s->fd, &st) != 0)
        return -errno;
    if (st.st_nlink > 0)
        return 0;
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "file deleted (no link left)");
    return 1;
}

/*
 * Give a shrunk file its size back, so that no access to its mapping
 * faults any more, ours or a reader's: what was cut off reads as zeros
 * (a hole; the table is about to be replaced, so it is not allocated).
 * Returns 0 or -errno.
 */
int
store_restore_size(struct store *s)
{
    return ftruncate(s->fd, (off_t)s->size) == 0 ? 0 : -errno;
}

/* Refresh the liveness stamp readers use to tell the daemon is alive. */
void
store_heartbeat(struct store *s, uint64_t now_ms)
{
    seq_store_u64(&s->hdr->h_heartbeat_ms, now_ms);
}

/* Tell readers this table has been replaced (they reopen the path). */
void
store_retire(struct store *s)
{
    /* ORDERING: release; pairs with the acquire in table_state(). */
    __atomic_store_n(&s->hdr->h_state, FMT_STATE_RETIRED, __ATOMIC_RELEASE);
}

/*
 * Mark the table file open on fd RETIRED without opening it as a table (it
 * may be damaged or of another format version: h_state sits at the same
 * offset in every version).  Returns 0 or -errno.
 */
int
store_retire_fd(int fd)
{
    struct stat st;
    uint32_t *state;
    void *p;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size < (off_t)FMT_PAGE)
        return -EINVAL;
    /* The whole file, not just its first page: a hugetlbfs file can only
     * be mapped in whole huge pages.  Nothing is touched but one word. */
    p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             0);
    if (p == MAP_FAILED)
        return -errno;
    state =
        (uint32_t *)((unsigned char *)p + offsetof(struct fmt_header, h_state));
    /* ORDERING: release; pairs with the acquire in table_state(). */
    __atomic_store_n(state, FMT_STATE_RETIRED, __ATOMIC_RELEASE);
    munmap(p, (size_t)st.st_size);
    return 0;
}

/* store_retire_fd() on the file at path. */
int
store_retire_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC), rc;

    if (fd < 0)
        return -errno;
    rc = store_retire_fd(fd);
    close(fd);
    return rc;
}

/* Copy the writer's ring state and counters into the header. */
void
store_publish(struct store *s)
{
    struct fmt_header *h = s->hdr;

    seq_store_u64(&h->h_ring, FMT_RING(s->head / FMT_UNIT, s->tail / FMT_UNIT));
    seq_store_u64(&h->h_entries, s->entries);
    seq_store_u64(&h->h_sets, s->sets);
    seq_store_u64(&h->h_deletes, s->deletes);
    seq_store_u64(&h->h_evictions, s->evictions);
    seq_store_u64(&h->h_expirations, s->expirations);
    seq_store_u64(&h->h_relocations, s->relocations);
    seq_store_u64(&h->h_live_bytes, s->live);
    seq_store_u64(&h->h_moves, s->moves);
    seq_store_u64(&h->h_evictions_index, s->evictions_index);
}

/* Set the high-water mark of live data, in percent of the arena: below
 * it, live entries reaching the ring's tail are moved, above it evicted. */
void
store_set_live_hwm(struct store *s, unsigned pct)
{
    s->live_hwm = s->arena_size / 100 * (pct > 100 ? 100 : pct);
}

/* Store klen key bytes then vlen value bytes as words at p (8-aligned),
 * zero-filling the last word. */
static void
store_payload(unsigned char *p, const unsigned char *key, uint64_t klen,
              const unsigned char *val, uint64_t vlen)
{
    uint64_t n = klen + vlen, off, w, take;
    unsigned char *b = (unsigned char *)&w;

    for (off = 0; off < n; off += 8) {
        if (off >= klen && n - off >= 8) {
            memcpy(&w, val + (off - klen), 8); /* the common case */
        } else {
            w = 0;
            if (off < klen) {
                take = klen - off < 8 ? klen - off : 8;
                memcpy(b, key + off, take);
            } else {
                take = 0;
            }
            if (take < 8 && n > off + take)
                memcpy(b + take, val + (off + take - klen),
                       n - off - take < 8 - take ? n - off - take : 8 - take);
        }
        seq_store_u64((uint64_t *)(p + off), w);
    }
}

/* Write a complete entry at arena offset off (memory no bucket reaches). */
static void
write_entry(struct store *s, uint64_t off, const void *key, uint32_t klen,
            const void *val, uint32_t vlen, uint64_t expiry_ms, uint32_t flags)
{
    unsigned char *p = s->arena + off;
    struct entry_head h;
    uint64_t w0, w1;

    entry_encode(klen, vlen, flags, expiry_ms, s->view.lim.epoch_ms, &w0, &w1);
    entry_decode(w0, w1, s->view.lim.epoch_ms, &h);
    store_payload(p + sizeof(struct fmt_entry), key, klen, val, vlen);
    seq_store_u64((uint64_t *)(p + 8), w1);
    seq_store_u64((uint64_t *)p,
                  w0 | entry_crc(&h, p + sizeof(struct fmt_entry)));
}

/*
 * Store key -> val (mode STORE_SET/ADD/REPLACE), expiring at expiry_ms
 * (absolute; 0 = never), flags FMT_ENTRY_NEGATIVE or 0.  Returns 0,
 * SHMC_EEXISTS (add), SHMC_ENOTFOUND (replace), SHMC_ETOOBIG, -EINVAL.
 */
int
store_set(struct store *s, const void *key, size_t klen, const void *val,
          size_t vlen, uint64_t expiry_ms, uint32_t flags, int mode,
          uint64_t now_ms)
{
    uint32_t bucket, slot, b1, b2, pos;
    struct entry_head h;
    uint64_t hash, need, off;
    int found, rc;

    if (klen == 0 || klen > s->view.max_key || vlen > s->view.max_value)
        return SHMC_ETOOBIG;
    if ((flags & ~FMT_ENTRY_USER_MASK) != 0 ||
        ((flags & FMT_ENTRY_NEGATIVE) && vlen != 0))
        return -EINVAL;
    hash = hash_key(s->view.seed, key, klen);
    if (mode != STORE_SET) {
        found = index_find(s, hash, key, (uint32_t)klen, &bucket, &slot, &h) &&
                !entry_expired(&h, now_ms);
        if (mode == STORE_ADD && found)
            return SHMC_EEXISTS;
        if (mode == STORE_REPLACE && !found)
            return SHMC_ENOTFOUND;
    }

    /* 1. Room at the ring head; this may unlink the key's old version. */
    need = FMT_ENTRY_SIZE(klen, vlen);
    rc = evict_make_room(s, need, now_ms);
    if (rc != 0)
        return rc;
    off = s->head;
    pos = (uint32_t)(off / FMT_UNIT);

    /* 2. The entry, complete, in memory no bucket reaches. */
    write_entry(s, off, key, (uint32_t)klen, val, (uint32_t)vlen, expiry_ms,
                flags);
    evict_advance_head(s, need);

    /* 3. Link it: over the old version, else a free slot, else a
     * relocation, else the oldest entry of the two buckets makes way. */
    if (index_find(s, hash, key, (uint32_t)klen, &bucket, &slot, &h)) {
        store_live_drop(s, h.size);
    } else {
        fmt_buckets(hash, s->view.nbuckets, &b1, &b2);
        bucket = b1;
        slot = index_free_slot(s, b1);
        if (slot == FMT_SLOTS) {
            bucket = b2;
            slot = index_free_slot(s, b2);
        }
        if (slot == FMT_SLOTS && !index_relocate(s, b1, b2, &bucket, &slot)) {
            slot = evict_victim(s, b1, b2, &bucket);
            index_unlink(s, bucket, slot,
                         index_entry(s, s->buckets[bucket].b_slot[slot], &h) &&
                                 entry_expired(&h, now_ms)
                             ? UNLINK_EXPIRE
                             : UNLINK_EVICT_INDEX);
        }
        s->entries++;
    }
    index_store_slot(s, bucket, slot, FMT_SLOT((uint32_t)(hash >> 32), pos));
    s->live += need;
    s->sets++;
    store_publish(s);
    return 0;
}

/* Delete a key.  Returns 0 or SHMC_ENOTFOUND (absent or already expired). */
int
store_delete(struct store *s, const void *key, size_t klen, uint64_t now_ms)
{
    uint32_t bucket, slot;
    struct entry_head h;
    uint64_t hash;
    int expired;

    if (klen == 0 || klen > s->view.max_key)
        return SHMC_ETOOBIG;
    hash = hash_key(s->view.seed, key, klen);
    if (!index_find(s, hash, key, (uint32_t)klen, &bucket, &slot, &h))
        return SHMC_ENOTFOUND;
    expired = entry_expired(&h, now_ms);
    index_unlink(s, bucket, slot, expired ? UNLINK_EXPIRE : UNLINK_DELETE);
    store_publish(s);
    return expired ? SHMC_ENOTFOUND : 0;
}

/* Give a live key a new absolute expiry.  Returns 0 or SHMC_ENOTFOUND. */
int
store_touch(struct store *s, const void *key, size_t klen, uint64_t expiry_ms,
            uint64_t now_ms)
{
    uint32_t bucket, slot;
    struct entry_head h, nh;
    struct fmt_bucket *b;
    unsigned char *p;
    uint64_t hash, w0, w1;
    uint32_t crc;

    if (klen == 0 || klen > s->view.max_key)
        return SHMC_ETOOBIG;
    hash = hash_key(s->view.seed, key, klen);
    if (!index_find(s, hash, key, (uint32_t)klen, &bucket, &slot, &h) ||
        entry_expired(&h, now_ms))
        return SHMC_ENOTFOUND;
    b = &s->buckets[bucket];
    p = s->arena + (uint64_t)FMT_SLOT_POS(b->b_slot[slot]) * FMT_UNIT;
    entry_encode(h.klen, h.vlen, h.flags, expiry_ms, s->view.lim.epoch_ms, &w0,
                 &w1);
    entry_decode(w0, w1, s->view.lim.epoch_ms, &nh);
    crc = entry_crc(&nh, p + sizeof(struct fmt_entry));
    /* The entry is reachable: change it only inside a write section. */
    seq_write_begin(&b->b_seq);
    seq_store_u64((uint64_t *)(p + 8), w1);
    seq_store_u64((uint64_t *)p, w0 | crc);
    seq_write_end(&b->b_seq);
    return 0;
}

/* Drop every entry and rewind the ring. */
void
store_flush(struct store *s)
{
    index_clear(s);
    s->head = s->tail = s->used = 0;
    store_publish(s);
}

/* Unlink expired entries from up to nbuckets buckets (a timer's sweep). */
uint64_t
store_expire(struct store *s, uint64_t now_ms, uint32_t nbuckets)
{
    uint64_t n = evict_expired(s, now_ms, nbuckets);

    store_publish(s);
    return n;
}
