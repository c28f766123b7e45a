/* SPDX-License-Identifier: MIT */
/*
 * nss_shmcache.c -- libnss_shmcache.so.2: glibc's passwd, group and hosts
 * lookups answered from shmcached's tables "passwd", "group" and "hosts".
 *
 * A hit is a lock-free lookup in the mapped table: no system call once the
 * table is open.  A miss asks the daemon to load the key (the table's
 * "nss" loader asks the host's other sources, once per key however many
 * processes miss it) and answers with what it stored.  No daemon, or no
 * such table: NSS_STATUS_UNAVAIL at once, so that the next source in
 * nsswitch.conf ("passwd: shmcache files") answers; a failed open is not
 * retried for a few seconds, so that a host without the daemon does not
 * pay a connect() per lookup.  The socket is found as libshmcache finds
 * it ($SHMCACHE_SOCKET, read with secure_getenv, else the default).
 *
 * Inside the loader itself (SHMCACHE_NSS_DISABLE set) the module steps
 * aside, so a host that lists shmcache in nsswitch.conf does not loop.
 *
 * Only libc and libshmcache's own code (compiled in): no libevent, no
 * jansson in every process.  Nothing read from a table is trusted: each
 * value is parsed within its length, and a malformed one is a miss.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nsswire.h"
#include "shmcache.h"

#define EXPORT __attribute__((visibility("default")))
#define RETRY_S 5 /* after a failed open, answer UNAVAIL this long */

/* What glibc looks for in libnss_shmcache.so.2 (the names and types of
 * glibc's own modules; no header declares them). */
EXPORT enum nss_status _nss_shmcache_getpwnam_r(const char *, struct passwd *,
                                                char *, size_t, int *);
EXPORT enum nss_status _nss_shmcache_getpwuid_r(uid_t, struct passwd *, char *,
                                                size_t, int *);
EXPORT enum nss_status _nss_shmcache_getgrnam_r(const char *, struct group *,
                                                char *, size_t, int *);
EXPORT enum nss_status _nss_shmcache_getgrgid_r(gid_t, struct group *, char *,
                                                size_t, int *);
EXPORT enum nss_status _nss_shmcache_initgroups_dyn(const char *, gid_t,
                                                    long int *, long int *,
                                                    gid_t **, long int, int *);
EXPORT enum nss_status _nss_shmcache_gethostbyname2_r(const char *, int,
                                                      struct hostent *, char *,
                                                      size_t, int *, int *);
EXPORT enum nss_status _nss_shmcache_gethostbyname_r(const char *,
                                                     struct hostent *, char *,
                                                     size_t, int *, int *);
EXPORT enum nss_status _nss_shmcache_gethostbyname4_r(const char *,
                                                      struct gaih_addrtuple **,
                                                      char *, size_t, int *,
                                                      int *, int32_t *);
EXPORT enum nss_status _nss_shmcache_gethostbyaddr_r(const void *, socklen_t,
                                                     int, struct hostent *,
                                                     char *, size_t, int *,
                                                     int *);

enum db { DB_PASSWD, DB_GROUP, DB_HOSTS, DB_N };

static const char *const table_of[DB_N] = {"passwd", "group", "hosts"};

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static shmc_t *handles[DB_N]; /* atomic: set once, never freed */
static time_t retry_at[DB_N];

/* The table of db, opened on first use; NULL while unavailable. */
static shmc_t *
table(enum db db)
{
    shmc_t *h = __atomic_load_n(&handles[db], __ATOMIC_ACQUIRE);
    struct timespec now;

    if (h != NULL)
        return h;
    if (getenv("SHMCACHE_NSS_DISABLE") != NULL)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&open_lock);
    if ((h = handles[db]) == NULL && now.tv_sec >= retry_at[db]) {
        if (shmc_open(NULL, table_of[db], 0, &h) == 0)
            __atomic_store_n(&handles[db], h, __ATOMIC_RELEASE);
        else
            retry_at[db] = now.tv_sec + RETRY_S;
    }
    pthread_mutex_unlock(&open_lock);
    return h;
}

/* A value fetched for parsing: in the caller's small buffer, or on the
 * heap when larger. */
struct value {
    char small[2048];
    char *p;
    size_t n;
};

static void
value_free(struct value *v)
{
    if (v->p != v->small)
        free(v->p);
}

/* Look key up, loading it on a miss.  NSS_STATUS_SUCCESS with the value;
 * NOTFOUND (negative); UNAVAIL (no daemon); TRYAGAIN (loader trouble). */
