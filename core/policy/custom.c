/*
** custom.c — a policy written by the caller (a Lua function, through the
** binding's trampoline). The core keeps the same ages as `aging`, plus
** insertion times, and shows the callback a snapshot of the working set
** each time victims are needed; the callback answers with indices.
** Only trim and replacement decisions reach it, never a hit.
*/
#include <stdio.h>
#include <stdlib.h>

#include "../policy.h"

typedef struct custom {
  uint8_t *age;
  uint64_t *inserted;
} custom;

static void *custom_create(mm_system *sys, mm_process *p) {
  (void)sys; (void)p;
  return calloc(1, sizeof(custom));
}

static void custom_destroy(mm_system *sys, void *st) {
  (void)sys;
  custom *c = st;
  free(c->age);
  free(c->inserted);
  free(c);
}

static int custom_reserve(mm_system *sys, void *st, uint32_t cap) {
  (void)sys;
  custom *c = st;
  uint8_t *a = realloc(c->age, cap);
  if (!a) return -1;
  c->age = a;
  uint64_t *t = realloc(c->inserted, (size_t)cap * sizeof *t);
  if (!t) return -1;
  c->inserted = t;
  return 0;
}

static void custom_insert(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)p;
  custom *c = st;
  c->age[s] = 0;
  c->inserted[s] = sys->now;
}

static void custom_nop(mm_system *sys, mm_process *p, void *st, uint32_t s) {
  (void)sys; (void)p; (void)st; (void)s;
}

static uint64_t custom_age(mm_system *sys, mm_process *p, void *st) {
  custom *c = st;
  for (uint32_t s = 0; s < p->ws.hi; s++) {
    if (!p->ws.e[s].pte) continue;
    if (ws_test_clear_accessed(sys, p, s)) c->age[s] = 0;
    else if (c->age[s] < UINT8_MAX) c->age[s]++;
  }
  return 0;
}

static int64_t custom_select(mm_system *sys, mm_process *p, void *st,
                             uint32_t want, bool force, uint32_t *victims) {
  custom *c = st;
  uint32_t count = p->ws.count;
  if (count == 0 || want == 0) return 0;
  mm_ws_page *pages = malloc((size_t)count * sizeof *pages);
  uint32_t *slots = malloc((size_t)count * sizeof *slots);
  uint8_t *seen = calloc(count, 1);
  uint32_t *idx = malloc((size_t)want * sizeof *idx);
  int64_t result = -1;
  if (!pages || !slots || !seen || !idx) {
    mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory for a policy call");
    goto out;
  }
  uint32_t n = 0;
  for (uint32_t s = 0; s < p->ws.hi; s++) {
    mm_pte *pte = p->ws.e[s].pte;
    if (!pte) continue;
    pages[n] = (mm_ws_page){ p->ws.e[s].vpn << sys->page_shift,
                             c->inserted[s], c->age[s],
                             (uint8_t)((*pte & PTE_A) != 0),
                             (uint8_t)((*pte & PTE_D) != 0),
                             (uint8_t)((*pte & PTE_PROTOMAP) != 0) };
    slots[n++] = s;
  }
  assert(n == count);
  uint32_t got = 0;
  char err[200] = "";
  sys->in_callback = true;
  int r = sys->cfg.policy.custom_select(sys->cfg.policy.custom_ud, p->pid,
                                        pages, count, want, idx, &got, err,
                                        sizeof err);
  sys->in_callback = false;
  if (r != 0) {
    mm_fail(sys, MM_STATUS_PAGELAB_CALLBACK_FAILED, "policy %s: %s",
            sys->cfg.policy.name, err[0] ? err : "failed");
    goto out;
  }
  if (got > want) {
    mm_fail(sys, MM_STATUS_PAGELAB_CALLBACK_FAILED,
            "policy %s returned %u victims, at most %u were asked for",
            sys->cfg.policy.name, got, want);
    goto out;
  }
  for (uint32_t k = 0; k < got; k++) {
    if (idx[k] >= count || seen[idx[k]]) {
      mm_fail(sys, MM_STATUS_PAGELAB_CALLBACK_FAILED,
              "policy %s returned a bad or repeated victim index %u "
              "(working set has %u pages)", sys->cfg.policy.name,
              idx[k] + 1, count);
      goto out;
    }
    seen[idx[k]] = 1;
    victims[k] = slots[idx[k]];
  }
  if (force && got == 0) {
    mm_fail(sys, MM_STATUS_PAGELAB_CALLBACK_FAILED,
            "policy %s chose no victim, but one was needed",
            sys->cfg.policy.name);
    goto out;
  }
  result = got;
out:
  free(pages);
  free(slots);
  free(seen);
  free(idx);
  return result;
}

const mm_policy_ops mm_policy_custom = {
  "custom", false, false, custom_create, custom_destroy, custom_reserve,
  custom_insert, custom_nop, custom_nop, custom_age, custom_select, NULL,
};
