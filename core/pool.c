/*
** pool.c — kernel pools: one non-paged pool and 1..64 paged pools
** (WINDOWS.md A.13, A.6; seed notes "Kernel Heaps"; docs/pools.md).
**
** Model
**   Address space. The pools live in one window at the bottom of the
**   System process's kernel range, reserved as one private VAD at creation:
**   as many pages as both maxima together, but never more than the kernel
**   range (on 32-bit profiles the pools therefore compete for the 2 GiB of
**   kernel address space, as they do in Windows). Non-paged pages are taken
**   from the bottom of the window, paged pages from the top.
**
**   Pages. Every page of the window is either free address space (va) or
**   committed to one kind of pool and charged to commit: then it is a
**   small-block page of one pool, a page of a big allocation, or idle (a
**   free page the kind keeps because it is within its initial size).
**   Non-paged pages are mapped by a valid PTE to a frame flagged
**   PFN_F_NONPAGED that no working set holds; paged pages are committed
**   demand-zero PTEs that fault into the system working set when touched
**   and can be trimmed like any other page.
**
**   Blocks (A.13.4). A small-block page is cut into blocks of `units`
**   granules (8 bytes on 32-bit profiles, 16 on x64); each block starts
**   with a one-granule header, records the size of the block before it
**   (PreviousSize) so that freeing can merge both ways, and never crosses
**   the page. Free blocks sit on one list per size (1..units granules) of
**   their pool, with a bitmap of non-empty lists; an allocation takes the
**   head of the smallest non-empty list that fits and splits the rest off
**   behind it. A page whose blocks are all free again leaves its pool.
**   The headers are not stored in simulated memory: this file keeps them
**   in host structures and only *references* the page when Windows would
**   write one (allocating or freeing a small block of paged pool).
**
** Invariants (pool_check walks them after every public call in debug):
**   1. Each pool's free lists hold exactly its free blocks, each on the
**      list of its size, links agreeing both ways; bit k of the bitmap is
**      set iff list k is not empty.
**   2. The blocks of a small-block page tile it exactly, PreviousSize of
**      each is the size of the one before, no two free blocks touch, and
**      at least one block is allocated.
**   3. Every pool page (small, big, idle) is committed in the System
**      process; a non-paged one is valid and maps a PFN_F_NONPAGED frame
**      owned by the System process at that page; a paged one never maps a
**      locked frame. The window holds no other committed page, and
**      free va + committed pages = window pages.
**   4. Per pool and per kind, counters equal what the structures hold
**      (pages, blocks, bytes, free bytes); the per-tag trackers add up to
**      the pools' totals; no kind holds more than its maximum.
**
** Life of a pool page (function performing each edge):
**
**         pages_get                    carve / big record
**   va ------------> committed(idle) -------------------> in a pool
**    ^                     ^  \__________________________^   |
**    |  pages_put          |        pages_get (reuse)         | pages_put
**    +---(above initial)---+-----(within initial: idle)------+
**
** Windows facts are from A.13; the choices Windows leaves open (which
** paged pool serves a request, where a split block goes) are documented in
** docs/pools.md.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define U(x) ((unsigned long long)(x))

/* Freed handles remembered so a second free can be called a double free;
** past this many the memory is forgotten (later double frees are then
** reported as foreign addresses). Bounded so a long run cannot grow it
** without end. */
#define POOL_FREED_MAX (1u << 16)

/* A page-map value for the first page of a big allocation. */
#define PAGE_BIG 0x80000000u

/* ================================================ small host containers */

/* An open-addressing hash map uint64 -> uint32 with deletion (linear
** probing, backward-shift delete), at most 70% full. u64map.h has no
** deletion; blocks come and go here. */
#define PMAP_EMPTY UINT64_MAX

typedef struct pmap {
  uint64_t *key;
  uint32_t *val;
  uint32_t cap, n;                  /* cap: 0 or a power of two */
} pmap;

/* Mixes the bits of k (the splitmix64 finalizer): addresses differ only
** in a few bits. Never fails. */
static uint64_t pmap_hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

/* Frees the map's memory; it is then empty and usable. Never fails. */
static void pmap_free(pmap *m) {
  free(m->key);
  free(m->val);
  memset(m, 0, sizeof *m);
}

/* The slot holding k, or the empty slot where it would go; cap must be
** above 0. Never fails. */
static uint32_t pmap_slot(const pmap *m, uint64_t k) {
  uint32_t mask = m->cap - 1, i = (uint32_t)pmap_hash(k) & mask;
  while (m->key[i] != PMAP_EMPTY && m->key[i] != k) i = (i + 1) & mask;
  return i;
}

/* Room for n keys in all, so that pmap_put cannot fail. 0, or -1 when
** out of host memory (nothing changed). */
static int pmap_reserve(pmap *m, uint64_t n) {
  if (n * 10 <= (uint64_t)m->cap * 7) return 0;
  uint64_t cap = m->cap ? m->cap : 16;
  while (n * 10 > cap * 7) cap *= 2;
  if (cap > (1ull << 31)) return -1;
  pmap nm = { malloc(cap * sizeof *nm.key), malloc(cap * sizeof *nm.val),
              (uint32_t)cap, 0 };
  if (!nm.key || !nm.val) { pmap_free(&nm); return -1; }
  for (uint64_t i = 0; i < cap; i++) nm.key[i] = PMAP_EMPTY;
  for (uint32_t i = 0; i < m->cap; i++) {
    if (m->key[i] == PMAP_EMPTY) continue;
    uint32_t s = pmap_slot(&nm, m->key[i]);
    nm.key[s] = m->key[i];
    nm.val[s] = m->val[i];
    nm.n++;
  }
  pmap_free(m);
  *m = nm;
  return 0;
}

/* True, with the value in *v (may be NULL), when k is present. Never
** fails. */
static bool pmap_get(const pmap *m, uint64_t k, uint32_t *v) {
  if (!m->cap) return false;
  uint32_t s = pmap_slot(m, k);
  if (m->key[s] == PMAP_EMPTY) return false;
  if (v) *v = m->val[s];
  return true;
}

/* Inserts or replaces; the caller reserved room. Never fails. */
static void pmap_put(pmap *m, uint64_t k, uint32_t v) {
  assert(k != PMAP_EMPTY && (uint64_t)(m->n + 1) * 10 <= (uint64_t)m->cap * 7);
  uint32_t s = pmap_slot(m, k);
  if (m->key[s] == PMAP_EMPTY) { m->key[s] = k; m->n++; }
  m->val[s] = v;
}

/* Removes k if present. Never fails. */
static void pmap_del(pmap *m, uint64_t k) {
  if (!m->cap) return;
  uint32_t mask = m->cap - 1, i = pmap_slot(m, k), j = i;
  if (m->key[i] == PMAP_EMPTY) return;
  for (;;) {
    j = (j + 1) & mask;
    if (m->key[j] == PMAP_EMPTY) break;
    uint32_t h = (uint32_t)pmap_hash(m->key[j]) & mask;
    /* the entry at j may stay only if its home lies in (i, j] */
    bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
    if (!stays) {
      m->key[i] = m->key[j];
      m->val[i] = m->val[j];
      i = j;
    }
  }
  m->key[i] = PMAP_EMPTY;
  m->n--;
}

/* A slab of fixed-size records addressed by index; freed indices are
** reused. link[i] is SLAB_USED for a live record, else the next free. */
#define SLAB_USED 0xFFFFFFFEu

typedef struct slab {
  unsigned char *a;
  uint32_t *link;
  size_t size;                      /* bytes per record */
  uint32_t cap, hi, free_head, nfree, live;
} slab;

/* An empty slab of size-byte records. Never fails. */
static void slab_init(slab *s, size_t size) {
  memset(s, 0, sizeof *s);
  s->size = size;
  s->free_head = MM_NIL;
}

/* Frees every record; the slab is empty and usable. Never fails. */
static void slab_free(slab *s) {
  free(s->a);
  free(s->link);
  slab_init(s, s->size);
}

/* Room for k more records without reallocating. 0, or -1 when out of
** host memory (nothing changed). */
static int slab_reserve(slab *s, uint32_t k) {
  if (s->nfree + (s->cap - s->hi) >= k) return 0;
  uint64_t cap = s->cap ? s->cap : 16;
  while (cap - s->hi + s->nfree < k) cap *= 2;
  if (cap >= SLAB_USED) return -1;
  unsigned char *a = realloc(s->a, cap * s->size);
  if (!a) return -1;
  s->a = a;
  uint32_t *l = realloc(s->link, cap * sizeof *l);
  if (!l) return -1;
  s->link = l;
  s->cap = (uint32_t)cap;
  return 0;
}

/* Live record i (asserted). Never fails. */
static inline void *slab_at(const slab *s, uint32_t i) {
  assert(i < s->hi && s->link[i] == SLAB_USED);
  return s->a + (size_t)i * s->size;
}

/* A zeroed record; the caller reserved room. Never fails. */
static uint32_t slab_get(slab *s) {
  uint32_t i;
  if (s->free_head != MM_NIL) {
    i = s->free_head;
    s->free_head = s->link[i];
    s->nfree--;
  } else {
    assert(s->hi < s->cap);
    i = s->hi++;
  }
  s->link[i] = SLAB_USED;
  s->live++;
  memset(s->a + (size_t)i * s->size, 0, s->size);
  return i;
}

/* Frees live record i for reuse. Never fails. */
static void slab_put(slab *s, uint32_t i) {
  assert(i < s->hi && s->link[i] == SLAB_USED);
  s->link[i] = s->free_head;
  s->free_head = i;
  s->nfree++;
  s->live--;
}

