/* SPDX-License-Identifier: MIT */
/*
 * client.h -- a minimal control-socket client and a daemon fixture for the
 * integration tests (the real client is libshmcache).
 */
#ifndef SHMC_TEST_CLIENT_H
#define SHMC_TEST_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A daemon started for one test, in its own temp dir. */
struct tdaemon {
    pid_t pid;
    char *dir, *run, *state, *conf, *sock, *notify;
    char *log; /* the daemon's stderr, if td_start_logged() started it */
    int notify_fd;
};

/* A reply, with the body after the status. */
struct treply {
    int status;
    uint8_t op;
    uint32_t id;
    unsigned char *body;
    size_t blen;
    int fd; /* descriptor received with it, or -1 */
};

int td_start(struct tdaemon *d, const char *conf_json, int listen_fd);
int td_start_logged(struct tdaemon *d, const char *conf_json);
char *td_log(const struct tdaemon *d);
int td_restart(struct tdaemon *d);
int td_restart_expect(struct tdaemon *d, const char *first);
int td_stop(struct tdaemon *d);
int td_kill(struct tdaemon *d);
void td_free(struct tdaemon *d);
int td_wait_notify(struct tdaemon *d, const char *what, int timeout_ms);
int td_write_conf(struct tdaemon *d, const char *conf_json);

int tc_connect(const char *sock, int hello);
int tc_send(int fd, const void *buf, size_t n);
int tc_recv(int fd, struct treply *r, int timeout_ms);
void tc_reply_free(struct treply *r);
int tc_call(int fd, uint8_t op, const char *table, const void *key, size_t klen,
            const void *val, size_t vlen, uint32_t ttl_s, uint64_t delta,
            struct treply *r);
long long tc_stat(const char *sock, const char *name);

#endif
