/* SPDX-License-Identifier: MIT */
/*
 * conf.c -- load and validate shmcached.json.
 *
 * The file is strict JSON read by jansson with duplicate keys rejected.
 * Every key is checked against a table of known fields (type, range,
 * destination); an unknown key, a value of the wrong type or out of range
 * is an error that names the file, the line and the column of the key and
 * what is wrong, the way a compiler would: "path:line:column: text".
 * jansson reports syntax errors with positions but keeps none for values,
 * so key_positions() makes one pass over the text to record where each
 * object key sits, by its dotted path ("tables.default.size_bytes").
 * Inside a table the text names the table too, and a value out of range
 * is quoted with the limit it broke:
 *   conf.json:4:7: table "t": "size_bytes" is "32K" (32768), below the
 *   minimum 65536 (64K)
 * Byte sizes (keys ending in _bytes) take an integer or a string with a
 * binary suffix: "64K", "64M", "1G", "1T" (parse_size()).
 *
 * Nothing here touches the filesystem beyond reading the file; turning a
 * valid config into open tables is tables.c's job.  Errors are returned,
 * never logged: the caller decides (exit 78 at start-up, keep the old
 * config on SIGHUP).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conf.h"
#include "format.h"
#include "log.h"

#define CFG_TEXT_MAX (1u << 20)
#define KEYS_MAX 512

/* Where a key was seen in the text. */
struct keypos {
    char path[160];
    int line, col;
};

struct loader {
    const char *file;
    const char *table; /* the table being read, for messages; or NULL */
    struct keypos *keys;
    size_t nkeys;
    char *err;
    size_t errlen;
};

enum ftype {
    F_U32,
    F_U64,
    F_STR,
    F_LEVEL,
    F_MODE,
    F_OCTAL,
    F_GID,
    F_IDS,
    F_LOADER, /* a table's "loader" object */
    F_LTYPE,  /* its "type" */
    F_ARGV,   /* its "command" */
    F_USER,   /* its "user" */
    F_KEYVIA, /* its "key" */
    F_NSSDB,  /* its "database" */
    F_PATHS,  /* a table's "invalidate_on" */
    F_BUF,    /* a string into a char[max] */
    F_TRACK,  /* a redis loader's "tracking" */
    F_BOOL,
    F_PREFIX, /* a redis loader's "bcast_prefixes" */
};

struct field {
    const char *name;
    enum ftype type;
    size_t off;
    uint64_t min, max;
    int size; /* F_U32/F_U64 only: a byte size, suffixes allowed */
};

/* Where the nss loader's helper lives; make passes it (builds outside
 * make, such as the fuzz targets, get Debian's place). */
#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR "/usr/libexec/shmcache"
#endif

#define G(f) offsetof(struct conf, f)
/* F_STR fields share one size. */
_Static_assert(sizeof(((struct conf_table *)0)->directory) ==
                   sizeof(((struct conf *)0)->socket_path),
               "F_STR size");
#define T(f) offsetof(struct conf_table, f)

static const struct field global_fields[] = {
    {"socket_path", F_STR, G(socket_path), 0, 0, 0},
    {"max_connections", F_U32, G(max_connections), 1, 1000000, 0},
    {"max_connections_per_uid", F_U32, G(max_connections_per_uid), 1, 1000000,
     0},
    {"max_request_bytes", F_U32, G(max_request_bytes), 4096, 1u << 30, 1},
    {"max_output_bytes", F_U32, G(max_output_bytes), 4096, 1u << 30, 1},
    {"max_buffered_bytes", F_U32, G(max_buffered_bytes), 1u << 20, UINT32_MAX,
     1},
    {"idle_timeout_s", F_U32, G(idle_timeout_s), 0, 86400 * 7, 0},
    {"frame_timeout_s", F_U32, G(frame_timeout_s), 1, 3600, 0},
    {"expire_interval_ms", F_U32, G(expire_interval_ms), 10, 3600000, 0},
    {"sync_interval_s", F_U32, G(sync_interval_s), 0, 86400, 0},
    {"log_level", F_LEVEL, G(log_level), 0, 0, 0},
    {"tables", F_U32, 0, 0, 0, 0}, /* handled apart */
};

