/* test_pool.c — kernel pools (core/pool.c, WINDOWS.md A.13). */
#include "testutil.h"

/* A system of an architecture; ram and page file in bytes. */
static mm_system *arch_system(mm_arch arch, uint64_t ram, uint64_t pagefile) {
  mm_config cfg;
  mm_config_default(&cfg, arch);
  cfg.ram = ram;
  cfg.pagefile = pagefile;
  mm_system *sys = NULL;
  char err[256];
  mm_status st = mm_system_create(&cfg, &sys, err, sizeof err);
  if (st != MM_STATUS_SUCCESS) fail_msg("mm_system_create: %s", err);
  return sys;
}

static uint32_t tag(const char *s) {
  uint32_t t = 0;
  assert_status(mm_pool_tag_parse(NULL, s, strlen(s), &t), MM_STATUS_SUCCESS);
  return t;
}

static uint64_t alloc(mm_system *sys, mm_pool_kind kind, uint64_t bytes,
                      const char *t) {
  uint64_t a = 0;
  mm_status st = mm_pool_alloc(sys, kind, bytes, tag(t), &a);
  if (st != MM_STATUS_SUCCESS)
    fail_msg("mm_pool_alloc(%llu): %s", (unsigned long long)bytes,
             mm_last_error(sys));
  return a;
}

static mm_pool_block query(mm_system *sys, uint64_t a) {
  mm_pool_block b;
  assert_status(mm_pool_query(sys, a, &b), MM_STATUS_SUCCESS);
  return b;
}

static mm_sstats sstats(mm_system *sys) {
  mm_sstats s;
  mm_system_stats(sys, &s);
  return s;
}

static mm_pool_stats kstats(mm_system *sys, mm_pool_kind k) {
  mm_pool_stats s;
  mm_pool_kind_stats(sys, k, &s);
  return s;
}

static void configure(mm_system *sys, uint32_t pools, uint64_t npmax,
                      uint64_t pmax, uint64_t npinit, uint64_t pinit) {
  mm_pool_config c = { pools, npmax, pmax, npinit, pinit };
  mm_status st = mm_pool_configure(sys, &c);
  if (st != MM_STATUS_SUCCESS) fail_msg("configure: %s", mm_last_error(sys));
}

/* ------------------------------------------------------------- limits */

/* Seed table: 32-bit non-paged min(75% RAM, 2 GB), paged 2 GB; 64-bit
** non-paged min(75% RAM, 128 GB), paged 128 GB. */
static void limits_table(void **state) {
  (void)state;
  static const struct { mm_arch arch; uint64_t ram, np, pg; } rows[] = {
    { MM_ARCH_X86, MiB(64), MiB(48), GiB(2) },
    { MM_ARCH_X86, GiB(1), MiB(768), GiB(2) },
    { MM_ARCH_X86, GiB(2), MiB(1536), GiB(2) },
    { MM_ARCH_X86, GiB(4), GiB(2), GiB(2) },
    { MM_ARCH_X86_PAE, MiB(256), MiB(192), GiB(2) },
    { MM_ARCH_X86_PAE, GiB(16), GiB(2), GiB(2) },
    { MM_ARCH_X64, MiB(256), MiB(192), GiB(128) },
    { MM_ARCH_X64, GiB(8), GiB(6), GiB(128) },
    { MM_ARCH_X64, GiB(170), MiB(130560), GiB(128) },
    { MM_ARCH_X64, GiB(172), GiB(128), GiB(128) },
    { MM_ARCH_X64, GiB(1024), GiB(128), GiB(128) },
    { MM_ARCH_X64, 3, 2, GiB(128) },             /* 75% rounds down */
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    uint64_t np, pg;
    mm_pool_default_limits((int)rows[i].arch, rows[i].ram, &np, &pg);
    assert_int_equal(np, rows[i].np);
    assert_int_equal(pg, rows[i].pg);
  }
}

/* A system applies the table for its own architecture and RAM. */
static void limits_in_system(void **state) {
  (void)state;
  static const struct { mm_arch arch; uint64_t ram, np, pg; } rows[] = {
    { MM_ARCH_X86, MiB(16), MiB(12), GiB(2) },
    { MM_ARCH_X86_PAE, MiB(64), MiB(48), GiB(2) },
    { MM_ARCH_X64, MiB(32), MiB(24), GiB(128) },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    mm_system *sys = arch_system(rows[i].arch, rows[i].ram, MiB(16));
    mm_pool_config c;
    mm_pool_get_config(sys, &c);
    assert_int_equal(c.paged_pools, 4);
    assert_int_equal(c.nonpaged_max, rows[i].np);
    assert_int_equal(c.paged_max, rows[i].pg);
    assert_int_equal(c.nonpaged_initial, 0);
    assert_int_equal(mm_pool_count(sys), 5);
    mm_pool_stats s = kstats(sys, MM_POOL_NONPAGED);
    assert_int_equal(s.max_pages, rows[i].np / 4096);
    assert_int_equal(s.pages, 0);
    /* a system that never uses its pools is unchanged by them */
    mm_sstats ss = sstats(sys);
    assert_int_equal(ss.commit_charge, 0);
    assert_int_equal(ss.available, ss.total_frames);
    END(sys);
  }
}

