/*
 * store.c -- the writer: owns the writable MAP_SHARED mapping of one table.
 *
 * Creation builds the whole file beside its final name (posix_fallocate,
 * never sparse: a hole on a full tmpfs is a SIGBUS in every reader), writes
 * the header and renames it into place, so a reader opening the path sees
 * either nothing or a complete table.  Opening an existing file validates
 * its header (fmt_validate), the ring state and repairs bucket sequences
 * left odd by a writer that died mid-write.  An exclusive flock on
 * <path>.lock keeps a second writer out; the lock is not on the table file
 * itself, because readers are handed descriptors of that file and could
 * otherwise take the lock and keep the next daemon from starting.
 *
 * Mutations follow DESIGN.md section 3: the new entry is written into free
 * arena memory first, then one write section on its bucket links it (and,
 * on replace, unlinks the old version in the same store).  Every unlink --
 * delete, replace, eviction, expiry, flush -- happens inside a write section
 * of the bucket that could reach the entry; arena memory is handed out
 * again only after that (evict.c), so a reader that still holds an old
 * position fails its sequence check instead of returning the new bytes.
 *
 * Only the single writer thread calls these functions; the writer reads its
 * own memory with plain loads (nobody else stores to it) and stores with
 * the relaxed atomics of seqlock.h.
 */
#include "config.h"

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

#include "error.h"
#include "hash.h"
#include "seqlock.h"
#include "store.h"

#define DEFAULT_MAX_KEY 250u
#define DEFAULT_MAX_VALUE (1u << 20)
/* Auto sizing: one 7-slot bucket per 640-1280 bytes of file (the index is
 * 1/20 to 1/10 of it): with entries of ~150 bytes, about 4 per bucket when
 * the arena is full, which two choices plus relocation absorb. */
#define AUTO_INDEX_SHARE 10u

static int store_map(struct store *s, int fd, uint64_t size, char *why,
                     size_t whylen);
static int store_find(const struct store *s, uint64_t hash, const void *key,
                      uint32_t klen, uint32_t *bucket, uint32_t *slot);
static int relocate(struct store *s, uint32_t b1, uint32_t b2, uint32_t *bucket,
                    uint32_t *slot);
static uint64_t write_entry(struct store *s, uint64_t off, const void *key,
                            uint32_t klen, const void *val, uint32_t vlen,
                            uint64_t hash, uint64_t expiry_ms, uint32_t flags);

#define FAIL(code, ...)                                                        \
    do {                                                                       \
        if (why != NULL && whylen > 0)                                         \
            snprintf(why, whylen, __VA_ARGS__);                                \
        rc = (code);                                                           \
        goto fail;                                                             \
    } while (0)

/* Largest power of two <= x (x >= 1). */
static uint32_t
pow2_floor(uint64_t x)
{
    uint32_t p = 1;

    while ((uint64_t)p * 2 <= x && p < FMT_MAX_BUCKETS)
        p *= 2;
    return p;
}

