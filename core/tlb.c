/*
** tlb.c — a counting TLB. Sets are chosen by the low bits of the page
** number; within a set, the least recently used entry is replaced. Each
** entry is tagged with (pid, vpn): no flush on a process switch.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "tlb.h"

typedef struct tlb_array {
  uint32_t sets, ways;
  uint64_t *tag;          /* sets * ways; 0 = empty */
  uint64_t *used;         /* last-use stamp per entry */
} tlb_array;

struct mm_tlb {
  tlb_array small, large;
  uint64_t stamp;
};

static int array_init(tlb_array *a, uint32_t entries, uint32_t ways,
                      const char *what, char *err, size_t errlen) {
  if (entries == 0) return 0;
  if (ways == 0) ways = entries;        /* fully associative */
  if (entries % ways || ((entries / ways) & (entries / ways - 1))) {
    snprintf(err, errlen, "%s TLB: %u entries is not a power-of-two number "
             "of sets of %u ways", what, entries, ways);
    return -1;
  }
  a->sets = entries / ways;
  a->ways = ways;
  a->tag = calloc(entries, sizeof *a->tag);
  a->used = calloc(entries, sizeof *a->used);
  if (!a->tag || !a->used) {
    snprintf(err, errlen, "out of memory for the TLB");
    return -1;
  }
  return 0;
}

static bool geometry_ok(uint32_t entries, uint32_t ways, const char *what,
                        char *err, size_t errlen) {
  if (entries == 0) return true;
  if (ways == 0) ways = entries;
  if (entries % ways || ((entries / ways) & (entries / ways - 1))) {
    snprintf(err, errlen, "%s TLB: %u entries is not a power-of-two number "
             "of sets of %u ways", what, entries, ways);
    return false;
  }
  return true;
}

bool tlb_config_ok(const mm_tlb_config *cfg, char *err, size_t errlen) {
  return geometry_ok(cfg->entries, cfg->ways, "small-page", err, errlen) &&
         geometry_ok(cfg->large_entries, cfg->large_ways, "large-page", err,
                     errlen);
}

mm_tlb *tlb_create(const mm_tlb_config *cfg, char *err, size_t errlen) {
  mm_tlb *t = calloc(1, sizeof *t);
  if (!t) { snprintf(err, errlen, "out of memory for the TLB"); return NULL; }
  if (array_init(&t->small, cfg->entries, cfg->ways, "small-page", err,
                 errlen) ||
      array_init(&t->large, cfg->large_entries, cfg->large_ways, "large-page",
                 err, errlen)) {
    tlb_destroy(t);
    return NULL;
  }
  return t;
}

void tlb_destroy(mm_tlb *t) {
  if (!t) return;
  free(t->small.tag); free(t->small.used);
  free(t->large.tag); free(t->large.used);
  free(t);
}

static inline uint64_t make_tag(uint32_t pid, uint64_t vpn) {
  return ((uint64_t)pid << 44) ^ (vpn + 1);   /* never 0 for pid > 0 */
}

int tlb_access(mm_tlb *t, uint32_t pid, uint64_t vpn, bool large) {
  tlb_array *a = large ? &t->large : &t->small;
  if (!a->sets) return 0;               /* no TLB of that kind: not counted */
  uint64_t tag = make_tag(pid, vpn);
  size_t base = (size_t)(vpn & (a->sets - 1)) * a->ways;
  size_t lru = base;
  t->stamp++;
  for (size_t k = base; k < base + a->ways; k++) {
    if (a->tag[k] == tag) { a->used[k] = t->stamp; return 0; }
    if (a->used[k] < a->used[lru]) lru = k;
  }
  a->tag[lru] = tag;
  a->used[lru] = t->stamp;
  return 1;
}

static void flush_in(tlb_array *a, uint32_t pid, uint64_t vpn) {
  if (!a->sets) return;
  uint64_t tag = make_tag(pid, vpn);
  size_t base = (size_t)(vpn & (a->sets - 1)) * a->ways;
  for (size_t k = base; k < base + a->ways; k++)
    if (a->tag[k] == tag) { a->tag[k] = 0; a->used[k] = 0; }
}

void tlb_flush_page(mm_tlb *t, uint32_t pid, uint64_t vpn) {
  flush_in(&t->small, pid, vpn);
}

void tlb_flush_large(mm_tlb *t, uint32_t pid, uint64_t lvpn) {
  flush_in(&t->large, pid, lvpn);
}

void tlb_flush_pid(mm_tlb *t, uint32_t pid) {
  tlb_array *arrays[2] = { &t->small, &t->large };
  for (int i = 0; i < 2; i++) {
    tlb_array *a = arrays[i];
    for (size_t k = 0; k < (size_t)a->sets * a->ways; k++)
      if (a->tag[k] && (a->tag[k] >> 44) == pid) { a->tag[k] = 0; a->used[k] = 0; }
  }
}
