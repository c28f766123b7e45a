/* SPDX-License-Identifier: MIT */
/*
 * check_daemon.c -- shmcached end to end: each test starts the built
 * daemon in the foreground in its own temp dir (client.c) and drives it
 * through the control socket.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "error.h"
#include "mapping.h"
#include "proto.h"
#include "table.h"
#include "testutil.h"

static struct tdaemon d;

/* A config with one small memory table "t" and one disk table "p";
 * extra is spliced into the top level, tx into table t. */
static char *
conf(const char *extra, const char *tx)
{
    char *s;

    if (asprintf(
            &s,
            "{%s%s\"log_level\": \"warning\", \"tables\": {"
            "\"t\": {\"size_bytes\": 1048576, \"max_value_bytes\": 100000, "
            "\"default_ttl_s\": 0%s%s},"
            "\"p\": {\"mode\": \"disk\", \"size_bytes\": 1048576, "
            "\"max_value_bytes\": 100000}}}",
            extra ? extra : "", extra ? ", " : "", tx ? ", " : "",
            tx ? tx : "") < 0)
        abort();
    return s;
}

static void
start(const char *extra, const char *tx)
{
    char *c = conf(extra, tx);

    ck_assert_msg(td_start(&d, c, -1) == 0, "daemon did not start");
    free(c);
}

static void
teardown(void)
{
    td_free(&d);
}

/* Call and return the status; the reply is freed. */
static int
call(int fd, uint8_t op, const char *key, const char *val, uint32_t ttl)
{
    struct treply r;
    int st;

    ck_assert_int_eq(tc_call(fd, op, "t", key, key ? strlen(key) : 0, val,
                             val ? strlen(val) : 0, ttl, 0, &r),
                     0);
    st = r.status;
    tc_reply_free(&r);
    return st;
}

/* GET over the socket into buf; returns the status. */
static int
get(int fd, const char *key, char *buf, size_t size, uint32_t *flags)
{
    struct treply r;
    int st;

    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_GET, "t", key, strlen(key), NULL, 0, 0, 0, &r), 0);
    st = r.status;
    if (st == 0) {
        uint32_t vlen = proto_get32(r.body + 12);
        ck_assert_uint_eq(r.blen, 16 + vlen);
        ck_assert_uint_lt(vlen, size);
        memcpy(buf, r.body + 16, vlen);
        buf[vlen] = '\0';
        if (flags)
            *flags = proto_get32(r.body);
    }
    tc_reply_free(&r);
    return st;
}

/* Whether the daemon closed the connection (EOF within 5 s); replies
 * still in flight are skipped, a timeout is not a close. */
static int
closed_by_peer(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[4096];
    ssize_t n;

    for (;;) {
        if (poll(&p, 1, 5000) <= 0)
            return 0;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
    }
}

/* ---- core ---- */

START_TEST(test_every_operation)
{
    char buf[256];
    struct treply r;
    uint32_t flags;
    int fd;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v1", 0), 0);
    ck_assert_int_eq(get(fd, "k", buf, sizeof(buf), NULL), 0);
    ck_assert_str_eq(buf, "v1");
    ck_assert_int_eq(call(fd, PROTO_OP_ADD, "k", "v2", 0), SHMC_EEXISTS);
    ck_assert_int_eq(call(fd, PROTO_OP_REPLACE, "k", "v3", 0), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_REPLACE, "nope", "v", 0),
                     SHMC_ENOTFOUND);
    ck_assert_int_eq(call(fd, PROTO_OP_ADD, "new", "v", 0), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_TOUCH, "k", NULL, 100), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_DELETE, "k", NULL, 0), 0);
    ck_assert_int_eq(get(fd, "k", buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    ck_assert_int_eq(call(fd, PROTO_OP_DELETE, "k", NULL, 0), SHMC_ENOTFOUND);

    /* incr/decr on decimal values, memcached's rules. */
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "n", "41", 0), 0);
    ck_assert_int_eq(tc_call(fd, PROTO_OP_INCR, "t", "n", 1, NULL, 0, 0, 1, &r),
                     0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(proto_get64(r.body), 42);
    tc_reply_free(&r);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_DECR, "t", "n", 1, NULL, 0, 0, 100, &r), 0);
    ck_assert_uint_eq(proto_get64(r.body), 0);
    tc_reply_free(&r);
    ck_assert_int_eq(get(fd, "n", buf, sizeof(buf), NULL), 0);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "s", "abc", 0), 0);
    ck_assert_int_eq(tc_call(fd, PROTO_OP_INCR, "t", "s", 1, NULL, 0, 0, 1, &r),
                     0);
    ck_assert_int_eq(r.status, SHMC_ENOTNUM);
    tc_reply_free(&r);

    /* Negative entries are reported through the flags. */
    ck_assert_int_eq(call(fd, PROTO_OP_SETNEG, "gone", NULL, 0), 0);
    ck_assert_int_eq(get(fd, "gone", buf, sizeof(buf), &flags), 0);
    ck_assert_uint_eq(flags & 2u, 2u);

    /* Batch: three items in one frame. */
    {
        unsigned char items[256];
        size_t n = 0;
        n += proto_batch_item(items + n, sizeof(items) - n, "b1", 2, "x", 1, 0);
        n += proto_batch_item(items + n, sizeof(items) - n, "b2", 2, "y", 1, 0);
        n += proto_batch_item(items + n, sizeof(items) - n, "b3", 2, "z", 1, 0);
        ck_assert_int_eq(
            tc_call(fd, PROTO_OP_BATCH, "t", NULL, 0, items, n, 0, 3, &r), 0);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(proto_get32(r.body), 3);
        tc_reply_free(&r);
        ck_assert_int_eq(get(fd, "b3", buf, sizeof(buf), NULL), 0);
        ck_assert_str_eq(buf, "z");
    }

    /* Stats and list are JSON. */
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_STATS, "t", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr((char *)r.body, "\"name\":\"t\""));
    ck_assert_ptr_nonnull(strstr((char *)r.body, "\"entries\":"));
    tc_reply_free(&r);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_STATS, "", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_ptr_nonnull(strstr((char *)r.body, "\"requests\":"));
    tc_reply_free(&r);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_LIST, NULL, NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_ptr_nonnull(strstr((char *)r.body, "\"mode\":\"disk\""));
    tc_reply_free(&r);

    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_SYNC, "p", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, 0);
    tc_reply_free(&r);
    ck_assert_int_eq(call(fd, PROTO_OP_FLUSH, NULL, NULL, 0), 0);
    ck_assert_int_eq(get(fd, "b1", buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_GET, "nosuch", "k", 1, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, SHMC_ENOTABLE);
    tc_reply_free(&r);
    close(fd);
    ck_assert_int_eq(td_stop(&d), 0);
}
END_TEST

