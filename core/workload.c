/*
 * workload.c — seeded, endless reference generators (docs/workloads.md).
 *
 * Every generator owns a xoshiro256** state seeded from cfg.seed through
 * splitmix64; rewinding reseeds, so a configuration names one sequence.
 * The random draws of each reference are made in a fixed order (page, then
 * offset, then write), and a draw is skipped only when its outcome is fixed
 * by the configuration (writes = 0 or 1, one slot per page), so the order
 * depends on the configuration alone.
 *
 * Invariants:
 *   - npages = size / page_size >= 1 for page-level kinds, and every address
 *     produced lies in [base, base + size - access_size];
 *   - offsets inside a page are multiples of access_size;
 *   - sequential/strided: 0 <= offset <= size - access_size.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_impl.h"

#define WORKLOAD_DEFAULT_PAGE_SIZE 4096u
#define WORKLOAD_DEFAULT_ACCESS_SIZE 8u
#define WORKLOAD_DEFAULT_ALPHA 1.0
#define WORKLOAD_DEFAULT_HOT_FRACTION 0.2   /* the classic 80/20 rule */
#define WORKLOAD_DEFAULT_HOT_PROB 0.8
#define WORKLOAD_DEFAULT_PHASE_LEN 10000u
#define WORKLOAD_DEFAULT_PHASE_PAGES 64u
#define WORKLOAD_DEFAULT_SEED 1u

/* Rounds of the keyed permutation that scatters zipf ranks (see below). */
#define WORKLOAD_PERM_ROUNDS 3

static const char *const workload_names[MM_WORKLOAD_KIND_COUNT] = {
    "uniform", "zipf", "sequential", "loop", "strided", "hotcold", "phases",
};

typedef struct workload {
    mm_source base;
    mm_workload_cfg cfg;
    uint64_t rng[4];          /* xoshiro256** state */
    uint64_t npages;          /* size / page_size */
    uint64_t slots;           /* aligned access offsets in a page */
    unsigned page_shift;      /* log2(page_size) */
    unsigned access_shift;    /* log2(access_size), or 64 if not a power */
    int write_mode;           /* 0 never, 1 always, 2 random */
    uint64_t write_limit;     /* write when (rng >> 11) < write_limit */
    /* sequential, strided */
    uint64_t offset, stride, last_offset;
    /* loop */
    uint64_t index;
    /* zipf: rejection-inversion constants (Hoermann & Derflinger 1996) */
    double s, h_x1, h_n, squeeze;
    double inv_1ms;           /* 1 / (1 - s), 0 when s is near 1 */
    /* zipf: rank -> page permutation on ceil(log2 N) bits */
    uint64_t mask;
    unsigned shift;
    uint64_t keys[WORKLOAD_PERM_ROUNDS], mults[WORKLOAD_PERM_ROUNDS];
    /* hotcold */
    uint64_t hot_pages, hot_limit;
    /* phases */
    uint64_t phase_left, phase_start;
} workload;

/* ---- random numbers --------------------------------------------------- */

/* splitmix64: turns any seed (0 included) into well-mixed state words.
 * Never fails. */
static uint64_t workload_splitmix(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Rotates x left by k (0 < k < 64). Never fails. */
static inline uint64_t workload_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush.
 * Never fails. */
static inline uint64_t workload_rand(uint64_t st[4])
{
    uint64_t r = workload_rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = workload_rotl(st[3], 45);
    return r;
}

/* A number in [0, n) from 64 random bits by multiply-shift (Lemire): the
 * bias is below n / 2^64, far under anything a simulation can see.
 * Never fails. */
static inline uint64_t workload_below(uint64_t r, uint64_t n)
{
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)r * n) >> 64);
#else
    return r % n;
#endif
}

