/*
** test_model.c — model-based random testing of the address-space services.
**
** Long random sequences of calls (allocate, free, protect, query, access,
** section create/close, map/unmap, trimming through the working-set
** manager and working-set limits, process create/terminate) run against
** the real core and, side by side, against a small reference model written
** from WINDOWS.md A.1-A.4 (and the sections' rules A.11.5/A.11.8): one
** array entry per page of a window of the address space, no VADs, no page
** tables, no frames. After every call the status and every output are
** compared with the model's; after every step mm_check() must pass and the
** commit charge must equal the model's sum.
**
** Access outcomes are compared by class. The model does not know which
** pages are resident (that is the memory manager's choice), so it predicts
**   access_violation  no allocation, not committed, or the protection forbids
**   guard             a GUARD page, once: the bit is gone afterwards (A.5.1)
**   cow               the first write to a WRITECOPY page of a view (A.8)
**   demand_zero       the first touch of a never-touched committed page
**   not demand_zero   any later touch: hit, soft or hard
**   any success       after MEM_RESET, until the page is written again
**                     (the data may be gone, A.2.8)
**
** A failure is shrunk (delta debugging: chunks of operations are dropped
** while the same kind of failure remains) and printed as C calls.
**
** Environment:
**   PAGELAB_MODEL_SEQUENCES  sequences to run (overrides the next one)
**   PAGELAB_MODEL_SECONDS    budget, turned into a fixed number of
**                            sequences (SEQ_PER_SECOND): deterministic
**   PAGELAB_MODEL_SEED       first seed (sequence i uses seed + i)
**   PAGELAB_MODEL_OPS        operations per sequence
**   PAGELAB_MODEL_KNOWN_BUGS 0: do not step around the known bugs
**   PAGELAB_VALGRIND         set by tests/run under valgrind: 20 sequences
*/
#include <signal.h>

#include "testutil.h"

/* ------------------------------------------------------------ tunables */

#define NPROC 4                /* process slots */
#define NSSLOT 6               /* section handle slots */
#define NSOBJ 48               /* section objects alive at once */
#define WIN_GRANULES 48u       /* the modelled window: 3 MiB from 0x10000 */
#define GRANULE 0x10000ull
#define DEFAULT_OPS 300        /* operations per sequence */
#define DEFAULT_SECONDS 20     /* `make test` budget in the debug build */
/* Sequences per second of budget in the debug build (invariant walkers
** after every call): about 120 on one idle core of the 2-core machine;
** 100 leaves room for a busy one. */
#define SEQ_PER_SECOND 100
#define WALK_EVERY 25          /* a full query walk every so many ops */
#define MAX_BURST 64           /* pages touched by one access op */

#define U(x) ((unsigned long long)(x))

/* Windows values, short. */
#define NA   MM_PAGE_NOACCESS
#define RO   MM_PAGE_READONLY
#define RW   MM_PAGE_READWRITE
#define WC   MM_PAGE_WRITECOPY
#define EX   MM_PAGE_EXECUTE
#define ER   MM_PAGE_EXECUTE_READ
#define ERW  MM_PAGE_EXECUTE_READWRITE
#define EWC  MM_PAGE_EXECUTE_WRITECOPY
#define GUARD MM_PAGE_GUARD
#define NOCACHE MM_PAGE_NOCACHE
#define WCOMB MM_PAGE_WRITECOMBINE

/* ----------------------------------------------------------------- rng */

typedef struct rng { uint64_t s; } rng;

