/* SPDX-License-Identifier: MIT */
/*
 * load_fault.c -- the load test and the fault cases of issue 12, run by
 * tests/check-load.sh.  Each case starts its own shmcached ($SHMCACHED)
 * in a temp dir (client.c), talks to it over its Unix socket only, and
 * prints TAP lines ("ok - ..." / "not ok - ..."; the script numbers them)
 * and "# " lines with the figures measured.
 *
 *   load_fault [--long] load     good clients under hostile ones
 *   load_fault nofile            the daemon's descriptor limit reached
 *   load_fault deleted           table files deleted under the daemon
 *   load_fault clock             wall clock jumps (needs tests/clockshift)
 *   load_fault disk              disk full ($TMPDIR an 8 MiB tmpfs)
 *
 * "load": good clients (root) pipeline SETs and GETs of self-checking
 * values (testutil.h) on keys of their own, so every GET has one right
 * answer: the version of the last SET sent before it on that connection.
 * Beside them, as another user (nobody, when run as root): clients that
 * stall half way through a frame, clients that never read their replies,
 * clients that trickle a frame a byte at a time, connection churn at
 * max_connections, and a descriptor hoarder (OPENs never received).  A
 * mapped reader checks, during the load, that no lookup returns a torn
 * value or one older than what was acknowledged.  At the end every
 * acknowledged key is read back through the socket and through a mapping.
 * The short form (default: 100 good clients, 20 of each hostile kind, 8 s,
 * frame_timeout_s 2, a 16 MiB buffer budget) takes about 10 s; --long (or
 * SHMC_LOAD_LONG=1) is the full form: 500 good clients, 100 of
 * each hostile kind, 60 s and the shipped limits.
 *
 * Every case ends by checking that the daemon is alive and stops cleanly
 * (exit 0): a fault may cost a request an error, never the daemon.
 * Test-only code: aborts on setup failures it cannot report.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "error.h"
#include "proto.h"
#include "shmcache.h"
#include "testutil.h"

/* Whether RSS follows what the daemon allocates: not under ASan, whose
 * allocator keeps freed memory in quarantine and shadows all of it. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_TELLS 0
#else
#define RSS_TELLS 1
#endif

#define TABLE "t"
#define TABLE_BYTES (64u << 20)
#define BIG_VALUE 60000u /* what the clients that never read ask for */
#define MAX_VALUE 65536u
#define HIST_N 20801 /* latency buckets, see hist_bucket() */
#define MAX_WORKERS 8
#define OTHER_UID 65534 /* the hostile user, when we are root */
#define THIRD_UID 65533 /* a bystander reader, when we are root */

/* ---- sizes of one run ---- */

struct params {
    unsigned good, stalled, noread, trickle, churn, hoard;
    unsigned seconds, keys, depth, workers;
    unsigned frame_timeout_s, max_buffered_mib;
};

static const struct params short_form = {100, 20, 20, 20, 16, 6,
                                         8,   64, 16, 2,  2,  16};
static const struct params long_form = {500, 100, 100, 100, 40, 20,
                                        60,  64,  16,  4,   10, 256};

/* ---- results, written by the process that measured them ---- */

struct gres {
    uint64_t requests, sets, errors;     /* good clients, reader */
    uint64_t closed, refused, completed; /* hostile: outcomes */
    uint64_t ok;                         /* churn: full sessions */
    uint64_t granted_open, granted_shut; /* hoarder: descriptors */
    uint64_t capped, toomany, max_per_conn;
    double dmin, dmax; /* delay from a frame's first byte to the close */
    char first_error[200];
};

enum {
    G_READER = MAX_WORKERS,
    G_STALL,
    G_TRICKLE,
    G_NOREAD,
    G_CHURN,
    G_HOARD,
    G_PROBE,
    G_N
};

struct shared {
    int ready, go, stop;
    struct gres g[G_N];
    uint64_t hist[MAX_WORKERS][HIST_N];
};

static struct shared *S;
static uint64_t *acked; /* per key: last acknowledged version, 0: none */
static uint64_t *sent;  /* per key: last version sent */
static struct tdaemon d;
static int failures;

/* ---- output ---- */