static const struct field table_fields[] = {
    {"mode", F_MODE, T(disk), 0, 0, 0},
    {"size_bytes", F_U64, T(size_bytes), 65536, (uint64_t)1 << 40, 1},
    {"buckets", F_U32, T(buckets), 0, FMT_MAX_BUCKETS, 0},
    {"expected_item_bytes", F_U32, T(item_bytes), 1, FMT_VALUE_MAX, 1},
    {"live_high_water_pct", F_U32, T(live_hwm_pct), 10, 100, 0},
    {"default_ttl_s", F_U32, T(default_ttl_s), 0, UINT32_MAX / 1000, 0},
    {"negative_ttl_s", F_U32, T(negative_ttl_s), 0, UINT32_MAX / 1000, 0},
    {"max_key_bytes", F_U32, T(max_key_bytes), 1, FMT_KEY_MAX, 1},
    {"max_value_bytes", F_U32, T(max_value_bytes), 1, FMT_VALUE_MAX, 1},
    {"file_mode", F_OCTAL, T(file_mode), 0, 0777, 0},
    {"file_gid", F_GID, T(file_gid), 0, UINT32_MAX - 1, 0},
    {"write_uids", F_IDS, T(write_uids), 0, UINT32_MAX - 1, 0},
    {"write_gids", F_IDS, T(write_gids), 0, UINT32_MAX - 1, 0},
    {"read_uids", F_IDS, T(read_uids), 0, UINT32_MAX - 1, 0},
    {"read_gids", F_IDS, T(read_gids), 0, UINT32_MAX - 1, 0},
    {"populate", F_BOOL, T(populate), 0, 0, 0},
    {"lock", F_BOOL, T(lock), 0, 0, 0},
    {"huge_pages", F_BOOL, T(huge_pages), 0, 0, 0},
    {"directory", F_STR, T(directory), 0, 0, 0},
    {"loader", F_LOADER, T(loader), 0, 0, 0},
    {"invalidate_on", F_PATHS, T(invalidate_on), 0, 0, 0},
};

#define L(f) offsetof(struct conf_loader, f)

static const struct field loader_fields[] = {
    {"type", F_LTYPE, L(type), 0, 0, 0},
    {"command", F_ARGV, L(argv), 0, 0, 0},
    {"user", F_USER, L(user), 0, 0, 0},
    {"key", F_KEYVIA, L(key_in_argv), 0, 0, 0},
    {"timeout_ms", F_U32, L(timeout_ms), 10, 3600000, 0},
    {"max_running", F_U32, L(max_running), 1, 1024, 0},
    {"max_queued", F_U32, L(max_queued), 0, 1000000, 0},
    {"database", F_NSSDB, L(database), 0, 0, 0},
    {"persistent", F_BOOL, L(persistent), 0, 0, 0},
    {"worker_requests", F_U32, L(worker_requests), 1, 1000000000, 0},
    {"worker_idle_s", F_U32, L(worker_idle_s), 1, 86400, 0},
    {"max_stale_s", F_U32, L(max_stale_s), 1, 86400 * 365, 0},
    {"endpoint", F_BUF, L(endpoint), 0,
     sizeof(((struct conf_loader *)0)->endpoint), 0},
    {"username", F_BUF, L(username), 0,
     sizeof(((struct conf_loader *)0)->username), 0},
    {"password_file", F_BUF, L(password_file), 0,
     sizeof(((struct conf_loader *)0)->password_file), 0},
    {"db", F_U32, L(db), 0, 1000000, 0},
    {"key_prefix", F_BUF, L(key_prefix), 0,
     sizeof(((struct conf_loader *)0)->key_prefix), 0},
    {"tracking", F_TRACK, L(tracking), 0, 0, 0},
    {"noloop", F_BOOL, L(noloop), 0, 0, 0},
    {"bcast_prefixes", F_PREFIX, L(prefixes), 0, 0, 0},
    {"ping_interval_ms", F_U32, L(ping_interval_ms), 10, 3600000, 0},
    {"write_through", F_BOOL, L(write_through), 0, 0, 0},
};

/* Keys that only a persistent (exec or nss) loader takes. */
static const char *const worker_only[] = {
    "worker_requests",
    "worker_idle_s",
};

/* Keys that only a redis loader takes. */
static const char *const redis_only[] = {
    "max_stale_s",
    "endpoint",
    "username",
    "password_file",
    "db",
    "key_prefix",
    "tracking",
    "noloop",
    "bcast_prefixes",
    "ping_interval_ms",
    "write_through",
};

/*
 * Record the position of every object key in text, by dotted path.  A
 * small scanner: it tracks strings (with escapes), nesting and the current
 * key of each enclosing object.  The text already parsed as JSON, so it
 * need not diagnose anything.
 */
