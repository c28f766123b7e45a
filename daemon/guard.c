/* SPDX-License-Identifier: MIT */
/*
 * guard.c -- turn a SIGBUS in a table mapping into an error the daemon
 * can act on, instead of its death.
 *
 * The daemon maps every table file read-write.  If the file shrinks under
 * the mapping (truncate(1) by root or by the daemon's own user: nobody
 * else can write it), every access beyond the new end of the file raises
 * SIGBUS, whose default action kills the daemon.  The sweep timer notices
 * a shrunk file by its size (tables_check_size()), but a request or a
 * timer can touch a lost page before that, so every access to a table's
 * mapping from the event loop runs guarded: the caller records the
 * mapping's range with guard_arm() after sigsetjmp(), and the handler,
 * finding the fault address inside the armed range, siglongjmp()s back;
 * the caller then replaces the table (tables_faulted()).
 *
 * Why this is safe here: the daemon has one thread, and one guard at
 * most is armed at a time.  The fault is synchronous and comes from the
 * daemon's own loads and stores to the mapping (or memcpy/memcmp/CRC over
 * it), never from inside malloc, libevent or stdio, so the jump abandons
 * no library state; the guarded code (the store's operations, the sweep,
 * migrate.c) holds no lock, and what it may leave half done is confined to
 * the table being abandoned.  sigsetjmp(env, 0) saves no signal mask (no
 * system call per request); the handler runs with SA_NODEFER, so SIGBUS is
 * not left blocked after the jump.
 *
 * A SIGBUS anywhere else, or with no guard armed, is not ours to hide:
 * the handler restores the default action and returns, the faulting
 * instruction runs again, and the daemon dies as it did before, with a
 * core dump to show where.
 */
#include "config.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "guard.h"

/* The armed guard, or NULL; only the one thread and its handler use it. */
static struct guard *volatile armed;

/* SIGBUS: jump back to the armed guard if the fault is in its range. */
static void
on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    struct guard *g = armed;
    const unsigned char *a = si != NULL ? si->si_addr : NULL;

    (void)ctx;
    if (g != NULL && a >= g->lo && (uint64_t)(a - g->lo) < g->len) {
        armed = NULL;
        siglongjmp(g->env, 1);
    }
    signal(sig, SIG_DFL); /* not ours: fault again and die of it */
}

/* Install the SIGBUS handler; 0 or -1 (errno set). */
int
guard_init(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL);
}

/* Guard accesses to [base, base + len) until guard_disarm(); g->env must
 * have been set by sigsetjmp() in the caller's frame. */
void
guard_arm(struct guard *g, const void *base, uint64_t len)
{
    g->lo = base;
    g->len = len;
    armed = g;
    /* ORDERING: signal fence; the handler, which runs on this thread,
     * sees the armed guard before any guarded access can fault. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Stop guarding (after the guarded accesses). */
void
guard_disarm(struct guard *g)
{
    /* ORDERING: signal fence; every guarded access is done before the
     * handler can see the guard gone. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (armed == g)
        armed = NULL;
}
