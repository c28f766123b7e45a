/* SPDX-License-Identifier: MIT */
/*
 * error.h -- result codes shared by the table layer, the wire protocol and
 * the public library.
 *
 * 0 is success; negative errno values are system errors; the SHMC_E* codes,
 * all <= -1000, are shmcache's own conditions.  The numbers travel over the
 * control socket and are part of the public ABI: never renumber one.
 *
 * The public header client/shmcache.h defines the same macros for library
 * users; common/ may not include it (it is the layer above).  The library
 * includes both, and a macro defined twice with different values fails the
 * build, so the two lists cannot drift apart.
 */
#ifndef SHMC_ERROR_H
#define SHMC_ERROR_H

#define SHMC_ENOTFOUND (-1000)
#define SHMC_ENEGATIVE (-1001)
#define SHMC_ERANGE (-1002)
#define SHMC_EBUSY (-1003)
#define SHMC_ECORRUPT (-1004)
#define SHMC_EVERSION (-1005)
#define SHMC_ERETIRED (-1006)
#define SHMC_EEXISTS (-1007)
#define SHMC_ETOOBIG (-1008)
#define SHMC_ENOSPACE (-1009)
#define SHMC_EPROTO (-1010)
#define SHMC_ENOTABLE (-1011)
#define SHMC_ENOTNUM (-1012)
#define SHMC_EREADONLY (-1013)
#define SHMC_ENOLOADER (-1014)
#define SHMC_ELOADER (-1015)

#define SHMC_ELAST SHMC_ELOADER

const char *error_str(int err);

#endif /* SHMC_ERROR_H */
