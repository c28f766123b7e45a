/* SPDX-License-Identifier: MIT */
/*
 * check_client.c -- libshmcache's public API against a real shmcached
 * (started per test by client.c's fixture).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "fdpass.h"
#include "format.h"
#include "proto.h"
#include "shmcache.h"
#include "testutil.h"

static struct tdaemon d;

static const char *conf_json =
    "{\"log_level\": \"warning\", \"tables\": {"
    "\"t\": {\"size_bytes\": 4194304, \"max_value_bytes\": 100000, "
    "\"default_ttl_s\": 0}}}";

static void
setup(void)
{
    ck_assert_msg(td_start(&d, conf_json, -1) == 0, "daemon did not start");
}

static void
teardown(void)
{
    td_free(&d);
}

/* Rewrite the config so table t needs another file layout (the daemon
 * will replace the file on its next start). */
static void
change_geometry(void)
{
    ck_assert_int_eq(
        td_write_conf(&d, "{\"log_level\": \"warning\", \"tables\": {\"t\": "
                          "{\"size_bytes\": 4194304, \"buckets\": 1024, "
                          "\"max_value_bytes\": 100000}}}"),
        0);
}

/* ---- core ---- */

START_TEST(test_set_get_del)
{
    char buf[64];
    size_t n;
    uint64_t hits, misses;
    shmc_t *h;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_set(h, "k", 1, "hello", 5, 0), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(buf, "hello", 5);
    /* Too small a buffer: ERANGE and the size needed. */
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, 2, &n), SHMC_ERANGE);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(shmc_set_negative(h, "gone", 4, 0), 0);
    ck_assert_int_eq(shmc_get(h, "gone", 4, buf, sizeof(buf), &n),
                     SHMC_ENEGATIVE);
    ck_assert_int_eq(shmc_del(h, "k", 1), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_del(h, "k", 1), SHMC_ENOTFOUND);
    shmc_counters(h, &hits, &misses);
    ck_assert_uint_eq(hits, 3); /* hello, ERANGE, negative */
    ck_assert_uint_eq(misses, 2);
    shmc_close(h);
}
END_TEST

START_TEST(test_add_replace_touch_incr_flush)
{
    char buf[32];
    uint64_t v;
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_replace(h, "k", 1, "x", 1, 0), SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_add(h, "k", 1, "1", 1, 0), 0);
    ck_assert_int_eq(shmc_add(h, "k", 1, "2", 1, 0), SHMC_EEXISTS);
    ck_assert_int_eq(shmc_replace(h, "k", 1, "10", 2, 0), 0);
    ck_assert_int_eq(shmc_incr(h, "k", 1, 5, &v), 0);
    ck_assert_uint_eq(v, 15);
    ck_assert_int_eq(shmc_incr(h, "k", 1, -100, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), 0);
    ck_assert_mem_eq(buf, "0", 1);
    ck_assert_int_eq(shmc_incr(h, "nope", 4, 1, &v), SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_set(h, "s", 1, "abc", 3, 0), 0);
    ck_assert_int_eq(shmc_incr(h, "s", 1, 1, NULL), SHMC_ENOTNUM);
    ck_assert_int_eq(shmc_touch(h, "k", 1, 100), 0);
    ck_assert_int_eq(shmc_touch(h, "nope", 4, 100), SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_flush(h), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), SHMC_ENOTFOUND);
    shmc_close(h);
}
END_TEST

START_TEST(test_scan_info_stats_sync)
{
    char k[32], key[32], val[32], *json;
    unsigned char seen[50] = {0};
    struct shmc_info info;
    uint64_t cursor = 0, expiry;
    size_t kl, vl;
    int i, rc, neg, n = 0;
    shmc_t *h;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < 50; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_int_eq(shmc_set(h, k, 16, k, 16, 0), 0);
    }
    /* Too small a value buffer: ERANGE with the sizes, cursor kept. */
    ck_assert_int_eq(shmc_scan(h, &cursor, key, sizeof(key), &kl, val, 4, &vl,
                               &expiry, &neg),
                     SHMC_ERANGE);
    ck_assert_uint_eq(kl, 16);
    ck_assert_uint_eq(vl, 16);
    while ((rc = shmc_scan(h, &cursor, key, sizeof(key), &kl, val, sizeof(val),
                           &vl, &expiry, &neg)) == 0) {
        ck_assert_uint_eq(kl, 16);
        ck_assert_mem_eq(key, val, 16); /* each value is its key */
        i = atoi(key + 4);
        ck_assert_int_lt(i, 50);
        ck_assert_int_eq(seen[i]++, 0); /* once each */
        n++;
    }
    ck_assert_int_eq(rc, SHMC_ENOTFOUND);
    ck_assert_int_eq(n, 50);
    ck_assert_int_eq(shmc_info(h, &info, sizeof(info)), 0);
    ck_assert_uint_eq(info.entries, 50);
    ck_assert_uint_eq(info.sets, 50);
    ck_assert_uint_eq(info.retired, 0);
    ck_assert_int_eq(shmc_stats_json(h, SHMC_STATS_TABLE, &json), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"entries\":50"));
    free(json);
    ck_assert_int_eq(shmc_stats_json(h, SHMC_STATS_ALL, &json), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"requests\":"));
    free(json);
    ck_assert_int_eq(shmc_stats_json(h, SHMC_LIST_TABLES, &json), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"name\":\"t\""));
    free(json);
    ck_assert_int_eq(shmc_stats_json(h, 7, &json), -EINVAL);
    ck_assert_ptr_null(json);
    ck_assert_int_eq(shmc_sync(h), 0);
    ck_assert_int_eq(shmc_info(h, NULL, sizeof(info)), -EINVAL);
    shmc_close(h);
}
END_TEST

