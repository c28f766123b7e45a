/* SPDX-License-Identifier: MIT */
/*
 * hints.c -- what readers hit, learned without letting readers write the
 * table (doc/design.md, "The ring and eviction").
 *
 * The daemon never sees a lock-free hit.  So each reader handle creates a
 * small memfd, seals it against shrinking, and passes it over the control
 * socket (PROTO_OP_HINTS); on every hit it stores a hint -- the slot's
 * bucket, index and tag -- into it (format.h).  On its sweep timer the
 * daemon drains every area: a hint whose bucket and slot exist and whose
 * tag matches the slot's raises that slot's frequency count (0-3, in the
 * daemon's own memory: store.freq); the eviction policy (evict.c) reads
 * it.  Areas are hostile input: the seal is checked (a shrunk memfd would
 * be a SIGBUS), the count per table and per uid is capped, idle areas are
 * dropped, and a forged hint can at most keep some entry longer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "error.h"
#include "hints.h"
#include "seqlock.h"

#define AREA_BYTES ((size_t)FMT_HINT_WORDS * 8u)
/* More lookups a millisecond than one handle makes (10^8 a second). */
#define COUNT_PER_MS_MAX 100000u

/* Unmap area i and close the gap. */
static void
drop(struct hints *hs, unsigned i)
{
    munmap(hs->a[i].w, AREA_BYTES);
    hs->a[i] = hs->a[--hs->n];
}

/* The least recently active area of uid (or of anyone, if uid is -1). */
static int
oldest(const struct hints *hs, uid_t uid, int any)
{
    unsigned i;
    int best = -1;

    for (i = 0; i < hs->n; i++)
        if ((any || hs->a[i].uid == uid) &&
            (best < 0 || hs->a[i].last_ms < hs->a[best].last_ms))
            best = (int)i;
    return best;
}

/*
 * Take a reader's hint area (fd, which the caller closes).  Returns 0, or
 * -EINVAL if it is not a sealed memfd of the right size.  At the caps the
 * least recently active area (of this uid first) makes way.
 */
int
hints_add(struct hints *hs, int fd, uid_t uid, uint64_t now_ms)
{
    struct stat st;
    unsigned i, mine = 0;
    int seals, victim;
    void *p;

    seals = fcntl(fd, F_GET_SEALS);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != AREA_BYTES || seals < 0 ||
        !(seals & F_SEAL_SHRINK))
        return -EINVAL;
    for (i = 0; i < hs->n; i++)
        if (hs->a[i].dev == st.st_dev && hs->a[i].ino == st.st_ino) {
            hs->a[i].last_ms = now_ms; /* given again: already here */
            return 0;
        }
    p = mmap(NULL, AREA_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    for (i = 0; i < hs->n; i++)
        mine += hs->a[i].uid == uid;
    victim = -1;
    if (mine >= HINTS_PER_UID)
        victim = oldest(hs, uid, 0);
    else if (hs->n >= HINTS_MAX)
        victim = oldest(hs, uid, 1);
    if (victim >= 0) {
        hints_count(hs);
        drop(hs, (unsigned)victim);
    }
    hs->a[hs->n].w = p;
    hs->a[hs->n].dev = st.st_dev;
    hs->a[hs->n].ino = st.st_ino;
    hs->a[hs->n].uid = uid;
    hs->a[hs->n].last_ms = now_ms;
    /* Counted from now on: what the handle did before is not this
     * daemon's to report (or was reported by the area it replaces). */
    hs->a[hs->n].seen[0] =
        __atomic_load_n(&hs->a[hs->n].w[FMT_HINT_HITS], __ATOMIC_RELAXED);
    hs->a[hs->n].seen[1] =
        __atomic_load_n(&hs->a[hs->n].w[FMT_HINT_MISSES], __ATOMIC_RELAXED);
    hs->a[hs->n].counted_ms = mono_ms();
    hs->n++;
    return 0;
}

/* Apply one hint to the table's frequency counts. */
static int
apply(struct store *s, uint64_t v)
{
    uint32_t b = FMT_HINT_BUCKET(v), i = FMT_HINT_SLOT(v);
    uint64_t slot;
    uint8_t *f;

    if (b >= s->view.nbuckets || i >= FMT_SLOTS)
        return 0;
    slot = s->buckets[b].b_slot[i];
    if (slot == 0 || FMT_SLOT_TAG(slot) >> 1 != FMT_HINT_TAG31(v))
        return 0;
    f = &s->freq[(uint64_t)b * FMT_SLOTS + i];
    if (*f < 3)
        (*f)++;
    return 1;
}

/* Add what each area's hit and miss counts grew by since last time.  A
 * count that went down (threads of one handle publish out of order)
 * adds nothing until it passes the last one; one that grew faster than
 * any handle looks up (COUNT_PER_MS_MAX since it was last counted) is
 * garbage from a hostile reader, taken as the new base without adding
 * it.  So a reader can inflate the statistics by at most that rate per
 * area it holds (HINTS_PER_UID per uid and table). */
void
hints_count(struct hints *hs)
{
    static const unsigned word[2] = {FMT_HINT_HITS, FMT_HINT_MISSES};
    uint64_t *total[2] = {&hs->hits, &hs->misses}, v, now = mono_ms(), most;
    struct hint_area *ar;
    unsigned a, k;

    for (a = 0; a < hs->n; a++) {
        ar = &hs->a[a];
        most = (now > ar->counted_ms ? now - ar->counted_ms : 0) + 1;
        most *= COUNT_PER_MS_MAX;
        ar->counted_ms = now;
        for (k = 0; k < 2; k++) {
            /* ORDERING: relaxed; statistics. */
            v = __atomic_load_n(&ar->w[word[k]], __ATOMIC_RELAXED);
            if (v <= ar->seen[k])
                continue;
            if (v - ar->seen[k] <= most)
                *total[k] += v - ar->seen[k];
            ar->seen[k] = v;
        }
    }
}

/* Drain every area into s's frequency counts; drop idle areas.  Returns
 * how many hints were applied. */
uint64_t
hints_drain(struct hints *hs, struct store *s, uint64_t now_ms)
{
    uint64_t n = 0, v, *w;
    unsigned a, i, got;

    hints_count(hs); /* before an idle area goes */
    for (a = 0; a < hs->n;) {
        w = hs->a[a].w;
        for (got = 0, i = FMT_HINT_FIRST; i < FMT_HINT_WORDS; i++) {
            /* ORDERING: relaxed; a reader's hint is a suggestion, and a
             * store racing with this clear is simply lost. */
            v = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
            if (v == 0)
                continue;
            __atomic_store_n(&w[i], 0, __ATOMIC_RELAXED);
            got++;
            if (s->freq != NULL && apply(s, v))
                n++;
            else
                hs->stale++;
        }
        /* ORDERING: relaxed; readers only compare it with the clock. */
        __atomic_store_n(&w[0], now_ms, __ATOMIC_RELAXED);
        if (got > 0)
            hs->a[a].last_ms = now_ms;
        if (now_ms - hs->a[a].last_ms > HINTS_IDLE_MS) {
            drop(hs, a);
            continue;
        }
        a++;
    }
    hs->drained += n;
    return n;
}

/* Let every area go. */
void
hints_free(struct hints *hs)
{
    while (hs->n > 0)
        drop(hs, 0);
}
