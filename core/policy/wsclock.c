/*
** wsclock.c — WSClock (Carr and Hennessy, "WSCLOCK — a simple and
** effective algorithm for virtual memory management", SOSP 1981): the
** working-set policy (WINDOWS.md C.4) approximated with a clock hand and
** the accessed bit.
**
** Each page keeps an estimate of its last use, in references (sys->now).
** The resident pages sit on a circle in insertion order, the hand at the
** oldest, a new page linked just behind it (where its victim was). The
** hand sweeps; at each page:
**   - accessed bit set: the page was used since the hand (or a manager
**     pass) last looked: its last use becomes now and the bit is cleared;
**   - bit clear and now − last ≥ τ: the page has left the working set
**     W(now, τ) — Denning's window holds the pages used at now−τ+1 .. now —
**     and is a victim; the hand moves past it;
**   - otherwise the page is still in the window and stays.
** A page enters with last use = now (the faulting reference). The
** faulting access also sets the accessed bit, as hardware does, so the
** first sweep to pass a new page stamps it again: a new page gets up to a
** lap of extra life. spec.load_referenced = false (as for clock) clears
** that bit in insert() instead (flushing that TLB entry): the load is
** then counted once, at its own time.
**
** One full lap decides. Trimming (force = false) returns only the pages
** found outside the window, possibly none: a process whose whole set is
** in use keeps it. Replacement (force = true) must return want pages: if
** the lap found fewer, the rest are the pages with the oldest last use
** (ties: first in the hand's order), as a working-set policy would give
** up the page closest to leaving the window.
**
** The original also schedules the write of a dirty old page and passes
** it over until the write is done; here the core does that part: a
** trimmed dirty page goes to the modified list, which the modified page
** writer empties (A.9.8), and can still be soft-faulted back meanwhile.
**
** τ is spec.tau; 0 picks trim_age × refs_per_second (3 simulated
** seconds by default): the age at which the Windows-like aging policy
** trims, so that the two are comparable out of the box.
**
** Cost: a sweep stops at the first page outside the window, so it is
** short while pages do leave it. When the whole set is inside (τ longer
** than pages stay resident, typically a small hard maximum), every
** replacement sweeps the whole set before falling back: O(count) per
** fault, as in the original, where load control would then deactivate
** the process. Choose τ so that the working set W(τ) fits the maximum.
**
** age() is the manager's pass: it samples every bit the same way, without
** trimming, and reports how many pages are outside the window (above the
** minimum) as the trimmable estimate.
**
** Memory: two uint32 links and a uint64 last use, 16 bytes per slot, in
** one record.
** Several victims in one select(): the fallback walks the circle again in
** the lap's order, skipping the lap's victims with one index into
** victims[] (the circle does not change during a select), and keeps the
** oldest in a bounded max-heap built in the free tail of victims[] —
** O(count log want), nothing allocated.
*/
#include <stdlib.h>

#include "../policy.h"

/* Everything the hand reads about a slot, in one 16-byte record: a step
** of the sweep touches one cache line. */
typedef struct wsclock_slot {
  uint32_t prev, next;     /* the circle */
  uint64_t last;           /* estimated time of last use */
} wsclock_slot;

typedef struct wsclock {
  wsclock_slot *ln;        /* per slot */
  uint32_t hand;           /* next page the hand looks at; MM_NIL: empty */
  uint32_t n;              /* pages on the circle */
  uint64_t tau;            /* window, in references */
  bool load_referenced;    /* spec.load_referenced, fixed at creation */
} wsclock;

#ifdef MM_DEBUG
/* The circle holds exactly the working set's pages, links agree, and no
** last use lies in the future. */
static void wsclock_check(const mm_system *sys, const mm_process *p,
                          const wsclock *w) {
  assert(w->n == p->ws.count);
  assert((w->hand == MM_NIL) == (w->n == 0));
  uint32_t s = w->hand;
  for (uint32_t k = 0; k < w->n; k++) {
    assert(s < p->ws.hi && p->ws.e[s].pte);
    assert(w->ln[w->ln[s].next].prev == s);
    assert(w->ln[s].last <= sys->now);
    s = w->ln[s].next;
  }
  assert(s == w->hand);
}
#define WSCLOCK_CHECK(sys, p, w) wsclock_check(sys, p, w)
#else
#define WSCLOCK_CHECK(sys, p, w) ((void)(sys), (void)(p), (void)(w))
#endif

static void *wsclock_create(mm_system *sys, mm_process *p) {
  (void)p;
  wsclock *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->hand = MM_NIL;
  w->load_referenced = sys->cfg.policy.load_referenced;
  w->tau = sys->cfg.policy.tau;
  if (w->tau == 0) {
    uint64_t rps = sys->cfg.tune.refs_per_second;
    uint64_t ages = sys->cfg.tune.trim_age ? sys->cfg.tune.trim_age : 1;
    w->tau = rps <= UINT64_MAX / ages ? rps * ages : UINT64_MAX;
  }
  return w;
}

