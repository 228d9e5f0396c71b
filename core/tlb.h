/*
** tlb.h — an optional simulated TLB: set-associative, LRU within a set,
** entries tagged with the process id (as with PCIDs, so a switch between
** processes needs no flush). Separate arrays for small and large pages.
** It only counts: a miss costs nothing else in the simulation.
*/
#ifndef PAGELAB_TLB_H
#define PAGELAB_TLB_H

#include "mm.h"

typedef struct mm_tlb mm_tlb;

/* NULL with a message in err when the geometry is bad (entries not a
** multiple of ways, sets not a power of two). */
mm_tlb *tlb_create(const mm_tlb_config *cfg, char *err, size_t errlen);
/* Whether the geometry is one tlb_create accepts (else err says why). */
bool tlb_config_ok(const mm_tlb_config *cfg, char *err, size_t errlen);
void tlb_destroy(mm_tlb *t);
/* Looks vpn up for pid, filling on a miss. Returns 1 on a miss. */
int tlb_access(mm_tlb *t, uint32_t pid, uint64_t vpn, bool large);
void tlb_flush_page(mm_tlb *t, uint32_t pid, uint64_t vpn);
/* Drops the large-page entry for large page number lvpn. */
void tlb_flush_large(mm_tlb *t, uint32_t pid, uint64_t lvpn);
void tlb_flush_pid(mm_tlb *t, uint32_t pid);

#endif
