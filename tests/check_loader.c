/* SPDX-License-Identifier: MIT */
/*
 * check_loader.c -- read-through loaders (daemon/loader.c) through
 * shmc_get_or_load(): values, negative entries, every way a loader can
 * fail, a hang cut off at its timeout while others are served, misses of
 * 200 threads in 8 processes merged into one run, and the queue bound.
 * TCase "workers": persistent loaders (daemon/worker.c) -- one process
 * answers many keys, binary keys and values up to the table's limits; a
 * worker killed between loads, hanging, crashing or writing malformed
 * replies fails at most the key in flight; workers are recycled by
 * request count, idle time, SIGHUP and invalidate_on, and none outlives
 * the daemon, stopped or killed.
 *
 * The one-shot loader is a shell script written into a directory of the
 * test's own; it appends every key it is asked for to a log, so a test
 * can count the runs.  The persistent one is tests/load_worker.c
 * ($LOAD_WORKER), which also logs the pid of every process started.
 * When the suite runs as root, the daemon runs both as "nobody".
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "shmcache.h"
#include "testutil.h"

static struct tdaemon d;
static char dir[64], calls[128];

static const char script[] = "#!/bin/sh\n"
                             "key=$(cat)\n"
                             "echo \"$key\" >>'%s'\n"
                             "case \"$key\" in\n"
                             "slow*) sleep 0.5; printf 'v:%%s' \"$key\" ;;\n"
                             "long*) sleep 3; printf 'v:%%s' \"$key\" ;;\n"
                             "missing*) exit 1 ;;\n"
                             "fail*) exit 3 ;;\n"
                             "crash*) kill -SEGV $$ ;;\n"
                             "hang*) sleep 60 ;;\n"
                             "big*) head -c 200000 /dev/zero ;;\n"
                             "src) cat \"$(dirname '%s')/source\" ;;\n"
                             "*) printf 'v:%%s' \"$key\" ;;\n"
                             "esac\n";

/* Write the loader and start a daemon whose table "t" uses it (extra is
 * spliced into the loader object); table "plain" has none. */
static void
start(const char *extra)
{
    char path[128], *conf;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/shmc-loader.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/runs", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    ck_assert_int_eq(chmod(path, 01777), 0);
    snprintf(calls, sizeof(calls), "%s/runs/calls", dir);
    snprintf(path, sizeof(path), "%s/loader.sh", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, script, calls, calls);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0755), 0);
    ck_assert_int_ne(
        asprintf(&conf,
                 "{\"log_level\": \"err\", \"tables\": {"
                 "\"t\": {\"size_bytes\": 4194304, \"max_value_bytes\": "
                 "100000, \"invalidate_on\": [\"%s/runs/source\"], "
                 "\"loader\": {\"type\": \"exec\", \"command\": "
                 "[\"%s\"]%s%s%s}},"
                 "\"plain\": {\"size_bytes\": 1048576, "
                 "\"max_value_bytes\": 1000}}}",
                 dir, path,
                 extra && strstr(extra, "timeout_ms")
                     ? ""
                     : ", \"timeout_ms\": 1500",
                 extra ? ", " : "", extra ? extra : ""),
        -1);
    ck_assert_msg(td_start(&d, conf, -1) == 0, "daemon did not start");
    free(conf);
}

static void
teardown(void)
{
    char cmd[128];

    td_free(&d);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* How many times the loader ran for key (all keys: NULL). */
static int
runs_of(const char *key)
{
    char line[256];
    int n = 0;
    FILE *f = fopen(calls, "r");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        n += key == NULL || strcmp(line, key) == 0;
    }
    fclose(f);
    return n;
}

/* A number from the table's "loader" stats. */
static long long
loader_stat(shmc_t *h, const char *name)
{
    char *json, pat[64], *p, *l;
    long long v = -1;

    ck_assert_int_eq(shmc_stats_json(h, SHMC_STATS_TABLE, &json), 0);
    l = strstr(json, "\"loader\":");
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    if (l != NULL && (p = strstr(l, pat)) != NULL)
        v = strtoll(p + strlen(pat), NULL, 10);
    free(json);
    return v;
}

