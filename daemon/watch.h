/* SPDX-License-Identifier: MIT */
/*
 * watch.h -- flushing a table when a file it lists changes (watch.c).
 */
#ifndef SHMC_WATCH_H
#define SHMC_WATCH_H

struct daemon;

void watch_setup(struct daemon *d);
void watch_shutdown(void);

#endif /* SHMC_WATCH_H */
