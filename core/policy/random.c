/*
** random.c — victims drawn uniformly at random among the resident pages,
** from a seeded generator: the baseline every other policy should beat,
** and reproducible, as every pagelab run is.
**
** The seed is spec.seed, or the system's seed (cfg.seed) when that is 0,
** mixed with the pid so that two processes of one system draw different
** sequences; the same configuration always gives the same victims. The
** generator is splitmix64 over a state word kept in the policy state (no
** rand(), nothing global), and a draw below n uses Lemire's
** multiply-and-reject, which is exactly uniform.
**
** The resident slots live in a dense array, with each slot's position
** beside it (8 bytes per slot), so that a uniform draw is one index and a
** removal is O(1): the last element fills the hole. k victims are a
** partial Fisher-Yates shuffle of the array's first k places: distinct,
** and every k-subset equally likely. The shuffle is the policy's own
** bookkeeping; the caller then trims the victims and remove() drops them.
** Trimming and replacement choose alike.
*/
#include <stdlib.h>

#include "../policy.h"

/* Odd constants of splitmix64 (Steele, Lea and Flood 2014). */
#define RANDOM_GAMMA UINT64_C(0x9e3779b97f4a7c15)
#define RANDOM_MIX1  UINT64_C(0xbf58476d1ce4e5b9)
#define RANDOM_MIX2  UINT64_C(0x94d049bb133111eb)

typedef struct randomp {
  uint32_t *res;           /* [n] the resident slots, in no order */
  uint32_t *pos;           /* per slot: its index in res */
  uint32_t n;
  uint64_t rng;            /* splitmix64 state */
} randomp;

#ifdef MM_DEBUG
/* res holds exactly the working set's pages, and pos inverts it. */
static void random_check(const mm_process *p, const randomp *r) {
  assert(r->n == p->ws.count);
  for (uint32_t i = 0; i < r->n; i++) {
    uint32_t s = r->res[i];
    assert(s < p->ws.hi && p->ws.e[s].pte && r->pos[s] == i);
  }
}
#define RANDOM_CHECK(p, r) random_check(p, r)
#else
#define RANDOM_CHECK(p, r) ((void)(p), (void)(r))
#endif

static uint64_t random_next(randomp *r) {
  uint64_t z = (r->rng += RANDOM_GAMMA);
  z = (z ^ (z >> 30)) * RANDOM_MIX1;
  z = (z ^ (z >> 27)) * RANDOM_MIX2;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), n ≥ 1 (Lemire 2019): the high half of x·n, drawing
** again in the rare case that x falls in the biased low remainder. */
static uint32_t random_below(randomp *r, uint32_t n) {
  uint64_t m = (random_next(r) >> 32) * n;
  if ((uint32_t)m < n) {
    uint32_t t = (uint32_t)-n % n;
    while ((uint32_t)m < t) m = (random_next(r) >> 32) * n;
  }
  return (uint32_t)(m >> 32);
}

static void *random_create(mm_system *sys, mm_process *p) {
  randomp *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  uint64_t seed = sys->cfg.policy.seed ? sys->cfg.policy.seed : sys->cfg.seed;
  r->rng = seed ^ ((uint64_t)p->pid * RANDOM_MIX1);
  return r;
}

static void random_destroy(mm_system *sys, void *st) {
  (void)sys;
  randomp *r = st;
  free(r->res);
  free(r->pos);
  free(r);
}

/* Each array is replaced only once its realloc succeeded, so a failure
** leaves the state usable at its old capacity and leaks nothing. */
static int random_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  randomp *r = st;
  uint32_t *a = realloc(r->res, (size_t)cap * sizeof *a);
  if (!a) return -1;
  r->res = a;
  a = realloc(r->pos, (size_t)cap * sizeof *a);
  if (!a) return -1;
  r->pos = a;
  return 0;
}

static void random_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  randomp *r = st;
  r->pos[s] = r->n;
  r->res[r->n++] = s;
}

static void random_hit(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p; (void)st; (void)s;
}

static void random_remove(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p;
  randomp *r = st;
  uint32_t i = r->pos[s], last = r->res[--r->n];
  r->res[i] = last;
  r->pos[last] = i;
}

static int64_t random_select(mm_system *sys, mm_process *p, void *st,
                             uint32_t want, bool force, uint32_t *victims) {
  (void)sys; (void)force;
  randomp *r = st;
  RANDOM_CHECK(p, r);
  if (want > r->n) want = r->n;
  for (uint32_t k = 0; k < want; k++) {
    uint32_t j = k + random_below(r, r->n - k);
    uint32_t a = r->res[k], b = r->res[j];
    r->res[k] = b;
    r->pos[b] = k;
    r->res[j] = a;
    r->pos[a] = j;
    victims[k] = b;
  }
  return want;
}

const mm_policy_ops mm_policy_random = {
  "random", false, false, random_create, random_destroy, random_reserve,
  random_insert, random_hit, random_remove, NULL, random_select, NULL,
};
