/* SPDX-License-Identifier: MIT */
/*
 * bench_vs.c -- shmcache side by side with what a user would use instead,
 * on one workload: N keys of 16 bytes ("key:%012u"), V-byte values, every
 * value read back verified.  bench/run.sh starts the servers (each on a
 * Unix socket in a temp dir) and runs this once per value size.
 *
 * Contenders (stable names, as in the JSON):
 *   floor          the reference reader of ref.c (bench.c's), in process
 *   shmcache       libshmcache: gets from the mapped table, in process;
 *                  sets through shmcached (one round trip each, shmc_mset)
 *   shmcache_huge  the same on a table with huge_pages and populate
 *   memcached      its text protocol over its Unix socket
 *   redis          hiredis over its Unix socket
 *   lmdb           liblmdb, in process (one read txn renewed per get)
 * memcached, Redis and LMDB are built in when configure found hiredis and
 * liblmdb, and run when given a socket or --lmdb.
 *
 * Measured, each from processes other than the loader (forked children
 * that open their own handles):
 *   load_per_s              the batched load: shmc_mset x10000,
 *                           memcached/Redis pipelined x100, LMDB 100 puts
 *                           per txn, the floor's own puts
 *   set_round_trip_per_s    one set per round trip (on --rt-ops keys)
 *   get_ns                  random gets, median of R runs, every
 *                           contender alternated run by run in one reader
 *                           process (remote ones on --rt-ops keys)
 *   skewed_get_ns           the same, the keys drawn from Zipf(0.99)
 *                           (one sequence for all, drawn before timing)
 *   mget_ns_per_key         batches of 100 (shmc_mget, memcached's
 *                           multi-key get, Redis MGET)
 *   two_readers_gets_per_s  two reader processes at once, together
 *   gets_with_writer_per_s  one reader while another process updates
 *                           random keys at full speed (batches as in the
 *                           load), against the same reader alone
 *   bytes_per_item          ours from the table (entry bytes + the
 *                           index's share at its design load), the
 *                           floor's file, LMDB's pages, memcached's and
 *                           Redis's RSS growth over the load (--*-pid)
 * Values carry their key's index, a version and a check word of both, so
 * a torn or misdirected value fails the run.
 *
 * usage: bench_vs [--keys N] [--value-size V] [--runs R] [--rt-ops N]
 *                 [--remote-mget-keys N] [--dir DIR] [--quick]
 *                 [--shmcache SOCKET] [--huge-table NAME]
 *                 [--memcached SOCKET] [--memcached-pid PID]
 *                 [--redis SOCKET] [--redis-pid PID] [--lmdb]
 *                 [--json FILE]     (appends this run's results)
 *        bench_vs --report FILE     (prints FILE as Markdown)
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif
#ifdef HAVE_LMDB
#include <lmdb.h>
#endif

#include "ref.h"
#include "workload.h"
#include "shmcache.h"

#define KLEN REF_KLEN
#define MAX_RUNS 15
#define MAX_CONTENDERS 8
#define MGET_BATCH 100
#define MSET_BATCH 10000
#define PIPE_BATCH 100
#define VALUE_MIN 24
#define ZIPF_ALPHA 0.99

/* ---- the workload ---- */

static uint64_t nkeys = 1000000, rt_ops = 20000, remote_mget_keys = 200000;
static uint32_t vlen = 100;
static int runs = 3, quick;
static char *keys;     /* nkeys x KLEN, in key order */
static char *okeys;    /* the same keys in one random lookup order */
static uint32_t *oidx; /* key index of each okeys entry */
static char *zkeys;    /* nkeys lookups drawn from Zipf(ZIPF_ALPHA) */
static uint32_t *zidx; /* key index of each zkeys entry */
static pid_t parent_pid;

/* Results shared with the children. */
struct shared {
    double v[MAX_CONTENDERS][MAX_RUNS];
    double w[MAX_CONTENDERS][MAX_RUNS];
    double z[MAX_CONTENDERS][MAX_RUNS];
    int ready;    /* atomic: children at the barrier */
    int go;       /* atomic: the barrier opens */
    int stop;     /* atomic: the writer stops */
    double extra; /* a child's second figure */
};
static struct shared *sh;

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bench_vs: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (getpid() != parent_pid)
        _exit(1);
    exit(1);
}

/* The skewed lookup order: nkeys draws from Zipf(alpha) (workload.h),
 * drawn once, before anything is timed, like okeys. */
static void
make_zipf_order(double alpha, uint64_t seed)
{
    struct zipf *z = zipf_new(nkeys, alpha, seed);
    uint64_t i;

    zkeys = malloc(nkeys * KLEN);
    zidx = malloc(nkeys * sizeof(*zidx));
    if (z == NULL || zkeys == NULL || zidx == NULL)
        die("out of memory");
    for (i = 0; i < nkeys; i++) {
        zidx[i] = zipf_draw(z, &seed);
        memcpy(zkeys + i * KLEN, keys + (uint64_t)zidx[i] * KLEN, KLEN);
    }
    zipf_free(z);
}

/* ---- contenders ---- */

struct contender {
    const char *name;
    const char *load_method, *mget_method, *bytes_method;
    int remote;  /* a get is a round trip: measured on rt_ops keys */
    int enabled; /* 1 when given what it needs */
    /* in whichever process calls it; NULL for "not this one" */
    void *(*open)(struct contender *c, int writer);
    void (*close)(void *h);
    int (*get)(void *h, const char *key, void *buf, size_t size, size_t *len);
    int (*mget)(void *h, size_t n, const char *keys, unsigned char *bufs,
                size_t bufsize, size_t *lens);
    int (*put)(void *h, size_t n, const char *keys, const unsigned char *vals);
    int (*set1)(void *h, const char *key, const unsigned char *val);
    double (*bytes_per_item)(struct contender *c, void *h);
    size_t put_batch;
    const char *arg;  /* socket path, table name, directory */
    const char *arg2; /* second argument (table) */
    pid_t server_pid; /* for RSS; 0: none */
    long rss_before;  /* KiB */
    /* results */
    double load_per_s, set_rt_per_s, get_ns, mget_ns_per_key, two_readers;
    double alone_per_s, with_writer_per_s, writer_sets_per_s, bytes_item;
    double get_runs[MAX_RUNS];
    double skewed_get_ns, skewed_runs[MAX_RUNS];
    char note[128];
};

/* Resident memory of a process, KiB, or -1. */
static long
rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* -- shmcache -- */

