/*
** pagefile.c — page-file slots: a bitmap, one bit per page-sized slot.
** A slot is taken when the modified page writer writes a page out and
** freed when the page's data no longer needs it (the page is deleted,
** dirtied again, or reset). Reads and writes are counted by the callers.
*/
#include "internal.h"

uint32_t pf_alloc(mm_system *sys) {
  if (sys->pf_used >= sys->pf_slots) return MM_NIL;
  uint64_t words = (sys->pf_slots + 63) / 64, w = sys->pf_hint;
  assert(w < words);
  /* Next fit from the hint: writes cluster in ascending slots, as the
  ** writer's clustered writes do. */
  for (uint64_t k = 0; k < words; k++, w = w + 1 < words ? w + 1 : 0) {
    uint64_t bits = sys->pf_map[w];
    if (bits == UINT64_MAX) continue;
    unsigned b = (unsigned)__builtin_ctzll(~bits);   /* first free slot */
    uint64_t s = w * 64 + b;
    if (s >= sys->pf_slots) continue;                /* the last word's tail */
    sys->pf_map[w] |= 1ull << b;
    sys->pf_used++;
    sys->pf_hint = w;
    return (uint32_t)s;
  }
  return MM_NIL;
}

void pf_free(mm_system *sys, uint32_t slot) {
  assert(slot < sys->pf_slots && pf_used(sys, slot));
  sys->pf_map[slot / 64] &= ~(1ull << (slot % 64));
  sys->pf_used--;
  if (sys->pf_data) contents_slot_free(sys, slot);
}

bool pf_used(const mm_system *sys, uint32_t slot) {
  return (sys->pf_map[slot / 64] >> (slot % 64)) & 1u;
}
