/* SPDX-License-Identifier: MIT */
/*
 * check_crash.c -- the writer killed at every step, and header words torn.
 *
 * This suite links a copy of the writer compiled with SHMC_CRASH_TEST, in
 * which every store to shared memory (and the rename that commits a
 * rebuilt table) calls crash_point().  A scripted workload -- sets of
 * every size, negative entries, deletes, touches, add/replace, bucket
 * overflows (relocations and victims), arena wraps (evictions and pads),
 * a flush and a resize that rebuilds the table -- is first run to the end
 * on a reference copy, recording every key's state after each operation.
 * Then, for every crash point N (every stride-th by default, see below;
 * SHMC_CRASH_STRIDE=1 for all of them), a child process starts from the same
 * initial file and _exits at its N-th store; the parent reopens the file
 * (verification) and checks each key against the reference: its state
 * must be what it was before the operation in flight or after it.  So no
 * crash point loses an entry that was linked, resurrects an old one, or
 * serves a wrong value; and the reopened table must take writes again.
 *
 * The header test tears one mutable header word at a time (state, clean
 * flag, heartbeat, ring, seal, counters) on a closed table and checks
 * that reopening keeps every entry.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"
#include "log.h"
#include "migrate.h"
#include "seqlock.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

#define NOW 1700000000000ULL
#define NKEYS 100
#define NOPS 240
#define CRASHED 42

/* ---- the crash hook ---- */

static unsigned long crash_countdown; /* 0: disarmed */
static unsigned long crash_steps;     /* stores made so far */

/* Called before every store the writer makes (see seqlock.h). */
void
crash_point(void)
{
    crash_steps++;
    if (crash_countdown != 0 && --crash_countdown == 0)
        _exit(CRASHED);
}

/* ---- the workload ---- */

/* One key's state as a reader sees it. */
struct kstate {
    int rc; /* table_lookup() result */
    uint32_t vlen;
    uint32_t vsum; /* CRC of the value */
    uint64_t expiry_ms;
};

static char *dir, *path, *ref_path, *init_path;
static struct kstate snap[NOPS + 1][NKEYS];

static void
setup(void)
{
    /* Thousands of verifications: their warnings are expected. */
    log_set_level(LOG_LVL_ERR);
    dir = tu_tmpdir();
    path = tu_path(dir, "t.shm");
    ref_path = tu_path(dir, "ref.shm");
    init_path = tu_path(dir, "init.shm");
}

static void
teardown(void)
{
    tu_rmtree(dir);
    free(path);
    free(ref_path);
    free(init_path);
}

/* Copy a file (the pristine table) over another. */
static void
copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;

    ck_assert(in != NULL && out != NULL);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

/* What every key looks like in s now. */
static void
take_snapshot(struct store *s, struct kstate *ks)
{
    unsigned char buf[1024];
    struct table_hit hit;
    char k[32];
    int i;

    for (i = 0; i < NKEYS; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        memset(&ks[i], 0, sizeof(ks[i]));
        ks[i].rc = table_lookup(&s->view, k, 16, buf, sizeof(buf), NOW, &hit);
        if (ks[i].rc == 0 || ks[i].rc == SHMC_ENEGATIVE) {
            ks[i].vlen = (uint32_t)hit.vlen;
            ks[i].vsum = crc32c_bytes(CRC32C_INIT, buf, hit.vlen);
            ks[i].expiry_ms = hit.expiry_ms;
        }
    }
}

/* The key operation i works on. */
static int
op_key(int i)
{
    return (int)((((uint64_t)i * 0x9e3779b97f4a7c15ULL) >> 32) % NKEYS);
}

/* Operation i of the script on *s (which a resize replaces). */
static void
run_op(struct store **s, int i)
{
    uint64_t r = (uint64_t)i * 0x9e3779b97f4a7c15ULL, ver = (uint64_t)i;
    unsigned char val[1024];
    char k[32], why[256];
    uint32_t vlen;
    int kind = (int)(r >> 59) % 20, key = op_key(i);

    tu_key(k, sizeof(k), (uint64_t)key);
    vlen = 64 + (uint32_t)((r >> 8) % 900);
    tu_value(val, vlen, k, 16, ver);
    if (i == NOPS / 2) {
        store_flush(*s);
    } else if (i == NOPS - 1) {
        /* A resize: a bigger table built from this one's entries. */
        struct store_geom g = {96 * 1024, 0, 64, 1024, 2, 200};
        struct migrate_src src = {*s, NULL, 0, NOW, 0, 0, 0};
        struct store *n;
        int rc = store_build((*s)->path, dup((*s)->lock_fd), &g, 0600,
                             migrate_fill, &src, &n, why, sizeof(why));
        if (rc != 0) {
            fprintf(stderr, "resize: %s\n", why);
            _exit(3);
        }
        store_retire(*s);
        store_close(*s);
        *s = n;
    } else if (kind < 10) {
        (void)store_set(*s, k, 16, val, vlen, NOW + 100000 + ver, 0, STORE_SET,
                        NOW);
    } else if (kind < 12) {
        (void)store_set(*s, k, 16, NULL, 0, NOW + 50000, FMT_ENTRY_NEGATIVE,
                        STORE_SET, NOW);
    } else if (kind < 15) {
        (void)store_delete(*s, k, 16, NOW);
    } else if (kind < 17) {
        (void)store_touch(*s, k, 16, NOW + 200000 + ver, NOW);
    } else if (kind < 19) {
        (void)store_set(*s, k, 16, val, vlen, 0, 0, STORE_ADD, NOW);
    } else {
        (void)store_set(*s, k, 16, val, vlen, 0, 0, STORE_REPLACE, NOW);
    }
}

