/* SPDX-License-Identifier: MIT */
/*
 * shmcachectl.c -- the command-line tool, on libshmcache's public API only
 * (and jansson for --json).
 *
 * Reads (get, mget, ttl, stats, dump) use the mapping, so they work while
 * the daemon is down: if the daemon cannot be reached, the table's entry
 * beside its socket (a memory table's file, a link to a disk table's) or
 * --file is mapped directly (open_table()).  Writes go through the
 * daemon.  Every command is a row of cmds[] (operands, which options it
 * takes), so a usage error is one line naming what is wrong.
 *
 * Exit status (documented in shmcachectl(1); never an errno): 0 ok or hit;
 * 1 miss or condition not met (absent, cached as absent, add on an
 * existing key, ...); 64 usage; 69 daemon or table unavailable; 77
 * permission denied; 70 anything else.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmcache.h"

#define EX_OK 0
#define EX_MISS 1
#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_NOPERM 77

#define VALUE_MAX (64u << 20) /* largest value get will fetch */

struct opts {
    const char *socket, *table, *file;
    uint32_t ttl;
    int json, quiet, ttl_given, all;
    int prometheus; /* stats --format prometheus */
};

/* The table file a read mapped when the daemon was down (or -f). */
struct where {
    const char *mode; /* "memory", "disk", or NULL: cannot tell */
    char path[4096];  /* empty: opened through the daemon */
};

/* What a command takes. */
#define C_READ 1u /* reads the mapping: works with the daemon down */
#define C_TTL 2u  /* takes --ttl */
#define C_ALL 4u  /* takes --all */
#define C_FMT 8u  /* takes --format */

struct cmd {
    const char *name;
    const char *args; /* its operands, for usage errors */
    int min, max;     /* operand count; max -1: any */
    unsigned flags;
};

static const struct cmd cmds[] = {
    {"get", "KEY", 1, 1, C_READ},
    {"mget", "KEY...", 1, -1, C_READ},
    {"ttl", "KEY", 1, 1, C_READ},
    {"set", "KEY VALUE|-", 2, 2, C_TTL},
    {"add", "KEY VALUE|-", 2, 2, C_TTL},
    {"replace", "KEY VALUE|-", 2, 2, C_TTL},
    {"del", "KEY", 1, 1, 0},
    {"touch", "KEY", 1, 1, C_TTL},
    {"incr", "KEY [N]", 1, 2, 0},
    {"setneg", "KEY", 1, 1, C_TTL},
    {"flush", "", 0, 0, 0},
    {"stats", "", 0, 0, C_READ | C_ALL | C_FMT},
    {"tables", "", 0, 0, 0},
    {"sync", "", 0, 0, 0},
    {"dump", "", 0, 0, C_READ},
    {"load", "", 0, 0, 0},
    {"inspect", "FILE", 1, 1, C_READ},
    {"ping", "", 0, 0, 0},
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: shmcachectl [-s SOCKET] [-t TABLE] [-f FILE] [--json] "
            "[-q] [--] COMMAND ...\n"
            "  get KEY                 print the value (raw; --json: an "
            "object)\n"
            "  mget KEY...             one line per key (--json: one object "
            "per key)\n"
            "  ttl KEY                 seconds left (-1: no expiry; exit 1 "
            "on a miss)\n"
            "  set KEY VALUE|- [--ttl S]  store (- reads the value from "
            "stdin)\n"
            "  add KEY VALUE|- [--ttl S]  store if absent\n"
            "  replace KEY VALUE|- [--ttl S]  store if present\n"
            "  del KEY                 delete\n"
            "  touch KEY --ttl S       new TTL, same value\n"
            "  incr KEY [N]            add N (default 1; negative "
            "subtracts)\n"
            "  setneg KEY [--ttl S]    cache KEY as known absent\n"
            "  flush                   drop every entry of the table\n"
            "  stats [--all] [--format json|prometheus]\n"
            "                          the table's statistics (JSON; "
            "\"source\": \"daemon\", or \"file\" when it is down);\n"
            "                          --all: the daemon's and every "
            "table's; --format prometheus:\n"
            "                          the text exposition format "
            "(node_exporter's textfile collector)\n"
            "  tables                  the daemon's tables (JSON)\n"
            "  sync                    write a disk table to its file now\n"
            "  dump                    every entry, one JSON object per "
            "line\n"
            "  load                    read dump output from stdin and "
            "store it (in batches;\n"
            "                          progress on a terminal)\n"
            "  inspect FILE            check a table file offline (exit 1 "
            "if damaged)\n"
            "  ping                    time a round trip to the daemon "
            "(exit 1 if none)\n"
            "options: -s/--socket PATH (default $SHMCACHE_SOCKET or "
            "%s/shmcached/control.sock)\n"
            "         -t/--table NAME (default \"default\"); -f/--file "
            "PATH (read a table file)\n"
            "         --ttl S (0 = table default); --json; -q/--quiet; "
            "--version;\n"
            "         -- ends the options (a key may then start with -)\n"
            "exit: 0 ok, 1 miss, 64 usage, 69 unavailable, 77 permission, "
            "70 other\n",
            RUNSTATEDIR);
}

/* Exit status for a library result. */
static int
status_of(int rc)
{
    switch (rc) {
    case 0:
        return EX_OK;
    case SHMC_ENOTFOUND:
    case SHMC_ENEGATIVE:
    case SHMC_EEXISTS:
    case SHMC_ENOTNUM:
        return EX_MISS;
    case -EACCES:
    case -EPERM:
        return EX_NOPERM;
    case -ENOENT:
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -EPIPE:
    case SHMC_ENOTABLE:
    case SHMC_EBUSY:
    case SHMC_EREADONLY:
        return EX_UNAVAILABLE;
    case SHMC_ETOOBIG:
    case SHMC_ENOSPACE:
        return EX_USAGE;
    default:
        return EX_SOFTWARE;
    }
}

/* Report a failure (unless -q) and return its exit status. */
static int
fail(const struct opts *o, const char *what, int rc)
{
    int st = status_of(rc);
    json_t *j;
    char *s;

    if (o->quiet)
        return st;
    if (o->json) {
        j = json_pack("{s:{s:s, s:i, s:s}}", "error", "op", what, "code", rc,
                      "message", shmc_strerror(rc));
        s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fprintf(stderr, "%s\n", s ? s : "{\"error\":{}}");
        free(s);
        json_decref(j);
    } else {
        fprintf(stderr, "shmcachectl: %s: %s\n", what, shmc_strerror(rc));
    }
    return st;
}

/* The socket the tool talks to: -s, $SHMCACHE_SOCKET, or the default. */
static const char *
socket_of(const struct opts *o)
{
    const char *sock = o->socket ? o->socket : getenv("SHMCACHE_SOCKET");

    return sock != NULL && *sock != '\0' ? sock
                                         : RUNSTATEDIR
               "/shmcached/control.sock";
}

