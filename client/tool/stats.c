/* SPDX-License-Identifier: MIT */
/*
 * stats.c -- shmcachectl stats: the same keys whether the daemon is up or
 * down, as JSON or in Prometheus's text exposition format.
 *
 * A table's statistics come from two places: the daemon's STATS reply
 * (its own counters and settings) and the table file's header
 * (shmc_info(): counters the daemon publishes there, and what only the
 * file says).  table_defs[] and daemon_defs[] are the one list of keys,
 * in output order, and say where each comes from; "source" says whether the
 * daemon answered
 * ("daemon") or the file was read without it ("file").  A key its source
 * cannot know is null, never missing.
 *
 * --format prometheus prints the same document as metrics: the list of
 * keys also names each one's metric, type and help (print_prometheus()).
 * main() (shmcachectl.c) calls stats_cmd(), or stats_doc() and
 * stats_print() for stats --all with the daemon down.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

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
    {"reader_hits", S_DAEMON, "table_reader_hits_total", "counter",
     "Readers' lock-free lookups that found the key (a negative entry "
     "included), as their handles report them."},
    {"reader_misses", S_DAEMON, "table_reader_misses_total", "counter",
     "Readers' lock-free lookups that did not find the key."},
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
    /* Residency (shmcached.json(5)): what is in effect. */
    {"populate", S_DAEMON, NULL, NULL, NULL},
    {"lock", S_DAEMON, NULL, NULL, NULL},
    {"huge_pages", S_DAEMON, NULL, NULL, NULL},
    {"huge_pages_bytes", S_DAEMON, "table_huge_pages_bytes", "gauge",
     "Bytes of the table that huge pages map in the daemon."},
    {"residency_note", S_DAEMON, NULL, NULL, NULL},
    /* A loader's and a Redis source's counters: objects, null without. */
    {"loader", S_DAEMON, NULL, NULL, NULL},
    {"redis", S_DAEMON, NULL, NULL, NULL},
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
    json_t *out = json_object(), *f = h ? ctl_info_json(h) : NULL, *v;
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
json_t *
stats_doc(const struct opts *o, shmc_t *h, const struct where *w, int *rc)
{
    json_t *d = NULL, *doc, *arr, *seen, *t, *dt, *v;
    char *js = NULL, real[4096], dir[4096];
    const char *sock = ctl_socket_of(o), *slash = strrchr(sock, '/');
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

/* Print a statistics document as --format asks, and free it. */
void
stats_print(const struct opts *o, json_t *doc)
{
    if (o->prometheus) {
        print_prometheus(doc, o->all);
        json_decref(doc);
    } else {
        ctl_print_json(doc);
    }
}

/* stats [--all] */
int
stats_cmd(const struct opts *o, shmc_t *h, const struct where *w)
{
    json_t *doc;
    int rc;

    doc = stats_doc(o, h, w, &rc);
    if (doc == NULL)
        return ctl_fail(o, o->all ? "stats --all" : "stats", rc ? rc : -ENOMEM);
    stats_print(o, doc);
    return EX_OK;
}
