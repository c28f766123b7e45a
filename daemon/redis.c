/* SPDX-License-Identifier: MIT */
/*
 * redis.c -- a table backed by Redis, kept coherent by Redis's own
 * client-side-caching invalidations (the near cache).
 *
 * A table whose loader is {"type": "redis"} has one session with its
 * Redis: two connections made with hiredis's async API on the daemon's
 * event base, so nothing here ever blocks the loop.  RESP2 tracking, as
 * hiredis 0.14 speaks only RESP2:
 *
 *   invalidation connection: CLIENT ID, then SUBSCRIBE __redis__:invalidate
 *     and a private ping channel;
 *   data connection: SELECT db, CLIENT TRACKING on REDIRECT <id> [BCAST
 *     PREFIX ...] [NOLOOP]; then the GETs of LOADs.
 *
 * A LOAD of a missing key becomes one GET (loader.c merges the misses and
 * bounds the wait at timeout_ms); a value is stored with a TTL capped by
 * max_stale_s, a nil as a negative entry.  Redis then remembers that we
 * read the key and, when it changes, sends its name on the invalidation
 * connection: we delete it from the table.  A null invalidation
 * (FLUSHALL, FLUSHDB) flushes the table.
 *
 * The race rule of Redis's client-side-caching guide: a GET's reply and
 * an invalidation of its key travel on different connections, so the
 * invalidation may be read first; storing the reply then would keep a
 * stale value for good.  So every GET in flight is a placeholder (struct
 * rreq): an invalidation of its key, a flush or a lost session marks it,
 * and a marked reply is given to the waiters but not stored.
 *
 * A session that is lost (either connection closed, an error reply, no
 * answer to a ping within timeout_ms) flushes the table: nothing it holds
 * is tracked any more.  Then it reconnects: at once, then with backoff
 * from 100 ms to 5 s; meanwhile LOADs fail at once (ECONNREFUSED).  The
 * ping is a PUBLISH on the data connection to the ping channel, which
 * must come back on the invalidation connection: one round trip proves
 * both connections and the server alive, and that every invalidation
 * sent before it has been read.  The table is flushed too when the
 * session starts (the file may hold entries from before) and ends.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "error.h"
#include "loader.h"
#include "log.h"
#include "proto.h"
#include "redis.h"
#include "table.h"
#include "tables.h"

#define INVALIDATE_CHANNEL "__redis__:invalidate"
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define PASSWORD_MAX 512

enum rs_state {
    RS_CONNECTING, /* making the session; LOADs are held */
    RS_READY,      /* tracking on: GETs go out */
    RS_BACKOFF,    /* lost; reconnecting on the timer; LOADs fail */
};

struct rsess;

/* A local client's write, sent through to Redis: answered when Redis has
 * answered (and, for a SET, the GET after it). */
struct wreq {
    struct wreq *prev, *next;
    struct rsess *s;
    struct peer *peer; /* NULL: the connection went away */
    uint32_t id;
    uint8_t op;
    int status;
    int last;           /* no GET follows the SET: set_cb answers */
    unsigned char *key; /* DELETE: the key to drop locally */
    size_t klen;
};

/* A GET: a LOAD's (held until the session is ready, then in flight), or
 * the one after a write's SET. */
struct rreq {
    struct rreq *prev, *next;
    struct rsess *s;
    struct load *l; /* NULL: cancelled (timed out); drop the reply */
    struct wreq *w; /* a write's GET: store the value, answer the write */
    unsigned char *key;
    size_t klen;
    int sent;
    int invalidated; /* the key may have changed: do not store the reply */
};

/* A redis table's session. */
struct rsess {
    struct rsess *next;
    struct daemon *d;
    struct dtable *t;
    struct conf_loader cfg; /* the settings it was made with */
    redisAsyncContext *inv, *data;
    int state;
    long long inv_id;
    int subs;              /* subscriptions confirmed */
    uint32_t backoff_ms;   /* the last wait before reconnecting */
    unsigned failures;     /* attempts failed since the last session */
    struct event *timer;   /* connecting: deadline; backoff: reconnect */
    struct event *ping_ev; /* every ping_interval_ms */
    int ping_out;          /* a ping is on its way */
    uint64_t ping_sent_us;
    char ping_channel[64];
    struct rreq *reqs, *reqs_tail;
};