/* Is record i (below hi) live? Never fails. */
static inline bool slab_live(const slab *s, uint32_t i) {
  return s->link[i] == SLAB_USED;
}

/* A set of page ranges [lo, lo + n), sorted, merged, never adjacent. */
typedef struct ext { uint64_t lo, n; } ext;
typedef struct extset {
  ext *e;
  uint32_t n, cap;
  uint64_t total;                   /* pages in the set */
} extset;

/* Room for k more ranges, so that ext_add cannot fail. 0, or -1 when out
** of host memory (nothing changed). */
static int ext_reserve(extset *s, uint32_t k) {
  if (s->cap - s->n >= k) return 0;
  uint64_t cap = s->cap ? s->cap * 2ull : 8;
  while (cap - s->n < k) cap *= 2;
  if (cap > UINT32_MAX / 2) return -1;
  ext *e = realloc(s->e, cap * sizeof *e);
  if (!e) return -1;
  s->e = e;
  s->cap = (uint32_t)cap;
  return 0;
}

/* Index of the first range starting above vpn. Never fails. */
static uint32_t ext_after(const extset *s, uint64_t vpn) {
  uint32_t lo = 0, hi = s->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->e[mid].lo <= vpn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Is vpn in the set? Never fails. */
static bool ext_contains(const extset *s, uint64_t vpn) {
  uint32_t i = ext_after(s, vpn);
  return i > 0 && vpn < s->e[i - 1].lo + s->e[i - 1].n;
}

/* Takes n contiguous pages: the lowest fit, or with top the highest.
** False (nothing changed) when no range is long enough. Never allocates. */
static bool ext_take(extset *s, uint64_t n, bool top, uint64_t *lo) {
  for (uint32_t k = 0; k < s->n; k++) {
    uint32_t i = top ? s->n - 1 - k : k;
    ext *e = &s->e[i];
    if (e->n < n) continue;
    if (top) {
      *lo = e->lo + e->n - n;
    } else {
      *lo = e->lo;
      e->lo += n;
    }
    e->n -= n;
    s->total -= n;
    if (e->n == 0) {
      memmove(e, e + 1, (s->n - i - 1) * sizeof *e);
      s->n--;
    }
    return true;
  }
  return false;
}

/* Adds [lo, lo + n), which must not overlap the set, merging with
** neighbours. The caller reserved one range. Never fails. */
static void ext_add(extset *s, uint64_t lo, uint64_t n) {
  if (n == 0) return;
  uint32_t i = ext_after(s, lo);
  assert(i == 0 || s->e[i - 1].lo + s->e[i - 1].n <= lo);
  assert(i == s->n || lo + n <= s->e[i].lo);
  s->total += n;
  bool left = i > 0 && s->e[i - 1].lo + s->e[i - 1].n == lo;
  bool right = i < s->n && lo + n == s->e[i].lo;
  if (left && right) {
    s->e[i - 1].n += n + s->e[i].n;
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof *s->e);
    s->n--;
  } else if (left) {
    s->e[i - 1].n += n;
  } else if (right) {
    s->e[i].lo = lo;
    s->e[i].n += n;
  } else {
    assert(s->n < s->cap);
    memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof *s->e);
    s->e[i] = (ext){ lo, n };
    s->n++;
  }
}

/* ====================================================== pool structures */

typedef struct pblk {               /* a small block, free or allocated */
  uint64_t addr;                    /* its header */
  uint32_t page;                    /* its page record */
  uint32_t next, prev;              /* free-list links, MM_NIL */
  uint32_t requested;               /* allocated: bytes asked for */
  uint32_t tag;                     /* allocated: its tag */
  uint16_t units;                   /* size in granules, header included */
  uint16_t prev_units;              /* PreviousSize; 0 at the page start */
  uint8_t is_free;
  uint8_t pad_[7];
} pblk;

typedef struct ppage {              /* a small-block page */
  uint64_t vpn;
  uint32_t pool;
  uint32_t used;                    /* allocated blocks in it */
} ppage;

typedef struct pbig {               /* a big allocation */
  uint64_t vpn, npages, requested;
  uint32_t tag, pool;
} pbig;

typedef struct pdesc {              /* one pool (a POOL_DESCRIPTOR) */
  uint32_t kind;
  uint32_t *head;                   /* [units + 1]: free blocks by size */
  uint64_t *bits;                   /* non-empty lists */
  mm_pool_stats st;                 /* maintained counters; the derived
                                       fields are filled on read */
} pdesc;

typedef struct pkind {              /* what one kind of pool shares */
  uint64_t max, initial;            /* pages */
  uint64_t committed, peak;         /* pages charged: in pools + idle */
  extset idle;                      /* committed pages in no pool */
} pkind;

typedef struct pools {
  mm_pool_config cfg;               /* in effect, whole pages as bytes */
  unsigned blk_shift;               /* log2 of the granule (3 or 4) */
  uint32_t units;                   /* granules per page */
  uint64_t max_alloc;               /* POOL_MAX_ALLOC */
  uint32_t npools;                  /* 1 + paged pools */
  uint32_t next_paged;              /* round robin among paged pools */
  bool used;                        /* an allocation was ever made */
  uint64_t win_lo, win_n;           /* the window, pages */
  extset va;                        /* free pages of the window */
  pkind kind[2];
  pdesc *pool;                      /* [npools] */
  slab blks, pages, bigs;
  pmap blkmap;                      /* header address -> pblk */
  pmap pagemap;                     /* vpn -> ppage, or PAGE_BIG | pbig
                                       for a big allocation's first page */
  pmap freed;                       /* freed handles -> tag */
  pmap trackmap;                    /* kind << 32 | tag -> track index */
  mm_pool_tag_usage *track;
  uint32_t ntrack, captrack;
} pools;

#define BLK(P, i) ((pblk *)slab_at(&(P)->blks, (i)))
#define PAGE(P, i) ((ppage *)slab_at(&(P)->pages, (i)))
#define BIG(P, i) ((pbig *)slab_at(&(P)->bigs, (i)))

static const char *const kind_names[2] = { "non-paged", "paged" };

/* The block granularity in bytes; the address of a page. Never fail. */
static inline uint64_t gran(const pools *P) { return 1ull << P->blk_shift; }
static inline uint64_t va_of(const mm_system *sys, uint64_t vpn) {
  return vpn << sys->page_shift;
}

/* ============================================================= limits */

void mm_pool_default_limits(int arch, uint64_t ram, uint64_t *nonpaged_max,
                            uint64_t *paged_max) {
  const mm_arch_info *ai = mm_arch_get((mm_arch)arch);
  /* Seed table: 32-bit 2 GB, 64-bit 128 GB; non-paged also at most 75%
  ** of physical memory (computed without overflow). */
  uint64_t cap = ai && ai->pointer_bits == 32 ? 2ull << 30 : 128ull << 30;
  uint64_t three_quarters = ram / 4 * 3 + ram % 4 * 3 / 4;
  *nonpaged_max = three_quarters < cap ? three_quarters : cap;
  *paged_max = cap;
}

/* The effective configuration of cfg for sys (defaults, whole pages), or
** INVALID_PARAMETER with the reason. Changes nothing but *out. */
static mm_status config_resolve(mm_system *sys, const mm_pool_config *cfg,
                                mm_pool_config *out) {
  uint64_t npmax, pmax, ps = sys->page_size;
  mm_pool_default_limits((int)sys->cfg.arch, sys->cfg.ram, &npmax, &pmax);
  if (cfg->paged_pools > MM_POOL_MAX_PAGED_POOLS)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "paged_pools is %u: Windows has 1 to %u paged pools",
                   cfg->paged_pools, MM_POOL_MAX_PAGED_POOLS);
  out->paged_pools = cfg->paged_pools ? cfg->paged_pools
                                      : MM_POOL_DEFAULT_PAGED_POOLS;
  out->nonpaged_max = (cfg->nonpaged_max ? cfg->nonpaged_max : npmax) / ps * ps;
  out->paged_max = (cfg->paged_max ? cfg->paged_max : pmax) / ps * ps;
  if (cfg->nonpaged_initial > UINT64_MAX - ps || cfg->paged_initial > UINT64_MAX - ps)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "initial pool size too large");
  out->nonpaged_initial = (cfg->nonpaged_initial + ps - 1) / ps * ps;
  out->paged_initial = (cfg->paged_initial + ps - 1) / ps * ps;
  if (out->nonpaged_initial > out->nonpaged_max)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "nonpaged_initial (%llu bytes) is above nonpaged_max "
                   "(%llu bytes)", U(out->nonpaged_initial), U(out->nonpaged_max));
  if (out->paged_initial > out->paged_max)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "paged_initial (%llu bytes) is above paged_max (%llu bytes)",
                   U(out->paged_initial), U(out->paged_max));
  uint64_t kernel = sys->sysproc->hi_vpn - sys->sysproc->lo_vpn + 1;
  if ((out->nonpaged_initial + out->paged_initial) / ps > kernel)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "the initial pool sizes (%llu bytes together) do not fit "
                   "in the kernel address space (%llu bytes)",
                   U(out->nonpaged_initial + out->paged_initial),
                   U(va_of(sys, kernel)));
  return MM_STATUS_SUCCESS;
}

/* ====================================================== create, destroy */

