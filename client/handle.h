/* SPDX-License-Identifier: MIT */
/*
 * handle.h -- the inside of a shmc_t (never installed).
 */
#ifndef SHMC_HANDLE_H
#define SHMC_HANDLE_H

#include <pthread.h>
#include <stdint.h>

#include "proto.h"
#include "shmcache.h"
#include "table.h"

/* One mapping of the table; replaced ones stay mapped until close. */
struct mapping {
    struct table t;
    struct mapping *older;
};

struct shmc {
    struct mapping *cur;    /* atomic: readers load it with acquire */
    pthread_mutex_t lock;   /* reopen, the socket, the request id */
    int sock;               /* -1: not connected */
    unsigned long sock_gen; /* the fork generation that connected sock */
    uint32_t next_id;
    size_t text_len;   /* body length of the last reply read as text */
    char *socket_path; /* NULL for shmc_open_file() handles */
    char *file_path;   /* set for shmc_open_file() handles */
    char table[PROTO_TABLE_MAX + 1];
    uint64_t hits, misses;    /* atomic, relaxed */
    uint64_t reopen_after_ms; /* atomic: no reopen attempt before this */
    int reopen_err;           /* atomic: why the last attempt failed */
    int pass_fd;              /* sent with the next request, or -1 */
    /* Reader hints (format.h): a sealed memfd shared with the daemon, or
     * NULL when there is none (file handles, or it could not be made). */
    uint64_t *hints;
    int hints_fd;
};

/* open.c */
int handle_reopen(shmc_t *h, struct mapping *seen);
void handle_hints_refresh(shmc_t *h);

/* write.c */
int conn_call_locked(shmc_t *h, uint8_t op, const void *key, size_t klen,
                     const void *val, size_t vlen, uint32_t ttl_s,
                     uint64_t delta, int *fd_out, unsigned char *body,
                     char **text);
void conn_close_locked(shmc_t *h);
int conn_call_table(shmc_t *h, uint8_t op);

#endif
