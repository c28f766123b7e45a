/* SPDX-License-Identifier: MIT */
/*
 * check_proto.c -- the control-socket codec: every request round-trips,
 * and every truncated, padded, or random frame is refused, never
 * misread.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "proto.h"
#include "testutil.h"

static const uint8_t ops[] = {
    PROTO_OP_HELLO,   PROTO_OP_PING,   PROTO_OP_SET,   PROTO_OP_ADD,
    PROTO_OP_REPLACE, PROTO_OP_DELETE, PROTO_OP_TOUCH, PROTO_OP_INCR,
    PROTO_OP_DECR,    PROTO_OP_SETNEG, PROTO_OP_GET,   PROTO_OP_FLUSH,
    PROTO_OP_SYNC,    PROTO_OP_STATS,  PROTO_OP_LIST,  PROTO_OP_OPEN,
    PROTO_OP_LOAD,
};

/* ---- core ---- */

START_TEST(test_round_trip_every_op)
{
    unsigned char buf[256];
    struct proto_req r;
    size_t n, i;

    for (i = 0; i < sizeof(ops); i++) {
        n = proto_request(buf, sizeof(buf), ops[i], 77, "default", "key", 3,
                          "value", 5, 60, 9);
        ck_assert_uint_le(n, sizeof(buf));
        ck_assert_int_eq(proto_decode(buf, n, &r), 0);
        ck_assert_uint_eq(r.op, ops[i]);
        ck_assert_uint_eq(r.id, 77);
        if (ops[i] == PROTO_OP_HELLO) {
            ck_assert_uint_eq(r.version, PROTO_VERSION);
            continue;
        }
        if (ops[i] == PROTO_OP_PING || ops[i] == PROTO_OP_LIST)
            continue;
        ck_assert_uint_eq(r.tlen, 7);
        ck_assert_mem_eq(r.table, "default", 7);
        switch (ops[i]) {
        case PROTO_OP_SET:
        case PROTO_OP_ADD:
        case PROTO_OP_REPLACE:
            ck_assert_uint_eq(r.vlen, 5);
            ck_assert_mem_eq(r.val, "value", 5);
            /* fall through */
        case PROTO_OP_TOUCH:
        case PROTO_OP_SETNEG:
            ck_assert_uint_eq(r.ttl_s, 60);
            break;
        case PROTO_OP_INCR:
        case PROTO_OP_DECR:
            ck_assert_uint_eq(r.delta, 9);
            break;
        }
        if (ops[i] < PROTO_OP_FLUSH) {
            ck_assert_uint_eq(r.klen, 3);
            ck_assert_mem_eq(r.key, "key", 3);
        }
    }
}
END_TEST

START_TEST(test_batch)
{
    unsigned char items[256], buf[512];
    const unsigned char *cur;
    struct proto_item it;
    struct proto_req r;
    size_t n = 0, left, f;
    int i;

    for (i = 0; i < 3; i++) {
        char k[16], v[16];
        snprintf(k, sizeof(k), "k%d", i % 10);
        snprintf(v, sizeof(v), "value%d", i % 10);
        n += proto_batch_item(items + n, sizeof(items) - n, k, strlen(k), v,
                              strlen(v), (uint32_t)i);
    }
    f = proto_request(buf, sizeof(buf), PROTO_OP_BATCH, 1, "t", NULL, 0, items,
                      n, 0, 3);
    ck_assert_int_eq(proto_decode(buf, f, &r), 0);
    ck_assert_uint_eq(r.count, 3);
    cur = r.items;
    left = r.items_len;
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(proto_batch_next(&cur, &left, &it), 1);
        ck_assert_uint_eq(it.ttl_s, (uint32_t)i);
        ck_assert_uint_eq(it.klen, 2);
        ck_assert_uint_eq(it.vlen, 6);
    }
    ck_assert_int_eq(proto_batch_next(&cur, &left, &it), 0);
    /* A truncated item list is refused at the item that is cut. */
    cur = r.items;
    left = r.items_len - 1;
    ck_assert_int_eq(proto_batch_next(&cur, &left, &it), 1);
    ck_assert_int_eq(proto_batch_next(&cur, &left, &it), 1);
    ck_assert_int_eq(proto_batch_next(&cur, &left, &it), SHMC_EPROTO);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_every_truncation_refused)
{
    unsigned char buf[256];
    struct proto_req r;
    size_t n, i, cut;

    for (i = 0; i < sizeof(ops); i++) {
        n = proto_request(buf, sizeof(buf), ops[i], 1, "tbl", "k", 1, "vv", 2,
                          1, 1);
        for (cut = 0; cut < n; cut++) {
            /* As sent (length field disagrees) ... */
            ck_assert_int_eq(proto_decode(buf, cut, &r), SHMC_EPROTO);
            /* ... and with the length field fixed up to match. */
            if (cut >= 4) {
                proto_put32(buf, (uint32_t)cut);
                ck_assert_msg(proto_decode(buf, cut, &r) == SHMC_EPROTO ||
                                  ops[i] == PROTO_OP_BATCH,
                              "op %#x cut at %zu accepted", ops[i], cut);
                proto_put32(buf, (uint32_t)n);
            }
        }
    }
}
END_TEST

