/* SPDX-License-Identifier: MIT */
/*
 * residency.c -- a table's residency options, on the writer's side:
 * populate (prefault the whole mapping now, rather than on first touch),
 * lock (mlock: tmpfs pages are never swapped out) and huge_pages (2 MiB
 * pages: one TLB entry and no page walk for what takes 512 with 4 KiB
 * pages).
 *
 * Huge pages come from the file system the table lives on:
 *  - hugetlbfs: every page is huge by construction (its pool is reserved
 *    by the administrator, vm.nr_hugepages; the file's size must be a
 *    multiple of the huge page size);
 *  - tmpfs: the file's pages are moved into huge pages with MADV_COLLAPSE
 *    (Linux 6.1), which works whatever the mount's huge= option says,
 *    unless shmem huge pages are denied system-wide (shmem_enabled is
 *    "deny"); MADV_HUGEPAGE first, so that a tmpfs mounted huge=advise
 *    also allocates huge pages for this mapping by itself.  A tmpfs
 *    mounted huge=always or within_size has them from the start;
 *  - anything else (a memory table whose runtime directory is on disk):
 *    none, and why[] says so.
 * What the kernel really did is measured, not assumed: the bytes of the
 * mapping that huge pages map, from /proc/self/smaps.
 *
 * The result is published in the header (h_residency) for readers:
 * populate makes them prefault their mappings too (table_open_fd()); they
 * map every table 2 MiB-aligned anyway, so huge pages reach them without
 * advice.  Locking is the daemon's alone: a page is resident for every
 * process once one locks it.
 *
 * Nothing here logs: the caller (tables.c) says what happened.  Only the
 * writer thread calls it, on a store it owns.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "mapping.h"
#include "residency.h"
#include "seqlock.h"

#define SHMEM_THP_PATH "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* Append to r->why, "; "-separated. */
static void __attribute__((format(printf, 2, 3)))
why_add(struct residency *r, const char *fmt, ...)
{
    size_t n = strlen(r->why);
    va_list ap;

    if (n > 0 && n + 2 < sizeof(r->why)) {
        memcpy(r->why + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(r->why + n, sizeof(r->why) - n, fmt, ap);
    va_end(ap);
}

/* The system's shmem huge page policy, the bracketed word of
 * shmem_enabled ("never", "advise", "deny", ...), or "unknown". */
const char *
residency_shmem_thp(char *buf, size_t size)
{
    char line[256], *a, *b;
    FILE *f = fopen(SHMEM_THP_PATH, "re");

    snprintf(buf, size, "unknown");
    if (f == NULL)
        return buf;
    if (fgets(line, sizeof(line), f) != NULL &&
        (a = strchr(line, '[')) != NULL && (b = strchr(a, ']')) != NULL)
        snprintf(buf, size, "%.*s", (int)(b - a - 1), a + 1);
    fclose(f);
    return buf;
}

/*
 * Bytes of s's mapping that huge pages map, from /proc/self/smaps (the
 * mapping's own entry: ShmemPmdMapped, FilePmdMapped, *_Hugetlb).
 * Returns 0, or -errno if it cannot be told.
 */
int
residency_huge_bytes(const struct store *s, uint64_t *bytes)
{
    char line[512], start[32];
    unsigned long long kib;
    int in = 0, found = 0;
    FILE *f;

    *bytes = 0;
    snprintf(start, sizeof(start), "%" PRIxPTR "-", (uintptr_t)s->base);
    f = fopen("/proc/self/smaps", "re");
    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        /* An entry's first line starts with its address (lowercase hex),
         * its fields with a capitalised name. */
        if ((line[0] >= '0' && line[0] <= '9') ||
            (line[0] >= 'a' && line[0] <= 'f')) {
            in = strncmp(line, start, strlen(start)) == 0;
            found |= in;
            continue;
        }
        if (in && (sscanf(line, "ShmemPmdMapped: %llu kB", &kib) == 1 ||
                   sscanf(line, "FilePmdMapped: %llu kB", &kib) == 1 ||
                   sscanf(line, "Shared_Hugetlb: %llu kB", &kib) == 1 ||
                   sscanf(line, "Private_Hugetlb: %llu kB", &kib) == 1))
            *bytes += (uint64_t)kib * 1024u;
    }
    fclose(f);
    return found ? 0 : -ENOENT;
}

/* The name of a RESIDENCY_HUGE_* state, as stats and the log show it. */
const char *
residency_huge_name(int huge)
{
    switch (huge) {
    case RESIDENCY_HUGE_ON:
        return "on";
    case RESIDENCY_HUGE_PARTIAL:
        return "partial";
    case RESIDENCY_HUGE_UNAVAILABLE:
        return "unavailable";
    default:
        return "off";
    }
}

/* Put s on huge pages as far as its file system allows (see above). */
static void
apply_huge(struct store *s, struct residency *r)
{
    uint64_t want = s->size & ~((uint64_t)MAPPING_HUGE_SIZE - 1), got = 0;
    char thp[32];
    int fs = mapping_fs(s->fd, NULL), rc, measured;

    r->huge_via = "";
    if (fs == MAPPING_FS_HUGETLBFS) {
        r->huge = RESIDENCY_HUGE_ON;
        r->huge_via = "hugetlbfs";
        r->have |= FMT_RES_HUGE;
        (void)residency_huge_bytes(s, &r->huge_bytes);
        return;
    }
    if (fs != MAPPING_FS_TMPFS) {
        r->huge = RESIDENCY_HUGE_UNAVAILABLE;
        why_add(r,
                "huge_pages: %s is neither on tmpfs nor on hugetlbfs (put "
                "the table on one: the runtime directory, or \"directory\")",
                s->path);
        return;
    }
    if (want == 0) {
        r->huge = RESIDENCY_HUGE_UNAVAILABLE;
        why_add(r, "huge_pages: the table is smaller than one huge page "
                   "(2 MiB)");
        return;
    }
    r->huge_via = "tmpfs";
    (void)mapping_advise_huge(s->base, s->size);
    rc = mapping_collapse(s->base, want);
    measured = residency_huge_bytes(s, &got) == 0;
    if (!measured)
        got = rc == 0 ? want : 0;
    r->huge_bytes = got;
    if (got >= want) {
        r->huge = RESIDENCY_HUGE_ON;
        r->have |= FMT_RES_HUGE;
        return;
    }
    residency_shmem_thp(thp, sizeof(thp));
    r->huge = got > 0 ? RESIDENCY_HUGE_PARTIAL : RESIDENCY_HUGE_UNAVAILABLE;
    if (got > 0)
        r->have |= FMT_RES_HUGE;
    if (strcmp(thp, "deny") == 0)
        why_add(r,
                "huge_pages: shmem huge pages are denied system-wide "
                "(%s is \"deny\")",
                SHMEM_THP_PATH);
    else if (rc == -EINVAL)
        why_add(r,
                "huge_pages: this kernel cannot move a tmpfs file into huge "
                "pages (MADV_COLLAPSE needs Linux 6.1 with transparent huge "
                "pages; shmem_enabled is \"%s\"); mount a tmpfs with "
                "huge=always or use hugetlbfs",
                thp);
    else
        why_add(r,
                "huge_pages: %llu of %llu MiB on huge pages (%s; free "
                "2 MiB blocks are short)",
                (unsigned long long)(got >> 20),
                (unsigned long long)(want >> 20),
                rc != 0 ? strerror(-rc) : "the kernel split some");
}

/* mlock the whole mapping; -EAGAIN with why[] (naming the errno and the
 * limit) if it cannot be. */
static int
apply_lock(struct store *s, struct residency *r)
{
    struct rlimit rl;
    char lim[48];
    int rc;

    if (mlock(s->base, s->size) == 0) {
        r->have |= FMT_RES_LOCK;
        return 0;
    }
    rc = -errno;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
        snprintf(lim, sizeof(lim), "unknown");
    else if (rl.rlim_cur == RLIM_INFINITY)
        snprintf(lim, sizeof(lim), "unlimited");
    else
        snprintf(lim, sizeof(lim), "%llu bytes",
                 (unsigned long long)rl.rlim_cur);
    why_add(r,
            "lock: mlock of %llu bytes failed: %s (RLIMIT_MEMLOCK is %s; "
            "raise it to the tables' total, e.g. LimitMEMLOCK= in the "
            "systemd unit, or grant CAP_IPC_LOCK)",
            (unsigned long long)s->size, strerror(-rc), lim);
    return -EAGAIN;
}

/*
 * Make s resident as want (FMT_RES_*) says, undoing a lock no longer
 * wanted, and publish what is in effect for readers.  r carries what the
 * last call did on this store (zeroed for a new one).  Returns 0, or
 * -EAGAIN if the table cannot be locked; every other shortfall is only
 * reported, in r->huge and r->why.
 */
int
residency_apply(struct store *s, uint32_t want, struct residency *r)
{
    struct timespec t0, t1;
    int rc = 0, prc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    r->why[0] = '\0';
    r->want = want & FMT_RES_MASK;
    r->have &= FMT_RES_LOCK; /* the one thing that lasts between calls */
    r->huge = RESIDENCY_HUGE_OFF;
    r->huge_bytes = 0;
    r->huge_via = "";
    /* Huge pages first, so that locking and prefaulting map them. */
    if (want & FMT_RES_HUGE)
        apply_huge(s, r);
    if ((want & FMT_RES_LOCK) && !(r->have & FMT_RES_LOCK))
        rc = apply_lock(s, r);
    else if (!(want & FMT_RES_LOCK) && (r->have & FMT_RES_LOCK)) {
        munlock(s->base, s->size);
        r->have &= ~FMT_RES_LOCK;
    }
    if (want & FMT_RES_POPULATE) {
        r->have |= FMT_RES_POPULATE;
        prc = mapping_populate(s->base, s->size);
        if (prc != 0)
            why_add(r, "populate: %s", strerror(-prc));
    }
    /* ORDERING: relaxed; advice readers take once, at attach, with no
     * other data depending on it. */
    seq_store_u32(&s->hdr->h_residency, r->have);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->ms = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 +
                       (t1.tv_nsec - t0.tv_nsec) / 1000000);
    return rc;
}