static enum nss_status
fetch(enum db db, const char *key, size_t klen, struct value *v, int *errnop)
{
    shmc_t *h = table(db);
    int rc;

    v->p = v->small;
    if (h == NULL) {
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    }
    rc = shmc_get_or_load(h, key, klen, v->p, sizeof(v->small), &v->n);
    if (rc == SHMC_ERANGE && v->n <= NSSWIRE_MAX) {
        size_t need = v->n;
        if ((v->p = malloc(need)) == NULL) {
            v->p = v->small;
            *errnop = ENOMEM;
            return NSS_STATUS_TRYAGAIN;
        }
        rc = shmc_get_or_load(h, key, klen, v->p, need, &v->n);
    }
    switch (rc) {
    case 0:
        return NSS_STATUS_SUCCESS;
    case SHMC_ENEGATIVE:
    case SHMC_ENOTFOUND:
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    case -ETIMEDOUT:
    case SHMC_EBUSY:
    case SHMC_ELOADER:
    case SHMC_ERANGE:
        *errnop = EAGAIN;
        return NSS_STATUS_TRYAGAIN;
    default: /* no daemon, no table, no loader, refused, ... */
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    }
}

/* Fields of a value, one at a time. */
struct fields {
    const char *p, *end;
};

/* The next NUL-ended field, or NULL at the end or on a malformed value. */
static const char *
next_field(struct fields *f)
{
    const char *s = f->p, *nul;

    if (s >= f->end || (nul = memchr(s, '\0', (size_t)(f->end - s))) == NULL)
        return NULL;
    f->p = nul + 1;
    return s;
}

static int
field_id(struct fields *f, unsigned long *v)
{
    const char *s = next_field(f);
    unsigned long x = 0;

    /* Digits only, at most 10 of them, at most 2^32 - 1: what nsswire
     * writes.  (strtoul cost more than the rest of the parse.) */
    if (s == NULL || *s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || x > 0xfffffffful / 10u)
            return -1;
        x = x * 10u + (unsigned long)(*s - '0');
    }
    if (x > 0xfffffffful)
        return -1;
    *v = x;
    return 0;
}

/* The caller's buffer, handed out piece by piece. */
struct arena {
    char *p;
    size_t left;
};

static void *
take(struct arena *a, size_t n, size_t align)
{
    size_t pad = (align - (uintptr_t)a->p % align) % align;
    void *r;

    if (pad + n > a->left)
        return NULL;
    r = a->p + pad;
    a->p += pad + n;
    a->left -= pad + n;
    return r;
}

static char *
copy(struct arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = take(a, n, 1);

    if (r != NULL)
        memcpy(r, s, n);
    return r;
}

/* The outcome of a parse: a value that did not fit the caller's buffer is
 * ERANGE (glibc retries with a larger one); a malformed one a miss. */
static enum nss_status
too_small(int *errnop)
{
    *errnop = ERANGE;
    return NSS_STATUS_TRYAGAIN;
}

static enum nss_status
malformed(int *errnop)
{
    *errnop = ENOENT;
    return NSS_STATUS_NOTFOUND;
}

/* ---- keys: a letter for the kind, then the name or the id ---------- */

/* key = kind + s; -1 if that does not fit in size bytes with its NUL.
 * (snprintf was a fifth of a hit's instructions.) */
static int
name_key(char *key, size_t size, char kind, const char *s)
{
    size_t n = strlen(s);

    if (n + 2 > size)
        return -1;
    key[0] = kind;
    memcpy(key + 1, s, n + 1);
    return 0;
}

/* key = kind + id in decimal; key has room for 22 bytes. */
static void
id_key(char *key, char kind, unsigned long id)
{
    char digits[21];
    size_t n = 0, i;

    do
        digits[n++] = (char)('0' + id % 10u);
    while ((id /= 10u) != 0);
    key[0] = kind;
    for (i = 0; i < n; i++)
        key[1 + i] = digits[n - 1 - i];
    key[1 + n] = '\0';
}

/* ---- passwd -------------------------------------------------------- */

