/*
 * table_demo.c -- the table layer on its own, end to end: a writer process
 * fills a table file and keeps updating it while a reader process, with its
 * own read-only mapping, looks keys up lock-free and verifies every value.
 * Until shmcached exists this is what `scripts/demo.sh` runs.
 *
 * usage: table_demo [DIR]   (default: a fresh directory under $TMPDIR)
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "store.h"
#include "table.h"

#define NKEYS 100000
#define SECONDS 3

/* Monotonic seconds. */
static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The value stored for key i at version v: readable, and checkable. */
static int
make_value(char *buf, size_t size, unsigned i, unsigned long v)
{
    return snprintf(buf, size, "user%u:version=%lu:shell=/bin/sh", i, v);
}

int
main(int argc, char **argv)
{
    struct store_geom g = {64u << 20, 0, 64, 4096, 1};
    char dirbuf[256], path[512], why[256], k[32], v[128], buf[128];
    const char *dir = argc > 1 ? argv[1] : NULL;
    struct store *st;
    struct table tb;
    struct table_hit hit;
    unsigned long version = 0, lookups = 0, hits = 0, wrong = 0;
    double t0, end;
    unsigned i;
    pid_t pid;
    int fd, rc, status, n;

    if (dir == NULL) {
        snprintf(dirbuf, sizeof(dirbuf), "%s/shmcache-demo.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(dirbuf) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        dir = dirbuf;
    }
    snprintf(path, sizeof(path), "%s/demo.shm", dir);
    rc = store_create(path, &g, 0644, &st, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "table_demo: %s\n", why);
        return 1;
    }
    printf("table %s: %llu bytes, %u buckets, %llu-byte arena\n", path,
           (unsigned long long)st->size, st->view.mask + 1,
           (unsigned long long)st->arena_size);

    t0 = now_s();
    for (i = 0; i < NKEYS; i++) {
        n = snprintf(k, sizeof(k), "user%u", i);
        make_value(v, sizeof(v), i, ++version);
        store_set(st, k, (size_t)n, v, strlen(v), 0, 0, STORE_SET,
                  table_now_ms());
    }
    printf("writer: loaded %d keys in %.1f ms\n", NKEYS, (now_s() - t0) * 1e3);

    end = now_s() + SECONDS;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        /* The reader: its own read-only mapping, no locks, no syscalls. */
        fd = open(path, O_RDONLY);
        if (fd < 0 || table_open_fd(&tb, fd, why, sizeof(why)) != 0) {
            fprintf(stderr, "reader: %s\n", why);
            _exit(1);
        }
        while (now_s() < end) {
            i = (unsigned)(lookups * 2654435761u) % NKEYS;
            n = snprintf(k, sizeof(k), "user%u", i);
            rc = table_lookup(&tb, k, (size_t)n, buf, sizeof(buf) - 1,
                              table_now_ms(), &hit);
            lookups++;
            if (rc == 0) {
                char want[32];
                hits++;
                buf[hit.vlen] = '\0';
                snprintf(want, sizeof(want), "user%u:", i);
                if (strncmp(buf, want, strlen(want)) != 0)
                    wrong++;
                if (lookups == 1)
                    printf("reader: get %s -> \"%s\"\n", k, buf);
            }
        }
        printf("reader: %lu lookups, %lu hits, %lu wrong values while the "
               "writer churned\n",
               lookups, hits, wrong);
        fflush(stdout);
        _exit(wrong == 0 ? 0 : 1);
    }
    /* The writer keeps updating until the reader is done. */
    while (now_s() < end) {
        i = (unsigned)(version * 40503u) % NKEYS;
        n = snprintf(k, sizeof(k), "user%u", i);
        make_value(v, sizeof(v), i, ++version);
        store_set(st, k, (size_t)n, v, strlen(v), 0, 0, STORE_SET,
                  table_now_ms());
    }
    waitpid(pid, &status, 0);
    printf("writer: %lu sets, %llu live entries, %llu evictions\n", version,
           (unsigned long long)st->hdr->h_entries,
           (unsigned long long)st->hdr->h_evictions);
    store_close(st);
    unlink(path);
    if (argc < 2)
        rmdir(dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
