/*
** test_vad.c — the address-space services (core/vad.c) against
** WINDOWS.md A.1-A.4, A.6 and A.14: rounding tables, every rejection,
** release/decommit rules, region splitting, protections, commit limit,
** other page sizes and each architecture's user range.
*/
#include "testutil.h"

#include "internal.h"

/* vad.c's walker; not in internal.h yet. */
int vad_check(mm_system *sys, mm_process *p);

#define R   MM_MEM_RESERVE
#define C   MM_MEM_COMMIT
#define RC  (MM_MEM_RESERVE | MM_MEM_COMMIT)
#define RW  MM_PAGE_READWRITE
#define RO  MM_PAGE_READONLY

/* ---------------------------------------------------------------- helpers */

static mm_system *sys_with(mm_arch arch, uint32_t page_size, uint64_t ram,
                           uint64_t pagefile) {
  mm_config cfg;
  mm_config_default(&cfg, arch);
  cfg.page_size = page_size;
  cfg.ram = ram;
  cfg.pagefile = pagefile;
  mm_system *sys = NULL;
  char err[256];
  if (mm_system_create(&cfg, &sys, err, sizeof err) != MM_STATUS_SUCCESS)
    fail_msg("mm_system_create: %s", err);
  return sys;
}

static mm_system *sys_default(void) { return tu_system(MiB(64), MiB(64)); }

/* mm_allocate with values, returning the status; outputs through b, s. */
static mm_status alloc(mm_system *sys, mm_pid pid, uint64_t *b, uint64_t *s,
                       uint32_t type, uint32_t prot) {
  return mm_allocate(sys, pid, b, s, type, prot);
}

/* Allocation that must succeed; returns the base. */
static uint64_t alloc_ok(mm_system *sys, mm_pid pid, uint64_t base,
                         uint64_t size, uint32_t type, uint32_t prot) {
  uint64_t b = base, s = size;
  mm_status st = mm_allocate(sys, pid, &b, &s, type, prot);
  if (st != MM_STATUS_SUCCESS)
    fail_msg("allocate %#llx+%#llx type %#x prot %#x: %s (%s)",
             (unsigned long long)base, (unsigned long long)size, type, prot,
             mm_status_name(st), mm_last_error(sys));
  return b;
}

static void free_ok(mm_system *sys, mm_pid pid, uint64_t base, uint64_t size,
                    uint32_t type) {
  uint64_t b = base, s = size;
  mm_status st = mm_free(sys, pid, &b, &s, type);
  if (st != MM_STATUS_SUCCESS)
    fail_msg("free %#llx+%#llx type %#x: %s (%s)", (unsigned long long)base,
             (unsigned long long)size, type, mm_status_name(st),
             mm_last_error(sys));
}

static mm_status free_st(mm_system *sys, mm_pid pid, uint64_t base,
                         uint64_t size, uint32_t type) {
  return mm_free(sys, pid, &base, &size, type);
}

static mm_region query(mm_system *sys, mm_pid pid, uint64_t addr) {
  mm_region r;
  mm_status st = mm_query(sys, pid, addr, &r);
  if (st != MM_STATUS_SUCCESS)
    fail_msg("query %#llx: %s (%s)", (unsigned long long)addr,
             mm_status_name(st), mm_last_error(sys));
  return r;
}

#define assert_hex(a, b) assert_int_equal((uint64_t)(a), (uint64_t)(b))

/* One region: base, size, state, protect, allocation base, allocation
** protect, type. */
static void check_region(mm_system *sys, mm_pid pid, uint64_t addr,
                         uint64_t base, uint64_t size, uint32_t state,
                         uint32_t protect, uint64_t abase, uint32_t aprot,
                         uint32_t type) {
  mm_region r = query(sys, pid, addr);
  assert_hex(r.base, base);
  assert_hex(r.size, size);
  assert_hex(r.state, state);
  assert_hex(r.protect, protect);
  assert_hex(r.allocation_base, abase);
  assert_hex(r.allocation_protect, aprot);
  assert_hex(r.type, type);
}

static void check_free(mm_system *sys, mm_pid pid, uint64_t addr,
                       uint64_t base, uint64_t size) {
  check_region(sys, pid, addr, base, size, MM_MEM_FREE, MM_PAGE_NOACCESS, 0,
               0, 0);
}

static uint64_t sys_charge(mm_system *sys) {
  mm_sstats st;
  mm_system_stats(sys, &st);
  return st.commit_charge;
}

static uint64_t proc_commit(mm_system *sys, mm_pid pid) {
  mm_pstats st;
  assert_status(mm_process_stats(sys, pid, &st), MM_STATUS_SUCCESS);
  return st.commit;
}

/* ------------------------------------------------------ A.2.1 rounding */

static void reserve_rounding_table(void **state) {
  (void)state;
  static const struct { uint64_t base, size, out; } rows[] = {
    { 0x50000000, 0x1, 0x1000 },
    { 0x50008000, 0x1, 0x9000 },
    { 0x50000010, 0x1000, 0x2000 },
    { 0x50010000, 0x2000, 0x2000 },
    { 0x5000FFFF, 0x3000, 0x13000 },
    { 0x50001010, 0x7000, 0x9000 },
    { 0x50001010, 0xC000, 0xE000 },
  };
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    uint64_t b = rows[i].base, s = rows[i].size;
    assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_SUCCESS);
    assert_hex(b, rows[i].base & ~0xFFFFull);
    assert_hex(s, rows[i].out);
    check_region(sys, pid, b, b, s, MM_MEM_RESERVE, 0, b, RW,
                 MM_MEM_PRIVATE);
    free_ok(sys, pid, b, 0, MM_MEM_RELEASE);     /* fresh for the next row */
    check_free(sys, pid, b, b, 0x7FFFFFFF0000ull - b);
  }
  END(sys);
}

/* ------------------------------------------------------ A.2.2 no base */

static void reserve_without_base(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t b = 0, s = 0xFFFC;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_SUCCESS);
  /* the lowest free granule: 0x10000 is the system's (A.1.2) */
  assert_hex(b, 0x20000);
  assert_hex(s, 0x10000);
  b = 0, s = 1;
  assert_status(alloc(sys, pid, &b, &s, C, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x30000);                        /* blind commit reserves */
  assert_hex(s, 0x1000);
  check_region(sys, pid, b, b, 0x1000, MM_MEM_COMMIT, RW, b, RW,
               MM_MEM_PRIVATE);
  /* the next one skips the dead tail of 0x30000's granule */
  assert_hex(alloc_ok(sys, pid, 0, 0x1000, R, RW), 0x40000);
  END(sys);
}

