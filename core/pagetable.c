/*
** pagetable.c — multi-level page tables, allocated on demand.
**
** The geometry comes from the architecture and page size (system.c): the
** top level (level 0) is a directory, the last level a leaf of PTEs. A
** directory counts its children, a leaf its nonzero PTEs, so empty tables
** can be freed when a range is released. Every table allocated is counted
** in the process (page_table_pages): each stands for one page of hardware
** page table.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static inline uint32_t level_index(const mm_system *sys, unsigned l,
                                   uint64_t vpn) {
  return (uint32_t)((vpn >> sys->pt_shift[l]) &
                    ((1ull << sys->pt_bits[l]) - 1));
}

void pt_init(mm_process *p) {
  p->lc = p->lc0;
  p->lc_mask = PT_LC_MIN - 1;
  memset(p->lc0, 0, sizeof p->lc0);
}

/* The cache entry for leaf (the one pt_leaf looks in). */
static mm_leaf_ref *lc_entry(mm_process *p, const mm_system *sys,
                             const mm_leaf *leaf) {
  return &p->lc[(leaf->base_vpn >> sys->leaf_bits) & p->lc_mask];
}

static void lc_put(mm_process *p, const mm_system *sys, mm_leaf *leaf) {
  mm_leaf_ref *r = lc_entry(p, sys, leaf);
  r->num = leaf->base_vpn >> sys->leaf_bits;
  r->leaf = leaf;
}

static void lc_drop(mm_process *p, const mm_system *sys, mm_leaf *leaf) {
  mm_leaf_ref *r = lc_entry(p, sys, leaf);
  if (r->leaf == leaf) r->leaf = NULL;
}

/* A new leaf: the cache grows to twice the leaves (at most PT_LC_MAX
** entries), so that a process's leaves seldom evict each other. It is a
** cache: if the memory is not there it stays as it is. */
static void lc_grow(mm_process *p) {
  uint64_t want = p->lc_mask + 1;
  while (want < 2 * p->pt_leaves && want < PT_LC_MAX) want *= 2;
  if (want == p->lc_mask + 1u) return;
  mm_leaf_ref *a = calloc(want, sizeof *a);
  if (!a) return;
  if (p->lc != p->lc0) free(p->lc);
  p->lc = a;
  p->lc_mask = (uint32_t)want - 1;
}

mm_leaf *pt_leaf_walk(mm_process *p, const mm_system *sys, uint64_t vpn) {
  void *node = p->pt_root;
  for (unsigned l = 0; node && l + 1 < sys->pt_levels; l++)
    node = ((mm_dir *)node)->child[level_index(sys, l, vpn)];
  if (node) lc_put(p, sys, node);
  return node;
}

mm_pte *pt_lookup(mm_process *p, const mm_system *sys, uint64_t vpn) {
  mm_leaf *leaf = pt_leaf(p, sys, vpn);
  return leaf ? &leaf->pte[vpn - leaf->base_vpn] : NULL;
}

/* The leaf under node (a table at level l covering vpns from base) with
** the lowest base that holds a page of [lo, hi), or NULL. */
static mm_leaf *next_in(const mm_system *sys, void *node, unsigned l,
                        uint64_t base, uint64_t lo, uint64_t hi) {
  if (l + 1 == sys->pt_levels) return node;
  mm_dir *d = node;
  unsigned shift = sys->pt_shift[l];
  uint64_t n = 1ull << sys->pt_bits[l];
  uint64_t i = lo > base ? (lo - base) >> shift : 0;
  for (; i < n && d->live; i++) {
    uint64_t cb = base + (i << shift);
    if (cb >= hi) break;
    if (!d->child[i]) continue;
    mm_leaf *f = next_in(sys, d->child[i], l + 1, cb, lo, hi);
    if (f) return f;
  }
  return NULL;
}

mm_leaf *pt_next_leaf(const mm_process *p, const mm_system *sys, uint64_t lo,
                      uint64_t hi) {
  if (!p->pt_root || lo >= hi) return NULL;
  return next_in(sys, p->pt_root, 0, 0, lo, hi);
}

static mm_dir *dir_new(const mm_system *sys, unsigned l) {
  return calloc(1, sizeof(mm_dir) + (sizeof(void *) << sys->pt_bits[l]));
}

