/* test_wsm.c — the working-set manager, writer and zero-page step. */
#include "testutil.h"

static mm_system *small(uint32_t plenty, uint32_t min_free, uint32_t mpw) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(1);                  /* 256 frames */
  cfg.pagefile = MiB(4);
  cfg.tune.plenty_free_pages = plenty;
  cfg.tune.min_free_pages = min_free;
  cfg.tune.mpw_threshold = mpw;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

static mm_pid proc(mm_system *sys, uint32_t mn, uint32_t mx, uint64_t *base,
                   uint64_t size) {
  mm_process_config pc = { "w", mn, mx, false, false };
  mm_pid pid;
  assert_status(mm_process_create(sys, &pc, &pid), MM_STATUS_SUCCESS);
  *base = 0;
  uint64_t n = size;
  assert_status(mm_allocate(sys, pid, base, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  return pid;
}

static uint64_t trimmed(mm_system *sys, mm_pid p) {
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  return ps.trimmed;
}

/* A.10.5 item 7: a page touched before a pass survives it; untouched, it
** is trimmed on the 4th pass that finds it so (ages 1, 2, 3, evict). */
static void aging_over_passes(void **state) {
  (void)state;
  mm_system *sys = small(100000, 26, 1000000);   /* memory always "low" */
  uint64_t a;
  mm_pid p = proc(sys, 1, 4, &a, KiB(64));
  for (int k = 0; k < 10; k++) mm_access(sys, p, a + k * 4096, MM_READ);
  for (int pass = 1; pass <= 4; pass++) {
    mm_access(sys, p, a, MM_READ);               /* pages 0 and 1 stay hot */
    mm_access(sys, p, a + 4096, MM_READ);
    assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
    assert_int_equal(trimmed(sys, p), 0);
  }
  mm_access(sys, p, a, MM_READ);
  mm_access(sys, p, a + 4096, MM_READ);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  /* above the maximum by 6: six of the eight old pages go */
  assert_int_equal(trimmed(sys, p), 6);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 4);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_HIT);
  assert_int_equal(mm_access(sys, p, a + 4096, MM_READ), MM_HIT);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.wsm_runs, 5);
  assert_int_equal(ss.modified, 6);      /* demand-zero pages are dirty */
  END(sys);
}

/* With plenty of memory nothing is trimmed, even above the maximum (a
** soft limit), but the manager counts what it could trim. */
static void plenty_counts_trimmable(void **state) {
  (void)state;
  mm_system *sys = small(10, 5, 1000000);
  uint64_t a;
  mm_pid p = proc(sys, 2, 4, &a, KiB(64));
  for (int k = 0; k < 12; k++) mm_access(sys, p, a + k * 4096, MM_READ);
  for (int pass = 0; pass < 6; pass++) mm_wsm_run(sys);
  assert_int_equal(trimmed(sys, p), 0);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.wsm_trimmable, 10);     /* 12 old pages above min 2 */
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 12);
  END(sys);
}

