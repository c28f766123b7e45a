/* SPDX-License-Identifier: MIT */
/*
 * control.c -- the control socket: listener and connections (libevent).
 *
 * Each connection is a non-blocking socket with an input and an output
 * evbuffer.  Frames are handled in arrival order and each reply appended
 * to the output in that order, so pipelined requests get their answers in
 * order.  What one client can cost is bounded:
 *  - input: a frame header announcing more than max_request_bytes is
 *    answered with SHMC_ETOOBIG and the connection closed; so at most one
 *    frame of that size is ever buffered per connection;
 *  - output: when more than max_output_bytes of replies wait for a client
 *    that does not read, we stop reading its requests until it drains;
 *  - time: a connection silent for idle_timeout_s, or whose replies make
 *    no progress for that long, is closed;
 *  - count: connections beyond max_connections are closed on accept;
 *  - together: when every connection's buffers add up to more than
 *    max_buffered_bytes, the connections holding the most are closed
 *    until the total is back under it (as Redis's maxmemory-clients),
 *    and the memory is given back to the system on the next sweep.
 * Nothing here blocks: a slow client only ever waits for itself.
 *
 * The first frame must be HELLO with a protocol version we speak.  A
 * malformed frame gets an SHMC_EPROTO reply, then the connection closes
 * once that reply is out.  OPEN replies carry a descriptor (SCM_RIGHTS);
 * it is sent with the first byte of its own reply frame, so a pipelining
 * client can tell which reply it belongs to.
 */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "error.h"
#include "fdpass.h"
#include "loader.h"
#include "redis.h"
#include "log.h"
#include "proto.h"

#define FDQ_MAX 8
#define READ_CHUNK 65536
#define TRIM_AFTER (8u << 20) /* freed buffer bytes worth a malloc_trim */

struct conn {
    struct conn *prev, *next;
    struct daemon *d;
    int fd;
    struct peer peer;
    struct event *rev, *wev;
    struct evbuffer *in, *out;
    uint64_t sent;           /* bytes written to the socket, ever */
    int hello;               /* HELLO accepted */
    int closing;             /* close once the output is flushed */
    int eof;                 /* the client will send nothing more */
    int reading;             /* rev is armed */
    uint64_t frame_since_ms; /* an unfinished frame waits since (0: none) */
    int lingering;           /* closed but for descriptors in flight */
    struct {
        uint64_t at; /* stream offset of the reply that carries it */
        int fd;
    } fdq[FDQ_MAX];
    int nfdq;
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);

/* The idle timeout as a timeval, or NULL for none. */
static const struct timeval *
idle_tv(const struct daemon *d, struct timeval *tv)
{
    if (d->conf->idle_timeout_s == 0)
        return NULL;
    tv->tv_sec = d->conf->idle_timeout_s;
    tv->tv_usec = 0;
    return tv;
}

/* How long reading may wait: the idle timeout, or less while a frame is
 * unfinished (a deadline that bytes trickling in do not push back). */
static const struct timeval *
read_tv(const struct conn *c, struct timeval *tv)
{
    uint64_t limit = (uint64_t)c->d->conf->frame_timeout_s * 1000u, now, left;
    const struct timeval *idle = idle_tv(c->d, tv);

    if (c->frame_since_ms == 0)
        return idle;
    now = mono_ms();
    left = now - c->frame_since_ms >= limit ? 1
                                            : limit - (now - c->frame_since_ms);
    if (idle == NULL || (uint64_t)idle->tv_sec * 1000u > left) {
        tv->tv_sec = (time_t)(left / 1000u);
        tv->tv_usec = (suseconds_t)(left % 1000u * 1000u);
    }
    return tv;
}

/*
 * Note when the input holds an unfinished frame that is the client's to
 * finish (not one waiting for us to drain our output).  Returns 1 if it
 * has been unfinished for longer than frame_timeout_s: slowloris.
 */
