/* SPDX-License-Identifier: MIT */
/*
 * get.c -- shmc_get(): the lock-free lookup of common/table.c on the
 * handle's current mapping, following a replaced table, and counting hits
 * and misses (the daemon never sees readers' hits).
 */
#include "config.h"

#include <errno.h>

#include "error.h"
#include "handle.h"

/* A hint area the daemon has not drained for this long is given again. */
#define HINTS_STALE_MS 30000u
/* Keys shmc_mget() hands the table layer at a time. */
#define MGET_CHUNK 64u

/*
 * Count a lookup's result, and tell the daemon what was read (hints.c);
 * now and then check that it still listens.
 */
static void
note_result(shmc_t *h, int rc, const struct table_hit *hit)
{
    uint64_t *hints, n;
    int miss = rc == SHMC_ENOTFOUND;

    if (rc != 0 && rc != SHMC_ENEGATIVE && rc != SHMC_ERANGE && !miss)
        return;
    /* ORDERING: acquire; pairs with the release that published the area
     * in hints_register_locked(). */
    hints = __atomic_load_n(&h->hints, __ATOMIC_ACQUIRE);
    /* ORDERING: relaxed; counters are statistics, not synchronisation
     * (threads sharing the handle may publish them out of order; the
     * daemon only ever adds what grew). */
    n = __atomic_add_fetch(miss ? &h->misses : &h->hits, 1, __ATOMIC_RELAXED);
    if (hints == NULL)
        return;
    __atomic_store_n(&hints[miss ? FMT_HINT_MISSES : FMT_HINT_HITS], n,
                     __ATOMIC_RELAXED);
    if (!miss)
        /* ORDERING: relaxed; a hint is a suggestion (format.h). */
        __atomic_store_n(&hints[FMT_HINT_INDEX(hit->bucket, hit->slot)],
                         FMT_HINT(hit->tag, hit->bucket, hit->slot),
                         __ATOMIC_RELAXED);
    /* Now and then: is the daemon still draining the area?  (A handle
     * that only misses must be counted too.) */
    if ((n & 0xffffu) == 0 &&
        table_now_ms() - __atomic_load_n(&hints[0], __ATOMIC_RELAXED) >
            HINTS_STALE_MS)
        handle_hints_refresh(h);
}

/* Look a key up (see shmcache.h). */
SHMC_EXPORT int
shmc_get(shmc_t *h, const void *key, size_t klen, void *buf, size_t bufsize,
         size_t *vlen)
{
    struct table_hit hit;
    struct mapping *m;
    int rc = SHMC_ERETIRED, attempt;

    if (vlen != NULL)
        *vlen = 0;
    if (h == NULL || (key == NULL && klen > 0) || (buf == NULL && bufsize > 0))
        return -EINVAL;
    /* At most one reopen: a table replaced twice in a row is rare enough
     * to report rather than chase. */
    for (attempt = 0; attempt < 2 && rc == SHMC_ERETIRED; attempt++) {
        /* ORDERING: acquire; pairs with the release in handle_reopen(). */
        m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
        rc = table_lookup(&m->t, key, klen, buf, bufsize, 0, &hit);
        if (rc == SHMC_ERETIRED && attempt == 0) {
            int r = handle_reopen(h, m);
            if (r != 0)
                return r;
        }
    }
    if (vlen != NULL && (rc == 0 || rc == SHMC_ERANGE))
        *vlen = (size_t)hit.vlen;
    note_result(h, rc, &hit);
    return rc;
}

