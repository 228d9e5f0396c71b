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
** PAGELAB_FAILALLOC_STRIDE=k tries every k-th N only (valgrind runs use it);
** PAGELAB_FAILALLOC_N=n tries that one N.
*/
#include <unistd.h>

#include "testutil.h"
#include "failalloc.h"

#define NPROCS 4
#define WALK_TOP 0x80000000ull      /* the scenario's addresses are below */
#define MAX_REGIONS 512
#define U(x) ((unsigned long long)(x))

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
  char hit_call[64];            /* in this call */
  mm_status hit_status;
  unsigned calls;
  char problem[700];            /* the first problem found */
  snap before, after;           /* of the call running */
  const char *trace_path;
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
static const char *diff(const snap *a, const snap *b, bool strict) {
  static const char *const state[] = {
    "available", "free", "zeroed", "standby", "modified", "modified_nowrite",
    "active", "bad", "commit_charge", "commit_limit", "pagefile_used",
    "page_table_pages", "processes", NULL
  };
  for (const mm_stat_field *f = mm_sstats_fields; f->name; f++) {
    bool in_state = false;
    for (int k = 0; state[k]; k++) in_state |= strcmp(state[k], f->name) == 0;
    if (!strict && !in_state) continue;
    if (*(const uint64_t *)((const char *)&a->ss + f->offset) !=
        *(const uint64_t *)((const char *)&b->ss + f->offset))
      return f->name;
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
  take(c, &c->before);
  c->calls++;
}

static bool post(ctx *c, const char *call, mm_status st, int kind) {
  bool hit = fa_failed > 0 && !c->hit;
  if (hit) {
    c->hit = true;
    snprintf(c->hit_call, sizeof c->hit_call, "%s", call);
    c->hit_status = st;
  }
  if (c->sys && mm_check(c->sys) != 0)
    problem(c, "N=%llu %s: invariant broken: %s", U(c->n), call,
            mm_last_error(c->sys));
  if (!hit) {
    if (!c->hit && st != MM_STATUS_SUCCESS)
      problem(c, "N=%llu %s: %s without any injected failure (%s)", U(c->n),
              call, mm_status_name(st), c->sys ? mm_last_error(c->sys) : "");
    return st == MM_STATUS_SUCCESS;
  }
  if (st == MM_STATUS_SUCCESS) return true;
  if (st != MM_STATUS_NO_MEMORY && st != MM_STATUS_INSUFFICIENT_RESOURCES)
    problem(c, "N=%llu %s: the failed allocation gave %s, not an "
            "out-of-memory status (%s)", U(c->n), call, mm_status_name(st),
            c->sys ? mm_last_error(c->sys) : "");
  if (kind != K_PROGRESS) {
    take(c, &c->after);
    const char *d = diff(&c->before, &c->after, kind == K_STRICT);
    if (d)
      problem(c, "N=%llu %s failed with %s but changed %s", U(c->n), call,
              mm_status_name(st), d);
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

