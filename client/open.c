/* SPDX-License-Identifier: MIT */
/*
 * open.c -- shmc_open(), shmc_open_file(), shmc_close(), and reopening a
 * table the daemon replaced.
 *
 * A handle maps its table read-only.  When the daemon replaces a table
 * (new size, rebuilt after damage) it marks the old file RETIRED;
 * shmc_get() sees that on its next lookup and calls handle_reopen(),
 * which maps the new file and publishes it with a release store.  The old
 * mapping is not unmapped: another thread may be copying out of it at
 * that very moment, and nothing tells us when it is done.  Retired
 * mappings are kept on a list and unmapped by shmc_close(); a table is
 * replaced only on a daemon restart with a new geometry, so the list stays
 * short.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "handle.h"

#define DEFAULT_SOCKET RUNSTATEDIR "/shmcached/control.sock"
/* After a failed reopen, the next attempt waits this long. */
#define REOPEN_PAUSE_MS 100u

static void hints_register_locked(shmc_t *h);

/* Map fd as a new mapping; returns it or NULL with *rc set. */
static struct mapping *
map_fd(int fd, int *rc)
{
    struct mapping *m = calloc(1, sizeof(*m));
    char why[128];

    if (m == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    *rc = table_open_fd(&m->t, fd, why, sizeof(why));
    if (*rc != 0) {
        free(m);
        return NULL;
    }
    return m;
}

/* A fresh mapping of the table: by path, or through the daemon. */
static struct mapping *
map_table_locked(shmc_t *h, int *rc)
{
    struct mapping *m;
    int fd = -1;

    if (h->file_path != NULL) {
        /* O_NONBLOCK: a FIFO in its place must not hang us (the mapping
         * code then refuses anything but a regular file). */
        fd = open(h->file_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
            *rc = -errno;
            return NULL;
        }
    } else {
        *rc = conn_call_locked(h, PROTO_OP_OPEN, NULL, 0, NULL, 0, 0, 0, &fd,
                               NULL, NULL);
        if (*rc == 0 && fd < 0)
            *rc = SHMC_EPROTO; /* an OPEN reply must carry a descriptor */
        if (*rc != 0) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
    }
    m = map_fd(fd, rc);
    close(fd);
    return m;
}

/*
 * Replace the mapping `seen` (found RETIRED) by a fresh one, unless another
 * thread did so already.  Returns 0 or the error of mapping anew.
 *
 * If the path holds no live table either (a copy of a retired file), the
 * old mapping keeps answering (serve_retired) instead of a new mapping of
 * the same retired data per call.  If mapping anew fails (no daemon),
 * the error is returned, and the next attempt waits REOPEN_PAUSE_MS so
 * that lookups do not all queue up on the daemon.
 */
int
handle_reopen(shmc_t *h, struct mapping *seen)
{
    struct mapping *m;
    int rc = 0;

    /* ORDERING: relaxed; a pacing hint, not synchronisation. */
    if (table_now_ms() < __atomic_load_n(&h->reopen_after_ms, __ATOMIC_RELAXED))
        return __atomic_load_n(&h->reopen_err, __ATOMIC_RELAXED);
    pthread_mutex_lock(&h->lock);
    if (__atomic_load_n(&h->cur, __ATOMIC_RELAXED) == seen) {
        m = map_table_locked(h, &rc);
        if (m != NULL && table_state(&m->t) != FMT_STATE_ALIVE) {
            table_close(&m->t);
            free(m);
            __atomic_store_n(&seen->t.serve_retired, 1, __ATOMIC_RELAXED);
        } else if (m != NULL) {
            m->older = h->cur;
            /* ORDERING: release; pairs with the acquire load of h->cur in
             * shmc_get(), which then sees a fully built mapping. */
            __atomic_store_n(&h->cur, m, __ATOMIC_RELEASE);
            hints_register_locked(h); /* a new daemon, perhaps */
        } else {
            __atomic_store_n(&h->reopen_err, rc, __ATOMIC_RELAXED);
            __atomic_store_n(&h->reopen_after_ms,
                             table_now_ms() + REOPEN_PAUSE_MS,
                             __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/*
 * Give the daemon this handle's hint area, creating it the first time: a
 * memfd sealed against shrinking (the daemon maps it and would fault on a
 * shorter file).  Best effort: without it lookups work the same, the
 * daemon only learns less about what is read.  The mutex must be held.
 */
static void
hints_register_locked(shmc_t *h)
{
    size_t bytes = (size_t)FMT_HINT_WORDS * 8u;
    void *p;
    int fd;

    if (h->socket_path == NULL)
        return;
    if (h->hints == NULL) {
        fd = memfd_create("shmcache-hints", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            return;
        if (ftruncate(fd, (off_t)bytes) != 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
                0 ||
            (p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                      0)) == MAP_FAILED) {
            close(fd);
            return;
        }
        h->hints_fd = fd;
        /* ORDERING: release; readers of the handle find the area only
         * once it is mapped. */
        __atomic_store_n(&h->hints, (uint64_t *)p, __ATOMIC_RELEASE);
    }
    /* The daemon overwrites this at each drain; until then, the
     * staleness check in shmc_get() waits from now. */
    __atomic_store_n(&h->hints[0], table_now_ms(), __ATOMIC_RELAXED);
    h->pass_fd = h->hints_fd;
    (void)conn_call_locked(h, PROTO_OP_HINTS, NULL, 0, NULL, 0, 0, 0, NULL,
                           NULL, NULL);
    h->pass_fd = -1;
}

/* The daemon stopped draining the hint area (it restarted, or dropped the
 * area while the handle was idle): give it again. */
void
handle_hints_refresh(shmc_t *h)
{
    pthread_mutex_lock(&h->lock);
    hints_register_locked(h);
    pthread_mutex_unlock(&h->lock);
}

/* A new handle with nothing open yet. */
static shmc_t *
handle_new(void)
{
    shmc_t *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->sock = -1;
    h->pass_fd = -1;
    h->hints_fd = -1;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

/* Open a table through the daemon (see shmcache.h). */
SHMC_EXPORT int
shmc_open(const char *socket_path, const char *table, int flags, shmc_t **out)
{
    shmc_t *h;
    int rc;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (table == NULL || *table == '\0' || strlen(table) > PROTO_TABLE_MAX ||
        flags != 0)
        return -EINVAL;
    if (socket_path == NULL)
        socket_path = secure_getenv("SHMCACHE_SOCKET");
    if (socket_path == NULL || *socket_path == '\0')
        socket_path = DEFAULT_SOCKET;
    h = handle_new();
    if (h == NULL)
        return -ENOMEM;
    h->socket_path = strdup(socket_path);
    if (h->socket_path == NULL) {
        shmc_close(h);
        return -ENOMEM;
    }
    strcpy(h->table, table);
    pthread_mutex_lock(&h->lock);
    h->cur = map_table_locked(h, &rc);
    if (h->cur != NULL)
        hints_register_locked(h);
    pthread_mutex_unlock(&h->lock);
    if (h->cur == NULL) {
        shmc_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* Open a table file without the daemon (see shmcache.h). */
SHMC_EXPORT int
shmc_open_file(const char *table_path, int flags, shmc_t **out)
{
    shmc_t *h;
    int rc;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (table_path == NULL || flags != 0)
        return -EINVAL;
    h = handle_new();
    if (h == NULL)
        return -ENOMEM;
    h->file_path = strdup(table_path);
    if (h->file_path == NULL) {
        shmc_close(h);
        return -ENOMEM;
    }
    h->cur = map_table_locked(h, &rc);
    if (h->cur == NULL) {
        shmc_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* Close a handle (see shmcache.h). */
SHMC_EXPORT void
shmc_close(shmc_t *h)
{
    struct mapping *m, *older;

    if (h == NULL)
        return;
    for (m = h->cur; m != NULL; m = older) {
        older = m->older;
        table_close(&m->t);
        free(m);
    }
    conn_close_locked(h);
    if (h->hints != NULL)
        munmap(h->hints, (size_t)FMT_HINT_WORDS * 8u);
    if (h->hints_fd >= 0)
        close(h->hints_fd);
    pthread_mutex_destroy(&h->lock);
    free(h->socket_path);
    free(h->file_path);
    free(h);
}
