/*
** views.c — VMMap and RAMMap: read-only summaries of an address space and
** of physical memory (views.h says what each column means).
**
** Nothing here changes the system: the walks read VADs, page tables,
** prototype PTEs and the PFN database, and never go through pt_leaf (whose
** leaf cache is state) or anything that records an error on success. So
** both calls are allowed inside callbacks (proc_read, not proc_get).
**
** Why the numbers add up
**  - VMMap: every page of the user range is in exactly one VAD (image,
**    mapped file, shareable, private), in the dead tail of a VAD's last
**    granule (unusable), or in a gap (free); so the sizes of those rows add
**    up to the user range. The ws columns count valid PTEs that are not
**    large pages: exactly the process's working set (pfn.c invariant 3),
**    so ws summed over the rows is ws_size pages.
**  - RAMMap: each frame is on one list or active (pfn.c invariant 1) and
**    is given one use, so the frame rows add up to the frame count and the
**    list columns to the lists of mm_system_stats.
*/
#include "internal.h"

/* ------------------------------------------------------------------ names */

static const char *const vmmap_names[MM_VMMAP_TYPES] = {
  "image", "mapped_file", "shareable", "private", "page_table", "unusable",
  "free"
};

static const char *const list_names[MM_RAMMAP_LISTS] = {
  "active", "standby", "modified", "modified_nowrite", "transition",
  "zeroed", "free", "bad"
};

static const char *const use_names[MM_RAMMAP_USES] = {
  "process_private", "mapped_file", "shareable", "page_table", "paged_pool",
  "nonpaged_pool", "large_page", "unused"
};

const char *mm_vmmap_type_name(int type) {
  return type >= 0 && type < MM_VMMAP_TYPES ? vmmap_names[type] : NULL;
}

const char *mm_rammap_list_name(int list) {
  return list >= 0 && list < MM_RAMMAP_LISTS ? list_names[list] : NULL;
}

const char *mm_rammap_use_name(int use) {
  return use >= 0 && use < MM_RAMMAP_USES ? use_names[use] : NULL;
}

/* ------------------------------------------------------------------ VMMap */

/* The VMMap type of a VAD. */
static int vad_vmmap_type(const mm_system *sys, const mm_vad *v) {
  if (v->type == VAD_PRIVATE) return MM_VMMAP_PRIVATE;
  if (v->type == VAD_IMAGE) return MM_VMMAP_IMAGE;
  /* The region at 0x10000 has no view: Windows backs it with a page-file
  ** section, which VMMap calls shareable. */
  if ((v->flags & VAD_F_SYSTEM) || !v->view) return MM_VMMAP_SHAREABLE;
  const mm_view *view = v->view;
  return sys->segs[view->seg - 1].kind == SEG_PAGEFILE ? MM_VMMAP_SHAREABLE
                                                        : MM_VMMAP_MAPPED_FILE;
}

/* State of a page from its PTE, as page_state() decides it (a view page is
** committed when its section page is, A.11.8), without a lookup. */
static bool pte_state(mm_system *sys, mm_pte v, uint32_t *prot) {
  *prot = 0;
  if (!v || !pte_committed(v)) return false;
  if (!pte_valid(v) && pte_kind(v) == PTE_KIND_PROTO &&
      !pte_committed(*proto_pte(sys, pte_payload(v), NULL)))
    return false;
  *prot = pte_prot(v);
  return true;
}

/* Counts one run boundary: a new VirtualQuery region starts when the state
** or protection changes inside an allocation (A.3.2). */
typedef struct run_state {
  bool started, committed;
  uint32_t prot;
} run_state;

static void run_note(run_state *r, bool committed, uint32_t prot,
                     mm_vmmap_row *row) {
  if (!r->started || r->committed != committed || r->prot != prot) {
    row->blocks++;
    r->started = true;
    r->committed = committed;
    r->prot = prot;
  }
}

/* Adds one VAD to its row: size, committed pages, working set, blocks. */
static void vad_count(mm_system *sys, const mm_process *p, const mm_vad *v,
                      mm_vmmap_row *row) {
  uint64_t ps = sys->page_size, span = pt_leaf_entries(sys);
  run_state run = { false, false, 0 };
  row->size += (v->end - v->start) * ps;
  uint64_t x = v->start;
  while (x < v->end) {
    mm_leaf *lf = p->pt_root ? pt_next_leaf(p, sys, x, v->end)
                             : NULL;
    if (!lf || lf->base_vpn > x) {        /* no tables: reserved pages */
      run_note(&run, false, 0, row);
      if (!lf) break;
      x = lf->base_vpn;
    }
    uint64_t b = lf->base_vpn + span < v->end ? lf->base_vpn + span : v->end;
    for (; x < b; x++) {
      mm_pte pte = lf->pte[x - lf->base_vpn];
      uint32_t prot;
      bool c = pte_state(sys, pte, &prot);
      run_note(&run, c, prot, row);
      if (c) row->committed += ps;
      if (!pte_valid(pte) || (pte & PTE_LARGE)) continue;  /* not in the WS */
      row->ws += ps;
      if (pte & PTE_PROTOMAP) {
        row->ws_shareable += ps;
        if (sys->pfn[pte_payload(pte)].share > 1) row->ws_shared += ps;
      } else {
        row->ws_private += ps;
      }
    }
  }
}