/* Look many keys up at once (see shmcache.h). */
SHMC_EXPORT int
shmc_mget(shmc_t *h, size_t n, const void *const keys[], const size_t klens[],
          void *const bufs[], const size_t bufsizes[], size_t vlens[],
          int rcs[])
{
    struct table_hit hit[MGET_CHUNK];
    struct mapping *m;
    size_t base, i, c;

    if (h == NULL || (n > 0 && (keys == NULL || klens == NULL || bufs == NULL ||
                                bufsizes == NULL || rcs == NULL)))
        return -EINVAL;
    for (i = 0; i < n; i++)
        if ((keys[i] == NULL && klens[i] > 0) ||
            (bufs[i] == NULL && bufsizes[i] > 0))
            return -EINVAL;
    for (base = 0; base < n; base += c) {
        c = n - base < MGET_CHUNK ? n - base : MGET_CHUNK;
        /* ORDERING: acquire; pairs with the release in handle_reopen(). */
        m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
        table_lookup_many(&m->t, c, keys + base, klens + base, bufs + base,
                          bufsizes + base, 0, hit, rcs + base);
        for (i = 0; i < c; i++) {
            if (rcs[base + i] == SHMC_ERETIRED) {
                /* Replaced meanwhile: shmc_get() follows it. */
                size_t vl = 0;
                rcs[base + i] =
                    shmc_get(h, keys[base + i], klens[base + i], bufs[base + i],
                             bufsizes[base + i], &vl);
                if (vlens != NULL)
                    vlens[base + i] = vl;
                continue;
            }
            if (vlens != NULL)
                vlens[base + i] =
                    rcs[base + i] == 0 || rcs[base + i] == SHMC_ERANGE
                        ? (size_t)hit[i].vlen
                        : 0;
            note_result(h, rcs[base + i], &hit[i]);
        }
    }
    return 0;
}

/* This handle's hit and miss counts (see shmcache.h). */
SHMC_EXPORT void
shmc_counters(const shmc_t *h, uint64_t *hits, uint64_t *misses)
{
    if (hits != NULL)
        *hits = h ? __atomic_load_n(&h->hits, __ATOMIC_RELAXED) : 0;
    if (misses != NULL)
        *misses = h ? __atomic_load_n(&h->misses, __ATOMIC_RELAXED) : 0;
}

/* Walk the table's entries (see shmcache.h).  The cursor numbers slots:
 * bucket * FMT_SLOTS + slot. */
SHMC_EXPORT int
shmc_scan(shmc_t *h, uint64_t *cursor, void *key, size_t keysize, size_t *klen,
          void *val, size_t valsize, size_t *vlen, uint64_t *expiry_ms,
          int *negative)
{
    struct table_entry e;
    const struct mapping *m;
    uint64_t end, now = 0;
    int rc;

    if (h == NULL || cursor == NULL || (key == NULL && keysize > 0) ||
        (val == NULL && valsize > 0))
        return -EINVAL;
    /* ORDERING: acquire; pairs with the release in handle_reopen(). */
    m = __atomic_load_n(&h->cur, __ATOMIC_ACQUIRE);
    end = (uint64_t)m->t.nbuckets * FMT_SLOTS;
    for (; *cursor < end; ++*cursor) {
        rc = table_read_slot(&m->t, (uint32_t)(*cursor / FMT_SLOTS),
                             (uint32_t)(*cursor % FMT_SLOTS), key, keysize, val,
                             valsize, &e);
        if (rc == SHMC_ENOTFOUND)
            continue;
        if (klen != NULL)
            *klen = (size_t)e.klen;
        if (vlen != NULL)
            *vlen = (size_t)e.vlen;
        if (rc == SHMC_ERANGE || rc == SHMC_EBUSY)
            return rc; /* the cursor stays: call again */
        if (rc != 0) {
            ++*cursor; /* a damaged entry: reported, then passed */
            return rc;
        }
        if (e.expiry_ms != 0 &&
            e.expiry_ms <= (now != 0 ? now : (now = table_now_ms())))
            continue;
        if (expiry_ms != NULL)
            *expiry_ms = e.expiry_ms;
        if (negative != NULL)
            *negative = (e.flags & FMT_ENTRY_NEGATIVE) != 0;
        ++*cursor;
        return 0;
    }
    return SHMC_ENOTFOUND;
}
