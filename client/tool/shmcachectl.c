/* SPDX-License-Identifier: MIT */
/*
 * shmcachectl.c -- the command-line tool, on libshmcache's public API only
 * (and jansson for --json).
 *
 * stats lives in stats.c, load in load.c; ctl.h is what they share.
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

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define VALUE_MAX (64u << 20) /* largest value get will fetch */

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
    {"del", "KEY...", 1, -1, 0},
    {"touch", "KEY", 1, 1, C_TTL},
    {"incr", "KEY [N]", 1, 2, 0},
    {"setneg", "KEY", 1, 1, C_TTL},
    {"flush", "", 0, 0, 0},
    {"invalidate", "[TABLE]", 0, 1, 0},
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
            "  del KEY...              delete (every key in one round "
            "trip or a few)\n"
            "  touch KEY --ttl S       new TTL, same value\n"
            "  incr KEY [N]            add N (default 1; negative "
            "subtracts)\n"
            "  setneg KEY [--ttl S]    cache KEY as known absent\n"
            "  flush                   drop every entry of the table\n"
            "  invalidate [TABLE]      flush TABLE (default -t's), as nscd "
            "-i\n"
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
int
ctl_status_of(int rc)
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
int
ctl_fail(const struct opts *o, const char *what, int rc)
{
    int st = ctl_status_of(rc);
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
const char *
ctl_socket_of(const struct opts *o)
{
    const char *sock = o->socket ? o->socket : getenv("SHMCACHE_SOCKET");

    return sock != NULL && *sock != '\0' ? sock
                                         : RUNSTATEDIR
               "/shmcached/control.sock";
}

/*
 * Open the table: through the daemon, or, for a read while the daemon
 * cannot be reached (or went away as we asked), its file.  Where the file is:
 * the daemon keeps an entry for every table beside its socket,
 * <dir>/<table>.shm, which is a memory table's file or a symbolic link to a
 * disk table's file (see daemon/tables.c); with the default socket, a disk
 * table is also looked for in the default state directory, where it stays when
 * /run was emptied (a reboot).  *where says which file was mapped and what kind
 * of table it is, when the tool can tell.
 */
static int
open_table(const struct opts *o, int for_read, shmc_t **h, struct where *w)
{
    const char *sock = ctl_socket_of(o), *slash = strrchr(sock, '/');
    struct stat st;
    int rc, frc;

    w->mode = NULL;
    w->path[0] = '\0';
    if (o->file != NULL) {
        snprintf(w->path, sizeof(w->path), "%s", o->file);
        return shmc_open_file(o->file, 0, h);
    }
    rc = shmc_open(sock, o->table, 0, h);
    /* A daemon that stopped while it had our connection (a restart: under
     * socket activation the next one takes the socket over) resets it;
     * opening has no side effect, so try once more. */
    if (rc == -ECONNRESET || rc == -EPIPE)
        rc = shmc_open(sock, o->table, 0, h);
    if (rc == 0 || !for_read ||
        (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ECONNRESET &&
         rc != -EPIPE))
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
unsigned char *
ctl_json_get_bytes(json_t *obj, const char *name, size_t *len)
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
void
ctl_print_json(json_t *j)
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
        ctl_print_json(j);
        n++;
    }
    free(k);
    free(v);
    if (rc == SHMC_ERANGE || k == NULL || v == NULL)
        return ctl_fail(o, "dump", -ENOMEM);
    if (bad > 0 && !o->quiet)
        fprintf(stderr,
                "shmcachectl: dump: %llu damaged or busy entries "
                "skipped\n",
                (unsigned long long)bad);
    return rc == SHMC_ENOTFOUND ? EX_OK : ctl_fail(o, "dump", rc);
}

/* The wall clock in ms, as entry expiries count it. */
uint64_t
ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The header facts of the handle's mapping, as JSON. */
json_t *
ctl_info_json(shmc_t *h)
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
        return ctl_fail(o, "inspect", -EINVAL);
    k = malloc(info.max_key_bytes + 1);
    v = malloc(info.max_value_bytes + 1);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return ctl_fail(o, "inspect", -ENOMEM);
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
    j = ctl_info_json(h);
    if (j == NULL)
        return ctl_fail(o, "inspect", -EINVAL);
    json_object_set_new(j, "source", json_string("file"));
    json_object_set_new(j, "live_entries", json_integer((json_int_t)live));
    json_object_set_new(j, "negative_entries",
                        json_integer((json_int_t)negative));
    json_object_set_new(j, "damaged_entries",
                        json_integer((json_int_t)damaged));
    ctl_print_json(j);
    if (rc != SHMC_ENOTFOUND)
        return ctl_fail(o, "inspect", rc);
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
    ctl_print_json(j);
}

