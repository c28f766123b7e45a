/* SPDX-License-Identifier: MIT */
/*
 * check_persist.c -- disk-mode tables across restarts, crashes and damage,
 * through the daemon and libshmcache.
 *
 * SHMC_CRASH_ITERATIONS (default 20) and SHMC_CORRUPT_ITERATIONS (default
 * 60) set the loop lengths; raise them for a longer local run.
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

#include "client.h"
#include "format.h"
#include "format_v1.h"
#include "hash.h"
#include "shmcache.h"
#include "testutil.h"

#define NKEYS 2000

static struct tdaemon d;
static const char *conf_json =
    "{\"log_level\": \"err\", \"sync_interval_s\": 1, \"tables\": {"
    "\"p\": {\"mode\": \"disk\", \"size_bytes\": 8388608, "
    "\"max_value_bytes\": 100000, \"default_ttl_s\": 0}}}";

static void
setup(void)
{
    ck_assert_msg(td_start(&d, conf_json, -1) == 0, "daemon did not start");
}

static void
teardown(void)
{
    td_free(&d);
}

/* ---- core ---- */

START_TEST(test_restart_keeps_10000_keys)
{
    char k[32], v[64], buf[64], cmd[1024], line[256];
    unsigned long lines = 0, good = 0;
    shmc_t *h;
    size_t n;
    FILE *f;
    int i;

    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (i = 0; i < 10000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "val-%s", k);
        ck_assert_int_eq(shmc_set(h, k, 16, v, strlen(v), 0), 0);
    }
    shmc_close(h);
    ck_assert_int_eq(td_stop(&d), 0); /* SIGTERM: synced, marked clean */
    ck_assert_int_eq(td_restart(&d), 0);

    /* By the library, through a fresh handle. */
    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (i = 0; i < 10000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "val-%s", k);
        ck_assert_int_eq(shmc_get(h, k, 16, buf, sizeof(buf), &n), 0);
        ck_assert_uint_eq(n, strlen(v));
        ck_assert_mem_eq(buf, v, n);
    }
    shmc_close(h);
    /* By shmcachectl: all of them in a dump ... */
    snprintf(cmd, sizeof(cmd), "%s -s %s -t p dump", getenv("SHMCACHECTL"),
             d.sock);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char key[32];
        lines++;
        if (sscanf(line, "{\"key\":\"%16[^\"]\"", key) == 1) {
            snprintf(v, sizeof(v), "\"value\":\"val-%s\"", key);
            good += strstr(line, v) != NULL;
        }
    }
    ck_assert_int_eq(pclose(f), 0);
    ck_assert_uint_eq(lines, 10000);
    ck_assert_uint_eq(good, 10000);
    /* ... and one by one for a sample. */
    for (i = 0; i < 10000; i += 500) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(cmd, sizeof(cmd), "%s -s %s -t p get %s",
                 getenv("SHMCACHECTL"), d.sock, k);
        f = popen(cmd, "r");
        ck_assert(fgets(buf, sizeof(buf), f) != NULL);
        ck_assert_int_eq(pclose(f), 0);
        snprintf(v, sizeof(v), "val-%s", k);
        ck_assert_str_eq(buf, v);
    }
}
END_TEST

/*
 * Write a format 1 disk table of nkeys keys, as the format 1 daemon laid
 * it out (8 MiB, 8192 buckets, 16-byte units), at path.
 */