/* The two tables the script runs on: a small index, so that buckets
 * overflow (relocations, index evictions), and a large one, so that the
 * arena is the limit (live entries moved forward, capacity evictions). */
static const uint32_t geometry_buckets[2] = {4, 32};

/* The pristine table every run starts from: small, so that the script
 * wraps the arena many times. */
static void
make_initial(int geometry)
{
    struct store_geom g = {32 * 1024, geometry_buckets[geometry], 64, 1024, 1,
                           0};
    struct store *s;
    char why[256];

    ck_assert_msg(store_create(init_path, &g, 0600, &s, why, sizeof(why)) == 0,
                  "%s", why);
    /* A fixed seed and epoch instead of random ones: every run places the
     * same keys in the same buckets, so a failure can be replayed. */
    s->hdr->h_seed[0] = 0x0123456789abcdefULL;
    s->hdr->h_seed[1] = 0xfedcba9876543210ULL + (uint64_t)geometry;
    s->hdr->h_epoch_ms = NOW;
    s->hdr->h_geom_check = fmt_geom_check(s->hdr);
    store_close(s);
}

/* Run the whole script on a copy, snapshotting after every operation.
 * Returns the number of crash points the run passes. */
static unsigned long
reference_run(int geometry)
{
    struct store *s;
    char why[256];
    unsigned long before;
    int i;

    copy_file(init_path, ref_path);
    before = crash_steps;
    ck_assert_int_eq(store_open(ref_path, &s, why, sizeof(why)), 0);
    take_snapshot(s, snap[0]);
    for (i = 0; i < NOPS; i++) {
        if (i == NOPS - 1 && geometry == 0) {
            /* The script did what it is for before the resize. */
            ck_assert_uint_gt(s->evictions_index, 20);
            ck_assert_uint_gt(s->relocations, 0);
        } else if (i == NOPS - 1) {
            ck_assert_uint_gt(s->evictions, 5);
            ck_assert_uint_gt(s->moves, 20);
        }
        run_op(&s, i);
        take_snapshot(s, snap[i + 1]);
    }
    store_close(s);
    return crash_steps - before;
}

/* ---- tests ---- */

START_TEST(test_crash_at_every_store)
{
    volatile int *progress = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct kstate now[NKEYS];
    unsigned long total, n, trials = 0, crashed = 0, stride;
    struct store *s;
    char why[256];
    int status, k, i, op;
    pid_t pid;

    make_initial(_i);
    total = reference_run(_i);
    /* Something happened in the script: keys came and went. */
    ck_assert_uint_gt(total, 5000);
    /* Every crash point with SHMC_CRASH_STRIDE=1; by default about 6,000
     * of them, spread evenly (each trial replays the script from the
     * start, so the whole set grows with the square of its length). */
    stride = tu_env_uint("SHMC_CRASH_STRIDE", 0);
    if (stride == 0)
        stride = total / 6000 + 1;
    for (n = 1; n <= total + stride; n += stride) {
        copy_file(init_path, path);
        *progress = -1;
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            crash_countdown = n;
            *progress = 0;
            if (store_open(path, &s, why, sizeof(why)) != 0)
                _exit(2);
            for (i = 0; i < NOPS; i++) {
                *progress = i;
                run_op(&s, i);
            }
            *progress = NOPS;
            store_close(s);
            _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        trials++;
        if (WEXITSTATUS(status) == 0)
            break; /* past the last crash point */
        ck_assert_int_eq(WEXITSTATUS(status), CRASHED);
        crashed++;
        op = *progress;
        ck_assert_int_ge(op, 0);
        /* Reopen as the next daemon would, and judge every key. */
        ck_assert_msg(store_open(path, &s, why, sizeof(why)) == 0,
                      "crash %lu: reopen: %s", n, why);
        take_snapshot(s, now);
        for (k = 0; k < NKEYS; k++) {
            const struct kstate *a = &snap[op][k],
                                *b = &snap[op < NOPS ? op + 1 : op][k];
            /* The key being written may also be absent: making room for
             * its new version may evict its old one, as it may any other
             * key's (those show as absent in the state after). */
            if (op < NOPS && k == op_key(op) && now[k].rc == SHMC_ENOTFOUND)
                continue;
            ck_assert_msg(memcmp(&now[k], a, sizeof(*a)) == 0 ||
                              memcmp(&now[k], b, sizeof(*b)) == 0,
                          "crash point %lu (op %d): key %d is rc=%d vlen=%u, "
                          "before rc=%d vlen=%u, after rc=%d vlen=%u",
                          n, op, k, now[k].rc, now[k].vlen, a->rc, a->vlen,
                          b->rc, b->vlen);
        }
        /* And it takes writes again. */
        ck_assert_int_eq(
            store_set(s, "after-crash", 11, "v", 1, 0, 0, STORE_SET, NOW), 0);
        store_close(s);
    }
    printf("# crash: buckets=%u %lu crash points over %d operations, every "
           "%lu-th tried: %lu crashes verified\n",
           geometry_buckets[_i], total, NOPS, stride, crashed);
    ck_assert_uint_ge(crashed, total / stride - 2);
    munmap((void *)progress, 4096);
}
END_TEST