static struct rsess *sessions;
static struct wreq *writes; /* every write in flight */

static void sess_connect(struct rsess *s);
static void sess_lost(struct rsess *s, const char *why);

static void
arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    evtimer_add(ev, &tv);
}

/* ---- requests ---- */

static void
req_unlink(struct rreq *r)
{
    struct rsess *s = r->s;

    if (r->prev)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        s->reqs_tail = r->prev;
}

static void
req_free(struct rreq *r)
{
    free(r->key);
    free(r);
}

/* The Redis key of a table key: key_prefix + key (malloc'd). */
static char *
redis_key(const struct rsess *s, const void *key, size_t klen, size_t *len)
{
    size_t plen = strlen(s->cfg.key_prefix);
    char *k = malloc(plen + klen + 1);

    if (k == NULL)
        return NULL;
    memcpy(k, s->cfg.key_prefix, plen);
    memcpy(k + plen, key, klen);
    k[plen + klen] = '\0';
    *len = plen + klen;
    return k;
}

/* A write is over: answer its client (if still there) and free it. */
static void
write_answer(struct wreq *w)
{
    struct daemon *d = w->s->d;

    if (w->prev)
        w->prev->next = w->next;
    else
        writes = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->peer != NULL)
        control_resume(d, w->peer, w->op, w->id, w->status, NULL, 0, NULL, 0);
    free(w->key);
    free(w);
}

/* The GET after a write's SET: what Redis holds now, read on the
 * tracked connection, so the local copy is tracked too (the SET alone
 * would not be); stored unless an invalidation raced it. */
static void
write_got(struct rreq *r, const redisReply *rep)
{
    struct wreq *w = r->w;
    struct dtable *t = r->s->t;

    if (w->status == 0 && rep != NULL && !r->invalidated) {
        if (rep->type == REDIS_REPLY_STRING &&
            rep->len <= t->cfg.max_value_bytes)
            loader_store(t, r->key, r->klen, rep->str, rep->len, 0);
        else if (rep->type == REDIS_REPLY_NIL)
            loader_store(t, r->key, r->klen, NULL, 0, LOADER_DONE_NEGATIVE);
    }
    write_answer(w);
}

/* A GET's reply (NULL: the connection went away). */
static void
get_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    struct rreq *r = arg;
    struct dtable *t = r->s->t;
    struct load *l = r->l;
    redisReply *rep = reply;
    unsigned how = r->invalidated ? LOADER_DONE_NOSTORE : 0;

    (void)ac;
    req_unlink(r);
    if (r->w != NULL)
        write_got(r, rep);
    req_free(r);
    if (l == NULL)
        return;
    if (rep == NULL) {
        loader_done(l, -ECONNRESET, NULL, 0, 0);
    } else if (rep->type == REDIS_REPLY_STRING) {
        if (rep->len > t->cfg.max_value_bytes) {
            log_warn("redis: value of %zu bytes over max_value_bytes %u "
                     "table=%s",
                     (size_t)rep->len, t->cfg.max_value_bytes, t->cfg.name);
            loader_done(l, SHMC_ETOOBIG, NULL, 0, 0);
        } else {
            loader_done(l, 0, rep->str, rep->len, how);
        }
    } else if (rep->type == REDIS_REPLY_NIL) {
        loader_done(l, 0, NULL, 0, how | LOADER_DONE_NEGATIVE);
    } else {
        log_warn("redis: GET failed table=%s: %.*s", t->cfg.name,
                 rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 20,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "not a string");
        loader_done(l, SHMC_ELOADER, NULL, 0, 0);
    }
}

/* Send a held request's GET (key_prefix + key).  0, or -1 if hiredis
 * refused (the connection is going away). */
