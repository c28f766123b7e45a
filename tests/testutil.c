/* SPDX-License-Identifier: MIT */
/*
 * testutil.c -- see testutil.h.  Test-only code: aborts on setup failure.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Make a private directory under $TMPDIR (or /tmp). */
char *
tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p;

    if (base == NULL || *base == '\0')
        base = "/tmp";
    if (asprintf(&p, "%s/shmc-test.XXXXXX", base) < 0 || mkdtemp(p) == NULL) {
        perror("tu_tmpdir");
        abort();
    }
    return p;
}

/* Remove a directory made by tu_tmpdir() and the files in it. */
void
tu_rmtree(const char *dir)
{
    struct dirent *d;
    DIR *dp = opendir(dir);
    char *p;

    if (dp == NULL)
        return;
    while ((d = readdir(dp)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        p = tu_path(dir, d->d_name);
        if (unlink(p) != 0 && errno == EISDIR)
            tu_rmtree(p); /* a directory a test made */
        free(p);
    }
    closedir(dp);
    rmdir(dir);
}

/* dir/name, allocated. */
char *
tu_path(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

/* The i-th test key: fixed width 16 bytes, like the benchmark's. */
size_t
tu_key(char *buf, size_t size, uint64_t i)
{
    return (size_t)snprintf(buf, size, "key:%012llu", (unsigned long long)i);
}

/* FNV-1a, 64-bit: independent of the code under test. */
static uint64_t
fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    while (n-- > 0)
        h = (h ^ *p++) * 0x100000001b3ULL;
    return h;
}

/* Fill buf[vlen] (vlen >= klen + TU_VALUE_OVERHEAD) for key, version. */
void
tu_value(void *buf, size_t vlen, const void *key, size_t klen, uint64_t version)
{
    unsigned char *p = buf;
    size_t i;
    uint64_t h;

    memcpy(p, &version, 8);
    memcpy(p + 8, key, klen);
    for (i = 8 + klen; i < vlen - 8; i++)
        p[i] = (unsigned char)(version * 131 + i * 7);
    h = fnv(p, vlen - 8);
    memcpy(p + vlen - 8, &h, 8);
}

/* 1 if buf holds an intact self-checking value of key; sets *version. */
int
tu_value_ok(const void *buf, size_t vlen, const void *key, size_t klen,
            uint64_t *version)
{
    const unsigned char *p = buf;
    uint64_t h, v;
    size_t i;

    if (vlen < klen + TU_VALUE_OVERHEAD)
        return 0;
    memcpy(&v, p, 8);
    if (memcmp(p + 8, key, klen) != 0)
        return 0;
    for (i = 8 + klen; i < vlen - 8; i++)
        if (p[i] != (unsigned char)(v * 131 + i * 7))
            return 0;
    memcpy(&h, p + vlen - 8, 8);
    if (h != fnv(p, vlen - 8))
        return 0;
    if (version != NULL)
        *version = v;
    return 1;
}

/* xorshift64*: a small reproducible generator. */
uint64_t
tu_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Monotonic seconds. */
double
tu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The time seconds from now, as a deadline for tu_poll(). */
double
tu_deadline(double seconds)
{
    return tu_now() + seconds;
}

/* One pause (10 ms) of a bounded wait: 0 once the deadline has passed, so
 * `while (!condition && tu_poll(end))` stops either way. */
int
tu_poll(double end)
{
    if (tu_now() >= end)
        return 0;
    usleep(10000);
    return 1;
}

/* An unsigned from the environment, or dflt. */
unsigned
tu_env_uint(const char *name, unsigned dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : dflt;
}
