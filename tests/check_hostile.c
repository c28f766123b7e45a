/* SPDX-License-Identifier: MIT */
/*
 * check_hostile.c -- the reader over a damaged table file.
 *
 * A populated table is saved once; each case restores it into a scratch
 * file, and a forked child maps it read-only, then flips random bytes of
 * the live file (header, index or arena, through a second descriptor, so
 * the child's mapping sees them at once) and looks keys up after each
 * flip.  Every answer must be an error, a miss, or exactly the value that
 * was stored: a crash, a hang (Check's timeout), a wrong or torn value
 * fails the case.  Other cases truncate the file or fill the whole index
 * and arena with noise before the reader opens it.
 *
 * SHMC_HOSTILE_CASES sets the number of flip cases (default 3000).
 * Truncating a file under a live mapping raises SIGBUS in any mmap reader;
 * that is the documented limit (the daemon never shrinks a mapped table),
 * so truncation is tested at open time.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

#define NKEYS 400
#define NEG_EVERY 10 /* every 10th key is a negative entry */
#define TABLE_SIZE (256u * 1024)
#define NOW 1700000000000ULL

static char *dir, *path;
static unsigned char *pristine;
static uint64_t index_off, arena_off;

static size_t
value_len(uint64_t i)
{
    return 16 + TU_VALUE_OVERHEAD + (i * 37) % 300;
}

/* Build the populated table once per test and keep its bytes. */
static void
setup(void)
{
    struct store_geom g = {TABLE_SIZE, 64, 64, 1024, 1, 0};
    unsigned char val[1024];
    struct store *st;
    char k[32], why[256];
    uint64_t i;
    int fd;

    dir = tu_tmpdir();
    path = tu_path(dir, "hostile.shm");
    ck_assert_msg(store_create(path, &g, 0600, &st, why, sizeof(why)) == 0,
                  "%s", why);
    for (i = 0; i < NKEYS; i++) {
        tu_key(k, sizeof(k), i);
        if (i % NEG_EVERY == 0) {
            ck_assert_int_eq(store_set(st, k, 16, NULL, 0, NOW + 3600000,
                                       FMT_ENTRY_NEGATIVE, STORE_SET, NOW),
                             0);
            continue;
        }
        tu_value(val, value_len(i), k, 16, i);
        ck_assert_int_eq(
            store_set(st, k, 16, val, value_len(i), 0, 0, STORE_SET, NOW), 0);
    }
    index_off = st->hdr->h_index_off;
    arena_off = st->hdr->h_arena_off;
    store_close(st);
    pristine = malloc(TABLE_SIZE);
    fd = open(path, O_RDONLY);
    ck_assert_int_eq(pread(fd, pristine, TABLE_SIZE, 0), TABLE_SIZE);
    close(fd);
}

static void
teardown(void)
{
    free(pristine);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* Restore the pristine table into path. */
static int
restore(void)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || pwrite(fd, pristine, TABLE_SIZE, 0) != TABLE_SIZE)
        return -1;
    return fd;
}

/*
 * Look every key up; exit the child with a reason on any answer that is
 * neither an error, a miss, nor the stored value.
 */
static void
check_all(const struct table *t)
{
    unsigned char buf[1024], want[1024];
    struct table_hit hit;
    char k[32];
    uint64_t i;
    int rc;

    for (i = 0; i < NKEYS + 20; i++) {
        tu_key(k, sizeof(k), i);
        rc = table_lookup(t, k, 16, buf, sizeof(buf), NOW, &hit);
        if (i >= NKEYS && (rc == 0 || rc == SHMC_ENEGATIVE))
            _exit(2); /* a key never stored was "found" */
        if (rc == 0) {
            if (i % NEG_EVERY == 0 || hit.vlen != value_len(i))
                _exit(3);
            tu_value(want, value_len(i), k, 16, i);
            if (memcmp(buf, want, hit.vlen) != 0)
                _exit(4);
        } else if (rc == SHMC_ENEGATIVE) {
            if (i % NEG_EVERY != 0)
                _exit(5);
        } else if (rc != SHMC_ENOTFOUND && rc != SHMC_ECORRUPT &&
                   rc != SHMC_EBUSY && rc != SHMC_ERETIRED) {
            _exit(6); /* ERANGE cannot happen: buf fits every value */
        }
    }
}

