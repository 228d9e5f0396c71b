/* test_pfn.c — the PFN database: lists, order of taking, repurposing, and
** the invariant walker catching corruption. Uses the core's internals. */
#include "testutil.h"
#include "internal.h"

static mm_system *small(void) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = KiB(256);                  /* 64 frames */
  cfg.pagefile = MiB(1);
  cfg.tune.refs_per_second = 1u << 30;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

/* At boot every frame is free; counts equal lengths. */
static void boot_lists(void **state) {
  (void)state;
  mm_system *sys = small();
  assert_int_equal(sys->list[LIST_FREE].count, 64);
  assert_int_equal(sys->list[LIST_ZEROED].count, 0);
  uint64_t n = 0;
  for (uint32_t f = sys->list[LIST_FREE].head; f != MM_NIL; f = sys->pfn[f].next) n++;
  assert_int_equal(n, 64);
  END(sys);
}

/* A.9.5: demand-zero takes zeroed first; a page-in takes free first. */
static void take_order(void **state) {
  (void)state;
  mm_system *sys = small();
  zero_step(sys);                                   /* all 64 zeroed */
  uint32_t f = pfn_take(sys, false);                /* page-in: free empty */
  assert_int_not_equal(f, MM_NIL);
  assert_int_equal(sys->list[LIST_ZEROED].count, 63);
  pfn_release(sys, f);                              /* back to free */
  assert_int_equal(sys->list[LIST_FREE].count, 1);
  uint32_t g = pfn_take(sys, true);                 /* demand-zero: zeroed */
  assert_int_equal(sys->list[LIST_FREE].count, 1);
  assert_int_equal(sys->st.zeroed_on_demand, 0);
  pfn_release(sys, g);
  uint32_t h = pfn_take(sys, false);                /* page-in: oldest free */
  assert_int_equal(h, f);
  assert_int_equal(sys->list[LIST_FREE].count, 1);
  pfn_release(sys, h);
  END(sys);
}

/* Standby is repurposed lowest priority first, oldest first within a
** priority; the old owner's PTE goes back to its slot (a hard fault). */
static void repurpose_order(void **state) {
  (void)state;
  mm_system *sys = small();
  mm_process_config pc = { "p", 1, 70, false, false };
  mm_pid pid;
  mm_process_create(sys, &pc, &pid);
  uint64_t a = 0, n = KiB(512);
  mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT, MM_PAGE_READWRITE);
  for (int k = 0; k < 64; k++) mm_access(sys, pid, a + k * 4096, MM_READ);
  assert_int_equal(avail_pages(sys), 0);
  /* trim pages 0..3 with priority 5, then 4..7 with priority 2, written */
  mm_process *p = sys->procs[pid - 1];
  for (int k = 0; k < 8; k++) {
    sys->cfg.tune.standby_priority = k < 4 ? 5 : 2;
    mm_pte *pte = pt_lookup(p, sys, (a >> 12) + k);
    uint32_t slot = sys->pfn[pte_payload(*pte)].wsslot;
    assert_ptr_equal(p->ws.e[slot].pte, pte);
    ws_trim_slot(sys, p, slot, false);
  }
  mpw_write(sys, 100);
  assert_int_equal(sys->standby[5].count, 4);
  assert_int_equal(sys->standby[2].count, 4);
  /* the next frame taken is page 4's (priority 2, oldest) */
  assert_int_equal(mm_access(sys, pid, a + 64 * 4096, MM_READ), MM_DEMAND_ZERO);
  assert_int_equal(sys->standby[2].count, 3);
  assert_int_equal(sys->st.repurposed, 1);
  assert_int_equal(mm_access(sys, pid, a + 4 * 4096, MM_READ), MM_HARD);
  assert_int_equal(mm_access(sys, pid, a + 0 * 4096, MM_READ), MM_SOFT);
  END(sys);
}

/* The walker notices broken invariants (and says which). */
static void walker_catches_corruption(void **state) {
  (void)state;
  mm_system *sys = small();
  mm_pid pid = tu_process(sys);
  uint64_t a = 0, n = KiB(64);
  mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT, MM_PAGE_READWRITE);
  mm_access(sys, pid, a, MM_WRITE);
  assert_int_equal(mm_check(sys), 0);
  sys->list[LIST_FREE].count++;
  assert_int_equal(mm_check(sys), -1);
  assert_non_null(strstr(mm_last_error(sys), "count"));
  sys->list[LIST_FREE].count--;
  sys->commit_charge += 1000000;
  assert_int_equal(mm_check(sys), -1);
  assert_non_null(strstr(mm_last_error(sys), "commit"));
  sys->commit_charge -= 1000000;
  mm_process *p = sys->procs[pid - 1];
  mm_pte *pte = pt_lookup(p, sys, a >> 12);
  mm_pte keep = *pte;
  *pte &= ~(mm_pte)PTE_HW_R;
  assert_int_equal(mm_check(sys), -1);
  assert_non_null(strstr(mm_last_error(sys), "hardware bits"));
  *pte = keep;
  p->ws.count++;
  assert_int_equal(mm_check(sys), -1);
  p->ws.count--;
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(boot_lists), cmocka_unit_test(take_order),
    cmocka_unit_test(repurpose_order), cmocka_unit_test(walker_catches_corruption),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