static void configure_overrides_and_refuses(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(8), MiB(8));
  mm_pool_config c = { 65, 0, 0, 0, 0 };
  assert_status(mm_pool_configure(sys, &c), MM_STATUS_INVALID_PARAMETER);
  c = (mm_pool_config){ 1, KiB(64), 0, KiB(68), 0 };
  assert_status(mm_pool_configure(sys, &c), MM_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(mm_last_error(sys), "nonpaged_initial"));
  c = (mm_pool_config){ 0, 0, KiB(8), 0, KiB(12) };
  assert_status(mm_pool_configure(sys, &c), MM_STATUS_INVALID_PARAMETER);
  configure(sys, 64, KiB(70), MiB(1), 0, 0);
  mm_pool_get_config(sys, &c);
  assert_int_equal(c.paged_pools, 64);
  assert_int_equal(c.nonpaged_max, KiB(68));          /* whole pages */
  assert_int_equal(mm_pool_count(sys), 65);
  configure(sys, 1, 0, 0, 0, 0);                      /* again: fine */
  assert_int_equal(mm_pool_count(sys), 2);
  uint64_t a = alloc(sys, MM_POOL_PAGED, 10, "Cfg1");
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  /* once anything was allocated, never again */
  c = (mm_pool_config){ 2, 0, 0, 0, 0 };
  assert_status(mm_pool_configure(sys, &c), MM_STATUS_NOT_SUPPORTED);
  assert_int_equal(mm_pool_count(sys), 2);
  END(sys);
}

/* Initial pages are taken at once (non-paged: resident) and kept while
** free; allocations use them before growing. */
static void initial_size(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));         /* 1024 frames */
  mm_sstats s0 = sstats(sys);
  configure(sys, 0, 0, 0, KiB(64), KiB(32));
  mm_sstats s1 = sstats(sys);
  assert_int_equal(s1.commit_charge, 16 + 8);
  assert_int_equal(s1.available, s0.available - 16);  /* paged: not touched */
  mm_pool_stats np = kstats(sys, MM_POOL_NONPAGED);
  assert_int_equal(np.idle_pages, 16);
  assert_int_equal(np.resident_pages, 16);
  uint64_t big = alloc(sys, MM_POOL_NONPAGED, KiB(40), "Init");   /* 10 pages */
  uint64_t small = alloc(sys, MM_POOL_NONPAGED, 100, "Init");
  assert_int_equal(sstats(sys).commit_charge, 24);    /* nothing new */
  np = kstats(sys, MM_POOL_NONPAGED);
  assert_int_equal(np.idle_pages, 5);
  assert_int_equal(np.pages, 16);
  uint64_t more = alloc(sys, MM_POOL_NONPAGED, KiB(24), "Init");  /* grows */
  assert_int_equal(sstats(sys).commit_charge, 30);
  assert_status(mm_pool_free(sys, more), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, big), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, small), MM_STATUS_SUCCESS);
  /* back to the initial size, kept */
  np = kstats(sys, MM_POOL_NONPAGED);
  assert_int_equal(np.pages, 16);
  assert_int_equal(np.idle_pages, 16);
  assert_int_equal(sstats(sys).commit_charge, 24);
  assert_int_equal(sstats(sys).available, s0.available - 16);
  END(sys);
}

/* A configuration whose initial pages cannot be had changes nothing. */
static void configure_failure_keeps_old(void **state) {
  (void)state;
  mm_system *sys = tu_system(KiB(512), 0);            /* 128 frames */
  configure(sys, 2, 0, 0, KiB(16), 0);
  mm_sstats s0 = sstats(sys);
  mm_pool_config c = { 3, 0, MiB(64), 0, MiB(4) };    /* beyond commit */
  assert_status(mm_pool_configure(sys, &c), MM_STATUS_INSUFFICIENT_RESOURCES);
  assert_non_null(strstr(mm_last_error(sys), "commit limit"));
  mm_pool_get_config(sys, &c);
  assert_int_equal(c.paged_pools, 2);
  assert_int_equal(c.nonpaged_initial, KiB(16));
  mm_sstats s1 = sstats(sys);
  assert_int_equal(s1.commit_charge, s0.commit_charge);
  assert_int_equal(s1.available, s0.available);
  END(sys);
}

/* ------------------------------------------------------------ blocks */

/* n bytes take ceil((n + header) / g) granules of g bytes, the header
** being one granule: 8 on 32-bit profiles, 16 on x64 (A.13.4). */
static void rounding(void **state) {
  (void)state;
  static const struct { mm_arch arch; uint64_t g; } arches[] = {
    { MM_ARCH_X86, 8 }, { MM_ARCH_X86_PAE, 8 }, { MM_ARCH_X64, 16 } };
  static const uint64_t sizes[] = { 0, 1, 7, 8, 9, 15, 16, 17, 100, 1000 };
  for (size_t i = 0; i < 3; i++) {
    mm_system *sys = arch_system(arches[i].arch, MiB(4), MiB(4));
    uint64_t g = arches[i].g;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
      uint64_t a = alloc(sys, MM_POOL_NONPAGED, sizes[k], "Rnd ");
      mm_pool_block b = query(sys, a);
      uint64_t n = sizes[k] ? sizes[k] : 1;
      assert_int_equal(b.requested, n);
      assert_int_equal(b.size, (n + g + g - 1) / g * g);
      assert_int_equal(a % g, 0);
      assert_int_not_equal(a % 4096, 0);              /* after a header */
      assert_int_equal(b.big, 0);
    }
    END(sys);
  }
}

