/* threadpool.h — a persistent pool of worker threads that runs one parallel job at a
 * time. A job is n_chunks independent pieces of work: wisp_pool_run calls
 * fn(arg, chunk, ith) once for every chunk in [0, n_chunks), on whichever thread claims
 * it first (ith = that thread's index, 0 = the caller, < wisp_pool_size), and returns
 * when every chunk is done. No thread is created per op.
 *
 * Chunks are claimed dynamically, so a thread that is slow, descheduled or still
 * waking up simply takes fewer of them: the caller never waits for a worker that has
 * not started, only for chunks in flight. Which thread runs a chunk is therefore not
 * deterministic; callers must make a chunk's result independent of it (ith only
 * selects per-thread scratch).
 *
 * Built without threads (WISP_NO_THREADS, e.g. the single-thread wasm variant), or
 * with one thread, or for a single chunk, the chunks run inline on the caller. */
#ifndef WISP_THREADPOOL_H
#define WISP_THREADPOOL_H

typedef struct wisp_pool wisp_pool;
typedef void (*wisp_pool_fn)(void *arg, int chunk, int ith);

/* n_threads >= 1 (clamped). Returns NULL on failure (out of memory / threads). */
wisp_pool *wisp_pool_create(int n_threads);
void wisp_pool_free(wisp_pool *p);
int wisp_pool_size(const wisp_pool *p);
/* Runs fn(arg, chunk, ith) for chunk = 0 .. n_chunks-1 (n_chunks < 2^31), each exactly
 * once; a barrier: returns when all are done. Jobs are not reentrant (fn must not
 * call wisp_pool_run). */
void wisp_pool_run(wisp_pool *p, wisp_pool_fn fn, void *arg, int n_chunks);
/* Jobs of more than one chunk run so far (each a barrier when the pool has several
 * threads), for profiling. */
unsigned long wisp_pool_jobs(const wisp_pool *p);

#endif
