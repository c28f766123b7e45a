/* SPDX-License-Identifier: MIT */
/*
 * error.c -- one sentence per result code (error.h), for logs, the tools
 * and shmc_strerror().  Pure lookup, no state; system errors defer to
 * strerror(3).
 */
#include "config.h"

#include <string.h>

#include "error.h"

/* Describe a result code. */
const char *
error_str(int err)
{
    switch (err) {
    case 0:
        return "success";
    case SHMC_ENOTFOUND:
        return "key not found";
    case SHMC_ENEGATIVE:
        return "key cached as absent";
    case SHMC_ERANGE:
        return "value larger than the buffer";
    case SHMC_EBUSY:
        return "table busy: bucket kept changing (writer stuck or died "
               "mid-write)";
    case SHMC_ECORRUPT:
        return "table file is corrupt";
    case SHMC_EVERSION:
        return "unsupported table format or protocol version";
    case SHMC_ERETIRED:
        return "table was replaced; reopen it";
    case SHMC_EEXISTS:
        return "key already exists";
    case SHMC_ETOOBIG:
        return "key or value exceeds the table's limit";
    case SHMC_ENOSPACE:
        return "entry larger than the table can hold";
    case SHMC_EPROTO:
        return "malformed request or protocol violation";
    case SHMC_ENOTABLE:
        return "no such table";
    case SHMC_ENOTNUM:
        return "value is not a decimal number";
    case SHMC_EREADONLY:
        return "handle opened from a file: writes go through the daemon";
    case SHMC_ENOLOADER:
        return "the table has no loader";
    case SHMC_ELOADER:
        return "the table's loader failed";
    }
    if (err < 0 && err > SHMC_ENOTFOUND)
        return strerror(-err);
    return "unknown error";
}
