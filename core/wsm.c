/*
** wsm.c — what runs on the clock: the working-set manager, the modified
** page writer and the zero-page step, plus the emergency path a fault takes
** when no page is available.
**
** Once per simulated second (tune.refs_per_second references):
**  1. zero-page step: when the free list holds zero_threshold frames or
**     more, they are zeroed (A.9.7);
**  2. aging: every working set is passed over once; the policy samples
**     and clears accessed bits and ages what was not referenced;
**  3. modified page writer: when the modified list reaches mpw_threshold,
**     or available memory is below min_free_pages, up to mpw_batch pages
**     are written to the page file and move to standby (A.9.8);
**  4. trimming (A.10.5): nothing when available + modified reaches
**     plenty_free_pages — the manager then only records how many pages it
**     could trim (wsm_trimmable). Otherwise working sets above their
**     maximum are trimmed down toward it; when available is below
**     min_free_pages ("trim hard") also those above their minimum, until
**     memory is back above the thresholds (A.10.5 step 6).
*/
#include <stdlib.h>

#include "internal.h"
#include "policy.h"

uint64_t mpw_write(mm_system *sys, uint64_t n) {
  mm_list *ml = &sys->list[LIST_MODIFIED];
  uint64_t done = 0;
  while (done < n && ml->count) {
    uint32_t f = ml->head;
    mm_pfn *e = &sys->pfn[f];
    if (e->flags & PFN_F_PROTO) {       /* file or page-file section page */
      if (proto_write(sys, f) != 0) break;
    } else {
      uint32_t slot = pf_alloc(sys);
      if (slot == MM_NIL) break;        /* page file full */
      if (sys->mem && contents_slot_out(sys, f, slot) != 0) {
        pf_free(sys, slot);
        break;
      }
      e->slot = slot;
      sys->st.pagefile_writes++;
    }
    pfn_unlink(sys, f);
    e->flags &= (uint8_t)~PFN_F_MODIFIED;
    pfn_insert(sys, f, LIST_STANDBY);
    done++;
  }
  return done;
}

static bool memory_low(const mm_system *sys) {
  return avail_pages(sys) + sys->list[LIST_MODIFIED].count <
         sys->cfg.tune.plenty_free_pages;
}

static bool trim_hard(const mm_system *sys) {
  return avail_pages(sys) < sys->cfg.tune.min_free_pages;
}

static void maybe_write(mm_system *sys) {
  if (sys->list[LIST_MODIFIED].count >= sys->cfg.tune.mpw_threshold ||
      (trim_hard(sys) && sys->list[LIST_MODIFIED].count))
    mpw_write(sys, sys->cfg.tune.mpw_batch);
}

/* Asks the policy for up to want victims of p and trims them. */
static int trim_process(mm_system *sys, mm_process *p, uint32_t want,
                        bool force) {
  if (want == 0 || p->ws.count == 0) return 0;
  uint32_t *v = malloc((size_t)want * sizeof *v);
  if (!v) {
    mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory while trimming");
    return -1;
  }
  int64_t n = sys->pol_ops->select(sys, p, p->ws.pol, want, force, v);
  for (int64_t k = 0; k < n; k++) ws_trim_slot(sys, p, v[k], false);
  free(v);
  return n < 0 ? -1 : (int)n;
}

static int wsm_pass(mm_system *sys) {
  sys->st.wsm_runs++;
  if (sys->list[LIST_FREE].count >= sys->cfg.tune.zero_threshold)
    zero_step(sys);

  uint64_t could = 0;
  for (uint32_t k = 0; k <= sys->nprocs; k++) {
    mm_process *p = proc_at(sys, k);
    if (p->alive && sys->pol_ops->age)
      could += sys->pol_ops->age(sys, p, p->ws.pol);
  }
  sys->st.wsm_trimmable = could;

  maybe_write(sys);
  if (!memory_low(sys)) return 0;

  /* Above the maximum first... */
  for (uint32_t k = 0; k <= sys->nprocs; k++) {
    mm_process *p = proc_at(sys, k);
    if (!p->alive || p->ws.count <= p->ws.max) continue;
    if (trim_process(sys, p, p->ws.count - p->ws.max, false) < 0) return -1;
  }
  maybe_write(sys);
  /* ...then, trimming hard, down toward the minimums (A.10.5 step 4),
  ** stopping once memory is back (step 6). */
  for (uint32_t k = 0; k <= sys->nprocs && trim_hard(sys); k++) {
    mm_process *p = proc_at(sys, k);
    if (!p->alive || p->ws.hard_min || p->ws.count <= p->ws.min) continue;
    if (trim_process(sys, p, p->ws.count - p->ws.min, false) < 0) return -1;
    maybe_write(sys);
  }
  return 0;
}

/* The balance set manager's emergency work, when a fault finds zeroed,
** free and standby all empty: write modified pages if the page file has
** room; otherwise trim the largest working set (forcing the policy) so
** its pages reach standby or modified. Each round either makes a page
** available or moves at least one page out of a working set, so the
** caller's loop ends. */
int make_available(mm_system *sys, mm_process *faulting) {
  if (sys->list[LIST_MODIFIED].count && mpw_write(sys, sys->cfg.tune.mpw_batch))
    return 0;
  mm_process *big = NULL;
  for (uint32_t k = 0; k <= sys->nprocs; k++) {
    mm_process *p = proc_at(sys, k);
    if (!p->alive || p->ws.count == 0) continue;
    if (p->ws.hard_min && p->ws.count <= p->ws.min && p != faulting) continue;
    if (!big || p->ws.count > big->ws.count) big = p;
  }
  if (!big) {
    mm_fail(sys, MM_STATUS_NO_MEMORY,
            "no physical page can be made available: %llu frames, none "
            "free or standby, %llu modified with the page file full "
            "(%llu of %llu slots used), no working set left to trim",
            (unsigned long long)sys->nframes,
            (unsigned long long)sys->list[LIST_MODIFIED].count,
            (unsigned long long)sys->pf_used, (unsigned long long)sys->pf_slots);
    return -1;
  }
  uint32_t want = big->ws.count / 16 + 1;
  int n = trim_process(sys, big, want, true);
  if (n < 0) return -1;
  if (n == 0) {
    mm_fail(sys, MM_STATUS_PAGELAB_CALLBACK_FAILED,
            "policy %s chose no victim when memory ran out", sys->pol_ops->name);
    return -1;
  }
  return 0;
}

