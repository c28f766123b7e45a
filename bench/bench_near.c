/* SPDX-License-Identifier: MIT */
/*
 * bench_near.c -- issue 16's benchmark: hot-key reads on a Zipf workload
 * from 2 processes, through shmcache as a near cache in front of Redis,
 * against going straight to Redis and against a per-process client-side
 * cache, with the staleness every mode shows while Redis is written.
 *
 * The workload: N keys of 16 bytes ("near:%011u") with V-byte values,
 * preloaded into Redis.  Per mode, 2 reader processes warm up (not
 * counted: a caching mode reads every key once, then W seconds of reads)
 * and then read for S seconds (measured), each drawing keys from one
 * Zipf distribution (alias table: one random
 * number and one table entry per draw; the same seeds in every mode, so
 * every mode sees the same key sequence), while a writer process SETs
 * uniformly random keys in Redis at a fixed rate.  Modes, alternated
 * within each run (stable names, as in the JSON):
 *
 *   redis     one GET round trip per read (hiredis, Unix socket)
 *   shmcache  shmc_get_or_load() on the near table: a lock-free lookup,
 *             and on a miss one round trip to shmcached, which GETs the
 *             key from Redis (merged with other misses) and tracks it
 *   local     a per-process cache as a careful hiredis user writes it
 *             (the "local" section below)
 *
 * Every value carries its key's index, a version and a check word; a
 * reader verifies every value it reads and exits non-zero on a wrong one.
 *
 * Staleness.  The writer publishes, in a MAP_SHARED region made before
 * any fork, each key's last acknowledged version and the times
 * (CLOCK_MONOTONIC) at which its last few versions were acknowledged:
 * the ack time is written first, then the version with release order.
 * A read that returned version v of a key whose version v+1 had been
 * acknowledged before the read began is stale, by the time from that
 * acknowledgement to the end of the read (so a stale hit's figure
 * includes the hit's own tens of nanoseconds); one whose v+1 was
 * acknowledged during the read is concurrent with the write, not stale
 * (it may linearise before it).  The staleness of the stale reads goes
 * into a log-linear histogram (16 steps per power of two, so within 6%).
 *
 * Each mode starts cold in each run (the shmcache table is flushed, the
 * local caches are new processes) and warms up with the writer running,
 * so that the measured window is the steady state of a long-running
 * application, where misses come from invalidations, not first reads.  Figures
 * are medians over the runs.
 *
 * usage: bench_near --redis SOCKET [--shmcache SOCKET] [--table NAME]
 *                   [--keys N] [--value-size V] [--seconds S]
 *                   [--warmup W] [--alpha A] [--write-rate R]
 *                   [--runs N]
 *                   [--modes redis,shmcache,local] [--quick]
 *                   [--json FILE]
 *        bench_near --report FILE    (prints FILE as Markdown)
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ref.h"
#include "shmcache.h"
#include "workload.h"

#define KLEN 16
#define READERS 2
#define MAX_RUNS 15
#define NMODES 3
#define VALUE_MIN 32
#define VALUE_MAX 65536
#define PRELOAD_BATCH 1000
#define ACKS 7 /* ack times kept per key: struct keyrec is one line */
#define HIST_N 1024
#define CLOCK_EVERY 64 /* reads between looks at the deadline */
#define TARGET_RATIO 50
#define INVALIDATE_CHANNEL "__redis__:invalidate"

/* ---- the workload and what the processes share ---- */

/* One key's history, written by the writer only. */
struct keyrec {
    uint64_t version;      /* atomic: the last version Redis acknowledged */
    uint64_t ack_ns[ACKS]; /* atomic: version w's ack time at w % ACKS */
};

/* One reader's figures for one run of one mode. */
struct rstat {
    uint64_t reads, stale, concurrent, lower_bounds;
    uint64_t hits, misses, not_stored;
    uint64_t max_ns;
    double seconds;
    uint64_t hist[HIST_N]; /* staleness of the stale reads */
};

/* The start barrier and the results of the run in progress. */
struct ctl {
    int ready; /* atomic: children at the barrier */
    int go;    /* atomic: the barrier opens */
    int stop;  /* atomic: the writer stops */
    int warm;  /* atomic: readers done with their warm-up */
    double writer_sets_per_s;
    struct rstat r[READERS];
};

static uint64_t nkeys = 100000;
static uint32_t vlen = 100;
static double seconds = 5, warmup = 1, alpha = 0.99, write_rate = 1000;
static int runs = 3, quick;
static const char *redis_sock, *shm_sock, *table = "near";
static char *keys; /* nkeys x KLEN */
static struct zipf *zipf;
static struct keyrec *kr;
static struct ctl *ctl;
static pid_t parent_pid;

/* Figures of one mode over the runs. */
struct modestat {
    double reads_per_s[MAX_RUNS], stale_share[MAX_RUNS];
    double p50[MAX_RUNS], p99[MAX_RUNS], max[MAX_RUNS], all_p99[MAX_RUNS];
    double hit_ratio[MAX_RUNS], writer[MAX_RUNS];
    uint64_t reads, stale, concurrent, lower_bounds, not_stored, max_ns;
    uint64_t hist[HIST_N]; /* every run's stale reads, pooled */
};

/* A mode: how a reader process opens, reads and closes. */
struct mode {
    const char *name, *path;
    int caching;
    void *(*open)(void);
    void (*get)(void *h, const char *key, unsigned char *buf, size_t *len);
    void (*counts)(void *h, struct rstat *st);
    void (*close)(void *h);
    struct modestat ms;
};

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bench_near: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (getpid() != parent_pid)
        _exit(1);
    exit(1);
}

/* CLOCK_MONOTONIC in nanoseconds. */
static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL)
        die("out of memory");
    return p;
}

/* ---- values ---- */

/* Key i's value in buf[len], verified (workload.h): its version; dies if
 * it is not an intact value of key i. */
static uint64_t
value_version(const unsigned char *buf, size_t len, uint64_t i)
{
    uint64_t ver;

    if (!value_ok(buf, len, vlen, i, &ver))
        die("key %llu: a wrong or torn value (%zu bytes)",
            (unsigned long long)i, len);
    return ver;
}

/* ---- staleness histogram: 16 steps per power of two ---- */

