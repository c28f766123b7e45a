/* SPDX-License-Identifier: MIT */
/*
 * shmcachectl.c -- the command-line tool, on libshmcache's public API only
 * (and jansson for --json).
 *
 * Reads (get) use the mapping, so they work while the daemon is down: if
 * the daemon cannot be reached, the table file next to its socket (or
 * --file) is mapped directly.  Writes go through the daemon.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    int json, quiet;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: shmcachectl [-s SOCKET] [-t TABLE] [-f FILE] [--json] "
            "[-q] COMMAND ...\n"
            "  get KEY                 print the value (raw; --json: an "
            "object)\n"
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
            "  stats                   the table's statistics (JSON; from "
            "the mapping if the daemon is down)\n"
            "  tables                  the daemon's tables (JSON)\n"
            "  sync                    write a disk table to its file now\n"
            "  dump                    every entry, one JSON object per "
            "line\n"
            "  load                    read dump output from stdin and "
            "store it\n"
            "  inspect FILE            check a table file offline (exit 1 "
            "if damaged)\n"
            "options: -s/--socket PATH (default $SHMCACHE_SOCKET or "
            "%s/shmcached/control.sock)\n"
            "         -t/--table NAME (default \"default\"); -f/--file "
            "PATH (read a table file)\n"
            "         --ttl S (0 = table default); --json; -q/--quiet; "
            "--version\n"
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

/* Open the table: through the daemon, or its file when the daemon cannot
 * be reached (reads only need the mapping). */