/* One TAP line. */
static void
check(int ok, const char *fmt, ...)
{
    va_list ap;

    printf("%s - ", ok ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    failures += !ok;
}

/* A TAP line for a case that cannot run here. */
static void
skip(const char *what, const char *why)
{
    printf("ok - %s # SKIP %s\n", what, why);
    fflush(stdout);
}

/* One "# " line of figures. */
static void
note(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* Record a group's first error (the process's own slot). */
static void
gerr(struct gres *g, const char *fmt, ...)
{
    va_list ap;

    g->errors++;
    if (g->first_error[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(g->first_error, sizeof(g->first_error), fmt, ap);
    va_end(ap);
}

/* The daemon's log, as "# " lines (the last ones), after a failure. */
static void
show_log(void)
{
    char *log = td_log(&d), *p = log, *nl;
    size_t len = strlen(log);

    if (len > 4000)
        p = strchr(log + len - 4000, '\n');
    for (; p != NULL && *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        printf("# log: %.*s\n", (int)(nl - p), p);
    }
    free(log);
}

/* How many lines of the daemon's log contain what. */
static unsigned
log_count(const char *what)
{
    char *log = td_log(&d), *p = log;
    unsigned n = 0;

    while ((p = strstr(p, what)) != NULL) {
        n++;
        p += strlen(what);
    }
    free(log);
    return n;
}

/* ---- small helpers ---- */

/* Latency bucket: 1 us up to 1 ms, 10 us up to 100 ms, 1 ms up to 10 s. */
static unsigned
hist_bucket(double seconds)
{
    uint64_t us = (uint64_t)(seconds * 1e6);

    if (us < 1000)
        return (unsigned)us;
    if (us < 100000)
        return 1000 + (unsigned)((us - 1000) / 10);
    if (us < 10000000)
        return 10900 + (unsigned)((us - 100000) / 1000);
    return HIST_N - 1;
}

/* The upper edge of a bucket, in ms. */
static double
hist_ms(unsigned b)
{
    if (b < 1000)
        return (b + 1) / 1000.0;
    if (b < 10900)
        return (1000 + (b - 1000 + 1) * 10.0) / 1000.0;
    return (100000 + (b - 10900 + 1) * 1000.0) / 1000.0;
}

/* Peak resident memory of a process (VmHWM), in KiB; -1 if unknown. */
static long
vmhwm_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Become the hostile user, when we are root (else stay who we are). */
static void
become(uid_t uid)
{
    gid_t gid = (gid_t)uid;

    if (geteuid() != 0)
        return;
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(90);
}

/* A non-blocking connection to the daemon; -1 if none now. */
static int
nb_connect(void)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d.sock);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Encode one request into buf (which must have room); its length. */
static size_t
req(unsigned char *buf, uint8_t op, uint32_t id, const void *key, size_t klen,
    const void *val, size_t vlen)
{
    size_t n = proto_request(
        NULL, 0, op, id,
        op == PROTO_OP_HELLO || op == PROTO_OP_PING ? NULL : TABLE, key, klen,
        val, vlen, PROTO_TTL_NEVER, 0);

    proto_request(buf, n, op, id,
                  op == PROTO_OP_HELLO || op == PROTO_OP_PING ? NULL : TABLE,
                  key, klen, val, vlen, PROTO_TTL_NEVER, 0);
    return n;
}

static int
stopping(void)
{
    return __atomic_load_n(&S->stop, __ATOMIC_ACQUIRE);
}

/* A daemon STATS figure, retried while connections are refused. */
static long long
stat_of(const char *name)
{
    double end = tu_deadline(10);
    long long v;

    while ((v = tc_stat(d.sock, name)) < 0 && tu_poll(end))
        ;
    return v;
}

/* Whether the daemon process is still there (not exited, not killed). */
static int
daemon_alive(void)
{
    int status;

    return d.pid > 0 && waitpid(d.pid, &status, WNOHANG) == 0;
}

/* The end of every case: alive, then a clean stop. */
static void
finish(const char *what)
{
    int alive = daemon_alive(), st = alive ? td_stop(&d) : -1;

    check(alive && st == 0,
          "%s: the daemon is alive at the end and stops cleanly "
          "(exit %d)",
          what, st);
    if (failures > 0 || getenv("SHMC_LOAD_SHOW_LOG") != NULL)
        show_log();
}

/* ---- good clients ---- */

struct pend {
    uint8_t op;
    uint32_t key;
    uint64_t ver; /* SET: the version; GET: the one expected (0: none) */
};

struct good {
    int fd, busy;
    uint32_t base;
    unsigned np, nr; /* requests of the batch in flight; replies had */
    double t0;
    struct pend *p;
    unsigned char *in;
    size_t inlen, incap;
};

/* Check one reply of client c against what it asked. */
static void
good_reply(struct good *c, struct gres *g, uint64_t *hist,
           const unsigned char *f, size_t len, double now)
{
    struct pend *p = &c->p[c->nr];
    char key[32];
    size_t klen = tu_key(key, sizeof(key), p->key);
    int status = (int)proto_get32(f + PROTO_HDR);
    uint64_t v;
    uint32_t vlen;

    g->requests++;
    if (proto_get32(f + 8) != c->nr) {
        gerr(g, "reply id %u, expected %u", proto_get32(f + 8), c->nr);
        return;
    }
    if (p->op == PROTO_OP_SET) {
        g->sets++;
        hist[hist_bucket(now - c->t0)]++;
        if (status != 0) {
            gerr(g, "SET %s: status %d", key, status);
            return;
        }
        __atomic_store_n(&acked[p->key], p->ver, __ATOMIC_RELEASE);
        return;
    }
    if (p->ver == 0) {
        if (status != SHMC_ENOTFOUND)
            gerr(g, "GET %s never set: status %d", key, status);
        return;
    }
    vlen = len >= PROTO_HDR + 20 ? proto_get32(f + PROTO_HDR + 16) : 0;
    if (status != 0 || len != PROTO_HDR + 20 + vlen ||
        !tu_value_ok(f + PROTO_HDR + 20, vlen, key, klen, &v) || v != p->ver)
        gerr(g, "GET %s: status %d, not version %llu", key, status,
             (unsigned long long)p->ver);
}

/* Send client c a new batch of pipelined SETs and GETs. */
static int
good_send(struct good *c, const struct params *P, uint64_t *rng,
          unsigned char *buf)
{
    unsigned char val[512];
    char key[32];
    size_t n = 0, klen, vlen;
    unsigned i;

    for (i = 0; i < P->depth; i++) {
        struct pend *p = &c->p[i];
        p->key = c->base + (uint32_t)(tu_rand(rng) % P->keys);
        klen = tu_key(key, sizeof(key), p->key);
        if (tu_rand(rng) % 2) {
            p->op = PROTO_OP_SET;
            p->ver = sent[p->key] + 1;
            __atomic_store_n(&sent[p->key], p->ver, __ATOMIC_RELEASE);
            vlen = klen + TU_VALUE_OVERHEAD + tu_rand(rng) % 240;
            tu_value(val, vlen, key, klen, p->ver);
            n += req(buf + n, PROTO_OP_SET, i, key, klen, val, vlen);
        } else {
            p->op = PROTO_OP_GET;
            p->ver = sent[p->key];
            n += req(buf + n, PROTO_OP_GET, i, key, klen, NULL, 0);
        }
    }
    c->np = P->depth;
    c->nr = 0;
    c->busy = 1;
    c->t0 = tu_now();
    return tc_send(c->fd, buf, n);
}

/* Take what c's socket has; 0, or -1 if it closed. */
static int
good_recv(struct good *c, struct gres *g, uint64_t *hist)
{
    double now;
    ssize_t n;
    uint32_t len;

    if (c->incap - c->inlen < 65536) {
        c->incap = c->incap * 2 + 65536;
        c->in = realloc(c->in, c->incap);
        if (c->in == NULL)
            abort();
    }
    n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    c->inlen += (size_t)n;
    now = tu_now();
    while (c->inlen >= PROTO_HDR + 4 &&
           (len = proto_get32(c->in)) <= c->inlen) {
        if (len < PROTO_HDR + 4 || c->nr >= c->np) {
            gerr(g, "bad reply frame");
            return -1;
        }
        good_reply(c, g, hist, c->in, len, now);
        c->nr++;
        memmove(c->in, c->in + len, c->inlen - len);
        c->inlen -= len;
    }
    if (c->nr == c->np)
        c->busy = 0;
    return 0;
}

/* One worker process: its share of the good clients, one poll loop. */
static void
good_worker(const struct params *P, unsigned w)
{
    struct gres *g = &S->g[w];
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (w + 1);
    unsigned n = 0, i, j, live;
    struct good *c = calloc(P->good, sizeof(*c));
    struct pollfd *pf = calloc(P->good, sizeof(*pf));
    unsigned *who = calloc(P->good, sizeof(*who));
    unsigned char *buf = malloc(P->depth * 1024u);
    double hard;

    for (i = w; i < P->good; i += P->workers, n++) {
        c[n].base = i * P->keys;
        c[n].p = calloc(P->depth, sizeof(*c[n].p));
        c[n].fd = tc_connect(d.sock, 1);
        if (c[n].fd < 0) {
            gerr(g, "good client %u cannot connect", i);
            _exit(1);
        }
    }
    __atomic_add_fetch(&S->ready, 1, __ATOMIC_ACQ_REL);
    while (!__atomic_load_n(&S->go, __ATOMIC_ACQUIRE))
        usleep(1000);
    hard = tu_deadline(P->seconds + 60);
    for (;;) {
        live = 0;
        for (i = 0; i < n; i++) {
            if (c[i].fd < 0)
                continue;
            if (!c[i].busy && !stopping() &&
                good_send(&c[i], P, &rng, buf) != 0) {
                gerr(g, "send failed on a good connection");
                close(c[i].fd);
                c[i].fd = -1;
                continue;
            }
            if (c[i].busy) {
                pf[live].fd = c[i].fd;
                pf[live].events = POLLIN;
                who[live++] = i;
            }
        }
        if (live == 0)
            break;
        if (tu_now() > hard) {
            gerr(g, "%u good clients still waiting for replies", live);
            break;
        }
        if (poll(pf, live, 100) < 0 && errno != EINTR)
            abort();
        for (j = 0; j < live; j++) {
            struct good *k = &c[who[j]];
            if (pf[j].revents == 0)
                continue;
            if (good_recv(k, g, S->hist[w]) != 0) {
                gerr(g, "a good connection was closed by the daemon");
                close(k->fd);
                k->fd = -1;
            }
        }
    }
    for (i = 0; i < n; i++)
        if (c[i].fd >= 0)
            close(c[i].fd);
    _exit(0);
}

/* A mapped reader: every value it finds is intact and not older than
 * what was acknowledged before it looked. */
static void
mapped_reader(const struct params *P)
{
    struct gres *g = &S->g[G_READER];
    uint64_t rng = 42, nkeys = (uint64_t)P->good * P->keys, before, after, v;
    unsigned char buf[1024];
    char key[32];
    shmc_t *h;
    size_t klen, vlen;
    uint32_t k;
    int rc;

    rc = shmc_open(d.sock, TABLE, 0, &h);
    if (rc != 0) {
        gerr(g, "mapped reader: open: %s", shmc_strerror(rc));
        _exit(1);
    }
    __atomic_add_fetch(&S->ready, 1, __ATOMIC_ACQ_REL);
    while (!stopping()) {
        k = (uint32_t)(tu_rand(&rng) % nkeys);
        klen = tu_key(key, sizeof(key), k);
        before = __atomic_load_n(&acked[k], __ATOMIC_ACQUIRE);
        rc = shmc_get(h, key, klen, buf, sizeof(buf), &vlen);
        after = __atomic_load_n(&sent[k], __ATOMIC_ACQUIRE);
        g->requests++;
        if (rc == SHMC_ENOTFOUND && before == 0)
            continue;
        if (rc != 0)
            gerr(g, "mapped get %s: %s (acknowledged version %llu)", key,
                 shmc_strerror(rc), (unsigned long long)before);
        else if (!tu_value_ok(buf, vlen, key, klen, &v))
            gerr(g, "mapped get %s: a torn or foreign value", key);
        else if (v < before || v > after)
            gerr(g, "mapped get %s: version %llu, acknowledged %llu", key,
                 (unsigned long long)v, (unsigned long long)before);
    }
    shmc_close(h);
    _exit(0);
}

/* ---- hostile clients ---- */

struct slot {
    int fd, state;
    double t0, next;
    size_t got, pos;
};

/* Record the delay from t0 to a close the daemon made. */
static void
closed_after(struct gres *g, double t0)
{
    double dt = tu_now() - t0;

    g->closed++;
    if (g->dmin == 0 || dt < g->dmin)
        g->dmin = dt;
    if (dt > g->dmax)
        g->dmax = dt;
}

static void
slot_reset(struct slot *s, double retry_in)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->state = 0;
    s->got = s->pos = 0;
    s->next = tu_now() + retry_in;
}

/* Read and drop what is there; 1 if the peer closed. */
static int
drain(struct slot *s)
{
    unsigned char buf[4096];
    ssize_t n;

    for (;;) {
        n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            s->got += (size_t)n;
            continue;
        }
        return n == 0 || (errno != EAGAIN && errno != EINTR);
    }
}