START_TEST(test_open_hands_a_read_only_descriptor)
{
    struct table tb;
    struct table_hit hit;
    struct treply r;
    char buf[64], why[128];
    int fd;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "mapped", 0), 0);
    /* Pipelined: a PING before and after the OPEN; the descriptor must
     * arrive with the OPEN reply and the answers in order. */
    {
        unsigned char req[256];
        size_t n = proto_request(req, sizeof(req), PROTO_OP_PING, 1, NULL, NULL,
                                 0, NULL, 0, 0, 0);
        n += proto_request(req + n, sizeof(req) - n, PROTO_OP_OPEN, 2, "t",
                           NULL, 0, NULL, 0, 0, 0);
        n += proto_request(req + n, sizeof(req) - n, PROTO_OP_PING, 3, NULL,
                           NULL, 0, NULL, 0, 0, 0);
        ck_assert_int_eq(tc_send(fd, req, n), 0);
    }
    ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
    ck_assert_uint_eq(r.id, 1);
    ck_assert_int_eq(r.fd, -1);
    tc_reply_free(&r);
    ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
    ck_assert_uint_eq(r.id, 2);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ge(r.fd, 0);
    ck_assert_int_eq(fcntl(r.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    ck_assert_int_eq(table_open_fd(&tb, r.fd, why, sizeof(why)), 0);
    ck_assert_int_eq(table_lookup(&tb, "k", 1, buf, sizeof(buf), 0, &hit), 0);
    ck_assert_mem_eq(buf, "mapped", 6);
    table_close(&tb);
    tc_reply_free(&r);
    ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
    ck_assert_uint_eq(r.id, 3);
    tc_reply_free(&r);
    close(fd);
}
END_TEST

START_TEST(test_ttl_expiry)
{
    char buf[64];
    int fd;

    start("\"expire_interval_ms\": 100", NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "short", "v", 1), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "long", "v", 3600), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "never", "v", PROTO_TTL_NEVER), 0);
    ck_assert_int_eq(get(fd, "short", buf, sizeof(buf), NULL), 0);
    /* Waiting for time to pass, not for the daemon. */
    usleep(1300 * 1000);
    ck_assert_int_eq(get(fd, "short", buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    ck_assert_int_eq(get(fd, "long", buf, sizeof(buf), NULL), 0);
    ck_assert_int_eq(get(fd, "never", buf, sizeof(buf), NULL), 0);
    close(fd);
}
END_TEST

START_TEST(test_eviction_when_full)
{
    char key[32], val[1000], buf[1100];
    struct treply r;
    int fd, i;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (i = 0; i < 3000; i++) { /* ~3 MB into a 1 MiB table */
        snprintf(key, sizeof(key), "key%d", i);
        ck_assert_int_eq(call(fd, PROTO_OP_SET, key, val, 0), 0);
    }
    ck_assert_int_eq(get(fd, "key2999", buf, sizeof(buf), NULL), 0);
    ck_assert_int_eq(get(fd, "key0", buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_STATS, "t", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_ptr_null(strstr((char *)r.body, "\"evictions\":0,"));
    tc_reply_free(&r);
    close(fd);
}
END_TEST

START_TEST(test_restart_reuses_tables)
{
    char buf[64], key[32];
    struct stat st1, st2;
    char *path;
    int fd, i;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(call(fd, PROTO_OP_SET, key, key, 0), 0);
    }
    close(fd);
    path = tu_path(d.run, "t.shm");
    ck_assert_int_eq(stat(path, &st1), 0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(stat(path, &st2), 0);
    ck_assert_uint_eq(st1.st_ino, st2.st_ino); /* same file, reused */
    fd = tc_connect(d.sock, 1);
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(get(fd, key, buf, sizeof(buf), NULL), 0);
        ck_assert_str_eq(buf, key);
    }
    close(fd);
    free(path);
}
END_TEST

START_TEST(test_changed_geometry_replaces_and_retires)
{
    struct table old, now;
    char buf[64], why[128], *path, *c;
    struct table_hit hit;
    struct stat st1, st2;
    int fd, tfd, nfd;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);
    close(fd);
    path = tu_path(d.run, "t.shm");
    tfd = open(path, O_RDONLY);
    ck_assert_int_eq(table_open_fd(&old, tfd, why, sizeof(why)), 0);
    ck_assert_int_eq(fstat(tfd, &st1), 0);
    /* Restart with another geometry: a new file replaces the old one, and a
     * reader still mapping the old one is told to reopen. */
    ck_assert_int_eq(td_stop(&d), 0);
    c = conf(NULL, "\"buckets\": 512"); /* auto gives 1024 */
    ck_assert_int_eq(td_write_conf(&d, c), 0);
    free(c);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(table_lookup(&old, "k", 1, buf, sizeof(buf), 0, &hit),
                     SHMC_ERETIRED);
    nfd = open(path, O_RDONLY);
    ck_assert_int_eq(fstat(nfd, &st2), 0);
    ck_assert_uint_ne(st1.st_ino, st2.st_ino);
    ck_assert_int_eq(st2.st_size, 1048576);
    ck_assert_int_eq(table_open_fd(&now, nfd, why, sizeof(why)), 0);
    ck_assert_uint_eq(now.generation, old.generation + 1);
    table_close(&now);
    table_close(&old);
    close(nfd);
    close(tfd);
    free(path);
}
END_TEST

START_TEST(test_unreadable_table_is_set_aside)
{
    char *path, *c, buf[64];
    int fd, found = 0;
    FILE *ls;

    start(NULL, NULL);
    ck_assert_int_eq(td_stop(&d), 0);
    /* Garbage where the table was: the daemon must start anyway, keep the
     * old file under another name and build a new table. */
    path = tu_path(d.run, "t.shm");
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "not a table", 11), 11);
    close(fd);
    ck_assert_int_eq(td_restart(&d), 0);
    if (asprintf(&c, "ls %s | grep -c '^t.shm.bad-'", d.run) < 0)
        abort();
    ls = popen(c, "r");
    ck_assert(fgets(buf, sizeof(buf), ls) != NULL);
    found = atoi(buf);
    pclose(ls);
    ck_assert_int_eq(found, 1);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);
    close(fd);
    free(c);
    free(path);
}
END_TEST

/* A table whose header goes bad while a reader maps it: the daemon marks
 * the old file RETIRED before it sets it aside, so the reader stops
 * answering from it (format 1 left such readers on the old file for ever). */
START_TEST(test_set_aside_file_is_retired_for_mapped_readers)
{
    char *path, *c, buf[64], name[256];
    struct table tb;
    struct table_hit hit;
    char why[128];
    int fd, rfd, sfd;
    FILE *ls;

    start(NULL, NULL);
    sfd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(sfd, PROTO_OP_SET, "k", "old", 0), 0);
    close(sfd);
    path = tu_path(d.run, "t.shm");
    rfd = open(path, O_RDONLY);
    ck_assert_int_eq(table_open_fd(&tb, rfd, why, sizeof(why)), 0);
    ck_assert_int_eq(table_lookup(&tb, "k", 1, buf, sizeof(buf), 0, &hit), 0);
    ck_assert_int_eq(td_stop(&d), 0);
    /* Damage the immutable geometry: the header checksum fails. */
    fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, "\xff", 1, 40), 1);
    close(fd);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(table_lookup(&tb, "k", 1, buf, sizeof(buf), 0, &hit),
                     SHMC_ERETIRED);
    table_close(&tb);
    close(rfd);
    /* The file kept for inspection says RETIRED too. */
    if (asprintf(&c, "ls %s | grep '^t.shm.bad-'", d.run) < 0)
        abort();
    ls = popen(c, "r");
    ck_assert(fgets(name, sizeof(name), ls) != NULL);
    pclose(ls);
    name[strcspn(name, "\n")] = '\0';
    free(path);
    path = tu_path(d.run, name);
    {
        uint32_t state = 0;
        fd = open(path, O_RDONLY);
        ck_assert_int_eq(pread(fd, &state, 4, 128), 4);
        close(fd);
        ck_assert_uint_eq(state, FMT_STATE_RETIRED);
    }
    free(c);
    free(path);
}
END_TEST

/* Call op on table tbl; the status (the reply is freed). */
static int
call_in(int fd, const char *tbl, uint8_t op, const char *key, const char *val)
{
    struct treply r;
    int st;

    ck_assert_int_eq(tc_call(fd, op, tbl, key, key ? strlen(key) : 0, val,
                             val ? strlen(val) : 0, 0, 0, &r),
                     0);
    st = r.status;
    tc_reply_free(&r);
    return st;
}