mm_status mm_vmmap(mm_system *sys, mm_pid pid, mm_vmmap_row *rows, size_t *n) {
  mm_process *p = proc_read(sys, pid);
  if (!p) return sys->last_status;
  if (!rows || !n || *n < MM_VMMAP_TYPES) {
    if (n) *n = MM_VMMAP_TYPES;
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "vmmap needs room for %d rows", (int)MM_VMMAP_TYPES);
  }
  memset(rows, 0, MM_VMMAP_TYPES * sizeof *rows);
  uint64_t ps = sys->page_size;
  uint64_t gp = MM_GRANULE >> sys->page_shift;
  if (gp == 0) gp = 1;
  uint64_t x = sys->user_lo_vpn, top = sys->user_hi_vpn + 1;
  for (uint32_t i = 0; i < p->nvads; i++) {
    const mm_vad *v = &p->vads[i];
    if (v->start > x) {                   /* a gap before this VAD */
      rows[MM_VMMAP_FREE].size += (v->start - x) * ps;
      rows[MM_VMMAP_FREE].blocks++;
    }
    vad_count(sys, p, v, &rows[vad_vmmap_type(sys, v)]);
    /* A VAD owns the granules it touches (A.1.6): the rest of its last
    ** granule can never be allocated while it exists. */
    uint64_t gend = (v->end + gp - 1) / gp * gp;
    if (i + 1 < p->nvads && gend > p->vads[i + 1].start)
      gend = p->vads[i + 1].start;
    if (gend > top) gend = top;
    if (gend > v->end) {
      rows[MM_VMMAP_UNUSABLE].size += (gend - v->end) * ps;
      rows[MM_VMMAP_UNUSABLE].blocks++;
    }
    x = gend > v->end ? gend : v->end;
  }
  if (top > x) {
    rows[MM_VMMAP_FREE].size += (top - x) * ps;
    rows[MM_VMMAP_FREE].blocks++;
  }
  /* Page tables live in kernel space; VMMap shows them all the same, as
  ** committed memory. They have no frames here, so no working set. */
  rows[MM_VMMAP_PAGE_TABLE].size = p->pt_tables * ps;
  rows[MM_VMMAP_PAGE_TABLE].committed = p->pt_tables * ps;
  *n = MM_VMMAP_TYPES;
  return MM_STATUS_SUCCESS;
}

/* ----------------------------------------------------------------- RAMMap */

static int list_column(unsigned list) {
  switch (list) {
    case LIST_ZEROED: return MM_RAMMAP_ZEROED;
    case LIST_FREE: return MM_RAMMAP_FREE;
    case LIST_STANDBY: return MM_RAMMAP_STANDBY;
    case LIST_MODIFIED: return MM_RAMMAP_MODIFIED;
    case LIST_MODIFIED_NOWRITE: return MM_RAMMAP_MODIFIED_NOWRITE;
    case LIST_BAD: return MM_RAMMAP_BAD;
    default: return MM_RAMMAP_ACTIVE;
  }
}

/* What a frame in use (active, standby or modified) holds. */
static int frame_use(const mm_system *sys, const mm_pfn *e) {
  if (e->list == LIST_FREE || e->list == LIST_ZEROED || e->list == LIST_BAD)
    return MM_RAMMAP_UNUSED;
  if (e->flags & PFN_F_LARGE) return MM_RAMMAP_LARGE_PAGE;
  if (e->flags & PFN_F_NONPAGED) return MM_RAMMAP_NONPAGED_POOL;
  /* owner = segment id (section.c invariant 2); the range test only
  ** matters inside a callback, where a fault may be half done */
  if ((e->flags & PFN_F_PROTO) && e->owner >= 1 && e->owner <= sys->nsegs)
    return sys->segs[e->owner - 1].kind == SEG_PAGEFILE ? MM_RAMMAP_SHAREABLE
                                                         : MM_RAMMAP_MAPPED_FILE;
  if (e->owner == MM_SYSTEM_PID) return MM_RAMMAP_PAGED_POOL;
  return MM_RAMMAP_PROCESS_PRIVATE;
}

void mm_rammap(mm_system *sys, mm_rammap_row *rows, size_t *n) {
  if (!rows || !n || *n < MM_RAMMAP_USES) {
    if (n) *n = 0;
    return;
  }
  memset(rows, 0, MM_RAMMAP_USES * sizeof *rows);
  for (uint64_t f = 0; f < sys->nframes; f++) {
    const mm_pfn *e = &sys->pfn[f];
    mm_rammap_row *r = &rows[frame_use(sys, e)];
    r->list[list_column(e->list)]++;
    r->total++;
  }
  /* Counted page-table pages of every live address space, the System
  ** process's included: RAMMap's page-table row covers the kernel's too. */
  uint64_t tables = 0;
  for (uint32_t k = 0; k <= sys->nprocs; k++) {
    const mm_process *p = proc_at(sys, k);
    if (p && p->alive) tables += p->pt_tables;
  }
  rows[MM_RAMMAP_PAGE_TABLE].list[MM_RAMMAP_ACTIVE] = tables;
  rows[MM_RAMMAP_PAGE_TABLE].total = tables;
  *n = MM_RAMMAP_USES;
}
