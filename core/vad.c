/*
** vad.c — the address space of a process: its VADs (virtual address
** descriptors) and the four NT services that change or read it:
** NtAllocateVirtualMemory, NtFreeVirtualMemory, NtProtectVirtualMemory and
** NtQueryVirtualMemory (WINDOWS.md A.1-A.4, A.6, A.14).
**
** Units. A VAD covers pages [start, end) in vpn. "Page" is always
** sys->page_size (512 B to 64 KiB): every rounding WINDOWS.md states as
** "to 4K" is to that page here. The allocation granularity stays 64 KiB
** (MM_GRANULE); with a 64 KiB page the two coincide.
**
** Invariants (vad_check walks them):
**  1. p->vads[0..nvads) is sorted by start, every VAD has start < end,
**     lies inside [user_lo_vpn, user_hi_vpn], and no two overlap.
**  2. A VAD owns every 64 KiB granule it touches, [down64K(start),
**     up64K(end)): the unused tail of a granule is dead (A.1.6), so no
**     other reservation may start there, yet a query reports it free. A
**     new reservation starts on a granule; the pieces a partial release
**     leaves (A.1.5) may start anywhere and may share a granule.
**  3. A page outside every VAD has an all-zero PTE: free memory holds
**     nothing.
**  4. Each committed page of a private VAD is charged once (A.6.2: no
**     ReactOS double charge on re-commit).
**
** Life of a page and the call that performs each edge:
**
**     free --allocate(RESERVE)--> reserved --allocate(COMMIT)--> committed
**       ^                           |   ^                            |
**       +-------free(RELEASE)-------+   +------free(DECOMMIT)--------+
**       +---------------------------free(RELEASE)--------------------+
**     committed --protect / allocate(COMMIT) again--> committed
**
** Failure contract of every public call here: validate everything,
** compute everything, allocate what the change needs (VAD slots, page
** tables), charge commit, and only then change state. A failing call
** changes nothing visible (mm.h); its status and sentence are recorded by
** mm_fail.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define VAD_MIN_CAP 8u              /* first allocation of the VAD array */

/* Every AllocationType bit NtAllocateVirtualMemory knows (A.2.6). */
#define ALLOC_TYPES_KNOWN                                              \
  (MM_MEM_COMMIT | MM_MEM_RESERVE | MM_MEM_RESET | MM_MEM_PHYSICAL |   \
   MM_MEM_TOP_DOWN | MM_MEM_WRITE_WATCH | MM_MEM_LARGE_PAGES)
/* What may accompany MEM_PHYSICAL (A.2.6). */
#define ALLOC_TYPES_PHYSICAL (MM_MEM_RESERVE | MM_MEM_TOP_DOWN | MM_MEM_PHYSICAL)
/* The cache attributes that stick to a committed page (A.4.4). */
#define PROT_CACHE (MM_PAGE_NOCACHE | MM_PAGE_WRITECOMBINE)
#define PROT_BASE 0xFFu

#define U(x) ((unsigned long long)(x))

/* ------------------------------------------------------------ arithmetic */

/* x rounded down / up to a multiple of a (a power of two). Addresses stay
** below 2^48, so rounding up cannot wrap. Never fail. */
static inline uint64_t align_down(uint64_t x, uint64_t a) {
  return x & ~(a - 1);
}
static inline uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) & ~(a - 1);
}
/* Pages in a 64 KiB granule (1 with 64 KiB pages). Never fails. */
static inline uint64_t gran_pages(const mm_system *sys) {
  return (uint64_t)MM_GRANULE >> sys->page_shift;
}
/* The address of page vpn. Never fails. */
static inline uint64_t va_of(const mm_system *sys, uint64_t vpn) {
  return vpn << sys->page_shift;
}

/* ------------------------------------------------------------ VAD array */

