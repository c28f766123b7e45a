/* SPDX-License-Identifier: MIT */
/*
 * check_format.c -- the header validates, and each damaged or foreign
 * header is refused with the right code and a reason.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "format.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

static char *dir, *path;
static struct store *st;
static struct fmt_header h;
static char why[256];

static void
setup(void)
{
    struct store_geom g = {1 << 20, 0, 0, 0, 5, 0};

    dir = tu_tmpdir();
    path = tu_path(dir, "t.shm");
    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)), 0);
    memcpy(&h, st->hdr, sizeof(h));
}

static void
teardown(void)
{
    store_close(st);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* ---- core ---- */

START_TEST(test_created_header)
{
    ck_assert_int_eq(fmt_validate(&h, 1 << 20, why, sizeof(why)), 0);
    ck_assert_uint_eq(h.h_magic, FMT_MAGIC);
    ck_assert_mem_eq(&h.h_magic, "SHMCACHE", 8);
    ck_assert_uint_eq(h.h_version, FMT_VERSION);
    ck_assert_uint_eq(h.h_generation, 5);
    ck_assert_uint_eq(h.h_state, FMT_STATE_ALIVE);
    ck_assert_uint_eq(h.h_arena_off % FMT_PAGE, 0);
    ck_assert_uint_ge(h.h_arena_off, FMT_PAGE + h.h_nbuckets * FMT_LINE);
    ck_assert(h.h_seed[0] != 0 || h.h_seed[1] != 0);
}
END_TEST

START_TEST(test_two_tables_have_different_seeds)
{
    struct store_geom g = {1 << 20, 0, 0, 0, 1, 0};
    struct store *s2;
    char *p2 = tu_path(dir, "u.shm");

    ck_assert_int_eq(store_create(p2, &g, 0600, &s2, why, sizeof(why)), 0);
    ck_assert(memcmp(s2->hdr->h_seed, h.h_seed, sizeof(h.h_seed)) != 0);
    store_close(s2);
    free(p2);
}
END_TEST

START_TEST(test_entry_geometry)
{
    /* Format 2: 16 bytes of header, key and value back to back. */
    ck_assert_uint_eq(FMT_ENTRY_SIZE(1, 0), 24);
    ck_assert_uint_eq(FMT_ENTRY_SIZE(8, 0), 24);
    ck_assert_uint_eq(FMT_ENTRY_SIZE(9, 0), 32);
    ck_assert_uint_eq(FMT_ENTRY_SIZE(16, 100), 136);
    ck_assert_uint_eq(FMT_ENTRY_SIZE(16, 1000), 1032);
    ck_assert_uint_eq(FMT_ENTRY_SIZE(1, 0) % FMT_UNIT, 0);
    ck_assert_uint_eq(FMT_SLOT_TAG(FMT_SLOT(0xdeadbeef, 7)), 0xdeadbeef);
    ck_assert_uint_eq(FMT_SLOT_POS(FMT_SLOT(0xdeadbeef, 7)), 7);
    ck_assert(FMT_SLOT(0, 0) != 0);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_damaged_fields)
{
    struct fmt_header b;

#define EXPECT(field, value, code, text)                                       \
    do {                                                                       \
        memcpy(&b, &h, sizeof(b));                                             \
        b.field = (value);                                                     \
        ck_assert_int_eq(fmt_validate(&b, 1 << 20, why, sizeof(why)), code);   \
        ck_assert_msg(strstr(why, text) != NULL, "%s: %s", #field, why);       \
    } while (0)

    EXPECT(h_magic, FMT_MAGIC + 1, SHMC_ECORRUPT, "magic");
    EXPECT(h_version, FMT_VERSION + 1, SHMC_EVERSION, "version");
    EXPECT(h_header_size, 4096, SHMC_EVERSION, "header size");
    EXPECT(h_nbuckets, h.h_nbuckets * 2, SHMC_ECORRUPT, "checksum");
    EXPECT(h_arena_size, h.h_arena_size + 16, SHMC_ECORRUPT, "checksum");
    EXPECT(h_seed[0], h.h_seed[0] ^ 1, SHMC_ECORRUPT, "checksum");
#undef EXPECT
    /* The file size is checked against the real file. */
    ck_assert_int_eq(fmt_validate(&h, (1 << 20) + 4096, why, sizeof(why)),
                     SHMC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(why, "header says"));
    ck_assert_int_eq(fmt_validate(&h, 100, why, sizeof(why)), SHMC_ECORRUPT);
}
END_TEST

START_TEST(test_consistent_but_impossible_geometry)
{
    struct fmt_header b;

    /* A header whose checksum is right but whose geometry lies. */
#define EXPECT_GEOM(field, value, text)                                        \
    do {                                                                       \
        memcpy(&b, &h, sizeof(b));                                             \
        b.field = (value);                                                     \
        b.h_geom_check = fmt_geom_check(&b);                                   \
        ck_assert_int_eq(fmt_validate(&b, 1 << 20, why, sizeof(why)),          \
                         SHMC_ECORRUPT);                                       \
        ck_assert_msg(strstr(why, text) != NULL, "%s: %s", #field, why);       \
    } while (0)

    EXPECT_GEOM(h_nbuckets, 1, "bucket count");
    EXPECT_GEOM(h_nbuckets, 1u << 31, "bucket count");
    EXPECT_GEOM(h_index_off, 0, "index offset");
    EXPECT_GEOM(h_arena_off, 4096, "arena offset");
    EXPECT_GEOM(h_arena_off, 2u << 20, "arena offset");
    EXPECT_GEOM(h_arena_size, h.h_arena_size + 4096, "arena size");
    EXPECT_GEOM(h_arena_size, 17, "arena size");
    EXPECT_GEOM(h_arena_size, 12, "arena size");
    EXPECT_GEOM(h_arena_size, UINT64_MAX - 15, "arena size");
    EXPECT_GEOM(h_max_key, 0, "limits");
    EXPECT_GEOM(h_max_value, FMT_VALUE_MAX + 1, "limits");
    EXPECT_GEOM(h_max_value, (uint32_t)h.h_arena_size, "limits");
    EXPECT_GEOM(h_file_size, 2u << 20, "header says");
#undef EXPECT_GEOM
}
END_TEST

static Suite *
format_suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_created_header);
    tcase_add_test(tc, test_two_tables_have_different_seeds);
    tcase_add_test(tc, test_entry_geometry);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_damaged_fields);
    tcase_add_test(tc, test_consistent_but_impossible_geometry);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(format_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
