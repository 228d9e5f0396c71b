/*
** opt.c — Belady's optimal replacement (MIN): the victim is the page
** whose next use lies furthest in the future, or that is never used
** again (WINDOWS.md C.1-C.3: the lower bound every online policy is
** measured against; a stack algorithm).
**
** Knowing the future needs the whole reference string, so the policy
** declares needs_future: mm_run makes a next-use pre-pass over the source
** and sets sys->cur_next_use before each reference (the index, within the
** run, of the next reference to the same page; UINT64_MAX for never), and
** mm_access refuses the policy. needs_hits makes every hit reach the
** policy, because a hit moves the page's next use.
**
** The key of a slot is cur_next_use at its insert or latest hit; the
** resident slots form a binary max-heap by key, indexed (each slot knows
** its heap position), so that a hit or a removal anywhere in the heap is
** O(log n) and nothing is allocated after reserve(). The victim is the
** top. A hit raises a key from "now" (the smallest key in the heap) to a
** later time, so it usually climbs only a few levels from the bottom.
** Ties are only between pages never used again, and any of them is
** optimal.
**
** Several victims (trimming, or shrinking a set): the top is popped want
** times and the popped slots are pushed back, O(want log n); they stay in
** the heap until the caller trims them and remove() takes them out.
** Trimming and replacement choose alike.
**
** Keys are positions within one mm_run: a page left resident by an
** earlier run keeps the key that run gave it until it is referenced.
**
** Memory: the heap entry, the position and the key, 16 bytes per slot.
*/
#include <stdlib.h>

#include "../policy.h"

typedef struct opt {
  uint32_t *heap;          /* [n] slots, a max-heap by key */
  uint32_t *pos;           /* per slot: its index in heap */
  uint64_t *key;           /* per slot: next use */
  uint32_t n;
} opt;

#ifdef MM_DEBUG
/* The heap holds exactly the working set's pages, pos inverts it, and no
** child outranks its parent. */
static void opt_check(const mm_process *p, const opt *o) {
  assert(o->n == p->ws.count);
  for (uint32_t i = 0; i < o->n; i++) {
    uint32_t s = o->heap[i];
    assert(s < p->ws.hi && p->ws.e[s].pte && o->pos[s] == i);
    assert(i == 0 || o->key[o->heap[(i - 1) / 2]] >= o->key[s]);
  }
}
#define OPT_CHECK(p, o) opt_check(p, o)
#else
#define OPT_CHECK(p, o) ((void)(p), (void)(o))
#endif

static inline void opt_put(opt *o, uint32_t i, uint32_t s) {
  o->heap[i] = s;
  o->pos[s] = i;
}

/* Moves the entry at i up while it outranks its parent; returns where it
** ended. */
static uint32_t opt_up(opt *o, uint32_t i) {
  uint32_t s = o->heap[i];
  uint64_t k = o->key[s];
  while (i > 0) {
    uint32_t up = (i - 1) / 2;
    if (o->key[o->heap[up]] >= k) break;
    opt_put(o, i, o->heap[up]);
    i = up;
  }
  opt_put(o, i, s);
  return i;
}

static void opt_down(opt *o, uint32_t i) {
  uint32_t s = o->heap[i], n = o->n;
  uint64_t k = o->key[s];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && o->key[o->heap[c + 1]] > o->key[o->heap[c]]) c++;
    if (o->key[o->heap[c]] <= k) break;
    opt_put(o, i, o->heap[c]);
    i = c;
  }
  opt_put(o, i, s);
}

/* Restores the heap after the key at i changed either way. */
static void opt_fix(opt *o, uint32_t i) {
  if (opt_up(o, i) == i) opt_down(o, i);
}

static void opt_push(opt *o, uint32_t s) {
  opt_put(o, o->n, s);
  opt_up(o, o->n++);
}

static void opt_take(opt *o, uint32_t s) {
  uint32_t i = o->pos[s], last = o->heap[--o->n];
  if (i == o->n) return;
  opt_put(o, i, last);
  opt_fix(o, i);
}

static void *opt_create(mm_system *sys, mm_process *p) {
  (void)sys; (void)p;
  return calloc(1, sizeof(opt));
}

static void opt_destroy(mm_system *sys, void *st) {
  (void)sys;
  opt *o = st;
  free(o->heap);
  free(o->pos);
  free(o->key);
  free(o);
}

/* Each array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int opt_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  opt *o = st;
  uint32_t *a = realloc(o->heap, (size_t)cap * sizeof *a);
  if (!a) return -1;
  o->heap = a;
  a = realloc(o->pos, (size_t)cap * sizeof *a);
  if (!a) return -1;
  o->pos = a;
  uint64_t *k = realloc(o->key, (size_t)cap * sizeof *k);
  if (!k) return -1;
  o->key = k;
  return 0;
}

static void opt_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  opt *o = st;
  o->key[s] = sys->cur_next_use;
  opt_push(o, s);
}

static void opt_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  opt *o = st;
  uint64_t k = sys->cur_next_use, was = o->key[s];
  o->key[s] = k;
  if (k > was) opt_up(o, o->pos[s]);
  else if (k < was) opt_down(o, o->pos[s]);
}

static void opt_remove(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  opt_take(st, s);
}

static int64_t opt_select(mm_system *sys, mm_process *p, void *st,
                          uint32_t want, bool force, uint32_t *victims) {
  (void)sys; (void)force;
  opt *o = st;
  OPT_CHECK(p, o);
  if (want > o->n) want = o->n;
  if (want == 1) {                   /* the common case: a fault's victim */
    victims[0] = o->heap[0];
    return 1;
  }
  for (uint32_t k = 0; k < want; k++) {
    victims[k] = o->heap[0];
    opt_take(o, victims[k]);
  }
  for (uint32_t k = 0; k < want; k++) opt_push(o, victims[k]);
  return want;
}

const mm_policy_ops mm_policy_opt = {
  "opt", true, true, opt_create, opt_destroy, opt_reserve,
  opt_insert, opt_hit, opt_remove, NULL, opt_select,
};