static int
req_send(struct rsess *s, struct rreq *r)
{
    const char *argv[2];
    size_t lens[2];
    char *key;
    int rc;

    if ((key = redis_key(s, r->key, r->klen, &lens[1])) == NULL)
        return -1;
    argv[0] = "GET";
    lens[0] = 3;
    argv[1] = key;
    rc = redisAsyncCommandArgv(s->data, get_cb, r, 2, argv, lens);
    free(key);
    if (rc != REDIS_OK)
        return -1;
    r->sent = 1;
    s->t->rstats.gets++;
    return 0;
}

/* ---- invalidation ---- */

/* Mark every request in flight for key (every one: key NULL). */
static void
mark_invalidated(struct rsess *s, const void *key, size_t klen)
{
    struct rreq *r;

    for (r = s->reqs; r != NULL; r = r->next)
        if (key == NULL || (r->klen == klen && memcmp(r->key, key, klen) == 0))
            r->invalidated = 1;
}

static void
flush(struct rsess *s)
{
    mark_invalidated(s, NULL, 0);
    tables_flush(s->t);
    s->t->rstats.flushes++;
}

/* Redis says a key changed: drop it (if it is one of ours). */
static void
drop_key(struct rsess *s, const char *rkey, size_t rlen)
{
    size_t plen = strlen(s->cfg.key_prefix);
    const char *key = rkey + plen;
    size_t klen = rlen - plen;

    if (rlen <= plen || memcmp(rkey, s->cfg.key_prefix, plen) != 0 ||
        klen > s->t->cfg.max_key_bytes)
        return;
    mark_invalidated(s, key, klen);
    if (tables_delete(s->t, key, klen, table_now_ms()) == 0)
        s->t->rstats.keys_invalidated++;
}

/* An invalidation message's payload: key names, or null for a flush. */
static void
invalidate(struct rsess *s, const redisReply *what)
{
    size_t i;

    s->t->rstats.invalidations++;
    if (what->type == REDIS_REPLY_NIL) {
        flush(s);
        log_info("redis: flush invalidation: flushed table=%s", s->t->cfg.name);
    } else if (what->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < what->elements; i++)
            if (what->element[i]->type == REDIS_REPLY_STRING)
                drop_key(s, what->element[i]->str, what->element[i]->len);
    } else if (what->type == REDIS_REPLY_STRING) {
        drop_key(s, what->str, what->len);
    }
}

/* ---- the session ---- */

/* A reply that only has to be no error (privdata: what it was). */
static void
check_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    redisReply *rep = reply;
    char why[160];

    if (rep == NULL || rep->type != REDIS_REPLY_ERROR)
        return;
    snprintf(why, sizeof(why), "%s: %.*s", (const char *)arg, (int)rep->len,
             rep->str);
    sess_lost(ac->data, why);
}

/* Tracking is on: the session is ready; send the held GETs. */
static void
sess_ready(struct rsess *s)
{
    struct rreq *r;

    s->state = RS_READY;
    evtimer_del(s->timer);
    s->backoff_ms = 0;
    s->failures = 0;
    s->ping_out = 0;
    s->t->rstats.connected = 1;
    /* Tracking starts now, on a table emptied for the session. */
    s->t->rstats.fresh_ms = mono_ms();
    if (s->t->rstats.connects++ > 0)
        s->t->rstats.reconnects++;
    log_notice("redis: tracking table=%s endpoint=%s redirect=%lld%s",
               s->t->cfg.name, s->cfg.endpoint, s->inv_id,
               s->cfg.tracking == TRACKING_BCAST ? " bcast" : "");
    for (r = s->reqs; r != NULL; r = r->next)
        if (!r->sent && req_send(s, r) != 0) {
            sess_lost(s, "cannot send a GET");
            return;
        }
}

static void
track_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    redisReply *rep = reply;
    struct rsess *s = arg;

    (void)ac;
    if (rep == NULL)
        return;
    if (rep->type == REDIS_REPLY_STATUS)
        sess_ready(s);
    else
        check_cb(ac, reply, "CLIENT TRACKING");
}

