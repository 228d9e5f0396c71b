/*
** aging.c — the Windows-like policy (WINDOWS.md A.10.5, ReactOS model).
**
** Each working-set-manager pass looks at every page once: a page whose
** accessed bit is set gets age 0 and the bit is cleared; any other page
** ages by one. Trimming takes pages older than tune.trim_age, so a page
** untouched since a pass is evicted on the 4th pass that finds it
** untouched (ages 1, 2, 3, then eviction; A.10.5 item 7).
**
** Replacement at a hard maximum cannot wait for passes: a clock hand
** sweeps the set, giving a referenced page a second chance (clearing its
** bit, age 0) and taking the first unreferenced one.
*/
#include <stdlib.h>

#include "../policy.h"

#define AGE_MAX    254u   /* ages saturate here */
#define AGE_CHOSEN 255u   /* marks a victim within one select() */

typedef struct aging {
  uint8_t *age;          /* per slot */
  uint32_t hand;         /* next slot the sweeps look at */
  pol_cursor ahead;      /* at: the next slot to name to ws_ahead (an
                            index: the hand sweeps slots in order), dist
                            past the hand */
} aging;

static void *aging_create(mm_system *sys, mm_process *p) {
  (void)sys; (void)p;
  aging *a = calloc(1, sizeof *a);
  if (a) pol_cursor_init(&a->ahead);
  return a;
}

static void aging_destroy(mm_system *sys, void *st) {
  (void)sys;
  aging *a = st;
  free(a->age);
  free(a);
}

static int aging_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  aging *a = st;
  uint8_t *n = realloc(a->age, cap);
  if (!n) return -1;
  a->age = n;
  return 0;
}

static void aging_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  ((aging *)st)->age[s] = 0;         /* A.10.5: new entries start at 0 */
}

static void aging_nop(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p; (void)st; (void)s;
}

static uint64_t aging_age(mm_system *sys, mm_process *p, void *st) {
  aging *a = st;
  uint64_t old = 0;
  uint32_t limit = sys->cfg.tune.trim_age;
  for (uint32_t s = 0; s < p->ws.hi; s++) {
    if (!p->ws.e[s].pte) continue;
    if (ws_test_clear_accessed(sys, p, s)) a->age[s] = 0;
    else if (a->age[s] < AGE_MAX) a->age[s]++;
    if (a->age[s] > limit) old++;
  }
  /* What could go without touching the minimum. */
  uint64_t room = p->ws.count > p->ws.min ? p->ws.count - p->ws.min : 0;
  return old < room ? old : room;
}

static int64_t aging_select(mm_system *sys, mm_process *p, void *st,
                            uint32_t want, bool force, uint32_t *victims) {
  aging *a = st;
  uint32_t n = 0, hi = p->ws.hi;
  if (hi == 0) return 0;
  if (!force) {
    /* Trim: only pages the passes found old, scanning from the hand. */
    uint32_t limit = sys->cfg.tune.trim_age;
    for (uint32_t k = 0; k < hi && n < want; k++) {
      uint32_t s = (a->hand + k) % hi;
      if (p->ws.e[s].pte && a->age[s] > limit) victims[n++] = s;
    }
    return n;
  }
  /* Replace: second chance, at most two sweeps (the second finds every
  ** bit the first cleared). */
  if (want > p->ws.count) want = p->ws.count;
  uint32_t hand = a->hand;
  uint8_t *age = a->age;
  const mm_wsle *e = p->ws.e;
  uint64_t k;
  for (k = 0; n < want && k < 2ull * hi + want; k++) {
    uint32_t s = hand;
    hand = hand + 1 < hi ? hand + 1 : 0;
    if (!e[s].pte || age[s] == AGE_CHOSEN) continue;
    if (ws_test_clear_accessed(sys, p, s)) age[s] = 0;
    else { victims[n++] = s; age[s] = AGE_CHOSEN; }
  }
  a->hand = hand;
  pol_cursor_pass(&a->ahead, k < UINT32_MAX ? (uint32_t)k : UINT32_MAX);
  /* The caller trims every victim; the mark dies with the slot. */
  return n;
}

/* The hand sweeps slots in order: the slots after it are the pages it
** meets next (ws_ahead), whether it takes them or gives them a second
** chance — either way it reads their PTEs. */
static void aging_ahead(mm_system *sys, mm_process *p, void *st) {
  aging *a = st;
  uint32_t hi = p->ws.hi, depth = hi < WS_AHEAD ? hi : WS_AHEAD;
  if (a->ahead.dist == 0 || a->ahead.at >= hi) {
    a->ahead.at = a->hand < hi ? a->hand : 0;
    a->ahead.dist = 0;
  }
  uint32_t at = a->ahead.at, dist = a->ahead.dist;
  for (; dist < depth; dist++) {
    ws_ahead(sys, p, at);
    at = at + 1 < hi ? at + 1 : 0;
  }
  a->ahead.at = at;
  a->ahead.dist = dist;
}

const mm_policy_ops mm_policy_aging = {
  "aging", false, false, aging_create, aging_destroy, aging_reserve,
  aging_insert, aging_nop, aging_nop, aging_age, aging_select, aging_ahead,
};