static void
write_v1_table(const char *path, int nkeys, uint64_t *seed_out)
{
    uint64_t size = 8388608, nb = 8192, off = 0;
    struct v1_header hd;
    unsigned char *base;
    uint64_t *slots;
    char k[32], v[64];
    int fd, i;

    memset(&hd, 0, sizeof(hd));
    hd.h_magic = FMT_MAGIC;
    hd.h_version = V1_VERSION;
    hd.h_header_size = V1_HEADER_SIZE;
    hd.h_file_size = size;
    hd.h_index_off = 4096;
    hd.h_arena_off = 4096 + nb * 64;
    hd.h_arena_size = (size - hd.h_arena_off) & ~(uint64_t)15;
    hd.h_nbuckets = (uint32_t)nb;
    hd.h_max_key = 250;
    hd.h_max_value = 100000;
    hd.h_seed[0] = 0x1122334455667788ULL;
    hd.h_seed[1] = 0x99aabbccddeeff00ULL;
    hd.h_generation = 7;
    hd.h_geom_check = v1_geom_check(&hd);
    hd.h_state = 1;
    hd.h_clean = 1;
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(posix_fallocate(fd, 0, (off_t)size), 0);
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert(base != MAP_FAILED);
    slots = (uint64_t *)(base + 4096);
    for (i = 0; i < nkeys; i++) {
        struct v1_entry *e = (struct v1_entry *)(base + hd.h_arena_off + off);
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "v1-%s", k);
        e->e_klen = 16;
        e->e_vlen = (uint32_t)strlen(v);
        e->e_size = (uint32_t)V1_ENTRY_SIZE(16, e->e_vlen);
        e->e_flags = 0;
        e->e_hash = hash_key(hd.h_seed, k, 16);
        e->e_expiry_ms = 0;
        memcpy(e + 1, k, 16);
        memcpy((unsigned char *)e + V1_VALUE_OFF(16), v, e->e_vlen);
        e->e_check = v1_entry_check(e, k, v);
        /* Any slot will do: the converter reads every slot. */
        slots[(i / 7) * 8 + 1 + i % 7] =
            (e->e_hash >> 32 << 32) | (off / 16 + 1);
        off += e->e_size;
    }
    hd.h_ring_head = hd.h_ring_used = off;
    memcpy(base, &hd, sizeof(hd));
    munmap(base, size);
    close(fd);
    if (seed_out != NULL)
        *seed_out = hd.h_seed[0];
}

/* A format 1 disk table found at start is converted with every key. */
START_TEST(test_format1_table_is_converted)
{
    char k[32], v[64], buf[64], *path;
    struct shmc_info info;
    shmc_t *h;
    size_t n;
    int i;

    ck_assert_int_eq(td_stop(&d), 0);
    path = tu_path(d.state, "p.shm");
    write_v1_table(path, 10000, NULL);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    ck_assert_int_eq(shmc_info(h, &info, sizeof(info)), 0);
    ck_assert_uint_eq(info.format_version, 2);
    ck_assert_uint_eq(info.generation, 8);
    ck_assert_uint_eq(info.entries, 10000);
    for (i = 0; i < 10000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "v1-%s", k);
        ck_assert_int_eq(shmc_get(h, k, 16, buf, sizeof(buf), &n), 0);
        ck_assert_uint_eq(n, strlen(v));
        ck_assert_mem_eq(buf, v, n);
    }
    shmc_close(h);
    free(path);
}
END_TEST

/* Resizing a disk table keeps its data: all of it when growing, the
 * newest when shrinking below what it holds. */
START_TEST(test_resize_keeps_data)
{
    char k[32], v[64], buf[64];
    int i, present, newest_present;
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (i = 0; i < 10000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "val-%s", k);
        ck_assert_int_eq(shmc_set(h, k, 16, v, strlen(v), 0), 0);
    }
    shmc_close(h);
    /* Up: 8 -> 16 MiB, every key kept. */
    ck_assert_int_eq(td_stop(&d), 0);
    ck_assert_int_eq(
        td_write_conf(&d, "{\"log_level\": \"err\", \"tables\": {"
                          "\"p\": {\"mode\": \"disk\", \"size_bytes\": "
                          "16777216, \"max_value_bytes\": 100000, "
                          "\"default_ttl_s\": 0}}}"),
        0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (i = 0; i < 10000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "val-%s", k);
        ck_assert_msg(shmc_get(h, k, 16, buf, sizeof(buf), &n) == 0,
                      "key %d lost growing", i);
        ck_assert_mem_eq(buf, v, n);
    }
    shmc_close(h);
    /* Down: 16 MiB -> 512 KiB, which holds a few thousand: the newest. */
    ck_assert_int_eq(td_stop(&d), 0);
    ck_assert_int_eq(
        td_write_conf(&d, "{\"log_level\": \"err\", \"tables\": {"
                          "\"p\": {\"mode\": \"disk\", \"size_bytes\": "
                          "524288, \"max_value_bytes\": 1000, "
                          "\"default_ttl_s\": 0}}}"),
        0);
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (present = 0, newest_present = 0, i = 0; i < 10000; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        snprintf(v, sizeof(v), "val-%s", k);
        if (shmc_get(h, k, 16, buf, sizeof(buf), &n) != 0)
            continue;
        ck_assert_mem_eq(buf, v, n);
        present++;
        newest_present += i >= 9000;
    }
    shmc_close(h);
    ck_assert_int_gt(present, 2000);
    ck_assert_int_lt(present, 10000);
    ck_assert_int_eq(newest_present, 1000);
}
END_TEST

