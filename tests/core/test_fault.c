/* test_fault.c — every access resolves to exactly one outcome (A.8). */
#include "testutil.h"

static uint64_t commit(mm_system *sys, mm_pid p, uint64_t size, uint32_t prot) {
  uint64_t base = 0, n = size;
  assert_status(mm_allocate(sys, p, &base, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            prot), MM_STATUS_SUCCESS);
  return base;
}

static mm_pid process(mm_system *sys, uint32_t ws_max, bool hard) {
  mm_process_config pc = { "p", 1, ws_max, hard, false };
  mm_pid pid;
  assert_status(mm_process_create(sys, &pc, &pid), MM_STATUS_SUCCESS);
  return pid;
}

static void demand_zero_then_hit(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_pid p = tu_process(sys);
  uint64_t a = commit(sys, p, KiB(64), MM_PAGE_READWRITE);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, a + 8, MM_READ), MM_HIT);
  assert_int_equal(mm_access(sys, p, a + 100, MM_WRITE), MM_HIT);
  assert_int_equal(mm_access(sys, p, a + 4096, MM_WRITE), MM_DEMAND_ZERO);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.refs, 4);
  assert_int_equal(ps.hits, 2);
  assert_int_equal(ps.demand_zero, 2);
  assert_int_equal(ps.faults, 2);
  assert_int_equal(ps.ws_size, 2);
  assert_int_equal(ps.private_pages, 2);
  /* A.9.5: demand-zero frames come from free (zeroed on the spot) when
  ** the zeroed list is empty, as it is at boot. */
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.zeroed_on_demand, 2);
  assert_int_equal(ss.active, 2);
  END(sys);
}

static void access_violations(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_pid p = tu_process(sys);
  /* free memory, reserved memory, no-access, write to read-only,
  ** execute of non-executable */
  uint64_t r = 0, n = KiB(64);
  assert_status(mm_allocate(sys, p, &r, &n, MM_MEM_RESERVE, MM_PAGE_READWRITE),
                MM_STATUS_SUCCESS);
  assert_int_equal(mm_access(sys, p, 0x7000000, MM_READ), MM_ACCESS_VIOLATION);
  assert_int_equal(mm_access(sys, p, r, MM_READ), MM_ACCESS_VIOLATION);
  uint64_t na = commit(sys, p, 4096, MM_PAGE_NOACCESS);
  assert_int_equal(mm_access(sys, p, na, MM_READ), MM_ACCESS_VIOLATION);
  uint64_t ro = commit(sys, p, 4096, MM_PAGE_READONLY);
  assert_int_equal(mm_access(sys, p, ro, MM_READ), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, ro, MM_WRITE), MM_ACCESS_VIOLATION);
  assert_int_equal(mm_access(sys, p, ro, MM_EXECUTE), MM_ACCESS_VIOLATION);
  uint64_t rx = commit(sys, p, 4096, MM_PAGE_EXECUTE_READ);
  assert_int_equal(mm_access(sys, p, rx, MM_EXECUTE), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, rx, MM_READ), MM_HIT);
  assert_int_equal(mm_access(sys, p, rx, MM_WRITE), MM_ACCESS_VIOLATION);
  /* above the user range */
  assert_int_equal(mm_access(sys, p, 0x800000000000ull, MM_READ),
                   MM_ACCESS_VIOLATION);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.access_violations, 7);
  END(sys);
}

