/* SPDX-License-Identifier: MIT */
/*
 * command.c -- one handler per control-socket operation.
 *
 * command_dispatch() decodes a complete frame (proto.c), checks the peer
 * against the table's ACL (SO_PEERCRED, see below), runs the operation on
 * the table's store and appends exactly one reply frame to the output.
 * Returns 0, or a negative code when the frame was malformed: the reply
 * then says SHMC_EPROTO and the caller closes the connection.
 *
 * ACLs.  Writing (every mutating op) is allowed to root, to the daemon's
 * own uid, and to the uids and primary gids in write_uids/write_gids.
 * Reading (GET, OPEN) is allowed to anyone a table's read lists admit, to
 * everyone when both read lists are empty, and to every writer.  Only the
 * peer's primary gid is known from SO_PEERCRED; supplementary groups do
 * not count.
 *
 * Table files cut under us.  Every table operation runs with the table's
 * mapping guarded against SIGBUS (guard.c): an access past the end of a
 * file truncated under us makes the table be replaced (tables.c) and the
 * request be answered SHMC_ECORRUPT.  STATS reads only the writer's own
 * copies, never the mapping, so it needs no guard.
 *
 * TTLs.  A ttl_s of 0 means the table's default (default_ttl_s, or
 * negative_ttl_s for SETNEG); PROTO_TTL_NEVER means no expiry; anything
 * else is seconds from now.  Expiry is stored as absolute wall-clock time,
 * so it survives restarts.
 */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "error.h"
#include "guard.h"
#include "loader.h"
#include "redis.h"
#include "log.h"
#include "proto.h"

#define STATUS_LEN 4u
/* OPENs one connection may make: a reader needs one per table. */
#define OPEN_MAX_PER_CONN 64u
/* ... and to all connections of one uid but root at once. */
#define OPEN_MAX_PER_UID 256u

/* Append one reply frame: header, status, then a and b. */
void
command_reply(struct evbuffer *out, uint8_t op, uint32_t id, int status,
              const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char h[PROTO_HDR + STATUS_LEN];

    proto_header(h, (uint32_t)(sizeof(h) + alen + blen), op, id);
    proto_put32(h + PROTO_HDR, (uint32_t)status);
    evbuffer_add(out, h, sizeof(h));
    if (alen > 0)
        evbuffer_add(out, a, alen);
    if (blen > 0)
        evbuffer_add(out, b, blen);
}

/* Whether id is in the list. */
static int
in_ids(const struct conf_ids *ids, uint32_t id)
{
    size_t i;

    for (i = 0; i < ids->n; i++)
        if (ids->id[i] == id)
            return 1;
    return 0;
}

/* May this peer change the table? */
static int
may_write(const struct daemon *d, const struct peer *p, const struct dtable *t)
{
    return p->uid == 0 || p->uid == d->euid ||
           in_ids(&t->cfg.write_uids, p->uid) ||
           in_ids(&t->cfg.write_gids, p->gid);
}

/* May this peer read the table? */
static int
may_read(const struct daemon *d, const struct peer *p, const struct dtable *t)
{
    return t->cfg.read_any || in_ids(&t->cfg.read_uids, p->uid) ||
           in_ids(&t->cfg.read_gids, p->gid) || may_write(d, p, t);
}

/* Absolute expiry for a request's ttl_s. */
static uint64_t
expiry_for(uint32_t ttl_s, uint32_t dflt, uint64_t now)
{
    if (ttl_s == PROTO_TTL_NEVER)
        return 0;
    if (ttl_s == 0)
        ttl_s = dflt;
    return ttl_s == 0 ? 0 : now + (uint64_t)ttl_s * 1000u;
}

/*
 * A table's residency as JSON: what is in effect (populate, lock), the
 * huge page state ("off", "on", "partial", "unavailable") with the bytes
 * huge pages map now (measured, /proc/self/smaps), and why anything asked
 * for is not in effect ("" if all is).
 */