/* Read the password file: its first line.  0, or -1 (logged). */
static int
read_password(const struct rsess *s, char *buf, size_t size)
{
    FILE *f = fopen(s->cfg.password_file, "re");
    size_t n;

    if (f == NULL || fgets(buf, (int)size, f) == NULL) {
        log_err("redis: cannot read password_file %s table=%s: %s",
                s->cfg.password_file, s->t->cfg.name,
                f == NULL ? strerror(errno) : "empty");
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return 0;
}

static void connect_cb(const redisAsyncContext *ac, int status);
static void disconnect_cb(const redisAsyncContext *ac, int status);

/* Open one connection of the session, AUTH queued.  NULL on failure
 * (logged). */
static redisAsyncContext *
open_ctx(struct rsess *s, const char *role)
{
    const char *ep = s->cfg.endpoint;
    char host[64], pw[PASSWORD_MAX];
    redisAsyncContext *ac;
    const char *colon;
    size_t n;

    if (ep[0] == '/') {
        ac = redisAsyncConnectUnix(ep);
    } else {
        colon = strrchr(ep, ':');
        n = (size_t)(colon - ep);
        if (ep[0] == '[') { /* [v6]:port */
            ep++;
            n -= 2;
        }
        snprintf(host, sizeof(host), "%.*s", (int)n, ep);
        ac = redisAsyncConnect(host, atoi(colon + 1));
    }
    if (ac == NULL || ac->err) {
        if (s->failures == 0)
            log_warn("redis: cannot connect table=%s endpoint=%s: %s",
                     s->t->cfg.name, s->cfg.endpoint,
                     ac ? ac->errstr : "out of memory");
        else
            log_info("redis: cannot connect table=%s endpoint=%s: %s",
                     s->t->cfg.name, s->cfg.endpoint,
                     ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return NULL;
    }
    ac->data = s;
    if (redisLibeventAttach(ac, s->d->base) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    if (s->cfg.password_file[0] != '\0') {
        if (read_password(s, pw, sizeof(pw)) != 0) {
            ac->data = NULL;
            redisAsyncFree(ac);
            return NULL;
        }
        if (s->cfg.username[0] != '\0')
            redisAsyncCommand(ac, check_cb, "AUTH", "AUTH %s %s",
                              s->cfg.username, pw);
        else
            redisAsyncCommand(ac, check_cb, "AUTH", "AUTH %s", pw);
        memset(pw, 0, sizeof(pw));
    }
    redisAsyncCommand(ac, check_cb, "CLIENT SETNAME",
                      "CLIENT SETNAME shmcached-%s-%s", role, s->t->cfg.name);
    return ac;
}

/* Both subscriptions are confirmed: open the data connection and turn
 * tracking on, redirected to the invalidation connection. */
static void
data_connect(struct rsess *s)
{
    const char *argv[8 + 2 * CONF_ARGV_MAX];
    char id[24];
    const char *p;
    int argc = 0;
    uint32_t i;

    s->data = open_ctx(s, "data");
    if (s->data == NULL) {
        sess_lost(s, "cannot open the data connection");
        return;
    }
    if (s->cfg.db != 0)
        redisAsyncCommand(s->data, check_cb, "SELECT", "SELECT %u", s->cfg.db);
    snprintf(id, sizeof(id), "%lld", s->inv_id);
    argv[argc++] = "CLIENT";
    argv[argc++] = "TRACKING";
    argv[argc++] = "on";
    argv[argc++] = "REDIRECT";
    argv[argc++] = id;
    if (s->cfg.tracking == TRACKING_BCAST) {
        argv[argc++] = "BCAST";
        p = s->cfg.prefixes;
        for (i = 0; i < s->cfg.nprefixes; i++) {
            argv[argc++] = "PREFIX";
            argv[argc++] = p;
            p += strlen(p) + 1;
        }
        if (s->cfg.nprefixes == 0 && s->cfg.key_prefix[0] != '\0') {
            argv[argc++] = "PREFIX";
            argv[argc++] = s->cfg.key_prefix;
        }
    }
    if (s->cfg.noloop)
        argv[argc++] = "NOLOOP";
    redisAsyncCommandArgv(s->data, track_cb, s, argc, argv, NULL);
}

/* Everything the invalidation connection receives once subscribed:
 * confirmations, invalidations, our pings. */
static void
sub_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    redisReply *rep = reply, *kind, *chan;
    struct rsess *s = arg;

    (void)ac;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return;
    kind = rep->element[0];
    chan = rep->element[1];
    if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0) {
        if (++s->subs == 2 && s->state == RS_CONNECTING)
            data_connect(s);
    } else if (strcmp(kind->str, "message") == 0) {
        if (strcmp(chan->str, s->ping_channel) == 0 && s->ping_out) {
            struct redis_stats *st = &s->t->rstats;
            uint64_t lag = mono_us() - s->ping_sent_us;

            /* Every invalidation Redis sent before it saw the ping has
             * now been applied. */
            s->ping_out = 0;
            st->pings++;
            st->lag_us = lag;
            if (lag > st->lag_us_max)
                st->lag_us_max = lag;
            st->fresh_ms = s->ping_sent_us / 1000u;
        } else if (strcmp(chan->str, INVALIDATE_CHANNEL) == 0) {
            invalidate(s, rep->element[2]);
        }
    }
}

/* CLIENT ID of the invalidation connection: subscribe. */
static void
id_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    redisReply *rep = reply;
    struct rsess *s = arg;

    if (rep == NULL)
        return;
    if (rep->type != REDIS_REPLY_INTEGER) {
        check_cb(ac, reply, "CLIENT ID");
        return;
    }
    s->inv_id = rep->integer;
    snprintf(s->ping_channel, sizeof(s->ping_channel),
             "__shmcached__:ping:%lld", s->inv_id);
    redisAsyncCommand(s->inv, sub_cb, s, "SUBSCRIBE %s %s", INVALIDATE_CHANNEL,
                      s->ping_channel);
}

