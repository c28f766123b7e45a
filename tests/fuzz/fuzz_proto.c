/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proto.c -- libFuzzer target: the control-socket frame decoder.
 *
 * Any bytes, as one frame: proto_decode() must accept or refuse them
 * without reading outside them, and a batch it accepts must iterate to
 * its end or to a refusal, every item inside the frame.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *cur, *end = data + size;
    struct proto_item it;
    struct proto_req r;
    size_t left;
    int rc;

    if (proto_decode(data, size, &r) != 0 || r.op != PROTO_OP_BATCH)
        return 0;
    cur = r.items;
    left = r.items_len;
    while ((rc = proto_batch_next(&cur, &left, &it)) == 1) {
        if (it.key < data || it.key + it.klen > end ||
            (it.vlen > 0 && (it.val < data || it.val + it.vlen > end)))
            abort(); /* an item outside the frame */
    }
    return 0;
}