static json_t *
residency_json(const struct dtable *t)
{
    uint64_t huge;

    if (residency_huge_bytes(t->st, &huge) != 0)
        huge = t->res.huge_bytes; /* as measured when applied */
    return json_pack("{s:b, s:b, s:s, s:I, s:s}", "populate",
                     (t->res.have & FMT_RES_POPULATE) != 0, "lock",
                     (t->res.have & FMT_RES_LOCK) != 0, "huge_pages",
                     residency_huge_name(t->res.huge), "huge_pages_bytes",
                     (json_int_t)huge, "residency_note", t->res.why);
}

/* Table statistics as a JSON object (caller owns it); from the writer's
 * own copies only, never the mapping (STATS runs unguarded). */
static json_t *
table_json(struct dtable *t)
{
    json_t *o, *more;

    o = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:I}",
        "name", t->cfg.name, "mode", t->cfg.disk ? "disk" : "memory", "path",
        t->path, "generation", (json_int_t)t->st->view.generation, "size_bytes",
        (json_int_t)t->st->size, "arena_bytes", (json_int_t)t->st->arena_size,
        "used_bytes", (json_int_t)t->st->used, "buckets",
        (json_int_t)t->st->view.nbuckets, "max_key_bytes",
        (json_int_t)t->st->view.max_key, "max_value_bytes",
        (json_int_t)t->st->view.max_value, "entries",
        (json_int_t)t->st->entries, "sets", (json_int_t)t->st->sets, "deletes",
        (json_int_t)t->st->deletes, "evictions", (json_int_t)t->st->evictions,
        "expirations", (json_int_t)t->st->expirations, "relocations",
        (json_int_t)t->st->relocations, "default_ttl_s",
        (json_int_t)t->cfg.default_ttl_s);

    /* Where the arena's bytes are, and why entries left. */
    hints_count(&t->hints);
    more = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "reader_hits",
        (json_int_t)t->hints.hits, "reader_misses", (json_int_t)t->hints.misses,
        "live_bytes", (json_int_t)t->st->live, "dead_bytes",
        (json_int_t)(t->st->used - t->st->live), "moves",
        (json_int_t)t->st->moves, "evictions_index",
        (json_int_t)t->st->evictions_index, "live_high_water_bytes",
        (json_int_t)t->st->live_hwm, "hint_areas", (json_int_t)t->hints.n,
        "reader_hits_hinted", (json_int_t)t->hints.drained, "hints_stale",
        (json_int_t)t->hints.stale);
    if (o == NULL || more == NULL || json_object_update(o, more) != 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(more);
    if (o != NULL && t->cfg.loader.type != LOADER_NONE) {
        const struct loader_stats *l = &t->lstats;
        json_t *lo = json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
            "s:I, s:I}",
            "type",
            t->cfg.loader.type == LOADER_NSS     ? "nss"
            : t->cfg.loader.type == LOADER_REDIS ? "redis"
                                                 : "exec",
            "calls", (json_int_t)l->calls, "merged", (json_int_t)l->merged,
            "values", (json_int_t)l->values, "negatives",
            (json_int_t)l->negatives, "errors", (json_int_t)l->errors,
            "timeouts", (json_int_t)l->timeouts, "refused",
            (json_int_t)l->refused, "not_stored", (json_int_t)l->not_stored,
            "latency_ms_total", (json_int_t)l->latency_ms_total,
            "latency_ms_max", (json_int_t)l->latency_ms_max, "running",
            (json_int_t)l->running, "queued", (json_int_t)l->queued);
        /* Persistent workers (worker.c); counters survive a switch back
         * to one-shot runs, so they are shown whenever any was started. */
        if (lo != NULL && (t->cfg.loader.persistent || l->workers_started > 0))
            json_object_update_new(
                lo, json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "persistent",
                              t->cfg.loader.persistent, "workers_started",
                              (json_int_t)l->workers_started, "workers_running",
                              (json_int_t)l->workers_running, "workers_idle",
                              (json_int_t)l->workers_idle, "workers_recycled",
                              (json_int_t)l->workers_recycled, "workers_lost",
                              (json_int_t)l->workers_lost));
        json_object_set_new(o, "loader", lo);
    }
    if (o != NULL && t->cfg.loader.type == LOADER_REDIS) {
        const struct redis_stats *r = &t->rstats;
        json_object_set_new(
            o, "redis",
            json_pack(
                "{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                "s:I, s:b, s:I, s:I, s:I, s:I}",
                "endpoint", t->cfg.loader.endpoint, "connected",
                (int)r->connected, "gets", (json_int_t)r->gets, "invalidations",
                (json_int_t)r->invalidations, "keys_invalidated",
                (json_int_t)r->keys_invalidated, "flushes",
                (json_int_t)r->flushes, "connects", (json_int_t)r->connects,
                "reconnects", (json_int_t)r->reconnects, "disconnects",
                (json_int_t)r->disconnects, "pings", (json_int_t)r->pings,
                "writes", (json_int_t)r->writes, "write_through",
                t->cfg.loader.write_through, "max_stale_s",
                (json_int_t)t->cfg.loader.max_stale_s, "invalidation_lag_us",
                (json_int_t)r->lag_us, "invalidation_lag_us_max",
                (json_int_t)r->lag_us_max, "staleness_window_ms",
                (json_int_t)redis_window_ms(r, mono_ms())));
    }
    if (o != NULL && json_object_update_new(o, residency_json(t)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Reply with a JSON document. */
static void
reply_json(struct evbuffer *out, const struct proto_req *r, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

    if (s == NULL)
        command_reply(out, r->op | PROTO_REPLY, r->id, -ENOMEM, NULL, 0, NULL,
                      0);
    else
        command_reply(out, r->op | PROTO_REPLY, r->id, 0, s, strlen(s), NULL,
                      0);
    free(s);
    json_decref(doc);
}

/* STATS: one table, or the daemon and every table. */
static void
do_stats(struct daemon *d, const struct proto_req *r, struct evbuffer *out)
{
    struct dtable *t;
    json_t *doc, *arr;
    uint64_t now_ms = table_now_ms(); /* start_ms follows clock jumps */
    size_t i;

    if (r->tlen > 0) {
        t = tables_find(d->tables, d->ntables, r->table, r->tlen);
        if (t == NULL) {
            command_reply(out, r->op | PROTO_REPLY, r->id, SHMC_ENOTABLE, NULL,
                          0, NULL, 0);
            return;
        }
        reply_json(out, r, table_json(t));
        return;
    }
    arr = json_array();
    for (i = 0; i < d->ntables; i++)
        json_array_append_new(arr, table_json(&d->tables[i]));
    doc = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:o}",
        "pid", (json_int_t)getpid(), "uptime_s",
        (json_int_t)(now_ms > d->start_ms ? (now_ms - d->start_ms) / 1000 : 0),
        "connections", (json_int_t)d->nconns, "connections_total",
        (json_int_t)d->stats.connections, "connections_refused",
        (json_int_t)d->stats.refused, "requests", (json_int_t)d->stats.requests,
        "protocol_errors", (json_int_t)d->stats.proto_errors, "denied",
        (json_int_t)d->stats.denied, "buffered_bytes", (json_int_t)d->buffered,
        "connections_shed", (json_int_t)d->stats.shed, "closed_idle",
        (json_int_t)d->stats.closed_idle, "closed_frame_timeout",
        (json_int_t)d->stats.closed_frame, "closed_not_reading",
        (json_int_t)d->stats.closed_not_reading, "tables", arr);
    reply_json(out, r, doc);
}

