/* SPDX-License-Identifier: MIT */
/*
 * daemon_demo.c -- what scripts/demo.sh shows: a client of a running
 * shmcached writes through the control socket, asks for a read-only
 * descriptor of the table (OPEN), maps it, and looks keys up lock-free,
 * while another process keeps updating values through the daemon.
 *
 * usage: daemon_demo SOCKET [TABLE]
 *
 * It speaks the wire protocol through the test client (tests/client.c);
 * applications will use libshmcache instead.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "error.h"
#include "proto.h"
#include "table.h"
#include "testutil.h"

#define NKEYS 10000
#define BATCH 100

static void
die(const char *what)
{
    fprintf(stderr, "daemon_demo: %s failed\n", what);
    exit(1);
}

/* Store BATCH keys starting at `first` (wrapping at NKEYS), all at
 * `version`, in one BATCH frame. */
static void
send_batch(int fd, const char *table, unsigned long first,
           unsigned long version)
{
    unsigned char items[BATCH * 64];
    char key[32], val[64];
    struct treply r;
    size_t n = 0;
    int j, k, kl, vl;

    for (j = 0; j < BATCH; j++) {
        k = (int)((first + (unsigned long)j) % NKEYS);
        kl = snprintf(key, sizeof(key), "user:%d", k);
        vl = snprintf(val, sizeof(val), "uid=%d v=%lu shell=/bin/sh", k,
                      version);
        n += proto_batch_item(items + n, sizeof(items) - n, key, (size_t)kl,
                              val, (size_t)vl, 0);
    }
    if (tc_call(fd, PROTO_OP_BATCH, table, NULL, 0, items, n, 0, BATCH, &r) !=
            0 ||
        r.status != 0)
        die("batch");
    tc_reply_free(&r);
}

/* Connect and say HELLO, retrying while the daemon starts. */
static int
connect_daemon(const char *path)
{
    int fd = -1, i;

    for (i = 0; i < 100 && fd < 0; i++) {
        fd = tc_connect(path, 1);
        if (fd < 0)
            usleep(50000);
    }
    if (fd < 0)
        die("connect");
    return fd;
}

int
main(int argc, char **argv)
{
    const char *table = argc > 2 ? argv[2] : "default";
    char key[32], buf[128], why[128];
    struct table_hit hit;
    struct table tb;
    unsigned long lookups = 0, wrong = 0, version = 1;
    double t0, end;
    struct treply r;
    size_t n;
    int fd, tfd = -1, i, status, rc;
    pid_t pid;

    if (argc < 2) {
        fprintf(stderr, "usage: daemon_demo SOCKET [TABLE]\n");
        return 64;
    }
    fd = connect_daemon(argv[1]);

    /* 1. Writes go through the daemon: batches of 100 per frame. */
    t0 = tu_now();
    for (i = 0; i < NKEYS; i += BATCH)
        send_batch(fd, table, (unsigned long)i, version);
    printf("writer: stored %d keys through the daemon in %.1f ms "
           "(batches of %d)\n",
           NKEYS, (tu_now() - t0) * 1e3, BATCH);

    /* 2. Readers map the table: one OPEN, then no daemon at all. */
    if (tc_call(fd, PROTO_OP_OPEN, table, NULL, 0, NULL, 0, 0, 0, &r) != 0 ||
        r.status != 0 || r.fd < 0)
        die("open table");
    tfd = r.fd;
    r.fd = -1;
    tc_reply_free(&r);
    if ((rc = table_open_fd(&tb, tfd, why, sizeof(why))) != 0) {
        fprintf(stderr, "daemon_demo: map: %s\n", why);
        return 1;
    }
    rc = table_lookup(&tb, "user:42", 7, buf, sizeof(buf) - 1, 0, &hit);
    buf[rc == 0 ? hit.vlen : 0] = '\0';
    printf("reader: lookup user:42 -> \"%s\" (%s)\n", buf, error_str(rc));

    /* 3. A reader process keeps looking up while this one updates. */
    end = tu_now() + 2;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        t0 = tu_now();
        while (tu_now() < end) {
            i = (int)(lookups * 7919 % NKEYS);
            n = (size_t)snprintf(key, sizeof(key), "user:%d", i);
            rc = table_lookup(&tb, key, n, buf, sizeof(buf) - 1, 0, &hit);
            lookups++;
            if (rc == 0) {
                char want[32];
                buf[hit.vlen] = '\0';
                snprintf(want, sizeof(want), "uid=%d ", i);
                wrong += strncmp(buf, want, strlen(want)) != 0;
            }
        }
        printf("reader: %lu lock-free lookups in 2 s (%.0f ns each), "
               "%lu wrong values\n",
               lookups, (tu_now() - t0) * 1e9 / (double)lookups, wrong);
        fflush(stdout);
        _exit(wrong == 0 ? 0 : 1);
    }
    while (tu_now() < end) {
        version++;
        send_batch(fd, table, version * BATCH, version);
    }
    waitpid(pid, &status, 0);
    printf("writer: %lu updates sent meanwhile\n", (version - 1) * BATCH);

    /* 4. The daemon's view. */
    if (tc_call(fd, PROTO_OP_STATS, table, NULL, 0, NULL, 0, 0, 0, &r) == 0 &&
        r.status == 0)
        printf("stats: %s\n", (char *)r.body);
    tc_reply_free(&r);
    table_close(&tb);
    close(tfd);
    close(fd);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
