/*
** fault.c — one memory reference, and the faults it can raise.
**
** The hot path (access_one): (TLB) → leaf → hardware bits allow the
** access? → set accessed/dirty → done. No allocation, no hashing, one
** predictable branch for a policy that wants every hit. Anything else is a
** fault, resolved in fault() to exactly one outcome (A.8):
**
**   no PTE / not committed       access violation (or, in a replay, commit)
**   guard bit                    guard: the bit is cleared, nothing else
**   protection forbids           access violation
**   demand-zero                  a zeroed frame (zeroed, free, standby)
**   transition                   soft: the frame comes back off its list
**   page file                    hard: a frame is filled from the slot
*/
#include <stdlib.h>

#include "internal.h"
#include "policy.h"
#include "tlb.h"

static const mm_pte need_bits[3] = { PTE_V | PTE_HW_R, PTE_V | PTE_HW_W,
                                     PTE_V | PTE_HW_X };
static const mm_pte set_bits[3] = { PTE_A, PTE_A | PTE_D, PTE_A };

const char *mm_outcome_name(int o) {
  static const char *const names[MM_OUTCOME_COUNT] = {
    "hit", "demand_zero", "soft", "hard", "cow", "guard", "access_violation"
  };
  return (o >= 0 && o < MM_OUTCOME_COUNT) ? names[o] : "error";
}

static int violation(mm_process *p) {
  p->st.access_violations++;
  return MM_ACCESS_VIOLATION;
}

/* A frame for the faulting process, making one available if none is. */
uint32_t frame_get(mm_system *sys, mm_process *p, bool zeroed) {
  for (;;) {
    uint32_t f = pfn_take(sys, zeroed);
    if (f != MM_NIL) return f;
    if (make_available(sys, p) != 0) return MM_NIL;
  }
}

/* Makes the PTE valid for frame f and puts the page in the working set. */
static void map_private(mm_system *sys, mm_process *p, mm_leaf *leaf,
                        uint64_t vpn, uint32_t f, unsigned kind) {
  uint32_t i = pt_index(sys, vpn);
  mm_pte v = leaf->pte[i];
  mm_pfn *e = &sys->pfn[f];
  e->owner = p->pid;
  e->vpn = vpn;
  e->share = 1;
  leaf->pte[i] = (v & (PTE_C | PTE_PROT_MASK)) | PTE_V |
                 pte_hw_bits(pte_prot(v)) | set_bits[kind] |
                 ((mm_pte)f << PTE_PAYLOAD_SHIFT);
  ws_insert(sys, p, leaf, vpn);
  p->st.private_pages++;
}

/* A replay touched a page nobody allocated: commit it as private
** read-write memory (DESIGN §4). A free address gets a reservation: the
** largest aligned block (64 MiB, 1 MiB, 64 KiB) around it that is free,
** so a trace needs few VADs; then the one page is committed. */
static int replay_commit(mm_system *sys, mm_process *p, uint64_t vpn) {
  static const uint64_t blocks[] = { 64ull << 20, 1ull << 20, MM_GRANULE };
  uint64_t addr = vpn << sys->page_shift;
  if (vpn < sys->user_lo_vpn || vpn > sys->user_hi_vpn) return 1;
  int vi = vad_find(p, vpn);
  if (vi < 0) {
    bool ok = false;
    for (size_t k = 0; k < sizeof blocks / sizeof *blocks && !ok; k++) {
      uint64_t b = addr & ~(blocks[k] - 1), n = blocks[k];
      if (b < sys->arch->user_lo || b + n - 1 > sys->arch->user_hi) continue;
      ok = mm_allocate(sys, p->pid, &b, &n, MM_MEM_RESERVE,
                       MM_PAGE_READWRITE) == MM_STATUS_SUCCESS;
    }
    if (!ok) return 1;
    vi = vad_find(p, vpn);
    if (vi < 0) return 1;
  }
  if (p->vads[vi].type != VAD_PRIVATE || (p->vads[vi].flags & VAD_F_SYSTEM))
    return 1;
  uint64_t base = addr, size = 1;
  mm_status st = mm_allocate(sys, p->pid, &base, &size, MM_MEM_COMMIT,
                             MM_PAGE_READWRITE);
  if (st == MM_STATUS_SUCCESS) return 0;
  return -1;                        /* commit limit: the run cannot go on */
}

