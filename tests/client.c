/* SPDX-License-Identifier: MIT */
/*
 * client.c -- see client.h.  Test-only code.
 *
 * td_start() writes the config, starts $SHMCACHED (the freshly built
 * daemon) in the foreground with its own runtime and state directories,
 * and waits until the daemon says READY=1 on a notify socket the fixture
 * owns: the daemon's own readiness signal, not a sleep.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"
#include "testutil.h"

/* (Re)write the fixture's config file. */
int
td_write_conf(struct tdaemon *d, const char *conf_json)
{
    FILE *f = fopen(d->conf, "w");

    if (f == NULL)
        return -1;
    fputs(conf_json, f);
    return fclose(f);
}

/* Spawn the daemon; listen_fd >= 0 is handed over as fd 3 (activation);
 * first != NULL must arrive on the notify socket before READY=1. */
static int
spawn_expect(struct tdaemon *d, int listen_fd, const char *first)
{
    const char *bin = getenv("SHMCACHED");
    char pidbuf[32];

    d->pid = fork();
    if (d->pid < 0)
        return -1;
    if (d->pid == 0) {
        int log_fd;
        if (d->log != NULL &&
            (log_fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                           0644)) >= 0)
            dup2(log_fd, STDERR_FILENO);
        setenv("NOTIFY_SOCKET", d->notify, 1);
        if (listen_fd >= 0) {
            if (listen_fd != 3) {
                dup2(listen_fd, 3);
                close(listen_fd);
            }
            snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
            setenv("LISTEN_PID", pidbuf, 1);
            setenv("LISTEN_FDS", "1", 1);
        }
        execl(bin ? bin : "daemon/shmcached", "shmcached", "-f", "-c", d->conf,
              "--runtime-dir", d->run, "--state-dir", d->state, (char *)NULL);
        _exit(127);
    }
    if (first != NULL && td_wait_notify(d, first, 10000) != 0)
        return -1;
    return td_wait_notify(d, "READY=1", 10000);
}

static int
spawn(struct tdaemon *d, int listen_fd)
{
    return spawn_expect(d, listen_fd, NULL);
}

/* Start again after td_kill(), requiring `first` before READY=1. */
int
td_restart_expect(struct tdaemon *d, const char *first)
{
    if (d->pid > 0 && td_stop(d) != 0)
        return -1;
    return spawn_expect(d, -1, first);
}