struct sc_conn {
    shmc_t *h;
    const void *kp[MSET_BATCH];
    const void *vp[MSET_BATCH];
    void *bp[MSET_BATCH];
    size_t kl[MSET_BATCH], vl[MSET_BATCH], bs[MSET_BATCH];
    int rcs[MSET_BATCH];
};

static void *
sc_open(struct contender *c, int writer)
{
    struct sc_conn *s = calloc(1, sizeof(*s));
    int rc;

    (void)writer;
    if (s == NULL)
        die("out of memory");
    rc = shmc_open(c->arg, c->arg2, 0, &s->h);
    if (rc != 0)
        die("%s: shmc_open %s: %s", c->name, c->arg, shmc_strerror(rc));
    return s;
}

static void
sc_close(void *h)
{
    struct sc_conn *s = h;

    shmc_close(s->h);
    free(s);
}

static int
sc_get(void *h, const char *key, void *buf, size_t size, size_t *len)
{
    return shmc_get(((struct sc_conn *)h)->h, key, KLEN, buf, size, len);
}

static int
sc_mget(void *h, size_t n, const char *k, unsigned char *bufs, size_t bufsize,
        size_t *lens)
{
    struct sc_conn *s = h;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        s->kp[i] = k + i * KLEN;
        s->kl[i] = KLEN;
        s->bp[i] = bufs + i * bufsize;
        s->bs[i] = bufsize;
    }
    rc = shmc_mget(s->h, n, s->kp, s->kl, s->bp, s->bs, lens, s->rcs);
    for (i = 0; rc == 0 && i < n; i++)
        rc = s->rcs[i];
    return rc;
}

static int
sc_put(void *h, size_t n, const char *k, const unsigned char *vals)
{
    struct sc_conn *s = h;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        s->kp[i] = k + i * KLEN;
        s->kl[i] = KLEN;
        s->vp[i] = vals + i * vlen;
        s->vl[i] = vlen;
    }
    rc = shmc_mset(s->h, n, s->kp, s->kl, s->vp, s->vl, 0, s->rcs);
    for (i = 0; rc == 0 && i < n; i++)
        rc = s->rcs[i];
    return rc;
}

static int
sc_set1(void *h, const char *key, const unsigned char *val)
{
    return shmc_set(((struct sc_conn *)h)->h, key, KLEN, val, vlen, 0);
}

/* Entry bytes from the table, plus the index's share at its design
 * load (a 64-byte bucket per 7 x 85% items). */
static double
sc_bytes(struct contender *c, void *h)
{
    struct shmc_info in;
    char *js = NULL;
    json_t *doc;

    if (shmc_info(((struct sc_conn *)h)->h, &in, sizeof(in)) != 0 ||
        in.entries == 0)
        return -1;
    /* What huge_pages achieved, for the note. */
    if (shmc_stats_json(((struct sc_conn *)h)->h, SHMC_STATS_TABLE, &js) == 0 &&
        (doc = json_loads(js, 0, NULL)) != NULL) {
        const char *hp = json_string_value(json_object_get(doc, "huge_pages"));
        snprintf(c->note, sizeof(c->note), "huge_pages %s",
                 hp != NULL ? hp : "?");
        json_decref(doc);
    }
    free(js);
    return (double)in.live_bytes / (double)in.entries + 64.0 / (7 * 0.85);
}

/* -- floor (ref.c) -- */

static struct ref floor_ref;
static char floor_path[600];

static void *
floor_open(struct contender *c, int writer)
{
    struct ref *r = malloc(sizeof(*r));

    (void)c;
    if (r == NULL)
        die("out of memory");
    *r = floor_ref;
    r->base = NULL;
    if (ref_map(r, writer) != 0)
        die("floor: mmap: %s", strerror(errno));
    return r;
}

static void
floor_close(void *h)
{
    ref_unmap(h);
    free(h);
}

static int
floor_get(void *h, const char *key, void *buf, size_t size, size_t *len)
{
    (void)size;
    *len = vlen;
    return ref_get(h, key, buf);
}

static int
floor_put(void *h, size_t n, const char *k, const unsigned char *vals)
{
    size_t i;

    for (i = 0; i < n; i++)
        ref_put(h, k + i * KLEN, vals + i * vlen);
    return 0;
}

static double
floor_bytes(struct contender *c, void *h)
{
    (void)c;
    return (double)((struct ref *)h)->size / (double)nkeys;
}

/* -- memcached: the text protocol over its Unix socket -- */

struct mc_conn {
    int fd;
    char *rbuf, *wbuf;
    size_t rpos, rlen, rcap, wcap;
};

static int
unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect %s: %s", path, strerror(errno));
    return fd;
}

static void *
mc_open(struct contender *c, int writer)
{
    struct mc_conn *m = calloc(1, sizeof(*m));

    (void)writer;
    if (m == NULL)
        die("out of memory");
    m->fd = unix_connect(c->arg);
    m->rcap = (1u << 20) + 2 * (size_t)vlen;
    m->wcap = (size_t)PIPE_BATCH * (vlen + 64) + MGET_BATCH * (KLEN + 1) + 64;
    m->rbuf = malloc(m->rcap);
    m->wbuf = malloc(m->wcap);
    if (m->rbuf == NULL || m->wbuf == NULL)
        die("out of memory");
    return m;
}

static void
mc_close(void *h)
{
    struct mc_conn *m = h;

    close(m->fd);
    free(m->rbuf);
    free(m->wbuf);
    free(m);
}

static void
mc_send(struct mc_conn *m, size_t n)
{
    size_t off = 0;
    ssize_t w;

    while (off < n) {
        w = write(m->fd, m->wbuf + off, n - off);
        if (w <= 0)
            die("memcached: write: %s", strerror(errno));
        off += (size_t)w;
    }
}

/* Read more into the buffer, keeping what was not consumed. */
static void
mc_fill(struct mc_conn *m)
{
    ssize_t r;

    if (m->rpos > 0) {
        memmove(m->rbuf, m->rbuf + m->rpos, m->rlen - m->rpos);
        m->rlen -= m->rpos;
        m->rpos = 0;
    }
    r = read(m->fd, m->rbuf + m->rlen, m->rcap - m->rlen);
    if (r <= 0)
        die("memcached: read: %s", r == 0 ? "closed" : strerror(errno));
    m->rlen += (size_t)r;
}