/* First index whose VAD ends after vpn (ends are sorted like starts, as
** VADs do not overlap). Never fails. */
static uint32_t vad_after(const mm_process *p, uint64_t vpn) {
  uint32_t lo = 0, hi = p->nvads;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (p->vads[mid].end <= vpn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Index of the VAD containing vpn, or -1. Never fails. */
int vad_find(const mm_process *p, uint64_t vpn) {
  uint32_t i = vad_after(p, vpn);
  return (i < p->nvads && p->vads[i].start <= vpn) ? (int)i : -1;
}

/* Makes room for n more VADs. On host OOM returns STATUS_NO_MEMORY and
** nothing is changed. */
static mm_status vad_room(mm_system *sys, mm_process *p, uint32_t n) {
  if (p->nvads + n <= p->capvads) return MM_STATUS_SUCCESS;
  uint32_t cap = p->capvads ? p->capvads : VAD_MIN_CAP;
  while (cap < p->nvads + n) cap *= 2;
  mm_vad *nv = realloc(p->vads, (size_t)cap * sizeof *nv);
  if (!nv)
    return mm_fail(sys, MM_STATUS_NO_MEMORY,
                   "out of host memory growing process %u's VAD array to %u",
                   p->pid, cap);
  p->vads = nv;
  p->capvads = cap;
  return MM_STATUS_SUCCESS;
}

/* Inserts v at its sorted place; the caller made room and checked that
** it overlaps nothing. Never fails. */
static void vad_put(mm_process *p, const mm_vad *v) {
  assert(p->nvads < p->capvads);
  uint32_t i = vad_after(p, v->start);
  assert(i == p->nvads || p->vads[i].start >= v->end);
  memmove(&p->vads[i + 1], &p->vads[i], (p->nvads - i) * sizeof *p->vads);
  p->vads[i] = *v;
  p->nvads++;
}

/* Inserts v (which must overlap no VAD). On host OOM returns
** STATUS_NO_MEMORY and nothing is changed. */
mm_status vad_insert(mm_system *sys, mm_process *p, const mm_vad *v) {
  mm_status st = vad_room(sys, p, 1);
  if (st) return st;
  vad_put(p, v);
  return MM_STATUS_SUCCESS;
}

/* Removes VAD i; its pages must already be free. Never fails. */
void vad_remove(mm_process *p, int i) {
  assert(i >= 0 && (uint32_t)i < p->nvads);
  memmove(&p->vads[i], &p->vads[i + 1],
          (p->nvads - (uint32_t)i - 1) * sizeof *p->vads);
  p->nvads--;
}

/* True when no VAD owns a granule of [lo, hi), both multiples of the
** granule. Because lo and hi are granule-aligned, "owns a granule of" is
** the same as "has a page in" (invariant 2). Never fails. */
static bool granules_free(const mm_process *p, uint64_t lo, uint64_t hi) {
  uint32_t i = vad_after(p, lo);
  return i == p->nvads || p->vads[i].start >= hi;
}

/* The lowest (or, top_down, highest) vpn, a multiple of align pages
** (itself a multiple of the granule), where npages fit without touching
** a granule any VAD owns (A.2.2, A.2.9). False when no such place exists.
** Never changes anything. */
static bool find_gap(const mm_system *sys, const mm_process *p,
                     uint64_t npages, uint64_t align, bool top_down,
                     uint64_t *out) {
  uint64_t gp = gran_pages(sys);
  uint64_t lo = align_up(sys->user_lo_vpn, align);
  uint64_t end = sys->user_hi_vpn + 1;      /* a granule boundary */
  if (npages == 0 || lo >= end || npages > end - lo) return false;
  if (!top_down) {
    uint64_t cand = lo;
    for (uint32_t i = 0; i < p->nvads; i++) {
      uint64_t vs = align_down(p->vads[i].start, gp);
      uint64_t ve = align_up(p->vads[i].end, gp);
      if (ve <= cand) continue;
      if (vs >= cand && vs - cand >= npages) break;
      cand = align_up(ve, align);
      if (cand >= end) return false;
    }
    if (npages > end - cand) return false;
    *out = cand;
    return true;
  }
  uint64_t limit = end;
  for (uint32_t i = p->nvads; i-- > 0;) {
    uint64_t vs = align_down(p->vads[i].start, gp);
    uint64_t ve = align_up(p->vads[i].end, gp);
    if (vs >= limit) continue;              /* wholly above the window */
    if (limit < npages || align_down(limit - npages, align) < lo)
      return false;
    uint64_t cand = align_down(limit - npages, align);
    if (cand >= ve) {
      *out = cand;
      return true;
    }
    limit = vs;
  }
  if (limit < npages || align_down(limit - npages, align) < lo) return false;
  *out = align_down(limit - npages, align);
  return true;
}

/* Chooses or checks the place of a new region of npages: *start = 0 asks
** for the lowest (top_down: highest) fitting place aligned to align pages
** (a multiple of the granule); otherwise *start (granule-aligned) is
** checked. STATUS_NO_MEMORY when nothing fits, CONFLICTING_ADDRESSES when
** the given place is taken; on failure nothing is changed. */
mm_status vad_place(mm_system *sys, mm_process *p, uint64_t *start,
                    uint64_t npages, uint64_t align, bool top_down) {
  uint64_t gp = gran_pages(sys);
  if (*start == 0) {
    if (!find_gap(sys, p, npages, align < gp ? gp : align, top_down, start))
      return mm_fail(sys, MM_STATUS_NO_MEMORY,
                     "no free range of %#llx bytes left in the user "
                     "address space of process %u",
                     U(va_of(sys, npages)), p->pid);
    return MM_STATUS_SUCCESS;
  }
  uint64_t lo = align_down(*start, gp), hi = align_up(*start + npages, gp);
  if (!granules_free(p, lo, hi))
    return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                   "%#llx-%#llx overlaps an allocation (a VAD owns the "
                   "whole 64 KiB granules it touches, A.1.6)",
                   U(va_of(sys, *start)), U(va_of(sys, *start + npages) - 1));
  return MM_STATUS_SUCCESS;
}

/* --------------------------------------------------- page-table walking */


/* Committed pages in [lo, hi). Never fails. */
static uint64_t count_committed(const mm_system *sys, mm_process *p,
                                uint64_t lo, uint64_t hi) {
  uint64_t n = 0, span = pt_leaf_entries(sys);
  for (mm_leaf *lf = pt_next_leaf(p, sys, lo, hi); lf;) {
    uint64_t a = lf->base_vpn > lo ? lf->base_vpn : lo;
    uint64_t b = lf->base_vpn + span < hi ? lf->base_vpn + span : hi;
    for (uint64_t v = a; v < b; v++)
      if (lf->pte[v - lf->base_vpn] && page_state(p, sys, v, NULL)) n++;
    lf = pt_next_leaf(p, sys, b, hi);
  }
  return n;
}

/* Decommits every page of [lo, hi) (page_decommit); returns how many were
** committed, for the caller to return their commit. Tables stay (the
** caller prunes). Never fails. */
static uint64_t decommit_range(mm_system *sys, mm_process *p, uint64_t lo,
                               uint64_t hi) {
  uint64_t n = 0, span = pt_leaf_entries(sys);
  for (mm_leaf *lf = pt_next_leaf(p, sys, lo, hi); lf;) {
    uint64_t a = lf->base_vpn > lo ? lf->base_vpn : lo;
    uint64_t b = lf->base_vpn + span < hi ? lf->base_vpn + span : hi;
    for (uint64_t v = a; v < b; v++)
      if (lf->pte[v - lf->base_vpn]) n += (uint64_t)page_decommit(sys, p, v);
    lf = pt_next_leaf(p, sys, b, hi);
  }
  return n;
}

/* Makes sure every leaf table of [lo, hi) exists. On host OOM frees what
** it allocated and returns STATUS_NO_MEMORY: nothing is changed. */
static mm_status ensure_tables(mm_system *sys, mm_process *p, uint64_t lo,
                               uint64_t hi) {
  uint64_t span = pt_leaf_entries(sys);
  for (uint64_t v = lo; v < hi; v = align_down(v, span) + span) {
    if (!pt_ensure(sys, p, v)) {
      pt_prune(sys, p, lo, hi);
      return mm_fail(sys, MM_STATUS_NO_MEMORY,
                     "out of host memory for the page tables of "
                     "%#llx-%#llx", U(va_of(sys, lo)), U(va_of(sys, hi) - 1));
    }
  }
  return MM_STATUS_SUCCESS;
}

/* Commits [lo, hi) with prot inside one private VAD: charges the pages
** not yet committed (A.6.2), builds the tables, then commits; pages
** already committed take the new protection (A.2.5). On failure
** (COMMITMENT_LIMIT, NO_MEMORY) nothing is changed. */
static mm_status commit_range(mm_system *sys, mm_process *p, uint64_t lo,
                              uint64_t hi, uint32_t prot) {
  uint64_t n = (hi - lo) - count_committed(sys, p, lo, hi);
  mm_status st = commit_charge(sys, p, n);
  if (st) return st;
  st = ensure_tables(sys, p, lo, hi);
  if (st) {
    commit_unwind(sys, p, n);
    return st;
  }
  for (uint64_t v = lo; v < hi; v++) page_commit(sys, p, v, prot);
  return MM_STATUS_SUCCESS;
}

/* ----------------------------------------------------------- processes */

/* The region Windows keeps at 0x10000 in every process (A.1.2): one
** granule, reserved, mapped, read-only, so that reserving exactly there
** conflicts. On host OOM returns STATUS_NO_MEMORY; nothing is changed. */
mm_status vad_init(mm_system *sys, mm_process *p) {
  uint64_t lo = align_up(sys->user_lo_vpn, gran_pages(sys));
  mm_vad v = { lo, lo + gran_pages(sys), MM_PAGE_READONLY, VAD_MAPPED,
               VAD_F_SYSTEM, 0, NULL };
  return vad_insert(sys, p, &v);
}

/* Process exit: every page of every VAD is decommitted as by MEM_RELEASE,
** private commit goes back, and the VAD array is freed. Tables are left
** for pt_destroy. Views: their pages are decommitted through the same
** verb, but their commit belongs to the section, not the process, so none
** is returned here. Never fails. */
void vad_destroy_all(mm_system *sys, mm_process *p) {
  for (uint32_t i = 0; i < p->nvads; i++) {
    mm_vad *v = &p->vads[i];
    uint64_t n = decommit_range(sys, p, v->start, v->end);
    if (v->type == VAD_PRIVATE) commit_return(sys, p, n);
  }
  free(p->vads);
  p->vads = NULL;
  p->nvads = p->capvads = 0;
}

/* ------------------------------------------------------- mm_allocate */

/* A.2.6, rule by rule, in R-mm-virtual's order, plus A.14's "reserve and
** commit in a single call". Returns INVALID_PARAMETER_5 (or _6 for
** MEM_PHYSICAL without READWRITE); changes nothing. */
static mm_status alloc_type_check(mm_system *sys, uint32_t type,
                                  uint32_t prot) {
  if (type & ~ALLOC_TYPES_KNOWN)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                   "allocation type %#x has unknown bits %#x (A.2.6)", type,
                   type & ~ALLOC_TYPES_KNOWN);
  if (!(type & (MM_MEM_COMMIT | MM_MEM_RESERVE | MM_MEM_RESET)))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                   "allocation type %#x has none of MEM_COMMIT, MEM_RESERVE "
                   "or MEM_RESET (A.2.6)", type);
  if ((type & MM_MEM_RESET) && type != MM_MEM_RESET)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                   "MEM_RESET cannot be combined with other flags (type "
                   "%#x, A.2.6)", type);
  if (type & MM_MEM_LARGE_PAGES) {
    if (!(type & MM_MEM_COMMIT))
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                     "MEM_LARGE_PAGES needs MEM_COMMIT (type %#x, A.2.6)",
                     type);
    if (type & (MM_MEM_PHYSICAL | MM_MEM_RESET | MM_MEM_WRITE_WATCH))
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                     "MEM_LARGE_PAGES cannot go with MEM_PHYSICAL, MEM_RESET "
                     "or MEM_WRITE_WATCH (type %#x, A.2.6)", type);
  }
  if ((type & MM_MEM_WRITE_WATCH) && !(type & MM_MEM_RESERVE))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                   "MEM_WRITE_WATCH needs MEM_RESERVE (type %#x, A.2.6)",
                   type);
  if (type & MM_MEM_PHYSICAL) {
    if (!(type & MM_MEM_RESERVE))
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                     "MEM_PHYSICAL needs MEM_RESERVE (type %#x, A.2.6)", type);
    if (type & ~ALLOC_TYPES_PHYSICAL)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                     "MEM_PHYSICAL allows only MEM_RESERVE|MEM_TOP_DOWN "
                     "beside it (type %#x, A.2.6)", type);
    if (prot != MM_PAGE_READWRITE)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_6,
                     "MEM_PHYSICAL needs PAGE_READWRITE, not %#x (A.2.6)",
                     prot);
  }
  /* A.14: a range already reserved cannot be committed with large pages,
  ** so the flag only makes sense with both halves in this one call. */
  if ((type & MM_MEM_LARGE_PAGES) && !(type & MM_MEM_RESERVE))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_5,
                   "MEM_LARGE_PAGES needs MEM_RESERVE|MEM_COMMIT in a single "
                   "call (type %#x, A.14)", type);
  return MM_STATUS_SUCCESS;
}