static int
frame_overdue(struct conn *c)
{
    int waiting = !c->closing && !c->peer.waiting && c->nfdq < FDQ_MAX &&
                  evbuffer_get_length(c->out) <= c->d->conf->max_output_bytes &&
                  evbuffer_get_length(c->in) > 0;

    if (!waiting) {
        c->frame_since_ms = 0;
        return 0;
    }
    if (c->frame_since_ms == 0)
        c->frame_since_ms = mono_ms();
    return mono_ms() - c->frame_since_ms >=
           (uint64_t)c->d->conf->frame_timeout_s * 1000u;
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Every connection buffer's growth and shrinkage, into d->buffered. */
static void
account_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct daemon *d = arg;

    (void)b;
    d->buffered += info->n_added;
    d->buffered -= min_size(d->buffered, info->n_deleted);
    if (d->buffered > d->buffered_peak)
        d->buffered_peak = d->buffered;
}

static size_t
conn_bytes(const struct conn *c)
{
    return evbuffer_get_length(c->in) + evbuffer_get_length(c->out);
}

/* Free a connection and everything it holds. */
static void
conn_free(struct conn *c)
{
    struct daemon *d = c->d;
    int i;

    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->nconns--;
    if (c->peer.waiting) {
        loader_forget(d, &c->peer);
        redis_forget(d, &c->peer);
    }
    for (i = 0; i < c->nfdq; i++)
        close(c->fdq[i].fd);
    if (c->peer.rx_fd >= 0)
        close(c->peer.rx_fd);
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->wev != NULL)
        event_free(c->wev);
    /* evbuffer_free() runs no callbacks: take the bytes off by hand. */
    if (c->in != NULL) {
        evbuffer_remove_cb(c->in, account_cb, d);
        d->buffered -= min_size(d->buffered, evbuffer_get_length(c->in));
        evbuffer_free(c->in);
    }
    if (c->out != NULL) {
        evbuffer_remove_cb(c->out, account_cb, d);
        d->buffered -= min_size(d->buffered, evbuffer_get_length(c->out));
        evbuffer_free(c->out);
    }
    close(c->fd);
    free(c);
}

/* Whether descriptors handed to c (OPEN) may still be in flight: the
 * kernel holds bytes we sent that the client has not read. */
static int
conn_unreceived(const struct conn *c)
{
    int n = 0;

    return c->peer.opens > 0 && ioctl(c->fd, SIOCOUTQ, &n) == 0 && n > 0;
}

/*
 * Close a connection, unless descriptors we handed it may still be in
 * flight.  Those a client never receives stay queued on its socket,
 * counted against our user's limit, for as long as it keeps its end
 * open: shutting its write side, or being closed by us, changes nothing
 * (it once let one user hold 64 more per half-closed connection, past
 * the per-uid cap).  Such a connection lingers: its buffers and queued
 * descriptors are freed and nothing more is read or written, but it
 * stays on the list, counted against its uid's connection and OPEN caps,
 * until the kernel holds no byte of ours for it (the client read them,
 * or closed its end, which drops them); control_tidy() checks.
 */
static void
conn_close(struct conn *c)
{
    int i;

    if (!conn_unreceived(c)) {
        conn_free(c);
        return;
    }
    if (c->lingering)
        return;
    c->lingering = c->closing = 1;
    c->reading = 0;
    event_del(c->rev);
    event_del(c->wev);
    if (c->peer.waiting)
        loader_forget(c->d, &c->peer);
    c->peer.waiting = 0;
    for (i = 0; i < c->nfdq; i++)
        close(c->fdq[i].fd);
    c->nfdq = 0;
    if (c->peer.rx_fd >= 0)
        close(c->peer.rx_fd);
    c->peer.rx_fd = -1;
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    evbuffer_drain(c->out, evbuffer_get_length(c->out));
    log_debug("control: connection lingers for descriptors in flight "
              "pid=%d uid=%u",
              (int)c->peer.pid, (unsigned)c->peer.uid);
}

/*
 * Over max_buffered_bytes: close the connections holding the most until
 * the total is under it again.  A connection on its own never holds that
 * much (conf.c sees to it), so whoever is closed shares the blame with
 * others, and the biggest is the one that reads least.
 */
