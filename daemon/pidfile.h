/* SPDX-License-Identifier: MIT */
/*
 * pidfile.h -- the daemon's --pid-file (pidfile.c).
 */
#ifndef SHMC_PIDFILE_H
#define SHMC_PIDFILE_H

#include <stddef.h>

int pidfile_take(const char *path, char *err, size_t errlen);
void pidfile_remove(const char *path, int fd);

#endif /* SHMC_PIDFILE_H */