/* A.4.3: private memory takes no write-copy protection. Returns
** INVALID_PAGE_PROTECTION; changes nothing. */
static mm_status private_prot_check(mm_system *sys, uint32_t prot) {
  if (prot_is_writecopy(prot))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "protection %#x: write-copy is not allowed for private "
                   "memory (A.4.3)", prot);
  return MM_STATUS_SUCCESS;
}

/* MEM_RESERVE (maybe with MEM_COMMIT), or MEM_COMMIT with no address,
** which reserves and commits like R-mm-virtual's "blind commit". Explicit
** base: rounded down to 64 KiB, end rounded up to a page (A.2.1, A.2.4).
** No base: size rounded up to a page, lowest or highest fitting granule
** (A.2.2, A.2.9). On failure nothing is changed. */
static mm_status alloc_reserve(mm_system *sys, mm_process *p, uint64_t *base,
                               uint64_t *size, uint32_t type, uint32_t prot) {
  mm_status st = private_prot_check(sys, prot);
  if (st) return st;
  uint64_t b = *base, s = *size, lo, hi;
  if (b) {
    lo = align_down(b, MM_GRANULE) >> sys->page_shift;
    hi = align_up(b + s, sys->page_size) >> sys->page_shift;
  } else {
    lo = 0;
    hi = align_up(s, sys->page_size) >> sys->page_shift;
  }
  st = vad_place(sys, p, &lo, hi - lo, gran_pages(sys),
                 (type & MM_MEM_TOP_DOWN) != 0);
  if (st) return st;
  if (!b) hi += lo;
  st = vad_room(sys, p, 1);
  if (st) return st;
  bool commit = (type & MM_MEM_COMMIT) != 0;
  if (commit) {
    st = commit_charge(sys, p, hi - lo);
    if (st) return st;
    st = ensure_tables(sys, p, lo, hi);
    if (st) {
      commit_unwind(sys, p, hi - lo);
      return st;
    }
  }
  mm_vad v = { lo, hi, prot, VAD_PRIVATE, 0, 0, NULL };
  vad_put(p, &v);
  if (commit)
    for (uint64_t x = lo; x < hi; x++) page_commit(sys, p, x, prot);
  *base = va_of(sys, lo);
  *size = va_of(sys, hi - lo);
  return MM_STATUS_SUCCESS;
}

