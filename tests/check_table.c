/* SPDX-License-Identifier: MIT */
/*
 * check_table.c -- the writer API (daemon/store.c, evict.c) seen through a
 * separate read-only mapping with the lock-free lookup (common/table.c).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "hash.h"
#include "log.h"
#include "seqlock.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

static char *dir, *path;
static struct store *st;
static struct table rd;
static int rd_fd = -1;
static char why[256];

#define NOW 1700000000000ULL /* fixed "now" so expiry needs no sleeping */

/* Create a table of the given geometry and a reader on it. */
static void
open_table(uint64_t size, uint32_t nbuckets, uint32_t max_key,
           uint32_t max_value)
{
    struct store_geom g = {size, nbuckets, max_key, max_value, 1, 0};
    int rc;

    rc = store_create(path, &g, 0600, &st, why, sizeof(why));
    ck_assert_msg(rc == 0, "store_create: %s", why);
    rd_fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(rd_fd, 0);
    rc = table_open_fd(&rd, rd_fd, why, sizeof(why));
    ck_assert_msg(rc == 0, "table_open_fd: %s", why);
}

static void
setup(void)
{
    dir = tu_tmpdir();
    path = tu_path(dir, "t.shm");
    st = NULL;
    rd_fd = -1;
}

static void
teardown(void)
{
    if (rd_fd >= 0) {
        table_close(&rd);
        close(rd_fd);
    }
    store_close(st);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* Look a string key up; returns the code and copies into buf. */
static int
get(const char *key, char *buf, size_t size, size_t *vlen)
{
    struct table_hit hit;
    int rc = table_lookup(&rd, key, strlen(key), buf, size, NOW, &hit);

    if (vlen != NULL)
        *vlen = hit.vlen;
    return rc;
}

static int
set(const char *key, const char *val, uint64_t expiry, int mode)
{
    return store_set(st, key, strlen(key), val, strlen(val), expiry, 0, mode,
                     NOW);
}

/* ---- core ---- */

START_TEST(test_set_get_replace_delete)
{
    char buf[64];
    size_t n;

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(get("a", buf, sizeof(buf), &n), SHMC_ENOTFOUND);
    ck_assert_int_eq(set("a", "one", 0, STORE_SET), 0);
    ck_assert_int_eq(get("a", buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(buf, "one", 3);
    ck_assert_int_eq(set("a", "second", 0, STORE_SET), 0);
    ck_assert_int_eq(get("a", buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 6);
    ck_assert_mem_eq(buf, "second", 6);
    ck_assert_uint_eq(st->hdr->h_entries, 1);
    ck_assert_int_eq(store_delete(st, "a", 1, NOW), 0);
    ck_assert_int_eq(get("a", buf, sizeof(buf), &n), SHMC_ENOTFOUND);
    ck_assert_int_eq(store_delete(st, "a", 1, NOW), SHMC_ENOTFOUND);
    ck_assert_uint_eq(st->hdr->h_entries, 0);
    ck_assert_uint_eq(st->hdr->h_sets, 2);
    ck_assert_uint_eq(st->hdr->h_deletes, 1);
}
END_TEST

START_TEST(test_add_replace)
{
    char buf[16];

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(set("k", "v1", 0, STORE_REPLACE), SHMC_ENOTFOUND);
    ck_assert_int_eq(set("k", "v1", 0, STORE_ADD), 0);
    ck_assert_int_eq(set("k", "v2", 0, STORE_ADD), SHMC_EEXISTS);
    ck_assert_int_eq(set("k", "v3", 0, STORE_REPLACE), 0);
    ck_assert_int_eq(get("k", buf, sizeof(buf), NULL), 0);
    ck_assert_mem_eq(buf, "v3", 2);
    /* An expired key counts as absent for add and replace. */
    ck_assert_int_eq(set("e", "old", NOW - 1, STORE_SET), 0);
    ck_assert_int_eq(set("e", "new", 0, STORE_REPLACE), SHMC_ENOTFOUND);
    ck_assert_int_eq(set("e", "new", 0, STORE_ADD), 0);
    ck_assert_int_eq(get("e", buf, sizeof(buf), NULL), 0);
    ck_assert_mem_eq(buf, "new", 3);
}
END_TEST

START_TEST(test_expiry_and_touch)
{
    char buf[16];

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(set("live", "x", NOW + 1000, STORE_SET), 0);
    ck_assert_int_eq(set("dead", "x", NOW, STORE_SET), 0);
    ck_assert_int_eq(get("live", buf, sizeof(buf), NULL), 0);
    ck_assert_int_eq(get("dead", buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    /* The reader's clock decides. */
    struct table_hit hit;
    ck_assert_int_eq(
        table_lookup(&rd, "live", 4, buf, sizeof(buf), NOW + 1000, &hit),
        SHMC_ENOTFOUND);
    ck_assert_uint_eq(hit.expiry_ms, NOW + 1000);
    /* touch moves the deadline and keeps the value intact. */
    ck_assert_int_eq(store_touch(st, "live", 4, NOW + 5000, NOW), 0);
    ck_assert_int_eq(
        table_lookup(&rd, "live", 4, buf, sizeof(buf), NOW + 1000, &hit), 0);
    ck_assert_int_eq(store_touch(st, "dead", 4, NOW + 5000, NOW),
                     SHMC_ENOTFOUND);
    ck_assert_int_eq(store_touch(st, "nope", 4, NOW + 5000, NOW),
                     SHMC_ENOTFOUND);
    /* The sweep unlinks what expired and counts it. */
    ck_assert_uint_eq(store_expire(st, NOW + 2000, 1u << 20), 1);
    ck_assert_uint_eq(st->hdr->h_expirations, 1);
    ck_assert_uint_eq(st->hdr->h_entries, 1);
    ck_assert_uint_eq(store_expire(st, NOW + 6000, 1u << 20), 1);
    ck_assert_uint_eq(st->hdr->h_entries, 0);
}
END_TEST

START_TEST(test_negative_entries)
{
    char buf[16];

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(store_set(st, "gone", 4, NULL, 0, NOW + 100,
                               FMT_ENTRY_NEGATIVE, STORE_SET, NOW),
                     0);
    ck_assert_int_eq(get("gone", buf, sizeof(buf), NULL), SHMC_ENEGATIVE);
    /* A negative entry with a value, or unknown flags, is refused. */
    ck_assert_int_eq(
        store_set(st, "x", 1, "v", 1, 0, FMT_ENTRY_NEGATIVE, STORE_SET, NOW),
        -EINVAL);
    ck_assert_int_eq(
        store_set(st, "x", 1, "v", 1, 0, FMT_ENTRY_PAD, STORE_SET, NOW),
        -EINVAL);
    /* A real value replaces the negative entry. */
    ck_assert_int_eq(set("gone", "back", 0, STORE_SET), 0);
    ck_assert_int_eq(get("gone", buf, sizeof(buf), NULL), 0);
}
END_TEST

START_TEST(test_empty_value_and_binary_key)
{
    const char key[5] = {0, 1, 0, 2, 0};
    char buf[8];
    struct table_hit hit;

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(store_set(st, key, 5, "", 0, 0, 0, STORE_SET, NOW), 0);
    ck_assert_int_eq(table_lookup(&rd, key, 5, buf, 0, NOW, &hit), 0);
    ck_assert_uint_eq(hit.vlen, 0);
    /* Same bytes, one shorter: a different key. */
    ck_assert_int_eq(table_lookup(&rd, key, 4, buf, 8, NOW, &hit),
                     SHMC_ENOTFOUND);
}
END_TEST

START_TEST(test_flush)
{
    char k[32], buf[16];
    int i;

    open_table(1 << 20, 0, 0, 0);
    for (i = 0; i < 100; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_int_eq(set(k, "v", 0, STORE_SET), 0);
    }
    store_flush(st);
    ck_assert_uint_eq(st->hdr->h_entries, 0);
    ck_assert_uint_eq(fmt_ring_used(st->hdr->h_ring, rd.arena_size), 0);
    for (i = 0; i < 100; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_int_eq(get(k, buf, sizeof(buf), NULL), SHMC_ENOTFOUND);
    }
    ck_assert_int_eq(set("after", "flush", 0, STORE_SET), 0);
    ck_assert_int_eq(get("after", buf, sizeof(buf), NULL), 0);
}
END_TEST

START_TEST(test_reopen_keeps_entries)
{
    char k[32], buf[64];
    struct table_hit hit;
    int i;

    open_table(1 << 20, 0, 0, 0);
    for (i = 0; i < 500; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_int_eq(set(k, k, 0, STORE_SET), 0);
    }
    ck_assert_int_eq(store_delete(st, "key:000000000007", 16, NOW), 0);
    store_close(st);
    st = NULL;
    ck_assert_uint_eq(rd.hdr->h_clean, 1);
    ck_assert_int_eq(store_open(path, &st, why, sizeof(why)), 0);
    ck_assert_uint_eq(rd.hdr->h_clean, 0);
    ck_assert_uint_eq(st->entries, 499);
    for (i = 0; i < 500; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_int_eq(
            table_lookup(&rd, k, strlen(k), buf, sizeof(buf), NOW, &hit),
            i == 7 ? SHMC_ENOTFOUND : 0);
    }
    /* And the writer carries on where it stopped. */
    ck_assert_int_eq(set("new", "x", 0, STORE_SET), 0);
    ck_assert_int_eq(get("new", buf, sizeof(buf), NULL), 0);
}
END_TEST

START_TEST(test_retired_and_odd_sequence_repair)
{
    char buf[16];
    struct table_hit hit;
    uint32_t b1, b2;
    uint64_t h;
    double t0;

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(set("k", "v", 0, STORE_SET), 0);
    /* A writer that died mid-section leaves its bucket odd: readers give
     * up with EBUSY after a bounded number of tries ... */
    h = hash_key(rd.seed, "k", 1);
    fmt_buckets(h, rd.nbuckets, &b1, &b2);
    st->buckets[b1].b_seq |= 1u;
    t0 = tu_now();
    ck_assert_int_eq(table_lookup(&rd, "k", 1, buf, sizeof(buf), NOW, &hit),
                     SHMC_EBUSY);
    ck_assert_uint_gt(hit.retries, SEQ_SPIN_MAX);
    /* ... after about the budget: not instantly, not forever. */
    ck_assert_double_ge(tu_now() - t0, rd.busy_ms / 1000.0 * 0.5);
    ck_assert_double_lt(tu_now() - t0, 2.0);
    /* ... and the next writer to open the table repairs it. */
    store_close(st);
    ck_assert_int_eq(store_open(path, &st, why, sizeof(why)), 0);
    ck_assert_int_eq(get("k", buf, sizeof(buf), NULL), 0);
    store_retire(st);
    ck_assert_int_eq(get("k", buf, sizeof(buf), NULL), SHMC_ERETIRED);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_key_and_value_limits)
{
    char key[65], *val, buf[8];
    size_t n;

    open_table(1 << 20, 0, 64, 4000);
    memset(key, 'k', sizeof(key));
    val = calloc(1, 4001);
    ck_assert_int_eq(store_set(st, key, 64, val, 4000, 0, 0, STORE_SET, NOW),
                     0);
    ck_assert_int_eq(store_set(st, key, 65, "v", 1, 0, 0, STORE_SET, NOW),
                     SHMC_ETOOBIG);
    ck_assert_int_eq(store_set(st, key, 1, val, 4001, 0, 0, STORE_SET, NOW),
                     SHMC_ETOOBIG);
    ck_assert_int_eq(store_set(st, key, 0, "v", 1, 0, 0, STORE_SET, NOW),
                     SHMC_ETOOBIG);
    {
        struct table_hit hit;
        ck_assert_int_eq(table_lookup(&rd, key, 65, buf, 8, NOW, &hit),
                         SHMC_ETOOBIG);
        ck_assert_int_eq(table_lookup(&rd, key, 0, buf, 8, NOW, &hit),
                         SHMC_ETOOBIG);
    }
    /* Too small a buffer: ERANGE and the length needed. */
    key[64] = '\0';
    ck_assert_int_eq(get(key, buf, sizeof(buf), &n), SHMC_ERANGE);
    ck_assert_uint_eq(n, 4000);
    free(val);
}
END_TEST

START_TEST(test_largest_value)
{
    struct store_geom g = {64u << 20, 0, 250, 16u << 20, 1, 0};
    struct table_hit hit;
    unsigned char *v, *out;
    size_t vlen = 16u << 20;
    int rc;

    rc = store_create(path, &g, 0600, &st, why, sizeof(why));
    ck_assert_msg(rc == 0, "%s", why);
    rd_fd = open(path, O_RDONLY);
    ck_assert_int_eq(table_open_fd(&rd, rd_fd, why, sizeof(why)), 0);
    v = malloc(vlen);
    out = malloc(vlen);
    tu_value(v, vlen, "big", 3, 42);
    ck_assert_int_eq(store_set(st, "big", 3, v, vlen, 0, 0, STORE_SET, NOW), 0);
    ck_assert_int_eq(table_lookup(&rd, "big", 3, out, vlen, NOW, &hit), 0);
    ck_assert_uint_eq(hit.vlen, vlen);
    ck_assert(memcmp(v, out, vlen) == 0);
    free(v);
    free(out);
}
END_TEST

START_TEST(test_fifo_eviction_when_arena_full)
{
    char k[32], val[200], buf[256];
    uint64_t n = 0, i, hits = 0, version;
    struct table_hit hit;

    /* Small arena, plenty of index: memory is the limit. */
    open_table(128 * 1024, 256, 0, 0);
    for (i = 0; i < 5000; i++) {
        tu_key(k, sizeof(k), i);
        tu_value(val, sizeof(val), k, 16, i);
        ck_assert_int_eq(
            store_set(st, k, 16, val, sizeof(val), 0, 0, STORE_SET, NOW), 0);
        n++;
    }
    ck_assert_uint_gt(st->hdr->h_evictions, 4000);
    ck_assert_uint_eq(st->hdr->h_entries + st->hdr->h_evictions, n);
    ck_assert_uint_le(fmt_ring_used(st->hdr->h_ring, rd.arena_size),
                      rd.arena_size);
    /* FIFO: the newest keys are all present, the oldest gone. */
    for (i = 0; i < 5000; i++) {
        tu_key(k, sizeof(k), i);
        int rc = table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit);
        if (rc == 0) {
            ck_assert(tu_value_ok(buf, hit.vlen, k, 16, &version));
            ck_assert_uint_eq(version, i);
            hits++;
        } else {
            ck_assert_int_eq(rc, SHMC_ENOTFOUND);
            ck_assert_uint_lt(i, 5000 - st->hdr->h_entries);
        }
    }
    ck_assert_uint_eq(hits, st->hdr->h_entries);
    /* Space is reused: fill level stays high. */
    ck_assert_uint_gt(fmt_ring_used(st->hdr->h_ring, rd.arena_size),
                      rd.arena_size * 3 / 4);
}
END_TEST

/*
 * Reclaim before evicting: a 1 MiB table holding 2,000 live keys (about a
 * third of its arena) while one other key is rewritten 10,000 times.  In
 * format 2's first cut the ring's tail reached the live keys and dropped
 * all 2,000; now they are moved forward and the dead copies reclaimed.
 */
START_TEST(test_rewriting_one_key_evicts_no_other)
{
    char k[32], val[160], buf[256];
    struct table_hit hit;
    uint64_t version;
    int i;

    open_table(1 << 20, 0, 0, 0);
    for (i = 0; i < 2000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(val, sizeof(val), k, 16, (uint64_t)i);
        ck_assert_int_eq(
            store_set(st, k, 16, val, sizeof(val), 0, 0, STORE_SET, NOW), 0);
    }
    ck_assert_uint_lt(st->live, st->arena_size / 2);
    for (i = 0; i < 10000; i++) {
        tu_value(val, sizeof(val), "hot-key-0000000x", 16, (uint64_t)i);
        ck_assert_int_eq(store_set(st, "hot-key-0000000x", 16, val, sizeof(val),
                                   0, 0, STORE_SET, NOW),
                         0);
    }
    ck_assert_uint_eq(st->hdr->h_evictions, 0);
    ck_assert_uint_eq(st->hdr->h_evictions_index, 0);
    ck_assert_uint_gt(st->hdr->h_moves, 0);
    for (i = 0; i < 2000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_int_eq(table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit),
                         0);
        ck_assert(tu_value_ok(buf, hit.vlen, k, 16, &version));
        ck_assert_uint_eq(version, (uint64_t)i);
    }
    /* The stats add up: every byte of the ring is live or dead. */
    ck_assert_uint_eq(st->hdr->h_live_bytes,
                      2001 * FMT_ENTRY_SIZE(16, sizeof(val)));
    ck_assert_uint_ge(fmt_ring_used(st->hdr->h_ring, st->arena_size),
                      st->hdr->h_live_bytes);
}
END_TEST

/* Above the high-water mark of live data, the oldest live entries go. */
START_TEST(test_live_data_above_the_mark_is_evicted_oldest_first)
{
    char k[32], val[200], buf[256];
    struct table_hit hit;
    uint64_t i, n = 20000, first_hit = UINT64_MAX;

    open_table(1 << 20, 0, 0, 0);
    for (i = 0; i < n; i++) {
        tu_key(k, sizeof(k), i);
        tu_value(val, sizeof(val), k, 16, i);
        ck_assert_int_eq(
            store_set(st, k, 16, val, sizeof(val), 0, 0, STORE_SET, NOW), 0);
        ck_assert_uint_le(st->live, st->arena_size);
    }
    ck_assert_uint_gt(st->hdr->h_evictions, 10000);
    /* Live data stays near the mark, not far below it. */
    ck_assert_uint_gt(st->live, st->live_hwm * 8 / 10);
    for (i = 0; i < n; i++) {
        tu_key(k, sizeof(k), i);
        if (table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit) == 0 &&
            first_hit == UINT64_MAX)
            first_hit = i;
        else if (first_hit != UINT64_MAX)
            ck_assert_msg(
                table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit) == 0,
                "key %llu missing after the oldest kept, %llu",
                (unsigned long long)i, (unsigned long long)first_hit);
    }
    ck_assert_uint_eq(n - first_hit, st->entries);
}
END_TEST

START_TEST(test_mixed_sizes_never_fail)
{
    static unsigned char val[20000], buf[20000];
    char k[32];
    uint64_t seed = 7, i, len, version;
    struct table_hit hit;

    /* Varying sizes fragment nothing: every set succeeds. */
    open_table(256 * 1024, 0, 0, 20000);
    for (i = 0; i < 20000; i++) {
        tu_key(k, sizeof(k), i % 3000);
        len = 32 + tu_rand(&seed) % (sizeof(val) - 32);
        if (i % 10 != 0)
            len %= 300;
        if (len < 32)
            len = 32;
        tu_value(val, len, k, 16, i);
        ck_assert_int_eq(store_set(st, k, 16, val, len, 0, 0, STORE_SET, NOW),
                         0);
        ck_assert_int_eq(table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit),
                         0);
        ck_assert(tu_value_ok(buf, hit.vlen, k, 16, &version));
        ck_assert_uint_eq(version, i);
    }
}
END_TEST

START_TEST(test_bucket_pressure_evicts_oldest)
{
    char k[32], buf[64];
    struct table_hit hit;
    uint64_t i, present = 0;

    /* 2 buckets = 14 slots, large arena: the index is the limit. */
    open_table(1 << 20, 2, 0, 0);
    for (i = 0; i < 100; i++) {
        tu_key(k, sizeof(k), i);
        ck_assert_int_eq(set(k, "v", 0, STORE_SET), 0);
    }
    ck_assert_uint_eq(st->hdr->h_entries, 2 * FMT_SLOTS);
    ck_assert_uint_eq(st->hdr->h_evictions_index, 100 - 2 * FMT_SLOTS);
    for (i = 0; i < 100; i++) {
        tu_key(k, sizeof(k), i);
        if (table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit) == 0) {
            ck_assert_uint_ge(i, 100 - 2 * FMT_SLOTS);
            present++;
        }
    }
    ck_assert_uint_eq(present, 2 * FMT_SLOTS);
}
END_TEST

