/* SPDX-License-Identifier: MIT */
/*
 * check_entry.c -- the entry format and its checks (common/entry.h,
 * common/crc32c.c): known answers, the Hamming-distance claims proved
 * exhaustively where they can be and by random flips where they cannot,
 * the two-flip damage that format 1 missed, and the reader's one-pass
 * checksum against the writer's for every short key and value length.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crc32c.h"
#include "entry.h"
#include "error.h"
#include "hash.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

#define NOW 1700000000000ULL

static char *dir, *path;
static struct store *st;

static void
setup(void)
{
    dir = tu_tmpdir();
    path = tu_path(dir, "e.shm");
}

static void
teardown(void)
{
    store_close(st);
    st = NULL;
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* A table with room for one entry of up to max_value bytes. */
static void
open_table(uint64_t size, uint32_t max_value)
{
    struct store_geom g = {size, 0, FMT_KEY_MAX, max_value, 1, 0};
    char why[256];

    ck_assert_msg(store_create(path, &g, 0600, &st, why, sizeof(why)) == 0,
                  "%s", why);
}

/* The arena bytes of the entry that key links (the writer's mapping). */
static unsigned char *
entry_of(const void *key, size_t klen)
{
    uint32_t b1, b2, b[2], i, j;
    uint64_t h = hash_key(st->view.seed, key, klen), v;

    fmt_buckets(h, st->view.nbuckets, &b1, &b2);
    b[0] = b1;
    b[1] = b2;
    for (j = 0; j < 2; j++)
        for (i = 0; i < FMT_SLOTS; i++) {
            v = st->buckets[b[j]].b_slot[i];
            if (v != 0 && FMT_SLOT_TAG(v) == (uint32_t)(h >> 32))
                return st->arena + (uint64_t)FMT_SLOT_POS(v) * FMT_UNIT;
        }
    ck_abort_msg("key not linked");
    return NULL;
}

/* ---- core ---- */

START_TEST(test_crc32c_known_answers)
{
    unsigned char buf[4096];
    uint64_t state = 7;
    uint32_t a, b;
    size_t n;

    /* RFC 3720 B.4: 32 bytes of zeros, 32 bytes of ones. */
    memset(buf, 0, 32);
    ck_assert_uint_eq(crc32c_final(crc32c_bytes(CRC32C_INIT, buf, 32)),
                      0x8a9136aau);
    memset(buf, 0xff, 32);
    ck_assert_uint_eq(crc32c_final(crc32c_bytes(CRC32C_INIT, buf, 32)),
                      0x62a8ab43u);
    /* The instruction (when the CPU has it) and the table agree. */
    for (n = 0; n < sizeof(buf); n++)
        buf[n] = (unsigned char)tu_rand(&state);
    for (n = 0; n <= sizeof(buf) / 8; n += 1 + n / 7) {
        a = crc32c_words(CRC32C_INIT, NULL, buf, n);
        b = crc32c_words_portable(CRC32C_INIT, NULL, buf, n);
        ck_assert_uint_eq(a, b);
    }
}
END_TEST

START_TEST(test_crc8_catches_any_three_bits_of_lengths)
{
    /* The length fields and their CRC-8 form a 56-bit codeword; every
     * pattern of 1, 2 or 3 flipped bits must change the syndrome.  The
     * code is linear, so one data word proves it for all. */
    uint64_t data = 0x0badcafe1234ULL, e, cw, bad;
    int i, j, k, n = 0;

    cw =
        data |
        (uint64_t)entry_lcheck((uint32_t)data, (uint32_t)(data >> 32) & 0xffffu)
            << 48;
    for (i = 0; i < 56; i++)
        for (j = i; j < 56; j++)
            for (k = j; k < 56; k++) {
                e = (1ULL << i) | (1ULL << j) | (1ULL << k);
                bad = cw ^ e;
                ck_assert_msg(entry_lcheck((uint32_t)bad,
                                           (uint32_t)(bad >> 32) & 0xffffu) !=
                                  (uint8_t)(bad >> 48),
                              "missed bits %d %d %d", i, j, k);
                n++;
            }
    ck_assert_int_gt(n, 29000);
}
END_TEST

START_TEST(test_reader_and_writer_checksums_agree)
{
    unsigned char key[64], val[80], buf[80];
    struct table_hit hit;
    uint32_t kl, vl;

    open_table(4 << 20, 4096);
    /* Every alignment of key end and value end. */
    for (kl = 1; kl <= 40; kl++)
        for (vl = 0; vl <= 72; vl++) {
            memset(key, (int)kl, kl);
            key[0] = (unsigned char)vl;
            memset(val, (int)(kl * 7 + vl), vl);
            ck_assert_int_eq(
                store_set(st, key, kl, val, vl, 0, 0, STORE_SET, NOW), 0);
            memset(buf, 0xaa, sizeof(buf));
            ck_assert_int_eq(
                table_lookup(&st->view, key, kl, buf, sizeof(buf), NOW, &hit),
                0);
            ck_assert_uint_eq(hit.vlen, vl);
            ck_assert(memcmp(buf, val, vl) == 0);
        }
}
END_TEST

START_TEST(test_expiry_encoding)
{
    uint64_t epoch = NOW, x;

    ck_assert_uint_eq(entry_expiry_encode(0, epoch), 0);
    ck_assert_uint_eq(entry_expiry_decode(0, epoch), 0);
    /* Exact both sides of the epoch. */
    x = entry_expiry_encode(epoch + 12345, epoch);
    ck_assert_uint_eq(entry_expiry_decode(x, epoch), epoch + 12345);
    x = entry_expiry_encode(epoch - 12345, epoch);
    ck_assert_uint_eq(entry_expiry_decode(x, epoch), epoch - 12345);
    /* The epoch itself is never confused with "never". */
    x = entry_expiry_encode(epoch, epoch);
    ck_assert_uint_ne(x, 0);
    ck_assert_uint_eq(entry_expiry_decode(x, epoch), epoch - 1);
    /* Far futures clamp to about 17 years, never to "never". */
    x = entry_expiry_encode(epoch + (1ULL << 50), epoch);
    ck_assert_uint_ne(x, 0);
    ck_assert_uint_gt(entry_expiry_decode(x, epoch), epoch + (1ULL << 38));
}
END_TEST