/* The VAD holding all of [lo, hi), or a CONFLICTING_ADDRESSES failure
** naming what: nothing reserved at lo, or the range runs out of the
** reservation (A.2.3: Win32 shows both as ERROR_INVALID_ADDRESS, and
** R-mm-virtual gives this status for each). Changes nothing. */
static mm_status range_vad(mm_system *sys, mm_process *p, uint64_t lo,
                           uint64_t hi, const char *what, int *out) {
  int i = vad_find(p, lo);
  if (i < 0)
    return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                   "%s at %#llx: the address is not inside a reservation",
                   what, U(va_of(sys, lo)));
  if (hi > p->vads[i].end)
    return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                   "%s of %#llx-%#llx runs past the end of the reservation "
                   "%#llx-%#llx", what, U(va_of(sys, lo)),
                   U(va_of(sys, hi) - 1), U(va_of(sys, p->vads[i].start)),
                   U(va_of(sys, p->vads[i].end) - 1));
  *out = i;
  return MM_STATUS_SUCCESS;
}

/* MEM_COMMIT at an address (A.2.3, A.2.5): every page touching [base,
** base+size), all inside one reservation. Committing where nothing is
** reserved is CONFLICTING_ADDRESSES: that is R-mm-virtual's answer, and
** the one status that maps to Win32's ERROR_INVALID_ADDRESS (A.2.3) among
** those the commit path can give. On failure nothing is changed. */
static mm_status alloc_commit(mm_system *sys, mm_process *p, uint64_t *base,
                              uint64_t *size, uint32_t prot) {
  uint64_t lo = *base >> sys->page_shift;
  uint64_t hi = align_up(*base + *size, sys->page_size) >> sys->page_shift;
  int i;
  mm_status st = range_vad(sys, p, lo, hi, "MEM_COMMIT", &i);
  if (st) return st;
  const mm_vad *v = &p->vads[i];
  if (v->flags & VAD_F_LARGE)
    return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                   "cannot commit inside the large-page allocation at %#llx "
                   "(A.14)", U(va_of(sys, v->start)));
  if (v->flags & VAD_F_SYSTEM)
    return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                   "cannot commit inside the region the system keeps at "
                   "%#llx (A.1.2)", U(va_of(sys, v->start)));
  if (v->type != VAD_PRIVATE) {
    st = view_commit(sys, p, i, lo, hi, prot);
    if (st) return st;
    *base = va_of(sys, lo);
    *size = va_of(sys, hi - lo);
    return MM_STATUS_SUCCESS;
  }
  st = private_prot_check(sys, prot);
  if (st) return st;
  st = commit_range(sys, p, lo, hi, prot);
  if (st) return st;
  *base = va_of(sys, lo);
  *size = va_of(sys, hi - lo);
  return MM_STATUS_SUCCESS;
}

