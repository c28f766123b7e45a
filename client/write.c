/* SPDX-License-Identifier: MIT */
/*
 * write.c -- requests to the daemon: the writes of the public API and the
 * OPEN that open.c uses.
 *
 * One blocking connection per handle, made on first use, serialised by the
 * handle's mutex: one request, then its reply (whose id must match).  If
 * the daemon went away (restart), a request that failed on the connection
 * is sent again once on a new connection, except INCR/DECR, which must not
 * be applied twice.  Sends never raise SIGPIPE.  Replies are bounded: a
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
#define MSET_FRAME (256u << 10) /* bytes of items in one BATCH frame */
#define MSET_ITEMS 4096u        /* items in one BATCH frame */

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
    if (h->sock >= 0 &&
        h->sock_gen != __atomic_load_n(&fork_gen, __ATOMIC_RELAXED))
        conn_close_locked(h); /* the parent's: ours is a copy to drop */
    for (tries = 0; tries < 2; tries++) {
        if (h->sock >= 0 && !conn_alive(h))
            conn_close_locked(h);
        if (h->sock < 0 && (rc = conn_open_locked(h)) != 0)
            break;
        id = ++h->next_id;
        proto_request(req, n, op, id, h->table, key, klen, val, vlen, ttl_s,
                      delta);
        rc = exchange(h, req, n, id, fd_out, body, text, &fate);
        if (fate == FATE_ANSWERED) {
            /* The daemon closes the connection after these. */
            if (rc == SHMC_EPROTO || rc == SHMC_ETOOBIG || rc == SHMC_EVERSION)
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

/*
 * Send one BATCH frame of items [first, first + count) and record their
 * results: the daemon stores them in order and stops at the first failure,
 * so the items before it succeeded, that one failed, and the caller sends
 * the rest again.  Returns how many items got a result, or a negative
 * error for the whole frame.  The mutex must be held.
 */
static long
mset_frame(shmc_t *h, const size_t idx[], size_t count,
           const void *const keys[], const size_t klens[],
           const void *const vals[], const size_t vlens[], uint32_t ttl_s,
           int rcs[], unsigned char *items, size_t items_cap)
{
    unsigned char body[8] = {0};
    size_t i, len = 0;
    uint32_t stored;
    int rc;

    for (i = 0; i < count; i++)
        len +=
            proto_batch_item(items + len, items_cap - len, keys[idx[i]],
                             klens[idx[i]], vals[idx[i]], vlens[idx[i]], ttl_s);
    rc = conn_call_locked(h, PROTO_OP_BATCH, NULL, 0, items, len, 0,
                          (uint64_t)count, NULL, body, NULL);
    if (rc != 0 && rc != SHMC_ENOSPACE && rc != SHMC_ETOOBIG)
        return rc; /* no daemon, no table, no right, ...: the whole call */
    stored = proto_get32(body);
    if (stored > count)
        return SHMC_EPROTO;
    for (i = 0; i < stored; i++)
        rcs[idx[i]] = 0;
    if (rc == 0)
        return (long)count;
    if (stored == 0 && count > 1 && rc == SHMC_ETOOBIG)
        return 0; /* the frame itself was too big: caller splits */
    rcs[idx[stored]] = rc;
    return (long)stored + 1;
}

/* Store n items through the daemon in batches (see shmcache.h). */
SHMC_EXPORT int
shmc_mset(shmc_t *h, size_t n, const void *const keys[], const size_t klens[],
          const void *const vals[], const size_t vlens[], uint32_t ttl_s,
          int rcs[])
{
    size_t *idx = NULL, pending = 0, i, take, bytes, frame_max = MSET_FRAME;
    unsigned char *items = NULL;
    const struct mapping *m;
    long done;
    int rc = 0;

    if (h == NULL || (n > 0 && (keys == NULL || klens == NULL || vals == NULL ||
                                vlens == NULL || rcs == NULL)))
        return -EINVAL;
    if (h->socket_path == NULL)
        return SHMC_EREADONLY;
    /* ORDERING: acquire; pairs with the release in handle_reopen(). */
    m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
    idx = malloc(sizeof(*idx) * (n ? n : 1));
    items = malloc(MSET_FRAME);
    if (idx == NULL || items == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* What the daemon would refuse is refused here, as shmc_set() does. */
    for (i = 0; i < n; i++) {
        if (keys[i] == NULL || klens[i] == 0 ||
            (vals[i] == NULL && vlens[i] > 0))
            rcs[i] = -EINVAL;
        else if (klens[i] > m->t.max_key || vlens[i] > m->t.max_value)
            rcs[i] = SHMC_ETOOBIG;
        else
            idx[pending++] = i;
    }
    pthread_mutex_lock(&h->lock);
    for (i = 0; i < pending;) {
        /* As many items as fit a frame (one at least). */
        for (take = 0, bytes = 64; i + take < pending && take < MSET_ITEMS;
             take++) {
            size_t one = 10 + klens[idx[i + take]] + vlens[idx[i + take]];
            if (take > 0 && bytes + one > frame_max)
                break;
            bytes += one;
        }
        if (bytes > MSET_FRAME) {
            /* One item larger than a batch buffer: on its own. */
            rcs[idx[i]] = conn_call_locked(
                h, PROTO_OP_SET, keys[idx[i]], klens[idx[i]], vals[idx[i]],
                vlens[idx[i]], ttl_s, 0, NULL, NULL, NULL);
            i++;
            continue;
        }
        done = mset_frame(h, idx + i, take, keys, klens, vals, vlens, ttl_s,
                          rcs, items, MSET_FRAME);
        if (done < 0) {
            rc = (int)done;
            break;
        }
        if (done == 0) {
            /* The daemon's frame limit is lower than ours. */
            frame_max /= 2;
            if (frame_max < 4096) {
                rc = SHMC_ETOOBIG;
                break;
            }
            continue;
        }
        i += (size_t)done;
    }
    pthread_mutex_unlock(&h->lock);
out:
    free(idx);
    free(items);
    return rc;
}
