/* SPDX-License-Identifier: MIT */
/*
 * load.c -- shmcachectl load: dump's JSON Lines back into a table.
 *
 * Lines are parsed one by one and stored in batches with shmc_mset(): a
 * few round trips per thousands of entries instead of one each.  The
 * library's call takes one TTL for all its items, so lines are sorted
 * into up to LOAD_BATCHES batches by the TTL they ask for (dump writes
 * entries in the order they were written, so entries that never expire
 * and those written within the same second share a batch); a new TTL
 * with every batch in use sends the one least recently added to.
 *
 * Order: the batches go out in another order than their lines came, which
 * is the same thing only while no key is in two of them.  So a key is
 * never pending twice: a line whose key is pending sends every batch
 * first.  A negative entry is stored on its own (shmc_set_negative()),
 * under the same rule.  Whatever a run of load stores, it stores what the
 * lines said, the last line of a key winning.
 *
 * On a terminal, a progress line (keys, bytes, rate) is redrawn at most
 * five times a second and ends in a summary; otherwise load is silent but
 * for errors.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define LOAD_ITEMS 4096       /* a batch: at most this many items */
#define LOAD_BYTES (1u << 20) /* ... or this many key and value bytes */
#define LOAD_BATCHES 8
#define LOAD_SLOTS (2 * LOAD_BATCHES * LOAD_ITEMS) /* a power of two */
#define PROGRESS_NS 200000000L                     /* between two redraws */

struct batch {
    size_t n, bytes;
    uint32_t ttl;
    unsigned long long last; /* line last added */
    unsigned char *keys[LOAD_ITEMS], *vals[LOAD_ITEMS];
    size_t klens[LOAD_ITEMS], vlens[LOAD_ITEMS];
    unsigned long long lines[LOAD_ITEMS];
    int rcs[LOAD_ITEMS];
};

struct progress {
    int on; /* stderr is a terminal, and no -q */
    unsigned long long keys, bytes, skipped;
    struct timespec start, last;
};

struct loader {
    struct batch b[LOAD_BATCHES];
    /* The pending keys, open addressing: 0 empty, else 1 + the batch's
     * index * LOAD_ITEMS + the item's.  Rebuilt after each send. */
    uint32_t slots[LOAD_SLOTS];
    struct progress p;
};

/* Nanoseconds from a to b. */
static long long
elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000000000LL +
           (b->tv_nsec - a->tv_nsec);
}

/* Redraw the progress line (if it is on, and it is time, or done). */
static void
progress_show(struct progress *p, int done)
{
    struct timespec now;
    double s, mib;

    if (!p->on)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!done && elapsed_ns(&p->last, &now) < PROGRESS_NS)
        return;
    p->last = now;
    s = (double)elapsed_ns(&p->start, &now) / 1e9;
    mib = (double)p->bytes / (1024.0 * 1024.0);
    fprintf(stderr,
            "\rshmcachectl: %s %llu keys, %.1f MiB%s %.1f s, %.0f keys/s, "
            "%.1f MiB/s",
            done ? "loaded" : "load:", p->keys, mib, done ? " in" : ",", s,
            s > 0 ? (double)p->keys / s : 0.0, s > 0 ? mib / s : 0.0);
    if (done && p->skipped > 0)
        fprintf(stderr, "; %llu expired skipped", p->skipped);
    fputs(done ? "\033[K\n" : "\033[K", stderr);
}

