/* threadpool.c — persistent pthread pool (see threadpool.h).
 *
 * A job is published by storing (generation << 32 | 0) into one atomic word, `work`;
 * every thread, the caller included, then claims chunks by compare-and-swap on that
 * word (generation << 32 | next chunk), so a claim can only succeed for the job it
 * was read for. Workers spin briefly for the next generation, then sleep on a
 * condition variable. The caller claims chunks like any worker and then waits only
 * for the chunks still in flight (`done` reaching n_chunks): a worker that is asleep
 * or descheduled when a job starts costs nothing but its share of the work. */
#include <stdint.h>
#include <stdlib.h>

#include "threadpool.h"

#if defined(WISP_NO_THREADS)

struct wisp_pool {
    int n;
    unsigned long jobs;
};
wisp_pool *wisp_pool_create(int n_threads) {
    (void)n_threads;
    wisp_pool *p = (wisp_pool *)calloc(1, sizeof *p);
    if (p) p->n = 1;
    return p;
}
void wisp_pool_free(wisp_pool *p) { free(p); }
int wisp_pool_size(const wisp_pool *p) { return p ? p->n : 1; }
unsigned long wisp_pool_jobs(const wisp_pool *p) { return p ? p->jobs : 0; }
void wisp_pool_run(wisp_pool *p, wisp_pool_fn fn, void *arg, int n_chunks) {
    if (n_chunks > 1) p->jobs++;
    for (int i = 0; i < n_chunks; i++) fn(arg, i, 0);
}

#else

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define WISP_MAX_THREADS 64
#define CLOSED 0xffffffffu /* claim index of a finished job: above any n_chunks */

/* How long a thread busy-waits before falling back to sleeping on a condition
 * variable. A decode step issues ~5 jobs per layer, each a few tens of microseconds
 * long: waking a sleeping thread costs ~5-50 us (futex + scheduler), so a worker that
 * sleeps between two jobs misses the start of the next one, while a spinning thread
 * sees it in well under a microsecond. The budget covers the gaps inside a forward
 * pass (the caller finishing its last chunk, an inline norm) and between tokens of a
 * generation loop (sampling); after it threads sleep, so an idle pool costs no CPU.
 * It is measured in time, not iterations: a pause instruction takes 3 to 45 ns
 * depending on the CPU, and wasm has none. */
#ifndef WISP_POOL_SPIN_US
#define WISP_POOL_SPIN_US 200
#endif
static inline uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
/* True while a spin loop that has run i iterations may go on: the clock is read every
 * SPIN_CHECK + 1 iterations only, ~1-2 us (the first read starts the budget). */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define SPIN_CHECK 63     /* an iteration is a pause / yield */
#else
#define SPIN_CHECK 1023   /* wasm: an iteration is one atomic load */
#endif
static inline bool spin_more(int i, uint64_t *deadline) {
    if ((i & SPIN_CHECK) != SPIN_CHECK) return true;
    const uint64_t t = now_us();
    if (*deadline == 0) *deadline = t + WISP_POOL_SPIN_US;
    return t < *deadline;
}
/* No sched_yield in the loop: measured on an oversubscribed host it hands the core to
 * another process for a whole time slice (ms), far worse than sleeping. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#ifdef WISP_POOL_STATS
/* Profiling build only (-DWISP_POOL_STATS): where the caller's time goes, printed
 * when the pool is freed. */
#include <stdio.h>
static double stats_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

