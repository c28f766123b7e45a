/* SPDX-License-Identifier: MIT */
/*
 * watch.c -- a table's "invalidate_on": when one of its files changes, the
 * table is flushed (nscd's check-files), so that an edit of /etc/passwd is
 * seen at the next lookup rather than at the entry's expiry.
 *
 * One inotify descriptor for the daemon, watching the directory of each
 * file (editors and useradd replace a file by renaming a new one over it,
 * which a watch on the file itself would not follow); an event whose name
 * is a watched file's flushes every table that lists it.  Rebuilt on
 * SIGHUP.  Without inotify the tables still expire by their TTLs; that is
 * logged.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "watch.h"
#include "worker.h"

#define WATCH_MAX 64

struct watched {
    int wd;
    char dir[PATH_MAX];
    char name[NAME_MAX + 1];
};

static int ifd = -1;
static struct event *iev;
static struct watched watched[WATCH_MAX];
static size_t nwatched;

/* Flush t (guarded, tables.c) and say why; its loader's workers are
 * replaced too, so that a changed nsswitch.conf (or anything else a
 * source reads once) is read again. */
static void
flush_table(struct dtable *t, const char *why)
{
    tables_flush(t);
    worker_recycle(t);
    log_notice("watch: %s changed: flushed table=%s", why, t->cfg.name);
}

/* Whether t lists dir/name. */
static int
lists(const struct dtable *t, const char *dir, const char *name)
{
    const char *p = t->cfg.invalidate_on;
    size_t dlen = strlen(dir);
    uint32_t i;

    for (i = 0; i < t->cfg.ninvalidate; i++, p += strlen(p) + 1)
        if (strncmp(p, dir, dlen) == 0 && p[dlen] == '/' &&
            strcmp(p + dlen + 1, name) == 0)
            return 1;
    return 0;
}

static void
inotify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    const struct inotify_event *e;
    char path[PATH_MAX + NAME_MAX + 2];
    ssize_t n;
    size_t i, k;

    (void)what;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n; p += sizeof(*e) + e->len) {
            e = (const struct inotify_event *)(void *)p;
            if (e->len == 0)
                continue;
            for (i = 0; i < nwatched; i++) {
                if (watched[i].wd != e->wd ||
                    strcmp(watched[i].name, e->name) != 0)
                    continue;
                snprintf(path, sizeof(path), "%s/%s", watched[i].dir, e->name);
                for (k = 0; k < d->ntables; k++)
                    if (lists(&d->tables[k], watched[i].dir, e->name))
                        flush_table(&d->tables[k], path);
                break; /* one flush per event, however many entries */
            }
        }
    }
}

/* Watch dir for name (once per pair). */
static void
add(const char *file)
{
    struct watched *w;
    const char *slash = strrchr(file, '/');
    size_t dlen = (size_t)(slash - file), i;
    int wd;

    if (nwatched == WATCH_MAX) {
        log_warn("watch: more than %d files to watch; %s is not", WATCH_MAX,
                 file);
        return;
    }
    w = &watched[nwatched];
    snprintf(w->dir, sizeof(w->dir), "%.*s", (int)(dlen ? dlen : 1), file);
    snprintf(w->name, sizeof(w->name), "%s", slash + 1);
    for (i = 0; i < nwatched; i++)
        if (strcmp(watched[i].dir, w->dir) == 0 &&
            strcmp(watched[i].name, w->name) == 0)
            return;
    wd = inotify_add_watch(ifd, w->dir,
                           IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
                               IN_DELETE | IN_ATTRIB);
    if (wd < 0) {
        log_warn("watch: cannot watch %s for %s: %s (the tables listing it "
                 "expire by their TTLs only)",
                 w->dir, w->name, strerror(errno));
        return;
    }
    w->wd = wd;
    nwatched++;
}

/* (Re)build the watches from the tables' settings. */
void
watch_setup(struct daemon *d)
{
    size_t k;
    uint32_t i;

    watch_shutdown();
    for (k = 0; k < d->ntables; k++)
        if (d->tables[k].cfg.ninvalidate > 0)
            break;
    if (k == d->ntables)
        return;
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) {
        log_warn("watch: inotify: %s (tables expire by their TTLs only)",
                 strerror(errno));
        return;
    }
    for (k = 0; k < d->ntables; k++) {
        const char *p = d->tables[k].cfg.invalidate_on;
        for (i = 0; i < d->tables[k].cfg.ninvalidate; i++, p += strlen(p) + 1)
            add(p);
    }
    iev = event_new(d->base, ifd, EV_READ | EV_PERSIST, inotify_cb, d);
    if (iev == NULL || event_add(iev, NULL) != 0)
        log_warn("watch: cannot listen for file changes");
}

void
watch_shutdown(void)
{
    if (iev != NULL)
        event_free(iev);
    iev = NULL;
    if (ifd >= 0)
        close(ifd);
    ifd = -1;
    nwatched = 0;
}
