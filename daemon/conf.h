/* SPDX-License-Identifier: MIT */
/*
 * conf.h -- shmcached's configuration (strict JSON, see shmcached.json(5)).
 */
#ifndef SHMC_CONF_H
#define SHMC_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define CONF_ACL_MAX 64

/* A uid or gid list; empty means "nobody beyond the defaults". */
struct conf_ids {
    uint32_t id[CONF_ACL_MAX];
    size_t n;
};

#define CONF_ARGV_BYTES 1024
#define CONF_ARGV_MAX 32

enum conf_loader_type { LOADER_NONE, LOADER_EXEC, LOADER_NSS, LOADER_REDIS };

/* A redis loader's tracking mode (redis.c). */
enum conf_tracking { TRACKING_DEFAULT, TRACKING_BCAST };

/* A table's loader (loader.c): what runs on a LOAD of a missing key. */
struct conf_loader {
    int type;                   /* enum conf_loader_type */
    char argv[CONF_ARGV_BYTES]; /* exec: the command, NUL-separated */
    uint32_t argc;
    char user[64];        /* run as this user when the daemon is root */
    int key_in_argv;      /* 1: key as the last argument; 0: on stdin */
    uint32_t timeout_ms;  /* a load still running then is killed */
    uint32_t max_running; /* loads of this table at once */
    uint32_t max_queued;  /* distinct keys waiting for a free slot */
    char database[16];    /* nss: "passwd", "group" or "hosts" */
    /* exec and nss: persistent workers (worker.c) instead of a process
     * per key; each is recycled after worker_requests keys or
     * worker_idle_s without one. */
    int persistent;
    uint32_t worker_requests;
    uint32_t worker_idle_s;
    /* redis (redis.c); max_stale_s caps every loaded entry's TTL. */
    uint32_t max_stale_s;
    char endpoint[256];      /* a Unix socket's path, or host:port */
    char username[64];       /* AUTH username password; "" = AUTH password */
    char password_file[256]; /* "" = no AUTH */
    uint32_t db;             /* SELECT */
    char key_prefix[128];    /* Redis key = key_prefix + table key */
    int tracking;            /* enum conf_tracking */
    int noloop;              /* CLIENT TRACKING ... NOLOOP */
    char prefixes[CONF_ARGV_BYTES]; /* bcast: PREFIX arguments, NUL-separated */
    uint32_t nprefixes;
    uint32_t ping_interval_ms; /* a round trip through both connections */
    int write_through;         /* local SET/ADD/REPLACE/DELETE go to Redis */
};

struct conf_table {
    char name[PROTO_TABLE_MAX + 1];
    int disk; /* 0 memory (runtime dir), 1 disk (state dir) */
    uint64_t size_bytes;
    uint32_t buckets;      /* 0 = sized from item_bytes */
    uint32_t item_bytes;   /* expected key + value bytes of an item */
    uint32_t live_hwm_pct; /* live data above this % of the arena: evict */
    uint32_t default_ttl_s;
    uint32_t negative_ttl_s;
    uint32_t max_key_bytes;
    uint32_t max_value_bytes;
    uint32_t file_mode;
    int64_t file_gid; /* -1: leave the daemon's group */
    struct conf_ids write_uids, write_gids, read_uids, read_gids;
    int read_any; /* both read lists empty: anyone may open it */
    struct conf_loader loader;
    /* Files whose change flushes the table (watch.c), NUL-separated. */
    char invalidate_on[CONF_ARGV_BYTES];
    uint32_t ninvalidate;
    /* Residency (residency.c): 0 or 1 each. */
    int populate;        /* prefault the mapping, the daemon's and readers' */
    int lock;            /* mlock the table */
    int huge_pages;      /* back it with 2 MiB pages where the host allows */
    char directory[256]; /* "" = the runtime directory (memory tables) */
};

struct conf {
    char socket_path[256]; /* "" = <runtime dir>/control.sock */
    uint32_t max_connections;
    uint32_t max_connections_per_uid; /* root exempt */
    uint32_t max_request_bytes;       /* largest frame accepted */
    uint32_t max_output_bytes;        /* replies queued before reading pauses */
    uint32_t max_buffered_bytes;      /* all connections' buffers, together */
    uint32_t idle_timeout_s;
    uint32_t frame_timeout_s; /* a started frame must be complete by then */
    uint32_t expire_interval_ms;
    uint32_t sync_interval_s;
    int log_level;
    struct conf_table *tables;
    size_t ntables;
};

int conf_load(const char *path, struct conf **out, char *err, size_t errlen);
void conf_free(struct conf *c);
const struct conf_table *conf_table(const struct conf *c, const char *name,
                                    size_t len);

#endif /* SHMC_CONF_H */