/* A double in [0, 1) with 53 random bits. Never fails. */
static inline double workload_unit(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

/* Probability p in [0, 1] as a threshold on 53-bit draws. Never fails. */
static uint64_t workload_limit53(double p)
{
    return (uint64_t)ldexp(p, 53);
}

/* MM_REF_WRITE with probability writes, else MM_REF_READ. Never fails. */
static inline uint8_t workload_kind_of(workload *w)
{
    if (w->write_mode == 0)
        return MM_REF_READ;
    if (w->write_mode == 1)
        return MM_REF_WRITE;
    return (workload_rand(w->rng) >> 11) < w->write_limit ? MM_REF_WRITE
                                                          : MM_REF_READ;
}

/* ---- zipf: rejection-inversion ----------------------------------------
 *
 * Ranks k = 1..N get probability k^-s / H(N, s). The continuous hat
 * h(x) = x^-s has the integral Hi(x) = (x^(1-s) - 1) / (1 - s) (log x when
 * s = 1). A uniform u on [Hi(1.5) - 1, Hi(N + 0.5)] is inverted to x and
 * rounded to k; k is kept when u falls in the last h(k) of k's interval, so
 * each k is accepted with mass exactly h(k). The squeeze k - x <= squeeze
 * accepts most draws without evaluating Hi. O(1) time, no tables.
 */

/* log1p(x) / x, continuous at 0. Never fails. */
static double workload_log1p_x(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x / 3.0);
}

/* expm1(x) / x, continuous at 0. Never fails. */
static double workload_expm1_x(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x * (0.5 + x / 6.0);
}

/* Hi(x) = (x^(1-s) - 1) / (1 - s), written to stay exact near s = 1.
 * Never fails. */
static double workload_zipf_hi(double s, double x)
{
    double lx = log(x);
    return workload_expm1_x((1.0 - s) * lx) * lx;
}

/* h(x) = x^-s. Never fails. */
static double workload_zipf_h(double s, double x)
{
    return exp(-s * log(x));
}

/* The inverse of Hi: x = (1 + (1-s) y)^(1/(1-s)), or exp(y) at s = 1.
 * Never fails. */
static double workload_zipf_hi_inv(double s, double y)
{
    double t = y * (1.0 - s);
    if (t < -1.0)
        t = -1.0;   /* rounding can push t past the pole */
    return exp(workload_log1p_x(t) * y);
}

/* The same inverse on the sampling path. Away from s = 1, log(1 + t) with
 * a precomputed 1/(1-s) is ~40% cheaper than log1p and loses at most a
 * relative 1e-12 in x (the error of 1 + t is amplified by 1/(1-s) <= 1e4);
 * near s = 1 the exact form is used. Never fails. */
static inline double workload_zipf_inv_fast(const struct workload *w, double y)
{
    double t;
    if (w->inv_1ms == 0.0)
        return workload_zipf_hi_inv(w->s, y);
    t = y * (1.0 - w->s);
    if (t < -1.0)
        t = -1.0;
    return exp(log(1.0 + t) * w->inv_1ms);
}

/* Precomputes the sampler constants for alpha and N. Never fails. */
static void workload_zipf_setup(workload *w)
{
    double s = w->cfg.alpha;
    w->s = s;
    w->inv_1ms = fabs(1.0 - s) > 1e-4 ? 1.0 / (1.0 - s) : 0.0;
    w->h_x1 = workload_zipf_hi(s, 1.5) - 1.0;
    w->h_n = workload_zipf_hi(s, (double)w->npages + 0.5);
    w->squeeze = 2.0 - workload_zipf_hi_inv(s, workload_zipf_hi(s, 2.5) -
                                                   workload_zipf_h(s, 2.0));
}

/* A rank in [0, N): rank 0 is the most popular. Never fails. */
static inline uint64_t workload_zipf_rank(workload *w)
{
    double n = (double)w->npages;
    for (;;) {
        double u = w->h_n + workload_unit(workload_rand(w->rng)) *
                                (w->h_x1 - w->h_n);
        double x = workload_zipf_inv_fast(w, u);
        double k = floor(x + 0.5);
        if (k < 1.0)
            k = 1.0;
        else if (k > n)
            k = n;
        if (k - x <= w->squeeze ||
            u >= workload_zipf_hi(w->s, k + 0.5) - workload_zipf_h(w->s, k))
            return (uint64_t)k - 1;
    }
}

