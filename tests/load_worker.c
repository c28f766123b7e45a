/* SPDX-License-Identifier: MIT */
/*
 * load_worker.c -- a persistent loader for tests/check_loader.c: speaks
 * the worker protocol (common/loadwire.h) and behaves, key by key, the
 * way a test needs, well or badly:
 *
 *   missing*   "no such key"           fail*     "try again"
 *   crash*     dies of SIGSEGV          hang*     never answers
 *   garbage*   text, not a reply        huge*     claims a 4 GiB value
 *   lenneg*    "no such key" with a length, and bytes after it
 *   short*     half a value, then exits
 *   extra*     a good reply with bytes after it
 *   slow*      answers after 0.5 s      pid       its own pid
 *   big:N      N bytes of 'x'           anything else: "v:" + the key
 *   orphan*    starts a child that sleeps holding its stdout (the
 *              child's pid appended to DIR/orphans), then exits
 *              without answering
 *
 * usage: load_worker DIR [--serve DATABASE]
 * It appends its pid to DIR/workers when it starts and each key (and a
 * newline) to DIR/calls, so a test can count processes and requests.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadwire.h"

static char calls[512], orphans[512];

/* Append text (n bytes) and a newline to path. */
static void
note(const char *path, const void *text, size_t n)
{
    FILE *f = fopen(path, "a");

    if (f == NULL)
        return;
    fwrite(text, 1, n, f);
    fputc('\n', f);
    fclose(f);
}

static int
starts(const unsigned char *key, size_t klen, const char *prefix)
{
    size_t n = strlen(prefix);

    return klen >= n && memcmp(key, prefix, n) == 0;
}

/* Answer one key; 0 to go on, -1 to stop. */
static int
answer(const unsigned char *key, size_t klen)
{
    static unsigned char val[LOADWIRE_KEY_MAX + 2];
    unsigned char hdr[LOADWIRE_REP_HDR];
    char text[64];
    size_t n;

    if (starts(key, klen, "missing"))
        return loadwire_write_reply(1, LOADWIRE_NOTFOUND, NULL, 0);
    if (starts(key, klen, "fail"))
        return loadwire_write_reply(1, LOADWIRE_FAILED, NULL, 0);
    if (starts(key, klen, "crash"))
        raise(SIGSEGV);
    if (starts(key, klen, "hang"))
        for (;;)
            pause();
    if (starts(key, klen, "garbage"))
        return loadwire_write_full(1, "hello, world\n", 13);
    if (starts(key, klen, "huge")) {
        hdr[0] = LOADWIRE_VALUE;
        loadwire_put32(hdr + 1, 0xffffffffu);
        loadwire_write_full(1, hdr, sizeof(hdr));
        return loadwire_write_full(1, "xxxxxxxx", 8);
    }
    if (starts(key, klen, "lenneg")) {
        hdr[0] = LOADWIRE_NOTFOUND;
        loadwire_put32(hdr + 1, 7);
        loadwire_write_full(1, hdr, sizeof(hdr));
        return loadwire_write_full(1, "1234567", 7);
    }
    if (starts(key, klen, "short")) {
        hdr[0] = LOADWIRE_VALUE;
        loadwire_put32(hdr + 1, 100);
        loadwire_write_full(1, hdr, sizeof(hdr));
        loadwire_write_full(1, "0123456789", 10);
        return -1;
    }
    if (starts(key, klen, "extra")) { /* in one write: all there at once */
        hdr[0] = LOADWIRE_VALUE;
        loadwire_put32(hdr + 1, 7);
        memcpy(val, hdr, sizeof(hdr));
        memcpy(val + sizeof(hdr), "v:extrajunk", 11);
        return loadwire_write_full(1, val, sizeof(hdr) + 11);
    }
    if (starts(key, klen, "orphan")) {
        pid_t c = fork();
        if (c == 0) { /* keeps the worker's stdout: no EOF until it goes */
            close(0);
            sleep(60);
            _exit(0);
        }
        if (c > 0) {
            n = (size_t)snprintf(text, sizeof(text), "%ld", (long)c);
            note(orphans, text, n);
        }
        return -1;
    }
    if (starts(key, klen, "slow"))
        usleep(500000);
    if (klen == 3 && memcmp(key, "pid", 3) == 0) {
        n = (size_t)snprintf(text, sizeof(text), "%ld", (long)getpid());
        return loadwire_write_reply(1, LOADWIRE_VALUE, text, (uint32_t)n);
    }
    if (starts(key, klen, "big:") && klen < sizeof(text)) {
        unsigned char *big;
        int rc;
        memcpy(text, key + 4, klen - 4);
        text[klen - 4] = '\0';
        n = strtoul(text, NULL, 10);
        if ((big = malloc(n + 1)) == NULL)
            return -1;
        memset(big, 'x', n);
        rc = loadwire_write_reply(1, LOADWIRE_VALUE, big, (uint32_t)n);
        free(big);
        return rc;
    }
    memcpy(val, "v:", 2);
    memcpy(val + 2, key, klen);
    return loadwire_write_reply(1, LOADWIRE_VALUE, val, (uint32_t)klen + 2);
}

int
main(int argc, char **argv)
{
    unsigned char key[LOADWIRE_KEY_MAX];
    char path[512], pid[32];
    ssize_t n;

    if (argc < 2)
        return 2;
    snprintf(path, sizeof(path), "%s/workers", argv[1]);
    snprintf(calls, sizeof(calls), "%s/calls", argv[1]);
    snprintf(orphans, sizeof(orphans), "%s/orphans", argv[1]);
    n = snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    note(path, pid, (size_t)n);
    while ((n = loadwire_read_request(0, key)) > 0) {
        note(calls, key, (size_t)n);
        if (answer(key, (size_t)n) != 0)
            return 1;
    }
    return n == 0 ? 0 : 2;
}
