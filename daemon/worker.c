/* SPDX-License-Identifier: MIT */
/*
 * worker.c -- persistent loader processes, after unscd's workers.
 *
 * Starting a process per miss costs a fork, an exec and, for the nss
 * helper, glibc's whole NSS set-up: most of a millisecond.  A table whose
 * loader is "persistent" (the nss loader's default; opt-in for exec)
 * keeps its loader programs running instead and hands each one key at a
 * time over its stdin, the answer coming back on its stdout, framed as
 * common/loadwire.h says.  loader.c still owns everything about a load
 * (merged misses, max_queued, timeout_ms, stats, storing, answering): a
 * worker is only where a load it starts runs, and the result goes back
 * through loader_done(), as a redis GET's does.
 *
 * Invariants:
 *   - at most max_running live workers per table (a load needs a worker
 *     and loader.c runs at most max_running loads; a live worker is idle
 *     or busy with exactly one load);
 *   - a worker is started the way a one-shot run is (child.c: own
 *     session, the loader's user, nothing open but its pipes and stderr,
 *     a parent-death signal), and when it goes, for whatever reason, its
 *     process group is SIGKILLed at once;
 *   - only the reaper (SIGCHLD, worker_reaped()) and worker_shutdown()
 *     free a worker, so no callback frees the worker it runs for;
 *   - nothing a worker writes is trusted: every length is checked against
 *     the table's limit before anything is allocated, a read never asks
 *     for more than the reply still owes, and anything out of place fails
 *     the load in flight (SHMC_ELOADER, or SHMC_ETOOBIG) and retires the
 *     worker.  The daemon never blocks on a worker: both pipes are
 *     non-blocking and served by the event loop.
 *
 * A worker retires (and is killed) after worker_requests keys, after
 * worker_idle_s without one, on SIGHUP and when a file of the table's
 * invalidate_on changes (so a new nsswitch.conf is read by a new
 * process); a busy one finishes its key first.  It is lost when it passes
 * timeout_ms (loader.c cancels it), exits, or breaks the protocol.  A
 * worker that had answered before and dies before a byte of its next
 * reply (killed while idle, say) costs nothing: the key is handed to
 * another worker, once.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "daemon.h"
#include "error.h"
#include "format.h"
#include "loadwire.h"
#include "loader.h"
#include "log.h"
#include "worker.h"

_Static_assert(FMT_KEY_MAX <= LOADWIRE_KEY_MAX, "every key fits a request");

/* Where a worker is in its life. */
enum wstate {
    W_IDLE, /* alive, waiting for a key */
    W_BUSY, /* alive, answering w->load */
    W_GONE  /* killed or exited; waiting to be reaped */
};

struct worker {
    struct worker *prev, *next;
    struct daemon *d;
    struct dtable *t;
    pid_t pid;
    int state;  /* enum wstate */
    int reaped; /* waitpid() returned it: its pid is no longer ours */
    int retire; /* go once the key in flight is answered */
    int in_fd;  /* its stdin; -1 once gone */
    int out_fd; /* its stdout; -1 once gone */
    struct event *rev, *wev, *idle_ev;
    struct load *load; /* the load in flight (W_BUSY) */
    uint64_t served;   /* replies it gave */
    uint64_t idle_since_ms;
    /* The request in flight, kept whole for a retry elsewhere. */
    unsigned char req[LOADWIRE_REQ_HDR + LOADWIRE_KEY_MAX];
    size_t reqlen, reqoff;
    /* The reply so far: its header, then its value. */
    unsigned char hdr[LOADWIRE_REP_HDR];
    size_t hdrgot;
    unsigned char *val;
    size_t vlen, vgot;
};

static struct worker *workers; /* every worker not yet reaped and freed */

static int assign(struct worker *w, struct load *l, const unsigned char *req,
                  size_t reqlen);
static void pump(struct worker *w);

/* ---- life and death ---- */

/* Reasons a worker goes, for the counters. */
enum why { WHY_RECYCLED, WHY_LOST };

/*
 * Take w out of service: no more events, its pipes closed, its process
 * group killed (unless already reaped).  Does not touch w->load; the
 * caller has taken it.  The reaper frees w.
 */