/* The next line, without its CRLF (valid until the next read). */
static char *
mc_line(struct mc_conn *m)
{
    char *p, *e;

    for (;;) {
        p = m->rbuf + m->rpos;
        e = memchr(p, '\n', m->rlen - m->rpos);
        if (e != NULL) {
            m->rpos = (size_t)(e - m->rbuf) + 1;
            if (e > p && e[-1] == '\r')
                e--;
            *e = '\0';
            return p;
        }
        mc_fill(m);
    }
}

/* The n bytes of a value and their CRLF, into dst. */
static void
mc_data(struct mc_conn *m, void *dst, size_t n)
{
    while (m->rlen - m->rpos < n + 2)
        mc_fill(m);
    memcpy(dst, m->rbuf + m->rpos, n);
    m->rpos += n + 2;
}

static int
mc_mget(void *h, size_t n, const char *k, unsigned char *bufs, size_t bufsize,
        size_t *lens)
{
    struct mc_conn *m = h;
    size_t i, len, w = 0;
    unsigned long bytes;
    unsigned flags;
    char *l, key[64];

    memcpy(m->wbuf, "get", 3);
    w = 3;
    for (i = 0; i < n; i++) {
        m->wbuf[w++] = ' ';
        memcpy(m->wbuf + w, k + i * KLEN, KLEN);
        w += KLEN;
    }
    memcpy(m->wbuf + w, "\r\n", 2);
    mc_send(m, w + 2);
    /* Hits come back in the order asked. */
    for (i = 0; i < n; i++)
        lens[i] = (size_t)-1;
    i = 0;
    for (;;) {
        l = mc_line(m);
        if (strcmp(l, "END") == 0)
            break;
        if (sscanf(l, "VALUE %63s %u %lu", key, &flags, &bytes) != 3)
            die("memcached: unexpected reply \"%.40s\"", l);
        while (i < n && memcmp(k + i * KLEN, key, KLEN) != 0)
            i++;
        len = bytes;
        if (i == n || len > bufsize)
            die("memcached: reply for an unexpected key");
        mc_data(m, bufs + i * bufsize, len);
        lens[i++] = len;
    }
    for (i = 0; i < n; i++)
        if (lens[i] == (size_t)-1)
            return -1;
    return 0;
}

static int
mc_get(void *h, const char *key, void *buf, size_t size, size_t *len)
{
    return mc_mget(h, 1, key, buf, size, len);
}

static int
mc_put(void *h, size_t n, const char *k, const unsigned char *vals)
{
    struct mc_conn *m = h;
    size_t i, w = 0;

    for (i = 0; i < n; i++) {
        memcpy(m->wbuf + w, "set ", 4);
        memcpy(m->wbuf + w + 4, k + i * KLEN, KLEN);
        w += 4 + KLEN;
        w += (size_t)sprintf(m->wbuf + w, " 0 0 %u\r\n", vlen);
        memcpy(m->wbuf + w, vals + i * vlen, vlen);
        w += vlen;
        memcpy(m->wbuf + w, "\r\n", 2);
        w += 2;
    }
    mc_send(m, w);
    for (i = 0; i < n; i++)
        if (strcmp(mc_line(m), "STORED") != 0)
            return -1;
    return 0;
}

static int
mc_set1(void *h, const char *key, const unsigned char *val)
{
    return mc_put(h, 1, key, val);
}

/* RSS grown over the load, per item. */
static double
rss_bytes(struct contender *c, void *h)
{
    long after;

    (void)h;
    if (c->server_pid <= 0 || c->rss_before < 0 ||
        (after = rss_kib(c->server_pid)) < 0)
        return -1;
    return (double)(after - c->rss_before) * 1024.0 / (double)nkeys;
}

/* -- Redis through hiredis -- */

#ifdef HAVE_HIREDIS
static void *
rd_open(struct contender *c, int writer)
{
    redisContext *r = redisConnectUnix(c->arg);

    (void)writer;
    if (r == NULL || r->err)
        die("redis: connect %s: %s", c->arg, r ? r->errstr : "out of memory");
    return r;
}

static void
rd_close(void *h)
{
    redisFree(h);
}

static int
rd_get(void *h, const char *key, void *buf, size_t size, size_t *len)
{
    redisReply *rep = redisCommand(h, "GET %b", key, (size_t)KLEN);
    int rc = -1;

    if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
        (size_t)rep->len <= size) {
        memcpy(buf, rep->str, (size_t)rep->len);
        *len = (size_t)rep->len;
        rc = 0;
    }
    freeReplyObject(rep);
    return rc;
}

static int
rd_mget(void *h, size_t n, const char *k, unsigned char *bufs, size_t bufsize,
        size_t *lens)
{
    const char *argv[MGET_BATCH + 1];
    size_t argl[MGET_BATCH + 1], i;
    redisReply *rep, *e;
    int rc = 0;

    argv[0] = "MGET";
    argl[0] = 4;
    for (i = 0; i < n; i++) {
        argv[i + 1] = k + i * KLEN;
        argl[i + 1] = KLEN;
    }
    rep = redisCommandArgv(h, (int)n + 1, argv, argl);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != n)
        rc = -1;
    for (i = 0; rc == 0 && i < n; i++) {
        e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING || (size_t)e->len > bufsize) {
            rc = -1;
            break;
        }
        memcpy(bufs + i * bufsize, e->str, (size_t)e->len);
        lens[i] = (size_t)e->len;
    }
    freeReplyObject(rep);
    return rc;
}

static int
rd_put(void *h, size_t n, const char *k, const unsigned char *vals)
{
    redisReply *rep;
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++)
        redisAppendCommand(h, "SET %b %b", k + i * KLEN, (size_t)KLEN,
                           vals + i * vlen, (size_t)vlen);
    for (i = 0; i < n; i++) {
        if (redisGetReply(h, (void **)&rep) != REDIS_OK)
            return -1;
        if (rep->type != REDIS_REPLY_STATUS)
            rc = -1;
        freeReplyObject(rep);
    }
    return rc;
}

static int
rd_set1(void *h, const char *key, const unsigned char *val)
{
    return rd_put(h, 1, key, val);
}
#endif /* HAVE_HIREDIS */

/* -- LMDB, in process -- */

#ifdef HAVE_LMDB
struct lm_conn {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* reset between gets, renewed for each */
};

