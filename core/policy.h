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
} mm_policy_ops;

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