static void
retire(struct worker *w, enum why why)
{
    struct loader_stats *s = &w->t->lstats;

    if (w->state == W_GONE)
        return;
    if (w->state == W_IDLE)
        s->workers_idle--;
    s->workers_running--;
    if (why == WHY_RECYCLED)
        s->workers_recycled++;
    else
        s->workers_lost++;
    w->state = W_GONE;
    w->load = NULL;
    if (w->rev != NULL)
        event_free(w->rev);
    if (w->wev != NULL)
        event_free(w->wev);
    if (w->idle_ev != NULL)
        event_free(w->idle_ev);
    w->rev = w->wev = w->idle_ev = NULL;
    if (w->in_fd >= 0)
        close(w->in_fd);
    if (w->out_fd >= 0)
        close(w->out_fd);
    w->in_fd = w->out_fd = -1;
    free(w->val);
    w->val = NULL;
    if (!w->reaped)
        child_kill(w->pid);
    log_debug("loader: worker %s table=%s pid=%d served=%llu",
              why == WHY_RECYCLED ? "recycled" : "lost", w->t->cfg.name,
              (int)w->pid, (unsigned long long)w->served);
}

static void
unlink_free(struct worker *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        workers = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    free(w);
}

/* No more keys for a while: retire. */
static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    retire(w, WHY_RECYCLED);
}

/* Back to the pool, with its idle timer; or retired, when its time is up. */
static void
make_idle(struct worker *w)
{
    const struct conf_loader *ld = &w->t->cfg.loader;
    struct timeval tv = {(time_t)ld->worker_idle_s, 0};

    if (w->retire || w->served >= ld->worker_requests) {
        retire(w, WHY_RECYCLED);
        return;
    }
    w->state = W_IDLE;
    w->t->lstats.workers_idle++;
    w->idle_since_ms = mono_ms();
    evtimer_add(w->idle_ev, &tv);
}

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);

/* Start a new worker for t (child.c).  0 with *out set, or an error. */
static int
spawn(struct daemon *d, struct dtable *t, struct worker **out)
{
    struct worker *w = calloc(1, sizeof(*w));
    struct child c;
    int rc;

    if (w == NULL)
        return -ENOMEM;
    if ((rc = child_start(t, NULL, 0, &c)) != 0) {
        free(w);
        return rc;
    }
    w->d = d;
    w->t = t;
    w->pid = c.pid;
    w->in_fd = c.in_fd;
    w->out_fd = c.out_fd;
    w->state = W_IDLE;
    w->next = workers;
    if (workers != NULL)
        workers->prev = w;
    workers = w;
    t->lstats.workers_started++;
    t->lstats.workers_running++;
    t->lstats.workers_idle++;
    w->rev = event_new(d->base, w->out_fd, EV_READ | EV_PERSIST, read_cb, w);
    w->wev = event_new(d->base, w->in_fd, EV_WRITE, write_cb, w);
    w->idle_ev = evtimer_new(d->base, idle_cb, w);
    if (w->rev == NULL || w->wev == NULL || w->idle_ev == NULL ||
        event_add(w->rev, NULL) != 0) {
        retire(w, WHY_LOST); /* the reaper frees it */
        return -ENOMEM;
    }
    log_debug("loader: worker started table=%s pid=%d", t->cfg.name,
              (int)w->pid);
    *out = w;
    return 0;
}

/* The idle worker of t used last (so the others idle out), or NULL. */
static struct worker *
pick(const struct dtable *t)
{
    struct worker *w, *best = NULL;

    for (w = workers; w != NULL; w = w->next)
        if (w->t == t && w->state == W_IDLE && !w->reaped &&
            (best == NULL || w->idle_since_ms > best->idle_since_ms))
            best = w;
    return best;
}

/* Hand a request to an idle worker of t, or a new one, skipping idle ones
 * that turn out dead.  0, or an error for the load. */
static int
dispatch(struct daemon *d, struct dtable *t, struct load *l,
         const unsigned char *req, size_t reqlen, struct worker **out)
{
    struct worker *w;
    int rc;

    for (;;) {
        w = pick(t);
        if (w == NULL) {
            if (t->lstats.workers_running >= t->cfg.loader.max_running)
                return SHMC_EBUSY; /* cannot happen: loads <= max_running */
            if ((rc = spawn(d, t, &w)) != 0)
                return rc;
        }
        rc = assign(w, l, req, reqlen);
        if (rc == 0) {
            *out = w;
            return 0;
        }
        /* Its stdin is closed: it died while idle.  A new worker failing
         * so fails the load; an old one makes way for another. */
        log_warn("loader: worker gone while idle table=%s pid=%d", t->cfg.name,
                 (int)w->pid);
        w->load = NULL;
        retire(w, WHY_LOST);
        if (w->served == 0)
            return SHMC_ELOADER;
    }
}

/* ---- the request ---- */

/* Write what is left of the request; wait for room when the pipe is full.
 * 0, or -errno when the worker's stdin is closed. */