static unsigned
hist_bucket(uint64_t v)
{
    unsigned e;

    if (v < 16)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

/* The largest value that falls into bucket b. */
static uint64_t
hist_upper(unsigned b)
{
    unsigned e = b / 16 + 3;

    if (b < 16)
        return b;
    return ((uint64_t)(16 + b % 16) << (e - 4)) + ((uint64_t)1 << (e - 4)) - 1;
}

/* The value of rank r (1-based) among the values in h, as its bucket's
 * upper bound capped at max. */
static double
hist_at(const uint64_t *h, uint64_t rank, uint64_t max)
{
    uint64_t sum = 0;
    unsigned b;

    for (b = 0; b < HIST_N - 1; b++) {
        sum += h[b];
        if (sum >= rank)
            break;
    }
    return (double)(hist_upper(b) < max ? hist_upper(b) : max);
}

/* The rank of the q-quantile among n values (nearest rank). */
static uint64_t
rank_of(double q, uint64_t n)
{
    uint64_t r = (uint64_t)ceil(q * (double)n);

    return r < 1 ? 1 : r > n ? n : r;
}

/* The q-quantile of the stale reads' staleness; -1 when there are none. */
static double
stale_quantile(const uint64_t *h, uint64_t stale, double q, uint64_t max)
{
    return stale > 0 ? hist_at(h, rank_of(q, stale), max) : -1;
}

/* The q-quantile over all reads, the fresh ones counting 0 (they rank
 * first). */
static double
all_quantile(const uint64_t *h, uint64_t reads, uint64_t stale, double q,
             uint64_t max)
{
    uint64_t fresh = reads - stale;

    if (reads == 0 || rank_of(q, reads) <= fresh)
        return 0;
    return hist_at(h, rank_of(q, reads) - fresh, max);
}

/* ---- redis: one GET round trip per read ---- */

static redisContext *
redis_connect(void)
{
    redisContext *c = redisConnectUnix(redis_sock);

    if (c == NULL || c->err)
        die("redis: connect %s: %s", redis_sock,
            c != NULL ? c->errstr : "out of memory");
    return c;
}

/* One GET of key into buf; dies on anything but a string. */
static void
redis_get_into(redisContext *c, const char *key, unsigned char *buf,
               size_t *len)
{
    redisReply *r = redisCommand(c, "GET %b", key, (size_t)KLEN);

    if (r == NULL)
        die("redis: GET: %s", c->errstr);
    if (r->type != REDIS_REPLY_STRING || (size_t)r->len > VALUE_MAX)
        die("redis: GET %.16s: reply of type %d", key, r->type);
    memcpy(buf, r->str, (size_t)r->len);
    *len = (size_t)r->len;
    freeReplyObject(r);
}

static void *
rd_open(void)
{
    return redis_connect();
}

static void
rd_get(void *h, const char *key, unsigned char *buf, size_t *len)
{
    redis_get_into(h, key, buf, len);
}

static void
rd_close(void *h)
{
    redisFree(h);
}

/* ---- shmcache: the near table ---- */

static shmc_t *
sc_handle(void)
{
    shmc_t *h;
    int rc = shmc_open(shm_sock, table, 0, &h);

    if (rc != 0)
        die("shmcache: open %s table %s: %s", shm_sock, table,
            shmc_strerror(rc));
    return h;
}

static void *
sc_open(void)
{
    return sc_handle();
}

/* shmc_get_or_load() looks up with shmc_get() and loads only on a miss;
 * called directly, the handle's counters see each read once. */
static void
sc_get(void *h, const char *key, unsigned char *buf, size_t *len)
{
    int rc = shmc_get_or_load(h, key, KLEN, buf, VALUE_MAX, len);

    if (rc != 0)
        die("shmcache: get %.16s: %s", key, shmc_strerror(rc));
}

static void
sc_counts(void *h, struct rstat *st)
{
    shmc_counters(h, &st->hits, &st->misses);
}

static void
sc_close(void *h)
{
    shmc_close(h);
}

/* ---- local: a per-process client-side cache over hiredis ---- */

/*
 * What a careful user of hiredis 0.14 (RESP2) writes: an in-process hash
 * map (open addressing, linear probing, deletion by backward shift)
 * under one mutex; a second connection that runs CLIENT ID and
 * SUBSCRIBEs to __redis__:invalidate, read by a thread; CLIENT TRACKING
 * on REDIRECT <that id> on the data connection.  The thread deletes the
 * keys each invalidation names; a null one (FLUSHALL) or the loss of its
 * connection clears the map, and after a loss nothing is cached any more
 * (nothing would be tracked).
 *
 * The race rule: a miss inserts a PENDING placeholder before its GET and
 * fills it with the reply only if the placeholder is still there; an
 * invalidation (or a clear) that arrives while the GET is in flight
 * removes it, so that reply is returned but not cached.  Only the reader
 * thread inserts, and it has one GET in flight, so a placeholder found
 * after the reply is its own.
 */

enum { LC_EMPTY, LC_PENDING, LC_READY };

struct lc_slot {
    char key[KLEN];
    uint32_t state;
    uint32_t len;
    unsigned char *val;
};

struct lcache {
    redisContext *data, *inval;
    pthread_t listener;
    pthread_mutex_t lock;
    struct lc_slot *slots;
    size_t mask;
    int untracked; /* under lock: the invalidation connection is lost */
    int stopping;  /* atomic: the reader is closing the connection */
    uint64_t hits, misses, not_stored;
};

/* Where key's probe starts. */
static size_t
lc_home(const struct lcache *lc, const char *key)
{
    uint64_t a, b;

    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    a = (a ^ (b * 0xc2b2ae3d27d4eb4fULL)) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(a ^ (a >> 31)) & lc->mask;
}

/* The slot holding key, or -1. */
static long
lc_find_locked(const struct lcache *lc, const char *key)
{
    size_t i = lc_home(lc, key);

    while (lc->slots[i].state != LC_EMPTY) {
        if (memcmp(lc->slots[i].key, key, KLEN) == 0)
            return (long)i;
        i = (i + 1) & lc->mask;
    }
    return -1;
}

/* A PENDING placeholder for key, which is absent (the map has room for
 * every key twice over). */
static void
lc_insert_locked(struct lcache *lc, const char *key)
{
    size_t i = lc_home(lc, key);

    while (lc->slots[i].state != LC_EMPTY)
        i = (i + 1) & lc->mask;
    memcpy(lc->slots[i].key, key, KLEN);
    lc->slots[i].state = LC_PENDING;
    lc->slots[i].val = NULL;
}

/* Delete slot i, moving later members of its run back so that no probe
 * meets a hole before its key. */
static void
lc_remove_locked(struct lcache *lc, size_t i)
{
    size_t j = i, home;

    free(lc->slots[i].val);
    for (;;) {
        lc->slots[i].state = LC_EMPTY;
        lc->slots[i].val = NULL;
        for (;;) {
            j = (j + 1) & lc->mask;
            if (lc->slots[j].state == LC_EMPTY)
                return;
            home = lc_home(lc, lc->slots[j].key);
            /* j may move to i unless its home lies in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        lc->slots[i] = lc->slots[j];
        i = j;
    }
}

static void
lc_clear_locked(struct lcache *lc)
{
    size_t i;

    for (i = 0; i <= lc->mask; i++) {
        free(lc->slots[i].val);
        lc->slots[i].val = NULL;
        lc->slots[i].state = LC_EMPTY;
    }
}

/* An invalidation message: delete the keys it names, or clear all. */
static void
lc_invalidate(struct lcache *lc, const redisReply *msg)
{
    const redisReply *p;
    long at;
    size_t i;

    if (msg->type != REDIS_REPLY_ARRAY || msg->elements != 3 ||
        msg->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(msg->element[0]->str, "message") != 0)
        return; /* the SUBSCRIBE confirmation, say */
    p = msg->element[2];
    pthread_mutex_lock(&lc->lock);
    if (p->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < p->elements; i++)
            if (p->element[i]->type == REDIS_REPLY_STRING &&
                p->element[i]->len == KLEN &&
                (at = lc_find_locked(lc, p->element[i]->str)) >= 0)
                lc_remove_locked(lc, (size_t)at);
    } else {
        lc_clear_locked(lc); /* nil: FLUSHALL or FLUSHDB */
    }
    pthread_mutex_unlock(&lc->lock);
}

/* The invalidation thread: until its connection ends. */
static void *
lc_listen(void *arg)
{
    struct lcache *lc = arg;
    redisReply *r;

    for (;;) {
        if (redisGetReply(lc->inval, (void **)&r) != REDIS_OK || r == NULL) {
            pthread_mutex_lock(&lc->lock);
            lc_clear_locked(lc);
            lc->untracked = 1;
            pthread_mutex_unlock(&lc->lock);
            if (!__atomic_load_n(&lc->stopping, __ATOMIC_SEQ_CST))
                fprintf(stderr,
                        "bench_near: local: invalidation connection lost "
                        "(%s): caching off\n",
                        lc->inval->errstr);
            return NULL;
        }
        lc_invalidate(lc, r);
        freeReplyObject(r);
    }
}

static void *
lc_open(void)
{
    struct lcache *lc = calloc(1, sizeof(*lc));
    redisReply *r;
    long long id;
    size_t cap = 16;
    int rc;

    if (lc == NULL)
        die("out of memory");
    while (cap < 2 * nkeys)
        cap *= 2;
    lc->slots = calloc(cap, sizeof(*lc->slots));
    if (lc->slots == NULL)
        die("out of memory");
    lc->mask = cap - 1;
    pthread_mutex_init(&lc->lock, NULL);
    lc->inval = redis_connect();
    r = redisCommand(lc->inval, "CLIENT ID");
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        die("local: CLIENT ID failed");
    id = r->integer;
    freeReplyObject(r);
    r = redisCommand(lc->inval, "SUBSCRIBE %s", INVALIDATE_CHANNEL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        die("local: SUBSCRIBE failed");
    freeReplyObject(r);
    lc->data = redis_connect();
    r = redisCommand(lc->data, "CLIENT TRACKING on REDIRECT %lld", id);
    if (r == NULL || r->type != REDIS_REPLY_STATUS)
        die("local: CLIENT TRACKING failed: %s",
            r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    freeReplyObject(r);
    rc = pthread_create(&lc->listener, NULL, lc_listen, lc);
    if (rc != 0)
        die("local: pthread_create: %s", strerror(rc));
    return lc;
}

static void
lc_get(void *h, const char *key, unsigned char *buf, size_t *len)
{
    struct lcache *lc = h;
    int cache;
    long at;

    pthread_mutex_lock(&lc->lock);
    at = lc_find_locked(lc, key);
    if (at >= 0 && lc->slots[at].state == LC_READY) {
        *len = lc->slots[at].len;
        memcpy(buf, lc->slots[at].val, *len);
        pthread_mutex_unlock(&lc->lock);
        lc->hits++;
        return;
    }
    lc->misses++;
    cache = !lc->untracked && at < 0;
    if (cache)
        lc_insert_locked(lc, key);
    pthread_mutex_unlock(&lc->lock);

    redis_get_into(lc->data, key, buf, len);

    if (!cache)
        return;
    pthread_mutex_lock(&lc->lock);
    at = lc_find_locked(lc, key);
    if (at >= 0 && lc->slots[at].state == LC_PENDING) {
        lc->slots[at].val = malloc(*len);
        if (lc->slots[at].val != NULL) {
            memcpy(lc->slots[at].val, buf, *len);
            lc->slots[at].len = (uint32_t)*len;
            lc->slots[at].state = LC_READY;
        } else {
            lc_remove_locked(lc, (size_t)at);
        }
    } else {
        lc->not_stored++; /* invalidated while the GET was in flight */
    }
    pthread_mutex_unlock(&lc->lock);
}

static void
lc_counts(void *h, struct rstat *st)
{
    struct lcache *lc = h;

    st->hits = lc->hits;
    st->misses = lc->misses;
    st->not_stored = lc->not_stored;
}

/* Stop the thread by ending its connection under it. */
static void
lc_close(void *h)
{
    struct lcache *lc = h;

    __atomic_store_n(&lc->stopping, 1, __ATOMIC_SEQ_CST);
    shutdown(lc->inval->fd, SHUT_RDWR);
    pthread_join(lc->listener, NULL);
    redisFree(lc->inval);
    redisFree(lc->data);
    lc_clear_locked(lc);
    free(lc->slots);
    pthread_mutex_destroy(&lc->lock);
    free(lc);
}

enum { MODE_REDIS, MODE_SHMCACHE, MODE_LOCAL };

static struct mode modes[NMODES] = {
    [MODE_REDIS] = {.name = "redis",
                    .path = "one GET round trip per read (hiredis)",
                    .open = rd_open,
                    .get = rd_get,
                    .close = rd_close},
    [MODE_SHMCACHE] = {.name = "shmcache",
                       .path = "shmc_get_or_load on the near table: a "
                               "lock-free hit; a miss loads through "
                               "shmcached from Redis",
                       .caching = 1,
                       .open = sc_open,
                       .get = sc_get,
                       .counts = sc_counts,
                       .close = sc_close},
    [MODE_LOCAL] = {.name = "local",
                    .path = "a per-process hash map over hiredis, CLIENT "
                            "TRACKING REDIRECT to a subscribed second "
                            "connection read by a thread",
                    .caching = 1,
                    .open = lc_open,
                    .get = lc_get,
                    .counts = lc_counts,
                    .close = lc_close},
};
static int enabled[NMODES];

/* ---- the processes ---- */

/* In a child just forked: die with the parent, so that nothing outlives a
 * run cut short. */
static void
child_init(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent_pid)
        _exit(1);
}

/* Children: say ready, wait for the go. */
static void
barrier(void)
{
    __atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&ctl->go, __ATOMIC_SEQ_CST))
        sched_yield();
}

/* Wait for a child; die if it failed. */
static void
reap(pid_t pid, const char *what)
{
    int st;

    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s: a child process failed", what);
}

static pid_t
spawn(void)
{
    pid_t pid = fork();

    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0)
        child_init();
    return pid;
}

/*
 * Reads until the clock passes end, each of a key drawn from the stream
 * *seed, every value verified; the figures into st.
 *
 * A read is stale when the key's version loaded before it (acquire: the
 * ack times of every version up to it are visible) is newer than the
 * version it returned: version v+1 had been acknowledged before the read
 * began.  Only then is the clock read, at the end of the read; the
 * staleness, end - ack(v+1), so includes the read's own duration.  A read
 * that returned v while v+1 was acknowledged during it is concurrent.
 * The clock is otherwise read every CLOCK_EVERY reads, for the deadline.
 */
static void
read_until(struct mode *m, void *h, uint64_t *seed, uint64_t end,
           unsigned char *buf, struct rstat *st)
{
    uint64_t t, ver, before, cur, next, s;
    uint64_t reads = 0, stale = 0, concurrent = 0, lower = 0, max = 0;
    uint32_t id;
    size_t len;

    for (;; reads++) {
        if (reads % CLOCK_EVERY == 0 && now_ns() >= end)
            break;
        id = zipf_draw(zipf, seed);
        /* ORDERING: acquire; pairs with the release in writer(). */
        before = __atomic_load_n(&kr[id].version, __ATOMIC_ACQUIRE);
        m->get(h, keys + (size_t)id * KLEN, buf, &len);
        ver = value_version(buf, len, id);
        if (ver >= before) {
            cur = __atomic_load_n(&kr[id].version, __ATOMIC_RELAXED);
            if (ver > cur + 1)
                die("key %u: version %llu read, only %llu acknowledged", id,
                    (unsigned long long)ver, (unsigned long long)cur);
            concurrent += ver < cur;
            continue;
        }
        t = now_ns();
        next = ver + 1;
        cur = __atomic_load_n(&kr[id].version, __ATOMIC_RELAXED);
        if (cur - next < ACKS - 1) {
            s = t -
                __atomic_load_n(&kr[id].ack_ns[next % ACKS], __ATOMIC_RELAXED);
        } else {
            /* v+1's ack time may be overwritten: ack(cur) >= ack(v+1)
             * gives a lower bound, clamped at 0. */
            s = __atomic_load_n(&kr[id].ack_ns[cur % ACKS], __ATOMIC_RELAXED);
            s = t > s ? t - s : 0;
            lower++;
        }
        stale++;
        st->hist[hist_bucket(s)]++;
        if (s > max)
            max = s;
    }
    st->reads = reads;
    st->stale = stale;
    st->concurrent = concurrent;
    st->lower_bounds = lower;
    st->max_ns = max;
}

/* A caching mode's cache filled: every key read once, from this reader's
 * own offset, so that the readers of a shared cache load different keys. */
static void
prime(struct mode *m, void *h, int idx, unsigned char *buf)
{
    uint64_t i, id;
    size_t len;

    for (i = 0; i < nkeys; i++) {
        id = (i + (uint64_t)idx * nkeys / READERS) % nkeys;
        m->get(h, keys + id * KLEN, buf, &len);
        value_version(buf, len, id);
    }
}

/*
 * A reader.  From the go, warm-up, not counted: a caching mode's cache
 * primed with every key, then `warmup` seconds of reads; then, once every
 * reader is warm, `seconds` measured.  Each phase draws from its own Zipf
 * stream, whose seed depends on the run and the reader only, so every
 * mode draws the same keys.  Hits and misses are the measured phase's.
 */
static void
reader(struct mode *m, int run, int idx)
{
    struct rstat *st = &ctl->r[idx], *scratch = calloc(1, sizeof(*scratch));
    uint64_t seed = 0x5eed0000u + (uint64_t)run * READERS + (uint64_t)idx;
    uint64_t warm_seed = seed ^ 0xa5a5a5a5a5a5a5a5ULL, t0;
    unsigned char *buf = xmalloc(VALUE_MAX);
    void *h;

    if (scratch == NULL)
        die("out of memory");
    memset(st, 0, sizeof(*st));
    h = m->open();
    barrier();
    if (m->caching)
        prime(m, h, idx, buf);
    read_until(m, h, &warm_seed, now_ns() + (uint64_t)(warmup * 1e9), buf,
               scratch);
    __atomic_add_fetch(&ctl->warm, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ctl->warm, __ATOMIC_SEQ_CST) < READERS)
        sched_yield();
    if (m->counts != NULL)
        m->counts(h, scratch);
    t0 = now_ns();
    read_until(m, h, &seed, t0 + (uint64_t)(seconds * 1e9), buf, st);
    st->seconds = (double)(now_ns() - t0) / 1e9;
    if (m->counts != NULL) {
        m->counts(h, st);
        st->hits -= scratch->hits;
        st->misses -= scratch->misses;
        st->not_stored -= scratch->not_stored;
    }
    m->close(h);
    free(scratch);
    free(buf);
}

