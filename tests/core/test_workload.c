/*
 * test_workload.c — the seeded generators: reproducibility, rewind, ranges,
 * distributions (wide deterministic bounds: fixed seeds, bounds of many
 * standard deviations) and parameter checking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

#define N_REFS 20000

static mm_source *make(mm_workload_kind kind, uint64_t size, uint64_t seed,
                       double writes)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_workload_cfg_init(&c, kind);
    c.size = size;
    c.seed = seed;
    c.writes = writes;
    c.stride = 64;
    c.phase_len = 500;
    c.phase_pages = 8;
    s = mm_workload_new(&c, err, sizeof err);
    if (s == NULL)
        fail_msg("%s", err);
    return s;
}

static mm_ref *take(mm_source *s, size_t n)
{
    mm_ref *r = malloc(n * sizeof *r);
    size_t got = 0;
    assert_non_null(r);
    /* odd batch sizes: batching must not change the sequence */
    while (got < n) {
        size_t want = n - got < 777 ? n - got : 777;
        size_t k = mm_source_next(s, r + got, want);
        assert_int_equal(k, want);
        got += k;
    }
    return r;
}

static int same_refs(const mm_ref *a, const mm_ref *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (a[i].addr != b[i].addr || a[i].size != b[i].size ||
            a[i].kind != b[i].kind)
            return 0;
    return 1;
}

/* Same configuration, same sequence; rewind replays it; another seed
 * changes it. Every kind. */
static void test_every_kind_is_reproducible_and_rewinds(void **state)
{
    int k;
    (void)state;
    for (k = 0; k < MM_WORKLOAD_KIND_COUNT; k++) {
        mm_source *a = make((mm_workload_kind)k, 1 << 20, 7, 0.5);
        mm_source *b = make((mm_workload_kind)k, 1 << 20, 7, 0.5);
        mm_source *c = make((mm_workload_kind)k, 1 << 20, 8, 0.5);
        mm_ref *ra = take(a, N_REFS), *rb = take(b, N_REFS), *rc, *again;
        assert_true(same_refs(ra, rb, N_REFS));
        assert_int_equal(mm_source_position(a), N_REFS);
        assert_int_equal(mm_source_rewind(a), 0);
        assert_int_equal(mm_source_position(a), 0);
        again = take(a, N_REFS);
        assert_true(same_refs(ra, again, N_REFS));
        rc = take(c, N_REFS);
        assert_false(same_refs(ra, rc, N_REFS));
        assert_null(mm_source_error(a));
        assert_true(mm_source_endless(a));
        free(ra);
        free(rb);
        free(rc);
        free(again);
        mm_source_close(a);
        mm_source_close(b);
        mm_source_close(c);
    }
}

/* Every address stays inside [base, base + size - access_size] and page
 * generators keep offsets aligned to the access size. */
static void test_every_kind_stays_in_its_region(void **state)
{
    int k;
    size_t i;
    (void)state;
    for (k = 0; k < MM_WORKLOAD_KIND_COUNT; k++) {
        mm_workload_cfg c;
        char err[256];
        mm_source *s;
        mm_ref *r;
        mm_workload_cfg_init(&c, (mm_workload_kind)k);
        c.base = 0x7ff000000000ull;
        c.size = 100 * 4096 + 100;   /* a partial last page is never used */
        c.stride = 24;
        c.access_size = 4;
        c.phase_pages = 10;
        c.phase_len = 300;
        s = mm_workload_new(&c, err, sizeof err);
        assert_non_null(s);
        r = take(s, N_REFS);
        for (i = 0; i < N_REFS; i++) {
            uint64_t off = r[i].addr - c.base;
            assert_true(r[i].addr >= c.base);
            assert_true(off + 4 <= c.size);
            assert_int_equal(r[i].size, 4);
            assert_int_equal(r[i].kind, MM_REF_READ);
            if (k != MM_WORKLOAD_SEQUENTIAL && k != MM_WORKLOAD_STRIDED) {
                assert_true(off < 100 * 4096);
                assert_int_equal(off % 4, 0);
            }
        }
        free(r);
        mm_source_close(s);
    }
}