static enum nss_status
passwd_of(const struct value *v, struct passwd *pw, char *buf, size_t len,
          int *errnop)
{
    struct fields f = {v->p, v->p + v->n};
    struct arena a = {buf, len};
    const char *name, *pass, *gecos, *dir, *shell;
    unsigned long uid, gid;

    if ((name = next_field(&f)) == NULL || (pass = next_field(&f)) == NULL ||
        field_id(&f, &uid) != 0 || field_id(&f, &gid) != 0 ||
        (gecos = next_field(&f)) == NULL || (dir = next_field(&f)) == NULL ||
        (shell = next_field(&f)) == NULL)
        return malformed(errnop);
    if ((pw->pw_name = copy(&a, name)) == NULL ||
        (pw->pw_passwd = copy(&a, pass)) == NULL ||
        (pw->pw_gecos = copy(&a, gecos)) == NULL ||
        (pw->pw_dir = copy(&a, dir)) == NULL ||
        (pw->pw_shell = copy(&a, shell)) == NULL)
        return too_small(errnop);
    pw->pw_uid = (uid_t)uid;
    pw->pw_gid = (gid_t)gid;
    return NSS_STATUS_SUCCESS;
}

static enum nss_status
passwd_lookup(const char *key, struct passwd *pw, char *buf, size_t len,
              int *errnop)
{
    struct value v;
    enum nss_status st = fetch(DB_PASSWD, key, strlen(key), &v, errnop);

    if (st == NSS_STATUS_SUCCESS)
        st = passwd_of(&v, pw, buf, len, errnop);
    value_free(&v);
    return st;
}

EXPORT enum nss_status
_nss_shmcache_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                         size_t len, int *errnop)
{
    char key[1024];

    if (name_key(key, sizeof(key), 'n', name) != 0)
        return malformed(errnop);
    return passwd_lookup(key, pw, buf, len, errnop);
}

EXPORT enum nss_status
_nss_shmcache_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                         int *errnop)
{
    char key[32];

    id_key(key, 'u', (unsigned long)uid);
    return passwd_lookup(key, pw, buf, len, errnop);
}

/* ---- group --------------------------------------------------------- */

static enum nss_status
group_of(const struct value *v, struct group *gr, char *buf, size_t len,
         int *errnop)
{
    struct fields f = {v->p, v->p + v->n};
    struct arena a = {buf, len};
    const char *name, *pass, *m;
    unsigned long gid;
    size_t n = 0, i;
    char **mem;

    if ((name = next_field(&f)) == NULL || (pass = next_field(&f)) == NULL ||
        field_id(&f, &gid) != 0)
        return malformed(errnop);
    {
        struct fields c = f;
        while (next_field(&c) != NULL)
            n++;
    }
    if ((mem = take(&a, sizeof(char *) * (n + 1), sizeof(char *))) == NULL)
        return too_small(errnop);
    for (i = 0; i < n; i++) {
        m = next_field(&f);
        if ((mem[i] = copy(&a, m)) == NULL)
            return too_small(errnop);
    }
    mem[n] = NULL;
    if ((gr->gr_name = copy(&a, name)) == NULL ||
        (gr->gr_passwd = copy(&a, pass)) == NULL)
        return too_small(errnop);
    gr->gr_gid = (gid_t)gid;
    gr->gr_mem = mem;
    return NSS_STATUS_SUCCESS;
}

static enum nss_status
group_lookup(const char *key, struct group *gr, char *buf, size_t len,
             int *errnop)
{
    struct value v;
    enum nss_status st = fetch(DB_GROUP, key, strlen(key), &v, errnop);

    if (st == NSS_STATUS_SUCCESS)
        st = group_of(&v, gr, buf, len, errnop);
    value_free(&v);
    return st;
}

EXPORT enum nss_status
_nss_shmcache_getgrnam_r(const char *name, struct group *gr, char *buf,
                         size_t len, int *errnop)
{
    char key[1024];

    if (name_key(key, sizeof(key), 'n', name) != 0)
        return malformed(errnop);
    return group_lookup(key, gr, buf, len, errnop);
}

EXPORT enum nss_status
_nss_shmcache_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len,
                         int *errnop)
{
    char key[32];

    id_key(key, 'g', (unsigned long)gid);
    return group_lookup(key, gr, buf, len, errnop);
}

/* Supplementary groups of user: appended to *groupsp[*start ..], growing
 * it up to limit (<= 0: no limit); group (the primary) is left out. */
