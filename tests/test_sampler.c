/* test_sampler.c — wisp_sampler_*: greedy, determinism, statistics against softmax,
 * top-k/top-p/min-p truncation, repetition penalty and parameter validation. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "wisp.h"

static wisp_sampler_params plain_params(float temp) {
    wisp_sampler_params p = wisp_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 1234;
    return p;
}

static wisp_sampler *mk(const wisp_sampler_params *p, uint32_t n_vocab) {
    char err[256] = "";
    wisp_sampler *s = NULL;
    wisp_status st = wisp_sampler_init(p, n_vocab, &s, err, sizeof err);
    CHECKF(st == WISP_OK && s, "init failed: %s", err);
    return s;
}

/* Counts draws of each token over `n` samples (n_vocab <= 16). */
static void histogram(wisp_sampler *s, const float *logits, int n_vocab, int n, int *counts) {
    memset(counts, 0, sizeof(int) * (size_t)n_vocab);
    for (int i = 0; i < n; i++) {
        wisp_token t = wisp_sampler_sample(s, logits);
        if (t >= 0 && t < n_vocab) counts[t]++;
        else CHECKF(0, "token %d out of range", (int)t);
    }
}

static void test_defaults(void) {
    wisp_sampler_params p = wisp_sampler_default_params();
    CHECK(fabsf(p.temperature - 0.8f) < 1e-6f);
    CHECK(p.top_k == 40);
    CHECK(fabsf(p.top_p - 0.95f) < 1e-6f);
    CHECK(fabsf(p.min_p - 0.05f) < 1e-6f);
    CHECK(p.repeat_penalty == 1.0f);
    CHECK(p.repeat_last_n == 64);
    CHECK(p.seed == 0);
    wisp_sampler *s = mk(&p, 100);
    wisp_sampler_free(s);
    wisp_sampler_free(NULL);
}

static void test_greedy(void) {
    const float logits[6] = {0.5f, 2.0f, -1.0f, 3.5f, 3.5f, 1.0f};
    wisp_sampler_params p = plain_params(0.0f);
    p.top_k = 40;
    p.top_p = 0.5f;
    wisp_sampler *s = mk(&p, 6);
    for (int i = 0; i < 5; i++) CHECK(wisp_sampler_sample(s, logits) == 3); /* tie -> lowest id */
    wisp_sampler_free(s);

    /* NaN never wins; all -inf/NaN gives token 0. */
    const float nanl[4] = {NAN, 1.0f, NAN, 0.5f};
    s = mk(&p, 4);
    CHECK(wisp_sampler_sample(s, nanl) == 1);
    const float dead[3] = {-INFINITY, NAN, -INFINITY};
    wisp_sampler_free(s);
    s = mk(&p, 3);
    CHECK(wisp_sampler_sample(s, dead) == 0);
    wisp_sampler_free(s);

    /* +inf counts as FLT_MAX (a tie: the lower id wins), also after a penalty < 1
     * pushed a logit past FLT_MAX */
    const float big[4] = {1.0f, FLT_MAX, INFINITY, FLT_MAX};
    s = mk(&p, 4);
    CHECK(wisp_sampler_sample(s, big) == 1);
    wisp_sampler_free(s);
    p.repeat_penalty = 0.5f;
    p.repeat_last_n = 4;
    const float over[3] = {FLT_MAX * 0.75f, FLT_MAX, 2.0f};
    s = mk(&p, 3);
    CHECK(wisp_sampler_sample(s, over) == 1);
    wisp_sampler_accept(s, 0); /* 0.75 FLT_MAX / 0.5 = inf -> FLT_MAX: ties with 1, lower id */
    CHECK(wisp_sampler_sample(s, over) == 0);
    wisp_sampler_free(s);
    p.repeat_penalty = 1.0f;

    /* top_k = 1 at a positive temperature is greedy too. */
    p = plain_params(1.5f);
    p.top_k = 1;
    s = mk(&p, 6);
    for (int i = 0; i < 200; i++) CHECK(wisp_sampler_sample(s, logits) == 3);
    wisp_sampler_free(s);

    /* Sampling with NaN/-inf entries never picks them. */
    p = plain_params(1.0f);
    s = mk(&p, 4);
    const float mixed[4] = {NAN, 0.0f, -INFINITY, 0.0f};
    for (int i = 0; i < 200; i++) {
        wisp_token t = wisp_sampler_sample(s, mixed);
        CHECK(t == 1 || t == 3);
    }
    wisp_sampler_free(s);
}