/* MEM_RESET (A.2.8): the committed pages' contents are no longer needed
** (page_reset); reserved pages are fine. A range that is not wholly
** inside one reservation fails with CONFLICTING_ADDRESSES (Win32
** ERROR_INVALID_ADDRESS; R-mm-virtual's status for the shared commit
** path). In views it succeeds and does nothing: "later contents are
** undefined", so keeping them is a valid outcome (telling data-file views
** apart, which Windows refuses, needs the section). On failure nothing is
** changed. */
static mm_status alloc_reset(mm_system *sys, mm_process *p, uint64_t *base,
                             uint64_t *size) {
  uint64_t lo = *base >> sys->page_shift;
  uint64_t hi = align_up(*base + *size, sys->page_size) >> sys->page_shift;
  int i;
  mm_status st = range_vad(sys, p, lo, hi, "MEM_RESET", &i);
  if (st) return st;
  const mm_vad *v = &p->vads[i];
  if (v->type == VAD_PRIVATE && !(v->flags & VAD_F_LARGE)) {
    uint64_t span = pt_leaf_entries(sys);
    for (mm_leaf *lf = pt_next_leaf(p, sys, lo, hi); lf;) {
      uint64_t a = lf->base_vpn > lo ? lf->base_vpn : lo;
      uint64_t b = lf->base_vpn + span < hi ? lf->base_vpn + span : hi;
      for (uint64_t x = a; x < b; x++)
        if (lf->pte[x - lf->base_vpn]) page_reset(sys, p, x);
      lf = pt_next_leaf(p, sys, b, hi);
    }
  }
  *base = va_of(sys, lo);
  *size = va_of(sys, hi - lo);
  return MM_STATUS_SUCCESS;
}

/* MEM_LARGE_PAGES (A.2.6, A.14): size a multiple of the large page
** (else _4), base a multiple of it and of 64 KiB (else _2), then the VAD
** is placed and inserted here and large_alloc backs it. If large_alloc
** fails, the VAD is taken out again: nothing is changed. */
static mm_status alloc_large(mm_system *sys, mm_process *p, uint64_t *base,
                             uint64_t *size, uint32_t type, uint32_t prot) {
  uint64_t lps = mm_large_page_size(sys);
  uint64_t align = lps > MM_GRANULE ? lps : MM_GRANULE;
  mm_status st = private_prot_check(sys, prot);
  if (st) return st;
  if (lps == 0 || *size % lps)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_4,
                   "large-page size %#llx is not a multiple of the large "
                   "page (%#llx, A.14)", U(*size), U(lps));
  if (*base % align)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_2,
                   "large-page base %#llx is not a multiple of %#llx (A.14)",
                   U(*base), U(align));
  uint64_t lo = *base >> sys->page_shift;
  uint64_t npages = *size >> sys->page_shift;
  st = vad_place(sys, p, &lo, npages, align >> sys->page_shift,
                 (type & MM_MEM_TOP_DOWN) != 0);
  if (st) return st;
  mm_vad v = { lo, lo + npages, prot, VAD_PRIVATE, VAD_F_LARGE, 0, NULL };
  st = vad_insert(sys, p, &v);
  if (st) return st;
  st = large_alloc(sys, p, va_of(sys, lo), *size, prot);
  if (st) {
    vad_remove(p, vad_find(p, lo));
    return st;
  }
  *base = va_of(sys, lo);
  return MM_STATUS_SUCCESS;
}

/* NtAllocateVirtualMemory. Checks in R-mm-virtual's order: the type
** (_5/_6), the protection (INVALID_PAGE_PROTECTION), the base (_2: above
** the top, or below 0x10000, A.1.2/A.1.3), the size (_4: zero, wrapping
** or past the top); then reserve, commit, reset or large pages. On
** failure nothing is changed and *base and *size keep their values. */
mm_status mm_allocate(mm_system *sys, mm_pid pid, uint64_t *base,
                      uint64_t *size, uint32_t type, uint32_t protect) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  if (!base || !size)
    return mm_fail(sys, MM_STATUS_ACCESS_VIOLATION,
                   "NtAllocateVirtualMemory needs base and size pointers");
  mm_status st = alloc_type_check(sys, type, protect);
  if (st) return st;
  if (!prot_valid(protect))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "%#x is not a valid page protection (A.4.2)", protect);
  uint64_t b = *base, s = *size, top = sys->arch->user_hi;
  if (b > top || (b != 0 && b < sys->arch->user_lo))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_2,
                   "base %#llx is outside the user range %#llx-%#llx "
                   "(A.1.2, A.1.3)", U(b), U(sys->arch->user_lo), U(top));
  if (s == 0)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_4,
                   "region size 0 (A.1.3)");
  if (s - 1 > top - b)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_4,
                   "%#llx bytes from %#llx pass the top of the user range "
                   "%#llx (A.1.3)", U(s), U(b), U(top));
  if (type & MM_MEM_PHYSICAL)
    return mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
                   "MEM_PHYSICAL (AWE) is not simulated");
  if (type & MM_MEM_WRITE_WATCH)
    return mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
                   "MEM_WRITE_WATCH is not simulated");

  if (type & MM_MEM_LARGE_PAGES)
    st = alloc_large(sys, p, base, size, type, protect);
  else if (type == MM_MEM_RESET)
    st = alloc_reset(sys, p, base, size);
  else if (b == 0 || (type & MM_MEM_RESERVE))
    st = alloc_reserve(sys, p, base, size, type, protect);
  else
    st = alloc_commit(sys, p, base, size, protect);
  if (st) return st;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* ----------------------------------------------------------- mm_free */