/* leaf: pt_leaf() of vpn (NULL: no table there yet). */
static int fault(mm_system *sys, mm_process *p, uint64_t vpn, unsigned kind,
                 mm_leaf *leaf) {
  uint32_t i = pt_index(sys, vpn);
  if (!leaf || !pte_committed(leaf->pte[i])) {
    if (!p->replay_commit) return violation(p);
    int r = replay_commit(sys, p, vpn);
    if (r < 0) return MM_ERROR;
    if (r > 0) return violation(p);
    leaf = pt_leaf(p, sys, vpn);

  }
  mm_pte *pte = &leaf->pte[i];
  mm_pte v = *pte;
  uint32_t prot = pte_prot(v);
  /* Most faults of a replay: committed private read-write memory, not
  ** valid, read or written. Nothing below can refuse it, so it goes
  ** straight to finding the page. */
  if ((v & (PTE_V | PTE_PROTOMAP)) == 0 && pte_kind(v) != PTE_KIND_PROTO &&
      prot == MM_PAGE_READWRITE && kind != MM_EXECUTE)
    goto resolve;
  /* A.8: an uncommitted page of a SEC_RESERVE view is reserved memory,
  ** whatever protection (guard included) the view gives it. */
  if (!pte_valid(v) && pte_kind(v) == PTE_KIND_PROTO &&
      !pte_committed(*proto_pte(sys, pte_payload(v), NULL)))
    return violation(p);

  /* A.5.1: the first touch of a guard page raises the guard exception and
  ** clears the guard bit; the access itself does not complete. */
  if (prot & MM_PAGE_GUARD) {
    page_protect(sys, p, vpn, prot & ~MM_PAGE_GUARD);
    p->st.guard++;
    return MM_GUARD;
  }
  bool allowed = kind == MM_READ    ? prot_can_read(prot)
                 : kind == MM_WRITE ? prot_can_write(prot)
                                    : prot_can_exec(prot);
  if (!allowed) return violation(p);
  if ((v & PTE_PROTOMAP) ||
      (!pte_valid(v) && pte_kind(v) == PTE_KIND_PROTO))
    return view_fault(sys, p, leaf, i, kind);
  /* A page already the process's own (a copy made earlier) whose
  ** protection was set back to write-copy: a write makes it read-write
  ** again (A.4.6) without another copy. */
  if (kind == MM_WRITE && prot_is_writecopy(prot)) {
    prot = prot_after_cow(prot);
    page_protect(sys, p, vpn, prot);
    v = *pte;
    if (pte_valid(v)) {
      *pte = v | PTE_A | PTE_D;
      p->st.cow++;
      return MM_COW;
    }
  }
  if (pte_valid(v)) {
    /* Allowed by protection but not by the hardware bits: only a write to
    ** a write-copy page gets here; private memory has none (A.4.3). */
    return violation(p);
  }

resolve:
  if (ws_make_room(sys, p) != 0) return MM_ERROR;
  switch (pte_kind(v)) {
    case PTE_KIND_DZ: {                 /* A.7.3 */
      uint32_t f = frame_get(sys, p, true);
      if (f == MM_NIL) return MM_ERROR;
      sys->pfn[f].flags = PFN_F_MODIFIED;   /* no backing copy yet */
      sys->pfn[f].slot = MM_NIL;
      if (sys->mem) memset(frame_bytes(sys, f), 0, sys->page_size);
      map_private(sys, p, leaf, vpn, f, kind);
      p->st.demand_zero++;
      return MM_DEMAND_ZERO;
    }
    case PTE_KIND_TRANS: {              /* soft: A.8 transition */
      uint32_t f = (uint32_t)pte_payload(v);
      pfn_unlink(sys, f);
      map_private(sys, p, leaf, vpn, f, kind);
      p->st.soft++;
      return MM_SOFT;
    }
    case PTE_KIND_PAGEFILE: {           /* hard: A.8 page-file read */
      uint32_t slot = (uint32_t)pte_payload(v);
      uint32_t f = frame_get(sys, p, false);
      if (f == MM_NIL) return MM_ERROR;
      /* frame_get may have trimmed and repurposed, never this page: it is
      ** not resident. Its PTE still names the slot. */
      assert(pte_kind(*pte) == PTE_KIND_PAGEFILE && pte_payload(*pte) == slot);
      sys->pfn[f].flags = 0;            /* clean: the slot holds a copy */
      sys->pfn[f].slot = slot;
      if (sys->mem) contents_slot_in(sys, slot, f);
      map_private(sys, p, leaf, vpn, f, kind);
      sys->st.pagefile_reads++;
      p->st.pagefile_reads++;
      p->st.hard++;
      return MM_HARD;
    }
    default:
      return violation(p);
  }
}

