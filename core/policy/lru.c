/*
** lru.c — exact least recently used: the victim is the page whose last
** reference is the oldest (WINDOWS.md C.2: a stack algorithm, so more
** frames never mean more faults).
**
** Exactness needs every reference, so the policy asks for hits
** (needs_hits). The resident slots form a doubly linked list by slot
** number, least recently used at the head, most recently used at the
** tail: a fault inserts at the tail, a hit moves its slot to the tail.
** Both are a handful of stores into a pair of uint32 links per slot (8
** bytes per slot), O(1) with no allocation, which keeps the hit path
** cheap. select() walks from the head without unlinking (the caller trims
** each victim, remove() unlinks it). Trimming and replacement choose
** alike.
**
** The accessed bit is not used: the hit calls already say everything it
** could, and not clearing it saves the trimmer's TLB flushes.
*/
#include <stdlib.h>

#include "../policy.h"

typedef struct lru {
  pol_link *ln;            /* per slot; MM_NIL ends the list */
  uint32_t head, tail;     /* least, most recently used */
  uint32_t n;              /* slots linked */
  pol_cursor ahead;        /* the victims after the next (policy.h) */
} lru;

#ifdef MM_DEBUG
/* The list holds exactly the working set's pages, links agree both ways. */
static void lru_check(const mm_process *p, const lru *l) {
  uint32_t n = 0, prev = MM_NIL;
  for (uint32_t s = l->head; s != MM_NIL; s = l->ln[s].next) {
    assert(s < p->ws.hi && p->ws.e[s].pte);
    assert(l->ln[s].prev == prev);
    assert(++n <= p->ws.count);
    prev = s;
  }
  assert(prev == l->tail && n == l->n && n == p->ws.count);
}
#define LRU_CHECK(p, l) lru_check(p, l)
#else
#define LRU_CHECK(p, l) ((void)(p), (void)(l))
#endif

static void *lru_create(mm_system *sys, mm_process *p) {
  (void)sys; (void)p;
  lru *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->head = l->tail = MM_NIL;
  pol_cursor_init(&l->ahead);
  return l;
}

static void lru_destroy(mm_system *sys, void *st) {
  (void)sys;
  lru *l = st;
  free(l->ln);
  free(l);
}

/* The array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int lru_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  lru *l = st;
  pol_link *a = realloc(l->ln, (size_t)cap * sizeof *a);
  if (!a) return -1;
  l->ln = a;
  return 0;
}

static inline void lru_append(lru *l, uint32_t s) {
  l->ln[s].prev = l->tail;
  l->ln[s].next = MM_NIL;
  if (l->tail != MM_NIL) l->ln[l->tail].next = s;
  else l->head = s;
  l->tail = s;
}

static inline void lru_unlink(lru *l, uint32_t s) {
  uint32_t a = l->ln[s].prev, b = l->ln[s].next;
  if (a != MM_NIL) l->ln[a].next = b;
  else l->head = b;
  if (b != MM_NIL) l->ln[b].prev = a;
  else l->tail = a;
}

static void lru_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  lru *l = st;
  lru_append(l, s);
  l->n++;
}

/* The hot path: a page hit again in a row (loops, the top of a zipf)
** is already at the tail and costs one compare. */
static void lru_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  lru *l = st;
  if (l->tail == s) return;
  pol_cursor_leave(&l->ahead, l->ln, s, s == l->head);
  lru_unlink(l, s);
  lru_append(l, s);
}

static void lru_remove(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  lru *l = st;
  pol_cursor_leave(&l->ahead, l->ln, s, s == l->head);
  lru_unlink(l, s);
  l->n--;
}

static int64_t lru_select(mm_system *sys, mm_process *p, void *st,
                          uint32_t want, bool force, uint32_t *victims) {
  (void)sys; (void)force;
  lru *l = st;
  LRU_CHECK(p, l);
  uint32_t n = 0;
  for (uint32_t s = l->head; s != MM_NIL && n < want; s = l->ln[s].next)
    victims[n++] = s;
  return n;
}

static void lru_ahead(mm_system *sys, mm_process *p, void *st) {
  lru *l = st;
  pol_cursor_recount(&l->ahead, l->ln, l->head);
  pol_cursor_run(sys, p, &l->ahead, l->ln, l->head, l->n);
}

const mm_policy_ops mm_policy_lru = {
  "lru", true, false, lru_create, lru_destroy, lru_reserve,
  lru_insert, lru_hit, lru_remove, NULL, lru_select, lru_ahead,
};
