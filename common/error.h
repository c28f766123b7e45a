/* SPDX-License-Identifier: MIT */
/*
 * error.h -- result codes shared by the table layer, the wire protocol and
 * the public library.
 *
 * 0 is success; negative errno values are system errors; the SHMC_E* codes,
 * all <= -1000, are shmcache's own conditions, defined in the public
 * header.  The numbers travel over the control socket and are part of the
 * public ABI: never renumber one.
 */
#ifndef SHMC_ERROR_H
#define SHMC_ERROR_H

/* The codes are public: client/shmcache.h defines them, once. */
#include "shmcache.h"

#define SHMC_ELAST SHMC_EREADONLY

const char *error_str(int err);

#endif /* SHMC_ERROR_H */