/* NtFreeVirtualMemory (A.2.10, A.1.5). start = page_down(base), end =
** page_up(base+size); checks in R-mm-virtual's order: the free type
** (_4), base (_2) and size (_3) against the user range, a VAD at start
** (MEMORY_NOT_ALLOCATED), end inside it (UNABLE_TO_FREE_VM), private
** memory (UNABLE_TO_DELETE_SECTION), and for size 0 start at the VAD's
** start (FREE_VM_NOT_AT_BASE) covering the whole VAD. Decommit returns
** the commit of the pages that were committed; release also removes or
** splits the VAD, and each piece becomes its own allocation (A.1.5). The
** size returned for a size-0 decommit is 0, as on Windows after 1709; for
** a size-0 release it is the region's size. A range that cuts a large
** page is UNABLE_TO_FREE_VM. On failure nothing changes. */
mm_status mm_free(mm_system *sys, mm_pid pid, uint64_t *base, uint64_t *size,
                  uint32_t type) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  if (!base || !size)
    return mm_fail(sys, MM_STATUS_ACCESS_VIOLATION,
                   "NtFreeVirtualMemory needs base and size pointers");
  if (type != MM_MEM_RELEASE && type != MM_MEM_DECOMMIT)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_4,
                   "free type %#x must be exactly MEM_RELEASE or "
                   "MEM_DECOMMIT (A.2.10)", type);
  uint64_t b = *base, s = *size, top = sys->arch->user_hi;
  if (b > top)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_2,
                   "base %#llx is above the user range (top %#llx)", U(b),
                   U(top));
  if (s > top - b + 1)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_3,
                   "%#llx bytes from %#llx pass the top of the user range "
                   "%#llx", U(s), U(b), U(top));
  uint64_t lo = b >> sys->page_shift;
  uint64_t hi = align_up(b + s, sys->page_size) >> sys->page_shift;
  int i = vad_find(p, lo);
  if (i < 0)
    return mm_fail(sys, MM_STATUS_MEMORY_NOT_ALLOCATED,
                   "nothing is allocated at %#llx (A.2.10)", U(b));
  mm_vad v = p->vads[i];
  if (s != 0 && hi > v.end)
    return mm_fail(sys, MM_STATUS_UNABLE_TO_FREE_VM,
                   "%#llx-%#llx runs past the end of the allocation "
                   "%#llx-%#llx (A.2.10)", U(va_of(sys, lo)),
                   U(va_of(sys, hi) - 1), U(va_of(sys, v.start)),
                   U(va_of(sys, v.end) - 1));
  if (v.type != VAD_PRIVATE || (v.flags & VAD_F_SYSTEM))
    return mm_fail(sys, MM_STATUS_UNABLE_TO_DELETE_SECTION,
                   "%#llx is in a mapped view, not private memory: unmap "
                   "it instead (A.2.10)", U(b));
  if (s == 0) {
    if (lo != v.start)
      return mm_fail(sys, MM_STATUS_FREE_VM_NOT_AT_BASE,
                     "size 0 frees a whole allocation, but %#llx is not its "
                     "base %#llx (A.2.10)", U(b), U(va_of(sys, v.start)));
    lo = v.start;
    hi = v.end;
  }
  /* A large page goes whole: page_decommit frees its frames one by one
  ** and the process counts large pages, so a range may not cut one
  ** (pagelab's rule; WINDOWS.md says nothing about freeing part of a
  ** large-page allocation). */
  uint64_t lp = large_frames(sys);
  if ((v.flags & VAD_F_LARGE) && ((lo - v.start) % lp || (hi - v.start) % lp))
    return mm_fail(sys, MM_STATUS_UNABLE_TO_FREE_VM,
                   "%#llx-%#llx cuts a large page of %#llx bytes: large "
                   "pages are freed whole (A.14)", U(va_of(sys, lo)),
                   U(va_of(sys, hi) - 1), U(mm_large_page_size(sys)));
  bool release = type == MM_MEM_RELEASE;
  bool middle = release && lo > v.start && hi < v.end;
  if (middle) {
    mm_status st = vad_room(sys, p, 1);
    if (st) return st;
  }

  commit_return(sys, p, decommit_range(sys, p, lo, hi));
  if (release) {
    if (lo == v.start && hi == v.end) {
      vad_remove(p, i);
    } else if (lo == v.start) {
      p->vads[i].start = hi;
    } else if (hi == v.end) {
      p->vads[i].end = lo;
    } else {
      mm_vad tail = v;
      tail.start = hi;
      p->vads[i].end = lo;
      vad_put(p, &tail);
    }
  }
  pt_prune(sys, p, lo, hi);
  *base = va_of(sys, lo);
  *size = (s == 0 && !release) ? 0 : va_of(sys, hi - lo);
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* --------------------------------------------------------- mm_protect */

/* Access rights of a base protection as R=1, W=2, X=4, counting
** WRITECOPY as R and EXECUTE_WRITECOPY as R|X (A.4.5). Never fails. */
static unsigned access_rights(uint32_t prot) {
  unsigned r = 0;
  if (prot_can_read(prot)) r |= 1u;
  if (prot_can_write(prot) && !prot_is_writecopy(prot)) r |= 2u;
  if (prot_can_exec(prot)) r |= 4u;
  return r;
}

