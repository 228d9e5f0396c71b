/*
** policy.h — the replacement/trimming policy interface.
**
** A policy chooses victims; the core trims them. One file per policy in
** core/policy/, each exporting one const struct mm_policy_ops, registered
** by one row in policy.c. A policy keeps its own per-slot bookkeeping
** (ages, list links, timestamps) in the state it creates for each working
** set; the only memory-manager state it may touch is the accessed bit,
** through ws_test_clear_accessed(), as the real trimmer samples it.
**
** Two uses of select():
**   trim     (force = false) the working-set manager asks for up to want
**            victims; a policy may return fewer (aging keeps young pages);
**   replace  (force = true)  a fault at a hard maximum, or a system with no
**            available page, needs victims now: return want of them
**            (fewer only if the working set has fewer pages).
*/
#ifndef PAGELAB_POLICY_H
#define PAGELAB_POLICY_H

#include "internal.h"

typedef struct mm_policy_ops {
  const char *name;
  bool needs_hits;      /* hit() must see every hit (exact LRU, OPT) */
  bool needs_future;    /* next-use times must be known (OPT) */
  /* Per-working-set state, NULL on host OOM. */
  void *(*create)(mm_system *sys, mm_process *p);
  void (*destroy)(mm_system *sys, void *st);
  /* The working set grew to cap slots: grow per-slot arrays. 0 or -1. */
  int (*reserve)(mm_system *sys, void *st, uint32_t cap);
  void (*insert)(mm_system *sys, mm_process *p, void *st, uint32_t slot);
  void (*hit)(mm_system *sys, mm_process *p, void *st, uint32_t slot);
  void (*remove)(mm_system *sys, mm_process *p, void *st, uint32_t slot);
  /* One working-set-manager pass over the set (NULL if the policy keeps no
  ** ages). Returns how many pages it could trim now. */
  uint64_t (*age)(mm_system *sys, mm_process *p, void *st);
  /* Writes up to want victim slots; returns how many; -1 on a policy
  ** error (sys->err says why). Changes nothing but its own bookkeeping and
  ** sampled accessed bits. */
  int64_t (*select)(mm_system *sys, mm_process *p, void *st, uint32_t want,
                    bool force, uint32_t *victims);
  /* Optional (NULL: none): called before each replacement, names through
  ** ws_ahead() the slots it will probably choose next. Speed only. */
  void (*ahead)(mm_system *sys, mm_process *p, void *st);
} mm_policy_ops;

/* The links of the policies that keep their pages in one order (fifo,
** lru, clock): a pair of uint32 per slot, so that a list operation
** touches one cache line per slot instead of two. */
typedef struct pol_link { uint32_t prev, next; } pol_link;

/* A cursor dist places past the front of such an order (the page chosen
** next), moved on one place per replacement, names the pages that will
** be chosen WS_AHEAD replacements later (ws_ahead). It is a guess kept
** in O(1): a page leaving at the cursor moves it on, a page leaving at
** the front brings it one place nearer. A page leaving between the two
** (an lru hit) leaves dist one too large; uncorrected, such errors add up
** until the cursor sits at the front and names each victim only as it is
** chosen: such an order counts dist again now and then
** (pol_cursor_recount). */
typedef struct pol_cursor {
  uint32_t at, dist;       /* the page last named; places past the front */
  uint32_t runs;           /* pol_cursor_recount calls */
} pol_cursor;

static inline void pol_cursor_init(pol_cursor *c) {
  c->at = MM_NIL;
  c->dist = 0;
  c->runs = 0;
}

/* Slot s leaves its place in the order (call before unlinking it);
** front: it was the front. */
static inline void pol_cursor_leave(pol_cursor *c, const pol_link *ln,
                                    uint32_t s, bool front) {
  if (c->at == s) c->at = ln[s].next;
  if (front && c->dist) c->dist--;
}

/* The front moved on k places without pages leaving (clock's hand). */
static inline void pol_cursor_pass(pol_cursor *c, uint32_t k) {
  c->dist = c->dist > k ? c->dist - k : 0;
}

/* For an order whose pages also leave from the middle (lru's hits): every
** WS_AHEAD calls, counts dist again by walking from the front over the
** pages named lately, whose links are cached. Call before
** pol_cursor_run. */
static inline void pol_cursor_recount(pol_cursor *c, const pol_link *ln,
                                      uint32_t front) {
  if (c->at == MM_NIL || c->dist == 0 || ++c->runs % WS_AHEAD != 0) return;
  uint32_t s = front, d = 0;
  while (s != c->at && s != MM_NIL && d < c->dist) {
    s = ln[s].next;
    d++;
  }
  c->dist = s == c->at ? d : 0;
}

/* Pushes pages until the cursor is WS_AHEAD places (at most n, the pages
** in the order) past front. */
static inline void pol_cursor_run(mm_system *sys, mm_process *p,
                                  pol_cursor *c, const pol_link *ln,
                                  uint32_t front, uint32_t n) {
  uint32_t depth = n < WS_AHEAD ? n : WS_AHEAD;
  if (c->at == MM_NIL || c->dist == 0) {
    c->at = front;
    c->dist = 0;
  }
  uint32_t at = c->at, dist = c->dist;
  while (dist < depth && at != MM_NIL) {
    ws_ahead(sys, p, at);
    at = ln[at].next;
    dist++;
  }
  c->at = at;
  c->dist = dist;
}

/* The policy a spec names (custom_select set: the custom trampoline). */
const mm_policy_ops *policy_find(const mm_policy_spec *spec);

extern const mm_policy_ops mm_policy_aging;
extern const mm_policy_ops mm_policy_fifo;
extern const mm_policy_ops mm_policy_clock;
extern const mm_policy_ops mm_policy_lru;
extern const mm_policy_ops mm_policy_random;
extern const mm_policy_ops mm_policy_wsclock;
extern const mm_policy_ops mm_policy_opt;
extern const mm_policy_ops mm_policy_custom;

#endif