/* The inode of the file at path (0 if there is none). */
static ino_t
ino_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Files in dir whose name starts with prefix. */
static int
count_files(const char *dir, const char *prefix)
{
    struct dirent *e;
    DIR *dp = opendir(dir);
    int n = 0;

    ck_assert_ptr_nonnull(dp);
    while ((e = readdir(dp)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dp);
    return n;
}

/*
 * Issue "Hostile local users", finding 7: the owner (or root) truncating a
 * live table file once killed the daemon with SIGBUS within one sweep.
 * Now the sweep notices the file's size, and the daemon sets the file
 * aside and replaces the table: it survives, says so in one log line
 * naming the table, keeps the entries the cut spared, marks the old file
 * RETIRED (a reader mapping it reopens, and is not left on a file that
 * faults: its size is restored first), and serves on.  Cuts: into the
 * header page, to nothing, and into the arena (every entry before the cut
 * is kept) of a memory and a disk table.
 */
START_TEST(test_truncated_table_is_replaced)
{
    static const struct {
        const char *table;
        off_t size;
        int keeps; /* every key survives (the cut spared them all) */
    } cuts[] = {{"t", 4096, 0},
                {"t", 0, 0},
                {"p", 300001, 1},
                {"t", 4099, 0},
                {"t", 700003, 1}};
    char key[32], val[32], buf[64], why[128], bad[64], *path, *log, *cf;
    uint64_t generation;
    uint32_t state;
    struct table view, fresh;
    struct table_hit hit;
    struct treply r;
    struct stat st;
    unsigned c, i, kept;
    ino_t ino;
    double end;
    int fd, rfd, nfd, status;

    cf = conf("\"expire_interval_ms\": 50", NULL);
    ck_assert_int_eq(td_start_logged(&d, cf), 0);
    free(cf);
    fd = tc_connect(d.sock, 1);
    for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        path = tu_path(cuts[c].table[0] == 'p' ? d.state : d.run,
                       cuts[c].table[0] == 'p' ? "p.shm" : "t.shm");
        for (i = 0; i < 200; i++) {
            snprintf(key, sizeof(key), "k%u", i);
            snprintf(val, sizeof(val), "v%u-%u", i, c);
            ck_assert_int_eq(call_in(fd, cuts[c].table, PROTO_OP_SET, key, val),
                             0);
        }
        /* A reader maps the table, through the daemon. */
        ck_assert_int_eq(tc_call(fd, PROTO_OP_OPEN, cuts[c].table, NULL, 0,
                                 NULL, 0, 0, 0, &r),
                         0);
        ck_assert_int_eq(r.status, 0);
        rfd = r.fd;
        r.fd = -1;
        tc_reply_free(&r);
        ck_assert_int_eq(table_open_fd(&view, rfd, why, sizeof(why)), 0);
        ck_assert_int_eq(
            table_lookup(&view, "k0", 2, buf, sizeof(buf), 0, &hit), 0);
        ino = ino_of(path);
        generation = view.generation;

        ck_assert_int_eq(truncate(path, cuts[c].size), 0);
        /* Marking the old file RETIRED is the replacement's last step. */
        end = tu_deadline(10);
        while (
            (pread(rfd, &state, 4, 128) != 4 || state != FMT_STATE_RETIRED) &&
            tu_poll(end))
            ;
        log = td_log(&d);
        ck_assert_msg(waitpid(d.pid, &status, WNOHANG) == 0,
                      "cut %u: the daemon died (status %#x); log:\n%s", c,
                      status, log);
        ck_assert_msg(ino_of(path) != ino, "cut %u: not replaced; log:\n%s", c,
                      log);
        ck_assert_msg(strstr(log, "truncated") != NULL, "no log line; log:\n%s",
                      log);
        free(log);

        /* The old file: its size restored, marked RETIRED; the reader is
         * told to reopen without touching a lost page. */
        ck_assert_int_eq(fstat(rfd, &st), 0);
        ck_assert_int_eq(st.st_size, (off_t)view.size);
        ck_assert_int_eq(pread(rfd, &state, 4, 128), 4);
        ck_assert_uint_eq(state, FMT_STATE_RETIRED);
        ck_assert_int_eq(
            table_lookup(&view, "k0", 2, buf, sizeof(buf), 0, &hit),
            SHMC_ERETIRED);
        table_close(&view);
        close(rfd);
        snprintf(bad, sizeof(bad), "%s.shm.bad-", cuts[c].table);
        ck_assert_int_ge(
            count_files(cuts[c].table[0] == 'p' ? d.state : d.run, bad), 1);

        /* The new file is a sound table of the next generation ... */
        nfd = open(path, O_RDONLY);
        ck_assert_int_ge(nfd, 0);
        ck_assert_int_eq(table_open_fd(&fresh, nfd, why, sizeof(why)), 0);
        ck_assert_uint_eq(fresh.generation, generation + 1);
        table_close(&fresh);
        close(nfd);
        /* ... with what the cut spared, served through the socket ... */
        for (kept = 0, i = 0; i < 200; i++) {
            snprintf(key, sizeof(key), "k%u", i);
            snprintf(val, sizeof(val), "v%u-%u", i, c);
            {
                struct treply g;
                ck_assert_int_eq(tc_call(fd, PROTO_OP_GET, cuts[c].table, key,
                                         strlen(key), NULL, 0, 0, 0, &g),
                                 0);
                ck_assert(g.status == 0 || g.status == SHMC_ENOTFOUND);
                if (g.status == 0) {
                    ck_assert_uint_eq(g.blen, 16 + strlen(val));
                    ck_assert_mem_eq(g.body + 16, val, strlen(val));
                    kept++;
                }
                tc_reply_free(&g);
            }
        }
        ck_assert_uint_eq(kept, cuts[c].keeps ? 200 : 0);
        /* ... and written as before. */
        ck_assert_int_eq(call_in(fd, cuts[c].table, PROTO_OP_SET, "after", "x"),
                         0);
        ck_assert_int_eq(
            call_in(fd, cuts[c].table, PROTO_OP_DELETE, "after", NULL), 0);
        free(path);
    }
    close(fd);
}
END_TEST

/*
 * A request that touches a truncated table before the sweep notices: the
 * daemon catches the fault (SIGBUS) instead of dying of it, replaces the
 * table, and answers that request SHMC_ECORRUPT; the next ones are served.
 * An OPEN after a cut is handed the replacement, never the cut file.
 */
START_TEST(test_truncation_under_a_request)
{
    char *path, *log, *cf, buf[64];
    struct treply r;
    struct stat st;
    ino_t ino;
    int fd, status;

    /* No sweep after the first, at start: requests meet the cut first. */
    cf = conf("\"expire_interval_ms\": 3600000", NULL);
    ck_assert_int_eq(td_start_logged(&d, cf), 0);
    free(cf);
    path = tu_path(d.run, "t.shm");
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);

    /* A GET into a table cut to its header page. */
    ino = ino_of(path);
    ck_assert_int_eq(truncate(path, 4096), 0);
    ck_assert_int_eq(get(fd, "k", buf, sizeof(buf), NULL), SHMC_ECORRUPT);
    ck_assert_msg(waitpid(d.pid, &status, WNOHANG) == 0, "the daemon died");
    ck_assert_uint_ne(ino_of(path), ino);
    ck_assert_int_eq(get(fd, "k", buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v2", 0), 0);
    ck_assert_int_eq(get(fd, "k", buf, sizeof(buf), NULL), 0);
    ck_assert_str_eq(buf, "v2");

    /* A SET into a table cut to nothing. */
    ino = ino_of(path);
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "j", "w", 0), SHMC_ECORRUPT);
    ck_assert_uint_ne(ino_of(path), ino);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "j", "w", 0), 0);
    ck_assert_int_eq(get(fd, "j", buf, sizeof(buf), NULL), 0);

    /* An OPEN gets the replacement, full size, not the cut file. */
    ino = ino_of(path);
    ck_assert_int_eq(truncate(path, 8192), 0);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ge(r.fd, 0);
    ck_assert_int_eq(fstat(r.fd, &st), 0);
    ck_assert_int_eq(st.st_size, 1048576);
    ck_assert_uint_ne(st.st_ino, ino);
    tc_reply_free(&r);

    /* STATS never touched the cut mapping, and the daemon is fine. */
    ck_assert_int_ge(tc_stat(d.sock, "requests"), 1);
    ck_assert_msg(waitpid(d.pid, &status, WNOHANG) == 0, "the daemon died");
    log = td_log(&d);
    ck_assert_msg(strstr(log, "table=t") != NULL &&
                      strstr(log, "truncated") != NULL &&
                      strstr(log, "an access faulted") != NULL,
                  "log:\n%s", log);
    free(log);
    close(fd);
    free(path);
}
END_TEST

/* "max_value_bytes": 0 once rebuilt the table at every start (read as
 * "the default" by the layout, as 0 by the comparison).  It is refused,
 * and a limit left to its default keeps the table across restarts. */
START_TEST(test_limits_left_to_default_keep_the_table)
{
    struct treply r;
    int fd;

    ck_assert_int_ne(
        td_start(&d, "{\"tables\": {\"t\": {\"max_value_bytes\": 0}}}", -1), 0);
    td_free(&d);
    ck_assert_int_eq(td_start(&d,
                              "{\"log_level\": \"warning\", \"tables\": "
                              "{\"t\": {\"size_bytes\": 8388608}}}",
                              -1),
                     0);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);
    close(fd);
    ck_assert_int_eq(td_stop(&d), 0);
    ck_assert_int_eq(td_restart(&d), 0);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(tc_call(fd, PROTO_OP_GET, "t", "k", 1, NULL, 0, 0, 0, &r),
                     0);
    ck_assert_int_eq(r.status, 0);
    tc_reply_free(&r);
    close(fd);
    {
        /* Reused, not rebuilt: still the first generation. */
        char *p = tu_path(d.run, "t.shm");
        uint64_t gen = 0;
        fd = open(p, O_RDONLY);
        ck_assert_int_eq(
            pread(fd, &gen, 8, offsetof(struct fmt_header, h_generation)), 8);
        close(fd);
        free(p);
        ck_assert_uint_eq(gen, 1);
    }
}
END_TEST

START_TEST(test_sighup_reload)
{
    char *c;
    int fd;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);
    /* Writers limited to a uid nobody has: even root is still allowed
     * (root and the daemon's uid always are); a reload with an invalid
     * config is refused and the running one kept. */
    ck_assert_int_eq(td_write_conf(&d, "{\"tables\": {\"t\": {\"bogus\": 1}}}"),
                     0);
    kill(d.pid, SIGHUP);
    ck_assert_int_eq(td_wait_notify(&d, "READY=1", 5000), 0);
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    c = conf("\"max_connections\": 1", "\"negative_ttl_s\": 7");
    ck_assert_int_eq(td_write_conf(&d, c), 0);
    free(c);
    kill(d.pid, SIGHUP);
    ck_assert_int_eq(td_wait_notify(&d, "READY=1", 5000), 0);
    /* max_connections=1 now applies: a second connection is refused. */
    {
        int fd2 = tc_connect(d.sock, 0);
        ck_assert_int_ge(fd2, 0);
        ck_assert(closed_by_peer(fd2));
        close(fd2);
    }
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    close(fd);
}
END_TEST

