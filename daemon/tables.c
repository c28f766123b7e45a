/* SPDX-License-Identifier: MIT */
/*
 * tables.c -- open every configured table at start-up (doc/design.md,
 * "Lifecycle").
 *
 * A table file left by an earlier run is reused when its header validates
 * and its geometry is what the config asks for: readers that still map it
 * keep working across the restart.  A file with other geometry is replaced
 * by a table built beside it from its live entries (migrate.c: newest
 * first, as many as fit) and renamed over the path; once the daemon
 * listens (tables_retire_replaced()) the old header is marked RETIRED, so
 * its readers reopen and reach the daemon at once.  A format 1 file is
 * converted the same way, and retired at once.  A file whose header does
 * not validate is marked RETIRED, set aside under a new name (kept for
 * inspection, never deleted) and a new table is created.  The log says
 * which of these happened and how many entries were kept.  Another process
 * holding the table's lock is an error: two daemons must never write one
 * table.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "format_v1.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"
#include "tables.h"

static mode_t file_mode_of(const struct conf_table *cfg);

/* Whether two table configs need the same file layout. */
int
tables_same_geometry(const struct conf_table *a, const struct conf_table *b)
{
    return a->disk == b->disk && a->size_bytes == b->size_bytes &&
           a->buckets == b->buckets && a->item_bytes == b->item_bytes &&
           a->max_key_bytes == b->max_key_bytes &&
           a->max_value_bytes == b->max_value_bytes;
}

/* The geometry a table's config asks for. */
static struct store_geom
geom_of(const struct conf_table *cfg)
{
    struct store_geom g = {cfg->size_bytes,
                           cfg->buckets,
                           cfg->max_key_bytes,
                           cfg->max_value_bytes,
                           1,
                           cfg->item_bytes};
    return g;
}

/* Whether an open store has the layout g asks for (store_layout() is the
 * one place that resolves defaults, so a limit left to its default can
 * never look changed). */
static int
store_matches(const struct store *s, const struct store_geom *g)
{
    struct fmt_header want;
    const struct fmt_header *h = s->hdr;

    if (store_layout(g, &want, NULL, 0) != 0)
        return 0;
    return h->h_file_size == want.h_file_size &&
           h->h_nbuckets == want.h_nbuckets &&
           h->h_arena_off == want.h_arena_off &&
           h->h_arena_size == want.h_arena_size &&
           h->h_max_key == want.h_max_key && h->h_max_value == want.h_max_value;
}

/* Whether the file at path starts like a format 1 table. */
static int
is_v1_file(const char *path)
{
    struct v1_header h;
    int fd = open(path, O_RDONLY | O_CLOEXEC), v1 = 0;

    if (fd < 0)
        return 0;
    v1 = pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
         h.h_magic == FMT_MAGIC && h.h_version == V1_VERSION;
    close(fd);
    return v1;
}

/*
 * Convert the format 1 table at t->path into a format 2 table with its
 * live entries, then retire the old file.  Returns 0, or a negative code
 * with why[] filled (the caller then sets the file aside).
 */
static int
convert_v1(struct dtable *t, struct store_geom *g, char *why, size_t whylen)
{
    struct migrate_src src = {NULL, NULL, 0, table_now_ms(), 0, 0, 0};
    int lock_fd, fd = -1, rc;
    struct stat st;
    void *base = MAP_FAILED;

    lock_fd = store_lock(t->path, why, whylen);
    if (lock_fd < 0)
        return lock_fd;
    fd = open(t->path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        snprintf(why, whylen, "open: %s", strerror(errno));
        goto fail;
    }
    base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        rc = -errno;
        snprintf(why, whylen, "mmap: %s", strerror(errno));
        goto fail;
    }
    rc = migrate_v1_valid(base, (uint64_t)st.st_size, why, whylen);
    if (rc != 0)
        goto fail;
    src.v1 = base;
    src.v1_size = (uint64_t)st.st_size;
    g->generation = ((const struct v1_header *)base)->h_generation + 1;
    rc = store_build(t->path, lock_fd, g, file_mode_of(&t->cfg), migrate_fill,
                     &src, &t->st, why, whylen);
    lock_fd = -1; /* consumed */
    if (rc != 0)
        goto fail;
    store_retire_fd(fd);
    log_notice("tables: converted table=%s from format 1 to format %u "
               "kept=%llu dropped=%llu damaged=%llu",
               t->cfg.name, FMT_VERSION, (unsigned long long)src.kept,
               (unsigned long long)(src.found - src.kept),
               (unsigned long long)src.damaged);
