/* SPDX-License-Identifier: MIT */
/*
 * bench_nss.c -- getpwnam_r() and getaddrinfo() calls per second on the
 * host's own entries, through whatever answers them: with SERVICE given,
 * only that NSS service (as `getent -s` does: __nss_configure_lookup(),
 * which also keeps nscd out); with "default", glibc's usual path (nscd
 * first when it runs, then nsswitch.conf).
 *
 * usage: bench_nss SERVICE SECONDS NAME...   (NAMEs: users, then "--",
 *        then host names)
 * Prints: "getpwnam_per_s=N getaddrinfo_per_s=N first_ms=X" where
 * first_ms is the first round (misses, for a cache) per name.
 */
#include "config.h"

#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

int __nss_configure_lookup(const char *db, const char *service_line);

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    char buf[16384];
    struct passwd pw, *r;
    struct addrinfo hints, *ai;
    double secs, t0, t1, first;
    unsigned long calls, bad = 0;
    int i, users = 0, hosts = 0, sep, u, h;

    if (argc < 4) {
        fprintf(stderr, "usage: bench_nss SERVICE SECONDS USER... -- "
                        "HOST...\n");
        return 64;
    }
    secs = atof(argv[2]);
    for (sep = 3; sep < argc && strcmp(argv[sep], "--") != 0; sep++)
        users++;
    hosts = sep < argc ? argc - sep - 1 : 0;
    if (strcmp(argv[1], "default") != 0 &&
        (__nss_configure_lookup("passwd", argv[1]) != 0 ||
         __nss_configure_lookup("hosts", argv[1]) != 0)) {
        fprintf(stderr, "bench_nss: bad service %s\n", argv[1]);
        return 64;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    /* First round: what a cold cache costs per name. */
    t0 = now_s();
    for (u = 0; u < users; u++)
        if (getpwnam_r(argv[3 + u], &pw, buf, sizeof(buf), &r) != 0 || !r)
            bad++;
    first = users ? (now_s() - t0) * 1000 / users : 0;
    calls = 0;
    t0 = now_s();
    do {
        for (i = 0; i < 1000; i++, calls++) {
            u = (int)(calls % (unsigned long)users);
            if (getpwnam_r(argv[3 + u], &pw, buf, sizeof(buf), &r) != 0 || !r)
                bad++;
        }
        t1 = now_s();
    } while (t1 - t0 < secs);
    printf("getpwnam_per_s=%.0f", (double)calls / (t1 - t0));
    if (hosts > 0) {
        calls = 0;
        t0 = now_s();
        do {
            for (i = 0; i < 200; i++, calls++) {
                h = (int)(calls % (unsigned long)hosts);
                if (getaddrinfo(argv[sep + 1 + h], NULL, &hints, &ai) == 0)
                    freeaddrinfo(ai);
                else
                    bad++;
            }
            t1 = now_s();
        } while (t1 - t0 < secs);
        printf(" getaddrinfo_per_s=%.0f", (double)calls / (t1 - t0));
    }
    printf(" first_ms=%.3f failures=%lu\n", first, bad);
    return bad ? 1 : 0;
}
