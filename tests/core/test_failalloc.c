/*
** test_failalloc.c — every host allocation of a representative scenario
** fails once, in turn.
**
** Built by mk/reliability.mk against a copy of the core compiled with
** -include tests/core/failalloc.h (malloc, calloc, realloc, strdup and free
** counted; the Nth allocation refused). The scenario creates a system and
** processes; reserves, commits, protects, touches (with page contents, so
** the page-file copy path allocates too), trims, sets working-set limits,
** creates page-file and file sections, maps, writes through and unmaps
** views, flushes, replays a text trace and a workload, loads a PE image
** when tests/data/pe/app.exe was built, and terminates a process.
**
** It runs once to count the allocations (T), then once for every N in
** 1..T. For each public call, during which the injected failure happened:
**   - the call succeeds (the core tolerated it), or returns
**     STATUS_NO_MEMORY or STATUS_INSUFFICIENT_RESOURCES (system creation:
**     a failure with no system);
**   - after a failure, the state is what it was: system counters, every
**     process's counters and address space (a query walk), sections;
**   - mm_check() holds after every call;
** and after mm_system_destroy every block the core allocated is freed.
** The steps after the failure keep running (their results are not
** checked, only invariants, crashes and leaks).
**
** PAGELAB_FAILALLOC_STRIDE=k tries every k-th N only (valgrind runs use
** 97); PAGELAB_FAILALLOC_N=n tries that one N; PAGELAB_FAILALLOC_KNOWN=0
** fails on the known bugs too; PAGELAB_FAILALLOC_VERBOSE=1 prints each N.
*/
#include <unistd.h>

#include "testutil.h"
#define FAILALLOC_NO_MACROS       /* the harness allocates for real */
#include "failalloc.h"

#define NPROCS 4
#define WALK_TOP 0x80000000ull      /* the scenario's addresses are below */
#define MAX_REGIONS 512
#define U(x) ((unsigned long long)(x))

/* ---------------------------------------------------------- known bugs

   Problems the sweep found in the core. Each has a failing test below,
   named after the symptom; meanwhile the sweep counts them apart and
   passes, so that it keeps finding new ones. PAGELAB_FAILALLOC_KNOWN=0
   fails on them too. */
enum {
  KB_CREATE_STATUS,   /* mm_system_create: INVALID_PARAMETER when out of memory */
  KB_COMMIT_PEAK,     /* a failed call leaves commit_peak raised */
  KB_ACCESS_CLOCK,    /* access resolved, then the manager's OOM: MM_ERROR */
  KB_FILE_OPEN,       /* mm_file_open: INVALID_PARAMETER when out of memory */
  KB_COUNT
};
static const char *const kb_name[KB_COUNT] = {
  "system_create_out_of_memory_is_no_memory",
  "failed_call_leaves_commit_peak_alone",
  "access_that_completed_is_not_an_error",
  "file_open_out_of_memory_is_no_memory",
};
static uint64_t kb_hits[KB_COUNT];
static bool kb_tolerate = true;

/* ------------------------------------------------------------ snapshots */

typedef struct snap {
  mm_sstats ss;
  mm_pstats ps[NPROCS];
  uint64_t nreg[NPROCS];
  mm_region reg[NPROCS][MAX_REGIONS];
} snap;

typedef struct ctx {
  uint64_t n;                   /* the allocation that fails (0: none) */
  mm_system *sys;
  mm_pid pid[NPROCS];
  bool hit;                     /* the injected failure has happened */
  int known;                    /* a known bug explains the run, or -1 */
  char hit_call[64];            /* in this call */
  mm_status hit_status;
  unsigned calls;
  char problem[700];            /* the first problem found */
  snap before, after;           /* of the call running */
  const char *trace_path;
  const char *sys_err;          /* mm_system_create's message */
  uint64_t *at;                 /* counting run: fa_count before each call */
  size_t nat, capat;
  unsigned target;              /* the call the failure falls in */
} ctx;