/* Start a session: the invalidation connection first. */
static void
sess_connect(struct rsess *s)
{
    s->state = RS_CONNECTING;
    s->subs = 0;
    s->inv_id = -1;
    arm(s->timer, s->cfg.timeout_ms);
    s->inv = open_ctx(s, "inv");
    if (s->inv == NULL) {
        sess_lost(s, "cannot open the invalidation connection");
        return;
    }
    redisAsyncCommand(s->inv, id_cb, s, "CLIENT ID");
}

/* Close both connections; requests in flight are answered (ECONNRESET)
 * by hiredis, at once or when the callback we are in returns. */
static void
close_both(struct rsess *s)
{
    redisAsyncContext *ac;

    if ((ac = s->inv) != NULL) {
        s->inv = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if ((ac = s->data) != NULL) {
        s->data = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

/* Fail every request still held (never sent). */
static void
fail_held(struct rsess *s, int status)
{
    struct rreq *r, *next;
    struct load *l;

    for (r = s->reqs; r != NULL; r = next) {
        next = r->next;
        if (r->sent)
            continue;
        l = r->l;
        req_unlink(r);
        req_free(r);
        if (l != NULL) {
            loader_done(l, status, NULL, 0, 0);
            next = s->reqs; /* the list may have changed: start over */
        }
    }
}

/*
 * The session is lost, or could not be made: flush the table (nothing in
 * it is tracked any more), close, and reconnect on the timer.
 */
static void
sess_lost(struct rsess *s, const char *why)
{
    int was_ready;

    if (s == NULL || s->state == RS_BACKOFF)
        return;
    was_ready = s->state == RS_READY;
    s->state = RS_BACKOFF;
    s->t->rstats.connected = 0;
    if (was_ready)
        flush(s);
    else
        mark_invalidated(s, NULL, 0);
    if (was_ready) {
        s->t->rstats.disconnects++;
        log_warn("redis: session lost table=%s endpoint=%s: %s; table "
                 "flushed",
                 s->t->cfg.name, s->cfg.endpoint, why);
        s->backoff_ms = 0; /* once at once */
    } else {
        if (s->failures++ == 0)
            log_warn("redis: no session table=%s endpoint=%s: %s; retrying",
                     s->t->cfg.name, s->cfg.endpoint, why);
        else
            log_info("redis: no session table=%s endpoint=%s: %s",
                     s->t->cfg.name, s->cfg.endpoint, why);
        s->backoff_ms = s->backoff_ms == 0 ? BACKOFF_MIN_MS
                        : s->backoff_ms * 2 > BACKOFF_MAX_MS
                            ? BACKOFF_MAX_MS
                            : s->backoff_ms * 2;
    }
    evtimer_del(s->timer);
    arm(s->timer, s->backoff_ms);
    close_both(s);
    fail_held(s, -ECONNREFUSED);
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
    struct rsess *s = ac->data;

    if (status == REDIS_OK || s == NULL)
        return;
    /* hiredis frees ac after this returns: forget it first. */
    if (s->inv == ac)
        s->inv = NULL;
    else if (s->data == ac)
        s->data = NULL;
    else
        return;
    sess_lost(s, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct rsess *s = ac->data;

    (void)status;
    if (s == NULL)
        return;
    if (s->inv == ac)
        s->inv = NULL;
    else if (s->data == ac)
        s->data = NULL;
    else
        return;
    sess_lost(s, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Connecting took too long, or the backoff is over. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rsess *s = arg;

    (void)fd;
    (void)what;
    if (s->state == RS_CONNECTING)
        sess_lost(s, "no session within timeout_ms");
    else if (s->state == RS_BACKOFF)
        sess_connect(s);
}

/* PUBLISH's reply: how many subscribers got the ping (ours: 1). */
static void
publish_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    redisReply *rep = reply;

    (void)arg;
    if (rep == NULL)
        return;
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer < 1)
        sess_lost(ac->data, "the invalidation connection is not subscribed");
    else
        check_cb(ac, reply, "PUBLISH");
}

/* Every ping_interval_ms: a ping through both connections, or the
 * session is lost if the last one is not back within timeout_ms. */
static void
ping_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rsess *s = arg;
    uint64_t now = mono_us();

    (void)fd;
    (void)what;
    if (s->state != RS_READY)
        return;
    if (s->ping_out) {
        if (now - s->ping_sent_us >= (uint64_t)s->cfg.timeout_ms * 1000u)
            sess_lost(s, "no answer to a ping within timeout_ms");
        return;
    }
    if (redisAsyncCommand(s->data, publish_cb, NULL, "PUBLISH %s ping",
                          s->ping_channel) != REDIS_OK) {
        sess_lost(s, "cannot send a ping");
        return;
    }
    s->ping_out = 1;
    s->ping_sent_us = now;
}

/* A new session for t. */
static struct rsess *
sess_new(struct daemon *d, struct dtable *t)
{
    struct timeval tv = {(time_t)(t->cfg.loader.ping_interval_ms / 1000),
                         (suseconds_t)(t->cfg.loader.ping_interval_ms % 1000) *
                             1000};
    struct rsess *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->d = d;
    s->t = t;
    s->cfg = t->cfg.loader;
    s->timer = evtimer_new(d->base, timer_cb, s);
    s->ping_ev = event_new(d->base, -1, EV_PERSIST, ping_cb, s);
    if (s->timer == NULL || s->ping_ev == NULL) {
        if (s->timer != NULL)
            event_free(s->timer);
        if (s->ping_ev != NULL)
            event_free(s->ping_ev);
        free(s);
        return NULL;
    }
    event_add(s->ping_ev, &tv);
    s->next = sessions;
    sessions = s;
    return s;
}

/* End a session for good (settings changed, table gone, stopping): its
 * requests are answered, its table flushed. */
static void
sess_free(struct rsess *s)
{
    struct rsess **ps;
    struct rreq *r;

    s->state = RS_BACKOFF; /* new LOADs fail */
    s->t->rstats.connected = 0;
    close_both(s);
    fail_held(s, -ECONNREFUSED);
    while ((r = s->reqs) != NULL) { /* none should be left */
        req_unlink(r);
        if (r->w != NULL) {
            r->w->status = -ECONNRESET;
            write_got(r, NULL);
        } else if (r->l != NULL) {
            loader_done(r->l, -ECONNRESET, NULL, 0, 0);
        }
        req_free(r);
    }
    tables_flush(s->t);
    event_free(s->timer);
    event_free(s->ping_ev);
    for (ps = &sessions; *ps != NULL; ps = &(*ps)->next)
        if (*ps == s) {
            *ps = s->next;
            break;
        }
    free(s);
}

static struct rsess *
sess_of(const struct dtable *t)
{
    struct rsess *s;

    for (s = sessions; s != NULL; s = s->next)
        if (s->t == t)
            return s;
    return NULL;
}

/* ---- the interface ---- */

/*
 * Make the sessions the tables' loaders ask for, at start and after a
 * reload: a redis table without a session gets one; a session whose
 * settings changed, or whose table is no redis table any more, ends.
 * Returns 0, or -1 when out of memory.
 */
int
redis_setup(struct daemon *d)
{
    struct rsess *s;
    struct dtable *t;
    size_t i;
    int want;

    for (i = 0; i < d->ntables; i++) {
        t = &d->tables[i];
        want = t->cfg.loader.type == LOADER_REDIS;
        s = sess_of(t);
        if (s != NULL &&
            (!want || memcmp(&s->cfg, &t->cfg.loader, sizeof(s->cfg)) != 0)) {
            log_notice("redis: settings changed: session ended table=%s",
                       t->cfg.name);
            sess_free(s);
            s = NULL;
        }
        if (want && s == NULL) {
            if ((s = sess_new(d, t)) == NULL)
                return -1;
            tables_flush(t); /* what it holds is not tracked */
            sess_connect(s);
        }
    }
    return 0;
}

/* Stopping: end every session. */
void
redis_shutdown(struct daemon *d)
{
    (void)d;
    while (sessions != NULL)
        sess_free(sessions);
}

/*
 * Start a LOAD's GET (loader.c), or hold it until the session is ready.
 * Returns 0 with *req set (the load is answered through loader_done()),
 * or an error at once: ECONNREFUSED while Redis cannot be reached.
 */
int
redis_load(struct daemon *d, struct dtable *t, struct load *l, const void *key,
           size_t klen, void **req)
{
    struct rsess *s = sess_of(t);
    struct rreq *r;

    (void)d;
    if (s == NULL)
        return SHMC_ELOADER;
    if (s->state == RS_BACKOFF)
        return -ECONNREFUSED;
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->key = malloc(klen)) == NULL) {
        free(r);
        return -ENOMEM;
    }
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->s = s;
    r->l = l;
    r->prev = s->reqs_tail;
    if (s->reqs_tail)
        s->reqs_tail->next = r;
    else
        s->reqs = r;
    s->reqs_tail = r;
    if (s->state == RS_READY && req_send(s, r) != 0) {
        req_unlink(r);
        req_free(r);
        return -ECONNRESET;
    }
    *req = r;
    return 0;
}