/* ------------------------------------------------------ A.2.3 commit */

static void commit_two_bytes_across_pages(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x10000, R, RW);
  uint64_t b = 0x50000FFF, s = 2;
  assert_status(alloc(sys, pid, &b, &s, C, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x2000);
  check_region(sys, pid, 0x50000000, 0x50000000, 0x2000, MM_MEM_COMMIT, RW,
               0x50000000, RW, MM_MEM_PRIVATE);
  check_region(sys, pid, 0x50002000, 0x50002000, 0xE000, MM_MEM_RESERVE, 0,
               0x50000000, RW, MM_MEM_PRIVATE);
  assert_int_equal(proc_commit(sys, pid), 2);
  END(sys);
}

static void commit_needs_one_reservation(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x10000, R, RW);
  alloc_ok(sys, pid, 0x50010000, 0x10000, R, RW);
  uint64_t charge = sys_charge(sys);
  /* nothing reserved there */
  uint64_t b = 0x60000000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, C, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  assert_hex(b, 0x60000000);                     /* outputs untouched */
  assert_hex(s, 0x1000);
  /* across two adjacent reservations (R-api-AVM CheckAdjacentVADs) */
  b = 0x5000F000, s = 0x2000;
  assert_status(alloc(sys, pid, &b, &s, C, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* past the end of a reservation into free space */
  alloc_ok(sys, pid, 0x51000000, 0x3000, R, RW);
  b = 0x51002000, s = 0x2000;
  assert_status(alloc(sys, pid, &b, &s, C, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* inside the dead tail of a granule */
  b = 0x51008000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, C, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* nothing changed */
  assert_int_equal(sys_charge(sys), charge);
  check_region(sys, pid, 0x5000F000, 0x5000F000, 0x1000, MM_MEM_RESERVE, 0,
               0x50000000, RW, MM_MEM_PRIVATE);
  check_region(sys, pid, 0x50010000, 0x50010000, 0x10000, MM_MEM_RESERVE, 0,
               0x50010000, RW, MM_MEM_PRIVATE);
  END(sys);
}

/* ------------------------------------------ A.2.4 reserve|commit unaligned */

static void reserve_commit_unaligned(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t b = 0x50004080, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, RC, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x6000);
  check_region(sys, pid, 0x50000000, 0x50000000, 0x6000, MM_MEM_COMMIT, RW,
               0x50000000, RW, MM_MEM_PRIVATE);
  assert_int_equal(proc_commit(sys, pid), 6);
  /* every page is writable */
  for (uint64_t a = 0x50000000; a < 0x50006000; a += 0x1000)
    assert_int_equal(mm_access(sys, pid, a, MM_WRITE), MM_DEMAND_ZERO);
  END(sys);
}

/* ------------------------------------------------------ A.2.5 re-commit */

static void recommit_changes_protection_charges_once(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0x50000000, 0x6000, RC, RW);
  uint64_t charge = sys_charge(sys);
  assert_int_equal(mm_access(sys, pid, a, MM_WRITE), MM_DEMAND_ZERO);
  alloc_ok(sys, pid, a, 0x6000, C, RO);
  check_region(sys, pid, a, a, 0x6000, MM_MEM_COMMIT, RO, a, RW,
               MM_MEM_PRIVATE);
  assert_int_equal(sys_charge(sys), charge);   /* no double charge */
  assert_int_equal(proc_commit(sys, pid), 6);
  assert_int_equal(mm_access(sys, pid, a, MM_WRITE), MM_ACCESS_VIOLATION);
  /* part new, part old: only the new pages are charged */
  alloc_ok(sys, pid, 0x50060000, 0x4000, R, RW);
  alloc_ok(sys, pid, 0x50060000, 0x2000, C, RW);
  alloc_ok(sys, pid, 0x50060000, 0x4000, C, RW);
  assert_int_equal(proc_commit(sys, pid), 10);
  /* reserving over a reservation conflicts (A.2.5) */
  uint64_t b = a, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  b = a, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, RC, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  END(sys);
}

/* ----------------------------------------------- A.2.6 rejected types */

static void allocation_type_rejections(void **state) {
  (void)state;
  static const struct { uint32_t type, prot; mm_status want; } rows[] = {
    { RC | 0x40000000u, RW, MM_STATUS_INVALID_PARAMETER_5 }, /* AT_ROUND_TO_PAGE */
    { R | 0x800u, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_DECOMMIT, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { 0, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_TOP_DOWN, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_RESET | C, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_RESET | R, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_RESET | MM_MEM_TOP_DOWN, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_LARGE_PAGES | R, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_LARGE_PAGES | RC | MM_MEM_PHYSICAL, RW,
      MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_LARGE_PAGES | RC | MM_MEM_WRITE_WATCH, RW,
      MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_LARGE_PAGES | C, RW, MM_STATUS_INVALID_PARAMETER_5 }, /* A.14 */
    { MM_MEM_WRITE_WATCH | C, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_PHYSICAL | C, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_PHYSICAL | RC, RW, MM_STATUS_INVALID_PARAMETER_5 },
    { MM_MEM_PHYSICAL | R, RO, MM_STATUS_INVALID_PARAMETER_6 },
    /* the type is checked before the protection */
    { 0, 0, MM_STATUS_INVALID_PARAMETER_5 },
    /* protections */
    { R, 0, MM_STATUS_INVALID_PAGE_PROTECTION },
    { R, RO | MM_PAGE_EXECUTE, MM_STATUS_INVALID_PAGE_PROTECTION },
    { R, MM_PAGE_WRITECOPY, MM_STATUS_INVALID_PAGE_PROTECTION },
    { RC, MM_PAGE_EXECUTE_WRITECOPY, MM_STATUS_INVALID_PAGE_PROTECTION },
    { C, MM_PAGE_WRITECOPY, MM_STATUS_INVALID_PAGE_PROTECTION },
    /* valid, but not simulated */
    { MM_MEM_PHYSICAL | R, RW, MM_STATUS_NOT_SUPPORTED },
    { MM_MEM_WRITE_WATCH | R, RW, MM_STATUS_NOT_SUPPORTED },
  };
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    uint64_t b = 0, s = 0x10000;
    mm_status st = alloc(sys, pid, &b, &s, rows[i].type, rows[i].prot);
    if (st != rows[i].want)
      fail_msg("row %zu (type %#x prot %#x): %s, want %s", i, rows[i].type,
               rows[i].prot, mm_status_name(st), mm_status_name(rows[i].want));
    assert_hex(b, 0);
    assert_hex(s, 0x10000);
  }
  check_free(sys, pid, 0x20000, 0x20000, 0x7FFFFFFF0000ull - 0x20000);
  assert_int_equal(sys_charge(sys), 0);
  END(sys);
}

/* ------------------------------------------------ A.1.2 lowest address */

static void lowest_address(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t b = 0xF000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_INVALID_PARAMETER_2);
  b = 0x10000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  b = 0x1FFFF, s = 1;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* what is there: a reserved, mapped, read-only granule */
  check_region(sys, pid, 0x18000, 0x18000, 0x8000, MM_MEM_RESERVE, 0,
               0x10000, RO, MM_MEM_MAPPED);
  check_free(sys, pid, 0, 0, 0x10000);
  check_free(sys, pid, 0xFFFF, 0xF000, 0x1000);
  assert_status(free_st(sys, pid, 0x10000, 0, MM_MEM_RELEASE),
                MM_STATUS_UNABLE_TO_DELETE_SECTION);
  b = 0x10000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, C, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  uint32_t old = 0;
  b = 0x10000, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_NOT_COMMITTED);
  assert_hex(alloc_ok(sys, pid, 0x20000, 0x1000, R, RW), 0x20000);
  END(sys);
}