static size_t
key_positions(const char *text, size_t len, struct keypos *out, size_t max)
{
    char stack[16][64]; /* current key per nesting level */
    int is_obj[16], depth = -1, line = 1, col = 1, sline = 0, scol = 0;
    char str[64];
    size_t n = 0, i, slen = 0, j;
    int in_str = 0, esc = 0, have_str = 0;

    for (i = 0; i < len; i++) {
        char ch = text[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0, have_str = 1;
            else if (slen < sizeof(str) - 1)
                str[slen++] = ch;
        } else if (ch == '"') {
            in_str = 1;
            slen = 0;
            sline = line;
            scol = col;
        } else if (ch == ':' && have_str && depth >= 0 && depth < 16 &&
                   is_obj[depth]) {
            str[slen] = '\0';
            snprintf(stack[depth], sizeof(stack[depth]), "%s", str);
            if (n < max) {
                out[n].path[0] = '\0';
                for (j = 0; j <= (size_t)depth; j++) {
                    size_t l = strlen(out[n].path);
                    snprintf(out[n].path + l, sizeof(out[n].path) - l, "%s%s",
                             j ? "." : "", stack[j]);
                }
                out[n].line = sline;
                out[n].col = scol;
                n++;
            }
            have_str = 0;
        } else if (ch == '{' || ch == '[') {
            if (++depth < 16) {
                is_obj[depth] = ch == '{';
                snprintf(stack[depth], sizeof(stack[depth]), "[]");
            }
            have_str = 0;
        } else if (ch == '}' || ch == ']') {
            depth--;
            have_str = 0;
        } else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            have_str = 0;
        }
        if (ch == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return n;
}

/* Report an error at the key with this dotted path; returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct loader *l, const char *path, const char *fmt, ...)
{
    int line = 1, col = 1, n;
    va_list ap;
    size_t i;

    for (i = 0; i < l->nkeys; i++)
        if (strcmp(l->keys[i].path, path) == 0) {
            line = l->keys[i].line;
            col = l->keys[i].col;
            break;
        }
    if (l->table != NULL)
        n = snprintf(l->err, l->errlen, "%s:%d:%d: table \"%s\": ", l->file,
                     line, col, l->table);
    else
        n = snprintf(l->err, l->errlen, "%s:%d:%d: ", l->file, line, col);
    if (n < 0 || (size_t)n >= l->errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* An absolute path that names a file rather than a directory. */
static int
file_path_ok(const char *s)
{
    return s[0] == '/' && s[strlen(s) - 1] != '/';
}

/*
 * A JSON array of min to CONF_ARGV_MAX strings (each passing ok(), if
 * given), stored NUL-separated in d, CONF_ARGV_BYTES in all: a loader's
 * command, a table's invalidate_on, a redis loader's prefixes.  item
 * says what each must be, for the errors.  Returns 0 or -1 (reported).
 */
static int
strings(struct loader *l, const char *path, const struct field *f, json_t *v,
        void *d, size_t min, const char *item, int (*ok)(const char *))
{
    size_t i, used = 0, n;
    const char *s;

    if (!json_is_array(v) || json_array_size(v) < min ||
        json_array_size(v) > CONF_ARGV_MAX)
        return fail(l, path, "\"%s\" must be an array of %zu-%d items, each %s",
                    f->name, min, CONF_ARGV_MAX, item);
    for (i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        s = json_is_string(e) ? json_string_value(e) : NULL;
        if (s == NULL || strlen(s) != json_string_length(e) ||
            (ok != NULL && !ok(s)))
            return fail(l, path, "\"%s\" item %zu must be %s", f->name, i,
                        item);
        n = json_string_length(e) + 1;
        if (used + n > CONF_ARGV_BYTES)
            return fail(l, path, "\"%s\" is longer than %d bytes", f->name,
                        CONF_ARGV_BYTES);
        memcpy((char *)d + used, s, n);
        used += n;
    }
    return 0;
}

/*
 * A byte size from a string: decimal digits, then optionally K, M, G or T
 * (either case) for 2^10, 2^20, 2^30, 2^40.  Returns 0, or -1 if the
 * string is anything else or the size does not fit 64 bits.
 */
static int
parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "KMGT";
    uint64_t v = 0;
    const char *u;
    int shift = 0;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s != '\0') {
        u = strchr(units, *s >= 'a' ? *s - 'a' + 'A' : *s);
        if (u == NULL || *u == '\0' || s[1] != '\0')
            return -1;
        shift = 10 * (int)(u - units + 1);
        if (v > UINT64_MAX >> shift)
            return -1;
    }
    *out = v << shift;
    return 0;
}

/* A byte count as the config may write it: "64K" when it is a whole
 * number of K, M, G or T, else plain digits. */
static const char *
size_text(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int i = 0;

    while (i < 4 && v != 0 && v % 1024 == 0) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%llu", (unsigned long long)v);
    else
        snprintf(buf, len, "%llu%c", (unsigned long long)v, units[i - 1]);
    return buf;
}

