/* SPDX-License-Identifier: MIT */
/*
 * error.c -- shmc_strerror() and shmc_version().
 */
#include "config.h"

#include "error.h"
#include "shmcache.h"

/* Describe a result code (see shmcache.h). */
SHMC_EXPORT const char *
shmc_strerror(int err)
{
    return error_str(err);
}

/* The library's version. */
SHMC_EXPORT const char *
shmc_version(void)
{
    return PACKAGE_VERSION;
}
