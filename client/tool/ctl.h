/* SPDX-License-Identifier: MIT */
/*
 * ctl.h -- what the files of shmcachectl share: exit statuses, the parsed
 * options, and the helpers of shmcachectl.c that stats.c and load.c call.
 * Internal to the tool; on libshmcache's public API (and jansson) only.
 */
#ifndef SHMC_CTL_H
#define SHMC_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shmcache.h"

/* Exit statuses (shmcachectl(1)); never an errno. */
#define EX_OK 0
#define EX_MISS 1
#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_NOPERM 77

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

/* shmcachectl.c */
int ctl_status_of(int rc);
int ctl_fail(const struct opts *o, const char *what, int rc);
const char *ctl_socket_of(const struct opts *o);
unsigned char *ctl_json_get_bytes(json_t *obj, const char *name, size_t *len);
void ctl_print_json(json_t *j);
json_t *ctl_info_json(shmc_t *h);
uint64_t ctl_now_ms(void);

/* stats.c */
json_t *stats_doc(const struct opts *o, shmc_t *h, const struct where *w,
                  int *rc);
void stats_print(const struct opts *o, json_t *doc);
int stats_cmd(const struct opts *o, shmc_t *h, const struct where *w);

/* load.c */
int load_cmd(const struct opts *o, shmc_t *h);

#endif /* SHMC_CTL_H */