static void test_write_fraction_matches_writes(void **state)
{
    static const double fractions[] = { 0.0, 0.3, 0.75, 1.0 };
    size_t f, i;
    (void)state;
    for (f = 0; f < sizeof fractions / sizeof fractions[0]; f++) {
        mm_source *s = make(MM_WORKLOAD_UNIFORM, 1 << 24, 3, fractions[f]);
        const size_t n = 100000;
        mm_ref *r = take(s, n);
        size_t w = 0;
        for (i = 0; i < n; i++)
            w += r[i].kind == MM_REF_WRITE;
        /* sd <= 0.0016: +-0.01 is over 6 sd */
        assert_true(fabs((double)w / n - fractions[f]) <= 0.01);
        free(r);
        mm_source_close(s);
    }
}

static void test_uniform_spreads_evenly_over_pages(void **state)
{
    mm_source *s = make(MM_WORKLOAD_UNIFORM, 16 * 4096, 11, 0);
    const size_t n = 160000;
    mm_ref *r = take(s, n);
    size_t count[16] = { 0 }, i;
    (void)state;
    for (i = 0; i < n; i++)
        count[(r[i].addr - MM_WORKLOAD_DEFAULT_BASE) / 4096]++;
    for (i = 0; i < 16; i++)   /* expect 10000, sd ~97 */
        assert_true(count[i] > 9500 && count[i] < 10500);
    free(r);
    mm_source_close(s);
}

static int cmp_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The k-th most frequent page must have frequency close to
 * k^-alpha / H(N, alpha), for exponents below, at and above 1. */
static void test_zipf_rank_frequencies_match_theory(void **state)
{
    static const double alphas[] = { 0.5, 0.9, 1.0, 1.2, 2.0, 3.0 };
    const uint64_t npages = 1000;
    const size_t n = 400000;
    size_t a, i, *count = calloc(npages, sizeof *count);
    (void)state;
    assert_non_null(count);
    for (a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
        mm_workload_cfg c;
        char err[256];
        mm_source *s;
        mm_ref *r;
        double h = 0;
        int k;
        mm_workload_cfg_init(&c, MM_WORKLOAD_ZIPF);
        c.size = npages * 4096;
        c.alpha = alphas[a];
        c.seed = 5;
        s = mm_workload_new(&c, err, sizeof err);
        assert_non_null(s);
        r = take(s, n);
        memset(count, 0, npages * sizeof *count);
        for (i = 0; i < n; i++)
            count[(r[i].addr - c.base) / 4096]++;
        for (i = 1; i <= npages; i++)
            h += pow((double)i, -c.alpha);
        qsort(count, npages, sizeof *count, cmp_desc);
        for (k = 1; k <= 3; k++) {
            double p = pow(k, -c.alpha) / h;
            double sd = sqrt(n * p * (1 - p));
            double diff = fabs((double)count[k - 1] - n * p);
            if (diff > 6 * sd + 5)
                fail_msg("alpha %g rank %d: %zu refs, theory %.0f (sd %.0f)",
                         c.alpha, k, count[k - 1], n * p, sd);
        }
        free(r);
        mm_source_close(s);
    }
    free(count);
}

/* alpha = 0 is uniform. */
static void test_zipf_alpha_zero_is_uniform(void **state)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_ref *r;
    size_t count[8] = { 0 }, i;
    const size_t n = 80000;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_ZIPF);
    c.size = 8 * 4096;
    c.alpha = 0;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    r = take(s, n);
    for (i = 0; i < n; i++)
        count[(r[i].addr - c.base) / 4096]++;
    for (i = 0; i < 8; i++)   /* expect 10000, sd ~94 */
        assert_true(count[i] > 9500 && count[i] < 10500);
    free(r);
    mm_source_close(s);
}

/* Hot ranks are scattered: the most popular pages are not neighbours,
 * and a different seed puts them elsewhere. */