/* get KEY */
static int
cmd_get(const struct opts *o, shmc_t *h, const char *key)
{
    size_t size = 4096, n = 0;
    char *buf = malloc(size), what[128];
    int rc;

    if (buf == NULL)
        return ctl_fail(o, "get", -ENOMEM);
    rc = fetch(h, key, &buf, &size, &n);
    if (rc == -ENOMEM) {
        free(buf);
        return ctl_fail(o, "get", rc);
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
    return ctl_fail(o, what, rc);
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
            s1 = ctl_fail(o, what, rcs[i]);
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
    return rc != 0 ? ctl_fail(o, "mget", rc) : st;
}

/*
 * del KEY...: shmc_mdel() for all keys at once (as redis-cli DEL k1 k2).
 * Nothing on stdout; a message on stderr for each key that was not
 * deleted.  Exit 0 if every key was deleted, 1 if some were not there,
 * another status for the first other failure.
 */
static int
cmd_del(const struct opts *o, shmc_t *h, size_t n, const char *const keys[])
{
    size_t *klens = calloc(n, sizeof(*klens)), i;
    int *rcs = calloc(n, sizeof(*rcs)), rc = 0, st = EX_OK, s1;
    char what[128];

    if (klens == NULL || rcs == NULL)
        rc = -ENOMEM;
    for (i = 0; rc == 0 && i < n; i++)
        klens[i] = strlen(keys[i]);
    if (rc == 0)
        rc = shmc_mdel(h, n, (const void *const *)keys, klens, rcs);
    for (i = 0; rc == 0 && i < n; i++) {
        if (rcs[i] == 0)
            continue;
        what_key(what, sizeof(what), "del", keys[i]);
        s1 = ctl_fail(o, what, rcs[i]);
        if (st == EX_OK || (st == EX_MISS && s1 != EX_MISS))
            st = s1;
    }
    free(klens);
    free(rcs);
    if (rc == 0)
        return st;
    /* The whole call failed: name the key when there is only one. */
    if (n == 1)
        what_key(what, sizeof(what), "del", keys[0]);
    else
        snprintf(what, sizeof(what), "del");
    return ctl_fail(o, what, rc);
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
        now = ctl_now_ms();
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
        ctl_print_json(j);
        return rc == 0 ? EX_OK : EX_MISS;
    }
    if (rc == 0) {
        printf("%lld\n", ttl);
        return EX_OK;
    }
    what_key(what, sizeof(what), "ttl", key);
    return ctl_fail(o, what, rc);
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
        ctl_fail(o, "ping", rc);
        return EX_MISS;
    }
    us = (long long)(b.tv_sec - a.tv_sec) * 1000000 +
         (b.tv_nsec - a.tv_nsec) / 1000;
    if (o->json) {
        j = json_pack("{s:s, s:I}", "socket", sock, "latency_us",
                      (json_int_t)us);
        ctl_print_json(j);
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
        return ctl_fail(&o, "shmcachectl", -ENOMEM);
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
    /* "invalidate passwd", as "nscd -i passwd": a flush of that table. */
    if (strcmp(cmd->name, "invalidate") == 0 && nargs == 1)
        o.table = operand[0];
    /* Keys: every operand of the KEY... commands (mget, del), the first
     * of the other KEY commands. */
    for (c = 0; c < nargs; c++) {
        if (*operand[c] != '\0' ||
            (c > 0 && strncmp(cmd->args, "KEY...", 6) != 0) ||
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
                rc = ctl_fail(&o, "read stdin", -ENOMEM);
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
    if (o.all && (rc == -ENOENT || rc == -ECONNREFUSED || rc == -ECONNRESET ||
                  rc == -EPIPE)) {
        /* stats --all with the daemon down: every table file found. */
        json_t *doc = stats_doc(&o, NULL, &where, &st);
        if (doc != NULL) {
            stats_print(&o, doc);
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
        const char *sock = ctl_socket_of(&o);
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
        st = ctl_fail(&o, what, rc);
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
    else if (strcmp(cmd->name, "del") == 0)
        rc = cmd_del(&o, h, (size_t)nargs, operand);
    else if (strcmp(cmd->name, "ttl") == 0)
        rc = cmd_ttl(&o, h, key);
    else if (strcmp(cmd->name, "ping") == 0)
        rc = cmd_ping(&o, h, ctl_socket_of(&o));
    else if (strcmp(cmd->name, "dump") == 0)
        rc = cmd_dump(&o, h);
    else if (strcmp(cmd->name, "inspect") == 0)
        rc = cmd_inspect(&o, h);
    else if (strcmp(cmd->name, "load") == 0)
        rc = load_cmd(&o, h);
    else if (strcmp(cmd->name, "stats") == 0)
        rc = stats_cmd(&o, h, &where);
    else if (strcmp(cmd->name, "tables") == 0) {
        char *js = NULL;
        rc = shmc_stats_json(h, SHMC_LIST_TABLES, &js);
        if (rc == 0) {
            printf("%s\n", js);
            free(js);
        } else {
            rc = ctl_fail(&o, cmd->name, rc);
        }
    } else {
        const char *name = cmd->name;
        if (strcmp(name, "set") == 0)
            rc = shmc_set(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(name, "add") == 0)
            rc = shmc_add(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(name, "replace") == 0)
            rc = shmc_replace(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(name, "touch") == 0)
            rc = shmc_touch(h, key, strlen(key), o.ttl);
        else if (strcmp(name, "setneg") == 0)
            rc = shmc_set_negative(h, key, strlen(key), o.ttl);
        else if (strcmp(name, "flush") == 0 || strcmp(name, "invalidate") == 0)
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
            rc = ctl_fail(&o, what, rc);
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
