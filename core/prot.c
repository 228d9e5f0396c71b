/*
** prot.c — Windows page protections: which values are valid (WINDOWS.md
** A.4.2) and what access each base protection allows (A.4.8).
**
** A protection is one base value (exactly one bit of the low byte: the
** low nibble NOACCESS..WRITECOPY or the high nibble EXECUTE..
** EXECUTE_WRITECOPY) plus optional modifiers (GUARD, NOCACHE,
** WRITECOMBINE). Everything here is a pure function of the value: no
** state, nothing to fail.
*/
#include "internal.h"

#define PROT_BASE_MASK   0xFFu
/* Every defined bit: the eight base values and the three modifiers. Bits
** at or above 0x800 are invalid (A.4.2); that includes the CFG flags
** PAGE_TARGETS_INVALID/NO_UPDATE (0x40000000), which the simulator does
** not model, so it rejects them rather than silently dropping them. */
#define PROT_ALL_BITS    0x7FFu

/* A.4.2, rule by rule, in the order MiMakeProtectionMask applies them.
** Never fails: false means STATUS_INVALID_PAGE_PROTECTION to the caller. */
bool prot_valid(uint32_t prot) {
  if (prot & ~PROT_ALL_BITS) return false;
  uint32_t lo = prot & PROT_LOW_NIBBLE, hi = prot & PROT_HIGH_NIBBLE;
  /* Both nibbles, neither, or two bits in one: READONLY|EXECUTE and 0
  ** are the classic mistakes. */
  if (lo && hi) return false;
  if (!prot_base(prot)) return false;
  bool noaccess = (prot & MM_PAGE_NOACCESS) != 0;
  bool guard = (prot & MM_PAGE_GUARD) != 0;
  bool nocache = (prot & MM_PAGE_NOCACHE) != 0;
  bool wcomb = (prot & MM_PAGE_WRITECOMBINE) != 0;
  /* GUARD excludes NOACCESS (nothing to guard) and the cache modifiers;
  ** the two cache modifiers exclude each other and NOACCESS. */
  if (guard && (noaccess || nocache || wcomb)) return false;
  if (nocache && (noaccess || wcomb)) return false;
  if (wcomb && noaccess) return false;
  return true;
}

