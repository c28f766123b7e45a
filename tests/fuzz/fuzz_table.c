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

#include "image.h"
#include "table.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *pristine, *image;
static size_t image_size;

/* A returned value must be exactly the one stored for key i. */
static void
check_value(const void *buf, size_t n, const char *key, uint64_t i)
{
    if (!image_value_ok(buf, n, key, i))
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
    uint64_t id;

    if (pristine == NULL) {
        char *dir = tu_tmpdir(), *path = tu_path(dir, "f.shm");
        image_size = image_build(path, &pristine);
        if ((image = malloc(image_size)) == NULL)
            abort();
        tu_rmtree(dir);
        free(path);
        free(dir);
    }
    memcpy(image, pristine, image_size);
    image_patch(image, image_size, data, size);
    if (table_attach(&t, image, image_size, why, sizeof(why)) != 0)
        return 0;
    t.busy_ms = 0; /* an odd sequence: spin briefly, then "busy" */
    for (id = 0; id < IMAGE_KEYS; id++) {
        tu_key(k, sizeof(k), id);
        if (table_lookup(&t, k, 16, buf, sizeof(buf), IMAGE_NOW, &hit) == 0)
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
                if (n >= IMAGE_KEYS || memcmp(k, key, 16) != 0)
                    abort();
                check_value(buf, e.vlen, k, n);
            }
    return 0;
}