/*
 * One hostile group, one process, one poll loop: `n` slots of kind
 * G_STALL (HELLO and half a frame, then nothing), G_TRICKLE (a frame a
 * byte at a time, slower than frame_timeout_s allows), G_NOREAD (GETs of
 * a 60 kB value as fast as the socket takes them, never a read) or
 * G_CHURN (connect, HELLO, PING, close, again, at max_connections).  A
 * slot closed by the daemon starts again, so the pressure lasts.
 */
static void
hostile(const struct params *P, int kind, unsigned n)
{
    struct gres *g = &S->g[kind];
    struct slot *s = calloc(n, sizeof(*s));
    struct pollfd *pf = calloc(n, sizeof(*pf));
    unsigned char hello[64], frame[256], gets[64 * 32];
    size_t hlen, flen, glen = 0, one;
    double interval = P->frame_timeout_s / 8.0, hard, now, wait;
    unsigned i, j;
    ssize_t w;

    become(OTHER_UID);
    hlen = req(hello, PROTO_OP_HELLO, 0, NULL, 0, NULL, 0);
    flen = req(frame, PROTO_OP_SET, 1, "trickled-key", 12,
               "0123456789012345678901234567890123456789", 40);
    if (kind == G_CHURN)
        flen = req(frame, PROTO_OP_PING, 1, NULL, 0, NULL, 0);
    for (j = 0; j < 32; j++) {
        one = req(gets + glen, PROTO_OP_GET, j, "big", 3, NULL, 0);
        glen += one;
    }
    for (i = 0; i < n; i++) {
        s[i].fd = -1;
        slot_reset(&s[i], 0);
    }
    __atomic_add_fetch(&S->ready, 1, __ATOMIC_ACQ_REL);
    hard = tu_deadline(P->seconds + 60);
    while (!stopping() && tu_now() < hard) {
        now = tu_now();
        wait = 0.05;
        for (i = 0; i < n; i++) {
            struct slot *x = &s[i];
            pf[i].fd = -1;
            pf[i].events = 0;
            if (x->state == 0) {
                if (now < x->next) {
                    wait = x->next - now < wait ? x->next - now : wait;
                    continue;
                }
                if ((x->fd = nb_connect()) < 0) {
                    x->next = now + 0.02;
                    continue;
                }
                x->state = 1;
                x->t0 = now;
                /* The opening: HELLO, and for some kinds more. */
                if (kind == G_STALL) {
                    unsigned char b[320];
                    memcpy(b, hello, hlen);
                    memcpy(b + hlen, frame, flen / 2);
                    w = send(x->fd, b, hlen + flen / 2, MSG_NOSIGNAL);
                } else if (kind == G_CHURN) {
                    unsigned char b[320];
                    memcpy(b, hello, hlen);
                    memcpy(b + hlen, frame, flen);
                    w = send(x->fd, b, hlen + flen, MSG_NOSIGNAL);
                } else {
                    w = send(x->fd, hello, hlen, MSG_NOSIGNAL);
                }
                if (w <= 0) {
                    g->refused++;
                    slot_reset(x, 0.02);
                    continue;
                }
            }
            if (x->state == 3) { /* a churner holding its connection */
                if (now >= x->next)
                    slot_reset(x, 0);
                else if (x->next - now < wait)
                    wait = x->next - now;
                continue;
            }
            pf[i].fd = x->fd;
            pf[i].events = kind == G_NOREAD ? POLLOUT : POLLIN;
            if (kind == G_TRICKLE && x->state == 2) {
                if (now >= x->next) {
                    w = send(x->fd, frame + x->pos, 1, MSG_NOSIGNAL);
                    if (w != 1) {
                        closed_after(g, x->t0);
                        slot_reset(x, 0);
                        pf[i].fd = -1;
                        continue;
                    }
                    if (x->pos++ == 0)
                        x->t0 = now; /* the frame's first byte */
                    x->next = now + interval;
                    if (x->pos == flen) { /* the deadline did not come */
                        g->completed++;
                        gerr(g, "a trickled frame was completed");
                        slot_reset(x, 0);
                        pf[i].fd = -1;
                        continue;
                    }
                }
                wait = x->next - now < wait ? x->next - now : wait;
            }
            if (kind == G_CHURN && now - x->t0 > 10) {
                gerr(g, "a churning client waited 10 s for its HELLO");
                slot_reset(x, 0);
                pf[i].fd = -1;
            }
        }
        if (poll(pf, n, (int)(wait * 1000) + 1) < 0 && errno != EINTR)
            abort();
        for (i = 0; i < n; i++) {
            struct slot *x = &s[i];
            if (pf[i].fd < 0 || pf[i].revents == 0)
                continue;
            if (kind == G_NOREAD) {
                if (pf[i].revents & (POLLHUP | POLLERR)) {
                    g->closed++;
                    slot_reset(x, 0); /* at once: keep the pressure */
                    continue;
                }
                w = send(x->fd, gets + x->pos, glen - x->pos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) {
                    x->pos = (x->pos + (size_t)w) % glen;
                    g->requests += (size_t)w / one;
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    g->closed++;
                    slot_reset(x, 0);
                }
                continue;
            }
            if (!drain(x)) {
                if (x->state == 1 && x->got >= PROTO_HDR + 8) {
                    if (kind == G_CHURN) {
                        if (x->got >= 2 * PROTO_HDR + 12) {
                            g->ok++; /* held 20 ms, then let go */
                            x->state = 3;
                            x->next = tu_now() + 0.02;
                        }
                        continue;
                    }
                    x->state = 2; /* accepted: timing starts */
                    if (kind == G_STALL)
                        x->t0 = tu_now();
                    x->next = tu_now();
                }
                continue;
            }
            /* The daemon closed it. */
            if (x->state == 2 && (kind == G_STALL || x->pos > 0))
                closed_after(g, x->t0);
            else if (x->state == 1)
                g->refused++;
            /* Refused: churners try again at once, the others a moment
             * later. */
            slot_reset(x, x->state == 1 && kind != G_CHURN ? 0.02 : 0);
        }
    }
    _exit(0);
}

/* The descriptor hoarder: connections that ask for 65 descriptors each
 * and never take them (every other one shuts its write side, "done"),
 * held until the end; then it counts what it was given. */