/* Trimming hard: below min_free_pages, working sets shrink toward their
** minimum, and a hard minimum is respected. */
static void trim_hard_to_minimum(void **state) {
  (void)state;
  mm_system *sys = small(100000, 250, 1000000);
  uint64_t a, b;
  mm_pid p = proc(sys, 4, 100, &a, KiB(256));
  mm_process_config pc = { "hardmin", 30, 100, false, true };
  mm_pid q;
  assert_status(mm_process_create(sys, &pc, &q), MM_STATUS_SUCCESS);
  b = 0;
  uint64_t n = KiB(256);
  assert_status(mm_allocate(sys, q, &b, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (int k = 0; k < 40; k++) {
    mm_access(sys, p, a + k * 4096, MM_READ);
    mm_access(sys, q, b + k * 4096, MM_READ);
  }
  for (int pass = 0; pass < 5; pass++) mm_wsm_run(sys);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 4);
  mm_process_stats(sys, q, &ps);
  assert_int_equal(ps.ws_size, 40);          /* hard minimum: untouched */
  END(sys);
}

/* The modified page writer runs when the modified list reaches its
** threshold and moves what it wrote to standby. */
static void writer_threshold(void **state) {
  (void)state;
  mm_system *sys = small(100000, 26, 5);
  uint64_t a;
  mm_process_config pc = { "h", 1, 1, true, false };
  mm_pid p;
  assert_status(mm_process_create(sys, &pc, &p), MM_STATUS_SUCCESS);
  a = 0;
  uint64_t n = KiB(64);
  assert_status(mm_allocate(sys, p, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (int k = 0; k < 9; k++) mm_access(sys, p, a + k * 4096, MM_WRITE);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.modified, 8);
  assert_int_equal(ss.pagefile_writes, 0);
  mm_wsm_run(sys);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.modified, 0);
  assert_int_equal(ss.pagefile_writes, 8);
  assert_int_equal(ss.standby, 8);
  assert_int_equal(ss.pagefile_used, 8);
  assert_int_equal(ss.standby_by_priority[5], 8);
  END(sys);
}

/* The zero-page step turns free frames into zeroed ones; demand-zero
** faults then take zeroed frames without zeroing on the spot. */
static void zero_step_runs(void **state) {
  (void)state;
  mm_system *sys = small(10, 5, 1000000);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.free, 256);
  assert_int_equal(ss.zeroed, 0);
  assert_status(mm_tick(sys, 100000), MM_STATUS_SUCCESS);  /* one second */
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.wsm_runs, 1);
  assert_int_equal(ss.zeroed, 256);
  assert_int_equal(ss.zeroed_by_step, 256);
  uint64_t a;
  mm_pid p = proc(sys, 1, 10, &a, KiB(64));
  assert_int_equal(mm_access(sys, p, a, MM_WRITE), MM_DEMAND_ZERO);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.zeroed_on_demand, 0);
  assert_int_equal(ss.zeroed, 255);
  END(sys);
}

/* The manager runs on the clock: once per refs_per_second references. */
static void manager_on_clock(void **state) {
  (void)state;
  mm_system *sys = small(10, 5, 1000000);
  uint64_t a;
  mm_pid p = proc(sys, 1, 10, &a, KiB(64));
  for (int k = 0; k < 250000; k++) mm_access(sys, p, a, MM_READ);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.wsm_runs, 2);
  assert_int_equal(ss.time, 250000);
  END(sys);
}

/* Hard maximum: the process replaces within itself, others untouched. */
static void hard_max_replacement(void **state) {
  (void)state;
  mm_system *sys = small(10, 5, 1000000);
  mm_process_config pc = { "h", 1, 8, true, false };
  mm_pid p;
  assert_status(mm_process_create(sys, &pc, &p), MM_STATUS_SUCCESS);
  uint64_t a = 0, n = KiB(256);
  assert_status(mm_allocate(sys, p, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (int k = 0; k < 64; k++) mm_access(sys, p, a + k * 4096, MM_READ);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 8);
  assert_int_equal(ps.ws_peak, 8);
  assert_int_equal(ps.replaced, 56);
  /* second chance: a page referenced again survives the next sweep */
  assert_int_equal(mm_access(sys, p, a + 63 * 4096, MM_READ), MM_HIT);
  /* shrinking the limit trims at once */
  assert_status(mm_process_set_ws(sys, p, 1, 3, false, true), MM_STATUS_SUCCESS);
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 3);
  assert_status(mm_process_set_ws(sys, p, 5, 3, false, true),
                MM_STATUS_INVALID_PARAMETER);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(aging_over_passes), cmocka_unit_test(plenty_counts_trimmable),
    cmocka_unit_test(trim_hard_to_minimum), cmocka_unit_test(writer_threshold),
    cmocka_unit_test(zero_step_runs), cmocka_unit_test(manager_on_clock),
    cmocka_unit_test(hard_max_replacement),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
