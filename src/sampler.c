/* sampler.c — token sampling (wisp_sampler_*): repetition penalty, greedy, top-k,
 * top-p, min-p, temperature and a seeded, platform-independent random draw.
 *
 * Pipeline (same order as llama.cpp's common sampler chain):
 *   1. repetition penalty over the distinct tokens of the last repeat_last_n accepted
 *      tokens: logit > 0 -> logit / penalty, else logit * penalty;
 *   2. temperature <= 0: argmax (ties -> lowest id), no random draw;
 *   3. otherwise top-k -> top-p -> min-p -> temperature -> softmax -> draw.
 *   top-p and min-p look at temperature-1 probabilities of the surviving candidates
 *   (as llama.cpp does): top-p keeps the smallest prefix of the candidates sorted by
 *   probability whose cumulative probability is >= top_p (at least one token); min-p
 *   keeps tokens with p >= min_p * p_max.
 *
 * Determinism: the RNG is xoshiro256** seeded through splitmix64; a draw uses the top
 * 24 bits of one output as a float in [0,1). Sums are in double. Same seed + settings +
 * logits give the same tokens on every platform (native, wasm32), up to last-ulp
 * differences of the C library's exp() landing exactly on a draw boundary.
 * Seed 0 is an ordinary fixed seed (not "random"); callers wanting variety pass their
 * own, e.g. a time value.
 *
 * Logits: NaN is treated as -inf (never chosen); +inf as FLT_MAX. If every logit is
 * -inf/NaN the sampler returns token 0. All buffers are allocated by wisp_sampler_init;
 * sampling never allocates. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wisp.h"

/* A candidate token: its (possibly penalised) logit, id, and a weight (during top-p
 * the temperature-1 exp(l - max), for the draw exp((l - max) / temperature)). */
typedef struct cand {
    float l;
    int32_t id;
    double w;
} cand;

struct wisp_sampler {
    wisp_sampler_params p;
    uint32_t n_vocab;
    cand *c;           /* n_vocab candidates (working set) */
    uint8_t *mark;     /* n_vocab flags: token already penalised this step */
    int32_t *ring;     /* repeat_last_n last accepted tokens */
    int32_t ring_pos;  /* next slot to write */
    int32_t ring_cnt;  /* filled slots (<= repeat_last_n) */
    uint64_t rng[4];   /* xoshiro256** state */
};

/* top-p without top-k splits the candidates at logit thresholds: first m-0.5, then
 * each twice as deep; past m-64 (relative probability e^-64) the rest is sorted. */
#define WISP_TOPP_FIRST_BAND 0.5
#define WISP_TOPP_LAST_BAND 64.0
/* A top-p region this small is sorted instead of split further. */
#define WISP_TOPP_SORT_MAX 64

/* ---------------------------------------------------------------- RNG */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t st[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) st[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t st[4]) {
    uint64_t r = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return r;
}

/* A float in [0,1) from the top 24 bits (exact in float and double). */
static double rng_unit(uint64_t st[4]) {
    return (double)(uint32_t)(rng_next(st) >> 40) * (1.0 / 16777216.0);
}

/* ---------------------------------------------------------------- params */

