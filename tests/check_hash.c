/* SPDX-License-Identifier: MIT */
/*
 * check_hash.c -- SipHash against published vectors, seeding, spread over
 * buckets, and the entry checksum's detection guarantee.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "format.h"
#include "testutil.h"

/* ---- core ---- */

START_TEST(test_siphash24_vectors)
{
    /* Key 00..0f, message 00..n-1 (the SipHash paper, appendix A). */
    static const struct {
        size_t n;
        uint64_t h;
    } v[] = {
        {0, 0x726fdb47dd0e0e31ULL},
        {1, 0x74f839c593dc67fdULL},
        {2, 0x0d6c8009d9a94f5aULL},
        {15, 0xa129ca6149be45e5ULL},
    };
    uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    unsigned char msg[64];
    size_t i;

    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)i;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ck_assert_msg(hash_siphash(key, msg, v[i].n, 2, 4) == v[i].h,
                      "SipHash-2-4 of %zu bytes", v[i].n);
}
END_TEST

START_TEST(test_seed_changes_hash)
{
    uint64_t s1[2] = {1, 2}, s2[2] = {1, 3};

    ck_assert(hash_key(s1, "abc", 3) != hash_key(s2, "abc", 3));
    ck_assert(hash_key(s1, "abc", 3) == hash_key(s1, "abc", 3));
    ck_assert(hash_key(s1, "abc", 3) != hash_key(s1, "abd", 3));
    ck_assert(hash_key(s1, "abc", 3) != hash_key(s1, "abc\0", 4));
}
END_TEST

START_TEST(test_bucket_spread)
{
    /* 100k sequential keys over 1000 buckets (not a power of two): no
     * bucket far from the mean (100), for b1 and for b2 alike. */
    uint64_t seed[2] = {0x1234, 0x5678};
    static unsigned c1[1024], c2[1024];
    uint32_t b1, b2, i, max1 = 0, max2 = 0;
    char k[32];

    for (i = 0; i < 100000; i++) {
        size_t n = tu_key(k, sizeof(k), i);
        fmt_buckets(hash_key(seed, k, n), 1000, &b1, &b2);
        ck_assert_uint_ne(b1, b2);
        ck_assert_uint_lt(b1, 1000);
        ck_assert_uint_lt(b2, 1000);
        c1[b1]++;
        c2[b2]++;
    }
    for (i = 0; i < 1000; i++) {
        max1 = c1[i] > max1 ? c1[i] : max1;
        max2 = c2[i] > max2 ? c2[i] : max2;
    }
    ck_assert_uint_lt(max1, 160);
    ck_assert_uint_lt(max2, 160);
}
END_TEST

static Suite *
hash_suite(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_siphash24_vectors);
    tcase_add_test(tc, test_seed_changes_hash);
    tcase_add_test(tc, test_bucket_spread);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(hash_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
