/* SPDX-License-Identifier: MIT */
/*
 * loadwire.h -- the frames a persistent loader ("worker") and the daemon
 * exchange over the worker's stdin and stdout (daemon/worker.c on one
 * side; nss/nss-load.c --serve and any "persistent" exec loader on the
 * other).
 *
 * A worker answers one key at a time, in order, for as long as its stdin
 * stays open:
 *
 *   request (daemon -> worker):  u32 key length, then the key's bytes
 *   reply   (worker -> daemon):  u8 status, u32 value length, the value
 *
 * Lengths are little-endian.  A key is 1..LOADWIRE_KEY_MAX bytes of
 * anything (NUL included).  Status LOADWIRE_VALUE carries the value (any
 * bytes, at most the table's max_value_bytes); LOADWIRE_NOTFOUND ("no
 * such key": a negative entry) and LOADWIRE_FAILED ("try again": nothing
 * stored) carry none, so their length is 0.  EOF on stdin means "exit
 * now".
 *
 * The daemon trusts nothing a worker writes: an unknown status, a length
 * over the table's limit or a status that must not carry a value with
 * one, bytes before a request or after a reply, and EOF in the middle of
 * a reply each fail the call in flight and cost the worker its life,
 * never more.  These helpers are the codec both sides share; the blocking
 * ones are for workers only (the daemon never blocks).
 */
#ifndef SHMC_LOADWIRE_H
#define SHMC_LOADWIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

/* The largest key: FMT_KEY_MAX, the largest any table takes. */
#define LOADWIRE_KEY_MAX 4096u
#define LOADWIRE_REQ_HDR 4u /* u32 key length */
#define LOADWIRE_REP_HDR 5u /* u8 status, u32 value length */

/* Reply statuses. */
#define LOADWIRE_VALUE 0u    /* the value follows */
#define LOADWIRE_NOTFOUND 1u /* no such key: store a negative entry */
#define LOADWIRE_FAILED 2u   /* the sources failed: store nothing */

/* Store v at p, little-endian. */
static inline void
loadwire_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* The little-endian u32 at p. */
static inline uint32_t
loadwire_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Worker side: read exactly n bytes from fd (blocking).  Returns n, 0 at
 * EOF before the first byte, -1 on an error or EOF in the middle. */
static inline ssize_t
loadwire_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = read(fd, (unsigned char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return (ssize_t)n;
}

/* Worker side: write all n bytes to fd (blocking).  0 or -1. */
static inline int
loadwire_write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    ssize_t r;

    while (done < n) {
        r = write(fd, (const unsigned char *)buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

/* Worker side: read the next request into key (LOADWIRE_KEY_MAX bytes).
 * Returns the key's length, 0 at EOF (time to exit), -1 on a malformed
 * request or an error. */
static inline ssize_t
loadwire_read_request(int fd, unsigned char *key)
{
    unsigned char hdr[LOADWIRE_REQ_HDR];
    ssize_t r = loadwire_read_full(fd, hdr, sizeof(hdr));
    uint32_t klen;

    if (r <= 0)
        return r;
    klen = loadwire_get32(hdr);
    if (klen == 0 || klen > LOADWIRE_KEY_MAX)
        return -1;
    return loadwire_read_full(fd, key, klen) == (ssize_t)klen ? (ssize_t)klen
                                                              : -1;
}

/* Worker side: write one reply (a value only with LOADWIRE_VALUE), in one
 * system call when the pipe takes it.  0 or -1. */
static inline int
loadwire_write_reply(int fd, unsigned status, const void *val, uint32_t vlen)
{
    unsigned char hdr[LOADWIRE_REP_HDR];
    struct iovec iov[2];
    ssize_t r;

    if (status != LOADWIRE_VALUE)
        vlen = 0;
    hdr[0] = (unsigned char)status;
    loadwire_put32(hdr + 1, vlen);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)val;
    iov[1].iov_len = vlen;
    do
        r = writev(fd, iov, vlen == 0 ? 1 : 2);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if ((size_t)r < sizeof(hdr)) {
        if (loadwire_write_full(fd, hdr + r, sizeof(hdr) - (size_t)r) != 0)
            return -1;
        r = 0;
    } else {
        r -= (ssize_t)sizeof(hdr);
    }
    if ((size_t)r == vlen)
        return 0;
    return loadwire_write_full(fd, (const unsigned char *)val + r,
                               vlen - (size_t)r);
}

#endif /* SHMC_LOADWIRE_H */
