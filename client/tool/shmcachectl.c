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

    if (o->quiet || st == EX_MISS)
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

/* get KEY */
static int
cmd_get(const struct opts *o, shmc_t *h, const char *key)
{
    size_t size = 4096, n = 0;
    char *buf = malloc(size), *b64;
    json_t *j, *v;
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
        return fail(o, "get", rc);
    }
    if (!o->json) {
        fwrite(buf, 1, n, stdout);
    } else {
        /* A value is a string when it is valid UTF-8, else base64. */
        v = json_stringn(buf, n);
        j = v ? json_pack("{s:s, s:o}", "key", key, "value", v) : NULL;
        if (j == NULL) {
            b64 = base64((unsigned char *)buf, n);
            j = json_pack("{s:s, s:s}", "key", key, "value_b64",
                          b64 ? b64 : "");
            free(b64);
        }
        json_dumpf(j, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(j);
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
    } else if (strcmp(cmd, "flush") == 0) {
        if (nargs != 0)
            goto bad;
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

    is_read = strcmp(cmd, "get") == 0;
    rc = open_table(&o, is_read, &h);
    if (rc != 0) {
        st = fail(&o, "open", rc);
        free(in);
        return st == EX_MISS ? EX_UNAVAILABLE : st;
    }
    if (is_read)
        rc = cmd_get(&o, h, key);
    else {
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
        else {
            rc = shmc_incr(h, key, strlen(key), (int64_t)delta, &nv);
            if (rc == 0)
                printf("%llu\n", (unsigned long long)nv);
        }
        rc = rc == 0 ? EX_OK : fail(&o, cmd, rc);
    }
    shmc_close(h);
    free(in);
    return rc;
bad:
    free(in);
    usage(stderr);
    return EX_USAGE;
}
