/* test_threadpool.c — the persistent pool (src/threadpool.c): every job runs exactly
 * once on every thread with the right (ith, nth), across sleep/spin transitions, and
 * the cost of one empty job (the barrier) is measured and printed in ns. */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "test_util.h"
#include "threadpool.h"

typedef struct job {
    atomic_int hits[64];
    atomic_int bad_nth;
    int expect_nth;
} job;

static void count_job(void *arg, int ith, int nth) {
    job *j = (job *)arg;
    if (nth != j->expect_nth) atomic_fetch_add(&j->bad_nth, 1);
    atomic_fetch_add(&j->hits[ith], 1);
}
static void empty_job(void *arg, int ith, int nth) { (void)arg; (void)ith; (void)nth; }

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void) {
    for (int nt = 1; nt <= 4; nt++) {
        wisp_pool *p = wisp_pool_create(nt);
        CHECK(p != NULL);
        if (!p) continue;
        const int n = wisp_pool_size(p);
        job j;
        for (int i = 0; i < 64; i++) atomic_init(&j.hits[i], 0);
        atomic_init(&j.bad_nth, 0);
        j.expect_nth = n;
        int runs = 0;
        for (int round = 0; round < 3; round++) {
            for (int k = 0; k < 2000; k++, runs++) wisp_pool_run(p, count_job, &j);
            /* let the workers exhaust their spin budget and sleep, then wake them */
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            wisp_pool_run(p, count_job, &j);
            runs++;
        }
        for (int i = 0; i < n; i++) CHECKF(atomic_load(&j.hits[i]) == runs, "thread %d ran %d of %d jobs", i, atomic_load(&j.hits[i]), runs);
        CHECK(atomic_load(&j.bad_nth) == 0);

        const int reps = 20000;
        const double t0 = now_ns();
        for (int k = 0; k < reps; k++) wisp_pool_run(p, empty_job, NULL);
        const double ns = (now_ns() - t0) / reps;
        printf("threadpool: %d thread(s): %.0f ns per empty job (barrier cost)\n", n, ns);
        wisp_pool_free(p);
    }
    printf("test_threadpool: %d checks, %d failures\n", g_test_checks, g_test_failures);
    return g_test_failures ? 1 : 0;
}
