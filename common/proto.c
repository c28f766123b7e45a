/* SPDX-License-Identifier: MIT */
/*
 * proto.c -- encode and decode control-socket frames (proto.h).
 *
 * The decoder is the daemon's first line of defence: it runs on bytes from
 * any local process.  It reads through a cursor that refuses to move past
 * the frame, so every length is checked before the bytes it announces are
 * touched; a frame with a short field, an over-long name or key, an unknown
 * opcode or trailing bytes is rejected whole with SHMC_EPROTO.  Decoding
 * allocates nothing and copies nothing: the request points into the frame.
 * The encoder is what clients (the library, the tests) use to build frames.
 */
#include "config.h"

#include <string.h>

#include "error.h"
#include "proto.h"

/* A read position inside one frame. */
struct cursor {
    const unsigned char *p;
    size_t left;
    int bad;
};

/* Take n bytes, or mark the cursor bad and return NULL. */
static const unsigned char *
take(struct cursor *c, size_t n)
{
    const unsigned char *p = c->p;

    if (c->bad || n > c->left) {
        c->bad = 1;
        return NULL;
    }
    c->p += n;
    c->left -= n;
    return p;
}

static uint32_t
take32(struct cursor *c)
{
    const unsigned char *p = take(c, 4);

    return p ? proto_get32(p) : 0;
}

/* T: u8 length, name. */
static void
take_table(struct cursor *c, struct proto_req *r)
{
    const unsigned char *n = take(c, 1);

    r->tlen = n ? *n : 0;
    if (r->tlen > PROTO_TABLE_MAX)
        c->bad = 1;
    r->table = (const char *)take(c, r->tlen);
}

/* K: u16 length, key (non-empty). */
static void
take_key(struct cursor *c, struct proto_req *r)
{
    const unsigned char *n = take(c, 2);

    r->klen = n ? proto_get16(n) : 0;
    if (r->klen == 0)
        c->bad = 1;
    r->key = take(c, r->klen);
}

/*
 * Decode a complete frame of len bytes (len must equal the frame's length
 * field).  Returns 0 or SHMC_EPROTO.
 */
int
proto_decode(const unsigned char *frame, size_t len, struct proto_req *r)
{
    struct cursor c = {frame, len, 0};
    const unsigned char *h, *p;
    uint32_t flen;

    memset(r, 0, sizeof(*r));
    h = take(&c, PROTO_HDR);
    if (h == NULL)
        return SHMC_EPROTO;
    flen = proto_get32(h);
    r->op = h[4];
    r->id = proto_get32(h + 8);
    if (flen != len || h[5] != 0 || proto_get16(h + 6) != 0)
        return SHMC_EPROTO;

    switch (r->op) {
    case PROTO_OP_HELLO:
        p = take(&c, 4);
        if (p != NULL) {
            r->version = proto_get16(p);
            if (proto_get16(p + 2) != 0)
                c.bad = 1;
        }
        break;
    case PROTO_OP_PING:
    case PROTO_OP_LIST:
        break;
    case PROTO_OP_SET:
    case PROTO_OP_ADD:
    case PROTO_OP_REPLACE:
        take_table(&c, r);
        take_key(&c, r);
        r->ttl_s = take32(&c);
        r->vlen = take32(&c);
        r->val = take(&c, r->vlen);
        break;
    case PROTO_OP_DELETE:
    case PROTO_OP_GET:
    case PROTO_OP_LOAD:
        take_table(&c, r);
        take_key(&c, r);
        break;
    case PROTO_OP_TOUCH:
    case PROTO_OP_SETNEG:
        take_table(&c, r);
        take_key(&c, r);
        r->ttl_s = take32(&c);
        break;
    case PROTO_OP_INCR:
    case PROTO_OP_DECR:
        take_table(&c, r);
        take_key(&c, r);
        p = take(&c, 8);
        r->delta = p ? proto_get64(p) : 0;
        break;
    case PROTO_OP_FLUSH:
    case PROTO_OP_SYNC:
    case PROTO_OP_STATS:
    case PROTO_OP_OPEN:
    case PROTO_OP_HINTS:
        take_table(&c, r);
        break;
    case PROTO_OP_BATCH:
        take_table(&c, r);
        r->count = take32(&c);
        r->items = c.p;
        r->items_len = c.left;
        take(&c, c.left);
        break;
    default:
        return SHMC_EPROTO;
    }
    /* Every op but STATS names a table; nothing may follow the body. */
    if (c.bad || c.left != 0)
        return SHMC_EPROTO;
    if (r->table != NULL && r->tlen == 0 && r->op != PROTO_OP_STATS)
        return SHMC_EPROTO;
    return 0;
}