START_TEST(test_torn_header_words_lose_nothing)
{
    static const size_t offs[] = {
        offsetof(struct fmt_header, h_state),
        offsetof(struct fmt_header, h_clean),
        offsetof(struct fmt_header, h_heartbeat_ms),
        offsetof(struct fmt_header, h_ring),
        offsetof(struct fmt_header, h_seal),
        offsetof(struct fmt_header, h_entries),
        offsetof(struct fmt_header, h_sets),
        offsetof(struct fmt_header, h_evictions),
    };
    static const uint64_t junk[] = {0, 1, 0xffffffffffffffffULL,
                                    0x0000000100000002ULL,
                                    0x00000fff00000fffULL};
    struct kstate base[NKEYS], now[NKEYS];
    struct store *s;
    char why[256];
    size_t o, j;
    int clean, i;

    make_initial(0);
    copy_file(init_path, ref_path);
    ck_assert_int_eq(store_open(ref_path, &s, why, sizeof(why)), 0);
    for (i = 0; i < NOPS / 2 - 1; i++)
        run_op(&s, i);
    take_snapshot(s, base);
    store_close(s);
    for (o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
        for (j = 0; j < sizeof(junk) / sizeof(junk[0]); j++)
            for (clean = 0; clean < 2; clean++) {
                copy_file(ref_path, path);
                ck_assert_int_eq(store_open(path, &s, why, sizeof(why)), 0);
                /* Tear: write the word the way a stray store would. */
                store_abandon(s);
                {
                    FILE *f = fopen(path, "r+b");
                    uint32_t c = (uint32_t)clean;
                    ck_assert(f != NULL);
                    fseek(f, (long)offs[o], SEEK_SET);
                    if (offs[o] == offsetof(struct fmt_header, h_state) ||
                        offs[o] == offsetof(struct fmt_header, h_clean)) {
                        uint32_t v = (uint32_t)junk[j];
                        fwrite(&v, 4, 1, f);
                    } else {
                        fwrite(&junk[j], 8, 1, f);
                    }
                    if (offs[o] != offsetof(struct fmt_header, h_clean)) {
                        fseek(f, (long)offsetof(struct fmt_header, h_clean),
                              SEEK_SET);
                        fwrite(&c, 4, 1, f);
                    }
                    fclose(f);
                }
                ck_assert_msg(store_open(path, &s, why, sizeof(why)) == 0,
                              "word at %zu = %llx clean=%d: %s", offs[o],
                              (unsigned long long)junk[j], clean, why);
                take_snapshot(s, now);
                for (i = 0; i < NKEYS; i++)
                    ck_assert_msg(
                        memcmp(&now[i], &base[i], sizeof(now[i])) == 0,
                        "word at %zu = %llx clean=%d: key %d lost", offs[o],
                        (unsigned long long)junk[j], clean, i);
                /* The ring it runs on holds: a burst of writes keeps every
                 * key readable or cleanly evicted, never damaged. */
                for (i = 0; i < 300; i++) {
                    char k[32];
                    unsigned char v[200];
                    tu_key(k, sizeof(k), (uint64_t)(i % NKEYS));
                    tu_value(v, sizeof(v), k, 16, (uint64_t)i);
                    ck_assert_int_eq(
                        store_set(s, k, 16, v, sizeof(v), 0, 0, STORE_SET, NOW),
                        0);
                }
                take_snapshot(s, now);
                for (i = 0; i < NKEYS; i++)
                    ck_assert(now[i].rc == 0 || now[i].rc == SHMC_ENOTFOUND);
                store_close(s);
            }
}
END_TEST

static Suite *
crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("errors");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_crash_at_every_store, 0, 2);
    tcase_add_test(tc, test_torn_header_words_lose_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(crash_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