/* What follows an access (r: its outcome): the clock's events (manager,
** sampler) and a callback's failure. The access has completed; what runs
** after it may fail: a callback's failure stops the run, running out of
** host memory there only postpones the manager to its next second. */
static int access_end(mm_system *sys, int r) {
  if (sys->now >= sys->next_event && clock_events(sys) != 0 &&
      sys->last_status != MM_STATUS_NO_MEMORY)
    return MM_ERROR;
  if (sys->hook_failed) return MM_ERROR;
  return r;
}

/* A hit: the accessed (and dirty) bit, and the policy if it sees hits.
** Locked pages (large pages, non-paged pool) are in no working set: their
** slot is MM_NIL. */
static inline void hit(mm_system *sys, mm_process *p, mm_leaf *leaf,
                       uint32_t i, mm_pte v, unsigned kind) {
  leaf->pte[i] = v | set_bits[kind];
  p->st.hits++;
  if (sys->pol_ops->needs_hits) {
    uint32_t slot = *pte_wsslot(sys, leaf, i, v);
    if (slot != MM_NIL) sys->pol_ops->hit(sys, p, p->ws.pol, slot);
  }
}

/* An access the fast path did not finish: with a TLB, or a fault. */
static __attribute__((noinline)) int access_slow(mm_system *sys,
                                                 mm_process *p, uint64_t vpn,
                                                 unsigned kind, mm_leaf *leaf) {
  int r;
  if (sys->tlb) {
    /* A large page is one entry of the large-page TLB: its reach. */
    bool large = leaf && (leaf->pte[pt_index(sys, vpn)] & PTE_LARGE);
    if (tlb_access(sys->tlb, p->pid, large ? vpn >> sys->large_shift : vpn, large))
      p->st.tlb_misses++;
    if (leaf) {
      uint32_t i = pt_index(sys, vpn);
      mm_pte v = leaf->pte[i];
      if ((v & need_bits[kind]) == need_bits[kind]) {
        hit(sys, p, leaf, i, v, kind);
        return access_end(sys, MM_HIT);
      }
    }
  }
  r = fault(sys, p, vpn, kind, leaf);
  if (sys->watched && r >= 0) {
    mm_event ev = { sys->now, vpn << sys->page_shift, p->pid, MM_EV_FAULT,
                    (uint8_t)r, (uint8_t)kind, 0, 0 };
    event_emit(sys, &ev);
    if (sys->hook_failed) return MM_ERROR;
  }
  return access_end(sys, r);
}

/* One reference. leaf: pt_leaf() of the address's page, found by the
** caller (run_refs looks a few references ahead). The hit path is all
** here, inline in the loops that call it; the rest is access_slow. */
static inline int access_one(mm_system *sys, mm_process *p, uint64_t addr,
                             unsigned kind, mm_leaf *leaf) {
  uint64_t vpn = addr >> sys->page_shift;
  sys->now++;
  p->st.refs++;
  if (leaf && !sys->tlb) {
    uint32_t i = pt_index(sys, vpn);
    mm_pte v = leaf->pte[i];
    if ((v & need_bits[kind]) == need_bits[kind]) {
      hit(sys, p, leaf, i, v, kind);
      if (sys->now < sys->next_event && !sys->hook_failed) return MM_HIT;
      return access_end(sys, MM_HIT);
    }
  }
  return access_slow(sys, p, vpn, kind, leaf);
}

