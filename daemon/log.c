/* SPDX-License-Identifier: MIT */
/*
 * log.c -- one line per event, to stderr.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with
 * the sd-daemon level prefix "<N>" and carries no timestamp: journald adds
 * both.  Elsewhere lines carry a UTC timestamp and the level's name.  The
 * level test comes before any formatting, so a debug line costs nothing
 * when debug is off.  Lines are written with one write(2) so concurrent
 * writers never interleave within a line.  Never linked into libshmcache.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_LVL_NOTICE;
static int log_journal;
static const char *log_ident = "shmcache";

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

/* Log one line at level. */
void
log_msg(int level, const char *fmt, ...)
{
    char line[1024];
    size_t n = 0;
    va_list ap;
    struct timespec ts;
    struct tm tm;
    int r;

    if (level > log_level)
        return;
    if (log_journal) {
        n = (size_t)snprintf(line, sizeof(line), "<%d>", level);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n,
                              ".%03ldZ %s[%d] %s: ", ts.tv_nsec / 1000000L,
                              log_ident, (int)getpid(), level_names[level]);
    }
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    n += (size_t)r;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* Nowhere left to report it. */
    }
}