/* Wait for a notify datagram containing what; 0 if it came. */
int
td_wait_notify(struct tdaemon *d, const char *what, int timeout_ms)
{
    struct pollfd p = {d->notify_fd, POLLIN, 0};
    char buf[1024];
    ssize_t n;

    for (;;) {
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        n = recv(d->notify_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            return -1;
        buf[n] = '\0';
        if (strstr(buf, what) != NULL)
            return 0;
    }
}

/* Set up the fixture's directories, config and notify socket. */
static int
prepare(struct tdaemon *d, const char *conf_json)
{
    struct sockaddr_un sa;

    memset(d, 0, sizeof(*d));
    d->dir = tu_tmpdir();
    d->run = tu_path(d->dir, "run");
    d->state = tu_path(d->dir, "state");
    d->conf = tu_path(d->dir, "shmcached.json");
    d->sock = tu_path(d->run, "control.sock");
    d->notify = tu_path(d->dir, "notify.sock");
    /* Tests act as other users too: let them reach the socket. */
    chmod(d->dir, 0755);
    mkdir(d->run, 0755);
    mkdir(d->state, 0755);
    if (td_write_conf(d, conf_json) != 0)
        return -1;
    d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->notify);
    if (bind(d->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    return 0;
}

/* Start a daemon with this config; 0 once it is ready. */
int
td_start(struct tdaemon *d, const char *conf_json, int listen_fd)
{
    if (prepare(d, conf_json) != 0)
        return -1;
    return spawn(d, listen_fd);
}

/* td_start(), with the daemon's stderr (its log) kept in a file of the
 * fixture, across restarts, for td_log(). */
int
td_start_logged(struct tdaemon *d, const char *conf_json)
{
    if (prepare(d, conf_json) != 0)
        return -1;
    d->log = tu_path(d->dir, "shmcached.log");
    return spawn(d, -1);
}

/* What the daemon has logged so far (td_start_logged()), allocated; "" if
 * nothing. */
char *
td_log(const struct tdaemon *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = d->log != NULL ? fopen(d->log, "r") : NULL;
    FILE *m = open_memstream(&buf, &len);
    int c;

    if (m == NULL)
        abort();
    while (f != NULL && (c = getc(f)) != EOF)
        putc(c, m);
    if (f != NULL)
        fclose(f);
    fclose(m);
    return buf;
}

/* Stop (SIGTERM) and start again with the same dirs and config. */
int
td_restart(struct tdaemon *d)
{
    if (d->pid > 0 && td_stop(d) != 0)
        return -1;
    return spawn(d, -1);
}

/* SIGTERM and reap; returns the exit status (or 128+signal). */
int
td_stop(struct tdaemon *d)
{
    int status;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    if (waitpid(d->pid, &status, 0) != d->pid)
        return -1;
    d->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* SIGKILL, as a crash would, and reap. */
int
td_kill(struct tdaemon *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
    return 0;
}

/* Stop what is left and remove the temp dir.  SIGTERM first, so that the
 * daemon's clean stop runs at the end of every test (and, under
 * tests/valgrind.sh, its leak check); SIGKILL after 10 s. */
void
td_free(struct tdaemon *d)
{
    double end = tu_deadline(10);
    pid_t r = 0;
    char *p;

    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        while ((r = waitpid(d->pid, NULL, WNOHANG)) == 0 && tu_poll(end))
            ;
        if (r == 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
        }
    }
    if (d->notify_fd > 0)
        close(d->notify_fd);
    if (d->dir == NULL)
        return;
    p = tu_path(d->dir, "run");
    tu_rmtree(p);
    free(p);
    p = tu_path(d->dir, "state");
    tu_rmtree(p);
    free(p);
    tu_rmtree(d->dir);
    free(d->dir);
    free(d->run);
    free(d->state);
    free(d->conf);
    free(d->sock);
    free(d->notify);
    free(d->log);
    memset(d, 0, sizeof(*d));
}

/* Connect (and say HELLO unless hello == 0); returns the fd or -1. */
int
tc_connect(const char *sock, int hello)
{
    struct sockaddr_un sa;
    struct treply r;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (hello &&
        (tc_call(fd, PROTO_OP_HELLO, NULL, NULL, 0, NULL, 0, 0, 0, &r) != 0 ||
         r.status != 0)) {
        close(fd);
        return -1;
    }
    if (hello)
        tc_reply_free(&r);
    return fd;
}

/* Send all of buf. */
int
tc_send(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    ssize_t w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read exactly n bytes, maybe with a descriptor; 0, or -1 (EOF/timeout). */
static int
recv_all(int fd, unsigned char *p, size_t n, int *passed, int timeout_ms)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct pollfd pf = {fd, POLLIN, 0};
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *cm;
    ssize_t r;

    while (n > 0) {
        if (poll(&pf, 1, timeout_ms) <= 0)
            return -1;
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = p;
        iov.iov_len = n;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (r <= 0)
            return -1;
        for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                memcpy(passed, CMSG_DATA(cm), sizeof(int));
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Receive one reply frame; 0 or -1. */
int
tc_recv(int fd, struct treply *r, int timeout_ms)
{
    unsigned char h[PROTO_HDR + 4];
    uint32_t len;

    memset(r, 0, sizeof(*r));
    r->fd = -1;
    if (recv_all(fd, h, sizeof(h), &r->fd, timeout_ms) != 0)
        return -1;
    len = proto_get32(h);
    if (len < sizeof(h) || len > (64u << 20))
        return -1;
    r->op = h[4];
    r->id = proto_get32(h + 8);
    r->status = (int)proto_get32(h + PROTO_HDR);
    r->blen = len - sizeof(h);
    r->body = malloc(r->blen + 1);
    if (r->body == NULL ||
        recv_all(fd, r->body, r->blen, &r->fd, timeout_ms) != 0)
        return -1;
    r->body[r->blen] = '\0';
    return 0;
}

void
tc_reply_free(struct treply *r)
{
    free(r->body);
    if (r->fd >= 0)
        close(r->fd);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

/* One request, one reply; 0 if a reply came (its status is in r). */
int
tc_call(int fd, uint8_t op, const char *table, const void *key, size_t klen,
        const void *val, size_t vlen, uint32_t ttl_s, uint64_t delta,
        struct treply *r)
{
    static uint32_t id;
    size_t n = proto_request(NULL, 0, op, ++id, table, key, klen, val, vlen,
                             ttl_s, delta);
    unsigned char *buf = malloc(n);
    int rc;

    if (buf == NULL)
        return -1;
    proto_request(buf, n, op, id, table, key, klen, val, vlen, ttl_s, delta);
    rc = tc_send(fd, buf, n);
    free(buf);
    if (rc != 0)
        return -1;
    return tc_recv(fd, r, 10000);
}

/*
 * One number from the daemon's own STATS (its top-level fields, such as
 * "connections" or "closed_idle"), asked on a connection of its own that
 * is closed again; -1 if there is no answer.  The asking connection is
 * counted in "connections".
 */
long long
tc_stat(const char *sock, const char *name)
{
    char pat[64], *p;
    struct treply r;
    long long v = -1;
    int fd = tc_connect(sock, 1);

    if (fd < 0)
        return -1;
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    if (tc_call(fd, PROTO_OP_STATS, NULL, NULL, 0, NULL, 0, 0, 0, &r) == 0) {
        if (r.status == 0 && (p = strstr((char *)r.body, pat)) != NULL)
            v = strtoll(p + strlen(pat), NULL, 10);
        tc_reply_free(&r);
    }
    close(fd);
    return v;
}