EXPORT enum nss_status
_nss_shmcache_initgroups_dyn(const char *user, gid_t group, long int *start,
                             long int *size, gid_t **groupsp, long int limit,
                             int *errnop)
{
    char key[1024];
    struct value v;
    struct fields f;
    unsigned long gid;
    enum nss_status st;
    long int i;

    if (name_key(key, sizeof(key), 'm', user) != 0)
        return malformed(errnop);
    st = fetch(DB_GROUP, key, strlen(key), &v, errnop);
    if (st != NSS_STATUS_SUCCESS)
        return st;
    f = (struct fields){v.p, v.p + v.n};
    while (field_id(&f, &gid) == 0) {
        if ((gid_t)gid == group)
            continue;
        for (i = 0; i < *start && (*groupsp)[i] != (gid_t)gid; i++)
            ;
        if (i < *start)
            continue; /* already there */
        if (*start == *size) {
            long int nsize = *size * 2 + 1;
            gid_t *ng;
            if (limit > 0 && *size >= limit)
                break;
            if (limit > 0 && nsize > limit)
                nsize = limit;
            ng = realloc(*groupsp, (size_t)nsize * sizeof(gid_t));
            if (ng == NULL) {
                value_free(&v);
                *errnop = ENOMEM;
                return NSS_STATUS_TRYAGAIN;
            }
            *groupsp = ng;
            *size = nsize;
        }
        (*groupsp)[(*start)++] = (gid_t)gid;
    }
    value_free(&v);
    return NSS_STATUS_SUCCESS;
}

/* ---- hosts --------------------------------------------------------- */

/* One address of a hosts value ("4:..." or "6:..."), or -1 if s is not. */
static int
address_of(const char *s, unsigned char addr[16])
{
    if (s[0] == '4' && s[1] == ':' && inet_pton(AF_INET, s + 2, addr) == 1)
        return AF_INET;
    if (s[0] == '6' && s[1] == ':' && inet_pton(AF_INET6, s + 2, addr) == 1)
        return AF_INET6;
    return -1;
}

/* Fill a hostent of family af from a hosts value. */
static enum nss_status
hostent_of(const struct value *v, int af, struct hostent *he, char *buf,
           size_t len, int *errnop, int *herrnop)
{
    struct fields f = {v->p, v->p + v->n}, c;
    struct arena a = {buf, len};
    unsigned long naliases, i;
    const char *name, *s;
    unsigned char addr[16];
    size_t alen = af == AF_INET ? 4 : 16, naddr = 0, k;
    char **aliases, **list;

    if ((name = next_field(&f)) == NULL || field_id(&f, &naliases) != 0 ||
        naliases > 4096)
        goto bad;
    c = f;
    for (i = 0; i < naliases; i++)
        if (next_field(&c) == NULL)
            goto bad;
    while ((s = next_field(&c)) != NULL)
        naddr += address_of(s, addr) == af;
    if (naddr == 0) {
        *errnop = ENOENT;
        *herrnop = HOST_NOT_FOUND;
        return NSS_STATUS_NOTFOUND;
    }
    aliases = take(&a, sizeof(char *) * (naliases + 1), sizeof(char *));
    list = take(&a, sizeof(char *) * (naddr + 1), sizeof(char *));
    if (aliases == NULL || list == NULL)
        goto small;
    for (i = 0; i < naliases; i++)
        if ((aliases[i] = copy(&a, next_field(&f))) == NULL)
            goto small;
    aliases[naliases] = NULL;
    for (k = 0; (s = next_field(&f)) != NULL;)
        if (address_of(s, addr) == af) {
            if ((list[k] = take(&a, alen, 4)) == NULL)
                goto small;
            memcpy(list[k++], addr, alen);
        }
    list[k] = NULL;
    if ((he->h_name = copy(&a, name)) == NULL)
        goto small;
    he->h_aliases = aliases;
    he->h_addrtype = af;
    he->h_length = (int)alen;
    he->h_addr_list = list;
    return NSS_STATUS_SUCCESS;
small:
    *herrnop = NETDB_INTERNAL;
    return too_small(errnop);
bad:
    *herrnop = HOST_NOT_FOUND;
    return malformed(errnop);
}

/* h_errno for a fetch() that did not succeed. */
static void
set_herr(enum nss_status st, int *herrnop)
{
    *herrnop = st == NSS_STATUS_NOTFOUND   ? HOST_NOT_FOUND
               : st == NSS_STATUS_TRYAGAIN ? TRY_AGAIN
                                           : NO_RECOVERY;
}