/* ---------------------------------------------- A.1.3 upper bounds */

static void upper_bounds(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  const uint64_t top = 0x7FFFFFFEFFFFull;
  uint64_t b = top + 1, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_INVALID_PARAMETER_2);
  b = 0x50000000, s = 0;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_INVALID_PARAMETER_4);
  b = 0x50000000, s = UINT64_MAX - 0x1000;          /* wraps */
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_INVALID_PARAMETER_4);
  b = top - 0xFFFF, s = 0x10001;                    /* one byte too far */
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_INVALID_PARAMETER_4);
  b = 0, s = top + 2;                               /* bigger than the space */
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_INVALID_PARAMETER_4);
  b = 0, s = top - 0x10000;                         /* fits no gap */
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_NO_MEMORY);
  b = top - 0xFFFF, s = 0x10000;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_SUCCESS);
  mm_region r;
  assert_status(mm_query(sys, pid, top + 1, &r), MM_STATUS_INVALID_PARAMETER_2);
  assert_status(free_st(sys, pid, top + 1, 0, MM_MEM_RELEASE),
                MM_STATUS_INVALID_PARAMETER_2);
  END(sys);
}

/* Each architecture's user range (A.1.2, A.1.4): top-down lands in the
** last granule, one granule past it is _2, the top page answers queries. */
static void arch_user_ranges(void **state) {
  (void)state;
  static const struct { mm_arch arch; uint64_t top; } rows[] = {
    { MM_ARCH_X86, 0x7FFEFFFFull },
    { MM_ARCH_X86_PAE, 0x7FFEFFFFull },
    { MM_ARCH_X64, 0x7FFFFFFEFFFFull },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    mm_system *sys = sys_with(rows[i].arch, 0, MiB(16), MiB(16));
    mm_pid pid = tu_process(sys);
    uint64_t top = rows[i].top;
    assert_hex(mm_arch_get(rows[i].arch)->user_hi, top);
    uint64_t b = top + 1, s = 0x1000;
    assert_status(alloc(sys, pid, &b, &s, R, RW),
                  MM_STATUS_INVALID_PARAMETER_2);
    b = top + 1 - 0x10000, s = 0x10001;
    assert_status(alloc(sys, pid, &b, &s, R, RW),
                  MM_STATUS_INVALID_PARAMETER_4);
    check_free(sys, pid, top, top + 1 - 0x1000, 0x1000);
    uint64_t hi = alloc_ok(sys, pid, 0, 0x10000, R | MM_MEM_TOP_DOWN, RW);
    assert_hex(hi, top + 1 - 0x10000);
    assert_hex(alloc_ok(sys, pid, 0, 0x1000, RC | MM_MEM_TOP_DOWN, RW),
               top + 1 - 0x20000);
    assert_hex(alloc_ok(sys, pid, 0, 0x1000, R, RW), 0x20000);
    mm_region r;
    assert_status(mm_query(sys, pid, top + 1, &r),
                  MM_STATUS_INVALID_PARAMETER_2);
    check_region(sys, pid, top, top + 1 - 0x1000, 0x1000, MM_MEM_RESERVE, 0,
                 hi, RW, MM_MEM_PRIVATE);
    END(sys);
  }
}

static void top_down_picks_highest(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 0x30000, R | MM_MEM_TOP_DOWN, RW);
  assert_hex(a, 0x7FFFFFFF0000ull - 0x30000);
  /* a hole below the top that fits is taken before anything lower */
  free_ok(sys, pid, a, 0, MM_MEM_RELEASE);
  alloc_ok(sys, pid, 0x7FFFFFFE0000ull, 0x10000, R, RW);
  alloc_ok(sys, pid, 0x7FFFFFFC0000ull, 0x10000, R, RW);
  assert_hex(alloc_ok(sys, pid, 0, 0x10000, R | MM_MEM_TOP_DOWN, RW),
             0x7FFFFFFD0000ull);
  assert_hex(alloc_ok(sys, pid, 0, 0x10001, R | MM_MEM_TOP_DOWN, RW),
             0x7FFFFFFA0000ull);
  END(sys);
}

/* ------------------------------------------------ A.1.6 dead tail */

static void dead_granule_tail(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x3000, R, RW);
  uint64_t b = 0x50008000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  b = 0x50003000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, RC, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  assert_status(free_st(sys, pid, 0x50008000, 0, MM_MEM_RELEASE),
                MM_STATUS_MEMORY_NOT_ALLOCATED);
  assert_status(free_st(sys, pid, 0x50008000, 0x1000, MM_MEM_DECOMMIT),
                MM_STATUS_MEMORY_NOT_ALLOCATED);
  alloc_ok(sys, pid, 0x50010000, 0x1000, R, RW);
  /* the tail reads as free up to the next allocation */
  check_free(sys, pid, 0x50008000, 0x50008000, 0x8000);
  check_free(sys, pid, 0x50003000, 0x50003000, 0xD000);
  /* W-nt: a one-page allocation, then the next page conflicts */
  uint64_t a = alloc_ok(sys, pid, 0, 0x1000, RC, RW);
  b = a + 0x1000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, RC, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* anywhere allocations never land in a dead tail */
  uint64_t n = alloc_ok(sys, pid, 0, 0x1000, R, RW);
  assert_hex(n & 0xFFFF, 0);
  assert_true(n >= a + 0x10000);
  END(sys);
}