/* LIST: table names and modes. */
static void
do_list(struct daemon *d, const struct proto_req *r, struct evbuffer *out)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; i < d->ntables; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s}", "name", d->tables[i].cfg.name,
                           "mode", d->tables[i].cfg.disk ? "disk" : "memory",
                           "path", d->tables[i].path));
    reply_json(out, r, arr);
}

/* GET over the socket: flags, expiry, value.  For a LOAD, a miss is not
 * answered: returns SHMC_ENOTFOUND for the caller to load; else 0. */
static int
do_get(struct dtable *t, const struct proto_req *r, struct evbuffer *out,
       uint64_t now)
{
    unsigned char meta[16], small[4096], *buf = small;
    struct table_hit hit;
    int rc;

    /* Into a small buffer first; a larger value is copied again into one
     * of exactly its size, so a GET never costs max_value_bytes. */
    rc = table_lookup(&t->st->view, r->key, r->klen, small, sizeof(small), now,
                      &hit);
    if (rc == SHMC_ERANGE) {
        buf = malloc(hit.vlen);
        if (buf == NULL) {
            command_reply(out, r->op | PROTO_REPLY, r->id, -ENOMEM, NULL, 0,
                          NULL, 0);
            return 0;
        }
        rc = table_lookup(&t->st->view, r->key, r->klen, buf, hit.vlen, now,
                          &hit);
    }
    if (rc == SHMC_ENOTFOUND && r->op == PROTO_OP_LOAD)
        return rc;
    if (rc == SHMC_ENEGATIVE)
        rc = 0; /* reported through the flags */
    proto_put32(meta, hit.flags);
    proto_put64(meta + 4, hit.expiry_ms);
    proto_put32(meta + 12, (uint32_t)hit.vlen);
    if (rc == 0)
        command_reply(out, r->op | PROTO_REPLY, r->id, 0, meta, sizeof(meta),
                      buf, hit.vlen);
    else
        command_reply(out, r->op | PROTO_REPLY, r->id, rc, NULL, 0, NULL, 0);
    if (buf != small)
        free(buf);
    return 0;
}