static int
flush_req(struct worker *w)
{
    ssize_t n;

    while (w->reqoff < w->reqlen) {
        n = write(w->in_fd, w->req + w->reqoff, w->reqlen - w->reqoff);
        if (n > 0) {
            w->reqoff += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            event_add(w->wev, NULL);
            return 0;
        } else {
            return n < 0 ? -errno : -EPIPE;
        }
    }
    return 0;
}

/* Make idle w busy with l's request.  0, or -errno if it cannot be sent. */
static int
assign(struct worker *w, struct load *l, const unsigned char *req,
       size_t reqlen)
{
    evtimer_del(w->idle_ev);
    w->t->lstats.workers_idle--;
    w->state = W_BUSY;
    w->load = l;
    memcpy(w->req, req, reqlen);
    w->reqlen = reqlen;
    w->reqoff = 0;
    w->hdrgot = 0;
    w->vlen = w->vgot = 0;
    return flush_req(w);
}

/*
 * w failed its load (status for the waiters, why for the log): retire it
 * and end the load -- or, when w had answered before and not a byte of
 * this reply came, hand the key to another worker first.
 */
static void
lost(struct worker *w, int status, const char *why)
{
    struct load *l = w->load;
    struct worker *other;
    int retry = l != NULL && w->served > 0 && w->hdrgot == 0 &&
                status == SHMC_ELOADER && loader_may_move(l);

    log_warn("loader: worker %s table=%s pid=%d%s", why, w->t->cfg.name,
             (int)w->pid,
             l == NULL ? ""
             : retry   ? "; its key goes to another"
                       : "; its key failed");
    w->load = NULL;
    retire(w, WHY_LOST);
    if (l == NULL)
        return;
    if (retry) {
        status = dispatch(w->d, w->t, l, w->req, w->reqlen, &other);
        if (status == 0) {
            loader_moved(l, other);
            return;
        }
    }
    loader_done(l, status, NULL, 0, 0);
}

/* The worker's stdin has room again. */
static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    int rc;

    (void)fd;
    (void)what;
    if ((rc = flush_req(w)) != 0)
        lost(w, SHMC_ELOADER, "closed its stdin");
}

/* ---- the reply ---- */

/* A whole reply came: answer the load, and w is free again. */
static void
replied(struct worker *w)
{
    struct load *l = w->load;
    unsigned status = w->hdr[0];
    unsigned char *val = w->val, extra;
    size_t vlen = w->vlen;
    ssize_t n;

    w->load = NULL;
    w->val = NULL;
    w->served++;
    /* Nothing may follow a reply, and a reply may not come before the
     * whole request was taken: either means the stream is not what the
     * worker says it is. */
    n = read(w->out_fd, &extra, 1);
    if (n > 0 || w->reqoff < w->reqlen)
        status = LOADWIRE_FAILED; /* not an answer to this key */
    if (n >= 0 || w->reqoff < w->reqlen) {
        log_warn("loader: worker %s table=%s pid=%d",
                 n > 0    ? "wrote more after its reply"
                 : n == 0 ? "exited after its reply"
                          : "replied before it read its key",
                 w->t->cfg.name, (int)w->pid);
        retire(w, WHY_LOST);
    } else {
        make_idle(w);
    }
    /* Nothing touches w from here: the load's end may start the next. */
    if (status == LOADWIRE_VALUE)
        loader_done(l, 0, val, vlen, 0);
    else if (status == LOADWIRE_NOTFOUND)
        loader_done(l, 0, NULL, 0, LOADER_DONE_NEGATIVE);
    else
        loader_done(l, SHMC_ELOADER, NULL, 0, 0);
    free(val);
}

/* The reply's header is in: check it.  0, or the load's error. */
static int
check_header(struct worker *w, const char **why)
{
    uint32_t vlen = loadwire_get32(w->hdr + 1);
    unsigned status = w->hdr[0];

    if (status > LOADWIRE_FAILED) {
        *why = "wrote a malformed reply (unknown status)";
        return SHMC_ELOADER;
    }
    if (status != LOADWIRE_VALUE && vlen != 0) {
        *why = "wrote a malformed reply (a length without a value)";
        return SHMC_ELOADER;
    }
    if (vlen > w->t->cfg.max_value_bytes) {
        *why = "sent a value over max_value_bytes";
        return SHMC_ETOOBIG;
    }
    w->vlen = vlen;
    w->vgot = 0;
    if (vlen > 0 && (w->val = malloc(vlen)) == NULL) {
        *why = "sent a value we have no memory for";
        return -ENOMEM;
    }
    return 0;
}

/*
 * Read what the worker wrote, never more than the reply in progress still
 * owes: the header, then exactly its value.  Anything while idle, EOF, a
 * bad header: the worker is lost.
 */