/* ------------------------------------------------ A.2.10 free rules */

static void free_type_rejections(void **state) {
  (void)state;
  static const uint32_t bad[] = {
    0, MM_MEM_FREE, MM_MEM_RELEASE | MM_MEM_DECOMMIT, MM_MEM_COMMIT,
    MM_MEM_RELEASE | 0x1u,
  };
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 0x10000, RC, RW);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_status(free_st(sys, pid, a, 0, bad[i]),
                  MM_STATUS_INVALID_PARAMETER_4);
  check_region(sys, pid, a, a, 0x10000, MM_MEM_COMMIT, RW, a, RW,
               MM_MEM_PRIVATE);
  END(sys);
}

static void free_size_zero_rules(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 0x10000, RC, MM_PAGE_EXECUTE_READWRITE);
  /* W-nt: decommit 2 bytes at a+0x1fff covers two pages */
  uint64_t b = a + 0x1fff, s = 2;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_DECOMMIT), MM_STATUS_SUCCESS);
  assert_hex(b, a + 0x1000);
  assert_hex(s, 0x2000);
  assert_int_equal(proc_commit(sys, pid), 14);
  /* size 0 away from the base */
  b = a + 0x1001, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_DECOMMIT),
                MM_STATUS_FREE_VM_NOT_AT_BASE);
  assert_hex(b, a + 0x1001);
  assert_hex(s, 0);
  /* a+0xffe rounds to the base: the whole region, size 0 back (> 1709) */
  b = a + 0xffe, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_DECOMMIT), MM_STATUS_SUCCESS);
  assert_hex(b, a);
  assert_hex(s, 0);
  check_region(sys, pid, a, a, 0x10000, MM_MEM_RESERVE, 0, a,
               MM_PAGE_EXECUTE_READWRITE, MM_MEM_PRIVATE);
  assert_int_equal(proc_commit(sys, pid), 0);
  b = a + 0x1001, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_RELEASE),
                MM_STATUS_FREE_VM_NOT_AT_BASE);
  b = a + 0xfff, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  assert_hex(b, a);
  assert_hex(s, 0x10000);
  check_free(sys, pid, a, a, 0x7FFFFFFF0000ull - a);
  END(sys);
}

static void free_range_rules(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x10000, R, RW);
  alloc_ok(sys, pid, 0x50010000, 0x10000, RC, RW);
  alloc_ok(sys, pid, 0x51000000, 0x3000, RC, RW);
  uint64_t charge = sys_charge(sys);
  /* decommitting never-committed pages is fine */
  free_ok(sys, pid, 0x50000000, 0x4000, MM_MEM_DECOMMIT);
  free_ok(sys, pid, 0x50000000, 0, MM_MEM_DECOMMIT);
  /* spanning two reservations */
  assert_status(free_st(sys, pid, 0x50000000, 0x20000, MM_MEM_DECOMMIT),
                MM_STATUS_UNABLE_TO_FREE_VM);
  assert_status(free_st(sys, pid, 0x5000F000, 0x2000, MM_MEM_RELEASE),
                MM_STATUS_UNABLE_TO_FREE_VM);
  /* end past the VAD */
  assert_status(free_st(sys, pid, 0x51000000, 0x4000, MM_MEM_RELEASE),
                MM_STATUS_UNABLE_TO_FREE_VM);
  assert_status(free_st(sys, pid, 0x51002000, 0x1001, MM_MEM_DECOMMIT),
                MM_STATUS_UNABLE_TO_FREE_VM);
  /* no VAD at all */
  assert_status(free_st(sys, pid, 0x60000000, 0x1000, MM_MEM_RELEASE),
                MM_STATUS_MEMORY_NOT_ALLOCATED);
  assert_status(free_st(sys, pid, 0x60000000, 0, MM_MEM_DECOMMIT),
                MM_STATUS_MEMORY_NOT_ALLOCATED);
  /* size checked against the top: _3 */
  assert_status(free_st(sys, pid, 0x51000000, UINT64_MAX, MM_MEM_RELEASE),
                MM_STATUS_INVALID_PARAMETER_3);
  assert_int_equal(sys_charge(sys), charge);
  check_region(sys, pid, 0x50010000, 0x50010000, 0x10000, MM_MEM_COMMIT, RW,
               0x50010000, RW, MM_MEM_PRIVATE);
  /* release returns every committed page's charge, touched or not */
  for (uint64_t x = 0x50010000; x < 0x50018000; x += 0x1000)
    assert_int_equal(mm_access(sys, pid, x, MM_WRITE), MM_DEMAND_ZERO);
  free_ok(sys, pid, 0x50010000, 0, MM_MEM_RELEASE);
  assert_int_equal(sys_charge(sys), charge - 16);
  assert_int_equal(proc_commit(sys, pid), 3);
  END(sys);
}

/* ---------------------------------- A.1.5 partial release: three cases */

static void partial_release_prefix(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x10000, RC, RW);
  free_ok(sys, pid, 0x50000000, 0x2000, MM_MEM_RELEASE);
  check_free(sys, pid, 0x50000000, 0x50000000, 0x2000);
  check_region(sys, pid, 0x50002000, 0x50002000, 0xE000, MM_MEM_COMMIT, RW,
               0x50002000, RW, MM_MEM_PRIVATE);
  assert_int_equal(proc_commit(sys, pid), 14);
  /* the granule is still owned by the surviving piece */
  uint64_t b = 0x50000000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* the piece is its own allocation: size 0 at its start frees it */
  uint64_t s0 = 0;
  b = 0x50002000;
  assert_status(mm_free(sys, pid, &b, &s0, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  assert_hex(s0, 0xE000);
  assert_int_equal(proc_commit(sys, pid), 0);
  END(sys);
}

static void partial_release_middle(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x10000, R, RO);
  alloc_ok(sys, pid, 0x50000000, 0x10000, C, RW);
  free_ok(sys, pid, 0x50004000, 0x2000, MM_MEM_RELEASE);
  check_region(sys, pid, 0x50000000, 0x50000000, 0x4000, MM_MEM_COMMIT, RW,
               0x50000000, RO, MM_MEM_PRIVATE);
  check_free(sys, pid, 0x50004000, 0x50004000, 0x2000);
  check_free(sys, pid, 0x50005FFF, 0x50005000, 0x1000);
  check_region(sys, pid, 0x50006000, 0x50006000, 0xA000, MM_MEM_COMMIT, RW,
               0x50006000, RO, MM_MEM_PRIVATE);
  assert_int_equal(proc_commit(sys, pid), 14);
  /* both pieces behave as allocations of their own */
  assert_status(free_st(sys, pid, 0x50003000, 0x2000, MM_MEM_RELEASE),
                MM_STATUS_UNABLE_TO_FREE_VM);
  uint64_t b = 0x50006000, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  assert_hex(s, 0xA000);
  b = 0x50000000, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  assert_hex(s, 0x4000);
  assert_int_equal(proc_commit(sys, pid), 0);
  END(sys);
}

