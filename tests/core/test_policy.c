/*
** test_policy.c — the replacement policies (core/policy.c and
** core/policy/<name>.c) against WINDOWS.md Part C and against tiny reference
** models written here from the textbook definitions.
**
** A textbook fault count is the number of references that are not hits,
** in a process with a hard working-set maximum of F frames, on a system
** where nothing else ever trims: the manager never runs (a huge
** refs_per_second) and memory is never low. Page k of a reference string
** is BASE + k * PAGE in a committed region; strings become small text
** traces ("R 0x...") in a mkdtemp directory, replayed with mm_run, which
** is also how OPT learns the future.
**
** Every test ends with END(sys), the invariant walker; debug builds also
** run each policy's own walker inside select().
*/
#include <dirent.h>
#include <unistd.h>

#include "testutil.h"

#include "policy.h"          /* white box: select()'s contract */

#define BASE UINT64_C(0x10000000)
#define PAGE 4096u
#define NEVER (UINT64_C(1) << 60)     /* refs_per_second: no manager */
#define MAXREF 4096

static char tmpdir[64];
static unsigned ntraces;

/* ------------------------------------------------------------- helpers */

/* The policies every property test runs over. */
typedef struct pol {
  const char *name;
  bool load_referenced;
  uint64_t tau, seed;
} pol;

static const pol every[] = {
  { "aging", true, 0, 0 },   { "fifo", true, 0, 0 },
  { "clock", true, 0, 0 },   { "clock", false, 0, 0 },
  { "lru", true, 0, 0 },     { "random", true, 0, 5 },
  { "wsclock", true, 10, 0 }, { "opt", true, 0, 0 },
};
#define NEVERY (sizeof every / sizeof *every)

/* 1 MiB of RAM, 4 MiB of page file, the manager never on the clock,
** memory never low: only a hard maximum ever replaces. */
static void cfg_for(mm_config *cfg, const pol *pl) {
  mm_config_default(cfg, MM_ARCH_X64);
  cfg->ram = MiB(1);
  cfg->pagefile = MiB(4);
  cfg->tune.refs_per_second = NEVER;
  cfg->tune.plenty_free_pages = 1;
  cfg->policy.name = pl->name;
  cfg->policy.load_referenced = pl->load_referenced;
  cfg->policy.tau = pl->tau;
  cfg->policy.seed = pl->seed;
}

static mm_system *sys_make(const mm_config *cfg) {
  mm_system *sys = NULL;
  char err[256];
  if (mm_system_create(cfg, &sys, err, sizeof err) != MM_STATUS_SUCCESS)
    fail_msg("mm_system_create: %s", err);
  return sys;
}

