/* SPDX-License-Identifier: MIT */
/*
 * seqlock.h -- the one-writer, many-readers sequence protocol.
 *
 * HOW IT WORKS
 *
 * Every bucket carries a 64-bit sequence word.  Only the daemon's single
 * writer thread changes a bucket or any memory a bucket can reach, and it
 * does so inside a write section:
 *
 *   seq_write_begin():  seq := seq + 1 (now odd), relaxed store;
 *                       release fence                            (W1)
 *   ... relaxed atomic stores to slots and entries ...
 *   seq_write_end():    seq := seq + 1 (even), release store     (W2)
 *
 * A reader runs a read section and trusts what it copied only if the
 * sequence did not move:
 *
 *   s1 := seq_read_begin(): acquire load                         (R1)
 *         odd -> a write is in progress: retry
 *   ... relaxed atomic loads, copied into private memory ...
 *   seq_read_retry(s1):  acquire fence, relaxed reload           (R2)
 *         changed -> something may be torn: retry
 *
 * Why that is enough (C11 model, fences as in Boehm, "Can seqlocks get
 * along with programming language memory models?", 2012):
 *  - If R1 reads the even value stored by some W2, every store of that
 *    write section happens-before the reader's loads: the copy is complete.
 *  - If any relaxed load of the reader observes a store of a later write
 *    section, that store follows the writer's release fence W1, so W1
 *    synchronises with the reader's acquire fence R2; the odd store before
 *    W1 then happens-before the reload in R2, which therefore cannot return
 *    s1.  The reader retries.
 * Every store to reachable memory by the writer must be an atomic (relaxed)
 * store after W1 for this argument to hold, and every load by a reader an
 * atomic (relaxed) load; seq_store_words()/seq_load_word() are those.
 * Plain memcpy on either side would be a data race in the C11 sense even
 * though the result is discarded.
 *
 * What the protocol does NOT give: freedom from garbage.  Between R1 and R2
 * a reader may see any mix of old and new bytes, so it bounds-checks every
 * offset and length it loads before it follows it, and caps every loop.
 * It never dereferences anything derived from the mapping without that
 * check, and it acts on the copy only after R2 succeeds.
 *
 * A writer that dies inside a write section leaves the word odd forever;
 * readers give up after a bounded wait (seq_wait()) and report "busy".  The
 * daemon repairs odd sequences when it reopens a table.
 */
#ifndef SHMC_SEQLOCK_H
#define SHMC_SEQLOCK_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Attempts that spin before the reader starts yielding the CPU. */
#define SEQ_SPIN_MAX 64u
/*
 * Crash injection (test builds only: tests/check_crash.c compiles the
 * writer with SHMC_CRASH_TEST): every store the writer makes to shared
 * memory is a numbered point at which the test can make the process exit,
 * as SIGKILL would.
 */
#ifdef SHMC_CRASH_TEST
void crash_point(void);
#define SEQ_CRASH_POINT() crash_point()
#else
#define SEQ_CRASH_POINT() ((void)0)
#endif

/* Hard cap on attempts, whatever the clock says. */
#define SEQ_RETRY_MAX (1u << 20)
/* Default time a reader waits for one bucket before SHMC_EBUSY. */
#define SEQ_BUSY_MS 20u

/* State of one reader waiting out a writer. */
struct seq_wait {
    unsigned attempt;
    uint64_t deadline_ms; /* 0 until the spinning phase is over */
};

/* Coarse monotonic milliseconds (vDSO; only on the contended path). */
static inline uint64_t
seq_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Wait before the next read attempt; returns 0 when the budget is spent.
 *
 * A writer's section lasts well under a microsecond, so the first attempts
 * only spin.  But a writer preempted inside a section (more runnable
 * threads than cores) stays odd until its core gives it a timeslice back,
 * which takes milliseconds; a spin budget would run out in microseconds and
 * report a false "busy" (the torture test saw hundreds in 10 s on two
 * cores).  So after SEQ_SPIN_MAX attempts the reader yields the CPU and
 * keeps trying until budget_ms have passed.  Only this contended path makes
 * system calls.  A writer that died mid-write is then reported as
 * SHMC_EBUSY after budget_ms.
 */
