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
** heap position), so that a change anywhere in the heap is O(log n) and
** nothing is allocated after reserve(). The victim is the top. The heap
** is 4-ary (half the levels of a binary one; the four children sit side
** by side) and each entry carries its key beside its slot, so that
** sifting reads the heap array alone. Ties are only between pages never
** used again, and any of them is optimal.
**
** Hits are lazy. A hit only writes the slot's new key (ps[].key) and
** notes the slot on a pending list; the heap still holds the old key.
** Before victims are chosen the pending slots are placed at their new
** keys one by one, each a key change on a valid heap (the others still
** at their old keys), so the heap is exact whenever it is read. A set
** that hits without faulting (a loop) thus costs two stores per hit
** instead of a climb to the top of the heap. If more slots are pending
** than the list holds (OPT_PENDING), the heap is rebuilt from the keys in
** O(n) instead (Floyd).
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
** earlier run keeps the key that run gave it until it is referenced (so a
** new key may be smaller than the old one: placing goes either way).
**
** Memory: the heap entry (key and slot, 8 bytes), the position and the
** key (side by side, so that a hit touches one line), 16 bytes per slot,
** and the pending list of OPT_PENDING slots.
*/
#include <stdlib.h>

#include "../policy.h"

#define OPT_ARITY 4

typedef struct opt_ent {
  uint32_t key;            /* next use, UINT32_MAX: never */
  uint32_t slot;
} opt_ent;

#define OPT_PENDING 1024u
#define OPT_PEND_BIT 0x80000000u /* in ps[].pos: the slot is pending */

/* Per slot, side by side: a hit reads one and writes the other. */
typedef struct opt_slot {
  uint32_t pos;            /* its index in heap | OPT_PEND_BIT */
  uint32_t key;            /* its key */
} opt_slot;

typedef struct opt {
  opt_ent *heap;           /* [n] a max-heap by key (old keys if pending) */
  opt_slot *ps;            /* per slot */
  uint32_t n;
  uint32_t npend;          /* slots on pend[] */
  bool overflow;           /* pend[] was full: rebuild the whole heap */
  uint32_t pend[OPT_PENDING];
} opt;

#ifdef MM_DEBUG
/* The heap holds exactly the working set's pages, pos inverts it, and no
** child outranks its parent. */
static void opt_check(const mm_process *p, const opt *o) {
  assert(o->n == p->ws.count);
  for (uint32_t i = 0; i < o->n; i++) {
    uint32_t s = o->heap[i].slot;
    assert(s < p->ws.hi && p->ws.e[s].pte && o->ps[s].pos == i);
    assert(o->heap[i].key == o->ps[s].key);
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

/* Puts e at i; a pending slot stays pending. */
static inline void opt_put(opt *o, uint32_t i, opt_ent e) {
  o->heap[i] = e;
  o->ps[e.slot].pos = i | (o->ps[e.slot].pos & OPT_PEND_BIT);
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

/* Takes s out of the heap: the last entry fills its place. A pending
** slot leaves the list's entry behind, which flush skips. */
static void opt_take(opt *o, uint32_t s) {
  uint32_t i = o->ps[s].pos & ~OPT_PEND_BIT;
  o->ps[s].pos = i;
  opt_ent last = o->heap[--o->n];
  if (i != o->n) opt_place(o, i, last);
}

/* Floyd's bottom-up build of the whole heap from the slots' keys. */
static void opt_rebuild(opt *o) {
  for (uint32_t i = 0; i < o->n; i++) {
    uint32_t slot = o->heap[i].slot;
    o->heap[i].key = o->ps[slot].key;
    o->ps[slot].pos = i;             /* pending no more */
  }
  for (uint32_t i = o->n / OPT_ARITY + 1; i-- > 0;)
    if (i < o->n) opt_down(o, i, o->heap[i]);
}

/* Brings the heap up to date with the pending hits. */
static void opt_flush(opt *o) {
  if (o->overflow) {
    opt_rebuild(o);
  } else {
    for (uint32_t k = 0; k < o->npend; k++) {
      uint32_t s = o->pend[k];
      if (!(o->ps[s].pos & OPT_PEND_BIT)) continue;  /* gone, or done */
      uint32_t i = o->ps[s].pos & ~OPT_PEND_BIT;
      o->ps[s].pos = i;
      opt_place(o, i, (opt_ent){ o->ps[s].key, s });
    }
  }
  o->npend = 0;
  o->overflow = false;
}

static void *opt_create(mm_system *sys, mm_process *p) {
  (void)sys; (void)p;
  return calloc(1, sizeof(opt));
}

static void opt_destroy(mm_system *sys, void *st) {
  (void)sys;
  opt *o = st;
  free(o->heap);
  free(o->ps);
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
  opt_slot *a = realloc(o->ps, (size_t)cap * sizeof *a);
  if (!a) return -1;
  o->ps = a;
  return 0;
}

static void opt_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  opt *o = st;
  o->ps[s].key = opt_key(sys->cur_next_use);
  o->ps[s].pos = 0;                  /* not pending (opt_up places it) */
  opt_up(o, o->n++, (opt_ent){ o->ps[s].key, s });
}

static void opt_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  opt *o = st;
  o->ps[s].key = opt_key(sys->cur_next_use);
  if (o->ps[s].pos & OPT_PEND_BIT) return;
  if (o->npend < OPT_PENDING) {
    o->pend[o->npend++] = s;
    o->ps[s].pos |= OPT_PEND_BIT;
  } else {
    o->overflow = true;
  }
}

static void opt_remove(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  opt_take(st, s);
}

static int64_t opt_select(mm_system *sys, mm_process *p, void *st,
                          uint32_t want, bool force, uint32_t *victims) {
  (void)sys; (void)force;
  opt *o = st;
  opt_flush(o);
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