static void partial_release_suffix(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  alloc_ok(sys, pid, 0x50000000, 0x10000, RC, RW);
  alloc_ok(sys, pid, 0x50020000, 0x10000, R, RW);
  free_ok(sys, pid, 0x5000C000, 0x4000, MM_MEM_RELEASE);
  check_region(sys, pid, 0x50000000, 0x50000000, 0xC000, MM_MEM_COMMIT, RW,
               0x50000000, RW, MM_MEM_PRIVATE);
  check_free(sys, pid, 0x5000C000, 0x5000C000, 0x14000);
  assert_int_equal(proc_commit(sys, pid), 12);
  uint64_t b = 0x5000C000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  alloc_ok(sys, pid, 0x50010000, 0x1000, R, RW);
  END(sys);
}

/* ------------------------------------------------ A.2.11 after release */

static void query_after_release(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0x50000000, 0x20000, RC,
                        MM_PAGE_EXECUTE_READ);
  alloc_ok(sys, pid, 0x60000000, 0x1000, R, RW);
  free_ok(sys, pid, a, 0, MM_MEM_RELEASE);
  mm_region r = query(sys, pid, a + 0x1234);
  assert_hex(r.base, a + 0x1000);
  assert_hex(r.state, MM_MEM_FREE);
  assert_hex(r.protect, MM_PAGE_NOACCESS);
  assert_hex(r.allocation_base, 0);
  assert_hex(r.allocation_protect, 0);
  assert_hex(r.type, 0);
  assert_hex(r.size, 0x60000000 - (a + 0x1000));  /* to the next VAD */
  END(sys);
}

/* --------------------------------------------- A.3 region splitting */

static void query_region_splitting(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  const uint64_t a = 0x50000000, P = 0x1000;
  alloc_ok(sys, pid, a, 8 * P, RC, RW);
  alloc_ok(sys, pid, a + 2 * P, 2 * P, C, RO);
  check_region(sys, pid, a, a, 2 * P, MM_MEM_COMMIT, RW, a, RW,
               MM_MEM_PRIVATE);
  check_region(sys, pid, a + P + 0x123, a + P, P, MM_MEM_COMMIT, RW, a, RW,
               MM_MEM_PRIVATE);
  check_region(sys, pid, a + 2 * P, a + 2 * P, 2 * P, MM_MEM_COMMIT, RO, a,
               RW, MM_MEM_PRIVATE);
  check_region(sys, pid, a + 3 * P, a + 3 * P, P, MM_MEM_COMMIT, RO, a, RW,
               MM_MEM_PRIVATE);
  check_region(sys, pid, a + 4 * P, a + 4 * P, 4 * P, MM_MEM_COMMIT, RW, a,
               RW, MM_MEM_PRIVATE);
  check_free(sys, pid, a + 8 * P, a + 8 * P, 0x7FFFFFFF0000ull - a - 8 * P);
  /* modifiers split regions too; reserved runs report protection 0 */
  alloc_ok(sys, pid, a + 5 * P, P, C, RW | MM_PAGE_GUARD);
  free_ok(sys, pid, a + 7 * P, P, MM_MEM_DECOMMIT);
  check_region(sys, pid, a + 4 * P, a + 4 * P, P, MM_MEM_COMMIT, RW, a, RW,
               MM_MEM_PRIVATE);
  check_region(sys, pid, a + 5 * P, a + 5 * P, P, MM_MEM_COMMIT,
               RW | MM_PAGE_GUARD, a, RW, MM_MEM_PRIVATE);
  check_region(sys, pid, a + 7 * P, a + 7 * P, P, MM_MEM_RESERVE, 0, a, RW,
               MM_MEM_PRIVATE);
  /* a region never crosses an allocation: two adjacent reservations */
  alloc_ok(sys, pid, 0x50010000, 0x10000, R, RW);
  alloc_ok(sys, pid, 0x50020000, 0x10000, R, RW);
  check_region(sys, pid, 0x50010000, 0x50010000, 0x10000, MM_MEM_RESERVE, 0,
               0x50010000, RW, MM_MEM_PRIVATE);
  END(sys);
}

/* A huge reservation queries, commits sparsely and releases in time
** proportional to what is committed, not to its size. */
static void huge_reservation(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 1ull << 44, R, RW);   /* 16 TiB */
  alloc_ok(sys, pid, a + (1ull << 43), 0x1000, C, RW);
  check_region(sys, pid, a, a, 1ull << 43, MM_MEM_RESERVE, 0, a, RW,
               MM_MEM_PRIVATE);
  check_region(sys, pid, a + (1ull << 43), a + (1ull << 43), 0x1000,
               MM_MEM_COMMIT, RW, a, RW, MM_MEM_PRIVATE);
  check_region(sys, pid, a + (1ull << 43) + 0x1000, a + (1ull << 43) + 0x1000,
               (1ull << 43) - 0x1000, MM_MEM_RESERVE, 0, a, RW,
               MM_MEM_PRIVATE);
  uint32_t old;
  uint64_t b = a, s = 1ull << 44;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_NOT_COMMITTED);
  free_ok(sys, pid, a, 0, MM_MEM_RELEASE);
  assert_int_equal(proc_commit(sys, pid), 0);
  END(sys);
}

/* ------------------------------------------------- A.4.3 private set */

