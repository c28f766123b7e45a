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

#include "image.h"
#include "log.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *pristine, *image;
static size_t image_size;
static char *dir, *path;

/* Remove the working directory when the fuzzer exits. */
static void
cleanup(void)
{
    tu_rmtree(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char buf[600];
    struct table_hit hit;
    struct store *s;
    char k[32], why[256];
    uint64_t id;
    int fd;

    if (pristine == NULL) {
        log_set_level(LOG_LVL_ERR);
        atexit(cleanup);
        dir = tu_tmpdir();
        path = tu_path(dir, "v.shm");
        image_size = image_build(path, &pristine);
        if ((image = malloc(image_size)) == NULL)
            abort();
    }
    memcpy(image, pristine, image_size);
    ((struct fmt_header *)image)->h_clean = 0;
    image_patch(image, image_size, data, size);
    fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0 || write(fd, image, image_size) != (ssize_t)image_size)
        abort();
    close(fd);
    if (store_open(path, &s, why, sizeof(why)) != 0)
        return 0;
    for (id = 0; id < IMAGE_KEYS; id++) {
        tu_key(k, sizeof(k), id);
        if (table_lookup(&s->view, k, 16, buf, sizeof(buf), IMAGE_NOW, &hit) ==
                0 &&
            !image_value_ok(buf, hit.vlen, k, id))
            abort();
    }
    /* It takes writes within its limits (which a patched header whose
     * checksum was redone may have lowered), and they read back. */
    for (id = 0; id < 50 && s->view.max_key >= 16 && s->view.max_value >= 120;
         id++) {
        unsigned char v[120];
        tu_key(k, sizeof(k), 1000 + id);
        tu_value(v, sizeof(v), k, 16, id);
        if (store_set(s, k, 16, v, sizeof(v), 0, 0, STORE_SET, IMAGE_NOW) !=
                0 ||
            table_lookup(&s->view, k, 16, buf, sizeof(buf), IMAGE_NOW, &hit) !=
                0 ||
            hit.vlen != sizeof(v) || memcmp(buf, v, sizeof(v)) != 0)
            abort();
    }
    store_close(s);
    return 0;
}
