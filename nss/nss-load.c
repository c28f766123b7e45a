/* SPDX-License-Identifier: MIT */
/*
 * nss-load.c -- shmcached's "nss" loader: answers one key of the passwd,
 * group or hosts table from the host's own name services, through glibc.
 *
 * usage: shmcache-nss-load DATABASE           (one key on stdin)
 *        shmcache-nss-load --serve DATABASE   (keys until EOF)
 * One key: exit status 0 the value on stdout (nsswire.h), 1 no such
 * entry, 2 usage, 3 the sources failed (try again later).  --serve: the
 * daemon's persistent worker (daemon/worker.c); it reads requests and
 * writes replies framed as common/loadwire.h says, one at a time, and
 * exits at EOF on stdin or at a malformed request.  The daemon recycles
 * it after a number of requests or some idle time, so what a source's
 * module leaks is bounded; a lookup keeps nothing of its own between
 * requests (glibc's "files" reads the file again every call).
 *
 * It runs as a child of the daemon, so whatever glibc loads for the
 * sources (LDAP, SSSD modules, ...) lives and dies with this process.  It
 * sets SHMCACHE_NSS_DISABLE first: when nsswitch.conf lists shmcache too,
 * our own module steps aside here instead of asking the daemon again.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "loadwire.h"
#include "nsswire.h"

#define EX_NOTFOUND 1
#define EX_USAGE_ 2
#define EX_TRYAGAIN 3

static char out[NSSWIRE_MAX];
static size_t used;
static int overflow; /* a field did not fit: the answer is EX_TRYAGAIN */

/* Append a field and its NUL, unless the value would not fit. */
static void
field(const char *s)
{
    size_t n = strlen(s) + 1;

    if (used + n > sizeof(out)) {
        overflow = 1;
        return;
    }
    memcpy(out + used, s, n);
    used += n;
}

static void
fieldu(unsigned long v)
{
    char b[32];

    snprintf(b, sizeof(b), "%lu", v);
    field(b);
}

/* A decimal id, all of s. */
static int
parse_id(const char *s, unsigned long *v)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *v = strtoul(s, &end, 10);
    return *end == '\0' && errno == 0 && *v <= 0xfffffffful ? 0 : -1;
}

/* A lookup's outcome as an exit status (for the _r functions). */
static int
outcome(int rc, const void *found)
{
    if (found != NULL)
        return 0;
    return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM
               ? EX_NOTFOUND
               : EX_TRYAGAIN;
}

static int
do_passwd(const char *key)
{
    static char buf[NSSWIRE_MAX];
    struct passwd pw, *r = NULL;
    unsigned long id;
    int rc;

    if (key[0] == 'n')
        rc = getpwnam_r(key + 1, &pw, buf, sizeof(buf), &r);
    else if (key[0] == 'u' && parse_id(key + 1, &id) == 0)
        rc = getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &r);
    else
        return EX_NOTFOUND;
    if ((rc = outcome(rc, r)) != 0)
        return rc;
    field(pw.pw_name);
    field(pw.pw_passwd ? pw.pw_passwd : "");
    fieldu(pw.pw_uid);
    fieldu(pw.pw_gid);
    field(pw.pw_gecos ? pw.pw_gecos : "");
    field(pw.pw_dir ? pw.pw_dir : "");
    field(pw.pw_shell ? pw.pw_shell : "");
    return 0;
}

static int
do_group(const char *key)
{
    static char buf[NSSWIRE_MAX];
    struct group gr, *r = NULL;
    unsigned long id;
    char **m;
    int rc;

    if (key[0] == 'm') {
        /* Every group that lists the user: getgrouplist() asks each
         * source's initgroups; the base gid given is one no group has. */
        gid_t groups[4096];
        int n = 4096, i;
        if (getgrouplist(key + 1, (gid_t)-1, groups, &n) < 0)
            return EX_TRYAGAIN;
        for (i = 0; i < n; i++)
            if (groups[i] != (gid_t)-1)
                fieldu(groups[i]);
        return 0;
    }
    if (key[0] == 'n')
        rc = getgrnam_r(key + 1, &gr, buf, sizeof(buf), &r);
    else if (key[0] == 'g' && parse_id(key + 1, &id) == 0)
        rc = getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &r);
    else
        return EX_NOTFOUND;
    if ((rc = outcome(rc, r)) != 0)
        return rc;
    field(gr.gr_name);
    field(gr.gr_passwd ? gr.gr_passwd : "");
    fieldu(gr.gr_gid);
    for (m = gr.gr_mem; m != NULL && *m != NULL; m++)
        field(*m);
    return 0;
}

