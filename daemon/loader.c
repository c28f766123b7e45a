/* SPDX-License-Identifier: MIT */
/*
 * loader.c -- read-through with merged misses.
 *
 * A table may name a loader (shmcached.json(5), "loader").  A LOAD of a
 * key the table lacks joins the run already under way for that key, or
 * starts one: so the loader runs once for a key however many clients miss
 * it at once (nginx's proxy_cache_lock, unscd's shared lookups).  The
 * result is stored with the table's TTLs -- a value, or a negative entry
 * when the loader says the key does not exist -- and every waiting
 * connection gets its reply; later readers hit the table lock-free.
 *
 * An "exec" loader is a program run as a child process: never in the
 * daemon's address space, so one that crashes, hangs or leaks cannot take
 * the daemon down.  The key goes on its stdin (or as its last argument),
 * the value comes on its stdout; exit status 0 = the value, 1 = no such
 * key (negative entry), anything else = an error, nothing stored.  It runs
 * in a session of its own, as the configured user when the daemon is
 * root, with stdin/stdout pipes and the daemon's stderr, and nothing else
 * open.  A run still going at timeout_ms is killed with its whole process
 * group.  At most max_running runs per table at once; further keys wait
 * in order, at most max_queued of them, then LOADs are refused (EBUSY).
 *
 * A "persistent" loader (the nss loader's default; exec on request)
 * keeps its programs running instead, and a run is one key handed to an
 * idle one of them (worker.c); everything else here stays the same.
 *
 * A "redis" loader's run is a GET on the table's Redis session (redis.c),
 * which answers through loader_done(); the same records, waiters, bounds
 * and timer serve every kind, and complete() is the one place a run ends:
 * stored (unless the result is known stale), every waiter answered, the
 * next queued key started.
 *
 * Nothing here blocks the event loop: the child's stdout is read as it
 * becomes readable, children are reaped on SIGCHLD, and the connection
 * that waits simply reads no further requests until its reply is queued
 * (control.c), so pipelined replies keep their order.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "daemon.h"
#include "error.h"
#include "guard.h"
#include "loader.h"
#include "log.h"
#include "proto.h"
#include "redis.h"
#include "tables.h"
#include "worker.h"

#define READ_CHUNK 65536

/* A connection waiting for a load's result. */
struct waiter {
    struct waiter *next;
    struct peer *peer;
    uint32_t id;
};

/* One key being loaded (or waiting for a free slot of its table). */
/* What runs a load (struct load's kind). */
enum run_kind {
    RUN_EXEC,   /* a child process for this key (below) */
    RUN_WORKER, /* a persistent worker (worker.c) */
    RUN_REDIS   /* a GET on the table's Redis session (redis.c) */
};

struct load {
    struct load *prev, *next;
    struct daemon *d;
    struct dtable *t;
    unsigned char *key;
    size_t klen;
    struct waiter *waiters, **tail;
    int started; /* 0: queued, waiting for a free slot of its table */
    int kind;    /* enum run_kind, once started */
    void *src;   /* redis: its request; worker: the worker; until done */
    pid_t pid;   /* exec: the child */
    int out_fd;  /* exec: the child's stdout, or -1 once at EOF */
    struct event *rev, *timer;
    unsigned char *val;
    size_t vlen, cap;
    int exited, status; /* from waitpid() */
    int timed_out, too_big;
    int moved; /* worker: handed to another worker once already */
    uint64_t started_ms;
};

static struct load *loads; /* every load, oldest first */
static struct event *sigchld_ev;

static struct load *
find_load(const struct dtable *t, const void *key, size_t klen)
{
    struct load *l;

    for (l = loads; l != NULL; l = l->next)
        if (l->t == t && l->klen == klen && memcmp(l->key, key, klen) == 0)
            return l;
    return NULL;
}

static void start_next(struct daemon *d, struct dtable *t);