/*
 * Open the table: through the daemon, or, for a read while the daemon
 * cannot be reached, its file.  Where the file is: the daemon keeps an
 * entry for every table beside its socket, <dir>/<table>.shm, which is a
 * memory table's file or a symbolic link to a disk table's file (see
 * daemon/tables.c); with the default socket, a disk table is also looked
 * for in the default state directory, where it stays when /run was
 * emptied (a reboot).  *where says which file was mapped and what kind of
 * table it is, when the tool can tell.
 */
static int
open_table(const struct opts *o, int for_read, shmc_t **h, struct where *w)
{
    const char *sock = socket_of(o), *slash = strrchr(sock, '/');
    struct stat st;
    int rc, frc;

    w->mode = NULL;
    w->path[0] = '\0';
    if (o->file != NULL) {
        snprintf(w->path, sizeof(w->path), "%s", o->file);
        return shmc_open_file(o->file, 0, h);
    }
    rc = shmc_open(sock, o->table, 0, h);
    if (rc == 0 || !for_read || (rc != -ENOENT && rc != -ECONNREFUSED))
        return rc;
    snprintf(w->path, sizeof(w->path), "%.*s/%s.shm",
             slash ? (int)(slash - sock) : 1, slash ? sock : ".", o->table);
    if (lstat(w->path, &st) == 0)
        w->mode = S_ISLNK(st.st_mode) ? "disk" : "memory";
    frc = shmc_open_file(w->path, 0, h);
    if (frc == -ENOENT && o->socket == NULL &&
        strcmp(sock, RUNSTATEDIR "/shmcached/control.sock") == 0) {
        snprintf(w->path, sizeof(w->path), "%s/shmcached/%s.shm", STATEDIR,
                 o->table);
        w->mode = "disk";
        frc = shmc_open_file(w->path, 0, h);
    }
    if (frc == -ENOENT) {
        w->path[0] = '\0'; /* no file either: the daemon's error says it */
        return rc;
    }
    return frc;
}

/* Parse a TTL in seconds; 0 on success. */
static int
parse_ttl(const char *s, uint32_t *ttl)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 ||
        v > UINT32_MAX) {
        fprintf(stderr,
                "shmcachectl: --ttl wants seconds (0 to 4294967295), "
                "got \"%s\"\n",
                s);
        return -1;
    }
    *ttl = (uint32_t)v;
    return 0;
}