/* POOL_MAX_ALLOC = page - header - one block; above it whole pages. */
static void max_alloc_boundary(void **state) {
  (void)state;
  static const struct { mm_arch arch; uint64_t g; } arches[] = {
    { MM_ARCH_X86, 8 }, { MM_ARCH_X64, 16 } };
  for (size_t i = 0; i < 2; i++) {
    mm_system *sys = arch_system(arches[i].arch, MiB(4), MiB(4));
    uint64_t max = 4096 - 2 * arches[i].g;
    uint64_t a = alloc(sys, MM_POOL_PAGED, max, "Max ");
    mm_pool_block b = query(sys, a);
    assert_int_equal(b.big, 0);
    assert_int_equal(b.size, 4096 - arches[i].g);     /* one granule left */
    uint64_t c = alloc(sys, MM_POOL_PAGED, max + 1, "Max ");
    b = query(sys, c);
    assert_int_equal(b.big, 1);
    assert_int_equal(b.size, 4096);
    assert_int_equal(c % 4096, 0);
    mm_pool_stats ps;
    assert_status(mm_pool_stats_get(sys, 1, &ps), MM_STATUS_SUCCESS);
    assert_int_equal(ps.small_pages, 1);
    assert_status(mm_pool_stats_get(sys, 2, &ps), MM_STATUS_SUCCESS);
    assert_int_equal(ps.big_pages, 1);
    assert_int_equal(ps.free_bytes, 0);
    END(sys);
  }
}

/* Small blocks never cross a page, whatever the mix (fixed seed). */
static void never_crosses_a_page(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(8), MiB(8));
  uint64_t live[300] = { 0 };
  uint64_t x = 12345;
  for (int step = 0; step < 3000; step++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    size_t slot = (size_t)(x >> 33) % 300;
    if (live[slot]) {
      assert_status(mm_pool_free(sys, live[slot]), MM_STATUS_SUCCESS);
      live[slot] = 0;
      continue;
    }
    uint64_t n = (x >> 13) % 4064 + 1;
    live[slot] = alloc(sys, (x >> 7) & 1 ? MM_POOL_PAGED : MM_POOL_NONPAGED, n, "Mix");
    mm_pool_block b = query(sys, live[slot]);
    uint64_t hdr = live[slot] - 16;
    assert_int_equal(hdr / 4096, (hdr + b.size - 1) / 4096);
  }
  assert_int_equal(mm_check(sys), 0);
  for (size_t i = 0; i < 300; i++)
    if (live[i]) assert_status(mm_pool_free(sys, live[i]), MM_STATUS_SUCCESS);
  mm_pool_stats s = kstats(sys, MM_POOL_PAGED);
  assert_int_equal(s.pages, 0);
  assert_int_equal(s.in_use, 0);
  assert_int_equal(kstats(sys, MM_POOL_NONPAGED).pages, 0);
  assert_int_equal(sstats(sys).commit_charge, 0);       /* nothing leaks */
  END(sys);
}

/* Freed neighbours merge; an empty page leaves the pool; a freed block is
** reused for the next request of its size (most recently freed first). */
static void merge_and_reuse(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  uint64_t a = alloc(sys, MM_POOL_NONPAGED, 100, "Mrg ");   /* 128 bytes */
  uint64_t b = alloc(sys, MM_POOL_NONPAGED, 100, "Mrg ");
  uint64_t c = alloc(sys, MM_POOL_NONPAGED, 100, "Mrg ");
  assert_int_equal(b - a, 128);
  assert_int_equal(c - b, 128);
  mm_pool_stats s;
  mm_pool_stats_get(sys, 0, &s);
  assert_int_equal(s.free_bytes, 4096 - 384);
  assert_int_equal(s.largest_free, 4096 - 384);
  assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
  mm_pool_stats_get(sys, 0, &s);
  assert_int_equal(s.free_bytes, 4096 - 256);
  assert_int_equal(s.largest_free, 4096 - 384);
  assert_true(s.fragmentation > 0.03 && s.fragmentation < 0.04);
  assert_int_equal(alloc(sys, MM_POOL_NONPAGED, 90, "Mrg "), b);   /* reused */
  assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  mm_pool_stats_get(sys, 0, &s);
  assert_int_equal(s.free_bytes, 4096 - 128);           /* a and b merged */
  assert_int_equal(s.largest_free, 4096 - 384);         /* the tail */
  assert_true(s.fragmentation > 0.06 && s.fragmentation < 0.07);
  assert_status(mm_pool_free(sys, c), MM_STATUS_SUCCESS);
  mm_pool_stats_get(sys, 0, &s);
  assert_int_equal(s.pages, 0);
  assert_int_equal(s.peak_pages, 1);
  END(sys);
}