/* Unlink and free a load (its child already reaped or never started). */
static void
load_free(struct load *l)
{
    struct waiter *w, *next;

    if (l->prev)
        l->prev->next = l->next;
    else
        loads = l->next;
    if (l->next)
        l->next->prev = l->prev;
    for (w = l->waiters; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
    if (l->rev != NULL)
        event_free(l->rev);
    if (l->timer != NULL)
        event_free(l->timer);
    if (l->out_fd >= 0)
        close(l->out_fd);
    free(l->val);
    free(l->key);
    free(l);
}

/* The expiry of a loaded entry: the table's TTL, capped by the loader's
 * max_stale_s when it has one (0 = never expires). */
static uint64_t
result_expiry(const struct dtable *t, int negative, uint64_t now)
{
    uint32_t ttl = negative ? t->cfg.negative_ttl_s : t->cfg.default_ttl_s,
             cap = t->cfg.loader.max_stale_s;

    if (cap != 0 && (ttl == 0 || ttl > cap))
        ttl = cap;
    return ttl == 0 ? 0 : now + (uint64_t)ttl * 1000u;
}

/* Store a loaded result (a value, or with LOADER_DONE_NEGATIVE "no such
 * key") with the table's TTLs, the mapping guarded (a file cut under us
 * faults; the table is then replaced).  0 or an error code. */
int
loader_store(struct dtable *t, const void *key, size_t klen, const void *val,
             size_t vlen, unsigned how)
{
    int negative = (how & LOADER_DONE_NEGATIVE) != 0;
    uint64_t now = table_now_ms();
    struct guard g;
    int rc;

    if (sigsetjmp(g.env, 0) != 0) {
        tables_faulted(t);
        return SHMC_ECORRUPT;
    }
    guard_arm(&g, t->st->base, t->st->size);
    rc = store_set(t->st, key, klen, negative ? NULL : val, negative ? 0 : vlen,
                   result_expiry(t, negative, now),
                   negative ? FMT_ENTRY_NEGATIVE : 0, STORE_SET, now);
    guard_disarm(&g);
    return rc;
}

/*
 * A run is over, whatever ran it: store the result (unless how says
 * LOADER_DONE_NOSTORE), answer every waiter, free the load and start the next
 * queued key of the table.  status 0 = a value (val, vlen) or, with
 * LOADER_DONE_NEGATIVE, "no such key"; else the error every waiter gets.
 */
static void
complete(struct load *l, int status, const void *val, size_t vlen, unsigned how)
{
    struct daemon *d = l->d;
    struct dtable *t = l->t;
    uint64_t took = mono_ms() - l->started_ms;
    int negative = status == 0 && (how & LOADER_DONE_NEGATIVE) != 0;
    unsigned char meta[16];
    struct waiter *w;

    t->lstats.running--;
    t->lstats.latency_ms_total += took;
    if (took > t->lstats.latency_ms_max)
        t->lstats.latency_ms_max = took;
    if (status == 0 && !(how & LOADER_DONE_NOSTORE))
        status = loader_store(t, l->key, l->klen, val, vlen, how);
    if (status == 0 && (how & LOADER_DONE_NOSTORE))
        t->lstats.not_stored++;
    if (status == 0 && negative)
        t->lstats.negatives++;
    else if (status == 0)
        t->lstats.values++;
    else if (status == -ETIMEDOUT)
        t->lstats.timeouts++;
    else
        t->lstats.errors++;
    proto_put32(meta, negative ? FMT_ENTRY_NEGATIVE : 0);
    proto_put64(meta + 4, 0);
    proto_put32(meta + 12, negative ? 0 : (uint32_t)vlen);
    /* Answer in arrival order; a waiter's connection may be freed by its
     * resumption, so take each off the list first. */
    while ((w = l->waiters) != NULL) {
        l->waiters = w->next;
        if (status == 0)
            control_resume(d, w->peer, PROTO_OP_LOAD, w->id, 0, meta,
                           sizeof(meta), negative ? NULL : val,
                           negative ? 0 : vlen);
        else
            control_resume(d, w->peer, PROTO_OP_LOAD, w->id, status, NULL, 0,
                           NULL, 0);
        free(w);
    }
    load_free(l);
    start_next(d, t);
}

/* A run that is not a child process of our own is over (redis.c,
 * worker.c). */
void
loader_done(struct load *l, int status, const void *val, size_t vlen,
            unsigned how)
{
    l->src = NULL;
    complete(l, status, val, vlen, how);
}

/* Whether a load whose worker died before answering may go to another
 * worker: once, the first time asked (worker.c). */
int
loader_may_move(struct load *l)
{
    return l->moved++ == 0;
}

/* A load's run moved to another worker. */
void
loader_moved(struct load *l, void *src)
{
    l->src = src;
}

/* An exec run is over (exited and its stdout closed, or killed): what did
 * it say? */
static void
finish(struct load *l)
{
    struct dtable *t = l->t;
    int status;

    if (l->timed_out) {
        status = -ETIMEDOUT;
        log_warn("loader: timed out after %ums table=%s key=%.*s pid=%d",
                 t->cfg.loader.timeout_ms, t->cfg.name,
                 (int)(l->klen > 64 ? 64 : l->klen), (const char *)l->key,
                 (int)l->pid);
    } else if (l->too_big) {
        status = SHMC_ETOOBIG;
        log_warn("loader: value over max_value_bytes %u table=%s pid=%d",
                 t->cfg.max_value_bytes, t->cfg.name, (int)l->pid);
    } else if (WIFEXITED(l->status) && WEXITSTATUS(l->status) <= 1) {
        complete(l, 0, l->val, l->vlen,
                 WEXITSTATUS(l->status) == 1 ? LOADER_DONE_NEGATIVE : 0);
        return;
    } else {
        status = SHMC_ELOADER;
        if (WIFSIGNALED(l->status))
            log_warn("loader: killed by signal %d table=%s pid=%d",
                     WTERMSIG(l->status), t->cfg.name, (int)l->pid);
        else
            log_warn("loader: exit status %d table=%s pid=%d",
                     WEXITSTATUS(l->status), t->cfg.name, (int)l->pid);
    }
    complete(l, status, NULL, 0, 0);
}

/* Both halves of "done": the child exited, and its stdout is at EOF. */
static void
maybe_finish(struct load *l)
{
    if (l->exited && l->out_fd < 0)
        finish(l);
}

/* Kill an exec run's child with its whole process group (child.c). */
static void
kill_run(struct load *l)
{
    if (l->pid > 0 && !l->exited)
        child_kill(l->pid);
}

static void
close_out(struct load *l)
{
    if (l->rev != NULL)
        event_del(l->rev);
    if (l->out_fd >= 0)
        close(l->out_fd);
    l->out_fd = -1;
}

/* The child's stdout is readable. */
static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct load *l = arg;
    size_t max = l->t->cfg.max_value_bytes;
    ssize_t n;

    (void)what;
    for (;;) {
        if (l->vlen == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 4096;
            unsigned char *nv;
            if (cap > max + 1)
                cap = max + 1;
            if (cap <= l->vlen) { /* more than max_value_bytes */
                l->too_big = 1;
                kill_run(l);
                close_out(l);
                break;
            }
            if ((nv = realloc(l->val, cap)) == NULL) {
                l->too_big = 1;
                kill_run(l);
                close_out(l);
                break;
            }
            l->val = nv;
            l->cap = cap;
        }
        n = read(fd, l->val + l->vlen, l->cap - l->vlen);
        if (n > 0) {
            l->vlen += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close_out(l); /* EOF or error */
        break;
    }
    maybe_finish(l);
}

/* timeout_ms passed. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct load *l = arg;

    (void)fd;
    (void)what;
    if (l->kind == RUN_WORKER) {
        pid_t pid = worker_cancel(l->src);
        log_warn("loader: timed out after %ums table=%s key=%.*s pid=%d",
                 l->t->cfg.loader.timeout_ms, l->t->cfg.name,
                 (int)(l->klen > 64 ? 64 : l->klen), (const char *)l->key,
                 (int)pid);
        loader_done(l, -ETIMEDOUT, NULL, 0, 0);
        return;
    }
    if (l->kind == RUN_REDIS) {
        log_warn("loader: no answer from redis after %ums table=%s key=%.*s",
                 l->t->cfg.loader.timeout_ms, l->t->cfg.name,
                 (int)(l->klen > 64 ? 64 : l->klen), (const char *)l->key);
        if (l->src != NULL)
            redis_cancel(l->src);
        loader_done(l, -ETIMEDOUT, NULL, 0, 0);
        return;
    }
    l->timed_out = 1;
    kill_run(l);
    close_out(l);
    maybe_finish(l); /* once reaped */
}