/* Read all of stdin (for VALUE "-"). */
static char *
read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap), *nb;

    while (buf != NULL && (r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            if (cap >= VALUE_MAX || (nb = realloc(buf, cap * 2)) == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

/* Base64 of len bytes (caller frees). */
static char *
base64(const unsigned char *p, size_t len)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        *o++ = al[p[i] >> 2];
        *o++ = al[(p[i] & 3) << 4 | p[i + 1] >> 4];
        *o++ = al[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
        *o++ = al[p[i + 2] & 63];
    }
    if (i < len) {
        *o++ = al[p[i] >> 2];
        *o++ = al[(p[i] & 3) << 4 | (i + 1 < len ? p[i + 1] >> 4 : 0)];
        *o++ = i + 1 < len ? al[(p[i + 1] & 15) << 2] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Decode base64 into a new buffer; NULL on bad input. */
static unsigned char *
unbase64(const char *s, size_t *len)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), i, o = 0;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0;
    const char *c;

    if (out == NULL || n % 4 != 0) {
        free(out);
        return NULL;
    }
    for (i = 0; i < n && s[i] != '='; i++) {
        c = strchr(al, s[i]);
        if (c == NULL || s[i] == '\0') {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(c - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

/* Put bytes into obj under name, or name_b64 when they are not UTF-8. */
static void
json_set_bytes(json_t *obj, const char *name, const void *p, size_t n)
{
    json_t *v = json_stringn(p, n);
    char b64name[32], *b;

    if (v != NULL) {
        json_object_set_new(obj, name, v);
        return;
    }
    snprintf(b64name, sizeof(b64name), "%s_b64", name);
    b = base64(p, n);
    json_object_set_new(obj, b64name, json_string(b ? b : ""));
    free(b);
}

/* Bytes stored in obj under name or name_b64 (caller frees), or NULL. */
static unsigned char *
json_get_bytes(json_t *obj, const char *name, size_t *len)
{
    json_t *v = json_object_get(obj, name);
    char b64name[32];
    unsigned char *p;

    if (json_is_string(v)) {
        *len = json_string_length(v);
        p = malloc(*len + 1);
        if (p != NULL)
            memcpy(p, json_string_value(v), *len + 1);
        return p;
    }
    snprintf(b64name, sizeof(b64name), "%s_b64", name);
    v = json_object_get(obj, b64name);
    return json_is_string(v) ? unbase64(json_string_value(v), len) : NULL;
}

/* Print a JSON document and free it. */
static void
print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(j);
}

/* dump: every live entry as one JSON object per line (JSON Lines). */
static int
cmd_dump(const struct opts *o, shmc_t *h)
{
    size_t ksize = 256, vsize = 4096, kl, vl;
    unsigned char *k = malloc(ksize), *v = malloc(vsize), *nk, *nv;
    uint64_t cursor = 0, expiry, n = 0, bad = 0;
    json_t *j;
    int rc = -ENOMEM, neg;

    while (k != NULL && v != NULL) {
        rc = shmc_scan(h, &cursor, k, ksize, &kl, v, vsize, &vl, &expiry, &neg);
        if (rc == SHMC_ERANGE) {
            /* Grow one buffer at a time, so a failure frees each once. */
            if (kl > ksize) {
                if ((nk = realloc(k, kl)) == NULL)
                    break;
                k = nk;
                ksize = kl;
            }
            if (vl > vsize) {
                if ((nv = realloc(v, vl)) == NULL)
                    break;
                v = nv;
                vsize = vl;
            }
            continue;
        }
        if (rc == SHMC_ECORRUPT || rc == SHMC_EBUSY) {
            if (rc == SHMC_EBUSY)
                cursor++; /* a stuck bucket slot: skip it, count it */
            bad++;
            continue;
        }
        if (rc != 0)
            break;
        j = json_object();
        json_set_bytes(j, "key", k, kl);
        if (neg)
            json_object_set_new(j, "negative", json_true());
        else
            json_set_bytes(j, "value", v, vl);
        if (expiry != 0)
            json_object_set_new(j, "expiry_ms",
                                json_integer((json_int_t)expiry));
        print_json(j);
        n++;
    }
    free(k);
    free(v);
    if (rc == SHMC_ERANGE || k == NULL || v == NULL)
        return fail(o, "dump", -ENOMEM);
    if (bad > 0 && !o->quiet)
        fprintf(stderr,
                "shmcachectl: dump: %llu damaged or busy entries "
                "skipped\n",
                (unsigned long long)bad);
    return rc == SHMC_ENOTFOUND ? EX_OK : fail(o, "dump", rc);
}

/* The wall clock in ms, as entry expiries count it. */
static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * ---- load ----
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
    return status_of(rc) == EX_MISS ? EX_SOFTWARE : status_of(rc);
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
static int
cmd_load(const struct opts *o, shmc_t *h)
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
        return fail(o, "load", -ENOMEM);
    l->p.on = !o->quiet && isatty(STDERR_FILENO);
    clock_gettime(CLOCK_MONOTONIC, &l->p.start);
    l->p.last = l->p.start;
    /* Lines of any length (getline): values may be large. */
    while (st == EX_OK && getline(&line, &cap, stdin) > 0) {
        lineno++;
        j = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
        k = j ? json_get_bytes(j, "key", &kl) : NULL;
        ej = j ? json_object_get(j, "expiry_ms") : NULL;
        neg = j != NULL && json_is_true(json_object_get(j, "negative"));
        v = k != NULL && !neg ? json_get_bytes(j, "value", &vl) : NULL;
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
                now = now_ms();
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

/* The header facts of the handle's mapping, as JSON. */
static json_t *
info_json(shmc_t *h)
{
    struct shmc_info i;

    if (shmc_info(h, &i, sizeof(i)) != 0)
        return NULL;
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:I, s:I}",
        "format_version", (json_int_t)i.format_version, "generation",
        (json_int_t)i.generation, "size_bytes", (json_int_t)i.file_size,
        "arena_bytes", (json_int_t)i.arena_bytes, "used_bytes",
        (json_int_t)i.used_bytes, "buckets", (json_int_t)i.buckets,
        "max_key_bytes", (json_int_t)i.max_key_bytes, "max_value_bytes",
        (json_int_t)i.max_value_bytes, "entries", (json_int_t)i.entries, "sets",
        (json_int_t)i.sets, "deletes", (json_int_t)i.deletes, "evictions",
        (json_int_t)i.evictions, "expirations", (json_int_t)i.expirations,
        "relocations", (json_int_t)i.relocations, "heartbeat_ms",
        (json_int_t)i.heartbeat_ms, "retired", i.retired, "clean", i.clean,
        "live_bytes", (json_int_t)i.live_bytes, "dead_bytes",
        (json_int_t)(i.used_bytes - i.live_bytes), "moves", (json_int_t)i.moves,
        "evictions_index", (json_int_t)i.evictions_index);
}

/*
 * ---- stats: the same keys whether the daemon is up or down ----
 *
 * A table's statistics come from two places: the daemon's STATS reply
 * (its own counters and settings) and the table file's header
 * (shmc_info(): counters the daemon publishes there, and what only the
 * file says).  stats_defs[] is the one list of keys, in output order, and
 * says where each comes from; "source" says whether the daemon answered
 * ("daemon") or the file was read without it ("file").  A key its source
 * cannot know is null, never missing.
 */
#define S_DAEMON 1u /* the daemon's reply only: null with the daemon down */
#define S_FILE 2u   /* the file's header only */
#define S_BOTH 3u   /* the daemon's when up, else the header's */

struct stat_def {
    const char *key;
    unsigned from;
    /* Prometheus (--format prometheus): shmcache_<prom>, its type and
     * help; prom NULL: not a metric of its own.  A key ending in _ms is
     * printed in seconds. */
    const char *prom, *type, *help;
};

static const struct stat_def table_defs[] = {
    {"source", 0, NULL, NULL, NULL},
    {"name", S_BOTH, NULL, NULL, NULL},
    {"mode", S_BOTH, NULL, NULL, NULL},
    {"path", S_BOTH, NULL, NULL, NULL},
    {"format_version", S_FILE, NULL, NULL, NULL},
    {"generation", S_BOTH, "table_generation", "gauge",
     "Generation of the table's file (a resize or replacement makes the "
     "next)."},
    {"size_bytes", S_BOTH, "table_size_bytes", "gauge",
     "Size of the table's file."},
    {"arena_bytes", S_BOTH, "table_arena_bytes", "gauge",
     "Bytes of the file that hold entries (the arena)."},
    {"used_bytes", S_BOTH, "table_used_bytes", "gauge",
     "Arena bytes in use, live and dead."},
    {"live_bytes", S_BOTH, "table_live_bytes", "gauge",
     "Arena bytes of live (linked) entries."},
    {"dead_bytes", S_BOTH, "table_dead_bytes", "gauge",
     "Arena bytes of replaced or deleted entries not yet reclaimed."},
    {"live_high_water_bytes", S_DAEMON, "table_live_high_water_bytes", "gauge",
     "Live bytes above which an entry at the arena's tail is evicted rather "
     "than moved (live_high_water_pct)."},
    {"buckets", S_BOTH, "table_buckets", "gauge",
     "Buckets of the table's index, 7 slots each."},
    {"max_key_bytes", S_BOTH, "table_max_key_bytes", "gauge",
     "Longest key the table takes."},
    {"max_value_bytes", S_BOTH, "table_max_value_bytes", "gauge",
     "Longest value the table takes."},
    {"default_ttl_s", S_DAEMON, "table_default_ttl_seconds", "gauge",
     "TTL of a write that names none (0: no expiry)."},
    {"entries", S_BOTH, "table_entries", "gauge",
     "Entries in the table, negative ones included."},
    {"sets", S_BOTH, "table_sets_total", "counter", "Entries written."},
    {"deletes", S_BOTH, "table_deletes_total", "counter", "Entries deleted."},
    {"evictions", S_BOTH, "table_evictions_total", "counter",
     "Live entries evicted to make room in the arena."},
    {"evictions_index", S_BOTH, "table_evictions_index_total", "counter",
     "Live entries evicted because both buckets of a new key were full."},
    {"expirations", S_BOTH, "table_expirations_total", "counter",
     "Entries removed because their time was up."},
    {"relocations", S_BOTH, "table_relocations_total", "counter",
     "Entries moved to their other bucket to make room."},
    {"moves", S_BOTH, "table_moves_total", "counter",
     "Live entries moved forward in the arena instead of evicted."},
    {"hint_areas", S_DAEMON, "table_hint_areas", "gauge",
     "Readers' hit-hint areas the daemon drains."},
    {"reader_hits_hinted", S_DAEMON, "table_reader_hits_hinted_total",
     "counter", "Readers' hits the daemon learned of through hint areas."},
    {"hints_stale", S_DAEMON, "table_hints_stale_total", "counter",
     "Hints that named a slot whose entry had changed since."},
    {"heartbeat_ms", S_FILE, "table_heartbeat_timestamp_seconds", "gauge",
     "When the daemon last marked the table alive, in Unix time."},
    {"retired", S_FILE, "table_retired", "gauge",
     "1 if the file was replaced (its readers reopen), else 0."},
    {"clean", S_FILE, "table_clean", "gauge",
     "1 if the file was closed cleanly and no daemon writes it, else 0."},
};

/* The daemon's own keys of stats --all, before "tables". */
static const struct stat_def daemon_defs[] = {
    {"source", 0, NULL, NULL, NULL},
    {"pid", S_DAEMON, NULL, NULL, NULL},
    {"uptime_s", S_DAEMON, "daemon_uptime_seconds", "gauge",
     "Seconds since shmcached started."},
    {"connections", S_DAEMON, "daemon_connections_open", "gauge",
     "Connections open now."},
    {"connections_total", S_DAEMON, "daemon_connections_total", "counter",
     "Connections accepted."},
    {"connections_refused", S_DAEMON, "daemon_connections_refused_total",
     "counter", "Connections refused over max_connections."},
    {"connections_shed", S_DAEMON, "daemon_connections_shed_total", "counter",
     "Connections closed to keep buffers under max_buffered_bytes."},
    {"closed_idle", S_DAEMON, "daemon_connections_closed_idle_total", "counter",
     "Connections closed after idle_timeout_s."},
    {"closed_frame_timeout", S_DAEMON,
     "daemon_connections_closed_frame_timeout_total", "counter",
     "Connections closed for a request frame left unfinished."},
    {"closed_not_reading", S_DAEMON,
     "daemon_connections_closed_not_reading_total", "counter",
     "Connections closed for not reading their replies."},
    {"requests", S_DAEMON, "daemon_requests_total", "counter",
     "Requests answered."},
    {"protocol_errors", S_DAEMON, "daemon_protocol_errors_total", "counter",
     "Malformed requests (each closes its connection)."},
    {"denied", S_DAEMON, "daemon_requests_denied_total", "counter",
     "Requests refused by a table's ACL."},
    {"buffered_bytes", S_DAEMON, "daemon_buffered_bytes", "gauge",
     "Bytes held in connections' input and output buffers."},
};

#define NDEFS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * One table's statistics, every key of table_defs[]: from the daemon's
 * object d (NULL: the daemon is down) and the header of the mapping h
 * (NULL: not readable); name, mode and path stand in for the daemon's
 * when it is down (mode and path may be NULL).  Caller owns the result.
 */
static json_t *
table_stats(json_t *d, shmc_t *h, const char *name, const char *mode,
            const char *path)
{
    json_t *out = json_object(), *f = h ? info_json(h) : NULL, *v;
    size_t i;

    if (f != NULL) {
        json_object_set_new(f, "name", json_string(name));
        if (mode != NULL)
            json_object_set_new(f, "mode", json_string(mode));
        if (path != NULL)
            json_object_set_new(f, "path", json_string(path));
    }
    for (i = 0; out != NULL && i < NDEFS(table_defs); i++) {
        const struct stat_def *s = &table_defs[i];
        if (s->from == 0)
            v = json_string(d ? "daemon" : "file");
        else if (d != NULL && (s->from & S_DAEMON))
            v = json_incref(json_object_get(d, s->key));
        else if (s->from & S_FILE)
            v = json_incref(json_object_get(f, s->key));
        else
            v = NULL;
        json_object_set_new(out, s->key, v ? v : json_null());
    }
    json_decref(f);
    return out;
}

/* Whether name ends in ".shm" (and has something before it). */
static int
is_table_name(const char *name)
{
    size_t n = strlen(name);

    return n > 4 && strcmp(name + n - 4, ".shm") == 0 && name[0] != '.';
}

/*
 * Append to arr the statistics of every table file in dir, from the files
 * (the daemon is down), skipping names in seen (a JSON object used as a
 * set).  In the runtime directory (in_runtime) a file is a memory table
 * and a symbolic link a disk table (daemon/tables.c); elsewhere every file
 * is a disk table.  Files that cannot be read are reported and left out.
 */
static void
tables_in_dir(const struct opts *o, const char *dir, int in_runtime,
              json_t *seen, json_t *arr)
{
    struct dirent **names = NULL;
    char path[4096], real[4096], name[256];
    struct stat st;
    shmc_t *h;
    int n, i, rc;

    n = scandir(dir, &names, NULL, alphasort);
    for (i = 0; i < n; i++) {
        const char *e = names[i]->d_name;
        if (is_table_name(e) && strlen(e) - 4 < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(strlen(e) - 4), e);
            snprintf(path, sizeof(path), "%s/%s", dir, e);
            if (json_object_get(seen, name) == NULL && lstat(path, &st) == 0 &&
                (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
                rc = shmc_open_file(path, 0, &h);
                if (rc == 0) {
                    json_array_append_new(
                        arr, table_stats(NULL, h, name,
                                         !in_runtime || S_ISLNK(st.st_mode)
                                             ? "disk"
                                             : "memory",
                                         realpath(path, real) ? real : path));
                    json_object_set_new(seen, name, json_true());
                    shmc_close(h);
                } else if (!o->quiet) {
                    fprintf(stderr, "shmcachectl: stats: %s: %s\n", path,
                            shmc_strerror(rc));
                }
            }
        }
        free(names[i]);
    }
    free(names);
}

/*
 * The statistics document: one table's (h open on it), or with --all the
 * daemon's and every table's (h may then be NULL: the daemon is down).
 * From the daemon when it answers, else from the files.
 */
static json_t *
stats_doc(const struct opts *o, shmc_t *h, const struct where *w, int *rc)
{
    json_t *d = NULL, *doc, *arr, *seen, *t, *dt, *v;
    char *js = NULL, real[4096], dir[4096];
    const char *sock = socket_of(o), *slash = strrchr(sock, '/');
    shmc_t *fh;
    size_t i;

    *rc =
        h ? shmc_stats_json(h, o->all ? SHMC_STATS_ALL : SHMC_STATS_TABLE, &js)
          : SHMC_EREADONLY;
    if (*rc == 0) {
        d = json_loads(js, 0, NULL);
        free(js);
        if (d == NULL) {
            *rc = SHMC_EPROTO;
            return NULL;
        }
    } else if (*rc != SHMC_EREADONLY) {
        return NULL; /* the daemon is there, and said no */
    }
    *rc = 0;
    if (!o->all) {
        const char *path = w->path[0] && realpath(w->path, real) ? real
                           : w->path[0]                          ? w->path
                                                                 : NULL;
        const char *name = o->table, *base;
        size_t n;
        if (o->file != NULL) { /* -f: the file's name says the table's */
            base = strrchr(o->file, '/') ? strrchr(o->file, '/') + 1 : o->file;
            n = strlen(base);
            snprintf(dir, sizeof(dir), "%.*s",
                     (int)(is_table_name(base) ? n - 4 : n), base);
            name = dir;
        }
        doc = table_stats(d, h, name, w->mode, path);
        json_decref(d);
        return doc;
    }
    doc = json_object();
    for (i = 0; i < NDEFS(daemon_defs); i++) {
        v = daemon_defs[i].from == 0
                ? json_string(d ? "daemon" : "file")
                : json_incref(json_object_get(d, daemon_defs[i].key));
        json_object_set_new(doc, daemon_defs[i].key, v ? v : json_null());
    }
    arr = json_array();
    json_object_set_new(doc, "tables", arr);
    if (d != NULL) {
        /* The header's keys from each file, if this user can read it. */
        json_array_foreach(json_object_get(d, "tables"), i, dt)
        {
            const char *path = json_string_value(json_object_get(dt, "path"));
            fh = NULL;
            if (path == NULL || shmc_open_file(path, 0, &fh) != 0)
                fh = NULL;
            t = table_stats(dt, fh, "", NULL, NULL);
            json_array_append_new(arr, t);
            shmc_close(fh);
        }
        json_decref(d);
        return doc;
    }
    /* The daemon is down: every table beside its socket, then (default
     * socket only) the default state directory's. */
    seen = json_object();
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - sock) : 1,
             slash ? sock : ".");
    tables_in_dir(o, dir[0] ? dir : "/", 1, seen, arr);
    if (o->socket == NULL &&
        strcmp(sock, RUNSTATEDIR "/shmcached/control.sock") == 0)
        tables_in_dir(o, STATEDIR "/shmcached", 0, seen, arr);
    json_decref(seen);
    if (json_array_size(arr) == 0) {
        json_decref(doc);
        *rc = -ENOENT; /* no daemon, no table file */
        return NULL;
    }
    return doc;
}

/* A label value in the exposition format: \, " and newline escaped. */
static void
prom_label(const char *name, const char *v)
{
    printf("%s=\"", name);
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            printf("\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", stdout);
        else
            putchar(*v);
    }
    putchar('"');
}

/* A sample's value: an integer, 0/1 for a boolean, seconds for key_ms. */
static void
prom_value(const char *key, json_t *v)
{
    size_t n = strlen(key);
    json_int_t i = json_integer_value(v);

    if (json_is_boolean(v))
        fputs(json_is_true(v) ? "1" : "0", stdout);
    else if (n > 3 && strcmp(key + n - 3, "_ms") == 0 && i >= 0)
        printf("%" JSON_INTEGER_FORMAT ".%03d", i / 1000, (int)(i % 1000));
    else
        printf("%" JSON_INTEGER_FORMAT, i);
}

/* HELP and TYPE of a family (once, before its samples). */
static void
prom_family(const struct stat_def *s)
{
    printf("# HELP shmcache_%s %s\n# TYPE shmcache_%s %s\n", s->prom, s->help,
           s->prom, s->type);
}

/*
 * The statistics document in Prometheus's text exposition format (0.0.4):
 * shmcache_up, the daemon's families (stats --all with the daemon up),
 * shmcache_table_info, then one family per table statistic with a sample
 * per table, labelled table="NAME".  Keys that are null are left out, and
 * so is a family without a sample.
 */
static void
print_prometheus(json_t *doc, int all)
{
    json_t *tables = all ? json_object_get(doc, "tables") : json_array(), *t,
           *v;
    size_t i, k;
    int any;

    if (!all)
        json_array_append(tables, doc);
    printf("# HELP shmcache_up 1 if shmcached answered, 0 if these figures "
           "were read from the table files.\n# TYPE shmcache_up gauge\n"
           "shmcache_up %d\n",
           strcmp(json_string_value(json_object_get(doc, "source")),
                  "daemon") == 0);
    for (i = 0; all && i < NDEFS(daemon_defs); i++) {
        v = json_object_get(doc, daemon_defs[i].key);
        if (daemon_defs[i].prom == NULL || json_is_null(v) || v == NULL)
            continue;
        prom_family(&daemon_defs[i]);
        printf("shmcache_%s ", daemon_defs[i].prom);
        prom_value(daemon_defs[i].key, v);
        putchar('\n');
    }
    if (json_array_size(tables) > 0)
        printf("# HELP shmcache_table_info A table's mode, file and format "
               "version, as labels; always 1.\n"
               "# TYPE shmcache_table_info gauge\n");
    json_array_foreach(tables, k, t)
    {
        fputs("shmcache_table_info{", stdout);
        prom_label("table", json_string_value(json_object_get(t, "name")));
        if (json_is_string(v = json_object_get(t, "mode"))) {
            putchar(',');
            prom_label("mode", json_string_value(v));
        }
        if (json_is_string(v = json_object_get(t, "path"))) {
            putchar(',');
            prom_label("path", json_string_value(v));
        }
        if (json_is_integer(v = json_object_get(t, "format_version")))
            printf(",format_version=\"%" JSON_INTEGER_FORMAT "\"",
                   json_integer_value(v));
        fputs("} 1\n", stdout);
    }
    for (i = 0; i < NDEFS(table_defs); i++) {
        const struct stat_def *s = &table_defs[i];
        if (s->prom == NULL)
            continue;
        any = 0;
        json_array_foreach(tables, k, t)
        {
            v = json_object_get(t, s->key);
            if (v == NULL || json_is_null(v))
                continue;
            if (!any++)
                prom_family(s);
            printf("shmcache_%s{", s->prom);
            prom_label("table", json_string_value(json_object_get(t, "name")));
            fputs("} ", stdout);
            prom_value(s->key, v);
            putchar('\n');
        }
    }
    if (!all)
        json_decref(tables);
}

/* stats [--all] */
static int
cmd_stats(const struct opts *o, shmc_t *h, const struct where *w)
{
    json_t *doc;
    int rc;

    doc = stats_doc(o, h, w, &rc);
    if (doc == NULL)
        return fail(o, o->all ? "stats --all" : "stats", rc ? rc : -ENOMEM);
    if (o->prometheus) {
        print_prometheus(doc, o->all);
        json_decref(doc);
    } else {
        print_json(doc);
    }
    return EX_OK;
}

/* inspect: the header, and every entry checked. */
static int
cmd_inspect(const struct opts *o, shmc_t *h)
{
    uint64_t cursor = 0, live = 0, negative = 0, damaged = 0;
    struct shmc_info info;
    unsigned char *k, *v;
    size_t kl, vl;
    json_t *j;
    int rc, neg;

    /* Buffers as large as the table allows: anything larger is damage. */
    if (shmc_info(h, &info, sizeof(info)) != 0)
        return fail(o, "inspect", -EINVAL);
    k = malloc(info.max_key_bytes + 1);
    v = malloc(info.max_value_bytes + 1);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return fail(o, "inspect", -ENOMEM);
    }
    while ((rc = shmc_scan(h, &cursor, k, info.max_key_bytes + 1, &kl, v,
                           info.max_value_bytes + 1, &vl, NULL, &neg)) !=
           SHMC_ENOTFOUND) {
        if (rc == SHMC_ECORRUPT || rc == SHMC_ERANGE || rc == SHMC_EBUSY) {
            damaged++; /* ERANGE here: sizes beyond the table's limits */
            if (rc != SHMC_ECORRUPT)
                cursor++; /* shmc_scan kept the cursor: move past it */
            continue;
        }
        if (rc != 0)
            break;
        live++;
        negative += neg != 0;
    }
    free(k);
    free(v);
    j = info_json(h);
    if (j == NULL)
        return fail(o, "inspect", -EINVAL);
    json_object_set_new(j, "source", json_string("file"));
    json_object_set_new(j, "live_entries", json_integer((json_int_t)live));
    json_object_set_new(j, "negative_entries",
                        json_integer((json_int_t)negative));
    json_object_set_new(j, "damaged_entries",
                        json_integer((json_int_t)damaged));
    print_json(j);
    if (rc != SHMC_ENOTFOUND)
        return fail(o, "inspect", rc);
    return damaged == 0 ? EX_OK : EX_MISS;
}