static void big_allocations(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  uint64_t a = alloc(sys, MM_POOL_NONPAGED, 3 * 4096 + 1, "Big1");
  mm_pool_block b = query(sys, a);
  assert_int_equal(b.big, 1);
  assert_int_equal(b.size, 4 * 4096);
  assert_int_equal(b.requested, 3 * 4096 + 1);
  assert_int_equal(a % 4096, 0);
  uint64_t p = alloc(sys, MM_POOL_PAGED, MiB(1), "Big2");
  assert_int_equal(query(sys, p).size, MiB(1));
  mm_pool_tag_usage rows[4];
  assert_int_equal(mm_pool_used(sys, rows, 4), 2);
  assert_int_equal(rows[0].tag, tag("Big1"));
  assert_int_equal(rows[0].pages, 4);
  assert_int_equal(rows[1].pages, 256);
  assert_int_equal(sstats(sys).commit_charge, 260);
  /* A big paged allocation is committed, not touched: nothing resident */
  assert_int_equal(kstats(sys, MM_POOL_PAGED).resident_pages, 0);
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, p), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 0);
  END(sys);
}

/* ---------------------------------------------------- failures, misuse */

static void exhaustion_at_maximum(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  configure(sys, 1, KiB(16), KiB(8), 0, 0);             /* 4 and 2 pages */
  uint64_t a[8];
  int n = 0;
  mm_status st;
  for (;;) {
    st = mm_pool_alloc(sys, MM_POOL_NONPAGED, 3000, tag("Exh"), &a[n]);
    if (st != MM_STATUS_SUCCESS) break;
    n++;
    assert_true(n < 8);
  }
  assert_status(st, MM_STATUS_INSUFFICIENT_RESOURCES);
  assert_non_null(strstr(mm_last_error(sys), "maximum"));
  assert_int_equal(n, 4);                               /* one per page */
  uint64_t x;
  assert_status(mm_pool_alloc(sys, MM_POOL_PAGED, KiB(12), tag("Exh"), &x),
                MM_STATUS_INSUFFICIENT_RESOURCES);
  assert_status(mm_pool_alloc(sys, MM_POOL_NONPAGED, UINT64_MAX, tag("Exh"), &x),
                MM_STATUS_INSUFFICIENT_RESOURCES);
  /* a block that fits in a page the pool has still succeeds */
  uint64_t small = alloc(sys, MM_POOL_NONPAGED, 500, "Exh");
  mm_pool_stats s = kstats(sys, MM_POOL_NONPAGED);
  assert_int_equal(s.failures, 2);
  assert_int_equal(s.pages, 4);
  for (int i = 0; i < n; i++) assert_status(mm_pool_free(sys, a[i]), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, small), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 0);
  assert_int_equal(sstats(sys).available, sstats(sys).total_frames);
  END(sys);
}

/* Kernel allocations charge commit (A.6) and stop at the commit limit. */
static void exhaustion_at_commit_limit(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = KiB(512);
  cfg.pagefile = KiB(256);
  cfg.tune.commit_reserve = 0;                            /* limit 192 */
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  configure(sys, 0, 0, GiB(1), 0, 0);
  uint64_t a[4], x;
  for (int i = 0; i < 3; i++) a[i] = alloc(sys, MM_POOL_PAGED, KiB(256), "Cmt ");
  assert_status(mm_pool_alloc(sys, MM_POOL_PAGED, KiB(256), tag("Cmt "), &x),
                MM_STATUS_INSUFFICIENT_RESOURCES);
  assert_non_null(strstr(mm_last_error(sys), "commit limit"));
  mm_sstats ss = sstats(sys);
  assert_int_equal(ss.commit_charge, 192);
  assert_true(ss.commit_charge <= ss.commit_limit);
  /* user commit fails too: the kernel holds it */
  mm_pid pid = tu_process(sys);
  uint64_t base = 0, size = 4096;
  assert_status(mm_allocate(sys, pid, &base, &size, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_COMMITMENT_LIMIT);
  for (int i = 0; i < 3; i++) assert_status(mm_pool_free(sys, a[i]), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 0);
  END(sys);
}

/* Non-paged pool needs frames: when none can be had, it fails cleanly. */
static void exhaustion_of_physical_memory(void **state) {
  (void)state;
  mm_system *sys = tu_system(KiB(256), MiB(4));          /* 64 frames */
  configure(sys, 0, MiB(1), 0, 0, 0);                    /* above RAM */
  uint64_t a = alloc(sys, MM_POOL_NONPAGED, KiB(200), "Phys");    /* 50 */
  uint64_t x;
  assert_status(mm_pool_alloc(sys, MM_POOL_NONPAGED, KiB(60), tag("Phys"), &x),
                MM_STATUS_INSUFFICIENT_RESOURCES);
  assert_non_null(strstr(mm_last_error(sys), "physical"));
  assert_int_equal(sstats(sys).available, 14);
  assert_int_equal(sstats(sys).commit_charge, 50);
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).available, 64);
  END(sys);
}