static int
load(shmc_t *h, const char *key, char *buf, size_t size, size_t *n)
{
    return shmc_get_or_load(h, key, strlen(key), buf, size, n);
}

START_TEST(test_values_negatives_and_failures)
{
    char buf[64];
    size_t n = 0;
    shmc_t *h;

    start(NULL);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    /* A miss runs the loader; the value is stored and then hits. */
    ck_assert_int_eq(load(h, "k1", buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(buf, "v:k1", 4);
    ck_assert_int_eq(shmc_get(h, "k1", 2, buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(load(h, "k1", buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(runs_of("k1"), 1);
    /* Exit 1: a negative entry, also for readers. */
    ck_assert_int_eq(load(h, "missing1", buf, sizeof(buf), &n), SHMC_ENEGATIVE);
    ck_assert_int_eq(shmc_get(h, "missing1", 8, buf, sizeof(buf), &n),
                     SHMC_ENEGATIVE);
    ck_assert_int_eq(load(h, "missing1", buf, sizeof(buf), &n), SHMC_ENEGATIVE);
    ck_assert_int_eq(runs_of("missing1"), 1);
    /* A value larger than the caller's buffer: ERANGE with its size. */
    ck_assert_int_eq(load(h, "kk2", buf, 2, &n), SHMC_ERANGE);
    ck_assert_uint_eq(n, 5);
    /* Failures store nothing and are reported. */
    ck_assert_int_eq(load(h, "fail1", buf, sizeof(buf), &n), SHMC_ELOADER);
    ck_assert_int_eq(load(h, "crash1", buf, sizeof(buf), &n), SHMC_ELOADER);
    ck_assert_int_eq(load(h, "big1", buf, sizeof(buf), &n), SHMC_ETOOBIG);
    ck_assert_int_eq(shmc_get(h, "fail1", 5, buf, sizeof(buf), &n),
                     SHMC_ENOTFOUND);
    ck_assert_int_eq(load(h, "fail1", buf, sizeof(buf), &n), SHMC_ELOADER);
    ck_assert_int_eq(runs_of("fail1"), 2);
    /* The daemon serves on, and counts. */
    ck_assert_int_eq(shmc_set(h, "after", 5, "x", 1, 0), 0);
    ck_assert_int_eq(loader_stat(h, "calls"), 7);
    ck_assert_int_eq(loader_stat(h, "values"), 2);
    ck_assert_int_eq(loader_stat(h, "negatives"), 1);
    ck_assert_int_eq(loader_stat(h, "errors"), 4);
    ck_assert_int_eq(loader_stat(h, "running"), 0);
    shmc_close(h);
    /* A table without a loader says so; a file handle cannot load. */
    ck_assert_int_eq(shmc_open(d.sock, "plain", 0, &h), 0);
    ck_assert_int_eq(load(h, "k", buf, sizeof(buf), &n), SHMC_ENOLOADER);
    shmc_close(h);
}
END_TEST

struct setter {
    const char *sock;
    double took;
    int rc;
};

static void *
set_meanwhile(void *arg)
{
    struct setter *s = arg;
    shmc_t *h;
    double t0;

    usleep(100000); /* the hanging load is under way */
    s->rc = shmc_open(s->sock, "t", 0, &h);
    if (s->rc != 0)
        return NULL;
    t0 = tu_now();
    s->rc = shmc_set(h, "other", 5, "y", 1, 0);
    s->took = tu_now() - t0;
    shmc_close(h);
    return NULL;
}

START_TEST(test_hanging_loader_is_killed_at_its_timeout)
{
    struct setter s = {0};
    pthread_t th;
    char buf[64];
    size_t n;
    shmc_t *h;
    double t0, took;

    start(NULL);
    s.sock = d.sock;
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, set_meanwhile, &s), 0);
    t0 = tu_now();
    ck_assert_int_eq(load(h, "hang1", buf, sizeof(buf), &n), -ETIMEDOUT);
    took = tu_now() - t0;
    pthread_join(th, NULL);
    ck_assert_msg(took >= 1.4 && took < 5, "timed out after %.2f s", took);
    /* Meanwhile another client was served at once. */
    ck_assert_int_eq(s.rc, 0);
    ck_assert_msg(s.took < 0.5, "a set took %.2f s during the hang", s.took);
    ck_assert_int_eq(loader_stat(h, "timeouts"), 1);
    /* The next load of that key runs the loader again. */
    ck_assert_int_eq(load(h, "k2", buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

/* Merged misses: 8 processes x 25 threads miss one key at once. */
enum { PROCS = 8, THREADS = 25 };

struct racer {
    shmc_t *h;
    pthread_barrier_t *go;
    int ok;
};

static void *
race(void *arg)
{
    struct racer *r = arg;
    char buf[64];
    size_t n = 0;

    pthread_barrier_wait(r->go);
    r->ok =
        shmc_get_or_load(r->h, "slow-merged", 11, buf, sizeof(buf), &n) == 0 &&
        n == 13 && memcmp(buf, "v:slow-merged", 13) == 0;
    return NULL;
}

START_TEST(test_misses_of_many_clients_run_the_loader_once)
{
    int p[2], status, i, j, bad = 0;
    pid_t pids[PROCS];
    char go;
    shmc_t *h;

    start(NULL);
    ck_assert_int_eq(pipe(p), 0);
    for (i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            struct racer rs[THREADS];
            pthread_t th[THREADS];
            pthread_barrier_t b;
            int ok = 0;
            close(p[1]);
            if (shmc_open(d.sock, "t", 0, &h) != 0)
                _exit(2);
            pthread_barrier_init(&b, NULL, THREADS);
            if (read(p[0], &go, 1) != 0) /* EOF: every process is ready */
                _exit(3);
            for (j = 0; j < THREADS; j++) {
                rs[j] = (struct racer){h, &b, 0};
                pthread_create(&th[j], NULL, race, &rs[j]);
            }
            for (j = 0; j < THREADS; j++) {
                pthread_join(th[j], NULL);
                ok += rs[j].ok;
            }
            _exit(ok == THREADS ? 0 : 1);
        }
    }
    close(p[0]);
    usleep(200000); /* every child has opened its handle */
    close(p[1]);    /* go */
    for (i = 0; i < PROCS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        bad += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(runs_of("slow-merged"), 1);
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(loader_stat(h, "calls"), 1);
    ck_assert_int_ge(loader_stat(h, "merged"), 1);
    shmc_close(h);
}
END_TEST

struct loader_call {
    const char *sock, *key;
    int rc;
    const char *table; /* NULL: "t" */
};

static void *
load_in_thread(void *arg)
{
    struct loader_call *c = arg;
    char buf[64];
    size_t n;
    shmc_t *h;

    c->rc = shmc_open(c->sock, c->table ? c->table : "t", 0, &h);
    if (c->rc == 0) {
        c->rc = load(h, c->key, buf, sizeof(buf), &n);
        shmc_close(h);
    }
    return NULL;
}

/* One run at a time, one key waiting: a third key is refused, the queued
 * one runs once the first is done. */
START_TEST(test_queue_is_bounded)
{
    struct loader_call c[2] = {{NULL, "long-a", -1, NULL},
                               {NULL, "long-b", -1, NULL}};
    const char *wait_for[2] = {"running", "queued"};
    pthread_t th[2];
    char buf[64];
    size_t n;
    shmc_t *h;
    double end;
    int i;

    start("\"max_running\": 1, \"max_queued\": 1, \"timeout_ms\": 20000");
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    for (i = 0; i < 2; i++) {
        /* a runs (3 s), then b queues behind it. */
        c[i].sock = d.sock;
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_in_thread, &c[i]),
                         0);
        end = tu_deadline(10);
        while (loader_stat(h, wait_for[i]) < 1 && tu_poll(end))
            ;
        ck_assert_int_eq(loader_stat(h, wait_for[i]), 1);
    }
    ck_assert_int_eq(load(h, "slow-c", buf, sizeof(buf), &n), SHMC_EBUSY);
    for (i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(c[i].rc, 0);
    }
    ck_assert_int_eq(loader_stat(h, "refused"), 1);
    ck_assert_int_eq(loader_stat(h, "calls"), 2);
    ck_assert_int_eq(load(h, "slow-c", buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

/* Replace the loader's source file as an editor would (a new file renamed
 * over it). */
static void
write_source(const char *text)
{
    char path[160], tmp[170];
    FILE *f;

    snprintf(path, sizeof(path), "%s/runs/source", dir);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(tmp, 0644), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* A change of a file the table lists in invalidate_on is seen within 1 s
 * (the table is flushed), though the entry's TTL is an hour. */
START_TEST(test_changed_source_is_seen_within_a_second)
{
    char buf[64];
    size_t n = 0;
    shmc_t *h;
    double t0, end;
    int rc;

    start(NULL);
    write_source("one");
    ck_assert_int_eq(shmc_open(d.sock, "t", 0, &h), 0);
    ck_assert_int_eq(load(h, "src", buf, sizeof(buf), &n), 0);
    ck_assert_mem_eq(buf, "one", 3);
    ck_assert_int_eq(shmc_get(h, "src", 3, buf, sizeof(buf), &n), 0);
    write_source("two");
    t0 = tu_now();
    end = tu_deadline(5);
    while ((rc = load(h, "src", buf, sizeof(buf), &n)) == 0 &&
           !(n == 3 && memcmp(buf, "two", 3) == 0) && tu_poll(end))
        ;
    ck_assert_int_eq(rc, 0);
    ck_assert_mem_eq(buf, "two", 3);
    ck_assert_msg(tu_now() - t0 < 1.0, "seen after %.2f s", tu_now() - t0);
    shmc_close(h);
}
END_TEST

/* ---- persistent workers ---- */

/* Start a daemon whose table "w" has tests/load_worker.c as a persistent
 * exec loader (extra is spliced into the loader object): keys up to 4096
 * bytes, values up to 200000. */
static void
start_workers(const char *extra)
{
    const char *prog = getenv("LOAD_WORKER");
    char path[128], *conf;

    if (prog == NULL || access(prog, X_OK) != 0)
        ck_abort_msg("LOAD_WORKER is not set to tests/load_worker");
    snprintf(dir, sizeof(dir), "%s/shmc-worker.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/runs", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    ck_assert_int_eq(chmod(path, 01777), 0);
    snprintf(calls, sizeof(calls), "%s/runs/calls", dir);
    ck_assert_int_ne(
        asprintf(&conf,
                 "{\"log_level\": \"err\", \"tables\": {"
                 "\"w\": {\"size_bytes\": 4194304, \"max_key_bytes\": 4096, "
                 "\"max_value_bytes\": 200000, "
                 "\"invalidate_on\": [\"%s/runs/source\"], "
                 "\"loader\": {\"type\": \"exec\", \"persistent\": true, "
                 "\"command\": [\"%s\", \"%s\"]%s%s%s}}}}",
                 dir, prog, path,
                 extra && strstr(extra, "timeout_ms")
                     ? ""
                     : ", \"timeout_ms\": 1500",
                 extra ? ", " : "", extra ? extra : ""),
        -1);
    ck_assert_msg(td_start(&d, conf, -1) == 0, "daemon did not start");
    free(conf);
}

/* The pids of the workers started so far (DIR/runs/workers). */
static int
worker_pids(pid_t *pids, int max)
{
    char path[160], line[64];
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/runs/workers", dir);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (n < max && fgets(line, sizeof(line), f))
        pids[n++] = (pid_t)strtol(line, NULL, 10);
    fclose(f);
    return n;
}

/* Whether process pid is gone: no such process, a zombie, or one of ours
 * (we are a subreaper) that waitpid() just collected. */
static int
gone(pid_t pid)
{
    char path[64], buf[256], *p;
    FILE *f;
    int dead;

    if (waitpid(pid, NULL, WNOHANG) == pid)
        return 1;
    if (kill(pid, 0) != 0)
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 1;
    dead = fgets(buf, sizeof(buf), f) != NULL &&
           (p = strrchr(buf, ')')) != NULL && (p[2] == 'Z' || p[2] == 'X');
    fclose(f);
    return dead;
}

/* Wait until the table's loader stat name is at least want. */
static long long
wait_stat(shmc_t *h, const char *name, long long want)
{
    double end = tu_deadline(10);
    long long v;

    while ((v = loader_stat(h, name)) < want && tu_poll(end))
        ;
    return v;
}

/* One worker answers key after key; binary keys and values of the table's
 * largest sizes come through byte for byte. */
START_TEST(test_worker_is_reused)
{
    unsigned char key[4096], *buf = malloc(200001);
    char k[32];
    size_t n = 0;
    shmc_t *h;
    int i;

    ck_assert_ptr_nonnull(buf);
    start_workers(NULL);
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    for (i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        ck_assert_int_eq(load(h, k, (char *)buf, 200001, &n), 0);
        ck_assert_uint_eq(n, strlen(k) + 2);
        ck_assert_mem_eq(buf + 2, k, strlen(k));
    }
    /* Every byte value in a key of the largest size, NULs included. */
    for (i = 0; i < (int)sizeof(key); i++)
        key[i] = (unsigned char)(i * 7 + 1);
    key[10] = '\0';
    key[0] = 0xff;
    ck_assert_int_eq(shmc_get_or_load(h, key, sizeof(key), buf, 200001, &n), 0);
    ck_assert_uint_eq(n, sizeof(key) + 2);
    ck_assert_mem_eq(buf + 2, key, sizeof(key));
    /* A value of exactly max_value_bytes; one byte more is refused. */
    ck_assert_int_eq(load(h, "big:200000", (char *)buf, 200001, &n), 0);
    ck_assert_uint_eq(n, 200000);
    ck_assert_int_eq(buf[0], 'x');
    ck_assert_int_eq(buf[199999], 'x');
    ck_assert_int_eq(load(h, "big:0", (char *)buf, 200001, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(load(h, "missing1", (char *)buf, 200001, &n),
                     SHMC_ENEGATIVE);
    ck_assert_int_eq(load(h, "fail1", (char *)buf, 200001, &n), SHMC_ELOADER);
    ck_assert_int_eq(load(h, "big:200001", (char *)buf, 200001, &n),
                     SHMC_ETOOBIG);
    /* 206 keys, one process; the oversized value cost it its life. */
    ck_assert_int_eq(loader_stat(h, "calls"), 206);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 1);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 1);
    ck_assert_int_eq(loader_stat(h, "workers_running"), 0);
    ck_assert_int_eq(load(h, "next", (char *)buf, 200001, &n), 0);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 2);
    ck_assert_int_eq(loader_stat(h, "workers_running"), 1);
    ck_assert_int_eq(loader_stat(h, "workers_idle"), 1);
    shmc_close(h);
    free(buf);
}
END_TEST

/* A worker SIGKILLed while idle costs no call: the next key goes to a new
 * one, whether or not the daemon has noticed the death yet. */
START_TEST(test_worker_killed_between_loads)
{
    char buf[64];
    size_t n = 0;
    shmc_t *h;
    pid_t pid;
    int round;

    start_workers(NULL);
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    ck_assert_int_eq(load(h, "k0", buf, sizeof(buf), &n), 0);
    for (round = 1; round <= 3; round++) {
        char k[32];
        /* "pid" is answered and stored: flush it to ask again. */
        ck_assert_int_eq(shmc_flush(h), 0);
        ck_assert_int_eq(load(h, "pid", buf, sizeof(buf) - 1, &n), 0);
        buf[n] = '\0';
        pid = (pid_t)strtol(buf, NULL, 10);
        ck_assert_int_gt(pid, 1);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        if (round == 3) /* once, after the daemon has seen it go */
            ck_assert_int_eq(wait_stat(h, "workers_lost", 3), 3);
        snprintf(k, sizeof(k), "after-%d", round);
        ck_assert_int_eq(load(h, k, buf, sizeof(buf), &n), 0);
        ck_assert_uint_eq(n, strlen(k) + 2);
        ck_assert_mem_eq(buf, "v:after-", 8);
    }
    ck_assert_int_eq(loader_stat(h, "errors"), 0);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 4);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 3);
    shmc_close(h);
}
END_TEST

/* A worker that never answers is killed at timeout_ms, the call says so,
 * and the next call gets a new worker. */
START_TEST(test_hanging_worker_times_out)
{
    char buf[64];
    size_t n = 0;
    pid_t pids[8];
    double t0, took, end;
    shmc_t *h;

    start_workers("\"timeout_ms\": 1000");
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    t0 = tu_now();
    ck_assert_int_eq(load(h, "hang1", buf, sizeof(buf), &n), -ETIMEDOUT);
    took = tu_now() - t0;
    ck_assert_msg(took >= 0.9 && took < 5, "timed out after %.2f s", took);
    ck_assert_int_eq(loader_stat(h, "timeouts"), 1);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 1);
    ck_assert_int_eq(worker_pids(pids, 8), 1);
    end = tu_deadline(10);
    while (!gone(pids[0]) && tu_poll(end))
        ;
    ck_assert_msg(gone(pids[0]), "the hung worker %d lives on", (int)pids[0]);
    ck_assert_int_eq(load(h, "k1", buf, sizeof(buf), &n), 0);
    ck_assert_mem_eq(buf, "v:k1", 4);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 2);
    shmc_close(h);
}
END_TEST

/* Every way a worker can break the protocol fails that call only (and the
 * worker); the daemon keeps serving. */
START_TEST(test_malformed_replies_fail_only_their_call)
{
    static const struct {
        const char *key;
        int rc;
    } bad[] = {
        {"garbage1", SHMC_ELOADER}, {"huge1", SHMC_ETOOBIG},
        {"lenneg1", SHMC_ELOADER},  {"short1", SHMC_ELOADER},
        {"crash1", SHMC_ELOADER},
    };
    char buf[64];
    size_t n = 0, i;
    shmc_t *h;

    start_workers(NULL);
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char k[32];
        ck_assert_msg(load(h, bad[i].key, buf, sizeof(buf), &n) == bad[i].rc,
                      "%s", bad[i].key);
        ck_assert_int_eq(
            shmc_get(h, bad[i].key, strlen(bad[i].key), buf, sizeof(buf), &n),
            SHMC_ENOTFOUND);
        snprintf(k, sizeof(k), "good-%zu", i);
        ck_assert_int_eq(load(h, k, buf, sizeof(buf), &n), 0);
        ck_assert_mem_eq(buf, "v:good-", 7);
    }
    /* A good-looking reply with bytes after it: the stream is not what
     * the worker says, so the call fails, nothing is stored, the worker
     * goes. */
    ck_assert_int_eq(load(h, "extra1", buf, sizeof(buf), &n), SHMC_ELOADER);
    ck_assert_int_eq(shmc_get(h, "extra1", 6, buf, sizeof(buf), &n),
                     SHMC_ENOTFOUND);
    ck_assert_int_eq(load(h, "good-last", buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(shmc_set(h, "after", 5, "x", 1, 0), 0);
    /* crash1 went to a worker that had answered before, so it was tried
     * once more on a new one (a worker killed while idle costs no call),
     * which crashed too. */
    ck_assert_int_eq(loader_stat(h, "errors"), 6);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 7);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 8);
    ck_assert_int_eq(loader_stat(h, "running"), 0);
    shmc_close(h);
}
END_TEST

/* worker_requests: a worker answers that many keys, then a new one comes;
 * worker_idle_s: an idle worker goes. */
START_TEST(test_workers_are_recycled)
{
    char buf[64], k[16];
    size_t n = 0;
    shmc_t *h;
    int i;

    start_workers("\"worker_requests\": 5, \"worker_idle_s\": 1");
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    for (i = 0; i < 12; i++) {
        snprintf(k, sizeof(k), "r%d", i);
        ck_assert_int_eq(load(h, k, buf, sizeof(buf), &n), 0);
    }
    ck_assert_int_eq(loader_stat(h, "workers_started"), 3);
    ck_assert_int_ge(loader_stat(h, "workers_recycled"), 2);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 0);
    /* The third worker has answered 2; a second later it is gone. */
    ck_assert_int_eq(wait_stat(h, "workers_recycled", 3), 3);
    ck_assert_int_eq(loader_stat(h, "workers_running"), 0);
    ck_assert_int_eq(load(h, "r-after", buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 4);
    shmc_close(h);
}
END_TEST

/* SIGHUP and a change of a file in invalidate_on replace the workers. */
START_TEST(test_reload_and_invalidation_recycle_workers)
{
    char buf[64];
    size_t n = 0;
    shmc_t *h;

    start_workers(NULL);
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    ck_assert_int_eq(load(h, "k1", buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(loader_stat(h, "workers_running"), 1);
    ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
    ck_assert_int_eq(wait_stat(h, "workers_recycled", 1), 1);
    ck_assert_int_eq(loader_stat(h, "workers_running"), 0);
    ck_assert_int_eq(load(h, "k2", buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 2);
    write_source("changed");
    ck_assert_int_eq(wait_stat(h, "workers_recycled", 2), 2);
    ck_assert_int_eq(load(h, "k3", buf, sizeof(buf), &n), 0);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 3);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 0);
    shmc_close(h);
}
END_TEST

/* Three workers, started by three keys at once. */
static void
three_workers(pid_t *pids)
{
    struct loader_call c[3] = {{NULL, "slow-a", -1, "w"},
                               {NULL, "slow-b", -1, "w"},
                               {NULL, "slow-c", -1, "w"}};
    pthread_t th[3];
    shmc_t *h;
    int i;

    for (i = 0; i < 3; i++) {
        c[i].sock = d.sock;
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_in_thread, &c[i]),
                         0);
    }
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(c[i].rc, 0);
    }
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    ck_assert_int_eq(loader_stat(h, "workers_running"), 3);
    shmc_close(h);
    ck_assert_int_eq(worker_pids(pids, 8), 3);
}

/* A daemon that stops leaves no worker behind. */
START_TEST(test_workers_end_with_the_daemon)
{
    pid_t pids[8];
    int i, left = 0;

    start_workers("\"max_running\": 3");
    three_workers(pids);
    ck_assert_int_eq(td_stop(&d), 0);
    for (i = 0; i < 3; i++)
        left += !gone(pids[i]);
    for (i = 0; i < 3; i++) /* leave nothing behind, even failing */
        if (!gone(pids[i]))
            kill(pids[i], SIGKILL);
    ck_assert_msg(left == 0, "%d workers outlived the daemon", left);
}
END_TEST

/* A daemon killed outright leaves none either, even one busy with a key
 * that never reads its stdin again (the parent-death signal). */
START_TEST(test_workers_end_with_a_killed_daemon)
{
    struct loader_call hang = {NULL, "hang-forever", -1, "w"};
    pthread_t th;
    pid_t pids[8];
    shmc_t *h;
    double end;
    int i, left;

    /* Orphans come to us, so we can see them end. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    start_workers("\"max_running\": 3, \"timeout_ms\": 60000");
    three_workers(pids);
    hang.sock = d.sock;
    ck_assert_int_eq(pthread_create(&th, NULL, load_in_thread, &hang), 0);
    /* It goes to one of the three, which never answers. */
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    ck_assert_int_eq(wait_stat(h, "running", 1), 1);
    ck_assert_int_eq(loader_stat(h, "workers_idle"), 2);
    shmc_close(h);
    ck_assert_int_eq(td_kill(&d), 0);
    pthread_join(th, NULL);
    ck_assert_int_ne(hang.rc, 0);
    end = tu_deadline(10);
    do {
        for (i = left = 0; i < 3; i++)
            left += !gone(pids[i]);
    } while (left > 0 && tu_poll(end));
    for (i = 0; i < 3; i++) /* leave nothing behind, even failing */
        if (!gone(pids[i]))
            kill(pids[i], SIGKILL);
    ck_assert_msg(left == 0, "%d workers outlived the killed daemon", left);
}
END_TEST

/* A key whose worker dies before answering goes to another worker once,
 * not to every idle one in turn: a key that crashes every worker costs
 * two of them, then fails. */
START_TEST(test_dead_workers_key_is_handed_on_once)
{
    char buf[64];
    size_t n = 0;
    pid_t pids[8];
    shmc_t *h;

    start_workers("\"max_running\": 3");
    three_workers(pids); /* three idle workers, each has answered */
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    ck_assert_int_eq(loader_stat(h, "workers_lost"), 0);
    ck_assert_int_eq(load(h, "crash-all", buf, sizeof(buf), &n), SHMC_ELOADER);
    ck_assert_int_eq(wait_stat(h, "workers_lost", 2), 2);
    ck_assert_int_eq(loader_stat(h, "workers_started"), 3);
    ck_assert_int_eq(loader_stat(h, "workers_idle"), 1);
    ck_assert_int_eq(load(h, "after", buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

/* A worker that exits, leaving a child of its own behind: the child goes
 * with it (its process group is killed when it is reaped). */
START_TEST(test_worker_leaves_no_descendants)
{
    char buf[64], path[600], line[32];
    size_t n = 0;
    pid_t kid = 0;
    double end;
    shmc_t *h;
    FILE *f;

    /* Orphans come to us, so we can see them end. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    start_workers(NULL);
    ck_assert_int_eq(shmc_open(d.sock, "w", 0, &h), 0);
    ck_assert_int_eq(load(h, "orphan1", buf, sizeof(buf), &n), SHMC_ELOADER);
    snprintf(path, sizeof(path), "%s/runs/orphans", dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    if (fgets(line, sizeof(line), f) != NULL)
        kid = (pid_t)strtol(line, NULL, 10);
    fclose(f);
    ck_assert_int_gt(kid, 0);
    end = tu_deadline(5);
    while (!gone(kid) && tu_poll(end))
        ;
    if (!gone(kid)) { /* leave nothing behind, even failing */
        kill(kid, SIGKILL);
        ck_abort_msg("the worker's child %d outlived it", (int)kid);
    }
    ck_assert_int_eq(load(h, "after", buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

static Suite *
loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_values_negatives_and_failures);
    tcase_add_test(tc, test_hanging_loader_is_killed_at_its_timeout);
    tcase_add_test(tc, test_misses_of_many_clients_run_the_loader_once);
    tcase_add_test(tc, test_queue_is_bounded);
    tcase_add_test(tc, test_changed_source_is_seen_within_a_second);
    suite_add_tcase(s, tc);

    tc = tcase_create("workers");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_worker_is_reused);
    tcase_add_test(tc, test_worker_killed_between_loads);
    tcase_add_test(tc, test_hanging_worker_times_out);
    tcase_add_test(tc, test_malformed_replies_fail_only_their_call);
    tcase_add_test(tc, test_workers_are_recycled);
    tcase_add_test(tc, test_reload_and_invalidation_recycle_workers);
    tcase_add_test(tc, test_workers_end_with_the_daemon);
    tcase_add_test(tc, test_worker_leaves_no_descendants);
    tcase_add_test(tc, test_dead_workers_key_is_handed_on_once);
    tcase_add_test(tc, test_workers_end_with_a_killed_daemon);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
