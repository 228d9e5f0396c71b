/* test_views.c — VMMap and RAMMap summaries (core/views.h): every page and
** every frame counted once, in the right row, and the totals agree with
** the counters the rest of the core keeps. */
#include "testutil.h"

#define PAGE 4096u

static mm_system *vsys(uint64_t ram, bool contents) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = ram;
  cfg.pagefile = MiB(8);
  cfg.contents = contents;
  cfg.tune.refs_per_second = 1u << 30;      /* the manager stays out */
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

static mm_handle section(mm_system *sys, uint64_t size, mm_handle file) {
  mm_section_config sc = { size, MM_PAGE_READWRITE, 0, file, NULL };
  mm_handle h;
  assert_status(mm_section_create(sys, &sc, &h, NULL), MM_STATUS_SUCCESS);
  return h;
}

static uint64_t map(mm_system *sys, mm_pid p, mm_handle s, uint32_t prot) {
  uint64_t base = 0, size = 0;
  assert_status(mm_map_view(sys, p, s, &base, 0, &size, prot, 0, 0),
                MM_STATUS_SUCCESS);
  return base;
}

static uint64_t alloc(mm_system *sys, mm_pid p, uint64_t size, uint32_t type) {
  uint64_t base = 0;
  assert_status(mm_allocate(sys, p, &base, &size, type, MM_PAGE_READWRITE),
                MM_STATUS_SUCCESS);
  return base;
}

static void vmmap(mm_system *sys, mm_pid p, mm_vmmap_row *rows) {
  size_t n = MM_VMMAP_TYPES;
  assert_status(mm_vmmap(sys, p, rows, &n), MM_STATUS_SUCCESS);
  assert_int_equal(n, MM_VMMAP_TYPES);
}

static void rammap(mm_system *sys, mm_rammap_row *rows) {
  size_t n = MM_RAMMAP_USES;
  mm_rammap(sys, rows, &n);
  assert_int_equal(n, MM_RAMMAP_USES);
}

/* What every vmmap must satisfy: the rows but page_table (kernel space)
** tile the user range, the ws
** columns add up to the working set, and ws splits into private and
** shareable. */
static void vmmap_consistent(mm_system *sys, mm_pid p, const mm_vmmap_row *r) {
  const mm_arch_info *ai = mm_arch_get(MM_ARCH_X64);
  uint64_t size = 0, ws = 0;
  for (int t = 0; t < MM_VMMAP_TYPES; t++) {
    if (t != MM_VMMAP_PAGE_TABLE) size += r[t].size;
    ws += r[t].ws;
    assert_int_equal(r[t].ws, r[t].ws_private + r[t].ws_shareable);
    assert_true(r[t].ws_shared <= r[t].ws_shareable);
    assert_true(r[t].committed <= r[t].size);
  }
  assert_int_equal(size, ai->user_hi + 1 - ai->user_lo);
  mm_pstats ps;
  assert_status(mm_process_stats(sys, p, &ps), MM_STATUS_SUCCESS);
  assert_int_equal(ws, ps.ws_size * PAGE);
  assert_int_equal(r[MM_VMMAP_PAGE_TABLE].size, ps.page_table_pages * PAGE);
}

/* The frame rows add up to the frame count, and each list column to the
** list of mm_system_stats. */
static void rammap_consistent(mm_system *sys, const mm_rammap_row *r) {
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  uint64_t col[MM_RAMMAP_LISTS] = { 0 }, total = 0;
  for (int u = 0; u < MM_RAMMAP_USES; u++) {
    uint64_t sum = 0;
    for (int l = 0; l < MM_RAMMAP_LISTS; l++) sum += r[u].list[l];
    assert_int_equal(sum, r[u].total);
    if (u == MM_RAMMAP_PAGE_TABLE) continue;     /* pages, not frames */
    total += r[u].total;
    for (int l = 0; l < MM_RAMMAP_LISTS; l++) col[l] += r[u].list[l];
  }
  assert_int_equal(total, ss.total_frames);
  assert_int_equal(col[MM_RAMMAP_ACTIVE], ss.active);
  assert_int_equal(col[MM_RAMMAP_STANDBY], ss.standby);
  assert_int_equal(col[MM_RAMMAP_MODIFIED], ss.modified);
  assert_int_equal(col[MM_RAMMAP_MODIFIED_NOWRITE], ss.modified_nowrite);
  assert_int_equal(col[MM_RAMMAP_TRANSITION], 0);
  assert_int_equal(col[MM_RAMMAP_ZEROED], ss.zeroed);
  assert_int_equal(col[MM_RAMMAP_FREE], ss.free);
  assert_int_equal(col[MM_RAMMAP_BAD], ss.bad);
  /* the System process's tables (pools) come on top of the processes' */
  assert_true(r[MM_RAMMAP_PAGE_TABLE].total >= ss.page_table_pages);
  /* unused frames are exactly the free, zeroed and bad ones */
  assert_int_equal(r[MM_RAMMAP_UNUSED].total, ss.free + ss.zeroed + ss.bad);
}

