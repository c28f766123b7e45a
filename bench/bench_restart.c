/* SPDX-License-Identifier: MIT */
/*
 * bench_restart.c -- how long shmcached takes to be READY with a large
 * disk table: reopened after a clean stop (no scan), and after SIGKILL
 * (every linked entry verified first).
 *
 * It creates a table of --size bytes in --dir, fills it through the
 * socket with 1000-byte values, then times RUNS restarts of each kind,
 * from fork() to READY=1 on a notify socket of its own.
 *
 * usage: bench_restart SHMCACHED [--size BYTES] [--runs R] [--dir DIR]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define VLEN 1000
#define PER_BATCH 50

static char notify_path[600], conf[600], run[600], state[600], sock[700];
static const char *daemon_bin;
static int notify_fd;

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
    fprintf(stderr, "bench_restart: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Start the daemon; return its pid once READY=1 arrived, *secs the time. */
static pid_t
start(double *secs)
{
    struct pollfd p = {0, POLLIN, 0};
    char buf[512];
    double t0 = now_s();
    pid_t pid = fork();
    ssize_t n;

    if (pid == 0) {
        setenv("NOTIFY_SOCKET", notify_path, 1);
        execl(daemon_bin, "shmcached", "-f", "-c", conf, "--runtime-dir", run,
              "--state-dir", state, (char *)NULL);
        _exit(127);
    }
    p.fd = notify_fd;
    for (;;) {
        if (poll(&p, 1, 120000) <= 0)
            die("waiting for READY=1");
        n = recv(notify_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            die("notify recv");
        buf[n] = '\0';
        if (strstr(buf, "READY=1") != NULL)
            break;
    }
    *secs = now_s() - t0;
    return pid;
}

static void
send_all(int fd, const unsigned char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        if ((w = send(fd, p, n, MSG_NOSIGNAL)) <= 0)
            die("send");
        p += w;
        n -= (size_t)w;
    }
}

/* Fill the table with `count` 1000-byte values through the socket. */
static void
fill(uint64_t count)
{
    static unsigned char items[PER_BATCH * (VLEN + 64)],
        frame[PER_BATCH * (VLEN + 64) + 128], val[VLEN], reply[64];
    struct sockaddr_un sa;
    char key[32];
    uint64_t i, j;
    size_t n, f;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(sock) >= sizeof(sa.sun_path))
        die("socket path too long");
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect");
    f = proto_request(frame, sizeof(frame), PROTO_OP_HELLO, 0, NULL, NULL, 0,
                      NULL, 0, 0, 0);
    send_all(fd, frame, f);
    if (recv(fd, reply, 20, MSG_WAITALL) != 20)
        die("hello");
    memset(val, 'v', sizeof(val));
    for (i = 0; i < count; i += PER_BATCH) {
        for (n = 0, j = 0; j < PER_BATCH; j++) {
            int kl = snprintf(key, sizeof(key), "key:%012llu",
                              (unsigned long long)(i + j));
            n += proto_batch_item(items + n, sizeof(items) - n, key, (size_t)kl,
                                  val, VLEN, PROTO_TTL_NEVER);
        }
        f = proto_request(frame, sizeof(frame), PROTO_OP_BATCH, 1, "big", NULL,
                          0, items, n, 0, PER_BATCH);
        send_all(fd, frame, f);
        if (recv(fd, reply, 20, MSG_WAITALL) != 20 ||
            proto_get32(reply + 12) != 0)
            die("batch");
    }
    close(fd);
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'},
        {"runs", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    unsigned long long size = 1ULL << 30;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    double t, clean[15], unclean[15], create;
    struct sockaddr_un sa;
    char work[400];
    int c, runs = 3, i;
    pid_t pid;
    FILE *f;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            size = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        default:
            return 64;
        }
    }
    if (optind >= argc || runs < 1 || runs > 15) {
        fprintf(stderr, "usage: bench_restart SHMCACHED [--size BYTES] "
                        "[--runs R] [--dir DIR]\n");
        return 64;
    }
    daemon_bin = argv[optind];
    snprintf(work, sizeof(work), "%s/shmc-restart.XXXXXX", dir);
    if (mkdtemp(work) == NULL)
        die("mkdtemp");
    snprintf(run, sizeof(run), "%s/run", work);
    snprintf(state, sizeof(state), "%s/state", work);
    snprintf(conf, sizeof(conf), "%s/shmcached.json", work);
    snprintf(notify_path, sizeof(notify_path), "%s/notify", work);
    snprintf(sock, sizeof(sock), "%s/control.sock", run);
    mkdir(run, 0755);
    mkdir(state, 0755);
    f = fopen(conf, "w");
    fprintf(f,
            "{\"log_level\": \"warning\", \"sync_interval_s\": 0, \"tables\": "
            "{\"big\": {\"mode\": \"disk\", \"size_bytes\": %llu, "
            "\"max_value_bytes\": 4096}}}\n",
            size);
    fclose(f);
    notify_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(notify_path) >= sizeof(sa.sun_path))
        die("notify path too long");
    memcpy(sa.sun_path, notify_path, strlen(notify_path) + 1);
    if (bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("bind notify");

    pid = start(&create);
    /* Fill to about 90% of the arena with 1000-byte values. */
    fill(size / 1100 * 9 / 10);
    for (i = 0; i < runs; i++) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        pid = start(&clean[i]);
    }
    for (i = 0; i < runs; i++) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = start(&unclean[i]);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    qsort(clean, (size_t)runs, sizeof(double), cmp);
    qsort(unclean, (size_t)runs, sizeof(double), cmp);
    t = unclean[runs / 2];
    printf("table=%llu bytes create_ready_s=%.3f clean_ready_s=%.3f "
           "[%.3f..%.3f] unclean_ready_s=%.3f [%.3f..%.3f] "
           "verify_gb_per_s=%.2f (median of %d)\n",
           size, create, clean[runs / 2], clean[0], clean[runs - 1], t,
           unclean[0], unclean[runs - 1], (double)size / t / 1e9, runs);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_restart: could not remove %s\n", work);
    }
    return 0;
}