/* A limit for a message: "65536 (64K)" for a size a suffix can say,
 * else the plain number. */
static const char *
limit_text(uint64_t v, int size, char *buf, size_t len)
{
    char t[32];

    size_text(v, t, sizeof(t));
    if (size && t[strlen(t) - 1] > '9')
        snprintf(buf, len, "%llu (%s)", (unsigned long long)v, t);
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

static int load_loader(struct loader *l, const char *path, json_t *v,
                       struct conf_loader *ld);

/* Store one JSON value into dst as field f says; path is for errors. */
static int
set_field(struct loader *l, const char *path, const struct field *f, json_t *v,
          void *dst)
{
    unsigned char *d = (unsigned char *)dst + f->off;
    char given[80], lim[64];
    json_int_t x;
    const char *s;
    uint64_t u;
    char *end;
    size_t i;
    int lvl;

    switch (f->type) {
    case F_U32:
    case F_U64:
        if (f->size && json_is_string(v)) {
            s = json_string_value(v);
            if (parse_size(s, &u) != 0)
                return fail(l, path,
                            "\"%s\" must be a byte count: an integer, or a "
                            "string such as \"64K\", \"64M\", \"1G\"; got "
                            "\"%s\"",
                            f->name, s);
            snprintf(given, sizeof(given), "\"%.40s\" (%llu)", s,
                     (unsigned long long)u);
        } else if (json_is_integer(v)) {
            x = json_integer_value(v);
            snprintf(given, sizeof(given), "%lld", (long long)x);
            u = x < 0 ? 0 : (uint64_t)x;
            if (x < 0 && f->min == 0)
                return fail(l, path, "\"%s\" is %s, below the minimum 0",
                            f->name, given);
        } else {
            return fail(l, path,
                        f->size ? "\"%s\" must be an integer, or a string "
                                  "such as \"64K\", \"64M\", \"1G\""
                                : "\"%s\" must be an integer",
                        f->name);
        }
        if (u < f->min)
            return fail(l, path, "\"%s\" is %s, below the minimum %s", f->name,
                        given, limit_text(f->min, f->size, lim, sizeof(lim)));
        if (u > f->max)
            return fail(l, path, "\"%s\" is %s, above the maximum %s", f->name,
                        given, limit_text(f->max, f->size, lim, sizeof(lim)));
        if (f->type == F_U32)
            *(uint32_t *)d = (uint32_t)u;
        else
            *(uint64_t *)d = u;
        return 0;
    case F_STR:
        if (!json_is_string(v) ||
            json_string_length(v) >= sizeof(((struct conf *)0)->socket_path))
            return fail(l, path, "\"%s\" must be a string of under %zu bytes",
                        f->name, sizeof(((struct conf *)0)->socket_path));
        snprintf((char *)d, sizeof(((struct conf *)0)->socket_path), "%s",
                 json_string_value(v));
        return 0;
    case F_BOOL:
        if (!json_is_boolean(v))
            return fail(l, path, "\"%s\" must be true or false", f->name);
        *(int *)d = json_is_true(v);
        return 0;
    case F_LEVEL:
        lvl =
            json_is_string(v) ? log_level_from_name(json_string_value(v)) : -1;
        if (lvl < 0)
            return fail(l, path,
                        "\"%s\" must be one of \"err\", \"warning\", "
                        "\"notice\", \"info\", \"debug\"",
                        f->name);
        *(int *)d = lvl;
        return 0;
    case F_MODE:
        s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "memory") != 0 && strcmp(s, "disk") != 0)
            return fail(l, path, "\"%s\" must be \"memory\" or \"disk\"",
                        f->name);
        *(int *)d = strcmp(s, "disk") == 0;
        return 0;
    case F_OCTAL:
        s = json_is_string(v) ? json_string_value(v) : "";
        errno = 0;
        x = (json_int_t)strtol(s, &end, 8);
        if (*s == '\0' || *end != '\0' || errno != 0 || x < 0 ||
            (uint64_t)x > f->max)
            return fail(l, path,
                        "\"%s\" must be an octal string such as \"0640\"",
                        f->name);
        *(uint32_t *)d = (uint32_t)x;
        return 0;
    case F_GID:
        if (!json_is_integer(v) || json_integer_value(v) < -1 ||
            json_integer_value(v) > (json_int_t)f->max)
            return fail(l, path, "\"%s\" must be a group id, or -1", f->name);
        *(int64_t *)d = json_integer_value(v);
        return 0;
    case F_LOADER:
        return load_loader(l, path, v, (struct conf_loader *)d);
    case F_LTYPE:
        s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "exec") != 0 && strcmp(s, "nss") != 0 &&
            strcmp(s, "redis") != 0)
            return fail(l, path,
                        "\"%s\" must be \"exec\", \"nss\" or \"redis\"",
                        f->name);