/* A one-line usage error naming the problem; returns EX_USAGE. */
static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("shmcachectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see shmcachectl --help)\n", stderr);
    return EX_USAGE;
}

/* "get KEY" for messages: the command and at most 100 bytes of the key. */
static void
what_key(char *what, size_t size, const char *cmd, const char *key)
{
    snprintf(what, size, "%s %.*s", cmd, 100, key);
}

/*
 * Look key up into *buf (of *size bytes, grown as needed): shmc_get()
 * again while the value outgrows the buffer.  Returns shmc_get()'s result
 * with the length in *n, or -ENOMEM.
 */
static int
fetch(shmc_t *h, const char *key, char **buf, size_t *size, size_t *n)
{
    char *nb;
    int rc;

    while ((rc = shmc_get(h, key, strlen(key), *buf, *size, n)) ==
               SHMC_ERANGE &&
           *n <= VALUE_MAX) {
        nb = realloc(*buf, *n ? *n : 1);
        if (nb == NULL)
            return -ENOMEM;
        *buf = nb;
        *size = *n;
    }
    return rc;
}

/* Print one key's lookup result as --json does: the value, found:false
 * (negative:true) for a miss, or the error. */
static void
print_result_json(const char *key, int rc, const char *val, size_t n)
{
    json_t *j = json_object();

    json_set_bytes(j, "key", key, strlen(key));
    if (rc == 0) {
        json_set_bytes(j, "value", val, n);
    } else if (rc == SHMC_ENOTFOUND || rc == SHMC_ENEGATIVE) {
        json_object_set_new(j, "found", json_false());
        if (rc == SHMC_ENEGATIVE)
            json_object_set_new(j, "negative", json_true());
    } else {
        json_object_set_new(
            j, "error",
            json_pack("{s:i, s:s}", "code", rc, "message", shmc_strerror(rc)));
    }
    print_json(j);
}

