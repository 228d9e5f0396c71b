/*
** clock.c — the second-chance clock over insertion order (WINDOWS.md C.1,
** the CLOCK* column).
**
** The resident pages sit on a circle in the order they entered; the hand
** points at the oldest. A new page is linked just behind the hand, which
** is where the page it replaces was, so the circle is the classic frame
** ring: the new page takes the victim's place and the hand has moved past
** it. To find a victim the hand sweeps: a page whose accessed bit is set
** gets a second chance (the bit is cleared, the hand moves on); the first
** page found with the bit clear is the victim, and the hand stops past it.
**
** The reference bit is the PTE accessed bit, sampled and cleared with
** ws_test_clear_accessed() as the real trimmer does, rather than a private
** bit: hardware sets it on every hit, so the hit path costs the policy
** nothing (needs_hits is false). The faulting access sets it too; with
** spec.load_referenced = false insert() clears it again (at the price of
** that TLB entry's flush), which makes a newly loaded page the first to
** go unless it is referenced again — "second-chance FIFO" in the form
** most cache simulators call Clock. The default (true) is the textbook
** variant of the C.1 table.
**
** The links are a pair of uint32 per slot (8 bytes per slot). Trimming
** (force = false) chooses exactly as replacement does: clock has no page
** too young to go, only an order.
**
** Several victims in one select(): a first lap of the hand takes every
** page whose bit is clear and clears the others. If that did not find
** enough, every page left has a clear bit now, and a second lap takes
** them in order. Victims stay linked until the caller trims them, so the
** second lap skips the first lap's victims; it meets them in the same
** order the first lap wrote them (the circle does not change during a
** select), so one index into victims[] does it, with no per-slot mark.
*/
#include <stdlib.h>

#include "../policy.h"

typedef struct clockp {
  pol_link *ln;            /* per slot: the circle */
  uint32_t hand;           /* next page the hand looks at; MM_NIL: empty */
  uint32_t n;              /* pages on the circle */
  bool load_referenced;    /* spec.load_referenced, fixed at creation */
  pol_cursor ahead;        /* pages the hand meets next (policy.h) */
} clockp;

#ifdef MM_DEBUG
/* The circle holds exactly the working set's pages, links agree. */
static void clock_check(const mm_process *p, const clockp *c) {
  assert(c->n == p->ws.count);
  assert((c->hand == MM_NIL) == (c->n == 0));
  uint32_t s = c->hand;
  for (uint32_t k = 0; k < c->n; k++) {
    assert(s < p->ws.hi && p->ws.e[s].pte);
    assert(c->ln[c->ln[s].next].prev == s);
    s = c->ln[s].next;
  }
  assert(s == c->hand);
}
#define CLOCK_CHECK(p, c) clock_check(p, c)
#else
#define CLOCK_CHECK(p, c) ((void)(p), (void)(c))
#endif

static void *clock_create(mm_system *sys, mm_process *p) {
  (void)p;
  clockp *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->hand = MM_NIL;
  c->load_referenced = sys->cfg.policy.load_referenced;
  pol_cursor_init(&c->ahead);
  return c;
}

static void clock_destroy(mm_system *sys, void *st) {
  (void)sys;
  clockp *c = st;
  free(c->ln);
  free(c);
}

/* The array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int clock_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  clockp *c = st;
  pol_link *a = realloc(c->ln, (size_t)cap * sizeof *a);
  if (!a) return -1;
  c->ln = a;
  return 0;
}

static void clock_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  clockp *c = st;
  if (c->hand == MM_NIL) {
    c->ln[s].prev = c->ln[s].next = s;
    c->hand = s;
  } else {                           /* just behind the hand: the newest */
    uint32_t h = c->hand, b = c->ln[h].prev;
    c->ln[s].prev = b;
    c->ln[s].next = h;
    c->ln[b].next = s;
    c->ln[h].prev = s;
  }
  c->n++;
  /* The core set the bit for the faulting access, as hardware does. */
  if (!c->load_referenced) (void)ws_test_clear_accessed(sys, p, s);
}

static void clock_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p; (void)st; (void)s;
}

static void clock_remove(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  clockp *c = st;
  pol_cursor_leave(&c->ahead, c->ln, s, s == c->hand);
  if (c->ln[s].next == s) {
    c->hand = MM_NIL;
    pol_cursor_init(&c->ahead);
  } else {
    uint32_t a = c->ln[s].prev, b = c->ln[s].next;
    if (c->hand == s) c->hand = b;
    c->ln[a].next = b;
    c->ln[b].prev = a;
  }
  c->n--;
}

static int64_t clock_select(mm_system *sys, mm_process *p, void *st,
                            uint32_t want, bool force, uint32_t *victims) {
  (void)force;
  clockp *c = st;
  CLOCK_CHECK(p, c);
  uint32_t cnt = c->n, n = 0, k, hand = c->hand;
  const pol_link *ln = c->ln;
  if (want > cnt) want = cnt;
  if (want == 0) return 0;
  for (k = 0; k < cnt && n < want; k++) {
    uint32_t s = hand;
    hand = ln[s].next;
    if (!ws_test_clear_accessed(sys, p, s)) victims[n++] = s;
  }
  pol_cursor_pass(&c->ahead, k);
  if (n < want) {
    /* A full lap: the hand is back where it started, every bit clear. */
    uint32_t first = n, j = 0;
    for (k = 0; k < cnt && n < want; k++) {
      uint32_t s = hand;
      hand = ln[s].next;
      if (j < first && victims[j] == s) j++;
      else victims[n++] = s;
    }
    pol_cursor_pass(&c->ahead, k);
  }
  c->hand = hand;
  assert(n == want);
  return n;
}

static void clock_ahead(mm_system *sys, mm_process *p, void *st) {
  clockp *c = st;
  pol_cursor_run(sys, p, &c->ahead, c->ln, c->hand, c->n);
}

const mm_policy_ops mm_policy_clock = {
  "clock", false, false, clock_create, clock_destroy, clock_reserve,
  clock_insert, clock_hit, clock_remove, NULL, clock_select, clock_ahead,
};
