/* test_system.c — machines: profiles, page sizes, independence, stats. */
#include "testutil.h"

static mm_status make(mm_arch a, uint32_t page, uint64_t ram, mm_system **out) {
  mm_config cfg;
  mm_config_default(&cfg, a);
  cfg.page_size = page;
  cfg.ram = ram;
  char err[200];
  return mm_system_create(&cfg, out, err, sizeof err);
}

static void page_sizes(void **state) {
  (void)state;
  static const struct { uint32_t size; int ok; } rows[] = {
    { 512, 1 }, { 1024, 1 }, { 4096, 1 }, { 16384, 1 }, { 65536, 1 },
    { 256, 0 }, { 3000, 0 }, { 4097, 0 }, { 131072, 0 }, { 6144, 0 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    mm_system *sys = NULL;
    mm_status st = make(MM_ARCH_X64, rows[i].size, MiB(16), &sys);
    if (rows[i].ok) {
      assert_status(st, MM_STATUS_SUCCESS);
      assert_int_equal(mm_page_size(sys), rows[i].size);
      END(sys);
    } else {
      assert_status(st, MM_STATUS_INVALID_PARAMETER);
      assert_null(sys);
    }
  }
}

static void bad_config_message(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.page_size = 3000;
  mm_system *sys = NULL;
  char err[200] = "";
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err),
                MM_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "power of two"));
  cfg.page_size = 0;
  cfg.ram = 4096;                 /* one frame: too small */
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err),
                MM_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "frames"));
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.policy.name = "nonesuch";
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err),
                MM_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "nonesuch"));
}

/* Touching one page allocates one table per paging level. */
static void levels_per_arch(void **state) {
  (void)state;
  static const struct { mm_arch a; uint64_t tables; } rows[] = {
    { MM_ARCH_X86, 2 }, { MM_ARCH_X86_PAE, 3 }, { MM_ARCH_X64, 4 },
  };
  for (size_t i = 0; i < 3; i++) {
    mm_system *sys = NULL;
    assert_status(make(rows[i].a, 0, MiB(16), &sys), MM_STATUS_SUCCESS);
    mm_pid p = tu_process(sys);
    uint64_t base = 0, size = KiB(64);
    assert_status(mm_allocate(sys, p, &base, &size,
                              MM_MEM_RESERVE | MM_MEM_COMMIT,
                              MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
    assert_int_equal(mm_access(sys, p, base, MM_WRITE), MM_DEMAND_ZERO);
    mm_pstats ps;
    mm_process_stats(sys, p, &ps);
    assert_int_equal(ps.page_table_pages, rows[i].tables);
    END(sys);
  }
}

static void arch_profiles(void **state) {
  (void)state;
  assert_int_equal(mm_arch_find("x64"), MM_ARCH_X64);
  assert_int_equal(mm_arch_find("x86-pae"), MM_ARCH_X86_PAE);
  assert_int_equal(mm_arch_find("arm"), -1);
  assert_int_equal(mm_arch_get(MM_ARCH_X86)->large_page, MiB(4));
  assert_int_equal(mm_arch_get(MM_ARCH_X86_PAE)->large_page, MiB(2));
  assert_int_equal(mm_arch_get(MM_ARCH_X64)->large_page, MiB(2));
  assert_int_equal(mm_arch_get(MM_ARCH_X64)->user_hi, 0x7FFFFFFEFFFFull);
  assert_int_equal(mm_arch_get(MM_ARCH_X86)->user_hi, 0x7FFEFFFFull);
  assert_int_equal(mm_arch_get(MM_ARCH_X64)->va_bits, 48);
}

/* Two machines in one process never see each other. */
static void independent_systems(void **state) {
  (void)state;
  mm_system *a = tu_system(MiB(1), MiB(4)), *b = tu_system(MiB(2), 0);
  mm_pid pa = tu_process(a);
  uint64_t base = 0, size = KiB(64);
  assert_status(mm_allocate(a, pa, &base, &size, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  mm_access(a, pa, base, MM_WRITE);
  mm_sstats sa, sb;
  mm_system_stats(a, &sa);
  mm_system_stats(b, &sb);
  assert_int_equal(sa.commit_charge, 16);
  assert_int_equal(sb.commit_charge, 0);
  assert_int_equal(sb.total_frames, 512);
  assert_int_equal(sb.free, 512);
  assert_int_equal(sb.commit_limit, 512 - 1);  /* no page file; reserve 1 */
  assert_int_equal(sa.commit_limit, 256 + 1024 - 1);
  assert_int_equal(sa.demand_zero, 1);
  assert_int_equal(sb.refs, 0);
  END(a);
  END(b);
}

static void status_names(void **state) {
  (void)state;
  assert_string_equal(mm_status_name(MM_STATUS_CONFLICTING_ADDRESSES),
                      "STATUS_CONFLICTING_ADDRESSES");
  assert_string_equal(mm_status_name(0xC000012Du), "STATUS_COMMITMENT_LIMIT");
  assert_null(mm_status_name(0x12345678u));
  assert_string_equal(mm_outcome_name(MM_SOFT), "soft");
  assert_string_equal(mm_outcome_name(MM_ACCESS_VIOLATION), "access_violation");
}

/* Counters are readable at any moment and reading changes nothing. */
static void stats_no_side_effects(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  mm_pid p = tu_process(sys);
  mm_sstats s1, s2;
  mm_system_stats(sys, &s1);
  mm_system_stats(sys, &s2);
  assert_memory_equal(&s1, &s2, sizeof s1);
  assert_int_equal(s1.available, s1.free + s1.zeroed + s1.standby);
  mm_pstats p1;
  assert_status(mm_process_stats(sys, p, &p1), MM_STATUS_SUCCESS);
  assert_int_equal(p1.ws_min, 50);
  assert_int_equal(p1.ws_max, 345);
  assert_status(mm_process_stats(sys, 99, &p1), MM_STATUS_INVALID_HANDLE);
  int n = 0;
  for (const mm_stat_field *f = mm_sstats_fields; f->name; f++) n++;
  assert_true(n >= 30);
  END(sys);
}

static void bad_pid(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(1), MiB(4));
  uint64_t b = 0, s = 4096;
  assert_status(mm_allocate(sys, 7, &b, &s, MM_MEM_COMMIT | MM_MEM_RESERVE,
                            MM_PAGE_READWRITE), MM_STATUS_INVALID_HANDLE);
  assert_int_equal(mm_access(sys, 0, 0x10000, MM_READ), MM_ERROR);
  assert_int_equal(mm_access(sys, 1, 0x10000, 7), MM_ERROR);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(page_sizes), cmocka_unit_test(bad_config_message),
    cmocka_unit_test(levels_per_arch), cmocka_unit_test(arch_profiles),
    cmocka_unit_test(independent_systems), cmocka_unit_test(status_names),
    cmocka_unit_test(stats_no_side_effects), cmocka_unit_test(bad_pid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