START_TEST(test_relocation_fills_the_index)
{
    char k[32], buf[64];
    struct table_hit hit;
    uint64_t i, hits = 0;

    /* 64 buckets = 448 slots; 400 keys is 89% of the index.  Two choices
     * plus relocation keep almost all of them. */
    open_table(1 << 20, 64, 0, 0);
    for (i = 0; i < 400; i++) {
        tu_key(k, sizeof(k), i);
        ck_assert_int_eq(set(k, k, 0, STORE_SET), 0);
    }
    ck_assert_uint_gt(st->hdr->h_relocations, 0);
    ck_assert_uint_eq(st->hdr->h_entries + st->hdr->h_evictions +
                          st->hdr->h_evictions_index,
                      400);
    ck_assert_uint_ge(st->hdr->h_entries, 380);
    for (i = 0; i < 400; i++) {
        tu_key(k, sizeof(k), i);
        if (table_lookup(&rd, k, 16, buf, sizeof(buf), NOW, &hit) == 0) {
            ck_assert_mem_eq(buf, k, 16);
            hits++;
        }
    }
    ck_assert_uint_eq(hits, st->hdr->h_entries);
}
END_TEST

START_TEST(test_entry_larger_than_arena)
{
    struct store_geom g = {1 << 20, 0, 250, 600000, 1, 0};

    /* A limit that cannot fit half the arena is refused at creation. */
    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "does not fit"));
    ck_assert_int_eq(access(path, F_OK), -1);
    g.max_value = 0; /* default limit shrinks to fit instead */
    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)), 0);
    ck_assert_uint_le(FMT_ENTRY_SIZE(st->hdr->h_max_key, st->hdr->h_max_value),
                      st->arena_size / 2);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_open_rejects_bad_files)
{
    struct store *s2;
    int fd;

    ck_assert_int_eq(store_open(path, &s2, why, sizeof(why)), -ENOENT);
    fd = open(path, O_RDWR | O_CREAT, 0600);
    ck_assert_int_eq(ftruncate(fd, 100), 0);
    ck_assert_int_eq(store_open(path, &s2, why, sizeof(why)), SHMC_ECORRUPT);
    ck_assert_int_eq(ftruncate(fd, 1 << 16), 0);
    ck_assert_int_eq(store_open(path, &s2, why, sizeof(why)), SHMC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(why, "magic"));
    close(fd);
}
END_TEST

