/* test_tlb.c — the counting TLB: reach, associativity, large pages. */
#include "testutil.h"

static mm_system *tsys(uint32_t entries, uint32_t ways, uint32_t large) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(16);
  cfg.pagefile = MiB(16);
  cfg.tlb.entries = entries;
  cfg.tlb.ways = ways;
  cfg.tlb.large_entries = large;
  cfg.tlb.large_ways = large;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

static uint64_t misses(mm_system *sys, mm_pid p) {
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  return ps.tlb_misses;
}

/* A loop over more pages than the TLB holds misses every time (LRU); one
** that fits misses once per page. */
static void reach(void **state) {
  (void)state;
  mm_system *sys = tsys(16, 4, 0);
  mm_pid p = tu_process(sys);
  uint64_t a = 0, n = MiB(1);
  mm_allocate(sys, p, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT, MM_PAGE_READWRITE);
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < 16; k++) mm_access(sys, p, a + k * 4096, MM_READ);
  assert_int_equal(misses(sys, p), 16);
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < 32; k++) mm_access(sys, p, a + k * 4096, MM_READ);
  /* the first pass still finds pages 0-15; then LRU thrashes */
  assert_int_equal(misses(sys, p), 16 + 16 + 2 * 32);
  END(sys);
}

/* One large page is one entry of the large-page TLB. */
static void large_page_reach(void **state) {
  (void)state;
  mm_system *sys = tsys(16, 4, 8);
  mm_pid p = tu_process(sys);
  uint64_t a = 0, n = MiB(4);
  assert_status(mm_allocate(sys, p, &a, &n,
                            MM_MEM_RESERVE | MM_MEM_COMMIT | MM_MEM_LARGE_PAGES,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (int r = 0; r < 3; r++)
    for (uint64_t k = 0; k < 1024; k += 7) mm_access(sys, p, a + k * 4096, MM_READ);
  assert_int_equal(misses(sys, p), 2);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.large_pages, 2);
  assert_int_equal(ps.ws_size, 0);            /* never in the working set */
  assert_int_equal(ps.hits, ps.refs);         /* always resident */
  uint64_t s = 0;
  assert_status(mm_free(sys, p, &a, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.large_pages, 0);
  END(sys);
}

/* A.14: large pages need contiguous, aligned free frames; when memory is
** fragmented the call fails cleanly. */
static void fragmented(void **state) {
  (void)state;
  mm_system *sys = tsys(0, 0, 0);
  mm_pid p = tu_process(sys);
  uint64_t a = 0, n = MiB(16);
  mm_allocate(sys, p, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT, MM_PAGE_READWRITE);
  /* one page touched in every 2 MiB block of frames */
  for (uint64_t k = 0; k < 4096; k += 64) mm_access(sys, p, a + k * 4096, MM_WRITE);
  for (uint64_t k = 0; k < 4096; k++) {
    if (k % 64 == 0) continue;
    mm_access(sys, p, a + k * 4096, MM_WRITE);
    uint64_t b = a + k * 4096, s = 4096;
    mm_free(sys, p, &b, &s, MM_MEM_DECOMMIT);
  }
  mm_sstats before;
  mm_system_stats(sys, &before);
  uint64_t l = 0, ln = MiB(2);
  mm_status st = mm_allocate(sys, p, &l, &ln,
                             MM_MEM_RESERVE | MM_MEM_COMMIT | MM_MEM_LARGE_PAGES,
                             MM_PAGE_READWRITE);
  mm_sstats after;
  mm_system_stats(sys, &after);
  if (st == MM_STATUS_SUCCESS) {
    /* the frames the writes used may not cover every block; then it fits */
    assert_int_equal(after.commit_charge, before.commit_charge + 512);
  } else {
    assert_status(st, MM_STATUS_INSUFFICIENT_RESOURCES);
    assert_int_equal(after.commit_charge, before.commit_charge);
    assert_non_null(strstr(mm_last_error(sys), "fragmented"));
  }
  END(sys);
}

static void bad_geometry(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.tlb.entries = 24;
  cfg.tlb.ways = 4;                           /* 6 sets: not a power of two */
  mm_system *sys = NULL;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err),
                MM_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "sets"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(reach), cmocka_unit_test(large_page_reach),
    cmocka_unit_test(fragmented), cmocka_unit_test(bad_geometry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