/* A process with the given limits and npages committed at BASE. */
static mm_pid proc_make(mm_system *sys, uint32_t mn, uint32_t mx, bool hard,
                        uint64_t npages) {
  mm_process_config pc = { "p", mn, mx, hard, false };
  mm_pid pid = 0;
  assert_status(mm_process_create(sys, &pc, &pid), MM_STATUS_SUCCESS);
  uint64_t b = BASE, n = npages * PAGE;
  assert_status(mm_allocate(sys, pid, &b, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  assert_true(b == BASE);
  return pid;
}

/* Writes refs as a text trace (W where writes[k] is set, else R) and
** returns its path in path. */
static void trace_write(const int *refs, size_t n, const bool *writes,
                        char *path, size_t len) {
  snprintf(path, len, "%s/t%u.txt", tmpdir, ntraces++);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (size_t k = 0; k < n; k++)
    fprintf(f, "%c 0x%llx\n", writes && writes[k] ? 'W' : 'R',
            (unsigned long long)(BASE + (uint64_t)refs[k] * PAGE));
  assert_int_equal(fclose(f), 0);
}

static mm_source *trace_open(const char *path) {
  char err[256];
  mm_source *s = mm_trace_open(path, "text", err, sizeof err);
  if (!s) fail_msg("mm_trace_open: %s", err);
  return s;
}

/* Replays path into pid; asserts the run went through cleanly. */
static mm_run_result replay(mm_system *sys, mm_pid pid, const char *path) {
  mm_source *src = trace_open(path);
  mm_run_opts opt = { 0, false, true };       /* strict: no stray pages */
  mm_run_result res;
  mm_status st = mm_run(sys, pid, src, &opt, &res);
  if (st != MM_STATUS_SUCCESS) fail_msg("mm_run: %s", mm_last_error(sys));
  assert_int_equal(res.outcome[MM_ACCESS_VIOLATION], 0);
  mm_source_close(src);
  return res;
}

/* Faults of policy pl on a reference string with F frames. */
static uint64_t core_faults(const pol *pl, const char *path, uint32_t frames,
                            uint64_t npages) {
  mm_config cfg;
  cfg_for(&cfg, pl);
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, frames, true, npages);
  mm_run_result res = replay(sys, p, path);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_true(ps.ws_size <= frames);
  END(sys);
  return res.refs - res.outcome[MM_HIT];
}

static uint64_t string_faults(const pol *pl, const int *refs, size_t n,
                              uint32_t frames) {
  char path[128];
  int top = 0;
  for (size_t k = 0; k < n; k++) if (refs[k] > top) top = refs[k];
  trace_write(refs, n, NULL, path, sizeof path);
  uint64_t f = core_faults(pl, path, frames, (uint64_t)top + 1);
  unlink(path);
  return f;
}

static int pol_access(mm_system *sys, mm_pid p, int page) {
  return mm_access(sys, p, BASE + (uint64_t)page * PAGE, MM_READ);
}

/* splitmix64: the tests' own seeded strings. */
static uint64_t mix(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* A string with some locality: mostly a small hot set, sometimes any. */
static void random_string(uint64_t seed, int *refs, size_t n, int pages) {
  uint64_t x = seed;
  for (size_t k = 0; k < n; k++) {
    uint64_t r = mix(&x);
    refs[k] = (r & 3) ? (int)((r >> 8) % (uint64_t)(pages / 3 + 1))
                       : (int)((r >> 8) % (uint64_t)pages);
  }
}

/* ---------------------------------------------- textbook models (naive)

   Written from WINDOWS.md C.1's definitions, O(n·F), frames start
   empty, a fault on every miss. */

static int find(const int *fr, uint32_t m, int x) {
  for (uint32_t i = 0; i < m; i++) if (fr[i] == x) return (int)i;
  return -1;
}

static uint64_t model_fifo(const int *r, size_t n, uint32_t F) {
  int fr[64];
  uint32_t m = 0, head = 0;
  uint64_t faults = 0;
  for (size_t k = 0; k < n; k++) {
    if (find(fr, m, r[k]) >= 0) continue;
    faults++;
    if (m < F) { fr[m++] = r[k]; continue; }
    fr[head] = r[k];
    head = (head + 1) % F;
  }
  return faults;
}

static uint64_t model_lru(const int *r, size_t n, uint32_t F) {
  int fr[64];
  size_t used[64];
  uint32_t m = 0;
  uint64_t faults = 0;
  for (size_t k = 0; k < n; k++) {
    int i = find(fr, m, r[k]);
    if (i >= 0) { used[i] = k; continue; }
    faults++;
    if (m < F) { fr[m] = r[k]; used[m++] = k; continue; }
    uint32_t v = 0;
    for (uint32_t j = 1; j < m; j++) if (used[j] < used[v]) v = j;
    fr[v] = r[k];
    used[v] = k;
  }
  return faults;
}

static uint64_t model_opt(const int *r, size_t n, uint32_t F) {
  int fr[64];
  uint32_t m = 0;
  uint64_t faults = 0;
  for (size_t k = 0; k < n; k++) {
    if (find(fr, m, r[k]) >= 0) continue;
    faults++;
    if (m < F) { fr[m++] = r[k]; continue; }
    uint32_t v = 0;
    size_t far = 0;
    for (uint32_t j = 0; j < m; j++) {
      size_t t = k + 1;
      while (t < n && r[t] != fr[j]) t++;
      if (t > far) { far = t; v = j; }
    }
    fr[v] = r[k];
  }
  return faults;
}

/* The frame ring of C.1's footnote; load = the bit a loaded page gets. */
static uint64_t model_clock(const int *r, size_t n, uint32_t F, bool load) {
  int fr[64];
  bool bit[64];
  uint32_t m = 0, hand = 0;
  uint64_t faults = 0;
  for (size_t k = 0; k < n; k++) {
    int i = find(fr, m, r[k]);
    if (i >= 0) { bit[i] = true; continue; }
    faults++;
    if (m < F) { fr[m] = r[k]; bit[m++] = load; continue; }
    while (bit[hand]) { bit[hand] = false; hand = (hand + 1) % F; }
    fr[hand] = r[k];
    bit[hand] = load;
    hand = (hand + 1) % F;
  }
  return faults;
}

/* ------------------------------------------------------- golden numbers */

typedef struct golden {
  const char *policy;
  uint32_t frames;
  uint64_t faults;
} golden;

/* WINDOWS.md C.1: Belady's string, frames 1-5. CLOCK* (footnote) is
** clock with load_referenced = true, the default. */
static const int belady[] = { 1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5 };
static const golden c1[] = {
  { "fifo", 1, 12 }, { "fifo", 2, 12 }, { "fifo", 3, 9 },
  { "fifo", 4, 10 }, { "fifo", 5, 5 },
  { "lru", 1, 12 },  { "lru", 2, 12 },  { "lru", 3, 10 },
  { "lru", 4, 8 },   { "lru", 5, 5 },
  { "opt", 1, 12 },  { "opt", 2, 9 },   { "opt", 3, 7 },
  { "opt", 4, 6 },   { "opt", 5, 5 },
  { "clock", 1, 12 }, { "clock", 2, 12 }, { "clock", 3, 9 },
  { "clock", 4, 10 }, { "clock", 5, 5 },
};

/* WINDOWS.md C.3: Silberschatz's string. */
static const int silberschatz[] = { 7, 0, 1, 2, 0, 3, 0, 4, 2, 3,
                                    0, 3, 2, 1, 2, 0, 1, 7, 0, 1 };
static const golden c3[] = {
  { "fifo", 3, 15 }, { "lru", 3, 12 }, { "opt", 3, 9 }, { "clock", 3, 14 },
  { "fifo", 4, 10 }, { "lru", 4, 8 },  { "opt", 4, 8 },
  { "fifo", 2, 15 }, { "lru", 2, 17 }, { "opt", 2, 13 },
};

static void check_golden(const int *refs, size_t n, const golden *g,
                         size_t ng) {
  for (size_t i = 0; i < ng; i++) {
    pol pl = { g[i].policy, true, 0, 0 };
    uint64_t got = string_faults(&pl, refs, n, g[i].frames);
    if (got != g[i].faults)
      fail_msg("%s with %u frames: %llu faults, the table says %llu",
               g[i].policy, g[i].frames, (unsigned long long)got,
               (unsigned long long)g[i].faults);
  }
}

static void golden_belady_c1(void **state) {
  (void)state;
  check_golden(belady, sizeof belady / sizeof *belady, c1,
               sizeof c1 / sizeof *c1);
}

static void golden_silberschatz_c3(void **state) {
  (void)state;
  check_golden(silberschatz, sizeof silberschatz / sizeof *silberschatz, c3,
               sizeof c3 / sizeof *c3);
}

/* load_referenced = false: a page loaded and never hit goes first, so the
** page hit after its load survives (second-chance FIFO). */
static void clock_load_referenced(void **state) {
  (void)state;
  static const int s[] = { 1, 2, 3, 1, 4, 1 };
  pol on = { "clock", true, 0, 0 }, off = { "clock", false, 0, 0 };
  assert_int_equal(string_faults(&on, s, 6, 3), 5);    /* 4 evicts 1 */
  assert_int_equal(string_faults(&off, s, 6, 3), 4);   /* 4 evicts 2 */
}

/* --------------------------------------------------- models and stacks */

#define NSTRINGS 20
#define STRLEN 60
#define STRPAGES 12

/* fifo, lru, opt and both clocks equal the naive models, frames 1-8, on
** 20 seeded strings. */
static void policies_match_models(void **state) {
  (void)state;
  static const pol ps[] = { { "fifo", true, 0, 0 }, { "lru", true, 0, 0 },
                            { "opt", true, 0, 0 }, { "clock", true, 0, 0 },
                            { "clock", false, 0, 0 } };
  int refs[STRLEN];
  char path[128];
  for (uint64_t seed = 1; seed <= NSTRINGS; seed++) {
    random_string(seed, refs, STRLEN, STRPAGES);
    trace_write(refs, STRLEN, NULL, path, sizeof path);
    for (uint32_t F = 1; F <= 8; F++) {
      uint64_t want[5] = {
        model_fifo(refs, STRLEN, F), model_lru(refs, STRLEN, F),
        model_opt(refs, STRLEN, F), model_clock(refs, STRLEN, F, true),
        model_clock(refs, STRLEN, F, false) };
      for (size_t i = 0; i < 5; i++) {
        uint64_t got = core_faults(&ps[i], path, F, STRPAGES);
        if (got != want[i])
          fail_msg("seed %llu, %s (load %d), %u frames: %llu faults, the "
                   "model %llu", (unsigned long long)seed, ps[i].name,
                   ps[i].load_referenced, F, (unsigned long long)got,
                   (unsigned long long)want[i]);
      }
    }
    unlink(path);
  }
}

/* C.2: LRU and OPT are stack algorithms — never more faults with more
** frames; FIFO is not, and Belady's string shows it (C.1). */
static void lru_opt_stack_property(void **state) {
  (void)state;
  static const pol ps[] = { { "lru", true, 0, 0 }, { "opt", true, 0, 0 } };
  int refs[STRLEN];
  char path[128];
  for (uint64_t seed = 100; seed < 100 + NSTRINGS; seed++) {
    random_string(seed, refs, STRLEN, STRPAGES);
    trace_write(refs, STRLEN, NULL, path, sizeof path);
    for (size_t i = 0; i < 2; i++) {
      uint64_t prev = UINT64_MAX;
      for (uint32_t F = 1; F <= 8; F++) {
        uint64_t f = core_faults(&ps[i], path, F, STRPAGES);
        if (f > prev)
          fail_msg("%s, seed %llu: %llu faults with %u frames, %llu with "
                   "one fewer", ps[i].name, (unsigned long long)seed,
                   (unsigned long long)f, F, (unsigned long long)prev);
        prev = f;
      }
    }
    unlink(path);
  }
  pol fifo = { "fifo", true, 0, 0 };
  assert_true(string_faults(&fifo, belady, 12, 4) >
              string_faults(&fifo, belady, 12, 3));
}

/* ---------------------------------------------------------- reproducible */

/* A fresh system replaying the rewound trace gives identical counters,
** for every policy, under real pressure: 64 frames, a soft working set,
** the manager on the clock trimming, faults that find no free page. */
static void replay_twice_identical(void **state) {
  (void)state;
  enum { N = 3000, PAGES = 96 };
  static int refs[N];
  static bool writes[N];
  uint64_t x = 42;
  random_string(7, refs, N, PAGES);
  for (size_t k = 0; k < N; k++) writes[k] = mix(&x) % 10 < 3;
  char path[128];
  trace_write(refs, N, writes, path, sizeof path);
  for (size_t i = 0; i < NEVERY; i++) {
    mm_source *src = trace_open(path);
    mm_pstats ps[2];
    mm_sstats ss[2];
    mm_run_result res[2];
    for (int round = 0; round < 2; round++) {
      mm_config cfg;
      cfg_for(&cfg, &every[i]);
      cfg.ram = KiB(256);                      /* 64 frames */
      cfg.tune.refs_per_second = 250;
      cfg.tune.plenty_free_pages = 1000;       /* always low */
      mm_system *sys = sys_make(&cfg);
      mm_pid p = proc_make(sys, 4, 16, false, PAGES);
      if (round == 1) assert_int_equal(mm_source_rewind(src), 0);
      mm_run_opts opt = { 0, false, true };
      mm_status st = mm_run(sys, p, src, &opt, &res[round]);
      if (st != MM_STATUS_SUCCESS)
        fail_msg("%s: %s", every[i].name, mm_last_error(sys));
      mm_process_stats(sys, p, &ps[round]);
      mm_system_stats(sys, &ss[round]);
      END(sys);
    }
    assert_int_equal(res[0].refs, N);
    assert_true(ss[0].wsm_runs > 0 && ps[0].trimmed > 0 && ps[0].soft > 0);
    if (memcmp(&ps[0], &ps[1], sizeof ps[0]) ||
        memcmp(&ss[0], &ss[1], sizeof ss[0]) ||
        memcmp(&res[0], &res[1], sizeof res[0]))
      fail_msg("%s: the second replay differs", every[i].name);
    mm_source_close(src);
  }
  unlink(path);
}

/* -------------------------------------------------------- victim choice */

/* Touches pages 1, 2, 3, 1, 4 with 3 frames; victim is the page that
** went. The probe touches the survivors first (hits change no victim
** order that matters here), then the victim. */
typedef struct victim_case {
  const char *policy;
  bool load_referenced;
  int victim;
} victim_case;

static void victim_choice(void **state) {
  (void)state;
  static const victim_case cases[] = {
    { "fifo", true, 1 },      /* the oldest, though just used */
    { "lru", true, 2 },       /* the least recently used */
    { "clock", true, 1 },     /* every bit set: a full sweep, then FIFO */
    { "clock", false, 2 },    /* 1 was hit since its load: second chance */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pol pl = { cases[i].policy, cases[i].load_referenced, 0, 0 };
    mm_config cfg;
    cfg_for(&cfg, &pl);
    mm_system *sys = sys_make(&cfg);
    mm_pid p = proc_make(sys, 1, 3, true, 8);
    static const int s[] = { 1, 2, 3, 1, 4 };
    for (int k = 0; k < 5; k++) pol_access(sys, p, s[k]);
    for (int pg = 1; pg <= 4; pg++) {
      if (pg == cases[i].victim) continue;
      if (pol_access(sys, p, pg) != MM_HIT)
        fail_msg("%s (load %d): page %d went, not %d", cases[i].policy,
                 cases[i].load_referenced, pg, cases[i].victim);
    }
    assert_int_equal(pol_access(sys, p, cases[i].victim), MM_SOFT);
    END(sys);
  }
}

/* Belady with next uses precomputed: O(n + faults·F). */
static uint64_t model_opt_big(const int *r, size_t n, uint32_t F, int pages) {
  size_t *next = malloc(n * sizeof *next), *last = malloc(pages * sizeof *last);
  int *fr = malloc(F * sizeof *fr);
  size_t *fnext = malloc(F * sizeof *fnext);
  int *where = malloc(pages * sizeof *where);
  assert_true(next && last && fr && fnext && where);
  for (int p = 0; p < pages; p++) { last[p] = n; where[p] = -1; }
  for (size_t k = n; k-- > 0;) { next[k] = last[r[k]]; last[r[k]] = k; }
  uint32_t m = 0;
  uint64_t faults = 0;
  for (size_t k = 0; k < n; k++) {
    int w = where[r[k]];
    if (w >= 0) { fnext[w] = next[k]; continue; }
    faults++;
    if (m < F) { w = (int)m++; }
    else {
      w = 0;
      for (uint32_t j = 1; j < m; j++) if (fnext[j] > fnext[w]) w = (int)j;
      where[fr[w]] = -1;
    }
    fr[w] = r[k];
    fnext[w] = next[k];
    where[r[k]] = w;
  }
  free(next); free(last); free(fr); free(fnext); free(where);
  return faults;
}

/* OPT's lazy hits, with more pages hit between two faults than its
** pending list holds (so the heap is rebuilt) and with few: it matches
** the model on a string of loops (twice over 1,050 pages, which fit, or
** over 1,300, which do not) and random stretches, 1,100 frames. A second run of the same string starts its indexes at 0
** again, so resident pages get smaller keys than they had (the debug
** build checks the heap at every choice). */
static void opt_lazy_hits(void **state) {
  (void)state;
  enum { N = 30000, PAGES = 2000, F = 1100 };
  static int refs[N];
  uint64_t x = 7;
  for (size_t k = 0; k < N;) {
    uint64_t r = mix(&x);
    if (r & 1) {                        /* loops over 1,050 or 1,300 pages */
      int lo = (int)((r >> 8) % 600), len = (r & 2) ? 1050 : 1300;
      for (int j = 0; j < 2 * len && k < N; j++) refs[k++] = lo + j % len;
    } else {                            /* a random stretch */
      for (int j = 0; j < 500 && k < N; j++)
        refs[k++] = (int)(mix(&x) % PAGES);
    }
  }
  char path[128];
  trace_write(refs, N, NULL, path, sizeof path);
  pol opt = { "opt", true, 0, 0 };
  mm_config cfg;
  cfg_for(&cfg, &opt);
  cfg.ram = MiB(16);                    /* room for F frames and more */
  cfg.pagefile = MiB(32);
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, F, true, PAGES);
  mm_run_result res = replay(sys, p, path);
  assert_int_equal(res.refs - res.outcome[MM_HIT], model_opt_big(refs, N, F, PAGES));
  res = replay(sys, p, path);
  assert_true(res.outcome[MM_HIT] > 0);
  END(sys);
  unlink(path);
}

/* OPT keeps what is used soonest: at 4, page 3 is needed last. */
static void opt_victim(void **state) {
  (void)state;
  static const int s[] = { 1, 2, 3, 4, 1, 2, 3 };
  pol opt = { "opt", true, 0, 0 }, fifo = { "fifo", true, 0, 0 };
  assert_int_equal(string_faults(&opt, s, 7, 3), 5);
  assert_int_equal(string_faults(&fifo, s, 7, 3), 7);
}

/* OPT cannot run reference by reference. */
static void opt_refused_by_access(void **state) {
  (void)state;
  pol opt = { "opt", true, 0, 0 };
  mm_config cfg;
  cfg_for(&cfg, &opt);
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, 3, true, 4);
  assert_int_equal(pol_access(sys, p, 0), MM_ERROR);
  assert_non_null(strstr(mm_last_error(sys), "future"));
  END(sys);
}