static void *
lm_open(struct contender *c, int writer)
{
    struct lm_conn *l = calloc(1, sizeof(*l));
    MDB_txn *txn;
    int rc;

    (void)writer;
    if (l == NULL)
        die("out of memory");
    if ((rc = mdb_env_create(&l->env)) != 0 ||
        (rc = mdb_env_set_mapsize(
             l->env, (size_t)nkeys * (vlen + KLEN + 64) * 3 + (64u << 20))) !=
            0 ||
        (rc = mdb_env_open(l->env, c->arg,
                           MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD,
                           0600)) != 0 ||
        (rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0 ||
        (rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn)) != 0)
        die("lmdb: open %s: %s", c->arg, mdb_strerror(rc));
    mdb_txn_reset(l->rtxn);
    return l;
}

static void
lm_close(void *h)
{
    struct lm_conn *l = h;

    mdb_txn_abort(l->rtxn);
    mdb_env_close(l->env);
    free(l);
}

static int
lm_get(void *h, const char *key, void *buf, size_t size, size_t *len)
{
    struct lm_conn *l = h;
    MDB_val k = {KLEN, (void *)(uintptr_t)key}, v;
    int rc;

    if (mdb_txn_renew(l->rtxn) != 0)
        return -1;
    rc = mdb_get(l->rtxn, l->dbi, &k, &v);
    if (rc == 0 && v.mv_size <= size) {
        memcpy(buf, v.mv_data, v.mv_size);
        *len = v.mv_size;
    } else {
        rc = -1;
    }
    mdb_txn_reset(l->rtxn);
    return rc;
}

static int
lm_put(void *h, size_t n, const char *k, const unsigned char *vals)
{
    struct lm_conn *l = h;
    MDB_txn *txn;
    MDB_val key, val;
    size_t i;

    if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        key.mv_size = KLEN;
        key.mv_data = (void *)(uintptr_t)(k + i * KLEN);
        val.mv_size = vlen;
        val.mv_data = (void *)(uintptr_t)(vals + i * vlen);
        if (mdb_put(txn, l->dbi, &key, &val, 0) != 0) {
            mdb_txn_abort(txn);
            return -1;
        }
    }
    return mdb_txn_commit(txn) == 0 ? 0 : -1;
}

static double
lm_bytes(struct contender *c, void *h)
{
    struct lm_conn *l = h;
    MDB_envinfo ei;
    MDB_stat st;

    (void)c;
    if (mdb_env_info(l->env, &ei) != 0 || mdb_env_stat(l->env, &st) != 0)
        return -1;
    return (double)(ei.me_last_pgno + 1) * st.ms_psize / (double)nkeys;
}
#endif /* HAVE_LMDB */

static struct contender cs[MAX_CONTENDERS];
static int ncs;

/* ---- measurements ---- */

/* In a child just forked: die with the parent, so that nothing (a writer
 * looping until told to stop) outlives a run cut short. */
static void
child_init(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent_pid)
        _exit(1);
}

/* Children: wait for the parent's go, having said ready. */
static void
barrier(void)
{
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST))
        sched_yield();
}

/* Parent: open the barrier once n children wait at it. */
static void
release(int n)
{
    while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < n)
        sched_yield();
    __atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
}

static void
reset_sync(void)
{
    sh->ready = sh->go = sh->stop = 0;
}

/* Wait for a child; die if it failed. */
static void
reap(pid_t pid, const char *what)
{
    int st;

    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s: a child process failed", what);
}

/* Gets to time per pass: every key, or rt_ops for a round trip each. */
static uint64_t
pass_ops(const struct contender *c)
{
    return c->remote && rt_ops < nkeys ? rt_ops : nkeys;
}

/* One pass of gets in a lookup order (okeys or zkeys, with its key
 * indexes) from entry `from` on, each value verified.  Returns seconds. */
static double
get_pass(struct contender *c, void *h, const char *order, const uint32_t *idx,
         uint64_t from, uint64_t ops, unsigned char *buf)
{
    uint64_t i, j;
    size_t len;
    double t0 = ref_now_s();

    for (i = 0; i < ops; i++) {
        j = (from + i) % nkeys;
        if (c->get(h, order + j * KLEN, buf, vlen + 64, &len) != 0 ||
            !value_ok(buf, len, vlen, idx[j], NULL))
            die("%s: get of key %u failed or wrong", c->name, idx[j]);
    }
    return ref_now_s() - t0;
}

/* Load every key (version 0) in the contender's batches; the batched
 * sets/s.  Then one set per round trip on rt_ops keys, where there is
 * one. */
static void
measure_load(struct contender *c)
{
    size_t batch = c->put_batch, n;
    unsigned char *vals = malloc(batch * vlen);
    uint64_t i, j, ops;
    void *h = c->open(c, 1);
    double t0;

    if (vals == NULL)
        die("out of memory");
    if (c->server_pid > 0)
        c->rss_before = rss_kib(c->server_pid);
    t0 = ref_now_s();
    for (i = 0; i < nkeys; i += n) {
        n = nkeys - i < batch ? (size_t)(nkeys - i) : batch;
        for (j = 0; j < n; j++)
            value_make(vals + j * vlen, vlen, i + j, 0);
        if (c->put(h, n, keys + i * KLEN, vals) != 0)
            die("%s: load failed at key %llu", c->name, (unsigned long long)i);
    }
    c->load_per_s = (double)nkeys / (ref_now_s() - t0);
    c->bytes_item = c->bytes_per_item ? c->bytes_per_item(c, h) : -1;
    if (c->set1 != NULL) {
        ops = rt_ops < nkeys ? rt_ops : nkeys;
        t0 = ref_now_s();
        for (i = 0; i < ops; i++) {
            value_make(vals, vlen, i, 0);
            if (c->set1(h, keys + i * KLEN, vals) != 0)
                die("%s: set failed", c->name);
        }
        c->set_rt_per_s = (double)ops / (ref_now_s() - t0);
    }
    c->close(h);
    free(vals);
}

/*
 * Random gets, skewed gets, then multi-gets, from one reader process:
 * every contender alternated run by run, so drift on a shared machine
 * hits all alike.
 */
