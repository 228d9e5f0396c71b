/*
** ws.c — working sets: which pages of a process are resident.
**
** A working set is an array of slots (mm_wsle). A slot holds the page's
** PTE address and page number; free slots are chained through their vpn
** field. The leaf beside each PTE records the page's slot, so removing any
** page is O(1). The policy keeps its own per-slot data (policy.h).
*/
#include <stdlib.h>

#include "internal.h"
#include "policy.h"
#include "tlb.h"

#define WS_INITIAL_SLOTS 64u

static int ws_grow(mm_system *sys, mm_process *p, uint32_t cap) {
  mm_wsle *e = realloc(p->ws.e, (size_t)cap * sizeof *e);
  if (!e) return -1;
  p->ws.e = e;
  if (sys->pol_ops->reserve(sys, p->ws.pol, cap) != 0) return -1;
  p->ws.cap = cap;
  return 0;
}

int ws_init(mm_system *sys, mm_process *p) {
  p->ws.pol = sys->pol_ops->create(sys, p);
  if (!p->ws.pol) return -1;
  if (ws_grow(sys, p, WS_INITIAL_SLOTS) != 0) {
    ws_destroy(sys, p);
    return -1;
  }
  p->ws.free_head = MM_NIL;
  ahead_init(&p->ws.ahead);
  return 0;
}

void ws_destroy(mm_system *sys, mm_process *p) {
  if (p->ws.pol) sys->pol_ops->destroy(sys, p->ws.pol);
  free(p->ws.e);
  p->ws.pol = NULL;
  p->ws.e = NULL;
  p->ws.cap = p->ws.hi = p->ws.count = 0;
  p->ws.free_head = MM_NIL;
}

int ws_make_room(mm_system *sys, mm_process *p) {
  mm_ws *ws = &p->ws;
  /* A.10.3: at a hard maximum a new page replaces one of the same set. */
  if (ws->hard_max && ws->count >= ws->max && ws->count > 0) {
    uint32_t victim;
    if (sys->pol_ops->ahead) sys->pol_ops->ahead(sys, p, ws->pol);
    int64_t n = sys->pol_ops->select(sys, p, ws->pol, 1, true, &victim);
    if (n < 0) return -1;
    if (n == 0) {
      mm_fail(sys, MM_STATUS_PAGELAB_CALLBACK_FAILED,
              "policy %s chose no victim at the hard working-set maximum",
              sys->pol_ops->name);
      return -1;
    }
    ws_trim_slot(sys, p, victim, true);
  }
  if (ws->free_head == MM_NIL && ws->hi == ws->cap) {
    uint32_t cap = ws->cap < (1u << 30) ? ws->cap * 2 : MM_NIL - 1;
    if (cap == ws->cap || ws_grow(sys, p, cap) != 0) {
      mm_fail(sys, MM_STATUS_NO_MEMORY,
              "out of host memory growing the working set of %s", p->name);
      return -1;
    }
  }
  return 0;
}

void ws_insert(mm_system *sys, mm_process *p, mm_leaf *leaf, uint64_t vpn) {
  uint32_t i = pt_index(sys, vpn);
  mm_ws *ws = &p->ws;
  uint32_t slot;
  if (ws->free_head != MM_NIL) {
    slot = ws->free_head;
    ws->free_head = (uint32_t)ws->e[slot].vpn;
  } else {
    assert(ws->hi < ws->cap);
    slot = ws->hi++;
  }
  ws->e[slot].pte = &leaf->pte[i];
  ws->e[slot].vpn = vpn;
  *pte_wsslot(sys, leaf, i, leaf->pte[i]) = slot;
  ws->count++;
  if (ws->count > ws->peak) ws->peak = ws->count;
  sys->pol_ops->insert(sys, p, ws->pol, slot);
}

void ws_remove(mm_system *sys, mm_process *p, uint32_t slot) {
  mm_ws *ws = &p->ws;
  assert(slot < ws->hi && ws->e[slot].pte);
  sys->pol_ops->remove(sys, p, ws->pol, slot);
  /* The page's slot record (pte_wsslot) is left as it is: it only means
  ** something while the PTE is valid. */
  ws->e[slot].pte = NULL;
  ws->e[slot].vpn = ws->free_head;
  ws->free_head = slot;
  ws->count--;
}

/* A.10.5 eviction: the PTE's dirty bit goes into the frame's Modified flag,
** the PTE becomes a transition PTE (frame and protection kept), the share
** count drops, and the frame goes to standby if clean or to modified if
** dirty (A.9.3). A page dirtied again has a stale page-file copy: the slot
** is freed so the writer takes a fresh one. */
void ws_trim_slot(mm_system *sys, mm_process *p, uint32_t slot, bool replaced) {
  mm_wsle w = p->ws.e[slot];
  mm_pte v = *w.pte;
  if (sys->watched) {
    mm_event ev = { sys->now, w.vpn << sys->page_shift, p->pid, MM_EV_TRIM, 0,
                    0, (uint8_t)((v & PTE_D) != 0), (uint8_t)replaced };
    event_emit(sys, &ev);
  }
  assert(pte_valid(v));
  uint32_t f = (uint32_t)pte_payload(v);
  mm_pfn *e = &sys->pfn[f];
  if (v & PTE_PROTOMAP) {           /* a shared page: section.c */
    ws_remove(sys, p, slot);
    view_trim(sys, p, w.pte, f);
    if (sys->tlb) tlb_flush_page(sys->tlb, p->pid, w.vpn);
    if (replaced) p->st.replaced++;
    else p->st.trimmed++;
    return;
  }
  if (v & PTE_D) {
    e->flags |= PFN_F_MODIFIED;
    if (e->slot != MM_NIL) { pf_free(sys, e->slot); e->slot = MM_NIL; }
  }
  assert(e->share == 1);
  e->share = 0;
  *w.pte = (v & (PTE_C | PTE_PROT_MASK)) |
           (PTE_KIND_TRANS << PTE_KIND_SHIFT) | ((mm_pte)f << PTE_PAYLOAD_SHIFT);
  ws_remove(sys, p, slot);
  e->flags = (uint8_t)((e->flags & ~(7u << PFN_PRIO_SHIFT)) |
                       (sys->cfg.tune.standby_priority << PFN_PRIO_SHIFT));
  pfn_insert(sys, f, (e->flags & PFN_F_MODIFIED) ? LIST_MODIFIED : LIST_STANDBY);
  if (sys->tlb) tlb_flush_page(sys->tlb, p->pid, w.vpn);
  p->st.private_pages--;
  if (replaced) p->st.replaced++;
  else p->st.trimmed++;
}

mm_status ws_shrink(mm_system *sys, mm_process *p, uint32_t n) {
  if (n > p->ws.count) n = p->ws.count;
  if (n == 0) return MM_STATUS_SUCCESS;
  uint32_t *v = malloc((size_t)n * sizeof *v);
  if (!v) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  int64_t got = sys->pol_ops->select(sys, p, p->ws.pol, n, true, v);
  if (got < 0) {
    free(v);
    return sys->last_status;
  }
  for (int64_t k = 0; k < got; k++) ws_trim_slot(sys, p, v[k], false);
  free(v);
  return MM_STATUS_SUCCESS;
}

void ws_flush_tlb(mm_system *sys, mm_process *p, uint32_t slot) {
  tlb_flush_page(sys->tlb, p->pid, p->ws.e[slot].vpn);
}