static void wsclock_destroy(mm_system *sys, void *st) {
  (void)sys;
  wsclock *w = st;
  free(w->ln);
  free(w);
}

/* The array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int wsclock_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  wsclock *w = st;
  wsclock_slot *a = realloc(w->ln, (size_t)cap * sizeof *a);
  if (!a) return -1;
  w->ln = a;
  return 0;
}

static void wsclock_insert(mm_system *sys, mm_process *p, void *st,
                           uint32_t s) {
  wsclock *w = st;
  if (w->hand == MM_NIL) {
    w->ln[s].prev = w->ln[s].next = s;
    w->hand = s;
  } else {                           /* just behind the hand: the newest */
    uint32_t h = w->hand, b = w->ln[h].prev;
    w->ln[s].prev = b;
    w->ln[s].next = h;
    w->ln[b].next = s;
    w->ln[h].prev = s;
  }
  w->ln[s].last = sys->now;
  w->n++;
  if (!w->load_referenced) (void)ws_test_clear_accessed(sys, p, s);
}

static void wsclock_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p; (void)st; (void)s;
}

static void wsclock_remove(mm_system *sys, mm_process *p, void *st,
                           uint32_t s) {
  (void)sys; (void)p;
  wsclock *w = st;
  if (w->ln[s].next == s) {
    w->hand = MM_NIL;
  } else {
    uint32_t a = w->ln[s].prev, b = w->ln[s].next;
    if (w->hand == s) w->hand = b;
    w->ln[a].next = b;
    w->ln[b].prev = a;
  }
  w->n--;
}

/* Samples the bit of s: a set bit means a use since the last look. */
static inline void wsclock_sample(mm_system *sys, mm_process *p, wsclock *w,
                                  uint32_t s) {
  if (ws_test_clear_accessed(sys, p, s)) w->ln[s].last = sys->now;
}

static inline bool wsclock_out(const mm_system *sys, const wsclock *w,
                               uint32_t s) {
  return sys->now - w->ln[s].last >= w->tau;
}

static uint64_t wsclock_age(mm_system *sys, mm_process *p, void *st) {
  wsclock *w = st;
  uint64_t old = 0;
  uint32_t s = w->hand;
  for (uint32_t k = 0; k < w->n; k++, s = w->ln[s].next) {
    wsclock_sample(sys, p, w, s);
    if (wsclock_out(sys, w, s)) old++;
  }
  uint64_t room = p->ws.count > p->ws.min ? p->ws.count - p->ws.min : 0;
  return old < room ? old : room;
}

/* h[0..n) is a max-heap by last use (the youngest of the kept on top). */
static void wsclock_sift_down(const wsclock *w, uint32_t *h, uint32_t n,
                              uint32_t i) {
  uint32_t x = h[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && w->ln[h[c + 1]].last > w->ln[h[c]].last) c++;
    if (w->ln[h[c]].last <= w->ln[x].last) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

static void wsclock_sift_up(const wsclock *w, uint32_t *h, uint32_t i) {
  uint32_t x = h[i];
  while (i > 0) {
    uint32_t up = (i - 1) / 2;
    if (w->ln[h[up]].last >= w->ln[x].last) break;
    h[i] = h[up];
    i = up;
  }
  h[i] = x;
}

static int64_t wsclock_select(mm_system *sys, mm_process *p, void *st,
                              uint32_t want, bool force, uint32_t *victims) {
  wsclock *w = st;
  WSCLOCK_CHECK(sys, p, w);
  uint32_t cnt = w->n, n = 0, k;
  if (want > cnt) want = cnt;
  if (want == 0) return 0;
  for (k = 0; k < cnt && n < want; k++) {
    uint32_t s = w->hand;
    w->hand = w->ln[s].next;
    wsclock_sample(sys, p, w, s);
    if (wsclock_out(sys, w, s)) victims[n++] = s;
  }
  if (!force || n == want) return n;
  /* The lap found too few, and the hand is back where it began: the
  ** oldest of the pages left, in a heap of the need kept so far. */
  uint32_t first = n, need = want - n, have = 0, j = 0;
  uint32_t *h = victims + first;
  uint32_t s = w->hand;
  for (k = 0; k < cnt; k++, s = w->ln[s].next) {
    if (j < first && victims[j] == s) { j++; continue; }
    if (have < need) {
      h[have] = s;
      wsclock_sift_up(w, h, have++);
    } else if (w->ln[s].last < w->ln[h[0]].last) {
      h[0] = s;
      wsclock_sift_down(w, h, need, 0);
    }
  }
  assert(have == need);
  return want;
}

const mm_policy_ops mm_policy_wsclock = {
  "wsclock", false, false, wsclock_create, wsclock_destroy, wsclock_reserve,
  wsclock_insert, wsclock_hit, wsclock_remove, wsclock_age, wsclock_select, NULL,
};
