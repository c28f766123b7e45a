/* SPDX-License-Identifier: MIT */
/*
 * write.c -- requests to the daemon: the writes of the public API and the
 * OPEN that open.c uses.
 *
 * One blocking connection per handle, made on first use, serialised by the
 * handle's mutex: one request, then its reply (whose id must match); only
 * shmc_mdel() sends a run of requests before it reads their replies.  If
 * the daemon went away (restart), a request that failed on the connection
 * is sent again once on a new connection, unless it may have been carried
 * out and must not be carried out twice (ADD, REPLACE, DELETE, INCR,
 * DECR).  Sends never raise SIGPIPE.  Replies are bounded: a
 * reply longer than any this library asks for is a protocol error.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "fdpass.h"
#include "handle.h"

#define REPLY_MAX 64u        /* longest reply body we ask for (OPEN: 8 bytes) */
#define IO_TIMEOUT_S 10      /* a daemon that does not answer for this long */
#define TEXT_MAX (16u << 20) /* longest JSON reply (stats, table list) */

/* Send all of buf, the descriptor pass (unless -1) with its first byte;
 * *sent says how much went out. */
static int
send_all(int fd, const unsigned char *p, size_t n, size_t *sent, int pass)
{
    ssize_t w;

    *sent = 0;
    while (n > 0) {
        if (pass >= 0 && *sent == 0)
            w = fdpass_send(fd, p, n, pass);
        else
            w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EPIPE;
        p += w;
        n -= (size_t)w;
        *sent += (size_t)w;
    }
    return 0;
}

