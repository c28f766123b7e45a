/*
 * error.h -- result codes shared by the table layer, the wire protocol and
 * the public library.
 *
 * 0 is success; negative errno values are system errors; the SHMC_E* codes,
 * all <= -1000, are shmcache's own conditions.  The numbers travel over the
 * control socket and are part of the public ABI: never renumber one.
 */
#ifndef SHMC_ERROR_H
#define SHMC_ERROR_H

#define SHMC_ENOTFOUND (-1000) /* no such key (or it expired) */
#define SHMC_ENEGATIVE (-1001) /* key cached as known absent */
#define SHMC_ERANGE (-1002)    /* value larger than the caller's buffer */
#define SHMC_EBUSY (-1003)     /* retry budget spent on a changing bucket */
#define SHMC_ECORRUPT (-1004)  /* table file damaged */
#define SHMC_EVERSION (-1005)  /* unknown table format or protocol version */
#define SHMC_ERETIRED (-1006)  /* table replaced; reopen it */
#define SHMC_EEXISTS (-1007)   /* add: the key is already there */
#define SHMC_ETOOBIG (-1008)   /* key or value over the table's limit */
#define SHMC_ENOSPACE (-1009)  /* entry larger than the table can ever hold */
#define SHMC_EPROTO (-1010)    /* malformed frame or protocol violation */
#define SHMC_ENOTABLE (-1011)  /* no table of that name */
#define SHMC_ENOTNUM (-1012)   /* incr/decr on a value that is not a number */
#define SHMC_ELAST (-1012)

const char *error_str(int err);

#endif /* SHMC_ERROR_H */