/* The hit/fault pattern of 300 references, 20 pages, 5 frames. */
static void random_pattern(uint64_t spec_seed, uint64_t sys_seed,
                           char *out) {
  pol pl = { "random", true, 0, spec_seed };
  mm_config cfg;
  cfg_for(&cfg, &pl);
  cfg.seed = sys_seed;
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, 5, true, 20);
  int refs[300];
  random_string(3, refs, 300, 20);
  for (int k = 0; k < 300; k++)
    out[k] = pol_access(sys, p, refs[k]) == MM_HIT ? 'h' : 'F';
  out[300] = 0;
  END(sys);
}

/* Same seed, same victims; another seed, other victims; seed 0 means the
** system's seed. */
static void random_reproducible(void **state) {
  (void)state;
  char a[301], b[301], c[301], d[301];
  random_pattern(11, 1, a);
  random_pattern(11, 1, b);
  random_pattern(12, 1, c);
  random_pattern(0, 11, d);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  assert_string_equal(a, d);
}

/* Victims are uniform among the resident pages: 400 seeds, 4 pages, the
** fifth evicts one; each is chosen about 100 times. */
static void random_uniform(void **state) {
  (void)state;
  unsigned count[4] = { 0, 0, 0, 0 };
  for (uint64_t seed = 1; seed <= 400; seed++) {
    pol pl = { "random", true, 0, seed };
    mm_config cfg;
    cfg_for(&cfg, &pl);
    cfg.ram = KiB(256);
    mm_system *sys = sys_make(&cfg);
    mm_pid p = proc_make(sys, 1, 4, true, 5);
    for (int pg = 0; pg <= 4; pg++) pol_access(sys, p, pg);
    int pg = 0;
    while (pg < 4 && pol_access(sys, p, pg) == MM_HIT) pg++;
    assert_true(pg < 4);
    count[pg]++;
    END(sys);
  }
  for (int pg = 0; pg < 4; pg++)
    if (count[pg] < 60 || count[pg] > 140)
      fail_msg("page %d chosen %u times in 400 (expected about 100)", pg,
               count[pg]);
}