static inline int
seq_wait(struct seq_wait *w, unsigned budget_ms)
{
    w->attempt++;
    if (w->attempt >= SEQ_RETRY_MAX)
        return 0;
    if (w->attempt >= SEQ_SPIN_MAX && budget_ms == 0)
        return 0; /* a budget of 0 means: spin only */
    if (w->attempt < SEQ_SPIN_MAX) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
        return 1;
    }
    if (w->deadline_ms == 0)
        w->deadline_ms = seq_clock_ms() + budget_ms;
    else if (seq_clock_ms() >= w->deadline_ms)
        return 0;
    sched_yield();
    return 1;
}

/* Start a read section: return the current sequence (odd = busy). */
static inline uint64_t
seq_read_begin(const uint64_t *seq)
{
    /* ORDERING: acquire; pairs with the release store in seq_write_end(). */
    return __atomic_load_n(seq, __ATOMIC_ACQUIRE);
}

/* End a read section: nonzero if the copy made since s1 cannot be trusted. */
static inline int
seq_read_retry(const uint64_t *seq, uint64_t s1)
{
    /* ORDERING: acquire fence; pairs with the release fence in
     * seq_write_begin(), so a load above that saw a store of a newer write
     * section forces the reload below to see that section's odd value. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return (s1 & 1u) != 0 || __atomic_load_n(seq, __ATOMIC_RELAXED) != s1;
}

/* Open a write section (writer thread only). */
static inline void
seq_write_begin(uint64_t *seq)
{
    uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);

    SEQ_CRASH_POINT();
    __atomic_store_n(seq, s + 1u, __ATOMIC_RELAXED);
    /* ORDERING: release fence; keeps the odd store above before every data
     * store of this section; pairs with the acquire fence in
     * seq_read_retry(). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Close a write section (writer thread only). */
static inline void
seq_write_end(uint64_t *seq)
{
    uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);

    SEQ_CRASH_POINT();
    /* ORDERING: release; pairs with the acquire load in seq_read_begin(). */
    __atomic_store_n(seq, s + 1u, __ATOMIC_RELEASE);
}

/* Load one aligned 64-bit word of shared memory (reader side). */
static inline uint64_t
seq_load_word(const void *p)
{
    /* ORDERING: relaxed; validated by seq_read_retry(). */
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

/* Load an aligned 32-bit field of shared memory (reader side). */
static inline uint32_t
seq_load_u32(const uint32_t *p)
{
    /* ORDERING: relaxed; validated by seq_read_retry(). */
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Load an aligned 64-bit field of shared memory (reader side). */
static inline uint64_t
seq_load_u64(const uint64_t *p)
{
    /* ORDERING: relaxed; validated by seq_read_retry(). */
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Store a 32-bit field of shared memory (writer side). */
static inline void
seq_store_u32(uint32_t *p, uint32_t v)
{
    SEQ_CRASH_POINT();
    /* ORDERING: relaxed; published by seq_write_end() or ordered after
     * seq_write_begin()'s fence. */
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Store a 64-bit field of shared memory (writer side). */
static inline void
seq_store_u64(uint64_t *p, uint64_t v)
{
    SEQ_CRASH_POINT();
    /* ORDERING: relaxed; as seq_store_u32(). */
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/*
 * Copy n bytes from private memory into 8-aligned shared memory with relaxed
 * word stores, zero-filling the last word (writer side).
 */
static inline void
seq_store_words(void *dst, const void *src, size_t n)
{
    uint64_t *d = dst;
    const unsigned char *s = src;
    uint64_t w;

    for (; n >= 8; n -= 8, s += 8, d++) {
        memcpy(&w, s, 8);
        seq_store_u64(d, w);
    }
    if (n > 0) {
        w = 0;
        memcpy(&w, s, n);
        seq_store_u64(d, w);
    }
}

#endif /* SHMC_SEQLOCK_H */