fail:
    if (base != MAP_FAILED)
        munmap(base, (size_t)st.st_size);
    if (fd >= 0)
        close(fd);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

/* Mark an unusable file RETIRED and move it aside; 0 or -errno. */
static int
set_aside(struct dtable *t, const char *reason, char *err, size_t errlen)
{
    char aside[PATH_MAX + 64];
    int i;

    /* Readers that mapped it before it went bad must move on. */
    store_retire_file(t->path);
    /* Keep the bad file under a name nothing else uses; if it cannot be
     * moved, stop rather than build the new table over it. */
    for (i = 0; i < 100; i++) {
        snprintf(aside, sizeof(aside), "%s.bad-%lld-%d", t->path,
                 (long long)time(NULL), i);
        if (access(aside, F_OK) != 0)
            break;
    }
    if (rename(t->path, aside) != 0) {
        snprintf(err, errlen, "table %s: cannot set aside %s: %s", t->cfg.name,
                 t->path, strerror(errno));
        return -errno;
    }
    log_warn("tables: set aside unusable table=%s path=%s reason=\"%s\"",
             t->cfg.name, aside, reason);
    return 0;
}

/*
 * Whether the file at path looks like a table closed cleanly; if not, a
 * full verification is coming, so ask systemd for more start-up time
 * (EXTEND_TIMEOUT_USEC): generously, 1 s per 100 MB plus 10 s.
 */
static void
extend_if_unclean(const struct dtable *t)
{
    struct fmt_header h;
    struct stat st;
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 &&
        pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
        h.h_magic == FMT_MAGIC && h.h_clean != 1) {
        notify_send("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=Verifying table %s",
                    (unsigned long long)(st.st_size / 100 + 10 * 1000000ULL),
                    t->cfg.name);
        log_notice("tables: table=%s was not closed cleanly; verifying",
                   t->cfg.name);
    }
    close(fd);
}

/*
 * Give the table file the mode its ACL allows.  A table with read lists is
 * readable by the daemon's user only, whatever file_mode says: its readers
 * get a descriptor over the socket (OPEN), which checks the lists, and
 * nobody reads it by path.  A public table (no read lists) keeps
 * file_mode.  Applied at every start, to old files too.
 */
static mode_t
file_mode_of(const struct conf_table *cfg)
{
    mode_t mode = (mode_t)cfg->file_mode & 0666;

    return cfg->read_any ? mode : mode & 0600;
}

/* tables_apply_mode(): see above. */
void
tables_apply_mode(const struct dtable *t)
{
    mode_t mode = file_mode_of(&t->cfg);

    if (fchmod(t->st->fd, mode) != 0)
        log_warn("tables: chmod table=%s mode=%04o: %s", t->cfg.name,
                 (unsigned)mode, strerror(errno));
}