START_TEST(test_trailing_bytes_and_bad_fields)
{
    unsigned char buf[256];
    struct proto_req r;
    size_t n;

    n = proto_request(buf, sizeof(buf), PROTO_OP_GET, 1, "t", "k", 1, NULL, 0,
                      0, 0);
    buf[n] = 0;
    proto_put32(buf, (uint32_t)n + 1);
    ck_assert_int_eq(proto_decode(buf, n + 1, &r), SHMC_EPROTO);
    proto_put32(buf, (uint32_t)n);
    buf[5] = 1; /* reserved flags */
    ck_assert_int_eq(proto_decode(buf, n, &r), SHMC_EPROTO);
    buf[5] = 0;
    buf[4] = 0x7f; /* unknown op */
    ck_assert_int_eq(proto_decode(buf, n, &r), SHMC_EPROTO);
    /* Empty key, empty table (where one is required), long table. */
    n = proto_request(buf, sizeof(buf), PROTO_OP_GET, 1, "t", "", 0, NULL, 0, 0,
                      0);
    ck_assert_int_eq(proto_decode(buf, n, &r), SHMC_EPROTO);
    n = proto_request(buf, sizeof(buf), PROTO_OP_GET, 1, "", "k", 1, NULL, 0, 0,
                      0);
    ck_assert_int_eq(proto_decode(buf, n, &r), SHMC_EPROTO);
    n = proto_request(buf, sizeof(buf), PROTO_OP_STATS, 1, "", NULL, 0, NULL, 0,
                      0, 0);
    ck_assert_int_eq(proto_decode(buf, n, &r), 0);
    {
        char longname[PROTO_TABLE_MAX + 2];
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        n = proto_request(buf, sizeof(buf), PROTO_OP_FLUSH, 1, longname, NULL,
                          0, NULL, 0, 0, 0);
        ck_assert_int_eq(proto_decode(buf, n, &r), SHMC_EPROTO);
    }
    /* A value length that points past the frame. */
    n = proto_request(buf, sizeof(buf), PROTO_OP_SET, 1, "t", "k", 1, "v", 1, 0,
                      0);
    proto_put32(buf + n - 5, 0xffffffffu);
    ck_assert_int_eq(proto_decode(buf, n, &r), SHMC_EPROTO);
    /* The encoder reports a frame that does not fit. */
    ck_assert_uint_gt(proto_request(buf, 16, PROTO_OP_SET, 1, "t", "k", 1,
                                    "0123456789", 10, 0, 0),
                      16);
}
END_TEST

START_TEST(test_random_frames)
{
    unsigned char buf[64];
    struct proto_req r;
    uint64_t seed = 4242;
    size_t n, i, j;
    int ok = 0;

    /* Random bodies behind well-formed headers: decode must stay inside
     * the frame (ASan would see otherwise) and anything accepted must
     * point inside it. */
    for (i = 0; i < 200000; i++) {
        n = PROTO_HDR + tu_rand(&seed) % (sizeof(buf) - PROTO_HDR);
        for (j = 0; j < n; j++)
            buf[j] = (unsigned char)tu_rand(&seed);
        proto_header(buf, (uint32_t)n, ops[tu_rand(&seed) % sizeof(ops)], 1);
        if (proto_decode(buf, n, &r) == 0) {
            ok++;
            if (r.key != NULL)
                ck_assert(r.key >= buf && r.key + r.klen <= buf + n);
            if (r.val != NULL)
                ck_assert(r.val >= buf && r.val + r.vlen <= buf + n);
        }
    }
    ck_assert_int_gt(ok, 0);
}
END_TEST

static Suite *
proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_round_trip_every_op);
    tcase_add_test(tc, test_batch);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_truncation_refused);
    tcase_add_test(tc, test_trailing_bytes_and_bad_fields);
    tcase_add_test(tc, test_random_frames);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(proto_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