/* SIGCHLD: reap every child that is done. */
static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct load *l;
    pid_t pid;
    int st;

    (void)sig;
    (void)what;
    (void)arg;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (worker_reaped(pid, st))
            continue;
        for (l = loads; l != NULL; l = l->next)
            if (l->pid == pid && !l->exited)
                break;
        if (l == NULL)
            continue;
        l->exited = 1;
        l->status = st;
        if (l->timed_out || l->too_big)
            close_out(l);
        maybe_finish(l);
    }
}

/* Start a load's child (child.c).  0, or an error for its waiters. */
static int
spawn(struct load *l)
{
    const struct conf_loader *ld = &l->t->cfg.loader;
    struct child c;
    int rc;

    rc = child_start(l->t, ld->key_in_argv ? l->key : NULL, l->klen, &c);
    if (rc != 0)
        return rc;
    /* The key fits the empty pipe's buffer (max_key_bytes <= 4096 =
     * PIPE_BUF): one write, never short; then EOF. */
    if (!ld->key_in_argv && write(c.in_fd, l->key, l->klen) < 0)
        log_info("loader: writing the key: %s", strerror(errno));
    close(c.in_fd);
    l->pid = c.pid;
    l->out_fd = c.out_fd;
    l->rev = event_new(l->d->base, c.out_fd, EV_READ | EV_PERSIST, read_cb, l);
    if (l->rev == NULL) {
        kill_run(l);
        close_out(l);
        l->timed_out = 1; /* reaped on SIGCHLD, reported as failed */
        return 0;
    }
    event_add(l->rev, NULL);
    log_debug("loader: started table=%s pid=%d", l->t->cfg.name, (int)c.pid);
    return 0;
}