/* Frees every host structure of P (NULL is fine); simulated state is
** not touched. Never fails. */
static void pools_free(pools *P) {
  if (!P) return;
  if (P->pool)
    for (uint32_t i = 0; i < P->npools; i++) {
      free(P->pool[i].head);
      free(P->pool[i].bits);
    }
  free(P->pool);
  free(P->va.e);
  free(P->kind[0].idle.e);
  free(P->kind[1].idle.e);
  slab_free(&P->blks);
  slab_free(&P->pages);
  slab_free(&P->bigs);
  pmap_free(&P->blkmap);
  pmap_free(&P->pagemap);
  pmap_free(&P->freed);
  pmap_free(&P->trackmap);
  free(P->track);
  free(P);
}

/* Host structures for an effective configuration; no simulated state is
** touched. NULL when out of host memory. */
static pools *pools_new(mm_system *sys, const mm_pool_config *c) {
  pools *P = calloc(1, sizeof *P);
  if (!P) return NULL;
  P->cfg = *c;
  P->blk_shift = sys->arch->pointer_bits == 32 ? 3 : 4;
  P->units = (uint32_t)(sys->page_size >> P->blk_shift);
  P->max_alloc = sys->page_size - 2 * gran(P);   /* header + one block */
  P->npools = 1 + c->paged_pools;
  slab_init(&P->blks, sizeof(pblk));
  slab_init(&P->pages, sizeof(ppage));
  slab_init(&P->bigs, sizeof(pbig));
  unsigned shift = sys->page_shift;
  P->kind[MM_POOL_NONPAGED].max = c->nonpaged_max >> shift;
  P->kind[MM_POOL_NONPAGED].initial = c->nonpaged_initial >> shift;
  P->kind[MM_POOL_PAGED].max = c->paged_max >> shift;
  P->kind[MM_POOL_PAGED].initial = c->paged_initial >> shift;
  /* The window: both maxima, whole granules, within the kernel range. */
  uint64_t gp = MM_GRANULE >> shift ? MM_GRANULE >> shift : 1;
  uint64_t kernel = sys->sysproc->hi_vpn - sys->sysproc->lo_vpn + 1;
  uint64_t want = P->kind[0].max + P->kind[1].max;
  want = want < kernel ? (want + gp - 1) / gp * gp : kernel;
  if (want == 0) want = gp;
  P->win_lo = sys->sysproc->lo_vpn;
  P->win_n = want < kernel ? want : kernel;
  P->pool = calloc(P->npools, sizeof *P->pool);
  if (!P->pool || ext_reserve(&P->va, 4) || ext_reserve(&P->kind[0].idle, 4) ||
      ext_reserve(&P->kind[1].idle, 4)) {
    pools_free(P);
    return NULL;
  }
  ext_add(&P->va, P->win_lo, P->win_n);
  size_t words = (P->units + 1 + 63) / 64;
  for (uint32_t i = 0; i < P->npools; i++) {
    pdesc *D = &P->pool[i];
    D->kind = i == 0 ? MM_POOL_NONPAGED : MM_POOL_PAGED;
    D->head = malloc((P->units + 1) * sizeof *D->head);
    D->bits = calloc(words, sizeof *D->bits);
    if (!D->head || !D->bits) {
      pools_free(P);
      return NULL;
    }
    for (uint32_t k = 0; k <= P->units; k++) D->head[k] = MM_NIL;
  }
  return P;
}

/* Inserts the window's VAD in the System process: SUCCESS, or
** CONFLICTING_ADDRESSES / NO_MEMORY recorded, with nothing changed. */
static mm_status window_insert(mm_system *sys, pools *P) {
  uint64_t start = P->win_lo;
  mm_status st = vad_place(sys, sys->sysproc, &start, P->win_n, 1, false);
  if (st) return st;
  mm_vad v;
  memset(&v, 0, sizeof v);
  v.start = P->win_lo;
  v.end = P->win_lo + P->win_n;
  v.alloc_protect = MM_PAGE_READWRITE;
  v.type = VAD_PRIVATE;
  return vad_insert(sys, sys->sysproc, &v);
}

/* Removes the window's VAD, whose pages are all free again. Never fails. */
static void window_remove(mm_system *sys, pools *P) {
  int i = vad_find(sys->sysproc, P->win_lo);
  assert(i >= 0);
  vad_remove(sys->sysproc, i);
}

/* ============================================================ pages */

/* Maps frame f at vpn of the System process as non-paged pool: valid,
** read/write, locked (no working set), like a large page (large.c). The
** table exists (pt_ensure). Never fails. */
static void map_nonpaged(mm_system *sys, uint64_t vpn, uint32_t f) {
  mm_leaf *leaf = pt_leaf(sys->sysproc, sys, vpn);
  assert(leaf);
  mm_pte *pte = &leaf->pte[vpn - leaf->base_vpn];
  assert(*pte == 0);
  mm_pfn *e = &sys->pfn[f];
  e->owner = MM_SYSTEM_PID;
  e->vpn = vpn;
  e->share = 1;
  e->flags = PFN_F_NONPAGED;
  e->slot = MM_NIL;
  e->wsslot = MM_NIL;                 /* in no working set */
  *pte = PTE_V | PTE_C | pte_hw_bits(MM_PAGE_READWRITE) |
         ((mm_pte)MM_PAGE_READWRITE << PTE_PROT_SHIFT) |
         ((mm_pte)f << PTE_PAYLOAD_SHIFT);
  leaf->live++;
}

/* Gives back fresh pages [vpn, vpn + n) entirely: decommitted (frames
** freed), commit returned, address space free again. The caller reserved
** one va range. Never fails. */
static void pages_drop(mm_system *sys, pools *P, uint64_t vpn, uint64_t n) {
  if (n == 0) return;
  for (uint64_t v = vpn; v < vpn + n; v++) {
    int was = page_decommit(sys, sys->sysproc, v);
    assert(was == 1);
    (void)was;
  }
  commit_return(sys, sys->sysproc, n);
  pt_prune(sys, sys->sysproc, vpn, vpn + n);
  ext_add(&P->va, vpn, n);
}

/* Takes n contiguous pages for kind k: idle pages of the kind first, else
** fresh ones (address space, commit, page tables and, for non-paged pool,
** frames). The caller reserved one va range. Returns SUCCESS with *vpn, or
** the failure (INSUFFICIENT_RESOURCES naming the exhausted resource,
** NO_MEMORY for host memory) with nothing changed — except what making a
** frame available did to other working sets, as a fault would. */
static mm_status pages_get(mm_system *sys, pools *P, unsigned k, uint64_t n,
                           uint64_t *vpn) {
  pkind *K = &P->kind[k];
  bool top = k == MM_POOL_PAGED;
  if (ext_take(&K->idle, n, top, vpn)) return MM_STATUS_SUCCESS;
  if (n > K->max || K->committed > K->max - n)
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                   "the %s pool is at its maximum: %llu of %llu pages in "
                   "use, %llu more needed", kind_names[k], U(K->committed),
                   U(K->max), U(n));
  if (!ext_take(&P->va, n, top, vpn))
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                   "no %llu contiguous free pages left in the pools' kernel "
                   "address space (%llu of %llu pages free)", U(n),
                   U(P->va.total), U(P->win_n));
  uint64_t lo = *vpn;
  if (commit_charge(sys, sys->sysproc, n) != MM_STATUS_SUCCESS) {
    ext_add(&P->va, lo, n);
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                   "%llu pages of %s pool would pass the commit limit "
                   "(%llu of %llu pages charged)", U(n), kind_names[k],
                   U(sys->commit_charge), U(sys->commit_limit));
  }
  for (uint64_t v = lo; v < lo + n; v++) {
    if (!pt_ensure(sys, sys->sysproc, v)) {
      pt_prune(sys, sys->sysproc, lo, lo + n);
      commit_unwind(sys, sys->sysproc, n);
      ext_add(&P->va, lo, n);
      return mm_fail(sys, MM_STATUS_NO_MEMORY,
                     "out of host memory for the pool's page tables");
    }
  }
  for (uint64_t v = lo; v < lo + n; v++) {
    if (k == MM_POOL_PAGED) {
      page_commit(sys, sys->sysproc, v, MM_PAGE_READWRITE);
      continue;
    }
    /* free, then zeroed, then standby: pool memory is not zeroed */
    uint32_t f = frame_get(sys, sys->sysproc, false);
    if (f == MM_NIL) {
      for (uint64_t u = lo; u < v; u++) page_decommit(sys, sys->sysproc, u);
      pt_prune(sys, sys->sysproc, lo, lo + n);
      commit_unwind(sys, sys->sysproc, n);
      ext_add(&P->va, lo, n);
      return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                     "no physical page left for non-paged pool (%llu pages "
                     "needed, %llu taken)", U(n), U(v - lo));
    }
    map_nonpaged(sys, v, f);
  }
  K->committed += n;
  if (K->committed > K->peak) K->peak = K->committed;
  return MM_STATUS_SUCCESS;
}

/* Returns n pages a pool no longer uses to kind k: those that keep the
** kind within its initial size stay committed as idle pages, the rest are
** given back (pages_drop). The caller reserved one range in the kind's
** idle set and one in va. Never fails. */
static void pages_put(mm_system *sys, pools *P, unsigned k, uint64_t vpn,
                      uint64_t n) {
  pkind *K = &P->kind[k];
  assert(K->committed - K->idle.total >= n);      /* in pools, these too */
  uint64_t rest = K->committed - n;
  uint64_t room = K->initial > rest ? K->initial - rest : 0;
  uint64_t keep = room < n ? room : n;
  ext_add(&K->idle, vpn, keep);
  pages_drop(sys, P, vpn + keep, n - keep);
  K->committed -= n - keep;
}

