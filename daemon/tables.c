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
 *
 * While the daemon runs, a table whose file shrank under its mapping
 * (truncated by root or the daemon's user; found by the sweep's size check
 * or by a guarded access that faulted, guard.c), or was deleted (no link
 * left: nobody could open it, and a disk table's writes would be lost at
 * the next stop), is replaced the same way:
 * the file's size is restored, so no access to the old mapping faults any
 * more, a link to it is kept aside, a new table is built from the entries
 * that still check out and renamed over the path, and the old file is
 * marked RETIRED, so that its readers reopen.
 *
 * Every table also has an entry in the runtime directory, so that a reader
 * with the daemon down finds any table's file in one place: a memory
 * table's file is <runtime-dir>/<table>.shm; for a disk table the daemon
 * makes that name a symbolic link to <state-dir>/<table>.shm (shmcachectl
 * follows it; so does shmc_open_file()).  A link left by a disk table that
 * is now a memory table is removed before the memory table is opened, so
 * the daemon never opens a disk file as a memory table.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "format_v1.h"
#include "guard.h"
#include "log.h"
#include "mapping.h"
#include "migrate.h"
#include "notify.h"
#include "tables.h"
#include "verify.h"

/* How soon a deleted file that could not be replaced is tried again. */
#define REPLACE_RETRY_MS 10000

static mode_t file_mode_of(const struct conf_table *cfg);