/* WSClock keeps what was used within τ and takes what was not. A manager
** pass (memory plentiful: it only samples) stamps every page, so the
** loads' accessed bits do not hide the ages. */
static void wsclock_keeps_window(void **state) {
  (void)state;
  /* τ = 100: page 0 was used again, 1 is the first page past the window. */
  pol pl = { "wsclock", true, 100, 0 };
  mm_config cfg;
  cfg_for(&cfg, &pl);
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, 4, true, 8);
  for (int pg = 0; pg < 4; pg++) pol_access(sys, p, pg);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  assert_status(mm_tick(sys, 200), MM_STATUS_SUCCESS);
  assert_int_equal(pol_access(sys, p, 0), MM_HIT);
  assert_int_equal(pol_access(sys, p, 4), MM_DEMAND_ZERO);
  for (int pg = 0; pg <= 4; pg++)
    if (pg != 1) assert_int_equal(pol_access(sys, p, pg), MM_HIT);
  assert_int_equal(pol_access(sys, p, 1), MM_SOFT);
  END(sys);

  /* τ = 1000: every page is in the window, so the oldest use goes —
  ** page 2 (1 was used later, 0 just now; 2 before 3 in the hand's
  ** order), where FIFO would take 0 and clock 1. */
  pl.tau = 1000;
  cfg_for(&cfg, &pl);
  sys = sys_make(&cfg);
  p = proc_make(sys, 1, 4, true, 8);
  for (int pg = 0; pg < 4; pg++) pol_access(sys, p, pg);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  assert_status(mm_tick(sys, 10), MM_STATUS_SUCCESS);
  assert_int_equal(pol_access(sys, p, 1), MM_HIT);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  assert_int_equal(pol_access(sys, p, 0), MM_HIT);
  assert_int_equal(pol_access(sys, p, 4), MM_DEMAND_ZERO);
  for (int pg = 0; pg <= 4; pg++)
    if (pg != 2) assert_int_equal(pol_access(sys, p, pg), MM_HIT);
  assert_int_equal(pol_access(sys, p, 2), MM_SOFT);
  END(sys);

  /* load_referenced = false: the load counts at its own time, so no
  ** manager pass is needed for page 1 (loaded at t = 2, never used
  ** again) to be out of a τ = 100 window at t = 206. With the default,
  ** every bit is still set from the loads: the sweep stamps all four
  ** now and falls back to the first in the hand's order, page 0. */
  for (int load = 0; load <= 1; load++) {
    pl = (pol){ "wsclock", load == 1, 100, 0 };
    cfg_for(&cfg, &pl);
    sys = sys_make(&cfg);
    p = proc_make(sys, 1, 4, true, 8);
    for (int pg = 0; pg < 4; pg++) pol_access(sys, p, pg);
    assert_status(mm_tick(sys, 200), MM_STATUS_SUCCESS);
    assert_int_equal(pol_access(sys, p, 0), MM_HIT);
    assert_int_equal(pol_access(sys, p, 4), MM_DEMAND_ZERO);
    int victim = load ? 0 : 1;
    for (int pg = 0; pg <= 4; pg++)
      if (pg != victim) assert_int_equal(pol_access(sys, p, pg), MM_HIT);
    assert_int_equal(pol_access(sys, p, victim), MM_SOFT);
    END(sys);
  }
}