/*
 * Step through batch items: fills *it and returns 1, returns 0 at the end,
 * SHMC_EPROTO on a malformed item.
 */
int
proto_batch_next(const unsigned char **cur, size_t *left, struct proto_item *it)
{
    struct cursor c = {*cur, *left, 0};
    const unsigned char *p;

    if (*left == 0)
        return 0;
    p = take(&c, 10);
    if (p == NULL)
        return SHMC_EPROTO;
    it->klen = proto_get16(p);
    it->ttl_s = proto_get32(p + 2);
    it->vlen = proto_get32(p + 6);
    it->key = take(&c, it->klen);
    it->val = take(&c, it->vlen);
    if (c.bad || it->klen == 0)
        return SHMC_EPROTO;
    *cur = c.p;
    *left = c.left;
    return 1;
}

/* Write a frame header. */
void
proto_header(unsigned char *buf, uint32_t len, uint8_t op, uint32_t id)
{
    proto_put32(buf, len);
    buf[4] = op;
    buf[5] = 0;
    proto_put16(buf + 6, 0);
    proto_put32(buf + 8, id);
}

/* A write position in a caller's buffer; counts what would not fit. */
struct out {
    unsigned char *p;
    size_t size, len;
};

static void
put(struct out *o, const void *data, size_t n)
{
    if (o->len <= o->size && n <= o->size - o->len && n > 0)
        memcpy(o->p + o->len, data, n);
    o->len += n;
}

static void
put_uint(struct out *o, uint64_t v, size_t width)
{
    unsigned char b[8];

    proto_put64(b, v);
    put(o, b, width);
}

/*
 * Encode a request into buf[size].  Fields an op does not use are ignored;
 * for PROTO_OP_BATCH, val/vlen are the encoded items (proto_batch_item())
 * and delta the item count.  Returns the frame length, which is more than
 * size if the frame did not fit (nothing useful was written then).
 */
size_t
proto_request(unsigned char *buf, size_t size, uint8_t op, uint32_t id,
              const char *table, const void *key, size_t klen, const void *val,
              size_t vlen, uint32_t ttl_s, uint64_t delta)
{
    struct out o = {buf, size, PROTO_HDR};
    size_t tlen = table ? strlen(table) : 0;

    switch (op) {
    case PROTO_OP_HELLO:
        put_uint(&o, PROTO_VERSION, 4);
        break;
    case PROTO_OP_PING:
    case PROTO_OP_LIST:
        break;
    default:
        put_uint(&o, tlen, 1);
        put(&o, table, tlen);
        break;
    }
    switch (op) {
    case PROTO_OP_SET:
    case PROTO_OP_ADD:
    case PROTO_OP_REPLACE:
    case PROTO_OP_DELETE:
    case PROTO_OP_GET:
    case PROTO_OP_LOAD:
    case PROTO_OP_TOUCH:
    case PROTO_OP_SETNEG:
    case PROTO_OP_INCR:
    case PROTO_OP_DECR:
        put_uint(&o, klen, 2);
        put(&o, key, klen);
        break;
    }
    switch (op) {
    case PROTO_OP_SET:
    case PROTO_OP_ADD:
    case PROTO_OP_REPLACE:
        put_uint(&o, ttl_s, 4);
        put_uint(&o, vlen, 4);
        put(&o, val, vlen);
        break;
    case PROTO_OP_TOUCH:
    case PROTO_OP_SETNEG:
        put_uint(&o, ttl_s, 4);
        break;
    case PROTO_OP_INCR:
    case PROTO_OP_DECR:
        put_uint(&o, delta, 8);
        break;
    case PROTO_OP_BATCH:
        put_uint(&o, delta, 4);
        put(&o, val, vlen);
        break;
    }
    if (o.len <= size)
        proto_header(buf, (uint32_t)o.len, op, id);
    return o.len;
}

/* Encode one batch item; returns its length (more than size: not written). */
size_t
proto_batch_item(unsigned char *buf, size_t size, const void *key, size_t klen,
                 const void *val, size_t vlen, uint32_t ttl_s)
{
    struct out o = {buf, size, 0};

    put_uint(&o, klen, 2);
    put_uint(&o, ttl_s, 4);
    put_uint(&o, vlen, 4);
    put(&o, key, klen);
    put(&o, val, vlen);
    return o.len;
}