wisp_sampler_params wisp_sampler_default_params(void) {
    wisp_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

static wisp_status validate(const wisp_sampler_params *p, uint32_t n_vocab, char *err,
                            size_t err_len) {
    const wisp_status E = WISP_ERR_INVALID_ARG;
    if (!isfinite(p->temperature))
        return wisp_set_err(err, err_len, E, "temperature must be a finite number");
    if (p->temperature < 0.0f)
        return wisp_set_err(err, err_len, E, "temperature must be >= 0 (got %g; 0 = greedy)",
                            (double)p->temperature);
    /* top_k <= 0 means off (wisp.h); every value is valid. */
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) /* also rejects NaN */
        return wisp_set_err(err, err_len, E, "top_p must be in (0, 1] (got %g; 1 = off)",
                            (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return wisp_set_err(err, err_len, E, "min_p must be in [0, 1] (got %g; 0 = off)",
                            (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || !(p->repeat_penalty > 0.0f))
        return wisp_set_err(err, err_len, E,
                            "repeat_penalty must be a finite number > 0 (got %g; 1 = off)",
                            (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > (1 << 20))
        return wisp_set_err(err, err_len, E, "repeat_last_n must be in [0, %d] (got %d)",
                            1 << 20, (int)p->repeat_last_n);
    if (n_vocab < 1 || n_vocab > (uint32_t)INT32_MAX)
        return wisp_set_err(err, err_len, E, "n_vocab must be in [1, %d] (got %u)",
                            (int)INT32_MAX, (unsigned)n_vocab);
    return WISP_OK;
}

/* ---------------------------------------------------------------- lifecycle */

wisp_status wisp_sampler_init(const wisp_sampler_params *p, uint32_t n_vocab,
                              wisp_sampler **out, char *err, size_t err_len) {
    if (out) *out = NULL;
    if (!p || !out)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG,
                            "wisp_sampler_init: params and out must not be NULL");
    wisp_status st = validate(p, n_vocab, err, err_len);
    if (st != WISP_OK) return st;

    uint64_t bc;
    if (!wisp_mul_u64(n_vocab, sizeof(cand), &bc) || bc > SIZE_MAX)
        return wisp_set_err(err, err_len, WISP_ERR_OOM, "sampler buffers too large for n_vocab %u",
                            (unsigned)n_vocab);

    wisp_sampler *s = (wisp_sampler *)calloc(1, sizeof *s);
    if (!s) return wisp_set_err(err, err_len, WISP_ERR_OOM, "out of memory allocating sampler");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = (cand *)malloc((size_t)bc);
    s->mark = (uint8_t *)calloc(n_vocab, 1);
    s->ring = (int32_t *)malloc(sizeof(int32_t) * (size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1));
    if (!s->c || !s->mark || !s->ring) {
        wisp_sampler_free(s);
        return wisp_set_err(err, err_len, WISP_ERR_OOM,
                            "out of memory allocating sampler buffers (n_vocab %u)", (unsigned)n_vocab);
    }
    wisp_sampler_reset(s);
    *out = s;
    return WISP_OK;
}

void wisp_sampler_free(wisp_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->mark);
    free(s->ring);
    free(s);
}

void wisp_sampler_reset(wisp_sampler *s) {
    if (!s) return;
    s->ring_pos = 0;
    s->ring_cnt = 0;
    rng_seed(s->rng, s->p.seed);
}

void wisp_sampler_accept(wisp_sampler *s, wisp_token t) {
    if (!s || s->p.repeat_last_n <= 0) return;
    if (t < 0 || (uint32_t)t >= s->n_vocab) return; /* not a token of this vocab */
    s->ring[s->ring_pos] = t;
    s->ring_pos = (s->ring_pos + 1) % s->p.repeat_last_n;
    if (s->ring_cnt < s->p.repeat_last_n) s->ring_cnt++;
}

/* ---------------------------------------------------------------- ordering */

/* Total order "a comes before b": higher logit first, ties -> lower id. */
static inline int cand_before(const cand *a, const cand *b) {
    return a->l > b->l || (a->l == b->l && a->id < b->id);
}

/* Min-heap on "before": the root is the worst of the kept candidates. */
static void heap_sift_down(cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_before(&h[w], &h[l])) w = l;
        if (r < n && cand_before(&h[w], &h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Sorts c[0..n) best first: heap sort (in place, O(n log n), no allocation, unlike
 * some libc qsorts) on a heap whose root is the worst candidate. */
static void cand_sort(cand *c, int32_t n) {
    if (n <= 16) { /* insertion sort */
        for (int32_t i = 1; i < n; i++) {
            cand t = c[i];
            int32_t j = i;
            for (; j > 0 && cand_before(&t, &c[j - 1]); j--) c[j] = c[j - 1];
            c[j] = t;
        }
        return;
    }
    for (int32_t i = n / 2 - 1; i >= 0; i--) heap_sift_down(c, n, i);
    for (int32_t end = n - 1; end > 0; end--) {
        cand t = c[0]; /* the worst of c[0..end] goes to the back */
        c[0] = c[end];
        c[end] = t;
        heap_sift_down(c, end, 0);
    }
}

/* Keeps the best k of c[0..n) in c[0..k), sorted best first. O(n log k). */
static void top_k_select(cand *c, int32_t n, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--) heap_sift_down(c, k, i);
    for (int32_t i = k; i < n; i++) {
        if (cand_before(&c[i], &c[0])) {
            c[0] = c[i];
            heap_sift_down(c, k, 0);
        }
    }
    cand_sort(c, k);
}

/* ---------------------------------------------------------------- sampling */

/* Walks c[from..to) (sorted best first) adding the weights to cum; returns the end
 * of the kept set: just past the first token where cum >= target, or `to` if rounding
 * keeps the target out of reach. */
static int32_t top_p_walk(const cand *c, int32_t from, int32_t to, double cum, double target) {
    for (int32_t i = from; i < to; i++) {
        cum += c[i].w;
        if (cum >= target) return i + 1;
    }
    return to;
}

static void apply_repeat_penalty(wisp_sampler *s) {
    const float pen = s->p.repeat_penalty;
    if (pen == 1.0f || s->ring_cnt == 0) return;
    for (int32_t i = 0; i < s->ring_cnt; i++) {
        int32_t t = s->ring[i];
        if (s->mark[t]) continue; /* once per distinct token, as llama.cpp */
        s->mark[t] = 1;
        float l = s->c[t].l;
        s->c[t].l = l > 0.0f ? l / pen : l * pen;
    }
    for (int32_t i = 0; i < s->ring_cnt; i++) s->mark[s->ring[i]] = 0;
}

/* Greedy: the first token with the highest logit after the penalty and the
 * sanitising below, in one pass over the logits (no candidate array: decode of a
 * 151936-token vocabulary spent ~0.5 ms per token filling it). Same token as the general
 * path: the penalised tokens are marked, and each logit goes through the same steps. */
static wisp_token sample_greedy(wisp_sampler *s, const float *logits) {
    const int32_t nv = (int32_t)s->n_vocab;
    const float pen = s->p.repeat_penalty;
    const bool penalise = pen != 1.0f && s->ring_cnt > 0;
    if (penalise)
        for (int32_t i = 0; i < s->ring_cnt; i++) s->mark[s->ring[i]] = 1;
    int32_t best = 0;
    float best_l = 0.0f;
    for (int32_t i = 0; i < nv; i++) {
        float l = logits[i];
        if (penalise && s->mark[i]) l = l > 0.0f ? l / pen : l * pen;
        if (isnan(l)) l = -INFINITY;
        else if (l > FLT_MAX) l = FLT_MAX;
        if (i == 0 || l > best_l) {
            best = i;
            best_l = l;
        }
    }
    if (penalise)
        for (int32_t i = 0; i < s->ring_cnt; i++) s->mark[s->ring[i]] = 0;
    return best;
}

wisp_token wisp_sampler_sample(wisp_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    if (s->p.temperature <= 0.0f) return sample_greedy(s, logits);
    const int32_t nv = (int32_t)s->n_vocab;
    cand *c = s->c;

    for (int32_t i = 0; i < nv; i++) {
        c[i].l = logits[i];
        c[i].id = i;
    }
    apply_repeat_penalty(s);
    /* Sanitise after the penalty (a penalty < 1 can overflow a large logit). */
    for (int32_t i = 0; i < nv; i++) {
        float l = c[i].l;
        if (isnan(l)) c[i].l = -INFINITY;
        else if (l > FLT_MAX) c[i].l = FLT_MAX;
    }

    /* Drop impossible tokens and find the max. */
    int32_t n = 0;
    float mf = -INFINITY;
    for (int32_t i = 0; i < nv; i++) {
        if (c[i].l == -INFINITY) continue;
        if (c[i].l > mf) mf = c[i].l;
        c[n++] = c[i];
    }
    if (n == 0) return 0;
    const double m = (double)mf;
    bool sorted = false; /* c[0..n) is sorted best first */

    /* top-k */
    if (s->p.top_k > 0 && s->p.top_k < n) {
        top_k_select(c, n, s->p.top_k);
        n = s->p.top_k;
        sorted = true;
    }

    /* top-p: temperature-1 softmax over the current candidates. */
    if (s->p.top_p < 1.0f && n > 1) {
        double sum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            c[i].w = exp((double)c[i].l - m);
            sum += c[i].w;
        }
        const double target = (double)s->p.top_p * sum;
        if (sorted) {
            n = top_p_walk(c, 0, n, 0.0, target);
        } else {
            /* Unsorted (no top-k): split the candidates by logit thresholds instead of
             * sorting them all. c[lo..n) is the undecided region: everything before lo is
             * kept (mass cum), everything from n on is dropped, and the region's logits
             * lie in [lo_l, hi_l). First thresholds step down from the max (m-0.5, m-1,
             * m-2, ...) until the cutoff is inside a band, then bisect that band until it
             * is small, then sort and walk it. The kept set equals that of a walk over a
             * full sort, at a fraction of the cost. */
            int32_t lo = 0;
            double cum = 0.0, d = WISP_TOPP_FIRST_BAND;
            double lo_l = -INFINITY, hi_l = m;
            for (int iter = 0;; iter++) {
                const int32_t len = n - lo;
                const bool bisect = lo_l > -INFINITY;
                if (len <= WISP_TOPP_SORT_MAX || iter >= 64 || (!bisect && d > WISP_TOPP_LAST_BAND)) {
                    cand_sort(c + lo, len);
                    n = top_p_walk(c, lo, n, cum, target);
                    break;
                }
                const double thr = bisect ? 0.5 * (lo_l + hi_l) : m - d;
                int32_t j = lo;
                double mass = 0.0;
                for (int32_t i = lo; i < n; i++) {
                    if ((double)c[i].l >= thr) {
                        cand t = c[j];
                        c[j] = c[i];
                        c[i] = t;
                        mass += c[j].w;
                        j++;
                    }
                }
                if (cum + mass >= target) {
                    n = j;      /* the cutoff is in [lo, j): drop everything below thr */
                    lo_l = thr; /* region logits now in [thr, hi_l): bisect from here on */
                } else {
                    cum += mass;
                    lo = j;
                    hi_l = thr;
                    if (!bisect) d *= 2.0;
                }
            }
        }
    }

    /* min-p: p >= min_p * p_max  <=>  logit - max >= log(min_p). The max survives. */
    if (s->p.min_p > 0.0f && n > 1) {
        const double thr = log((double)s->p.min_p);
        int32_t j = 0;
        for (int32_t i = 0; i < n; i++)
            if ((double)c[i].l - m >= thr) c[j++] = c[i];
        n = j;
    }

    /* temperature -> softmax -> draw */
    const double inv_t = 1.0 / (double)s->p.temperature;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        double w = exp(((double)c[i].l - m) * inv_t);
        c[i].w = w;
        sum += w;
    }
    const double u = rng_unit(s->rng) * sum;
    double cum = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].w <= 0.0) continue;
        last = i;
        cum += c[i].w;
        if (u < cum) return c[i].id;
    }
    return c[last].id; /* rounding: u landed at the very top */
}