/* A.5.1: one-shot guard pages. */
static void guard_page(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_pid p = tu_process(sys);
  uint64_t g = commit(sys, p, 8192, MM_PAGE_READWRITE | MM_PAGE_GUARD);
  assert_int_equal(mm_access(sys, p, g, MM_READ), MM_GUARD);
  mm_region r;
  assert_status(mm_query(sys, p, g, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.protect, MM_PAGE_READWRITE);
  assert_int_equal(r.size, 4096);                    /* region split */
  assert_int_equal(mm_access(sys, p, g, MM_WRITE), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, g, MM_WRITE), MM_HIT);
  /* the second page still guards */
  assert_int_equal(mm_access(sys, p, g + 4096, MM_WRITE), MM_GUARD);
  /* a resident page made guard faults once */
  uint64_t old = 0, b = g, s = 4096;
  uint32_t oldp;
  assert_status(mm_protect(sys, p, &b, &s, MM_PAGE_READWRITE | MM_PAGE_GUARD,
                           &oldp), MM_STATUS_SUCCESS);
  (void)old;
  assert_int_equal(oldp, MM_PAGE_READWRITE);
  assert_int_equal(mm_access(sys, p, g, MM_READ), MM_GUARD);
  assert_int_equal(mm_access(sys, p, g, MM_READ), MM_HIT);
  END(sys);
}

/* Demand-zero, trimmed (hard maximum), then a soft fault brings it back. */
static void soft_after_trim(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_pid p = process(sys, 2, true);
  uint64_t a = commit(sys, p, KiB(64), MM_PAGE_READWRITE);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, a + 4096, MM_READ), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, a + 8192, MM_READ), MM_DEMAND_ZERO);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 2);
  assert_int_equal(ps.replaced, 1);
  /* demand-zero pages have no backing copy: the trimmed one is modified */
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.modified, 1);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_SOFT);
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.soft, 1);
  assert_int_equal(ps.hard, 0);
  END(sys);
}

/* A dirty page: modified → page file → standby → repurposed → hard fault. */
static void dirty_page_life(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = KiB(256);               /* 64 frames */
  cfg.pagefile = MiB(4);
  cfg.tune.mpw_threshold = 1000000; /* only the emergency path writes */
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  mm_pid p = process(sys, 1, true);
  uint64_t a = commit(sys, p, MiB(1), MM_PAGE_READWRITE);
  assert_int_equal(mm_access(sys, p, a, MM_WRITE), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, a + 4096, MM_WRITE), MM_DEMAND_ZERO);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.modified, 1);           /* page a, dirty */
  /* fill memory: every frame ends on the modified list, then the writer
  ** must run and standby frames are repurposed */
  for (uint64_t k = 2; k < 200; k++)
    assert_int_equal(mm_access(sys, p, a + k * 4096, MM_WRITE), MM_DEMAND_ZERO);
  mm_system_stats(sys, &ss);
  assert_true(ss.pagefile_writes > 0);
  assert_true(ss.repurposed > 0);
  assert_int_equal(ss.pagefile_reads, 0);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_HARD);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.pagefile_reads, 1);
  /* read back in clean: it keeps its slot; trimming it again needs no
  ** write, so it goes straight to standby */
  uint64_t writes = ss.pagefile_writes;
  assert_int_equal(mm_access(sys, p, a + 4096 * 250, MM_READ), MM_DEMAND_ZERO);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.pagefile_writes, writes);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_SOFT);
  END(sys);
}

/* A.6: commit is charged at commit, not at touch, and returned on free. */
static void commit_accounting(void **state) {
  (void)state;
  mm_system *sys = tu_system(KiB(256), KiB(256));   /* limit 128 pages */
  mm_pid p = tu_process(sys);
  uint64_t a = commit(sys, p, KiB(400), MM_PAGE_READWRITE);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.commit_charge, 100);
  assert_int_equal(ss.commit_limit, 127);
  uint64_t b = 0, n = KiB(200);
  assert_status(mm_allocate(sys, p, &b, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_COMMITMENT_LIMIT);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.commit_charge, 100);
  uint64_t s = 0;
  assert_status(mm_free(sys, p, &a, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.commit_charge, 0);
  assert_int_equal(ss.commit_peak, 100);
  END(sys);
}

