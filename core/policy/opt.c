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
** resident slots form a max-heap by key, indexed (each slot knows its
** heap position), so that a hit or a removal anywhere in the heap is
** O(log n) and nothing is allocated after reserve(). The victim is the
** top. A hit raises a key from "now" (the smallest key in the heap) to a
** later time, so it climbs from near the bottom: a few levels for a page
** reused soon (the top of a zipf), all of them for a loop, where every
** reused page becomes the furthest. Hence the heap is 4-ary (half the
** levels of a binary one; the four children sit side by side) and
** each entry carries its key beside its slot, so that sifting reads the
** heap array alone. Ties are only between pages never used again, and
** any of them is optimal.
**
** Keys are 32 bits: mm_run's next-use indexes are below UINT32_MAX (the
** pre-pass refuses longer runs, MM_NEXT_USE_MAX_REFS) and "never" is
** UINT64_MAX, kept as UINT32_MAX; anything larger would saturate there.
**
** Several victims (trimming, or shrinking a set): the top is popped want
** times and the popped entries are pushed back, O(want log n); they stay
** in the heap until the caller trims them and remove() takes them out.
** Trimming and replacement choose alike.
**
** Keys are positions within one mm_run: a page left resident by an
** earlier run keeps the key that run gave it until it is referenced.
**
** Memory: the heap entry (key and slot, 8 bytes) and the position, 12
** bytes per slot.
*/
#include <stdlib.h>

#include "../policy.h"

#define OPT_ARITY 4

typedef struct opt_ent {
  uint32_t key;            /* next use, UINT32_MAX: never */
  uint32_t slot;
} opt_ent;

typedef struct opt {
  opt_ent *heap;           /* [n] a max-heap by key */
  uint32_t *pos;           /* per slot: its index in heap */
  uint32_t n;
} opt;

#ifdef MM_DEBUG
/* The heap holds exactly the working set's pages, pos inverts it, and no
** child outranks its parent. */
static void opt_check(const mm_process *p, const opt *o) {
  assert(o->n == p->ws.count);
  for (uint32_t i = 0; i < o->n; i++) {
    uint32_t s = o->heap[i].slot;
    assert(s < p->ws.hi && p->ws.e[s].pte && o->pos[s] == i);
    assert(i == 0 || o->heap[(i - 1) / OPT_ARITY].key >= o->heap[i].key);
  }
}
#define OPT_CHECK(p, o) opt_check(p, o)
#else
#define OPT_CHECK(p, o) ((void)(p), (void)(o))
#endif

static inline uint32_t opt_key(uint64_t next_use) {
  return next_use < UINT32_MAX ? (uint32_t)next_use : UINT32_MAX;
}

static inline void opt_put(opt *o, uint32_t i, opt_ent e) {
  o->heap[i] = e;
  o->pos[e.slot] = i;
}

/* Places e in the heap starting from the hole at i, moving it up while
** it outranks its parent; returns where it went. The entry travels in a
** register, never stored and reloaded (a hit that wrote the new key into
** the heap and sifted from there would stall on the reload). */
static uint32_t opt_up(opt *o, uint32_t i, opt_ent e) {
  while (i > 0) {
    uint32_t up = (i - 1) / OPT_ARITY;
    if (o->heap[up].key >= e.key) break;
    opt_put(o, i, o->heap[up]);
    i = up;
  }
  opt_put(o, i, e);
  return i;
}

/* Places e starting from the hole at i, moving it down while a child
** outranks it. */
static void opt_down(opt *o, uint32_t i, opt_ent e) {
  uint32_t n = o->n;
  for (;;) {
    uint32_t c = OPT_ARITY * i + 1;
    if (c >= n) break;
    uint32_t end = n - c > OPT_ARITY ? c + OPT_ARITY : n, best = c;
    for (uint32_t j = c + 1; j < end; j++)
      if (o->heap[j].key > o->heap[best].key) best = j;
    if (o->heap[best].key <= e.key) break;
    opt_put(o, i, o->heap[best]);
    i = best;
  }
  opt_put(o, i, e);
}

/* Places e from the hole at i, whichever way its key says. */
static void opt_place(opt *o, uint32_t i, opt_ent e) {
  if (i > 0 && o->heap[(i - 1) / OPT_ARITY].key < e.key) opt_up(o, i, e);
  else opt_down(o, i, e);
}

/* Takes s out of the heap: the last entry fills its place. */
static void opt_take(opt *o, uint32_t s) {
  uint32_t i = o->pos[s];
  opt_ent last = o->heap[--o->n];
  if (i != o->n) opt_place(o, i, last);
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
  free(o);
}

/* Each array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int opt_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  opt *o = st;
  opt_ent *h = realloc(o->heap, (size_t)cap * sizeof *h);
  if (!h) return -1;
  o->heap = h;
  uint32_t *a = realloc(o->pos, (size_t)cap * sizeof *a);
  if (!a) return -1;
  o->pos = a;
  return 0;
}

static void opt_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  opt *o = st;
  opt_up(o, o->n++, (opt_ent){ opt_key(sys->cur_next_use), s });
}

static void opt_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  opt *o = st;
  uint32_t i = o->pos[s];
  opt_ent e = { opt_key(sys->cur_next_use), s };
  if (e.key > o->heap[i].key) opt_up(o, i, e);
  else opt_down(o, i, e);
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
    victims[0] = o->heap[0].slot;
    return 1;
  }
  /* Pop the top want times, parking each popped entry in the place the
  ** heap just gave up past its end; then push them back from there. */
  for (uint32_t k = 0; k < want; k++) {
    opt_ent top = o->heap[0];
    victims[k] = top.slot;
    opt_take(o, top.slot);
    o->heap[o->n] = top;
  }
  for (uint32_t k = 0; k < want; k++) {
    uint32_t i = o->n++;
    opt_up(o, i, o->heap[i]);
  }
  return want;
}

const mm_policy_ops mm_policy_opt = {
  "opt", true, true, opt_create, opt_destroy, opt_reserve,
  opt_insert, opt_hit, opt_remove, NULL, opt_select, NULL,
};