static void double_free_and_foreign(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  uint64_t keep = alloc(sys, MM_POOL_PAGED, 64, "Keep");
  uint64_t a = alloc(sys, MM_POOL_PAGED, 64, "Dbl ");
  uint64_t big = alloc(sys, MM_POOL_NONPAGED, 3 * 4096, "DblB");
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, a), MM_STATUS_MEMORY_NOT_ALLOCATED);
  assert_non_null(strstr(mm_last_error(sys), "double free"));
  assert_non_null(strstr(mm_last_error(sys), "Dbl "));
  assert_status(mm_pool_free(sys, big), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, big), MM_STATUS_MEMORY_NOT_ALLOCATED);
  /* inside a live block, inside pool memory, outside it, a user address */
  assert_status(mm_pool_free(sys, keep + 16), MM_STATUS_INVALID_ADDRESS);
  assert_non_null(strstr(mm_last_error(sys), "not a pool allocation"));
  assert_status(mm_pool_free(sys, keep - 16), MM_STATUS_INVALID_ADDRESS);
  assert_status(mm_pool_free(sys, keep & ~4095ull), MM_STATUS_INVALID_ADDRESS);
  assert_status(mm_pool_free(sys, 0x10000), MM_STATUS_INVALID_ADDRESS);
  assert_non_null(strstr(mm_last_error(sys), "outside pool memory"));
  assert_status(mm_pool_free(sys, 0), MM_STATUS_INVALID_ADDRESS);
  mm_pool_block b;
  assert_status(mm_pool_query(sys, a, &b), MM_STATUS_MEMORY_NOT_ALLOCATED);
  /* an address freed and handed out again is live again */
  uint64_t again = alloc(sys, MM_POOL_PAGED, 64, "Agn ");
  mm_pool_tag_usage rows[8];
  size_t n = mm_pool_used(sys, rows, 8);
  assert_int_equal(n, 4);
  assert_status(mm_pool_free(sys, again), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, keep), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 0);
  END(sys);
}

static void bad_arguments(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  uint64_t a = 0;
  assert_status(mm_pool_alloc(sys, (mm_pool_kind)2, 8, tag("Ok"), &a),
                MM_STATUS_INVALID_PARAMETER);
  static const uint32_t bad[] = { 0, MM_POOL_TAG_BIG, 0x41414101u, 0x41004141u,
                                  0x7F414141u, 0x80414141u };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_status(mm_pool_alloc(sys, MM_POOL_PAGED, 8, bad[i], &a),
                  MM_STATUS_INVALID_PARAMETER);
  uint32_t t;
  assert_status(mm_pool_tag_parse(sys, "", 0, &t), MM_STATUS_INVALID_PARAMETER);
  assert_status(mm_pool_tag_parse(sys, "Toolong", 7, &t), MM_STATUS_INVALID_PARAMETER);
  assert_status(mm_pool_tag_parse(sys, "A\tB", 3, &t), MM_STATUS_INVALID_PARAMETER);
  assert_status(mm_pool_tag_parse(sys, "BIG ", 4, &t), MM_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(mm_last_error(sys), "reserved"));
  assert_status(mm_pool_tag_parse(sys, "Ab", 2, &t), MM_STATUS_SUCCESS);
  assert_int_equal(t, 0x6241u);
  char s[5];
  mm_pool_tag_string(t, s);
  assert_string_equal(s, "Ab");
  mm_pool_tag_string(MM_POOL_TAG_NONE, s);
  assert_string_equal(s, "None");
  uint64_t ok = alloc(sys, MM_POOL_PAGED, 8, " ~ ~");
  mm_run_result r;
  assert_status(mm_pool_touch(sys, ok, MM_EXECUTE, &r), MM_STATUS_INVALID_PARAMETER);
  assert_status(mm_pool_touch(sys, ok + 8, MM_READ, &r), MM_STATUS_INVALID_ADDRESS);
  mm_pool_stats ps;
  assert_status(mm_pool_stats_get(sys, 5, &ps), MM_STATUS_INVALID_PARAMETER);
  mm_pool_tag_usage rows[2];
  assert_int_equal(mm_pool_used(sys, rows, 2), 1);      /* failures add no rows */
  assert_status(mm_pool_free(sys, ok), MM_STATUS_SUCCESS);
  END(sys);
}

/* ------------------------------------------------------------ residency */

/* Non-paged pool frames leave the lists at once (available drops), are
** locked and never enter the system working set. */
static void nonpaged_reduces_available(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  mm_sstats s0 = sstats(sys);
  uint64_t a = alloc(sys, MM_POOL_NONPAGED, KiB(40), "NpAv");
  uint64_t b = alloc(sys, MM_POOL_NONPAGED, 24, "NpAv");
  mm_sstats s1 = sstats(sys);
  assert_int_equal(s1.available, s0.available - 11);
  assert_int_equal(s1.active, s0.active + 11);
  assert_int_equal(s1.commit_charge, 11);
  assert_int_equal(s1.system_ws_size, 0);
  assert_int_equal(s1.system_faults, 0);
  mm_run_result r;
  assert_status(mm_pool_touch(sys, a, MM_WRITE, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.refs, 10);
  assert_int_equal(r.outcome[MM_HIT], 10);
  assert_int_equal(kstats(sys, MM_POOL_NONPAGED).resident_pages, 11);
  /* memory pressure does not take them */
  for (int i = 0; i < 5; i++) assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).available, s1.available);
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
  mm_sstats s2 = sstats(sys);
  assert_int_equal(s2.available, s0.available);
  assert_int_equal(s2.commit_charge, 0);
  END(sys);
}