static void problem(ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void problem(ctx *c, const char *fmt, ...) {
  if (c->problem[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->problem, sizeof c->problem, fmt, ap);
  va_end(ap);
}

static void take(ctx *c, snap *s) {
  memset(s, 0, sizeof *s);
  if (!c->sys) return;
  mm_system_stats(c->sys, &s->ss);
  for (int k = 0; k < NPROCS; k++) {
    if (!c->pid[k] || !mm_process_alive(c->sys, c->pid[k])) continue;
    mm_process_stats(c->sys, c->pid[k], &s->ps[k]);
    uint64_t a = 0;
    while (a < WALK_TOP && s->nreg[k] < MAX_REGIONS) {
      mm_region r;
      if (mm_query(c->sys, c->pid[k], a, &r) != MM_STATUS_SUCCESS) break;
      s->reg[k][s->nreg[k]++] = r;
      a = r.base + r.size;
    }
  }
}

/* Names the first field that differs, or NULL. strict: every counter;
** else only the state (lists, commit, page tables, address spaces). */
static char diff_buf[160];

static const char *diff(const snap *a, const snap *b, bool strict) {
  static const char *const state[] = {
    "available", "free", "zeroed", "standby", "modified", "modified_nowrite",
    "active", "bad", "commit_charge", "commit_limit", "pagefile_used",
    "page_table_pages", "processes", NULL
  };
  for (const mm_stat_field *f = mm_sstats_fields; f->name; f++) {
    if (strcmp(f->name, "commit_peak") == 0) continue;   /* KB_COMMIT_PEAK */
    bool in_state = false;
    for (int k = 0; state[k]; k++) in_state |= strcmp(state[k], f->name) == 0;
    if (!strict && !in_state) continue;
    uint64_t x = *(const uint64_t *)((const char *)&a->ss + f->offset);
    uint64_t y = *(const uint64_t *)((const char *)&b->ss + f->offset);
    if (x != y) {
      snprintf(diff_buf, sizeof diff_buf, "%s from %llu to %llu", f->name,
               U(x), U(y));
      return diff_buf;
    }
  }
  for (int k = 0; k < NPROCS; k++) {
    if (a->ps[k].commit != b->ps[k].commit) return "a process's commit";
    if (a->ps[k].ws_size != b->ps[k].ws_size) return "a working-set size";
    if (a->ps[k].private_pages != b->ps[k].private_pages) return "private_pages";
    if (a->nreg[k] != b->nreg[k] ||
        memcmp(a->reg[k], b->reg[k], a->nreg[k] * sizeof(mm_region)) != 0)
      return "an address space (query walk)";
  }
  return NULL;
}

enum { K_STRICT, K_STATE, K_PROGRESS };

/* Before and after one public call. kind: K_STRICT for the services whose
** failure changes nothing at all; K_STATE for accesses (time and fault
** counters move on); K_PROGRESS for replays, ticks and the manager, whose
** work up to the failure stands (only invariants and the status count). */
static void pre(ctx *c) {
  if (c->n == 0) {                      /* counting run: where calls start */
    if (c->nat == c->capat) {
      c->capat = c->capat ? 2 * c->capat : 1024;
      c->at = realloc(c->at, c->capat * sizeof *c->at);
      assert_non_null(c->at);
    }
    c->at[c->nat++] = fa_count;
  } else if (c->calls == c->target) {   /* the runs agree up to the failure */
    take(c, &c->before);
  }
  c->calls++;
}

static bool post(ctx *c, const char *call, mm_status st, int kind) {
  bool hit = fa_failed > 0 && !c->hit;
  if (hit) {
    c->hit = true;
    snprintf(c->hit_call, sizeof c->hit_call, "%s", call);
    c->hit_status = st;
  }
  /* Up to the call the failure falls in, a run is the counting run
  ** again (which scenario_runs_clean checks): check from there on. */
  if (c->sys && (c->n == 0 || c->calls > c->target) && mm_check(c->sys) != 0)
    problem(c, "N=%llu %s: invariant broken: %s", U(c->n), call,
            mm_last_error(c->sys));
  if (!hit) {
    if (!c->hit && st != MM_STATUS_SUCCESS)
      problem(c, "N=%llu %s: %s without any injected failure (%s)", U(c->n),
              call, mm_status_name(st), c->sys ? mm_last_error(c->sys) : "");
    return st == MM_STATUS_SUCCESS;
  }
  if (st == MM_STATUS_SUCCESS) return true;
  const char *msg = c->sys ? mm_last_error(c->sys) : c->sys_err ? c->sys_err : "";
  if (st != MM_STATUS_NO_MEMORY && st != MM_STATUS_INSUFFICIENT_RESOURCES) {
    if (st == MM_STATUS_INVALID_PARAMETER && !strcmp(call, "mm_system_create") &&
        strstr(msg, "memory"))
      c->known = KB_CREATE_STATUS;
    else if (st == MM_STATUS_INVALID_PARAMETER && !strcmp(call, "mm_exec") &&
             strstr(msg, "cannot read host file"))
      c->known = KB_FILE_OPEN;
    else
      problem(c, "N=%llu %s: the failed allocation gave %s, not an "
              "out-of-memory status (%s)", U(c->n), call, mm_status_name(st),
              msg);
  }
  if (kind != K_PROGRESS && c->sys) {
    take(c, &c->after);
    const char *d = diff(&c->before, &c->after, kind == K_STRICT);
    if (d && !strcmp(call, "mm_access") && strstr(msg, "while trimming"))
      c->known = KB_ACCESS_CLOCK;
    else if (d)
      problem(c, "N=%llu %s failed with %s but changed %s (%s)", U(c->n), call,
              mm_status_name(st), d, msg);
    else if (kind == K_STRICT &&
             c->after.ss.commit_peak != c->before.ss.commit_peak)
      c->known = KB_COMMIT_PEAK;
  }
  return false;
}

/* ------------------------------------------------------------- scenario */

#define RW MM_PAGE_READWRITE
#define RO MM_PAGE_READONLY
#define WC MM_PAGE_WRITECOPY
#define RC (MM_MEM_RESERVE | MM_MEM_COMMIT)

static bool alloc(ctx *c, int k, uint64_t base, uint64_t size, uint32_t type,
                  uint32_t prot) {
  uint64_t b = base, s = size;
  pre(c);
  return post(c, "mm_allocate", mm_allocate(c->sys, c->pid[k], &b, &s, type, prot),
              K_STRICT);
}

static void dofree(ctx *c, int k, uint64_t base, uint64_t size, uint32_t type) {
  uint64_t b = base, s = size;
  pre(c);
  post(c, "mm_free", mm_free(c->sys, c->pid[k], &b, &s, type), K_STRICT);
}

static void protect(ctx *c, int k, uint64_t base, uint64_t size, uint32_t prot) {
  uint64_t b = base, s = size;
  uint32_t old;
  pre(c);
  post(c, "mm_protect", mm_protect(c->sys, c->pid[k], &b, &s, prot, &old),
       K_STRICT);
}

/* mm_access reports a failure as MM_ERROR and a sentence: out of host
** memory counts as STATUS_NO_MEMORY, anything else does not. */
static mm_status access_status(ctx *c, int r) {
  if (r != MM_ERROR) return MM_STATUS_SUCCESS;
  return strstr(mm_last_error(c->sys), "memory") ? MM_STATUS_NO_MEMORY
                                                 : MM_STATUS_PAGELAB_CALLBACK_FAILED;
}

static void touch(ctx *c, int k, uint64_t base, uint64_t pages, unsigned kind) {
  for (uint64_t i = 0; i < pages; i++) {
    pre(c);
    int r = mm_access(c->sys, c->pid[k], base + i * 4096, kind);
    post(c, "mm_access", access_status(c, r), K_STATE);
  }
}

static void rw_bytes(ctx *c, int k, uint64_t addr, bool write, uint64_t n) {
  static uint8_t buf[3 * 4096];
  uint64_t done = 0;
  if (n > sizeof buf) n = sizeof buf;
  for (uint64_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 7 + addr);
  pre(c);
  mm_status st = write ? mm_write(c->sys, c->pid[k], addr, buf, n, &done)
                       : mm_read(c->sys, c->pid[k], addr, buf, n, &done);
  post(c, write ? "mm_write" : "mm_read", st, K_STATE);
}

static bool new_process(ctx *c, int k, uint32_t ws_max) {
  mm_process_config pc = { "fa", 0, ws_max, false, false };
  pre(c);
  mm_status st = mm_process_create(c->sys, &pc, &c->pid[k]);
  if (st) c->pid[k] = 0;
  return post(c, "mm_process_create", st, K_STRICT);
}

static mm_handle section(ctx *c, uint64_t size, uint32_t prot, uint32_t attr,
                         mm_handle file, const char *name) {
  mm_section_config sc = { size, prot, attr, file, name };
  mm_handle h = 0;
  pre(c);
  if (!post(c, "mm_section_create", mm_section_create(c->sys, &sc, &h, NULL),
            K_STRICT))
    return 0;
  return h;
}

static uint64_t map(ctx *c, int k, mm_handle h, uint32_t prot, uint64_t commit) {
  uint64_t b = 0, s = 0;
  pre(c);
  mm_status st = h ? mm_map_view(c->sys, c->pid[k], h, &b, 0, &s, prot, commit, 0)
                   : MM_STATUS_INVALID_HANDLE;
  if (!h && c->hit) return 0;             /* the section was never made */
  return post(c, "mm_map_view", st, K_STRICT) ? b : 0;
}

static void unmap(ctx *c, int k, uint64_t v) {
  if (!v) return;
  pre(c);
  post(c, "mm_unmap_view", mm_unmap_view(c->sys, c->pid[k], v), K_STRICT);
}

static void close_section(ctx *c, mm_handle h) {
  if (!h) return;
  pre(c);
  post(c, "mm_section_close", mm_section_close(c->sys, h), K_STRICT);
}

static void run_source(ctx *c, int k, mm_source *src, uint64_t refs) {
  if (!src) return;
  mm_run_opts o = { refs, true, false };
  mm_run_result res;
  pre(c);
  post(c, "mm_run", mm_run(c->sys, c->pid[k], src, &o, &res), K_PROGRESS);
  mm_source_close(src);
}

/* A source creation that failed must say why; out of memory is fine. */
static mm_source *source(ctx *c, mm_source *src, const char *what,
                         const char *err) {
  bool hit = fa_failed > 0 && !c->hit;
  if (hit) {
    c->hit = true;
    snprintf(c->hit_call, sizeof c->hit_call, "%s", what);
    c->hit_status = src ? MM_STATUS_SUCCESS : MM_STATUS_NO_MEMORY;
  }
  if (!src && !hit)
    problem(c, "N=%llu %s failed without an injected failure: %s", U(c->n),
            what, err);
  if (!src && !*err)
    problem(c, "N=%llu %s failed without a message", U(c->n), what);
  return src;
}

#define PE_DIR "tests/data/pe"

static void scenario(ctx *c) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(1);                 /* 256 frames: paging from the start */
  cfg.pagefile = MiB(6);
  cfg.contents = true;              /* page-file copies allocate too */
  cfg.tlb.entries = 16;
  cfg.tlb.ways = 4;
  cfg.tune.refs_per_second = 500;
  char err[256] = "";
  pre(c);
  mm_status st = mm_system_create(&cfg, &c->sys, err, sizeof err);
  if (st && !*err) problem(c, "N=%llu mm_system_create failed without a message",
                           U(c->n));
  c->sys_err = err;
  if (!post(c, "mm_system_create", st, K_STRICT)) {
    if (c->sys) problem(c, "N=%llu mm_system_create failed but returned a "
                        "system", U(c->n));
    c->sys = NULL;
    return;
  }
  mm_system *sys = c->sys;

  /* processes: the process table grows past its first 8 slots */
  new_process(c, 0, 0);
  new_process(c, 1, 64);
  for (int i = 0; i < 8; i++) {
    mm_pid spare = 0;
    mm_process_config pc = { "spare", 0, 0, false, false };
    pre(c);
    post(c, "mm_process_create", mm_process_create(sys, &pc, &spare), K_STRICT);
  }
  new_process(c, 2, 0);

  /* private memory: reserve, commit, protect, guard, many VADs, splits */
  const uint64_t R = 0x10000000;
  alloc(c, 0, R, MiB(1), MM_MEM_RESERVE, RW);
  alloc(c, 0, R, 0x40000, MM_MEM_COMMIT, RW);
  alloc(c, 0, R + 0x80000, 0x1000, MM_MEM_COMMIT, RW | MM_PAGE_GUARD);
  protect(c, 0, R + 0x10000, 0x8000, RO);
  for (int i = 0; i < 12; i++)       /* the VAD array grows */
    alloc(c, 0, 0, 0x3000 + (uint64_t)i * 0x1000, RC, RW);
  alloc(c, 0, 0x20000000, 0x100000, RC, RW);
  dofree(c, 0, 0x20040000, 0x10000, MM_MEM_RELEASE);   /* a middle: split */
  dofree(c, 0, R + 0x30000, 0x10000, MM_MEM_DECOMMIT);
  alloc(c, 1, 0x30000000, MiB(2), RC, RW);

  /* touching: more pages than frames, with contents */
  touch(c, 0, R, 64, MM_WRITE);
  touch(c, 0, R + 0x80000, 2, MM_READ);             /* guard, then hit */
  touch(c, 1, 0x30000000, 160, MM_WRITE);
  rw_bytes(c, 0, R + 0x123, true, 3 * 4096);
  touch(c, 0, 0x20000000, 120, MM_WRITE);
  rw_bytes(c, 0, R + 0x123, false, 3 * 4096);
  touch(c, 1, 0x30000000, 160, MM_READ);             /* back from the page file */

  /* trimming */
  pre(c);
  post(c, "mm_process_set_ws", mm_process_set_ws(sys, c->pid[1], 4, 16, false,
                                                 true), K_STATE);
  pre(c);
  post(c, "mm_wsm_run", mm_wsm_run(sys), K_PROGRESS);
  pre(c);
  post(c, "mm_tick", mm_tick(sys, 2000), K_PROGRESS);

  /* page-file sections, shared, reserve + commit in a view, copy-on-write */
  mm_handle s1 = section(c, 0x20000, RW, MM_SEC_COMMIT, 0, "fa-shared");
  mm_handle s2 = section(c, 0x30000, RW, MM_SEC_RESERVE, 0, NULL);
  uint64_t v1 = map(c, 0, s1, RW, 0);
  uint64_t v2 = map(c, 2, s1, RW, 0);
  uint64_t v3 = map(c, 2, s1, WC, 0);
  uint64_t v4 = map(c, 0, s2, RW, 0x2000);
  if (v1) rw_bytes(c, 0, v1 + 10, true, 2 * 4096);
  if (v2) rw_bytes(c, 2, v2 + 10, false, 2 * 4096);
  if (v3) touch(c, 2, v3, 4, MM_WRITE);
  if (v4) {
    alloc(c, 0, v4 + 0x4000, 0x3000, MM_MEM_COMMIT, RW);
    touch(c, 0, v4, 8, MM_WRITE);
  }

  /* a simulated file, a section on it, a view, a flush. (A section that
  ** extends the file is file_extension_that_cannot_grow_contents_fails:
  ** its refused realloc corrupts the heap, so it stays out of the sweep.) */
  mm_handle f = 0;
  pre(c);
  if (post(c, "mm_file_create", mm_file_create(sys, "fa.dat", 0x9000, &f),
           K_STRICT)) {
    mm_handle fs = section(c, 0, RW, 0, f, NULL);
    uint64_t fv = map(c, 2, fs, RW, 0);
    if (fv) {
      touch(c, 2, fv, 9, MM_READ);
      rw_bytes(c, 2, fv + 0x2ff0, true, 0x20);
      uint64_t b = fv, s = 0;
      pre(c);
      post(c, "mm_flush_view", mm_flush_view(sys, c->pid[2], &b, &s), K_STRICT);
    }
    unmap(c, 2, fv);
    close_section(c, fs);
    pre(c);
    post(c, "mm_file_close", mm_file_close(sys, f), K_STRICT);
  }

  /* replays: a text trace and a generator */
  if (c->trace_path) {
    char e2[256] = "";
    pre(c);
    mm_source *t = mm_trace_open(c->trace_path, NULL, e2, sizeof e2);
    run_source(c, 2, source(c, t, "mm_trace_open", e2), 0);
  }
  mm_workload_cfg wc;
  mm_workload_cfg_init(&wc, MM_WORKLOAD_ZIPF);
  wc.base = 0x50000000;
  wc.size = MiB(1);
  wc.writes = 0.3;
  char e3[256] = "";
  pre(c);
  mm_source *w = mm_workload_new(&wc, e3, sizeof e3);
  run_source(c, 1, source(c, w, "mm_workload_new", e3), 3000);

  /* an image, when mingw built the test images */
  if (access(PE_DIR "/app.exe", R_OK) == 0) {
    const char *dirs[] = { PE_DIR };
    mm_pid ip = 0;
    pre(c);
    post(c, "mm_exec", mm_exec(sys, PE_DIR "/app.exe", dirs, 1, &ip),
         K_PROGRESS);
  }

  unmap(c, 0, v1);
  unmap(c, 2, v3);
  close_section(c, s1);
  close_section(c, s2);
  pre(c);
  post(c, "mm_process_terminate", mm_process_terminate(sys, c->pid[2]),
       K_STRICT);
  c->pid[2] = 0;
}

static mm_status last_hit_status;   /* of the call the last run failed in */

/* fa_count before each call of the counting run (n = 0). */
static uint64_t *call_at;
static size_t ncall_at;

/* One run with allocation n refused; returns the allocations counted.
** *known: the known bug the run ran into, or -1. */
static uint64_t run_once(uint64_t n, const char *trace, char *why, size_t len,
                         char *hit_call, size_t hlen, int *known) {
  ctx *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->n = n;
  c->known = -1;
  c->trace_path = trace;
  /* the call allocation n falls in: the last one started before it */
  while (n && c->target + 1 < ncall_at && call_at[c->target + 1] < n)
    c->target++;
  fa_reset(n);
  uint64_t live0 = fa_live;
  scenario(c);
  mm_system_destroy(c->sys);
  uint64_t count = fa_count;
  if (!c->problem[0] && fa_live != live0)
    problem(c, "N=%llu (failed in %s): %llu blocks the core allocated are "
            "still live after mm_system_destroy", U(n),
            c->hit ? c->hit_call : "no call", U(fa_live - live0));
  if (n && !c->hit && n <= count)
    problem(c, "N=%llu: the allocation was refused outside any checked call",
            U(n));
  snprintf(why, len, "%s", c->problem);
  snprintf(hit_call, hlen, "%s", c->hit ? c->hit_call : "");
  if (known) *known = c->known;
  last_hit_status = c->hit ? c->hit_status : MM_STATUS_SUCCESS;
  if (n == 0) {
    free(call_at);
    call_at = c->at;
    ncall_at = c->nat;
  } else {
    free(c->at);
  }
  free(c);
  fa_reset(0);
  return count;
}

static char trace_file[64];

static void write_trace(void) {
  snprintf(trace_file, sizeof trace_file, "/tmp/pagelab-fa-XXXXXX");
  int fd = mkstemp(trace_file);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  assert_non_null(fp);
  for (int i = 0; i < 2000; i++)
    fprintf(fp, "%c %llx\n", i % 3 ? 'R' : 'W',
            U(0x60000000ull + (uint64_t)(i * 7919 % 400) * 4096 + (uint64_t)i % 64));
  fclose(fp);
}

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end;
  unsigned long long x = strtoull(v, &end, 0);
  return *end ? dflt : (uint64_t)x;
}