/* ---- rank -> page bijection --------------------------------------------
 *
 * On b = ceil(log2 N) bits, each step below is a permutation of [0, 2^b):
 * xor with a key, multiplication by an odd number modulo 2^b, and
 * x ^= x >> shift. Multiplication carries low bits upward, the xor-shift
 * carries high bits down, so three rounds send neighbouring ranks to
 * unrelated places. Cycle-walking (apply again while the result is >= N)
 * restricts the permutation to [0, N); since 2^b < 2N it walks fewer than
 * two times on average. The keys and multipliers come from the seed.
 */

/* One pass of the keyed permutation of [0, 2^b). Never fails. */
static inline uint64_t workload_permute(const workload *w, uint64_t x)
{
    int i;
    for (i = 0; i < WORKLOAD_PERM_ROUNDS; i++) {
        x = ((x ^ w->keys[i]) * w->mults[i]) & w->mask;
        x ^= x >> w->shift;
    }
    return x;
}

/* The page of a rank: the permutation, cycle-walked into [0, N). Never
 * fails. */
static inline uint64_t workload_scatter(const workload *w, uint64_t rank)
{
    if (w->npages < 2)
        return 0;
    do
        rank = workload_permute(w, rank);
    while (rank >= w->npages);
    return rank;
}

/* ---- generation -------------------------------------------------------- */

/* Address of an aligned access inside page number page. Never fails. */
static inline uint64_t workload_in_page(workload *w, uint64_t page)
{
    uint64_t off = 0;
    if (w->slots > 1) {
        uint64_t slot = workload_below(workload_rand(w->rng), w->slots);
        off = w->access_shift < 64 ? slot << w->access_shift
                                   : slot * w->cfg.access_size;
    }
    return w->cfg.base + (page << w->page_shift) + off;
}

/* Fills max refs with the kind's loop (the switch sits outside the loops so
 * each loop stays tight). Never fails: generators are endless. */
static size_t workload_next(mm_source *s, mm_ref *buf, size_t max)
{
    workload *w = (workload *)s;
    uint32_t asz = w->cfg.access_size;
    size_t i;
    switch (w->cfg.kind) {
    case MM_WORKLOAD_UNIFORM:
        for (i = 0; i < max; i++) {
            uint64_t page = workload_below(workload_rand(w->rng), w->npages);
            buf[i].addr = workload_in_page(w, page);
            buf[i].size = asz;
            buf[i].kind = workload_kind_of(w);
        }
        break;
    case MM_WORKLOAD_ZIPF:
        for (i = 0; i < max; i++) {
            uint64_t page = workload_scatter(w, workload_zipf_rank(w));
            buf[i].addr = workload_in_page(w, page);
            buf[i].size = asz;
            buf[i].kind = workload_kind_of(w);
        }
        break;
    case MM_WORKLOAD_SEQUENTIAL:
    case MM_WORKLOAD_STRIDED:
        for (i = 0; i < max; i++) {
            buf[i].addr = w->cfg.base + w->offset;
            buf[i].size = asz;
            buf[i].kind = workload_kind_of(w);
            /* written so that offset + stride cannot overflow */
            if (w->stride > w->last_offset ||
                w->offset > w->last_offset - w->stride)
                w->offset = 0;
            else
                w->offset += w->stride;
        }
        break;
    case MM_WORKLOAD_LOOP:
        for (i = 0; i < max; i++) {
            buf[i].addr = w->cfg.base + (w->index << w->page_shift);
            buf[i].size = asz;
            buf[i].kind = workload_kind_of(w);
            if (++w->index == w->npages)
                w->index = 0;
        }
        break;
    case MM_WORKLOAD_HOTCOLD:
        for (i = 0; i < max; i++) {
            uint64_t cold = w->npages - w->hot_pages, page;
            if (cold == 0 || (workload_rand(w->rng) >> 11) < w->hot_limit)
                page = workload_below(workload_rand(w->rng), w->hot_pages);
            else
                page = w->hot_pages +
                       workload_below(workload_rand(w->rng), cold);
            buf[i].addr = workload_in_page(w, page);
            buf[i].size = asz;
            buf[i].kind = workload_kind_of(w);
        }
        break;
    case MM_WORKLOAD_PHASES:
        for (i = 0; i < max; i++) {
            uint64_t page;
            if (w->phase_left == 0) {
                w->phase_start = workload_below(
                    workload_rand(w->rng),
                    w->npages - w->cfg.phase_pages + 1);
                w->phase_left = w->cfg.phase_len;
            }
            w->phase_left--;
            page = w->phase_start +
                   workload_below(workload_rand(w->rng), w->cfg.phase_pages);
            buf[i].addr = workload_in_page(w, page);
            buf[i].size = asz;
            buf[i].kind = workload_kind_of(w);
        }
        break;
    default:
        assert(!"unknown workload kind");
        return 0;
    }
    return max;
}

