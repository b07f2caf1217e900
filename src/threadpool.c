/* threadpool.c — persistent pthread pool (see threadpool.h). Workers sleep on a
 * condition variable between jobs; a job is published by bumping a generation
 * counter, and the caller waits until every worker has reported done. */
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

#define WISP_MAX_THREADS 64

typedef struct worker {
    struct wisp_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct wisp_pool {
    int n;
    pthread_mutex_t mu;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    unsigned long generation;
    int pending;
    int quit;
    wisp_pool_fn fn;
    void *arg;
    worker workers[WISP_MAX_THREADS];
};

static void *worker_main(void *w_) {
    worker *w = (worker *)w_;
    wisp_pool *p = w->pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->generation == seen && !p->quit) pthread_cond_wait(&p->start_cv, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        wisp_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);

        fn(arg, w->ith, p->n);

        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

wisp_pool *wisp_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > WISP_MAX_THREADS) n_threads = WISP_MAX_THREADS;
    wisp_pool *p = (wisp_pool *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
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
    p->quit = 1;
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);

    fn(arg, 0, p->n);

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

#endif