/* After a crash: every key acknowledged by a sync is there, at that
 * version or a later one, and every entry of the table is intact. */
static void
verify_after_crash(const uint64_t *synced, uint64_t top)
{
    unsigned char buf[512], key[64];
    uint64_t version, cursor = 0;
    size_t n, kl;
    char k[32];
    shmc_t *h;
    int i, rc, neg;

    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (i = 0; i < NKEYS; i++) {
        if (synced[i] == 0)
            continue;
        tu_key(k, sizeof(k), (uint64_t)i);
        rc = shmc_get(h, k, 16, buf, sizeof(buf), &n);
        ck_assert_msg(rc == 0, "key %d (synced v%llu): %s", i,
                      (unsigned long long)synced[i], shmc_strerror(rc));
        ck_assert(tu_value_ok(buf, n, k, 16, &version));
        ck_assert_uint_ge(version, synced[i]);
        ck_assert_uint_le(version, top);
    }
    while ((rc = shmc_scan(h, &cursor, key, sizeof(key), &kl, buf, sizeof(buf),
                           &n, NULL, &neg)) == 0)
        ck_assert_msg(kl == 16 && tu_value_ok(buf, n, key, 16, NULL),
                      "torn or misattributed entry in the table");
    ck_assert_int_eq(rc, SHMC_ENOTFOUND);
    shmc_close(h);
}

START_TEST(test_crash_loop)
{
    static uint64_t ver[NKEYS], synced[NKEYS];
    unsigned iters = tu_env_uint("SHMC_CRASH_ITERATIONS", 20), it;
    uint64_t seed = 0xc4a5, top = 0, r, syncs = 0, writes = 0;
    unsigned char val[400];
    size_t len;
    char k[32];
    shmc_t *h;
    pid_t killer;
    int i, rc;

    for (it = 0; it < iters; it++) {
        ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
        /* Someone SIGKILLs the daemon at a random moment ... */
        killer = fork();
        if (killer == 0) {
            usleep((useconds_t)(20000 + tu_rand(&seed) % 200000));
            kill(d.pid, SIGKILL);
            _exit(0);
        }
        /* ... while we write; each acknowledged sync is a promise. */
        for (i = 0;; i++) {
            r = tu_rand(&seed);
            tu_key(k, sizeof(k), r % NKEYS);
            len = 16 + TU_VALUE_OVERHEAD + (r >> 32) % 300;
            tu_value(val, len, k, 16, ++top);
            if (shmc_set(h, k, 16, val, len, 0) != 0)
                break;
            ver[r % NKEYS] = top;
            writes++;
            if (i % 64 == 63) {
                if (shmc_sync(h) != 0)
                    break;
                memcpy(synced, ver, sizeof(ver));
                syncs++;
            }
        }
        ck_assert_int_eq(waitpid(killer, NULL, 0), killer);
        td_kill(&d); /* reap it */
        shmc_close(h);
        rc = td_restart(&d);
        ck_assert_msg(rc == 0, "iteration %u: daemon did not restart", it);
        verify_after_crash(synced, top);
    }
    printf("# crash loop: %u SIGKILLs, %llu writes, %llu acknowledged "
           "syncs, every synced key intact\n",
           iters, (unsigned long long)writes, (unsigned long long)syncs);
}
END_TEST