/* Reseeds and resets every cursor: the sequence starts over. Never fails. */
static int workload_rewind(mm_source *s)
{
    workload *w = (workload *)s;
    uint64_t x = w->cfg.seed;
    int i;
    for (i = 0; i < 4; i++)
        w->rng[i] = workload_splitmix(&x);
    /* the permutation keys come from the same seed, after the state */
    for (i = 0; i < WORKLOAD_PERM_ROUNDS; i++) {
        w->keys[i] = workload_splitmix(&x) & w->mask;
        w->mults[i] = workload_splitmix(&x) | 1;   /* odd: invertible */
    }
    w->offset = 0;
    w->index = 0;
    w->phase_left = 0;
    w->phase_start = 0;
    return 0;
}

/* Frees the generator. Never fails. */
static void workload_destroy(mm_source *s)
{
    free(s);
}

/* One line: kind and every parameter that matters for it. Never fails. */
static void workload_describe(const mm_source *s, char *buf, size_t len)
{
    const workload *w = (const workload *)s;
    const mm_workload_cfg *c = &w->cfg;
    char extra[160] = "";
    switch (c->kind) {
    case MM_WORKLOAD_ZIPF:
        snprintf(extra, sizeof extra, " alpha=%g", c->alpha);
        break;
    case MM_WORKLOAD_SEQUENTIAL:
    case MM_WORKLOAD_STRIDED:
        snprintf(extra, sizeof extra, " stride=%llu",
                 (unsigned long long)w->stride);
        break;
    case MM_WORKLOAD_HOTCOLD:
        snprintf(extra, sizeof extra, " hot_fraction=%g hot_prob=%g",
                 c->hot_fraction, c->hot_prob);
        break;
    case MM_WORKLOAD_PHASES:
        snprintf(extra, sizeof extra, " phase_len=%llu phase_pages=%llu",
                 (unsigned long long)c->phase_len,
                 (unsigned long long)c->phase_pages);
        break;
    default:
        break;
    }
    snprintf(buf, len,
             "%s base=0x%llx size=%llu page_size=%llu access_size=%u "
             "writes=%g%s seed=%llu",
             workload_names[c->kind], (unsigned long long)c->base,
             (unsigned long long)c->size, (unsigned long long)c->page_size,
             c->access_size, c->writes, extra, (unsigned long long)c->seed);
}

static const source_ops workload_ops = {
    "workload", 1, workload_next, workload_rewind, workload_destroy,
    workload_describe,
};

/* ---- construction ------------------------------------------------------ */