static void
measure_gets(void)
{
    pid_t pid;
    int r, k;

    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        child_init();
        unsigned char *buf = malloc(vlen + 64);
        unsigned char *bufs = malloc((size_t)MGET_BATCH * (vlen + 64));
        size_t lens[MGET_BATCH], i;
        void *h[MAX_CONTENDERS];
        uint64_t ops, b, j;
        double t0;

        if (buf == NULL || bufs == NULL)
            die("out of memory");
        for (k = 0; k < ncs; k++) {
            h[k] = cs[k].open(&cs[k], 0);
            /* Untimed: this process's page faults are not lookups. */
            if (!cs[k].remote)
                get_pass(&cs[k], h[k], okeys, oidx, 0, nkeys, buf);
        }
        for (r = 0; r < runs; r++)
            for (k = 0; k < ncs; k++) {
                ops = pass_ops(&cs[k]);
                sh->v[k][r] = get_pass(&cs[k], h[k], okeys, oidx,
                                       (uint64_t)r * ops, ops, buf) *
                              1e9 / (double)ops;
            }
        /* The same passes over the skewed order. */
        for (r = 0; r < runs; r++)
            for (k = 0; k < ncs; k++) {
                ops = pass_ops(&cs[k]);
                sh->z[k][r] = get_pass(&cs[k], h[k], zkeys, zidx,
                                       (uint64_t)r * ops, ops, buf) *
                              1e9 / (double)ops;
            }
        for (r = 0; r < runs; r++)
            for (k = 0; k < ncs; k++) {
                if (cs[k].mget == NULL)
                    continue;
                ops = cs[k].remote && remote_mget_keys < nkeys
                          ? remote_mget_keys
                          : nkeys;
                ops -= ops % MGET_BATCH;
                t0 = ref_now_s();
                for (b = 0; b < ops; b += MGET_BATCH) {
                    j = (b + (uint64_t)r * ops) % (nkeys - MGET_BATCH + 1);
                    if (cs[k].mget(h[k], MGET_BATCH, okeys + j * KLEN, bufs,
                                   vlen + 64, lens) != 0)
                        die("%s: mget failed", cs[k].name);
                    for (i = 0; i < MGET_BATCH; i++)
                        if (!value_ok(bufs + i * (vlen + 64), lens[i], vlen,
                                      oidx[j + i], NULL))
                            die("%s: mget: wrong value", cs[k].name);
                }
                sh->w[k][r] = (ref_now_s() - t0) * 1e9 / (double)ops;
            }
        for (k = 0; k < ncs; k++)
            cs[k].close(h[k]);
        _exit(0);
    }
    reap(pid, "gets");
    for (k = 0; k < ncs; k++) {
        memcpy(cs[k].get_runs, sh->v[k], sizeof(double) * (size_t)runs);
        cs[k].get_ns = ref_median(sh->v[k], runs);
        memcpy(cs[k].skewed_runs, sh->z[k], sizeof(double) * (size_t)runs);
        cs[k].skewed_get_ns = ref_median(sh->z[k], runs);
        cs[k].mget_ns_per_key = cs[k].mget ? ref_median(sh->w[k], runs) : -1;
    }
}

/* A reader child: a pass from okeys[from], its seconds into slot. */
static pid_t
spawn_reader(struct contender *c, uint64_t from, uint64_t ops, double *slot)
{
    pid_t pid = fork();

    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        child_init();
        unsigned char *buf = malloc(vlen + 64);
        void *h = c->open(c, 0);

        if (buf == NULL)
            die("out of memory");
        if (!c->remote) /* faults are not lookups */
            get_pass(c, h, okeys, oidx, 0, nkeys, buf);
        barrier();
        *slot = get_pass(c, h, okeys, oidx, from, ops, buf);
        c->close(h);
        _exit(0);
    }
    return pid;
}

/* Two reader processes at once: gets/s together. */
static void
measure_two_readers(struct contender *c, int k)
{
    uint64_t ops = pass_ops(c);
    pid_t a, b;
    int r;

    for (r = 0; r < runs; r++) {
        reset_sync();
        a = spawn_reader(c, 0, ops, &sh->v[k][r]);
        b = spawn_reader(c, nkeys / 2, ops, &sh->w[k][r]);
        release(2);
        reap(a, c->name);
        reap(b, c->name);
        sh->v[k][r] = 2.0 * (double)ops /
                      (sh->v[k][r] > sh->w[k][r] ? sh->v[k][r] : sh->w[k][r]);
    }
    c->two_readers = ref_median(sh->v[k], runs);
}

/* One reader alone, then with a writer updating random keys at full
 * speed (new versions, in the load's batches) until the reader is done. */
static void
measure_with_writer(struct contender *c, int k)
{
    double alone[MAX_RUNS], with[MAX_RUNS], wrate[MAX_RUNS];
    uint64_t ops = pass_ops(c);
    pid_t rd, wr;
    int r;

    for (r = 0; r < runs; r++) {
        reset_sync();
        rd = spawn_reader(c, (uint64_t)r * ops, ops, &sh->v[k][r]);
        release(1);
        reap(rd, c->name);
        alone[r] = (double)ops / sh->v[k][r];

        reset_sync();
        wr = fork();
        if (wr < 0)
            die("fork: %s", strerror(errno));
        if (wr == 0) {
            child_init();
            size_t batch = c->put_batch > 1000 ? 1000 : c->put_batch, j;
            unsigned char *vals = malloc(batch * vlen);
            char *wk = malloc(batch * KLEN);
            uint64_t seed = 0x1234567u + (uint64_t)r, ver = 1, sets = 0, i;
            void *h = c->open(c, 1);
            double t0;

            if (vals == NULL || wk == NULL)
                die("out of memory");
            barrier();
            t0 = ref_now_s();
            while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
                for (j = 0; j < batch; j++) {
                    i = ref_rand(&seed) % nkeys;
                    memcpy(wk + j * KLEN, keys + i * KLEN, KLEN);
                    value_make(vals + j * vlen, vlen, i, ver);
                }
                if (c->put(h, batch, wk, vals) != 0)
                    die("%s: writer: put failed", c->name);
                sets += batch;
                ver++;
            }
            sh->extra = (double)sets / (ref_now_s() - t0);
            c->close(h);
            _exit(0);
        }
        rd = spawn_reader(c, (uint64_t)r * ops, ops, &sh->v[k][r]);
        release(2);
        reap(rd, c->name);
        __atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
        reap(wr, c->name);
        with[r] = (double)ops / sh->v[k][r];
        wrate[r] = sh->extra;
    }
    c->alone_per_s = ref_median(alone, runs);
    c->with_writer_per_s = ref_median(with, runs);
    c->writer_sets_per_s = ref_median(wrate, runs);
}

/* ---- output ---- */

static double
num_or(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    return json_is_number(v) ? json_number_value(v) : -1;
}

/* A JSON number, or null for "not measured". */
static json_t *
jnum(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

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
        if (fgets(la, sizeof(la), f) != NULL)
            la[strcspn(la, "\n")] = '\0';
        fclose(f);
    }
    uname(&u);
    return json_pack("{s:s, s:I, s:s, s:s}", "cpu_model", model, "cores",
                     (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "kernel",
                     u.release, "load_average_at_start", la);
}

