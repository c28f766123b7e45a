/* SPDX-License-Identifier: MIT */
/*
 * clockshift.c -- an LD_PRELOAD shim that moves the wall clock of the
 * processes it is loaded into, for the clock-jump fault case of
 * tests/load_fault.c (run by tests/check-load.sh).
 *
 * Setting the host's clock would move it under everyone else's work, and
 * a time namespace offsets only CLOCK_MONOTONIC and CLOCK_BOOTTIME, once,
 * before its first process: neither gives a wall-clock jump in a running
 * daemon.  So CLOCK_REALTIME and its variants, gettimeofday() and time()
 * read here the real clock plus an offset in milliseconds, a signed 64-bit
 * word at the start of the file named by $SHMC_CLOCK_FILE.  The file is
 * mapped shared: when the test stores a new offset, every process with
 * the shim (the daemon and the test's readers) jumps at once.
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME are left alone: they never jump.
 * Without $SHMC_CLOCK_FILE the shim changes nothing.
 *
 * Test-only code; never installed.
 */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);

/* The offset word, mapped from $SHMC_CLOCK_FILE; NULL: none. */
static int64_t *
offset_word(void)
{
    static int64_t *word;
    static int tried;
    const char *path;
    void *p;
    int fd;

    if (__atomic_load_n(&tried, __ATOMIC_ACQUIRE))
        return word;
    path = getenv("SHMC_CLOCK_FILE");
    if (path != NULL && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        p = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (p != MAP_FAILED)
            word = p;
    }
    /* ORDERING: release; pairs with the acquire above, so that a thread
     * that sees tried set also sees word. */
    __atomic_store_n(&tried, 1, __ATOMIC_RELEASE);
    return word;
}

/* The real clock_gettime(). */
static int
real_clock_gettime(clockid_t id, struct timespec *ts)
{
    static clock_fn real;

    if (real == NULL)
        real = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return real(id, ts);
}

/* Add the current offset to a wall-clock reading. */
static void
shift(struct timespec *ts)
{
    int64_t *w = offset_word(), off, ns;

    if (w == NULL)
        return;
    off = __atomic_load_n(w, __ATOMIC_RELAXED);
    ns = (int64_t)ts->tv_nsec + (off % 1000) * 1000000;
    ts->tv_sec += (time_t)(off / 1000);
    if (ns < 0) {
        ns += 1000000000;
        ts->tv_sec--;
    } else if (ns >= 1000000000) {
        ns -= 1000000000;
        ts->tv_sec++;
    }
    ts->tv_nsec = (long)ns;
}

/* clock_gettime(), the wall clocks shifted. */
int
clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = real_clock_gettime(id, ts);

    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE ||
                    id == CLOCK_TAI))
        shift(ts);
    return rc;
}

/* gettimeofday(), shifted. */
int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;

    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
    return 0;
}

/* time(), shifted. */
time_t
time(time_t *t)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (t != NULL)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