START_TEST(test_open_file_reads_without_daemon)
{
    char buf[64], *path = tu_path(d.run, "t.shm");
    shmc_t *w, *r;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &w), 0);
    ck_assert_int_eq(shmc_set(w, "k", 1, "v", 1, SHMC_TTL_NEVER), 0);
    shmc_close(w);
    ck_assert_int_eq(td_stop(&d), 0);
    /* Daemon down: the file still reads; writes say why they cannot. */
    ck_assert_int_eq(shmc_open_file(path, 0, &r), 0);
    ck_assert_int_eq(shmc_get(r, "k", 1, buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(shmc_set(r, "k", 1, "x", 1, 0), SHMC_EREADONLY);
    shmc_close(r);
    free(path);
}
END_TEST

START_TEST(test_writes_survive_a_daemon_restart)
{
    char buf[16];
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "a", 1, "1", 1, 0), 0);
    ck_assert_int_eq(td_restart(&d), 0);
    /* The connection broke; the library reconnects once. */
    ck_assert_int_eq(shmc_set(h, "b", 1, "2", 1, 0), 0);
    ck_assert_int_eq(shmc_get(h, "a", 1, buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(shmc_get(h, "b", 1, buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

START_TEST(test_replaced_table_is_followed)
{
    char buf[16];
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "old", 3, "1", 1, 0), 0);
    /* Restart with another geometry: the daemon builds a new file and
     * retires the one this handle maps. */
    ck_assert_int_eq(td_stop(&d), 0);
    change_geometry();
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_set(h, "new", 3, "2", 1, 0), 0);
    /* The lookup notices RETIRED, reopens, and finds the new table ... */
    ck_assert_int_eq(shmc_get(h, "new", 3, buf, sizeof(buf), &n), 0);
    /* ... which the resize built from the old one's entries. */
    ck_assert_int_eq(shmc_get(h, "old", 3, buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(buf[0], '1');
    {
        struct shmc_info info;
        ck_assert_int_eq(shmc_info(h, &info, sizeof(info)), 0);
        ck_assert_uint_eq(info.generation, 2);
    }
    shmc_close(h);
}
END_TEST

struct rd {
    shmc_t *h;
    volatile int *stop;
    unsigned long lookups, hits, bad;
};

/* A reader thread: random keys, every hit verified. */
static void *
reader(void *arg)
{
    struct rd *r = arg;
    unsigned char buf[512];
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    char k[32];
    size_t n;

    while (!*r->stop) {
        tu_key(k, sizeof(k), tu_rand(&seed) % 200);
        /* Four spinning threads would starve the daemon on two cores. */
        if (++r->lookups % 1024 == 0)
            sched_yield();
        if (shmc_get(r->h, k, 16, buf, sizeof(buf), &n) == 0) {
            /* ORDERING: relaxed; a count the main thread polls. */
            __atomic_add_fetch(&r->hits, 1, __ATOMIC_RELAXED);
            if (!tu_value_ok(buf, n, k, 16, NULL))
                r->bad++;
        }
    }
    return NULL;
}

START_TEST(test_threads_share_a_handle)
{
    unsigned char val[400];
    volatile int stop = 0;
    struct rd r[4];
    pthread_t th[4];
    double end;
    char k[32];
    shmc_t *h;
    uint64_t i, nsets;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < 4; i++) {
        r[i] = (struct rd){h, &stop, 0, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &r[i]), 0);
    }
    /* Writes through the same handle while four threads read it. */
    end = tu_now() + 10;
    for (i = 0; i < 3000 && tu_now() < end; i++) {
        tu_key(k, sizeof(k), i % 200);
        tu_value(val, 40 + i % 300, k, 16, i);
        ck_assert_int_eq(shmc_set(h, k, 16, val, 40 + i % 300, 0), 0);
    }
    /* On a loaded machine a reader may not have run yet: keep writing
     * until each has seen values (bounded by the same deadline). */
    for (; tu_now() < end; i++) {
        int all = 1;
        for (uint64_t j = 0; j < 4; j++)
            all &= __atomic_load_n(&r[j].hits, __ATOMIC_RELAXED) > 0;
        if (all)
            break;
        tu_key(k, sizeof(k), i % 200);
        tu_value(val, 40 + i % 300, k, 16, i);
        ck_assert_int_eq(shmc_set(h, k, 16, val, 40 + i % 300, 0), 0);
    }
    stop = 1;
    nsets = i;
    ck_assert_uint_ge(nsets, 500); /* values changed under the readers */
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_uint_eq(r[i].bad, 0);
        ck_assert_uint_gt(r[i].hits, 0);
    }
    printf("# client threads: %llu sets, lookups %lu+%lu+%lu+%lu, 0 bad\n",
           (unsigned long long)nsets, r[0].lookups, r[1].lookups, r[2].lookups,
           r[3].lookups);
    shmc_close(h);
}
END_TEST

START_TEST(test_fork_child_reads_inherited_handle)
{
    char buf[16];
    shmc_t *h;
    size_t n;
    int status;
    pid_t pid;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "k", 1, "v", 1, 0), 0);
    pid = fork();
    if (pid == 0)
        _exit(shmc_get(h, "k", 1, buf, sizeof(buf), &n) == 0 && n == 1 ? 0 : 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    shmc_close(h);
}
END_TEST

/* One process's share of test_fork_child_writes_inherited_handle(): batches
 * of large frames (two processes sending on one socket would interleave
 * their bytes), then its own counter by its own step (a reply read by the
 * wrong process, with the same request id, shows as a count out of step).
 * Returns the number of failures. */
static unsigned
fork_writer(shmc_t *h, const char *who, uint64_t step)
{
    enum { N = 300, VLEN = 3000 };
    static char keys[N][24], val[VLEN];
    const void *kp[N], *vp[N];
    size_t kl[N], vl[N];
    unsigned bad = 0;
    uint64_t v, i;
    int rcs[N], round;

    memset(val, who[0], sizeof(val));
    for (i = 0; i < N; i++) {
        kl[i] = (size_t)snprintf(keys[i], sizeof(keys[i]), "%s%llu", who,
                                 (unsigned long long)i);
        kp[i] = keys[i];
        vp[i] = val;
        vl[i] = VLEN;
    }
    for (round = 0; round < 5; round++) {
        bad += shmc_mset(h, N, kp, kl, vp, vl, 0, rcs) != 0;
        for (i = 0; i < N; i++)
            bad += rcs[i] != 0;
    }
    for (i = 1; i <= 2000; i++)
        bad += shmc_incr(h, who, strlen(who), (int64_t)step, &v) != 0 ||
               v != i * step;
    return bad;
}

/* Parent and child write through the one handle they share, at once. */
START_TEST(test_fork_child_writes_inherited_handle)
{
    shmc_t *h;
    int status;
    pid_t pid;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "p", 1, "0", 1, 0), 0); /* connected now */
    ck_assert_int_eq(shmc_set(h, "c", 1, "0", 1, 0), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fork_writer(h, "c", 1000) == 0 ? 0 : 1);
    ck_assert_uint_eq(fork_writer(h, "p", 1), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    shmc_close(h);
}
END_TEST

/* What the reader of the next test has done so far (shared memory). */
struct reader_progress {
    uint64_t lookups, hits, errors;
    uint64_t new_seen; /* keys seen with their new table's value */
};