START_TEST(test_notify_and_watchdog)
{
    int fd;

    setenv("WATCHDOG_USEC", "200000", 1);
    start(NULL, NULL);
    unsetenv("WATCHDOG_USEC");
    /* READY=1 came only after the socket listened: connecting now works. */
    fd = tc_connect(d.sock, 1);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(td_wait_notify(&d, "WATCHDOG=1", 2000), 0);
    kill(d.pid, SIGTERM);
    ck_assert_int_eq(td_wait_notify(&d, "STOPPING=1", 5000), 0);
}
END_TEST

START_TEST(test_socket_activation)
{
    struct sockaddr_un sa;
    char *dir = tu_tmpdir(), *sock = tu_path(dir, "act.sock"), *c;
    int lfd, fd;

    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 16), 0);
    c = conf(NULL, NULL);
    ck_assert_int_eq(td_start(&d, c, lfd), 0);
    free(c);
    close(lfd);
    fd = tc_connect(sock, 1); /* the inherited socket, not <run>/control */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    close(fd);
    ck_assert_int_eq(access(d.sock, F_OK), -1);
    unlink(sock);
    rmdir(dir);
    free(sock);
    free(dir);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_half_close_still_gets_every_reply)
{
    unsigned char *req, val[4096];
    struct treply r;
    size_t n = 0, one;
    int fd, i, got = 0;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    memset(val, 'v', sizeof(val));
    one = proto_request(NULL, 0, PROTO_OP_GET, 0, "t", "k", 1, NULL, 0, 0, 0);
    req = malloc(8192 + one * 200);
    n = proto_request(req, 8192, PROTO_OP_SET, 0, "t", "k", 1, val, sizeof(val),
                      0, 0);
    for (i = 1; i <= 200; i++)
        n += proto_request(req + n, one, PROTO_OP_GET, (uint32_t)i, "t", "k", 1,
                           NULL, 0, 0, 0);
    ck_assert_int_eq(tc_send(fd, req, n), 0);
    shutdown(fd, SHUT_WR); /* "that is all": replies must still come */
    while (tc_recv(fd, &r, 5000) == 0) {
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.id, (uint32_t)got);
        got++;
        tc_reply_free(&r);
    }
    ck_assert_int_eq(got, 201);
    free(req);
    close(fd);
}
END_TEST