/* One case: restore, map, flip nflips bytes one by one, check after each. */
static void
flip_case(uint64_t seed, int nflips)
{
    struct table t;
    char why[128];
    uint64_t r, off;
    unsigned char b;
    int wfd, rfd, i;

    wfd = restore();
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (wfd < 0 || rfd < 0)
        _exit(90);
    if (table_open_fd(&t, rfd, why, sizeof(why)) != 0)
        _exit(91);
    t.busy_ms = 0; /* flipped sequences are odd forever: spin only */
    check_all(&t);
    for (i = 0; i < nflips; i++) {
        r = tu_rand(&seed);
        switch (r % 10) {
        case 0: /* header: identity, state, counters */
            off = (r >> 8) % 512;
            break;
        case 1:
        case 2:
        case 3:
        case 4: /* index */
            off = index_off + (r >> 8) % (arena_off - index_off);
            break;
        default: /* arena */
            off = arena_off + (r >> 8) % (TABLE_SIZE - arena_off);
            break;
        }
        if (pread(wfd, &b, 1, (off_t)off) != 1)
            _exit(92);
        b ^= (unsigned char)(1 + (r >> 40) % 255);
        if (pwrite(wfd, &b, 1, (off_t)off) != 1)
            _exit(92);
        check_all(&t);
    }
    table_close(&t);
    _exit(0);
}

/* Run fn(seed, arg) in a child; fail the test if it did not exit 0. */
static void
in_child(void (*fn)(uint64_t, int), uint64_t seed, int arg)
{
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        fn(seed, arg);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "case seed=%llu arg=%d: %s %d", (unsigned long long)seed, arg,
                  WIFSIGNALED(status) ? "signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* Truncate to a random length, then the reader must refuse to open. */
static void
truncate_case(uint64_t seed, int unused)
{
    struct table t;
    char why[128];
    int wfd, rfd, rc;

    (void)unused;
    wfd = restore();
    if (wfd < 0 || ftruncate(wfd, (off_t)(tu_rand(&seed) % TABLE_SIZE)) != 0)
        _exit(90);
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    rc = table_open_fd(&t, rfd, why, sizeof(why));
    if (rc != SHMC_ECORRUPT)
        _exit(7);
    _exit(0);
}

/* Fill index and arena with noise (header intact): only misses/errors. */
static void
noise_case(uint64_t seed, int unused)
{
    unsigned char *noise = malloc(TABLE_SIZE);
    struct table t;
    char why[128];
    uint64_t i;
    int wfd, rfd;

    (void)unused;
    wfd = restore();
    for (i = index_off; i < TABLE_SIZE; i++)
        noise[i] = (unsigned char)tu_rand(&seed);
    /* Half the cases keep the slot tags' upper halves plausible. */
    if (seed & 1)
        for (i = index_off; i < arena_off; i += 8)
            noise[i + 7] = pristine[i + 7];
    if (wfd < 0 ||
        pwrite(wfd, noise + index_off, TABLE_SIZE - index_off,
               (off_t)index_off) != (ssize_t)(TABLE_SIZE - index_off))
        _exit(90);
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (table_open_fd(&t, rfd, why, sizeof(why)) != 0)
        _exit(91);
    t.busy_ms = 0;
    check_all(&t);
    free(noise);
    _exit(0);
}

/* ---- errors ---- */

START_TEST(test_random_flips_in_live_table)
{
    unsigned cases = tu_env_uint("SHMC_HOSTILE_CASES", 3000), i;
    uint64_t seed = 0x5eed0000ULL + (uint64_t)_i * 1000003ULL;

    for (i = 0; i < cases; i++)
        in_child(flip_case, seed + i, 1 + (int)(i % 16));
    printf("# hostile: %u flip cases, up to 16 flips each, checked %d keys "
           "after every flip\n",
           cases, NKEYS + 20);
}
END_TEST

START_TEST(test_truncated_files)
{
    unsigned i;

    for (i = 0; i < 300; i++)
        in_child(truncate_case, 77 + i, 0);
}
END_TEST

START_TEST(test_noise_index_and_arena)
{
    unsigned i;

    for (i = 0; i < 300; i++)
        in_child(noise_case, 1000 + i, 0);
}
END_TEST

static Suite *
hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("errors");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_random_flips_in_live_table);
    tcase_add_test(tc, test_truncated_files);
    tcase_add_test(tc, test_noise_index_and_arena);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(hostile_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