/* Fills cfg with the defaults. Never fails. */
void mm_workload_cfg_init(mm_workload_cfg *cfg, mm_workload_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->base = MM_WORKLOAD_DEFAULT_BASE;
    cfg->size = 0;
    cfg->page_size = WORKLOAD_DEFAULT_PAGE_SIZE;
    cfg->writes = 0.0;
    cfg->alpha = WORKLOAD_DEFAULT_ALPHA;
    cfg->stride = 0;
    cfg->hot_fraction = WORKLOAD_DEFAULT_HOT_FRACTION;
    cfg->hot_prob = WORKLOAD_DEFAULT_HOT_PROB;
    cfg->phase_len = WORKLOAD_DEFAULT_PHASE_LEN;
    cfg->phase_pages = WORKLOAD_DEFAULT_PHASE_PAGES;
    cfg->access_size = WORKLOAD_DEFAULT_ACCESS_SIZE;
    cfg->seed = WORKLOAD_DEFAULT_SEED;
}

/* Name of a kind, NULL if unknown. Never fails. */
const char *mm_workload_kind_name(mm_workload_kind kind)
{
    if ((unsigned)kind >= MM_WORKLOAD_KIND_COUNT)
        return NULL;
    return workload_names[kind];
}

/* Kind named name, or -1. Never fails. */
int mm_workload_kind_parse(const char *name)
{
    int i;
    if (name == NULL)
        return -1;
    for (i = 0; i < MM_WORKLOAD_KIND_COUNT; i++)
        if (strcmp(name, workload_names[i]) == 0)
            return i;
    return -1;
}

/* floor(log2 x) for x >= 1. Never fails. */
static unsigned workload_log2(uint64_t x)
{
    unsigned n = 0;
    while (x > 1) {
        x >>= 1;
        n++;
    }
    return n;
}

