/*
** large.c — large-page allocations (WINDOWS.md A.14).
**
** A large page is a physically contiguous, aligned run of frames (512 at
** 4 KiB on x64 and PAE, 1024 on x86). The whole reservation is backed at
** once, always resident, charged to commit, never in the working set and
** never trimmed. Its PTEs carry PTE_LARGE so the TLB counts one large
** entry per large page: that is the reach large pages buy.
**
** Frames are found by scanning aligned blocks whose every frame is free or
** zeroed; when memory is fragmented no block qualifies and the call fails
** with STATUS_INSUFFICIENT_RESOURCES, changing nothing (vad.c removes the
** VAD it inserted).
*/
#include <stdlib.h>

#include "internal.h"

static bool block_free(const mm_system *sys, uint64_t first, uint64_t n) {
  for (uint64_t f = first; f < first + n; f++) {
    unsigned l = sys->pfn[f].list;
    if (l != LIST_FREE && l != LIST_ZEROED) return false;
  }
  return true;
}

mm_status large_alloc(mm_system *sys, mm_process *p, uint64_t base,
                      uint64_t size, uint32_t prot) {
  uint64_t per = large_frames(sys);
  uint64_t nlarge = size / sys->cfg.large_page_size;
  uint64_t npages = size >> sys->page_shift;
  uint64_t vpn0 = base >> sys->page_shift;

  /* Find the blocks first, so that failure changes nothing. */
  uint64_t *blocks = malloc(nlarge * sizeof *blocks);
  if (!blocks) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of host memory");
  uint64_t found = 0;
  for (uint64_t b = 0; b + per <= sys->nframes && found < nlarge; b += per)
    if (block_free(sys, b, per)) blocks[found++] = b;
  if (found < nlarge) {
    free(blocks);
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                   "%llu large pages of %llu frames needed, only %llu "
                   "contiguous free blocks: physical memory is fragmented "
                   "or in use", (unsigned long long)nlarge,
                   (unsigned long long)per, (unsigned long long)found);
  }
  mm_status st = commit_charge(sys, p, npages);
  if (st) { free(blocks); return st; }
  for (uint64_t k = 0; k < npages; k += per) {
    if (!pt_ensure(sys, p, vpn0 + k)) {
      pt_prune(sys, p, vpn0, vpn0 + npages);
      commit_unwind(sys, p, npages);
      free(blocks);
      return mm_fail(sys, MM_STATUS_NO_MEMORY,
                     "out of host memory for page tables");
    }
  }
  /* A.14: always read/write, whatever was asked, beyond no-access */
  (void)prot;
  mm_pte bits = PTE_V | PTE_C | PTE_LARGE | pte_hw_bits(MM_PAGE_READWRITE) |
                ((mm_pte)MM_PAGE_READWRITE << PTE_PROT_SHIFT);
  for (uint64_t k = 0; k < nlarge; k++) {
    for (uint64_t j = 0; j < per; j++) {
      uint32_t f = (uint32_t)(blocks[k] + j);
      uint64_t vpn = vpn0 + k * per + j;
      pfn_unlink(sys, f);
      mm_pfn *e = &sys->pfn[f];
      e->owner = p->pid;
      e->vpn = vpn;
      e->share = 1;
      e->flags = PFN_F_LARGE;
      e->slot = MM_NIL;
      e->wsslot = MM_NIL;                 /* in no working set */
      mm_leaf *leaf = pt_leaf(p, sys, vpn);
      leaf->pte[vpn - leaf->base_vpn] = bits | ((mm_pte)f << PTE_PAYLOAD_SHIFT);
      leaf->live++;
    }
  }
  p->st.large_pages += nlarge;
  free(blocks);
  return MM_STATUS_SUCCESS;
}