/* ======================================================= free lists */

/* Marks list k of D non-empty / empty. Never fail. */
static void bit_set(pdesc *D, uint32_t k) { D->bits[k / 64] |= 1ull << (k % 64); }
static void bit_clear(pdesc *D, uint32_t k) {
  D->bits[k / 64] &= ~(1ull << (k % 64));
}

/* Trailing zero bits of x, which is not 0. Never fails. */
static unsigned ctz64(uint64_t x) {
#if defined(__GNUC__)
  return (unsigned)__builtin_ctzll(x);
#else
  unsigned n = 0;
  while (!(x & 1)) { x >>= 1; n++; }
  return n;
#endif
}

/* The smallest non-empty list index >= k, or MM_NIL. Never fails. */
static uint32_t bits_from(const pools *P, const pdesc *D, uint32_t k) {
  uint32_t words = (P->units + 1 + 63) / 64;
  for (uint32_t w = k / 64; w < words; w++) {
    uint64_t x = D->bits[w];
    if (w == k / 64) x &= ~0ull << (k % 64);
    if (x) return w * 64 + ctz64(x);
  }
  return MM_NIL;
}

/* The largest non-empty list index, or 0. Never fails. */
static uint32_t bits_top(const pools *P, const pdesc *D) {
  for (uint32_t w = (P->units + 1 + 63) / 64; w-- > 0;)
    if (D->bits[w]) {
      uint64_t x = D->bits[w];
      unsigned b = 63;
      while (!(x >> b)) b--;
      return w * 64 + b;
    }
  return 0;
}

/* Freed blocks go to the head: the most recently freed is reused first
** (its page is the most likely to be resident). Never fails. */
static void list_push(pools *P, pdesc *D, uint32_t bi) {
  pblk *b = BLK(P, bi);
  uint32_t k = b->units;
  b->prev = MM_NIL;
  b->next = D->head[k];
  if (b->next != MM_NIL) BLK(P, b->next)->prev = bi;
  D->head[k] = bi;
  bit_set(D, k);
}

/* Takes free block bi off its list. Never fails. */
static void list_remove(pools *P, pdesc *D, uint32_t bi) {
  pblk *b = BLK(P, bi);
  uint32_t k = b->units;
  if (b->prev != MM_NIL) BLK(P, b->prev)->next = b->next;
  else D->head[k] = b->next;
  if (b->next != MM_NIL) BLK(P, b->next)->prev = b->prev;
  if (D->head[k] == MM_NIL) bit_clear(D, k);
  b->next = b->prev = MM_NIL;
}

/* The block that follows b in its page, or MM_NIL at the page end.
** Never fails. */
static uint32_t blk_next(const mm_system *sys, pools *P, const pblk *b) {
  uint64_t a = b->addr + ((uint64_t)b->units << P->blk_shift);
  if ((a & (sys->page_size - 1)) == 0) return MM_NIL;
  uint32_t i = MM_NIL;
  bool ok = pmap_get(&P->blkmap, a, &i);
  assert(ok);
  (void)ok;
  return i;
}

/* ====================================================== tag trackers */

/* A valid tag: 1-4 printable characters from the low byte up, then zero
** bytes only, and not "BIG ". Never fails. */
static bool tag_ok(uint32_t tag) {
  if (tag == 0 || tag == MM_POOL_TAG_BIG) return false;
  bool ended = false;
  for (unsigned i = 0; i < 4; i++) {
    unsigned c = (tag >> (8 * i)) & 0xFFu;
    if (c == 0) ended = true;
    else if (ended || c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

void mm_pool_tag_string(uint32_t tag, char out[5]) {
  unsigned n = 0;
  for (unsigned i = 0; i < 4; i++) {
    char c = (char)((tag >> (8 * i)) & 0xFFu);
    if (c == 0) break;
    out[n++] = c;
  }
  out[n] = '\0';
}

mm_status mm_pool_tag_parse(mm_system *sys, const char *s, size_t len,
                            uint32_t *tag) {
  uint32_t t = 0;
  if (len < 1 || len > 4) {
    if (sys) mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                     "a pool tag has 1 to 4 characters, not %zu", len);
    return MM_STATUS_INVALID_PARAMETER;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c > 0x7E) {
      if (sys) mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                       "pool tag character %zu is 0x%02x: each must be "
                       "printable, 0x20 to 0x7E (A.13.4)", i + 1, c);
      return MM_STATUS_INVALID_PARAMETER;
    }
    t |= (uint32_t)c << (8 * i);
  }
  if (t == MM_POOL_TAG_BIG) {
    if (sys) mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                     "the pool tag \"BIG \" is reserved for the big-page "
                     "tracking table (A.13.4)");
    return MM_STATUS_INVALID_PARAMETER;
  }
  *tag = t;
  return MM_STATUS_SUCCESS;
}

/* The tracker row of (kind, tag), created with zeros when new; the caller
** reserved a row and a map slot. Never fails. */
static mm_pool_tag_usage *track_of(pools *P, unsigned kind, uint32_t tag) {
  uint64_t key = (uint64_t)kind << 32 | tag;
  uint32_t i = MM_NIL;
  if (!pmap_get(&P->trackmap, key, &i)) {
    assert(P->ntrack < P->captrack);
    i = P->ntrack++;
    memset(&P->track[i], 0, sizeof P->track[i]);
    P->track[i].tag = tag;
    P->track[i].kind = kind;
    pmap_put(&P->trackmap, key, i);
  }
  return &P->track[i];
}

/* ======================================================== lookups */

typedef struct handle {
  bool big;
  uint32_t i;                       /* pblk or pbig */
} handle;

/* The live allocation whose handle is addr. False (with the failure
** recorded: MEMORY_NOT_ALLOCATED for a freed handle, INVALID_ADDRESS
** otherwise) when none. Changes nothing else. */
static bool find_live(mm_system *sys, pools *P, uint64_t addr, handle *out) {
  uint64_t off = addr & (sys->page_size - 1);
  uint32_t i = MM_NIL;
  if (off == 0) {
    if (pmap_get(&P->pagemap, addr >> sys->page_shift, &i) && (i & PAGE_BIG)) {
      *out = (handle){ true, i & ~PAGE_BIG };
      return true;
    }
  } else if (off >= gran(P) && pmap_get(&P->blkmap, addr - gran(P), &i) &&
             !BLK(P, i)->is_free) {
    *out = (handle){ false, i };
    return true;
  }
  uint32_t tag = 0;
  if (pmap_get(&P->freed, addr, &tag)) {
    char t[5];
    mm_pool_tag_string(tag, t);
    mm_fail(sys, MM_STATUS_MEMORY_NOT_ALLOCATED,
            "double free: pool block 0x%llx (tag '%s') was already freed "
            "(Windows would bug-check BAD_POOL_CALLER)", U(addr), t);
    return false;
  }
  uint64_t vpn = addr >> sys->page_shift;
  bool inside = vpn >= P->win_lo && vpn - P->win_lo < P->win_n;
  mm_fail(sys, MM_STATUS_INVALID_ADDRESS,
          "0x%llx is not a pool allocation: %s", U(addr),
          inside ? "it lies in pool memory but is not the address an "
                   "allocation returned"
                 : "it is outside pool memory");
  return false;
}

/* ====================================================== allocation */

/* Host memory every allocation or free might need, reserved before any
** state changes so that the rest cannot fail. 0, or NO_MEMORY recorded. */
static int reserve_host(mm_system *sys, pools *P) {
  bool ok = slab_reserve(&P->blks, 2) == 0 && slab_reserve(&P->pages, 1) == 0 &&
            slab_reserve(&P->bigs, 1) == 0 &&
            pmap_reserve(&P->blkmap, (uint64_t)P->blkmap.n + 2) == 0 &&
            pmap_reserve(&P->pagemap, (uint64_t)P->pagemap.n + 1) == 0 &&
            pmap_reserve(&P->freed, (uint64_t)P->freed.n + 1) == 0 &&
            pmap_reserve(&P->trackmap, (uint64_t)P->trackmap.n + 1) == 0 &&
            ext_reserve(&P->va, 1) == 0 &&
            ext_reserve(&P->kind[0].idle, 1) == 0 &&
            ext_reserve(&P->kind[1].idle, 1) == 0;
  if (ok && P->ntrack == P->captrack) {
    uint32_t cap = P->captrack ? P->captrack * 2 : 16;
    mm_pool_tag_usage *t = realloc(P->track, cap * sizeof *t);
    if (t) { P->track = t; P->captrack = cap; }
    ok = t != NULL;
  }
  if (!ok) mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory for the pools");
  return ok ? 0 : -1;
}

/* The pool's page count moves by delta; its peak follows. Never fails. */
static void pool_pages_changed(pdesc *D, int64_t delta) {
  D->st.pages = (uint64_t)((int64_t)D->st.pages + delta);
  if (D->st.pages > D->st.peak_pages) D->st.peak_pages = D->st.pages;
}

