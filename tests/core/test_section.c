/* test_section.c — sections, views, prototype PTEs, copy-on-write, files
** (WINDOWS.md A.3-A.4, A.6, A.9, A.11). */
#include "testutil.h"

static mm_system *csys(bool contents) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(2);
  cfg.pagefile = MiB(8);
  cfg.contents = contents;
  cfg.tune.refs_per_second = 1u << 30;      /* the manager stays out */
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

static mm_handle psection(mm_system *sys, uint64_t size, uint32_t prot,
                          uint32_t attr, const char *name) {
  mm_section_config sc = { size, prot, attr, 0, name };
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

static mm_sstats sstats(mm_system *sys) {
  mm_sstats s;
  mm_system_stats(sys, &s);
  return s;
}

/* A.11.3 / A.6.2: page-file sections round to pages; SEC_COMMIT charges
** all at creation, SEC_RESERVE nothing. */
static void pagefile_section_rules(void **state) {
  (void)state;
  mm_system *sys = csys(false);
  mm_handle s = psection(sys, 4090, MM_PAGE_READWRITE, 0, NULL);
  mm_section_info si;
  assert_status(mm_section_info_get(sys, s, &si), MM_STATUS_SUCCESS);
  assert_int_equal(si.size, 4096);
  assert_int_equal(si.attributes, MM_SEC_COMMIT);
  assert_int_equal(sstats(sys).commit_charge, 1);
  mm_handle r = psection(sys, 0x3452, MM_PAGE_READWRITE, MM_SEC_RESERVE, NULL);
  assert_status(mm_section_info_get(sys, r, &si), MM_STATUS_SUCCESS);
  assert_int_equal(si.size, 0x4000);
  assert_int_equal(si.committed, 0);
  assert_int_equal(sstats(sys).commit_charge, 1);
  static const struct { uint32_t prot, attr; uint64_t size; mm_status st; } bad[] = {
    { MM_PAGE_NOACCESS, 0, 4096, MM_STATUS_INVALID_PAGE_PROTECTION },
    { MM_PAGE_EXECUTE, 0, 4096, MM_STATUS_INVALID_PAGE_PROTECTION },
    { MM_PAGE_READWRITE | MM_PAGE_GUARD, 0, 4096, MM_STATUS_INVALID_PAGE_PROTECTION },
    { MM_PAGE_READWRITE, MM_SEC_RESERVE | MM_SEC_COMMIT, 4096, MM_STATUS_INVALID_PARAMETER_6 },
    { MM_PAGE_READWRITE, MM_SEC_NOCACHE, 4096, MM_STATUS_INVALID_PARAMETER_6 },
    { MM_PAGE_READWRITE, MM_SEC_FILE | MM_SEC_COMMIT, 4096, MM_STATUS_INVALID_PARAMETER_6 },
    { MM_PAGE_READWRITE, MM_SEC_IMAGE, 4096, MM_STATUS_INVALID_FILE_FOR_SECTION },
    { MM_PAGE_READWRITE, MM_SEC_COMMIT, 0, MM_STATUS_INVALID_PARAMETER_4 },
    { MM_PAGE_READWRITE, MM_SEC_RESERVE, GiB(64), MM_STATUS_SECTION_TOO_BIG },
    { MM_PAGE_READWRITE, MM_SEC_COMMIT, MiB(100), MM_STATUS_COMMITMENT_LIMIT },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    mm_section_config sc = { bad[i].size, bad[i].prot, bad[i].attr, 0, NULL };
    mm_handle h;
    assert_status(mm_section_create(sys, &sc, &h, NULL), bad[i].st);
  }
  assert_int_equal(sstats(sys).commit_charge, 1);
  assert_status(mm_section_close(sys, s), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 0);
  assert_status(mm_section_close(sys, s), MM_STATUS_INVALID_HANDLE);
  END(sys);
}

/* A.11.4: a name that exists returns the existing section. */
static void named_sections(void **state) {
  (void)state;
  mm_system *sys = csys(false);
  mm_handle a = psection(sys, 8192, MM_PAGE_READWRITE, 0, "shared1");
  mm_section_config sc = { 4096, MM_PAGE_READWRITE, 0, 0, "shared1" };
  mm_handle b;
  bool existed = false;
  assert_status(mm_section_create(sys, &sc, &b, &existed), MM_STATUS_SUCCESS);
  assert_true(existed);
  assert_int_equal(a, b);
  mm_section_info si;
  mm_section_info_get(sys, b, &si);
  assert_int_equal(si.size, 8192);       /* its own size, not ours */
  /* a view keeps the section alive after every handle closes, but the
  ** name goes with the last handle */
  mm_pid p = tu_process(sys);
  uint64_t v = map(sys, p, a, MM_PAGE_READWRITE);
  mm_section_close(sys, a);
  mm_section_close(sys, a);
  assert_int_equal(mm_access(sys, p, v, MM_WRITE), MM_DEMAND_ZERO);
  mm_handle c;
  assert_status(mm_section_create(sys, &sc, &c, &existed), MM_STATUS_SUCCESS);
  assert_false(existed);
  assert_status(mm_unmap_view(sys, p, v + 100), MM_STATUS_SUCCESS);
  END(sys);
}

/* A.11.5: placement and size rules. */
static void view_rules(void **state) {
  (void)state;
  mm_system *sys = csys(false);
  mm_pid p = tu_process(sys);
  mm_handle s = psection(sys, 0x3452, MM_PAGE_READWRITE, 0, NULL);
  uint64_t b = 0, n = 0x3452;
  assert_status(mm_map_view(sys, p, s, &b, 0, &n, MM_PAGE_READWRITE, 0, 0),
                MM_STATUS_SUCCESS);
  assert_int_equal(b % 0x10000, 0);
  assert_int_equal(n, 0x4000);
  static const struct { uint64_t base, off, size; uint32_t prot, type; mm_status st; } rows[] = {
    { 0, 0, 0x4001, MM_PAGE_READWRITE, 0, MM_STATUS_INVALID_VIEW_SIZE },
    { 0, 1, 0, MM_PAGE_READWRITE, 0, MM_STATUS_MAPPED_ALIGNMENT },
    { 0x30001000, 0, 0, MM_PAGE_READWRITE, 0, MM_STATUS_MAPPED_ALIGNMENT },
    { 0, 0x10000, 0, MM_PAGE_READWRITE, 0, MM_STATUS_INVALID_PARAMETER },
    { 0, 0, 0, MM_PAGE_EXECUTE_READWRITE, 0, MM_STATUS_SECTION_PROTECTION },
    { 0, 0, 0, MM_PAGE_READWRITE, MM_MEM_COMMIT, MM_STATUS_INVALID_PARAMETER_9 },
    { 0, 0, 0, MM_PAGE_READWRITE | MM_PAGE_NOCACHE, 0, MM_STATUS_INVALID_PAGE_PROTECTION },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    uint64_t bb = rows[i].base, nn = rows[i].size;
    assert_status(mm_map_view(sys, p, s, &bb, rows[i].off, &nn, rows[i].prot,
                              0, rows[i].type), rows[i].st);
  }
  /* over an existing view: conflicting; the dead tail too (A.1.6) */
  uint64_t bb = b, nn = 0;
  assert_status(mm_map_view(sys, p, s, &bb, 0, &nn, MM_PAGE_READWRITE, 0, 0),
                MM_STATUS_CONFLICTING_ADDRESSES);
  bb = b + 0x5000;
  uint64_t rs = 4096;
  assert_status(mm_allocate(sys, p, &bb, &rs, MM_MEM_RESERVE, MM_PAGE_READWRITE),
                MM_STATUS_CONFLICTING_ADDRESSES);
  /* query reports mapped, and a view is not private memory */
  mm_region r;
  assert_status(mm_query(sys, p, b + 0x1000, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.type, MM_MEM_MAPPED);
  assert_int_equal(r.state, MM_MEM_COMMIT);
  assert_int_equal(r.allocation_base, b);
  assert_int_equal(r.allocation_protect, MM_PAGE_READWRITE);
  assert_int_equal(r.base, b + 0x1000);
  assert_int_equal(r.size, 0x3000);
  uint64_t fb = b, fs = 4096;
  assert_status(mm_free(sys, p, &fb, &fs, MM_MEM_DECOMMIT),
                MM_STATUS_UNABLE_TO_DELETE_SECTION);
  fb = b; fs = 0;
  assert_status(mm_free(sys, p, &fb, &fs, MM_MEM_RELEASE),
                MM_STATUS_UNABLE_TO_DELETE_SECTION);
  /* unmap: any address inside; not a view: refused */
  uint64_t priv = 0, ps = 4096;
  mm_allocate(sys, p, &priv, &ps, MM_MEM_RESERVE | MM_MEM_COMMIT, MM_PAGE_READWRITE);
  assert_status(mm_unmap_view(sys, p, priv), MM_STATUS_NOT_MAPPED_VIEW);
  assert_status(mm_unmap_view(sys, p, b + 0x3000), MM_STATUS_SUCCESS);
  assert_status(mm_query(sys, p, b, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.state, MM_MEM_FREE);
  assert_status(mm_unmap_view(sys, p, b), MM_STATUS_NOT_MAPPED_VIEW);
  END(sys);
}

/* A.11.7: two processes share one frame; a write in one is seen by the
** other; the page leaves memory only when the last user lets go. */
static void two_processes_share(void **state) {
  (void)state;
  mm_system *sys = csys(true);
  mm_handle s = psection(sys, KiB(64), MM_PAGE_READWRITE, 0, "shm");
  mm_pid a = tu_process(sys), b = tu_process(sys);
  uint64_t va = map(sys, a, s, MM_PAGE_READWRITE);
  uint64_t vb = map(sys, b, s, MM_PAGE_READWRITE);
  assert_status(mm_write(sys, a, va + 10, "hello", 5, NULL), MM_STATUS_SUCCESS);
  mm_sstats before = sstats(sys);
  char buf[8] = { 0 };
  assert_status(mm_read(sys, b, vb + 10, buf, 5, NULL), MM_STATUS_SUCCESS);
  assert_string_equal(buf, "hello");
  mm_pstats pb;
  mm_process_stats(sys, b, &pb);
  assert_int_equal(pb.soft, 1);           /* shared page: soft (A.8) */
  assert_int_equal(pb.private_pages, 0);
  assert_int_equal(pb.ws_size, 1);
  /* one frame for both */
  assert_int_equal(sstats(sys).active, before.active);
  mm_section_info si;
  mm_section_info_get(sys, s, &si);
  assert_int_equal(si.resident, 1);
  /* share 2 → 1: unmapping b keeps the page valid for a */
  assert_status(mm_unmap_view(sys, b, vb), MM_STATUS_SUCCESS);
  mm_section_info_get(sys, s, &si);
  assert_int_equal(si.resident, 1);
  assert_int_equal(sstats(sys).modified, 0);
  /* share 1 → 0: the dirty page goes to the modified list */
  assert_status(mm_unmap_view(sys, a, va), MM_STATUS_SUCCESS);
  mm_section_info_get(sys, s, &si);
  assert_int_equal(si.resident, 0);
  assert_int_equal(sstats(sys).modified, 1);
  /* re-mapping a page still cached is a soft fault, and the data is there */
  va = map(sys, a, s, MM_PAGE_READONLY);
  assert_int_equal(mm_access(sys, a, va + 10, MM_READ), MM_SOFT);
  memset(buf, 0, sizeof buf);
  assert_status(mm_read(sys, a, va + 10, buf, 5, NULL), MM_STATUS_SUCCESS);
  assert_string_equal(buf, "hello");
  assert_int_equal(mm_access(sys, a, va, MM_WRITE), MM_ACCESS_VIOLATION);
  mm_unmap_view(sys, a, va);
  mm_section_close(sys, s);
  assert_int_equal(sstats(sys).commit_charge, 0);
  END(sys);
}

/* A.11.9 / A.4.6 / A.6.2: copy-on-write in two processes. */
static void copy_on_write(void **state) {
  (void)state;
  mm_system *sys = csys(true);
  mm_handle s = psection(sys, KiB(64), MM_PAGE_READWRITE, 0, NULL);
  mm_pid w = tu_process(sys), o = tu_process(sys);
  uint64_t vo = map(sys, o, s, MM_PAGE_READWRITE);
  assert_status(mm_write(sys, o, vo, "orig", 4, NULL), MM_STATUS_SUCCESS);
  uint64_t charge = sstats(sys).commit_charge;
  uint64_t vw = map(sys, w, s, MM_PAGE_WRITECOPY);
  assert_int_equal(sstats(sys).commit_charge, charge + 16);  /* whole view */
  char buf[8] = { 0 };
  assert_status(mm_read(sys, w, vw, buf, 4, NULL), MM_STATUS_SUCCESS);
  assert_string_equal(buf, "orig");
  assert_int_equal(mm_access(sys, w, vw + 8, MM_WRITE), MM_COW);
  assert_status(mm_write(sys, w, vw, "copy", 4, NULL), MM_STATUS_SUCCESS);
  mm_pstats ps;
  mm_process_stats(sys, w, &ps);
  assert_int_equal(ps.cow, 1);
  assert_int_equal(ps.private_pages, 1);
  /* the written page reads back READWRITE; the region splits */
  mm_region r;
  mm_query(sys, w, vw, &r);
  assert_int_equal(r.protect, MM_PAGE_READWRITE);
  assert_int_equal(r.size, 4096);
  assert_int_equal(r.type, MM_MEM_MAPPED);
  mm_query(sys, w, vw + 4096, &r);
  assert_int_equal(r.protect, MM_PAGE_WRITECOPY);
  /* the other process keeps the original */
  memset(buf, 0, sizeof buf);
  mm_read(sys, o, vo, buf, 4, NULL);
  assert_string_equal(buf, "orig");
  memset(buf, 0, sizeof buf);
  mm_read(sys, w, vw, buf, 4, NULL);
  assert_string_equal(buf, "copy");
  /* unmapping returns the view's charge and frees the copy */
  assert_status(mm_unmap_view(sys, w, vw), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, charge);
  END(sys);
}

/* A.11.8: SEC_RESERVE views; commit goes into the section for every view,
** protection stays per view; CommitSize commits at map time. */
static void reserve_section_commit(void **state) {
  (void)state;
  mm_system *sys = csys(true);
  mm_handle s = psection(sys, KiB(128), MM_PAGE_READWRITE, MM_SEC_RESERVE, NULL);
  mm_pid p = tu_process(sys), q = tu_process(sys);
  uint64_t v1 = 0, n1 = 0;
  assert_status(mm_map_view(sys, p, s, &v1, 0, &n1, MM_PAGE_READWRITE, 4096, 0),
                MM_STATUS_SUCCESS);
  uint64_t v2 = map(sys, q, s, MM_PAGE_READWRITE);
  mm_region r;
  mm_query(sys, q, v2, &r);
  assert_int_equal(r.state, MM_MEM_COMMIT);       /* CommitSize = 1 page */
  assert_int_equal(r.size, 4096);
  mm_query(sys, q, v2 + 4096, &r);
  assert_int_equal(r.state, MM_MEM_RESERVE);
  assert_int_equal(r.protect, 0);
  assert_int_equal(r.allocation_protect, MM_PAGE_READWRITE);
  assert_int_equal(mm_access(sys, q, v2 + 4096, MM_READ), MM_ACCESS_VIOLATION);
  uint64_t cb = v1 + 0x10000, cs = 0x10000;
  assert_status(mm_allocate(sys, p, &cb, &cs, MM_MEM_COMMIT, MM_PAGE_READONLY),
                MM_STATUS_SUCCESS);
  mm_query(sys, p, v1 + 0x10000, &r);
  assert_int_equal(r.state, MM_MEM_COMMIT);
  assert_int_equal(r.protect, MM_PAGE_READONLY);
  mm_query(sys, q, v2 + 0x10000, &r);
  assert_int_equal(r.state, MM_MEM_COMMIT);
  assert_int_equal(r.protect, MM_PAGE_READWRITE);  /* its own protection */
  assert_status(mm_write(sys, q, v2 + 0x10000, "xy", 2, NULL), MM_STATUS_SUCCESS);
  char buf[4] = { 0 };
  mm_read(sys, p, v1 + 0x10000, buf, 2, NULL);
  assert_string_equal(buf, "xy");
  assert_int_equal(sstats(sys).commit_charge, 17);
  /* more access than the view allows */
  mm_handle ro = psection(sys, KiB(64), MM_PAGE_READONLY, MM_SEC_RESERVE, NULL);
  uint64_t v3 = map(sys, p, ro, MM_PAGE_READONLY);
  cb = v3; cs = 4096;
  assert_status(mm_allocate(sys, p, &cb, &cs, MM_MEM_COMMIT, MM_PAGE_READWRITE),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  END(sys);
}

/* A.11.8 (R-api-MVS Test_PageFileSection): a SEC_RESERVE view mapped
** no-access; protecting an uncommitted page is a section-protection
** error; committing takes the section's protections, not the view's. */
static void reserve_view_noaccess(void **state) {
  (void)state;
  mm_system *sys = csys(true);
  mm_pid p = tu_process(sys);
  mm_handle s = psection(sys, MiB(8), MM_PAGE_READWRITE, MM_SEC_RESERVE, NULL);
  uint64_t v = 0, n = MiB(1);
  assert_status(mm_map_view(sys, p, s, &v, 0, &n, MM_PAGE_NOACCESS, 0, 0),
                MM_STATUS_SUCCESS);
  uint64_t b = v, sz = 4096;
  uint32_t old;
  assert_status(mm_protect(sys, p, &b, &sz, MM_PAGE_READWRITE, &old),
                MM_STATUS_SECTION_PROTECTION);
  b = v; sz = 4096;
  assert_status(mm_allocate(sys, p, &b, &sz, MM_MEM_COMMIT, MM_PAGE_READWRITE),
                MM_STATUS_SUCCESS);
  assert_status(mm_write(sys, p, v, "ok", 2, NULL), MM_STATUS_SUCCESS);
  b = v + 4096; sz = 4096;
  assert_status(mm_allocate(sys, p, &b, &sz, MM_MEM_COMMIT, MM_PAGE_READONLY),
                MM_STATUS_SUCCESS);
  assert_int_equal(mm_access(sys, p, v + 4096, MM_READ), MM_DEMAND_ZERO);
  assert_int_equal(mm_access(sys, p, v + 4096, MM_WRITE), MM_ACCESS_VIOLATION);
  b = v + 8192; sz = 4096;
  assert_status(mm_allocate(sys, p, &b, &sz, MM_MEM_COMMIT,
                            MM_PAGE_EXECUTE_READWRITE),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  b = 0; n = UINT64_MAX;
  assert_status(mm_map_view(sys, p, s, &b, 0, &n, MM_PAGE_READWRITE, 0, 0),
                MM_STATUS_INVALID_PARAMETER_3);
  mm_section_config big = { GiB(512), MM_PAGE_READWRITE, MM_SEC_COMMIT, 0, NULL };
  mm_handle h;
  assert_status(mm_section_create(sys, &big, &h, NULL), MM_STATUS_COMMITMENT_LIMIT);
  END(sys);
}

/* File-backed sections: exact size, growth, first touch reads the file,
** dirty pages go back by flush and by the writer. */
static void file_sections(void **state) {
  (void)state;
  mm_system *sys = csys(true);
  mm_handle f;
  assert_status(mm_file_create(sys, "data.bin", 36, &f), MM_STATUS_SUCCESS);
  mm_section_config sc = { 0, MM_PAGE_READWRITE, 0, f, NULL };
  mm_handle s;
  assert_status(mm_section_create(sys, &sc, &s, NULL), MM_STATUS_SUCCESS);
  mm_section_info si;
  mm_section_info_get(sys, s, &si);
  assert_int_equal(si.size, 36);                    /* A.11.3: exact */
  assert_int_equal(si.attributes, MM_SEC_FILE);
  assert_int_equal(sstats(sys).commit_charge, 0);   /* backed by the file */
  /* read-only larger than the file: too big; writable: the file grows */
  mm_section_config big = { MiB(1), MM_PAGE_READONLY, 0, f, NULL };
  mm_handle bs;
  assert_status(mm_section_create(sys, &big, &bs, NULL), MM_STATUS_SECTION_TOO_BIG);
  big.protect = MM_PAGE_READWRITE;
  big.size = KiB(64);
  assert_status(mm_section_create(sys, &big, &bs, NULL), MM_STATUS_SUCCESS);
  mm_file_info fi;
  mm_file_info_get(sys, f, &fi);
  assert_int_equal(fi.size, KiB(64));
  mm_handle e;
  mm_file_create(sys, "empty", 0, &e);
  mm_section_config es = { 0, MM_PAGE_READONLY, 0, e, NULL };
  mm_handle ess;
  assert_status(mm_section_create(sys, &es, &ess, NULL),
                MM_STATUS_MAPPED_FILE_SIZE_ZERO);
  mm_pid p = tu_process(sys);
  uint64_t v = map(sys, p, bs, MM_PAGE_READWRITE);
  assert_int_equal(mm_access(sys, p, v, MM_READ), MM_HARD);   /* from the file */
  mm_file_info_get(sys, f, &fi);
  assert_int_equal(fi.reads, 1);
  assert_status(mm_write(sys, p, v + 4, "disk", 4, NULL), MM_STATUS_SUCCESS);
  char buf[8] = { 0 };
  uint64_t got;
  mm_file_read(sys, f, 4, buf, 4, &got);
  assert_int_equal(buf[0], 0);                     /* not written back yet */
  uint64_t fb = v, fs = 0;
  assert_status(mm_flush_view(sys, p, &fb, &fs), MM_STATUS_SUCCESS);
  mm_file_read(sys, f, 4, buf, 4, &got);
  assert_memory_equal(buf, "disk", 4);
  mm_file_info_get(sys, f, &fi);
  assert_int_equal(fi.writes, 1);
  /* flushing clean pages writes nothing */
  mm_flush_view(sys, p, &fb, &fs);
  mm_file_info_get(sys, f, &fi);
  assert_int_equal(fi.writes, 1);
  /* a dirty page reaching the modified list goes back through the writer */
  assert_status(mm_write(sys, p, v + 4096, "more", 4, NULL), MM_STATUS_SUCCESS);
  mm_unmap_view(sys, p, v);
  mm_sstats ss = sstats(sys);
  assert_int_equal(ss.modified, 1);
  assert_status(mm_process_terminate(sys, p), MM_STATUS_SUCCESS);
  END(sys);
}

/* The modified writer writes file pages to their file, not the page
** file; cached pages of a file survive its sections (standby). */
static void file_pages_cached(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(2);
  cfg.pagefile = MiB(8);
  cfg.contents = true;
  cfg.tune.mpw_threshold = 1;
  cfg.tune.refs_per_second = 1u << 30;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  mm_handle f;
  mm_file_create(sys, "cache.bin", KiB(64), &f);
  mm_section_config sc = { 0, MM_PAGE_READWRITE, 0, f, NULL };
  mm_handle s;
  mm_section_create(sys, &sc, &s, NULL);
  mm_pid p = tu_process(sys);
  uint64_t v = map(sys, p, s, MM_PAGE_READWRITE);
  mm_write(sys, p, v, "page0", 5, NULL);
  mm_access(sys, p, v + 4096, MM_READ);
  mm_unmap_view(sys, p, v);
  mm_section_close(sys, s);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  mm_sstats ss = sstats(sys);
  assert_int_equal(ss.pagefile_writes, 0);
  assert_int_equal(ss.standby, 2);
  mm_file_info fi;
  mm_file_info_get(sys, f, &fi);
  assert_int_equal(fi.writes, 1);
  assert_int_equal(fi.cached, 2);
  char buf[8] = { 0 };
  uint64_t got;
  mm_file_read(sys, f, 0, buf, 5, &got);
  assert_string_equal(buf, "page0");
  /* a new section on the file finds the cached pages: soft faults */
  mm_section_create(sys, &sc, &s, NULL);
  v = map(sys, p, s, MM_PAGE_READONLY);
  assert_int_equal(mm_access(sys, p, v, MM_READ), MM_SOFT);
  assert_int_equal(mm_access(sys, p, v + 8192, MM_READ), MM_HARD);
  /* process exit: file pages go to standby, not the free list */
  assert_status(mm_process_terminate(sys, p), MM_STATUS_SUCCESS);
  ss = sstats(sys);
  assert_int_equal(ss.standby, 3);
  mm_section_close(sys, s);
  mm_file_close(sys, f);
  ss = sstats(sys);
  assert_int_equal(ss.standby, 0);
  END(sys);
}

/* Shared pages are trimmed from each working set separately and come back
** from standby or the page file. */
static void shared_trim_and_pagefile(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = KiB(512);                  /* 128 frames */
  cfg.pagefile = MiB(8);
  cfg.contents = true;
  cfg.tune.refs_per_second = 1u << 30;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  mm_handle s = psection(sys, KiB(64), MM_PAGE_READWRITE, 0, NULL);
  mm_process_config pc = { "h", 1, 4, true, false };
  mm_pid p;
  mm_process_create(sys, &pc, &p);
  uint64_t v = map(sys, p, s, MM_PAGE_READWRITE);
  for (int k = 0; k < 16; k++) {
    char c = (char)('a' + k);
    assert_status(mm_write(sys, p, v + k * 4096, &c, 1, NULL), MM_STATUS_SUCCESS);
  }
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 4);
  assert_int_equal(ps.replaced, 12);
  /* push everything else out: private memory in another process */
  mm_pid q = tu_process(sys);
  uint64_t a = 0, n = KiB(1024);
  mm_allocate(sys, q, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT, MM_PAGE_READWRITE);
  for (uint64_t k = 0; k < 256; k++) mm_access(sys, q, a + k * 4096, MM_WRITE);
  mm_sstats ss = sstats(sys);
  assert_true(ss.pagefile_writes > 0);
  assert_true(ss.repurposed > 0);
  for (int k = 0; k < 16; k++) {
    char c = 0;
    assert_status(mm_read(sys, p, v + k * 4096, &c, 1, NULL), MM_STATUS_SUCCESS);
    assert_int_equal(c, 'a' + k);
  }
  mm_process_stats(sys, p, &ps);
  assert_true(ps.hard > 0);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(pagefile_section_rules), cmocka_unit_test(named_sections),
    cmocka_unit_test(view_rules), cmocka_unit_test(two_processes_share),
    cmocka_unit_test(copy_on_write), cmocka_unit_test(reserve_section_commit),
    cmocka_unit_test(reserve_view_noaccess),
    cmocka_unit_test(file_sections), cmocka_unit_test(file_pages_cached),
    cmocka_unit_test(shared_trim_and_pagefile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