START_TEST(test_reader_lock_cannot_block_restart)
{
    struct treply r;
    int fd;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_ge(r.fd, 0);
    /* A reader takes a lock on the descriptor it was given ... */
    ck_assert_int_eq(flock(r.fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
    /* ... which must not keep the daemon from restarting. */
    ck_assert_int_eq(td_restart(&d), 0);
    tc_reply_free(&r);
}
END_TEST

START_TEST(test_open_is_capped_per_connection)
{
    struct treply r;
    int fd, i;

    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    for (i = 0; i < 64; i++) {
        ck_assert_int_eq(
            tc_call(fd, PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0, &r), 0);
        ck_assert_int_eq(r.status, 0);
        ck_assert_int_ge(r.fd, 0);
        tc_reply_free(&r);
    }
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, -EMFILE);
    ck_assert_int_eq(r.fd, -1);
    tc_reply_free(&r);
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    close(fd);
}
END_TEST

/* Descriptors in flight per uid: 20 connections x 64 OPENs never
 * received once starved every other reader (ETOOMANYREFS).  One uid's
 * open connections may hold 256 at most; closing one frees its share. */
START_TEST(test_open_is_capped_per_uid)
{
    int status;
    pid_t pid;

    if (geteuid() != 0)
        return; /* no second uid to act as */
    start(NULL, NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct treply r;
        int fds[5], i, j, st;
        double end;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(90);
        for (i = 0; i < 5; i++)
            if ((fds[i] = tc_connect(d.sock, 1)) < 0)
                _exit(91);
        for (i = 0; i < 4; i++)
            for (j = 0; j < 64; j++) {
                if (tc_call(fds[i], PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0,
                            &r) != 0 ||
                    r.status != 0)
                    _exit(92);
                tc_reply_free(&r);
            }
        /* 256 handed out: a fifth connection of the same uid gets none. */
        if (tc_call(fds[4], PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0, &r) !=
            0)
            _exit(93);
        st = r.status;
        tc_reply_free(&r);
        if (st != -EMFILE)
            _exit(94);
        /* A connection closed gives its share back (once the daemon has
         * seen the close: wait for it, bounded). */
        close(fds[0]);
        end = tu_deadline(10);
        do {
            if (tc_call(fds[4], PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0,
                        &r) != 0)
                _exit(95);
            st = r.status;
            tc_reply_free(&r);
            if (st == 0)
                _exit(0);
        } while (tu_poll(end));
        _exit(96);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %#x", status);
}
END_TEST

/* Directories that do not exist yet are created (runtime 0755, state
 * 0750), parents too: `make install` creates neither, and the daemon once
 * failed with "open .../default.shm.lock: No such file or directory". */
START_TEST(test_missing_directories_are_created)
{
    char *dir = tu_tmpdir(), *conf = tu_path(dir, "c.json"), run[512],
         state[512], sock[600];
    struct stat st;
    FILE *f = fopen(conf, "w");
    double end;
    pid_t pid;
    int status;

    fputs("{\"log_level\": \"warning\", \"tables\": {\"m\": "
          "{\"size_bytes\": 1048576, \"max_value_bytes\": 1000}, \"p\": "
          "{\"mode\": \"disk\", \"size_bytes\": 1048576, "
          "\"max_value_bytes\": 1000}}}\n",
          f);
    fclose(f);
    snprintf(run, sizeof(run), "%s/a/b/run", dir);
    snprintf(state, sizeof(state), "%s/c/state", dir);
    snprintf(sock, sizeof(sock), "%s/control.sock", run);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl(getenv("SHMCACHED"), "shmcached", "-f", "-c", conf,
              "--runtime-dir", run, "--state-dir", state, (char *)NULL);
        _exit(127);
    }
    end = tu_deadline(10);
    while (stat(sock, &st) != 0 && tu_poll(end))
        ;
    ck_assert_int_eq(stat(run, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0755);
    ck_assert_int_eq(stat(state, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0750);
    ck_assert_int_eq(stat(sock, &st), 0);
    kill(pid, SIGTERM);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tu_rmtree(dir);
    free(conf);
    free(dir);
}
END_TEST

START_TEST(test_check_config)
{
    const char *bin = getenv("SHMCACHED");
    char *dir = tu_tmpdir(), *p = tu_path(dir, "bad.json"), cmd[1024], out[512];
    FILE *f = fopen(p, "w"), *pp;
    size_t n;
    int status;

    fputs("{\n  \"tables\": {\n    \"t\": {\n      \"size_byte\": 1\n    }\n"
          "  }\n}\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s --check-config -c %s 2>&1", bin, p);
    pp = popen(cmd, "r");
    n = fread(out, 1, sizeof(out) - 1, pp);
    out[n] = '\0';
    status = pclose(pp);
    ck_assert_int_eq(WEXITSTATUS(status), 78);
    ck_assert_msg(strstr(out, "bad.json:4:7: table \"t\": unknown key "
                              "\"size_byte\"") != NULL,
                  "got: %s", out);
    unlink(p);
    rmdir(dir);
    free(p);
    free(dir);
}
END_TEST

START_TEST(test_garbage_frames_close_the_connection)
{
    unsigned char junk[64];
    struct treply r;
    int fd, i;

    start(NULL, NULL);
    /* Before HELLO: refused. */
    fd = tc_connect(d.sock, 0);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_PING, NULL, NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, SHMC_EPROTO);
    tc_reply_free(&r);
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* Before HELLO nothing larger than a HELLO is even buffered. */
    fd = tc_connect(d.sock, 0);
    proto_header(junk, 1u << 20, PROTO_OP_SET, 4);
    ck_assert_int_eq(tc_send(fd, junk, 12), 0);
    ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
    ck_assert_int_eq(r.status, SHMC_EPROTO);
    tc_reply_free(&r);
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* Wrong protocol version. */
    fd = tc_connect(d.sock, 0);
    {
        unsigned char h[16];
        proto_header(h, 16, PROTO_OP_HELLO, 9);
        proto_put32(h + 12, 99);
        ck_assert_int_eq(tc_send(fd, h, 16), 0);
        ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
        ck_assert_int_eq(r.status, SHMC_EVERSION);
        tc_reply_free(&r);
    }
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* A well-framed request with a malformed body. */
    fd = tc_connect(d.sock, 1);
    for (i = 0; i < 64; i++)
        junk[i] = (unsigned char)(i * 37);
    proto_header(junk, sizeof(junk), PROTO_OP_SET, 5);
    ck_assert_int_eq(tc_send(fd, junk, sizeof(junk)), 0);
    ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
    ck_assert_int_eq(r.status, SHMC_EPROTO);
    ck_assert_uint_eq(r.id, 5);
    tc_reply_free(&r);
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* A length field beyond max_request_bytes. */
    fd = tc_connect(d.sock, 1);
    proto_header(junk, 0x7fffffffu, PROTO_OP_SET, 6);
    ck_assert_int_eq(tc_send(fd, junk, 12), 0);
    ck_assert_int_eq(tc_recv(fd, &r, 5000), 0);
    ck_assert_int_eq(r.status, SHMC_ETOOBIG);
    tc_reply_free(&r);
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* The daemon is fine. */
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    close(fd);
}
END_TEST

START_TEST(test_stalled_half_frame_times_out)
{
    unsigned char h[12];
    int fd, other;

    start("\"idle_timeout_s\": 1", NULL);
    fd = tc_connect(d.sock, 1);
    proto_header(h, 100, PROTO_OP_SET, 1); /* promises 100, sends 12 */
    ck_assert_int_eq(tc_send(fd, h, sizeof(h)), 0);
    /* Others are served meanwhile ... */
    other = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(other, PROTO_OP_PING, NULL, NULL, 0), 0);
    close(other);
    /* ... and the stalled one is closed after the idle timeout. */
    ck_assert(closed_by_peer(fd));
    close(fd);
}
END_TEST

/* Whether a process's RSS follows what it allocates and frees: not under
 * AddressSanitizer, whose allocator holds freed memory in quarantine, nor
 * under valgrind (tests/valgrind.sh sets SHMC_RSS_UNTRUSTED). */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_TELLS 0
#else
#define RSS_TELLS (getenv("SHMC_RSS_UNTRUSTED") == NULL)
#endif

/* Whether mlock() does anything: AddressSanitizer intercepts it as a
 * no-op. */
#if defined(__SANITIZE_ADDRESS__)
#define MLOCK_WORKS 0
#else
#define MLOCK_WORKS 1
#endif

/* Resident memory of a process, in KiB. */
static long
rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Bytes waiting to be read on fd. */
static int
pending_in(int fd)
{
    int n = 0;

    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

/*
 * A client pipelines 2000 GETs of a 60 kB value and never reads.  The
 * daemon must stop reading its requests once max_output_bytes of replies
 * wait, keep serving others, and hold memory near that bound.  Nothing
 * here is timed: the test waits (bounded) until the daemon has answered
 * the hung client as far as the socket takes, and the idle timeout is
 * long, so a slow machine cannot let the daemon drop the connection (and
 * free what it held) before the measurement.
 */
START_TEST(test_client_that_never_reads)
{
    unsigned char *req, val[60000];
    long long requests0, requests;
    size_t n, one;
    ssize_t sent;
    long before, after;
    double end;
    int fd, other, i;

    start("\"max_output_bytes\": 65536, \"idle_timeout_s\": 300", NULL);
    fd = tc_connect(d.sock, 1);
    memset(val, 'x', sizeof(val));
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    {
        struct treply r;
        ck_assert_int_eq(tc_call(fd, PROTO_OP_SET, "t", "big", 3, val,
                                 sizeof(val), 0, 0, &r),
                         0);
        ck_assert_int_eq(r.status, 0);
        tc_reply_free(&r);
    }
    /* 2000 pipelined GETs of 60 kB each (120 MB of replies), never read. */
    one = proto_request(NULL, 0, PROTO_OP_GET, 1, "t", "big", 3, NULL, 0, 0, 0);
    req = malloc(one * 2000);
    for (n = 0, i = 0; i < 2000; i++)
        n += proto_request(req + n, one, PROTO_OP_GET, (uint32_t)i, "t", "big",
                           3, NULL, 0, 0, 0);
    requests0 = tc_stat(d.sock, "requests");
    before = rss_kib(d.pid);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    /* As much as the kernel takes; enough that a daemon that kept
     * reading would blow both bounds below. */
    sent = send(fd, req, n, MSG_NOSIGNAL);
    ck_assert_int_ge(sent, (ssize_t)(200 * one));
    /* The daemon has taken up the hung client: replies wait for it (so
     * the read that took its requests, all of them for a daemon without
     * an output cap, is over). */
    end = tu_deadline(10);
    while (pending_in(fd) <= 0 && tu_poll(end))
        ;
    ck_assert_int_gt(pending_in(fd), 0);
    /* Another client is served while that one hangs (and the daemon has
     * gone round its loop since it read the hung client's requests). */
    other = tc_connect(d.sock, 1);
    ck_assert_int_ge(other, 0);
    ck_assert_int_eq(call(other, PROTO_OP_PING, NULL, NULL, 0), 0);
    after = rss_kib(d.pid);
    requests = tc_stat(d.sock, "requests");
    /* It stopped reading: of 2000 GETs, only those whose replies fit in
     * the socket and max_output_bytes were run ... */
    ck_assert_msg(requests - requests0 < 100,
                  "%lld requests run for a client that reads nothing",
                  requests - requests0);
    /* ... and memory held for the hung client stays near max_output_bytes
     * (plus one pulled-up request and socket buffers), not 120 MB. */
    ck_assert_msg(after - before < 8 * 1024, "rss grew %ld KiB",
                  after - before);
    /* The hung connection is still there: nothing was freed by closing
     * it before the measurement. */
    ck_assert_int_eq(tc_stat(d.sock, "closed_not_reading"), 0);
    close(other);
    free(req);
    close(fd);
}
END_TEST

/* A number from the daemon-wide stats. */
static long long
daemon_stat(int fd, const char *name)
{
    char pat[64];
    struct treply r;
    long long v = -1;
    const char *p;

    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_STATS, "", NULL, 0, NULL, 0, 0, 0, &r), 0);
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    if (r.status == 0 && (p = strstr((const char *)r.body, pat)) != NULL)
        v = strtoll(p + strlen(pat), NULL, 10);
    tc_reply_free(&r);
    return v;
}

/* Many clients that never read, each within max_output_bytes, cannot
 * together hold more than max_buffered_bytes: the biggest are closed, the
 * others are served, and the memory goes back to the system. */
START_TEST(test_buffers_share_one_budget)
{
    enum { HOARDERS = 40, GETS = 100 };
    unsigned char *req, val[60000];
    int fds[HOARDERS], good, i;
    size_t n, one;
    long before, peak = 0, now;
    double end;

    start("\"max_output_bytes\": 1048576, \"max_request_bytes\": 65536, "
          "\"max_buffered_bytes\": 4194304, \"expire_interval_ms\": 100",
          NULL);
    good = tc_connect(d.sock, 1);
    memset(val, 'x', sizeof(val));
    {
        struct treply r;
        ck_assert_int_eq(tc_call(good, PROTO_OP_SET, "t", "big", 3, val,
                                 sizeof(val), 0, 0, &r),
                         0);
        ck_assert_int_eq(r.status, 0);
        tc_reply_free(&r);
    }
    one = proto_request(NULL, 0, PROTO_OP_GET, 1, "t", "big", 3, NULL, 0, 0, 0);
    req = malloc(one * GETS);
    for (n = 0, i = 0; i < GETS; i++)
        n += proto_request(req + n, one, PROTO_OP_GET, (uint32_t)i, "t", "big",
                           3, NULL, 0, 0, 0);
    before = rss_kib(d.pid);
    /* 40 x 6 MB of replies asked for, each connection allowed 1 MiB
     * queued: 40 MiB without a common budget. */
    for (i = 0; i < HOARDERS; i++) {
        fds[i] = tc_connect(d.sock, 1);
        ck_assert_int_ge(fds[i], 0);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        (void)!send(fds[i], req, n, MSG_NOSIGNAL);
        now = rss_kib(d.pid);
        peak = now > peak ? now : peak;
    }
    end = tu_now() + 10;
    while (daemon_stat(good, "connections_shed") <= 0 && tu_now() < end)
        usleep(10000);
    ck_assert_int_gt(daemon_stat(good, "connections_shed"), 0);
    ck_assert_int_le(daemon_stat(good, "buffered_bytes"), 4194304);
    now = rss_kib(d.pid);
    peak = now > peak ? now : peak;
    /* (ASan's allocator keeps freed memory in quarantine: RSS says
     * nothing there; the daemon's own count above still does.) */
    if (!RSS_TELLS)
        peak = before;
    ck_assert_msg(peak - before < 16 * 1024, "rss grew %ld KiB", peak - before);
    /* The well-behaved client holds nothing and is served throughout. */
    ck_assert_int_eq(call(good, PROTO_OP_PING, NULL, NULL, 0), 0);
    {
        char buf[60001];
        ck_assert_int_eq(get(good, "big", buf, sizeof(buf), NULL), 0);
    }
    /* Once the hoarders are gone the memory is given back.  (The stats
     * request itself is buffered while it is answered.) */
    for (i = 0; i < HOARDERS; i++)
        close(fds[i]);
    end = tu_now() + 10;
    while ((daemon_stat(good, "buffered_bytes") > 64 ||
            (RSS_TELLS && rss_kib(d.pid) - before > 2 * 1024)) &&
           tu_now() < end)
        usleep(20000);
    ck_assert_int_le(daemon_stat(good, "buffered_bytes"), 64);
    if (RSS_TELLS)
        ck_assert_msg(rss_kib(d.pid) - before <= 2 * 1024,
                      "rss still %ld KiB above the start",
                      rss_kib(d.pid) - before);
    close(good);
    free(req);
}
END_TEST