START_TEST(test_second_writer_refused)
{
    struct store *s2;

    open_table(1 << 20, 0, 0, 0);
    ck_assert_int_eq(store_open(path, &s2, why, sizeof(why)), -EBUSY);
}
END_TEST

START_TEST(test_bad_geometry)
{
    struct store_geom g = {1000, 0, 0, 0, 1, 0};

    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)),
                     -EINVAL);
    g.file_size = 1 << 20;
    g.nbuckets = FMT_MAX_BUCKETS + 1u;
    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)),
                     -EINVAL);
    g.nbuckets = 0;
    g.max_key = FMT_KEY_MAX + 1;
    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)),
                     -EINVAL);
    g.max_key = 0;
    g.nbuckets = 1u << 20; /* 64 MiB of index in 1 MiB */
    ck_assert_int_eq(store_create(path, &g, 0600, &st, why, sizeof(why)),
                     -EINVAL);
    g.nbuckets = 0;
    ck_assert_int_eq(
        store_create("/nonexistent/dir/t.shm", &g, 0600, &st, why, sizeof(why)),
        -ENOENT);
}
END_TEST

/* One crash-and-damage case: see test_unclean_reopen_is_verified. */
static void
crash_case(uint64_t seed, int nflips)
{
    struct store_geom g = {256 * 1024, 64, 64, 1024, 1, 0};
    unsigned char val[600], buf[1024];
    struct table_hit hit;
    struct store *s;
    uint64_t i, r, off;
    char k[32];
    pid_t pid;
    int status, rc;

    /* A writer fills the table and dies without closing it ... */
    pid = fork();
    if (pid == 0) {
        if (store_create(path, &g, 0600, &s, why, sizeof(why)) != 0)
            _exit(1);
        for (i = 0; i < 2000; i++) {
            tu_key(k, sizeof(k), i % 700);
            tu_value(val, 40 + i % 500, k, 16, i);
            store_set(s, k, 16, val, 40 + i % 500, i % 3 ? 0 : NOW + 1000, 0,
                      STORE_SET, NOW);
        }
        /* ... after random damage to its index and arena. */
        for (i = 0; i < (uint64_t)nflips; i++) {
            r = tu_rand(&seed);
            off = s->hdr->h_index_off +
                  (r >> 8) % (s->size - s->hdr->h_index_off);
            s->base[off] ^= (unsigned char)(1 + (r >> 40) % 255);
        }
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The next writer verifies, then works on the table; nothing it does
     * may crash, and readers get only intact values. */
    rc = store_open(path, &s, why, sizeof(why));
    ck_assert_msg(rc == 0, "seed %llu: %s", (unsigned long long)seed, why);
    ck_assert(!s->was_clean);
    if (nflips == 0)
        ck_assert_uint_eq(s->verified.dropped, 0);
    for (i = 0; i < 3000; i++) {
        tu_key(k, sizeof(k), i % 900);
        tu_value(val, 40 + i % 400, k, 16, i);
        if (i % 7 == 0)
            store_delete(s, k, 16, NOW);
        else if (i % 11 == 0)
            store_touch(s, k, 16, NOW + 5000, NOW);
        else
            ck_assert_int_eq(
                store_set(s, k, 16, val, 40 + i % 400, 0, 0, STORE_SET, NOW),
                0);
    }
    store_expire(s, NOW + 2000, 1u << 20);
    for (i = 0; i < 900; i++) {
        tu_key(k, sizeof(k), i);
        rc = table_lookup(&s->view, k, 16, buf, sizeof(buf), NOW, &hit);
        if (rc == 0)
            ck_assert(tu_value_ok(buf, hit.vlen, k, 16, NULL));
        else
            ck_assert_int_eq(rc, SHMC_ENOTFOUND);
    }
    store_close(s);
    unlink(path);
}

START_TEST(test_unclean_reopen_is_verified)
{
    uint64_t i;

    for (i = 0; i < 150; i++)
        crash_case(0xc0ffee + i, (int)(i % 3 == 0 ? 0 : 1 + i % 40));
}
END_TEST

START_TEST(test_reader_cannot_write)
{
    pid_t pid;
    int status;

    open_table(1 << 20, 0, 0, 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The reader's mapping is PROT_READ: a store must fault.  (Let
         * the kernel deliver it: sanitizers catch SIGSEGV themselves.) */
        signal(SIGSEGV, SIG_DFL);
        ((volatile unsigned char *)rd.base)[0] = 1;
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGSEGV);
}
END_TEST