/* Append this run's results to the JSON file at path (made if absent). */
static void
write_json(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL), *res, *o;
    int k;

    if (doc == NULL) {
        doc = json_pack(
            "{s:o, s:{s:I, s:i, s:I, s:I, s:i, s:b, s:f, s:[]}, s:[], s:o}",
            "machine", machine_json(), "workload", "keys", (json_int_t)nkeys,
            "key_bytes", KLEN, "round_trip_ops", (json_int_t)rt_ops,
            "remote_mget_keys", (json_int_t)remote_mget_keys, "runs", runs,
            "quick", quick, "skewed_alpha", ZIPF_ALPHA, "value_sizes",
            "results", "notes",
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "in_process",
                      "floor, shmcache and shmcache_huge gets, multi-gets "
                      "and reader figures are lookups in a mapped table "
                      "(the table layer, no daemon); lmdb likewise",
                      "through_daemon",
                      "shmcache load_per_s (shmc_mset) and "
                      "set_round_trip_per_s go through shmcached's socket",
                      "round_trip",
                      "memcached and redis: every figure is a round trip "
                      "over a Unix socket; gets on round_trip_ops keys",
                      "bytes_per_item",
                      "shmcache: entry bytes from the table plus the "
                      "index's share at its design load; floor: its file; "
                      "lmdb: its pages; memcached, redis: RSS growth over "
                      "the load",
                      "skewed_gets",
                      "keys drawn from Zipf(skewed_alpha) over the keys, "
                      "popularity unrelated to key order; one sequence "
                      "drawn before timing, the same for every contender; "
                      "passes as for get_ns"));
        if (doc == NULL)
            die("json: out of memory");
    }
    json_array_append_new(
        json_object_get(json_object_get(doc, "workload"), "value_sizes"),
        json_integer(vlen));
    res = json_object_get(doc, "results");
    for (k = 0; k < ncs; k++) {
        struct contender *c = &cs[k];
        json_t *gr = json_array(), *zr = json_array();
        int r;

        for (r = 0; r < runs; r++) {
            json_array_append_new(gr, json_real(c->get_runs[r]));
            json_array_append_new(zr, json_real(c->skewed_runs[r]));
        }
        o = json_pack(
            "{s:s, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:s, "
            "s:o, s:o, s:o, s:o, s:o, s:s, s:s}",
            "contender", c->name, "value_size", (json_int_t)vlen, "load_per_s",
            jnum(c->load_per_s), "load_method", c->load_method,
            "set_round_trip_per_s", jnum(c->set_rt_per_s), "get_ns",
            jnum(c->get_ns), "get_ns_runs", gr, "skewed_get_ns",
            jnum(c->skewed_get_ns), "skewed_get_ns_runs", zr, "get_path",
            c->remote ? "round trip" : "in process", "mget_ns_per_key",
            jnum(c->mget_ns_per_key), "mget_method",
            c->mget ? c->mget_method : "", "two_readers_gets_per_s",
            jnum(c->two_readers), "gets_alone_per_s", jnum(c->alone_per_s),
            "gets_with_writer_per_s", jnum(c->with_writer_per_s),
            "writer_sets_per_s", jnum(c->writer_sets_per_s), "bytes_per_item",
            jnum(c->bytes_item), "bytes_method", c->bytes_method, "note",
            c->note);
        if (o == NULL)
            die("json: out of memory");
        json_array_append_new(res, o);
    }
    if (json_dump_file(doc, path, JSON_INDENT(1)) != 0)
        die("cannot write %s", path);
    json_decref(doc);
}