static void private_protection_set(void **state) {
  (void)state;
  static const struct { uint32_t prot; bool ok; } rows[] = {
    { MM_PAGE_NOACCESS, true }, { MM_PAGE_READONLY, true },
    { MM_PAGE_READWRITE, true }, { MM_PAGE_WRITECOPY, false },
    { MM_PAGE_EXECUTE, true }, { MM_PAGE_EXECUTE_READ, true },
    { MM_PAGE_EXECUTE_READWRITE, true }, { MM_PAGE_EXECUTE_WRITECOPY, false },
    { MM_PAGE_READWRITE | MM_PAGE_GUARD, true },
    { MM_PAGE_READWRITE | MM_PAGE_NOCACHE, true },
    { MM_PAGE_EXECUTE_READ | MM_PAGE_WRITECOMBINE, true },
    { MM_PAGE_WRITECOPY | MM_PAGE_GUARD, false },
  };
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 0x1000, RC, RW);
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    mm_status want = rows[i].ok ? MM_STATUS_SUCCESS
                                : MM_STATUS_INVALID_PAGE_PROTECTION;
    uint64_t b = 0, s = 0x1000;
    assert_status(alloc(sys, pid, &b, &s, RC, rows[i].prot), want);
    b = a, s = 0x1000;
    assert_status(alloc(sys, pid, &b, &s, C, rows[i].prot), want);
    uint32_t old;
    b = a, s = 0x1000;
    assert_status(mm_protect(sys, pid, &b, &s, rows[i].prot, &old), want);
    alloc_ok(sys, pid, a, 0x1000, C, RW);
  }
  END(sys);
}

/* -------------------------------------------- A.4.4 VirtualProtect rules */

static void protect_rules(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  const uint64_t a = 0x50000000;
  alloc_ok(sys, pid, a, 0x10000, R, RW);
  alloc_ok(sys, pid, a, 0x8000, C, RW);
  alloc_ok(sys, pid, a + 0x8000, 0x8000, C, MM_PAGE_EXECUTE_READWRITE);
  uint32_t old = 0xdead;
  /* old = the first page's; addr+1 size 1 covers one page */
  uint64_t b = a + 1, s = 1;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old), MM_STATUS_SUCCESS);
  assert_hex(b, a);
  assert_hex(s, 0x1000);
  assert_hex(old, RW);
  b = a, s = 0x10000;
  assert_status(mm_protect(sys, pid, &b, &s, MM_PAGE_EXECUTE_READ, &old),
                MM_STATUS_SUCCESS);
  assert_hex(old, RO);
  check_region(sys, pid, a, a, 0x10000, MM_MEM_COMMIT, MM_PAGE_EXECUTE_READ, a,
               RW, MM_MEM_PRIVATE);                /* AllocationProtect stays */
  b = a + 0x1000, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RW, &old), MM_STATUS_SUCCESS);
  /* not all committed: nothing changes, old = NOACCESS */
  free_ok(sys, pid, a + 0xF000, 0x1000, MM_MEM_DECOMMIT);
  old = 0xdead;
  b = a, s = 0x10000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_NOT_COMMITTED);
  assert_hex(old, MM_PAGE_NOACCESS);
  assert_hex(b, a);
  assert_hex(s, 0x10000);
  check_region(sys, pid, a, a, 0x1000, MM_MEM_COMMIT, MM_PAGE_EXECUTE_READ, a,
               RW, MM_MEM_PRIVATE);
  check_region(sys, pid, a + 0x1000, a + 0x1000, 0x1000, MM_MEM_COMMIT, RW, a,
               RW, MM_MEM_PRIVATE);
  /* free memory: CONFLICTING_ADDRESSES, old = NOACCESS */
  old = 0xdead;
  b = 0x60000000, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_CONFLICTING_ADDRESSES);
  assert_hex(old, MM_PAGE_NOACCESS);
  /* two reservations */
  alloc_ok(sys, pid, a + 0x10000, 0x10000, RC, RW);
  b = a + 0xE000, s = 0x4000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* parameter errors */
  b = a, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, NULL),
                MM_STATUS_ACCESS_VIOLATION);
  assert_status(mm_protect(sys, pid, &b, &s, RO | MM_PAGE_EXECUTE, &old),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  b = a, s = 0;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_INVALID_PARAMETER_3);
  b = 0x800000000000ull, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old),
                MM_STATUS_INVALID_PARAMETER_2);
  /* the protection takes effect */
  b = a + 0x10000, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old), MM_STATUS_SUCCESS);
  assert_int_equal(mm_access(sys, pid, a + 0x10000, MM_WRITE),
                   MM_ACCESS_VIOLATION);
  assert_int_equal(mm_access(sys, pid, a + 0x10000, MM_READ), MM_DEMAND_ZERO);
  END(sys);
}

static void protect_nocache_sticks(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  const uint32_t NC = MM_PAGE_NOCACHE;
  uint64_t a = alloc_ok(sys, pid, 0, 0x2000, RC, RW | NC);
  uint32_t old;
  uint64_t b = a, s = 0x2000;
  assert_status(mm_protect(sys, pid, &b, &s, RW, &old), MM_STATUS_SUCCESS);
  assert_hex(old, RW | NC);
  check_region(sys, pid, a, a, 0x2000, MM_MEM_COMMIT, RW | NC, a, RW | NC,
               MM_MEM_PRIVATE);
  b = a, s = 0x2000;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old), MM_STATUS_SUCCESS);
  assert_hex(old, RW | NC);
  check_region(sys, pid, a, a, 0x2000, MM_MEM_COMMIT, RO | NC, a, RW | NC,
               MM_MEM_PRIVATE);
  /* committed without NOCACHE: asking for it later gives plain READONLY */
  uint64_t c = alloc_ok(sys, pid, 0, 0x1000, RC, RW);
  b = c, s = 0x1000;
  assert_status(mm_protect(sys, pid, &b, &s, RO | NC, &old),
                MM_STATUS_SUCCESS);
  assert_hex(old, RW);
  check_region(sys, pid, c, c, 0x1000, MM_MEM_COMMIT, RO, c, RW,
               MM_MEM_PRIVATE);
  END(sys);
}

/* ------------------------------------------------ A.2.8 MEM_RESET */