static void
hoarder(const struct params *P)
{
    struct gres *g = &S->g[G_HOARD];
    unsigned char buf[65 * 32];
    size_t n = 0;
    unsigned i, j, got, refused = 0;
    int *fd = calloc(P->hoard, sizeof(int));
    double end;

    become(OTHER_UID);
    for (j = 0; j < 65; j++)
        n += req(buf + n, PROTO_OP_OPEN, j, NULL, 0, NULL, 0);
    for (i = 0; i < P->hoard; i++) {
        end = tu_deadline(20);
        while ((fd[i] = tc_connect(d.sock, 1)) < 0 && tu_poll(end))
            refused++;
        if (fd[i] < 0 || tc_send(fd[i], buf, n) != 0) {
            gerr(g, "hoarder connection %u failed", i);
            _exit(1);
        }
        if (i % 2)
            shutdown(fd[i], SHUT_WR);
    }
    g->refused = refused;
    __atomic_add_fetch(&S->ready, 1, __ATOMIC_ACQ_REL);
    while (!stopping())
        usleep(10000);
    for (i = 0; i < P->hoard; i++) {
        struct treply r;
        for (got = 0, j = 0; j < 65 && tc_recv(fd[i], &r, 3000) == 0; j++) {
            if (r.status == 0 && r.fd >= 0)
                got++;
            else if (r.status == -EMFILE)
                g->capped++;
            else if (r.status == -ETOOMANYREFS)
                g->toomany++;
            else
                gerr(g, "OPEN: status %d", r.status);
            tc_reply_free(&r);
        }
        if (i % 2)
            g->granted_shut += got;
        else
            g->granted_open += got;
        if (got > g->max_per_conn)
            g->max_per_conn = got;
        close(fd[i]);
    }
    _exit(0);
}

/* A reader of another uid (or ours) opens and reads the table while the
 * hoarder holds its descriptors. */
static void
bystander(void)
{
    struct gres *g = &S->g[G_PROBE];
    unsigned char v[BIG_VALUE];
    double end = tu_deadline(20);
    shmc_t *h;
    size_t vlen;
    int rc;

    become(THIRD_UID);
    /* Connections are refused now and then (max_connections): retry. */
    while ((rc = shmc_open(d.sock, TABLE, 0, &h)) != 0 && tu_poll(end))
        ;
    if (rc != 0) {
        gerr(g, "bystander open: %s", shmc_strerror(rc));
        _exit(1);
    }
    rc = shmc_get(h, "big", 3, v, sizeof(v), &vlen);
    if (rc != 0)
        gerr(g, "bystander get: %s", shmc_strerror(rc));
    g->ok = rc == 0;
    shmc_close(h);
    _exit(0);
}

/* ---- the load case ---- */

static pid_t
spawn(void (*fn)(const struct params *, unsigned), const struct params *P,
      unsigned arg)
{
    pid_t pid = fork();

    if (pid < 0)
        abort();
    if (pid == 0) {
        fn(P, arg);
        _exit(0);
    }
    return pid;
}

static void
run_worker(const struct params *P, unsigned w)
{
    good_worker(P, w);
}

static void
run_reader(const struct params *P, unsigned a)
{
    (void)a;
    mapped_reader(P);
}

static void
run_hostile(const struct params *P, unsigned kind)
{
    unsigned n = kind == G_STALL     ? P->stalled
                 : kind == G_TRICKLE ? P->trickle
                 : kind == G_NOREAD  ? P->noread
                                     : P->churn;
    hostile(P, (int)kind, n);
}

static void
run_hoarder(const struct params *P, unsigned a)
{
    (void)a;
    hoarder(P);
}

static void
run_bystander(const struct params *P, unsigned a)
{
    (void)P;
    (void)a;
    bystander();
}

/* Wait until `ready` reaches n (bounded). */
static int
wait_ready(int n)
{
    double end = tu_deadline(60);

    while (__atomic_load_n(&S->ready, __ATOMIC_ACQUIRE) < n && tu_poll(end))
        ;
    return __atomic_load_n(&S->ready, __ATOMIC_ACQUIRE) >= n;
}