static void test_statistics(void) {
    const float logits[5] = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
    double pr[5], sum = 0;
    for (int i = 0; i < 5; i++) sum += pr[i] = exp((double)logits[i]);
    for (int i = 0; i < 5; i++) pr[i] /= sum;

    wisp_sampler_params p = plain_params(1.0f);
    wisp_sampler *s = mk(&p, 5);
    int counts[5];
    const int N = 20000;
    histogram(s, logits, 5, N, counts);
    for (int i = 0; i < 5; i++) {
        double f = (double)counts[i] / N;
        CHECKF(fabs(f - pr[i]) < 0.03, "token %d freq %.4f expected %.4f", i, f, pr[i]);
    }
    wisp_sampler_free(s);

    /* Temperature 2 flattens: frequencies follow softmax(logits / 2). */
    p = plain_params(2.0f);
    s = mk(&p, 5);
    histogram(s, logits, 5, N, counts);
    sum = 0;
    for (int i = 0; i < 5; i++) sum += pr[i] = exp((double)logits[i] / 2.0);
    for (int i = 0; i < 5; i++) {
        double f = (double)counts[i] / N;
        CHECKF(fabs(f - pr[i] / sum) < 0.03, "T=2 token %d freq %.4f expected %.4f", i, f,
               pr[i] / sum);
    }
    wisp_sampler_free(s);
}

static void test_determinism(void) {
    enum { NV = 16, STEPS = 12 };
    float logits[NV];
    for (int i = 0; i < NV; i++) logits[i] = (float)((i * 7) % NV) * 0.25f;
    wisp_sampler_params p = plain_params(1.0f);
    p.seed = 42;
    wisp_sampler *a = mk(&p, NV), *b = mk(&p, NV);
    p.seed = 43;
    wisp_sampler *c = mk(&p, NV);
    wisp_token sa[STEPS], sb[STEPS], sc[STEPS];
    int differ = 0;
    for (int i = 0; i < STEPS; i++) {
        sa[i] = wisp_sampler_sample(a, logits);
        sb[i] = wisp_sampler_sample(b, logits);
        sc[i] = wisp_sampler_sample(c, logits);
        CHECK(sa[i] == sb[i]);
        if (sa[i] != sc[i]) differ = 1;
    }
    CHECK(differ);

    /* The exact sequence for seed 42 (xoshiro256** seeded by splitmix64, top-24-bit
     * floats); it must be the same on every platform. Cross-checked against an
     * independent Python model of the RNG and the draw. */
    static const wisp_token expect[STEPS] = {2, 6, 9, 13, 15, 11, 11, 12, 11, 9, 9, 4};
    printf("seed 42 sequence:");
    for (int i = 0; i < STEPS; i++) printf(" %d", (int)sa[i]);
    printf("\n");
    for (int i = 0; i < STEPS; i++) CHECKF(sa[i] == expect[i], "step %d: %d != %d", i, (int)sa[i], (int)expect[i]);

    /* reset re-seeds: the same sequence again. */
    wisp_sampler_reset(a);
    for (int i = 0; i < STEPS; i++) CHECK(wisp_sampler_sample(a, logits) == sa[i]);

    /* Default-like settings with all truncations on are deterministic too. */
    wisp_sampler_params d = wisp_sampler_default_params();
    d.seed = 7;
    d.repeat_penalty = 1.1f;
    wisp_sampler *x = mk(&d, NV), *y = mk(&d, NV);
    for (int i = 0; i < 50; i++) {
        wisp_token tx = wisp_sampler_sample(x, logits), ty = wisp_sampler_sample(y, logits);
        CHECK(tx == ty);
        wisp_sampler_accept(x, tx);
        wisp_sampler_accept(y, ty);
    }
    wisp_sampler_free(a);
    wisp_sampler_free(b);
    wisp_sampler_free(c);
    wisp_sampler_free(x);
    wisp_sampler_free(y);
}