/* Trimming (force = false) takes only pages outside the window, even
** when the manager would like more. */
static void wsclock_trims_only_old(void **state) {
  (void)state;
  pol pl = { "wsclock", true, 50, 0 };
  mm_config cfg;
  cfg_for(&cfg, &pl);
  cfg.tune.plenty_free_pages = 100000;        /* memory always low */
  cfg.tune.min_free_pages = 0;                /* never trim hard */
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, 2, false, 8);
  for (int pg = 0; pg < 6; pg++) pol_access(sys, p, pg);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 6);            /* all used within τ */
  assert_int_equal(ps.trimmed, 0);
  assert_status(mm_tick(sys, 100), MM_STATUS_SUCCESS);
  pol_access(sys, p, 0);
  pol_access(sys, p, 1);
  assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 2);
  assert_int_equal(ps.trimmed, 4);
  assert_int_equal(pol_access(sys, p, 0), MM_HIT);
  assert_int_equal(pol_access(sys, p, 1), MM_HIT);
  END(sys);
}

/* τ = 0 means trim_age × refs_per_second: here 3 × 100 references, so
** pages the manager stamped at t = 100 leave the window at t = 400. */
static void wsclock_default_tau(void **state) {
  (void)state;
  pol pl = { "wsclock", true, 0, 0 };
  mm_config cfg;
  cfg_for(&cfg, &pl);
  cfg.tune.refs_per_second = 100;
  cfg.tune.trim_age = 3;
  cfg.tune.plenty_free_pages = 100000;
  cfg.tune.min_free_pages = 0;
  mm_system *sys = sys_make(&cfg);
  mm_pid p = proc_make(sys, 1, 2, false, 8);
  for (int pg = 0; pg < 6; pg++) pol_access(sys, p, pg);
  mm_pstats ps;
  assert_status(mm_tick(sys, 294), MM_STATUS_SUCCESS);     /* t = 300 */
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 6);
  assert_status(mm_tick(sys, 100), MM_STATUS_SUCCESS);     /* t = 400 */
  mm_process_stats(sys, p, &ps);
  assert_int_equal(ps.ws_size, 2);
  END(sys);
}

