/* SPDX-License-Identifier: MIT */
/*
 * mapping.h -- how a table file is mapped and kept resident: at a 2 MiB
 * aligned address (so huge pages can back it), prefaulted, advised.
 */
#ifndef SHMC_MAPPING_H
#define SHMC_MAPPING_H

#include <stdint.h>

/* The huge page size mappings are aligned to (x86-64 and arm64 PMD). */
#define MAPPING_HUGE_SIZE (2u << 20)

/* What a table file lives on (mapping_fs()). */
#define MAPPING_FS_OTHER 0
#define MAPPING_FS_TMPFS 1
#define MAPPING_FS_HUGETLBFS 2

void *mapping_map(int fd, uint64_t size, int prot);
int mapping_populate(const void *base, uint64_t size);
int mapping_advise_huge(void *base, uint64_t size);
int mapping_collapse(void *base, uint64_t size);
int mapping_fs(int fd, uint64_t *page_size);

#endif /* SHMC_MAPPING_H */