/* Paged pool: commit at allocation, a demand-zero fault when a header is
** first written, hits after; commit returned at free. */
static void paged_commit_and_faults(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  mm_sstats s0 = sstats(sys);
  uint64_t a = alloc(sys, MM_POOL_PAGED, 100, "PgCf");
  mm_sstats s1 = sstats(sys);
  assert_int_equal(s1.commit_charge, 1);
  assert_int_equal(s1.system_faults, 1);                /* header written */
  assert_int_equal(s1.demand_zero, 0);                  /* user counters */
  assert_int_equal(s1.system_ws_size, 1);
  assert_int_equal(s1.available, s0.available - 1);
  /* the next block of the same paged pool lands in the same page */
  uint64_t b = 0;
  for (int i = 0; i < 4; i++) b = alloc(sys, MM_POOL_PAGED, 100, "PgCf");
  assert_int_equal(query(sys, b).pool, query(sys, a).pool);
  assert_int_equal(b >> 12, a >> 12);
  mm_sstats s2 = sstats(sys);
  assert_int_equal(s2.commit_charge, 4);                /* pools 1-4 */
  assert_int_equal(s2.system_faults, 4);
  mm_run_result r;
  assert_status(mm_pool_touch(sys, a, MM_READ, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.outcome[MM_HIT], 1);
  END(sys);
}

/* Paged pools take requests in turn. */
static void paged_round_robin(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  for (uint32_t i = 0; i < 9; i++) {
    uint64_t a = alloc(sys, MM_POOL_PAGED, 10, "RR");
    assert_int_equal(query(sys, a).pool, 1 + i % 4);
    assert_int_equal(query(sys, a).kind, MM_POOL_PAGED);
  }
  uint64_t n = alloc(sys, MM_POOL_NONPAGED, 10, "RR");
  assert_int_equal(query(sys, n).pool, 0);
  END(sys);
}

static mm_system *trim_system(uint64_t ram) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = ram;
  cfg.pagefile = MiB(8);
  cfg.tune.plenty_free_pages = 1000000;                 /* memory always low */
  cfg.tune.sys_ws_min = 4;
  cfg.tune.sys_ws_max = 8;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

/* The working-set manager trims paged pool pages out of the system working
** set; touching them again faults them back (soft: still on standby or
** modified). */
static void paged_trimmed_and_faulted_back(void **state) {
  (void)state;
  mm_system *sys = trim_system(MiB(4));
  uint64_t a = alloc(sys, MM_POOL_PAGED, KiB(128), "Trim");   /* 32 pages */
  mm_run_result r;
  assert_status(mm_pool_touch(sys, a, MM_WRITE, &r), MM_STATUS_SUCCESS);
  assert_int_equal(r.outcome[MM_DEMAND_ZERO], 32);
  mm_sstats s1 = sstats(sys);
  assert_int_equal(s1.system_faults, 32);
  assert_int_equal(s1.system_ws_size, 32);              /* soft maximum */
  for (int i = 0; i < 6; i++) assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  mm_sstats s2 = sstats(sys);
  assert_true(s2.system_ws_size <= 8);
  assert_true(s2.trimmed >= 24);
  mm_pool_stats ps = kstats(sys, MM_POOL_PAGED);
  assert_int_equal(ps.resident_pages, s2.system_ws_size);
  assert_int_equal(ps.pages, 32);
  assert_status(mm_pool_touch(sys, a, MM_READ, &r), MM_STATUS_SUCCESS);
  assert_true(r.outcome[MM_SOFT] >= 24);
  mm_sstats s3 = sstats(sys);
  assert_true(s3.system_faults >= s2.system_faults + 24);
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 0);
  END(sys);
}