/* Reap a child; 1 if it exited 0. */
static int
reap(pid_t pid)
{
    int status;

    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

/* Read every acknowledged key back, through the socket and a mapping. */
static void
verify_all(const struct params *P)
{
    uint64_t nkeys = (uint64_t)P->good * P->keys, k, i, v, lost_sock = 0,
             lost_map = 0, acks = 0;
    unsigned char *buf = malloc(256 * 64), val[1024];
    char key[32];
    size_t klen, n, vlen;
    struct treply r;
    shmc_t *h = NULL;
    int fd = tc_connect(d.sock, 1), rc;

    rc = shmc_open(d.sock, TABLE, 0, &h);
    check(fd >= 0 && rc == 0, "load: a reader connects and maps the table "
                              "after the load");
    if (fd < 0 || rc != 0)
        return;
    for (k = 0; k < nkeys; k += 256) {
        for (n = 0, i = k; i < k + 256 && i < nkeys; i++) {
            klen = tu_key(key, sizeof(key), i);
            n += req(buf + n, PROTO_OP_GET, (uint32_t)i, key, klen, NULL, 0);
        }
        if (tc_send(fd, buf, n) != 0)
            break;
        for (i = k; i < k + 256 && i < nkeys; i++) {
            uint64_t a = acked[i], s = sent[i];
            klen = tu_key(key, sizeof(key), i);
            acks += a > 0;
            if (tc_recv(fd, &r, 10000) != 0) {
                lost_sock += a > 0;
                continue;
            }
            /* After the status: u32 flags, u64 expiry, u32 vlen, value. */
            vlen = r.blen >= 16 ? proto_get32(r.body + 12) : 0;
            if (a > 0 && (r.status != 0 || r.blen != 16 + vlen ||
                          !tu_value_ok(r.body + 16, vlen, key, klen, &v) ||
                          v < a || v > s))
                lost_sock++;
            tc_reply_free(&r);
            rc = shmc_get(h, key, klen, val, sizeof(val), &vlen);
            if (a > 0 && (rc != 0 || !tu_value_ok(val, vlen, key, klen, &v) ||
                          v < a || v > s))
                lost_map++;
        }
    }
    check(lost_sock == 0,
          "load: 0 of %llu acknowledged writes lost, read through the "
          "socket (%llu lost)",
          (unsigned long long)acks, (unsigned long long)lost_sock);
    check(lost_map == 0,
          "load: 0 of %llu acknowledged writes lost, read through a "
          "mapping (%llu lost)",
          (unsigned long long)acks, (unsigned long long)lost_map);
    shmc_close(h);
    close(fd);
    free(buf);
}

static void
case_load(const struct params *P)
{
    /* Room for the good clients and the mapped reader, and for three
     * quarters of what the hostile groups would hold: they and the
     * churners compete for it, so connections are refused all along. */
    unsigned max_conn =
        P->good + 1 +
        (P->stalled + P->noread + P->trickle + (P->hoard + 1) / 2) * 3 / 4;
    uint64_t nkeys = (uint64_t)P->good * P->keys, sets = 0, reqs = 0, errs = 0,
             total = 0, acc = 0;
    pid_t workers[MAX_WORKERS], reader, hs[4], hoard, probe;
    unsigned char *big = malloc(BIG_VALUE);
    long hwm, budget_kib;
    long long shed, refused, closed_frame;
    double t0, elapsed, p99 = 0, p50 = 0;
    unsigned i, b, kinds[4] = {G_STALL, G_TRICKLE, G_NOREAD, G_CHURN};
    char conf[1024], first[256] = "";
    struct treply r;
    int fd, ok;

    S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    acked = mmap(NULL, nkeys * 8, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sent = mmap(NULL, nkeys * 8, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED || acked == MAP_FAILED || sent == MAP_FAILED)
        abort();
    snprintf(conf, sizeof(conf),
             "{\"log_level\": \"notice\", \"max_connections\": %u, "
             "\"max_connections_per_uid\": %u, \"frame_timeout_s\": %u, "
             "\"max_buffered_bytes\": %u, \"expire_interval_ms\": 200, "
             "\"tables\": {\"" TABLE "\": {\"size_bytes\": %u, "
             "\"max_value_bytes\": %u}}}",
             max_conn, max_conn, P->frame_timeout_s, P->max_buffered_mib << 20,
             TABLE_BYTES, MAX_VALUE);
    if (td_start_logged(&d, conf) != 0) {
        check(0, "load: the daemon starts");
        show_log();
        free(big);
        return;
    }
    note("load: %u good clients (%u keys each, %u requests per batch), "
         "%u stalled, %u never reading, %u trickling, %u churning at "
         "max_connections=%u, %u hoarding; %u s; frame_timeout_s=%u, "
         "max_buffered_bytes=%u MiB",
         P->good, P->keys, P->depth, P->stalled, P->noread, P->trickle,
         P->churn, max_conn, P->hoard, P->seconds, P->frame_timeout_s,
         P->max_buffered_mib);
    /* The value the clients that never read keep asking for. */
    memset(big, 'b', BIG_VALUE);
    fd = tc_connect(d.sock, 1);
    ok = fd >= 0 &&
         tc_call(fd, PROTO_OP_SET, TABLE, "big", 3, big, BIG_VALUE,
                 PROTO_TTL_NEVER, 0, &r) == 0 &&
         r.status == 0;
    if (fd >= 0) {
        tc_reply_free(&r);
        close(fd);
    }
    free(big);
    check(ok, "load: the daemon starts and takes a 60 kB value");
    /* Good clients and the reader first, then the others. */
    for (i = 0; i < P->workers; i++)
        workers[i] = spawn(run_worker, P, i);
    reader = spawn(run_reader, P, 0);
    ok = wait_ready((int)P->workers + 1);
    hoard = spawn(run_hoarder, P, 0);
    ok = ok && wait_ready((int)P->workers + 2);
    for (i = 0; i < 4; i++)
        hs[i] = spawn(run_hostile, P, kinds[i]);
    ok = ok && wait_ready((int)P->workers + 2 + 4);
    check(ok, "load: every good client connected, then every hostile "
              "group");
    t0 = tu_now();
    __atomic_store_n(&S->go, 1, __ATOMIC_RELEASE);
    /* While the hoarder holds its descriptors, a third user opens. */
    probe = spawn(run_bystander, P, 0);
    ok = reap(probe) && S->g[G_PROBE].ok;
    check(ok,
          "load: another user's OPEN is served while the hoarder "
          "holds its descriptors%s%s",
          S->g[G_PROBE].first_error[0] ? ": " : "", S->g[G_PROBE].first_error);
    while (tu_now() < t0 + P->seconds)
        usleep(50000);
    __atomic_store_n(&S->stop, 1, __ATOMIC_RELEASE);
    for (i = 0, ok = 1; i < P->workers; i++)
        ok &= reap(workers[i]);
    elapsed = tu_now() - t0;
    ok &= reap(reader);
    /* The daemon's figures while the hostile clients are still there. */
    hwm = vmhwm_kib(d.pid);
    shed = stat_of("connections_shed");
    refused = stat_of("connections_refused");
    closed_frame = stat_of("closed_frame_timeout");
    for (i = 0; i < 4; i++)
        ok &= reap(hs[i]);
    ok &= reap(hoard);
    check(ok, "load: every client process finished");

    for (i = 0; i < P->workers; i++) {
        reqs += S->g[i].requests;
        sets += S->g[i].sets;
        errs += S->g[i].errors;
        if (first[0] == '\0' && S->g[i].first_error[0] != '\0')
            snprintf(first, sizeof(first), "%s", S->g[i].first_error);
        for (b = 0; b < HIST_N; b++)
            total += S->hist[i][b];
    }
    for (b = 0; b < HIST_N && total > 0; b++) {
        for (i = 0; i < P->workers; i++)
            acc += S->hist[i][b];
        if (p50 == 0 && acc * 2 >= total)
            p50 = hist_ms(b);
        if (acc * 100 >= total * 99) {
            p99 = hist_ms(b);
            break;
        }
    }
    note("load: %llu requests from good clients in %.1f s: %.0f requests/s; "
         "SET latency p50 %.2f ms, p99 %.2f ms (batches of %u)",
         (unsigned long long)reqs, elapsed, reqs / elapsed, p50, p99, P->depth);
    check(errs == 0 && reqs > 0,
          "load: 0 errors for %u good clients (%llu requests, %llu "
          "errors%s%s)",
          P->good, (unsigned long long)reqs, (unsigned long long)errs,
          first[0] ? "; first: " : "", first);
    check(S->g[G_READER].errors == 0,
          "load: a mapped reader made %llu lookups during the load: none "
          "torn, none older than acknowledged%s%s",
          (unsigned long long)S->g[G_READER].requests,
          S->g[G_READER].first_error[0] ? "; first: " : "",
          S->g[G_READER].first_error);
    {
        struct gres *st = &S->g[G_STALL], *tr = &S->g[G_TRICKLE];
        double slack = 3.0 + P->frame_timeout_s / 2.0;
        check(st->closed > 0 && st->dmax <= P->frame_timeout_s + slack &&
                  st->dmin >= P->frame_timeout_s - 1.0,
              "load: stalled clients (half a frame) closed by the frame "
              "deadline: %llu closes %.1f-%.1f s after the half frame "
              "(frame_timeout_s=%u), %llu refused at the limit",
              (unsigned long long)st->closed, st->dmin, st->dmax,
              P->frame_timeout_s, (unsigned long long)st->refused);
        check(tr->closed > 0 && tr->completed == 0 &&
                  tr->dmax <= P->frame_timeout_s + slack &&
                  tr->dmin >= P->frame_timeout_s - 1.0,
              "load: trickling clients (a byte every %.2f s) closed by the "
              "frame deadline: %llu closes %.1f-%.1f s after the first "
              "byte, %llu frames completed",
              P->frame_timeout_s / 8.0, (unsigned long long)tr->closed,
              tr->dmin, tr->dmax, (unsigned long long)tr->completed);
    }
    check(S->g[G_NOREAD].closed > 0 && shed > 0,
          "load: clients that never read: %llu GETs of 60 kB written, %llu "
          "connections closed, %lld shed over max_buffered_bytes",
          (unsigned long long)S->g[G_NOREAD].requests,
          (unsigned long long)S->g[G_NOREAD].closed, shed);
    check(S->g[G_CHURN].ok > 0 && S->g[G_CHURN].refused > 0 &&
              S->g[G_CHURN].errors == 0 && refused > 0,
          "load: churn at max_connections: %llu sessions served, %llu "
          "refused (daemon: %lld refused)%s%s",
          (unsigned long long)S->g[G_CHURN].ok,
          (unsigned long long)S->g[G_CHURN].refused, refused,
          S->g[G_CHURN].first_error[0] ? "; " : "", S->g[G_CHURN].first_error);
    {
        struct gres *h = &S->g[G_HOARD];
        uint64_t held = h->granted_open + h->granted_shut;
        int capped_uid = geteuid() == 0;
        /* Descriptors sent to a half-closed connection stay in flight
         * until the client closes its end: they count as well. */
        check(h->errors == 0 && h->max_per_conn <= 64 &&
                  (!capped_uid || held <= 256),
              "load: the hoarder was given at most 64 descriptors per "
              "connection (max %llu) and %llu in all, %llu of them on "
              "connections it half-closed (cap 256 per uid%s); %llu "
              "refused with EMFILE, %llu ETOOMANYREFS%s%s",
              (unsigned long long)h->max_per_conn, (unsigned long long)held,
              (unsigned long long)h->granted_shut,
              capped_uid ? "" : ": not applied, one uid",
              (unsigned long long)h->capped, (unsigned long long)h->toomany,
              h->first_error[0] ? "; " : "", h->first_error);
    }
    note("load: daemon stats: closed_frame_timeout=%lld "
         "connections_shed=%lld connections_refused=%lld",
         closed_frame, shed, refused);
    /* A hostile client must not be able to fill the log: a line a second
     * at most per kind of refusal. */
    check(log_count("closing connection holding") <= elapsed + 2 &&
              log_count("refusing connections") <= elapsed + 2,
          "load: the log says so at most once a second: %u \"closing "
          "connection holding\" and %u \"refusing connections\" lines in "
          "%.0f s",
          log_count("closing connection holding"),
          log_count("refusing connections"), elapsed);
    verify_all(P);
    /* Tables + buffers + one event's worth + per-connection state and the
     * program itself (doc/security.md, "Worst cases"). */
    budget_kib = (long)(TABLE_BYTES >> 10) + (long)P->max_buffered_mib * 1024 +
                 (MAX_VALUE >> 10) + 64 + 16L * max_conn + 32 * 1024;
    if (RSS_TELLS)
        check(hwm > 0 && hwm < budget_kib,
              "load: the daemon's peak RSS (VmHWM) %ld KiB is under the "
              "budget %ld KiB",
              hwm, budget_kib);
    else
        skip("load: peak RSS under the budget",
             "under AddressSanitizer RSS does not follow allocation");
    note("load: daemon peak RSS %.1f MiB (table %u MiB, "
         "max_buffered_bytes %u MiB, budget %.1f MiB)",
         hwm / 1024.0, TABLE_BYTES >> 20, P->max_buffered_mib,
         budget_kib / 1024.0);
    finish("load");
}

/* ---- fault cases ---- */

/* Keys 0..n-1 of a fault case, through a handle: self-checking values of
 * version ver; the count stored. */
static unsigned
put_keys(shmc_t *h, unsigned from, unsigned n, uint64_t ver)
{
    unsigned char val[128];
    char key[32];
    size_t klen;
    unsigned i, ok = 0;

    for (i = from; i < from + n; i++) {
        klen = tu_key(key, sizeof(key), i);
        tu_value(val, 64, key, klen, ver);
        ok += shmc_set(h, key, klen, val, 64, SHMC_TTL_NEVER) == 0;
    }
    return ok;
}

/* How many of keys from..from+n-1 a handle (a mapping) has at version
 * ver. */
static unsigned
mapped_keys(shmc_t *h, unsigned from, unsigned n, uint64_t ver)
{
    unsigned char val[128];
    char key[32];
    size_t klen, vlen;
    unsigned i, ok = 0;
    uint64_t v;

    for (i = from; i < from + n; i++) {
        klen = tu_key(key, sizeof(key), i);
        ok += shmc_get(h, key, klen, val, sizeof(val), &vlen) == 0 &&
              tu_value_ok(val, vlen, key, klen, &v) && v == ver;
    }
    return ok;
}

/* The same through the socket (GET on a connection of its own). */
static unsigned
socket_keys(const char *table, unsigned from, unsigned n, uint64_t ver)
{
    char key[32];
    size_t klen, vlen;
    unsigned i, ok = 0;
    struct treply r;
    uint64_t v;
    int fd = tc_connect(d.sock, 1);

    for (i = from; fd >= 0 && i < from + n; i++) {
        klen = tu_key(key, sizeof(key), i);
        if (tc_call(fd, PROTO_OP_GET, table, key, klen, NULL, 0, 0, 0, &r) != 0)
            break;
        vlen = r.blen >= 16 ? proto_get32(r.body + 12) : 0;
        ok += r.status == 0 && r.blen == 16 + vlen &&
              tu_value_ok(r.body + 16, vlen, key, klen, &v) && v == ver;
        tc_reply_free(&r);
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Wait (bounded) for a log line containing what; 1 if it came. */
static int
wait_log(const char *what, double seconds)
{
    double end = tu_deadline(seconds);

    while (log_count(what) == 0 && tu_poll(end))
        ;
    return log_count(what) > 0;
}

/* Run the daemon once more with the fixture's arguments and return its
 * exit status: for starts that must fail (td_restart() would wait for a
 * READY=1 that never comes).  Its stderr goes to the fixture's log. */
static int
start_fails(void)
{
    int status, fd;
    pid_t pid = fork();

    if (pid < 0)
        abort();
    if (pid == 0) {
        fd = open(d.log, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        execl(getenv("SHMCACHED"), "shmcached", "-f", "-c", d.conf,
              "--runtime-dir", d.run, "--state-dir", d.state, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * The daemon's descriptor limit reached: RLIMIT_NOFILE 64 (soft) with
 * max_connections 1024.  Connections past the limit wait in the listen
 * backlog, the daemon logs that it cannot accept and pauses; requests
 * that need a descriptor (OPEN) fail with EMFILE; the others are served.
 * Once descriptors free up, every waiting client is served.
 */
static void
case_nofile(void)
{
    enum { N = 100 };
    struct rlimit rl, low;
    unsigned char hello[64];
    size_t hlen = req(hello, PROTO_OP_HELLO, 0, NULL, 0, NULL, 0);
    int fds[N], served[N], i, nserved = 0, first = -1, st_open, st_set;
    struct treply r;
    double end, t0;

    getrlimit(RLIMIT_NOFILE, &rl);
    low = rl;
    low.rlim_cur = 64;
    setrlimit(RLIMIT_NOFILE, &low); /* the daemon inherits it */
    i = td_start_logged(&d, "{\"log_level\": \"notice\", "
                            "\"max_connections\": 1024, \"tables\": "
                            "{\"t\": {\"size_bytes\": 1048576, "
                            "\"max_value_bytes\": 1000}}}");
    setrlimit(RLIMIT_NOFILE, &rl);
    if (i != 0) {
        check(0, "nofile: the daemon starts with RLIMIT_NOFILE 64");
        show_log();
        return;
    }
    t0 = tu_now();
    for (i = 0; i < N; i++) {
        struct sockaddr_un sa;
        fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d.sock);
        served[i] = 0;
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            tc_send(fds[i], hello, hlen) != 0) {
            check(0, "nofile: client %d connects (backlog)", i);
            return;
        }
    }
    /* Those the daemon could accept answer; the others wait. */
    end = tu_deadline(3);
    do {
        for (i = 0; i < N; i++)
            if (!served[i] && tc_recv(fds[i], &r, 0) == 0) {
                served[i] = r.status == 0;
                nserved += served[i];
                tc_reply_free(&r);
            }
    } while (tu_poll(end));
    check(nserved > 0 && nserved < N,
          "nofile: %d of %d connections served at RLIMIT_NOFILE 64, the "
          "others wait in the backlog",
          nserved, N);
    check(wait_log("control: cannot accept: Too many open files", 5),
          "nofile: the daemon logs \"control: cannot accept: Too many open "
          "files; pausing 100 ms\"");
    for (i = 0; i < N && first < 0; i++)
        if (served[i])
            first = i;
    /* At the limit: what needs no descriptor works, OPEN says EMFILE. */
    st_open = st_set = 1;
    if (first >= 0 && tc_call(fds[first], PROTO_OP_OPEN, "t", NULL, 0, NULL, 0,
                              0, 0, &r) == 0) {
        st_open = r.status;
        tc_reply_free(&r);
    }
    if (first >= 0 &&
        tc_call(fds[first], PROTO_OP_SET, "t", "k", 1, "v", 1, 0, 0, &r) == 0) {
        st_set = r.status;
        tc_reply_free(&r);
    }
    check(st_open == -EMFILE && st_set == 0,
          "nofile: at the limit an OPEN fails with EMFILE (%d), a SET on "
          "the same connection is served (%d)",
          st_open, st_set);
    /* Free descriptors: close 60 served connections. */
    for (i = 0, nserved = 0; i < N && nserved < 60; i++)
        if (served[i] && i != first) {
            close(fds[i]);
            fds[i] = -1;
            nserved++;
        }
    end = tu_deadline(10);
    for (i = 0, nserved = 0; i < N; i++) {
        if (served[i]) {
            nserved++;
            continue;
        }
        while (tc_recv(fds[i], &r, 100) != 0 && tu_poll(end))
            ;
        if (r.body != NULL)
            nserved += served[i] = r.status == 0;
        tc_reply_free(&r);
    }
    check(nserved == N,
          "nofile: once descriptors free up every waiting client is "
          "served (%d of %d)",
          nserved, N);
    st_open = 1;
    if (first >= 0 && tc_call(fds[first], PROTO_OP_OPEN, "t", NULL, 0, NULL, 0,
                              0, 0, &r) == 0) {
        st_open = r.status != 0 ? r.status : r.fd < 0;
        tc_reply_free(&r);
    }
    check(st_open == 0, "nofile: and OPEN hands out descriptors again (%d)",
          st_open);
    check(log_count("cannot accept") <= tu_now() - t0 + 2,
          "nofile: the log says so at most once a second (%u lines in "
          "%.0f s)",
          log_count("cannot accept"), tu_now() - t0);
    for (i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    finish("nofile");
}

/*
 * Table files deleted under the daemon (a memory table "m" and a disk
 * table "p").  The daemon notices at its next sweep, logs it, and puts a
 * new file at the path holding every entry (readers that mapped the old
 * one are sent to it as after a resize): new readers can open the table,
 * and a disk table's acknowledged writes survive a restart.
 */
static void
case_deleted(void)
{
    static const char *names[2] = {"m", "p"};
    char *paths[2];
    shmc_t *old[2] = {NULL, NULL}, *h;
    struct stat st;
    int i, rc, ok;

    if (td_start_logged(
            &d, "{\"log_level\": \"notice\", "
                "\"expire_interval_ms\": 100, \"tables\": {"
                "\"m\": {\"size_bytes\": 1048576, \"max_value_bytes\": 1000}, "
                "\"p\": {\"mode\": \"disk\", "
                "\"size_bytes\": 1048576, \"max_value_bytes\": 1000}}}") != 0) {
        check(0, "deleted: the daemon starts");
        show_log();
        return;
    }
    paths[0] = tu_path(d.run, "m.shm");
    paths[1] = tu_path(d.state, "p.shm");
    for (i = 0; i < 2; i++) {
        rc = shmc_open(d.sock, names[i], 0, &old[i]);
        ok = rc == 0 && put_keys(old[i], 0, 200, 1) == 200;
        check(ok, "deleted: 200 keys stored in table %s", names[i]);
        if (!ok)
            goto out;
    }
    for (i = 0; i < 2; i++)
        unlink(paths[i]);
    for (i = 0; i < 2; i++) {
        char what[PATH_MAX + 160], done[PATH_MAX + 160];
        snprintf(what, sizeof(what),
                 "table=%s path=%s damaged under the daemon: file deleted",
                 names[i], paths[i]);
        /* Logged once the new file is in place. */
        snprintf(done, sizeof(done), "replaced damaged table=%s path=%s",
                 names[i], paths[i]);
        ok = wait_log(done, 5) && log_count(what) == 1;
        check(ok && stat(paths[i], &st) == 0,
              "deleted: the daemon logs \"tables: table=%s path=... "
              "damaged under the daemon: file deleted\" and puts a new "
              "file at the path",
              names[i]);
        rc = shmc_open(d.sock, names[i], 0, &h);
        check(rc == 0, "deleted: a new reader opens table %s (%s)", names[i],
              shmc_strerror(rc));
        if (rc == 0) {
            check(mapped_keys(h, 0, 200, 1) == 200 &&
                      put_keys(h, 200, 100, 2) == 100 &&
                      mapped_keys(h, 200, 100, 2) == 100,
                  "deleted: it finds all 200 keys and stores 100 more");
            shmc_close(h);
        }
        check(mapped_keys(old[i], 0, 200, 1) == 200 &&
                  mapped_keys(old[i], 200, 100, 2) == 100,
              "deleted: a reader that mapped the old file of %s finds "
              "every key, the new ones too",
              names[i]);
    }
    rc = td_restart(&d);
    check(rc == 0 && socket_keys("p", 0, 200, 1) == 200 &&
              socket_keys("p", 200, 100, 2) == 100 &&
              socket_keys("m", 0, 200, 1) == 200,
          "deleted: after a restart every acknowledged write is there, in "
          "the disk table too");
out:
    for (i = 0; i < 2; i++) {
        shmc_close(old[i]);
        free(paths[i]);
    }
    finish("deleted");
}

/* The clock shim's offset word, or NULL (tests/clockshift.c). */
static int64_t *
clock_word(void)
{
    const char *path = getenv("SHMC_CLOCK_FILE");
    void *p;
    int fd;

    if (path == NULL || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return NULL;
    p = mmap(NULL, sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* Socket GET of key: 0 (found), or the status. */
static int
sock_get(const char *key)
{
    struct treply r;
    int fd = tc_connect(d.sock, 1), st = -1;

    if (fd >= 0 && tc_call(fd, PROTO_OP_GET, TABLE, key, strlen(key), NULL, 0,
                           0, 0, &r) == 0) {
        st = r.status;
        tc_reply_free(&r);
    }
    if (fd >= 0)
        close(fd);
    return st;
}

/* Socket SET of key with ttl_s; the status. */
static int
sock_set(const char *key, uint32_t ttl_s)
{
    struct treply r;
    int fd = tc_connect(d.sock, 1), st = -1;

    if (fd >= 0 && tc_call(fd, PROTO_OP_SET, TABLE, key, strlen(key), "v", 1,
                           ttl_s, 0, &r) == 0) {
        st = r.status;
        tc_reply_free(&r);
    }
    if (fd >= 0)
        close(fd);
    return st;
}

/* Whether key is found (1) or missed (0), the same through the socket
 * and through the mapping; -1 if they disagree or either fails. */
static int
found(shmc_t *h, const char *key)
{
    char v[16];
    int s = sock_get(key),
        m = shmc_get(h, key, strlen(key), v, sizeof(v), NULL);

    if (s == 0 && m == 0)
        return 1;
    if (s == SHMC_ENOTFOUND && m == SHMC_ENOTFOUND)
        return 0;
    return -1;
}

/* Move the wall clock of the daemon and of this process to `off` ms from
 * the real one, and let one sweep pass. */
static void
jump(int64_t *w, int64_t off)
{
    __atomic_store_n(w, off, __ATOMIC_RELAXED);
    usleep(300000); /* the sweep runs every 100 ms */
}

/*
 * Wall-clock jumps, forward and back, seen alike by the daemon and its
 * readers (tests/clockshift.c; the host's clock is never touched).
 * Expiry is absolute wall-clock time: a jump forward expires what it
 * passes, a jump back lengthens what is live, a write is never lost.
 */
static void
case_clock(void)
{
    const int64_t hour = 3600000, day = 24 * hour, year = 365 * day;
    int64_t *w = clock_word();
    time_t before = time(NULL);
    long long up;
    shmc_t *h = NULL;
    int rc;

    if (w == NULL) {
        skip("clock: wall-clock jumps", "no $SHMC_CLOCK_FILE");
        return;
    }
    __atomic_store_n(w, 2 * hour, __ATOMIC_RELAXED);
    if (time(NULL) < before + 2 * 3600 - 60) {
        __atomic_store_n(w, 0, __ATOMIC_RELAXED);
        skip("clock: wall-clock jumps", "tests/clockshift is not preloaded");
        return;
    }
    __atomic_store_n(w, 0, __ATOMIC_RELAXED);
    if (td_start_logged(
            &d, "{\"log_level\": \"notice\", "
                "\"expire_interval_ms\": 100, \"tables\": {\"" TABLE
                "\": {\"size_bytes\": 1048576, \"max_value_bytes\": 1000}}}") !=
            0 ||
        (rc = shmc_open(d.sock, TABLE, 0, &h)) != 0) {
        check(0, "clock: the daemon starts and a reader opens the table");
        show_log();
        return;
    }
    check(sock_set("a", 60) == 0 && sock_set("b", PROTO_TTL_NEVER) == 0 &&
              sock_set("c", 7200) == 0 && found(h, "a") == 1 &&
              found(h, "b") == 1 && found(h, "c") == 1,
          "clock: a (ttl 60 s), b (no expiry), c (ttl 2 h) stored");
    jump(w, hour);
    check(found(h, "a") == 0 && found(h, "b") == 1 && found(h, "c") == 1,
          "clock: 1 h forward: a has expired, b and c are found (socket "
          "and mapping agree)");
    check(wait_log("clock: wall clock jumped forward", 2),
          "clock: the daemon logs the jump forward");
    jump(w, -day);
    check(found(h, "a") == 0 && found(h, "b") == 1 && found(h, "c") == 1 &&
              sock_set("d", 60) == 0 && found(h, "d") == 1,
          "clock: 1 day back: a stays expired, b and c are found, d (ttl "
          "60 s) is stored and found");
    check(wait_log("clock: wall clock jumped back", 2),
          "clock: the daemon logs the jump back");
    up = stat_of("uptime_s");
    check(up >= 0 && up < 3600,
          "clock: uptime_s stays the time since start "
          "(%lld s)",
          up);
    jump(w, 20 * year);
    check(sock_set("e", 60) == 0 && found(h, "e") == 1 && found(h, "b") == 1,
          "clock: 20 years forward (past the 17-year range of a table's "
          "expiry field): e (ttl 60 s) is stored and found, b too");
    jump(w, 0);
    check(found(h, "b") == 1 && sock_set("f", 60) == 0 && found(h, "f") == 1,
          "clock: back to the real time: b is found, f (ttl 60 s) is "
          "stored and found");
    note("clock: %u \"clock:\" log lines", log_count("clock: wall clock"));
    shmc_close(h);
    finish("clock");
}

/* Fill the file system of dir until it is full; the filler's path. */
static char *
fill_up(const char *dir)
{
    static char block[65536];
    char *path = tu_path(dir, "filler");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t n = sizeof(block);
    ssize_t w;

    while (fd >= 0 && n > 0) {
        w = write(fd, block, n);
        if (w < 0 && errno == ENOSPC && n > 1)
            n /= 2; /* down to the last byte */
        else if (w < 0)
            break;
    }
    if (fd >= 0)
        close(fd);
    return path;
}

/* The table file deleted while the disk is full: no new file can be made,
 * so the daemon keeps serving the one it has (logged), tries again every
 * 10 s (not every sweep), and makes the new file once there is room. */
static void
deleted_when_full(const char *dir, const char *path)
{
    char *filler = fill_up(dir);
    unsigned tries;
    shmc_t *h = NULL;
    int ok;

    ok = shmc_open(d.sock, "p", 0, &h) == 0 && put_keys(h, 1000, 10, 1) == 10;
    unlink(path);
    ok = ok && wait_log("table=p cannot be replaced", 5);
    tries = log_count("damaged under the daemon: file deleted");
    check(ok, "disk: the table file deleted with the disk full: logged "
              "\"cannot be replaced\"");
    usleep(1500000); /* a sweep or two (expire_interval_ms 1000) */
    ok = put_keys(h, 1010, 10, 1) == 10 && mapped_keys(h, 1000, 20, 1) == 20;
    check(ok && log_count("damaged under the daemon: file deleted") == tries,
          "disk: meanwhile writes are served from the old file and the "
          "replacement is not retried at every sweep (%u attempts)",
          log_count("damaged under the daemon: file deleted"));
    unlink(filler);
    free(filler);
    ok = wait_log("replaced damaged table=p", 15);
    shmc_close(h);
    h = NULL;
    ok = ok && shmc_open(d.sock, "p", 0, &h) == 0 &&
         mapped_keys(h, 0, 100, 2) == 100 && mapped_keys(h, 100, 920, 1) == 920;
    check(ok, "disk: with room again (within 10 s) the file is replaced, "
              "with all 1020 keys");
    shmc_close(h);
}

/*
 * Disk full, with $TMPDIR a tmpfs of 8 MiB (check-load.sh mounts one
 * in a private mount namespace).  A disk table's blocks are all reserved
 * when its file is made (posix_fallocate), so with the disk full, writes
 * and syncs go on without error; what needs new space -- a rebuild for a
 * new size at start-up -- is refused, logged, and leaves the old file as
 * it was; with space again, the rebuild keeps every entry.
 */
static void
case_disk(void)
{
    const char *dir = getenv("TMPDIR");
    struct statfs sf;
    char *filler = NULL, *path;
    shmc_t *h = NULL;
    struct treply r;
    int fd, st, ok;

    if (dir == NULL || statfs(dir, &sf) != 0 || sf.f_type != TMPFS_MAGIC ||
        (uint64_t)sf.f_blocks * sf.f_bsize > (64u << 20)) {
        skip("disk: disk full", "$TMPDIR is not a small tmpfs (check-load.sh "
                                "mounts one when root)");
        return;
    }
    if (td_start_logged(
            &d, "{\"log_level\": \"notice\", "
                "\"sync_interval_s\": 1, \"tables\": {"
                "\"p\": {\"mode\": \"disk\", "
                "\"size_bytes\": 1048576, \"max_value_bytes\": 1000}}}") != 0 ||
        shmc_open(d.sock, "p", 0, &h) != 0) {
        check(0, "disk: the daemon starts on the small file system");
        show_log();
        return;
    }
    path = tu_path(d.state, "p.shm");
    ok = put_keys(h, 0, 500, 1) == 500 && shmc_sync(h) == 0;
    check(ok, "disk: 500 keys stored and synced");
    filler = fill_up(dir);
    ok = statfs(dir, &sf) == 0 && sf.f_bavail == 0;
    check(ok, "disk: the file system is full (%llu blocks free)",
          (unsigned long long)sf.f_bavail);
    ok = put_keys(h, 500, 500, 1) == 500 && put_keys(h, 0, 100, 2) == 100 &&
         shmc_sync(h) == 0;
    usleep(1500000); /* a periodic sync too (sync_interval_s 1) */
    check(ok && log_count("persist:") == 0,
          "disk: with the disk full, 600 more writes and SYNC succeed and "
          "the periodic sync logs no error (the file's blocks were "
          "reserved at creation)");
    shmc_close(h);
    h = NULL;
    st = td_stop(&d);
    check(st == 0, "disk: the daemon stops cleanly with the disk full (%d)",
          st);
    /* A bigger table needs new space: refused, logged, old file kept. */
    td_write_conf(&d, "{\"log_level\": \"notice\", \"tables\": {"
                      "\"p\": {\"mode\": \"disk\", "
                      "\"size_bytes\": 2097152, \"max_value_bytes\": 1000}}}");
    st = start_fails();
    check(st == 69 && log_count("No space left on device") > 0,
          "disk: a start that must rebuild the table for a new size "
          "exits 69 and logs \"No space left on device\" (exit %d)",
          st);
    ok = shmc_open_file(path, 0, &h) == 0 && mapped_keys(h, 0, 100, 2) == 100 &&
         mapped_keys(h, 100, 900, 1) == 900;
    check(ok, "disk: the old file still holds all 1000 keys");
    shmc_close(h);
    h = NULL;
    unlink(filler);
    ok = td_restart(&d) == 0 && socket_keys("p", 0, 100, 2) == 100 &&
         socket_keys("p", 100, 900, 1) == 900 &&
         (fd = tc_connect(d.sock, 1)) >= 0;
    if (ok) {
        ok = tc_call(fd, PROTO_OP_SYNC, "p", NULL, 0, NULL, 0, 0, 0, &r) == 0 &&
             r.status == 0;
        tc_reply_free(&r);
        close(fd);
    }
    check(ok, "disk: with space again it starts, rebuilt, with all 1000 "
              "keys");
    deleted_when_full(dir, path);
    free(filler);
    free(path);
    finish("disk");
}

/* ---- main ---- */

/* A crash or the alarm: take the daemon along (it would keep running,
 * and keep the test's output open), then die of the same signal. */
static void
on_fatal(int sig)
{
    if (d.pid > 0)
        kill(d.pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

int
main(int argc, char **argv)
{
    struct params P = short_form;
    struct rlimit rl;
    int i;

    if (getenv("SHMCACHED") == NULL) {
        fprintf(stderr, "load_fault: $SHMCACHED is not set\n");
        return 2;
    }
    /* As many descriptors as we may: hundreds of connections. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGABRT, on_fatal);
    signal(SIGALRM, on_fatal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getenv("SHMC_LOAD_LONG") != NULL && *getenv("SHMC_LOAD_LONG") != '\0' &&
        strcmp(getenv("SHMC_LOAD_LONG"), "0") != 0)
        P = long_form;
    for (i = 1; i < argc && argv[i][0] == '-'; i++)
        if (strcmp(argv[i], "--long") == 0)
            P = long_form;
    P.seconds = tu_env_uint("SHMC_LOAD_SECONDS", P.seconds);
    P.good = tu_env_uint("SHMC_LOAD_GOOD", P.good);
    if (P.workers > MAX_WORKERS)
        P.workers = MAX_WORKERS;
    if (i >= argc) {
        fprintf(stderr, "usage: load_fault [--long] "
                        "load|nofile|deleted|clock|disk\n");
        return 2;
    }
    alarm(P.seconds + 300); /* never hang a test run */
    if (strcmp(argv[i], "load") == 0)
        case_load(&P);
    else if (strcmp(argv[i], "nofile") == 0)
        case_nofile();
    else if (strcmp(argv[i], "deleted") == 0)
        case_deleted();
    else if (strcmp(argv[i], "clock") == 0)
        case_clock();
    else if (strcmp(argv[i], "disk") == 0)
        case_disk();
    else {
        fprintf(stderr, "load_fault: unknown case %s\n", argv[i]);
        return 2;
    }
    td_free(&d);
    return failures > 0;
}