/* An error of load's, on its own line even under a progress line. */
static void __attribute__((format(printf, 3, 4)))
load_error(const struct opts *o, const struct progress *p, const char *fmt, ...)
{
    va_list ap;

    if (o->quiet)
        return;
    fputs(p->on ? "\nshmcachectl: load: " : "shmcachectl: load: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Slot of a key in the pending set: where it is, or the empty one where
 * it would go. */
static size_t
pending_slot(const struct loader *l, const unsigned char *k, size_t kl)
{
    uint64_t x = 14695981039346656037ULL; /* FNV-1a */
    const struct batch *b;
    size_t i, at;
    uint32_t v;

    for (i = 0; i < kl; i++)
        x = (x ^ k[i]) * 1099511628211ULL;
    for (i = (size_t)x & (LOAD_SLOTS - 1);; i = (i + 1) & (LOAD_SLOTS - 1)) {
        if ((v = l->slots[i]) == 0)
            return i;
        b = &l->b[(v - 1) / LOAD_ITEMS];
        at = (v - 1) % LOAD_ITEMS;
        if (b->klens[at] == kl && memcmp(b->keys[at], k, kl) == 0)
            return i;
    }
}

/* Put item at of batch bi into the pending set. */
static void
pending_add(struct loader *l, size_t bi, size_t at)
{
    struct batch *b = &l->b[bi];

    l->slots[pending_slot(l, b->keys[at], b->klens[at])] =
        (uint32_t)(bi * LOAD_ITEMS + at + 1);
}

/* Exit status of a failed store during load (a miss-like result, such
 * as SHMC_EEXISTS, cannot come from a set: it is a failure here). */
static int
load_status(int rc)
{
    return ctl_status_of(rc) == EX_MISS ? EX_SOFTWARE : ctl_status_of(rc);
}

/* Send batch bi (shmc_mset()), then forget it; EX_OK, or the failure
 * reported.  The pending set is rebuilt from the other batches. */
static int
batch_send(const struct opts *o, shmc_t *h, struct loader *l, size_t bi)
{
    struct batch *b = &l->b[bi];
    size_t i, j;
    int rc, st = EX_OK;

    if (b->n == 0)
        return EX_OK;
    rc = shmc_mset(h, b->n, (const void *const *)b->keys, b->klens,
                   (const void *const *)b->vals, b->vlens, b->ttl, b->rcs);
    if (rc != 0) {
        load_error(o, &l->p, "lines %llu to %llu: %s", b->lines[0],
                   b->lines[b->n - 1], shmc_strerror(rc));
        st = load_status(rc);
    }
    for (i = 0; st == EX_OK && i < b->n; i++) {
        if (b->rcs[i] == 0) {
            l->p.keys++;
            l->p.bytes += b->klens[i] + b->vlens[i];
            continue;
        }
        load_error(o, &l->p, "line %llu: %s", b->lines[i],
                   shmc_strerror(b->rcs[i]));
        st = load_status(b->rcs[i]);
    }
    for (i = 0; i < b->n; i++) {
        free(b->keys[i]);
        free(b->vals[i]);
    }
    b->n = 0;
    b->bytes = 0;
    memset(l->slots, 0, sizeof(l->slots));
    for (i = 0; i < LOAD_BATCHES; i++)
        for (j = 0; j < l->b[i].n; j++)
            pending_add(l, i, j);
    progress_show(&l->p, 0);
    return st;
}

/* Send every batch; EX_OK or the first failure. */
static int
batch_send_all(const struct opts *o, shmc_t *h, struct loader *l)
{
    size_t i;
    int st = EX_OK, s1;

    for (i = 0; i < LOAD_BATCHES; i++)
        if ((s1 = batch_send(o, h, l, i)) != EX_OK && st == EX_OK)
            st = s1;
    return st;
}

/* The batch for ttl: the one that has it, else an empty one, else the one
 * least recently added to, sent first.  *st gets a send's failure. */
static size_t
batch_for(const struct opts *o, shmc_t *h, struct loader *l, uint32_t ttl,
          int *st)
{
    size_t i, pick = LOAD_BATCHES, lru = 0;

    for (i = 0; i < LOAD_BATCHES; i++) {
        if (l->b[i].n > 0 && l->b[i].ttl == ttl)
            return i;
        if (l->b[i].n == 0 && pick == LOAD_BATCHES)
            pick = i;
        if (l->b[i].last < l->b[lru].last)
            lru = i;
    }
    if (pick == LOAD_BATCHES) {
        pick = lru;
        *st = batch_send(o, h, l, pick);
    }
    l->b[pick].ttl = ttl;
    return pick;
}

/* load: JSON Lines as dump writes them, from stdin. */
int
load_cmd(const struct opts *o, shmc_t *h)
{
    struct loader *l = calloc(1, sizeof(*l));
    unsigned long long lineno = 0;
    uint64_t now = 0, expiry;
    unsigned char *k, *v;
    size_t kl, vl, cap = 0, bi;
    char *line = NULL;
    struct batch *b;
    json_error_t err;
    json_t *j, *ej;
    const char *bad;
    uint32_t ttl;
    int rc, neg, st = EX_OK;

    if (l == NULL)
        return ctl_fail(o, "load", -ENOMEM);
    l->p.on = !o->quiet && isatty(STDERR_FILENO);
    clock_gettime(CLOCK_MONOTONIC, &l->p.start);
    l->p.last = l->p.start;
    /* Lines of any length (getline): values may be large. */
    while (st == EX_OK && getline(&line, &cap, stdin) > 0) {
        lineno++;
        j = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
        k = j ? ctl_json_get_bytes(j, "key", &kl) : NULL;
        ej = j ? json_object_get(j, "expiry_ms") : NULL;
        neg = j != NULL && json_is_true(json_object_get(j, "negative"));
        v = k != NULL && !neg ? ctl_json_get_bytes(j, "value", &vl) : NULL;
        bad =
            j == NULL   ? err.text
            : k == NULL ? "no key"
            : ej != NULL && (!json_is_integer(ej) || json_integer_value(ej) < 0)
                ? "expiry_ms must be a non-negative integer"
            : v == NULL && !neg ? "no value or value_b64"
                                : NULL;
        if (bad != NULL) {
            /* What came before is stored; then the bad line is named
             * (a usage error: even with -q). */
            st = batch_send_all(o, h, l);
            if (st == EX_OK) {
                fprintf(stderr, "%sshmcachectl: load: line %llu: %s\n",
                        l->p.on ? "\n" : "", lineno, bad);
                st = EX_USAGE;
            }
            free(k);
            free(v);
            json_decref(j);
            break;
        }
        expiry = ej ? (uint64_t)json_integer_value(ej) : 0;
        json_decref(j);
        ttl = SHMC_TTL_NEVER;
        if (expiry != 0) {
            if (now == 0) /* again after each send: loads take time */
                now = ctl_now_ms();
            if (expiry <= now) { /* expired meanwhile: not resurrected */
                l->p.skipped++;
                free(k);
                free(v);
                continue;
            }
            /* Beyond what a TTL can say: keep it forever. */
            ttl = expiry - now > (uint64_t)(UINT32_MAX - 1) * 1000
                      ? SHMC_TTL_NEVER
                      : (uint32_t)((expiry - now + 999) / 1000);
        }
        /* A key already pending: everything before this line goes out. */
        if (l->slots[pending_slot(l, k, kl)] != 0) {
            st = batch_send_all(o, h, l);
            now = 0;
        }
        if (neg) { /* a negative entry, on its own */
            rc = st == EX_OK ? shmc_set_negative(h, k, kl, ttl) : 0;
            if (rc != 0) {
                load_error(o, &l->p, "line %llu: %s", lineno,
                           shmc_strerror(rc));
                st = load_status(rc);
            } else if (st == EX_OK) {
                l->p.keys++;
                l->p.bytes += kl;
            }
            free(k);
            continue;
        }
        bi = batch_for(o, h, l, ttl, &st);
        b = &l->b[bi];
        b->keys[b->n] = k;
        b->klens[b->n] = kl;
        b->vals[b->n] = v;
        b->vlens[b->n] = vl;
        b->lines[b->n] = lineno;
        b->last = lineno;
        b->bytes += kl + vl;
        pending_add(l, bi, b->n++);
        if (st == EX_OK && (b->n == LOAD_ITEMS || b->bytes >= LOAD_BYTES)) {
            st = batch_send(o, h, l, bi);
            now = 0;
        }
    }
    if (st == EX_OK)
        st = batch_send_all(o, h, l);
    for (bi = 0; bi < LOAD_BATCHES; bi++) /* after a failure */
        while (l->b[bi].n > 0) {
            b = &l->b[bi];
            b->n--;
            free(b->keys[b->n]);
            free(b->vals[b->n]);
        }
    if (st == EX_OK)
        progress_show(&l->p, 1);
    free(l);
    free(line);
    return st;
}
