/* SPDX-License-Identifier: MIT */
/*
 * proto.h -- the control-socket wire format (doc/protocol.md is the
 * reference for third-party clients).
 *
 * Every frame, request or reply, is a 12-byte header followed by a body:
 *
 *   u32 length   whole frame in bytes, header included (>= 12)
 *   u8  op       PROTO_OP_*; a reply carries op | PROTO_REPLY
 *   u8  flags    0 (reserved)
 *   u16 rsv      0 (reserved)
 *   u32 id       chosen by the client, echoed in the reply
 *
 * All integers are little-endian.  A reply body starts with an i32 status:
 * 0 or a negative result code (error.h).
 */
#ifndef SHMC_PROTO_H
#define SHMC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1u
#define PROTO_HDR 12u
#define PROTO_REPLY 0x80u
#define PROTO_TABLE_MAX 64u         /* longest table name */
#define PROTO_TTL_NEVER 0xffffffffu /* ttl_s: never expire (0: default) */

enum proto_op {
    PROTO_OP_HELLO = 0x01,   /* u16 version, u16 0 */
    PROTO_OP_PING = 0x02,    /* (empty) */
    PROTO_OP_SET = 0x10,     /* T K u32 ttl_s, u32 vlen, value */
    PROTO_OP_ADD = 0x11,     /* as SET */
    PROTO_OP_REPLACE = 0x12, /* as SET */
    PROTO_OP_DELETE = 0x13,  /* T K */
    PROTO_OP_TOUCH = 0x14,   /* T K u32 ttl_s */
    PROTO_OP_INCR = 0x15,    /* T K u64 delta */
    PROTO_OP_DECR = 0x16,    /* T K u64 delta */
    PROTO_OP_SETNEG = 0x17,  /* T K u32 ttl_s */
    PROTO_OP_GET = 0x18,     /* T K */
    PROTO_OP_FLUSH = 0x19,   /* T */
    PROTO_OP_SYNC = 0x1a,    /* T */
    PROTO_OP_BATCH = 0x1b,   /* T u32 count, count x item */
    PROTO_OP_LOAD = 0x1c,    /* T K: GET, and on a miss the table's loader */
    PROTO_OP_STATS = 0x20,   /* T (empty name: every table) */
    PROTO_OP_LIST = 0x21,    /* (empty) */
    PROTO_OP_OPEN = 0x22,    /* T */
    PROTO_OP_HINTS = 0x23,   /* T; a sealed memfd rides along (format.h) */
};
/* T = u8 name length, name; K = u16 key length, key.
 * Batch item = u16 klen, u32 ttl_s, u32 vlen, key, value. */

/* A decoded request; pointers refer into the frame. */
struct proto_req {
    uint8_t op;
    uint32_t id;
    uint16_t version;
    const char *table;
    size_t tlen;
    const unsigned char *key;
    size_t klen;
    const unsigned char *val;
    size_t vlen;
    uint32_t ttl_s;
    uint64_t delta;
    uint32_t count;             /* batch: items */
    const unsigned char *items; /* batch: first item */
    size_t items_len;           /* batch: bytes of items */
};

/* Iterator over the items of a decoded batch. */
struct proto_item {
    const unsigned char *key;
    size_t klen;
    const unsigned char *val;
    size_t vlen;
    uint32_t ttl_s;
};

/* Little-endian stores and loads. */
static inline void
proto_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void
proto_put32(unsigned char *p, uint32_t v)
{
    proto_put16(p, (uint16_t)v);
    proto_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void
proto_put64(unsigned char *p, uint64_t v)
{
    proto_put32(p, (uint32_t)v);
    proto_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
proto_get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
proto_get32(const unsigned char *p)
{
    return (uint32_t)proto_get16(p) | (uint32_t)proto_get16(p + 2) << 16;
}

static inline uint64_t
proto_get64(const unsigned char *p)
{
    return (uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32;
}

int proto_decode(const unsigned char *frame, size_t len, struct proto_req *r);
int proto_batch_next(const unsigned char **cur, size_t *left,
                     struct proto_item *it);
size_t proto_request(unsigned char *buf, size_t size, uint8_t op, uint32_t id,
                     const char *table, const void *key, size_t klen,
                     const void *val, size_t vlen, uint32_t ttl_s,
                     uint64_t delta);
size_t proto_batch_item(unsigned char *buf, size_t size, const void *key,
                        size_t klen, const void *val, size_t vlen,
                        uint32_t ttl_s);
void proto_header(unsigned char *buf, uint32_t len, uint8_t op, uint32_t id);

#endif /* SHMC_PROTO_H */