static void names(void **state) {
  (void)state;
  assert_string_equal(mm_vmmap_type_name(MM_VMMAP_MAPPED_FILE), "mapped_file");
  assert_string_equal(mm_vmmap_type_name(MM_VMMAP_FREE), "free");
  assert_null(mm_vmmap_type_name(MM_VMMAP_TYPES));
  assert_null(mm_vmmap_type_name(-1));
  assert_string_equal(mm_rammap_list_name(MM_RAMMAP_MODIFIED_NOWRITE),
                      "modified_nowrite");
  assert_null(mm_rammap_list_name(MM_RAMMAP_LISTS));
  assert_string_equal(mm_rammap_use_name(MM_RAMMAP_NONPAGED_POOL),
                      "nonpaged_pool");
  assert_null(mm_rammap_use_name(MM_RAMMAP_USES));
}

/* A fresh process: the region at 0x10000 (shareable, reserved), its page
** tables, and free space; nothing resident. */
static void vmmap_empty_process(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), false);
  mm_pid p = tu_process(sys);
  mm_vmmap_row r[MM_VMMAP_TYPES];
  vmmap(sys, p, r);
  vmmap_consistent(sys, p, r);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].size, KiB(64));
  assert_int_equal(r[MM_VMMAP_SHAREABLE].committed, 0);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].blocks, 1);
  assert_int_equal(r[MM_VMMAP_PRIVATE].size, 0);
  assert_int_equal(r[MM_VMMAP_UNUSABLE].size, 0);
  assert_int_equal(r[MM_VMMAP_FREE].blocks, 1);
  END(sys);
}

/* Private memory: committed and reserved runs are separate blocks, only
** touched pages are in the working set, the rest of a granule is
** unusable, a huge reservation costs nothing to walk. */
static void vmmap_private(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), false);
  mm_pid p = tu_process(sys);
  uint64_t a = alloc(sys, p, KiB(64), MM_MEM_RESERVE);
  uint64_t cb = a, cs = 2 * PAGE;
  assert_status(mm_allocate(sys, p, &cb, &cs, MM_MEM_COMMIT, MM_PAGE_READWRITE),
                MM_STATUS_SUCCESS);
  assert_int_equal(mm_access(sys, p, a, MM_WRITE), MM_DEMAND_ZERO);
  uint64_t small = alloc(sys, p, PAGE, MM_MEM_RESERVE | MM_MEM_COMMIT);
  alloc(sys, p, GiB(1024), MM_MEM_RESERVE);          /* 1 TiB reserved */
  mm_vmmap_row r[MM_VMMAP_TYPES];
  vmmap(sys, p, r);
  vmmap_consistent(sys, p, r);
  const mm_vmmap_row *pr = &r[MM_VMMAP_PRIVATE];
  assert_int_equal(pr->size, KiB(64) + PAGE + GiB(1024));
  assert_int_equal(pr->committed, 3 * PAGE);
  assert_int_equal(pr->ws, PAGE);
  assert_int_equal(pr->ws_private, PAGE);
  assert_int_equal(pr->ws_shareable, 0);
  /* blocks: committed + reserved in the first, one in the second, one in
  ** the reservation */
  assert_int_equal(pr->blocks, 4);
  assert_int_equal(r[MM_VMMAP_UNUSABLE].size, KiB(64) - PAGE);
  assert_int_equal(r[MM_VMMAP_UNUSABLE].blocks, 1);
  /* a protection change splits a committed run */
  uint64_t pb = a + PAGE, psz = PAGE;
  uint32_t old;
  assert_status(mm_protect(sys, p, &pb, &psz, MM_PAGE_READONLY, &old),
                MM_STATUS_SUCCESS);
  vmmap(sys, p, r);
  assert_int_equal(r[MM_VMMAP_PRIVATE].blocks, 5);
  /* release: the unusable tail goes with the allocation */
  uint64_t fb = small, fs = 0;
  assert_status(mm_free(sys, p, &fb, &fs, MM_MEM_RELEASE), MM_STATUS_SUCCESS);
  vmmap(sys, p, r);
  vmmap_consistent(sys, p, r);
  assert_int_equal(r[MM_VMMAP_UNUSABLE].size, 0);
  END(sys);
}

