/* threadpool.h — a persistent pool of worker threads that run one parallel job at a
 * time: fn(arg, ith, nth) on every thread (the caller is thread 0), returning when all
 * are done. No thread is created per op. Built without threads (WISP_NO_THREADS, e.g.
 * the single-thread wasm variant) it runs fn(arg, 0, 1) inline. */
#ifndef WISP_THREADPOOL_H
#define WISP_THREADPOOL_H

typedef struct wisp_pool wisp_pool;
typedef void (*wisp_pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (clamped). Returns NULL on failure (out of memory / threads). */
wisp_pool *wisp_pool_create(int n_threads);
void wisp_pool_free(wisp_pool *p);
int wisp_pool_size(const wisp_pool *p);
void wisp_pool_run(wisp_pool *p, wisp_pool_fn fn, void *arg);

/* The [begin, end) share of n items for thread ith of nth. */
static inline void wisp_split(long n, int ith, int nth, long *begin, long *end) {
    long per = (n + nth - 1) / nth;
    long b = per * ith;
    long e = b + per;
    if (b > n) b = n;
    if (e > n) e = n;
    *begin = b;
    *end = e;
}

#endif