static void
shed(struct daemon *d)
{
    static time_t last_warn;
    struct conn *c, *big;

    while (d->buffered > d->conf->max_buffered_bytes) {
        big = NULL;
        for (c = d->conns; c != NULL; c = c->next)
            if (big == NULL || conn_bytes(c) > conn_bytes(big))
                big = c;
        if (big == NULL || conn_bytes(big) == 0)
            break;
        d->stats.shed++;
        /* At most a line a second: a client that reconnects at once
         * must not be able to fill the log. */
        if (time(NULL) != last_warn) {
            last_warn = time(NULL);
            log_warn("control: closing connection holding %zu bytes: "
                     "buffers total %zu over max_buffered_bytes %u pid=%d "
                     "uid=%u (closed so far: %llu)",
                     conn_bytes(big), d->buffered, d->conf->max_buffered_bytes,
                     (int)big->peer.pid, (unsigned)big->peer.uid,
                     (unsigned long long)d->stats.shed);
        }
        conn_close(big);
    }
}

/* From the sweep timer: free lingering connections that may go (see
 * conn_close()), and give freed buffer memory back to the system (glibc
 * keeps it otherwise, and a burst would pin the peak forever). */
void
control_tidy(struct daemon *d)
{
    struct conn *c, *next;

    /* Lingering connections whose descriptors were taken or dropped. */
    for (c = d->conns; c != NULL; c = next) {
        next = c->next;
        if (c->lingering && !conn_unreceived(c))
            conn_free(c);
    }
    if (d->buffered_peak - d->buffered >= TRIM_AFTER) {
        malloc_trim(0);
        d->buffered_peak = d->buffered;
    }
}

/* Arm or disarm reading, and arm writing if output waits. */
static void
conn_update(struct conn *c)
{
    struct timeval tv;
    size_t pending = evbuffer_get_length(c->out);
    int want_read = !c->closing && !c->eof && !c->peer.waiting &&
                    pending <= c->d->conf->max_output_bytes &&
                    c->nfdq < FDQ_MAX;

    if (want_read)
        event_add(c->rev, read_tv(c, &tv)); /* (re)arms the deadline too */
    else if (!want_read && c->reading)
        event_del(c->rev);
    c->reading = want_read;
    if (pending > 0)
        event_add(c->wev, idle_tv(c->d, &tv));
    else
        event_del(c->wev);
}

/* Handle every complete frame in the input buffer. */
static void
conn_process(struct conn *c)
{
    struct daemon *d = c->d;
    unsigned char hdr[PROTO_HDR], *frame;
    uint64_t start;
    uint32_t len, id;
    int fd, rc;

    while (!c->closing && !c->peer.waiting && c->nfdq < FDQ_MAX &&
           evbuffer_get_length(c->out) <= d->conf->max_output_bytes &&
           evbuffer_copyout(c->in, hdr, PROTO_HDR) == PROTO_HDR) {
        len = proto_get32(hdr);
        id = proto_get32(hdr + 8);
        if (len < PROTO_HDR || len > d->conf->max_request_bytes) {
            d->stats.proto_errors++;
            log_info("control: refused frame pid=%d uid=%u length=%u",
                     (int)c->peer.pid, (unsigned)c->peer.uid, len);
            command_reply(c->out, (uint8_t)(hdr[4] | PROTO_REPLY), id,
                          len < PROTO_HDR ? SHMC_EPROTO : SHMC_ETOOBIG, NULL, 0,
                          NULL, 0);
            c->closing = 1;
            break;
        }
        if (!c->hello && len > PROTO_HDR + 4) {
            /* Nothing bigger than a HELLO before HELLO: a client that has
             * not said who it is cannot make us buffer a large frame. */
            d->stats.proto_errors++;
            command_reply(c->out, (uint8_t)(hdr[4] | PROTO_REPLY), id,
                          SHMC_EPROTO, NULL, 0, NULL, 0);
            c->closing = 1;
            break;
        }
        if (evbuffer_get_length(c->in) < len)
            break;
        frame = evbuffer_pullup(c->in, len);
        if (frame == NULL) { /* out of memory */
            c->closing = 1;
            break;
        }
        if (!c->hello && hdr[4] != PROTO_OP_HELLO) {
            d->stats.proto_errors++;
            command_reply(c->out, (uint8_t)(hdr[4] | PROTO_REPLY), id,
                          SHMC_EPROTO, NULL, 0, NULL, 0);
            c->closing = 1;
            break;
        }
        fd = -1;
        start = c->sent + evbuffer_get_length(c->out);
        rc = command_dispatch(d, &c->peer, frame, len, c->out, &fd);
        evbuffer_drain(c->in, len);
        d->stats.requests++;
        if (fd >= 0) {
            /* The descriptor goes out with its reply's first byte. */
            c->fdq[c->nfdq].at = start;
            c->fdq[c->nfdq++].fd = fd;
        }
        if (rc < 0) { /* protocol error: reply queued, then close */
            d->stats.proto_errors++;
            c->closing = 1;
        } else if (hdr[4] == PROTO_OP_HELLO) {
            c->hello = 1;
        }
    }
}

