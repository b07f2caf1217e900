/* test_threadpool.c — the persistent pool (src/threadpool.c): every chunk of every job
 * runs exactly once, on a valid thread, while the job is current (never a stale or
 * future job's arguments), across sleep/spin transitions and for any chunk count; the
 * cost of one empty job (the barrier) is measured and printed in ns. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "test_util.h"
#include "threadpool.h"

#define MAX_CHUNKS 1000

static atomic_int g_current; /* id of the job wisp_pool_run is running */
static atomic_int g_errors;

typedef struct job {
    int id;
    int nth;
    atomic_int hits[MAX_CHUNKS];
    atomic_int by_thread[64];
} job;

static void count_job(void *arg, int chunk, int ith) {
    job *j = (job *)arg;
    if (j->id != atomic_load(&g_current) || ith < 0 || ith >= j->nth || chunk < 0 || chunk >= MAX_CHUNKS)
        atomic_fetch_add(&g_errors, 1);
    else {
        atomic_fetch_add(&j->hits[chunk], 1);
        atomic_fetch_add(&j->by_thread[ith], 1);
    }
    if (chunk % 7 == 0) /* uneven chunks: some threads get behind */
        for (volatile int k = 0; k < 2000; k++) {}
}
static void empty_job(void *arg, int chunk, int ith) { (void)arg; (void)chunk; (void)ith; }

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One job of n chunks with a fresh argument block (the previous one is gone). */
static int run_one(wisp_pool *p, int n, int id, long *per_thread) {
    job *j = (job *)malloc(sizeof *j);
    j->id = id;
    j->nth = wisp_pool_size(p);
    for (int i = 0; i < MAX_CHUNKS; i++) atomic_init(&j->hits[i], 0);
    for (int i = 0; i < 64; i++) atomic_init(&j->by_thread[i], 0);
    atomic_store(&g_current, id);
    wisp_pool_run(p, count_job, j, n);
    atomic_store(&g_current, -1);
    int bad = 0;
    for (int i = 0; i < MAX_CHUNKS; i++)
        if (atomic_load(&j->hits[i]) != (i < n ? 1 : 0)) bad++;
    for (int i = 0; i < j->nth; i++) per_thread[i] += atomic_load(&j->by_thread[i]);
    free(j);
    return bad;
}

int main(void) {
    static const int sizes[] = {0, 1, 2, 3, 5, 16, 64, 999};
    int id = 0;
    for (int nt = 1; nt <= 4; nt++) {
        wisp_pool *p = wisp_pool_create(nt);
        CHECK(p != NULL);
        if (!p) continue;
        const int n = wisp_pool_size(p);
        long per_thread[64] = {0};
        int bad = 0;
        for (int round = 0; round < 3; round++) {
            for (int k = 0; k < 2000; k++) bad += run_one(p, sizes[k % 8], ++id, per_thread);
            /* let the workers exhaust their spin budget and sleep, then wake them */
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            bad += run_one(p, 64, ++id, per_thread);
        }
        CHECKF(bad == 0, "%d threads: %d chunks ran other than exactly once", n, bad);
        CHECKF(atomic_load(&g_errors) == 0, "%d threads: %d chunks saw a wrong job or thread index", n,
               atomic_load(&g_errors));
        printf("threadpool: %d thread(s): chunks run per thread:", n);
        for (int i = 0; i < n; i++) printf(" %ld", per_thread[i]);
        printf("\n");

        const int reps = 20000;
        const double t0 = now_ns();
        for (int k = 0; k < reps; k++) wisp_pool_run(p, empty_job, NULL, n);
        const double ns = (now_ns() - t0) / reps;
        printf("threadpool: %d thread(s): %.0f ns per empty job of %d chunks (barrier cost)\n", n, ns, n);
        wisp_pool_free(p);
    }
    printf("test_threadpool: %d checks, %d failures\n", g_test_checks, g_test_failures);
    return g_test_failures ? 1 : 0;
}
