// A small pool of helper threads for Parallelism.forEach(chunks:): helpers spin for a while after
// each job before they sleep, so the back-to-back parallel regions of a forward or backward pass
// (a few hundred per step, tens of microseconds apart) start without a thread wake-up each.
//
// One job runs at a time: a caller that finds the pool busy (another thread's job, or a nested
// region inside a chunk) gets 0 back and runs its region another way. Which thread runs which
// chunk never changes what a chunk computes, so results do not depend on the pool.

#include "BackpropKernelsC.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_HELPERS 63
/// Spin rounds (of a pause each, a few tens of nanoseconds) before a helper sleeps: about 0.2 ms.
#define SPIN_ROUNDS 8000

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;     // held by the caller of the running job
static pthread_mutex_t sleep_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int helper_count;                                          // guarded by pool_busy

static _Atomic long generation;       // incremented once per job, after its fields are set
static _Atomic long next_chunk;
static _Atomic int finished;          // helpers that have seen the current job (and run their share)

// The current job, written by the caller before `generation` is released.
static bp_chunk_function job_function;
static void *job_context;
static long job_chunks;
static int job_helpers;               // helpers taking part: those with index < job_helpers

static void run_chunks(bp_chunk_function function, void *context, long chunks) {
    long chunk;
    while ((chunk = atomic_fetch_add_explicit(&next_chunk, 1, memory_order_relaxed)) < chunks) function(context, chunk);
}

/// The generation current when each helper was created (before the job that created it), so a
/// helper that starts late still takes part in that job.
static long start_generation[MAX_HELPERS];

static void *helper_main(void *argument) {
    const int index = (int)(intptr_t)argument;
    long seen = start_generation[index];
    for (;;) {
        long current;
        int rounds = 0;
        while ((current = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (++rounds < SPIN_ROUNDS) { CPU_RELAX(); continue; }
            pthread_mutex_lock(&sleep_mutex);
            while (atomic_load_explicit(&generation, memory_order_acquire) == seen) pthread_cond_wait(&wake, &sleep_mutex);
            pthread_mutex_unlock(&sleep_mutex);
            rounds = 0;
        }
        seen = current;
        // Every helper acknowledges every job, so the job's fields stay as they are until all
        // have read them; only the first job_helpers run chunks.
        if (index < job_helpers) run_chunks(job_function, job_context, job_chunks);
        atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
    return 0;
}

int bp_parallel_run(long chunks, int workers, bp_chunk_function function, void *context) {
    if (workers < 2 || chunks < 2) return 0;
    if (pthread_mutex_trylock(&pool_busy) != 0) return 0;
    int helpers = workers - 1 > MAX_HELPERS ? MAX_HELPERS : workers - 1;
    while (helper_count < helpers) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        start_generation[helper_count] = atomic_load_explicit(&generation, memory_order_relaxed);
        int failed = pthread_create(&thread, &attributes, helper_main, (void *)(intptr_t)helper_count);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        helper_count++;
    }
    if (helpers > helper_count) helpers = helper_count;
    if (helpers == 0) { pthread_mutex_unlock(&pool_busy); return 0; }

    job_function = function;
    job_context = context;
    job_chunks = chunks;
    job_helpers = helpers;
    atomic_store_explicit(&next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    // A sleeping helper re-checks `generation` under the mutex before it waits, so a broadcast
    // made under the mutex after the increment cannot be missed (and costs no system call when
    // nobody sleeps).
    pthread_mutex_lock(&sleep_mutex);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_mutex);
    run_chunks(function, context, chunks);
    int rounds = 0;
    while (atomic_load_explicit(&finished, memory_order_acquire) < helper_count) {
        if (++rounds < SPIN_ROUNDS) CPU_RELAX(); else sched_yield();
    }
    pthread_mutex_unlock(&pool_busy);
    return 1;
}