static const char *
fmt_num(double v, char *buf, size_t size, int decimals)
{
    char tmp[64], *p;
    size_t n, i, j;

    if (v < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
    /* Thousands separators in the integer part. */
    p = strchr(tmp, '.');
    n = p ? (size_t)(p - tmp) : strlen(tmp);
    for (i = 0, j = 0; i < strlen(tmp) && j + 2 < size; i++) {
        if (i > 0 && i < n && (n - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = tmp[i];
    }
    buf[j] = '\0';
    return buf;
}

/* The results in path as Markdown, one table per value size, then how
 * shmcache compares with the targets of the issue that asked for them. */
static int
report(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL), *res, *o, *m, *sizes;
    char a[32], b[32], cc[32], zz[32], d[32], e[32], f[32], g[32], hh[32];
    double alpha;
    size_t i, s;

    if (doc == NULL) {
        fprintf(stderr, "bench_vs: cannot read %s\n", path);
        return 1;
    }
    m = json_object_get(doc, "machine");
    res = json_object_get(doc, "results");
    sizes = json_object_get(json_object_get(doc, "workload"), "value_sizes");
    printf(
        "%s keys of 16 bytes, every value verified; medians of %lld "
        "runs%s.  %s, %lld cores, Linux %s (load average at start: "
        "%s)\n",
        fmt_num((double)json_integer_value(
                    json_object_get(json_object_get(doc, "workload"), "keys")),
                a, sizeof(a), 0),
        (long long)json_integer_value(
            json_object_get(json_object_get(doc, "workload"), "runs")),
        json_is_true(json_object_get(json_object_get(doc, "workload"), "quick"))
            ? " (QUICK: a smoke test, not a measurement)"
            : "",
        json_string_value(json_object_get(m, "cpu_model")),
        (long long)json_integer_value(json_object_get(m, "cores")),
        json_string_value(json_object_get(m, "kernel")),
        json_string_value(json_object_get(m, "load_average_at_start")));
    for (s = 0; s < json_array_size(sizes); s++) {
        json_int_t v = json_integer_value(json_array_get(sizes, s));
        double floor_ns = -1, shm = -1, sc_mget = -1, red_load = -1,
               shm_load = -1, lm = -1, rt = -1;
        printf("\n%lld-byte values:\n\n"
               "| | load, sets/s | one set per round trip, /s | get, ns | "
               "skewed get, ns | multi-get, ns/key | 2 readers, gets/s | "
               "gets/s with a writer (alone) | bytes/item |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
               (long long)v);
        for (i = 0; i < json_array_size(res); i++) {
            o = json_array_get(res, i);
            if (json_integer_value(json_object_get(o, "value_size")) != v)
                continue;
            const char *name =
                json_string_value(json_object_get(o, "contender"));
            printf(
                "| %s | %s (%s) | %s | %s | %s | %s | %s | %s (%s) | %s |\n",
                name, fmt_num(num_or(o, "load_per_s"), a, sizeof(a), 0),
                json_string_value(json_object_get(o, "load_method")),
                fmt_num(num_or(o, "set_round_trip_per_s"), b, sizeof(b), 0),
                fmt_num(num_or(o, "get_ns"), cc, sizeof(cc), 0),
                fmt_num(num_or(o, "skewed_get_ns"), zz, sizeof(zz), 0),
                fmt_num(num_or(o, "mget_ns_per_key"), d, sizeof(d), 0),
                fmt_num(num_or(o, "two_readers_gets_per_s"), e, sizeof(e), 0),
                fmt_num(num_or(o, "gets_with_writer_per_s"), f, sizeof(f), 0),
                fmt_num(num_or(o, "gets_alone_per_s"), g, sizeof(g), 0),
                fmt_num(num_or(o, "bytes_per_item"), hh, sizeof(hh), 1));
            if (strcmp(name, "floor") == 0)
                floor_ns = num_or(o, "get_ns");
            if (strcmp(name, "shmcache") == 0) {
                shm = num_or(o, "get_ns");
                sc_mget = num_or(o, "mget_ns_per_key");
                shm_load = num_or(o, "load_per_s");
            }
            if (strcmp(name, "redis") == 0) {
                red_load = num_or(o, "load_per_s");
                rt = num_or(o, "get_ns");
            }
            if (strcmp(name, "lmdb") == 0)
                lm = num_or(o, "get_ns");
        }
        if (shm > 0 && floor_ns > 0)
            printf("\nshmc_get / floor: %.2f (target <= 1.2)", shm / floor_ns);
        if (shm > 0 && sc_mget > 0)
            printf("; shmc_mget per key / shmc_get: %.2f (target <= 0.4)",
                   sc_mget / shm);
        if (shm_load > 0 && red_load > 0)
            printf("; shmc_mset / Redis pipelined: %.1fx (target >= 3)",
                   shm_load / red_load);
        if (shm > 0 && lm > 0)
            printf("; vs LMDB mdb_get: %.1fx faster (target >= 4)", lm / shm);
        if (shm > 0 && rt > 0)
            printf("; vs one Redis round trip: %.0fx (target >= 50)", rt / shm);
        printf("\n");
    }
    alpha = num_or(json_object_get(doc, "workload"), "skewed_alpha");
    if (alpha > 0)
        printf("\nSkewed get: keys drawn from Zipf(%.2f), one sequence for "
               "every contender.\n",
               alpha);
    printf("\nIn process (a lookup in a mapped table, no daemon): the "
           "get, multi-get and reader columns of floor, shmcache, "
           "shmcache_huge and lmdb.  Through shmcached: shmcache's load "
           "and round-trip sets.  memcached and redis: round trips over "
           "Unix sockets throughout.\n");
    json_decref(doc);
    return 0;
}

/* ---- main ---- */

/* The files this run made, removed however it ends (paths made before,
 * so that the signal handler only calls unlink and rmdir). */
static char lmdb_dir[600], lmdb_data[700], lmdb_lock[700];

static void
cleanup(void)
{
    if (getpid() != parent_pid)
        return;
    if (floor_path[0] != '\0')
        unlink(floor_path);
    if (lmdb_dir[0] != '\0') {
        unlink(lmdb_data);
        unlink(lmdb_lock);
        rmdir(lmdb_dir);
    }
}

static void
on_signal(int sig)
{
    cleanup();
    _exit(128 + sig);
}

static struct contender *
add(const char *name)
{
    struct contender *c;

    if (ncs == MAX_CONTENDERS)
        die("too many contenders");
    c = &cs[ncs++];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->rss_before = -1;
    c->load_per_s = c->set_rt_per_s = c->get_ns = c->mget_ns_per_key = -1;
    c->skewed_get_ns = -1;
    c->two_readers = c->alone_per_s = c->with_writer_per_s = -1;
    c->writer_sets_per_s = c->bytes_item = -1;
    c->bytes_method = "";
    c->mget_method = "";
    return c;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: bench_vs [--keys N] [--value-size V] [--runs R] "
            "[--rt-ops N]\n"
            "                [--remote-mget-keys N] [--dir DIR] [--quick]\n"
            "                [--shmcache SOCKET] [--table NAME] "
            "[--huge-table NAME]\n"
            "                [--memcached SOCKET] [--memcached-pid PID]\n"
            "                [--redis SOCKET] [--redis-pid PID] [--lmdb]\n"
            "                [--json FILE]\n"
            "       bench_vs --report FILE\n");
    exit(64);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'n'},
        {"value-size", required_argument, NULL, 'v'},
        {"runs", required_argument, NULL, 'r'},
        {"rt-ops", required_argument, NULL, 'o'},
        {"remote-mget-keys", required_argument, NULL, 'g'},
        {"dir", required_argument, NULL, 'd'},
        {"quick", no_argument, NULL, 'q'},
        {"shmcache", required_argument, NULL, 's'},
        {"table", required_argument, NULL, 't'},
        {"huge-table", required_argument, NULL, 'H'},
        {"memcached", required_argument, NULL, 'm'},
        {"memcached-pid", required_argument, NULL, 'M'},
        {"redis", required_argument, NULL, 'R'},
        {"redis-pid", required_argument, NULL, 'P'},
        {"lmdb", no_argument, NULL, 'l'},
        {"json", required_argument, NULL, 'j'},
        {"report", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = "/dev/shm", *shm_sock = NULL, *table = "bench",
               *huge_table = NULL, *mc_sock = NULL, *rd_sock = NULL,
               *json_path = NULL;
    pid_t mc_pid = 0, rd_pid = 0;
    int opt, use_lmdb = 0, k;
    uint64_t i, j, seed = 42;
    struct contender *c;

    parent_pid = getpid();
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            nkeys = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            vlen = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'o':
            rt_ops = strtoull(optarg, NULL, 10);
            break;
        case 'g':
            remote_mget_keys = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'q':
            quick = 1;
            nkeys = 100000;
            rt_ops = 2000;
            remote_mget_keys = 20000;
            break;
        case 's':
            shm_sock = optarg;
            break;
        case 't':
            table = optarg;
            break;
        case 'H':
            huge_table = optarg;
            break;
        case 'm':
            mc_sock = optarg;
            break;
        case 'M':
            mc_pid = (pid_t)atoi(optarg);
            break;
        case 'R':
            rd_sock = optarg;
            break;
        case 'P':
            rd_pid = (pid_t)atoi(optarg);
            break;
        case 'l':
            use_lmdb = 1;
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
    if (nkeys < 2 * MGET_BATCH || nkeys > UINT32_MAX || vlen < VALUE_MIN ||
        vlen > 65536 || runs < 1 || runs > MAX_RUNS || rt_ops < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    /* Keys, one random lookup order, the value filler. */
    keys = malloc(nkeys * KLEN);
    okeys = malloc(nkeys * KLEN);
    oidx = malloc(nkeys * sizeof(*oidx));
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (keys == NULL || okeys == NULL || oidx == NULL || sh == MAP_FAILED)
        die("out of memory");
    for (i = 0; i < nkeys; i++) {
        char k16[32];
        snprintf(k16, sizeof(k16), "key:%012llu", (unsigned long long)i);
        memcpy(keys + i * KLEN, k16, KLEN);
    }
    for (i = 0; i < nkeys; i++)
        oidx[i] = (uint32_t)i;
    for (i = nkeys - 1; i > 0; i--) { /* Fisher-Yates */
        uint32_t t;
        j = ref_rand(&seed) % (i + 1);
        t = oidx[i];
        oidx[i] = oidx[j];
        oidx[j] = t;
    }
    for (i = 0; i < nkeys; i++)
        memcpy(okeys + i * KLEN, keys + (uint64_t)oidx[i] * KLEN, KLEN);
    make_zipf_order(ZIPF_ALPHA, 4242);

    /* The contenders this run has what it takes for. */
    snprintf(floor_path, sizeof(floor_path), "%s/bench-vs-floor.%d", dir,
             (int)getpid());
    if (ref_create(&floor_ref, floor_path, nkeys, vlen) != 0)
        die("floor: create %s: %s", floor_path, strerror(errno));
    ref_unmap(&floor_ref);
    c = add("floor");
    c->open = floor_open, c->close = floor_close, c->get = floor_get;
    c->put = floor_put, c->bytes_per_item = floor_bytes, c->put_batch = 1000;
    c->load_method = "in process, ref_put";
    c->bytes_method = "its file";
    if (shm_sock != NULL) {
        c = add("shmcache");
        c->open = sc_open, c->close = sc_close, c->get = sc_get;
        c->mget = sc_mget, c->put = sc_put, c->set1 = sc_set1;
        c->bytes_per_item = sc_bytes, c->put_batch = MSET_BATCH;
        c->arg = shm_sock, c->arg2 = table;
        c->load_method = "shmc_mset x10000";
        c->mget_method = "shmc_mget x100";
        c->bytes_method = "table";
    }
    if (shm_sock != NULL && huge_table != NULL) {
        c = add("shmcache_huge");
        cs[ncs - 1] = cs[ncs - 2];
        c->name = "shmcache_huge";
        c->arg2 = huge_table;
        c->set1 = NULL;
    }
    if (mc_sock != NULL) {
        c = add("memcached");
        c->open = mc_open, c->close = mc_close, c->get = mc_get;
        c->mget = mc_mget, c->put = mc_put, c->set1 = mc_set1;
        c->bytes_per_item = rss_bytes, c->put_batch = PIPE_BATCH;
        c->remote = 1, c->arg = mc_sock, c->server_pid = mc_pid;
        c->load_method = "pipelined x100";
        c->mget_method = "get k1..k100";
        c->bytes_method = "RSS";
    }
#ifdef HAVE_HIREDIS
    if (rd_sock != NULL) {
        c = add("redis");
        c->open = rd_open, c->close = rd_close, c->get = rd_get;
        c->mget = rd_mget, c->put = rd_put, c->set1 = rd_set1;
        c->bytes_per_item = rss_bytes, c->put_batch = PIPE_BATCH;
        c->remote = 1, c->arg = rd_sock, c->server_pid = rd_pid;
        c->load_method = "pipelined x100";
        c->mget_method = "MGET x100";
        c->bytes_method = "RSS";
    }
#else
    (void)rd_pid;
    if (rd_sock != NULL)
        fprintf(stderr, "bench_vs: built without hiredis: no redis\n");
#endif
#ifdef HAVE_LMDB
    if (use_lmdb) {
        snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/bench-vs-lmdb.%d", dir,
                 (int)getpid());
        snprintf(lmdb_data, sizeof(lmdb_data), "%s/data.mdb", lmdb_dir);
        snprintf(lmdb_lock, sizeof(lmdb_lock), "%s/lock.mdb", lmdb_dir);
        if (mkdir(lmdb_dir, 0700) != 0)
            die("mkdir %s: %s", lmdb_dir, strerror(errno));
        c = add("lmdb");
        c->open = lm_open, c->close = lm_close, c->get = lm_get;
        c->put = lm_put, c->bytes_per_item = lm_bytes;
        c->put_batch = PIPE_BATCH, c->arg = lmdb_dir;
        c->load_method = "100 puts per txn";
        c->bytes_method = "pages";
    }
#else
    if (use_lmdb)
        fprintf(stderr, "bench_vs: built without liblmdb: no lmdb\n");
#endif

    for (k = 0; k < ncs; k++) {
        fprintf(stderr, "bench_vs: %s: load\n", cs[k].name);
        measure_load(&cs[k]);
    }
    fprintf(stderr, "bench_vs: gets and multi-gets\n");
    measure_gets();
    for (k = 0; k < ncs; k++) {
        fprintf(stderr, "bench_vs: %s: 2 readers, a writer\n", cs[k].name);
        measure_two_readers(&cs[k], k);
        measure_with_writer(&cs[k], k);
    }
    if (json_path != NULL)
        write_json(json_path);
    for (k = 0; k < ncs; k++)
        printf("%s value=%u load_per_s=%.0f set_round_trip_per_s=%.0f "
               "get_ns=%.1f skewed_get_ns=%.1f mget_ns_per_key=%.1f "
               "two_readers_gets_per_s=%.0f "
               "gets_alone_per_s=%.0f gets_with_writer_per_s=%.0f "
               "writer_sets_per_s=%.0f bytes_per_item=%.1f %s\n",
               cs[k].name, vlen, cs[k].load_per_s, cs[k].set_rt_per_s,
               cs[k].get_ns, cs[k].skewed_get_ns, cs[k].mget_ns_per_key,
               cs[k].two_readers, cs[k].alone_per_s, cs[k].with_writer_per_s,
               cs[k].writer_sets_per_s, cs[k].bytes_item, cs[k].note);
    ref_close(&floor_ref);
    return 0;
}
