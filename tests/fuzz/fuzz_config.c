/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c -- libFuzzer target: the config loader.
 *
 * Any bytes as shmcached.json: conf_load() must load them or refuse them
 * with a message, and what it loads must be within the documented limits.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    char err[512];
    struct conf *c;
    size_t i;
    FILE *f;

    if (dir == NULL) {
        atexit(cleanup);
        dir = tu_tmpdir();
        path = tu_path(dir, "c.json");
    }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    if (conf_load(path, &c, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort(); /* a refusal must say why */
        return 0;
    }
    for (i = 0; i < c->ntables; i++)
        if (c->tables[i].size_bytes < 65536 ||
            c->tables[i].max_key_bytes == 0 ||
            c->tables[i].max_value_bytes == 0 || c->tables[i].name[0] == '\0')
            abort();
    conf_free(c);
    return 0;
}