/* INCR/DECR on a decimal value (memcached's rules: decr stops at 0,
 * incr wraps at 2^64). */
static void
do_arith(struct dtable *t, const struct proto_req *r, struct evbuffer *out,
         uint64_t now)
{
    unsigned char meta[8];
    char buf[24], num[24];
    struct table_hit hit;
    uint64_t v = 0;
    size_t i;
    int rc;

    rc = table_lookup(&t->st->view, r->key, r->klen, buf, sizeof(buf) - 1, now,
                      &hit);
    if (rc == SHMC_ERANGE || (rc == 0 && (hit.vlen == 0 || hit.vlen > 20)))
        rc = SHMC_ENOTNUM;
    for (i = 0; rc == 0 && i < hit.vlen; i++) {
        if (buf[i] < '0' || buf[i] > '9' ||
            v > (UINT64_MAX - (uint64_t)(buf[i] - '0')) / 10)
            rc = SHMC_ENOTNUM;
        else
            v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    if (rc == SHMC_ENEGATIVE)
        rc = SHMC_ENOTFOUND;
    if (rc == 0) {
        if (r->op == PROTO_OP_INCR)
            v += r->delta;
        else
            v = v > r->delta ? v - r->delta : 0;
        snprintf(num, sizeof(num), "%" PRIu64, v);
        rc = store_set(t->st, r->key, r->klen, num, strlen(num), hit.expiry_ms,
                       0, STORE_SET, now);
    }
    proto_put64(meta, v);
    command_reply(out, r->op | PROTO_REPLY, r->id, rc, rc == 0 ? meta : NULL,
                  rc == 0 ? sizeof(meta) : 0, NULL, 0);
}

/* BATCH: store every item; stops at the first failure.  The reply says
 * how many were stored. */
static int
do_batch(struct dtable *t, const struct proto_req *r, struct evbuffer *out,
         uint64_t now)
{
    const unsigned char *cur = r->items;
    size_t left = r->items_len;
    unsigned char cnt[4];
    struct proto_item it;
    uint32_t done = 0;
    int rc = 0, step;

    while (done < r->count &&
           (step = proto_batch_next(&cur, &left, &it)) == 1) {
        rc = store_set(t->st, it.key, it.klen, it.val, it.vlen,
                       expiry_for(it.ttl_s, t->cfg.default_ttl_s, now), 0,
                       STORE_SET, now);
        if (rc != 0)
            break;
        done++;
    }
    if (rc == 0 && (done != r->count || left != 0))
        rc = SHMC_EPROTO; /* count and items disagree */
    proto_put32(cnt, done);
    command_reply(out, r->op | PROTO_REPLY, r->id, rc, cnt, sizeof(cnt), NULL,
                  0);
    return rc == SHMC_EPROTO ? rc : 0;
}

/*
 * A fresh read-only descriptor of the table the daemon has open: the
 * reader cannot write through it whatever the file's mode.  Opened by path
 * without following a symlink, then checked to be the very file we write,
 * so a swapped directory entry cannot make us hand out another file.
 */
static int
open_table_ro(const struct dtable *t)
{
    struct stat a, b;
    int fd = open(t->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (fstat(fd, &a) != 0 || fstat(t->st->fd, &b) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

/* Run a table operation (the request passed the ACL check). */
static int
table_op(struct daemon *d, struct peer *p, struct dtable *t,
         const struct proto_req *r, struct evbuffer *out, int *fd_out,
         uint64_t now)
{
    uint8_t rop = r->op | PROTO_REPLY;
    unsigned char v[8];
    int rc, fd;

    if (t->cfg.loader.type == LOADER_REDIS && t->cfg.loader.write_through) {
        /* Writes go to Redis first (redis.c); those it cannot express
         * would make the local copy differ from Redis: refused. */
        switch (r->op) {
        case PROTO_OP_SET:
        case PROTO_OP_ADD:
        case PROTO_OP_REPLACE:
        case PROTO_OP_DELETE:
            rc = redis_write(d, t, p, r->id, r->op, r->key, r->klen, r->val,
                             r->vlen, r->ttl_s);
            if (rc == 0) {
                p->waiting = 1; /* answered through control_resume() */
                return 0;
            }
            command_reply(out, rop, r->id, rc, NULL, 0, NULL, 0);
            return 0;
        case PROTO_OP_TOUCH:
        case PROTO_OP_INCR:
        case PROTO_OP_DECR:
        case PROTO_OP_SETNEG:
        case PROTO_OP_BATCH:
            command_reply(out, rop, r->id, -EOPNOTSUPP, NULL, 0, NULL, 0);
            return 0;
        }
    }
    switch (r->op) {
    case PROTO_OP_SET:
    case PROTO_OP_ADD:
    case PROTO_OP_REPLACE:
        rc = store_set(t->st, r->key, r->klen, r->val, r->vlen,
                       expiry_for(r->ttl_s, t->cfg.default_ttl_s, now), 0,
                       r->op == PROTO_OP_SET   ? STORE_SET
                       : r->op == PROTO_OP_ADD ? STORE_ADD
                                               : STORE_REPLACE,
                       now);
        break;
    case PROTO_OP_SETNEG:
        rc = store_set(t->st, r->key, r->klen, NULL, 0,
                       expiry_for(r->ttl_s, t->cfg.negative_ttl_s, now),
                       FMT_ENTRY_NEGATIVE, STORE_SET, now);
        break;
    case PROTO_OP_DELETE:
        rc = store_delete(t->st, r->key, r->klen, now);
        break;
    case PROTO_OP_TOUCH:
        rc = store_touch(t->st, r->key, r->klen,
                         expiry_for(r->ttl_s, t->cfg.default_ttl_s, now), now);
        break;
    case PROTO_OP_FLUSH:
        store_flush(t->st);
        rc = 0;
        break;
    case PROTO_OP_SYNC:
        rc = store_sync(t->st);
        break;
    case PROTO_OP_GET:
        do_get(t, r, out, now);
        return 0;
    case PROTO_OP_LOAD:
        if (do_get(t, r, out, now) == 0)
            return 0; /* a hit, or an error: answered */
        rc = loader_request(d, t, r->key, r->klen, p, r->id);
        if (rc == 0) {
            p->waiting = 1; /* answered through control_resume() */
            return 0;
        }
        break;
    case PROTO_OP_INCR:
    case PROTO_OP_DECR:
        do_arith(t, r, out, now);
        return 0;
    case PROTO_OP_BATCH:
        return do_batch(t, r, out, now);
    case PROTO_OP_HINTS:
        /* The area rides with the request; without one, it is refused. */
        if (p->rx_fd < 0) {
            rc = -EBADF;
            break;
        }
        rc = hints_add(&t->hints, p->rx_fd, p->uid, now);
        close(p->rx_fd);
        p->rx_fd = -1;
        break;
    case PROTO_OP_OPEN:
        if (p->opens >= OPEN_MAX_PER_CONN ||
            (p->uid != 0 && control_opens_of(d, p->uid) >= OPEN_MAX_PER_UID)) {
            /* Descriptors a client holds unread count against our own
             * limit; one connection cannot ask for more than this. */
            command_reply(out, rop, r->id, -EMFILE, NULL, 0, NULL, 0);
            return 0;
        }
        fd = open_table_ro(t);
        if (fd < 0) {
            command_reply(out, rop, r->id, fd, NULL, 0, NULL, 0);
            return 0;
        }
        p->opens++;
        proto_put64(v, t->st->size);
        command_reply(out, rop, r->id, 0, v, 8, NULL, 0);
        *fd_out = fd;
        return 0;
    default:
        rc = SHMC_EPROTO;
        break;
    }
    command_reply(out, rop, r->id, rc, NULL, 0, NULL, 0);
    return 0;
}

/*
 * table_op() with the table's mapping guarded (guard.c): if an access
 * faults, the file was cut under us; the table is replaced and the
 * request answered SHMC_ECORRUPT (it may or may not have taken effect).
 * The guarded code appends a reply only after its last access to the
 * mapping, so no half reply is left; a large GET's buffer is lost if its
 * copy faults, once per damaged table.  OPEN checks the file's size first,
 * so that it never hands out a cut file.
 */
static int
table_op_guarded(struct daemon *d, struct peer *p, struct dtable *t,
                 const struct proto_req *r, struct evbuffer *out, int *fd_out,
                 uint64_t now)
{
    struct guard g;
    int rc;

    if (r->op == PROTO_OP_OPEN)
        tables_check_size(t);
    tables_check_epoch(t, now); /* before an expiry it could not store */
    if (sigsetjmp(g.env, 0) != 0) {
        tables_faulted(t);
        command_reply(out, r->op | PROTO_REPLY, r->id, SHMC_ECORRUPT, NULL, 0,
                      NULL, 0);
        return 0;
    }
    guard_arm(&g, t->st->base, t->st->size);
    rc = table_op(d, p, t, r, out, fd_out, now);
    guard_disarm(&g);
    return rc;
}

/* Handle one complete frame; see the file comment. */
int
command_dispatch(struct daemon *d, struct peer *p, const unsigned char *frame,
                 size_t len, struct evbuffer *out, int *fd_out)
{
    struct proto_req r;
    struct dtable *t = NULL;
    unsigned char v[8];
    uint64_t now = table_now_ms();
    uint8_t rop;
    int rc;

    rc = proto_decode(frame, len, &r);
    rop = (uint8_t)(frame[4] | PROTO_REPLY);
    if (rc != 0) {
        command_reply(out, rop, proto_get32(frame + 8), rc, NULL, 0, NULL, 0);
        return rc;
    }
    switch (r.op) {
    case PROTO_OP_HELLO:
        if (r.version != PROTO_VERSION) {
            command_reply(out, rop, r.id, SHMC_EVERSION, NULL, 0, NULL, 0);
            return SHMC_EVERSION;
        }
        proto_put32(v, PROTO_VERSION);
        command_reply(out, rop, r.id, 0, v, 4, NULL, 0);
        return 0;
    case PROTO_OP_PING:
        command_reply(out, rop, r.id, 0, NULL, 0, NULL, 0);
        return 0;
    case PROTO_OP_LIST:
        do_list(d, &r, out);
        return 0;
    case PROTO_OP_STATS:
        do_stats(d, &r, out);
        return 0;
    }

    t = tables_find(d->tables, d->ntables, r.table, r.tlen);
    if (t == NULL) {
        command_reply(out, rop, r.id, SHMC_ENOTABLE, NULL, 0, NULL, 0);
        return 0;
    }
    if (r.op == PROTO_OP_GET || r.op == PROTO_OP_LOAD ||
                r.op == PROTO_OP_OPEN || r.op == PROTO_OP_HINTS
            ? !may_read(d, p, t)
            : !may_write(d, p, t)) {
        d->stats.denied++;
        log_info("command: denied op=%#x table=%s pid=%d uid=%u gid=%u", r.op,
                 t->cfg.name, (int)p->pid, (unsigned)p->uid, (unsigned)p->gid);
        command_reply(out, rop, r.id, -EACCES, NULL, 0, NULL, 0);
        return 0;
    }
    return table_op_guarded(d, p, t, &r, out, fd_out, now);
}