/* The scenario without failures: every call succeeds, nothing leaks. */
static void scenario_runs_clean(void **state) {
  (void)state;
  char why[700], call[64];
  uint64_t t = run_once(0, trace_file, why, sizeof why, call, sizeof call, NULL);
  if (why[0]) fail_msg("%s", why);
  assert_true(t > 100);
}

/* Every N (PAGELAB_FAILALLOC_STRIDE: every k-th). All problems found are
** listed, one line each, then the test fails. */
static void every_allocation_fails_cleanly(void **state) {
  (void)state;
  char why[700], call[64];
  uint64_t total = run_once(0, trace_file, why, sizeof why, call, sizeof call,
                            NULL);
  kb_tolerate = env_u64("PAGELAB_FAILALLOC_KNOWN", 0) != 0;
  uint64_t stride = env_u64("PAGELAB_FAILALLOC_STRIDE",
                            getenv("PAGELAB_VALGRIND") ? 97 : 1);
  uint64_t only = env_u64("PAGELAB_FAILALLOC_N", 0);
  uint64_t tried = 0, bad = 0, tolerated = 0, clean = 0;
  for (uint64_t n = only ? only : 1; n <= (only ? only : total);
       n += stride ? stride : 1) {
    if (getenv("PAGELAB_FAILALLOC_VERBOSE"))
      fprintf(stderr, "failalloc: N=%llu\n", U(n));
    int known = -1;
    run_once(n, trace_file, why, sizeof why, call, sizeof call, &known);
    tried++;
    if (known >= 0) {
      kb_hits[known]++;
      if (!kb_tolerate && !why[0])
        snprintf(why, sizeof why, "N=%llu %s: known bug %s", U(n), call,
                 kb_name[known]);
    }
    if (why[0]) {
      if (bad < 60) printf("# %s\n", why);
      bad++;
    } else if (last_hit_status != MM_STATUS_SUCCESS) {
      clean++;
    } else {
      tolerated++;
    }
  }
  printf("# failalloc: %llu allocations in the scenario, %llu injected "
         "failures, %llu with a problem\n", U(total), U(tried), U(bad));
  for (int k = 0; k < KB_COUNT; k++)
    if (kb_hits[k])
      printf("# failalloc: known bug %s: %llu runs\n", kb_name[k],
             U(kb_hits[k]));
  printf("# failalloc: the call failed cleanly (out of memory, nothing "
         "changed) %llu times, succeeded anyway %llu times\n", U(clean),
         U(tolerated));
  if (bad) fail_msg("%llu of %llu injected allocation failures went wrong "
                    "(first lines above)", U(bad), U(tried));
}