static void mem_reset(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0x50000000, 0x4000, R, RW);
  alloc_ok(sys, pid, a, 0x2000, C, RO);
  assert_int_equal(mm_access(sys, pid, a, MM_READ), MM_DEMAND_ZERO);
  uint64_t charge = sys_charge(sys);
  uint64_t b = a + 0x10, s = 0x3000;       /* committed and reserved pages */
  assert_status(alloc(sys, pid, &b, &s, MM_MEM_RESET, MM_PAGE_NOACCESS),
                MM_STATUS_SUCCESS);
  assert_hex(b, a);
  assert_hex(s, 0x4000);
  check_region(sys, pid, a, a, 0x2000, MM_MEM_COMMIT, RO, a, RW,
               MM_MEM_PRIVATE);
  check_region(sys, pid, a + 0x2000, a + 0x2000, 0x2000, MM_MEM_RESERVE, 0, a,
               RW, MM_MEM_PRIVATE);
  assert_int_equal(sys_charge(sys), charge);
  /* protection ignored but must be valid */
  b = a, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, MM_MEM_RESET, 0),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  /* past the reservation, or nothing there */
  b = a + 0x3000, s = 0x2000;
  assert_status(alloc(sys, pid, &b, &s, MM_MEM_RESET, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  b = 0x60000000, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, MM_MEM_RESET, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  END(sys);
}

/* ------------------------------------------------ A.14 large pages */

static void large_page_flags(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  const uint32_t LP = MM_MEM_LARGE_PAGES | RC;
  uint64_t lps = mm_large_page_size(sys);
  uint64_t b = 0, s = lps + 0x1000;
  assert_status(alloc(sys, pid, &b, &s, LP, RW), MM_STATUS_INVALID_PARAMETER_4);
  b = 0x40000000 + 0x10000, s = lps;
  assert_status(alloc(sys, pid, &b, &s, LP, RW), MM_STATUS_INVALID_PARAMETER_2);
  b = 0, s = lps;
  assert_status(alloc(sys, pid, &b, &s, LP, MM_PAGE_WRITECOPY),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  alloc_ok(sys, pid, 0x40000000, 0x1000, R, RW);
  b = 0x40000000, s = lps;
  assert_status(alloc(sys, pid, &b, &s, LP, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* a valid request: whatever large_alloc answers, a failure leaves the
  ** address space as it was */
  b = 0x80000000, s = 2 * lps;
  mm_status st = alloc(sys, pid, &b, &s, LP, RW);
  if (st == MM_STATUS_SUCCESS) {
    check_region(sys, pid, 0x80000000, 0x80000000, 2 * lps, MM_MEM_COMMIT, RW,
                 0x80000000, RW, MM_MEM_PRIVATE);
    b = 0x80000000, s = 0x1000;
    assert_status(alloc(sys, pid, &b, &s, C, RW),
                  MM_STATUS_CONFLICTING_ADDRESSES);
  } else {
    check_free(sys, pid, 0x80000000, 0x80000000, 0x7FFFFFFF0000ull - 0x80000000);
  }
  END(sys);
}

/* Large pages are protected and freed whole (A.14; pagelab's rule). */
static void large_page_free(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  const uint32_t LP = MM_MEM_LARGE_PAGES | RC;
  uint64_t lps = mm_large_page_size(sys);
  uint64_t b = 0, s = 2 * lps;
  mm_status st = alloc(sys, pid, &b, &s, LP | MM_MEM_TOP_DOWN, RW);
  if (st != MM_STATUS_SUCCESS) skip();          /* large_alloc not there yet */
  assert_hex(b % lps, 0);
  assert_int_equal(proc_commit(sys, pid), 2 * lps / 0x1000);
  uint32_t old;
  uint64_t x = b, n = 0x1000;
  assert_status(mm_protect(sys, pid, &x, &n, RO, &old),
                MM_STATUS_CONFLICTING_ADDRESSES);
  assert_status(free_st(sys, pid, b, 0x1000, MM_MEM_DECOMMIT),
                MM_STATUS_UNABLE_TO_FREE_VM);
  assert_status(free_st(sys, pid, b + lps / 2, lps, MM_MEM_RELEASE),
                MM_STATUS_UNABLE_TO_FREE_VM);
  free_ok(sys, pid, b + lps, lps, MM_MEM_DECOMMIT);
  check_region(sys, pid, b, b, lps, MM_MEM_COMMIT, RW, b, RW, MM_MEM_PRIVATE);
  check_region(sys, pid, b + lps, b + lps, lps, MM_MEM_RESERVE, 0, b, RW,
               MM_MEM_PRIVATE);
  x = b + lps, n = 0x1000;
  assert_status(alloc(sys, pid, &x, &n, C, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  free_ok(sys, pid, b, 0, MM_MEM_RELEASE);
  assert_int_equal(proc_commit(sys, pid), 0);
  mm_pstats ps;
  assert_status(mm_process_stats(sys, pid, &ps), MM_STATUS_SUCCESS);
  assert_int_equal(ps.large_pages, 0);
  END(sys);
}

/* ------------------------------------------------ A.6 commit limit */

static void commit_limit(void **state) {
  (void)state;
  /* 1 MiB of RAM, no page file: a limit of about 256 pages */
  mm_system *sys = tu_system(MiB(1), 0);
  mm_pid pid = tu_process(sys);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  uint64_t limit = ss.commit_limit, charge = ss.commit_charge;
  assert_true(limit < 512);
  uint64_t a = alloc_ok(sys, pid, 0, MiB(4), R, RW);
  uint64_t b = a, s = MiB(2);
  assert_status(alloc(sys, pid, &b, &s, C, RW), MM_STATUS_COMMITMENT_LIMIT);
  check_region(sys, pid, a, a, MiB(4), MM_MEM_RESERVE, 0, a, RW,
               MM_MEM_PRIVATE);
  assert_int_equal(sys_charge(sys), charge);
  /* reserve+commit anywhere: nothing is left behind */
  b = 0, s = MiB(2);
  assert_status(alloc(sys, pid, &b, &s, RC, RW), MM_STATUS_COMMITMENT_LIMIT);
  assert_hex(b, 0);
  uint64_t next = alloc_ok(sys, pid, 0, 0x10000, R, RW);
  assert_hex(next, a + MiB(4));
  /* up to the limit, then one page more fails, re-commit is free */
  uint64_t room = (limit - sys_charge(sys)) * 0x1000;
  alloc_ok(sys, pid, a, room, C, RW);
  b = a + room, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, C, RW), MM_STATUS_COMMITMENT_LIMIT);
  check_region(sys, pid, a + room, a + room, MiB(4) - room, MM_MEM_RESERVE, 0,
               a, RW, MM_MEM_PRIVATE);
  alloc_ok(sys, pid, a, room, C, RO);
  free_ok(sys, pid, a, 0x1000, MM_MEM_DECOMMIT);
  alloc_ok(sys, pid, a + room, 0x1000, C, RW);
  END(sys);
}

/* --------------------------------------------- other page sizes */

static void page_size_512(void **state) {
  (void)state;
  mm_system *sys = sys_with(MM_ARCH_X64, 512, MiB(16), MiB(16));
  mm_pid pid = tu_process(sys);
  assert_int_equal(mm_page_size(sys), 512);
  /* A.2.1 with 512-byte pages: the end rounds up to 512, base to 64 KiB */
  uint64_t b = 0x50000010, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x1200);
  b = 0x500001FF, s = 2;                  /* two bytes, two pages */
  assert_status(alloc(sys, pid, &b, &s, C, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x400);
  check_region(sys, pid, 0x50000100, 0x50000000, 0x400, MM_MEM_COMMIT, RW,
               0x50000000, RW, MM_MEM_PRIVATE);
  check_region(sys, pid, 0x50000400, 0x50000400, 0xE00, MM_MEM_RESERVE, 0,
               0x50000000, RW, MM_MEM_PRIVATE);
  check_free(sys, pid, 0x50001200, 0x50001200, 0x7FFFFFFF0000ull - 0x50001200);
  assert_int_equal(proc_commit(sys, pid), 2);
  /* the dead tail is still 64 KiB-granular */
  b = 0x50008000, s = 1;
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* anywhere: rounded to a 512-byte page */
  b = 0, s = 0x201;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_SUCCESS);
  assert_hex(s, 0x400);
  assert_hex(b, 0x20000);
  /* decommit rounds to 512 too */
  b = 0x500001FF, s = 1;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_DECOMMIT), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x200);
  assert_int_equal(proc_commit(sys, pid), 1);
  END(sys);
}

static void page_size_64k(void **state) {
  (void)state;
  mm_system *sys = sys_with(MM_ARCH_X64, 0x10000, MiB(16), MiB(16));
  mm_pid pid = tu_process(sys);
  uint64_t b = 0x50008000, s = 1;
  assert_status(alloc(sys, pid, &b, &s, R, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x10000);
  b = 0x5000FFFF, s = 2;                  /* crosses into the next page */
  assert_status(alloc(sys, pid, &b, &s, R, RW),
                MM_STATUS_CONFLICTING_ADDRESSES);
  b = 0x50001000, s = 1;
  assert_status(alloc(sys, pid, &b, &s, C, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x10000);
  check_region(sys, pid, 0x5000ABCD, 0x50000000, 0x10000, MM_MEM_COMMIT, RW,
               0x50000000, RW, MM_MEM_PRIVATE);
  b = 0, s = 1;
  assert_status(alloc(sys, pid, &b, &s, RC, RW), MM_STATUS_SUCCESS);
  assert_hex(b, 0x20000);
  assert_hex(s, 0x10000);
  uint32_t old;
  b = 0x50000001, s = 1;
  assert_status(mm_protect(sys, pid, &b, &s, RO, &old), MM_STATUS_SUCCESS);
  assert_hex(b, 0x50000000);
  assert_hex(s, 0x10000);
  b = 0x50000FFF, s = 0;
  assert_status(mm_free(sys, pid, &b, &s, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  assert_hex(s, 0x10000);
  assert_int_equal(proc_commit(sys, pid), 1);
  END(sys);
}

/* ----------------------------------------------- processes */

static void terminate_returns_commit(void **state) {
  (void)state;
  mm_system *sys = sys_default();
  mm_pid pid = tu_process(sys);
  mm_pid other = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 0x40000, RC, RW);
  alloc_ok(sys, other, 0, 0x3000, RC, RW);
  for (uint64_t x = a; x < a + 0x40000; x += 0x1000)
    mm_access(sys, pid, x, MM_WRITE);
  assert_int_equal(sys_charge(sys), 0x43);
  assert_status(mm_process_terminate(sys, pid), MM_STATUS_SUCCESS);
  assert_int_equal(sys_charge(sys), 3);
  uint64_t b = 0, s = 0x1000;
  assert_status(alloc(sys, pid, &b, &s, RC, RW),
                MM_STATUS_PROCESS_IS_TERMINATING);
  mm_region r;
  assert_status(mm_query(sys, 99, 0x20000, &r), MM_STATUS_INVALID_HANDLE);
  /* address spaces are separate */
  check_free(sys, other, a + 0x10000, a + 0x10000, 0x7FFFFFFF0000ull - a -
             0x10000);
  END(sys);
}

/* vad.c's own walker (meant for check_all) after a mixed sequence. */
static void vad_invariants_hold(void **state) {
  (void)state;
  mm_system *sys = sys_with(MM_ARCH_X86, 0, MiB(16), MiB(16));
  mm_pid pid = tu_process(sys);
  uint64_t a = alloc_ok(sys, pid, 0, 0x40000, RC, RW);
  alloc_ok(sys, pid, 0, 0x3000, R | MM_MEM_TOP_DOWN, RO);
  for (uint64_t x = a; x < a + 0x40000; x += 0x3000)
    mm_access(sys, pid, x, MM_WRITE);
  free_ok(sys, pid, a + 0x5000, 0x7000, MM_MEM_RELEASE);
  free_ok(sys, pid, a + 0x20000, 0x1000, MM_MEM_DECOMMIT);
  mm_process *p = sys->procs[pid - 1];
  if (vad_check(sys, p) != 0) fail_msg("%s", mm_last_error(sys));
  assert_int_equal(vad_find(p, 0x10), 0);            /* the 0x10000 region */
  assert_int_equal(vad_find(p, (a + 0x5000) >> 12), -1);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(reserve_rounding_table),
    cmocka_unit_test(reserve_without_base),
    cmocka_unit_test(commit_two_bytes_across_pages),
    cmocka_unit_test(commit_needs_one_reservation),
    cmocka_unit_test(reserve_commit_unaligned),
    cmocka_unit_test(recommit_changes_protection_charges_once),
    cmocka_unit_test(allocation_type_rejections),
    cmocka_unit_test(lowest_address),
    cmocka_unit_test(upper_bounds),
    cmocka_unit_test(arch_user_ranges),
    cmocka_unit_test(top_down_picks_highest),
    cmocka_unit_test(dead_granule_tail),
    cmocka_unit_test(free_type_rejections),
    cmocka_unit_test(free_size_zero_rules),
    cmocka_unit_test(free_range_rules),
    cmocka_unit_test(partial_release_prefix),
    cmocka_unit_test(partial_release_middle),
    cmocka_unit_test(partial_release_suffix),
    cmocka_unit_test(query_after_release),
    cmocka_unit_test(query_region_splitting),
    cmocka_unit_test(huge_reservation),
    cmocka_unit_test(private_protection_set),
    cmocka_unit_test(protect_rules),
    cmocka_unit_test(protect_nocache_sticks),
    cmocka_unit_test(mem_reset),
    cmocka_unit_test(large_page_flags),
    cmocka_unit_test(large_page_free),
    cmocka_unit_test(commit_limit),
    cmocka_unit_test(page_size_512),
    cmocka_unit_test(page_size_64k),
    cmocka_unit_test(terminate_returns_commit),
    cmocka_unit_test(vad_invariants_hold),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