START_TEST(test_connection_limit)
{
    int fds[4], extra, i;
    double end;

    start("\"max_connections\": 4", NULL);
    for (i = 0; i < 4; i++) {
        fds[i] = tc_connect(d.sock, 1);
        ck_assert_int_ge(fds[i], 0);
    }
    extra = tc_connect(d.sock, 0);
    ck_assert_int_ge(extra, 0);
    ck_assert(closed_by_peer(extra));
    close(extra);
    ck_assert_int_eq(call(fds[3], PROTO_OP_PING, NULL, NULL, 0), 0);
    close(fds[0]);
    /* A slot freed is a slot usable again (once the daemon has seen the
     * close: wait for it, bounded). */
    end = tu_deadline(10);
    while ((extra = tc_connect(d.sock, 1)) < 0 && tu_poll(end))
        ;
    ck_assert_int_ge(extra, 0);
    close(extra);
    for (i = 1; i < 4; i++)
        close(fds[i]);
}
END_TEST

/* A fragment of a header whose length field is no larger than what was
 * sent, then a hang-up: the daemon must let the connection go.  Once,
 * such fragments stayed open forever and filled max_connections, locking
 * every client out (issue "Hostile local users", finding 1). */
START_TEST(test_header_fragments_cannot_fill_the_table)
{
    static const unsigned char frag[][11] = {
        {4, 0, 0, 0},
        {8, 0, 0, 0, PROTO_OP_HELLO, 0, 0, 0},
        {11, 0, 0, 0, PROTO_OP_HELLO, 0, 0, 0, 1, 0, 0},
    };
    static const size_t flen[] = {4, 8, 11};
    double deadline;
    int fd, i, ok;

    start("\"max_connections\": 4", NULL);
    for (i = 0; i < 40; i++) {
        fd = tc_connect(d.sock, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(tc_send(fd, frag[i % 3], flen[i % 3]), 0);
        close(fd);
    }
    /* Closing is asynchronous: wait (bounded) for a served PING. */
    deadline = tu_deadline(10);
    do {
        ok = 0;
        fd = tc_connect(d.sock, 1);
        if (fd >= 0) {
            struct treply r;
            ok = tc_call(fd, PROTO_OP_PING, "t", NULL, 0, NULL, 0, 0, 0, &r) ==
                     0 &&
                 r.status == 0;
            if (ok)
                tc_reply_free(&r);
            close(fd);
        }
    } while (!ok && tu_poll(deadline));
    ck_assert_msg(ok, "fragments locked every client out");
}
END_TEST

START_TEST(test_acl_refusals)
{
    int status;
    pid_t pid;

    if (geteuid() != 0) {
        /* Without root there is no second uid to act as. */
        return;
    }
    start(NULL, "\"read_uids\": [4242]");
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct treply r;
        int fd, ok = 1;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(90);
        fd = tc_connect(d.sock, 1);
        if (fd < 0)
            _exit(91);
        /* nobody may neither write nor read "t" ... */
        ok &= call(fd, PROTO_OP_SET, "k", "v", 0) == -EACCES;
        ok &=
            tc_call(fd, PROTO_OP_OPEN, "t", NULL, 0, NULL, 0, 0, 0, &r) == 0 &&
            r.status == -EACCES && r.fd < 0;
        tc_reply_free(&r);
        /* ... but may read "p", whose read lists are empty. */
        ok &=
            tc_call(fd, PROTO_OP_OPEN, "p", NULL, 0, NULL, 0, 0, 0, &r) == 0 &&
            r.status == 0 && r.fd >= 0;
        tc_reply_free(&r);
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %#x", status);
    {
        /* The read lists are the only way to t's bytes: its file is the
         * daemon user's alone (no group that every client joins), while
         * the public table keeps file_mode. */
        struct stat st;
        char *pt = tu_path(d.run, "t.shm"), *pp = tu_path(d.state, "p.shm");
        ck_assert_int_eq(stat(pt, &st), 0);
        ck_assert_uint_eq(st.st_mode & 077, 0);
        ck_assert_int_eq(stat(pp, &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0640);
        free(pt);
        free(pp);
    }
}
END_TEST

/* Slowloris: one byte of an unfinished frame every 200 ms used to keep a
 * connection for ever (each byte reset the idle timeout).  A frame must
 * be complete within frame_timeout_s of its first byte. */
START_TEST(test_trickled_frame_is_cut_off)
{
    unsigned char h[12];
    struct pollfd pf;
    double t0;
    int fd, closed = 0;
    char c;

    start("\"frame_timeout_s\": 1, \"idle_timeout_s\": 300", NULL);
    fd = tc_connect(d.sock, 1);
    proto_header(h, 1000, PROTO_OP_SET, 1); /* promises 1000 bytes */
    ck_assert_int_eq(tc_send(fd, h, sizeof(h)), 0);
    t0 = tu_now();
    while (!closed && tu_now() - t0 < 5) {
        (void)!send(fd, "x", 1, MSG_NOSIGNAL);
        pf.fd = fd;
        pf.events = POLLIN;
        if (poll(&pf, 1, 200) > 0 && recv(fd, &c, 1, 0) <= 0)
            closed = 1;
    }
    ck_assert_msg(closed, "trickling connection still open after 5 s");
    ck_assert_double_lt(tu_now() - t0, 3.0);
    close(fd);
}
END_TEST

/* One user cannot hold every connection: max_connections_per_uid, root
 * exempt, so others (root here) still get in. */
START_TEST(test_connections_capped_per_uid)
{
    int status, fd;
    pid_t pid;

    if (geteuid() != 0)
        return; /* no second uid to act as */
    start("\"max_connections\": 16, \"max_connections_per_uid\": 3", NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fds[3], i, extra;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(90);
        for (i = 0; i < 3; i++)
            if ((fds[i] = tc_connect(d.sock, 1)) < 0)
                _exit(91);
        extra = tc_connect(d.sock, 0);
        if (extra < 0 || !closed_by_peer(extra))
            _exit(92);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %#x", status);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(call(fd, PROTO_OP_PING, NULL, NULL, 0), 0);
    close(fd);
}
END_TEST

/* A table file another user planted where the daemon's would be is set
 * aside, never adopted (format 1 served it as is). */
START_TEST(test_planted_table_file_is_not_adopted)
{
    char *path;
    struct stat st;
    int fd;

    if (geteuid() != 0)
        return; /* no second uid to plant as */
    start(NULL, NULL);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);
    close(fd);
    ck_assert_int_eq(td_stop(&d), 0);
    /* The same bytes, as if someone else had put them there. */
    path = tu_path(d.run, "t.shm");
    ck_assert_int_eq(chown(path, 65534, 65534), 0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_uid, geteuid());
    fd = tc_connect(d.sock, 1);
    {
        struct treply r;
        ck_assert_int_eq(
            tc_call(fd, PROTO_OP_GET, "t", "k", 1, NULL, 0, 0, 0, &r), 0);
        ck_assert_int_eq(r.status, SHMC_ENOTFOUND);
        tc_reply_free(&r);
    }
    close(fd);
    free(path);
}
END_TEST

/* ---- residency: populate, lock, huge_pages ---- */

/* Report a test that cannot run here, and why (Check has no per-test
 * SKIP: the reason goes to the log, and the test ends). */
#define SKIP_TEST(...)                                                         \
    do {                                                                       \
        fprintf(stderr, "SKIP %s: ", __func__);                                \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        return;                                                                \
    } while (0)

/* A /proc/PID/status field in KiB (VmLck, VmRSS, ...), or -1. */
static long
status_kib(pid_t pid, const char *field)
{
    char path[64], line[256], pat[64];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    snprintf(pat, sizeof(pat), "%s: %%ld", field);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, pat, &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* The sum of an smaps field (KiB) over pid's mappings of files whose path
 * ends in suffix; -1 if pid maps no such file. */
static long
smaps_kib(pid_t pid, const char *suffix, const char *field)
{
    char path[64], line[1024], pat[64];
    long total = -1, kib;
    size_t n, sl = strlen(suffix);
    int in = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    snprintf(pat, sizeof(pat), "%s: %%ld kB", field);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if ((line[0] >= '0' && line[0] <= '9') ||
            (line[0] >= 'a' && line[0] <= 'f')) {
            n = strlen(line);
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
                line[--n] = '\0';
            in = n >= sl && strcmp(line + n - sl, suffix) == 0;
            if (in && total < 0)
                total = 0;
        } else if (in && sscanf(line, pat, &kib) == 1) {
            total += kib;
        }
    }
    fclose(f);
    return total;
}

/* A table's stats (JSON text, allocated). */
static char *
table_stats(const char *table)
{
    struct treply r;
    char *s;
    int fd = tc_connect(d.sock, 1);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_STATS, table, NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, 0);
    s = strndup((const char *)r.body, r.blen);
    tc_reply_free(&r);
    close(fd);
    return s;
}

/* A string field of a stats document into buf ("" if absent). */
static const char *
stats_str(const char *doc, const char *name, char *buf, size_t size)
{
    char pat[64];
    const char *p, *e;

    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    buf[0] = '\0';
    if ((p = strstr(doc, pat)) != NULL) {
        p += strlen(pat);
        e = strchr(p, '"');
        snprintf(buf, size, "%.*s", e ? (int)(e - p) : 0, p);
    }
    return buf;
}

/* Map table `name` the way the library does (OPEN, table_open_fd). */
static void
map_table(const char *name, struct table *tb)
{
    struct treply r;
    char why[128];
    int fd = tc_connect(d.sock, 1);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(
        tc_call(fd, PROTO_OP_OPEN, name, NULL, 0, NULL, 0, 0, 0, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ge(r.fd, 0);
    ck_assert_msg(table_open_fd(tb, r.fd, why, sizeof(why)) == 0, "%s", why);
    close(r.fd);
    tc_reply_free(&r);
    close(fd);
}

/* populate: the daemon's mapping is all resident from the start, and a
 * reader's mapping is prefaulted at open (the header tells it to); a
 * table without it has only what the daemon touched (header, index). */
START_TEST(test_populate_prefaults_daemon_and_readers)
{
    struct table tb, tu;
    long kib;
    char *st;

    ck_assert_int_eq(
        td_start(&d,
                 "{\"log_level\": \"warning\", \"tables\": {"
                 "\"t\": {\"size_bytes\": \"16M\", \"expected_item_bytes\": "
                 "4096, \"populate\": true},"
                 "\"u\": {\"size_bytes\": \"16M\", \"expected_item_bytes\": "
                 "4096}}}",
                 -1),
        0);
    kib = smaps_kib(d.pid, "/t.shm", "Rss");
    ck_assert_msg(kib >= 16384, "daemon maps %ld KiB of t resident", kib);
    kib = smaps_kib(d.pid, "/u.shm", "Rss");
    ck_assert_msg(kib >= 0 && kib < 4096, "daemon maps %ld KiB of u", kib);
    st = table_stats("t");
    ck_assert_ptr_nonnull(strstr(st, "\"populate\":true"));
    free(st);
    st = table_stats("u");
    ck_assert_ptr_nonnull(strstr(st, "\"populate\":false"));
    free(st);

    /* Readers: this process maps both, as libshmcache would. */
    map_table("t", &tb);
    map_table("u", &tu);
    ck_assert_uint_eq(tb.residency & FMT_RES_POPULATE, FMT_RES_POPULATE);
    ck_assert_uint_eq(tu.residency & FMT_RES_POPULATE, 0);
    kib = smaps_kib(getpid(), "/t.shm", "Rss");
    ck_assert_msg(kib >= 16384, "reader maps %ld KiB of t resident", kib);
    kib = smaps_kib(getpid(), "/u.shm", "Rss");
    ck_assert_msg(kib >= 0 && kib < 1024, "reader maps %ld KiB of u", kib);
    table_close(&tb);
    table_close(&tu);
}
END_TEST

/* lock: the table is mlock()ed (VmLck) and, on reload without it,
 * unlocked again. */
START_TEST(test_lock_pins_the_table)
{
    const char *cfg = "{\"log_level\": \"warning\", \"tables\": {"
                      "\"t\": {\"size_bytes\": \"8M\"%s}}}";
    char c[256], *st;
    double end;

    if (!MLOCK_WORKS)
        SKIP_TEST("AddressSanitizer makes mlock() a no-op");
    snprintf(c, sizeof(c), cfg, ", \"lock\": true");
    ck_assert_int_eq(td_start(&d, c, -1), 0);
    ck_assert_msg(status_kib(d.pid, "VmLck") >= 8192, "VmLck %ld KiB",
                  status_kib(d.pid, "VmLck"));
    st = table_stats("t");
    ck_assert_ptr_nonnull(strstr(st, "\"lock\":true"));
    free(st);
    snprintf(c, sizeof(c), cfg, "");
    ck_assert_int_eq(td_write_conf(&d, c), 0);
    kill(d.pid, SIGHUP);
    ck_assert_int_eq(td_wait_notify(&d, "READY=1", 5000), 0);
    end = tu_deadline(5);
    while (status_kib(d.pid, "VmLck") != 0 && tu_poll(end))
        ;
    ck_assert_int_eq(status_kib(d.pid, "VmLck"), 0);
    st = table_stats("t");
    ck_assert_ptr_nonnull(strstr(st, "\"lock\":false"));
    free(st);
}
END_TEST

/* lock that cannot be had (RLIMIT_MEMLOCK below the table, no
 * CAP_IPC_LOCK): the daemon does not start, exits 69, and says which
 * limit to raise and how. */
START_TEST(test_lock_over_the_limit_fails_clearly)
{
    char *dir, *conf_path, *log_path, *run, *state, *text;
    const char *bin = getenv("SHMCACHED");
    struct rlimit rl = {65536, 65536};
    FILE *f;
    int status;
    pid_t pid;

    if (!MLOCK_WORKS)
        SKIP_TEST("AddressSanitizer makes mlock() a no-op");
    dir = tu_tmpdir();
    conf_path = tu_path(dir, "c.json");
    log_path = tu_path(dir, "log");
    run = tu_path(dir, "run");
    state = tu_path(dir, "state");
    f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"tables\": {\"t\": {\"size_bytes\": \"8M\", \"lock\": true}}}", f);
    fclose(f);
    /* root has CAP_IPC_LOCK, which ignores the limit: run as nobody. */
    if (geteuid() == 0)
        ck_assert_int_eq(chown(dir, 65534, 65534), 0);
    chmod(dir, 0755);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int lfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (lfd < 0 || dup2(lfd, STDERR_FILENO) < 0)
            _exit(120);
        if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
            _exit(121);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(122);
        execl(bin ? bin : "daemon/shmcached", "shmcached", "-f", "-c",
              conf_path, "--runtime-dir", run, "--state-dir", state,
              (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    f = fopen(log_path, "r");
    ck_assert_ptr_nonnull(f);
    text = calloc(1, 65536);
    (void)!fread(text, 1, 65535, f);
    fclose(f);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 69,
                  "status %#x, log: %s", status, text);
    ck_assert_msg(strstr(text, "table t: cannot lock it in memory") != NULL &&
                      strstr(text, "RLIMIT_MEMLOCK is 65536 bytes") != NULL &&
                      strstr(text, "LimitMEMLOCK=") != NULL,
                  "log: %s", text);
    free(text);
    free(conf_path);
    free(log_path);
    free(run);
    free(state);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* huge_pages on a tmpfs (/dev/shm): the table is moved into 2 MiB pages
 * (MADV_COLLAPSE, whatever the mount's huge= says), the daemon's mapping
 * maps them with PMDs, and so does a reader's (2 MiB-aligned). */
START_TEST(test_huge_pages_on_tmpfs)
{
    char *st, state[32], note[320];
    const char *old = getenv("TMPDIR");
    struct statfs sfs;
    struct table tb;
    long kib;

    if (statfs("/dev/shm", &sfs) != 0 || (uint32_t)sfs.f_type != 0x01021994u)
        SKIP_TEST("/dev/shm is not a tmpfs");
    setenv("TMPDIR", "/dev/shm", 1);
    ck_assert_int_eq(td_start(&d,
                              "{\"log_level\": \"warning\", \"tables\": {"
                              "\"t\": {\"size_bytes\": \"8M\", "
                              "\"huge_pages\": true}}}",
                              -1),
                     0);
    if (old != NULL)
        setenv("TMPDIR", old, 1);
    else
        unsetenv("TMPDIR");
    st = table_stats("t");
    stats_str(st, "huge_pages", state, sizeof(state));
    stats_str(st, "residency_note", note, sizeof(note));
    free(st);
    if (strcmp(state, "unavailable") == 0)
        SKIP_TEST("no huge pages for tmpfs on this host: %s", note);
    ck_assert_msg(strcmp(state, "on") == 0, "huge_pages \"%s\": %s", state,
                  note);
    kib = smaps_kib(d.pid, "/t.shm", "ShmemPmdMapped") +
          smaps_kib(d.pid, "/t.shm", "FilePmdMapped");
    ck_assert_msg(kib >= 8192, "daemon: %ld KiB PMD-mapped", kib);

    map_table("t", &tb);
    ck_assert_uint_eq((uintptr_t)tb.base % (2u << 20), 0);
    ck_assert_uint_eq(tb.residency & FMT_RES_HUGE, FMT_RES_HUGE);
    ck_assert_int_eq(mapping_populate(tb.base, tb.size), 0);
    kib = smaps_kib(getpid(), "/t.shm", "ShmemPmdMapped") +
          smaps_kib(getpid(), "/t.shm", "FilePmdMapped");
    ck_assert_msg(kib >= 8192, "reader: %ld KiB PMD-mapped", kib);
    table_close(&tb);
}
END_TEST

/* huge_pages where there are none to be had (a memory table on a disk
 * file system): the daemon serves on 4 KiB pages and says why, in its
 * log and in stats. */
START_TEST(test_huge_pages_unavailable_is_reported)
{
    char *st, state[32], note[320], *log;
    struct statfs sfs;
    int fd;

    ck_assert_int_eq(td_start_logged(&d, "{\"log_level\": \"warning\", "
                                         "\"tables\": {\"t\": {\"size_bytes\": "
                                         "\"8M\", \"huge_pages\": true}}}"),
                     0);
    ck_assert_int_eq(statfs(d.run, &sfs), 0);
    if ((uint32_t)sfs.f_type == 0x01021994u ||
        (uint32_t)sfs.f_type == 0x958458f6u)
        SKIP_TEST("%s is a tmpfs or hugetlbfs: huge pages may be there", d.run);
    st = table_stats("t");
    ck_assert_str_eq(stats_str(st, "huge_pages", state, sizeof(state)),
                     "unavailable");
    ck_assert_ptr_nonnull(
        strstr(stats_str(st, "residency_note", note, sizeof(note)),
               "neither on tmpfs nor on hugetlbfs"));
    ck_assert_ptr_nonnull(strstr(st, "\"huge_pages_bytes\":0"));
    free(st);
    log = td_log(&d);
    ck_assert_msg(strstr(log, "warning: residency: table=t huge_pages: ") !=
                      NULL,
                  "log: %s", log);
    free(log);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "v", 0), 0);
    close(fd);
}
END_TEST

/* KiB of hugetlb pages a process maps of a file (smaps counts a page
 * Private_ while one process maps it, Shared_ once more do). */
static long
hugetlb_kib(pid_t pid, const char *suffix)
{
    long a = smaps_kib(pid, suffix, "Shared_Hugetlb"),
         b = smaps_kib(pid, suffix, "Private_Hugetlb");

    return a < 0 || b < 0 ? -1 : a + b;
}

/* huge_pages from a hugetlbfs "directory": the table file lives there,
 * every page of it is a huge page, and it survives a restart.  Needs
 * root (a private mount) and free pages in the pool (vm.nr_hugepages). */
START_TEST(test_huge_pages_on_hugetlbfs)
{
    char line[128], *mnt, *c, *st, state[32], note[320], buf[16];
    struct table tb;
    struct table_hit hit;
    long free_pages = -1, kib;
    FILE *f;
    int fd;

    f = fopen("/proc/meminfo", "r");
    while (f != NULL && fgets(line, sizeof(line), f))
        if (sscanf(line, "HugePages_Free: %ld", &free_pages) == 1)
            break;
    if (f != NULL)
        fclose(f);
    if (free_pages < 4)
        SKIP_TEST("%ld free 2 MiB pages in the hugetlb pool (vm.nr_hugepages)",
                  free_pages);
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        SKIP_TEST("cannot make a private mount namespace: %s", strerror(errno));
    mnt = tu_tmpdir();
    if (mount("none", mnt, "hugetlbfs", 0, "pagesize=2M") != 0)
        SKIP_TEST("mount hugetlbfs: %s", strerror(errno));
    ck_assert_int_ne(asprintf(&c,
                              "{\"log_level\": \"warning\", \"tables\": {"
                              "\"t\": {\"size_bytes\": \"8M\", "
                              "\"huge_pages\": true, \"directory\": \"%s\"}}}",
                              mnt),
                     -1);
    ck_assert_int_eq(td_start(&d, c, -1), 0);
    free(c);
    st = table_stats("t");
    ck_assert_msg(
        strcmp(stats_str(st, "huge_pages", state, sizeof(state)), "on") == 0,
        "huge_pages %s: %s", state,
        stats_str(st, "residency_note", note, sizeof(note)));
    free(st);
    /* The daemon touched the header and the index: huge pages, all. */
    kib = hugetlb_kib(d.pid, "/t.shm");
    ck_assert_msg(kib >= 2048, "daemon: %ld KiB of hugetlb pages", kib);
    ck_assert_int_eq(smaps_kib(d.pid, "/t.shm", "Rss"), 0);
    fd = tc_connect(d.sock, 1);
    ck_assert_int_eq(call(fd, PROTO_OP_SET, "k", "huge", 0), 0);
    close(fd);
    ck_assert_int_eq(td_restart(&d), 0);
    map_table("t", &tb);
    ck_assert_int_eq(table_lookup(&tb, "k", 1, buf, sizeof(buf), 0, &hit), 0);
    ck_assert_mem_eq(buf, "huge", 4);
    ck_assert_int_eq(mapping_populate(tb.base, tb.size), 0);
    kib = hugetlb_kib(getpid(), "/t.shm");
    ck_assert_msg(kib >= 8192, "reader: %ld KiB of hugetlb pages", kib);
    table_close(&tb);
    td_free(&d);
    memset(&d, 0, sizeof(d));
    tu_rmtree(mnt); /* the files; the mount point stays */
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    free(mnt);
}
END_TEST

static Suite *
daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc;

    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_every_operation);
    tcase_add_test(tc, test_open_hands_a_read_only_descriptor);
    tcase_add_test(tc, test_ttl_expiry);
    tcase_add_test(tc, test_eviction_when_full);
    tcase_add_test(tc, test_restart_reuses_tables);
    tcase_add_test(tc, test_changed_geometry_replaces_and_retires);
    tcase_add_test(tc, test_unreadable_table_is_set_aside);
    tcase_add_test(tc, test_set_aside_file_is_retired_for_mapped_readers);
    tcase_add_test(tc, test_limits_left_to_default_keep_the_table);
    tcase_add_test(tc, test_sighup_reload);
    tcase_add_test(tc, test_notify_and_watchdog);
    tcase_add_test(tc, test_socket_activation);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_check_config);
    tcase_add_test(tc, test_missing_directories_are_created);
    tcase_add_test(tc, test_half_close_still_gets_every_reply);
    tcase_add_test(tc, test_reader_lock_cannot_block_restart);
    tcase_add_test(tc, test_open_is_capped_per_connection);
    tcase_add_test(tc, test_open_is_capped_per_uid);
    tcase_add_test(tc, test_garbage_frames_close_the_connection);
    tcase_add_test(tc, test_stalled_half_frame_times_out);
    tcase_add_test(tc, test_client_that_never_reads);
    tcase_add_test(tc, test_buffers_share_one_budget);
    tcase_add_test(tc, test_connection_limit);
    tcase_add_test(tc, test_header_fragments_cannot_fill_the_table);
    tcase_add_test(tc, test_acl_refusals);
    tcase_add_test(tc, test_trickled_frame_is_cut_off);
    tcase_add_test(tc, test_connections_capped_per_uid);
    tcase_add_test(tc, test_planted_table_file_is_not_adopted);
    tcase_add_test(tc, test_truncated_table_is_replaced);
    tcase_add_test(tc, test_truncation_under_a_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("residency");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_populate_prefaults_daemon_and_readers);
    tcase_add_test(tc, test_lock_pins_the_table);
    tcase_add_test(tc, test_lock_over_the_limit_fails_clearly);
    tcase_add_test(tc, test_huge_pages_on_tmpfs);
    tcase_add_test(tc, test_huge_pages_unavailable_is_reported);
    tcase_add_test(tc, test_huge_pages_on_hugetlbfs);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(daemon_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