/* ----------------------------------------- bugs the sweep found: tests

   Each injects failures one by one into a single call (k = 1, 2, ... until
   the call no longer meets one) and checks what the sweep checks. The
   teardown destroys the test's system also when an assertion fails. */

static int destroy_sys(void **state) {
  fa_sticky = 0;
  fa_reset(0);
  if (*state) mm_system_destroy(*state);
  *state = NULL;
  return 0;
}

/* system.c maps every failure after the checks of the configuration
** (the TLB, the System process, the pools) to STATUS_INVALID_PARAMETER,
** out of memory included. */
static void system_create_out_of_memory_is_no_memory(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(1);
  cfg.pagefile = MiB(1);
  cfg.tlb.entries = 16;
  cfg.tlb.ways = 4;
  for (uint64_t k = 1; k < 1000; k++) {
    mm_system *sys = NULL;
    char err[256] = "";
    fa_reset(k);
    mm_status st = mm_system_create(&cfg, &sys, err, sizeof err);
    bool refused = fa_failed > 0;
    fa_reset(0);
    mm_system_destroy(sys);
    if (!refused) break;
    if (st != MM_STATUS_SUCCESS && st != MM_STATUS_NO_MEMORY &&
        st != MM_STATUS_INSUFFICIENT_RESOURCES)
      fail_msg("allocation %llu refused: %s (%s)", U(k), mm_status_name(st),
               err);
  }
}

