/* SPDX-License-Identifier: MIT */
/*
 * image.c -- see image.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

/* Build the table at path; return its size and a copy of its bytes. */
size_t
image_build(const char *path, unsigned char **pristine)
{
    struct store_geom g = {65536, 0, 64, 512, 1, 0};
    char why[256], k[32];
    unsigned char v[300];
    struct store *s;
    size_t size;
    FILE *f;
    int i;

    if (store_create(path, &g, 0600, &s, why, sizeof(why)) != 0)
        abort();
    for (i = 0; i < IMAGE_KEYS; i++) {
        tu_key(k, sizeof(k), (uint64_t)i);
        tu_value(v, IMAGE_VLEN(i), k, 16, (uint64_t)i);
        if (store_set(s, k, 16, v, IMAGE_VLEN(i), 0, 0, STORE_SET, IMAGE_NOW) !=
            0)
            abort();
    }
    size = s->size;
    store_close(s);
    *pristine = malloc(size);
    f = fopen(path, "rb");
    if (f == NULL || *pristine == NULL || fread(*pristine, 1, size, f) != size)
        abort();
    fclose(f);
    return size;
}

/*
 * Apply an input to an image: after its first byte, 5-byte patches (a
 * 32-bit offset, modulo the size, and a byte to XOR in); if the first byte
 * is odd, the header checksum is then redone, so that consistent but
 * lying geometry gets past it.
 */
void
image_patch(unsigned char *image, size_t image_size, const uint8_t *data,
            size_t size)
{
    uint32_t off;
    size_t i;

    for (i = 1; i + 5 <= size; i += 5) {
        memcpy(&off, data + i, 4);
        image[off % image_size] ^= data[i + 4];
    }
    if (size > 0 && (data[0] & 1))
        ((struct fmt_header *)image)->h_geom_check =
            fmt_geom_check((struct fmt_header *)image);
}

/* Whether buf[0..n) is exactly the value stored under key i. */
int
image_value_ok(const void *buf, size_t n, const char *key, uint64_t i)
{
    uint64_t version;

    return n == IMAGE_VLEN(i) && tu_value_ok(buf, n, key, 16, &version) &&
           version == i;
}