int access_internal(mm_system *sys, mm_process *p, uint64_t addr,
                    unsigned kind) {
  return access_one(sys, p, addr, kind, pt_leaf(p, sys, addr >> sys->page_shift));
}

int mm_access(mm_system *sys, mm_pid pid, uint64_t addr, unsigned kind) {
  if (kind > MM_EXECUTE) {
    mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "access kind %u is not read, "
            "write or execute", kind);
    return MM_ERROR;
  }
  mm_process *p = proc_get(sys, pid);
  if (!p) return MM_ERROR;
  sys->hook_failed = false;
  if (sys->pol_ops->needs_future) {
    mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
            "policy %s needs to know the future, which a single access "
            "cannot tell: replay a trace or workload with mm_run instead",
            sys->pol_ops->name);
    return MM_ERROR;
  }
  sys->nested++;
  int r = access_one(sys, p, addr, kind, pt_leaf(p, sys, addr >> sys->page_shift));
  sys->nested--;
  MM_CHECK(sys);
  return r;
}

/* References looked ahead. A replay over a large address space misses on
** most PTEs it has not touched lately, so run_refs is a pipeline: the
** leaf of the reference RUN_AHEAD places on is found and its PTE fetched,
** so that the misses of several references overlap instead of each
** stalling its own. (Fetching the PFN entry of a hit page as well, for
** the policies that see hits, measured slower: docs/policies.md.) */
#define RUN_AHEAD 32
#define RUN_BATCH 1024

/* Finds the leaf of r into *slot and fetches its PTE. */
static inline void run_look(mm_system *sys, mm_process *p, const mm_ref *r,
                            mm_leaf **slot) {
  uint64_t vpn = r->addr >> sys->page_shift;
  mm_leaf *l = pt_leaf(p, sys, vpn);
  *slot = l;
  if (l) __builtin_prefetch(&l->pte[pt_index(sys, vpn)], 1);
}

/* Runs up to want references of src in p (all in C): the loop of mm_run
** and mm_run_many. *ended: the source has no more. */
static mm_status run_refs(mm_system *sys, mm_process *p, mm_source *src,
                          uint64_t want, const uint32_t *next, size_t nnext,
                          mm_run_result *res, bool *ended) {
  mm_ref buf[RUN_BATCH];
  mm_leaf *ahead[RUN_AHEAD];         /* leaf of buf[k] at ahead[k % RUN_AHEAD] */
  *ended = false;
  while (want) {
    size_t n = mm_source_next(src, buf, want < RUN_BATCH ? (size_t)want : RUN_BATCH);
    if (n == 0) {
      *ended = true;
      const char *e = mm_source_error(src);
      return e ? mm_fail(sys, MM_STATUS_PAGELAB_BAD_SOURCE, "%s", e)
               : MM_STATUS_SUCCESS;
    }
    /* A leaf found ahead stays good unless a table of p is freed before
    ** its reference runs (a callback may free memory): the epoch. */
    uint64_t epoch = p->pt_epoch;
    for (size_t a = 0; a < n && a < RUN_AHEAD; a++)
      run_look(sys, p, &buf[a], &ahead[a]);
    for (size_t k = 0; k < n; k++) {
      mm_leaf *leaf = ahead[k % RUN_AHEAD];
      if (p->pt_epoch != epoch) {     /* start the pipeline again */
        epoch = p->pt_epoch;
        for (size_t a = k; a < n && a < k + RUN_AHEAD; a++)
          run_look(sys, p, &buf[a], &ahead[a % RUN_AHEAD]);
        leaf = ahead[k % RUN_AHEAD];
      }
      if (!leaf) leaf = pt_leaf(p, sys, buf[k].addr >> sys->page_shift);
      if (k + RUN_AHEAD < n)
        run_look(sys, p, &buf[k + RUN_AHEAD], &ahead[k % RUN_AHEAD]);
      unsigned kind = buf[k].kind <= MM_EXECUTE ? buf[k].kind : MM_READ;
      if (next) {
        uint64_t at = res->refs + k;
        sys->cur_next_use = at < nnext && next[at] != UINT32_MAX
                                ? next[at] : UINT64_MAX;
      }
      int r = access_one(sys, p, buf[k].addr, kind, leaf);
      if (r < 0) {
        res->refs += k;
        return sys->last_status ? sys->last_status : MM_STATUS_NO_MEMORY;
      }
      res->outcome[r]++;
    }
    res->refs += n;
    want -= n;
  }
  return MM_STATUS_SUCCESS;
}

