/* SPDX-License-Identifier: MIT */
/*
 * fuzz_table.c -- libFuzzer target: the lock-free reader over a hostile
 * mapping, with an oracle.
 *
 * A small table is built once with 200 keys of self-checking values.  Each
 * input is a list of 5-byte patches (32-bit offset, byte to XOR in) applied
 * to a copy of its file image; if the first input byte is odd, the header
 * checksum is then recomputed, so that consistent but lying geometry gets
 * past it.  Every lookup and slot read over the result must either fail
 * or return exactly a value that was stored -- never crash, hang, read
 * outside the image, or return a wrong value.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "table.h"
#include "testutil.h"

#define NKEYS 200
#define NOW 1700000000000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *pristine, *image;
static size_t image_size;

/* Build the table once, keep its bytes. */
static void
init(void)
{
    struct store_geom g = {65536, 0, 64, 512, 1, 0};
    char *dir = tu_tmpdir(), *path = tu_path(dir, "f.shm"), why[256], k[32];
    unsigned char v[300];
    struct store *s;
    FILE *f;
    int i;

    if (store_create(path, &g, 0600, &s, why, sizeof(why)) != 0)
        abort();
    for (i = 0; i < NKEYS; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(v, 40 + (size_t)i % 200, k, 16, (uint64_t)i);
        if (store_set(s, k, 16, v, 40 + (size_t)i % 200, 0, 0, STORE_SET,
                      NOW) != 0)
            abort();
    }
    image_size = s->size;
    store_close(s);
    pristine = malloc(image_size);
    image = malloc(image_size);
    f = fopen(path, "rb");
    if (f == NULL || pristine == NULL || image == NULL ||
        fread(pristine, 1, image_size, f) != image_size)
        abort();
    fclose(f);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* A returned value must be exactly the one stored for key i. */
static void
check_value(const void *buf, size_t n, const char *key, uint64_t i)
{
    uint64_t version;

    if (n != 40 + i % 200 || !tu_value_ok(buf, n, key, 16, &version) ||
        version != i)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char buf[600], key[64];
    struct table_entry e;
    struct table_hit hit;
    struct table t;
    char k[32], why[128];
    unsigned long long n;
    uint32_t b, sl;
    size_t i;
    uint64_t id;

    if (pristine == NULL)
        init();
    memcpy(image, pristine, image_size);
    for (i = 1; i + 5 <= size; i += 5) {
        uint32_t off;
        memcpy(&off, data + i, 4);
        image[off % image_size] ^= data[i + 4];
    }
    if (size > 0 && (data[0] & 1))
        ((struct fmt_header *)image)->h_geom_check =
            fmt_geom_check((struct fmt_header *)image);
    if (table_attach(&t, image, image_size, why, sizeof(why)) != 0)
        return 0;
    t.busy_ms = 0; /* an odd sequence: spin briefly, then "busy" */
    for (id = 0; id < NKEYS; id++) {
        tu_key(k, sizeof(k), id);
        if (table_lookup(&t, k, 16, buf, sizeof(buf), NOW, &hit) == 0)
            check_value(buf, hit.vlen, k, id);
    }
    for (b = 0; b < t.nbuckets && b < 4096; b++)
        for (sl = 0; sl < FMT_SLOTS; sl++)
            if (table_read_slot(&t, b, sl, key, sizeof(key), buf, sizeof(buf),
                                &e) == 0) {
                key[16] = '\0';
                if (e.klen != 16 || sscanf((char *)key, "key:%12llu", &n) != 1)
                    abort(); /* a key that was never written */
                tu_key(k, sizeof(k), n);
                if (n >= NKEYS || memcmp(k, key, 16) != 0)
                    abort();
                check_value(buf, e.vlen, k, n);
            }
    return 0;
}