/* Trimmed, written to the page file and repurposed by a user process, a
** paged pool page comes back with a hard fault. */
static void paged_hard_fault_back(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = KiB(512);                                    /* 128 frames */
  cfg.pagefile = MiB(8);
  cfg.tune.sys_ws_min = 1;
  cfg.tune.sys_ws_max = 2;
  cfg.tune.plenty_free_pages = 1000000;
  cfg.tune.mpw_threshold = 1;                            /* write at once */
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  uint64_t a = alloc(sys, MM_POOL_PAGED, KiB(64), "Hard");     /* 16 pages */
  mm_run_result r;
  assert_status(mm_pool_touch(sys, a, MM_WRITE, &r), MM_STATUS_SUCCESS);
  for (int i = 0; i < 6; i++) assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  assert_true(sstats(sys).pagefile_writes >= 10);
  /* a user process takes every frame: standby pages are repurposed */
  mm_pid pid = tu_process(sys);
  mm_process_set_ws(sys, pid, 1, 200, false, false);
  uint64_t base = 0, size = KiB(600);
  assert_status(mm_allocate(sys, pid, &base, &size, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (uint64_t off = 0; off < size; off += 4096)
    assert_true(mm_access(sys, pid, base + off, MM_WRITE) >= 0);
  assert_true(sstats(sys).repurposed > 0);
  assert_status(mm_pool_touch(sys, a, MM_READ, &r), MM_STATUS_SUCCESS);
  assert_true(r.outcome[MM_HARD] > 0);
  assert_true(sstats(sys).pagefile_reads > 0);
  END(sys);
}

/* A small paged block's page that was trimmed faults back when the pool
** writes a header in it (allocation or free). */
static void header_write_faults_back(void **state) {
  (void)state;
  mm_system *sys = trim_system(MiB(4));
  configure(sys, 1, 0, 0, 0, 0);
  uint64_t blocks[64];
  for (int i = 0; i < 64; i++) blocks[i] = alloc(sys, MM_POOL_PAGED, 1000, "Hdr ");
  /* 4 blocks of 1024 bytes (1000 + header, rounded) per page: 16 pages */
  assert_int_equal(kstats(sys, MM_POOL_PAGED).small_pages, 16);
  for (int i = 0; i < 6; i++) assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  uint64_t f0 = sstats(sys).system_faults;
  uint64_t res = kstats(sys, MM_POOL_PAGED).resident_pages;
  assert_true(res <= 8);
  for (int i = 0; i < 64; i++) assert_status(mm_pool_free(sys, blocks[i]), MM_STATUS_SUCCESS);
  assert_true(sstats(sys).system_faults >= f0 + (16 - res));
  assert_int_equal(kstats(sys, MM_POOL_PAGED).pages, 0);
  assert_int_equal(sstats(sys).commit_charge, 0);
  END(sys);
}

static int refuse_policy(void *ud, uint32_t pid, const mm_ws_page *pages,
                         uint32_t count, uint32_t want, uint32_t *victims,
                         uint32_t *nvictims, char *err, size_t errlen) {
  (void)ud; (void)pid; (void)pages; (void)count; (void)want; (void)victims;
  (void)nvictims;
  snprintf(err, errlen, "no victims today");
  return 1;
}

/* When the reference that writes a header fails (here a policy written by
** the caller refuses to trim when memory is full), the allocation fails
** with that status and nothing is allocated. */
static void failing_reference_allocates_nothing(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = KiB(256);                                   /* 64 frames */
  cfg.pagefile = MiB(1);
  cfg.policy.name = "refuser";
  cfg.policy.custom_select = refuse_policy;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  mm_pid pid = tu_process(sys);
  mm_process_set_ws(sys, pid, 1, 100, false, false);
  uint64_t base = 0, size = KiB(256);
  assert_status(mm_allocate(sys, pid, &base, &size, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (uint64_t off = 0; off < size; off += 4096)
    assert_int_equal(mm_access(sys, pid, base + off, MM_WRITE), MM_DEMAND_ZERO);
  assert_int_equal(sstats(sys).available, 0);
  mm_sstats s0 = sstats(sys);
  uint64_t a = 0;
  assert_status(mm_pool_alloc(sys, MM_POOL_PAGED, 64, tag("Fail"), &a),
                MM_STATUS_PAGELAB_CALLBACK_FAILED);
  assert_non_null(strstr(mm_last_error(sys), "no victims today"));
  assert_status(mm_pool_alloc(sys, MM_POOL_NONPAGED, 64, tag("Fail"), &a),
                MM_STATUS_INSUFFICIENT_RESOURCES);
  mm_sstats s1 = sstats(sys);
  assert_int_equal(s1.commit_charge, s0.commit_charge);
  assert_int_equal(kstats(sys, MM_POOL_PAGED).pages, 0);
  assert_int_equal(kstats(sys, MM_POOL_NONPAGED).pages, 0);
  assert_int_equal(kstats(sys, MM_POOL_NONPAGED).failures, 1);
  assert_int_equal(mm_pool_used(sys, NULL, 0), 0);
  /* memory back: the same requests succeed */
  assert_status(mm_process_terminate(sys, pid), MM_STATUS_SUCCESS);
  uint64_t b = alloc(sys, MM_POOL_PAGED, 64, "Fail");
  assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
  END(sys);
}

/* ------------------------------------------------------------- views */

static void poolused_rows(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  uint64_t a = alloc(sys, MM_POOL_PAGED, 100, "Zed ");
  uint64_t b = alloc(sys, MM_POOL_PAGED, 200, "Abc");
  uint64_t c = alloc(sys, MM_POOL_NONPAGED, 300, "Abc");
  uint64_t d = alloc(sys, MM_POOL_PAGED, 5000, "Abc");
  assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
  mm_pool_tag_usage rows[8];
  assert_int_equal(mm_pool_used(sys, NULL, 0), 3);
  assert_int_equal(mm_pool_used(sys, rows, 8), 3);
  assert_int_equal(rows[0].tag, tag("Abc"));
  assert_int_equal(rows[0].kind, MM_POOL_NONPAGED);
  assert_int_equal(rows[0].bytes, 320);
  assert_int_equal(rows[1].tag, tag("Abc"));
  assert_int_equal(rows[1].kind, MM_POOL_PAGED);
  assert_int_equal(rows[1].allocs, 2);
  assert_int_equal(rows[1].frees, 1);
  assert_int_equal(rows[1].bytes, 8192);
  assert_int_equal(rows[1].requested, 5000);
  assert_int_equal(rows[1].pages, 2);
  assert_int_equal(rows[2].tag, tag("Zed "));
  assert_int_equal(rows[2].bytes, 128);
  /* the pool totals agree */
  mm_pool_stats p = kstats(sys, MM_POOL_PAGED);
  assert_int_equal(p.bytes, 8192 + 128);
  assert_int_equal(p.requested, 5100);
  assert_int_equal(p.in_use, 2);
  assert_int_equal(p.allocs, 3);
  assert_int_equal(p.frees, 1);
  const mm_stat_field *f = mm_pool_stats_fields();
  size_t nf = 0;
  while (f[nf].name) nf++;
  assert_int_equal(nf, 15);
  (void)a; (void)c; (void)d;
  END(sys);
}

/* Page sizes change the block count per page; 64 KiB pages with 8-byte
** granules give the most (8192). */
static void other_page_sizes(void **state) {
  (void)state;
  static const struct { mm_arch arch; uint32_t ps; uint64_t g; } rows[] = {
    { MM_ARCH_X64, 512, 16 }, { MM_ARCH_X86, 65536, 8 }, { MM_ARCH_X86, 1024, 8 } };
  for (size_t i = 0; i < 3; i++) {
    mm_config cfg;
    mm_config_default(&cfg, rows[i].arch);
    cfg.ram = MiB(8);
    cfg.page_size = rows[i].ps;
    mm_system *sys;
    char err[200];
    assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
    uint64_t max = rows[i].ps - 2 * rows[i].g;
    uint64_t a = alloc(sys, MM_POOL_PAGED, max, "Ps");
    uint64_t b = alloc(sys, MM_POOL_NONPAGED, max + 1, "Ps");
    uint64_t c = alloc(sys, MM_POOL_NONPAGED, 1, "Ps");
    assert_int_equal(query(sys, a).big, 0);
    assert_int_equal(query(sys, b).big, 1);
    assert_int_equal(query(sys, b).size, rows[i].ps);
    assert_int_equal(query(sys, c).size, 2 * rows[i].g);
    assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
    assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
    assert_status(mm_pool_free(sys, c), MM_STATUS_SUCCESS);
    END(sys);
  }
}

/* On 32-bit profiles the pools share the 2 GiB of kernel address space. */
static void kernel_address_space(void **state) {
  (void)state;
  mm_system *sys = arch_system(MM_ARCH_X86, MiB(4), GiB(3));
  configure(sys, 1, 0, GiB(4), 0, 0);
  uint64_t a = alloc(sys, MM_POOL_PAGED, GiB(1), "Kva ");
  assert_true(a >= 0x80000000u);
  uint64_t x;
  assert_status(mm_pool_alloc(sys, MM_POOL_PAGED, GiB(1) + 4096, tag("Kva "), &x),
                MM_STATUS_INSUFFICIENT_RESOURCES);
  assert_non_null(strstr(mm_last_error(sys), "address space"));
  uint64_t n = alloc(sys, MM_POOL_NONPAGED, 100, "Kva ");
  assert_true(n >= 0x80000000u && n < a);               /* from the bottom */
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, n), MM_STATUS_SUCCESS);
  END(sys);
}

/* A process and the pools in one system: both charged, both checked. */
static void with_processes(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(2), MiB(4));
  mm_pid pid = tu_process(sys);
  uint64_t base = 0, size = KiB(256);
  assert_status(mm_allocate(sys, pid, &base, &size, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (uint64_t off = 0; off < size; off += 4096) mm_access(sys, pid, base + off, MM_WRITE);
  uint64_t a = alloc(sys, MM_POOL_NONPAGED, KiB(100), "Proc");
  uint64_t b = alloc(sys, MM_POOL_PAGED, KiB(100), "Proc");
  assert_int_equal(sstats(sys).commit_charge, 64 + 25 + 25);
  assert_status(mm_process_terminate(sys, pid), MM_STATUS_SUCCESS);
  assert_int_equal(sstats(sys).commit_charge, 50);
  assert_status(mm_pool_free(sys, a), MM_STATUS_SUCCESS);
  assert_status(mm_pool_free(sys, b), MM_STATUS_SUCCESS);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(limits_table), cmocka_unit_test(limits_in_system),
    cmocka_unit_test(configure_overrides_and_refuses), cmocka_unit_test(initial_size),
    cmocka_unit_test(configure_failure_keeps_old), cmocka_unit_test(rounding),
    cmocka_unit_test(max_alloc_boundary), cmocka_unit_test(never_crosses_a_page),
    cmocka_unit_test(merge_and_reuse), cmocka_unit_test(big_allocations),
    cmocka_unit_test(exhaustion_at_maximum), cmocka_unit_test(exhaustion_at_commit_limit),
    cmocka_unit_test(exhaustion_of_physical_memory),
    cmocka_unit_test(double_free_and_foreign), cmocka_unit_test(bad_arguments),
    cmocka_unit_test(nonpaged_reduces_available), cmocka_unit_test(paged_commit_and_faults),
    cmocka_unit_test(paged_round_robin), cmocka_unit_test(paged_trimmed_and_faulted_back),
    cmocka_unit_test(paged_hard_fault_back), cmocka_unit_test(header_write_faults_back),
    cmocka_unit_test(failing_reference_allocates_nothing),
    cmocka_unit_test(poolused_rows), cmocka_unit_test(other_page_sizes),
    cmocka_unit_test(kernel_address_space), cmocka_unit_test(with_processes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