/*
 * The writer: SETs of uniformly random keys at write_rate, one round trip
 * each, until told to stop.  A version is published when Redis has
 * acknowledged it: its ack time first, then the version (release).
 */
static void
writer(int run)
{
    uint64_t seed = 0x3417e000u + (uint64_t)run, n = 0, i, v, t0, t, due;
    unsigned char *val = xmalloc(vlen);
    redisContext *c = redis_connect();
    struct timespec ts;
    redisReply *r;

    barrier();
    t0 = now_ns();
    while (!__atomic_load_n(&ctl->stop, __ATOMIC_SEQ_CST)) {
        due = t0 + (uint64_t)((double)n * 1e9 / write_rate);
        t = now_ns();
        if (t < due) {
            /* Sleep at most 10 ms at a time, to see the stop. */
            if (due - t > 10000000u)
                due = t + 10000000u;
            ts.tv_sec = (time_t)(due / 1000000000u);
            ts.tv_nsec = (long)(due % 1000000000u);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        i = ref_rand(&seed) % nkeys;
        v = __atomic_load_n(&kr[i].version, __ATOMIC_RELAXED) + 1;
        value_make(val, vlen, i, v);
        r = redisCommand(c, "SET %b %b", keys + i * KLEN, (size_t)KLEN, val,
                         (size_t)vlen);
        if (r == NULL || r->type != REDIS_REPLY_STATUS)
            die("writer: SET failed: %s", r == NULL ? c->errstr : "reply");
        freeReplyObject(r);
        __atomic_store_n(&kr[i].ack_ns[v % ACKS], now_ns(), __ATOMIC_RELAXED);
        /* ORDERING: release; pairs with the acquire in reader(). */
        __atomic_store_n(&kr[i].version, v, __ATOMIC_RELEASE);
        n++;
    }
    ctl->writer_sets_per_s = (double)n * 1e9 / (double)(now_ns() - t0);
    redisFree(c);
    free(val);
}

/* Flush the near table, so that the run starts cold (as the local caches
 * do: they are new processes). */
static void
flush_table(void)
{
    shmc_t *h = sc_handle();
    int rc = shmc_flush(h);

    if (rc != 0)
        die("shmcache: flush: %s", shmc_strerror(rc));
    shmc_close(h);
}

/* One run of mode m: 2 readers and the writer; its figures into m->ms. */
static void
run_mode(struct mode *m, int run)
{
    struct modestat *ms = &m->ms;
    uint64_t hist[HIST_N] = {0}, reads = 0, stale = 0, hits = 0, misses = 0;
    uint64_t max = 0;
    pid_t rd[READERS], wr = 0;
    int i, n = 0;
    unsigned b;

    if (m == &modes[MODE_SHMCACHE])
        flush_table();
    memset(ctl, 0, sizeof(*ctl));
    if (write_rate > 0) {
        if ((wr = spawn()) == 0) {
            writer(run);
            _exit(0);
        }
        n++;
    }
    for (i = 0; i < READERS; i++) {
        if ((rd[i] = spawn()) == 0) {
            reader(m, run, i);
            _exit(0);
        }
        n++;
    }
    while (__atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST) < n)
        sched_yield();
    __atomic_store_n(&ctl->go, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < READERS; i++)
        reap(rd[i], m->name);
    __atomic_store_n(&ctl->stop, 1, __ATOMIC_SEQ_CST);
    if (wr > 0)
        reap(wr, "writer");

    ms->reads_per_s[run] = 0;
    for (i = 0; i < READERS; i++) {
        const struct rstat *st = &ctl->r[i];

        ms->reads_per_s[run] += (double)st->reads / st->seconds;
        reads += st->reads;
        stale += st->stale;
        hits += st->hits;
        misses += st->misses;
        ms->concurrent += st->concurrent;
        ms->lower_bounds += st->lower_bounds;
        ms->not_stored += st->not_stored;
        if (st->max_ns > max)
            max = st->max_ns;
        for (b = 0; b < HIST_N; b++)
            hist[b] += st->hist[b];
    }
    for (b = 0; b < HIST_N; b++)
        ms->hist[b] += hist[b];
    if (max > ms->max_ns)
        ms->max_ns = max;
    ms->reads += reads;
    ms->stale += stale;
    ms->stale_share[run] = reads > 0 ? (double)stale / (double)reads : 0;
    ms->p50[run] = stale_quantile(hist, stale, 0.50, max);
    ms->p99[run] = stale_quantile(hist, stale, 0.99, max);
    ms->max[run] = stale > 0 ? (double)max : -1;
    ms->all_p99[run] = all_quantile(hist, reads, stale, 0.99, max);
    ms->hit_ratio[run] = m->caching && hits + misses > 0
                             ? (double)hits / (double)(hits + misses)
                             : -1;
    ms->writer[run] = write_rate > 0 ? ctl->writer_sets_per_s : -1;
    fprintf(stderr,
            "bench_near: run %d %s: %.0f reads/s, stale %.4f%%, "
            "p99 stale %.0f ns, hit ratio %.4f, writer %.0f SETs/s\n",
            run + 1, m->name, ms->reads_per_s[run],
            100.0 * ms->stale_share[run], ms->p99[run], ms->hit_ratio[run],
            ms->writer[run]);
}