/* A reader's count, as the other process last stored it. */
static uint64_t
progress(const uint64_t *counter)
{
    /* ORDERING: relaxed; a count polled for progress, nothing else. */
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Wait (bounded) until the reader's lookups pass n. */
static void
wait_lookups(const struct reader_progress *rp, uint64_t n)
{
    double end = tu_deadline(10);

    while (progress(&rp->lookups) < n && tu_poll(end))
        ;
    ck_assert_uint_ge(progress(&rp->lookups), n);
}

START_TEST(test_readers_across_restart_and_replacement)
{
    unsigned char val[200], buf[512];
    struct reader_progress *rp;
    int status, p[2], i;
    uint64_t mark;
    double end;
    char k[32];
    shmc_t *h, *r;
    pid_t pid;
    size_t n;

    signal(SIGPIPE, SIG_IGN);
    rp = mmap(NULL, sizeof(*rp), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(rp != MAP_FAILED);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < 100; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(val, sizeof(val), k, 16, (uint64_t)i);
        ck_assert_int_eq(shmc_set(h, k, 16, val, sizeof(val), 0), 0);
    }
    ck_assert_int_eq(pipe(p), 0);
    /* The reader's own handle, opened before the daemon starts moving
     * (the parent never uses it). */
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &r), 0);
    pid = fork();
    if (pid == 0) {
        /* Read without pause until told to stop: a wrong value fails at
         * once, any error is counted (a replaced table is retired only
         * once the new daemon listens, so reopening always reaches it). */
        char stop, seen[100] = {0};
        uint64_t seed = 5, version, key;
        int rc;
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        while (read(p[0], &stop, 1) != 1) {
            key = tu_rand(&seed) % 100;
            tu_key(k, sizeof(k), key);
            rc = shmc_get(r, k, 16, buf, sizeof(buf), &n);
            if (rc == 0) {
                if (!tu_value_ok(buf, n, k, 16, &version))
                    _exit(91);
                __atomic_fetch_add(&rp->hits, 1, __ATOMIC_RELAXED);
                if (version >= 1000 && !seen[key]) {
                    seen[key] = 1;
                    __atomic_fetch_add(&rp->new_seen, 1, __ATOMIC_RELAXED);
                }
            } else if (rc != SHMC_ENOTFOUND) {
                __atomic_fetch_add(&rp->errors, 1, __ATOMIC_RELAXED);
            }
            __atomic_fetch_add(&rp->lookups, 1, __ATOMIC_RELAXED);
        }
        _exit(0);
    }
    close(p[0]);
    /* Each step waits for the reader to have read on: it is running
     * before the first restart, reads through the reused table after it,
     * and follows the replaced one, until it has seen every key's new
     * value.  Waits are bounded; none is a guess at how long is enough. */
    wait_lookups(rp, 1000);
    ck_assert_int_eq(td_restart(&d), 0);
    wait_lookups(rp, progress(&rp->lookups) + 1000);
    ck_assert_int_eq(td_stop(&d), 0);
    change_geometry();
    ck_assert_int_eq(td_restart(&d), 0);
    for (i = 0; i < 100; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(val, sizeof(val), k, 16, (uint64_t)i + 1000);
        ck_assert_int_eq(shmc_set(h, k, 16, val, sizeof(val), 0), 0);
    }
    end = tu_deadline(10);
    while (progress(&rp->new_seen) < 100 && tu_poll(end))
        ;
    mark = progress(&rp->new_seen);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    printf("# readers across restarts: lookups=%llu hits=%llu new keys "
           "seen=%llu errors=%llu\n",
           (unsigned long long)rp->lookups, (unsigned long long)rp->hits,
           (unsigned long long)rp->new_seen, (unsigned long long)rp->errors);
    fflush(stdout);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "reader exit %d (91: a wrong value)", WEXITSTATUS(status));
    ck_assert_uint_eq(mark, 100);
    ck_assert_uint_eq(rp->errors, 0);
    close(p[1]);
    munmap(rp, sizeof(*rp));
    shmc_close(r);
    shmc_close(h);
}
END_TEST

START_TEST(test_mapping_is_read_only)
{
    char line[512], *path = tu_path(d.run, "t.shm");
    unsigned long start = 0;
    int status, found = 0;
    shmc_t *h;
    FILE *maps;
    pid_t pid;

    ck_assert_int_eq(shmc_open_file(path, 0, &h), 0);
    /* Find the handle's mapping of the table and store into it. */
    maps = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof(line), maps) != NULL)
        if (strstr(line, path) != NULL && sscanf(line, "%lx-", &start) == 1) {
            found = 1;
            ck_assert_ptr_nonnull(strstr(line, " r--s "));
            break;
        }
    fclose(maps);
    ck_assert(found);
    pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        *(volatile char *)start = 1;
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    shmc_close(h);
    free(path);
}
END_TEST

/*
 * A table file cut under a reader (issue "Hostile local users", finding
 * 7).  Once the daemon has replaced the table, the handle's next lookup
 * finds its old mapping whole again (zeros where it was cut) and RETIRED,
 * reopens, and answers from the new table.  A cut file opened by path is
 * refused, its size checked against its header, never mapped past its end.
 * (Between the cut and the daemon's repair, a lookup touching a lost page
 * would raise SIGBUS in the reader: this test touches nothing then.)
 */
START_TEST(test_truncated_table_is_followed)
{
    char buf[16], cmd[1024], *path = tu_path(d.run, "t.shm"),
                             *cut = tu_path(d.dir, "cut.shm");
    struct stat st;
    shmc_t *h, *f;
    ino_t ino;
    double end;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "k", 1, "v", 1, 0), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), 0);
    snprintf(cmd, sizeof(cmd), "cp %s %s", path, cut);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(truncate(cut, 8192), 0);
    ck_assert_int_eq(shmc_open_file(cut, 0, &f), SHMC_ECORRUPT);

    ck_assert_int_eq(stat(path, &st), 0);
    ino = st.st_ino;
    ck_assert_int_eq(truncate(path, 4096), 0);
    end = tu_deadline(10);
    while (stat(path, &st) == 0 && st.st_ino == ino && tu_poll(end))
        ;
    ck_assert_uint_ne(st.st_ino, ino);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_set(h, "k", 1, "w", 1, 0), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), 0);
    ck_assert_mem_eq(buf, "w", 1);
    shmc_close(h);
    free(cut);
    free(path);
}
END_TEST

START_TEST(test_retired_copy_keeps_answering)
{
    char buf[16], line[512], *path = tu_path(d.run, "t.shm"),
                             *copy = tu_path(d.dir, "copy.shm");
    unsigned char state = 2; /* FMT_STATE_RETIRED, at offset 128 */
    int i, fd, maps = 0;
    shmc_t *h;
    size_t n;
    FILE *f;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "k", 1, "v", 1, 0), 0);
    shmc_close(h);
    snprintf(line, sizeof(line), "cp %s %s", path, copy);
    ck_assert_int_eq(system(line), 0);
    fd = open(copy, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, &state, 1, 128), 1);
    close(fd);
    /* Nothing newer exists at that path: answer from it, and do not map
     * it again on every call. */
    ck_assert_int_eq(shmc_open_file(copy, 0, &h), 0);
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), 0);
    f = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof(line), f) != NULL)
        maps += strstr(line, copy) != NULL;
    fclose(f);
    ck_assert_int_le(maps, 2);
    shmc_close(h);
    free(path);
    free(copy);
}
END_TEST

