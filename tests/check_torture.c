/* SPDX-License-Identifier: MIT */
/*
 * check_torture.c -- one writer process churning a table at full speed
 * while reader processes, each with its own read-only mapping, look keys
 * up and verify every value they get.
 *
 * Values are self-checking (testutil.h): they carry their key, a version
 * and a checksum, so a torn read or another key's value is caught from the
 * bytes alone.  The tables are small so that the arena ring wraps and
 * memory is reused under the readers' feet many times a second, which is
 * exactly the case the seqlock protocol must get right.
 *
 * A miss is a legitimate answer for a key that was deleted, flushed,
 * evicted or not yet written, so the main runs cannot judge misses.  The
 * pinned run can: the first keys are set before the readers start and,
 * while the others churn, are only ever rewritten and touched, never
 * deleted or flushed, in a table sized so that nothing is evicted (the
 * run checks that it was not).  Such a key must hit on every lookup, with
 * a version that never goes back.
 *
 * SHMC_TORTURE_SECONDS sets the main run's length (default 10),
 * SHMC_TORTURE_READERS the reader count (default 2).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

#define MAX_READERS 8
#define VMAX 700
#define MAX_PINNED 4096
/* Pinned values stay small, so that live data stays well under the
 * high-water mark and the ring always has dead bytes to reclaim. */
#define PINNED_VMAX 300

struct tally {
    uint64_t writes, sets, deletes, flushes;
    uint64_t lookups[MAX_READERS], hits[MAX_READERS], retries[MAX_READERS];
    uint64_t busy[MAX_READERS], bad[MAX_READERS], unexpected[MAX_READERS];
    uint64_t false_misses[MAX_READERS]; /* a pinned key not found */
    uint64_t regressions[MAX_READERS];  /* a pinned key's version went back */
    int last_rc[MAX_READERS];
};

static char *dir, *path;

static void
setup(void)
{
    dir = tu_tmpdir();
    path = tu_path(dir, "torture.shm");
}

static void
teardown(void)
{
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* The writer: sets of random sizes, deletes, add/replace, touch, rare
 * flushes, until the deadline.  Keys below pinned are set, added and
 * touched (never to expire) like the others, but never deleted, and there
 * is no flush while any key is pinned. */
static void
writer(struct store *st, struct tally *t, double end, uint32_t nkeys,
       uint32_t pinned)
{
    static unsigned char val[VMAX];
    uint64_t rnd = 0x9e3779b97f4a7c15ULL, r, version = 0, now, key;
    unsigned what;
    char k[32];
    size_t vlen;
    int op, rc;

    while (tu_now() < end) {
        now = table_now_ms();
        for (op = 0; op < 256; op++) {
            r = tu_rand(&rnd);
            key = r % nkeys;
            tu_key(k, sizeof(k), key);
            what = (unsigned)((r >> 32) % 20);
            if (key < pinned && what < 2)
                what = 4; /* a pinned key is set instead of deleted */
            switch (what) {
            case 0:
            case 1:
                store_delete(st, k, 16, now);
                t->deletes++;
                break;
            case 2:
                store_touch(st, k, 16, key < pinned ? 0 : now + 60000, now);
                break;
            case 3:
                if ((r >> 40) % 4096 == 0 && pinned == 0) {
                    store_flush(st);
                    t->flushes++;
                    break;
                }
                /* fall through */
            default:
                vlen = 16 + TU_VALUE_OVERHEAD +
                       (r >> 48) % (key < pinned ? PINNED_VMAX : VMAX - 40);
                tu_value(val, vlen, k, 16, ++version);
                rc = store_set(st, k, 16, val, vlen, 0, 0,
                               (r >> 44) % 8 == 0 ? STORE_ADD : STORE_SET, now);
                if (rc != 0 && rc != SHMC_EEXISTS)
                    _exit(10);
                t->sets++;
                break;
            }
            t->writes++;
        }
    }
    _exit(0);
}

/* A reader: random lookups into its own mapping, every hit verified;
 * keys below pinned must always be found, at no older version than this
 * reader saw last. */
static void
reader(const char *file, struct tally *t, int id, double end, uint32_t nkeys,
       uint32_t pinned)
{
    static unsigned char buf[VMAX];
    static uint64_t seen[MAX_PINNED];
    uint64_t rnd = 12345 + (uint64_t)id * 7919, r, now, version;
    struct table_hit hit;
    struct table tb;
    char k[32], why[128];
    int fd, rc, i;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || table_open_fd(&tb, fd, why, sizeof(why)) != 0)
        _exit(20);
    while (tu_now() < end) {
        now = table_now_ms();
        for (i = 0; i < 1024; i++) {
            r = tu_rand(&rnd);
            tu_key(k, sizeof(k), r % nkeys);
            rc = table_lookup(&tb, k, 16, buf, sizeof(buf), now, &hit);
            if (r % nkeys < pinned && rc != 0 && rc != SHMC_EBUSY)
                t->false_misses[id]++;
            t->lookups[id]++;
            t->retries[id] += hit.retries;
            if (rc == 0) {
                t->hits[id]++;
                if (!tu_value_ok(buf, hit.vlen, k, 16, &version)) {
                    t->bad[id]++;
                } else if (r % nkeys < pinned) {
                    if (version < seen[r % nkeys])
                        t->regressions[id]++;
                    seen[r % nkeys] = version;
                }
            } else if (rc == SHMC_EBUSY) {
                t->busy[id]++;
            } else if (rc != SHMC_ENOTFOUND) {
                t->unexpected[id]++;
                t->last_rc[id] = rc;
            }
        }
    }
    table_close(&tb);
    close(fd);
    _exit(0);
}