/* Private memory, a shared page-file view, a file view and a
** copy-on-write view in one process: each in its row, the copied page
** counted as private working set inside its view's row. */
static void vmmap_views_and_cow(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), true);
  mm_pid p = tu_process(sys), q = tu_process(sys);
  uint64_t a = alloc(sys, p, 4 * PAGE, MM_MEM_RESERVE | MM_MEM_COMMIT);
  mm_access(sys, p, a, MM_WRITE);
  mm_handle shm = section(sys, KiB(64), 0);
  uint64_t vp = map(sys, p, shm, MM_PAGE_READWRITE);
  uint64_t vq = map(sys, q, shm, MM_PAGE_READWRITE);
  mm_access(sys, p, vp, MM_WRITE);                   /* shared by p and q */
  mm_access(sys, q, vq, MM_READ);
  mm_access(sys, p, vp + PAGE, MM_READ);             /* p's alone */
  mm_handle f;
  assert_status(mm_file_create(sys, "data.bin", KiB(128), &f), MM_STATUS_SUCCESS);
  mm_handle fs = section(sys, 0, f);
  uint64_t vf = map(sys, p, fs, MM_PAGE_READONLY);
  assert_int_equal(mm_access(sys, p, vf, MM_READ), MM_HARD);
  uint64_t vc = map(sys, p, shm, MM_PAGE_WRITECOPY);
  assert_int_equal(mm_access(sys, p, vc, MM_READ), MM_SOFT);
  assert_int_equal(mm_access(sys, p, vc + 2 * PAGE, MM_WRITE), MM_COW);

  mm_vmmap_row r[MM_VMMAP_TYPES];
  vmmap(sys, p, r);
  vmmap_consistent(sys, p, r);
  const mm_vmmap_row *pr = &r[MM_VMMAP_PRIVATE];
  assert_int_equal(pr->size, 4 * PAGE);
  assert_int_equal(pr->ws, PAGE);
  const mm_vmmap_row *sh = &r[MM_VMMAP_SHAREABLE];
  /* the region at 0x10000, the read-write view, the copy-on-write view */
  assert_int_equal(sh->size, 3 * KiB(64));
  assert_int_equal(sh->committed, 2 * KiB(64));
  assert_int_equal(sh->ws, 4 * PAGE);
  assert_int_equal(sh->ws_private, PAGE);            /* the copy */
  assert_int_equal(sh->ws_shareable, 3 * PAGE);
  /* section page 0 is one frame mapped by vp, vq and vc (share 3): p
  ** counts it twice, both shared; page 1 is vp's alone */
  assert_int_equal(sh->ws_shared, 2 * PAGE);
  /* 0x10000 (1); rw view (1); cow view: writecopy, readwrite, writecopy */
  assert_int_equal(sh->blocks, 5);
  const mm_vmmap_row *mf = &r[MM_VMMAP_MAPPED_FILE];
  assert_int_equal(mf->size, KiB(128));
  assert_int_equal(mf->committed, KiB(128));
  assert_int_equal(mf->ws, PAGE);
  assert_int_equal(mf->ws_shareable, PAGE);
  assert_int_equal(mf->ws_shared, 0);
  assert_int_equal(r[MM_VMMAP_IMAGE].size, 0);

  /* q sees the shared page as shared, nothing private */
  vmmap(sys, q, r);
  vmmap_consistent(sys, q, r);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].ws, PAGE);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].ws_shared, PAGE);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].ws_private, 0);
  /* once p unmaps its views the page is q's alone: shareable, not shared */
  assert_status(mm_unmap_view(sys, p, vp), MM_STATUS_SUCCESS);
  assert_status(mm_unmap_view(sys, p, vc), MM_STATUS_SUCCESS);
  vmmap(sys, q, r);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].ws_shareable, PAGE);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].ws_shared, 0);
  END(sys);
}