/* get KEY */
static int
cmd_get(const struct opts *o, shmc_t *h, const char *key)
{
    size_t size = 4096, n = 0;
    char *buf = malloc(size), what[128];
    int rc;

    if (buf == NULL)
        return fail(o, "get", -ENOMEM);
    rc = fetch(h, key, &buf, &size, &n);
    if (rc == -ENOMEM) {
        free(buf);
        return fail(o, "get", rc);
    }
    if (o->json && (rc == 0 || rc == SHMC_ENOTFOUND || rc == SHMC_ENEGATIVE)) {
        /* A miss is an answer, on stdout: {"key":..,"found":false}.
         * Values are strings when valid UTF-8, else base64 (_b64). */
        print_result_json(key, rc, buf, n);
    } else if (rc == 0) {
        fwrite(buf, 1, n, stdout);
    }
    free(buf);
    if (rc == 0)
        return EX_OK;
    if (o->json && (rc == SHMC_ENOTFOUND || rc == SHMC_ENEGATIVE))
        return EX_MISS;
    what_key(what, sizeof(what), "get", key);
    return fail(o, what, rc);
}

/*
 * mget KEY...: shmc_mget() for all keys at once, then one line per key in
 * order: the value (an empty line for a miss, with a message on stderr),
 * or with --json one object per key.  Values larger than the first guess
 * are fetched again on their own.  Exit 0 if every key was found, 1 if
 * some were not, another status for the first other failure.
 */