/* Run one writer and n readers over a fresh table for secs seconds; the
 * first pinned keys are set once, before, and must always hit. */
static void
torture(uint64_t size, uint32_t nbuckets, uint32_t nkeys, uint32_t pinned,
        unsigned secs)
{
    struct store_geom g = {size, nbuckets, 64, VMAX, 1, 0};
    unsigned nreaders = tu_env_uint("SHMC_TORTURE_READERS", 2);
    struct tally *t;
    struct store *st;
    pid_t pid[MAX_READERS + 1];
    uint64_t lookups = 0, hits = 0, retries = 0, busy = 0, bad = 0, odd = 0;
    uint64_t false_misses = 0, regressions = 0;
    static unsigned char val[VMAX];
    char k[32];
    double end;
    char why[256];
    unsigned i;
    int status;

    if (nreaders < 1 || nreaders > MAX_READERS)
        nreaders = 2;
    ck_assert_uint_le(pinned, MAX_PINNED);
    t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(t, MAP_FAILED);
    ck_assert_msg(store_create(path, &g, 0600, &st, why, sizeof(why)) == 0,
                  "%s", why);
    for (i = 0; i < pinned; i++) {
        tu_key(k, sizeof(k), i);
        tu_value(val, 16 + TU_VALUE_OVERHEAD + i % 300, k, 16, 1);
        ck_assert_int_eq(store_set(st, k, 16, val,
                                   16 + TU_VALUE_OVERHEAD + i % 300, 0, 0,
                                   STORE_SET, table_now_ms()),
                         0);
    }
    end = tu_now() + secs;
    for (i = 0; i <= nreaders; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            if (i == 0)
                writer(st, t, end, nkeys, pinned);
            reader(path, t, (int)i - 1, end, nkeys, pinned);
        }
    }
    for (i = 0; i <= nreaders; i++) {
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "%s %u died: status %#x", i ? "reader" : "writer", i,
                      status);
    }
    for (i = 0; i < nreaders; i++) {
        lookups += t->lookups[i];
        hits += t->hits[i];
        retries += t->retries[i];
        busy += t->busy[i];
        bad += t->bad[i];
        odd += t->unexpected[i];
        false_misses += t->false_misses[i];
        regressions += t->regressions[i];
    }
    printf("# torture: %us buckets=%u keys=%u writes=%llu sets=%llu "
           "flushes=%llu evictions=%llu index_evictions=%llu relocations=%llu "
           "| readers=%u "
           "lookups=%llu hits=%llu "
           "retries=%llu busy=%llu torn_or_wrong=%llu other_errors=%llu "
           "pinned=%u false_misses=%llu regressions=%llu moves=%llu\n",
           secs, st->view.nbuckets, nkeys, (unsigned long long)t->writes,
           (unsigned long long)t->sets, (unsigned long long)t->flushes,
           (unsigned long long)st->hdr->h_evictions,
           (unsigned long long)st->hdr->h_evictions_index,
           (unsigned long long)st->hdr->h_relocations, nreaders,
           (unsigned long long)lookups, (unsigned long long)hits,
           (unsigned long long)retries, (unsigned long long)busy,
           (unsigned long long)bad, (unsigned long long)odd, pinned,
           (unsigned long long)false_misses, (unsigned long long)regressions,
           (unsigned long long)st->hdr->h_moves);
    fflush(stdout);
    ck_assert_uint_eq(false_misses, 0);
    ck_assert_uint_eq(regressions, 0);
    ck_assert_uint_eq(bad, 0);
    /* EBUSY is a legitimate answer (the writer's CPU was taken away for
     * longer than the reader's budget), but it must stay exceptional. */
    ck_assert_uint_le(busy * 10000, lookups);
    ck_assert_msg(odd == 0, "unexpected lookup result %d",
                  t->last_rc[0] ? t->last_rc[0] : t->last_rc[1]);
    /* The run must have exercised something. */
    ck_assert_uint_gt(t->sets, 10000);
    ck_assert_uint_gt(hits, 10000);
    if (pinned > 0) {
        /* The premise: live data fits, so dead bytes were reclaimed and
         * live entries moved, and nothing was evicted or expired. */
        ck_assert_uint_gt(st->hdr->h_moves, 1000);
        ck_assert_uint_eq(st->hdr->h_evictions, 0);
        ck_assert_uint_eq(st->hdr->h_evictions_index, 0);
        ck_assert_uint_eq(st->hdr->h_expirations, 0);
    } else {
        ck_assert_uint_gt(st->hdr->h_evictions + st->hdr->h_evictions_index,
                          1000);
    }
    if (nbuckets != 0) /* the crowded index must have moved entries */
        ck_assert_uint_gt(st->hdr->h_relocations, 1000);
    store_close(st);
    munmap(t, sizeof(*t));
}