EXPORT enum nss_status
_nss_shmcache_gethostbyname2_r(const char *name, int af, struct hostent *he,
                               char *buf, size_t len, int *errnop, int *herrnop)
{
    char key[1100];
    struct value v;
    enum nss_status st;

    if (af != AF_INET && af != AF_INET6) {
        *errnop = EAFNOSUPPORT;
        *herrnop = NO_RECOVERY;
        return NSS_STATUS_UNAVAIL;
    }
    if (name_key(key, sizeof(key), 'n', name) != 0) {
        *herrnop = HOST_NOT_FOUND;
        return malformed(errnop);
    }
    st = fetch(DB_HOSTS, key, strlen(key), &v, errnop);
    if (st == NSS_STATUS_SUCCESS)
        st = hostent_of(&v, af, he, buf, len, errnop, herrnop);
    else
        set_herr(st, herrnop);
    value_free(&v);
    return st;
}

EXPORT enum nss_status
_nss_shmcache_gethostbyname_r(const char *name, struct hostent *he, char *buf,
                              size_t len, int *errnop, int *herrnop)
{
    return _nss_shmcache_gethostbyname2_r(name, AF_INET, he, buf, len, errnop,
                                          herrnop);
}

/* getaddrinfo()'s entry point: every address of both families. */
EXPORT enum nss_status
_nss_shmcache_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat,
                               char *buf, size_t len, int *errnop, int *herrnop,
                               int32_t *ttlp)
{
    struct gaih_addrtuple *first = NULL, **tail = &first, *t;
    struct arena a = {buf, len};
    struct fields f;
    unsigned long naliases, i;
    const char *cname, *s;
    unsigned char addr[16];
    char key[1100], *cn = NULL;
    struct value v;
    enum nss_status st;
    int af;

    if (name_key(key, sizeof(key), 'n', name) != 0) {
        *herrnop = HOST_NOT_FOUND;
        return malformed(errnop);
    }
    st = fetch(DB_HOSTS, key, strlen(key), &v, errnop);
    if (st != NSS_STATUS_SUCCESS) {
        set_herr(st, herrnop);
        value_free(&v);
        return st;
    }
    f = (struct fields){v.p, v.p + v.n};
    if ((cname = next_field(&f)) == NULL || field_id(&f, &naliases) != 0)
        goto bad;
    for (i = 0; i < naliases; i++)
        if (next_field(&f) == NULL)
            goto bad;
    while ((s = next_field(&f)) != NULL) {
        if ((af = address_of(s, addr)) < 0)
            continue;
        if (cn == NULL && (cn = copy(&a, cname)) == NULL)
            goto small;
        if ((t = take(&a, sizeof(*t), sizeof(void *))) == NULL)
            goto small;
        memset(t, 0, sizeof(*t));
        t->name = first == NULL ? cn : NULL;
        t->family = af;
        memcpy(t->addr, addr, af == AF_INET ? 4 : 16);
        *tail = t;
        tail = &t->next;
    }
    value_free(&v);
    if (first == NULL) {
        *errnop = ENOENT;
        *herrnop = HOST_NOT_FOUND;
        return NSS_STATUS_NOTFOUND;
    }
    *pat = first;
    if (ttlp != NULL)
        *ttlp = 0;
    return NSS_STATUS_SUCCESS;
small:
    value_free(&v);
    *herrnop = NETDB_INTERNAL;
    return too_small(errnop);
bad:
    value_free(&v);
    *herrnop = HOST_NOT_FOUND;
    return malformed(errnop);
}

EXPORT enum nss_status
_nss_shmcache_gethostbyaddr_r(const void *addr, socklen_t alen, int af,
                              struct hostent *he, char *buf, size_t len,
                              int *errnop, int *herrnop)
{
    char key[INET6_ADDRSTRLEN + 4];
    struct value v;
    enum nss_status st;

    if (!((af == AF_INET && alen == 4) || (af == AF_INET6 && alen == 16))) {
        *errnop = EAFNOSUPPORT;
        *herrnop = NO_RECOVERY;
        return NSS_STATUS_UNAVAIL;
    }
    key[0] = 'a';
    key[1] = af == AF_INET ? '4' : '6';
    key[2] = ':';
    if (inet_ntop(af, addr, key + 3, sizeof(key) - 3) == NULL) {
        *herrnop = HOST_NOT_FOUND;
        return malformed(errnop);
    }
    st = fetch(DB_HOSTS, key, strlen(key), &v, errnop);
    if (st == NSS_STATUS_SUCCESS)
        st = hostent_of(&v, af, he, buf, len, errnop, herrnop);
    else
        set_herr(st, herrnop);
    value_free(&v);
    return st;
}