#ifndef HAVE_HIREDIS
        if (strcmp(s, "redis") == 0)
            return fail(l, path,
                        "this shmcached was built without hiredis: no "
                        "\"redis\" loader");
#endif
        *(int *)d = strcmp(s, "nss") == 0     ? LOADER_NSS
                    : strcmp(s, "redis") == 0 ? LOADER_REDIS
                                              : LOADER_EXEC;
        return 0;
    case F_BUF:
        if (!json_is_string(v) || json_string_length(v) >= f->max ||
            strlen(json_string_value(v)) != json_string_length(v))
            return fail(l, path, "\"%s\" must be a string of under %llu bytes",
                        f->name, (unsigned long long)f->max);
        memcpy(d, json_string_value(v), json_string_length(v) + 1);
        return 0;
    case F_TRACK:
        s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "default") != 0 && strcmp(s, "bcast") != 0)
            return fail(l, path, "\"%s\" must be \"default\" or \"bcast\"",
                        f->name);
        *(int *)d = strcmp(s, "bcast") == 0 ? TRACKING_BCAST : TRACKING_DEFAULT;
        return 0;
    case F_PREFIX: {
        struct conf_loader *ld =
            (struct conf_loader *)(d - offsetof(struct conf_loader, prefixes));
        if (strings(l, path, f, v, d, 0, "a string", NULL) != 0)
            return -1;
        ld->nprefixes = (uint32_t)json_array_size(v);
        return 0;
    }
    case F_NSSDB:
        s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "passwd") != 0 && strcmp(s, "group") != 0 &&
            strcmp(s, "hosts") != 0)
            return fail(l, path,
                        "\"%s\" must be \"passwd\", \"group\" or "
                        "\"hosts\"",
                        f->name);
        snprintf((char *)d, sizeof(((struct conf_loader *)0)->database), "%s",
                 s);
        return 0;
    case F_KEYVIA:
        s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "stdin") != 0 && strcmp(s, "argv") != 0)
            return fail(l, path, "\"%s\" must be \"stdin\" or \"argv\"",
                        f->name);
        *(int *)d = strcmp(s, "argv") == 0;
        return 0;
    case F_USER:
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) >= sizeof(((struct conf_loader *)0)->user))
            return fail(l, path, "\"%s\" must be a user name of 1-%zu bytes",
                        f->name, sizeof(((struct conf_loader *)0)->user) - 1);
        snprintf((char *)d, sizeof(((struct conf_loader *)0)->user), "%s",
                 json_string_value(v));
        return 0;
    case F_ARGV: {
        struct conf_loader *ld =
            (struct conf_loader *)(d - offsetof(struct conf_loader, argv));
        if (strings(l, path, f, v, d, 1,
                    "a string (the program's absolute path, then its "
                    "arguments)",
                    NULL) != 0)
            return -1;
        if (((char *)d)[0] != '/')
            return fail(l, path,
                        "\"%s\" must start with an absolute path, not "
                        "\"%s\"",
                        f->name, (char *)d);
        ld->argc = (uint32_t)json_array_size(v);
        return 0;
    }
    case F_PATHS: {
        struct conf_table *t =
            (struct conf_table *)(d -
                                  offsetof(struct conf_table, invalidate_on));
        if (strings(l, path, f, v, d, 0, "the absolute path of a file",
                    file_path_ok) != 0)
            return -1;
        t->ninvalidate = (uint32_t)json_array_size(v);
        return 0;
    }
    case F_IDS: {
        struct conf_ids *ids = (struct conf_ids *)d;
        if (!json_is_array(v) || json_array_size(v) > CONF_ACL_MAX)
            return fail(l, path, "\"%s\" must be an array of at most %d ids",
                        f->name, CONF_ACL_MAX);
        ids->n = 0;
        for (i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                json_integer_value(e) > (json_int_t)f->max)
                return fail(l, path, "\"%s\" item %zu is not a valid id",
                            f->name, i);
            ids->id[ids->n++] = (uint32_t)json_integer_value(e);
        }
        return 0;
    }
    }
    return fail(l, path, "internal: unhandled field type");
}

/* Apply every key of obj through the field table fields[n]. */
static int apply(struct loader *l, const char *prefix, json_t *obj,
                 const struct field *fields, size_t n, void *dst);

/* Whether s is host:port with a numeric address (no name lookup may
 * block the loop): "127.0.0.1:6379", "[::1]:6379". */