/* A new small-block page for pool idx: one free block spanning it, on its
** list, in *blk. The failure of pages_get otherwise, nothing changed (the
** caller reserved host memory). */
static mm_status page_new(mm_system *sys, pools *P, uint32_t idx, uint32_t *blk) {
  pdesc *D = &P->pool[idx];
  uint64_t vpn;
  mm_status st = pages_get(sys, P, D->kind, 1, &vpn);
  if (st) return st;
  uint32_t pi = slab_get(&P->pages);
  ppage *pg = PAGE(P, pi);
  pg->vpn = vpn;
  pg->pool = idx;
  pmap_put(&P->pagemap, vpn, pi);
  uint32_t bi = slab_get(&P->blks);
  pblk *b = BLK(P, bi);
  b->addr = va_of(sys, vpn);
  b->page = pi;
  b->units = (uint16_t)P->units;
  b->is_free = 1;
  pmap_put(&P->blkmap, b->addr, bi);
  list_push(P, D, bi);
  D->st.small_pages++;
  D->st.free_bytes += sys->page_size;
  pool_pages_changed(D, 1);
  *blk = bi;
  return MM_STATUS_SUCCESS;
}

/* Removes the small-block page of block bi, whose only block is bi, free
** and on its list, and returns the page to its kind. Never fails (the
** caller reserved). */
static void page_release(mm_system *sys, pools *P, uint32_t bi) {
  pblk *b = BLK(P, bi);
  uint32_t pi = b->page;
  ppage *pg = PAGE(P, pi);
  pdesc *D = &P->pool[pg->pool];
  assert(b->is_free && b->units == P->units && pg->used == 0);
  list_remove(P, D, bi);
  pmap_del(&P->blkmap, b->addr);
  slab_put(&P->blks, bi);
  uint64_t vpn = pg->vpn;
  pmap_del(&P->pagemap, vpn);
  slab_put(&P->pages, pi);
  D->st.small_pages--;
  D->st.free_bytes -= sys->page_size;
  pool_pages_changed(D, -1);
  pages_put(sys, P, D->kind, vpn, 1);
}

/* Allocates need granules from free block bi: the block moves off its
** list, the front becomes the allocation, the rest (if any) a free block
** behind it. Never fails (the caller reserved a record). */
static void carve(mm_system *sys, pools *P, pdesc *D, uint32_t bi,
                  uint32_t need, uint32_t tag, uint32_t requested) {
  list_remove(P, D, bi);
  pblk *b = BLK(P, bi);
  assert(b->is_free && b->units >= need);
  if (b->units > need) {
    uint32_t ri = slab_get(&P->blks);
    b = BLK(P, bi);
    pblk *r = BLK(P, ri);
    r->addr = b->addr + ((uint64_t)need << P->blk_shift);
    r->page = b->page;
    r->units = (uint16_t)(b->units - need);
    r->prev_units = (uint16_t)need;
    r->is_free = 1;
    pmap_put(&P->blkmap, r->addr, ri);
    uint32_t ni = blk_next(sys, P, r);
    if (ni != MM_NIL) BLK(P, ni)->prev_units = r->units;
    list_push(P, D, ri);
    b->units = (uint16_t)need;
  }
  b->is_free = 0;
  b->tag = tag;
  b->requested = requested;
  PAGE(P, b->page)->used++;
  D->st.free_bytes -= (uint64_t)need << P->blk_shift;
}

/* Frees allocated block bi, merging with free neighbours. Returns the
** merged free block, on its list unless it spans the page (the caller
** then releases the page). Never fails. */
static uint32_t uncarve(mm_system *sys, pools *P, pdesc *D, uint32_t bi) {
  pblk *b = BLK(P, bi);
  assert(!b->is_free);
  b->is_free = 1;
  b->tag = 0;
  b->requested = 0;
  PAGE(P, b->page)->used--;
  D->st.free_bytes += (uint64_t)b->units << P->blk_shift;
  uint32_t ni = blk_next(sys, P, b);
  if (ni != MM_NIL && BLK(P, ni)->is_free) {
    list_remove(P, D, ni);
    b->units = (uint16_t)(b->units + BLK(P, ni)->units);
    pmap_del(&P->blkmap, BLK(P, ni)->addr);
    slab_put(&P->blks, ni);
  }
  if (b->prev_units) {
    uint32_t pi = MM_NIL;
    bool ok = pmap_get(&P->blkmap, b->addr - ((uint64_t)b->prev_units << P->blk_shift), &pi);
    assert(ok);
    (void)ok;
    pblk *pb = BLK(P, pi);
    if (pb->is_free) {
      list_remove(P, D, pi);
      pb->units = (uint16_t)(pb->units + b->units);
      pmap_del(&P->blkmap, b->addr);
      slab_put(&P->blks, bi);
      bi = pi;
      b = pb;
    }
  }
  ni = blk_next(sys, P, b);
  if (ni != MM_NIL) BLK(P, ni)->prev_units = b->units;
  list_push(P, D, bi);              /* page_release takes a whole-page
                                       block off again */
  return bi;
}

/* One reference by the System process to addr: the pool writing a header
** or the caller using its block. MM_ERROR means the failure is recorded. */
static int sys_ref(mm_system *sys, uint64_t addr, unsigned kind) {
  int r = access_internal(sys, sys->sysproc, addr, kind);
  assert(r == MM_ERROR || r == MM_HIT || r == MM_DEMAND_ZERO || r == MM_SOFT ||
         r == MM_HARD);
  if (r == MM_ERROR && sys->last_status == MM_STATUS_SUCCESS)
    sys->last_status = MM_STATUS_NO_MEMORY;
  return r;
}

/* The failure of a changing call made from inside a callback. */
static mm_status refuse_in_callback(mm_system *sys) {
  return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                 "the pools cannot be changed from inside a policy or "
                 "sampler callback");
}

/* Counts a resource failure of pool idx and returns st. Never fails. */
static mm_status alloc_failed(pools *P, uint32_t idx, mm_status st) {
  if (st == MM_STATUS_INSUFFICIENT_RESOURCES) P->pool[idx].st.failures++;
  return st;
}

/* A small block of pool idx: the smallest free block that fits, else a
** new page; the header write references the page. SUCCESS with *addr,
** or the failure recorded with nothing allocated. */
static mm_status alloc_small(mm_system *sys, pools *P, uint32_t idx,
                             uint64_t bytes, uint32_t tag, uint64_t *addr) {
  pdesc *D = &P->pool[idx];
  uint32_t need = (uint32_t)((bytes + 2 * gran(P) - 1) >> P->blk_shift);
  uint32_t k = bits_from(P, D, need);
  uint32_t bi = MM_NIL;
  bool fresh = false;
  if (k != MM_NIL) {
    bi = D->head[k];
  } else {
    mm_status st = page_new(sys, P, idx, &bi);
    if (st) return alloc_failed(P, idx, st);
    fresh = true;
  }
  /* Writing the header references the page: paged pool may fault. */
  if (D->kind == MM_POOL_PAGED &&
      sys_ref(sys, BLK(P, bi)->addr, MM_WRITE) == MM_ERROR) {
    if (fresh) page_release(sys, P, bi);
    return sys->last_status;
  }
  carve(sys, P, D, bi, need, tag, (uint32_t)bytes);
  uint64_t size = (uint64_t)need << P->blk_shift;
  mm_pool_tag_usage *t = track_of(P, D->kind, tag);
  t->allocs++;
  t->bytes += size;
  t->requested += bytes;
  D->st.allocs++;
  D->st.in_use++;
  D->st.bytes += size;
  D->st.requested += bytes;
  *addr = BLK(P, bi)->addr + gran(P);
  return MM_STATUS_SUCCESS;
}

/* A big allocation of whole pages in pool idx, not referenced (no header).
** SUCCESS with *addr, or the failure recorded with nothing changed. */
static mm_status alloc_big(mm_system *sys, pools *P, uint32_t idx,
                           uint64_t bytes, uint32_t tag, uint64_t *addr) {
  pdesc *D = &P->pool[idx];
  uint64_t n = bytes / sys->page_size + (bytes % sys->page_size != 0);
  uint64_t vpn;
  mm_status st = pages_get(sys, P, D->kind, n, &vpn);
  if (st) return alloc_failed(P, idx, st);
  uint32_t gi = slab_get(&P->bigs);
  pbig *g = BIG(P, gi);
  g->vpn = vpn;
  g->npages = n;
  g->requested = bytes;
  g->tag = tag;
  g->pool = idx;
  pmap_put(&P->pagemap, vpn, PAGE_BIG | gi);
  uint64_t size = n << sys->page_shift;
  mm_pool_tag_usage *t = track_of(P, D->kind, tag);
  t->allocs++;
  t->bytes += size;
  t->requested += bytes;
  t->pages += n;
  D->st.allocs++;
  D->st.in_use++;
  D->st.bytes += size;
  D->st.requested += bytes;
  D->st.big_pages += n;
  pool_pages_changed(D, (int64_t)n);
  *addr = va_of(sys, vpn);
  return MM_STATUS_SUCCESS;
}

mm_status mm_pool_alloc(mm_system *sys, mm_pool_kind kind, uint64_t bytes,
                        uint32_t tag, uint64_t *addr) {
  pools *P = sys->pool;
  if (sys->in_callback) return refuse_in_callback(sys);
  if (kind != MM_POOL_NONPAGED && kind != MM_POOL_PAGED)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "pool type %d is neither non-paged (0) nor paged (1)",
                   (int)kind);
  if (!tag_ok(tag))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "pool tag 0x%08x is not 1 to 4 printable characters "
                   "(0x20-0x7E), or is the reserved \"BIG \" (A.13.4)", tag);
  if (reserve_host(sys, P)) return sys->last_status;
  if (bytes == 0) bytes = 1;                  /* A.13.4 */
  uint32_t idx = 0;
  if (kind == MM_POOL_PAGED) {
    /* Paged pools serve requests in turn (docs/pools.md). */
    idx = 1 + P->next_paged;
    P->next_paged = (P->next_paged + 1) % (P->npools - 1);
  }
  sys->nested++;
  mm_status st = bytes <= P->max_alloc ? alloc_small(sys, P, idx, bytes, tag, addr)
                                       : alloc_big(sys, P, idx, bytes, tag, addr);
  sys->nested--;
  if (st == MM_STATUS_SUCCESS) {
    P->used = true;
    pmap_del(&P->freed, *addr);
  }
  MM_CHECK(sys);
  return st;
}