/* The daemon closes a connection left idle; the next incr must notice,
 * go over a new connection, and count exactly once. */
START_TEST(test_incr_after_idle_close)
{
    long long idle, conns;
    char buf[8];
    uint64_t v;
    double end;
    size_t n;
    char *c;
    shmc_t *h;

    /* A daemon that drops idle connections after a second. */
    ck_assert_int_eq(td_stop(&d), 0);
    if (asprintf(&c, "{\"idle_timeout_s\": 1, \"log_level\": \"err\", "
                     "\"tables\": {\"t\": {\"size_bytes\": 4194304, "
                     "\"max_value_bytes\": 100000}}}") < 0)
        abort();
    ck_assert_int_eq(td_write_conf(&d, c), 0);
    free(c);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "n", 1, "1", 1, 0), 0);
    /* Wait until the daemon has closed the handle's connection for being
     * idle: its count says so, and only the asking connection is left. */
    end = tu_deadline(10);
    do {
        /* (an earlier asking connection may still be counted for a moment) */
        idle = tc_stat(d.sock, "closed_idle");
        conns = tc_stat(d.sock, "connections");
    } while ((idle < 1 || conns != 1) && tu_poll(end));
    ck_assert_int_eq(idle, 1);
    ck_assert_int_eq(conns, 1);
    /* Not sent into the dead connection (and so never lost or doubled). */
    ck_assert_int_eq(shmc_incr(h, "n", 1, 1, &v), 0);
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(shmc_get(h, "n", 1, buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_mem_eq(buf, "2", 1);
    /* Limits are checked before sending. */
    {
        char *big = calloc(1, 200000);
        ck_assert_int_eq(shmc_set(h, "b", 1, big, 200000, 0), SHMC_ETOOBIG);
        free(big);
    }
    shmc_close(h);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors)
{
    char buf[16], big[300];
    shmc_t *h;
    int codes[] = {
        SHMC_ENOTFOUND, SHMC_ENEGATIVE, SHMC_ERANGE,    SHMC_EBUSY,
        SHMC_ECORRUPT,  SHMC_EVERSION,  SHMC_ERETIRED,  SHMC_EEXISTS,
        SHMC_ETOOBIG,   SHMC_ENOSPACE,  SHMC_EPROTO,    SHMC_ENOTABLE,
        SHMC_ENOTNUM,   SHMC_EREADONLY, SHMC_ENOLOADER, SHMC_ELOADER};
    size_t i, j, n;

    ck_assert_int_eq(shmc_open(d.sock, "nosuch", 0, &h), SHMC_ENOTABLE);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(shmc_open(d.sock, "t", 1, &h), -EINVAL);
    ck_assert_int_eq(shmc_open(d.sock, NULL, 0, &h), -EINVAL);
    ck_assert_int_eq(shmc_open("/nonexistent/sock", "t", 0, &h), -ENOENT);
    ck_assert_int_eq(shmc_open_file("/nonexistent", 0, &h), -ENOENT);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    memset(big, 'k', sizeof(big));
    ck_assert_int_eq(shmc_get(h, big, sizeof(big), buf, sizeof(buf), &n),
                     SHMC_ETOOBIG);
    ck_assert_int_eq(shmc_set(h, big, sizeof(big), "v", 1, 0), SHMC_ETOOBIG);
    ck_assert_int_eq(shmc_set(h, NULL, 0, "v", 1, 0), -EINVAL);
    shmc_close(h);
    shmc_close(NULL);
    /* Every code has its own description. */
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        ck_assert_str_ne(shmc_strerror(codes[i]), "unknown error");
        for (j = 0; j < i; j++)
            ck_assert_str_ne(shmc_strerror(codes[i]), shmc_strerror(codes[j]));
    }
    ck_assert_str_eq(shmc_strerror(-EACCES), strerror(EACCES));
    ck_assert_str_eq(shmc_version(), PACKAGE_VERSION);
}
END_TEST

/* shmc_mset() stores thousands of items in a few round trips, each
 * item's result in rcs[]; shmc_mget() reads them back, lock-free. */
START_TEST(test_mset_mget)
{
    enum { N = 5000 };
    static char kb[N][32], vb[N][120], out[N + 3][128];
    static const void *keys[N + 3], *vals[N + 3];
    static size_t klens[N + 3], vlens[N + 3], bufsizes[N + 3], got[N + 3];
    static void *bufs[N + 3];
    static int rcs[N + 3];
    static char big[200000];
    uint64_t version;
    shmc_t *h;
    size_t i;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < N; i++) {
        klens[i] = tu_key(kb[i], sizeof(kb[i]), i);
        tu_value(vb[i], sizeof(vb[i]), kb[i], klens[i], i);
        keys[i] = kb[i];
        vals[i] = vb[i];
        vlens[i] = sizeof(vb[i]);
    }
    /* One item over the table's value limit, one empty key, one fine. */
    keys[N] = "big";
    klens[N] = 3;
    vals[N] = big;
    vlens[N] = sizeof(big);
    keys[N + 1] = "";
    klens[N + 1] = 0;
    vals[N + 1] = "v";
    vlens[N + 1] = 1;
    keys[N + 2] = "last";
    klens[N + 2] = 4;
    vals[N + 2] = "ok";
    vlens[N + 2] = 2;
    ck_assert_int_eq(shmc_mset(h, N + 3, keys, klens, vals, vlens, 0, rcs), 0);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(rcs[i], 0);
    ck_assert_int_eq(rcs[N], SHMC_ETOOBIG);
    ck_assert_int_eq(rcs[N + 1], -EINVAL);
    ck_assert_int_eq(rcs[N + 2], 0);

    for (i = 0; i < N + 3; i++) {
        bufs[i] = out[i];
        bufsizes[i] = sizeof(out[i]);
    }
    klens[N + 1] = 7; /* a key never written */
    keys[N + 1] = "missing";
    bufsizes[N + 2] = 1; /* too small for "ok" */
    ck_assert_int_eq(shmc_mget(h, N + 3, keys, klens, bufs, bufsizes, got, rcs),
                     0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(rcs[i], 0);
        ck_assert(tu_value_ok(out[i], got[i], kb[i], klens[i], &version));
        ck_assert_uint_eq(version, i);
    }
    ck_assert_int_eq(rcs[N], SHMC_ENOTFOUND);
    ck_assert_int_eq(rcs[N + 1], SHMC_ENOTFOUND);
    ck_assert_int_eq(rcs[N + 2], SHMC_ERANGE);
    ck_assert_uint_eq(got[N + 2], 2);
    shmc_close(h);
}
END_TEST

/* A daemon whose frame limit is below the library's batch size: the
 * batches are split until they fit. */