static int
valid_host_port(const char *s)
{
    unsigned char addr[16];
    char host[64];
    const char *colon = strrchr(s, ':');
    size_t n;
    char *end;
    long port;

    if (colon == NULL)
        return 0;
    n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(host))
        return 0;
    memcpy(host, s, n);
    host[n] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 ||
        port > 65535)
        return 0;
    return inet_pton(AF_INET, host, addr) == 1 ||
           inet_pton(AF_INET6, host, addr) == 1;
}

/* The checks and defaults of a "redis" loader, its keys already applied. */
static int
redis_loader(struct loader *l, const char *path, json_t *v,
             struct conf_loader *ld)
{
    size_t k;

    if (json_object_get(v, "command") != NULL)
        return fail(l, path, "a \"redis\" loader takes no \"command\"");
    if (json_object_get(v, "persistent") != NULL)
        return fail(l, path, "\"persistent\" is not for a \"redis\" loader");
    for (k = 0; k < sizeof(worker_only) / sizeof(worker_only[0]); k++)
        if (json_object_get(v, worker_only[k]) != NULL)
            return fail(l, path, "\"%s\" is not for a \"redis\" loader",
                        worker_only[k]);
    if (json_object_get(v, "timeout_ms") == NULL)
        ld->timeout_ms = 1000;
    if (json_object_get(v, "max_running") == NULL)
        ld->max_running = 256; /* requests in flight: cheap */
    if (json_object_get(v, "max_stale_s") == NULL)
        ld->max_stale_s = 300;
    if (json_object_get(v, "write_through") == NULL)
        ld->write_through = 1;
    if (json_object_get(v, "noloop") == NULL)
        ld->noloop = ld->write_through; /* our writes re-read, not dropped */
    if (ld->endpoint[0] == '\0')
        return fail(l, path,
                    "a \"redis\" loader needs an \"endpoint\": a Unix "
                    "socket's path or address:port");
    if (ld->endpoint[0] == '/') {
        if (strlen(ld->endpoint) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return fail(l, path, "\"endpoint\" is too long for a socket path");
    } else if (!valid_host_port(ld->endpoint)) {
        return fail(l, path,
                    "\"endpoint\" must be a Unix socket's absolute path or "
                    "a numeric address and port such as \"127.0.0.1:6379\", "
                    "not \"%s\"",
                    ld->endpoint);
    }
    if (ld->password_file[0] != '\0' && ld->password_file[0] != '/')
        return fail(l, path, "\"password_file\" must be an absolute path");
    if (ld->username[0] != '\0' && ld->password_file[0] == '\0')
        return fail(l, path, "\"username\" needs a \"password_file\"");
    if (ld->nprefixes > 0 && ld->tracking != TRACKING_BCAST)
        return fail(l, path,
                    "\"bcast_prefixes\" needs \"tracking\": \"bcast\"");
    return 0;
}

/* A table's "loader" object. */
static int
load_loader(struct loader *l, const char *path, json_t *v,
            struct conf_loader *ld)
{
    size_t k;