mm_status mm_run(mm_system *sys, mm_pid pid, mm_source *src,
                 const mm_run_opts *opt, mm_run_result *res) {
  static const mm_run_opts defaults = { 0, true, false };
  if (!opt) opt = &defaults;
  memset(res, 0, sizeof *res);
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  if (!src)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "no reference source");
  /* OPT needs each reference's next use: a pre-pass over the source,
  ** which then rewinds (a generator needs max_refs to bound it). */
  uint32_t *next = NULL;
  size_t nnext = 0;
  if (sys->pol_ops->needs_future) {
    char err[200];
    if (mm_source_next_use(src, sys->page_shift, opt->max_refs, &next, &nnext,
                           err, sizeof err) != 0)
      return mm_fail(sys, MM_STATUS_PAGELAB_BAD_SOURCE,
                     "policy %s needs the future of the references: %s",
                     sys->pol_ops->name, err);
  }
  bool ended;
  sys->hook_failed = false;
  p->replay_commit = opt->commit_touched && !opt->strict;
  sys->nested++;
  mm_status st = run_refs(sys, p, src, opt->max_refs ? opt->max_refs : UINT64_MAX,
                          next, nnext, res, &ended);
  free(next);
  sys->cur_next_use = 0;
  p->replay_commit = false;
  sys->nested--;
  MM_CHECK(sys);
  return st;
}

mm_status mm_run_many(mm_system *sys, mm_run_item *items, size_t n,
                      uint64_t quantum, const mm_run_opts *opt) {
  static const mm_run_opts defaults = { 0, true, false };
  if (!opt) opt = &defaults;
  if (quantum == 0)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "quantum must be at least 1");
  if (sys->pol_ops->needs_future)
    return mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
                   "policy %s needs the future of one reference stream; "
                   "several processes interleave theirs", sys->pol_ops->name);
  for (size_t k = 0; k < n; k++) {
    memset(&items[k].res, 0, sizeof items[k].res);
    if (!items[k].src)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "item %zu has no source",
                     k + 1);
    if (!proc_get(sys, items[k].pid)) return sys->last_status;
  }
  mm_status st = MM_STATUS_SUCCESS;
  bool *done = calloc(n ? n : 1, sizeof *done);
  if (!done) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  bool commit = opt->commit_touched && !opt->strict;
  sys->hook_failed = false;
  sys->nested++;
  /* Round robin: each process runs quantum references, then the next;
  ** one process's faults and trims change what the others meet. */
  for (size_t live = n; live && !st;) {
    live = 0;
    for (size_t k = 0; k < n && !st; k++) {
      if (done[k]) continue;
      mm_run_item *it = &items[k];
      mm_process *p = proc_get(sys, it->pid);
      if (!p) { st = sys->last_status; break; }
      uint64_t want = quantum;
      uint64_t max = it->max_refs ? it->max_refs : (opt->max_refs ? opt->max_refs : 0);
      if (max && max - it->res.refs < want) want = max - it->res.refs;
      bool ended = false;
      p->replay_commit = commit;
      st = run_refs(sys, p, it->src, want, NULL, 0, &it->res, &ended);
      p->replay_commit = false;
      if (ended || (max && it->res.refs >= max)) done[k] = true;
      else live++;
    }
  }
  sys->nested--;
  free(done);
  MM_CHECK(sys);
  return st;
}