/*
 * Whether the connection has nothing left to do: every reply is out, and
 * either it is closing or the client hung up.  conn_process() has just
 * run, and it stops short of a complete frame only while output is
 * pending; so with the output empty, whatever is left of the input after
 * EOF is a fragment that can never complete, and nothing would ever wake
 * this connection again (no read is armed after EOF, no write without
 * output).  Deciding "complete frame" here a second time, differently
 * from conn_process(), is what once kept fragments open forever.
 */
static int
conn_finished(const struct conn *c)
{
    return !c->peer.waiting && evbuffer_get_length(c->out) == 0 &&
           (c->closing || c->eof);
}

/*
 * Read what the client sent, keeping at most one descriptor that came with
 * it (a HINTS request's memfd) and closing any other at once, so that a
 * client cannot park descriptors in the daemon.  Returns as read(2).
 */
static ssize_t
conn_recv(struct conn *c)
{
    static char buf[READ_CHUNK]; /* one event-loop thread */
    char cbuf[CMSG_SPACE(4 * sizeof(int))];
    struct msghdr mh;
    struct iovec iov = {buf, sizeof(buf)};
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n >= 0)
        fdpass_take(&mh, &c->peer.rx_fd);
    if (n > 0 && evbuffer_add(c->in, buf, (size_t)n) != 0) {
        errno = ENOMEM;
        return -1;
    }
    return n;
}

/* Readable, or the idle timeout expired. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    int n;

    (void)fd;
    if (what & EV_TIMEOUT) {
        if (frame_overdue(c)) {
            c->d->stats.closed_frame++;
            log_info("control: closing connection whose frame was not "
                     "completed in %us pid=%d uid=%u",
                     c->d->conf->frame_timeout_s, (int)c->peer.pid,
                     (unsigned)c->peer.uid);
        } else {
            c->d->stats.closed_idle++;
            log_info("control: closing idle connection pid=%d",
                     (int)c->peer.pid);
        }
        conn_close(c);
        return;
    }
    n = (int)conn_recv(c);
    if (n == 0) {
        /* Half-closed: answer what was sent, then close. */
        c->eof = 1;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return;
    }
    conn_process(c);
    if (conn_finished(c)) {
        conn_close(c);
        return;
    }
    if (frame_overdue(c)) {
        c->d->stats.closed_frame++;
        log_info("control: closing connection whose frame was not completed "
                 "in %us pid=%d uid=%u",
                 c->d->conf->frame_timeout_s, (int)c->peer.pid,
                 (unsigned)c->peer.uid);
        conn_close(c);
        return;
    }
    conn_update(c);
    shed(c->d);
}

/* Send bytes up to the next descriptor boundary, or a descriptor. */
static ssize_t
conn_send(struct conn *c)
{
    size_t avail = evbuffer_get_length(c->out), n = avail;
    unsigned char *p;
    ssize_t w;

    if (c->nfdq == 0)
        return evbuffer_write(c->out, c->fd);
    if (c->fdq[0].at > c->sent)
        return evbuffer_write_atmost(c->out, c->fd,
                                     (ev_ssize_t)(c->fdq[0].at - c->sent));
    /* The descriptor rides on the first bytes of its reply. */
    if (c->nfdq > 1 && c->fdq[1].at - c->sent < n)
        n = (size_t)(c->fdq[1].at - c->sent);
    if (n > READ_CHUNK)
        n = READ_CHUNK;
    p = evbuffer_pullup(c->out, (ev_ssize_t)n);
    if (p == NULL)
        return -1;
    w = fdpass_send(c->fd, p, n, c->fdq[0].fd);
    if (w < 0 && errno == ETOOMANYREFS) {
        /* Our user has too many descriptors in flight (clients holding
         * them unread): this reply goes without one and says so. */
        proto_put32(p + PROTO_HDR, (uint32_t)-ETOOMANYREFS);
        w = 0;
    }
    if (w >= 0) {
        evbuffer_drain(c->out, (size_t)w);
        close(c->fdq[0].fd);
        memmove(&c->fdq[0], &c->fdq[1], sizeof(c->fdq[0]) * (size_t)--c->nfdq);
    }
    return w;
}

