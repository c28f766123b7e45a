/* SPDX-License-Identifier: MIT */
/*
 * pidfile.c -- the --pid-file: one live daemon per file, and its pid.
 *
 * The file is opened without truncating it and locked (flock, exclusive,
 * non-blocking) before anything is written, so a second daemon pointed at
 * the same file finds the lock held, reports the pid the first one wrote
 * and leaves the file alone.  The lock lives as long as the descriptor,
 * that is as long as the daemon: a file left by a daemon that was killed
 * holds no lock and is simply taken over.  main.c takes it after detaching
 * (the pid is the detached process's) and before opening any table;
 * pidfile_remove() unlinks it on the way out.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "pidfile.h"

/*
 * Create or take over the pid file at path and write our pid into it.
 * Returns the locked descriptor, or -errno with the reason in err:
 * -EBUSY when a live daemon holds it.
 */
int
pidfile_take(const char *path, char *err, size_t errlen)
{
    char buf[32];
    ssize_t n;
    int fd, e;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        e = errno;
        snprintf(err, errlen, "cannot open the pid file %s: %s", path,
                 strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        e = errno;
        if (e == EWOULDBLOCK) {
            n = pread(fd, buf, sizeof(buf) - 1, 0);
            buf[n > 0 ? n : 0] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            snprintf(err, errlen,
                     "the pid file %s is held by a running daemon (pid %s)",
                     path, buf[0] != '\0' ? buf : "unknown");
            e = EBUSY;
        } else {
            snprintf(err, errlen, "cannot lock the pid file %s: %s", path,
                     strerror(e));
        }
        close(fd);
        return -e;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        e = errno;
        snprintf(err, errlen, "cannot write the pid file %s: %s", path,
                 strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

/* Remove the pid file we hold (fd from pidfile_take()), then let go of it;
 * unlinking first means no other daemon can have taken it meanwhile. */
void
pidfile_remove(const char *path, int fd)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}
