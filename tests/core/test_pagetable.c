/* test_pagetable.c — multi-level tables: geometry per page size, tables
** allocated on demand, freed when their range is released. */
#include "testutil.h"
#include "internal.h"

static mm_system *mk(mm_arch a, uint32_t page) {
  mm_config cfg;
  mm_config_default(&cfg, a);
  cfg.page_size = page;
  cfg.ram = MiB(8);
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

/* A table is one page of PTEs; levels are what the address bits need. */
static void geometry(void **state) {
  (void)state;
  static const struct { mm_arch a; uint32_t page; unsigned levels, leaf_bits; } rows[] = {
    { MM_ARCH_X86, 4096, 2, 10 },  { MM_ARCH_X86_PAE, 4096, 3, 9 },
    { MM_ARCH_X64, 4096, 4, 9 },   { MM_ARCH_X64, 512, 7, 6 },
    { MM_ARCH_X64, 65536, 3, 13 }, { MM_ARCH_X86, 512, 4, 7 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    mm_system *sys = mk(rows[i].a, rows[i].page);
    assert_int_equal(sys->pt_levels, rows[i].levels);
    assert_int_equal(sys->pt_bits[sys->pt_levels - 1], rows[i].leaf_bits);
    unsigned total = 0;
    for (unsigned l = 0; l < sys->pt_levels; l++) total += sys->pt_bits[l];
    assert_int_equal(total, sys->arch->va_bits - sys->page_shift);
    END(sys);
  }
}

/* Tables come on demand and go when the range is released. */
static void on_demand_and_pruned(void **state) {
  (void)state;
  mm_system *sys = mk(MM_ARCH_X64, 4096);
  mm_pid pid = tu_process(sys);
  mm_process *p = sys->procs[pid - 1];
  assert_int_equal(p->pt_tables, 0);
  uint64_t a = 0, n = GiB(1);
  mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE, MM_PAGE_READWRITE);
  assert_int_equal(p->pt_tables, 0);              /* reserve: no PTEs */
  uint64_t c = a, cn = 4096;
  mm_allocate(sys, pid, &c, &cn, MM_MEM_COMMIT, MM_PAGE_READWRITE);
  assert_int_equal(p->pt_tables, 4);
  c = a + GiB(1) - 4096;
  cn = 4096;
  mm_allocate(sys, pid, &c, &cn, MM_MEM_COMMIT, MM_PAGE_READWRITE);
  assert_true(p->pt_tables >= 6);
  uint64_t s = 0;
  assert_status(mm_free(sys, pid, &a, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  assert_int_equal(p->pt_tables, 0);
  assert_null(pt_lookup(p, sys, a >> 12));
  END(sys);
}

/* The leaf cache never outlives its leaf. */
static void leaf_cache_safe(void **state) {
  (void)state;
  mm_system *sys = mk(MM_ARCH_X64, 4096);
  mm_pid pid = tu_process(sys);
  for (int r = 0; r < 3; r++) {
    uint64_t a = 0x40000000, n = MiB(4);
    assert_status(mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                              MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
    assert_int_equal(mm_access(sys, pid, a, MM_WRITE), MM_DEMAND_ZERO);
    uint64_t s = 0;
    assert_status(mm_free(sys, pid, &a, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
    assert_int_equal(mm_access(sys, pid, a, MM_READ), MM_ACCESS_VIOLATION);
  }
  END(sys);
}

/* The cache grows past its first 16 entries as leaves multiply, and a
** freed leaf never answers for its pages: 300 leaves (one page each, 2 MiB
** apart, so that many share a cache entry), every third one freed. */
static void leaf_cache_grows(void **state) {
  (void)state;
  mm_system *sys = mk(MM_ARCH_X64, 4096);
  mm_pid pid = tu_process(sys);
  mm_process *p = sys->procs[pid - 1];
  const uint64_t base = 0x40000000, step = MiB(2);
  for (int k = 0; k < 300; k++) {
    uint64_t a = base + (uint64_t)k * step, n = 4096;
    assert_status(mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                              MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
    assert_int_equal(mm_access(sys, pid, a, MM_WRITE), MM_DEMAND_ZERO);
  }
  assert_int_equal(p->pt_leaves, 300);
  assert_true(p->lc_mask + 1 >= 600);
  for (int k = 0; k < 300; k += 3) {
    uint64_t a = base + (uint64_t)k * step, s = 0;
    assert_status(mm_free(sys, pid, &a, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  }
  assert_int_equal(p->pt_leaves, 200);
  for (int round = 0; round < 2; round++)
    for (int k = 0; k < 300; k++)
      assert_int_equal(mm_access(sys, pid, base + (uint64_t)k * step, MM_READ),
                       k % 3 == 0 ? MM_ACCESS_VIOLATION : MM_HIT);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(leaf_cache_grows),
    cmocka_unit_test(geometry), cmocka_unit_test(on_demand_and_pruned),
    cmocka_unit_test(leaf_cache_safe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