/* Replay commits touched pages unless strict. */
static void run_with_source(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_pid p = tu_process(sys);
  mm_workload_cfg wc;
  mm_workload_cfg_init(&wc, MM_WORKLOAD_LOOP);
  wc.base = 0x1000000;
  wc.size = KiB(64);
  char err[200];
  mm_source *src = mm_workload_new(&wc, err, sizeof err);
  assert_non_null(src);
  mm_run_opts ro = { 64, true, false };
  mm_run_result rr;
  assert_status(mm_run(sys, p, src, &ro, &rr), MM_STATUS_SUCCESS);
  assert_int_equal(rr.refs, 64);
  assert_int_equal(rr.outcome[MM_DEMAND_ZERO], 16);
  assert_int_equal(rr.outcome[MM_HIT], 48);
  mm_region r;
  assert_status(mm_query(sys, p, 0x1000000, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.state, MM_MEM_COMMIT);
  assert_int_equal(r.type, MM_MEM_PRIVATE);
  mm_source_close(src);
  /* strict: the same addresses in a fresh process are violations */
  mm_pid q = tu_process(sys);
  src = mm_workload_new(&wc, err, sizeof err);
  ro.strict = true;
  assert_status(mm_run(sys, q, src, &ro, &rr), MM_STATUS_SUCCESS);
  assert_int_equal(rr.outcome[MM_ACCESS_VIOLATION], 64);
  mm_source_close(src);
  END(sys);
}

/* Several processes, each its own source, round robin (mm_run_many). */
static void run_many_round_robin(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_run_item it[2];
  for (int k = 0; k < 2; k++) {
    it[k].pid = tu_process(sys);
    mm_workload_cfg wc;
    mm_workload_cfg_init(&wc, MM_WORKLOAD_LOOP);
    wc.base = 0x1000000;
    wc.size = KiB(64);
    char err[200];
    it[k].src = mm_workload_new(&wc, err, sizeof err);
    it[k].max_refs = k ? 100 : 40;
  }
  mm_run_opts ro = { 0, true, false };
  assert_status(mm_run_many(sys, it, 2, 16, &ro), MM_STATUS_SUCCESS);
  assert_int_equal(it[0].res.refs, 40);
  assert_int_equal(it[1].res.refs, 100);
  assert_int_equal(it[0].res.outcome[MM_DEMAND_ZERO], 16);
  assert_int_equal(it[1].res.outcome[MM_DEMAND_ZERO], 16);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.refs, 140);
  assert_status(mm_run_many(sys, it, 2, 0, &ro), MM_STATUS_INVALID_PARAMETER);
  for (int k = 0; k < 2; k++) mm_source_close(it[k].src);
  END(sys);
}

/* Process exit returns everything. */
static void process_exit(void **state) {
  (void)state;
  mm_system *sys = tu_system(KiB(512), MiB(4));
  mm_pid p = process(sys, 8, true);
  uint64_t a = commit(sys, p, MiB(1), MM_PAGE_READWRITE);
  for (uint64_t k = 0; k < 200; k++) mm_access(sys, p, a + k * 4096, MM_WRITE);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_true(ss.pagefile_used > 0 || ss.modified > 0);
  assert_status(mm_process_terminate(sys, p), MM_STATUS_SUCCESS);
  mm_system_stats(sys, &ss);
  assert_int_equal(ss.commit_charge, 0);
  assert_int_equal(ss.pagefile_used, 0);
  assert_int_equal(ss.free + ss.zeroed, ss.total_frames);
  assert_int_equal(ss.processes, 0);
  /* stats survive, further calls are refused */
  mm_pstats ps;
  assert_status(mm_process_stats(sys, p, &ps), MM_STATUS_SUCCESS);
  assert_int_equal(ps.demand_zero, 200);
  assert_int_equal(ps.ws_size, 0);
  assert_int_equal(mm_access(sys, p, a, MM_READ), MM_ERROR);
  assert_status(mm_process_terminate(sys, p), MM_STATUS_PROCESS_IS_TERMINATING);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(demand_zero_then_hit), cmocka_unit_test(access_violations),
    cmocka_unit_test(guard_page), cmocka_unit_test(soft_after_trim),
    cmocka_unit_test(dirty_page_life), cmocka_unit_test(commit_accounting),
    cmocka_unit_test(run_with_source), cmocka_unit_test(process_exit),
    cmocka_unit_test(run_many_round_robin),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