static void test_zipf_hot_pages_are_scattered(void **state)
{
    const uint64_t npages = 1 << 16;
    uint64_t top[2][4];
    int seed;
    (void)state;
    for (seed = 0; seed < 2; seed++) {
        mm_workload_cfg c;
        char err[256];
        mm_source *s;
        mm_ref *r;
        uint32_t *count = calloc(npages, sizeof *count);
        size_t i, j, n = 200000;
        mm_workload_cfg_init(&c, MM_WORKLOAD_ZIPF);
        c.size = npages * 4096;
        c.alpha = 1.5;
        c.seed = (uint64_t)seed + 100;
        s = mm_workload_new(&c, err, sizeof err);
        assert_non_null(s);
        r = take(s, n);
        for (i = 0; i < n; i++)
            count[(r[i].addr - c.base) >> 12]++;
        for (j = 0; j < 4; j++) {   /* the four most popular pages */
            uint64_t best = 0;
            for (i = 1; i < npages; i++)
                if (count[i] > count[best])
                    best = i;
            top[seed][j] = best;
            count[best] = 0;
        }
        for (i = 0; i < 4; i++)
            for (j = i + 1; j < 4; j++) {
                uint64_t d = top[seed][i] > top[seed][j]
                                 ? top[seed][i] - top[seed][j]
                                 : top[seed][j] - top[seed][i];
                assert_true(d > 1);
            }
        free(count);
        free(r);
        mm_source_close(s);
    }
    assert_true(top[0][0] != top[1][0] || top[0][1] != top[1][1]);
}

/* No per-page tables: a 2^40-page region costs nothing to set up. */
static void test_zipf_handles_huge_regions(void **state)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_ref *r;
    size_t i;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_ZIPF);
    c.base = 0;
    c.size = 1ull << 52;
    c.alpha = 0.8;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    r = take(s, 10000);
    for (i = 0; i < 10000; i++)
        assert_true(r[i].addr < c.size);
    free(r);
    mm_source_close(s);
}

static void test_hotcold_proportions(void **state)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_ref *r;
    size_t i, hot = 0;
    const size_t n = 100000;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_HOTCOLD);
    c.size = 1000 * 4096;
    c.hot_fraction = 0.1;
    c.hot_prob = 0.9;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    r = take(s, n);
    for (i = 0; i < n; i++)   /* the hot pages are the first 100 */
        hot += (r[i].addr - c.base) / 4096 < 100;
    assert_true(fabs((double)hot / n - 0.9) < 0.01);   /* sd 0.001 */
    free(r);
    mm_source_close(s);
}

static void test_sequential_and_strided_wrap_at_the_end(void **state)
{
    static const uint64_t want[] = { 0, 16, 32, 48, 0, 16 };
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_ref r[6];
    size_t i;
    int k;
    (void)state;
    for (k = 0; k < 2; k++) {
        mm_workload_cfg_init(&c, k ? MM_WORKLOAD_STRIDED
                                   : MM_WORKLOAD_SEQUENTIAL);
        c.base = 1000;
        c.size = 60;   /* 48 + 8 <= 60, 64 + 8 > 60 */
        c.stride = 16;
        s = mm_workload_new(&c, err, sizeof err);
        assert_non_null(s);
        assert_int_equal(mm_source_next(s, r, 6), 6);
        for (i = 0; i < 6; i++)
            assert_int_equal(r[i].addr, 1000 + want[i]);
        mm_source_close(s);
    }
    /* sequential's default stride is the access size */
    mm_workload_cfg_init(&c, MM_WORKLOAD_SEQUENTIAL);
    c.base = 0;
    c.size = 4096;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mm_source_next(s, r, 3), 3);
    assert_int_equal(r[1].addr, 8);
    assert_int_equal(r[2].addr, 16);
    mm_source_close(s);
}

static void test_loop_cycles_one_reference_per_page(void **state)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_ref r[12];
    size_t i;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_LOOP);
    c.size = 5 * 4096;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mm_source_next(s, r, 12), 12);
    for (i = 0; i < 12; i++)
        assert_int_equal(r[i].addr, c.base + (i % 5) * 4096);
    mm_source_close(s);
}

/* Within a phase every page lies in one window of phase_pages pages; the
 * windows move between phases. */
static void test_phases_draw_from_a_moving_locality_set(void **state)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    mm_ref *r;
    size_t p, i, moved = 0;
    uint64_t prev_lo = UINT64_MAX;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_PHASES);
    c.size = 1000 * 4096;
    c.phase_len = 1000;
    c.phase_pages = 20;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    r = take(s, 20 * 1000);
    for (p = 0; p < 20; p++) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (i = p * 1000; i < (p + 1) * 1000; i++) {
            uint64_t page = (r[i].addr - c.base) / 4096;
            lo = page < lo ? page : lo;
            hi = page > hi ? page : hi;
        }
        assert_true(hi - lo < 20);
        assert_true(hi - lo >= 15);   /* 1000 draws cover nearly all 20 */
        moved += lo != prev_lo;
        prev_lo = lo;
    }
    assert_true(moved >= 18);
    free(r);
    mm_source_close(s);
}