/* Open, reuse, resize, convert or replace one table. */
static int
open_one(struct dtable *t, const char *dir, char *err, size_t errlen)
{
    struct store_geom g = geom_of(&t->cfg);
    struct migrate_src src = {NULL, NULL, 0, 0, 0, 0, 0};
    struct store *old = NULL;
    char why[256];
    uint64_t t0;
    int rc;

    if ((size_t)snprintf(t->path, sizeof(t->path), "%s/%s.shm", dir,
                         t->cfg.name) >= sizeof(t->path) - 16) {
        snprintf(err, errlen, "table %s: directory path too long", t->cfg.name);
        return -ENAMETOOLONG;
    }
    extend_if_unclean(t);
    t0 = table_now_ms();
    rc = store_open(t->path, &old, why, sizeof(why));
    if (rc == 0 && store_matches(old, &g)) {
        log_notice("tables: reopened table=%s path=%s entries=%llu clean=%d "
                   "dropped=%llu ms=%llu",
                   t->cfg.name, t->path, (unsigned long long)old->entries,
                   old->was_clean, (unsigned long long)old->verified.dropped,
                   (unsigned long long)(table_now_ms() - t0));
        t->st = old;
        goto adopted;
    }
    if (rc == -EBUSY) {
        snprintf(err, errlen, "table %s: %s is in use by another daemon",
                 t->cfg.name, t->path);
        return rc;
    }
    if (rc == 0) {
        /* New geometry: a new table from the old one's live entries. */
        g.generation = old->view.generation + 1;
        src.from = old;
        src.now_ms = table_now_ms();
        rc = store_build(t->path, fcntl(old->lock_fd, F_DUPFD_CLOEXEC, 0), &g,
                         file_mode_of(&t->cfg), migrate_fill, &src, &t->st, why,
                         sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, "table %s: %s", t->cfg.name, why);
            store_close(old);
            return rc;
        }
        log_notice("tables: resized table=%s path=%s generation=%llu "
                   "kept=%llu dropped=%llu damaged=%llu",
                   t->cfg.name, t->path, (unsigned long long)g.generation,
                   (unsigned long long)src.kept,
                   (unsigned long long)(src.found - src.kept),
                   (unsigned long long)src.damaged);
        /* Retired once the socket listens, so that its readers can
         * reopen through the daemon at once. */
        t->replaced = old;
        goto created;
    }
    if (rc == SHMC_EVERSION && is_v1_file(t->path)) {
        rc = convert_v1(t, &g, why, sizeof(why));
        if (rc == 0)
            goto created;
        if (rc == -EBUSY) {
            snprintf(err, errlen, "table %s: %s is in use by another daemon",
                     t->cfg.name, t->path);
            return rc;
        }
        rc = SHMC_ECORRUPT;
    }
    if (rc == SHMC_ECORRUPT || rc == SHMC_EVERSION || rc == -EPERM) {
        rc = set_aside(t, why, err, errlen);
        if (rc != 0)
            return rc;
    } else if (rc != -ENOENT) {
        snprintf(err, errlen, "table %s: %s", t->cfg.name, why);
        return rc;
    }
    rc = store_create(t->path, &g, file_mode_of(&t->cfg), &t->st, why,
                      sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "table %s: %s", t->cfg.name, why);
        return rc;
    }
    log_notice("tables: created table=%s path=%s size=%llu buckets=%u",
               t->cfg.name, t->path, (unsigned long long)t->st->size,
               t->st->view.nbuckets);
created:
    if (t->cfg.file_gid >= 0 &&
        fchown(t->st->fd, (uid_t)-1, (gid_t)t->cfg.file_gid) != 0)
        log_warn("tables: chgrp table=%s gid=%lld: %s", t->cfg.name,
                 (long long)t->cfg.file_gid, strerror(errno));
adopted:
    store_set_live_hwm(t->st, t->cfg.live_hwm_pct);
    tables_apply_mode(t);
    return 0;
}

/* Open every table of c.  Returns 0, or a negative code with err filled. */
int
tables_open(const struct conf *c, const char *runtime_dir,
            const char *state_dir, struct dtable **out, size_t *n, char *err,
            size_t errlen)
{
    struct dtable *t = calloc(c->ntables, sizeof(*t));
    size_t i;
    int rc;

    *out = NULL;
    *n = 0;
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (i = 0; i < c->ntables; i++) {
        t[i].cfg = c->tables[i];
        rc = open_one(&t[i], t[i].cfg.disk ? state_dir : runtime_dir, err,
                      errlen);
        if (rc != 0) {
            tables_close(t, i);
            return rc;
        }
    }
    *out = t;
    *n = c->ntables;
    return 0;
}

/* Tell the readers of replaced table files to reopen (RETIRED). */
void
tables_retire_replaced(struct dtable *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (t[i].replaced != NULL) {
            store_retire(t[i].replaced);
            store_close(t[i].replaced);
            t[i].replaced = NULL;
        }
}

/* Close every table cleanly (marks them clean and syncs them). */
void
tables_close(struct dtable *t, size_t n)
{
    size_t i;

    tables_retire_replaced(t, n);
    for (i = 0; i < n; i++) {
        hints_free(&t[i].hints);
        store_close(t[i].st);
    }
    free(t);
}

/* The table called name[len], or NULL. */
struct dtable *
tables_find(struct dtable *t, size_t n, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strlen(t[i].cfg.name) == len &&
            memcmp(t[i].cfg.name, name, len) == 0)
            return &t[i];
    return NULL;
}