/* A SEC_RESERVE view: committed only where the section is. */
static void vmmap_reserve_section(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), false);
  mm_pid p = tu_process(sys);
  mm_section_config sc = { KiB(64), MM_PAGE_READWRITE, MM_SEC_RESERVE, 0, NULL };
  mm_handle s;
  assert_status(mm_section_create(sys, &sc, &s, NULL), MM_STATUS_SUCCESS);
  uint64_t v = 0, n = 0;
  assert_status(mm_map_view(sys, p, s, &v, 0, &n, MM_PAGE_READWRITE, 3 * PAGE, 0),
                MM_STATUS_SUCCESS);
  mm_vmmap_row r[MM_VMMAP_TYPES];
  vmmap(sys, p, r);
  vmmap_consistent(sys, p, r);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].committed, 3 * PAGE);
  assert_int_equal(r[MM_VMMAP_SHAREABLE].blocks, 3);   /* 0x10000, c, r */
  END(sys);
}

static void vmmap_failures(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), false);
  mm_pid p = tu_process(sys);
  mm_vmmap_row r[MM_VMMAP_TYPES];
  size_t n = 2;
  assert_status(mm_vmmap(sys, p, r, &n), MM_STATUS_INVALID_PARAMETER);
  assert_int_equal(n, MM_VMMAP_TYPES);
  n = MM_VMMAP_TYPES;
  assert_status(mm_vmmap(sys, 99, r, &n), MM_STATUS_INVALID_HANDLE);
  assert_status(mm_process_terminate(sys, p), MM_STATUS_SUCCESS);
  assert_status(mm_vmmap(sys, p, r, &n), MM_STATUS_PROCESS_IS_TERMINATING);
  mm_rammap_row rr[MM_RAMMAP_USES];
  n = 3;
  mm_rammap(sys, rr, &n);
  assert_int_equal(n, 0);
  END(sys);
}

/* RAMMap: uses and lists through a page's life; totals always agree with
** the system counters. */
static void rammap_life(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), false);
  mm_rammap_row r[MM_RAMMAP_USES];
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_UNUSED].total, MiB(4) / PAGE);
  mm_pid p = tu_process(sys);
  uint64_t a = alloc(sys, p, 8 * PAGE, MM_MEM_RESERVE | MM_MEM_COMMIT);
  for (int k = 0; k < 8; k++) mm_access(sys, p, a + k * PAGE, MM_WRITE);
  mm_handle shm = section(sys, KiB(64), 0);
  uint64_t v = map(sys, p, shm, MM_PAGE_READWRITE);
  mm_access(sys, p, v, MM_WRITE);
  mm_access(sys, p, v + PAGE, MM_READ);
  mm_handle f;
  mm_file_create(sys, "f", KiB(64), &f);
  uint64_t vf = map(sys, p, section(sys, 0, f), MM_PAGE_READONLY);
  mm_access(sys, p, vf, MM_READ);
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_PROCESS_PRIVATE].list[MM_RAMMAP_ACTIVE], 8);
  assert_int_equal(r[MM_RAMMAP_SHAREABLE].list[MM_RAMMAP_ACTIVE], 2);
  assert_int_equal(r[MM_RAMMAP_MAPPED_FILE].list[MM_RAMMAP_ACTIVE], 1);
  assert_true(r[MM_RAMMAP_PAGE_TABLE].total > 0);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_int_equal(r[MM_RAMMAP_PAGE_TABLE].total, ss.page_table_pages);
  /* trimmed: private dirty pages go to modified, the clean file page to
  ** standby; their use does not change */
  assert_status(mm_process_set_ws(sys, p, 1, 1, false, true), MM_STATUS_SUCCESS);
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_PROCESS_PRIVATE].total, 8);
  assert_int_equal(r[MM_RAMMAP_SHAREABLE].total, 2);
  assert_int_equal(r[MM_RAMMAP_MAPPED_FILE].total, 1);
  assert_true(r[MM_RAMMAP_PROCESS_PRIVATE].list[MM_RAMMAP_MODIFIED] >= 7);
  /* process exit: private frames are unused again; the file page stays
  ** cached on standby (the file outlives its views) */
  assert_status(mm_process_terminate(sys, p), MM_STATUS_SUCCESS);
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_PROCESS_PRIVATE].total, 0);
  assert_int_equal(r[MM_RAMMAP_MAPPED_FILE].list[MM_RAMMAP_STANDBY], 1);
  assert_int_equal(r[MM_RAMMAP_PAGE_TABLE].total, 0);
  END(sys);
}