static void expect_error(const mm_workload_cfg *c, const char *word)
{
    char err[256] = "";
    mm_source *s = mm_workload_new(c, err, sizeof err);
    assert_null(s);
    if (strstr(err, word) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, word);
}

static void test_bad_parameters_are_refused_by_name(void **state)
{
    mm_workload_cfg c;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_UNIFORM);
    expect_error(&c, "size");                     /* size 0 */
    c.size = 1 << 20;
    c.writes = 1.5;
    expect_error(&c, "writes");
    c.writes = NAN;
    expect_error(&c, "writes");
    c.writes = -0.1;
    expect_error(&c, "writes");
    c.writes = 0;
    c.page_size = 3000;
    expect_error(&c, "page_size");
    c.page_size = 0;
    expect_error(&c, "page_size");
    c.page_size = 4096;
    c.base = UINT64_MAX - 100;
    expect_error(&c, "overflow");
    c.base = 0;
    c.access_size = 8192;
    expect_error(&c, "access_size");
    c.access_size = 0;
    expect_error(&c, "access_size");
    c.access_size = 8;
    c.size = 100;
    expect_error(&c, "smaller than one page");

    mm_workload_cfg_init(&c, MM_WORKLOAD_ZIPF);
    c.size = 1 << 20;
    c.alpha = -0.5;
    expect_error(&c, "alpha");
    c.alpha = INFINITY;
    expect_error(&c, "alpha");

    mm_workload_cfg_init(&c, MM_WORKLOAD_STRIDED);
    c.size = 1 << 20;
    expect_error(&c, "stride");                   /* stride 0 */
    c.stride = 2 << 20;
    expect_error(&c, "stride");

    mm_workload_cfg_init(&c, MM_WORKLOAD_HOTCOLD);
    c.size = 1 << 20;
    c.hot_fraction = 0;
    expect_error(&c, "hot_fraction");
    c.hot_fraction = 0.2;
    c.hot_prob = 2;
    expect_error(&c, "hot_prob");

    mm_workload_cfg_init(&c, MM_WORKLOAD_PHASES);
    c.size = 1 << 20;
    c.phase_pages = 1000;                          /* region has 256 */
    expect_error(&c, "phase_pages");
    c.phase_pages = 8;
    c.phase_len = 0;
    expect_error(&c, "phase_len");

    c.kind = (mm_workload_kind)99;
    expect_error(&c, "unknown");
    assert_null(mm_workload_new(NULL, NULL, 0));   /* no buffer: no crash */
}

static void test_kind_names_round_trip(void **state)
{
    int k;
    char buf[256];
    (void)state;
    for (k = 0; k < MM_WORKLOAD_KIND_COUNT; k++) {
        mm_source *s;
        assert_int_equal(mm_workload_kind_parse(mm_workload_kind_name(
                             (mm_workload_kind)k)), k);
        s = make((mm_workload_kind)k, 1 << 20, 1, 0);
        mm_source_describe(s, buf, sizeof buf);
        assert_non_null(strstr(buf, mm_workload_kind_name((mm_workload_kind)k)));
        assert_int_equal(mm_trace_format_of(s), -1);
        mm_source_close(s);
    }
    assert_int_equal(mm_workload_kind_parse("nope"), -1);
    assert_null(mm_workload_kind_name(MM_WORKLOAD_KIND_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_is_reproducible_and_rewinds),
        cmocka_unit_test(test_every_kind_stays_in_its_region),
        cmocka_unit_test(test_write_fraction_matches_writes),
        cmocka_unit_test(test_uniform_spreads_evenly_over_pages),
        cmocka_unit_test(test_zipf_rank_frequencies_match_theory),
        cmocka_unit_test(test_zipf_alpha_zero_is_uniform),
        cmocka_unit_test(test_zipf_hot_pages_are_scattered),
        cmocka_unit_test(test_zipf_handles_huge_regions),
        cmocka_unit_test(test_hotcold_proportions),
        cmocka_unit_test(test_sequential_and_strided_wrap_at_the_end),
        cmocka_unit_test(test_loop_cycles_one_reference_per_page),
        cmocka_unit_test(test_phases_draw_from_a_moving_locality_set),
        cmocka_unit_test(test_bad_parameters_are_refused_by_name),
        cmocka_unit_test(test_kind_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
