/* threadpool.c — persistent pthread pool (see threadpool.h). A job is published by
 * bumping an atomic generation counter; workers spin briefly on it, then sleep on a
 * condition variable; the caller spins (then sleeps) until every worker is done. */
#include <stdlib.h>

#include "threadpool.h"

#if defined(WISP_NO_THREADS)

struct wisp_pool {
    int n;
};
wisp_pool *wisp_pool_create(int n_threads) {
    (void)n_threads;
    wisp_pool *p = (wisp_pool *)malloc(sizeof *p);
    if (p) p->n = 1;
    return p;
}
void wisp_pool_free(wisp_pool *p) { free(p); }
int wisp_pool_size(const wisp_pool *p) { return p ? p->n : 1; }
void wisp_pool_run(wisp_pool *p, wisp_pool_fn fn, void *arg) {
    (void)p;
    fn(arg, 0, 1);
}

#else

#include <pthread.h>
#include <stdatomic.h>

#define WISP_MAX_THREADS 64

/* How long a thread busy-waits before falling back to sleeping on a condition
 * variable. A decode step issues ~10 jobs per layer, each a few tens of microseconds
 * long: waking a sleeping thread costs ~5-50 us (futex + scheduler), more than many of
 * those jobs, while a spinning thread sees the next job in well under a microsecond.
 * Between tokens (or when the machine is oversubscribed) threads go back to sleep
 * after the spin budget, so an idle pool costs no CPU. */
#ifndef WISP_POOL_SPIN
#if defined(__x86_64__) || defined(__i386__)
#define WISP_POOL_SPIN 512   /* pause is 10-140 cycles: ~2-25 us */
#else
#define WISP_POOL_SPIN 8192  /* wasm has no pause: an iteration is one atomic load */
#endif
#endif
/* No sched_yield in the loop: measured on an oversubscribed host it hands the core to
 * another process for a whole time slice (ms), far worse than sleeping. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef struct worker {
    struct wisp_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct wisp_pool {
    int n;
    /* The job: fn/arg are written by the caller before the release of `generation`. */
    wisp_pool_fn fn;
    void *arg;
    _Atomic unsigned long generation;
    _Atomic int pending;       /* workers still running the current job */
    _Atomic int quit;
    /* Sleep fallback. All four flags are seq_cst: a sleeper announces itself and then
     * re-checks the condition, the waker publishes and then checks for sleepers, so
     * one of the two always sees the other (no lost wake-up). */
    _Atomic int sleepers;      /* workers blocked on start_cv */
    _Atomic int main_waiting;  /* caller blocked on done_cv */
    pthread_mutex_t mu;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    worker workers[WISP_MAX_THREADS];
};

static void *worker_main(void *w_) {
    worker *w = (worker *)w_;
    wisp_pool *p = w->pool;
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = atomic_load(&p->generation);
        for (int i = 0; g == seen && i < WISP_POOL_SPIN && !atomic_load_explicit(&p->quit, memory_order_relaxed); i++) {
            cpu_relax();
            g = atomic_load(&p->generation);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->start_cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        p->fn(p->arg, w->ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->main_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

wisp_pool *wisp_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > WISP_MAX_THREADS) n_threads = WISP_MAX_THREADS;
    wisp_pool *p = (wisp_pool *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
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

void wisp_pool_run(wisp_pool *p, wisp_pool_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->generation, 1); /* seq_cst: publishes fn/arg/pending */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->start_cv);
        pthread_mutex_unlock(&p->mu);
    }

    fn(arg, 0, p->n);

    for (int i = 0; atomic_load(&p->pending) > 0 && i < WISP_POOL_SPIN; i++) cpu_relax();
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->main_waiting, 1);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->main_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

#endif