static void test_truncation(void) {
    const float logits[5] = {1.0f, 3.0f, 0.0f, 2.5f, -2.0f};
    int counts[5];

    /* top-p small keeps only the top token. */
    wisp_sampler_params p = plain_params(1.0f);
    p.top_p = 0.05f;
    wisp_sampler *s = mk(&p, 5);
    histogram(s, logits, 5, 500, counts);
    CHECK(counts[1] == 500);
    wisp_sampler_free(s);

    /* top-p 0.8: T=1 probs are .075 .556 .028 .337 .004; sorted 1,3,...: p1 = .556 < .8,
     * p1 + p3 = .893 >= .8, so only {1,3} remain. */
    p.top_p = 0.8f;
    s = mk(&p, 5);
    histogram(s, logits, 5, 4000, counts);
    CHECK(counts[0] == 0 && counts[2] == 0 && counts[4] == 0);
    CHECK(counts[1] > 0 && counts[3] > 0);
    /* renormalised: p(1) = e^3/(e^3+e^2.5) = 0.6225 */
    CHECKF(fabs(counts[1] / 4000.0 - 0.6225) < 0.03, "top-p renorm %.4f", counts[1] / 4000.0);
    wisp_sampler_free(s);

    /* top-k 2 keeps {1,3}. */
    p = plain_params(1.0f);
    p.top_k = 2;
    s = mk(&p, 5);
    histogram(s, logits, 5, 2000, counts);
    CHECK(counts[0] == 0 && counts[2] == 0 && counts[4] == 0);
    CHECK(counts[1] > 0 && counts[3] > 0);
    wisp_sampler_free(s);

    /* min-p 0.3: p/p_max = e^(l-3): token 3 (0.61) stays, 0 (0.135) goes, 2, 4 go. */
    p = plain_params(1.0f);
    p.min_p = 0.3f;
    s = mk(&p, 5);
    histogram(s, logits, 5, 2000, counts);
    CHECK(counts[0] == 0 && counts[2] == 0 && counts[4] == 0);
    CHECK(counts[1] > 0 && counts[3] > 0);
    wisp_sampler_free(s);
    /* min-p 0.1 lets token 0 back in (0.135 >= 0.1). */
    p.min_p = 0.1f;
    s = mk(&p, 5);
    histogram(s, logits, 5, 4000, counts);
    CHECK(counts[0] > 0 && counts[2] == 0 && counts[4] == 0);
    wisp_sampler_free(s);
    /* min-p 1 keeps only the max. */
    p.min_p = 1.0f;
    s = mk(&p, 5);
    histogram(s, logits, 5, 300, counts);
    CHECK(counts[1] == 300);
    wisp_sampler_free(s);
}

/* Reference top-p set: sort everything, keep the smallest prefix with cum >= p. */
static int ref_top_p(const float *l, int n, float top_p, int *keep) {
    static int order[2048];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: logit desc, id asc */
        for (int j = i; j > 0 && (l[order[j]] > l[order[j - 1]] ||
                                  (l[order[j]] == l[order[j - 1]] && order[j] < order[j - 1]));
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    double m = l[order[0]], sum = 0, cum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)l[i] - m);
    memset(keep, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        keep[order[i]] = 1;
        cum += exp((double)l[order[i]] - m);
        if (cum >= (double)top_p * sum) return i + 1;
    }
    return n;
}

/* Checks that top-p alone (no top-k) keeps exactly the reference set: at a huge
 * temperature every kept token has probability ~1/k, so `draws` draws see them all. */