/* ============================================================ free */

mm_status mm_pool_free(mm_system *sys, uint64_t addr) {
  pools *P = sys->pool;
  if (sys->in_callback) return refuse_in_callback(sys);
  handle L;
  if (!find_live(sys, P, addr, &L)) return sys->last_status;
  if (reserve_host(sys, P)) return sys->last_status;
  if (P->freed.n >= POOL_FREED_MAX) {
    pmap_free(&P->freed);
    if (pmap_reserve(&P->freed, 1))
      return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory for the pools");
  }
  sys->nested++;
  uint32_t tag = 0;
  if (L.big) {
    pbig *g = BIG(P, L.i);
    pdesc *D = &P->pool[g->pool];
    uint64_t n = g->npages, size = n << sys->page_shift, vpn = g->vpn;
    tag = g->tag;
    mm_pool_tag_usage *t = track_of(P, D->kind, tag);
    t->frees++;
    t->bytes -= size;
    t->requested -= g->requested;
    t->pages -= n;
    D->st.frees++;
    D->st.in_use--;
    D->st.bytes -= size;
    D->st.requested -= g->requested;
    D->st.big_pages -= n;
    pool_pages_changed(D, -(int64_t)n);
    pmap_del(&P->pagemap, vpn);
    slab_put(&P->bigs, L.i);
    pages_put(sys, P, D->kind, vpn, n);
  } else {
    pblk *b = BLK(P, L.i);
    pdesc *D = &P->pool[PAGE(P, b->page)->pool];
    /* Freeing rewrites headers: a reference to the page (paged pool). */
    if (D->kind == MM_POOL_PAGED && sys_ref(sys, b->addr, MM_WRITE) == MM_ERROR) {
      sys->nested--;
      return sys->last_status;
    }
    b = BLK(P, L.i);
    tag = b->tag;
    uint64_t size = (uint64_t)b->units << P->blk_shift;
    mm_pool_tag_usage *t = track_of(P, D->kind, tag);
    t->frees++;
    t->bytes -= size;
    t->requested -= b->requested;
    D->st.frees++;
    D->st.in_use--;
    D->st.bytes -= size;
    D->st.requested -= b->requested;
    uint32_t fi = uncarve(sys, P, D, L.i);
    if (BLK(P, fi)->units == P->units) page_release(sys, P, fi);
  }
  pmap_put(&P->freed, addr, tag);
  sys->nested--;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* ======================================================= touch, query */

mm_status mm_pool_touch(mm_system *sys, uint64_t addr, unsigned kind,
                        mm_run_result *res) {
  pools *P = sys->pool;
  mm_run_result local;
  if (!res) res = &local;
  memset(res, 0, sizeof *res);
  if (sys->in_callback) return refuse_in_callback(sys);
  if (kind != MM_READ && kind != MM_WRITE)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "a pool block is read or written, not accessed as %u", kind);
  handle L;
  if (!find_live(sys, P, addr, &L)) return sys->last_status;
  uint64_t first, n;
  unsigned k;
  if (L.big) {
    pbig *g = BIG(P, L.i);
    first = g->vpn;
    n = g->npages;
    k = P->pool[g->pool].kind;
  } else {
    first = addr >> sys->page_shift;
    n = 1;
    k = P->pool[PAGE(P, BLK(P, L.i)->page)->pool].kind;
  }
  if (k == MM_POOL_NONPAGED) {      /* resident by construction */
    res->refs = n;
    res->outcome[MM_HIT] = n;
    return MM_STATUS_SUCCESS;
  }
  mm_status st = MM_STATUS_SUCCESS;
  sys->nested++;
  for (uint64_t v = first; v < first + n; v++) {
    int r = sys_ref(sys, v == first ? addr : va_of(sys, v), kind);
    if (r == MM_ERROR) { st = sys->last_status; break; }
    res->refs++;
    res->outcome[r]++;
  }
  sys->nested--;
  MM_CHECK(sys);
  return st;
}

mm_status mm_pool_query(mm_system *sys, uint64_t addr, mm_pool_block *out) {
  pools *P = sys->pool;
  handle L;
  memset(out, 0, sizeof *out);
  if (!find_live(sys, P, addr, &L)) return sys->last_status;
  out->addr = addr;
  if (L.big) {
    pbig *g = BIG(P, L.i);
    out->requested = g->requested;
    out->size = g->npages << sys->page_shift;
    out->tag = g->tag;
    out->pool = g->pool;
    out->big = 1;
  } else {
    pblk *b = BLK(P, L.i);
    out->requested = b->requested;
    out->size = (uint64_t)b->units << P->blk_shift;
    out->tag = b->tag;
    out->pool = PAGE(P, b->page)->pool;
  }
  out->kind = P->pool[out->pool].kind;
  return MM_STATUS_SUCCESS;
}

/* ============================================================ views */

uint32_t mm_pool_count(const mm_system *sys) {
  return ((const pools *)sys->pool)->npools;
}

/* Is System page vpn valid now? Never fails. */
static bool page_resident(const mm_system *sys, uint64_t vpn) {
  mm_pte *pte = pt_lookup(sys->sysproc, sys, vpn);
  return pte && pte_valid(*pte);
}

/* Pages of pool idx resident now: small-block pages and big pages. Never
** fails. */
static uint64_t pool_resident(const mm_system *sys, const pools *P, uint32_t idx) {
  const pdesc *D = &P->pool[idx];
  if (D->kind == MM_POOL_NONPAGED) return D->st.pages;
  uint64_t n = 0;
  for (uint32_t i = 0; i < P->pages.hi; i++)
    if (slab_live(&P->pages, i) && PAGE(P, i)->pool == idx)
      n += page_resident(sys, PAGE(P, i)->vpn);
  for (uint32_t i = 0; i < P->bigs.hi; i++) {
    if (!slab_live(&P->bigs, i) || BIG(P, i)->pool != idx) continue;
    const pbig *g = BIG(P, i);
    for (uint64_t v = g->vpn; v < g->vpn + g->npages; v++)
      n += page_resident(sys, v);
  }
  return n;
}

/* fragmentation from free_bytes and largest_free. Never fails. */
static void frag_fill(mm_pool_stats *o) {
  o->fragmentation = o->free_bytes
      ? 1.0 - (double)o->largest_free / (double)o->free_bytes : 0.0;
}

mm_status mm_pool_stats_get(const mm_system *sys, uint32_t index,
                            mm_pool_stats *out) {
  const pools *P = sys->pool;
  memset(out, 0, sizeof *out);
  if (index >= P->npools) return MM_STATUS_INVALID_PARAMETER;
  const pdesc *D = &P->pool[index];
  *out = D->st;
  out->largest_free = (uint64_t)bits_top(P, D) << P->blk_shift;
  out->resident_pages = pool_resident(sys, P, index);
  frag_fill(out);
  return MM_STATUS_SUCCESS;
}

void mm_pool_kind_stats(const mm_system *sys, mm_pool_kind kind,
                        mm_pool_stats *out) {
  const pools *P = sys->pool;
  memset(out, 0, sizeof *out);
  if (kind != MM_POOL_NONPAGED && kind != MM_POOL_PAGED) return;
  for (uint32_t i = 0; i < P->npools; i++) {
    if (P->pool[i].kind != (uint32_t)kind) continue;
    mm_pool_stats s;
    mm_pool_stats_get(sys, i, &s);
    out->small_pages += s.small_pages;
    out->big_pages += s.big_pages;
    out->resident_pages += s.resident_pages;
    out->allocs += s.allocs;
    out->frees += s.frees;
    out->failures += s.failures;
    out->in_use += s.in_use;
    out->bytes += s.bytes;
    out->requested += s.requested;
    out->free_bytes += s.free_bytes;
    if (s.largest_free > out->largest_free) out->largest_free = s.largest_free;
  }
  const pkind *K = &P->kind[kind];
  out->idle_pages = K->idle.total;
  out->pages = K->committed;
  out->peak_pages = K->peak;
  out->max_pages = K->max;
  for (uint32_t i = 0; i < K->idle.n; i++)
    for (uint64_t v = K->idle.e[i].lo; v < K->idle.e[i].lo + K->idle.e[i].n; v++)
      out->resident_pages += page_resident(sys, v);
  frag_fill(out);
}

const struct mm_stat_field *mm_pool_stats_fields(void) {
#define F(f) { #f, offsetof(mm_pool_stats, f) }
  static const mm_stat_field fields[] = {
    F(pages), F(small_pages), F(big_pages), F(idle_pages), F(peak_pages),
    F(max_pages), F(resident_pages), F(allocs), F(frees), F(failures),
    F(in_use), F(bytes), F(requested), F(free_bytes), F(largest_free),
    { NULL, 0 }
  };
#undef F
  return fields;
}

/* qsort order of tracker rows: tag characters, then kind. Never fails. */
static int track_cmp(const void *a, const void *b) {
  const mm_pool_tag_usage *x = a, *y = b;
  char s[5], t[5];
  mm_pool_tag_string(x->tag, s);
  mm_pool_tag_string(y->tag, t);
  int c = strcmp(s, t);
  if (c) return c;
  return (int)x->kind - (int)y->kind;
}