/* Fill a header for geometry g, or say why g cannot be built. */
static int
layout(const struct store_geom *g, struct fmt_header *h, char *why,
       size_t whylen)
{
    uint64_t nb, arena_off, arena_size;
    uint32_t max_key = g->max_key ? g->max_key : DEFAULT_MAX_KEY;
    uint32_t max_value = g->max_value ? g->max_value : DEFAULT_MAX_VALUE;
    int rc;

    if (g->file_size < 4 * (uint64_t)FMT_PAGE)
        FAIL(-EINVAL, "table size %llu is below the minimum of %u bytes",
             (unsigned long long)g->file_size, 4 * FMT_PAGE);
    if (max_key > FMT_KEY_MAX || max_value > FMT_VALUE_MAX)
        FAIL(-EINVAL, "limits key=%u value=%u exceed the format's %u/%u",
             max_key, max_value, FMT_KEY_MAX, FMT_VALUE_MAX);
    nb = g->nbuckets;
    if (nb == 0)
        nb = pow2_floor(g->file_size / AUTO_INDEX_SHARE / FMT_LINE);
    if (nb < FMT_MIN_BUCKETS)
        nb = FMT_MIN_BUCKETS;
    if (nb > FMT_MAX_BUCKETS || (nb & (nb - 1)) != 0)
        FAIL(-EINVAL, "bucket count %llu is not a power of two <= %u",
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
    h->h_created_ms = table_now_ms();
    return 0;
fail:
    return rc;
}

/* Take the writer lock of the table at path: the fd holding it, or -EBUSY
 * if another writer has it, or another -errno. */
static int
lock_table(const char *path, char *why, size_t whylen)
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

static int create_locked(const char *path, const struct store_geom *g,
                         mode_t mode, int lock_fd, struct store **out,
                         char *why, size_t whylen);

/*
 * Create a new table at path (replacing any file there) and open it for
 * writing.  Returns 0, -errno, -EBUSY (another writer holds the table) or
 * -EINVAL with why[] filled.
 */
int
store_create(const char *path, const struct store_geom *g, mode_t mode,
             struct store **out, char *why, size_t whylen)
{
    int lock_fd = lock_table(path, why, whylen);

    *out = NULL;
    if (lock_fd < 0)
        return lock_fd;
    return create_locked(path, g, mode, lock_fd, out, why, whylen);
}

/*
 * Build a new table over old's file, keeping old's writer lock (the caller
 * then retires and closes old).  Returns as store_create().
 */
int
store_replace(struct store *old, const struct store_geom *g, mode_t mode,
              struct store **out, char *why, size_t whylen)
{
    int lock_fd = fcntl(old->lock_fd, F_DUPFD_CLOEXEC, 0);

    *out = NULL;
    if (lock_fd < 0) {
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "dup: %s", strerror(errno));
        return -errno;
    }
    return create_locked(old->path, g, mode, lock_fd, out, why, whylen);
}