/* Every key at version 0, pipelined. */
static void
preload(void)
{
    redisContext *c = redis_connect();
    unsigned char *val = xmalloc(vlen);
    uint64_t i, j, n;
    redisReply *r;

    for (i = 0; i < nkeys; i += n) {
        n = nkeys - i < PRELOAD_BATCH ? nkeys - i : PRELOAD_BATCH;
        for (j = i; j < i + n; j++) {
            value_make(val, vlen, j, 0);
            redisAppendCommand(c, "SET %b %b", keys + j * KLEN, (size_t)KLEN,
                               val, (size_t)vlen);
        }
        for (j = 0; j < n; j++) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK)
                die("preload: %s", c->errstr);
            if (r->type != REDIS_REPLY_STATUS)
                die("preload: SET refused");
            freeReplyObject(r);
        }
    }
    redisFree(c);
    free(val);
}

/* Wait (10 s at most) until the near table loads a key from Redis. */
static void
wait_near(void)
{
    unsigned char *buf = xmalloc(VALUE_MAX);
    uint64_t end = now_ns() + 10000000000u;
    shmc_t *h = sc_handle();
    size_t len;
    int rc;

    while ((rc = shmc_get_or_load(h, keys, KLEN, buf, VALUE_MAX, &len)) != 0 &&
           now_ns() < end)
        usleep(50000);
    if (rc != 0)
        die("shmcache: the near table does not load from Redis: %s",
            shmc_strerror(rc));
    value_version(buf, len, 0);
    shmc_close(h);
    free(buf);
}

