/*
** contents.c — real page contents (pagelab.system{ contents = true }).
**
** Off by default and then free: every hook is one test of sys->mem on a
** fault path, never on a hit. On, each frame has its bytes in sys->mem,
** each page-file slot gets its bytes when the writer first writes it, and
** simulated files keep theirs; the fault paths copy between them, so
** sharing, copy-on-write isolation, zero fill, page-out and page-in can be
** seen with p:read and p:write.
*/
#include <stdlib.h>

#include "internal.h"

void contents_slot_in(mm_system *sys, uint32_t slot, uint32_t f) {
  uint8_t *src = sys->pf_data[slot];
  if (src) memcpy(frame_bytes(sys, f), src, sys->page_size);
  else memset(frame_bytes(sys, f), 0, sys->page_size);
}

int contents_slot_out(mm_system *sys, uint32_t f, uint32_t slot) {
  if (!sys->pf_data[slot]) {
    sys->pf_data[slot] = malloc(sys->page_size);
    if (!sys->pf_data[slot]) return -1;
  }
  memcpy(sys->pf_data[slot], frame_bytes(sys, f), sys->page_size);
  return 0;
}

void contents_slot_free(mm_system *sys, uint32_t slot) {
  free(sys->pf_data[slot]);
  sys->pf_data[slot] = NULL;
}

/* Copies n bytes page by page, each page one access of kind; stops at the
** first page that refuses. */
static mm_status copy(mm_system *sys, mm_pid pid, uint64_t addr, uint8_t *buf,
                      const uint8_t *src, uint64_t n, uint64_t *done) {
  uint64_t moved = 0;
  if (done) *done = 0;
  if (!sys->mem)
    return mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
                   "this system keeps no page contents: create it with "
                   "contents = true");
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  mm_status st = MM_STATUS_SUCCESS;
  sys->nested++;
  while (moved < n) {
    uint64_t a = addr + moved;
    uint64_t off = a & (sys->page_size - 1);
    uint64_t chunk = sys->page_size - off;
    if (chunk > n - moved) chunk = n - moved;
    /* The access faults the page in; the clock may run right after it
    ** and, under some policies, trim that very page: then touch again. */
    int r;
    mm_pte *pte;
    int tries = 0;
    do {
      r = access_internal(sys, p, a, src ? MM_WRITE : MM_READ);
      pte = pt_lookup(p, sys, a >> sys->page_shift);
    } while (r >= 0 && r != MM_ACCESS_VIOLATION && r != MM_GUARD &&
             !(pte && pte_valid(*pte)) && ++tries < 8);
    if (r == MM_ERROR) { st = sys->last_status; break; }
    if (r == MM_ACCESS_VIOLATION || r == MM_GUARD) {
      st = mm_fail(sys, r == MM_GUARD ? MM_STATUS_GUARD_PAGE_VIOLATION
                                      : MM_STATUS_ACCESS_VIOLATION,
                   "%s at %#llx after %llu bytes",
                   r == MM_GUARD ? "guard page" : "access violation",
                   (unsigned long long)a, (unsigned long long)moved);
      break;
    }
    if (!(pte && pte_valid(*pte))) {
      st = mm_fail(sys, MM_STATUS_NO_MEMORY, "page %#llx keeps being "
                   "trimmed as soon as it is touched", (unsigned long long)a);
      break;
    }
    uint8_t *fb = frame_bytes(sys, (uint32_t)pte_payload(*pte)) + off;
    if (src) memcpy(fb, src + moved, chunk);
    else memcpy(buf + moved, fb, chunk);
    moved += chunk;
  }
  sys->nested--;
  if (done) *done = moved;
  MM_CHECK(sys);
  return st;
}

mm_status mm_write(mm_system *sys, mm_pid pid, uint64_t addr, const void *buf,
                   uint64_t n, uint64_t *done) {
  return copy(sys, pid, addr, NULL, buf, n, done);
}

mm_status mm_read(mm_system *sys, mm_pid pid, uint64_t addr, void *buf,
                  uint64_t n, uint64_t *done) {
  return copy(sys, pid, addr, buf, NULL, n, done);
}