/* vad.c and section.c charge commit before they allocate page tables or
** a segment; when that allocation fails they return the charge, but the
** peak it reached stays (mm.h: a failure changes nothing). */
static void failed_call_leaves_commit_peak_alone(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(4), MiB(4));
  *state = sys;
  mm_pid pid = tu_process(sys);
  for (uint64_t k = 1; k < 100; k++) {
    mm_sstats a, b;
    mm_system_stats(sys, &a);
    uint64_t base = 0x10000000, size = MiB(1);
    fa_reset(k);
    mm_status st = mm_allocate(sys, pid, &base, &size,
                               MM_MEM_RESERVE | MM_MEM_COMMIT, RW);
    bool refused = fa_failed > 0;
    fa_reset(0);
    mm_system_stats(sys, &b);
    if (!refused) break;
    assert_status(st, MM_STATUS_NO_MEMORY);
    if (a.commit_peak != b.commit_peak)
      fail_msg("allocation %llu refused: %s, commit_peak %llu -> %llu",
               U(k), mm_status_name(st), U(a.commit_peak), U(b.commit_peak));
  }
  END(sys);
  *state = NULL;
}

/* fault.c resolves the reference, then runs what is due on the clock; when
** the working-set manager then runs out of host memory the access returns
** MM_ERROR although the fault was resolved and counted. */
static void access_that_completed_is_not_an_error(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(1);
  cfg.pagefile = MiB(4);
  cfg.tune.refs_per_second = 50;           /* the manager runs often */
  mm_system *sys = NULL;
  assert_status(mm_system_create(&cfg, &sys, NULL, 0), MM_STATUS_SUCCESS);
  *state = sys;
  mm_process_config pc = { "big", 8, 32, false, false };   /* soft max */
  mm_pid pid = 0;
  assert_status(mm_process_create(sys, &pc, &pid), MM_STATUS_SUCCESS);
  uint64_t base = 0x10000000, size = MiB(2);
  assert_status(mm_allocate(sys, pid, &base, &size,
                            MM_MEM_RESERVE | MM_MEM_COMMIT, RW),
                MM_STATUS_SUCCESS);
  for (uint64_t i = 0; i < 512; i++) {
    mm_pstats a, b;
    mm_process_stats(sys, pid, &a);
    fa_sticky = 1;                         /* no host memory at all */
    fa_reset(1);
    int r = mm_access(sys, pid, base + i * 4096, MM_WRITE);
    fa_sticky = 0;
    fa_reset(0);
    mm_process_stats(sys, pid, &b);
    if (r == MM_ERROR && b.faults != a.faults)
      fail_msg("access %llu: MM_ERROR (%s), but its fault was resolved and "
               "counted (faults %llu -> %llu)", U(i), mm_last_error(sys),
               U(a.faults), U(b.faults));
  }
  END(sys);
  *state = NULL;
}