/* ---- errors ---- */

/*
 * Format 1's sum checksum let "balance=0000100" with two flipped bits (one
 * in the key, one in the value, same bit position) read back as
 * "balancd=0000101".  Format 2 reports the entry damaged instead.
 */
START_TEST(test_two_flips_of_one_bit_are_caught)
{
    struct table_hit hit;
    unsigned char *e;
    char buf[32];
    struct store *again;
    char why[256];

    open_table(1 << 20, 1024);
    ck_assert_int_eq(
        store_set(st, "balance", 7, "0000100", 7, 0, 0, STORE_SET, NOW), 0);
    e = entry_of("balance", 7);
    e[sizeof(struct fmt_entry) + 6] ^= 1;     /* 'e' -> 'd' */
    e[sizeof(struct fmt_entry) + 7 + 6] ^= 1; /* '0' -> '1' */
    ck_assert_int_ne(
        table_lookup(&st->view, "balance", 7, buf, sizeof(buf), NOW, &hit), 0);
    /* The damaged key is not found under its new spelling either (its tag
     * is the old key's), and the verifier drops the entry. */
    ck_assert_int_ne(
        table_lookup(&st->view, "balancd", 7, buf, sizeof(buf), NOW, &hit), 0);
    store_abandon(st); /* "crash": no clean close */
    st = NULL;
    ck_assert_int_eq(store_open(path, &again, why, sizeof(why)), 0);
    ck_assert_uint_eq(again->verified.dropped, 1);
    ck_assert_uint_eq(again->entries, 0);
    st = again;
}
END_TEST

/*
 * 1, 2 and 3 random bit flips anywhere in an entry (header, key, value)
 * of every size class, up to 1 MiB: a lookup never returns a value, and
 * the verifier's test (entry_sound + CRC-32C) always rejects the entry.
 */
START_TEST(test_random_flips_always_detected)
{
    static const uint32_t klens[] = {1, 7, 8, 9, 16, 250, 4096};
    static const uint32_t vlens[] = {0, 1, 7, 8, 100, 1000, 65536, 1u << 20};
    unsigned char *key = malloc(FMT_KEY_MAX), *val = malloc(1u << 20);
    unsigned char *buf = malloc(1u << 20), *e;
    uint64_t state = 2024, nbits, bit[3], trials = 0;
    struct table_hit hit;
    struct entry_head h;
    size_t ki, vi, t, i;
    int nflip, rc;

    open_table(8u << 20, 1u << 20);
    for (ki = 0; ki < sizeof(klens) / sizeof(klens[0]); ki++)
        for (vi = 0; vi < sizeof(vlens) / sizeof(vlens[0]); vi++) {
            uint32_t kl = klens[ki], vl = vlens[vi];
            for (i = 0; i < kl; i++)
                key[i] = (unsigned char)tu_rand(&state);
            for (i = 0; i < vl; i++)
                val[i] = (unsigned char)tu_rand(&state);
            store_flush(st);
            ck_assert_int_eq(
                store_set(st, key, kl, val, vl, NOW + 99999, 0, STORE_SET, NOW),
                0);
            e = entry_of(key, kl);
            nbits = ((uint64_t)sizeof(struct fmt_entry) + kl + vl) * 8;
            for (t = 0; t < 300; t++, trials++) {
                nflip = 1 + (int)(t % 3);
                for (i = 0; i < (size_t)nflip; i++) {
                    /* Distinct bits: a repeated one would cancel. */
                    do
                        bit[i] = tu_rand(&state) % nbits;
                    while ((i > 0 && bit[i] == bit[0]) ||
                           (i > 1 && bit[i] == bit[1]));
                    e[bit[i] / 8] ^= (unsigned char)(1u << (bit[i] % 8));
                }
                rc = table_lookup(&st->view, key, kl, buf, 1u << 20, NOW, &hit);
                ck_assert_msg(rc != 0, "k=%u v=%u flips=%d: value returned", kl,
                              vl, nflip);
                entry_decode(((uint64_t *)e)[0], ((uint64_t *)e)[1],
                             st->view.lim.epoch_ms, &h);
                ck_assert(
                    entry_sound(&h, (uint64_t)(e - st->arena), &st->view.lim) !=
                        ENTRY_OK ||
                    entry_crc(&h, e + sizeof(struct fmt_entry)) != h.check);
                for (i = 0; i < (size_t)nflip; i++)
                    e[bit[i] / 8] ^= (unsigned char)(1u << (bit[i] % 8));
            }
            /* Restored: found again. */
            ck_assert_int_eq(
                table_lookup(&st->view, key, kl, buf, 1u << 20, NOW, &hit), 0);
        }
    ck_assert_uint_eq(trials, 7 * 8 * 300);
    free(key);
    free(val);
    free(buf);
}
END_TEST

static Suite *
entry_suite(void)
{
    Suite *s = suite_create("entry");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_crc32c_known_answers);
    tcase_add_test(tc, test_crc8_catches_any_three_bits_of_lengths);
    tcase_add_test(tc, test_reader_and_writer_checksums_agree);
    tcase_add_test(tc, test_expiry_encoding);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_two_flips_of_one_bit_are_caught);
    tcase_add_test(tc, test_random_flips_always_detected);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(entry_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
