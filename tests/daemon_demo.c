/*
 * daemon_demo.c -- what scripts/demo.sh shows: a client of a running
 * shmcached writes through the control socket, asks for a read-only
 * descriptor of the table (OPEN), maps it, and looks keys up lock-free,
 * while another process keeps updating values through the daemon.
 *
 * usage: daemon_demo SOCKET [TABLE]
 *
 * It speaks the wire protocol directly (common/proto.h); applications will
 * use libshmcache instead.
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

#include "error.h"
#include "proto.h"
#include "table.h"

#define NKEYS 10000
#define BATCH 100

static uint32_t next_id;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
    fprintf(stderr, "daemon_demo: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Read n bytes (and a passed descriptor, if any). */
static void
read_all(int fd, unsigned char *p, size_t n, int *passed)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *cm;
    ssize_t r;

    while (n > 0) {
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = p;
        iov.iov_len = n;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (r <= 0)
            die("read reply");
        for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_type == SCM_RIGHTS && passed != NULL)
                memcpy(passed, CMSG_DATA(cm), sizeof(int));
        p += r;
        n -= (size_t)r;
    }
}

/* Send one request and read its reply; returns the status.  The reply
 * body (after the status) goes to body[*blen]. */
static int
call(int fd, uint8_t op, const char *table, const void *key, size_t klen,
     const void *val, size_t vlen, uint64_t delta, unsigned char *body,
     size_t *blen, int *passed)
{
    unsigned char req[BATCH * 64 + 64], h[16];
    size_t n = proto_request(req, sizeof(req), op, ++next_id, table, key, klen,
                             val, vlen, 0, delta);
    uint32_t len;

    if (n > sizeof(req) || send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n)
        die("send");
    read_all(fd, h, sizeof(h), passed);
    len = proto_get32(h) - 16;
    if (len > 65536)
        die("reply too long");
    read_all(fd, body, len, passed);
    if (blen != NULL)
        *blen = len;
    return (int)proto_get32(h + 12);
}

/* Connect and say HELLO, retrying while the daemon starts. */
static int
connect_daemon(const char *path)
{
    struct sockaddr_un sa;
    unsigned char body[64];
    int fd = -1, i;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    for (i = 0; i < 100; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        close(fd);
        fd = -1;
        usleep(50000);
    }
    if (fd < 0)
        die("connect");
    if (call(fd, PROTO_OP_HELLO, NULL, NULL, 0, NULL, 0, 0, body, NULL, NULL) !=
        0)
        die("hello");
    return fd;
}

int
main(int argc, char **argv)
{
    const char *table = argc > 2 ? argv[2] : "default";
    unsigned char items[BATCH * 64], body[65536];
    char key[32], val[64], buf[128], why[128];
    struct table_hit hit;
    struct table tb;
    unsigned long lookups = 0, wrong = 0, version = 1;
    double t0, end;
    size_t n, blen;
    int fd, tfd = -1, i, j, status, rc;
    pid_t pid;

    if (argc < 2) {
        fprintf(stderr, "usage: daemon_demo SOCKET [TABLE]\n");
        return 64;
    }
    fd = connect_daemon(argv[1]);

    /* 1. Writes go through the daemon: batches of 100 per frame. */
    t0 = now_s();
    for (i = 0; i < NKEYS; i += BATCH) {
        for (n = 0, j = i; j < i + BATCH; j++) {
            int kl = snprintf(key, sizeof(key), "user:%d", j);
            int vl = snprintf(val, sizeof(val), "uid=%d v=%lu shell=/bin/sh", j,
                              version);
            n += proto_batch_item(items + n, sizeof(items) - n, key, (size_t)kl,
                                  val, (size_t)vl, 0);
        }
        if (call(fd, PROTO_OP_BATCH, table, NULL, 0, items, n, BATCH, body,
                 NULL, NULL) != 0)
            die("batch");
    }
    printf("writer: stored %d keys through the daemon in %.1f ms "
           "(batches of %d)\n",
           NKEYS, (now_s() - t0) * 1e3, BATCH);

    /* 2. Readers map the table: one OPEN, then no daemon at all. */
    if (call(fd, PROTO_OP_OPEN, table, NULL, 0, NULL, 0, 0, body, NULL, &tfd) !=
            0 ||
        tfd < 0)
        die("open table");
    if ((rc = table_open_fd(&tb, tfd, why, sizeof(why))) != 0) {
        fprintf(stderr, "daemon_demo: map: %s\n", why);
        return 1;
    }
    rc = table_lookup(&tb, "user:42", 7, buf, sizeof(buf) - 1, 0, &hit);
    buf[rc == 0 ? hit.vlen : 0] = '\0';
    printf("reader: lookup user:42 -> \"%s\" (%s)\n", buf, error_str(rc));

    /* 3. A reader process keeps looking up while this one updates. */
    end = now_s() + 2;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        t0 = now_s();
        while (now_s() < end) {
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
               lookups, (now_s() - t0) * 1e9 / (double)lookups, wrong);
        fflush(stdout);
        _exit(wrong == 0 ? 0 : 1);
    }
    while (now_s() < end) {
        version++;
        for (n = 0, j = 0; j < BATCH; j++) {
            int k = (int)((version * BATCH + (unsigned long)j) % NKEYS);
            int kl = snprintf(key, sizeof(key), "user:%d", k);
            int vl = snprintf(val, sizeof(val), "uid=%d v=%lu shell=/bin/sh", k,
                              version);
            n += proto_batch_item(items + n, sizeof(items) - n, key, (size_t)kl,
                                  val, (size_t)vl, 0);
        }
        if (call(fd, PROTO_OP_BATCH, table, NULL, 0, items, n, BATCH, body,
                 NULL, NULL) != 0)
            die("batch");
    }
    waitpid(pid, &status, 0);
    printf("writer: %lu updates sent meanwhile\n", (version - 1) * BATCH);

    /* 4. The daemon's view. */
    if (call(fd, PROTO_OP_STATS, table, NULL, 0, NULL, 0, 0, body, &blen,
             NULL) == 0)
        printf("stats: %.*s\n", (int)blen, body);
    table_close(&tb);
    close(tfd);
    close(fd);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