size_t mm_pool_used(const mm_system *sys, mm_pool_tag_usage *rows, size_t max) {
  const pools *P = sys->pool;
  if (max == 0 || !rows) return P->ntrack;
  mm_pool_tag_usage *all = malloc((P->ntrack ? P->ntrack : 1) * sizeof *all);
  size_t n = P->ntrack < max ? P->ntrack : max;
  if (!all) {                       /* unsorted rather than nothing */
    memcpy(rows, P->track, n * sizeof *rows);
    return P->ntrack;
  }
  memcpy(all, P->track, P->ntrack * sizeof *all);
  qsort(all, P->ntrack, sizeof *all, track_cmp);
  memcpy(rows, all, n * sizeof *rows);
  free(all);
  return P->ntrack;
}

/* ====================================================== configuration */

void mm_pool_get_config(const mm_system *sys, mm_pool_config *out) {
  *out = ((const pools *)sys->pool)->cfg;
}

/* Takes each kind's initial pages as idle pages. On failure nothing is
** held and the failure is recorded. */
static mm_status initial_take(mm_system *sys, pools *P) {
  uint64_t got[2] = { 0, 0 }, at[2] = { 0, 0 };
  mm_status st = MM_STATUS_SUCCESS;
  for (unsigned k = 0; k < 2 && !st; k++) {
    uint64_t n = P->kind[k].initial;
    if (n == 0) continue;
    st = pages_get(sys, P, k, n, &at[k]);
    if (!st) got[k] = n;
  }
  if (st) {
    for (unsigned k = 0; k < 2; k++)
      if (got[k]) {
        pages_drop(sys, P, at[k], got[k]);
        P->kind[k].committed -= got[k];
      }
    return st;
  }
  for (unsigned k = 0; k < 2; k++) ext_add(&P->kind[k].idle, at[k], got[k]);
  return MM_STATUS_SUCCESS;
}

/* Gives back every idle page; only idle pages exist before the first
** allocation. Never fails. */
static void initial_drop(mm_system *sys, pools *P) {
  for (unsigned k = 0; k < 2; k++) {
    pkind *K = &P->kind[k];
    while (K->idle.n) {
      ext e = K->idle.e[K->idle.n - 1];
      K->idle.n--;
      K->idle.total -= e.n;
      pages_drop(sys, P, e.lo, e.n);
      K->committed -= e.n;
    }
  }
}

mm_status mm_pool_configure(mm_system *sys, const mm_pool_config *cfg) {
  pools *old = sys->pool;
  if (sys->in_callback) return refuse_in_callback(sys);
  if (old->used)
    return mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
                   "the pools can only be configured before the first "
                   "allocation");
  mm_pool_config eff;
  mm_status st = config_resolve(sys, cfg, &eff);
  if (st) return st;
  pools *P = pools_new(sys, &eff);
  if (!P || ext_reserve(&old->va, 4)) {
    pools_free(P);
    return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory for the pools");
  }
  sys->nested++;
  initial_drop(sys, old);
  window_remove(sys, old);
  st = window_insert(sys, P);
  if (!st) {
    sys->pool = P;
    st = initial_take(sys, P);
    if (st) window_remove(sys, P);
  }
  if (st) {
    /* Back to the old configuration: its window is free again and its
    ** initial pages' commit and frames were just given back. */
    char why[sizeof sys->err];
    memcpy(why, sys->err, sizeof why);
    pools_free(P);
    sys->pool = old;
    mm_status again = window_insert(sys, old);
    if (!again) again = initial_take(sys, old);
    assert(again == MM_STATUS_SUCCESS);
    (void)again;
    memcpy(sys->err, why, sizeof why);
    sys->last_status = st;
    sys->nested--;
    return st;
  }
  pools_free(old);
  sys->nested--;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* ====================================================== system hooks */

/* The pools of a new system, default configuration, no pages: 0, or -1
** with the failure recorded and nothing left behind. */
int pool_init(mm_system *sys) {
  mm_pool_config none, eff;
  memset(&none, 0, sizeof none);
  if (config_resolve(sys, &none, &eff)) return -1;
  pools *P = pools_new(sys, &eff);
  if (!P) {
    mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory for the pools");
    return -1;
  }
  if (window_insert(sys, P)) {
    pools_free(P);
    return -1;
  }
  sys->pool = P;
  return 0;
}

/* Host memory only: the System process's tables are already gone. Never
** fails. */
void pool_destroy(mm_system *sys) {
  pools_free(sys->pool);
  sys->pool = NULL;
}

/* ====================================================== invariants */

#define BAD(...) do { mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "pool: " __VA_ARGS__); \
                      return -1; } while (0)

/* Invariant 3 for one page of kind k: 0, or -1 with the failure recorded. */
static int check_page(mm_system *sys, const pools *P, unsigned k, uint64_t vpn) {
  if (vpn < P->win_lo || vpn - P->win_lo >= P->win_n)
    BAD("page 0x%llx lies outside the pool window", U(vpn));
  if (ext_contains(&P->va, vpn))
    BAD("page 0x%llx is in use and also free address space", U(vpn));
  mm_pte *pte = pt_lookup(sys->sysproc, sys, vpn);
  if (!pte || !pte_committed(*pte))
    BAD("%s page 0x%llx is not committed", kind_names[k], U(vpn));
  bool locked = pte_valid(*pte) &&
                (sys->pfn[pte_payload(*pte)].flags & PFN_F_NONPAGED);
  if (k == MM_POOL_PAGED && locked)
    BAD("paged page 0x%llx maps a non-paged frame", U(vpn));
  if (k == MM_POOL_NONPAGED) {
    if (!locked) BAD("non-paged page 0x%llx is not resident and locked", U(vpn));
    const mm_pfn *e = &sys->pfn[pte_payload(*pte)];
    if (e->owner != MM_SYSTEM_PID || e->vpn != vpn || e->list != LIST_ACTIVE ||
        e->share != 1)
      BAD("non-paged page 0x%llx: its frame does not point back at it", U(vpn));
  }
  return 0;
}

/* Committed PTEs (and those mapping non-paged frames) in [lo, hi) under
** a table of the System process. Read only; never fails. */
static void count_window(const mm_system *sys, void *node, unsigned l,
                         uint64_t base, uint64_t lo, uint64_t hi,
                         uint64_t *committed, uint64_t *locked) {
  if (l + 1 == sys->pt_levels) {
    const mm_leaf *leaf = node;
    uint64_t n = 1ull << sys->pt_bits[l];
    for (uint64_t i = 0; i < n; i++) {
      uint64_t vpn = leaf->base_vpn + i;
      mm_pte v = leaf->pte[i];
      if (vpn < lo || vpn >= hi || !pte_committed(v)) continue;
      (*committed)++;
      if (pte_valid(v) && (sys->pfn[pte_payload(v)].flags & PFN_F_NONPAGED))
        (*locked)++;
    }
    return;
  }
  const mm_dir *d = node;
  uint64_t span = 1ull << sys->pt_shift[l], n = 1ull << sys->pt_bits[l];
  for (uint64_t i = 0; i < n; i++) {
    uint64_t cb = base + i * span;
    if (cb >= hi) break;
    if (cb + span <= lo || !d->child[i]) continue;
    count_window(sys, d->child[i], l + 1, cb, lo, hi, committed, locked);
  }
}

/* Invariant 1 for pool idx, adding its free granules to *free_units: 0, or
** -1 with the failure recorded. */
static int check_lists(mm_system *sys, const pools *P, uint32_t idx,
                       uint64_t *free_units) {
  const pdesc *D = &P->pool[idx];
  for (uint32_t k = 1; k <= P->units; k++) {
    bool bit = (D->bits[k / 64] >> (k % 64)) & 1;
    if (bit != (D->head[k] != MM_NIL))
      BAD("pool %u: bitmap bit %u disagrees with its list", idx, k);
    uint32_t prev = MM_NIL, n = 0;
    for (uint32_t i = D->head[k]; i != MM_NIL; i = BLK(P, i)->next) {
      if (i >= P->blks.hi || !slab_live(&P->blks, i))
        BAD("pool %u: list %u links to a dead block record", idx, k);
      const pblk *b = BLK(P, i);
      if (!b->is_free || b->units != k || b->prev != prev)
        BAD("pool %u: list %u holds block 0x%llx (free %u, %u granules)",
            idx, k, U(b->addr), b->is_free, b->units);
      if (PAGE(P, b->page)->pool != idx)
        BAD("pool %u: list %u holds a block of another pool", idx, k);
      if (++n > P->blks.live) BAD("pool %u: list %u has a cycle", idx, k);
      *free_units += k;
      prev = i;
    }
  }
  if (D->head[0] != MM_NIL || (D->bits[0] & 1))
    BAD("pool %u: list 0 is not empty", idx);
  return 0;
}