static void next_event(mm_system *sys) {
  uint64_t t = sys->next_second;
  if (sys->sample_fn && sys->next_sample < t) t = sys->next_sample;
  sys->next_event = t;
}

int clock_events(mm_system *sys) {
  while (sys->now >= sys->next_second) {
    sys->next_second += sys->cfg.tune.refs_per_second;
    if (wsm_pass(sys) != 0) { next_event(sys); return -1; }
  }
  if (sys->sample_fn && sys->now >= sys->next_sample) {
    sys->next_sample = (sys->now / sys->sample_every + 1) * sys->sample_every;
    sys->in_callback = true;
    int r = sys->sample_fn(sys->sample_ud, sys);
    sys->in_callback = false;
    if (r != 0) {
      sys->last_status = MM_STATUS_PAGELAB_CALLBACK_FAILED;
      next_event(sys);
      return -1;
    }
  }
  next_event(sys);
  return 0;
}

mm_status mm_tick(mm_system *sys, uint64_t n) {
  if (sys->in_callback)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "time cannot advance from inside a callback");
  sys->hook_failed = false;
  sys->nested++;
  mm_status st = MM_STATUS_SUCCESS;
  while (n) {
    uint64_t step = sys->next_event > sys->now ? sys->next_event - sys->now : 0;
    if (step > n) step = n;
    sys->now += step;
    n -= step;
    if ((sys->now >= sys->next_event && clock_events(sys) != 0) ||
        sys->hook_failed) {
      st = sys->last_status;
      break;
    }
  }
  sys->nested--;
  MM_CHECK(sys);
  return st;
}

mm_status mm_wsm_run(mm_system *sys) {
  if (sys->in_callback)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "the working-set manager cannot run from inside a callback");
  sys->hook_failed = false;
  sys->nested++;
  mm_status st = wsm_pass(sys) == 0 && !sys->hook_failed ? MM_STATUS_SUCCESS
                                                         : sys->last_status;
  sys->nested--;
  MM_CHECK(sys);
  return st;
}

void mm_set_sampler(mm_system *sys, uint64_t every, mm_sample_fn fn, void *ud) {
  if (!every || !fn) {
    sys->sample_fn = NULL;
    sys->sample_ud = NULL;
    sys->sample_every = 0;
  } else {
    sys->sample_fn = fn;
    sys->sample_ud = ud;
    sys->sample_every = every;
    sys->next_sample = (sys->now / every + 1) * every;
  }
  next_event(sys);
}

/* ----------------------------------------------------- hooks and event log */

void event_emit(mm_system *sys, const mm_event *ev) {
  if (sys->evcap) {
    sys->evlog[sys->evnext] = *ev;
    sys->evnext = (sys->evnext + 1) % sys->evcap;
    if (sys->evcount < sys->evcap) sys->evcount++;
  }
  mm_hook_fn fn = sys->hook[ev->kind].fn;
  if (fn && !sys->hook_failed) {
    sys->in_callback = true;
    int r = fn(sys->hook[ev->kind].ud, sys, ev);
    sys->in_callback = false;
    if (r != 0) {
      sys->hook_failed = true;
      sys->last_status = MM_STATUS_PAGELAB_CALLBACK_FAILED;
    }
  }
}

static void rewatch(mm_system *sys) {
  sys->watched = sys->evcap || sys->hook[MM_EV_FAULT].fn || sys->hook[MM_EV_TRIM].fn;
}

void mm_set_hook(mm_system *sys, int kind, mm_hook_fn fn, void *ud) {
  if (kind < 0 || kind >= MM_EV_KINDS) return;
  sys->hook[kind].fn = fn;
  sys->hook[kind].ud = fn ? ud : NULL;
  sys->hook_failed = false;
  rewatch(sys);
}

mm_status mm_event_log(mm_system *sys, size_t capacity) {
  mm_event *log = NULL;
  if (capacity) {
    if (capacity > (1u << 24))
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                     "an event log of %zu events is too large (16M at most)",
                     capacity);
    log = calloc(capacity, sizeof *log);
    if (!log) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  free(sys->evlog);
  sys->evlog = log;
  sys->evcap = capacity;
  sys->evnext = sys->evcount = 0;
  rewatch(sys);
  return MM_STATUS_SUCCESS;
}

size_t mm_events(const mm_system *sys, mm_event *out, size_t max) {
  if (!out) return sys->evcount;
  size_t n = sys->evcount < max ? sys->evcount : max;
  size_t first = (sys->evnext + sys->evcap - sys->evcount) % (sys->evcap ? sys->evcap : 1);
  /* the newest n of them, oldest first */
  size_t skip = sys->evcount - n;
  for (size_t k = 0; k < n; k++)
    out[k] = sys->evlog[(first + skip + k) % sys->evcap];
  return n;
}