/* Receive exactly n bytes, keeping a passed descriptor in *fd_out. */
static int
recv_all(int fd, unsigned char *p, size_t n, int *fd_out)
{
    char cbuf[CMSG_SPACE(4 * sizeof(int))];
    struct msghdr mh;
    struct iovec iov;
    ssize_t r;

    while (n > 0) {
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = p;
        iov.iov_len = n;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -ETIMEDOUT; /* SO_RCVTIMEO ran out */
        if (r <= 0)
            return r < 0 ? -errno : -ECONNRESET;
        /* Keep the first descriptor we asked for; close any other. */
        fdpass_take(&mh, fd_out);
        if (mh.msg_flags & MSG_CTRUNC)
            return SHMC_EPROTO; /* more descriptors than any reply has */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* What became of a request (exchange()). */
#define FATE_ANSWERED 0 /* its reply was read: the result is its status */
#define FATE_NOT_SENT 1 /* nothing reached the daemon: safe to send again */
#define FATE_UNKNOWN 2  /* it may or may not have been carried out */

/* Read the reply to request `req`; returns its status, or < 0 with *ok 0
 * when no well-formed reply could be read. */
static int
read_reply(shmc_t *h, const unsigned char *req, uint32_t id, int *fd_out,
           unsigned char *body, char **text, int *ok)
{
    unsigned char hdr[PROTO_HDR + 4], scratch[REPLY_MAX], *dst;
    uint32_t len, blen;
    int rc, status;

    *ok = 0;
    rc = recv_all(h->sock, hdr, sizeof(hdr), fd_out);
    if (rc != 0)
        return rc;
    len = proto_get32(hdr);
    if (len < sizeof(hdr) ||
        len - sizeof(hdr) > (text != NULL ? TEXT_MAX : REPLY_MAX) ||
        proto_get32(hdr + 8) != id || hdr[4] != (req[4] | PROTO_REPLY))
        return SHMC_EPROTO;
    blen = len - (uint32_t)sizeof(hdr);
    status = (int)proto_get32(hdr + PROTO_HDR);
    dst = body != NULL ? body : scratch;
    if (text != NULL) { /* a JSON reply: any length up to TEXT_MAX */
        *text = malloc(blen + 1u);
        if (*text == NULL)
            return -ENOMEM;
        dst = (unsigned char *)*text;
        dst[blen] = '\0';
        h->text_len = blen;
    }
    rc = recv_all(h->sock, dst, blen, fd_out);
    if (rc != 0) {
        if (text != NULL) {
            free(*text);
            *text = NULL;
        }
        return rc;
    }
    *ok = 1;
    /* A body the caller relies on (INCR's value, BATCH's count) must be
     * there. */
    if (status == 0 && body != NULL &&
        blen != (req[4] == PROTO_OP_BATCH ? 4 : 8))
        return SHMC_EPROTO;
    return status;
}

/* Send one request and read its reply; *fate says what became of it. */
static int
exchange(shmc_t *h, const unsigned char *req, size_t n, uint32_t id,
         int *fd_out, unsigned char *body, char **text, int *fate)
{
    size_t sent;
    int rc, rr, ok;

    rc = send_all(h->sock, req, n, &sent, h->pass_fd);
    if (rc != 0) {
        /* The daemon may have answered before it closed (SHMC_ETOOBIG for
         * a frame over its limit): that answer is the result. */
        rr = read_reply(h, req, id, fd_out, body, text, &ok);
        if (ok) {
            *fate = FATE_ANSWERED;
            return rr;
        }
        *fate = sent == 0 ? FATE_NOT_SENT : FATE_UNKNOWN;
        return rc;
    }
    rr = read_reply(h, req, id, fd_out, body, text, &ok);
    *fate = ok ? FATE_ANSWERED : FATE_UNKNOWN;
    return rr;
}

/* Whether the connection still looks usable: the daemon closes idle ones
 * (idle_timeout_s), and a request sent into a closed socket is lost. */
static int
conn_alive(shmc_t *h)
{
    char c;
    ssize_t r = recv(h->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    /* EAGAIN: open and quiet, as it should be between requests.  EOF, an
     * error, or unexpected bytes: start afresh. */
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Requests that may be sent twice with the same outcome. */
static int
repeatable(uint8_t op)
{
    return op != PROTO_OP_ADD && op != PROTO_OP_REPLACE &&
           op != PROTO_OP_DELETE && op != PROTO_OP_INCR && op != PROTO_OP_DECR;
}

/*
 * Forks seen by this process.  A child inherits its parent's connections;
 * a request of the child's on one would interleave with the parent's and
 * either could read the other's reply.  So a connection belongs to the
 * fork generation that made it, and a child drops (closes its copy of)
 * any older one before its first request and connects afresh.  The
 * mapping and the hint area need no such care: both are shared by design.
 */
static unsigned long fork_gen; /* atomic, relaxed: written only in a child */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
fork_child(void)
{
    __atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

static void
fork_watch(void)
{
    pthread_atfork(NULL, NULL, fork_child);
}

/* Close the connection (the handle's mutex held, or no other users). */
void
conn_close_locked(shmc_t *h)
{
    if (h->sock >= 0)
        close(h->sock);
    h->sock = -1;
}

/* Connect and say HELLO. */
static int
conn_open_locked(shmc_t *h)
{
    struct timeval tv = {IO_TIMEOUT_S, 0};
    struct sockaddr_un sa;
    unsigned char req[PROTO_HDR + 4];
    int rc, fate;
    size_t n;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(h->socket_path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, h->socket_path);
    pthread_once(&fork_once, fork_watch);
    h->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->sock < 0)
        return -errno;
    h->sock_gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    setsockopt(h->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(h->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(h->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        rc = -errno;
        conn_close_locked(h);
        return rc;
    }
    n = proto_request(req, sizeof(req), PROTO_OP_HELLO, ++h->next_id, NULL,
                      NULL, 0, NULL, 0, 0, 0);
    rc = exchange(h, req, n, h->next_id, NULL, NULL, NULL, &fate);
    if (rc != 0)
        conn_close_locked(h);
    return rc;
}

/* A connection of this process's that the daemon has not closed: the
 * handle's, or a new one. */
static int
conn_ready_locked(shmc_t *h)
{
    if (h->sock >= 0 &&
        h->sock_gen != __atomic_load_n(&fork_gen, __ATOMIC_RELAXED))
        conn_close_locked(h); /* the parent's: ours is a copy to drop */
    if (h->sock >= 0 && !conn_alive(h))
        conn_close_locked(h);
    return h->sock < 0 ? conn_open_locked(h) : 0;
}

/* Whether the daemon closes the connection after answering this status
 * (doc/protocol.md, "Session"): it reads no frame after that one. */
static int
closes_after(int status)
{
    return status == SHMC_EPROTO || status == SHMC_ETOOBIG ||
           status == SHMC_EVERSION;
}

/*
 * Send one request for the handle's table and return the reply's status;
 * an OPEN reply's descriptor lands in *fd_out.  The mutex must be held.
 */
int
conn_call_locked(shmc_t *h, uint8_t op, const void *key, size_t klen,
                 const void *val, size_t vlen, uint32_t ttl_s, uint64_t delta,
                 int *fd_out, unsigned char *body, char **text)
{
    unsigned char small[512], *req = small;
    size_t n;
    uint32_t id;
    int rc = 0, fate, tries;

    if (h->socket_path == NULL)
        return SHMC_EREADONLY;
    n = proto_request(NULL, 0, op, 0, h->table, key, klen, val, vlen, ttl_s,
                      delta);
    if (n > UINT32_MAX)
        return SHMC_ETOOBIG;
    if (n > sizeof(small) && (req = malloc(n)) == NULL)
        return -ENOMEM;
    for (tries = 0; tries < 2; tries++) {
        if ((rc = conn_ready_locked(h)) != 0)
            break;
        id = ++h->next_id;
        proto_request(req, n, op, id, h->table, key, klen, val, vlen, ttl_s,
                      delta);
        rc = exchange(h, req, n, id, fd_out, body, text, &fate);
        if (fate == FATE_ANSWERED) {
            if (closes_after(rc))
                conn_close_locked(h);
            break;
        }
        /* The daemon went away (restarted, say): on a new connection,
         * once more, unless the request may already have been carried
         * out and must not be carried out twice. */
        conn_close_locked(h);
        if (fate == FATE_UNKNOWN && !repeatable(op))
            break;
    }
    if (req != small)
        free(req);
    return rc;
}

/* A request about one key, serialised on the handle; the reply body (if
 * body != NULL) has REPLY_MAX bytes of room. */
static int
call_key(shmc_t *h, uint8_t op, const void *key, size_t klen, const void *val,
         size_t vlen, uint32_t ttl_s, uint64_t delta, unsigned char *body)
{
    const struct mapping *m;
    int rc;

    if (h == NULL || key == NULL || klen == 0 || (val == NULL && vlen > 0))
        return -EINVAL;
    /* The table's limits are in the mapping: refuse here what the daemon
     * would refuse (and a frame it might not even read).
     * ORDERING: acquire; pairs with the release in handle_reopen(). */
    m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
    if (klen > m->t.max_key || vlen > m->t.max_value)
        return SHMC_ETOOBIG;
    pthread_mutex_lock(&h->lock);
    rc = conn_call_locked(h, op, key, klen, val, vlen, ttl_s, delta, NULL, body,
                          NULL);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* call_key() for the requests whose reply is only a status. */
static int
call(shmc_t *h, uint8_t op, const void *key, size_t klen, const void *val,
     size_t vlen, uint32_t ttl_s)
{
    return call_key(h, op, key, klen, val, vlen, ttl_s, 0, NULL);
}

/* Look up, and on a miss have the table's loader fetch the value (see
 * shmcache.h). */
SHMC_EXPORT int
shmc_get_or_load(shmc_t *h, const void *key, size_t klen, void *buf,
                 size_t bufsize, size_t *vlen)
{
    char *body = NULL;
    uint32_t flags, n;
    int rc;

    rc = shmc_get(h, key, klen, buf, bufsize, vlen);
    if (rc != SHMC_ENOTFOUND)
        return rc;
    if (h->socket_path == NULL)
        return SHMC_EREADONLY;
    /* LOAD answers as GET does: flags, expiry, length, value. */
    pthread_mutex_lock(&h->lock);
    rc = conn_call_locked(h, PROTO_OP_LOAD, key, klen, NULL, 0, 0, 0, NULL,
                          NULL, &body);
    if (rc == 0 &&
        (h->text_len < 16 ||
         (n = proto_get32((unsigned char *)body + 12)) != h->text_len - 16))
        rc = SHMC_EPROTO;
    pthread_mutex_unlock(&h->lock);
    if (rc != 0) {
        free(body);
        return rc;
    }
    flags = proto_get32((unsigned char *)body);
    if (vlen != NULL)
        *vlen = n;
    if (flags & FMT_ENTRY_NEGATIVE)
        rc = SHMC_ENEGATIVE;
    else if (n > bufsize)
        rc = SHMC_ERANGE;
    else if (n > 0)
        memcpy(buf, body + 16, n);
    free(body);
    return rc;
}

/* Store key -> value (see shmcache.h). */
SHMC_EXPORT int
shmc_set(shmc_t *h, const void *key, size_t klen, const void *val, size_t vlen,
         uint32_t ttl_s)
{
    return call(h, PROTO_OP_SET, key, klen, val, vlen, ttl_s);
}

/* Delete a key (see shmcache.h). */
SHMC_EXPORT int
shmc_del(shmc_t *h, const void *key, size_t klen)
{
    return call(h, PROTO_OP_DELETE, key, klen, NULL, 0, 0);
}

/* Cache a key as known absent (see shmcache.h). */
SHMC_EXPORT int
shmc_set_negative(shmc_t *h, const void *key, size_t klen, uint32_t ttl_s)
{
    return call(h, PROTO_OP_SETNEG, key, klen, NULL, 0, ttl_s);
}

/* Store only if absent (see shmcache.h). */
SHMC_EXPORT int
shmc_add(shmc_t *h, const void *key, size_t klen, const void *val, size_t vlen,
         uint32_t ttl_s)
{
    return call(h, PROTO_OP_ADD, key, klen, val, vlen, ttl_s);
}

/* Store only if present (see shmcache.h). */
SHMC_EXPORT int
shmc_replace(shmc_t *h, const void *key, size_t klen, const void *val,
             size_t vlen, uint32_t ttl_s)
{
    return call(h, PROTO_OP_REPLACE, key, klen, val, vlen, ttl_s);
}

/* Give a key a new TTL (see shmcache.h). */
SHMC_EXPORT int
shmc_touch(shmc_t *h, const void *key, size_t klen, uint32_t ttl_s)
{
    return call(h, PROTO_OP_TOUCH, key, klen, NULL, 0, ttl_s);
}

/* Add to (delta > 0) or subtract from a decimal value (see shmcache.h). */
SHMC_EXPORT int
shmc_incr(shmc_t *h, const void *key, size_t klen, int64_t delta,
          uint64_t *value)
{
    unsigned char body[REPLY_MAX];
    uint64_t mag = delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta;
    int rc = call_key(h, delta < 0 ? PROTO_OP_DECR : PROTO_OP_INCR, key, klen,
                      NULL, 0, 0, mag, body);

    if (rc == 0 && value != NULL)
        *value = proto_get64(body);
    return rc;
}

/* A request about the whole table whose reply is only a status. */
int
conn_call_table(shmc_t *h, uint8_t op)
{
    int rc;

    if (h == NULL)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    rc = conn_call_locked(h, op, NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* Drop every entry of the table (see shmcache.h). */
SHMC_EXPORT int
shmc_flush(shmc_t *h)
{
    return conn_call_table(h, PROTO_OP_FLUSH);
}

/* ---- batches: shmc_mset(), shmc_mdel() ---- */

/*
 * Both calls take n items and give each its own result, in as few round
 * trips as the request limits allow.  What they share is here: the checks
 * the daemon would make, done before sending; the walk over the items in
 * runs that fit one exchange; and the rule for a failure of the whole
 * call, after which every item without a result gets that error, so that
 * no rcs[] entry ever says "done" for an item that was not.  They differ
 * in how a run travels:
 *
 *  - sets: one BATCH frame per run.  The daemon stores its items in order
 *    and stops at the first failure; sets may be carried out twice, so a
 *    frame whose reply was lost is sent again (conn_call_locked());
 *  - deletes: one DELETE frame per item, a run of them sent back to back
 *    before any reply is read (pipelined: doc/protocol.md), so that each
 *    gets the answer shmc_del() would get, SHMC_ENOTFOUND included.  A
 *    delete must not be carried out twice (the second would answer
 *    SHMC_ENOTFOUND), so only frames that never left are sent again.
 *
 * A run of deletes is bounded by RUN_BYTES: it fits the socket's buffers
 * whole, so the send completes even while the daemon, its output queue
 * full (max_output_bytes), waits for us to read.
 */

#define BATCH_FRAME (256u << 10) /* bytes of items in one BATCH frame */
#define BATCH_ITEMS 4096u        /* items in one run */
#define RUN_BYTES (64u << 10)    /* bytes of DELETE frames in one run */

/* The items of one shmc_mset() or shmc_mdel() call. */
struct batch {
    const void *const *keys;
    const size_t *klens;
    const void *const *vals; /* NULL: deletes */
    const size_t *vlens;
    uint32_t ttl_s;
    int *rcs;
    size_t n;
    size_t *idx;        /* the items left to send, in order */
    size_t pending;     /* how many */
    unsigned char *buf; /* one run: BATCH items, or DELETE frames */
    size_t buf_size;
    size_t budget; /* bytes one run may take (shrinks for a daemon whose
                    * frame limit is lower than BATCH_FRAME) */
};

/*
 * Allocate, and give the items the daemon would refuse their results
 * here, as shmc_set() and shmc_del() do; the others go to b->idx.  On
 * failure, every item gets the error.
 */
static int
batch_begin(shmc_t *h, struct batch *b)
{
    const struct mapping *m;
    size_t i;
    int rc = 0;

    b->buf_size = b->vals != NULL ? BATCH_FRAME : RUN_BYTES;
    b->budget = b->buf_size;
    b->pending = 0;
    b->idx = malloc(sizeof(*b->idx) * (b->n ? b->n : 1));
    b->buf = malloc(b->buf_size);
    if (h->socket_path == NULL)
        rc = SHMC_EREADONLY;
    else if (b->idx == NULL || b->buf == NULL)
        rc = -ENOMEM;
    if (rc != 0) {
        for (i = 0; i < b->n; i++)
            b->rcs[i] = rc;
        return rc;
    }
    /* ORDERING: acquire; pairs with the release in handle_reopen(). */
    m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
    for (i = 0; i < b->n; i++) {
        if (b->keys[i] == NULL || b->klens[i] == 0 ||
            (b->vals != NULL && b->vals[i] == NULL && b->vlens[i] > 0))
            b->rcs[i] = -EINVAL;
        else if (b->klens[i] > m->t.max_key ||
                 (b->vals != NULL && b->vlens[i] > m->t.max_value))
            b->rcs[i] = SHMC_ETOOBIG;
        else
            b->idx[b->pending++] = i;
    }
    return 0;
}

/* Free what batch_begin() allocated. */
static void
batch_end(struct batch *b)
{
    free(b->idx);
    free(b->buf);
}

/* The bytes item i takes in a run: its BATCH item, or its DELETE frame. */
static size_t
batch_cost(const shmc_t *h, const struct batch *b, size_t i)
{
    if (b->vals != NULL)
        return 10 + b->klens[i] + b->vlens[i];
    return proto_request(NULL, 0, PROTO_OP_DELETE, 0, h->table, b->keys[i],
                         b->klens[i], NULL, 0, 0, 0);
}

/*
 * Send one BATCH frame of items idx[0, count) and record their results:
 * the daemon stores them in order and stops at the first failure, so the
 * items before it succeeded, that one failed, and the caller sends the
 * rest again.  *done says how many items got a result (0: the frame was
 * too big for the daemon, and the caller makes it smaller).  Returns 0,
 * or an error for the whole call.  The mutex must be held.
 */
static int
mset_frame(shmc_t *h, struct batch *b, const size_t idx[], size_t count,
           size_t *done)
{
    unsigned char body[8] = {0};
    size_t i, len = 0;
    uint32_t stored;
    int rc;

    *done = 0;
    for (i = 0; i < count; i++)
        len += proto_batch_item(b->buf + len, b->buf_size - len,
                                b->keys[idx[i]], b->klens[idx[i]],
                                b->vals[idx[i]], b->vlens[idx[i]], b->ttl_s);
    rc = conn_call_locked(h, PROTO_OP_BATCH, NULL, 0, b->buf, len, 0,
                          (uint64_t)count, NULL, body, NULL);
    if (rc != 0 && rc != SHMC_ENOSPACE && rc != SHMC_ETOOBIG)
        return rc; /* no daemon, no table, no right, ...: the whole call */
    stored = proto_get32(body);
    if (stored > count)
        return SHMC_EPROTO;
    for (i = 0; i < stored; i++)
        b->rcs[idx[i]] = 0;
    *done = stored;
    if (rc == 0)
        return 0;
    if (stored == 0 && count > 1 && rc == SHMC_ETOOBIG)
        return 0; /* the frame itself was too big: caller splits */
    b->rcs[idx[stored]] = rc;
    *done = stored + 1;
    return 0;
}

/* Whether a DELETE's status is the item's own result rather than a
 * failure of the whole call (no table, no right, a broken protocol). */
static int
mdel_item_status(int status)
{
    return status == 0 || status == SHMC_ENOTFOUND || status == SHMC_ETOOBIG;
}

/*
 * Delete items idx[0, count): their DELETE frames in one send, then every
 * reply, in order.  *done says how many items got a result.
 *
 * HOW IT ENDS.  Every reply read is its item's result.  After a reply the
 * daemon may close on (closes_after(): a frame over its request limit is
 * answered so and the connection closed, but a key over max_key_bytes
 * gets the same status on an open connection) the replies go on being
 * read: if the connection then ends, the daemon read no frame after that
 * one, and the items after it are left to the caller, which sends them on
 * a new connection; if more replies come, they are results like any
 * other.  When the connection fails otherwise, what became of
 * the first item without a reply decides: if no byte of its frame left,
 * neither did any after it, and they are left to the caller (or, when
 * none got a result, sent again here, once, as conn_call_locked() does);
 * if its frame left, the daemon may have deleted it, and the failure is
 * the whole call's.  Returns 0, or the whole call's error (the first
 * status that is not an item's own, or the transport's).  The mutex must
 * be held.
 */
static int
mdel_run(shmc_t *h, struct batch *b, const size_t idx[], size_t count,
         size_t *done)
{
    size_t i, len, sent, start, flen;
    int rc, st, ok, tries, whole, closing;

    *done = 0;
    for (tries = 0; tries < 2; tries++) {
        if ((rc = conn_ready_locked(h)) != 0)
            return rc;
        for (i = 0, len = 0; i < count; i++)
            len += proto_request(
                b->buf + len, b->buf_size - len, PROTO_OP_DELETE, ++h->next_id,
                h->table, b->keys[idx[i]], b->klens[idx[i]], NULL, 0, 0, 0);
        rc = send_all(h->sock, b->buf, len, &sent, -1);
        /* The replies to what left, even after a failed send: the daemon
         * may have answered before it closed. */
        whole = 0;
        closing = 0;
        for (i = 0, start = 0; i < count && start < sent; i++, start += flen) {
            flen = proto_get32(b->buf + start);
            st = read_reply(h, b->buf + start, proto_get32(b->buf + start + 8),
                            NULL, NULL, NULL, &ok);
            if (!ok) {
                rc = st;
                break;
            }
            b->rcs[idx[i]] = st;
            if (whole == 0 && !mdel_item_status(st))
                whole = st;
            closing = closes_after(st);
        }
        *done = i;
        if (i == count) {
            if (closing) /* it may be closed: start afresh next time */
                conn_close_locked(h);
            return whole;
        }
        /* The connection failed before item i got its reply. */
        conn_close_locked(h);
        if (closing)
            return whole; /* closed after a refused frame, nothing after it
                             read: the caller goes on from item i */
        if (start < sent || whole != 0)
            return whole != 0 ? whole : rc; /* it may have been deleted */
        if (i > 0)
            return 0; /* never sent: the caller goes on from item i */
    }
    return rc;
}

/*
 * Send the items of b->idx in runs that fit one exchange, under the
 * handle's mutex.  Returns 0 when every item has a result, or the whole
 * call's error, which every item still without one then gets.
 */
static int
batch_run(shmc_t *h, struct batch *b)
{
    size_t i = 0, take, bytes, done;
    int rc = 0;

    pthread_mutex_lock(&h->lock);
    while (i < b->pending) {
        /* As many items as fit a run (one at least). */
        for (take = 0, bytes = 64; i + take < b->pending && take < BATCH_ITEMS;
             take++) {
            size_t one = batch_cost(h, b, b->idx[i + take]);
            if (take > 0 && bytes + one > b->budget)
                break;
            bytes += one;
        }
        if (b->vals == NULL) {
            rc = mdel_run(h, b, b->idx + i, take, &done);
        } else if (bytes > b->buf_size) {
            /* One item larger than a batch buffer: on its own. */
            size_t k = b->idx[i];
            b->rcs[k] = conn_call_locked(h, PROTO_OP_SET, b->keys[k],
                                         b->klens[k], b->vals[k], b->vlens[k],
                                         b->ttl_s, 0, NULL, NULL, NULL);
            done = 1;
        } else {
            rc = mset_frame(h, b, b->idx + i, take, &done);
        }
        i += done;
        if (rc != 0)
            break;
        if (done == 0) {
            /* The daemon's frame limit is lower than ours. */
            b->budget /= 2;
            if (b->budget < 4096) {
                rc = SHMC_ETOOBIG;
                break;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
    for (; rc != 0 && i < b->pending; i++)
        b->rcs[b->idx[i]] = rc;
    return rc;
}

/* Store n items through the daemon in batches (see shmcache.h). */
SHMC_EXPORT int
shmc_mset(shmc_t *h, size_t n, const void *const keys[], const size_t klens[],
          const void *const vals[], const size_t vlens[], uint32_t ttl_s,
          int rcs[])
{
    struct batch b = {.keys = keys,
                      .klens = klens,
                      .vals = vals,
                      .vlens = vlens,
                      .ttl_s = ttl_s,
                      .rcs = rcs,
                      .n = n};
    int rc;

    if (h == NULL || (n > 0 && (keys == NULL || klens == NULL || vals == NULL ||
                                vlens == NULL || rcs == NULL)))
        return -EINVAL;
    if ((rc = batch_begin(h, &b)) == 0)
        rc = batch_run(h, &b);
    batch_end(&b);
    return rc;
}

/* Delete n keys through the daemon, pipelined (see shmcache.h). */
SHMC_EXPORT int
shmc_mdel(shmc_t *h, size_t n, const void *const keys[], const size_t klens[],
          int rcs[])
{
    struct batch b = {.keys = keys, .klens = klens, .rcs = rcs, .n = n};
    int rc;

    if (h == NULL || (n > 0 && (keys == NULL || klens == NULL || rcs == NULL)))
        return -EINVAL;
    if ((rc = batch_begin(h, &b)) == 0)
        rc = batch_run(h, &b);
    batch_end(&b);
    return rc;
}
