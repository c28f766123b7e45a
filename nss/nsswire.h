/* SPDX-License-Identifier: MIT */
/*
 * nsswire.h -- how the NSS tables' keys and values are spelled, shared by
 * the loader (nss-load.c, which asks glibc) and the module
 * (nss_shmcache.c, which answers glibc).
 *
 * Keys: one letter, then the query.
 *   passwd  "n" name | "u" uid (decimal)
 *   group   "n" name | "g" gid (decimal) | "m" user (groups listing it)
 *   hosts   "n" name (addresses of both families) | "a" family ":" address
 *           in text form (inet_ntop)
 * Values: fields, each ended by a NUL byte.
 *   passwd  name, passwd, uid, gid, gecos, dir, shell
 *   group   name, passwd, gid, then each member
 *   "m"     each gid
 *   hosts   canonical name, alias count, each alias, then each address
 *           as "4:" or "6:" and its text form
 * A key the sources do not know is a negative entry (the loader exits 1).
 */
#ifndef SHMC_NSSWIRE_H
#define SHMC_NSSWIRE_H

#define NSSWIRE_MAX (64u << 10) /* largest value either side handles */

#endif
