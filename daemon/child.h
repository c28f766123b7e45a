/* SPDX-License-Identifier: MIT */
/*
 * child.h -- starting a loader's program as a child process (child.c):
 * for one run (loader.c) or as a persistent worker (worker.c).
 */
#ifndef SHMC_CHILD_H
#define SHMC_CHILD_H

#include <stddef.h>
#include <sys/types.h>

struct dtable;

/* A started child: its pid and our ends of its stdin and stdout. */
struct child {
    pid_t pid;
    int in_fd;  /* write end of its stdin, non-blocking */
    int out_fd; /* read end of its stdout, non-blocking */
};

int child_start(const struct dtable *t, const void *key_arg, size_t klen,
                struct child *c);
void child_kill(pid_t pid);

#endif /* SHMC_CHILD_H */
