/*
** page.c — the verbs that change one virtual page's PTE outside a fault:
** commit, decommit, protect, reset. vad.c decides *which* pages; these
** decide what happens to the frame, slot and working-set entry behind it.
*/
#include "internal.h"
#include "tlb.h"

static inline mm_pte with_prot(mm_pte pte, uint32_t prot) {
  return (pte & ~PTE_PROT_MASK) | ((mm_pte)(prot & 0x7FF) << PTE_PROT_SHIFT);
}

void page_protect(mm_system *sys, mm_process *p, uint64_t vpn, uint32_t prot) {
  mm_pte *pte = pt_lookup(p, sys, vpn);
  assert(pte && pte_committed(*pte));
  mm_pte v = with_prot(*pte, prot);
  if (pte_valid(v))
    v = (v & ~(mm_pte)(PTE_HW_R | PTE_HW_W | PTE_HW_X)) | pte_hw_bits(prot);
  *pte = v;
  if (sys->tlb) tlb_flush_page(sys->tlb, p->pid, vpn);
}

void page_commit(mm_system *sys, mm_process *p, uint64_t vpn, uint32_t prot) {
  mm_leaf *leaf = pt_leaf(p, sys, vpn);
  assert(leaf);
  mm_pte *pte = &leaf->pte[vpn - leaf->base_vpn];
  if (pte_committed(*pte)) {          /* A.2.5: re-commit sets protection */
    page_protect(sys, p, vpn, prot);
    return;
  }
  assert(*pte == 0);
  *pte = PTE_C | ((mm_pte)(prot & 0x7FF) << PTE_PROT_SHIFT);
  leaf->live++;
}

int page_decommit(mm_system *sys, mm_process *p, uint64_t vpn) {
  mm_leaf *leaf = pt_leaf(p, sys, vpn);
  if (!leaf) return 0;
  uint32_t i = (uint32_t)(vpn - leaf->base_vpn);
  mm_pte v = leaf->pte[i];
  if (!pte_committed(v)) return 0;
  if (pte_valid(v) && (sys->pfn[pte_payload(v)].flags & PFN_F_LOCKED)) {
    /* Large pages and non-paged pool are not in a working set (A.14);
    ** the frames go back to the free list one by one as their PTEs go. */
    uint32_t f = (uint32_t)pte_payload(v);
    bool large = (sys->pfn[f].flags & PFN_F_LARGE) != 0;
    sys->pfn[f].share = 0;
    pfn_release(sys, f);
    if (large && ((vpn + 1) & (large_frames(sys) - 1)) == 0) {
      p->st.large_pages--;
      if (sys->tlb) tlb_flush_large(sys->tlb, p->pid, vpn >> sys->large_shift);
    }
  } else if (pte_valid(v)) {
    uint32_t f = (uint32_t)pte_payload(v);
    ws_remove(sys, p, sys->pfn[f].wsslot);
    sys->pfn[f].share = 0;
    p->st.private_pages--;
    pfn_release(sys, f);            /* A.9.3: a deleted page is freed */
  } else {
    switch (pte_kind(v)) {
      case PTE_KIND_TRANS:
        pfn_release(sys, (uint32_t)pte_payload(v));
        break;
      case PTE_KIND_PAGEFILE:
        pf_free(sys, (uint32_t)pte_payload(v));
        break;
      default:
        break;
    }
  }
  leaf->pte[i] = 0;
  leaf->live--;
  if (sys->tlb) tlb_flush_page(sys->tlb, p->pid, vpn);
  return 1;
}

/* MEM_RESET (A.2.8): the contents are no longer wanted. Nothing is written
** to the page file; a resident page is marked clean with no backing copy,
** so if it is trimmed it goes straight to standby and, once repurposed,
** comes back as a zero page. */
void page_reset(mm_system *sys, mm_process *p, uint64_t vpn) {
  mm_pte *pte = pt_lookup(p, sys, vpn);
  if (!pte || !pte_committed(*pte)) return;
  mm_pte v = *pte;
  if (pte_valid(v)) {
    mm_pfn *e = &sys->pfn[pte_payload(v)];
    *pte = v & ~(mm_pte)PTE_D;
    e->flags &= (uint8_t)~PFN_F_MODIFIED;
    if (e->slot != MM_NIL) { pf_free(sys, e->slot); e->slot = MM_NIL; }
    return;
  }
  switch (pte_kind(v)) {
    case PTE_KIND_TRANS: {
      uint32_t f = (uint32_t)pte_payload(v);
      mm_pfn *e = &sys->pfn[f];
      if (e->slot != MM_NIL) { pf_free(sys, e->slot); e->slot = MM_NIL; }
      if (e->list == LIST_MODIFIED) {
        pfn_unlink(sys, f);
        e->flags &= (uint8_t)~PFN_F_MODIFIED;
        pfn_insert(sys, f, LIST_STANDBY);
      }
      break;
    }
    case PTE_KIND_PAGEFILE:
      pf_free(sys, (uint32_t)pte_payload(v));
      *pte = v & (PTE_C | PTE_PROT_MASK);
      break;
    default:
      break;
  }
}

bool page_state(mm_process *p, const mm_system *sys, uint64_t vpn,
                uint32_t *prot) {
  mm_pte *pte = pt_lookup(p, sys, vpn);
  if (!pte || !pte_committed(*pte)) {
    if (prot) *prot = 0;
    return false;
  }
  /* A view page is committed when its section page is (A.11.8). */
  if (!pte_valid(*pte) && pte_kind(*pte) == PTE_KIND_PROTO &&
      !pte_committed(*proto_pte((mm_system *)sys, pte_payload(*pte), NULL))) {
    if (prot) *prot = 0;
    return false;
  }
  if (prot) *prot = pte_prot(*pte);
  return true;
}