    if (!json_is_object(v))
        return fail(l, path, "\"loader\" must be an object");
    memset(ld, 0, sizeof(*ld));
    snprintf(ld->user, sizeof(ld->user), "nobody");
    ld->timeout_ms = 5000;
    ld->max_running = 4;
    ld->max_queued = 1024;
    ld->ping_interval_ms = 1000;
    ld->worker_requests = 10000;
    ld->worker_idle_s = 60;
    if (apply(l, path, v, loader_fields,
              sizeof(loader_fields) / sizeof(loader_fields[0]), ld) != 0)
        return -1;
    if (ld->type == LOADER_NONE)
        return fail(l, path,
                    "\"loader\" needs a \"type\" (\"exec\", \"nss\" or "
                    "\"redis\")");
    if (ld->type == LOADER_REDIS)
        return redis_loader(l, path, v, ld);
    for (k = 0; k < sizeof(redis_only) / sizeof(redis_only[0]); k++)
        if (json_object_get(v, redis_only[k]) != NULL)
            return fail(l, path, "\"%s\" is for a \"redis\" loader",
                        redis_only[k]);
    /* The nss helper keeps workers unless told not to; an exec program
     * must be written for it (common/loadwire.h), so it is asked for. */
    if (ld->type == LOADER_NSS && json_object_get(v, "persistent") == NULL)
        ld->persistent = 1;
    for (k = 0; k < sizeof(worker_only) / sizeof(worker_only[0]); k++)
        if (!ld->persistent && json_object_get(v, worker_only[k]) != NULL)
            return fail(l, path, "\"%s\" needs \"persistent\": true",
                        worker_only[k]);
    if (ld->type == LOADER_EXEC && ld->persistent && ld->key_in_argv)
        return fail(l, path,
                    "a \"persistent\" loader reads its keys on stdin, not "
                    "as an argument (\"key\": \"argv\")");
    if (ld->type == LOADER_NSS) {
        /* Our helper (or "command", for tests), given "--serve" when
         * persistent, then the database; keys always come on stdin. */
        size_t used = 0, n;
        uint32_t i;
        if (ld->database[0] == '\0')
            return fail(l, path,
                        "an \"nss\" loader needs a \"database\": "
                        "\"passwd\", \"group\" or \"hosts\"");
        if (ld->argc == 0) {
            snprintf(ld->argv, sizeof(ld->argv), "%s",
                     PKGLIBEXECDIR "/shmcache-nss-load");
            ld->argc = 1;
        }
        for (i = 0; i < ld->argc; i++)
            used += strlen(ld->argv + used) + 1;
        n = strlen(ld->database) + 1;
        if (used + n + sizeof("--serve") > sizeof(ld->argv) ||
            ld->argc + 2 > CONF_ARGV_MAX)
            return fail(l, path, "\"command\" is too long");
        if (ld->persistent) {
            memcpy(ld->argv + used, "--serve", sizeof("--serve"));
            used += sizeof("--serve");
            ld->argc++;
        }
        memcpy(ld->argv + used, ld->database, n);
        ld->argc++;
        ld->key_in_argv = 0;
        return 0;
    }
    if (ld->argc == 0)
        return fail(l, path,
                    "an \"exec\" loader needs a \"command\": the program "
                    "and its arguments");
    return 0;
}

static int
apply(struct loader *l, const char *prefix, json_t *obj,
      const struct field *fields, size_t n, void *dst)
{
    const char *key;
    char path[160];
    json_t *v;
    size_t i;

    json_object_foreach(obj, key, v)
    {
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        for (i = 0; i < n; i++)
            if (strcmp(fields[i].name, key) == 0)
                break;
        if (i == n)
            return fail(l, path, "unknown key \"%s\"", key);
        if (fields == global_fields && strcmp(key, "tables") == 0)
            continue;
        if (set_field(l, path, &fields[i], v, dst) != 0)
            return -1;
    }
    return 0;
}

/* A table name doubles as a file name: [A-Za-z0-9_-]{1,64}. */
static int
valid_name(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > PROTO_TABLE_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* Defaults of a table; see conf/shmcached.json. */
static void
table_defaults(struct conf_table *t)
{
    memset(t, 0, sizeof(*t));
    t->size_bytes = 64u << 20;
    t->default_ttl_s = 3600;
    t->negative_ttl_s = 60;
    t->max_key_bytes = 250;
    t->max_value_bytes = 1u << 20;
    t->item_bytes = 100;
    t->live_hwm_pct = 90;
    t->file_mode = 0640;
    t->file_gid = -1;
}

/* Parse the "tables" object. */
static int
load_tables(struct loader *l, json_t *tables, struct conf *c)
{
    const char *name;
    char path[160], kpath[192];
    json_t *v;
    size_t i = 0;

    if (!json_is_object(tables) || json_object_size(tables) == 0)
        return fail(l, "tables",
                    "\"tables\" must be an object naming at "
                    "least one table");
    c->tables = calloc(json_object_size(tables), sizeof(*c->tables));
    if (c->tables == NULL)
        return fail(l, "tables", "out of memory");
    json_object_foreach(tables, name, v)
    {
        struct conf_table *t = &c->tables[i++];
        snprintf(path, sizeof(path), "tables.%s", name);
        l->table = NULL;
        if (!valid_name(name))
            return fail(l, path,
                        "table name \"%s\" must be 1-%u of "
                        "A-Z a-z 0-9 _ -",
                        name, PROTO_TABLE_MAX);
        if (!json_is_object(v))
            return fail(l, path, "table \"%s\" must be an object", name);
        table_defaults(t);
        snprintf(t->name, sizeof(t->name), "%s", name);
        l->table = t->name;
        if (apply(l, path, v, table_fields,
                  sizeof(table_fields) / sizeof(table_fields[0]), t) != 0)
            return -1;
        if (t->buckets == 1)
            return fail(l, path,
                        "\"buckets\" must be 0 (automatic) or 2 "
                        "or more");
        if (FMT_ENTRY_SIZE(t->max_key_bytes, t->max_value_bytes) >
            t->size_bytes / 4)
            return fail(l, path,
                        "max_key_bytes (%u) + max_value_bytes (%u) make "
                        "entries of up to %llu bytes, more than a quarter of "
                        "size_bytes (%llu / 4 = %llu): raise size_bytes to "
                        "at least %llu or lower the limits",
                        t->max_key_bytes, t->max_value_bytes,
                        (unsigned long long)FMT_ENTRY_SIZE(t->max_key_bytes,
                                                           t->max_value_bytes),
                        (unsigned long long)t->size_bytes,
                        (unsigned long long)(t->size_bytes / 4),
                        (unsigned long long)FMT_ENTRY_SIZE(t->max_key_bytes,
                                                           t->max_value_bytes) *
                            4);
        snprintf(kpath, sizeof(kpath), "%s.huge_pages", path);
        if (t->disk && t->huge_pages)
            return fail(l, kpath,
                        "\"huge_pages\" is for memory tables; a disk table "
                        "is a file on disk");
        snprintf(kpath, sizeof(kpath), "%s.directory", path);
        if (t->disk && t->directory[0] != '\0')
            return fail(l, kpath,
                        "\"directory\" is for memory tables; disk tables "
                        "live in the state directory");
        if (t->directory[0] != '\0' && t->directory[0] != '/')
            return fail(l, kpath,
                        "\"directory\" must be an absolute path; got \"%s\"",
                        t->directory);
        t->read_any = t->read_uids.n == 0 && t->read_gids.n == 0;
        c->ntables = i;
    }
    l->table = NULL;
    return 0;
}

/* The connections' buffers together must hold twice what one connection
 * may: a request, the replies it may queue, and one more reply as large
 * as a value can be.  (control.c closes the biggest connections over the
 * budget; none may be over it on its own.) */
static int
check_budget(struct loader *l, const struct conf *c)
{
    uint64_t one = (uint64_t)c->max_request_bytes + c->max_output_bytes,
             value = 0;
    size_t i;

    for (i = 0; i < c->ntables; i++)
        if (c->tables[i].max_value_bytes > value)
            value = c->tables[i].max_value_bytes;
    one += value + 65536;
    if ((uint64_t)c->max_buffered_bytes < 2 * one)
        return fail(l, "max_buffered_bytes",
                    "\"max_buffered_bytes\" %u is less than twice what one "
                    "connection may buffer (max_request_bytes + "
                    "max_output_bytes + the largest max_value_bytes + 64 KiB "
                    "= %llu)",
                    c->max_buffered_bytes, (unsigned long long)one);
    return 0;
}

/*
 * Load and validate the config at path.  Returns 0, or -1 with
 * "path:line:column: text" in err.
 */
int
conf_load(const char *path, struct conf **out, char *err, size_t errlen)
{
    struct keypos *keys = NULL;
    struct loader l = {path, NULL, NULL, 0, err, errlen};
    struct conf *c = NULL;
    json_error_t jerr;
    json_t *root = NULL;
    char *text = NULL;
    size_t len;
    FILE *f;
    int rc = -1;

    *out = NULL;
    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(CFG_TEXT_MAX + 1);
    keys = calloc(KEYS_MAX, sizeof(*keys));
    if (text == NULL || keys == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    len = fread(text, 1, CFG_TEXT_MAX + 1, f);
    fclose(f);
    if (len > CFG_TEXT_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, CFG_TEXT_MAX);
        goto out;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                 jerr.text);
        goto out;
    }
    l.keys = keys;
    l.nkeys = key_positions(text, len, keys, KEYS_MAX);
    if (!json_is_object(root)) {
        fail(&l, "", "the top level must be an object");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    c->max_connections = 1024;
    c->max_connections_per_uid = 256;
    c->frame_timeout_s = 10;
    c->max_request_bytes = 2u << 20;
    c->max_output_bytes = 4u << 20;
    c->max_buffered_bytes = 256u << 20;
    c->idle_timeout_s = 300;
    c->expire_interval_ms = 1000;
    c->sync_interval_s = 30;
    c->log_level = LOG_LVL_NOTICE;
    if (apply(&l, "", root, global_fields,
              sizeof(global_fields) / sizeof(global_fields[0]), c) != 0)
        goto out;
    if (load_tables(&l, json_object_get(root, "tables"), c) != 0)
        goto out;
    if (check_budget(&l, c) != 0)
        goto out;
    *out = c;
    c = NULL;
    rc = 0;
out:
    conf_free(c);
    json_decref(root);
    free(text);
    free(keys);
    return rc;
}

/* Free a config (NULL is fine). */
void
conf_free(struct conf *c)
{
    if (c == NULL)
        return;
    free(c->tables);
    free(c);
}

/* The table called name[len], or NULL. */
const struct conf_table *
conf_table(const struct conf *c, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < c->ntables; i++)
        if (strlen(c->tables[i].name) == len &&
            memcmp(c->tables[i].name, name, len) == 0)
            return &c->tables[i];
    return NULL;
}