/* The protection a page committed as cur gets when protect asks for want
** (A.4.4): the cache attribute given at commit sticks, and one asked for
** later is ignored. [inferred] WRITECOMBINE is treated like NOCACHE, and
** when keeping the attribute would make an invalid value (want has GUARD
** or is NOACCESS, A.4.2) the attribute is dropped. Never fails. */
static uint32_t sticky_prot(uint32_t cur, uint32_t want) {
  uint32_t out = want & ~PROT_CACHE, cache = cur & PROT_CACHE;
  if (cache && prot_valid(out | cache)) out |= cache;
  return out;
}

/* Checks (and for image views converts, A.4.7) a new protection for the
** VAD it goes to: no write-copy in private memory (A.4.3), no cache
** attribute and no more access than at map time in views (A.4.3, A.4.5).
** Returns INVALID_PAGE_PROTECTION; changes nothing. */
static mm_status protect_fits(mm_system *sys, const mm_vad *v,
                              uint32_t *prot) {
  if (v->type == VAD_PRIVATE) return private_prot_check(sys, *prot);
  if (*prot & PROT_CACHE)
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "protection %#x: NOCACHE and WRITECOMBINE apply to "
                   "private memory only (A.4.3)", *prot);
  if (v->type == VAD_IMAGE) {
    uint32_t b = *prot & PROT_BASE, mods = *prot & ~PROT_BASE;
    if (b == MM_PAGE_READWRITE) b = MM_PAGE_WRITECOPY;
    else if (b == MM_PAGE_EXECUTE_READWRITE) b = MM_PAGE_EXECUTE_WRITECOPY;
    *prot = b | mods;
  }
  if (v->type == VAD_MAPPED && !view_section_allows(sys, v, *prot))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "protection %#x is more than the section allows (A.4.5)",
                   *prot);
  unsigned want = access_rights(*prot), have = access_rights(v->alloc_protect);
  if (want & ~have)
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "protection %#x asks for more access than the view was "
                   "mapped with (%#x, A.4.5)", *prot, v->alloc_protect);
  return MM_STATUS_SUCCESS;
}

/* NtProtectVirtualMemory (A.4.4). Checks: old pointer (ACCESS_VIOLATION),
** protection (INVALID_PAGE_PROTECTION), base (_2), size (_3, also for 0:
** R-mm-virtual's answer, WINDOWS.md says nothing about it). From there on
** *old is PAGE_NOACCESS unless the call succeeds: the range (every page
** touching [base, base+size)) must lie in one VAD (CONFLICTING_ADDRESSES,
** also for free memory) and be wholly committed (NOT_COMMITTED); large-
** page VADs refuse (CONFLICTING_ADDRESSES, R-mm-virtual). *old is the
** first page's protection. On failure no page changes. */
mm_status mm_protect(mm_system *sys, mm_pid pid, uint64_t *base,
                     uint64_t *size, uint32_t protect, uint32_t *old) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  if (!base || !size || !old)
    return mm_fail(sys, MM_STATUS_ACCESS_VIOLATION,
                   "NtProtectVirtualMemory needs base, size and "
                   "old-protection pointers (A.4.4)");
  if (!prot_valid(protect))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "%#x is not a valid page protection (A.4.2)", protect);
  uint64_t b = *base, s = *size, top = sys->arch->user_hi;
  if (b > top)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_2,
                   "base %#llx is above the user range (top %#llx)", U(b),
                   U(top));
  if (s == 0 || s > top - b + 1)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_3,
                   "size %#llx from %#llx is 0 or passes the top of the "
                   "user range %#llx", U(s), U(b), U(top));
  *old = MM_PAGE_NOACCESS;
  uint64_t lo = b >> sys->page_shift;
  uint64_t hi = align_up(b + s, sys->page_size) >> sys->page_shift;
  int i;
  mm_status st = range_vad(sys, p, lo, hi, "protecting", &i);
  if (st) return st;
  const mm_vad *v = &p->vads[i];
  if (v->flags & VAD_F_LARGE)
    return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                   "large pages at %#llx are always read/write (A.14)",
                   U(va_of(sys, v->start)));
  uint32_t want = protect;
  uint64_t n = count_committed(sys, p, lo, hi);
  /* A.11.8: an uncommitted page of a section view refuses protection
  ** changes with STATUS_SECTION_PROTECTION (R-api-MVS), before any check
  ** of the protection asked for. */
  if (v->type != VAD_PRIVATE && !(v->flags & VAD_F_SYSTEM) && n != hi - lo)
    return mm_fail(sys, MM_STATUS_SECTION_PROTECTION,
                   "%llu of the %llu pages of the view at %#llx-%#llx are "
                   "not committed in the section (A.11.8)", U(hi - lo - n),
                   U(hi - lo), U(va_of(sys, lo)), U(va_of(sys, hi) - 1));
  st = protect_fits(sys, v, &want);
  if (st) return st;
  if (n != hi - lo)
    return mm_fail(sys, MM_STATUS_NOT_COMMITTED,
                   "%llu of the %llu pages of %#llx-%#llx are not committed "
                   "(A.4.4)", U(hi - lo - n), U(hi - lo), U(va_of(sys, lo)),
                   U(va_of(sys, hi) - 1));
  uint32_t first;
  page_state(p, sys, lo, &first);
  for (uint64_t x = lo; x < hi; x++) {
    uint32_t cur;
    page_state(p, sys, x, &cur);
    page_protect(sys, p, x, sticky_prot(cur, want));
  }
  *old = first;
  *base = va_of(sys, lo);
  *size = va_of(sys, hi - lo);
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* ----------------------------------------------------------- mm_query */

