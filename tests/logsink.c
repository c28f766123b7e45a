/* SPDX-License-Identifier: MIT */
/*
 * logsink.c -- a stand-in for syslogd, for tests/check-daemon-log.sh.
 *
 *   logsink SOCKET PATTERN SECONDS
 *
 * Binds a Unix datagram socket at SOCKET (what /dev/log is) and prints
 * every datagram it receives as one line on stdout.  Exits 0 after the
 * first datagram containing PATTERN, 1 if none came within SECONDS, 2 on
 * a setup error.  The socket file is removed on exit.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char buf[4096];
    struct pollfd p;
    long long end;
    ssize_t n;
    int fd, rc = 1;

    if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "usage: logsink SOCKET PATTERN SECONDS\n");
        return 2;
    }
    strcpy(sa.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("logsink: bind");
        return 2;
    }
    end = now_ms() + atol(argv[3]) * 1000;
    p.fd = fd;
    p.events = POLLIN;
    while (now_ms() < end) {
        if (poll(&p, 1, (int)(end - now_ms())) <= 0)
            continue;
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        printf("%s\n", buf);
        fflush(stdout);
        if (strstr(buf, argv[2]) != NULL) {
            rc = 0;
            break;
        }
    }
    close(fd);
    unlink(argv[1]);
    return rc;
}