/* section.c's mm_file_open reports a refused allocation for the file's
** contents as STATUS_INVALID_PARAMETER, "cannot read host file". */
static void file_open_out_of_memory_is_no_memory(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(1);
  cfg.pagefile = MiB(1);
  cfg.contents = true;
  mm_system *sys = NULL;
  assert_status(mm_system_create(&cfg, &sys, NULL, 0), MM_STATUS_SUCCESS);
  *state = sys;
  for (uint64_t k = 1; k < 100; k++) {
    mm_handle h = 0;
    fa_reset(k);
    mm_status st = mm_file_open(sys, trace_file, &h);
    bool refused = fa_failed > 0;
    fa_reset(0);
    if (st == MM_STATUS_SUCCESS) mm_file_close(sys, h);
    if (!refused) break;
    if (st != MM_STATUS_SUCCESS && st != MM_STATUS_NO_MEMORY &&
        st != MM_STATUS_INSUFFICIENT_RESOURCES)
      fail_msg("allocation %llu refused: %s (%s)", U(k), mm_status_name(st),
               mm_last_error(sys));
  }
  END(sys);
  *state = NULL;
}

/* mm_section_create on a file, larger than the file and writable, extends
** the file (A.11.3). With contents, when the realloc of the file's bytes
** fails, section.c keeps the old buffer but sets the new size and
** succeeds: writers and flushes then copy past the end of the buffer
** (heap corruption: "double free or corruption" when the file is freed).
** It must fail with an out-of-memory status instead. */
static void section_extending_file_without_memory_fails(void **state) {
  (void)state;
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = MiB(1);
  cfg.pagefile = MiB(1);
  cfg.contents = true;
  mm_system *sys = NULL;
  assert_status(mm_system_create(&cfg, &sys, NULL, 0), MM_STATUS_SUCCESS);
  *state = sys;
  mm_handle f = 0;
  assert_status(mm_file_create(sys, "small", 0x3000, &f), MM_STATUS_SUCCESS);
  for (uint64_t k = 1; k < 100; k++) {
    mm_section_config sc = { 0x9000, RW, 0, f, NULL };
    mm_handle h = 0;
    fa_reset(k);
    mm_status st = mm_section_create(sys, &sc, &h, NULL);
    bool refused = fa_failed > 0;
    fa_reset(0);
    if (!refused) break;
    if (st == MM_STATUS_SUCCESS) {
      mm_file_info fi;
      mm_file_info_get(sys, f, &fi);
      fail_msg("allocation %llu refused, yet the section was created and the "
               "file now says %#llx bytes", U(k), U(fi.size));
    }
  }
  END(sys);
  *state = NULL;
}

static int setup(void **state) {
  (void)state;
  write_trace();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(trace_file);
  free(call_at);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(scenario_runs_clean),
    cmocka_unit_test(every_allocation_fails_cleanly),
    cmocka_unit_test(system_create_out_of_memory_is_no_memory),
    cmocka_unit_test_teardown(failed_call_leaves_commit_peak_alone, destroy_sys),
    cmocka_unit_test_teardown(access_that_completed_is_not_an_error, destroy_sys),
    cmocka_unit_test_teardown(file_open_out_of_memory_is_no_memory, destroy_sys),
    cmocka_unit_test_teardown(section_extending_file_without_memory_fails, destroy_sys),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