static Suite *
table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc;

    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_set_get_replace_delete);
    tcase_add_test(tc, test_add_replace);
    tcase_add_test(tc, test_expiry_and_touch);
    tcase_add_test(tc, test_negative_entries);
    tcase_add_test(tc, test_empty_value_and_binary_key);
    tcase_add_test(tc, test_flush);
    tcase_add_test(tc, test_reopen_keeps_entries);
    tcase_add_test(tc, test_retired_and_odd_sequence_repair);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_key_and_value_limits);
    tcase_add_test(tc, test_largest_value);
    tcase_add_test(tc, test_fifo_eviction_when_arena_full);
    tcase_add_test(tc, test_mixed_sizes_never_fail);
    tcase_add_test(tc, test_rewriting_one_key_evicts_no_other);
    tcase_add_test(tc, test_live_data_above_the_mark_is_evicted_oldest_first);
    tcase_add_test(tc, test_bucket_pressure_evicts_oldest);
    tcase_add_test(tc, test_relocation_fills_the_index);
    tcase_add_test(tc, test_entry_larger_than_arena);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_open_rejects_bad_files);
    tcase_add_test(tc, test_second_writer_refused);
    tcase_add_test(tc, test_bad_geometry);
    tcase_add_test(tc, test_reader_cannot_write);
    tcase_add_test(tc, test_unclean_reopen_is_verified);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(table_suite());
    int failed;

    /* The crash cases make verify.c warn, as it should; keep the log to
     * real errors. */
    log_init("check_table", LOG_LVL_ERR);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