/* End of the run of pages from vpn (inside one VAD ending at end) that
** share vpn's state and protection (A.3.2). *committed and *prot describe
** the run (prot 0 when reserved). Never fails. */
static uint64_t run_end(const mm_system *sys, mm_process *p, uint64_t vpn,
                        uint64_t end, bool *committed, uint32_t *prot) {
  uint32_t p0 = 0;
  bool c0 = page_state(p, sys, vpn, &p0);
  if (!c0) p0 = 0;
  *committed = c0;
  *prot = p0;
  uint64_t x = vpn + 1, span = pt_leaf_entries(sys);
  while (x < end) {
    mm_leaf *lf = pt_next_leaf(p, sys, x, end);
    if (!lf) return c0 ? x : end;       /* no tables left: all reserved */
    if (lf->base_vpn > x) {             /* a hole without tables */
      if (c0) return x;
      x = lf->base_vpn;
    }
    uint64_t b = lf->base_vpn + span < end ? lf->base_vpn + span : end;
    for (; x < b; x++) {
      uint32_t pr = 0;
      bool c = lf->pte[x - lf->base_vpn] && page_state(p, sys, x, &pr);
      if (!c) pr = 0;
      if (c != c0 || pr != p0) return x;
    }
  }
  return end;
}

/* NtQueryVirtualMemory, MemoryBasicInformation (A.3). Above the user
** range: INVALID_PARAMETER_2 (A.1.3). A free region runs to the next VAD
** or the top and reports PAGE_NOACCESS, no allocation, type 0 (A.2.11,
** A.3.3); the dead tail of a granule is free. A reserved run reports
** protection 0. On failure *out is untouched. */
mm_status mm_query(mm_system *sys, mm_pid pid, uint64_t addr, mm_region *out) {
  mm_process *p = proc_read(sys, pid);
  if (!p) return sys->last_status;
  if (!out)
    return mm_fail(sys, MM_STATUS_ACCESS_VIOLATION,
                   "NtQueryVirtualMemory needs an output buffer");
  if (addr > sys->arch->user_hi)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_2,
                   "%#llx is above the user range (top %#llx, A.1.3)",
                   U(addr), U(sys->arch->user_hi));
  uint64_t vpn = addr >> sys->page_shift;
  mm_region r;
  memset(&r, 0, sizeof r);
  r.base = va_of(sys, vpn);
  int i = vad_find(p, vpn);
  if (i < 0) {
    uint32_t j = vad_after(p, vpn);
    uint64_t end = j < p->nvads ? p->vads[j].start : sys->user_hi_vpn + 1;
    r.size = va_of(sys, end - vpn);
    r.state = MM_MEM_FREE;
    r.protect = MM_PAGE_NOACCESS;
  } else {
    const mm_vad *v = &p->vads[i];
    bool committed;
    uint32_t prot;
    uint64_t end = run_end(sys, p, vpn, v->end, &committed, &prot);
    r.size = va_of(sys, end - vpn);
    r.allocation_base = va_of(sys, v->start);
    r.allocation_protect = v->alloc_protect;
    r.state = committed ? MM_MEM_COMMIT : MM_MEM_RESERVE;
    r.protect = prot;
    r.type = v->type == VAD_PRIVATE  ? MM_MEM_PRIVATE
             : v->type == VAD_MAPPED ? MM_MEM_MAPPED
                                     : MM_MEM_IMAGE;
  }
  *out = r;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* ------------------------------------------------------------ checking */

/* Sets sys->err and returns -1, for vad_check. */
static int vad_broken(mm_system *sys, mm_process *p, const char *what,
                      uint64_t a, uint64_t b) {
  snprintf(sys->err, sizeof sys->err,
           "VAD invariant broken in process %u: %s (%#llx, %#llx)", p->pid,
           what, U(a), U(b));
  return -1;
}

/* Invariants 1-3 of the header, plus: the system region is there and
** private VADs hold valid, non-write-copy protections. 0 when they hold,
** else -1 with sys->err naming the first broken one. Changes nothing but
** sys->err. */
int vad_check(mm_system *sys, mm_process *p) {
  bool system_seen = false;
  for (uint32_t i = 0; i < p->nvads; i++) {
    const mm_vad *v = &p->vads[i];
    if (v->start >= v->end)
      return vad_broken(sys, p, "empty VAD", v->start, v->end);
    if (v->start < sys->user_lo_vpn || v->end > sys->user_hi_vpn + 1)
      return vad_broken(sys, p, "VAD outside the user range", v->start,
                        v->end);
    if (i && p->vads[i - 1].end > v->start)
      return vad_broken(sys, p, "VADs overlap or are unsorted",
                        p->vads[i - 1].end, v->start);
    if (v->type > VAD_IMAGE)
      return vad_broken(sys, p, "unknown VAD type", v->start, v->type);
    if (v->flags & VAD_F_SYSTEM) system_seen = true;
    if (v->type == VAD_PRIVATE &&
        (!prot_valid(v->alloc_protect) || prot_is_writecopy(v->alloc_protect)))
      return vad_broken(sys, p, "private VAD with a bad protection",
                        v->start, v->alloc_protect);
  }
  if (p->alive && !system_seen)
    return vad_broken(sys, p, "the region at 0x10000 is missing", 0, 0);
  uint64_t span = pt_leaf_entries(sys);
  for (mm_leaf *lf = pt_next_leaf(p, sys, 0, UINT64_MAX); lf;) {
    for (uint64_t k = 0; k < span; k++)
      if (lf->pte[k] && vad_find(p, lf->base_vpn + k) < 0)
        return vad_broken(sys, p, "nonzero PTE outside every VAD",
                          lf->base_vpn + k, lf->pte[k]);
    if (lf->base_vpn + span == 0) break;
    lf = pt_next_leaf(p, sys, lf->base_vpn + span, UINT64_MAX);
  }
  return 0;
}