/* A page shared by three processes is one frame: RAMMap counts it once,
** and each process's VMMap counts it as shared. */
static void shared_counted_once(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(4), false);
  mm_handle shm = section(sys, KiB(64), 0);
  mm_pid ps[3];
  for (int i = 0; i < 3; i++) {
    ps[i] = tu_process(sys);
    uint64_t v = map(sys, ps[i], shm, MM_PAGE_READWRITE);
    mm_access(sys, ps[i], v, i == 0 ? MM_WRITE : MM_READ);
  }
  mm_rammap_row r[MM_RAMMAP_USES];
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_SHAREABLE].total, 1);
  assert_int_equal(r[MM_RAMMAP_SHAREABLE].list[MM_RAMMAP_ACTIVE], 1);
  for (int i = 0; i < 3; i++) {
    mm_vmmap_row v[MM_VMMAP_TYPES];
    vmmap(sys, ps[i], v);
    vmmap_consistent(sys, ps[i], v);
    assert_int_equal(v[MM_VMMAP_SHAREABLE].ws_shared, PAGE);
  }
  /* every process lets go: the dirty page waits on the modified list,
  ** still a shareable page */
  for (int i = 0; i < 3; i++) mm_process_terminate(sys, ps[i]);
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_SHAREABLE].list[MM_RAMMAP_MODIFIED], 1);
  END(sys);
}

/* Large pages are their own use in RAMMap and committed but outside the
** working set in VMMap. */
static void large_pages(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(16), false);
  mm_pid p = tu_process(sys);
  uint64_t a = alloc(sys, p, MiB(2), MM_MEM_RESERVE | MM_MEM_COMMIT |
                     MM_MEM_LARGE_PAGES);
  assert_int_equal(mm_access(sys, p, a, MM_WRITE), MM_HIT);
  mm_rammap_row r[MM_RAMMAP_USES];
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_int_equal(r[MM_RAMMAP_LARGE_PAGE].total, MiB(2) / PAGE);
  assert_int_equal(r[MM_RAMMAP_PROCESS_PRIVATE].total, 0);
  mm_vmmap_row v[MM_VMMAP_TYPES];
  vmmap(sys, p, v);
  vmmap_consistent(sys, p, v);
  assert_int_equal(v[MM_VMMAP_PRIVATE].committed, MiB(2));
  assert_int_equal(v[MM_VMMAP_PRIVATE].ws, 0);
  END(sys);
}

/* Kernel pools: non-paged frames are their own use; paged pool frames are
** the System process's, and count for it whatever list they are on. */
static void pools(void **state) {
  (void)state;
  mm_system *sys = vsys(MiB(16), false);
  uint64_t np = 0, pg = 0;
  assert_status(mm_pool_alloc(sys, MM_POOL_NONPAGED, 3 * PAGE, 0x316C6F50u, &np),
                MM_STATUS_SUCCESS);
  assert_status(mm_pool_alloc(sys, MM_POOL_PAGED, 2 * PAGE, 0x326C6F50u, &pg),
                MM_STATUS_SUCCESS);
  assert_status(mm_pool_touch(sys, pg, MM_WRITE, NULL), MM_STATUS_SUCCESS);
  mm_rammap_row r[MM_RAMMAP_USES];
  rammap(sys, r);
  rammap_consistent(sys, r);
  assert_true(r[MM_RAMMAP_NONPAGED_POOL].total >= 3);
  assert_int_equal(r[MM_RAMMAP_NONPAGED_POOL].total,
                   r[MM_RAMMAP_NONPAGED_POOL].list[MM_RAMMAP_ACTIVE]);
  assert_true(r[MM_RAMMAP_PAGED_POOL].list[MM_RAMMAP_ACTIVE] >= 2);
  assert_int_equal(r[MM_RAMMAP_PROCESS_PRIVATE].total, 0);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_true(r[MM_RAMMAP_PAGE_TABLE].total > ss.page_table_pages);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(names),
    cmocka_unit_test(vmmap_empty_process),
    cmocka_unit_test(vmmap_private),
    cmocka_unit_test(vmmap_views_and_cow),
    cmocka_unit_test(vmmap_reserve_section),
    cmocka_unit_test(vmmap_failures),
    cmocka_unit_test(rammap_life),
    cmocka_unit_test(shared_counted_once),
    cmocka_unit_test(large_pages),
    cmocka_unit_test(pools),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