static int
open_table(const struct opts *o, int for_read, shmc_t **h)
{
    char path[4096];
    const char *sock = o->socket ? o->socket : getenv("SHMCACHE_SOCKET");
    const char *slash;
    int rc;

    if (o->file != NULL)
        return shmc_open_file(o->file, 0, h);
    rc = shmc_open(sock, o->table, 0, h);
    if (rc == 0 || !for_read || (rc != -ENOENT && rc != -ECONNREFUSED))
        return rc;
    if (sock == NULL || *sock == '\0')
        sock = RUNSTATEDIR "/shmcached/control.sock";
    slash = strrchr(sock, '/');
    snprintf(path, sizeof(path), "%.*s/%s.shm", slash ? (int)(slash - sock) : 1,
             slash ? sock : ".", o->table);
    return shmc_open_file(path, 0, h) == 0 ? 0 : rc;
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
        fprintf(stderr, "shmcachectl: bad --ttl: %s\n", s);
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

/* load: JSON Lines as dump writes them, from stdin. */
static int
cmd_load(const struct opts *o, shmc_t *h)
{
    char *line = NULL;
    size_t cap = 0;
    json_t *ej;
    unsigned long long loaded = 0, skipped = 0, lineno = 0;
    uint64_t now = 0, expiry;
    unsigned char *k, *v;
    size_t kl, vl;
    json_error_t err;
    json_t *j;
    uint32_t ttl;
    int rc = 0;

    /* Lines of any length (getline): values may be large. */
    while (getline(&line, &cap, stdin) > 0) {
        lineno++;
        j = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
        k = j ? json_get_bytes(j, "key", &kl) : NULL;
        ej = j ? json_object_get(j, "expiry_ms") : NULL;
        if (k == NULL || (ej != NULL && (!json_is_integer(ej) ||
                                         json_integer_value(ej) < 0))) {
            fprintf(stderr, "shmcachectl: load: line %llu: %s\n", lineno,
                    j == NULL   ? err.text
                    : k == NULL ? "no key"
                                : "expiry_ms must be a non-negative integer");
            free(k);
            json_decref(j);
            free(line);
            return EX_USAGE;
        }
        expiry = ej ? (uint64_t)json_integer_value(ej) : 0;
        ttl = SHMC_TTL_NEVER;
        if (expiry != 0) {
            struct timespec ts;
            if (now == 0) {
                clock_gettime(CLOCK_REALTIME, &ts);
                now =
                    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
            }
            if (expiry <= now) { /* expired meanwhile: not resurrected */
                skipped++;
                free(k);
                json_decref(j);
                continue;
            }
            /* Beyond what a TTL can say: keep it forever. */
            ttl = expiry - now > (uint64_t)(UINT32_MAX - 1) * 1000
                      ? SHMC_TTL_NEVER
                      : (uint32_t)((expiry - now + 999) / 1000);
        }
        if (json_is_true(json_object_get(j, "negative"))) {
            rc = shmc_set_negative(h, k, kl, ttl);
        } else {
            v = json_get_bytes(j, "value", &vl);
            rc = v ? shmc_set(h, k, kl, v, vl, ttl) : 1;
            free(v);
        }
        free(k);
        json_decref(j);
        if (rc != 0) {
            fprintf(stderr, "shmcachectl: load: line %llu: %s\n", lineno,
                    rc == 1 ? "no value or value_b64" : shmc_strerror(rc));
            free(line);
            return rc == 1                    ? EX_USAGE
                   : status_of(rc) == EX_MISS ? EX_SOFTWARE
                                              : status_of(rc);
        }
        loaded++;
    }
    free(line);
    if (!o->quiet)
        fprintf(stderr,
                "shmcachectl: loaded %llu entries, %llu expired skipped\n",
                loaded, skipped);
    return EX_OK;
}

/* The header facts of the handle's mapping, as JSON. */
static json_t *
info_json(shmc_t *h)
{
    struct shmc_info i;

    if (shmc_info(h, &i, sizeof(i)) != 0)
        return NULL;
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:I, s:I}",
        "source", "mapping", "format_version", (json_int_t)i.format_version,
        "generation", (json_int_t)i.generation, "size_bytes",
        (json_int_t)i.file_size, "arena_bytes", (json_int_t)i.arena_bytes,
        "used_bytes", (json_int_t)i.used_bytes, "buckets",
        (json_int_t)i.buckets, "max_key_bytes", (json_int_t)i.max_key_bytes,
        "max_value_bytes", (json_int_t)i.max_value_bytes, "entries",
        (json_int_t)i.entries, "sets", (json_int_t)i.sets, "deletes",
        (json_int_t)i.deletes, "evictions", (json_int_t)i.evictions,
        "expirations", (json_int_t)i.expirations, "relocations",
        (json_int_t)i.relocations, "heartbeat_ms", (json_int_t)i.heartbeat_ms,
        "retired", i.retired, "clean", i.clean, "live_bytes",
        (json_int_t)i.live_bytes, "dead_bytes",
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

/* get KEY */
static int
cmd_get(const struct opts *o, shmc_t *h, const char *key)
{
    size_t size = 4096, n = 0;
    char *buf = malloc(size);
    json_t *j;
    int rc;

    while (buf != NULL &&
           (rc = shmc_get(h, key, strlen(key), buf, size, &n)) == SHMC_ERANGE &&
           n <= VALUE_MAX) {
        free(buf);
        size = n;
        buf = malloc(size ? size : 1);
    }
    if (buf == NULL)
        return fail(o, "get", -ENOMEM);
    if (rc != 0) {
        free(buf);
        if (o->json && (rc == SHMC_ENOTFOUND || rc == SHMC_ENEGATIVE)) {
            /* A miss is an answer, on stdout: {"key":..,"found":false}. */
            j = json_object();
            json_set_bytes(j, "key", key, strlen(key));
            json_object_set_new(j, "found", json_false());
            if (rc == SHMC_ENEGATIVE)
                json_object_set_new(j, "negative", json_true());
            print_json(j);
            return EX_MISS;
        }
        {
            char what[128];
            snprintf(what, sizeof(what), "get %.*s", 100, key);
            return fail(o, what, rc);
        }
    }
    if (!o->json) {
        fwrite(buf, 1, n, stdout);
    } else {
        /* Strings when they are valid UTF-8, else base64 (_b64). */
        j = json_object();
        json_set_bytes(j, "key", key, strlen(key));
        json_set_bytes(j, "value", buf, n);
        print_json(j);
    }
    free(buf);
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
    struct opts o = {NULL, "default", NULL, 0, 0, 0};
    const char *cmd, *key = NULL, *val = NULL, *operand[2];
    char *in = NULL, *end;
    size_t vlen = 0;
    uint64_t nv;
    long long delta = 1;
    shmc_t *h = NULL;
    int c, rc, st, nargs, is_read;

    /* Options before the command; getopt stops at the command ("+"). */
    while ((c = getopt_long(argc, argv, "+s:t:f:qh", lopts, NULL)) != -1) {
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
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case 'V':
            printf("shmcachectl %s\n", shmc_version());
            return EX_OK;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    cmd = argv[optind];
    /* After the command: --ttl S, --json and -q may follow the operands;
     * anything else is an operand, so "-" (stdin) and "-5" stay one. */
    for (nargs = 0, c = optind + 1; c < argc; c++) {
        if (strcmp(argv[c], "--ttl") == 0 && c + 1 < argc) {
            if (parse_ttl(argv[++c], &o.ttl) != 0)
                return EX_USAGE;
        } else if (strncmp(argv[c], "--ttl=", 6) == 0) {
            if (parse_ttl(argv[c] + 6, &o.ttl) != 0)
                return EX_USAGE;
        } else if (strcmp(argv[c], "--json") == 0) {
            o.json = 1;
        } else if (strcmp(argv[c], "-q") == 0 ||
                   strcmp(argv[c], "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(argv[c], "--ttl") == 0 || nargs == 2) {
            goto bad;
        } else {
            operand[nargs++] = argv[c];
        }
    }
    key = nargs >= 1 ? operand[0] : NULL;
    val = nargs >= 2 ? operand[1] : NULL;
    if (strcmp(cmd, "set") == 0 || strcmp(cmd, "add") == 0 ||
        strcmp(cmd, "replace") == 0) {
        if (nargs != 2)
            goto bad;
        if (strcmp(val, "-") == 0) {
            in = read_stdin(&vlen);
            if (in == NULL)
                return fail(&o, "read stdin", -ENOMEM);
            val = in;
        } else {
            vlen = strlen(val);
        }
    } else if (strcmp(cmd, "incr") == 0) {
        if (nargs < 1 || nargs > 2)
            goto bad;
        if (val != NULL) {
            errno = 0;
            delta = strtoll(val, &end, 10);
            if (*val == '\0' || *end != '\0' || errno != 0)
                goto bad;
        }
    } else if (strcmp(cmd, "flush") == 0 || strcmp(cmd, "stats") == 0 ||
               strcmp(cmd, "tables") == 0 || strcmp(cmd, "sync") == 0 ||
               strcmp(cmd, "dump") == 0 || strcmp(cmd, "load") == 0) {
        if (nargs != 0)
            goto bad;
    } else if (strcmp(cmd, "inspect") == 0) {
        if (nargs != 1)
            goto bad;
        o.file = key; /* offline: the file itself, never the daemon */
        key = NULL;
    } else if (strcmp(cmd, "get") == 0 || strcmp(cmd, "del") == 0 ||
               strcmp(cmd, "touch") == 0 || strcmp(cmd, "setneg") == 0) {
        if (nargs != 1)
            goto bad;
    } else {
        fprintf(stderr, "shmcachectl: unknown command: %s\n", cmd);
        goto bad;
    }
    if (key != NULL && *key == '\0')
        goto bad;

    is_read = strcmp(cmd, "get") == 0 || strcmp(cmd, "stats") == 0 ||
              strcmp(cmd, "dump") == 0 || strcmp(cmd, "inspect") == 0;
    rc = open_table(&o, is_read, &h);
    if (rc != 0 && strcmp(cmd, "inspect") == 0 &&
        (rc == SHMC_ECORRUPT || rc == SHMC_EVERSION)) {
        /* For inspect, an unreadable header is a finding, not a failure. */
        if (!o.quiet)
            fprintf(stderr, "shmcachectl: inspect: %s: %s\n", o.file,
                    shmc_strerror(rc));
        free(in);
        return EX_MISS;
    }
    if (rc != 0) {
        /* Say which socket, table or file, and what to check. */
        char what[4300];
        const char *sock = o.socket ? o.socket : getenv("SHMCACHE_SOCKET");
        if (sock == NULL || *sock == '\0')
            sock = RUNSTATEDIR "/shmcached/control.sock";
        if (o.file != NULL)
            snprintf(what, sizeof(what), "open %s", o.file);
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
        free(in);
        return st == EX_MISS ? EX_UNAVAILABLE : st;
    }
    if (strcmp(cmd, "get") == 0)
        rc = cmd_get(&o, h, key);
    else if (strcmp(cmd, "dump") == 0)
        rc = cmd_dump(&o, h);
    else if (strcmp(cmd, "inspect") == 0)
        rc = cmd_inspect(&o, h);
    else if (strcmp(cmd, "load") == 0)
        rc = cmd_load(&o, h);
    else if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "tables") == 0) {
        char *js = NULL;
        rc = shmc_stats_json(
            h, cmd[0] == 't' ? SHMC_LIST_TABLES : SHMC_STATS_TABLE, &js);
        if (rc == 0) {
            printf("%s\n", js);
            free(js);
        } else if (cmd[0] == 's' && rc == SHMC_EREADONLY) {
            /* No daemon: what the mapping's header says. */
            json_t *j = info_json(h);
            rc = j ? (print_json(j), EX_OK) : fail(&o, cmd, -EINVAL);
        } else {
            rc = fail(&o, cmd, rc);
        }
    } else {
        if (strcmp(cmd, "set") == 0)
            rc = shmc_set(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(cmd, "add") == 0)
            rc = shmc_add(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(cmd, "replace") == 0)
            rc = shmc_replace(h, key, strlen(key), val, vlen, o.ttl);
        else if (strcmp(cmd, "del") == 0)
            rc = shmc_del(h, key, strlen(key));
        else if (strcmp(cmd, "touch") == 0)
            rc = shmc_touch(h, key, strlen(key), o.ttl);
        else if (strcmp(cmd, "setneg") == 0)
            rc = shmc_set_negative(h, key, strlen(key), o.ttl);
        else if (strcmp(cmd, "flush") == 0)
            rc = shmc_flush(h);
        else if (strcmp(cmd, "sync") == 0)
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
                snprintf(what, sizeof(what), "%s %.*s", cmd, 100, key);
            else
                snprintf(what, sizeof(what), "%s", cmd);
            rc = fail(&o, what, rc);
        } else {
            rc = EX_OK;
        }
    }
    shmc_close(h);
    free(in);
    return rc;
bad:
    free(in);
    usage(stderr);
    return EX_USAGE;
}
