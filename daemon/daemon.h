/* SPDX-License-Identifier: MIT */
/*
 * daemon.h -- state shared by the daemon's modules (main.c owns it).
 */
#ifndef SHMC_DAEMON_H
#define SHMC_DAEMON_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "conf.h"
#include "tables.h"

/* The monotonic clock, for timeouts and latencies (never the wall clock,
 * which may jump). */
static inline uint64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t
mono_ms(void)
{
    return mono_us() / 1000u;
}

struct event_base;
struct evbuffer;
struct conn;

struct dstats {
    uint64_t connections; /* accepted, ever */
    uint64_t refused;     /* over max_connections */
    uint64_t requests;
    uint64_t proto_errors; /* malformed frames */
    uint64_t denied;       /* ACL refusals */
    uint64_t shed;         /* connections closed over max_buffered_bytes */
    /* connections the daemon closed on a timer (control.c) */
    uint64_t closed_idle;        /* silent for idle_timeout_s */
    uint64_t closed_frame;       /* a frame not completed in frame_timeout_s */
    uint64_t closed_not_reading; /* replies made no progress */
};

struct daemon {
    struct event_base *base;
    struct conf *conf;
    const char *conf_path;
    char runtime_dir[PATH_MAX];
    char state_dir[PATH_MAX];
    char socket_path[PATH_MAX];
    struct dtable *tables;
    size_t ntables;
    int listen_fd;
    int listen_inherited;
    struct event *listen_ev;
    struct event *resume_ev; /* re-enables accepting after EMFILE */
    struct conn *conns;      /* doubly linked list */
    uint32_t nconns;
    /* Bytes in every connection's input and output buffers, kept by
     * evbuffer callbacks; the most since memory was last given back. */
    size_t buffered, buffered_peak;
    uint64_t start_ms;
    uid_t euid;
    struct dstats stats;
};

/* The peer of a connection, from SO_PEERCRED. */
struct peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    unsigned opens; /* descriptors handed out on this connection */
    int rx_fd;      /* a descriptor the client sent (HINTS), or -1 */
    int waiting;    /* a LOAD's reply is owed (loader.c): read no further */
};

/* control.c */
int control_listen(struct daemon *d, char *err, size_t errlen);
void control_shutdown(struct daemon *d);
unsigned control_opens_of(const struct daemon *d, uid_t uid);
void control_tidy(struct daemon *d);
void control_resume(struct daemon *d, struct peer *p, uint8_t op, uint32_t id,
                    int status, const void *a, size_t alen, const void *b,
                    size_t blen);

/* command.c */
int command_dispatch(struct daemon *d, struct peer *p,
                     const unsigned char *frame, size_t len,
                     struct evbuffer *out, int *fd_out);
void command_reply(struct evbuffer *out, uint8_t op, uint32_t id, int status,
                   const void *a, size_t alen, const void *b, size_t blen);

#endif /* SHMC_DAEMON_H */
