/*
 * tables.c -- open every configured table at start-up (DESIGN.md sec. 4).
 *
 * A table file left by an earlier run is reused when its header validates
 * and its geometry is what the config asks for: readers that still map it
 * keep working across the restart.  A file with other geometry is replaced:
 * the new table is built beside it and renamed over the path (store.c),
 * and once the daemon listens (tables_retire_replaced()) the old header is
 * marked RETIRED, so its readers reopen and reach the daemon at once.
 * A file whose header does not validate is set aside under a new name
 * (kept for inspection, never deleted) and a new table is created; the log
 * says which of these happened.  Another process holding the table's lock
 * is an error: two daemons must never write one table.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "notify.h"
#include "tables.h"

/* Whether two table configs need the same file layout. */
int
tables_same_geometry(const struct conf_table *a, const struct conf_table *b)
{
    return a->disk == b->disk && a->size_bytes == b->size_bytes &&
           a->buckets == b->buckets && a->max_key_bytes == b->max_key_bytes &&
           a->max_value_bytes == b->max_value_bytes;
}

/* Whether an open store has the layout cfg asks for. */
static int
store_matches(const struct store *s, const struct conf_table *cfg)
{
    return s->size == cfg->size_bytes &&
           (cfg->buckets == 0 || s->view.mask + 1 == cfg->buckets) &&
           s->view.max_key == cfg->max_key_bytes &&
           s->view.max_value == cfg->max_value_bytes;
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

/* Open, reuse or replace one table. */
static int
open_one(struct dtable *t, const char *dir, char *err, size_t errlen)
{
    struct store_geom g = {t->cfg.size_bytes, t->cfg.buckets,
                           t->cfg.max_key_bytes, t->cfg.max_value_bytes, 1};
    struct store *old = NULL;
    char why[256], aside[PATH_MAX + 64];
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
    if (rc == 0 && store_matches(old, &t->cfg)) {
        log_notice("tables: reopened table=%s path=%s entries=%llu clean=%d "
                   "dropped=%llu ms=%llu",
                   t->cfg.name, t->path, (unsigned long long)old->entries,
                   old->was_clean, (unsigned long long)old->verified.dropped,
                   (unsigned long long)(table_now_ms() - t0));
        t->st = old;
        return 0;
    }
    if (rc == -EBUSY) {
        snprintf(err, errlen, "table %s: %s is in use by another daemon",
                 t->cfg.name, t->path);
        return rc;
    }
    if (rc == 0) {
        g.generation = old->view.generation + 1;
        log_notice("tables: replacing table=%s path=%s reason=geometry "
                   "changed generation=%llu",
                   t->cfg.name, t->path, (unsigned long long)g.generation);
    } else if (rc == SHMC_ECORRUPT || rc == SHMC_EVERSION) {
        /* Keep the bad file under a name nothing else uses; if it cannot
         * be moved, stop rather than build the new table over it. */
        int i;
        for (i = 0; i < 100; i++) {
            snprintf(aside, sizeof(aside), "%s.bad-%lld-%d", t->path,
                     (long long)time(NULL), i);
            if (access(aside, F_OK) != 0)
                break;
        }
        if (rename(t->path, aside) != 0) {
            snprintf(err, errlen, "table %s: cannot set aside %s: %s",
                     t->cfg.name, t->path, strerror(errno));
            return -errno;
        }
        log_warn("tables: set aside unusable table=%s path=%s "
                 "reason=\"%s\"",
                 t->cfg.name, aside, why);
    } else if (rc != -ENOENT) {
        snprintf(err, errlen, "table %s: %s", t->cfg.name, why);
        return rc;
    }
    rc = old != NULL ? store_replace(old, &g, (mode_t)t->cfg.file_mode, &t->st,
                                     why, sizeof(why))
                     : store_create(t->path, &g, (mode_t)t->cfg.file_mode,
                                    &t->st, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "table %s: %s", t->cfg.name, why);
        store_close(old);
        return rc;
    }
    if (t->cfg.file_gid >= 0 &&
        fchown(t->st->fd, (uid_t)-1, (gid_t)t->cfg.file_gid) != 0)
        log_warn("tables: chgrp table=%s gid=%lld: %s", t->cfg.name,
                 (long long)t->cfg.file_gid, strerror(errno));
    /* The old file is retired later, once the socket listens, so that
     * its readers can reopen through the daemon at once. */
    t->replaced = old;
    log_notice("tables: created table=%s path=%s size=%llu buckets=%u",
               t->cfg.name, t->path, (unsigned long long)t->st->size,
               t->st->view.mask + 1);
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
    for (i = 0; i < n; i++)
        store_close(t[i].st);
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