/* Writable, or no progress for the idle timeout. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    ssize_t n;

    (void)fd;
    if (what & EV_TIMEOUT) {
        c->d->stats.closed_not_reading++;
        log_info("control: closing connection that stopped reading pid=%d "
                 "pending=%zu",
                 (int)c->peer.pid, evbuffer_get_length(c->out));
        conn_close(c);
        return;
    }
    n = conn_send(c);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return;
    }
    if (n > 0)
        c->sent += (uint64_t)n;
    /* Room again: requests that waited behind the output can run. */
    conn_process(c);
    if (conn_finished(c)) {
        conn_close(c);
        return;
    }
    conn_update(c);
    shed(c->d);
}

/*
 * The result of a request answered later -- a LOAD (loader.c), a write
 * through to Redis (redis.c): queue the reply the connection waits for
 * and carry on with the requests that came after it.
 */
void
control_resume(struct daemon *d, struct peer *p, uint8_t op, uint32_t id,
               int status, const void *a, size_t alen, const void *b,
               size_t blen)
{
    struct conn *c =
        (struct conn *)(void *)((char *)p - offsetof(struct conn, peer));

    command_reply(c->out, op | PROTO_REPLY, id, status, a, alen, b, blen);
    p->waiting = 0;
    conn_process(c);
    if (conn_finished(c)) {
        conn_close(c);
        return;
    }
    conn_update(c);
    shed(d);
}

/* Accepting again after a pause for lack of descriptors. */
static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;

    (void)fd;
    (void)what;
    event_add(d->listen_ev, NULL);
}