static mm_leaf *leaf_new(const mm_system *sys, uint64_t vpn) {
  uint64_t n = pt_leaf_entries(sys);
  mm_leaf *leaf = calloc(1, sizeof(mm_leaf) + n * sizeof(mm_pte));
  if (!leaf) return NULL;
  leaf->base_vpn = vpn & ~(n - 1);
  return leaf;
}

static void leaf_free(mm_leaf *leaf) {
  free(leaf->wsslot);
  free(leaf);
}

int pt_shareable(const mm_system *sys, mm_leaf *leaf) {
  if (leaf->wsslot) return 0;
  uint64_t n = pt_leaf_entries(sys);
  leaf->wsslot = malloc(n * sizeof *leaf->wsslot);
  if (!leaf->wsslot) return -1;
  for (uint64_t i = 0; i < n; i++) leaf->wsslot[i] = MM_NIL;
  return 0;
}

mm_leaf *pt_ensure(mm_system *sys, mm_process *p, uint64_t vpn) {
  mm_leaf *leaf = pt_leaf(p, sys, vpn);
  if (leaf) return leaf;
  unsigned last = sys->pt_levels - 1;
  if (!p->pt_root) {
    p->pt_root = dir_new(sys, 0);
    if (!p->pt_root) return NULL;
    p->pt_tables++;
  }
  mm_dir *d = p->pt_root;
  for (unsigned l = 0; l < last; l++) {
    uint32_t i = level_index(sys, l, vpn);
    if (!d->child[i]) {
      void *c = (l + 1 == last) ? (void *)leaf_new(sys, vpn)
                                : (void *)dir_new(sys, l + 1);
      if (!c) return NULL;
      d->child[i] = c;
      d->live++;
      p->pt_tables++;
      if (l + 1 == last) {
        p->pt_leaves++;
        if (p->pt_leaves > p->lc_mask + 1u) lc_grow(p);
      }
    }
    if (l + 1 == last) {
      leaf = d->child[i];
      lc_put(p, sys, leaf);
      return leaf;
    }
    d = d->child[i];
  }
  return NULL;
}

/* Frees the empty tables under node (level l) that cover pages in
** [lo, hi); returns true when node itself is now empty. base is the first
** vpn node covers. */
static bool prune(mm_system *sys, mm_process *p, void *node, unsigned l,
                  uint64_t base, uint64_t lo, uint64_t hi) {
  unsigned last = sys->pt_levels - 1;
  if (l == last) return ((mm_leaf *)node)->live == 0;
  mm_dir *d = node;
  uint64_t span = 1ull << sys->pt_shift[l];
  uint64_t n = 1ull << sys->pt_bits[l];
  uint64_t first = lo > base ? (lo - base) / span : 0;
  for (uint64_t i = first; i < n; i++) {
    uint64_t cb = base + i * span;
    if (cb >= hi) break;
    void *c = d->child[i];
    if (!c) continue;
    if (prune(sys, p, c, l + 1, cb, lo, hi)) {
      p->pt_epoch++;
      if (l + 1 == last) {
        lc_drop(p, sys, c);
        p->pt_leaves--;
        leaf_free(c);
      } else {
        free(c);
      }
      d->child[i] = NULL;
      d->live--;
      p->pt_tables--;
    }
  }
  return d->live == 0;
}

void pt_prune(mm_system *sys, mm_process *p, uint64_t lo, uint64_t hi) {
  if (!p->pt_root || lo >= hi) return;
  if (prune(sys, p, p->pt_root, 0, 0, lo, hi)) {
    free(p->pt_root);
    p->pt_root = NULL;
    p->pt_tables--;
  }
}

static void destroy(mm_system *sys, void *node, unsigned l) {
  if (l + 1 < sys->pt_levels) {
    mm_dir *d = node;
    uint64_t n = 1ull << sys->pt_bits[l];
    for (uint64_t i = 0; i < n && d->live; i++)
      if (d->child[i]) destroy(sys, d->child[i], l + 1);
    free(node);
  } else {
    leaf_free(node);
  }
}

void pt_destroy(mm_system *sys, mm_process *p) {
  if (p->pt_root) destroy(sys, p->pt_root, 0);
  p->pt_root = NULL;
  p->pt_tables = 0;
  p->pt_leaves = 0;
  if (p->lc != p->lc0) free(p->lc);
  pt_init(p);
  p->pt_epoch++;
}
