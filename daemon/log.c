/* SPDX-License-Identifier: MIT */
/*
 * log.c -- one line per event, to stderr, a log file, or syslog.
 *
 * Where lines go:
 *  - stderr by default.  Under systemd (JOURNAL_STREAM names our stderr)
 *    each line starts with the sd-daemon level prefix "<N>" and carries
 *    no timestamp: journald adds both.  Elsewhere lines carry a UTC
 *    timestamp and the level's name.
 *  - a file (--log-file): timestamped lines appended; log_reopen() opens
 *    the path again after logrotate moved it (SIGHUP).
 *  - syslog (LOG_DAEMON), once a detached daemon has no stderr and no file.
 * While a detaching daemon still has its terminal, log_set_tee() copies
 * warnings and errors to stderr too, so a failed start is seen where it
 * was typed.
 *
 * The level test comes before any formatting, so a debug line costs
 * nothing when debug is off.  Lines are written with one write(2) so
 * concurrent writers never interleave within a line.  Never linked into
 * libshmcache.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_LVL_NOTICE;
static int log_journal;
static const char *log_ident = "shmcache";
static int log_fd = STDERR_FILENO; /* stderr or the log file */
static char log_path[PATH_MAX];    /* the log file, "" for none */
static int log_syslog;             /* lines go to syslog */
static int log_tee;                /* warnings and errors to stderr too */

static const char *const level_names[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* Whether stderr is the journal stream systemd told us about. */
static int
stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

/* Set the program name and level; detect journald. */
void
log_init(const char *ident, int level)
{
    log_ident = ident;
    log_level = level;
    log_journal = stderr_is_journal();
}

/* Change the level (SIGHUP, -v). */
void
log_set_level(int level)
{
    log_level = level;
}

/* The current level. */
int
log_get_level(void)
{
    return log_level;
}

/* "err".."debug" to a level, or -1. */
int
log_level_from_name(const char *name)
{
    int i;

    for (i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/*
 * Log to the file at path from now on (appending, created 0640), instead
 * of stderr.  Returns 0, or -errno with the reason in err.
 */
int
log_open_file(const char *path, char *err, size_t errlen)
{
    int fd;

    if (strlen(path) >= sizeof(log_path)) {
        snprintf(err, errlen, "log file path too long: %.100s...", path);
        return -ENAMETOOLONG;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open the log file %s: %s", path,
                 strerror(e));
        return -e;
    }
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    snprintf(log_path, sizeof(log_path), "%s", path);
    log_journal = 0; /* the file is not the journal stream */
    return 0;
}

/* Open the log file again (after logrotate moved it); keep the old one if
 * that fails.  Nothing to do without a log file. */
void
log_reopen(void)
{
    char path[PATH_MAX], err[PATH_MAX + 128];

    if (log_path[0] == '\0')
        return;
    snprintf(path, sizeof(path), "%s", log_path);
    if (log_open_file(path, err, sizeof(err)) != 0)
        log_err("log: %s; still writing to the old file", err);
}

/* Whether lines go to a log file. */
int
log_has_file(void)
{
    return log_path[0] != '\0';
}

/* Send lines to syslog (facility LOG_DAEMON) from now on, unless they go
 * to a log file: a detached daemon's stderr is /dev/null. */
void
log_use_syslog(void)
{
    if (log_has_file())
        return;
    openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = 1;
    log_journal = 0;
}

/* Copy warnings and errors to stderr as well (on), or stop (off). */
void
log_set_tee(int on)
{
    log_tee = on;
}

/* Log one line at level. */
void
log_msg(int level, const char *fmt, ...)
{
    char line[1024];
    size_t n = 0, body;
    va_list ap;
    struct timespec ts;
    struct tm tm;
    int r;

    if (level > log_level)
        return;
    if (log_syslog) {
        /* syslog adds the time, our name and pid. */
    } else if (log_journal) {
        n = (size_t)snprintf(line, sizeof(line), "<%d>", level);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n,
                              ".%03ldZ %s[%d] %s: ", ts.tv_nsec / 1000000L,
                              log_ident, (int)getpid(), level_names[level]);
    }
    body = n;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    n += (size_t)r;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    if (log_syslog) {
        line[n] = '\0';
        syslog(level, "%s", line + body);
        return;
    }
    line[n++] = '\n';
    if (write(log_fd, line, n) < 0) {
        /* Nowhere left to report it. */
    }
    if (log_tee && log_fd != STDERR_FILENO && level <= LOG_LVL_WARNING &&
        write(STDERR_FILENO, line, n) < 0) {
        /* The terminal is gone; the file has it. */
    }
}