/* A load gave up waiting (its timeout): its reply, if any, is dropped. */
void
redis_cancel(void *req)
{
    struct rreq *r = req;

    r->l = NULL;
    if (!r->sent) {
        req_unlink(r);
        req_free(r);
    }
}

/* A write's SET (or ADD, REPLACE): its status, for the GET after it. */
static void
set_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    struct wreq *w = arg;
    redisReply *rep = reply;

    (void)ac;
    if (rep == NULL)
        w->status = -ECONNRESET;
    else if (rep->type == REDIS_REPLY_STATUS)
        w->status = 0;
    else if (rep->type == REDIS_REPLY_NIL) /* NX or XX said no */
        w->status = w->op == PROTO_OP_ADD ? SHMC_EEXISTS : SHMC_ENOTFOUND;
    else {
        w->status = -EIO;
        log_warn("redis: SET failed table=%s: %.*s", w->s->t->cfg.name,
                 rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 12,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "not a status");
    }
    if (w->last)
        write_answer(w);
}

/* A write's DEL: drop the key locally too, and answer. */
static void
del_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    struct wreq *w = arg;
    redisReply *rep = reply;

    (void)ac;
    if (rep == NULL) {
        w->status = -ECONNRESET;
    } else if (rep->type == REDIS_REPLY_INTEGER) {
        w->status = rep->integer > 0 ? 0 : SHMC_ENOTFOUND;
        mark_invalidated(w->s, w->key, w->klen);
        tables_delete(w->s->t, w->key, w->klen, table_now_ms());
    } else {
        w->status = -EIO;
        log_warn("redis: DEL failed table=%s: %.*s", w->s->t->cfg.name,
                 rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 14,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "not an integer");
    }
    write_answer(w);
}