/* Start a load: its timer, then its child or its redis request.  0, or an
 * error for its waiters. */
static int
start_run(struct load *l)
{
    const struct conf_loader *ld = &l->t->cfg.loader;
    struct timeval tv = {(time_t)(ld->timeout_ms / 1000),
                         (suseconds_t)(ld->timeout_ms % 1000) * 1000};
    int rc;

    l->timer = evtimer_new(l->d->base, timer_cb, l);
    if (l->timer == NULL)
        return -ENOMEM;
    if (ld->type == LOADER_REDIS) {
        l->kind = RUN_REDIS;
        rc = redis_load(l->d, l->t, l, l->key, l->klen, &l->src);
    } else if (ld->persistent) {
        l->kind = RUN_WORKER;
        rc = worker_run(l->d, l->t, l, l->key, l->klen, &l->src);
    } else {
        l->kind = RUN_EXEC;
        rc = spawn(l);
    }
    if (rc != 0)
        return rc;
    l->started = 1;
    l->started_ms = mono_ms();
    evtimer_add(l->timer, &tv);
    l->t->lstats.calls++;
    l->t->lstats.running++;
    return 0;
}

/* Answer every waiter of a load that could not start, and drop it. */
static void
fail_load(struct load *l, int status)
{
    struct waiter *w;

    l->t->lstats.errors++;
    while ((w = l->waiters) != NULL) {
        l->waiters = w->next;
        control_resume(l->d, w->peer, PROTO_OP_LOAD, w->id, status, NULL, 0,
                       NULL, 0);
        free(w);
    }
    load_free(l);
}