typedef struct worker {
    struct wisp_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct wisp_pool {
    int n;
    uint32_t gen;              /* the caller's generation counter (caller only) */
    unsigned long jobs;
    /* The current job. Atomic because a late worker may read them while the caller is
     * already writing the next job's: its claim then fails (see run_chunks). */
    _Atomic(wisp_pool_fn) fn;
    _Atomic(void *) arg;
    _Atomic int n_chunks;
    _Atomic int quit;
    /* Sleep fallback. The flags are seq_cst: a sleeper announces itself and then
     * re-checks the condition, the waker publishes and then checks for sleepers, so
     * one of the two always sees the other (no lost wake-up). */
    _Atomic int sleepers;      /* workers blocked on start_cv */
    _Atomic int main_waiting;  /* caller blocked on done_cv */
    /* The claim word and the completion count, each on its own cache line. */
    _Alignas(64) _Atomic uint64_t work;  /* generation << 32 | next unclaimed chunk */
    _Alignas(64) _Atomic int done;       /* chunks of the current generation finished */
#ifdef WISP_POOL_STATS
    double st_first, st_in_jobs, st_wait, st_last;
    unsigned long st_chunks[WISP_MAX_THREADS], st_wsleeps[WISP_MAX_THREADS], st_sleeps;
#endif
    _Alignas(64) pthread_mutex_t mu;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    worker workers[WISP_MAX_THREADS];
};

/* Claims and runs chunks of the job whose claim word was read as v, until none is
 * left or a newer job was published; then adds the number it ran to `done`.
 *
 * Why a successful claim (g, i) runs job g's fn/arg and i < g's n_chunks: every access
 * to the job fields and to `work` is seq_cst. Before it rewrites the fields for the
 * next job, the caller closes job g (work = g << 32 | CLOSED, after all of g's chunks
 * were claimed and done). Our loads of the fields come before our CAS in the single
 * seq_cst order; if they had seen the next job's values, the CLOSED store would come
 * before them too, and the CAS could not find (g, i). And v was read from job g's
 * publication (or a later claim), which comes after g's fields were written. */
static void run_chunks(wisp_pool *p, uint64_t v, int ith) {
    const uint32_t gen = (uint32_t)(v >> 32);
    int mine = 0, n_job = 0; /* chunks this thread ran, reported once: one contended add */
    for (;;) {
        const wisp_pool_fn fn = atomic_load(&p->fn);
        void *const arg = atomic_load(&p->arg);
        const int n = atomic_load(&p->n_chunks);
        if ((uint32_t)(v >> 32) != gen || (int64_t)(uint32_t)v >= (int64_t)n) break;
        if (!atomic_compare_exchange_weak(&p->work, &v, v + 1)) continue; /* v: the current word */
        fn(arg, (int)(uint32_t)v, ith);
        mine++;
        n_job = n;
        v = atomic_load(&p->work);
    }
    if (mine == 0) return;
#ifdef WISP_POOL_STATS
    p->st_chunks[ith] += (unsigned long)mine; /* one writer per ith */
#endif
    /* seq_cst with the load of main_waiting: see wisp_pool_run's sleep */
    if (atomic_fetch_add(&p->done, mine) + mine == n_job && ith != 0 && atomic_load(&p->main_waiting)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker_main(void *w_) {
    worker *w = (worker *)w_;
    wisp_pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint64_t v = atomic_load(&p->work);
        uint64_t deadline = 0;
        for (int i = 0; (uint32_t)(v >> 32) == seen && spin_more(i, &deadline) &&
                        !atomic_load_explicit(&p->quit, memory_order_relaxed);
             i++) {
            cpu_relax();
            v = atomic_load(&p->work);
        }
        if ((uint32_t)(v >> 32) == seen) {
#ifdef WISP_POOL_STATS
            p->st_wsleeps[w->ith]++;
#endif
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((uint32_t)((v = atomic_load(&p->work)) >> 32) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->start_cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = (uint32_t)(v >> 32);
        run_chunks(p, v, w->ith);
    }
}

wisp_pool *wisp_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > WISP_MAX_THREADS) n_threads = WISP_MAX_THREADS;
    wisp_pool *p = (wisp_pool *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    atomic_init(&p->fn, (wisp_pool_fn)0);
    atomic_init(&p->arg, (void *)0);
    atomic_init(&p->n_chunks, 0);
    atomic_init(&p->work, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->main_waiting, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i;
        if (pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i]) != 0) break;
        p->n = i + 1;
    }
    return p;
}

void wisp_pool_free(wisp_pool *p) {
    if (!p) return;
#ifdef WISP_POOL_STATS
    if (p->n > 1 && p->jobs) {
        fprintf(stderr, "pool: %lu jobs; %.3f s from first to last job, %.3f s in jobs (caller waited %.3f s for "
                "chunks in flight, slept %lu times); chunks per thread:", p->jobs, p->st_last - p->st_first,
                p->st_in_jobs, p->st_wait, p->st_sleeps);
        for (int i = 0; i < p->n; i++) fprintf(stderr, " %lu", p->st_chunks[i]);
        fprintf(stderr, "; worker sleeps:");
        for (int i = 1; i < p->n; i++) fprintf(stderr, " %lu", p->st_wsleeps[i]);
        fprintf(stderr, "\n");
    }
#endif
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->workers[i].tid, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}

int wisp_pool_size(const wisp_pool *p) { return p ? p->n : 1; }
unsigned long wisp_pool_jobs(const wisp_pool *p) { return p ? p->jobs : 0; }

void wisp_pool_run(wisp_pool *p, wisp_pool_fn fn, void *arg, int n_chunks) {
    if (n_chunks > 1) p->jobs++;
    if (p->n == 1 || n_chunks <= 1) {
        for (int i = 0; i < n_chunks; i++) fn(arg, i, 0);
        return;
    }
#ifdef WISP_POOL_STATS
    const double st0 = stats_now();
    if (p->st_first == 0) p->st_first = st0;
#endif
    /* Every chunk of the previous job is claimed and done (we waited for it), but a
     * worker may still be about to claim (gen, n_chunks) having read the new fields
     * below: close the word first (see run_chunks). */
    atomic_store(&p->work, ((uint64_t)p->gen << 32) | CLOSED);
    atomic_store(&p->fn, fn);
    atomic_store(&p->arg, arg);
    atomic_store(&p->n_chunks, n_chunks);
    atomic_store(&p->done, 0);
    const uint64_t v = (uint64_t)(++p->gen) << 32;
    atomic_store(&p->work, v); /* seq_cst: publishes the job, then the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->start_cv);
        pthread_mutex_unlock(&p->mu);
    }

    run_chunks(p, v, 0);

#ifdef WISP_POOL_STATS
    const double st1 = stats_now();
#endif
    uint64_t deadline = 0;
    for (int i = 0; atomic_load(&p->done) < n_chunks && spin_more(i, &deadline); i++) cpu_relax();
    if (atomic_load(&p->done) < n_chunks) {
#ifdef WISP_POOL_STATS
        p->st_sleeps++;
#endif
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->main_waiting, 1);
        while (atomic_load(&p->done) < n_chunks) pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->main_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
#ifdef WISP_POOL_STATS
    p->st_last = stats_now();
    p->st_in_jobs += p->st_last - st0;
    p->st_wait += p->st_last - st1;
#endif
}

#endif
