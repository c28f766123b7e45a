/* SPDX-License-Identifier: MIT */
/*
 * fuzz_verify.c -- libFuzzer target: opening a damaged table file, as the
 * daemon does after a crash (verification), with an oracle.
 *
 * The file image of a small table with 200 keys is patched as in
 * fuzz_table.c (5-byte patches; odd first byte: header checksum redone),
 * marked unclean, written to a file and opened for writing.  Opening may
 * refuse it; if it opens, every key must read back exactly or be missing,
 * and the table must take new writes that read back.
 */
#include "config.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

#define NKEYS 200
#define NOW 1700000000000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *pristine, *image;
static size_t image_size;
static char *dir, *path;

/* Build the table once, keep its bytes. */
static void
init(void)
{
    struct store_geom g = {65536, 0, 64, 512, 1, 0};
    char why[256], k[32];
    unsigned char v[300];
    struct store *s;
    FILE *f;
    int i;

    log_set_level(LOG_LVL_ERR);
    dir = tu_tmpdir();
    path = tu_path(dir, "v.shm");
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
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char buf[600];
    struct table_hit hit;
    struct store *s;
    char k[32], why[256];
    uint64_t id, version;
    size_t i;
    int fd;

    if (pristine == NULL)
        init();
    memcpy(image, pristine, image_size);
    ((struct fmt_header *)image)->h_clean = 0;
    for (i = 1; i + 5 <= size; i += 5) {
        uint32_t off;
        memcpy(&off, data + i, 4);
        image[off % image_size] ^= data[i + 4];
    }
    if (size > 0 && (data[0] & 1))
        ((struct fmt_header *)image)->h_geom_check =
            fmt_geom_check((struct fmt_header *)image);
    fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0 || write(fd, image, image_size) != (ssize_t)image_size)
        abort();
    close(fd);
    if (store_open(path, &s, why, sizeof(why)) != 0)
        return 0;
    for (id = 0; id < NKEYS; id++) {
        tu_key(k, sizeof(k), id);
        if (table_lookup(&s->view, k, 16, buf, sizeof(buf), NOW, &hit) == 0 &&
            (hit.vlen != 40 + id % 200 ||
             !tu_value_ok(buf, hit.vlen, k, 16, &version) || version != id))
            abort();
    }
    /* It takes writes within its limits (which a patched header whose
     * checksum was redone may have lowered), and they read back. */
    for (id = 0; id < 50 && s->view.max_key >= 16 && s->view.max_value >= 120;
         id++) {
        unsigned char v[120];
        tu_key(k, sizeof(k), 1000 + id);
        tu_value(v, sizeof(v), k, 16, id);
        if (store_set(s, k, 16, v, sizeof(v), 0, 0, STORE_SET, NOW) != 0 ||
            table_lookup(&s->view, k, 16, buf, sizeof(buf), NOW, &hit) != 0 ||
            hit.vlen != sizeof(v) || memcmp(buf, v, sizeof(v)) != 0)
            abort();
    }
    store_close(s);
    return 0;
}
