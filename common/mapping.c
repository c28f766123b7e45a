/* SPDX-License-Identifier: MIT */
/*
 * mapping.c -- map a table file, and keep it resident as the table asks
 * (FMT_RES_* in format.h; the daemon's side is daemon/residency.c).
 *
 * Every table mapping, the daemon's and every reader's, starts at an
 * address aligned to 2 MiB, so that file offset 0 falls on a huge page
 * boundary: only then can the kernel map a huge page of the file with one
 * page-table entry (a PMD) in this process.  The kernel does not align a
 * tmpfs mapping by itself unless the mount asks for huge pages, and a
 * table collapsed into huge pages (MADV_COLLAPSE) lives on a tmpfs that
 * does not; so we reserve 2 MiB more address space than the file needs,
 * map the file over the aligned part of the reservation (MAP_FIXED, in
 * space we own) and give the rest back.  hugetlbfs aligns by itself, to
 * its own page size, which may be larger.
 *
 * Prefaulting uses MADV_POPULATE_READ (Linux 5.14): page-table entries
 * for every page, without touching the bytes, and an error instead of a
 * SIGBUS if the file was cut short.  Older kernels get MADV_WILLNEED,
 * which only reads the pages in.  Nothing here is on a lookup path, and
 * nothing reads the mapped bytes.  This file is the one that knows the
 * madvise() flags newer than some C libraries, and file system magics.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "format.h"
#include "mapping.h"

/* Linux UAPI values, for C libraries that predate them. */
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define TMPFS_MAGIC_ 0x01021994
#define HUGETLBFS_MAGIC_ 0x958458f6

/*
 * mmap(fd) MAP_SHARED with prot, size bytes, at a 2 MiB aligned address
 * when the file holds at least one huge page.  Returns the address, or
 * MAP_FAILED with errno set.
 */
void *
mapping_map(int fd, uint64_t size, int prot)
{
    uint64_t len = FMT_ALIGN_UP(size, FMT_PAGE), slack;
    unsigned char *r, *a;
    void *p;
    int saved;

    if (size < MAPPING_HUGE_SIZE ||
        mapping_fs(fd, NULL) == MAPPING_FS_HUGETLBFS ||
        len + MAPPING_HUGE_SIZE < len ||
        (uint64_t)(size_t)(len + MAPPING_HUGE_SIZE) != len + MAPPING_HUGE_SIZE)
        return mmap(NULL, (size_t)size, prot, MAP_SHARED, fd, 0);
    r = mmap(NULL, (size_t)(len + MAPPING_HUGE_SIZE), PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return mmap(NULL, (size_t)size, prot, MAP_SHARED, fd, 0);
    a = (unsigned char *)(uintptr_t)FMT_ALIGN_UP((uintptr_t)r,
                                                 MAPPING_HUGE_SIZE);
    p = mmap(a, (size_t)size, prot, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        saved = errno;
        munmap(r, (size_t)(len + MAPPING_HUGE_SIZE));
        errno = saved;
        return MAP_FAILED;
    }
    /* Give back the reservation on either side of the file. */
    if (a > r)
        munmap(r, (size_t)(a - r));
    slack = (uint64_t)(r + len + MAPPING_HUGE_SIZE - (a + len));
    if (slack > 0)
        munmap(a + len, (size_t)slack);
    return p;
}

/*
 * Prefault a mapping: page-table entries for all of it, so that no lookup
 * takes a page fault.  Returns 0, or -errno (the mapping stays usable).
 */
int
mapping_populate(const void *base, uint64_t size)
{
    if (madvise((void *)(uintptr_t)base, (size_t)size, MADV_POPULATE_READ) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    /* Before Linux 5.14: at least read it in. */
    return madvise((void *)(uintptr_t)base, (size_t)size, MADV_WILLNEED) == 0
               ? 0
               : -errno;
}

/* Ask for huge pages wherever the kernel allocates for this mapping
 * (MADV_HUGEPAGE; what a tmpfs mounted with huge=advise waits for). */
int
mapping_advise_huge(void *base, uint64_t size)
{
    return madvise(base, (size_t)size, MADV_HUGEPAGE) == 0 ? 0 : -errno;
}

/*
 * Move the pages of a mapping into huge pages now (MADV_COLLAPSE, Linux
 * 6.1): for a tmpfs file, whatever its mount's huge= option, unless shmem
 * huge pages are denied system-wide.  Returns 0, or -errno: -EINVAL (not
 * supported here), -EAGAIN or -ENOMEM (no free 2 MiB blocks, for some
 * or all of it).
 */
int
mapping_collapse(void *base, uint64_t size)
{
    return madvise(base, (size_t)size, MADV_COLLAPSE) == 0 ? 0 : -errno;
}

/* The file system fd lives on: MAPPING_FS_*; and its page size (the huge
 * page size of a hugetlbfs) in *page_size unless NULL. */
int
mapping_fs(int fd, uint64_t *page_size)
{
    struct statfs sfs;

    if (page_size != NULL)
        *page_size = FMT_PAGE;
    if (fstatfs(fd, &sfs) != 0)
        return MAPPING_FS_OTHER;
    if (page_size != NULL && sfs.f_bsize > 0)
        *page_size = (uint64_t)sfs.f_bsize;
    if ((uint32_t)sfs.f_type == (uint32_t)HUGETLBFS_MAGIC_)
        return MAPPING_FS_HUGETLBFS;
    if ((uint32_t)sfs.f_type == (uint32_t)TMPFS_MAGIC_)
        return MAPPING_FS_TMPFS;
    return MAPPING_FS_OTHER;
}