static void check_top_p_set(const float *l, int nv, float top_p, uint64_t seed, int draws,
                            const char *what) {
    static int keep[2048], seen[2048];
    int k = ref_top_p(l, nv, top_p, keep);
    wisp_sampler_params p = plain_params(1e6f);
    p.top_p = top_p;
    p.seed = seed;
    wisp_sampler *s = mk(&p, (uint32_t)nv);
    memset(seen, 0, sizeof(int) * (size_t)nv);
    for (int i = 0; i < draws; i++) {
        wisp_token t = wisp_sampler_sample(s, l);
        if (t >= 0 && t < nv) seen[t]++;
    }
    int n_bad = 0;
    for (int i = 0; i < nv; i++) n_bad += (seen[i] > 0) != (keep[i] != 0);
    CHECKF(n_bad == 0, "%s top_p %g: %d tokens differ from the reference set (k=%d)", what,
           (double)top_p, n_bad, k);
    wisp_sampler_free(s);
}

static void test_top_p_exact(void) {
    static float l[2048];
    uint64_t x = 12345;
    /* Small vocab (mostly sorted directly). */
    const float ps[5] = {0.3f, 0.6f, 0.9f, 0.99f, 0.999f};
    for (int trial = 0; trial < 6; trial++) {
        for (int i = 0; i < 40; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            l[i] = (float)((double)(x >> 40) / 16777216.0 * (trial % 2 ? 12.0 : 3.0));
        }
        for (int pi = 0; pi < 5; pi++)
            check_top_p_set(l, 40, ps[pi], (uint64_t)(trial * 10 + pi), 4000, "vocab 40");
    }
    /* 800 tokens, logits spread over 1 or 3 nats: the cutoff band holds hundreds of
     * tokens, so the threshold bisection runs before the final sort. */
    const float ps2[2] = {0.5f, 0.9f};
    for (int trial = 0; trial < 2; trial++) {
        for (int i = 0; i < 800; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            l[i] = (float)((double)(x >> 40) / 16777216.0 * (trial ? 3.0 : 1.0));
        }
        for (int pi = 0; pi < 2; pi++)
            check_top_p_set(l, 800, ps2[pi], (uint64_t)(100 + trial * 10 + pi), 10000, "vocab 800");
    }
}

/* A large vocabulary: top-p walk past the prefilter, top-k with k large. */
static void test_large_vocab(void) {
    enum { NV = 152000 };
    float *logits = (float *)malloc(sizeof(float) * NV);
    if (!logits) { CHECK(0); return; }
    uint64_t x = 99;
    for (int i = 0; i < NV; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        logits[i] = (float)((double)(x >> 40) / 16777216.0 * 30.0 - 25.0);
    }
    logits[777] = 10.0f;
    /* greedy */
    wisp_sampler_params p = plain_params(0.0f);
    wisp_sampler *s = mk(&p, NV);
    CHECK(wisp_sampler_sample(s, logits) == 777);
    wisp_sampler_free(s);

    /* top-p deep into the tail: one token at 25 and 152k near 0 (tail mass ~2e-6 of
     * the total). top_p = 1 - 1.2e-7 must walk into the tail; a high temperature then
     * makes tail tokens the likely draws. */
    float *tail = (float *)malloc(sizeof(float) * NV);
    if (!tail) { CHECK(0); free(logits); return; }
    for (int i = 0; i < NV; i++) tail[i] = (float)(i % 97) / 97.0f;
    tail[0] = 25.0f;
    p = plain_params(100.0f);
    p.top_p = 0.9999999f;
    s = mk(&p, NV);
    int n_tail = 0;
    for (int i = 0; i < 20; i++) {
        wisp_token t = wisp_sampler_sample(s, tail);
        CHECK(t >= 0 && t < NV);
        if (t != 0) n_tail++;
    }
    CHECK(n_tail > 15);
    wisp_sampler_free(s);
    /* ... while top_p = 0.999 stops at the top token. */
    p.top_p = 0.999f;
    s = mk(&p, NV);
    for (int i = 0; i < 20; i++) CHECK(wisp_sampler_sample(s, tail) == 0);
    wisp_sampler_free(s);
    free(tail);

    p = wisp_sampler_default_params();
    p.top_k = 5000;
    p.min_p = 0.0f;
    s = mk(&p, NV);
    for (int i = 0; i < 20; i++) {
        wisp_token t = wisp_sampler_sample(s, logits);
        CHECK(t >= 0 && t < NV && logits[t] >= 3.9f);
    }
    wisp_sampler_free(s);

    /* Defaults (top-k 40): only top tokens. */
    p = wisp_sampler_default_params();
    s = mk(&p, NV);
    for (int i = 0; i < 20; i++) {
        wisp_token t = wisp_sampler_sample(s, logits);
        CHECK(t == 777);  /* 10 vs <= 5: p_other/p_max < e^-5 < min_p 0.05... 0.0067 */
    }
    wisp_sampler_free(s);
    free(logits);
}