/* ---- output ---- */

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median of the measured (>= 0) values among v[n]; -1 if none. */
static double
median(const double *v, int n)
{
    double t[MAX_RUNS];
    int i, k = 0;

    for (i = 0; i < n; i++)
        if (v[i] >= 0)
            t[k++] = v[i];
    if (k == 0)
        return -1;
    qsort(t, (size_t)k, sizeof(double), cmp_double);
    return k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
}

/* A JSON number, or null for "not measured". */
static json_t *
jnum(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static double
num_or(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    return json_is_number(v) ? json_number_value(v) : -1;
}

/* The machine, as bench_vs describes it in bench/results/latest.json. */
static json_t *
machine_json(void)
{
    char line[512], model[256] = "unknown", la[64] = "";
    struct utsname u;
    FILE *f = fopen("/proc/cpuinfo", "r");

    while (f != NULL && fgets(line, sizeof(line), f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f != NULL)
        fclose(f);
    f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(la, sizeof(la), f) == NULL)
            la[0] = '\0';
        la[strcspn(la, "\n")] = '\0';
        fclose(f);
    }
    uname(&u);
    return json_pack("{s:s, s:I, s:s, s:s}", "cpu_model", model, "cores",
                     (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "kernel",
                     u.release, "load_average_at_start", la);
}

static json_t *
runs_json(const double *v)
{
    json_t *a = json_array();
    int r;

    for (r = 0; r < runs; r++)
        json_array_append_new(a, jnum(v[r]));
    return a;
}

/* Set o.name to v (a new reference); dies when out of memory. */
static void
put(json_t *o, const char *name, json_t *v)
{
    if (v == NULL || json_object_set_new(o, name, v) != 0)
        die("json: out of memory");
}

/* One mode's medians and totals. */
static json_t *
mode_json(const struct mode *m, double redis_reads)
{
    const struct modestat *ms = &m->ms;
    double x = median(ms->reads_per_s, runs);
    json_t *o = json_object();

    if (o == NULL)
        die("json: out of memory");
    put(o, "mode", json_string(m->name));
    put(o, "read_path", json_string(m->path));
    put(o, "reads_per_s", jnum(x));
    put(o, "reads_per_s_runs", runs_json(ms->reads_per_s));
    put(o, "ratio_to_redis", jnum(redis_reads > 0 ? x / redis_reads : -1));
    put(o, "hit_ratio", jnum(median(ms->hit_ratio, runs)));
    put(o, "stale_read_share", jnum(median(ms->stale_share, runs)));
    put(o, "staleness_stale_p50_ns", jnum(median(ms->p50, runs)));
    put(o, "staleness_stale_p99_ns", jnum(median(ms->p99, runs)));
    put(o, "staleness_stale_max_ns", jnum(median(ms->max, runs)));
    put(o, "staleness_all_p99_ns", jnum(median(ms->all_p99, runs)));
    put(o, "writer_sets_per_s", jnum(median(ms->writer, runs)));
    put(o, "staleness_pooled",
        json_pack("{s:o, s:o, s:o, s:o}", "stale_p50_ns",
                  jnum(stale_quantile(ms->hist, ms->stale, 0.50, ms->max_ns)),
                  "stale_p99_ns",
                  jnum(stale_quantile(ms->hist, ms->stale, 0.99, ms->max_ns)),
                  "stale_max_ns", jnum(ms->stale > 0 ? (double)ms->max_ns : -1),
                  "all_p99_ns",
                  jnum(all_quantile(ms->hist, ms->reads, ms->stale, 0.99,
                                    ms->max_ns))));
    put(o, "reads_total", json_integer((json_int_t)ms->reads));
    put(o, "stale_reads_total", json_integer((json_int_t)ms->stale));
    put(o, "concurrent_reads_total", json_integer((json_int_t)ms->concurrent));
    put(o, "staleness_lower_bounds_total",
        json_integer((json_int_t)ms->lower_bounds));
    put(o, "not_stored_total", json_integer((json_int_t)ms->not_stored));
    return o;
}

/* The notes that say how to read the figures. */
static json_t *
notes_json(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s}", "figures",
        "medians over the runs; modes alternated within each run; each "
        "mode starts cold in each run (the shmcache table flushed, the "
        "local caches new processes) and is measured after a warm-up with "
        "the writer running (every key read once, then warmup seconds of "
        "reads), so misses come from invalidations; reads_per_s is the sum of "
        "the 2 reader "
        "processes",
        "shmcache",
        "every process on the host reads one copy lock-free; a miss is one "
        "round trip to shmcached, which GETs from Redis (misses of one key "
        "merged) and is kept coherent by CLIENT TRACKING invalidations",
        "local",
        "stands for redis-py/hiredis users with their own client-side "
        "cache: redis-py 4.3 in Debian 12 has none, so this is a C client "
        "over hiredis 0.14: an in-process hash map under a mutex, CLIENT "
        "TRACKING REDIRECT to a second connection subscribed to "
        "__redis__:invalidate and read by a thread, placeholders so that a "
        "reply invalidated in flight is not cached",
        "staleness",
        "a read that returned version v when v+1 had been acknowledged to "
        "the writer (at time a) before the read began is stale, by "
        "(end of the read) - a; reads that overlapped the acknowledgement "
        "are concurrent, not stale; "
        "percentiles from a log-linear histogram (bucket upper bounds, "
        "within about 6%)",
        "staleness_all_p99_ns",
        "over all reads, fresh ones counting 0; "
        "staleness_pooled: the same over every run's reads together (the "
        "stale reads are few, so their tail is better seen pooled)",
        "hit_ratio",
        "shmcache: shmc_counters of each reader's handle; local: its own "
        "counters; redis: none");
}