START_TEST(test_mset_splits_for_a_small_frame_limit)
{
    enum { N = 600 };
    static char kb[N][32], vb[N][100];
    static const void *keys[N], *vals[N];
    static size_t klens[N], vlens[N];
    static int rcs[N];
    char buf[128];
    size_t i, n;
    shmc_t *h;

    ck_assert_int_eq(td_stop(&d), 0);
    ck_assert_int_eq(
        td_write_conf(&d, "{\"log_level\": \"err\", \"max_request_bytes\": "
                          "8192, \"tables\": {\"t\": {\"size_bytes\": "
                          "4194304, \"max_value_bytes\": 4000, "
                          "\"default_ttl_s\": 0}}}"),
        0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < N; i++) {
        klens[i] = tu_key(kb[i], sizeof(kb[i]), i);
        memset(vb[i], 'a' + (int)(i % 26), sizeof(vb[i]));
        keys[i] = kb[i];
        vals[i] = vb[i];
        vlens[i] = sizeof(vb[i]);
    }
    ck_assert_int_eq(shmc_mset(h, N, keys, klens, vals, vlens, 0, rcs), 0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(rcs[i], 0);
        ck_assert_int_eq(shmc_get(h, kb[i], klens[i], buf, sizeof(buf), &n), 0);
        ck_assert_mem_eq(buf, vb[i], sizeof(vb[i]));
    }
    shmc_close(h);
}
END_TEST

/* shmc_mdel() deletes thousands of keys in a few round trips, each key's
 * result in rcs[] as shmc_del() gives it: present, absent, refused. */
START_TEST(test_mdel)
{
    enum { N = 5000, M = N + 5 };
    static char kb[N][32], mb[N][32], big[300];
    static const void *keys[M], *vals[N];
    static size_t klens[M], vlens[N];
    static int rcs[M];
    char buf[64], *path;
    size_t i, n;
    shmc_t *h, *r;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < N; i++) {
        klens[i] = tu_key(kb[i], sizeof(kb[i]), i);
        keys[i] = kb[i];
        vals[i] = kb[i];
        vlens[i] = klens[i];
    }
    ck_assert_int_eq(shmc_mset(h, N, keys, klens, vals, vlens, 0, rcs), 0);
    /* Every third key of the list is one never written. */
    for (i = 2; i < N; i += 3) {
        klens[i] = (size_t)snprintf(mb[i], sizeof(mb[i]), "missing-%zu", i);
        keys[i] = mb[i];
    }
    memset(big, 'k', sizeof(big));
    keys[N] = big; /* over the table's max_key_bytes (250) */
    klens[N] = sizeof(big);
    keys[N + 1] = ""; /* empty */
    klens[N + 1] = 0;
    keys[N + 2] = NULL;
    klens[N + 2] = 1;
    keys[N + 3] = kb[0]; /* again: deleted earlier in this call */
    klens[N + 3] = 16;
    keys[N + 4] = kb[2]; /* present, its slot in the list taken above */
    klens[N + 4] = 16;
    for (i = 0; i < M; i++)
        rcs[i] = 12345;
    ck_assert_int_eq(shmc_mdel(h, M, keys, klens, rcs), 0);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(rcs[i], i % 3 == 2 ? SHMC_ENOTFOUND : 0);
    ck_assert_int_eq(rcs[N], SHMC_ETOOBIG);
    ck_assert_int_eq(rcs[N + 1], -EINVAL);
    ck_assert_int_eq(rcs[N + 2], -EINVAL);
    ck_assert_int_eq(rcs[N + 3], SHMC_ENOTFOUND);
    ck_assert_int_eq(rcs[N + 4], 0);
    /* Gone, except the keys the list did not name. */
    for (i = 0; i < N; i++)
        ck_assert_int_eq(shmc_get(h, kb[i], 16, buf, sizeof(buf), &n),
                         i % 3 == 2 && i != 2 ? 0 : SHMC_ENOTFOUND);
    /* Again: nothing left to delete. */
    ck_assert_int_eq(shmc_mdel(h, N, keys, klens, rcs), 0);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(rcs[i], SHMC_ENOTFOUND);

    /* Errors of the whole call. */
    ck_assert_int_eq(shmc_mdel(NULL, 1, keys, klens, rcs), -EINVAL);
    ck_assert_int_eq(shmc_mdel(h, 1, NULL, klens, rcs), -EINVAL);
    ck_assert_int_eq(shmc_mdel(h, 1, keys, NULL, rcs), -EINVAL);
    ck_assert_int_eq(shmc_mdel(h, 1, keys, klens, NULL), -EINVAL);
    ck_assert_int_eq(shmc_mdel(h, 0, NULL, NULL, NULL), 0);
    path = tu_path(d.run, "t.shm");
    ck_assert_int_eq(shmc_open_file(path, 0, &r), 0);
    rcs[0] = rcs[1] = 0;
    ck_assert_int_eq(shmc_mdel(r, 2, keys, klens, rcs), SHMC_EREADONLY);
    ck_assert_int_eq(rcs[0], SHMC_EREADONLY);
    ck_assert_int_eq(rcs[1], SHMC_EREADONLY);
    shmc_close(r);
    free(path);
    shmc_close(h);
}
END_TEST

/* A daemon with the smallest frame and output limits: a delete whose
 * frame is over the limit gets SHMC_ETOOBIG, as from shmc_del(), and the
 * daemon closes the connection; the keys after it are sent again on a new
 * one.  Replies well over max_output_bytes pile up while the library is
 * still sending, and nothing stalls. */