/* ------------------------------------------------ the manager's policies */

/* With memory low, the working-set manager shrinks a set above its
** maximum with every policy (aging after its passes, wsclock once the
** pages have left the window). */
static void wsm_trims_every_policy(void **state) {
  (void)state;
  static const int s[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 3, 7 };
  char path[128];
  trace_write(s, sizeof s / sizeof *s, NULL, path, sizeof path);
  for (size_t i = 0; i < NEVERY; i++) {
    mm_config cfg;
    cfg_for(&cfg, &every[i]);
    cfg.tune.plenty_free_pages = 100000;
    cfg.tune.min_free_pages = 0;
    mm_system *sys = sys_make(&cfg);
    mm_pid p = proc_make(sys, 1, 4, false, 12);
    replay(sys, p, path);
    mm_pstats ps;
    mm_process_stats(sys, p, &ps);
    assert_int_equal(ps.ws_size, 12);          /* a soft maximum */
    for (int pass = 0; pass < 8 && ps.ws_size > 4; pass++) {
      assert_status(mm_tick(sys, 20), MM_STATUS_SUCCESS);
      assert_status(mm_wsm_run(sys), MM_STATUS_SUCCESS);
      mm_process_stats(sys, p, &ps);
    }
    if (ps.ws_size != 4 || ps.trimmed != 8)
      fail_msg("%s: working set %llu, %llu trimmed", every[i].name,
               (unsigned long long)ps.ws_size, (unsigned long long)ps.trimmed);
    END(sys);
  }
  unlink(path);
}