static void
pump(struct worker *w)
{
    const char *why = NULL;
    unsigned char junk;
    ssize_t n;
    int rc;

    while (w->state != W_GONE) {
        if (w->state == W_IDLE) {
            n = read(w->out_fd, &junk, 1);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            lost(w, SHMC_ELOADER, n > 0 ? "wrote while idle" : "exited");
            return;
        }
        if (w->hdrgot < sizeof(w->hdr))
            n = read(w->out_fd, w->hdr + w->hdrgot, sizeof(w->hdr) - w->hdrgot);
        else
            n = read(w->out_fd, w->val + w->vgot, w->vlen - w->vgot);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            lost(w, SHMC_ELOADER,
                 w->hdrgot == 0 ? "exited" : "exited in the middle of a reply");
            return;
        }
        if (w->hdrgot < sizeof(w->hdr)) {
            w->hdrgot += (size_t)n;
            if (w->hdrgot < sizeof(w->hdr))
                continue;
            if ((rc = check_header(w, &why)) != 0) {
                lost(w, rc, why);
                return;
            }
        } else {
            w->vgot += (size_t)n;
        }
        if (w->vgot == w->vlen) {
            replied(w);
            return;
        }
    }
}

/* The worker's stdout is readable. */
static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* ---- the interface ---- */

/*
 * Run a load's key on a worker of t (loader.c's start_run for a
 * persistent loader).  Returns 0 with *req set to the worker (the result
 * comes through loader_done(); a timeout is worker_cancel(*req)), or an
 * error at once.
 */
int
worker_run(struct daemon *d, struct dtable *t, struct load *l, const void *key,
           size_t klen, void **req)
{
    unsigned char frame[LOADWIRE_REQ_HDR + LOADWIRE_KEY_MAX];
    struct worker *w;
    int rc;

    if (klen == 0 || klen > LOADWIRE_KEY_MAX)
        return -EINVAL;
    loadwire_put32(frame, (uint32_t)klen);
    memcpy(frame + LOADWIRE_REQ_HDR, key, klen);
    rc = dispatch(d, t, l, frame, LOADWIRE_REQ_HDR + klen, &w);
    if (rc != 0)
        return rc;
    *req = w;
    return 0;
}

/* A load's timeout_ms passed: kill its worker.  Returns its pid, for the
 * log. */
pid_t
worker_cancel(void *req)
{
    struct worker *w = req;

    w->load = NULL;
    retire(w, WHY_LOST);
    return w->pid;
}

/* Retire t's workers: the idle ones now, the busy ones once answered
 * (SIGHUP; a change of a file in the table's invalidate_on). */
void
worker_recycle(struct dtable *t)
{
    struct worker *w;
    int n = 0;

    for (w = workers; w != NULL; w = w->next) {
        if (w->t != t || w->state == W_GONE)
            continue;
        n++;
        if (w->state == W_IDLE)
            retire(w, WHY_RECYCLED);
        else
            w->retire = 1;
    }
    if (n > 0)
        log_info("loader: recycling workers table=%s count=%d", t->cfg.name, n);
}

/*
 * SIGCHLD reaped pid: if it was a worker, read what it left in its pipe
 * (a reply may be complete), fail its load if not, and free it.  Returns
 * 1 if pid was a worker's.
 */
int
worker_reaped(pid_t pid, int status)
{
    struct worker *w;

    for (w = workers; w != NULL; w = w->next)
        if (w->pid == pid && !w->reaped)
            break;
    if (w == NULL)
        return 0;
    w->reaped = 1;
    /* Whatever it started goes with it (the parent-death signal does not
     * pass to a fork).  Its group cannot have been reused: the group
     * lives while any member does, and we reaped its leader just now. */
    kill(-pid, SIGKILL);
    if (w->state != W_GONE) {
        pump(w);
        if (w->state != W_GONE) { /* a descendant holds its stdout */
            if (WIFSIGNALED(status))
                lost(w, SHMC_ELOADER, "was killed by a signal");
            else
                lost(w, SHMC_ELOADER, "exited");
        }
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
        log_warn("loader: worker killed by signal %d table=%s pid=%d",
                 WTERMSIG(status), w->t->cfg.name, (int)pid);
    unlink_free(w);
    return 1;
}

/* Stopping: kill every worker and reap it.  (Their loads are gone.) */
void
worker_shutdown(void)
{
    struct worker *w;

    while ((w = workers) != NULL) {
        w->load = NULL;
        retire(w, WHY_RECYCLED);
        if (!w->reaped)
            waitpid(w->pid, NULL, 0);
        unlink_free(w);
    }
}