START_TEST(test_mdel_small_daemon_limits)
{
    enum { N = 3000 };
    static char kb[N][32], huge[4090];
    static const void *keys[N + 1];
    static size_t klens[N + 1];
    static int rcs[N + 1];
    char buf[64];
    size_t i, n;
    shmc_t *h;

    ck_assert_int_eq(td_stop(&d), 0);
    ck_assert_int_eq(
        td_write_conf(&d, "{\"log_level\": \"err\", \"max_request_bytes\": "
                          "4096, \"max_output_bytes\": 4096, \"tables\": "
                          "{\"t\": {\"size_bytes\": 4194304, "
                          "\"max_key_bytes\": 4096, \"max_value_bytes\": "
                          "1000, \"default_ttl_s\": 0}}}"),
        0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    memset(huge, 'h', sizeof(huge));
    ck_assert_int_eq(shmc_del(h, huge, sizeof(huge)), SHMC_ETOOBIG);
    for (i = 0; i < N; i++) {
        klens[i] = tu_key(kb[i], sizeof(kb[i]), i);
        keys[i] = kb[i];
        ck_assert_int_eq(shmc_set(h, kb[i], klens[i], "v", 1, 0), 0);
    }
    /* The huge key in the middle of the first run. */
    keys[N] = keys[100];
    klens[N] = klens[100];
    keys[100] = huge;
    klens[100] = sizeof(huge);
    ck_assert_int_eq(shmc_mdel(h, N + 1, keys, klens, rcs), 0);
    for (i = 0; i <= N; i++) {
        ck_assert_int_eq(rcs[i], i == 100 ? SHMC_ETOOBIG : 0);
        if (i != 100)
            ck_assert_int_eq(
                shmc_get(h, keys[i], klens[i], buf, sizeof(buf), &n),
                SHMC_ENOTFOUND);
    }
    shmc_close(h);
}
END_TEST

/*
 * A stand-in for the daemon that loses the connection in the middle of a
 * run of deletes: it says HELLO, reads `frames` DELETE frames (all of a
 * run: the library must send them before it waits for a reply), answers
 * the first `answer` (0 and SHMC_ENOTFOUND in turn), and closes.
 */
struct fake {
    int lfd;
    size_t frames, answer;
    size_t toobig; /* answer frame toobig - 1 with SHMC_ETOOBIG (0: none) */
    size_t got;    /* DELETE frames read */
    int bad;       /* a frame that was not what it should be */
    int refused;   /* the library's frames arrived out of order, or none */
};

/* Read one frame of at most size bytes into buf; its length, or 0. */
static size_t
fake_frame(int fd, unsigned char *buf, size_t size)
{
    size_t want = PROTO_HDR, have = 0;
    ssize_t r;

    while (have < want) {
        r = recv(fd, buf + have, want - have, 0);
        if (r <= 0)
            return 0;
        have += (size_t)r;
        if (have == PROTO_HDR) {
            want = proto_get32(buf);
            if (want < PROTO_HDR || want > size)
                return 0;
        }
    }
    return want;
}

/* Send a reply of status st (and the u32 extra, for HELLO) to frame req. */
static int
fake_reply(int fd, const unsigned char *req, int st, int with_extra)
{
    unsigned char rep[PROTO_HDR + 8];
    size_t len = PROTO_HDR + 4 + (with_extra ? 4 : 0);

    proto_header(rep, (uint32_t)len, (uint8_t)(req[4] | PROTO_REPLY),
                 proto_get32(req + 8));
    proto_put32(rep + PROTO_HDR, (uint32_t)st);
    proto_put32(rep + PROTO_HDR + 4, PROTO_VERSION);
    return send(fd, rep, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void *
fake_serve(void *arg)
{
    struct fake *f = arg;
    static unsigned char frames[1000][64];
    struct timeval tv = {10, 0};
    struct proto_req r;
    size_t i, len;
    int fd;

    fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        f->bad = 1;
        return NULL;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    len = fake_frame(fd, frames[0], sizeof(frames[0]));
    if (len == 0 || frames[0][4] != PROTO_OP_HELLO ||
        fake_reply(fd, frames[0], 0, 1) != 0) {
        f->bad = 1;
        close(fd);
        return NULL;
    }
    for (i = 0; i < f->frames && i < 1000; i++) {
        len = fake_frame(fd, frames[i], sizeof(frames[i]));
        if (len == 0) {
            f->refused = 1;
            break;
        }
        if (proto_decode(frames[i], len, &r) != 0 || r.op != PROTO_OP_DELETE)
            f->bad = 1;
        f->got++;
    }
    for (i = 0; i < f->answer && i < f->got; i++)
        fake_reply(fd, frames[i],
                   i + 1 == f->toobig ? SHMC_ETOOBIG
                   : i % 2            ? SHMC_ENOTFOUND
                                      : 0,
                   0);
    close(fd);
    return NULL;
}

/* The connection is lost in the middle of a run: the replies read are
 * the results; the keys without one get the error, none is reported
 * deleted that the library does not know to be, and none is sent again
 * (its delete may have happened).  A connection the daemon closed
 * between calls is made again. */
START_TEST(test_mdel_connection_lost_mid_run)
{
    enum { N = 300 };
    static char kb[N][32];
    static const void *keys[N];
    static size_t klens[N];
    static int rcs[N];
    size_t answers[] = {120, 0}, i, t;
    struct sockaddr_un sa;
    struct fake f;
    pthread_t th;
    char buf[8];
    shmc_t *h;
    size_t n;

    for (i = 0; i < N; i++) {
        klens[i] = tu_key(kb[i], sizeof(kb[i]), i);
        keys[i] = kb[i];
    }
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "x", 1, "1", 1, 0), 0); /* connected */
    ck_assert_int_eq(td_stop(&d), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d.sock);
    for (t = 0; t < sizeof(answers) / sizeof(answers[0]); t++) {
        memset(&f, 0, sizeof(f));
        f.frames = N;
        f.answer = answers[t];
        unlink(d.sock);
        f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(f.lfd, 0);
        ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(f.lfd, 8), 0);
        ck_assert_int_eq(pthread_create(&th, NULL, fake_serve, &f), 0);
        for (i = 0; i < N; i++)
            rcs[i] = 12345;
        ck_assert_int_eq(shmc_mdel(h, N, keys, klens, rcs), -ECONNRESET);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_int_eq(f.bad, 0);
        ck_assert_int_eq(f.refused, 0);
        ck_assert_uint_eq(f.got, N);
        for (i = 0; i < N; i++)
            ck_assert_int_eq(rcs[i], i >= f.answer ? -ECONNRESET
                                     : i % 2       ? SHMC_ENOTFOUND
                                                   : 0);
        /* Not sent again: no second connection was made. */
        {
            struct pollfd p = {.fd = f.lfd, .events = POLLIN};
            ck_assert_int_eq(poll(&p, 1, 0), 0);
        }
        close(f.lfd);
    }
    unlink(d.sock);
    /* The real daemon again: the handle's dead connection is replaced. */
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_mset(h, N, keys, klens, keys, klens, 0, rcs), 0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_mdel(h, N, keys, klens, rcs), 0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(rcs[i], 0);
        ck_assert_int_eq(shmc_get(h, kb[i], 16, buf, sizeof(buf), &n),
                         SHMC_ENOTFOUND);
    }
    shmc_close(h);
}
END_TEST

/* A delete refused as too big on a connection the daemon keeps open (a
 * key over its max_key_bytes, which a handle mapped before a restart with
 * a smaller limit does not know): the replies after it are read as the
 * results they are, and nothing is sent again. */