/* ---- limits ---- */

START_TEST(test_torture_arena_wraps)
{
    /* 2 MiB: the ring wraps every few thousand sets. */
    torture(2u << 20, 0, 20000, 0, tu_env_uint("SHMC_TORTURE_SECONDS", 10));
}
END_TEST

START_TEST(test_torture_pinned_keys_always_hit)
{
    /* 2,000 pinned keys rewritten, 1,000 churned: the ring wraps under
     * the pinned keys, which are moved forward or replaced, never
     * dropped, and never missing for a moment. */
    torture(2u << 20, 0, 3000, 2000,
            (tu_env_uint("SHMC_TORTURE_SECONDS", 10) + 1) / 2);
}
END_TEST

START_TEST(test_torture_index_full)
{
    /* 64 buckets for 5000 keys: nearly every set evicts from a bucket. */
    torture(4u << 20, 64, 5000, 0,
            (tu_env_uint("SHMC_TORTURE_SECONDS", 10) + 2) / 3);
}
END_TEST

static Suite *
torture_suite(void)
{
    Suite *s = suite_create("torture");
    TCase *tc = tcase_create("limits");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60 + 2 * tu_env_uint("SHMC_TORTURE_SECONDS", 10));
    tcase_add_test(tc, test_torture_arena_wraps);
    tcase_add_test(tc, test_torture_index_full);
    tcase_add_test(tc, test_torture_pinned_keys_always_hit);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(torture_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