/* 1 when x is a power of two. Never fails. */
static int workload_is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Checks cfg. Returns 0 when valid, else -1 with a message in err. */
static int workload_check(const mm_workload_cfg *c, char *err, size_t errlen)
{
    const char *name = mm_workload_kind_name(c->kind);
    int paged;
    if (name == NULL) {
        source_errf(err, errlen, "unknown workload kind %d", (int)c->kind);
        return -1;
    }
    paged = c->kind != MM_WORKLOAD_SEQUENTIAL &&
            c->kind != MM_WORKLOAD_STRIDED;
    if (c->size == 0) {
        source_errf(err, errlen, "%s: size must be greater than 0", name);
        return -1;
    }
    if (c->size - 1 > UINT64_MAX - c->base) {
        source_errf(err, errlen,
                    "%s: base 0x%llx + size %llu overflows the 64-bit "
                    "address space",
                    name, (unsigned long long)c->base,
                    (unsigned long long)c->size);
        return -1;
    }
    if (!workload_is_pow2(c->page_size)) {
        source_errf(err, errlen, "%s: page_size %llu is not a power of two",
                    name, (unsigned long long)c->page_size);
        return -1;
    }
    if (c->access_size == 0) {
        source_errf(err, errlen, "%s: access_size must be at least 1", name);
        return -1;
    }
    if (!(c->writes >= 0.0 && c->writes <= 1.0)) {
        source_errf(err, errlen, "%s: writes %g is outside [0, 1]", name,
                    c->writes);
        return -1;
    }
    if (paged) {
        if (c->size < c->page_size) {
            source_errf(err, errlen,
                        "%s: size %llu is smaller than one page (page_size "
                        "%llu)",
                        name, (unsigned long long)c->size,
                        (unsigned long long)c->page_size);
            return -1;
        }
        if (c->access_size > c->page_size) {
            source_errf(err, errlen,
                        "%s: access_size %u is larger than page_size %llu",
                        name, c->access_size,
                        (unsigned long long)c->page_size);
            return -1;
        }
    } else if (c->access_size > c->size) {
        source_errf(err, errlen, "%s: access_size %u is larger than size %llu",
                    name, c->access_size, (unsigned long long)c->size);
        return -1;
    }
    switch (c->kind) {
    case MM_WORKLOAD_ZIPF:
        if (!(c->alpha >= 0.0) || isinf(c->alpha)) {
            source_errf(err, errlen,
                        "zipf: alpha %g must be a finite number >= 0",
                        c->alpha);
            return -1;
        }
        break;
    case MM_WORKLOAD_STRIDED:
        if (c->stride == 0) {
            source_errf(err, errlen, "strided: stride must be at least 1");
            return -1;
        }
        /* fall through */
    case MM_WORKLOAD_SEQUENTIAL:
        if (c->stride > c->size) {
            source_errf(err, errlen, "%s: stride %llu is larger than size "
                        "%llu", name, (unsigned long long)c->stride,
                        (unsigned long long)c->size);
            return -1;
        }
        break;
    case MM_WORKLOAD_HOTCOLD:
        if (!(c->hot_fraction > 0.0 && c->hot_fraction <= 1.0)) {
            source_errf(err, errlen,
                        "hotcold: hot_fraction %g is outside (0, 1]",
                        c->hot_fraction);
            return -1;
        }
        if (!(c->hot_prob >= 0.0 && c->hot_prob <= 1.0)) {
            source_errf(err, errlen, "hotcold: hot_prob %g is outside [0, 1]",
                        c->hot_prob);
            return -1;
        }
        break;
    case MM_WORKLOAD_PHASES:
        if (c->phase_len == 0) {
            source_errf(err, errlen, "phases: phase_len must be at least 1");
            return -1;
        }
        if (c->phase_pages == 0 || c->phase_pages > c->size / c->page_size) {
            source_errf(err, errlen,
                        "phases: phase_pages %llu must be between 1 and the "
                        "region's %llu pages",
                        (unsigned long long)c->phase_pages,
                        (unsigned long long)(c->size / c->page_size));
            return -1;
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Creates a generator; NULL + message in err on bad parameters or OOM. */
mm_source *mm_workload_new(const mm_workload_cfg *cfg, char *err, size_t errlen)
{
    workload *w;
    if (cfg == NULL) {
        source_errf(err, errlen, "workload: no configuration given");
        return NULL;
    }
    if (workload_check(cfg, err, errlen) != 0)
        return NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        source_errf(err, errlen, "%s: out of memory",
                    mm_workload_kind_name(cfg->kind));
        return NULL;
    }
    source_init(&w->base, &workload_ops);
    w->cfg = *cfg;
    w->page_shift = workload_log2(cfg->page_size);
    w->npages = cfg->size >> w->page_shift;
    w->slots = cfg->page_size / cfg->access_size;
    w->access_shift = workload_is_pow2(cfg->access_size)
                          ? workload_log2(cfg->access_size)
                          : 64;
    if (cfg->writes <= 0.0)
        w->write_mode = 0;
    else if (cfg->writes >= 1.0)
        w->write_mode = 1;
    else
        w->write_mode = 2;
    w->write_limit = workload_limit53(cfg->writes);
    w->stride = cfg->stride ? cfg->stride : cfg->access_size;
    w->last_offset = cfg->size - cfg->access_size;
    if (cfg->kind == MM_WORKLOAD_ZIPF) {
        unsigned bits = w->npages > 1 ? workload_log2(w->npages - 1) + 1 : 1;
        w->mask = UINT64_MAX >> (64 - bits);
        w->shift = bits > 1 ? bits / 2 : 1;
        workload_zipf_setup(w);
    }
    if (cfg->kind == MM_WORKLOAD_HOTCOLD) {
        double hot = floor(cfg->hot_fraction * (double)w->npages + 0.5);
        w->hot_pages = hot < 1.0 ? 1 : (uint64_t)hot;
        if (w->hot_pages > w->npages)
            w->hot_pages = w->npages;
        w->hot_limit = workload_limit53(cfg->hot_prob);
    }
    workload_rewind(&w->base);
    return &w->base;
}