START_TEST(test_mdel_refused_key_on_an_open_connection)
{
    enum { N = 40, BIG = 10 };
    static char kb[N][32];
    static const void *keys[N];
    static size_t klens[N];
    static int rcs[N];
    struct sockaddr_un sa;
    struct pollfd p;
    struct fake f;
    pthread_t th;
    shmc_t *h;
    size_t i;

    for (i = 0; i < N; i++) {
        klens[i] = tu_key(kb[i], sizeof(kb[i]), i);
        keys[i] = kb[i];
    }
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "x", 1, "1", 1, 0), 0); /* connected */
    ck_assert_int_eq(td_stop(&d), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d.sock);
    memset(&f, 0, sizeof(f));
    f.frames = N;
    f.answer = N;
    f.toobig = BIG;
    unlink(d.sock);
    f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(f.lfd, 0);
    ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f.lfd, 8), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, fake_serve, &f), 0);
    ck_assert_int_eq(shmc_mdel(h, N, keys, klens, rcs), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(f.bad, 0);
    ck_assert_uint_eq(f.got, N);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(rcs[i], i + 1 == BIG ? SHMC_ETOOBIG
                                 : i % 2      ? SHMC_ENOTFOUND
                                              : 0);
    p.fd = f.lfd;
    p.events = POLLIN;
    ck_assert_int_eq(poll(&p, 1, 0), 0); /* no second connection */
    close(f.lfd);
    unlink(d.sock);
    ck_assert_int_eq(td_restart(&d), 0);
    shmc_close(h);
}
END_TEST

/* A uid the table's write ACL does not admit: the whole call is refused
 * (-EACCES), for every key, and nothing is deleted. */