/* Lowering a hard maximum trims many pages at once (select with force and
** want > 1): exactly down to the limit, each victim once (a repeated
** victim would trip ws_trim_slot's assert). Some pages are re-touched in
** between, so the clocks see a mix of set and clear bits. */
static void shrink_every_policy(void **state) {
  (void)state;
  int touch[40], again[12];
  for (int k = 0; k < 40; k++) touch[k] = k;
  for (int k = 0; k < 12; k++) again[k] = 3 * k;
  char t1[128], t2[128];
  trace_write(touch, 40, NULL, t1, sizeof t1);
  trace_write(again, 12, NULL, t2, sizeof t2);
  static const uint32_t limits[] = { 30, 10, 3, 1 };
  for (size_t i = 0; i < NEVERY; i++) {
    mm_config cfg;
    cfg_for(&cfg, &every[i]);
    mm_system *sys = sys_make(&cfg);
    mm_pid p = proc_make(sys, 1, 100, false, 40);
    replay(sys, p, t1);
    for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
      assert_status(mm_process_set_ws(sys, p, 1, limits[l], false, true),
                    MM_STATUS_SUCCESS);
      mm_pstats ps;
      mm_process_stats(sys, p, &ps);
      if (ps.ws_size != limits[l])
        fail_msg("%s: working set %llu after a limit of %u", every[i].name,
                 (unsigned long long)ps.ws_size, limits[l]);
      if (l == 0) replay(sys, p, t2);
    }
    END(sys);
  }
  unlink(t1);
  unlink(t2);
}