/* Invariants 1-4: 0, or -1 with the first broken one recorded. */
int pool_check(mm_system *sys) {
  const pools *P = sys->pool;
  if (!P) return 0;
  uint64_t small[MM_POOL_MAX_PAGED_POOLS + 1] = { 0 };
  uint64_t big[MM_POOL_MAX_PAGED_POOLS + 1] = { 0 };
  uint64_t bytes[MM_POOL_MAX_PAGED_POOLS + 1] = { 0 };
  uint64_t req[MM_POOL_MAX_PAGED_POOLS + 1] = { 0 };
  uint64_t live[MM_POOL_MAX_PAGED_POOLS + 1] = { 0 };
  uint64_t freeu[MM_POOL_MAX_PAGED_POOLS + 1] = { 0 };
  uint64_t kpages[2] = { 0, 0 };
  uint64_t blocks = 0;

  /* 2, 3: small-block pages */
  for (uint32_t pi = 0; pi < P->pages.hi; pi++) {
    if (!slab_live(&P->pages, pi)) continue;
    const ppage *pg = PAGE(P, pi);
    uint32_t v = MM_NIL;
    if (pg->pool >= P->npools) BAD("page 0x%llx names pool %u", U(pg->vpn), pg->pool);
    if (!pmap_get(&P->pagemap, pg->vpn, &v) || v != pi)
      BAD("page 0x%llx is missing from the page map", U(pg->vpn));
    unsigned k = P->pool[pg->pool].kind;
    if (check_page(sys, P, k, pg->vpn)) return -1;
    uint64_t a = va_of(sys, pg->vpn), end = a + sys->page_size;
    uint32_t prev_units = 0, used = 0;
    bool prev_free = false;
    while (a < end) {
      uint32_t bi = MM_NIL;
      if (!pmap_get(&P->blkmap, a, &bi))
        BAD("page 0x%llx: no block at 0x%llx: blocks do not tile it",
            U(pg->vpn), U(a));
      const pblk *b = BLK(P, bi);
      if (b->addr != a || b->page != pi || b->units == 0)
        BAD("block 0x%llx: record disagrees with its map entry", U(a));
      if (b->prev_units != prev_units)
        BAD("block 0x%llx: PreviousSize %u, the block before has %u",
            U(a), b->prev_units, prev_units);
      if (b->is_free && prev_free) BAD("block 0x%llx: two free blocks touch", U(a));
      if (!b->is_free) {
        if (!tag_ok(b->tag)) BAD("block 0x%llx has a bad tag", U(a));
        if (b->requested == 0 ||
            (uint64_t)b->units << P->blk_shift < b->requested + gran(P) ||
            (((uint64_t)b->units - 1) << P->blk_shift) >= b->requested + gran(P))
          BAD("block 0x%llx: %u granules for %u bytes", U(a), b->units,
              b->requested);
        used++;
        bytes[pg->pool] += (uint64_t)b->units << P->blk_shift;
        req[pg->pool] += b->requested;
        live[pg->pool]++;
      }
      blocks++;
      prev_free = b->is_free;
      prev_units = b->units;
      a += (uint64_t)b->units << P->blk_shift;
    }
    if (a != end) BAD("page 0x%llx: its last block crosses the page end", U(pg->vpn));
    if (used == 0 || used != pg->used)
      BAD("page 0x%llx: %u blocks allocated, counted %u", U(pg->vpn), used, pg->used);
    small[pg->pool]++;
    kpages[k]++;
  }
  if (blocks != P->blks.live || blocks != P->blkmap.n)
    BAD("%llu blocks tile the pages, %u records, %u in the map", U(blocks),
        P->blks.live, P->blkmap.n);

  /* 3: big allocations */
  for (uint32_t gi = 0; gi < P->bigs.hi; gi++) {
    if (!slab_live(&P->bigs, gi)) continue;
    const pbig *g = BIG(P, gi);
    uint32_t v = MM_NIL;
    if (g->pool >= P->npools || !tag_ok(g->tag) || g->npages == 0 ||
        g->requested > g->npages << sys->page_shift ||
        g->requested <= P->max_alloc)
      BAD("big allocation 0x%llx is malformed", U(va_of(sys, g->vpn)));
    if (!pmap_get(&P->pagemap, g->vpn, &v) || v != (PAGE_BIG | gi))
      BAD("big allocation 0x%llx is missing from the page map", U(va_of(sys, g->vpn)));
    unsigned k = P->pool[g->pool].kind;
    for (uint64_t p = g->vpn; p < g->vpn + g->npages; p++)
      if (check_page(sys, P, k, p)) return -1;
    big[g->pool] += g->npages;
    bytes[g->pool] += g->npages << sys->page_shift;
    req[g->pool] += g->requested;
    live[g->pool]++;
    kpages[k] += g->npages;
  }
  if (P->pagemap.n != P->pages.live + P->bigs.live)
    BAD("page map has %u entries for %u pages and %u big allocations",
        P->pagemap.n, P->pages.live, P->bigs.live);

  /* 1, 4: lists and counters per pool */
  uint64_t kbytes[2] = { 0, 0 }, kreq[2] = { 0, 0 }, klive[2] = { 0, 0 };
  uint64_t kbig[2] = { 0, 0 }, kfrees[2] = { 0, 0 }, kallocs[2] = { 0, 0 };
  for (uint32_t i = 0; i < P->npools; i++) {
    const mm_pool_stats *s = &P->pool[i].st;
    if (check_lists(sys, P, i, &freeu[i])) return -1;
    if (s->small_pages != small[i] || s->big_pages != big[i] ||
        s->pages != small[i] + big[i])
      BAD("pool %u counts %llu small and %llu big pages, holds %llu and %llu",
          i, U(s->small_pages), U(s->big_pages), U(small[i]), U(big[i]));
    if (s->bytes != bytes[i] || s->requested != req[i] || s->in_use != live[i] ||
        s->allocs - s->frees != live[i])
      BAD("pool %u counts %llu bytes in %llu blocks, holds %llu in %llu", i,
          U(s->bytes), U(s->in_use), U(bytes[i]), U(live[i]));
    if (s->free_bytes != freeu[i] << P->blk_shift)
      BAD("pool %u counts %llu free bytes, its lists hold %llu", i,
          U(s->free_bytes), U(freeu[i] << P->blk_shift));
    if (small[i] * sys->page_size != s->free_bytes + (bytes[i] - (big[i] << sys->page_shift)))
      BAD("pool %u: free and used bytes do not add up to its pages", i);
    unsigned k = P->pool[i].kind;
    kbytes[k] += bytes[i];
    kreq[k] += req[i];
    klive[k] += live[i];
    kbig[k] += big[i];
    kallocs[k] += s->allocs;
    kfrees[k] += s->frees;
  }
  for (uint32_t t = 0; t < P->ntrack; t++) {
    const mm_pool_tag_usage *r = &P->track[t];
    unsigned k = r->kind;
    uint32_t v = MM_NIL;
    if (k > 1 || !pmap_get(&P->trackmap, (uint64_t)k << 32 | r->tag, &v) || v != t)
      BAD("tracker row %u is not in the tracker map", t);
    kbytes[k] -= r->bytes;
    kreq[k] -= r->requested;
    klive[k] -= r->allocs - r->frees;
    kbig[k] -= r->pages;
    kallocs[k] -= r->allocs;
    kfrees[k] -= r->frees;
  }
  for (unsigned k = 0; k < 2; k++)
    if (kbytes[k] || kreq[k] || klive[k] || kbig[k] || kallocs[k] || kfrees[k])
      BAD("the %s tag trackers do not add up to the pools' totals", kind_names[k]);

  /* 3, 4: kinds, idle pages, address space */
  uint64_t committed = 0;
  for (unsigned k = 0; k < 2; k++) {
    const pkind *K = &P->kind[k];
    for (uint32_t i = 0; i < K->idle.n; i++)
      for (uint64_t v = K->idle.e[i].lo; v < K->idle.e[i].lo + K->idle.e[i].n; v++) {
        if (pmap_get(&P->pagemap, v, NULL))
          BAD("idle page 0x%llx is also a pool page", U(v));
        if (check_page(sys, P, k, v)) return -1;
      }
    if (K->committed != kpages[k] + K->idle.total)
      BAD("%s pool: %llu pages charged, %llu in pools and %llu idle",
          kind_names[k], U(K->committed), U(kpages[k]), U(K->idle.total));
    if (K->committed > K->max)
      BAD("%s pool: %llu pages, above its maximum %llu", kind_names[k],
          U(K->committed), U(K->max));
    committed += K->committed;
  }
  if (P->va.total + committed != P->win_n)
    BAD("window of %llu pages: %llu free and %llu committed", U(P->win_n),
        U(P->va.total), U(committed));
  for (uint32_t i = 0; i < P->va.n; i++)
    if (P->va.e[i].lo < P->win_lo || P->va.e[i].lo + P->va.e[i].n > P->win_lo + P->win_n ||
        (i && P->va.e[i - 1].lo + P->va.e[i - 1].n >= P->va.e[i].lo))
      BAD("free address range %u is outside the window or not merged", i);
  uint64_t in_win = 0, locked = 0;
  if (sys->sysproc->pt_root)
    count_window(sys, sys->sysproc->pt_root, 0, 0, P->win_lo, P->win_lo + P->win_n,
                 &in_win, &locked);
  if (in_win != committed || locked != P->kind[MM_POOL_NONPAGED].committed)
    BAD("the window has %llu committed pages (%llu non-paged frames), the "
        "pools hold %llu (%llu non-paged)", U(in_win), U(locked), U(committed),
        U(P->kind[MM_POOL_NONPAGED].committed));
  int vi = vad_find(sys->sysproc, P->win_lo);
  if (vi < 0 || sys->sysproc->vads[vi].start != P->win_lo ||
      sys->sysproc->vads[vi].end != P->win_lo + P->win_n ||
      sys->sysproc->vads[vi].type != VAD_PRIVATE)
    BAD("the pool window's VAD is missing or has changed");
  return 0;
}