START_TEST(test_mdel_mset_refused_by_acl)
{
    const void *keys[] = {"a", "b", "c"};
    size_t klens[] = {1, 1, 1};
    char buf[8];
    int status;
    shmc_t *h;
    size_t n;
    pid_t pid;

    if (geteuid() != 0)
        return; /* no second uid to act as */
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "a", 1, "1", 1, 0), 0);
    ck_assert_int_eq(shmc_set(h, "b", 1, "2", 1, 0), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        shmc_t *o;
        int rcs[3] = {0, 0, 0};
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(90);
        if (shmc_open(d.sock, "t", 0, &o) != 0) /* reads: everyone */
            _exit(91);
        if (shmc_mdel(o, 3, keys, klens, rcs) != -EACCES)
            _exit(92);
        if (rcs[0] != -EACCES || rcs[1] != -EACCES || rcs[2] != -EACCES)
            _exit(93);
        rcs[0] = rcs[1] = rcs[2] = 0;
        if (shmc_mset(o, 3, keys, klens, keys, klens, 0, rcs) != -EACCES)
            _exit(94);
        if (rcs[0] != -EACCES || rcs[1] != -EACCES || rcs[2] != -EACCES)
            _exit(95);
        shmc_close(o);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(shmc_get(h, "a", 1, buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(shmc_get(h, "b", 1, buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

/* ---- hints ---- */

static const char *hints_conf_json =
    "{\"log_level\": \"warning\", \"expire_interval_ms\": 20, \"tables\": {"
    "\"t\": {\"size_bytes\": 1048576, \"max_value_bytes\": 4096, "
    "\"default_ttl_s\": 0}}}";

static void
setup_hints(void)
{
    ck_assert_msg(td_start(&d, hints_conf_json, -1) == 0,
                  "daemon did not start");
}

/* A number from the table's stats JSON. */
static long long
stat_of(shmc_t *h, const char *name)
{
    char *json = NULL, pat[64], *p;
    long long v = -1;

    ck_assert_int_eq(shmc_stats_json(h, SHMC_STATS_TABLE, &json), 0);
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    p = strstr(json, pat);
    if (p != NULL)
        v = atoll(p + strlen(pat));
    free(json);
    return v;
}

/* Wait (bounded) until the daemon has drained at least n hints. */
static void
wait_hinted(shmc_t *h, long long n)
{
    double end = tu_deadline(10);

    while (stat_of(h, "reader_hits_hinted") < n && tu_poll(end))
        ;
    ck_assert_int_ge(stat_of(h, "reader_hits_hinted"), n);
}

/* What readers hit survives a wave of new keys that evicts the rest: the
 * daemon learns hits only through the handles' hint areas. */
START_TEST(test_hits_keep_entries)
{
    char k[32], v[200], buf[256];
    int i, hot = 0, cold = 0;
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(stat_of(h, "hint_areas"), 1);
    for (i = 0; i < 2000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(v, sizeof(v), k, 16, (uint64_t)i);
        ck_assert_int_eq(shmc_set(h, k, 16, v, sizeof(v), 0), 0);
    }
    /* Read the first 200 (the oldest, the first FIFO would drop). */
    for (i = 0; i < 200 * 3; i++) {
        tu_key(k, sizeof(k), (uint64_t)(i % 200));
        ck_assert_int_eq(shmc_get(h, k, 16, buf, sizeof(buf), &n), 0);
    }
    /* Some of the 200 share a hint word (format.h): most get through. */
    wait_hinted(h, 150);
    for (i = 2000; i < 8000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(v, sizeof(v), k, 16, (uint64_t)i);
        ck_assert_int_eq(shmc_set(h, k, 16, v, sizeof(v), 0), 0);
    }
    for (i = 0; i < 2000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        if (shmc_get(h, k, 16, buf, sizeof(buf), &n) == 0)
            *(i < 200 ? &hot : &cold) += 1;
    }
    ck_assert_int_gt(stat_of(h, "evictions"), 2000);
    ck_assert_msg(hot >= 180 && cold < 100, "hot kept %d/200, cold %d/1800",
                  hot, cold);
    shmc_close(h);
}
END_TEST

/* Send a HINTS request for table t carrying fd on a raw connection;
 * returns the reply's status. */
static int
send_hints(int fd)
{
    unsigned char req[64];
    struct treply r;
    size_t n;
    int c, st;

    c = tc_connect(d.sock, 1);
    ck_assert_int_ge(c, 0);
    n = proto_request(req, sizeof(req), PROTO_OP_HINTS, 7, "t", NULL, 0, NULL,
                      0, 0, 0);
    ck_assert_int_eq(fdpass_send(c, req, n, fd), (ssize_t)n);
    ck_assert_int_eq(tc_recv(c, &r, 5000), 0);
    st = r.status;
    tc_reply_free(&r);
    close(c);
    return st;
}

/* A hint area made by hand: size bytes, sealed or not. */
static int
make_area(size_t size, int seal)
{
    int fd = memfd_create("test-hints", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    if (seal)
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    return fd;
}

/* The daemon never sees a lock-free lookup, yet the table's stats count
 * every reader's hits and misses (shmc_get and shmc_mget, from two
 * handles), exactly, through their hint areas. */
START_TEST(test_reader_hits_and_misses_in_stats)
{
    const void *keys[8];
    size_t klens[8], bufsizes[8], vlens[8], n;
    char k[8][32], v[64], bufmem[8][64], buf[64];
    void *bufs[8];
    long long hits0, misses0;
    uint64_t hits, misses;
    int rcs[8], i;
    shmc_t *h1, *h2;

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h1), 0);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h2), 0);
    hits0 = stat_of(h1, "reader_hits");
    misses0 = stat_of(h1, "reader_misses");
    ck_assert_int_ge(hits0, 0);
    ck_assert_int_ge(misses0, 0);
    for (i = 0; i < 8; i++) {
        tu_key(k[i], sizeof(k[i]), 7000u + (uint64_t)i);
        if (i < 5) {
            tu_value(v, sizeof(v), k[i], 16, 1);
            ck_assert_int_eq(shmc_set(h1, k[i], 16, v, sizeof(v), 0), 0);
        }
        keys[i] = k[i];
        klens[i] = 16;
        bufs[i] = bufmem[i];
        bufsizes[i] = sizeof(bufmem[i]);
    }
    for (i = 0; i < 100; i++) /* 100 hits, 7 misses on h1 */
        ck_assert_int_eq(shmc_get(h1, k[i % 5], 16, buf, sizeof(buf), &n), 0);
    for (i = 0; i < 7; i++)
        ck_assert_int_eq(shmc_get(h1, k[5 + i % 3], 16, buf, sizeof(buf), &n),
                         SHMC_ENOTFOUND);
    for (i = 0; i < 4; i++) /* 20 hits, 12 misses on h2 */
        ck_assert_int_eq(
            shmc_mget(h2, 8, keys, klens, bufs, bufsizes, vlens, rcs), 0);
    shmc_counters(h1, &hits, &misses);
    ck_assert_uint_eq(hits, 100);
    ck_assert_uint_eq(misses, 7);
    ck_assert_int_eq(stat_of(h1, "reader_hits") - hits0, 120);
    ck_assert_int_eq(stat_of(h1, "reader_misses") - misses0, 19);
    /* A closed handle's counts stay counted. */
    shmc_close(h2);
    ck_assert_int_eq(stat_of(h1, "reader_hits") - hits0, 120);
    shmc_close(h1);
}
END_TEST

/* A hostile reader: its hint area is refused unless sealed and of the
 * right size; once accepted, garbage written into it at full speed
 * changes nothing anyone reads while the table churns. */
START_TEST(test_forged_hints_change_nothing_read)
{
    size_t bytes = (size_t)FMT_HINT_WORDS * 8u, n;
    char k[32], v[300], buf[512];
    uint64_t version, *w, rnd = 99;
    unsigned long bad = 0, misses = 0, reads = 0;
    int fd, i, status;
    pid_t pid;
    shmc_t *h;

    ck_assert_int_eq(send_hints(make_area(bytes, 0)), -EINVAL);
    ck_assert_int_eq(send_hints(make_area(bytes / 2, 1)), -EINVAL);
    fd = make_area(bytes, 1);
    ck_assert_int_eq(send_hints(fd), 0);
    w = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert(w != MAP_FAILED);

    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < 500; i++) { /* pinned: written once, always there */
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(v, 100, k, 16, 1);
        ck_assert_int_eq(shmc_set(h, k, 16, v, 100, 0), 0);
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The forger, for two seconds: first random words in the hints,
         * while its hit count grows steadily but faster than any handle
         * looks up (2^14 each round of 4096 words: some 10^8-10^9 a
         * second, under what a jump check alone would take as garbage
         * between two counts); then random words anywhere, and
         * plausible ones (real buckets and slots with random tags). */
        double mid = tu_now() + 1, end = mid + 1;
        uint64_t fake = 0, first = FMT_HINT_FIRST;
        while (tu_now() < end) {
            if (first != 1 && tu_now() >= mid)
                first = 1;
            for (i = 0; i < 4096; i++) {
                uint64_t r = tu_rand(&rnd);
                w[first + r % (FMT_HINT_WORDS - first)] =
                    i & 1 ? r : FMT_HINT((uint32_t)r, (r >> 32) % 1024, r % 7);
            }
            if (first != 1) {
                fake += (uint64_t)1 << 14;
                w[FMT_HINT_HITS] = fake;
            }
        }
        _exit(0);
    }
    {
        /* Meanwhile: churn other keys, read everything back. */
        double end = tu_now() + 2;
        uint64_t ver = 1;
        while (tu_now() < end) {
            for (i = 0; i < 50; i++) {
                tu_key(k, sizeof(k), 500 + tu_rand(&rnd) % 1000);
                tu_value(v, sizeof(v), k, 16, ++ver);
                ck_assert_int_eq(shmc_set(h, k, 16, v, sizeof(v), 0), 0);
            }
            for (i = 0; i < 1500; i += 3) {
                tu_key(k, sizeof(k), (uint64_t)i);
                reads++;
                if (shmc_get(h, k, 16, buf, sizeof(buf), &n) != 0) {
                    misses += i < 500;
                    continue;
                }
                bad += !tu_value_ok(buf, n, k, 16, &version);
            }
        }
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(misses, 0);
    ck_assert_uint_gt(reads, 1000);
    ck_assert_int_gt(stat_of(h, "hints_stale"), 1000);
    /* The forged area's counts leapt at random or grew too fast: none of
     * it was added. */
    ck_assert_int_le(stat_of(h, "reader_hits"), (long long)reads);
    ck_assert_int_le(stat_of(h, "reader_misses"), (long long)reads);
    shmc_close(h);
    munmap(w, bytes);
    close(fd);
}
END_TEST

static Suite *
client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc;

    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_set_get_del);
    tcase_add_test(tc, test_add_replace_touch_incr_flush);
    tcase_add_test(tc, test_scan_info_stats_sync);
    tcase_add_test(tc, test_open_file_reads_without_daemon);
    tcase_add_test(tc, test_writes_survive_a_daemon_restart);
    tcase_add_test(tc, test_replaced_table_is_followed);
    tcase_add_test(tc, test_threads_share_a_handle);
    tcase_add_test(tc, test_fork_child_reads_inherited_handle);
    tcase_add_test(tc, test_fork_child_writes_inherited_handle);
    tcase_add_test(tc, test_readers_across_restart_and_replacement);
    tcase_add_test(tc, test_mapping_is_read_only);
    tcase_add_test(tc, test_retired_copy_keeps_answering);
    tcase_add_test(tc, test_truncated_table_is_followed);
    tcase_add_test(tc, test_incr_after_idle_close);
    tcase_add_test(tc, test_mset_mget);
    tcase_add_test(tc, test_mset_splits_for_a_small_frame_limit);
    tcase_add_test(tc, test_mdel);
    tcase_add_test(tc, test_mdel_small_daemon_limits);
    tcase_add_test(tc, test_mdel_connection_lost_mid_run);
    tcase_add_test(tc, test_mdel_refused_key_on_an_open_connection);
    tcase_add_test(tc, test_mdel_mset_refused_by_acl);
    suite_add_tcase(s, tc);
    tc = tcase_create("hints");
    tcase_add_checked_fixture(tc, setup_hints, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hits_keep_entries);
    tcase_add_test(tc, test_forged_hints_change_nothing_read);
    tcase_add_test(tc, test_reader_hits_and_misses_in_stats);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(client_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