static int
cmd_mget(const struct opts *o, shmc_t *h, size_t n, const char *const keys[])
{
    size_t *klens = calloc(n, sizeof(*klens)),
           *sizes = calloc(n, sizeof(*sizes)),
           *vlens = calloc(n, sizeof(*vlens));
    char **bufs = calloc(n, sizeof(*bufs)), what[128];
    int *rcs = calloc(n, sizeof(*rcs)), rc = 0, st = EX_OK, s1;
    size_t i;

    if (klens == NULL || sizes == NULL || vlens == NULL || bufs == NULL ||
        rcs == NULL)
        rc = -ENOMEM;
    for (i = 0; rc == 0 && i < n; i++) {
        klens[i] = strlen(keys[i]);
        sizes[i] = 256;
        if ((bufs[i] = malloc(sizes[i])) == NULL)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = shmc_mget(h, n, (const void *const *)keys, klens,
                       (void *const *)bufs, sizes, vlens, rcs);
    for (i = 0; rc == 0 && i < n; i++) {
        if (rcs[i] == SHMC_ERANGE)
            rcs[i] = fetch(h, keys[i], &bufs[i], &sizes[i], &vlens[i]);
        if (o->json) {
            print_result_json(keys[i], rcs[i], bufs[i], vlens[i]);
        } else {
            if (rcs[i] == 0)
                fwrite(bufs[i], 1, vlens[i], stdout);
            putchar('\n');
        }
        if (rcs[i] == 0)
            continue;
        if (o->json && (rcs[i] == SHMC_ENOTFOUND || rcs[i] == SHMC_ENEGATIVE))
            s1 = EX_MISS;
        else {
            what_key(what, sizeof(what), "mget", keys[i]);
            s1 = fail(o, what, rcs[i]);
        }
        if (st == EX_OK || (st == EX_MISS && s1 != EX_MISS))
            st = s1;
    }
    for (i = 0; bufs != NULL && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(klens);
    free(sizes);
    free(vlens);
    free(rcs);
    return rc != 0 ? fail(o, "mget", rc) : st;
}

/*
 * Find key's expiry: walk the table (shmc_scan), as the library has no
 * lookup that returns it.  Returns 0 with *expiry and *neg, or
 * SHMC_ENOTFOUND, or another error.
 */
static int
find_expiry(shmc_t *h, const char *key, uint64_t *expiry, int *neg)
{
    size_t klen = strlen(key), kl, vl;
    struct shmc_info info;
    uint64_t cursor = 0;
    char *k, *v;
    int rc;

    if (shmc_info(h, &info, sizeof(info)) != 0)
        return -EINVAL;
    k = malloc(info.max_key_bytes + 1);
    v = malloc(info.max_value_bytes + 1);
    rc = k != NULL && v != NULL ? SHMC_ENOTFOUND : -ENOMEM;
    while (rc == SHMC_ENOTFOUND) {
        rc = shmc_scan(h, &cursor, k, info.max_key_bytes + 1, &kl, v,
                       info.max_value_bytes + 1, &vl, expiry, neg);
        if (rc == SHMC_ECORRUPT || rc == SHMC_ERANGE || rc == SHMC_EBUSY) {
            if (rc != SHMC_ECORRUPT)
                cursor++; /* not ours to judge here: go past it */
            rc = SHMC_ENOTFOUND;
            continue;
        }
        if (rc != 0)
            break; /* the end (SHMC_ENOTFOUND), or a failure */
        if (kl == klen && memcmp(k, key, klen) == 0)
            break;
        rc = SHMC_ENOTFOUND;
    }
    free(k);
    free(v);
    return rc;
}

/*
 * ttl KEY: whole seconds left, rounded up (a live key never shows 0);
 * -1 if it never expires.  A negative entry has a TTL too (--json says
 * "negative":true).  A miss exits 1.  The lookup is shmc_get(), so a miss
 * costs nothing more; a hit walks the table for the entry's expiry.
 */
static int
cmd_ttl(const struct opts *o, shmc_t *h, const char *key)
{
    uint64_t expiry = 0, now;
    long long ttl = -1;
    char what[128];
    int rc, neg = 0, tries;
    size_t n;
    json_t *j;

    rc = shmc_get(h, key, strlen(key), NULL, 0, &n);
    if (rc == SHMC_ERANGE || rc == SHMC_ENEGATIVE)
        rc = 0;
    /* An entry moved while the walk passed (a rewrite, a relocation) can
     * be missed: look again, a few times. */
    for (tries = 0; rc == 0 && tries < 3; tries++) {
        rc = find_expiry(h, key, &expiry, &neg);
        if (rc != SHMC_ENOTFOUND)
            break;
        rc = shmc_get(h, key, strlen(key), NULL, 0, &n);
        if (rc == SHMC_ERANGE || rc == SHMC_ENEGATIVE)
            rc = 0;
    }
    if (rc == 0 && expiry != 0) {
        now = now_ms();
        if (expiry <= now)
            rc = SHMC_ENOTFOUND; /* expired meanwhile */
        else
            ttl = (long long)((expiry - now + 999) / 1000);
    }
    if (rc == 0 && tries == 3)
        rc = SHMC_EBUSY;
    if (o->json && (rc == 0 || rc == SHMC_ENOTFOUND)) {
        j = json_object();
        json_set_bytes(j, "key", key, strlen(key));
        if (rc == 0) {
            json_object_set_new(j, "ttl_s", json_integer(ttl));
            if (neg)
                json_object_set_new(j, "negative", json_true());
        } else {
            json_object_set_new(j, "found", json_false());
        }
        print_json(j);
        return rc == 0 ? EX_OK : EX_MISS;
    }
    if (rc == 0) {
        printf("%lld\n", ttl);
        return EX_OK;
    }
    what_key(what, sizeof(what), "ttl", key);
    return fail(o, what, rc);
}

/*
 * ping: one request the daemon answers without touching a table (the
 * table list), timed; the handle was opened, so the daemon is there.
 * Exit 0 with the time, or 1: no answer.
 */
static int
cmd_ping(const struct opts *o, shmc_t *h, const char *sock)
{
    struct timespec a, b;
    char *js = NULL;
    long long us;
    json_t *j;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &a);
    rc = shmc_stats_json(h, SHMC_LIST_TABLES, &js);
    clock_gettime(CLOCK_MONOTONIC, &b);
    free(js);
    if (rc != 0) {
        fail(o, "ping", rc);
        return EX_MISS;
    }
    us = (long long)(b.tv_sec - a.tv_sec) * 1000000 +
         (b.tv_nsec - a.tv_nsec) / 1000;
    if (o->json) {
        j = json_pack("{s:s, s:I}", "socket", sock, "latency_us",
                      (json_int_t)us);
        print_json(j);
    } else {
        printf("reply from %s in %lld.%03lld ms\n", sock, us / 1000, us % 1000);
    }
    return EX_OK;
}

int
main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"table", required_argument, NULL, 't'},
        {"file", required_argument, NULL, 'f'},
        {"ttl", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {NULL, "default", NULL, 0, 0, 0, 0, 0, 0};
    int fmt_given = 0;
    const char *key = NULL, *val = NULL, **operand = NULL;
    const struct cmd *cmd = NULL;
    char *in = NULL, *end;
    size_t vlen = 0, i;
    uint64_t nv;
    long long delta = 1;
    shmc_t *h = NULL;
    struct where where;
    int c, rc, st, nargs = 0, dashdash = 0;

    /* Options before the command; getopt stops at the command ("+") or
     * after "--"; ":" lets us word a missing argument ourselves. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:s:t:f:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.socket = optarg;
            break;
        case 't':
            o.table = optarg;
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'j':
            o.json = 1;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'T':
            if (parse_ttl(optarg, &o.ttl) != 0)
                return EX_USAGE;
            o.ttl_given = 1;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case 'V':
            printf("shmcachectl %s\n", shmc_version());
            return EX_OK;
        case ':':
            return usage_error("option %s needs an argument", argv[optind - 1]);
        default:
            if (optopt != 0)
                return usage_error("unknown option -%c", optopt);
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("no command given");
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[optind], cmds[i].name) == 0)
            cmd = &cmds[i];
    if (cmd == NULL)
        return usage_error("unknown command \"%s\"", argv[optind]);
    /* After the command: --ttl S, --all, --json and -q may come anywhere
     * before "--"; anything else is an operand, so "-" (stdin) and "-5"
     * stay operands; an unknown "--word" is an error, not a key. */
    operand = calloc((size_t)argc, sizeof(*operand));
    if (operand == NULL)
        return fail(&o, "shmcachectl", -ENOMEM);
    for (c = optind + 1; c < argc; c++) {
        const char *a = argv[c];
        if (dashdash || a[0] != '-' || a[1] == '\0' ||
            (a[1] != '-' && strcmp(a, "-q") != 0)) {
            operand[nargs++] = a;
        } else if (strcmp(a, "--") == 0) {
            dashdash = 1;
        } else if (strcmp(a, "--ttl") == 0 || strncmp(a, "--ttl=", 6) == 0) {
            if (a[5] == '\0' && c + 1 >= argc) {
                rc = usage_error("option --ttl needs an argument");
                goto out;
            }
            if (parse_ttl(a[5] == '=' ? a + 6 : argv[++c], &o.ttl) != 0) {
                rc = EX_USAGE;
                goto out;
            }
            o.ttl_given = 1;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(a, "--all") == 0) {
            o.all = 1;
        } else if (strcmp(a, "--format") == 0 ||
                   strncmp(a, "--format=", 9) == 0) {
            const char *f = a[8] == '='    ? a + 9
                            : c + 1 < argc ? argv[++c]
                                           : NULL;
            if (f == NULL) {
                rc = usage_error("option --format needs an argument");
                goto out;
            }
            if (strcmp(f, "json") != 0 && strcmp(f, "prometheus") != 0) {
                rc = usage_error("--format wants json or prometheus, got "
                                 "\"%s\"",
                                 f);
                goto out;
            }
            o.prometheus = strcmp(f, "prometheus") == 0;
            fmt_given = 1;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            rc = EX_OK;
            goto out;
        } else {
            rc = usage_error("%s: unknown option %s", cmd->name, a);
            goto out;
        }
    }
    if (o.ttl_given && !(cmd->flags & C_TTL)) {
        rc = usage_error("%s takes no --ttl", cmd->name);
        goto out;
    }
    if (o.all && !(cmd->flags & C_ALL)) {
        rc = usage_error("%s takes no --all", cmd->name);
        goto out;
    }
    if (fmt_given && !(cmd->flags & C_FMT)) {
        rc = usage_error("%s takes no --format", cmd->name);
        goto out;
    }
    if (o.prometheus && o.json) {
        rc = usage_error("--json and --format prometheus exclude each other");
        goto out;
    }
    if (nargs < cmd->min || (cmd->max >= 0 && nargs > cmd->max)) {
        if (cmd->max == 0)
            rc = usage_error("%s takes no arguments, got %d", cmd->name, nargs);
        else
            rc = usage_error("%s takes %s, got %d argument%s", cmd->name,
                             cmd->args, nargs, nargs == 1 ? "" : "s");
        goto out;
    }
    /* Keys: every operand of mget, the first of the KEY commands. */
    for (c = 0; c < nargs; c++) {
        if (*operand[c] != '\0' || (c > 0 && strcmp(cmd->name, "mget") != 0) ||
            strncmp(cmd->args, "KEY", 3) != 0)
            continue;
        rc = usage_error("%s: a key cannot be empty", cmd->name);
        goto out;
    }
    key = nargs >= 1 ? operand[0] : NULL;
    val = nargs >= 2 ? operand[1] : NULL;
    if ((cmd->flags & C_TTL) && val != NULL) { /* set, add, replace */
        if (strcmp(val, "-") == 0) {
            in = read_stdin(&vlen);
            if (in == NULL) {
                rc = fail(&o, "read stdin", -ENOMEM);
                goto out;
            }
            val = in;
        } else {
            vlen = strlen(val);
        }
    } else if (strcmp(cmd->name, "incr") == 0 && val != NULL) {
        errno = 0;
        delta = strtoll(val, &end, 10);
        if (*val == '\0' || *end != '\0' || errno != 0) {
            rc = usage_error("incr: N must be an integer, got \"%s\"", val);
            goto out;
        }
    } else if (strcmp(cmd->name, "inspect") == 0) {
        o.file = key; /* offline: the file itself, never the daemon */
        key = NULL;
    }

    rc = open_table(&o, (cmd->flags & C_READ) && !o.all, &h, &where);
    if (o.all && (rc == -ENOENT || rc == -ECONNREFUSED)) {
        /* stats --all with the daemon down: every table file found. */
        json_t *doc = stats_doc(&o, NULL, &where, &st);
        if (doc != NULL) {
            if (o.prometheus) {
                print_prometheus(doc, 1);
                json_decref(doc);
            } else {
                print_json(doc);
            }
            rc = EX_OK;
            goto out;
        }
    }
    if (rc != 0 && strcmp(cmd->name, "inspect") == 0 &&
        (rc == SHMC_ECORRUPT || rc == SHMC_EVERSION)) {
        /* For inspect, an unreadable header is a finding, not a failure. */
        if (!o.quiet)
            fprintf(stderr, "shmcachectl: inspect: %s: %s\n", o.file,
                    shmc_strerror(rc));
        rc = EX_MISS;
        goto out;
    }
    if (rc != 0) {
        /* Say which socket, table or file, and what to check. */
        char what[4300];
        const char *sock = socket_of(&o);
        if (o.file != NULL)
            snprintf(what, sizeof(what), "open %s", o.file);
        else if (where.path[0] != '\0')
            snprintf(what, sizeof(what),
                     "cannot reach shmcached at %s, nor read table \"%s\" "
                     "from %s",
                     sock, o.table, where.path);
        else if (rc == -ENOENT || rc == -ECONNREFUSED)
            snprintf(what, sizeof(what),
                     "cannot reach shmcached at %s (is it running? -s "
                     "or SHMCACHE_SOCKET names another socket)",
                     sock);
        else if (rc == SHMC_ENOTABLE)
            snprintf(what, sizeof(what), "shmcached at %s has no table \"%s\"",
                     sock, o.table);
        else
            snprintf(what, sizeof(what), "open table \"%s\" through %s",
                     o.table, sock);
        st = fail(&o, what, rc);
        /* ping answers only "did the daemon reply": 0 or 1. */
        rc = strcmp(cmd->name, "ping") == 0 ? EX_MISS
             : st == EX_MISS                ? EX_UNAVAILABLE
                                            : st;
        goto out;
    }
    if (strcmp(cmd->name, "get") == 0)
        rc = cmd_get(&o, h, key);
    else if (strcmp(cmd->name, "mget") == 0)
        rc = cmd_mget(&o, h, (size_t)nargs, operand);
    else if (strcmp(cmd->name, "ttl") == 0)
        rc = cmd_ttl(&o, h, key);
    else if (strcmp(cmd->name, "ping") == 0)
        rc = cmd_ping(&o, h, socket_of(&o));
    else if (strcmp(cmd->name, "dump") == 0)
        rc = cmd_dump(&o, h);
    else if (strcmp(cmd->name, "inspect") == 0)
        rc = cmd_inspect(&o, h);
    else if (strcmp(cmd->name, "load") == 0)
        rc = cmd_load(&o, h);
    else if (strcmp(cmd->name, "stats") == 0)
        rc = cmd_stats(&o, h, &where);
    else if (strcmp(cmd->name, "tables") == 0) {
        char *js = NULL;
        rc = shmc_stats_json(h, SHMC_LIST_TABLES, &js);
        if (rc == 0) {
            printf("%s\n", js);
            free(js);
        } else {
            rc = fail(&o, cmd->name, rc);
        }
    } else {
        const char *name = cmd->name;
        if (strcmp(name, "set") == 0)
            rc = shmc_set(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(name, "add") == 0)
            rc = shmc_add(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(name, "replace") == 0)
            rc = shmc_replace(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(name, "del") == 0)
            rc = shmc_del(h, key, strlen(key));
        else if (strcmp(name, "touch") == 0)
            rc = shmc_touch(h, key, strlen(key), o.ttl);
        else if (strcmp(name, "setneg") == 0)
            rc = shmc_set_negative(h, key, strlen(key), o.ttl);
        else if (strcmp(name, "flush") == 0)
            rc = shmc_flush(h);
        else if (strcmp(name, "sync") == 0)
            rc = shmc_sync(h);
        else {
            rc = shmc_incr(h, key, strlen(key), (int64_t)delta, &nv);
            if (rc == 0)
                printf("%llu\n", (unsigned long long)nv);
        }
        if (rc != 0) {
            /* Name the key: "add k2: key already exists". */
            char what[128];
            if (key != NULL)
                what_key(what, sizeof(what), name, key);
            else
                snprintf(what, sizeof(what), "%s", name);
            rc = fail(&o, what, rc);
        } else {
            rc = EX_OK;
        }
    }
out:
    shmc_close(h);
    free(in);
    free(operand);
    return rc;
}