/* A new connection. */
static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    static time_t last_warn;
    struct timeval pause = {0, 100000};
    struct daemon *d = arg;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct conn *c;
    int fd;

    (void)what;
    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
            errno == ENOBUFS) {
            /* The pending connection stays readable: without a pause the
             * loop would spin on it.  Try again in 100 ms (and say so at
             * most once a second). */
            if (time(NULL) != last_warn) {
                last_warn = time(NULL);
                log_warn("control: cannot accept: %s; pausing 100 ms",
                         strerror(errno));
            }
            event_del(d->listen_ev);
            event_add(d->resume_ev, &pause);
        }
        return;
    }
    if (d->nconns >= d->conf->max_connections) {
        d->stats.refused++;
        if (time(NULL) != last_warn) { /* at most one line a second */
            last_warn = time(NULL);
            log_warn("control: refusing connections: max_connections=%u "
                     "reached (refused so far: %llu)",
                     d->conf->max_connections,
                     (unsigned long long)d->stats.refused);
        }
        close(fd);
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        close(fd);
        return;
    }
    if (cred.uid != 0) {
        /* One user may not hold every connection (root is exempt). */
        uint32_t mine = 0;
        for (c = d->conns; c != NULL; c = c->next)
            mine += c->peer.uid == cred.uid;
        if (mine >= d->conf->max_connections_per_uid) {
            d->stats.refused++;
            if (time(NULL) != last_warn) {
                last_warn = time(NULL);
                log_warn("control: refusing connection uid=%u: "
                         "max_connections_per_uid=%u reached",
                         (unsigned)cred.uid, d->conf->max_connections_per_uid);
            }
            close(fd);
            return;
        }
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->d = d;
    c->fd = fd;
    c->peer.pid = cred.pid;
    c->peer.uid = cred.uid;
    c->peer.gid = cred.gid;
    c->peer.rx_fd = -1;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rev = event_new(d->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->wev = event_new(d->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    c->next = d->conns;
    if (d->conns)
        d->conns->prev = c;
    d->conns = c;
    d->nconns++;
    d->stats.connections++;
    if (c->in == NULL || c->out == NULL || c->rev == NULL || c->wev == NULL ||
        evbuffer_add_cb(c->in, account_cb, d) == NULL ||
        evbuffer_add_cb(c->out, account_cb, d) == NULL) {
        conn_free(c);
        return;
    }
    log_debug("control: connection pid=%d uid=%u gid=%u", (int)cred.pid,
              (unsigned)cred.uid, (unsigned)cred.gid);
    conn_update(c);
}

/* Bind our own socket at d->socket_path, replacing a stale one. */
static int
bind_socket(struct daemon *d, char *err, size_t errlen)
{
    struct sockaddr_un sa, tmp;
    struct stat st;
    int fd, probe;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(d->socket_path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", d->socket_path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, d->socket_path);
    if (lstat(d->socket_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket",
                     d->socket_path);
            return -EEXIST;
        }
        /* A socket someone still answers on belongs to a live daemon. */
        /* Only a refused connection proves the socket stale; an answer or
         * a full backlog (EAGAIN) means a live daemon.  Non-blocking, so
         * a busy daemon cannot hang us. */
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return -errno;
        if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
            errno != ECONNREFUSED) {
            close(probe);
            snprintf(err, errlen, "another daemon listens on %s",
                     d->socket_path);
            return -EADDRINUSE;
        }
        close(probe);
        unlink(d->socket_path);
    }
    /* Bound under a temporary name and renamed into place once it
     * listens: a client that sees the path can connect (between bind()
     * and listen() it would be refused, which looks like no daemon). */
    tmp = sa;
    if ((size_t)snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d",
                         d->socket_path, (int)getpid()) >= sizeof(tmp.sun_path))
        tmp = sa; /* no room for a suffix: bind the path itself */
    unlink(tmp.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) != 0 ||
        listen(fd, 128) != 0 ||
        /* Who may do what is decided per request from SO_PEERCRED. */
        chmod(tmp.sun_path, 0666) != 0 ||
        rename(tmp.sun_path, sa.sun_path) != 0) {
        int e = errno;
        snprintf(err, errlen, "listen on %s: %s", d->socket_path, strerror(e));
        if (fd >= 0) {
            close(fd);
            unlink(tmp.sun_path);
        }
        return -e;
    }
    return fd;
}

/* Start listening (inherited socket or our own). */
int
control_listen(struct daemon *d, char *err, size_t errlen)
{
    int fd = d->listen_fd; /* from systemd, taken by main, or -1 */

    d->listen_inherited = fd >= 0;
    if (fd < 0)
        fd = bind_socket(d, err, errlen);
    if (fd < 0)
        return fd;
    evutil_make_socket_nonblocking(fd);
    d->listen_fd = fd;
    d->listen_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, accept_cb, d);
    d->resume_ev = evtimer_new(d->base, resume_cb, d);
    if (d->listen_ev == NULL || d->resume_ev == NULL ||
        event_add(d->listen_ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch the listening socket");
        return -ENOMEM;
    }
    log_notice("control: listening socket=%s%s", d->socket_path,
               d->listen_inherited ? " (inherited from systemd)" : "");
    return 0;
}

/* Descriptors handed out (OPEN) on uid's connections that are still open:
 * until a connection closes, those it never received stay in flight and
 * count against the daemon user's limit. */
unsigned
control_opens_of(const struct daemon *d, uid_t uid)
{
    const struct conn *c;
    unsigned n = 0;

    for (c = d->conns; c != NULL; c = c->next)
        if (c->peer.uid == uid)
            n += c->peer.opens;
    return n;
}

/* Close every connection and the listener. */
void
control_shutdown(struct daemon *d)
{
    while (d->conns != NULL)
        conn_free(d->conns);
    if (d->listen_ev != NULL)
        event_free(d->listen_ev);
    if (d->resume_ev != NULL)
        event_free(d->resume_ev);
    d->listen_ev = d->resume_ev = NULL;
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        if (!d->listen_inherited)
            unlink(d->socket_path);
    }
    d->listen_fd = -1;
}