static uint64_t rnd(rng *g) {              /* splitmix64 */
  uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static uint64_t below(rng *g, uint64_t n) { return n ? rnd(g) % n : 0; }
static bool chance(rng *g, unsigned pct) { return below(g, 100) < pct; }
static uint32_t pick32(rng *g, const uint32_t *v, size_t n) {
  return v[below(g, n)];
}
#define PICK(g, arr) pick32((g), (arr), sizeof(arr) / sizeof *(arr))

/* ---------------------------------------------------------- operations */

enum {
  OP_ALLOC, OP_FREE, OP_PROTECT, OP_QUERY, OP_ACCESS, OP_SEC_CREATE,
  OP_SEC_CLOSE, OP_MAP, OP_UNMAP, OP_WSM, OP_SET_WS, OP_TICK, OP_PROC_CREATE,
  OP_PROC_TERM, OP_KINDS
};

/* One call. Processes and sections are named by slot: the pid or handle
** is whatever the slot holds when the op runs (sequences stay meaningful
** when the shrinker drops operations). */
typedef struct op {
  uint8_t kind, slot, sslot, flag;
  uint32_t type, prot;          /* MEM_ or SEC_ flags, or access kind; PAGE_ */
  uint64_t addr, size, offset, extra;
} op;

#define F_BADHANDLE 1u          /* map/close: a handle that never existed */
#define F_NAMED 2u              /* section create: named (extra = name) */
#define F_HARDMIN 1u            /* set_ws / process create */
#define F_HARDMAX 2u

/* One machine per sequence. */
typedef struct mcfg {
  mm_arch arch;
  uint32_t ps;
  uint64_t frames, slots, rps;
  const char *policy;
  bool tlb;
  unsigned nproc0;              /* processes created before the ops */
  uint64_t seed;
} mcfg;

/* --------------------------------------------------------------- model */

enum { A_FREE, A_PRIVATE, A_VIEW, A_SYSTEM };
enum { C_FRESH, C_USED, C_UNKNOWN };

typedef struct mpage {
  uint64_t abase;               /* vpn where its allocation starts */
  uint32_t aprot, prot;         /* AllocationProtect; the page's protection */
  uint32_t spage;               /* A_VIEW: page of the section */
  int16_t sobj;                 /* A_VIEW: the section object */
  uint8_t kind;                 /* A_* */
  uint8_t committed;            /* A_PRIVATE */
  uint8_t content;              /* C_*: private pages and copied view pages */
  uint8_t copied;               /* A_VIEW: made private by copy-on-write */
} mpage;

typedef struct mproc {
  bool used, alive;
  mm_pid pid;
  mpage *pg;                    /* the window's pages */
} mproc;

typedef struct msec {
  bool live;
  mm_handle h;
  uint32_t handles, views, prot, attr;
  uint64_t size, npages;
  char name[8];
  uint8_t *committed, *content; /* per section page; content C_FRESH/USED */
} msec;

typedef struct model {
  unsigned shift;
  uint64_t ps, gp;              /* page size; pages per 64 KiB granule */
  uint64_t lo_vpn, n;           /* the window: pages [lo_vpn, lo_vpn + n) */
  uint64_t user_lo, user_hi;    /* bytes, inclusive */
  uint64_t limit, baseline;     /* commit limit; charge at creation */
  mproc proc[NPROC];
  msec sec[NSOBJ];
  int slot[NSSLOT];             /* section slot: object, or -1 */
  bool plant;                   /* self-test: guard pages fire forever */
} model;

static const mpage FREE_PAGE = { 0, 0, 0, 0, -1, A_FREE, 0, 0, 0 };

static const mpage *pg(const model *m, int s, uint64_t vpn) {
  if (vpn < m->lo_vpn || vpn - m->lo_vpn >= m->n) return &FREE_PAGE;
  return &m->proc[s].pg[vpn - m->lo_vpn];
}
static mpage *pgw(model *m, int s, uint64_t vpn) {
  assert_true(vpn >= m->lo_vpn && vpn - m->lo_vpn < m->n);
  return &m->proc[s].pg[vpn - m->lo_vpn];
}
static uint64_t win_end(const model *m) { return m->lo_vpn + m->n; }
static uint64_t up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
static uint64_t down(uint64_t x, uint64_t a) { return x / a * a; }

/* --- protections, written from A.4 --- */

static uint32_t base_of(uint32_t p) { return p & 0xFFu; }

/* A.4.2: exactly one base value; GUARD, NOCACHE and WRITECOMBINE exclude
** NOACCESS and each other (GUARD and NOCACHE may not meet either). */
static bool m_prot_valid(uint32_t p) {
  uint32_t b = base_of(p);
  if (p & ~0x7FFu) return false;
  if (b == 0 || (b & (b - 1))) return false;
  bool g = p & GUARD, nc = p & NOCACHE, wcb = p & WCOMB, na = b == NA;
  if (g && (na || nc || wcb)) return false;
  if (nc && (na || wcb)) return false;
  if (wcb && na) return false;
  return true;
}

enum { R_ = 1, W_ = 2, X_ = 4 };
/* A.4.8: what a fault allows (WRITECOPY writes, by copying). */
static unsigned may(uint32_t p) {
  switch (base_of(p)) {
    case RO: return R_;
    case RW: case WC: return R_ | W_;
    case EX: case ER: return R_ | X_;
    case ERW: case EWC: return R_ | W_ | X_;
    default: return 0;
  }
}
/* A.4.5: access a protection grants, WRITECOPY counting as read. */
static unsigned grants(uint32_t p) {
  switch (base_of(p)) {
    case RO: case WC: return R_;
    case RW: return R_ | W_;
    case EX: case ER: case EWC: return R_ | X_;
    case ERW: return R_ | W_ | X_;
    default: return 0;
  }
}
static bool is_wc(uint32_t p) { return base_of(p) == WC || base_of(p) == EWC; }
/* A.4.6: a written WRITECOPY page reads back READWRITE. */
static uint32_t copied_prot(uint32_t p) {
  uint32_t b = base_of(p) == WC ? RW : base_of(p) == EWC ? ERW : base_of(p);
  return b | (p & ~0xFFu);
}
/* A.4.5 table: base protections allowed in views of a section. */
static uint32_t section_allows(uint32_t sp) {
  switch (sp) {
    case RO: case WC: return NA | RO | WC;
    case RW: return NA | RO | WC | RW;
    case EX: return NA | EX;
    case ER: return NA | RO | WC | EX | ER;
    case ERW: return 0xFF;
    case EWC: return NA | RO | WC | EX | ER | EWC;
    default: return NA;
  }
}
/* A.4.3: CreateFileMapping's protections. */
static bool section_prot_ok(uint32_t p) {
  return p == RO || p == RW || p == WC || p == ER || p == ERW || p == EWC;
}
/* A.4.4: a cache attribute given at commit sticks; one asked for later is
** ignored; [inferred, vad.c] dropped when keeping it would be invalid. */
static uint32_t sticky(uint32_t cur, uint32_t want) {
  uint32_t out = want & ~(NOCACHE | WCOMB), c = cur & (NOCACHE | WCOMB);
  if (c && m_prot_valid(out | c)) out |= c;
  return out;
}

/* --- allocations --- */

static bool committed_at(const model *m, const mpage *p) {
  if (p->kind == A_PRIVATE) return p->committed;
  if (p->kind == A_VIEW)
    return p->copied || m->sec[p->sobj].committed[p->spage];
  return false;
}
/* One past the last page of the allocation holding vpn. */
static uint64_t alloc_end(const model *m, int s, uint64_t vpn) {
  const mpage *p = pg(m, s, vpn);
  uint64_t a = p->abase, x = vpn;
  while (x < win_end(m) && pg(m, s, x)->kind != A_FREE && pg(m, s, x)->abase == a)
    x++;
  return x;
}
static bool granule_free(const model *m, int s, uint64_t g0) {
  for (uint64_t x = g0; x < g0 + m->gp; x++)
    if (pg(m, s, x)->kind != A_FREE) return false;
  return true;
}
/* A.1.6: [lo, hi) may be reserved when no allocation has a page in any
** granule it touches. */
static bool range_free(const model *m, int s, uint64_t lo, uint64_t hi) {
  for (uint64_t g0 = down(lo, m->gp); g0 < hi; g0 += m->gp)
    if (!granule_free(m, s, g0)) return false;
  return true;
}
/* A.2.2: the lowest granule where npages fit; false if not in the window
** (the op is then skipped: the model only knows the window). */
static bool place(const model *m, int s, uint64_t npages, uint64_t *lo) {
  for (uint64_t c = up(m->lo_vpn, m->gp); c + npages <= win_end(m); c += m->gp)
    if (range_free(m, s, c, c + npages)) { *lo = c; return true; }
  return false;
}

/* --- commit --- */

static uint64_t proc_commit(const model *m, int s) {
  uint64_t n = 0;
  for (uint64_t k = 0; k < m->n; k++) {
    const mpage *p = &m->proc[s].pg[k];
    if (p->kind == A_PRIVATE && p->committed) n++;
    if (p->kind == A_VIEW && is_wc(p->aprot)) n++;   /* A.6.2: whole view */
  }
  return n;
}
static uint64_t sys_commit(const model *m) {
  uint64_t n = m->baseline;
  for (int s = 0; s < NPROC; s++)
    if (m->proc[s].used && m->proc[s].alive) n += proc_commit(m, s);
  for (int k = 0; k < NSOBJ; k++)
    if (m->sec[k].live)
      for (uint64_t i = 0; i < m->sec[k].npages; i++) n += m->sec[k].committed[i];
  return n;
}
static bool fits(const model *m, uint64_t n) {
  uint64_t c = sys_commit(m);
  return n <= m->limit - c;
}

/* --- sections --- */

static void sec_maybe_free(model *m, int k) {
  msec *x = &m->sec[k];
  if (x->handles) return;
  x->name[0] = 0;                            /* A.11.4: the name goes now */
  if (x->views) return;
  free(x->committed);
  free(x->content);
  memset(x, 0, sizeof *x);
}

static void release_page(model *m, int s, uint64_t vpn) {
  *pgw(m, s, vpn) = FREE_PAGE;
}

static void unmap_at(model *m, int s, uint64_t start) {
  int k = pg(m, s, start)->sobj;
  uint64_t end = alloc_end(m, s, start);
  for (uint64_t x = start; x < end; x++) release_page(m, s, x);
  m->sec[k].views--;
  sec_maybe_free(m, k);
}

/* ----------------------------------------------- model of each service */

static mm_status alive_or(const model *m, int s) {
  return m->proc[s].alive ? MM_STATUS_SUCCESS
                          : MM_STATUS_PROCESS_IS_TERMINATING;
}

/* A.2.6 (in vad.c's order), the types the generator makes. */
static mm_status m_type_check(uint32_t t, uint32_t prot) {
  const uint32_t known = MM_MEM_COMMIT | MM_MEM_RESERVE | MM_MEM_RESET |
                         MM_MEM_PHYSICAL | MM_MEM_TOP_DOWN |
                         MM_MEM_WRITE_WATCH | MM_MEM_LARGE_PAGES;
  if (t & ~known) return MM_STATUS_INVALID_PARAMETER_5;
  if (!(t & (MM_MEM_COMMIT | MM_MEM_RESERVE | MM_MEM_RESET)))
    return MM_STATUS_INVALID_PARAMETER_5;
  if ((t & MM_MEM_RESET) && t != MM_MEM_RESET) return MM_STATUS_INVALID_PARAMETER_5;
  if ((t & MM_MEM_LARGE_PAGES) && !(t & MM_MEM_COMMIT))
    return MM_STATUS_INVALID_PARAMETER_5;
  if ((t & MM_MEM_WRITE_WATCH) && !(t & MM_MEM_RESERVE))
    return MM_STATUS_INVALID_PARAMETER_5;
  if (t & MM_MEM_PHYSICAL) {
    if (!(t & MM_MEM_RESERVE)) return MM_STATUS_INVALID_PARAMETER_5;
    if (t & ~(MM_MEM_RESERVE | MM_MEM_TOP_DOWN | MM_MEM_PHYSICAL))
      return MM_STATUS_INVALID_PARAMETER_5;
    if (prot != RW) return MM_STATUS_INVALID_PARAMETER_6;
  }
  if ((t & MM_MEM_LARGE_PAGES) && !(t & MM_MEM_RESERVE))
    return MM_STATUS_INVALID_PARAMETER_5;
  return MM_STATUS_SUCCESS;
}

/* A protection for pages of a view (or the system region, sobj -1):
** A.4.3 (no cache attributes), A.4.5 (the section's table, and no more
** access than the view was mapped with). */
static bool view_prot_ok(const model *m, const mpage *p, uint32_t prot) {
  if (prot & (NOCACHE | WCOMB)) return false;
  if (p->kind == A_VIEW &&
      (section_allows(m->sec[p->sobj].prot) & base_of(prot)) != base_of(prot))
    return false;
  return (grants(prot) & ~grants(p->aprot)) == 0;
}

/* Committing in a view: A.4.3 and the section's table alone; the view's
** own protection does not bound it (A.11.8: a view mapped no-access
** commits read-write pages, R-api-MVS). */
static bool view_commit_ok(const model *m, const mpage *p, uint32_t prot) {
  if (prot & (NOCACHE | WCOMB)) return false;
  return (section_allows(m->sec[p->sobj].prot) & base_of(prot)) == base_of(prot);
}

static mm_status m_alloc(model *m, int s, uint64_t *base, uint64_t *size,
                         uint32_t type, uint32_t prot, bool *skip) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  if ((st = m_type_check(type, prot)) != 0) return st;
  if (!m_prot_valid(prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;
  uint64_t b = *base, sz = *size;
  if (b > m->user_hi || (b && b < m->user_lo)) return MM_STATUS_INVALID_PARAMETER_2;
  if (sz == 0 || sz - 1 > m->user_hi - b) return MM_STATUS_INVALID_PARAMETER_4;
  if (type & (MM_MEM_PHYSICAL | MM_MEM_WRITE_WATCH)) return MM_STATUS_NOT_SUPPORTED;
  uint64_t lo = b >> m->shift, hi = up(b + sz, m->ps) >> m->shift;

  if (type == MM_MEM_RESET) {                /* A.2.8 */
    const mpage *p = pg(m, s, lo);
    if (p->kind == A_FREE || hi > alloc_end(m, s, lo))
      return MM_STATUS_CONFLICTING_ADDRESSES;
    for (uint64_t x = lo; x < hi; x++) {
      mpage *q = pgw(m, s, x);
      if (q->kind == A_PRIVATE && q->committed && q->content == C_USED)
        q->content = C_UNKNOWN;
    }
  } else if (b == 0 || (type & MM_MEM_RESERVE)) {   /* A.2.1, A.2.2, A.2.4 */
    if (is_wc(prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;   /* A.4.3 */
    if (b) {
      lo = (down(b, GRANULE)) >> m->shift;
      if (up(hi, m->gp) > win_end(m)) { *skip = true; return 0; }
      if (!range_free(m, s, lo, hi)) return MM_STATUS_CONFLICTING_ADDRESSES;
    } else {
      uint64_t np = up(sz, m->ps) >> m->shift;
      if ((type & MM_MEM_TOP_DOWN) || !place(m, s, np, &lo)) {
        *skip = true;                        /* A.2.9: above the window */
        return 0;
      }
      hi = lo + np;
    }
    bool commit = type & MM_MEM_COMMIT;
    if (commit && !fits(m, hi - lo)) return MM_STATUS_COMMITMENT_LIMIT;
    for (uint64_t x = lo; x < hi; x++) {
      mpage *q = pgw(m, s, x);
      *q = FREE_PAGE;
      q->kind = A_PRIVATE;
      q->abase = lo;
      q->aprot = prot;
      q->committed = commit;
      q->prot = commit ? prot : 0;
      q->content = C_FRESH;
    }
  } else {                                   /* A.2.3, A.2.5, A.11.8 */
    const mpage *p = pg(m, s, lo);
    if (p->kind == A_FREE || hi > alloc_end(m, s, lo))
      return MM_STATUS_CONFLICTING_ADDRESSES;
    if (p->kind == A_SYSTEM) return MM_STATUS_CONFLICTING_ADDRESSES;
    if (p->kind == A_VIEW) {
      if (!view_commit_ok(m, p, prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;
      msec *x = &m->sec[p->sobj];
      uint64_t n = 0;
      for (uint64_t v = lo; v < hi; v++) n += !x->committed[pg(m, s, v)->spage];
      if (!fits(m, n)) return MM_STATUS_COMMITMENT_LIMIT;
      for (uint64_t v = lo; v < hi; v++) {
        mpage *q = pgw(m, s, v);
        x->committed[q->spage] = 1;
        q->prot = prot;                      /* this view's alone */
      }
    } else {
      if (is_wc(prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;
      uint64_t n = 0;
      for (uint64_t v = lo; v < hi; v++) n += !pg(m, s, v)->committed;
      if (!fits(m, n)) return MM_STATUS_COMMITMENT_LIMIT;
      for (uint64_t v = lo; v < hi; v++) {
        mpage *q = pgw(m, s, v);
        if (!q->committed) q->content = C_FRESH;
        q->committed = 1;
        q->prot = prot;
      }
    }
  }
  *base = lo << m->shift;
  *size = (hi - lo) << m->shift;
  return MM_STATUS_SUCCESS;
}

/* A.2.10, A.1.5. */
static mm_status m_free(model *m, int s, uint64_t *base, uint64_t *size,
                        uint32_t type) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  if (type != MM_MEM_RELEASE && type != MM_MEM_DECOMMIT)
    return MM_STATUS_INVALID_PARAMETER_4;
  uint64_t b = *base, sz = *size;
  if (b > m->user_hi) return MM_STATUS_INVALID_PARAMETER_2;
  if (sz > m->user_hi - b + 1) return MM_STATUS_INVALID_PARAMETER_3;
  uint64_t lo = b >> m->shift, hi = up(b + sz, m->ps) >> m->shift;
  const mpage *p = pg(m, s, lo);
  if (p->kind == A_FREE) return MM_STATUS_MEMORY_NOT_ALLOCATED;
  uint64_t start = p->abase, end = alloc_end(m, s, lo);
  if (sz && hi > end) return MM_STATUS_UNABLE_TO_FREE_VM;
  if (p->kind != A_PRIVATE) return MM_STATUS_UNABLE_TO_DELETE_SECTION;
  if (sz == 0) {
    if (lo != start) return MM_STATUS_FREE_VM_NOT_AT_BASE;
    hi = end;
  }
  bool release = type == MM_MEM_RELEASE;
  for (uint64_t x = lo; x < hi; x++) {
    mpage *q = pgw(m, s, x);
    if (release) {
      *q = FREE_PAGE;
    } else {
      q->committed = 0;
      q->prot = 0;
    }
  }
  if (release)                               /* the tail is its own now */
    for (uint64_t x = hi; x < end; x++) pgw(m, s, x)->abase = hi;
  *base = lo << m->shift;
  *size = (sz == 0 && !release) ? 0 : (hi - lo) << m->shift;
  return MM_STATUS_SUCCESS;
}

/* A.4.4 (and A.4.3, A.4.5 for what a region allows). */
static mm_status m_protect(model *m, int s, uint64_t *base, uint64_t *size,
                           uint32_t prot, uint32_t *old) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  if (!m_prot_valid(prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;
  uint64_t b = *base, sz = *size;
  if (b > m->user_hi) return MM_STATUS_INVALID_PARAMETER_2;
  if (sz == 0 || sz > m->user_hi - b + 1) return MM_STATUS_INVALID_PARAMETER_3;
  *old = NA;
  uint64_t lo = b >> m->shift, hi = up(b + sz, m->ps) >> m->shift;
  const mpage *p = pg(m, s, lo);
  if (p->kind == A_FREE || hi > alloc_end(m, s, lo))
    return MM_STATUS_CONFLICTING_ADDRESSES;
  if (p->kind == A_VIEW)                     /* A.11.8 */
    for (uint64_t x = lo; x < hi; x++)
      if (!committed_at(m, pg(m, s, x))) return MM_STATUS_SECTION_PROTECTION;
  if (p->kind == A_PRIVATE ? is_wc(prot) : !view_prot_ok(m, p, prot))
    return MM_STATUS_INVALID_PAGE_PROTECTION;
  for (uint64_t x = lo; x < hi; x++)
    if (!committed_at(m, pg(m, s, x))) return MM_STATUS_NOT_COMMITTED;
  *old = pg(m, s, lo)->prot;
  for (uint64_t x = lo; x < hi; x++) {
    mpage *q = pgw(m, s, x);
    q->prot = sticky(q->prot, prot);
  }
  *base = lo << m->shift;
  *size = (hi - lo) << m->shift;
  return MM_STATUS_SUCCESS;
}

/* A.3. */
static mm_status m_query(const model *m, int s, uint64_t addr, mm_region *r) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  if (addr > m->user_hi) return MM_STATUS_INVALID_PARAMETER_2;
  uint64_t vpn = addr >> m->shift, top = (m->user_hi + 1) >> m->shift;
  memset(r, 0, sizeof *r);
  r->base = vpn << m->shift;
  const mpage *p = pg(m, s, vpn);
  if (p->kind == A_FREE) {
    uint64_t x = vpn;
    while (x < win_end(m) && pg(m, s, x)->kind == A_FREE) x++;
    if (x >= win_end(m)) x = top;            /* nothing above the window */
    r->size = (x - vpn) << m->shift;
    r->state = MM_MEM_FREE;
    r->protect = NA;
    return MM_STATUS_SUCCESS;
  }
  bool c = committed_at(m, p);
  uint32_t pr = c ? p->prot : 0;
  uint64_t end = alloc_end(m, s, vpn), x = vpn + 1;
  for (; x < end; x++) {
    const mpage *q = pg(m, s, x);
    bool cq = committed_at(m, q);
    if (cq != c || (cq ? q->prot : 0) != pr) break;
  }
  r->size = (x - vpn) << m->shift;
  r->allocation_base = p->abase << m->shift;
  r->allocation_protect = p->aprot;
  r->state = c ? MM_MEM_COMMIT : MM_MEM_RESERVE;
  r->protect = pr;
  r->type = p->kind == A_PRIVATE ? MM_MEM_PRIVATE : MM_MEM_MAPPED;
  return MM_STATUS_SUCCESS;
}

/* Expected outcome classes of one access. */
enum { X_AV, X_GUARD, X_COW, X_DZ, X_NOT_DZ, X_ANY_OK, X_ERROR };
static const char *const xname[] = {
  "access_violation", "guard", "cow", "demand_zero",
  "hit, soft or hard (not demand_zero: the page was touched before)",
  "any success: hit, demand_zero, soft, hard or cow", "error"
};

static bool outcome_in(int x, int got) {
  switch (x) {
    case X_AV: return got == MM_ACCESS_VIOLATION;
    case X_GUARD: return got == MM_GUARD;
    case X_COW: return got == MM_COW;
    case X_DZ: return got == MM_DEMAND_ZERO;
    case X_NOT_DZ: return got == MM_HIT || got == MM_SOFT || got == MM_HARD;
    case X_ANY_OK:
      return got == MM_HIT || got == MM_SOFT || got == MM_HARD ||
             got == MM_DEMAND_ZERO || got == MM_COW;
    default: return got == MM_ERROR;
  }
}

static int content_class(uint8_t c) {
  return c == C_FRESH ? X_DZ : c == C_USED ? X_NOT_DZ : X_ANY_OK;
}

/* A.4.8, A.5.1, A.7.1, A.8, A.11.9. */
static int m_access(model *m, int s, uint64_t addr, unsigned kind) {
  if (!m->proc[s].alive) return X_ERROR;
  uint64_t vpn = addr >> m->shift;
  const mpage *p = pg(m, s, vpn);
  if (!committed_at(m, p)) return X_AV;
  mpage *q = pgw(m, s, vpn);
  if (q->prot & GUARD) {
    if (!m->plant) q->prot &= ~GUARD;        /* one-shot */
    return X_GUARD;
  }
  unsigned need = kind == MM_READ ? R_ : kind == MM_WRITE ? W_ : X_;
  if (!(may(q->prot) & need)) return X_AV;
  int x;
  if (q->kind == A_VIEW && !q->copied) {
    if (kind == MM_WRITE && is_wc(q->prot)) {
      q->copied = 1;                         /* A.11.9: private from now */
      q->content = C_USED;
      q->prot = copied_prot(q->prot);
      return X_COW;
    }
    msec *sx = &m->sec[q->sobj];
    x = content_class(sx->content[q->spage]);
    sx->content[q->spage] = C_USED;
    return x;
  }
  if (kind == MM_WRITE && is_wc(q->prot)) {  /* a copied page made WC again */
    q->prot = copied_prot(q->prot);
    q->content = C_USED;
    return X_ANY_OK;
  }
  x = content_class(q->content);
  /* A.2.8: after MEM_RESET the data is not wanted until written again; a
  ** read does not bring that back (the clean page may still be dropped). */
  if (q->content != C_UNKNOWN || kind == MM_WRITE) q->content = C_USED;
  return x;
}

/* A.11.1-A.11.4 for page-file sections (the order of section.c). */
static mm_status m_sec_create(model *m, int slot, uint64_t size, uint32_t prot,
                              uint32_t attr, const char *name, int *obj) {
  if (name) {
    for (int k = 0; k < NSOBJ; k++)
      if (m->sec[k].live && m->sec[k].handles && strcmp(m->sec[k].name, name) == 0) {
        m->sec[k].handles++;
        *obj = k;
        m->slot[slot] = k;
        return MM_STATUS_SUCCESS;
      }
  }
  if (attr & MM_SEC_IMAGE) return MM_STATUS_INVALID_FILE_FOR_SECTION;
  if (attr & ~(MM_SEC_FILE | MM_SEC_RESERVE | MM_SEC_COMMIT | MM_SEC_NOCACHE |
               MM_SEC_WRITECOMBINE | MM_SEC_LARGE_PAGES))
    return MM_STATUS_INVALID_PARAMETER_6;
  if (!section_prot_ok(prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;
  if (attr == 0) attr = MM_SEC_COMMIT;
  uint32_t rc = attr & (MM_SEC_RESERVE | MM_SEC_COMMIT);
  if (rc == 0 || rc == (MM_SEC_RESERVE | MM_SEC_COMMIT) || (attr & MM_SEC_FILE))
    return MM_STATUS_INVALID_PARAMETER_6;
  if (attr & MM_SEC_LARGE_PAGES)
    return (attr & MM_SEC_COMMIT) ? MM_STATUS_PRIVILEGE_NOT_HELD
                                  : MM_STATUS_INVALID_PARAMETER_6;
  if (size == 0) return MM_STATUS_INVALID_PARAMETER_4;
  uint64_t np = up(size, m->ps) >> m->shift;
  bool commit = attr & MM_SEC_COMMIT;
  if (commit && !fits(m, np)) return MM_STATUS_COMMITMENT_LIMIT;
  int k = 0;
  while (k < NSOBJ && m->sec[k].live) k++;
  assert_true(k < NSOBJ);
  msec *x = &m->sec[k];
  memset(x, 0, sizeof *x);
  x->live = true;
  x->handles = 1;
  x->prot = prot;
  x->attr = attr;
  x->npages = np;
  x->size = np << m->shift;                  /* A.11.3: page-rounded */
  if (name) snprintf(x->name, sizeof x->name, "%s", name);
  x->committed = calloc(np, 1);
  x->content = calloc(np, 1);
  assert_non_null(x->committed);
  assert_non_null(x->content);
  if (commit) memset(x->committed, 1, np);
  *obj = k;
  m->slot[slot] = k;
  return MM_STATUS_SUCCESS;
}

/* A.11.5, A.11.8, A.4.5, A.6.2. */
static mm_status m_map(model *m, int s, int k, uint64_t *base, uint64_t offset,
                       uint64_t *size, uint32_t prot, uint64_t commit_size,
                       uint32_t type, bool *skip) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  if (k < 0) return MM_STATUS_INVALID_HANDLE;
  msec *x = &m->sec[k];
  if (type & ~MM_MEM_TOP_DOWN) return MM_STATUS_INVALID_PARAMETER_9;
  if (!m_prot_valid(prot)) return MM_STATUS_INVALID_PAGE_PROTECTION;
  if (prot & (NOCACHE | WCOMB)) return MM_STATUS_INVALID_PAGE_PROTECTION;
  if ((section_allows(x->prot) & base_of(prot)) != base_of(prot))
    return MM_STATUS_SECTION_PROTECTION;
  if (offset % GRANULE || *base % GRANULE) return MM_STATUS_MAPPED_ALIGNMENT;
  if (offset >= x->size) return MM_STATUS_INVALID_PARAMETER;
  uint64_t want = *size ? *size : x->size - offset;
  if (want > x->size - offset) return MM_STATUS_INVALID_VIEW_SIZE;
  if (*base && (*base < m->user_lo || *base > m->user_hi))
    return MM_STATUS_INVALID_PARAMETER_3;
  uint64_t np = up(want, m->ps) >> m->shift, first = offset >> m->shift, lo;
  if (type & MM_MEM_TOP_DOWN) { *skip = true; return 0; }
  if (*base) {
    lo = *base >> m->shift;
    if (up(lo + np, m->gp) > win_end(m)) { *skip = true; return 0; }
    if (!range_free(m, s, lo, lo + np)) return MM_STATUS_CONFLICTING_ADDRESSES;
  } else if (!place(m, s, np, &lo)) {
    *skip = true;
    return 0;
  }
  bool cow = is_wc(prot);
  if (cow && !fits(m, np)) return MM_STATUS_COMMITMENT_LIMIT;
  uint64_t cp = 0, nc = 0;
  if (commit_size && (x->attr & MM_SEC_RESERVE)) {
    cp = up(commit_size, m->ps) >> m->shift;
    if (cp > np) cp = np;
    for (uint64_t i = 0; i < cp; i++) nc += !x->committed[first + i];
  }
  if (nc && !fits(m, nc + (cow ? np : 0))) return MM_STATUS_COMMITMENT_LIMIT;
  for (uint64_t i = 0; i < cp; i++) x->committed[first + i] = 1;
  for (uint64_t i = 0; i < np; i++) {
    mpage *q = pgw(m, s, lo + i);
    *q = FREE_PAGE;
    q->kind = A_VIEW;
    q->abase = lo;
    q->aprot = prot;
    q->prot = prot;
    q->sobj = (int16_t)k;
    q->spage = (uint32_t)(first + i);
  }
  x->views++;
  *base = lo << m->shift;
  *size = np << m->shift;
  return MM_STATUS_SUCCESS;
}

static mm_status m_unmap(model *m, int s, uint64_t addr) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  const mpage *p = pg(m, s, addr >> m->shift);
  if (p->kind != A_VIEW) return MM_STATUS_NOT_MAPPED_VIEW;
  unmap_at(m, s, p->abase);
  return MM_STATUS_SUCCESS;
}

static mm_status m_terminate(model *m, int s) {
  mm_status st = alive_or(m, s);
  if (st) return st;
  for (uint64_t x = m->lo_vpn; x < win_end(m); x++) {
    const mpage *p = pg(m, s, x);
    if (p->kind == A_VIEW && p->abase == x) unmap_at(m, s, x);
  }
  m->proc[s].alive = false;
  memset(m->proc[s].pg, 0, m->n * sizeof *m->proc[s].pg);
  for (uint64_t k = 0; k < m->n; k++) m->proc[s].pg[k] = FREE_PAGE;
  return MM_STATUS_SUCCESS;
}

/* A new address space: the region Windows keeps at 0x10000 (A.1.2). */
static void m_proc_init(model *m, int s, mm_pid pid) {
  mproc *P = &m->proc[s];
  P->used = P->alive = true;
  P->pid = pid;
  for (uint64_t k = 0; k < m->n; k++) P->pg[k] = FREE_PAGE;
  for (uint64_t x = m->lo_vpn; x < m->lo_vpn + m->gp; x++) {
    mpage *q = pgw(m, s, x);
    q->kind = A_SYSTEM;
    q->abase = m->lo_vpn;
    q->aprot = RO;
  }
}

/* ---------------------------------------------------------- known bugs

   Core bugs this test found. Each has its own failing test below, named
   after the symptom; until it is fixed the random sequences step around it
   (the op, or the one page of a burst, is not run), so that they keep
   finding new ones. PAGELAB_MODEL_KNOWN_BUGS=0 runs into them instead. */
enum {
  BUG_GUARD_UNCOMMITTED_VIEW,   /* guard fires on an uncommitted view page */
  BUG_VIEW_COMMIT_NOCACHE,      /* commit in a view takes PAGE_NOCACHE */
  BUG_WRITECOPY_AGAIN,          /* write to a copied page made WC again: AV */
  BUG_VIEW_PROTECT_TABLE,       /* protect in a view ignores A.4.5's table */
  BUG_COUNT
};
static const char *const bug_name[BUG_COUNT] = {
  "guard_page_in_uncommitted_view_page_is_access_violation",
  "commit_nocache_in_view_is_refused",
  "write_to_copied_page_made_writecopy_again_is_allowed",
  "protect_view_of_execute_read_section_to_execute_writecopy_is_refused",
};
static uint64_t bug_hits[BUG_COUNT];
static bool avoid_known_bugs = true;

static bool known_bug(int id) {
  if (!avoid_known_bugs) return false;
  bug_hits[id]++;
  return true;
}

/* -------------------------------------------------------------- runner */

typedef struct runner {
  const mcfg *cfg;
  mm_system *sys;
  model m;
  size_t nops, cur;             /* ops in this run; the one running */
  bool *skipped;                /* per op: not run (outside the model) */
  char (*note)[96];             /* per op: what the model expected */
  int fail;                     /* index of the failing op, or -1 */
  unsigned burst_at;            /* access op: which page failed */
  char cat[16];                 /* kind of failure (shrinking keeps it) */
  char why[600];
  uint64_t calls, accesses, queries;
  uint64_t outcome[MM_OUTCOME_COUNT];
  uint64_t failures;            /* calls that returned a failure status */
} runner;

static sigjmp_buf crash_jmp;
static volatile sig_atomic_t crash_sig;

static void on_crash(int sig) {
  crash_sig = sig;
  siglongjmp(crash_jmp, 1);
}

static bool mismatch(runner *r, const char *cat, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static bool mismatch(runner *r, const char *cat, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why, sizeof r->why, fmt, ap);
  va_end(ap);
  snprintf(r->cat, sizeof r->cat, "%s", cat);
  r->fail = (int)r->cur;
  return false;
}

static const char *sname(mm_status st) {
  const char *n = mm_status_name(st);
  return n ? n : "STATUS_?";
}

static void note(runner *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void note(runner *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->note[r->cur], sizeof r->note[0], fmt, ap);
  va_end(ap);
}

static bool check_status(runner *r, const char *call, mm_status want,
                         mm_status got) {
  r->failures += got != MM_STATUS_SUCCESS;
  if (want == got) return true;
  return mismatch(r, "status", "%s: expected %s, got %s%s%s%s", call,
                  sname(want), sname(got), got ? " (" : "",
                  got ? mm_last_error(r->sys) : "", got ? ")" : "");
}

static bool same_region(runner *r, uint64_t addr, const mm_region *w,
                        const mm_region *g) {
  if (memcmp(w, g, sizeof *w) == 0) return true;
  return mismatch(r, "query",
                  "query %#llx: expected base %#llx alloc %#llx/%#x size "
                  "%#llx state %#x protect %#x type %#x; got base %#llx "
                  "alloc %#llx/%#x size %#llx state %#x protect %#x type %#x",
                  U(addr), U(w->base), U(w->allocation_base),
                  w->allocation_protect, U(w->size), w->state, w->protect,
                  w->type, U(g->base), U(g->allocation_base),
                  g->allocation_protect, U(g->size), g->state, g->protect,
                  g->type);
}

static bool do_query(runner *r, int s, uint64_t addr, uint64_t *next) {
  mm_region w, g;
  memset(&g, 0xA5, sizeof g);
  mm_status ws = m_query(&r->m, s, addr, &w);
  mm_status gs = mm_query(r->sys, r->m.proc[s].pid, addr, &g);
  r->queries++;
  if (!check_status(r, "mm_query", ws, gs)) return false;
  if (next) *next = ws ? UINT64_MAX : w.base + w.size;
  if (ws) return true;
  return same_region(r, addr, &w, &g);
}

/* Every region of the window, as a walk of queries sees it. */
static bool walk(runner *r, int s) {
  uint64_t a = 0, end = win_end(&r->m) << r->m.shift;
  for (int n = 0; a < end && n < 100000; n++)
    if (!do_query(r, s, a, &a)) return false;
  return true;
}

static bool post_checks(runner *r, bool full) {
  model *m = &r->m;
  if (mm_check(r->sys) != 0)
    return mismatch(r, "invariant", "mm_check: %s", mm_last_error(r->sys));
  mm_sstats ss;
  mm_system_stats(r->sys, &ss);
  if (ss.commit_charge != sys_commit(m))
    return mismatch(r, "commit", "commit charge %llu, the model says %llu",
                    U(ss.commit_charge), U(sys_commit(m)));
  for (int s = 0; s < NPROC; s++) {
    if (!m->proc[s].used || !m->proc[s].alive) continue;
    mm_pstats ps;
    mm_process_stats(r->sys, m->proc[s].pid, &ps);
    if (ps.commit != proc_commit(m, s))
      return mismatch(r, "commit", "process slot %d commit %llu, the model "
                      "says %llu", s, U(ps.commit), U(proc_commit(m, s)));
  }
  for (int k = 0; k < NSSLOT; k++) {
    if (m->slot[k] < 0) continue;
    const msec *x = &m->sec[m->slot[k]];
    mm_section_info si;
    mm_status st = mm_section_info_get(r->sys, x->h, &si);
    uint64_t c = 0;
    for (uint64_t i = 0; i < x->npages; i++) c += x->committed[i];
    if (st || si.committed != c || si.views != x->views || si.size != x->size)
      return mismatch(r, "section", "section slot %d: %s, committed %llu "
                      "views %llu size %#llx; the model says %llu, %u, %#llx",
                      k, sname(st), U(si.committed), U(si.views), U(si.size),
                      U(c), x->views, U(x->size));
  }
  if (full)
    for (int s = 0; s < NPROC; s++)
      if (m->proc[s].used && m->proc[s].alive && !walk(r, s)) return false;
  return true;
}

static const char *const kind_name[] = { "MM_READ", "MM_WRITE", "MM_EXECUTE" };

/* Runs one op on both sides; false on a mismatch (r->why says what). */
static bool exec_op(runner *r, const op *o) {
  model *m = &r->m;
  mm_system *sys = r->sys;
  int s = o->slot;
  mproc *P = &m->proc[s];
  bool skip = false;
  bool needs_proc = o->kind != OP_SEC_CREATE && o->kind != OP_SEC_CLOSE &&
                    o->kind != OP_WSM && o->kind != OP_TICK &&
                    o->kind != OP_PROC_CREATE;
  if (needs_proc && !P->used) { r->skipped[r->cur] = true; return true; }
  r->calls++;
  switch (o->kind) {
    case OP_ALLOC: {
      uint64_t mb = o->addr, ms = o->size, b = o->addr, sz = o->size;
      const mpage *p = pg(m, s, o->addr >> m->shift);
      bool commit_in_view = o->addr && p->kind == A_VIEW &&
                            !(o->type & ~MM_MEM_COMMIT);
      /* section.c accepts NOCACHE and WRITECOMBINE when committing in a
      ** view (A.4.3 says private memory only; mm_protect refuses them). */
      if (commit_in_view && m_prot_valid(o->prot) &&
          (o->prot & (NOCACHE | WCOMB)) &&
          known_bug(BUG_VIEW_COMMIT_NOCACHE)) {
        skip = true;
        break;
      }
      mm_status want = m_alloc(m, s, &mb, &ms, o->type, o->prot, &skip);
      if (skip) break;
      note(r, "%s %#llx+%#llx", sname(want), U(mb), U(ms));
      mm_status got = mm_allocate(sys, P->pid, &b, &sz, o->type, o->prot);
      if (!check_status(r, "mm_allocate", want, got)) return false;
      if (b != mb || sz != ms)
        return mismatch(r, "output", "mm_allocate: expected %#llx+%#llx, "
                        "got %#llx+%#llx", U(mb), U(ms), U(b), U(sz));
      break;
    }
    case OP_FREE: {
      uint64_t mb = o->addr, ms = o->size, b = o->addr, sz = o->size;
      mm_status want = m_free(m, s, &mb, &ms, o->type);
      note(r, "%s %#llx+%#llx", sname(want), U(mb), U(ms));
      mm_status got = mm_free(sys, P->pid, &b, &sz, o->type);
      if (!check_status(r, "mm_free", want, got)) return false;
      if (b != mb || sz != ms)
        return mismatch(r, "output", "mm_free: expected %#llx+%#llx, got "
                        "%#llx+%#llx", U(mb), U(ms), U(b), U(sz));
      break;
    }
    case OP_PROTECT: {
      uint64_t mb = o->addr, ms = o->size, b = o->addr, sz = o->size;
      /* vad.c checks only the access of the view's AllocationProtect, not
      ** the section's A.4.5 table (EXECUTE_WRITECOPY in a view of an
      ** EXECUTE_READ section passes). */
      const mpage *p = pg(m, s, o->addr >> m->shift);
      if (p->kind == A_VIEW && m_prot_valid(o->prot) &&
          !(o->prot & (NOCACHE | WCOMB)) &&
          (grants(o->prot) & ~grants(p->aprot)) == 0 &&
          !view_prot_ok(m, p, o->prot) && known_bug(BUG_VIEW_PROTECT_TABLE)) {
        skip = true;
        break;
      }
      uint32_t mold = 0xDEAD, old = 0xDEAD;
      mm_status want = m_protect(m, s, &mb, &ms, o->prot, &mold);
      note(r, "%s old %#x", sname(want), mold);
      mm_status got = mm_protect(sys, P->pid, &b, &sz, o->prot, &old);
      if (!check_status(r, "mm_protect", want, got)) return false;
      if (b != mb || sz != ms || old != mold)
        return mismatch(r, "output", "mm_protect: expected %#llx+%#llx old "
                        "%#x, got %#llx+%#llx old %#x", U(mb), U(ms), mold,
                        U(b), U(sz), old);
      break;
    }
    case OP_QUERY:
      note(r, "compared field by field");
      if (!do_query(r, s, o->addr, NULL)) return false;
      break;
    case OP_ACCESS:
      for (unsigned k = 0; k < (unsigned)o->size; k++) {
        uint64_t a = o->addr + (uint64_t)k * m->ps;
        const mpage *p = pg(m, s, a >> m->shift);
        if (p->kind == A_VIEW && !committed_at(m, p) && (p->prot & GUARD) &&
            known_bug(BUG_GUARD_UNCOMMITTED_VIEW))
          continue;
        if (p->kind == A_VIEW && p->copied && o->type == MM_WRITE &&
            is_wc(p->prot) && !(p->prot & GUARD) &&
            known_bug(BUG_WRITECOPY_AGAIN))
          continue;
        int want = m_access(m, s, a, o->type);
        if (k == 0) note(r, "%s", xname[want]);
        int got = mm_access(sys, P->pid, a, o->type);
        r->accesses++;
        if (got >= 0 && got < MM_OUTCOME_COUNT) r->outcome[got]++;
        if (!outcome_in(want, got)) {
          r->burst_at = k;
          return mismatch(r, "access", "mm_access %#llx %s: expected %s, "
                          "got %s%s%s", U(a), kind_name[o->type], xname[want],
                          mm_outcome_name(got), got == MM_ERROR ? ": " : "",
                          got == MM_ERROR ? mm_last_error(sys) : "");
        }
      }
      break;
    case OP_SEC_CREATE: {
      if (m->slot[o->sslot] >= 0) { skip = true; break; }
      char name[8];
      snprintf(name, sizeof name, "s%llu", U(o->extra));
      const char *nm = (o->flag & F_NAMED) ? name : NULL;
      int k = -1;
      mm_status want = m_sec_create(m, o->sslot, o->size, o->prot, o->type, nm, &k);
      note(r, "%s", sname(want));
      mm_section_config sc = { o->size, o->prot, o->type, 0, nm };
      mm_handle h = 0;
      bool existed = false;
      mm_status got = mm_section_create(sys, &sc, &h, &existed);
      if (!check_status(r, "mm_section_create", want, got)) return false;
      if (!want) {
        if (m->sec[k].handles == 1) m->sec[k].h = h;
        else if (m->sec[k].h != h || !existed)
          return mismatch(r, "output", "mm_section_create '%s': expected the "
                          "existing handle %u, got %u (existed %d)", nm,
                          m->sec[k].h, h, existed);
      }
      break;
    }
    case OP_SEC_CLOSE: {
      int k = m->slot[o->sslot];
      if (k < 0 && !(o->flag & F_BADHANDLE)) { skip = true; break; }
      mm_status want = MM_STATUS_INVALID_HANDLE;
      mm_handle h = 0x7777;
      if (!(o->flag & F_BADHANDLE)) {
        h = m->sec[k].h;
        want = MM_STATUS_SUCCESS;
        m->sec[k].handles--;
        m->slot[o->sslot] = -1;
        sec_maybe_free(m, k);
      }
      note(r, "%s", sname(want));
      if (!check_status(r, "mm_section_close", want, mm_section_close(sys, h)))
        return false;
      break;
    }
    case OP_MAP: {
      int k = m->slot[o->sslot];
      if (o->flag & F_BADHANDLE) k = -1;
      else if (k < 0) { skip = true; break; }
      uint64_t mb = o->addr, ms = o->size, b = o->addr, sz = o->size;
      mm_status want = m_map(m, s, k, &mb, o->offset, &ms, o->prot, o->extra,
                             o->type, &skip);
      if (skip) break;
      note(r, "%s %#llx+%#llx", sname(want), U(mb), U(ms));
      mm_status got = mm_map_view(sys, P->pid, k < 0 ? 0x7777 : m->sec[k].h,
                                  &b, o->offset, &sz, o->prot, o->extra,
                                  o->type);
      if (!check_status(r, "mm_map_view", want, got)) return false;
      if (b != mb || sz != ms)
        return mismatch(r, "output", "mm_map_view: expected %#llx+%#llx, "
                        "got %#llx+%#llx", U(mb), U(ms), U(b), U(sz));
      break;
    }
    case OP_UNMAP: {
      mm_status want = m_unmap(m, s, o->addr);
      note(r, "%s", sname(want));
      if (!check_status(r, "mm_unmap_view", want,
                        mm_unmap_view(sys, P->pid, o->addr)))
        return false;
      break;
    }
    case OP_WSM:
      note(r, "STATUS_SUCCESS");
      if (!check_status(r, "mm_wsm_run", MM_STATUS_SUCCESS, mm_wsm_run(sys)))
        return false;
      break;
    case OP_TICK:
      note(r, "STATUS_SUCCESS");
      if (!check_status(r, "mm_tick", MM_STATUS_SUCCESS, mm_tick(sys, o->extra)))
        return false;
      break;
    case OP_SET_WS: {
      uint32_t mn = (uint32_t)o->size, mx = (uint32_t)o->extra;
      mm_status want = alive_or(m, s);
      if (!want && (mx < 1 || mn > mx)) want = MM_STATUS_INVALID_PARAMETER;
      note(r, "%s", sname(want));
      mm_status got = mm_process_set_ws(sys, P->pid, mn, mx,
                                        o->flag & F_HARDMIN, o->flag & F_HARDMAX);
      if (!check_status(r, "mm_process_set_ws", want, got)) return false;
      break;
    }
    case OP_PROC_CREATE: {
      if (P->used && P->alive) { skip = true; break; }
      mm_process_config pc = { "model", (uint32_t)o->size, (uint32_t)o->extra,
                               (o->flag & F_HARDMAX) != 0, (o->flag & F_HARDMIN) != 0 };
      mm_pid pid = 0;
      note(r, "STATUS_SUCCESS");
      if (!check_status(r, "mm_process_create", MM_STATUS_SUCCESS,
                        mm_process_create(sys, &pc, &pid)))
        return false;
      m_proc_init(m, s, pid);
      break;
    }
    case OP_PROC_TERM: {
      mm_status want = m_terminate(m, s);
      note(r, "%s", sname(want));
      if (!check_status(r, "mm_process_terminate", want,
                        mm_process_terminate(sys, P->pid)))
        return false;
      break;
    }
    default:
      break;
  }
  if (skip) {
    r->skipped[r->cur] = true;
    r->calls--;
  }
  return true;
}

static bool runner_start(runner *r, const mcfg *c, size_t cap) {
  memset(r, 0, sizeof *r);
  r->cfg = c;
  r->fail = -1;
  r->skipped = calloc(cap ? cap : 1, sizeof *r->skipped);
  r->note = calloc(cap ? cap : 1, sizeof *r->note);
  assert_non_null(r->skipped);
  assert_non_null(r->note);
  mm_config cfg;
  mm_config_default(&cfg, c->arch);
  cfg.page_size = c->ps;
  cfg.ram = c->frames * c->ps;
  cfg.pagefile = c->slots * c->ps;
  cfg.seed = c->seed;
  cfg.policy.name = c->policy;
  cfg.tune.refs_per_second = c->rps;
  if (c->tlb) { cfg.tlb.entries = 16; cfg.tlb.ways = 4; }
  char err[256];
  mm_status st = mm_system_create(&cfg, &r->sys, err, sizeof err);
  if (st) {
    snprintf(r->why, sizeof r->why, "mm_system_create: %s", err);
    snprintf(r->cat, sizeof r->cat, "create");
    return false;
  }
  model *m = &r->m;
  m->ps = c->ps;
  while ((1ull << m->shift) < m->ps) m->shift++;
  m->gp = GRANULE > m->ps ? GRANULE / m->ps : 1;
  const mm_arch_info *ai = mm_arch_get(c->arch);
  m->user_lo = ai->user_lo;
  m->user_hi = ai->user_hi;
  m->lo_vpn = ai->user_lo >> m->shift;
  m->n = ((uint64_t)WIN_GRANULES * GRANULE) >> m->shift;
  mm_sstats ss;
  mm_system_stats(r->sys, &ss);
  m->limit = ss.commit_limit;
  m->baseline = ss.commit_charge;
  for (int k = 0; k < NSSLOT; k++) m->slot[k] = -1;
  for (int s = 0; s < NPROC; s++) {
    m->proc[s].pg = calloc(m->n, sizeof(mpage));
    assert_non_null(m->proc[s].pg);
  }
  for (unsigned s = 0; s < c->nproc0; s++) {
    mm_process_config pc = { "model", 0, 0, false, false };
    mm_pid pid;
    assert_int_equal(mm_process_create(r->sys, &pc, &pid), MM_STATUS_SUCCESS);
    m_proc_init(m, (int)s, pid);
  }
  return true;
}

/* leak: after a caught crash the system is left as it is. */
static void runner_end(runner *r, bool leak) {
  if (!leak) mm_system_destroy(r->sys);
  for (int s = 0; s < NPROC; s++) free(r->m.proc[s].pg);
  for (int k = 0; k < NSOBJ; k++) {
    free(r->m.sec[k].committed);
    free(r->m.sec[k].content);
  }
  free(r->skipped);
  free(r->note);
  r->sys = NULL;
}

/* One op of a run and the checks after it; false when it fails. */
static bool step(runner *r, const op *o, size_t i) {
  r->cur = i;
  mm_sstats ss;
  mm_system_stats(r->sys, &ss);
  r->m.limit = ss.commit_limit;
  if (!exec_op(r, o)) return false;
  return post_checks(r, i % WALK_EVERY == WALK_EVERY - 1);
}

typedef void (*gen_fn)(runner *r, rng *g, op *o);

/* Runs ops on a fresh machine; the index of the failing op, or -1. With
** gen, ops[i] is generated from the model just before it runs. An abort
** (assert, broken invariant) or a crash in the core is caught and counts
** as a failure of the op running ("crash"); that system is leaked. keep:
** leave r as it is for the caller (print_repro reads its notes). */

static int run(const mcfg *c, op *ops, size_t n, gen_fn gen, rng *g,
               bool plant, runner *out, bool keep) {
  runner *r = out;
  if (!runner_start(r, c, n)) return 0;
  r->m.plant = plant;
  r->nops = n;
  struct sigaction sa, old_abrt, old_segv;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_crash;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGABRT, &sa, &old_abrt);
  sigaction(SIGSEGV, &sa, &old_segv);
  volatile bool crashed = false;
  volatile size_t i = 0;
  if (sigsetjmp(crash_jmp, 1) == 0) {
    for (; i < n; i++) {
      if (gen) gen(r, g, &ops[i]);
      if (!step(r, &ops[i], i)) break;
    }
    if (r->fail < 0 && !post_checks(r, true)) r->fail = (int)(n ? n - 1 : 0);
  } else {
    crashed = true;
    r->fail = (int)i;
    snprintf(r->cat, sizeof r->cat, "crash");
    snprintf(r->why, sizeof r->why, "signal %d (%s) in the call; the core's "
             "last error: %s", (int)crash_sig,
             crash_sig == SIGABRT ? "abort: assert or invariant" : "crash",
             r->sys ? mm_last_error(r->sys) : "");
  }
  sigaction(SIGABRT, &old_abrt, NULL);
  sigaction(SIGSEGV, &old_segv, NULL);
  int f = r->fail;
  if (!keep) runner_end(r, crashed);
  else if (crashed) r->sys = NULL;            /* leaked: do not touch */
  return f;
}

/* ----------------------------------------------------------- generator */

static int pick_slot(const model *m, rng *g) {
  int used[NPROC], n = 0, alive[NPROC], na = 0;
  for (int s = 0; s < NPROC; s++) {
    if (m->proc[s].used) used[n++] = s;
    if (m->proc[s].used && m->proc[s].alive) alive[na++] = s;
  }
  if (na && chance(g, 97)) return alive[below(g, (uint64_t)na)];
  return n ? used[below(g, (uint64_t)n)] : 0;
}

/* A page of the window that belongs to an allocation (or any page). */
static uint64_t pick_vpn(const model *m, int s, rng *g, bool allocated) {
  uint64_t v = m->lo_vpn + below(g, m->n);
  for (int t = 0; allocated && t < 24; t++) {
    uint64_t x = m->lo_vpn + m->gp + below(g, m->n - m->gp);
    if (pg(m, s, x)->kind != A_FREE) return x;
  }
  return v;
}

/* A committed page of the window, if a few probes find one. */
static bool pick_committed(const model *m, int s, rng *g, uint64_t *vpn) {
  for (int t = 0; t < 48; t++) {
    uint64_t x = m->lo_vpn + m->gp + below(g, m->n - m->gp);
    if (committed_at(m, pg(m, s, x))) { *vpn = x; return true; }
  }
  return false;
}

static uint64_t pick_addr(const model *m, int s, rng *g) {
  uint64_t ps = m->ps, v;
  switch (below(g, 20)) {
    case 0: {
      static const uint64_t odd[] = { 0, 0xF000, 0x10000, 0x1FFFF, 0x20000 };
      return odd[below(g, 5)];
    }
    case 1:
      return chance(g, 50) ? m->user_hi : m->user_hi + 1;
    case 2:
      return (win_end(m) << m->shift) + below(g, 4) * GRANULE;
    case 3: case 4: case 5:                  /* a granule */
      return down((m->lo_vpn + below(g, m->n)) << m->shift, GRANULE);
    case 6: case 7: case 8: case 9:          /* an allocation's base */
      v = pick_vpn(m, s, g, true);
      return pg(m, s, v)->kind != A_FREE ? pg(m, s, v)->abase << m->shift
                                         : v << m->shift;
    case 10: case 11:                        /* inside a page */
      return (pick_vpn(m, s, g, true) << m->shift) + below(g, ps);
    default:
      return pick_vpn(m, s, g, true) << m->shift;
  }
}

static uint64_t pick_size(const model *m, rng *g, uint64_t addr, int s) {
  uint64_t ps = m->ps;
  switch (below(g, 16)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return ps - 1;
    case 3: return ps + 1;
    case 4: case 5: return ps * (1 + below(g, 8));
    case 6: return GRANULE * (1 + below(g, 3));
    case 7: return 0x10000 - (addr & 0xFFFF);
    case 8: {                                /* to the allocation's end */
      uint64_t v = addr >> m->shift;
      if (pg(m, s, v)->kind == A_FREE) return ps;
      return (alloc_end(m, s, v) << m->shift) - addr;
    }
    case 9: return m->user_hi;               /* absurd */
    case 10: case 11: return ps * (16 + below(g, 112));
    default: return 1 + below(g, 40 * ps);
  }
}

static uint32_t pick_prot(rng *g, bool view) {
  static const uint32_t priv[] = {
    RW, RW, RW, RW, RW, RW, RO, RO, RO, NA, EX, ER, ERW, RW | GUARD,
    RW | GUARD, RO | GUARD, ER | GUARD, RW | NOCACHE, RO | NOCACHE,
    RW | WCOMB, WC, EWC, 0, RO | ER, RW | 0x800, NA | GUARD,
    RW | NOCACHE | WCOMB, NA | RO,
  };
  static const uint32_t views[] = {
    RW, RW, RW, RO, RO, WC, WC, WC, ER, ERW, EWC, NA, EX, RW | GUARD,
    WC | GUARD, RO | GUARD, RW | NOCACHE, 0, RW | RO,
  };
  return view ? PICK(g, views) : PICK(g, priv);
}

static uint32_t pick_alloc_type(rng *g) {
  static const uint32_t t[] = {
    MM_MEM_RESERVE, MM_MEM_RESERVE, MM_MEM_RESERVE, MM_MEM_RESERVE,
    MM_MEM_COMMIT, MM_MEM_COMMIT, MM_MEM_COMMIT, MM_MEM_COMMIT, MM_MEM_COMMIT,
    MM_MEM_RESERVE | MM_MEM_COMMIT, MM_MEM_RESERVE | MM_MEM_COMMIT,
    MM_MEM_RESERVE | MM_MEM_COMMIT, MM_MEM_RESET,
    MM_MEM_RESERVE | MM_MEM_TOP_DOWN, 0, MM_MEM_RESET | MM_MEM_COMMIT,
    MM_MEM_RESERVE | 0x1, MM_MEM_WRITE_WATCH,
    MM_MEM_WRITE_WATCH | MM_MEM_RESERVE,
    MM_MEM_PHYSICAL | MM_MEM_RESERVE, MM_MEM_LARGE_PAGES | MM_MEM_COMMIT,
    MM_MEM_LARGE_PAGES | MM_MEM_RESERVE,
  };
  return PICK(g, t);
}

/* A section slot that holds a section (or any slot). */
static int pick_sslot(const model *m, rng *g, bool full) {
  for (int t = 0; t < 12; t++) {
    int k = (int)below(g, NSSLOT);
    if ((m->slot[k] >= 0) == full) return k;
  }
  return (int)below(g, NSSLOT);
}

static void gen_op(runner *r, rng *g, op *o) {
  const model *m = &r->m;
  memset(o, 0, sizeof *o);
  /* weights of OP_ALLOC .. OP_PROC_TERM */
  static const unsigned w[OP_KINDS] = { 22, 9, 11, 7, 36, 3, 2, 5, 3, 2, 2,
                                        1, 1, 1 };
  unsigned total = 0, x;
  for (int k = 0; k < OP_KINDS; k++) total += w[k];
  x = (unsigned)below(g, total);
  int kind = 0;
  while (x >= w[kind]) x -= w[kind++];
  o->kind = (uint8_t)kind;
  int s = pick_slot(m, g);
  o->slot = (uint8_t)s;
  uint64_t ps = m->ps;
  switch (kind) {
    case OP_ALLOC:
      o->type = pick_alloc_type(g);
      o->prot = pick_prot(g, false);
      o->addr = chance(g, 15) ? 0 : pick_addr(m, s, g);
      o->size = pick_size(m, g, o->addr, s);
      if (o->addr == 0 && o->size > 8 * GRANULE) o->size = ps * (1 + below(g, 64));
      break;
    case OP_FREE: {
      static const uint32_t t[] = { MM_MEM_RELEASE, MM_MEM_RELEASE,
                                    MM_MEM_DECOMMIT, MM_MEM_DECOMMIT,
                                    MM_MEM_DECOMMIT, 0, MM_MEM_FREE,
                                    MM_MEM_RELEASE | MM_MEM_DECOMMIT };
      o->type = chance(g, 90) ? PICK(g, t) : t[5 + below(g, 3)];
      o->addr = pick_addr(m, s, g);
      o->size = chance(g, 35) ? 0 : pick_size(m, g, o->addr, s);
      break;
    }
    case OP_PROTECT:
      o->prot = pick_prot(g, chance(g, 30));
      o->addr = pick_addr(m, s, g);
      o->size = pick_size(m, g, o->addr, s);
      break;
    case OP_QUERY:
      o->addr = pick_addr(m, s, g);
      break;
    case OP_ACCESS: {
      static const uint32_t k[] = { MM_READ, MM_READ, MM_READ, MM_READ,
                                    MM_WRITE, MM_WRITE, MM_WRITE, MM_EXECUTE };
      o->type = PICK(g, k);
      o->size = 1;
      uint64_t v = 0;
      if (chance(g, 75) && pick_committed(m, s, g, &v)) {
        /* mostly pages that can be touched, often a run of them */
        uint64_t start = chance(g, 50) ? pg(m, s, v)->abase : v;
        o->addr = (start << m->shift) + (chance(g, 20) ? below(g, ps) : 0);
        if (chance(g, 60)) {
          uint64_t left = alloc_end(m, s, start) - start;
          o->size = 1 + below(g, left < MAX_BURST ? left : MAX_BURST);
        }
      } else {
        o->addr = pick_addr(m, s, g);
      }
      break;
    }
    case OP_SEC_CREATE: {
      static const uint32_t sp[] = { RW, RW, RW, RW, RO, WC, WC, ER, ERW, ERW,
                                     EWC, NA, EX };
      static const uint32_t sa[] = {
        MM_SEC_COMMIT, MM_SEC_COMMIT, MM_SEC_COMMIT, MM_SEC_COMMIT,
        MM_SEC_RESERVE, MM_SEC_RESERVE, MM_SEC_RESERVE, MM_SEC_RESERVE, 0,
        MM_SEC_RESERVE | MM_SEC_COMMIT, MM_SEC_NOCACHE,
        MM_SEC_FILE | MM_SEC_COMMIT, MM_SEC_LARGE_PAGES | MM_SEC_COMMIT,
        MM_SEC_LARGE_PAGES | MM_SEC_RESERVE, MM_SEC_IMAGE, 0x1 | MM_SEC_COMMIT,
        MM_SEC_RESERVE | MM_SEC_NOCACHE,
      };
      o->sslot = (uint8_t)pick_sslot(m, g, false);
      o->prot = PICK(g, sp);
      o->type = chance(g, 85) ? sa[below(g, 9)] : PICK(g, sa);
      o->size = chance(g, 4) ? 0 : 1 + below(g, 4 * GRANULE);
      if (chance(g, 35)) { o->flag = F_NAMED; o->extra = below(g, 3); }
      break;
    }
    case OP_SEC_CLOSE:
      o->sslot = (uint8_t)pick_sslot(m, g, true);
      if (chance(g, 5)) o->flag = F_BADHANDLE;
      break;
    case OP_MAP: {
      static const uint32_t t[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0, 0, 0, 0, MM_MEM_COMMIT, MM_MEM_RESERVE };
      o->sslot = (uint8_t)pick_sslot(m, g, true);
      if (chance(g, 3)) o->flag = F_BADHANDLE;
      o->prot = pick_prot(g, true);
      o->type = PICK(g, t);
      int k = m->slot[o->sslot];
      uint64_t ssz = k >= 0 ? m->sec[k].size : 4 * GRANULE;
      uint64_t r8 = below(g, 20);
      o->offset = r8 < 14 ? 0 : r8 < 18 ? down(below(g, ssz), GRANULE)
                : r8 < 19 ? below(g, ssz) : ssz + GRANULE * below(g, 2);
      r8 = below(g, 20);
      o->size = r8 < 10 ? 0 : r8 < 16 ? 1 + below(g, ssz)
              : r8 < 18 ? ssz - (o->offset < ssz ? o->offset : 0) : ssz + 1;
      r8 = below(g, 20);
      o->addr = r8 < 12 ? 0 : r8 < 19
              ? down((m->lo_vpn + below(g, m->n)) << m->shift, GRANULE)
              : ((m->lo_vpn + below(g, m->n)) << m->shift) + ps;
      o->extra = chance(g, 70) ? 0 : 1 + below(g, ssz);
      break;
    }
    case OP_UNMAP:
      o->addr = pick_addr(m, s, g);
      break;
    case OP_TICK:
      o->extra = 1 + below(g, 3 * r->cfg->rps);
      break;
    case OP_SET_WS:
    case OP_PROC_CREATE: {
      uint32_t mn = (uint32_t)(1 + below(g, 48));
      uint32_t mx = mn + (uint32_t)below(g, 96);
      if (kind == OP_SET_WS && chance(g, 6)) {
        if (chance(g, 50)) mx = 0;
        else mx = mn - 1;
      }
      if (kind == OP_PROC_CREATE) {
        for (int t = 0; t < NPROC; t++)
          if (!m->proc[t].used || !m->proc[t].alive) { o->slot = (uint8_t)t; break; }
      }
      o->size = mn;
      o->extra = mx;
      if (mn <= 8 && chance(g, 25)) o->flag |= F_HARDMIN;
      if (chance(g, 30)) o->flag |= F_HARDMAX;
      break;
    }
    default:
      break;
  }
}

static void gen_cfg(rng *g, mcfg *c, uint64_t seed) {
  static const uint32_t ps[] = { 4096, 4096, 4096, 4096, 4096, 4096, 1024,
                                 16384, 16384, 65536, 65536, 512, 8192 };
  static const mm_arch arch[] = { MM_ARCH_X64, MM_ARCH_X64, MM_ARCH_X64,
                                  MM_ARCH_X64, MM_ARCH_X86, MM_ARCH_X86_PAE };
  static const char *const pol[] = { "aging", "aging", "fifo", "clock", "lru",
                                     "random", "wsclock" };
  memset(c, 0, sizeof *c);
  c->arch = arch[below(g, 6)];
  c->ps = PICK(g, ps);
  c->frames = 64 + below(g, 128);
  c->slots = c->frames / 2 + below(g, 2 * c->frames);
  c->rps = 100 + below(g, 2000);
  c->policy = pol[below(g, 7)];
  c->tlb = chance(g, 20);
  c->nproc0 = 1 + (unsigned)below(g, NPROC - 1);
  c->seed = seed;
}

/* ------------------------------------------------ shrinking, printing */

/* Does ops[0..n) still fail with the same kind of failure? */
static bool still_fails(const mcfg *c, op *ops, size_t n, bool plant,
                        const char *cat, size_t *fail_at) {
  runner r;
  int f = run(c, ops, n, NULL, NULL, plant, &r, false);
  if (f < 0 || strcmp(r.cat, cat) != 0) return false;
  *fail_at = (size_t)f;
  return true;
}

/* Delta debugging: drop chunks while the failure remains; halve the
** chunk when none can go. Returns the new length. */
static size_t shrink(const mcfg *c, op *ops, size_t n, bool plant,
                     const char *cat) {
  op *tmp = malloc((n ? n : 1) * sizeof *tmp);
  assert_non_null(tmp);
  for (size_t chunk = n / 2 ? n / 2 : 1;; chunk = chunk > 1 ? chunk / 2 : 1) {
    bool removed = false;
    for (size_t i = 0; i < n;) {
      size_t len = chunk < n - i ? chunk : n - i, f;
      memcpy(tmp, ops, i * sizeof *ops);
      memcpy(tmp + i, ops + i + len, (n - i - len) * sizeof *ops);
      if (n - len > 0 && still_fails(c, tmp, n - len, plant, cat, &f)) {
        n = f + 1;
        memcpy(ops, tmp, n * sizeof *ops);
        removed = true;
      } else {
        i += chunk;
      }
    }
    if (chunk == 1 && !removed) break;
  }
  free(tmp);
  return n;
}

static const char *arch_c(mm_arch a) {
  return a == MM_ARCH_X86 ? "MM_ARCH_X86"
         : a == MM_ARCH_X86_PAE ? "MM_ARCH_X86_PAE" : "MM_ARCH_X64";
}

/* The failing sequence as C: paste into a cmocka test using testutil.h. */
static void print_repro(const mcfg *c, op *ops, size_t n, bool plant) {
  runner r;
  int f = run(c, ops, n, NULL, NULL, plant, &r, true);
  printf("# ---- reproducer (%s): %s\n", r.cat, r.why);
  printf("#   mm_config cfg; mm_config_default(&cfg, %s);\n", arch_c(c->arch));
  printf("#   cfg.page_size = %u; cfg.ram = %llu; cfg.pagefile = %llu;\n", c->ps,
         U(c->frames * c->ps), U(c->slots * c->ps));
  printf("#   cfg.seed = %llu; cfg.policy.name = \"%s\"; "
         "cfg.tune.refs_per_second = %llu;%s\n", U(c->seed), c->policy,
         U(c->rps), c->tlb ? " cfg.tlb.entries = 16; cfg.tlb.ways = 4;" : "");
  printf("#   mm_system *sys; mm_system_create(&cfg, &sys, NULL, 0);\n");
  printf("#   mm_pid pid[%d] = {0}; mm_handle h[%d] = {0}; uint64_t b, s; "
         "uint32_t old; mm_region q; mm_status st; int r;\n", NPROC, NSSLOT);
  printf("#   mm_process_config pc = { \"model\", 0, 0, false, false };\n");
  for (unsigned k = 0; k < c->nproc0; k++)
    printf("#   mm_process_create(sys, &pc, &pid[%u]);\n", k);
  for (size_t i = 0; i < n && (int)i <= f; i++) {
    const op *o = &ops[i];
    if (r.skipped[i]) continue;
    const char *mark = (int)i == f ? "   <-- FAILS" : "";
    switch (o->kind) {
      case OP_ALLOC:
        printf("#   b = %#llx; s = %#llx; st = mm_allocate(sys, pid[%u], &b, &s, "
               "%#x, %#x); /* %s */%s\n", U(o->addr), U(o->size), o->slot,
               o->type, o->prot, r.note[i], mark);
        break;
      case OP_FREE:
        printf("#   b = %#llx; s = %#llx; st = mm_free(sys, pid[%u], &b, &s, "
               "%#x); /* %s */%s\n", U(o->addr), U(o->size), o->slot, o->type,
               r.note[i], mark);
        break;
      case OP_PROTECT:
        printf("#   b = %#llx; s = %#llx; st = mm_protect(sys, pid[%u], &b, &s, "
               "%#x, &old); /* %s */%s\n", U(o->addr), U(o->size), o->slot,
               o->prot, r.note[i], mark);
        break;
      case OP_QUERY:
        printf("#   st = mm_query(sys, pid[%u], %#llx, &q);%s\n", o->slot,
               U(o->addr), mark);
        break;
      case OP_ACCESS:
        if (o->size == 1)
          printf("#   r = mm_access(sys, pid[%u], %#llx, %s); /* %s */%s\n",
                 o->slot, U(o->addr), kind_name[o->type], r.note[i], mark);
        else if ((int)i == f && !strcmp(r.cat, "access"))
          printf("#   for (int k = 0; k < %llu; k++) r = mm_access(sys, "
                 "pid[%u], %#llx + k * %#llx, %s);%s (at k = %u)\n",
                 U(o->size), o->slot, U(o->addr), U(c->ps),
                 kind_name[o->type], mark, r.burst_at);
        else
          printf("#   for (int k = 0; k < %llu; k++) r = mm_access(sys, "
                 "pid[%u], %#llx + k * %#llx, %s);%s\n", U(o->size), o->slot,
                 U(o->addr), U(c->ps), kind_name[o->type], mark);
        break;
      case OP_SEC_CREATE:
        if (o->flag & F_NAMED)
          printf("#   { mm_section_config sc = { %#llx, %#x, %#x, 0, \"s%llu\" }; "
                 "st = mm_section_create(sys, &sc, &h[%u], NULL); } /* %s */%s\n",
                 U(o->size), o->prot, o->type, U(o->extra), o->sslot, r.note[i],
                 mark);
        else
          printf("#   { mm_section_config sc = { %#llx, %#x, %#x, 0, NULL }; "
                 "st = mm_section_create(sys, &sc, &h[%u], NULL); } /* %s */%s\n",
                 U(o->size), o->prot, o->type, o->sslot, r.note[i], mark);
        break;
      case OP_SEC_CLOSE:
        printf("#   st = mm_section_close(sys, %s%u%s); /* %s */%s\n",
               o->flag & F_BADHANDLE ? "0x7777 /* " : "h[",
               o->flag & F_BADHANDLE ? 0u : o->sslot,
               o->flag & F_BADHANDLE ? " */" : "]", r.note[i], mark);
        break;
      case OP_MAP:
        printf("#   b = %#llx; s = %#llx; st = mm_map_view(sys, pid[%u], %s%u%s, "
               "&b, %#llx, &s, %#x, %#llx, %#x); /* %s */%s\n", U(o->addr),
               U(o->size), o->slot,
               o->flag & F_BADHANDLE ? "0x7777 /* " : "h[",
               o->flag & F_BADHANDLE ? 0u : o->sslot,
               o->flag & F_BADHANDLE ? " */" : "]", U(o->offset), o->prot,
               U(o->extra), o->type, r.note[i], mark);
        break;
      case OP_UNMAP:
        printf("#   st = mm_unmap_view(sys, pid[%u], %#llx); /* %s */%s\n",
               o->slot, U(o->addr), r.note[i], mark);
        break;
      case OP_WSM:
        printf("#   st = mm_wsm_run(sys);%s\n", mark);
        break;
      case OP_TICK:
        printf("#   st = mm_tick(sys, %llu);%s\n", U(o->extra), mark);
        break;
      case OP_SET_WS:
        printf("#   st = mm_process_set_ws(sys, pid[%u], %llu, %llu, %s, %s); "
               "/* %s */%s\n", o->slot, U(o->size), U(o->extra),
               o->flag & F_HARDMIN ? "true" : "false",
               o->flag & F_HARDMAX ? "true" : "false", r.note[i], mark);
        break;
      case OP_PROC_CREATE:
        printf("#   { mm_process_config c2 = { \"model\", %llu, %llu, %s, %s }; "
               "mm_process_create(sys, &c2, &pid[%u]); }%s\n", U(o->size),
               U(o->extra), o->flag & F_HARDMAX ? "true" : "false",
               o->flag & F_HARDMIN ? "true" : "false", o->slot, mark);
        break;
      case OP_PROC_TERM:
        printf("#   st = mm_process_terminate(sys, pid[%u]); /* %s */%s\n",
               o->slot, r.note[i], mark);
        break;
      default:
        break;
    }
  }
  if (f == (int)n - 1 && r.fail >= 0 && strcmp(r.cat, "status") != 0 &&
      strcmp(r.cat, "access") != 0 && strcmp(r.cat, "output") != 0 &&
      strcmp(r.cat, "crash") != 0)
    printf("#   (then: mm_check / commit / query walk finds the failure)\n");
  printf("# ---- end of reproducer\n");
  runner_end(&r, r.sys == NULL);
}

/* ---------------------------------------------------------------- tests */

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end;
  unsigned long long x = strtoull(v, &end, 0);
  return *end ? dflt : (uint64_t)x;
}

typedef struct totals {
  uint64_t sequences, calls, accesses, queries, skipped, failures;
  uint64_t outcome[MM_OUTCOME_COUNT];
} totals;

/* Runs one generated sequence; on failure shrinks it, prints it and
** returns false with *why set. */
static bool one_sequence(uint64_t seed, size_t nops, bool plant, totals *t,
                         size_t *shrunk_len, char *why, size_t whylen) {
  rng g = { seed * 0x2545F4914F6CDD1Dull + 1 };
  mcfg c;
  gen_cfg(&g, &c, seed);
  op *ops = calloc(nops, sizeof *ops);
  assert_non_null(ops);
  runner r;
  int f = run(&c, ops, nops, gen_op, &g, plant, &r, true);
  t->sequences++;
  t->calls += r.calls;
  t->accesses += r.accesses;
  t->queries += r.queries;
  t->failures += r.failures;
  for (int k = 0; k < MM_OUTCOME_COUNT; k++) t->outcome[k] += r.outcome[k];
  for (size_t i = 0; i < nops; i++) t->skipped += r.skipped[i];
  char cat[16];
  snprintf(cat, sizeof cat, "%s", r.cat);
  if (f >= 0) snprintf(why, whylen, "seed %llu op %d: %s: %s", U(seed), f,
                       r.cat, r.why);
  runner_end(&r, r.sys == NULL);
  if (f < 0) {
    free(ops);
    return true;
  }
  size_t n = shrink(&c, ops, (size_t)f + 1, plant, cat);
  if (shrunk_len) *shrunk_len = n;
  print_repro(&c, ops, n, plant);
  free(ops);
  return false;
}

/* The main test: PAGELAB_MODEL_SEQUENCES sequences of PAGELAB_MODEL_OPS
** operations, every step compared with the model. */
static void model_random_sequences(void **state) {
  (void)state;
  /* under valgrind (make memcheck) everything runs ~50 times slower */
  uint64_t secs = env_u64("PAGELAB_MODEL_SECONDS",
                          getenv("PAGELAB_VALGRIND") ? 1 : DEFAULT_SECONDS);
  uint64_t nseq = env_u64("PAGELAB_MODEL_SEQUENCES",
                          getenv("PAGELAB_VALGRIND") && !getenv("PAGELAB_MODEL_SECONDS")
                              ? 20 : secs * SEQ_PER_SECOND);
  uint64_t seed0 = env_u64("PAGELAB_MODEL_SEED", 1);
  avoid_known_bugs = env_u64("PAGELAB_MODEL_KNOWN_BUGS", 0) != 0;
  size_t nops = (size_t)env_u64("PAGELAB_MODEL_OPS", DEFAULT_OPS);
  totals t;
  memset(&t, 0, sizeof t);
  char why[800];
  for (uint64_t i = 0; i < nseq; i++) {
    if (!one_sequence(seed0 + i, nops, false, &t, NULL, why, sizeof why))
      fail_msg("model mismatch (rerun with PAGELAB_MODEL_SEED=%llu "
               "PAGELAB_MODEL_SEQUENCES=1): %s", U(seed0 + i), why);
  }
  printf("# model: %llu sequences, %llu calls (%llu accesses, %llu queries), "
         "%llu ops outside the model skipped\n", U(t.sequences), U(t.calls),
         U(t.accesses), U(t.queries), U(t.skipped));
  printf("# model: %llu calls failed as predicted; outcomes:", U(t.failures));
  for (int k = 0; k < MM_OUTCOME_COUNT; k++)
    printf(" %s %llu", mm_outcome_name(k), U(t.outcome[k]));
  printf("\n");
  for (int b = 0; b < BUG_COUNT; b++)
    if (bug_hits[b])
      printf("# model: stepped around known bug %s %llu times\n", bug_name[b],
             U(bug_hits[b]));
}

/* The harness finds a planted model bug (guard pages that fire forever)
** and shrinks it to a handful of calls. */
static void shrinker_reduces_a_planted_failure(void **state) {
  (void)state;
  totals t;
  memset(&t, 0, sizeof t);
  char why[800];
  size_t len = 0;
  bool found = false;
  for (uint64_t seed = 1; seed <= 20 && !found; seed++)
    if (!one_sequence(seed, 200, true, &t, &len, why, sizeof why)) found = true;
  assert_true(found);
  /* the guard bit still shows in a query, or the second touch differs */
  if (!strstr(why, ": query:") && !strstr(why, ": access:"))
    fail_msg("unexpected failure kind: %s", why);
  /* allocate (or map) with GUARD, touch, touch again: three calls, a few
  ** more when the guard page came from a view */
  if (len > 6) fail_msg("shrunk to %zu ops, expected at most 6", len);
}

/* ------------------------------------------- bugs the model test found

   Each test below is the shrunk reproducer of a mismatch, named after the
   symptom; they fail until the core is fixed (the random test steps
   around them meanwhile: see "known bugs"). */

/* The system of a bug test, destroyed by the teardown also when an
** assertion fails (valgrind would report it lost otherwise). */
static int destroy_sys(void **state) {
  if (*state) mm_system_destroy(*state);
  *state = NULL;
  return 0;
}

#define BUG_END(sys, state) do { END(sys); *(state) = NULL; } while (0)

static mm_handle pf_section(mm_system *sys, uint64_t size, uint32_t prot,
                            uint32_t attr) {
  mm_section_config sc = { size, prot, attr, 0, NULL };
  mm_handle h = 0;
  assert_status(mm_section_create(sys, &sc, &h, NULL), MM_STATUS_SUCCESS);
  return h;
}

static uint64_t map_ok(mm_system *sys, mm_pid pid, mm_handle h, uint32_t prot) {
  uint64_t b = 0, s = 0;
  assert_status(mm_map_view(sys, pid, h, &b, 0, &s, prot, 0, 0),
                MM_STATUS_SUCCESS);
  return b;
}

/* A.8: touching an uncommitted page of a SEC_RESERVE view is an access
** violation, whatever the view's protection; section.c/fault.c raise the
** guard exception first (the view PTE carries GUARD and PTE_C) and clear
** the guard bit of a page that is not even committed. */
static void guard_page_in_uncommitted_view_page_is_access_violation(void **state) {
  mm_system *sys = tu_system(MiB(4), MiB(4));
  *state = sys;
  mm_pid pid = tu_process(sys);
  mm_handle h = pf_section(sys, 0x2000, RW, MM_SEC_RESERVE);
  uint64_t v = map_ok(sys, pid, h, RW | GUARD);
  assert_string_equal(mm_outcome_name(mm_access(sys, pid, v, MM_READ)),
                      "access_violation");
  BUG_END(sys, state);
}

/* A.4.3: NOCACHE and WRITECOMBINE apply to private memory only; mm_protect
** refuses them in a view, but a MEM_COMMIT inside a view takes them. */
static void commit_nocache_in_view_is_refused(void **state) {
  mm_system *sys = tu_system(MiB(4), MiB(4));
  *state = sys;
  mm_pid pid = tu_process(sys);
  mm_handle h = pf_section(sys, 0x2000, RW, MM_SEC_COMMIT);
  uint64_t v = map_ok(sys, pid, h, RW);
  uint64_t b = v, s = 0x1000;
  assert_status(mm_allocate(sys, pid, &b, &s, MM_MEM_COMMIT, RW | NOCACHE),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  BUG_END(sys, state);
}

/* A.4.8: WRITECOPY allows writes. A page already copied on write, made
** WRITECOPY again with mm_protect, refuses the next write with an access
** violation while it is resident (fault.c: a valid private PTE without
** the hardware write bit is taken for a protection failure). */
static void write_to_copied_page_made_writecopy_again_is_allowed(void **state) {
  mm_system *sys = tu_system(MiB(4), MiB(4));
  *state = sys;
  mm_pid pid = tu_process(sys);
  mm_handle h = pf_section(sys, 0x2000, RW, MM_SEC_COMMIT);
  uint64_t v = map_ok(sys, pid, h, WC);
  assert_string_equal(mm_outcome_name(mm_access(sys, pid, v, MM_WRITE)), "cow");
  uint64_t b = v, s = 0x1000;
  uint32_t old = 0;
  assert_status(mm_protect(sys, pid, &b, &s, WC, &old), MM_STATUS_SUCCESS);
  assert_int_equal(old, RW);
  int r = mm_access(sys, pid, v, MM_WRITE);
  if (r == MM_ACCESS_VIOLATION) fail_msg("write to a WRITECOPY page: %s",
                                         mm_outcome_name(r));
  BUG_END(sys, state);
}

/* A.4.5: a view of an EXECUTE_READ section may hold NOACCESS, READONLY,
** WRITECOPY, EXECUTE and EXECUTE_READ; vad.c checks only that the new
** protection grants no more than the view's (EXECUTE_WRITECOPY counts as
** read+execute) and lets EXECUTE_WRITECOPY through. */
static void protect_view_of_execute_read_section_to_execute_writecopy_is_refused(
    void **state) {
  mm_system *sys = tu_system(MiB(4), MiB(4));
  *state = sys;
  mm_pid pid = tu_process(sys);
  mm_handle h = pf_section(sys, 0x2000, ER, MM_SEC_COMMIT);
  uint64_t v = map_ok(sys, pid, h, ER);
  uint64_t b = v, s = 0x1000;
  uint32_t old = 0;
  assert_status(mm_protect(sys, pid, &b, &s, EWC, &old),
                MM_STATUS_INVALID_PAGE_PROTECTION);
  BUG_END(sys, state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(shrinker_reduces_a_planted_failure),
    cmocka_unit_test(model_random_sequences),
    cmocka_unit_test_teardown(guard_page_in_uncommitted_view_page_is_access_violation, destroy_sys),
    cmocka_unit_test_teardown(commit_nocache_in_view_is_refused, destroy_sys),
    cmocka_unit_test_teardown(write_to_copied_page_made_writecopy_again_is_allowed, destroy_sys),
    cmocka_unit_test_teardown(protect_view_of_execute_read_section_to_execute_writecopy_is_refused, destroy_sys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
