/* SPDX-License-Identifier: MIT */
/*
 * check_seqlock.c -- the seqlock primitives alone: the single-threaded
 * contract, then one writer process and two reader processes over a shared
 * mapping, where a record of eight equal words must never be seen mixed.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seqlock.h"
#include "testutil.h"

struct rec {
    uint64_t seq;
    uint32_t stop;
    uint64_t w[8];
    uint64_t reads[2], retries[2], torn[2];
};

/* ---- core ---- */

START_TEST(test_contract)
{
    uint64_t seq = 0, s1;

    s1 = seq_read_begin(&seq);
    ck_assert_int_eq(seq_read_retry(&seq, s1), 0);
    seq_write_begin(&seq);
    ck_assert_uint_eq(seq & 1u, 1);
    /* A section begun while odd never validates. */
    ck_assert_int_ne(seq_read_retry(&seq, seq_read_begin(&seq)), 0);
    seq_write_end(&seq);
    ck_assert_uint_eq(seq, 2);
    /* A section that spans a write does not validate. */
    ck_assert_int_ne(seq_read_retry(&seq, s1), 0);
}
END_TEST

START_TEST(test_store_words_zero_fills)
{
    uint64_t dst[3] = {~0ULL, ~0ULL, ~0ULL};

    seq_store_words(dst, "abcdefghij", 10);
    ck_assert_mem_eq(dst, "abcdefghij\0\0\0\0\0\0", 16);
    ck_assert_uint_eq(dst[2], ~0ULL);
}
END_TEST

/* ---- limits ---- */

/* Reader: copy the record, keep it only if the section validates. */
static void
reader(struct rec *r, int id)
{
    uint64_t copy[8], s1;
    int i;

    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        s1 = seq_read_begin(&r->seq);
        if (s1 & 1u) {
            r->retries[id]++;
            continue;
        }
        for (i = 0; i < 8; i++)
            copy[i] = seq_load_word(&r->w[i]);
        if (seq_read_retry(&r->seq, s1)) {
            r->retries[id]++;
            continue;
        }
        for (i = 1; i < 8; i++)
            if (copy[i] != copy[0])
                r->torn[id]++;
        r->reads[id]++;
    }
    _exit(0);
}

START_TEST(test_processes_never_see_torn_records)
{
    struct rec *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double end = tu_now() + tu_env_uint("SHMC_SEQLOCK_SECONDS", 2);
    pid_t pid[2];
    uint64_t n = 0;
    int i, j, status;

    ck_assert_ptr_ne(r, MAP_FAILED);
    for (i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0)
            reader(r, i);
    }
    while (tu_now() < end) {
        for (j = 0; j < 1000; j++, n++) {
            seq_write_begin(&r->seq);
            for (i = 0; i < 8; i++)
                seq_store_u64(&r->w[i], n);
            seq_write_end(&r->seq);
        }
    }
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    printf("# seqlock: writes=%llu reads=%llu+%llu retries=%llu+%llu\n",
           (unsigned long long)n, (unsigned long long)r->reads[0],
           (unsigned long long)r->reads[1], (unsigned long long)r->retries[0],
           (unsigned long long)r->retries[1]);
    ck_assert_uint_eq(r->torn[0] + r->torn[1], 0);
    ck_assert_uint_gt(r->reads[0], 0);
    ck_assert_uint_gt(r->reads[1], 0);
    munmap(r, sizeof(*r));
}
END_TEST

static Suite *
seqlock_suite(void)
{
    Suite *s = suite_create("seqlock");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_contract);
    tcase_add_test(tc, test_store_words_zero_fills);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_processes_never_see_torn_records);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(seqlock_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
