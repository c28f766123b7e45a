/* SPDX-License-Identifier: MIT */
/*
 * worker.h -- persistent loader processes (worker.c): a table whose exec
 * or nss loader is "persistent" keeps up to max_running of them and hands
 * each one key at a time (common/loadwire.h).
 */
#ifndef SHMC_WORKER_H
#define SHMC_WORKER_H

#include <stddef.h>
#include <sys/types.h>

struct daemon;
struct dtable;
struct load;

int worker_run(struct daemon *d, struct dtable *t, struct load *l,
               const void *key, size_t klen, void **req);
pid_t worker_cancel(void *req);
void worker_recycle(struct dtable *t);
int worker_reaped(pid_t pid, int status);
void worker_shutdown(void);

#endif /* SHMC_WORKER_H */