START_TEST(test_unclean_start_extends_timeout)
{
    char buf[16];
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "k", 1, "v", 1, 0), 0);
    ck_assert_int_eq(shmc_sync(h), 0);
    shmc_close(h);
    td_kill(&d);
    /* Not closed cleanly: systemd is asked for time before READY=1. */
    ck_assert_int_eq(td_restart_expect(&d, "EXTEND_TIMEOUT_USEC="), 0);
    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    ck_assert_int_eq(shmc_get(h, "k", 1, buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

START_TEST(test_expired_entries_stay_dead)
{
    char buf[16];
    shmc_t *h;
    size_t n;

    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    ck_assert_int_eq(shmc_set(h, "short", 5, "v", 1, 1), 0);
    ck_assert_int_eq(shmc_set(h, "long", 4, "v", 1, 3600), 0);
    shmc_close(h);
    ck_assert_int_eq(td_stop(&d), 0);
    usleep(1300 * 1000); /* time passes while the daemon is down */
    ck_assert_int_eq(td_restart(&d), 0);
    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    /* Expiry is absolute wall-clock time: a restart does not revive. */
    ck_assert_int_eq(shmc_get(h, "short", 5, buf, sizeof(buf), &n),
                     SHMC_ENOTFOUND);
    ck_assert_int_eq(shmc_get(h, "long", 4, buf, sizeof(buf), &n), 0);
    shmc_close(h);
}
END_TEST

/* ---- errors ---- */

/* Where a key lives in a table image: the file offsets of its slot and of
 * its entry, and the entry's size. */
struct placement {
    uint64_t slot, entry, size;
};

/* Find key k (16 bytes) in a format 2 table image; 0 if it is not there. */
static int
locate_key(const unsigned char *img, const char *k, struct placement *pl)
{
    const struct fmt_header *h = (const struct fmt_header *)img;
    uint64_t hash = hash_key(h->h_seed, k, 16), v, so, eo;
    struct fmt_entry e;
    uint32_t b[2], i, j;

    fmt_buckets(hash, h->h_nbuckets, &b[0], &b[1]);
    for (j = 0; j < 2; j++)
        for (i = 0; i < FMT_SLOTS; i++) {
            so = h->h_index_off + (uint64_t)b[j] * FMT_LINE + 8 + i * 8;
            memcpy(&v, img + so, 8);
            if (v == 0 || FMT_SLOT_TAG(v) != (uint32_t)(hash >> 32))
                continue;
            eo = h->h_arena_off + (uint64_t)FMT_SLOT_POS(v) * FMT_UNIT;
            memcpy(&e, img + eo, sizeof(e));
            if (e.e_klen != 16 || memcmp(img + eo + sizeof(e), k, 16) != 0)
                continue;
            pl->slot = so;
            pl->entry = eo;
            pl->size = FMT_ENTRY_SIZE(16, e.e_vlen & FMT_VLEN_MASK);
            return 1;
        }
    return 0;
}

/* Whether any of the n damaged offsets falls in [from, from + len). */
static int
damaged_in(const off_t *dmg, unsigned n, uint64_t from, uint64_t len)
{
    unsigned j;

    for (j = 0; j < n; j++)
        if ((uint64_t)dmg[j] >= from && (uint64_t)dmg[j] - from < len)
            return 1;
    return 0;
}

/*
 * Damaged stopped files: the daemon always starts, and never serves a
 * wrong value.  More than that: verification keeps what is intact.  A key
 * whose slot and entry bytes were not touched must be found, unless the
 * header's geometry (bytes 0-103, covered by its checksum) was hit, which
 * sets the whole file aside.  So a daemon that threw every damaged file
 * away and started empty would fail here, not pass as "all misses".
 */
START_TEST(test_corrupted_file_always_starts)
{
    unsigned iters = tu_env_uint("SHMC_CORRUPT_ITERATIONS", 60), it, j, nd;
    char k[32], *path = tu_path(d.state, "p.shm");
    unsigned char val[300], buf[512], *pristine, b;
    uint64_t seed = 77, r, version, hits = 0, misses = 0, intact = 0;
    static struct placement where[500];
    off_t size = 8388608, off, dmg[12];
    size_t n;
    shmc_t *h;
    int fd, i, rc, geometry_hit;

    ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
    for (i = 0; i < 500; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(val, 40 + (size_t)i % 250, k, 16, (uint64_t)i);
        ck_assert_int_eq(shmc_set(h, k, 16, val, 40 + (size_t)i % 250, 0), 0);
    }
    shmc_close(h);
    ck_assert_int_eq(td_stop(&d), 0);
    pristine = malloc((size_t)size);
    fd = open(path, O_RDONLY);
    ck_assert_int_eq(pread(fd, pristine, (size_t)size, 0), size);
    close(fd);
    for (i = 0; i < 500; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        ck_assert_msg(locate_key(pristine, k, &where[i]), "key %d not in file",
                      i);
    }

    for (it = 0; it < iters; it++) {
        /* The pristine file, then damage: header, index or arena; half
         * the time also "unclean", so the daemon must verify. */
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
        ck_assert_int_eq(pwrite(fd, pristine, (size_t)size, 0), size);
        geometry_hit = 0;
        for (nd = 0, j = 0; j < 1 + it % 12; j++) {
            r = tu_rand(&seed);
            off = (off_t)(r % 10 == 0  ? (r >> 8) % 512
                          : r % 10 < 5 ? 4096 + (r >> 8) % (128 * 1024)
                                       : (r >> 8) % (uint64_t)size);
            ck_assert_int_eq(pread(fd, &b, 1, off), 1);
            b ^= (unsigned char)(1 + (r >> 40) % 255);
            ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
            dmg[nd++] = off;
            geometry_hit |= off < 104;
        }
        if (it % 2 == 0) {
            b = 0; /* h_clean lives at offset 132 */
            ck_assert_int_eq(pwrite(fd, &b, 1, 132), 1);
        }
        close(fd);
        /* It always starts: verified, repaired or replaced. */
        ck_assert_msg(td_restart(&d) == 0, "iteration %u: no start", it);
        ck_assert_int_eq(shmc_open(d.sock, "p", 0, &h), 0);
        for (i = 0; i < 500; i++) {
            int untouched = !geometry_hit &&
                            !damaged_in(dmg, nd, where[i].slot, 8) &&
                            !damaged_in(dmg, nd, where[i].entry, where[i].size);
            tu_key(k, sizeof(k), (uint64_t)i);
            rc = shmc_get(h, k, 16, buf, sizeof(buf), &n);
            ck_assert_msg(rc == 0 || !untouched,
                          "iteration %u (%s): intact key %d lost: %s", it,
                          it % 2 == 0 ? "unclean" : "clean", i,
                          shmc_strerror(rc));
            intact += untouched;
            if (rc == 0) {
                ck_assert(tu_value_ok(buf, n, k, 16, &version));
                ck_assert_uint_eq(version, (uint64_t)i);
                hits++;
            } else {
                ck_assert_msg(rc == SHMC_ENOTFOUND || rc == SHMC_ECORRUPT,
                              "key %d: %s", i, shmc_strerror(rc));
                misses++;
            }
        }
        /* And it keeps working as a writer. */
        ck_assert_int_eq(shmc_set(h, "after", 5, "x", 1, 0), 0);
        shmc_close(h);
        ck_assert_int_eq(td_stop(&d), 0);
    }
    printf("# corruption: %u damaged files, daemon always started; reads: "
           "%llu correct (%llu required: intact), %llu misses/errors, "
           "0 wrong\n",
           iters, (unsigned long long)hits, (unsigned long long)intact,
           (unsigned long long)misses);
    free(pristine);
    free(path);
}
END_TEST

static Suite *
persist_suite(void)
{
    Suite *s = suite_create("persist");
    TCase *tc;

    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_restart_keeps_10000_keys);
    tcase_add_test(tc, test_format1_table_is_converted);
    tcase_add_test(tc, test_resize_keeps_data);
    tcase_add_test(tc, test_crash_loop);
    tcase_add_test(tc, test_unclean_start_extends_timeout);
    tcase_add_test(tc, test_expired_entries_stay_dead);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_corrupted_file_always_starts);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(persist_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
