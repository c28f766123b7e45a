/* SPDX-License-Identifier: MIT */
/*
 * notify.c -- talk to systemd the way sd_notify(3) and sd_listen_fds(3)
 * do, in a few lines of our own (systemd itself recommends reimplementing
 * the notify protocol rather than linking libsystemd for it).
 *
 * Notify: one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET; a leading '@' means the abstract namespace.
 * Activation: $LISTEN_PID must be our pid and $LISTEN_FDS the count of
 * descriptors passed from fd 3 on.  We accept exactly one, and only if it
 * is a listening AF_UNIX stream socket.
 *
 * Platform details of this kind live here, not inline in the daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* Send one notification; returns 1 if sent, 0 without systemd, -errno. */
int
notify_send(const char *fmt, ...)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    char msg[512];
    socklen_t salen;
    size_t plen;
    va_list ap;
    int fd, rc = 1;

    if (path == NULL || *path == '\0')
        return 0;
    plen = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
        return -EINVAL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
                        (path[0] == '/'));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               salen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* $WATCHDOG_USEC if the watchdog is meant for us, else 0. */
uint64_t
notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");

    if (usec == NULL)
        return 0;
    if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    return strtoull(usec, NULL, 10);
}

/*
 * The inherited listening socket: its fd, -1 if none was passed, or -2
 * with err filled if what was passed is unusable.
 */
int
notify_listen_fd(char *err, unsigned errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    int type = 0, listening = 0, fd = 3;
    struct sockaddr_un sa;
    socklen_t len = sizeof(type);

    if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != getpid())
        return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (strtol(fds, NULL, 10) != 1) {
        snprintf(err, errlen, "LISTEN_FDS=%s: expected exactly one socket",
                 fds);
        return -2;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM) {
        snprintf(err, errlen, "fd 3 is not a stream socket");
        return -2;
    }
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening) {
        snprintf(err, errlen, "fd 3 is not listening");
        return -2;
    }
    len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
        sa.sun_family != AF_UNIX) {
        snprintf(err, errlen, "fd 3 is not an AF_UNIX socket");
        return -2;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}