static void test_repeat_penalty(void) {
    /* logits: token 0 positive, token 1 negative. */
    const float logits[3] = {2.0f, -1.0f, 1.9f};
    wisp_sampler_params p = plain_params(0.0f);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 4;
    wisp_sampler *s = mk(&p, 3);
    CHECK(wisp_sampler_sample(s, logits) == 0);
    wisp_sampler_accept(s, 0);
    /* 2.0 / 1.5 = 1.33 < 1.9 */
    CHECK(wisp_sampler_sample(s, logits) == 2);
    /* accepting the same token twice penalises once: 2.0/1.5 still > 1.9/1.5 = 1.27 */
    wisp_sampler_accept(s, 0);
    wisp_sampler_accept(s, 2);
    CHECK(wisp_sampler_sample(s, logits) == 0);
    /* push 0 and 2 out of the 4-token window */
    wisp_sampler_accept(s, 1);
    wisp_sampler_accept(s, 1);
    wisp_sampler_accept(s, 1);
    wisp_sampler_accept(s, 1);
    CHECK(wisp_sampler_sample(s, logits) == 0);
    /* accept ignores out-of-range tokens */
    wisp_sampler_accept(s, -5);
    wisp_sampler_accept(s, 3);
    CHECK(wisp_sampler_sample(s, logits) == 0);
    /* reset clears the window */
    wisp_sampler_accept(s, 0);
    CHECK(wisp_sampler_sample(s, logits) == 2);
    wisp_sampler_reset(s);
    CHECK(wisp_sampler_sample(s, logits) == 0);
    wisp_sampler_free(s);

    /* Negative logits are multiplied: -1 * 1.5 = -1.5 lowers token 1 below token 0's -1.2. */
    const float neg[2] = {-1.2f, -1.0f};
    s = mk(&p, 2);
    CHECK(wisp_sampler_sample(s, neg) == 1);
    wisp_sampler_accept(s, 1);
    CHECK(wisp_sampler_sample(s, neg) == 0);
    wisp_sampler_free(s);

    /* Statistically: penalised token 0 at T=1 drops from softmax(2,0) to softmax(1,0). */
    const float two[2] = {2.0f, 0.0f};
    p = plain_params(1.0f);
    p.repeat_penalty = 2.0f;
    s = mk(&p, 2);
    wisp_sampler_accept(s, 0);
    int counts[2];
    histogram(s, two, 2, 20000, counts);
    double expect0 = exp(1.0) / (exp(1.0) + 1.0);
    CHECKF(fabs(counts[0] / 20000.0 - expect0) < 0.03, "penalised freq %.4f expected %.4f",
           counts[0] / 20000.0, expect0);
    wisp_sampler_free(s);

    /* repeat_last_n = 0 disables the window. */
    p = plain_params(0.0f);
    p.repeat_penalty = 10.0f;
    p.repeat_last_n = 0;
    s = mk(&p, 3);
    wisp_sampler_accept(s, 0);
    CHECK(wisp_sampler_sample(s, logits) == 0);
    wisp_sampler_free(s);
}