/* Append a hostent: names, then its addresses. */
static void
put_host(const struct hostent *h, int names)
{
    char text[INET6_ADDRSTRLEN + 2];
    char **p;
    size_t n = 0;

    if (names) {
        field(h->h_name);
        for (p = h->h_aliases; p && *p; p++)
            n++;
        fieldu(n);
        for (p = h->h_aliases; p && *p; p++)
            field(*p);
    }
    for (p = h->h_addr_list; p && *p; p++) {
        text[0] = h->h_addrtype == AF_INET ? '4' : '6';
        text[1] = ':';
        if (inet_ntop(h->h_addrtype, *p, text + 2, sizeof(text) - 2) != NULL)
            field(text);
    }
}

static int
do_hosts(const char *key)
{
    static char buf[NSSWIRE_MAX];
    struct hostent he, *r = NULL, he6, *r6 = NULL;
    unsigned char addr[16];
    int herr = 0, af, rc;

    if (key[0] == 'n') {
        /* Both families; the IPv4 entry gives the names when there is
         * one, as getent's own order would. */
        static char buf6[NSSWIRE_MAX];
        rc = gethostbyname2_r(key + 1, AF_INET, &he, buf, sizeof(buf), &r,
                              &herr);
        if (r == NULL && herr == TRY_AGAIN)
            return EX_TRYAGAIN;
        rc = gethostbyname2_r(key + 1, AF_INET6, &he6, buf6, sizeof(buf6), &r6,
                              &herr);
        (void)rc;
        if (r6 == NULL && r == NULL)
            return herr == TRY_AGAIN ? EX_TRYAGAIN : EX_NOTFOUND;
        put_host(r != NULL ? r : r6, 1);
        if (r != NULL && r6 != NULL)
            put_host(r6, 0);
        return 0;
    }
    if (key[0] != 'a' || (key[1] != '4' && key[1] != '6') || key[2] != ':')
        return EX_NOTFOUND;
    af = key[1] == '4' ? AF_INET : AF_INET6;
    if (inet_pton(af, key + 3, addr) != 1)
        return EX_NOTFOUND;
    gethostbyaddr_r(addr, af == AF_INET ? 4 : 16, af, &he, buf, sizeof(buf), &r,
                    &herr);
    if (r == NULL)
        return herr == TRY_AGAIN ? EX_TRYAGAIN : EX_NOTFOUND;
    put_host(r, 1);
    return 0;
}

/* Answer key (NUL-terminated, n bytes before the NUL) from database
 * into out[0..used).  0, EX_NOTFOUND, EX_TRYAGAIN or EX_USAGE_. */
static int
lookup(const char *db, const char *key, size_t n)
{
    int rc;

    used = 0;
    overflow = 0;
    if (n < 2 || strlen(key) != n)
        return EX_NOTFOUND; /* empty, or a NUL inside: no such name */
    if (strcmp(db, "passwd") == 0)
        rc = do_passwd(key);
    else if (strcmp(db, "group") == 0)
        rc = do_group(key);
    else if (strcmp(db, "hosts") == 0)
        rc = do_hosts(key);
    else
        return EX_USAGE_;
    return rc == 0 && overflow ? EX_TRYAGAIN : rc;
}

/* --serve: answer requests until EOF (0) or a malformed one (2). */
static int
serve(const char *db)
{
    unsigned char key[LOADWIRE_KEY_MAX + 1];
    ssize_t n;
    int rc;

    while ((n = loadwire_read_request(0, key)) > 0) {
        key[n] = '\0';
        rc = lookup(db, (const char *)key, (size_t)n);
        if (rc == EX_USAGE_)
            return EX_USAGE_;
        if (loadwire_write_reply(1,
                                 rc == 0             ? LOADWIRE_VALUE
                                 : rc == EX_NOTFOUND ? LOADWIRE_NOTFOUND
                                                     : LOADWIRE_FAILED,
                                 out, (uint32_t)used) != 0)
            return EX_TRYAGAIN; /* the daemon is gone */
    }
    return n == 0 ? 0 : EX_USAGE_;
}

int
main(int argc, char **argv)
{
    char key[4097];
    size_t n;
    int rc;

    setenv("SHMCACHE_NSS_DISABLE", "1", 1);
    /* Not to be traced or read through /proc by other processes of the
     * same unprivileged user: what this answers is cached for the whole
     * host (an answer forged into a worker could add a user to a group
     * everywhere), and a worker lives for many answers. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve(argv[2]);
    if (argc != 2)
        return EX_USAGE_;
    n = fread(key, 1, sizeof(key) - 1, stdin);
    key[n] = '\0';
    rc = lookup(argv[1], key, n);
    if (rc == 0 && fwrite(out, 1, used, stdout) != used)
        return EX_TRYAGAIN;
    return rc;
}
