/*
** fifo.c — first in, first out: victims in the order pages entered the
** working set, whatever happened to them since (WINDOWS.md C.1: the policy
** that shows Belady's anomaly).
**
** The resident slots form a doubly linked list by slot number, oldest at
** the head; a page joins at the tail. The links are a pair of uint32 per
** slot (8 bytes per slot), so insert, remove and each victim are O(1)
** and nothing is allocated after reserve(). select() walks from the head
** without unlinking: the caller trims every victim, and remove() unlinks
** it then. Trimming (force = false) and replacement (force = true) choose
** alike: FIFO has no notion of a page too young to go.
*/
#include <stdlib.h>

#include "../policy.h"

typedef struct fifo {
  pol_link *ln;            /* per slot; MM_NIL ends the list */
  uint32_t head, tail;     /* oldest, newest */
  uint32_t n;              /* slots linked */
  pol_cursor ahead;        /* the victims after the next (policy.h) */
} fifo;

#ifdef MM_DEBUG
/* The list holds exactly the working set's pages, links agree both ways. */
static void fifo_check(const mm_process *p, const fifo *f) {
  uint32_t n = 0, prev = MM_NIL;
  for (uint32_t s = f->head; s != MM_NIL; s = f->ln[s].next) {
    assert(s < p->ws.hi && p->ws.e[s].pte);
    assert(f->ln[s].prev == prev);
    assert(++n <= p->ws.count);
    prev = s;
  }
  assert(prev == f->tail && n == f->n && n == p->ws.count);
}
#define FIFO_CHECK(p, f) fifo_check(p, f)
#else
#define FIFO_CHECK(p, f) ((void)(p), (void)(f))
#endif

static void *fifo_create(mm_system *sys, mm_process *p) {
  (void)sys; (void)p;
  fifo *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->head = f->tail = MM_NIL;
  pol_cursor_init(&f->ahead);
  return f;
}

static void fifo_destroy(mm_system *sys, void *st) {
  (void)sys;
  fifo *f = st;
  free(f->ln);
  free(f);
}

/* The array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int fifo_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  fifo *f = st;
  pol_link *a = realloc(f->ln, (size_t)cap * sizeof *a);
  if (!a) return -1;
  f->ln = a;
  return 0;
}

static void fifo_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  fifo *f = st;
  f->ln[s].prev = f->tail;
  f->ln[s].next = MM_NIL;
  if (f->tail != MM_NIL) f->ln[f->tail].next = s;
  else f->head = s;
  f->tail = s;
  f->n++;
}

static void fifo_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p; (void)st; (void)s;
}

static void fifo_remove(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  fifo *f = st;
  pol_cursor_leave(&f->ahead, f->ln, s, s == f->head);
  uint32_t a = f->ln[s].prev, b = f->ln[s].next;
  if (a != MM_NIL) f->ln[a].next = b;
  else f->head = b;
  if (b != MM_NIL) f->ln[b].prev = a;
  else f->tail = a;
  f->n--;
}

static int64_t fifo_select(mm_system *sys, mm_process *p, void *st,
                           uint32_t want, bool force, uint32_t *victims) {
  (void)sys; (void)force;
  fifo *f = st;
  FIFO_CHECK(p, f);
  uint32_t n = 0;
  for (uint32_t s = f->head; s != MM_NIL && n < want; s = f->ln[s].next)
    victims[n++] = s;
  return n;
}

static void fifo_ahead(mm_system *sys, mm_process *p, void *st) {
  fifo *f = st;
  pol_cursor_run(sys, p, &f->ahead, f->ln, f->head, f->n);
}

const mm_policy_ops mm_policy_fifo = {
  "fifo", false, false, fifo_create, fifo_destroy, fifo_reserve,
  fifo_insert, fifo_hit, fifo_remove, NULL, fifo_select, fifo_ahead,
};