/* Whether two table configs need the same file layout. */
int
tables_same_geometry(const struct conf_table *a, const struct conf_table *b)
{
    return a->disk == b->disk && a->size_bytes == b->size_bytes &&
           a->buckets == b->buckets && a->item_bytes == b->item_bytes &&
           a->max_key_bytes == b->max_key_bytes &&
           a->max_value_bytes == b->max_value_bytes &&
           strcmp(a->directory, b->directory) == 0;
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

/* Whether the file at path starts with a table's magic (any version). */
static int
is_table_file(const char *path)
{
    struct fmt_header h;
    int fd = open(path, O_RDONLY | O_CLOEXEC), yes;

    if (fd < 0)
        return 0;
    yes = pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
          h.h_magic == FMT_MAGIC;
    close(fd);
    return yes;
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

/* A name for a bad file of t that nothing else uses: <path>.bad-<time>-<n>. */
static void
aside_name(const struct dtable *t, char *aside, size_t size)
{
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(aside, size, "%s.bad-%lld-%d", t->path, (long long)time(NULL),
                 i);
        if (access(aside, F_OK) != 0)
            break;
    }
}

/* Mark an unusable file RETIRED and move it aside; 0 or -errno. */
static int
set_aside(struct dtable *t, const char *reason, char *err, size_t errlen)
{
    char aside[PATH_MAX + 64];

    /* Readers that mapped it before it went bad must move on. */
    store_retire_file(t->path);
    /* Keep the bad file under a name nothing else uses; if it cannot be
     * moved, stop rather than build the new table over it. */
    aside_name(t, aside, sizeof(aside));
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

/* Give a table file we made the configured group (file_gid). */
static void
set_group(const struct dtable *t)
{
    if (t->cfg.file_gid >= 0 &&
        fchown(t->st->fd, (uid_t)-1, (gid_t)t->cfg.file_gid) != 0)
        log_warn("tables: chgrp table=%s gid=%lld: %s", t->cfg.name,
                 (long long)t->cfg.file_gid, strerror(errno));
}

/* The FMT_RES_* a table's config asks for. */
static uint32_t
residency_wanted(const struct conf_table *cfg)
{
    return (cfg->populate ? FMT_RES_POPULATE : 0u) |
           (cfg->lock ? FMT_RES_LOCK : 0u) |
           (cfg->huge_pages ? FMT_RES_HUGE : 0u);
}

/*
 * Make t's table as resident as its config asks (residency.c) and log
 * what came of it: one notice if anything was asked, one warning per
 * shortfall.  Returns 0, or -errno with err[] filled if the table cannot
 * be locked (the caller decides whether that is fatal: at start it is).
 */
int
tables_apply_residency(struct dtable *t, char *err, size_t errlen)
{
    struct residency *r = &t->res;
    uint32_t want = residency_wanted(&t->cfg);
    int rc;

    if (want == 0 && r->have == 0)
        return 0;
    rc = residency_apply(t->st, want, r);
    log_notice("residency: table=%s populate=%s lock=%s huge_pages=%s "
               "huge_bytes=%llu%s%s ms=%llu",
               t->cfg.name, t->cfg.populate ? "yes" : "no",
               r->have & FMT_RES_LOCK ? "yes" : "no",
               residency_huge_name(r->huge), (unsigned long long)r->huge_bytes,
               *r->huge_via ? " via=" : "", r->huge_via,
               (unsigned long long)r->ms);
    if (r->why[0] != '\0')
        log_warn("residency: table=%s %s", t->cfg.name, r->why);
    if (rc != 0)
        snprintf(err, errlen, "table %s: cannot lock it in memory: %s",
                 t->cfg.name, r->why);
    return rc;
}

/*
 * Refuse a directory that cannot hold the table: on hugetlbfs the file's
 * size must be a whole number of its huge pages.  0, or -EINVAL with
 * err[] filled.
 */
static int
check_dir(const struct dtable *t, const char *dir, char *err, size_t errlen)
{
    uint64_t page;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fs;

    if (fd < 0)
        return 0; /* building the table will say what is wrong */
    fs = mapping_fs(fd, &page);
    close(fd);
    if (fs == MAPPING_FS_HUGETLBFS && t->cfg.size_bytes % page != 0) {
        snprintf(err, errlen,
                 "table %s: size_bytes %llu is not a multiple of the huge "
                 "page size %llu of the hugetlbfs at %s",
                 t->cfg.name, (unsigned long long)t->cfg.size_bytes,
                 (unsigned long long)page, dir);
        return -EINVAL;
    }
    return 0;
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
    rc = check_dir(t, dir, err, errlen);
    if (rc != 0)
        return rc;
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
    set_group(t);
adopted:
    store_set_live_hwm(t->st, t->cfg.live_hwm_pct);
    tables_apply_mode(t);
    return tables_apply_residency(t, err, errlen);
}

/* Remove a symbolic link at path (a disk table's runtime entry, left
 * behind when that table became a memory table). */
static void
unlink_stale_link(const char *name, const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
        return;
    if (unlink(path) != 0)
        log_warn("tables: remove old link table=%s path=%s: %s", name, path,
                 strerror(errno));
    else
        log_notice("tables: removed old disk-table link table=%s path=%s", name,
                   path);
}

/*
 * Make <runtime_dir>/<name>.shm a symbolic link to the disk table t's
 * file (see the top of this file).  A memory table's file found there
 * (the table was in memory before) is marked RETIRED, so that its readers
 * reopen and find the disk table, and then replaced by the link; one that
 * another daemon holds is left alone.  Failures are logged, not fatal: the
 * daemon serves the table either way.
 */
static void
link_runtime_entry(const struct dtable *t, const char *runtime_dir)
{
    char link[PATH_MAX], tmp[PATH_MAX + 16], target[PATH_MAX], old[PATH_MAX];
    struct stat st, rt, sd;
    const char *slash = strrchr(t->path, '/');
    ssize_t n;
    int lock_fd;

    if ((size_t)snprintf(link, sizeof(link), "%s/%s.shm", runtime_dir,
                         t->cfg.name) >= sizeof(link) ||
        realpath(t->path, target) == NULL)
        goto fail;
    /* One directory for both: the file is its own entry. */
    snprintf(old, sizeof(old), "%.*s", slash ? (int)(slash - t->path) : 1,
             slash ? t->path : ".");
    if (stat(runtime_dir, &rt) == 0 && stat(old, &sd) == 0 &&
        rt.st_dev == sd.st_dev && rt.st_ino == sd.st_ino)
        return;
    if (lstat(link, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            n = readlink(link, old, sizeof(old) - 1);
            if (n >= 0) {
                old[n] = '\0';
                if (strcmp(old, target) == 0)
                    return; /* already right */
            }
        } else if (S_ISREG(st.st_mode)) {
            lock_fd = store_lock(link, old, sizeof(old));
            if (lock_fd < 0) {
                log_warn("tables: runtime entry table=%s path=%s: %s; "
                         "not linked",
                         t->cfg.name, link, old);
                return;
            }
            if (is_table_file(link))
                store_retire_file(link);
            close(lock_fd);
        } else {
            errno = EEXIST;
            goto fail;
        }
    }
    snprintf(tmp, sizeof(tmp), "%s.link-new", link);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        goto fail;
    if (rename(tmp, link) != 0) {
        unlink(tmp);
        goto fail;
    }
    log_info("tables: linked table=%s runtime_entry=%s target=%s", t->cfg.name,
             link, target);
    return;
fail:
    log_warn("tables: cannot link table=%s into %s: %s (readers with the "
             "daemon down need its path)",
             t->cfg.name, runtime_dir, strerror(errno));
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
        if (!t[i].cfg.disk &&
            (size_t)snprintf(t[i].path, sizeof(t[i].path), "%s/%s.shm",
                             runtime_dir, t[i].cfg.name) < sizeof(t[i].path))
            unlink_stale_link(t[i].cfg.name, t[i].path);
        rc = open_one(&t[i],
                      t[i].cfg.disk                   ? state_dir
                      : t[i].cfg.directory[0] != '\0' ? t[i].cfg.directory
                                                      : runtime_dir,
                      err, errlen);
        if (rc != 0) {
            tables_close(t, t[i].st != NULL ? i + 1 : i);
            return rc;
        }
        if (t[i].cfg.disk)
            link_runtime_entry(&t[i], runtime_dir);
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

/* store_close(), guarded: a file that shrank is let go unsynced. */
static void
close_guarded(struct store *s)
{
    struct guard g;

    if (sigsetjmp(g.env, 0) != 0) {
        log_err("tables: path=%s faulted at close (truncated?); left "
                "unclean",
                s->path);
        store_abandon(s);
        return;
    }
    guard_arm(&g, s->base, s->size);
    store_close(s);
    guard_disarm(&g);
}

/* Close every table cleanly (marks them clean and syncs them). */
void
tables_close(struct dtable *t, size_t n)
{
    size_t i;

    tables_retire_replaced(t, n);
    for (i = 0; i < n; i++) {
        hints_free(&t[i].hints);
        if (t[i].st != NULL)
            close_guarded(t[i].st);
    }
    free(t);
}

/* migrate_fill() from a damaged table, guarded: should the old file
 * shrink again meanwhile, the fill fails (and the table starts empty). */
static int
fill_from_damaged(struct store *dst, void *arg, char *why, size_t whylen)
{
    struct migrate_src *src = arg;
    struct guard g;
    int rc;

    if (sigsetjmp(g.env, 0) != 0) {
        snprintf(why, whylen, "the old file faulted again while read");
        return -EIO;
    }
    guard_arm(&g, src->from->base, src->from->size);
    rc = migrate_fill(dst, arg, why, whylen);
    guard_disarm(&g);
    return rc;
}

/* Mark the old file RETIRED, guarded; 0, or -1 if that faulted. */
static int
retire_guarded(struct store *s)
{
    struct guard g;

    if (sigsetjmp(g.env, 0) != 0)
        return -1;
    guard_arm(&g, s->base, s->size);
    store_retire(s);
    guard_disarm(&g);
    return 0;
}

/* Bring an abandoned writer state in line with the slots again, guarded
 * (the last resort below); 0, or -1 if that faulted. */
static int
verify_guarded(struct store *s)
{
    struct guard g;

    if (sigsetjmp(g.env, 0) != 0)
        return -1;
    guard_arm(&g, s->base, s->size);
    verify_table(s, &s->verified);
    store_publish(s);
    guard_disarm(&g);
    return 0;
}

/*
 * Replace a table whose file was damaged under the running daemon (see the
 * file comment); cause says how it was found.  Never fails: if no new
 * table can be built, the old one, its size restored, is verified and
 * kept (its readers keep their mapping; one that reopens it may find the
 * header gone and be refused until the next start).
 */
static void
replace_damaged(struct dtable *t, const char *cause)
{
    struct store *old = t->st, *st = NULL;
    struct store_geom g = geom_of(&t->cfg);
    struct migrate_src src = {old, NULL, 0, table_now_ms(), 0, 0, 0};
    char aside[PATH_MAX + 64], why[256] = "";
    uint64_t entries = old->entries;
    int rc;

    log_err("tables: table=%s path=%s damaged under the daemon: %s; "
            "replacing it",
            t->cfg.name, t->path, cause);
    /* 1. No access to the old mapping may fault any more. */
    rc = store_restore_size(old);
    if (rc != 0)
        log_err("tables: table=%s cannot restore the size of %s: %s",
                t->cfg.name, t->path, strerror(-rc));
    /* 2. The damaged file stays for inspection under a second name; its
     * path keeps it until the new table is renamed over it. */
    aside_name(t, aside, sizeof(aside));
    if (link(t->path, aside) != 0) {
        if (errno != ENOENT) /* deleted: nothing to keep */
            log_warn("tables: table=%s cannot keep %s as %s: %s", t->cfg.name,
                     t->path, aside, strerror(errno));
        snprintf(aside, sizeof(aside), "none");
    }
    /* 3. A new table from the entries that still check out (zeros where
     * the file was cut, or garbage, are dropped); empty if that fails. */
    g.generation = old->view.generation + 1;
    if (rc == 0)
        rc = store_build(t->path, fcntl(old->lock_fd, F_DUPFD_CLOEXEC, 0), &g,
                         file_mode_of(&t->cfg), fill_from_damaged, &src, &st,
                         why, sizeof(why));
    else
        snprintf(why, sizeof(why), "its size could not be restored");
    if (rc != 0) {
        log_warn("tables: table=%s starts empty: %s", t->cfg.name, why);
        src.kept = 0;
        rc = store_build(t->path, fcntl(old->lock_fd, F_DUPFD_CLOEXEC, 0), &g,
                         file_mode_of(&t->cfg), NULL, NULL, &st, why,
                         sizeof(why));
    }
    if (rc != 0) {
        log_err("tables: table=%s cannot be replaced: %s; verifying the "
                "damaged file in place",
                t->cfg.name, why);
        if (verify_guarded(old) != 0)
            log_err("tables: table=%s faulted again; it will be replaced "
                    "at the next sweep",
                    t->cfg.name);
        t->replace_failed_ms = table_now_ms();
        return;
    }
    /* 4. Its readers reopen: the new file is in place already. */
    if (retire_guarded(old) != 0)
        log_warn("tables: table=%s the old file cannot be marked RETIRED",
                 t->cfg.name);
    store_abandon(old);
    t->st = st;
    t->replace_failed_ms = 0;
    store_heartbeat(st, table_now_ms());
    set_group(t);
    store_set_live_hwm(t->st, t->cfg.live_hwm_pct);
    tables_apply_mode(t);
    memset(&t->res, 0, sizeof(t->res)); /* a new mapping: nothing locked */
    if (tables_apply_residency(t, why, sizeof(why)) != 0)
        log_err("tables: %s", why);
    log_notice(
        "tables: replaced damaged table=%s path=%s generation=%llu "
        "kept=%llu dropped=%llu aside=%s",
        t->cfg.name, t->path, (unsigned long long)g.generation,
        (unsigned long long)src.kept,
        (unsigned long long)(entries > src.kept ? entries - src.kept : 0),
        aside);
}

/*
 * Expiries are stored relative to the table's epoch, within about +-17.4
 * years (FMT_EXPIRY_REL_MAX): beyond, they are clamped, and a write with a
 * TTL would be born expired.  So when the wall clock is more than half
 * that far from the epoch (a clock set wrong at boot, then corrected), the
 * table is rebuilt around the current time, with its live entries (as for
 * a resize), and the old file retired.  Returns 1 if it was (logged).  A
 * rebuild that fails is logged and tried again at most once a minute.
 */
int
tables_check_epoch(struct dtable *t, uint64_t now_ms)
{
    struct store *old = t->st, *st = NULL;
    struct store_geom g = geom_of(&t->cfg);
    struct migrate_src src = {old, NULL, 0, now_ms, 0, 0, 0};
    int64_t off = (int64_t)(now_ms - old->view.lim.epoch_ms);
    char why[256] = "";
    int rc;

    if ((off < FMT_EXPIRY_REL_MAX / 2 && off > -(FMT_EXPIRY_REL_MAX / 2)) ||
        (t->epoch_retry_ms != 0 && now_ms - t->epoch_retry_ms < 60000))
        return 0;
    g.generation = old->view.generation + 1;
    rc = store_build(t->path, fcntl(old->lock_fd, F_DUPFD_CLOEXEC, 0), &g,
                     file_mode_of(&t->cfg), fill_from_damaged, &src, &st, why,
                     sizeof(why));
    if (rc != 0) {
        log_err("tables: table=%s the wall clock is %lld days from the "
                "table's epoch, and it cannot be rebuilt: %s",
                t->cfg.name, (long long)(off / 86400000), why);
        t->epoch_retry_ms = now_ms;
        return 0;
    }
    t->epoch_retry_ms = 0;
    log_warn("tables: rebuilt table=%s path=%s around the wall clock, %lld "
             "days from the table's epoch: generation=%llu kept=%llu",
             t->cfg.name, t->path, (long long)(off / 86400000),
             (unsigned long long)g.generation, (unsigned long long)src.kept);
    if (retire_guarded(old) != 0)
        log_warn("tables: table=%s the old file cannot be marked RETIRED",
                 t->cfg.name);
    close_guarded(old);
    t->st = st;
    store_heartbeat(st, now_ms);
    set_group(t);
    store_set_live_hwm(t->st, t->cfg.live_hwm_pct);
    tables_apply_mode(t);
    return 1;
}

/* If t's file shrank under its mapping, or was deleted, replace the
 * table (logged) and return 1; else 0.  The sweep calls it, and OPEN
 * before it hands out the file. */
int
tables_check_size(struct dtable *t)
{
    char why[128];

    if (store_check_size(t->st, why, sizeof(why)) != 1) {
        if (store_check_linked(t->st, why, sizeof(why)) != 1)
            return 0;
        /* Deleted, and no new file could be made (disk full): that
         * stays so for a while; try again every REPLACE_RETRY_MS. */
        if (t->replace_failed_ms != 0 &&
            table_now_ms() - t->replace_failed_ms < REPLACE_RETRY_MS)
            return 0;
    }
    replace_damaged(t, why);
    return 1;
}

/* A guarded access to t's mapping faulted (SIGBUS): replace the table. */
void
tables_faulted(struct dtable *t)
{
    char why[160];
    int rc = store_check_size(t->st, why, sizeof(why));

    if (rc != 1)
        snprintf(why, sizeof(why),
                 "an access to its mapping faulted (SIGBUS), file size "
                 "unchanged%s",
                 rc < 0 ? " or unknown" : "");
    else
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 "; an access faulted");
    replace_damaged(t, why);
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

/* Flush t, its mapping guarded (as every write from the loop). */
void
tables_flush(struct dtable *t)
{
    struct guard g;

    if (sigsetjmp(g.env, 0) != 0) {
        tables_faulted(t);
        return;
    }
    guard_arm(&g, t->st->base, t->st->size);
    store_flush(t->st);
    guard_disarm(&g);
}

/* Delete a key of t, its mapping guarded.  0, SHMC_ENOTFOUND, or
 * SHMC_ECORRUPT when the mapping faulted (the table is replaced). */
int
tables_delete(struct dtable *t, const void *key, size_t klen, uint64_t now)
{
    struct guard g;
    int rc;

    if (sigsetjmp(g.env, 0) != 0) {
        tables_faulted(t);
        return SHMC_ECORRUPT;
    }
    guard_arm(&g, t->st->base, t->st->size);
    rc = store_delete(t->st, key, klen, now);
    guard_disarm(&g);
    return rc;
}