/*
 * A local client's SET, ADD, REPLACE or DELETE on a write-through table
 * (command.c): Redis first.  A SET goes as SET key value [EX ttl] [NX|XX]
 * followed by a GET on the same (tracked) connection, whose reply is
 * stored locally: so a client reads its own write on this host, and the
 * copy is tracked like any loaded one.  A DELETE is a DEL, then the key
 * is dropped locally.  Returns 0 when p now waits for its reply (through
 * control_resume()), or an error to answer at once: ECONNREFUSED while
 * there is no session.
 */
int
redis_write(struct daemon *d, struct dtable *t, struct peer *p, uint32_t id,
            int op, const void *key, size_t klen, const void *val, size_t vlen,
            uint32_t ttl_s)
{
    struct rsess *s = sess_of(t);
    const char *argv[6];
    size_t lens[6], n;
    struct rreq *g = NULL;
    char ttl[16], *rkey;
    struct wreq *w;
    int argc = 0, rc;

    (void)d;
    if (s == NULL || s->state != RS_READY)
        return -ECONNREFUSED;
    w = calloc(1, sizeof(*w));
    if (w == NULL || (rkey = redis_key(s, key, klen, &n)) == NULL) {
        free(w);
        return -ENOMEM;
    }
    w->s = s;
    w->peer = p;
    w->id = id;
    w->op = (uint8_t)op;
    argv[argc] = op == PROTO_OP_DELETE ? "DEL" : "SET";
    lens[argc++] = 3;
    argv[argc] = rkey;
    lens[argc++] = n;
    if (op == PROTO_OP_DELETE) {
        w->key = malloc(klen);
        if (w->key == NULL)
            goto nomem;
        memcpy(w->key, key, klen);
        w->klen = klen;
        rc = redisAsyncCommandArgv(s->data, del_cb, w, argc, argv, lens);
    } else {
        argv[argc] = val;
        lens[argc++] = vlen;
        if (ttl_s != 0 && ttl_s != PROTO_TTL_NEVER) {
            snprintf(ttl, sizeof(ttl), "%u", ttl_s);
            argv[argc] = "EX";
            lens[argc++] = 2;
            argv[argc] = ttl;
            lens[argc++] = strlen(ttl);
        }
        if (op != PROTO_OP_SET) {
            argv[argc] = op == PROTO_OP_ADD ? "NX" : "XX";
            lens[argc++] = 2;
        }
        g = calloc(1, sizeof(*g));
        if (g == NULL || (g->key = malloc(klen)) == NULL)
            goto nomem;
        memcpy(g->key, key, klen);
        g->klen = klen;
        g->s = s;
        g->w = w;
        rc = redisAsyncCommandArgv(s->data, set_cb, w, argc, argv, lens);
        if (rc == REDIS_OK) {
            g->prev = s->reqs_tail;
            if (s->reqs_tail)
                s->reqs_tail->next = g;
            else
                s->reqs = g;
            s->reqs_tail = g;
            if (req_send(s, g) != 0) { /* the connection is going away */
                req_unlink(g);
                req_free(g);
                w->last = 1; /* set_cb answers */
            }
        } else {
            req_free(g);
        }
    }
    free(rkey);
    if (rc != REDIS_OK) {
        free(w->key);
        free(w);
        return -ECONNRESET;
    }
    s->t->rstats.writes++;
    w->next = writes;
    if (writes)
        writes->prev = w;
    writes = w;
    return 0;
nomem:
    free(rkey);
    if (g != NULL)
        free(g->key);
    free(g);
    free(w->key);
    free(w);
    return -ENOMEM;
}

/* p's connection is going away: its writes go on, unanswered. */
void
redis_forget(struct daemon *d, struct peer *p)
{
    struct wreq *w;

    (void)d;
    for (w = writes; w != NULL; w = w->next)
        if (w->peer == p)
            w->peer = NULL;
}