/* select() itself, called directly: with force it returns exactly
** min(want, count) distinct resident slots; without, at most want. The
** victims are then trimmed, as every caller does (aging marks its victims
** until they leave), and touched again. The set grows past the first
** reserve() (64 slots). */
static void select_contract(void **state) {
  (void)state;
  enum { PAGES = 150 };
  int touch[PAGES], again[40];
  for (int k = 0; k < PAGES; k++) touch[k] = k;
  for (int k = 0; k < 40; k++) again[k] = (k * 7) % PAGES;
  char t1[128], t2[128];
  trace_write(touch, PAGES, NULL, t1, sizeof t1);
  trace_write(again, 40, NULL, t2, sizeof t2);
  static const uint32_t wants[] = { 1, 2, 17, 149, 150, 151, 1000 };
  static uint32_t v[1000];
  for (size_t i = 0; i < NEVERY; i++) {
    mm_config cfg;
    cfg_for(&cfg, &every[i]);
    mm_system *sys = sys_make(&cfg);
    mm_pid pid = proc_make(sys, 1, 1000, false, PAGES);
    replay(sys, pid, t1);
    replay(sys, pid, t2);
    mm_process *p = proc_get(sys, pid);
    assert_non_null(p);
    assert_int_equal(p->ws.count, PAGES);
    for (size_t w = 0; w < sizeof wants / sizeof *wants; w++) {
      for (int force = 1; force >= 0; force--) {
        int64_t n = sys->pol_ops->select(sys, p, p->ws.pol, wants[w],
                                         force, v);
        uint32_t expect = wants[w] < PAGES ? wants[w] : PAGES;
        if (force ? n != expect : (n < 0 || n > expect))
          fail_msg("%s: select(%u, force %d) gave %lld", every[i].name,
                   wants[w], force, (long long)n);
        for (int64_t a = 0; a < n; a++) {
          assert_true(v[a] < p->ws.hi && p->ws.e[v[a]].pte != NULL);
          for (int64_t b = 0; b < a; b++)
            if (v[a] == v[b])
              fail_msg("%s: slot %u chosen twice", every[i].name, v[a]);
        }
        /* As every caller does: trim them all, then bring them back. */
        for (int64_t a = 0; a < n; a++) ws_trim_slot(sys, p, v[a], false);
        replay(sys, pid, t1);
        assert_int_equal(p->ws.count, PAGES);
      }
    }
    END(sys);
  }
  unlink(t1);
  unlink(t2);
}

/* The lookahead cursor of the list policies (policy.h): a page leaving
** between the front and the cursor leaves dist too large, and
** pol_cursor_recount sets it back to the true distance. Here: a list
** 0 → 1 → … → 39, the cursor WS_AHEAD places past the front, pages 3 and
** 7 unlinked as lru's hits unlink them. */
static void cursor_recount_after_hits(void **state) {
  (void)state;
  enum { N = 40 };
  pol_link ln[N];
  for (uint32_t s = 0; s < N; s++) {
    ln[s].prev = s ? s - 1 : MM_NIL;
    ln[s].next = s + 1 < N ? s + 1 : MM_NIL;
  }
  pol_cursor c;
  pol_cursor_init(&c);
  c.at = WS_AHEAD;
  c.dist = WS_AHEAD;
  const uint32_t gone[] = { 3, 7 };
  for (size_t k = 0; k < 2; k++) {
    uint32_t s = gone[k];
    pol_cursor_leave(&c, ln, s, false);
    ln[ln[s].prev].next = ln[s].next;
    ln[ln[s].next].prev = ln[s].prev;
  }
  assert_int_equal(c.dist, WS_AHEAD);             /* the drift */
  for (uint32_t k = 1; k < WS_AHEAD; k++) {
    pol_cursor_recount(&c, ln, 0);
    assert_int_equal(c.dist, WS_AHEAD);           /* not counted yet */
  }
  pol_cursor_recount(&c, ln, 0);
  assert_int_equal(c.at, WS_AHEAD);
  assert_int_equal(c.dist, WS_AHEAD - 2);
}

/* --------------------------------------------------------------- fixtures */

static int setup(void **state) {
  (void)state;
  strcpy(tmpdir, "/tmp/pagelab-test-policy-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  DIR *d = opendir(tmpdir);
  if (!d) return 0;
  struct dirent *e;
  char path[400];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(tmpdir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(golden_belady_c1),
    cmocka_unit_test(golden_silberschatz_c3),
    cmocka_unit_test(clock_load_referenced),
    cmocka_unit_test(policies_match_models),
    cmocka_unit_test(lru_opt_stack_property),
    cmocka_unit_test(replay_twice_identical),
    cmocka_unit_test(victim_choice),
    cmocka_unit_test(opt_victim),
    cmocka_unit_test(opt_lazy_hits),
    cmocka_unit_test(opt_refused_by_access),
    cmocka_unit_test(random_reproducible),
    cmocka_unit_test(random_uniform),
    cmocka_unit_test(wsclock_keeps_window),
    cmocka_unit_test(wsclock_trims_only_old),
    cmocka_unit_test(wsclock_default_tau),
    cmocka_unit_test(wsm_trims_every_policy),
    cmocka_unit_test(shrink_every_policy),
    cmocka_unit_test(select_contract),
    cmocka_unit_test(cursor_recount_after_hits),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