/* Start queued loads of t while it has free slots. */
static void
start_next(struct daemon *d, struct dtable *t)
{
    struct load *l, *next;
    int rc;

    (void)d;
    for (l = loads; l != NULL && t->lstats.running < t->cfg.loader.max_running;
         l = next) {
        next = l->next;
        if (l->t != t || l->started)
            continue;
        t->lstats.queued--;
        if ((rc = start_run(l)) != 0)
            fail_load(l, rc);
    }
}

int
loader_init(struct daemon *d)
{
    sigchld_ev = evsignal_new(d->base, SIGCHLD, sigchld_cb, NULL);
    return sigchld_ev != NULL && evsignal_add(sigchld_ev, NULL) == 0 ? 0 : -1;
}

/*
 * A LOAD of a key t lacks: join its run or start (or queue) one.  Returns
 * 0 when p now waits (its reply comes through control_resume()), or an
 * error to answer at once.
 */
int
loader_request(struct daemon *d, struct dtable *t, const void *key, size_t klen,
               struct peer *p, uint32_t id)
{
    struct waiter *w;
    struct load *l;
    int rc;

    if (t->cfg.loader.type == LOADER_NONE)
        return SHMC_ENOLOADER;
    l = find_load(t, key, klen);
    if (l != NULL) {
        t->lstats.merged++;
    } else {
        if (t->lstats.running >= t->cfg.loader.max_running &&
            t->lstats.queued >= t->cfg.loader.max_queued) {
            t->lstats.refused++;
            return SHMC_EBUSY;
        }
        l = calloc(1, sizeof(*l));
        if (l == NULL || (l->key = malloc(klen)) == NULL) {
            free(l);
            return -ENOMEM;
        }
        memcpy(l->key, key, klen);
        l->klen = klen;
        l->d = d;
        l->t = t;
        l->out_fd = -1;
        l->tail = &l->waiters;
        /* Append: oldest first, so queued keys start in order. */
        if (loads == NULL) {
            loads = l;
        } else {
            struct load *last = loads;
            while (last->next != NULL)
                last = last->next;
            last->next = l;
            l->prev = last;
        }
        if (t->lstats.running < t->cfg.loader.max_running) {
            if ((rc = start_run(l)) != 0) {
                t->lstats.errors++;
                load_free(l);
                return rc;
            }
        } else {
            t->lstats.queued++;
        }
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM; /* a load without waiters still stores its result */
    w->peer = p;
    w->id = id;
    *l->tail = w;
    l->tail = &w->next;
    return 0;
}

/* p's connection is going away: it waits for nothing any more.  (The load
 * goes on; its result is stored for whoever asks next.) */
void
loader_forget(struct daemon *d, struct peer *p)
{
    struct waiter **pw, *w;
    struct load *l;

    (void)d;
    for (l = loads; l != NULL; l = l->next) {
        for (pw = &l->waiters; (w = *pw) != NULL;) {
            if (w->peer == p) {
                *pw = w->next;
                free(w);
            } else {
                pw = &w->next;
            }
        }
        l->tail = &l->waiters;
        while (*l->tail != NULL)
            l->tail = &(*l->tail)->next;
    }
}

/* Stopping: kill every run, reap it, drop every load unanswered (the
 * connections are closed next). */
void
loader_shutdown(struct daemon *d)
{
    struct load *l;

    (void)d;
    while ((l = loads) != NULL) {
        if (l->pid > 0 && !l->exited) {
            kill_run(l);
            waitpid(l->pid, NULL, 0);
        }
        if (l->src != NULL && l->kind == RUN_REDIS)
            redis_cancel(l->src);
        if (l->src != NULL && l->kind == RUN_WORKER)
            worker_cancel(l->src);
        if (l->started)
            l->t->lstats.running--;
        load_free(l);
    }
    worker_shutdown();
    if (sigchld_ev != NULL) {
        event_free(sigchld_ev);
        sigchld_ev = NULL;
    }
}
