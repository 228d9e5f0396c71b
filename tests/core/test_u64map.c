/*
 * test_u64map.c — the open-addressing uint64 -> uint32 map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "u64map.h"

static void test_empty_map_finds_nothing(void **state)
{
    u64map m;
    size_t it = 0;
    (void)state;
    u64map_init(&m);
    assert_int_equal(u64map_count(&m), 0);
    assert_false(u64map_get(&m, 0, NULL));
    assert_false(u64map_get(&m, UINT64_MAX, NULL));
    assert_false(u64map_next(&m, &it, NULL, NULL));
    u64map_free(&m);
}

static void test_upsert_inserts_once_and_reports_found(void **state)
{
    u64map m;
    int found = -1;
    uint32_t *v, got = 0;
    (void)state;
    u64map_init(&m);
    v = u64map_upsert(&m, 42, 7, &found);
    assert_non_null(v);
    assert_int_equal(found, 0);
    assert_int_equal(*v, 7);
    *v = 9;
    v = u64map_upsert(&m, 42, 1, &found);
    assert_int_equal(found, 1);
    assert_int_equal(*v, 9);
    assert_true(u64map_get(&m, 42, &got));
    assert_int_equal(got, 9);
    assert_int_equal(u64map_count(&m), 1);
    u64map_free(&m);
}

static void test_edge_keys_zero_and_max_are_ordinary(void **state)
{
    u64map m;
    uint32_t v = 0;
    size_t it = 0, seen = 0;
    uint64_t k;
    (void)state;
    u64map_init(&m);
    assert_int_equal(u64map_put(&m, 0, 10), 0);
    assert_int_equal(u64map_put(&m, UINT64_MAX, 20), 0);
    assert_int_equal(u64map_put(&m, UINT64_MAX - 1, 30), 0);
    assert_int_equal(u64map_count(&m), 3);
    assert_true(u64map_get(&m, UINT64_MAX, &v));
    assert_int_equal(v, 20);
    assert_int_equal(u64map_put(&m, UINT64_MAX, 21), 0);
    assert_true(u64map_get(&m, UINT64_MAX, &v));
    assert_int_equal(v, 21);
    assert_int_equal(u64map_count(&m), 3);
    while (u64map_next(&m, &it, &k, &v))
        seen++;
    assert_int_equal(seen, 3);
    u64map_free(&m);
}

/* Page numbers are small and consecutive, or strided: both must spread. */
static void test_many_keys_survive_growth(void **state)
{
    u64map m;
    uint64_t i, k;
    uint32_t v;
    size_t it = 0, seen = 0;
    uint64_t keysum = 0, want = 0;
    const uint64_t n = 200000;
    (void)state;
    u64map_init(&m);
    for (i = 0; i < n; i++) {
        assert_int_equal(u64map_put(&m, i << 12, (uint32_t)i), 0);
        want += i << 12;
    }
    assert_int_equal(u64map_count(&m), n);
    for (i = 0; i < n; i++) {
        assert_true(u64map_get(&m, i << 12, &v));
        assert_int_equal(v, (uint32_t)i);
        assert_false(u64map_get(&m, (i << 12) + 1, NULL));
    }
    while (u64map_next(&m, &it, &k, &v)) {
        assert_int_equal(k, (uint64_t)v << 12);
        keysum += k;
        seen++;
    }
    assert_int_equal(seen, n);
    assert_true(keysum == want);
    /* the load factor invariant */
    assert_true(m.count * 10 <= m.cap * 7);
    u64map_free(&m);
    assert_int_equal(u64map_count(&m), 0);
}

static void test_reserve_then_fill_does_not_resize(void **state)
{
    u64map m;
    size_t cap, i;
    (void)state;
    u64map_init(&m);
    assert_int_equal(u64map_reserve(&m, 1000), 0);
    cap = m.cap;
    assert_true(cap >= 1000);
    for (i = 0; i < 1000; i++)
        assert_int_equal(u64map_put(&m, i * 7919, (uint32_t)i), 0);
    assert_int_equal(m.cap, cap);
    assert_int_equal(u64map_reserve(&m, 10), 0);   /* never shrinks */
    assert_int_equal(m.cap, cap);
    u64map_free(&m);
}

static void test_reserve_refuses_absurd_sizes(void **state)
{
    u64map m;
    (void)state;
    u64map_init(&m);
    assert_int_equal(u64map_reserve(&m, SIZE_MAX / 2), -1);
    assert_int_equal(u64map_count(&m), 0);
    assert_int_equal(m.cap, 0);
    u64map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map_finds_nothing),
        cmocka_unit_test(test_upsert_inserts_once_and_reports_found),
        cmocka_unit_test(test_edge_keys_zero_and_max_are_ordinary),
        cmocka_unit_test(test_many_keys_survive_growth),
        cmocka_unit_test(test_reserve_then_fill_does_not_resize),
        cmocka_unit_test(test_reserve_refuses_absurd_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