/* The results, with the machine and the workload, into path. */
static void
write_json(const char *path, json_t *machine)
{
    json_t *doc, *res = json_array();
    double red = -1;
    int k;

    if (enabled[MODE_REDIS])
        red = median(modes[MODE_REDIS].ms.reads_per_s, runs);
    for (k = 0; k < NMODES; k++)
        if (enabled[k])
            json_array_append_new(res, mode_json(&modes[k], red));
    doc = json_pack(
        "{s:o, s:{s:I, s:i, s:I, s:f, s:f, s:f, s:f, s:i, s:i, s:b}, s:o, "
        "s:o}",
        "machine", machine, "workload", "keys", (json_int_t)nkeys, "key_bytes",
        KLEN, "value_bytes", (json_int_t)vlen, "zipf_alpha", alpha,
        "seconds_per_mode", seconds, "warmup_seconds_per_mode", warmup,
        "write_rate_per_s", write_rate, "runs", runs, "readers", READERS,
        "quick", quick, "results", res, "notes", notes_json());
    if (doc == NULL)
        die("json: out of memory");
    if (json_dump_file(doc, path, JSON_INDENT(1)) != 0)
        die("cannot write %s", path);
    json_decref(doc);
}

/* v with thousands separators and d decimals, or "-" when below 0. */
static const char *
fmt_num(double v, int d, char *buf, size_t size)
{
    char tmp[64];
    size_t n, i, j = 0;

    if (v < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    snprintf(tmp, sizeof(tmp), "%.*f", d, v);
    n = strcspn(tmp, ".");
    for (i = 0; tmp[i] != '\0' && j + 2 < size; i++) {
        if (i > 0 && i < n && (n - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = tmp[i];
    }
    buf[j] = '\0';
    return buf;
}

/* Nanoseconds as microseconds, "-" when not measured. */
static const char *
fmt_us(double ns, char *buf, size_t size)
{
    return fmt_num(ns < 0 ? -1 : ns / 1000.0, 1, buf, size);
}

/* A share as a percentage with two significant digits ("0.0031%"). */
static const char *
fmt_pct(double share, char *buf, size_t size)
{
    double pct = 100.0 * share;
    int d = 2;

    if (share < 0)
        snprintf(buf, size, "-");
    else if (pct == 0)
        snprintf(buf, size, "0%%");
    else {
        if (pct < 1)
            d = 1 - (int)floor(log10(pct));
        snprintf(buf, size, "%.*f%%", d > 8 ? 8 : d, pct);
    }
    return buf;
}

/* The results in path as Markdown, with the ratio the issue asks for. */
static int
report(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL), *w, *m, *res, *o;
    char a[32], b[32], c[32], cc[32], d[32], e[32], f[32], g[32], h[32];
    double sc = -1, lc = -1, rd = -1;
    size_t i;

    if (doc == NULL) {
        fprintf(stderr, "bench_near: cannot read %s\n", path);
        return 1;
    }
    w = json_object_get(doc, "workload");
    m = json_object_get(doc, "machine");
    res = json_object_get(doc, "results");
    printf("%s keys of 16 bytes, %lld-byte values, Zipf alpha %.2f, 2 reader "
           "processes measured for %g s per mode after a warm-up (every key "
           "read once, then %g s), a "
           "writer at %s SETs/s; medians of %lld runs%s.  %s, %lld cores, "
           "Linux %s (load average at start: %s)\n\n",
           fmt_num(num_or(w, "keys"), 0, a, sizeof(a)),
           (long long)json_integer_value(json_object_get(w, "value_bytes")),
           num_or(w, "zipf_alpha"), num_or(w, "seconds_per_mode"),
           num_or(w, "warmup_seconds_per_mode"),
           fmt_num(num_or(w, "write_rate_per_s"), 0, b, sizeof(b)),
           (long long)json_integer_value(json_object_get(w, "runs")),
           json_is_true(json_object_get(w, "quick"))
               ? " (QUICK: a smoke test, not a measurement)"
               : "",
           json_string_value(json_object_get(m, "cpu_model")),
           (long long)json_integer_value(json_object_get(m, "cores")),
           json_string_value(json_object_get(m, "kernel")),
           json_string_value(json_object_get(m, "load_average_at_start")));
    printf("| mode | reads/s | vs redis | hit ratio | stale reads (count, all "
           "runs) | "
           "staleness of stale reads p50 / p99 / max, µs | staleness p99 "
           "of all reads, µs | writer SETs/s |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < json_array_size(res); i++) {
        const char *name;
        double share, hr, ratio;

        o = json_array_get(res, i);
        name = json_string_value(json_object_get(o, "mode"));
        share = num_or(o, "stale_read_share");
        hr = num_or(o, "hit_ratio");
        ratio = num_or(o, "ratio_to_redis");
        if (hr >= 0)
            snprintf(c, sizeof(c), "%.2f%%", 100.0 * hr);
        else
            snprintf(c, sizeof(c), "-");
        if (ratio >= 0)
            snprintf(d, sizeof(d), "%.1fx", ratio);
        else
            snprintf(d, sizeof(d), "-");
        printf("| %s | %s | %s | %s | %s (%lld) | %s / %s / %s | %s | %s |\n",
               name, fmt_num(num_or(o, "reads_per_s"), 0, a, sizeof(a)), d, c,
               fmt_pct(share, cc, sizeof(cc)),
               (long long)json_integer_value(
                   json_object_get(o, "stale_reads_total")),
               fmt_us(num_or(o, "staleness_stale_p50_ns"), e, sizeof(e)),
               fmt_us(num_or(o, "staleness_stale_p99_ns"), f, sizeof(f)),
               fmt_us(num_or(o, "staleness_stale_max_ns"), g, sizeof(g)),
               fmt_us(num_or(o, "staleness_all_p99_ns"), h, sizeof(h)),
               fmt_num(num_or(o, "writer_sets_per_s"), 0, b, sizeof(b)));
        if (strcmp(name, "shmcache") == 0)
            sc = num_or(o, "reads_per_s");
        else if (strcmp(name, "local") == 0)
            lc = num_or(o, "reads_per_s");
        else if (strcmp(name, "redis") == 0)
            rd = num_or(o, "reads_per_s");
    }
    if (sc > 0 && rd > 0)
        printf("\nshmcache / redis: %.0fx the reads/s (target >= %dx: %s)",
               sc / rd, TARGET_RATIO,
               sc / rd >= TARGET_RATIO ? "met" : "missed");
    if (sc > 0 && lc > 0)
        printf("; shmcache / local: %.2fx", sc / lc);
    printf("\n\nStaleness pooled over the runs' reads:");
    for (i = 0; i < json_array_size(res); i++) {
        json_t *pl;

        o = json_array_get(res, i);
        pl = json_object_get(o, "staleness_pooled");
        printf("%s %s p99 of all reads %s µs, of the stale reads %s µs (max "
               "%s)",
               i > 0 ? ";" : "", json_string_value(json_object_get(o, "mode")),
               fmt_us(num_or(pl, "all_p99_ns"), e, sizeof(e)),
               fmt_us(num_or(pl, "stale_p99_ns"), f, sizeof(f)),
               fmt_us(num_or(pl, "stale_max_ns"), g, sizeof(g)));
    }
    printf(".\n\nStale: read after a newer version was acknowledged to the "
           "writer, by the time since.  local stands for a redis-py/hiredis "
           "client-side cache (redis-py 4.3 in Debian has none): a C client "
           "over hiredis with CLIENT TRACKING.\n");
    json_decref(doc);
    return 0;
}

/* ---- main ---- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: bench_near --redis SOCKET [--shmcache SOCKET] "
            "[--table NAME]\n"
            "                  [--keys N] [--value-size V] [--seconds S] "
            "[--warmup W]\n"
            "                  [--alpha A] [--write-rate R] [--runs N] "
            "[--modes redis,shmcache,local]\n"
            "                  [--quick] [--json FILE]\n"
            "       bench_near --report FILE\n");
    exit(64);
}

/* Enable the modes named in the comma-separated list. */
static void
pick_modes(const char *list)
{
    const char *p = list;
    size_t n;
    int k;

    memset(enabled, 0, sizeof(enabled));
    while (*p != '\0') {
        n = strcspn(p, ",");
        for (k = 0; k < NMODES; k++)
            if (strlen(modes[k].name) == n && strncmp(modes[k].name, p, n) == 0)
                break;
        if (k == NMODES) {
            fprintf(stderr, "bench_near: no mode \"%.*s\"\n", (int)n, p);
            usage();
        }
        enabled[k] = 1;
        p += n + (p[n] == ',');
    }
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'R'},
        {"shmcache", required_argument, NULL, 's'},
        {"table", required_argument, NULL, 't'},
        {"keys", required_argument, NULL, 'n'},
        {"value-size", required_argument, NULL, 'v'},
        {"seconds", required_argument, NULL, 'S'},
        {"warmup", required_argument, NULL, 'W'},
        {"alpha", required_argument, NULL, 'a'},
        {"write-rate", required_argument, NULL, 'w'},
        {"runs", required_argument, NULL, 'r'},
        {"modes", required_argument, NULL, 'm'},
        {"quick", no_argument, NULL, 'q'},
        {"json", required_argument, NULL, 'j'},
        {"report", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *json_path = NULL, *mode_list = NULL;
    json_t *machine;
    int opt, r, k, j, any = 0;
    uint64_t i;

    parent_pid = getpid();
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'R':
            redis_sock = optarg;
            break;
        case 's':
            shm_sock = optarg;
            break;
        case 't':
            table = optarg;
            break;
        case 'n':
            nkeys = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            vlen = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            seconds = strtod(optarg, NULL);
            break;
        case 'W':
            warmup = strtod(optarg, NULL);
            break;
        case 'a':
            alpha = strtod(optarg, NULL);
            break;
        case 'w':
            write_rate = strtod(optarg, NULL);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'm':
            mode_list = optarg;
            break;
        case 'q':
            quick = 1;
            nkeys = 20000;
            seconds = 1;
            warmup = 0.2;
            runs = 1;
            break;
        case 'j':
            json_path = optarg;
            break;
        case 'p':
            return report(optarg);
        default:
            usage();
        }
    }
    if (optind != argc || redis_sock == NULL || nkeys < 1 ||
        nkeys > UINT32_MAX || vlen < VALUE_MIN || vlen > VALUE_MAX ||
        !(seconds > 0) || !(warmup >= 0) || !(alpha >= 0) ||
        !(write_rate >= 0) || runs < 1 || runs > MAX_RUNS)
        usage();
    if (mode_list != NULL) {
        pick_modes(mode_list);
    } else {
        enabled[MODE_REDIS] = enabled[MODE_LOCAL] = 1;
        enabled[MODE_SHMCACHE] = shm_sock != NULL;
    }
    if (enabled[MODE_SHMCACHE] && shm_sock == NULL) {
        fprintf(stderr, "bench_near: mode shmcache needs --shmcache\n");
        usage();
    }
    signal(SIGPIPE, SIG_IGN);
    machine = machine_json(); /* the load average before we add to it */

    keys = xmalloc(nkeys * KLEN);
    for (i = 0; i < nkeys; i++) {
        char k17[KLEN + 1];

        snprintf(k17, sizeof(k17), "near:%011u", (unsigned)i);
        memcpy(keys + i * KLEN, k17, KLEN);
    }
    if ((zipf = zipf_new(nkeys, alpha, 0x21bf5eedu)) == NULL)
        die("out of memory");
    kr = mmap(NULL, nkeys * sizeof(*kr), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (kr == MAP_FAILED || ctl == MAP_FAILED)
        die("mmap: %s", strerror(errno));

    fprintf(stderr, "bench_near: preloading %llu keys into Redis\n",
            (unsigned long long)nkeys);
    preload();
    if (enabled[MODE_SHMCACHE])
        wait_near();
    /* Modes alternate within each run, starting one later each run. */
    for (r = 0; r < runs; r++)
        for (j = 0; j < NMODES; j++) {
            k = (j + r) % NMODES;
            if (enabled[k]) {
                run_mode(&modes[k], r);
                any = 1;
            }
        }
    if (!any)
        usage();
    for (k = 0; k < NMODES; k++) {
        const struct modestat *ms = &modes[k].ms;

        if (enabled[k])
            printf("%s reads_per_s=%.0f hit_ratio=%.4f stale_read_share=%.6f "
                   "staleness_stale_p50_ns=%.0f staleness_stale_p99_ns=%.0f "
                   "staleness_stale_max_ns=%.0f staleness_all_p99_ns=%.0f "
                   "writer_sets_per_s=%.0f\n",
                   modes[k].name, median(ms->reads_per_s, runs),
                   median(ms->hit_ratio, runs), median(ms->stale_share, runs),
                   median(ms->p50, runs), median(ms->p99, runs),
                   median(ms->max, runs), median(ms->all_p99, runs),
                   median(ms->writer, runs));
    }
    if (json_path != NULL)
        write_json(json_path, machine);
    else
        json_decref(machine);
    return 0;
}