static void expect_invalid(const wisp_sampler_params *p, uint32_t n_vocab, const char *what) {
    char err[256] = "";
    wisp_sampler *s = (wisp_sampler *)(uintptr_t)1;
    wisp_status st = wisp_sampler_init(p, n_vocab, &s, err, sizeof err);
    CHECKF(st == WISP_ERR_INVALID_ARG, "%s: status %d", what, (int)st);
    CHECKF(s == NULL, "%s: out not cleared", what);
    CHECKF(err[0] != 0, "%s: no message", what);
    if (st == WISP_OK) wisp_sampler_free(s);
}

static void test_invalid(void) {
    wisp_sampler_params p;
    char err[256] = "";
    wisp_sampler *s = NULL;

    p = wisp_sampler_default_params();
    p.temperature = -0.5f;
    expect_invalid(&p, 10, "negative temperature");
    wisp_sampler_init(&p, 10, &s, err, sizeof err);
    CHECKF(strstr(err, "temperature must be >= 0") != NULL, "message: %s", err);

    p = wisp_sampler_default_params();
    p.temperature = NAN;
    expect_invalid(&p, 10, "NaN temperature");
    p.temperature = INFINITY;
    expect_invalid(&p, 10, "inf temperature");

    p = wisp_sampler_default_params();
    p.top_p = 0.0f;
    expect_invalid(&p, 10, "top_p 0");
    p.top_p = 1.5f;
    expect_invalid(&p, 10, "top_p 1.5");
    p.top_p = NAN;
    expect_invalid(&p, 10, "top_p NaN");

    p = wisp_sampler_default_params();
    p.min_p = -0.1f;
    expect_invalid(&p, 10, "min_p -0.1");
    p.min_p = 1.1f;
    expect_invalid(&p, 10, "min_p 1.1");
    p.min_p = NAN;
    expect_invalid(&p, 10, "min_p NaN");

    p = wisp_sampler_default_params();
    p.repeat_penalty = 0.0f;
    expect_invalid(&p, 10, "repeat_penalty 0");
    p.repeat_penalty = -1.0f;
    expect_invalid(&p, 10, "repeat_penalty -1");
    p.repeat_penalty = NAN;
    expect_invalid(&p, 10, "repeat_penalty NaN");
    p.repeat_penalty = INFINITY;
    expect_invalid(&p, 10, "repeat_penalty inf");

    p = wisp_sampler_default_params();
    p.repeat_last_n = -1;
    expect_invalid(&p, 10, "repeat_last_n -1");
    p.repeat_last_n = (1 << 20) + 1;
    expect_invalid(&p, 10, "repeat_last_n huge");

    p = wisp_sampler_default_params();
    expect_invalid(&p, 0, "n_vocab 0");
    CHECK(wisp_sampler_init(NULL, 10, &s, err, sizeof err) == WISP_ERR_INVALID_ARG);
    CHECK(wisp_sampler_init(&p, 10, NULL, err, sizeof err) == WISP_ERR_INVALID_ARG);

    /* Boundary values that are valid. */
    p = wisp_sampler_default_params();
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.top_k = -3; /* <= 0 is "off" per wisp.h */
    p.repeat_last_n = 0;
    s = mk(&p, 1);
    const float one[1] = {0.0f};
    CHECK(wisp_sampler_sample(s, one) == 0);
    wisp_sampler_free(s);
    p.min_p = 1.0f;
    s = mk(&p, 1);
    wisp_sampler_free(s);
    CHECK(wisp_sampler_sample(NULL, one) < 0);
}

int main(void) {
    test_defaults();
    test_greedy();
    test_statistics();
    test_determinism();
    test_truncation();
    test_top_p_exact();
    test_large_vocab();
    test_repeat_penalty();
    test_invalid();
    return test_finish("test_sampler");
}