/* store_create() with the lock already held on lock_fd (consumed). */
static int
create_locked(const char *path, const struct store_geom *g, mode_t mode,
              int lock_fd, struct store **out, char *why, size_t whylen)
{
    struct fmt_header h;
    char tmp[PATH_MAX] = "";
    struct store *s = NULL;
    int fd = -1, rc, saved;

    *out = NULL;
    rc = layout(g, &h, why, whylen);
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
    if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
        FAIL(errno ? -errno : -EIO, "write header of %s: %s", tmp,
             strerror(errno));
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        FAIL(-ENOMEM, "out of memory");
    rc = store_map(s, fd, g->file_size, why, whylen);
    if (rc != 0)
        goto fail;
    if (rename(tmp, path) != 0)
        FAIL(-errno, "rename %s to %s: %s", tmp, path, strerror(errno));
    s->lock_fd = lock_fd;
    snprintf(s->path, sizeof(s->path), "%s", path);
    *out = s;
    return 0;
fail:
    saved = errno;
    if (s != NULL && s->base != NULL)
        munmap(s->base, s->size);
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
    lock_fd = lock_table(path, why, whylen);
    if (lock_fd < 0)
        return lock_fd;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        FAIL(-errno, "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0)
        FAIL(-errno, "stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)FMT_PAGE)
        FAIL(SHMC_ECORRUPT, "%s: not a table file", path);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        FAIL(-ENOMEM, "out of memory");
    rc = store_map(s, fd, (uint64_t)st.st_size, why, whylen);
    if (rc != 0)
        goto fail;
    s->lock_fd = lock_fd;
    snprintf(s->path, sizeof(s->path), "%s", path);
    *out = s;
    return 0;
fail:
    free(s);
    if (fd >= 0)
        close(fd);
    close(lock_fd);
    return rc;
}

/*
 * Map fd read-write, validate it, adopt its ring state and repair odd
 * sequences.  On success s owns fd.
 */
static int
store_map(struct store *s, int fd, uint64_t size, char *why, size_t whylen)
{
    struct fmt_header *h;
    uint64_t head, tail, used, a;
    uint32_t i;
    int rc;

    s->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
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
    s->arena_size = a = s->view.arena_size;

    head = h->h_ring_head;
    tail = h->h_ring_tail;
    used = h->h_ring_used;
    if (head > a || tail >= a || used > a || head % FMT_UNIT != 0 ||
        tail % FMT_UNIT != 0 || used % FMT_UNIT != 0 ||
        (head + a - tail) % a != used % a)
        FAIL(SHMC_ECORRUPT,
             "ring state head=%llu tail=%llu used=%llu "
             "does not fit the %llu-byte arena",
             (unsigned long long)head, (unsigned long long)tail,
             (unsigned long long)used, (unsigned long long)a);
    s->head = head;
    s->tail = tail;
    s->used = used;
    s->entries = h->h_entries;
    s->sets = h->h_sets;
    s->deletes = h->h_deletes;
    s->evictions = h->h_evictions;
    s->expirations = h->h_expirations;
    s->relocations = h->h_relocations;

    /* A writer that died inside a write section left its bucket odd;
     * nothing else writes, so closing the section is safe. */
    for (i = 0; i <= s->view.mask; i++)
        if (s->buckets[i].b_seq & 1u)
            seq_write_end(&s->buckets[i].b_seq);
    s->was_clean = h->h_clean == 1;
    if (!s->was_clean)
        persist_verify(s, &s->verified);
    seq_store_u32(&h->h_clean, 0);
    return 0;
fail:
    if (s->base != NULL)
        munmap(s->base, size);
    s->base = NULL;
    return rc;
}

/* Publish state, mark the table clean, flush it and let it go. */
void
store_close(struct store *s)
{
    if (s == NULL)
        return;
    store_publish(s);
    seq_store_u32(&s->hdr->h_clean, 1);
    msync(s->base, s->size, MS_SYNC);
    munmap(s->base, s->size);
    close(s->fd);
    close(s->lock_fd); /* last: the lock outlives every write */
    free(s);
}

/* Write the table to its file now (disk mode; cheap on tmpfs). */
int
store_sync(struct store *s)
{
    store_publish(s);
    return msync(s->base, s->size, MS_SYNC) == 0 ? 0 : -errno;
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
 * Copy the writer's ring position into the header.  Crash safety rests on
 * the order of calls in store_set(): the header's [tail, head) always
 * covers every linked entry and nothing outside it has been overwritten,
 * so a restart after SIGKILL can walk the ring from the header.
 */
void
store_publish_ring(struct store *s)
{
    struct fmt_header *h = s->hdr;

    seq_store_u64(&h->h_ring_head, s->head);
    seq_store_u64(&h->h_ring_tail, s->tail);
    seq_store_u64(&h->h_ring_used, s->used);
}

/* Copy the writer's ring state and counters into the header. */
void
store_publish(struct store *s)
{
    struct fmt_header *h = s->hdr;

    store_publish_ring(s);
    seq_store_u64(&h->h_entries, s->entries);
    seq_store_u64(&h->h_sets, s->sets);
    seq_store_u64(&h->h_deletes, s->deletes);
    seq_store_u64(&h->h_evictions, s->evictions);
    seq_store_u64(&h->h_expirations, s->expirations);
    seq_store_u64(&h->h_relocations, s->relocations);
}

/* Whether an entry has expired at now_ms. */
int
store_expired(const struct fmt_entry *e, uint64_t now_ms)
{
    return e->e_expiry_ms != 0 && e->e_expiry_ms <= now_ms;
}

/* How to count a live entry pushed out to make room: its time may be up. */
int
store_drop_reason(const struct fmt_entry *e, uint64_t now_ms)
{
    /* NULL: an unsound slot (store_slot_entry()); it is simply dropped. */
    return e != NULL && store_expired(e, now_ms) ? UNLINK_EXPIRE : UNLINK_EVICT;
}

/*
 * The entry a slot links, or NULL if the slot or the entry's header is
 * not sound: outside the arena, a pad, or sizes beyond the table's limits
 * or past the arena's end.  Every place the writer follows a slot comes
 * through here, so a damaged table (even one marked clean, which is not
 * verified at open) can never make the daemon read outside its mapping.
 */
struct fmt_entry *
store_slot_entry(const struct store *s, uint64_t slot)
{
    uint64_t off = (uint64_t)FMT_SLOT_POS(slot) * FMT_UNIT;
    struct fmt_entry *e;

    if (slot == 0 || off >= s->arena_size || s->arena_size - off < sizeof(*e))
        return NULL;
    e = (struct fmt_entry *)(s->arena + off);
    if (e->e_klen == 0 || e->e_klen > s->view.max_key ||
        e->e_vlen > s->view.max_value || (e->e_flags & FMT_ENTRY_PAD) ||
        FMT_ENTRY_SIZE(e->e_klen, e->e_vlen) > s->arena_size - off)
        return NULL;
    return e;
}

/* Find a key's slot; returns 1 and sets bucket/slot if present. */
static int
store_find(const struct store *s, uint64_t hash, const void *key, uint32_t klen,
           uint32_t *bucket, uint32_t *slot)
{
    uint32_t b[2], tag = (uint32_t)(hash >> 32), i, j;
    const struct fmt_entry *e;
    uint64_t v;

    table_buckets(hash, s->view.mask, s->view.shift, &b[0], &b[1]);
    for (j = 0; j < 2; j++) {
        for (i = 0; i < FMT_SLOTS; i++) {
            v = s->buckets[b[j]].b_slot[i];
            if (v == 0 || FMT_SLOT_TAG(v) != tag)
                continue;
            e = store_slot_entry(s, v);
            if (e != NULL && e->e_hash == hash && e->e_klen == klen &&
                memcmp(e + 1, key, klen) == 0) {
                *bucket = b[j];
                *slot = i;
                return 1;
            }
        }
    }
    return 0;
}

/* Find the slot that links the entry at unit position pos. */
int
store_find_pos(const struct store *s, uint64_t hash, uint32_t pos,
               uint32_t *bucket, uint32_t *slot)
{
    uint32_t b[2], i, j;
    uint64_t want = FMT_SLOT((uint32_t)(hash >> 32), pos);

    table_buckets(hash, s->view.mask, s->view.shift, &b[0], &b[1]);
    for (j = 0; j < 2; j++)
        for (i = 0; i < FMT_SLOTS; i++)
            if (s->buckets[b[j]].b_slot[i] == want) {
                *bucket = b[j];
                *slot = i;
                return 1;
            }
    return 0;
}

/* Unlink one slot in its own write section; why is an UNLINK_* reason. */
void
store_unlink(struct store *s, uint32_t bucket, uint32_t slot, int why)
{
    struct fmt_bucket *b = &s->buckets[bucket];

    seq_write_begin(&b->b_seq);
    seq_store_u64(&b->b_slot[slot], 0);
    seq_write_end(&b->b_seq);
    s->entries--;
    if (why == UNLINK_EXPIRE)
        s->expirations++;
    else if (why == UNLINK_EVICT)
        s->evictions++;
    else
        s->deletes++;
}

/* A free slot of a bucket, or FMT_SLOTS. */
static uint32_t
free_slot(const struct fmt_bucket *b)
{
    uint32_t i;

    for (i = 0; i < FMT_SLOTS; i++)
        if (b->b_slot[i] == 0)
            break;
    return i;
}

/*
 * Both buckets of a new key are full: move one of their entries that sits
 * in its first bucket to its second bucket, if that has room, and hand
 * back the slot it left.  Returns 1 on success.
 *
 * Readers probe a key's first bucket, then its second.  The move links the
 * entry in the second bucket before it unlinks it from the first, in two
 * write sections, so a reader finds it in one or the other at every
 * moment.  (Moving the other way could miss, so it is never done.)
 */
static int
relocate(struct store *s, uint32_t b1, uint32_t b2, uint32_t *bucket,
         uint32_t *slot)
{
    uint32_t from[2] = {b1, b2}, i, j, eb1, eb2, to;
    const struct fmt_entry *e;
    uint64_t v;

    for (j = 0; j < 2; j++) {
        for (i = 0; i < FMT_SLOTS; i++) {
            v = s->buckets[from[j]].b_slot[i];
            e = store_slot_entry(s, v);
            if (e == NULL)
                continue; /* unsound: evict_victim() may take it */
            table_buckets(e->e_hash, s->view.mask, s->view.shift, &eb1, &eb2);
            if (eb1 != from[j])
                continue;
            to = free_slot(&s->buckets[eb2]);
            if (to == FMT_SLOTS)
                continue;
            seq_write_begin(&s->buckets[eb2].b_seq);
            seq_store_u64(&s->buckets[eb2].b_slot[to], v);
            seq_write_end(&s->buckets[eb2].b_seq);
            seq_write_begin(&s->buckets[from[j]].b_seq);
            seq_store_u64(&s->buckets[from[j]].b_slot[i], 0);
            seq_write_end(&s->buckets[from[j]].b_seq);
            *bucket = from[j];
            *slot = i;
            s->relocations++;
            return 1;
        }
    }
    return 0;
}

/* Write a complete entry at arena offset off; returns its checksum. */
static uint64_t
write_entry(struct store *s, uint64_t off, const void *key, uint32_t klen,
            const void *val, uint32_t vlen, uint64_t hash, uint64_t expiry_ms,
            uint32_t flags)
{
    struct fmt_entry *e = (struct fmt_entry *)(s->arena + off);
    uint64_t check;

    check = fmt_entry_check(klen, vlen, flags, hash, expiry_ms, key, val);
    seq_store_u32(&e->e_size, (uint32_t)FMT_ENTRY_SIZE(klen, vlen));
    seq_store_u32(&e->e_flags, flags);
    seq_store_u32(&e->e_klen, klen);
    seq_store_u32(&e->e_vlen, vlen);
    seq_store_u64(&e->e_hash, hash);
    seq_store_u64(&e->e_expiry_ms, expiry_ms);
    seq_store_u64(&e->e_check, check);
    seq_store_words(e + 1, key, klen);
    if (vlen > 0)
        seq_store_words((unsigned char *)e + FMT_VALUE_OFF(klen), val, vlen);
    return check;
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
    uint64_t hash, need, off;
    struct fmt_bucket *b;
    int found, rc;

    if (klen == 0 || klen > s->view.max_key || vlen > s->view.max_value)
        return SHMC_ETOOBIG;
    if ((flags & ~FMT_ENTRY_USER_MASK) != 0 ||
        ((flags & FMT_ENTRY_NEGATIVE) && vlen != 0))
        return -EINVAL;
    hash = hash_key(s->view.seed, key, klen);
    if (mode != STORE_SET) {
        found =
            store_find(s, hash, key, (uint32_t)klen, &bucket, &slot) &&
            !store_expired(store_slot_entry(s, s->buckets[bucket].b_slot[slot]),
                           now_ms);
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
    /* The header must not claim reclaimed memory before we write it. */
    store_publish_ring(s);

    /* 2. The entry, complete, in memory no bucket reaches. */
    write_entry(s, off, key, (uint32_t)klen, val, (uint32_t)vlen, hash,
                expiry_ms, flags);
    s->head += need;
    s->used += need;
    /* ... and must cover the entry before any bucket links it. */
    store_publish_ring(s);

    /* 3. Link it: over the old version, else a free slot, else the oldest
     * entry of the two buckets makes way. */
    if (!store_find(s, hash, key, (uint32_t)klen, &bucket, &slot)) {
        table_buckets(hash, s->view.mask, s->view.shift, &b1, &b2);
        bucket = b1;
        slot = free_slot(&s->buckets[b1]);
        if (slot == FMT_SLOTS) {
            bucket = b2;
            slot = free_slot(&s->buckets[b2]);
        }
        if (slot == FMT_SLOTS && relocate(s, b1, b2, &bucket, &slot))
            ;
        else if (slot == FMT_SLOTS) {
            slot = evict_victim(s, b1, b2, &bucket);
            store_unlink(
                s, bucket, slot,
                store_drop_reason(
                    store_slot_entry(s, s->buckets[bucket].b_slot[slot]),
                    now_ms));
        }
        s->entries++;
    }
    b = &s->buckets[bucket];
    seq_write_begin(&b->b_seq);
    seq_store_u64(&b->b_slot[slot], FMT_SLOT((uint32_t)(hash >> 32), pos));
    seq_write_end(&b->b_seq);
    s->sets++;
    store_publish(s);
    return 0;
}

/* Delete a key.  Returns 0 or SHMC_ENOTFOUND (absent or already expired). */
int
store_delete(struct store *s, const void *key, size_t klen, uint64_t now_ms)
{
    uint32_t bucket, slot;
    uint64_t hash;
    int expired;

    if (klen == 0 || klen > s->view.max_key)
        return SHMC_ETOOBIG;
    hash = hash_key(s->view.seed, key, klen);
    if (!store_find(s, hash, key, (uint32_t)klen, &bucket, &slot))
        return SHMC_ENOTFOUND;
    expired = store_expired(
        store_slot_entry(s, s->buckets[bucket].b_slot[slot]), now_ms);
    store_unlink(s, bucket, slot, expired ? UNLINK_EXPIRE : UNLINK_DELETE);
    store_publish(s);
    return expired ? SHMC_ENOTFOUND : 0;
}

/* Give a live key a new absolute expiry.  Returns 0 or SHMC_ENOTFOUND. */
int
store_touch(struct store *s, const void *key, size_t klen, uint64_t expiry_ms,
            uint64_t now_ms)
{
    uint32_t bucket, slot;
    struct fmt_entry *e;
    struct fmt_bucket *b;
    uint64_t hash, check;

    if (klen == 0 || klen > s->view.max_key)
        return SHMC_ETOOBIG;
    hash = hash_key(s->view.seed, key, klen);
    if (!store_find(s, hash, key, (uint32_t)klen, &bucket, &slot))
        return SHMC_ENOTFOUND;
    b = &s->buckets[bucket];
    e = store_slot_entry(s, b->b_slot[slot]);
    if (store_expired(e, now_ms))
        return SHMC_ENOTFOUND;
    check =
        fmt_entry_check(e->e_klen, e->e_vlen, e->e_flags, hash, expiry_ms,
                        e + 1, (unsigned char *)e + FMT_VALUE_OFF(e->e_klen));
    /* The entry is reachable: change it only inside a write section. */
    seq_write_begin(&b->b_seq);
    seq_store_u64(&e->e_expiry_ms, expiry_ms);
    seq_store_u64(&e->e_check, check);
    seq_write_end(&b->b_seq);
    return 0;
}

/* Drop every entry and rewind the ring. */
void
store_flush(struct store *s)
{
    struct fmt_bucket *b;
    uint32_t i, j;
    int busy;

    for (i = 0; i <= s->view.mask; i++) {
        b = &s->buckets[i];
        for (busy = 0, j = 0; j < FMT_SLOTS; j++)
            busy |= b->b_slot[j] != 0;
        if (!busy)
            continue;
        seq_write_begin(&b->b_seq);
        for (j = 0; j < FMT_SLOTS; j++)
            seq_store_u64(&b->b_slot[j], 0);
        seq_write_end(&b->b_seq);
    }
    s->head = s->tail = s->used = 0;
    s->entries = 0;
    store_publish(s);
}
