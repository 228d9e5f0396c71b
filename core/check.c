/*
** check.c — invariant walkers. Each walks one structure and returns 0, or
** -1 with sys->err naming the first broken invariant. Debug builds run
** check_all() after every public call (MM_CHECK); tests call mm_check().
** They are O(everything): correctness tools, never on a release path.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define BAD(...) do { mm_fail(sys, MM_STATUS_INVALID_PARAMETER, __VA_ARGS__); \
                      return -1; } while (0)

/* Lists: counts equal lengths, links agree, list ids agree (pfn.c 1-2). */
static int check_list(mm_system *sys, mm_list *l, unsigned id, unsigned prio,
                      uint64_t *seen) {
  uint64_t n = 0;
  uint32_t prev = MM_NIL;
  for (uint32_t f = l->head; f != MM_NIL; f = sys->pfn[f].next) {
    if (f >= sys->nframes) BAD("list %u links to frame %u past the end", id, f);
    mm_pfn *e = &sys->pfn[f];
    if (e->list != id) BAD("frame %u is on list %u but says %u", f, id, e->list);
    if (id == LIST_STANDBY && pfn_prio(e) != prio)
      BAD("frame %u on standby list %u has priority %u", f, prio, pfn_prio(e));
    if (e->prev != prev) BAD("frame %u: back link broken on list %u", f, id);
    if (++n > sys->nframes) BAD("list %u has a cycle", id);
    prev = f;
  }
  if (prev != l->tail) BAD("list %u: tail is not the last frame", id);
  if (n != l->count) BAD("list %u: count %llu but %llu frames linked", id,
                         (unsigned long long)l->count, (unsigned long long)n);
  *seen += n;
  return 0;
}

static int check_pfn(mm_system *sys) {
  uint64_t seen = 0, active = 0;
  for (unsigned i = 0; i < LIST_COUNT_; i++) {
    if (i == LIST_ACTIVE || i == LIST_STANDBY) continue;
    if (check_list(sys, &sys->list[i], i, 0, &seen)) return -1;
  }
  for (unsigned pr = 0; pr < PFN_STANDBY_LISTS; pr++)
    if (check_list(sys, &sys->standby[pr], LIST_STANDBY, pr, &seen)) return -1;
  for (unsigned pr = 0; pr < PFN_STANDBY_LISTS; pr++)
    if (((sys->standby_nonempty >> pr) & 1u) != (sys->standby[pr].count != 0))
      BAD("standby list %u: nonempty bit %u, %llu frames", pr,
          (sys->standby_nonempty >> pr) & 1u,
          (unsigned long long)sys->standby[pr].count);
  for (uint64_t f = 0; f < sys->nframes; f++) {
    mm_pfn *e = &sys->pfn[f];
    if (e->list == LIST_ACTIVE) active++;
    else if (e->list >= LIST_COUNT_) BAD("frame %llu has list id %u",
                                          (unsigned long long)f, e->list);
    if (e->list == LIST_MODIFIED && !(e->flags & PFN_F_MODIFIED))
      BAD("frame %llu on the modified list is not marked modified",
          (unsigned long long)f);
    if (e->list == LIST_MODIFIED && e->slot != MM_NIL)
      BAD("modified frame %llu still holds page-file slot %u",
          (unsigned long long)f, e->slot);
    if (e->list == LIST_STANDBY && (e->flags & PFN_F_MODIFIED))
      BAD("frame %llu on standby is marked modified", (unsigned long long)f);
    if ((e->list == LIST_FREE || e->list == LIST_ZEROED) &&
        (e->owner || e->slot != MM_NIL || e->share))
      BAD("free frame %llu still has an owner, slot or share count",
          (unsigned long long)f);
    if (e->slot != MM_NIL && (e->slot >= sys->pf_slots || !pf_used(sys, e->slot)))
      BAD("frame %llu names page-file slot %u, which is not in use",
          (unsigned long long)f, e->slot);
    if ((e->list == LIST_ACTIVE || e->list == LIST_STANDBY ||
         e->list == LIST_MODIFIED) && !(e->flags & PFN_F_PROTO) &&
        !(e->flags & PFN_F_LOCKED)) {
      /* pfn.c 3-4: the owner PTE names this frame */
      if (e->owner == 0 || (e->owner > sys->nprocs && e->owner != MM_SYSTEM_PID))
        BAD("frame %llu in use has no owner", (unsigned long long)f);
      mm_process *p = proc_of(sys, e->owner);
      if (!p->alive) BAD("frame %llu is owned by dead process %u",
                         (unsigned long long)f, e->owner);
      mm_pte *pte = pt_lookup(p, sys, e->vpn);
      if (!pte || pte_payload(*pte) != f)
        BAD("frame %llu: owner PTE (pid %u, vpn 0x%llx) does not name it",
            (unsigned long long)f, e->owner, (unsigned long long)e->vpn);
      bool valid = pte_valid(*pte);
      if (e->list == LIST_ACTIVE && (!valid || e->share != 1))
        BAD("active frame %llu: PTE not valid or share %u",
            (unsigned long long)f, e->share);
      if (e->list != LIST_ACTIVE &&
          (valid || pte_kind(*pte) != PTE_KIND_TRANS || e->share))
        BAD("frame %llu on list %u: owner PTE is not a transition PTE",
            (unsigned long long)f, e->list);
    }
  }
  if (seen + active != sys->nframes)
    BAD("%llu frames on lists and %llu active, but %llu frames exist",
        (unsigned long long)seen, (unsigned long long)active,
        (unsigned long long)sys->nframes);
  return 0;
}

/* Page file: the used count matches the bitmap and every used slot is
** referenced exactly once (by a page-file PTE or a frame). */
static int check_pagefile(mm_system *sys, uint8_t *refs) {
  uint64_t used = 0;
  for (uint64_t s = 0; s < sys->pf_slots; s++) {
    bool u = pf_used(sys, (uint32_t)s);
    used += u;
    if (u != (refs[s] == 1))
      BAD("page-file slot %llu: used=%d but referenced %u times",
          (unsigned long long)s, u, refs[s]);
  }
  if (used != sys->pf_used) BAD("page file: %llu slots marked, count says %llu",
                                (unsigned long long)used,
                                (unsigned long long)sys->pf_used);
  return 0;
}

typedef struct walk {
  uint64_t committed, tables, resident, shared;
  uint8_t *refs;
} walk;

static int check_leaf(mm_system *sys, mm_process *p, mm_leaf *leaf, walk *w) {
  uint64_t n = pt_leaf_entries(sys), live = 0;
  for (uint64_t i = 0; i < n; i++) {
    mm_pte v = leaf->pte[i];
    uint64_t vpn = leaf->base_vpn + i;
    if (v) live++;
    if (!v) continue;
    int vi = vad_find(p, vpn);
    if (vi < 0) BAD("pid %u: PTE for page 0x%llx outside every VAD", p->pid,
                    (unsigned long long)vpn);
    if (!pte_committed(v)) BAD("pid %u: nonzero PTE 0x%llx not committed",
                               p->pid, (unsigned long long)vpn);
    if (!prot_valid(pte_prot(v)))
      BAD("pid %u: page 0x%llx has invalid protection 0x%x", p->pid,
          (unsigned long long)vpn, pte_prot(v));
    if (p->vads[vi].type == VAD_PRIVATE)
      w->committed++;
    if (pte_valid(v)) {
      uint64_t f = pte_payload(v);
      if (f >= sys->nframes) BAD("PTE names frame %llu past the end",
                                 (unsigned long long)f);
      if (sys->pfn[f].flags & PFN_F_LOCKED) continue;
      w->resident++;
      bool proto = (sys->pfn[f].flags & PFN_F_PROTO) != 0;
      if (proto != ((v & PTE_PROTOMAP) != 0))
        BAD("pid %u: page 0x%llx and frame %llu disagree on sharing", p->pid,
            (unsigned long long)vpn, (unsigned long long)f);
      if (proto) w->shared++;
      if (proto && !leaf->wsslot)
        BAD("pid %u: shared page 0x%llx in a leaf without slots", p->pid,
            (unsigned long long)vpn);
      uint32_t slot = *pte_wsslot(sys, leaf, i, v);
      if (slot == MM_NIL || slot >= p->ws.hi || p->ws.e[slot].pte != &leaf->pte[i])
        BAD("pid %u: valid page 0x%llx not in its working set", p->pid,
            (unsigned long long)vpn);
      if ((v & (PTE_HW_R | PTE_HW_W | PTE_HW_X)) != pte_hw_bits(pte_prot(v)))
        BAD("pid %u: page 0x%llx hardware bits disagree with protection",
            p->pid, (unsigned long long)vpn);
    } else {
      if (pte_kind(v) == PTE_KIND_PAGEFILE) {
        uint64_t s = pte_payload(v);
        if (s >= sys->pf_slots) BAD("PTE names slot %llu past the page file",
                                    (unsigned long long)s);
        if (w->refs[s] < 255) w->refs[s]++;
      } else if (pte_kind(v) == PTE_KIND_PROTO) {
        uint64_t id = pte_payload(v) >> SEG_PAGE_BITS;
        uint64_t pg = pte_payload(v) & ((1ull << SEG_PAGE_BITS) - 1);
        if (id == 0 || id > sys->nsegs || !sys->segs[id - 1].used ||
            pg >= sys->segs[id - 1].npages)
          BAD("pid %u: view page 0x%llx points at no prototype", p->pid,
              (unsigned long long)vpn);
      } else if (pte_kind(v) == PTE_KIND_TRANS) {
        uint64_t f = pte_payload(v);
        if (f >= sys->nframes || sys->pfn[f].owner != p->pid ||
            sys->pfn[f].vpn != vpn)
          BAD("pid %u: transition PTE 0x%llx names a frame it does not own",
              p->pid, (unsigned long long)vpn);
      }
    }
  }
  if (live != leaf->live) BAD("pid %u: leaf at 0x%llx counts %u live PTEs, has %llu",
                              p->pid, (unsigned long long)leaf->base_vpn,
                              leaf->live, (unsigned long long)live);
  return 0;
}

static int check_node(mm_system *sys, mm_process *p, void *node, unsigned l,
                      walk *w) {
  w->tables++;
  if (l + 1 == sys->pt_levels) return check_leaf(sys, p, node, w);
  mm_dir *d = node;
  uint64_t n = 1ull << sys->pt_bits[l], live = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (!d->child[i]) continue;
    live++;
    if (check_node(sys, p, d->child[i], l + 1, w)) return -1;
  }
  if (live != d->live) BAD("pid %u: directory counts %u children, has %llu",
                           p->pid, d->live, (unsigned long long)live);
  return 0;
}

static int check_process(mm_system *sys, mm_process *p, walk *w) {
  /* VADs: sorted, inside the user range, not overlapping. (Two may share
  ** a granule: the pieces of a partial release are separate allocations,
  ** A.1.5; new reservations never land in a used granule, which vad.c
  ** enforces where it places them.) */
  for (uint32_t i = 0; i < p->nvads; i++) {
    mm_vad *v = &p->vads[i];
    if (v->start >= v->end) BAD("pid %u: empty VAD %u", p->pid, i);
    if (v->start < p->lo_vpn || v->end - 1 > p->hi_vpn)
      BAD("pid %u: VAD %u outside its address range", p->pid, i);
    if (i && p->vads[i - 1].end > v->start)
      BAD("pid %u: VADs %u and %u overlap", p->pid, i - 1, i);
  }
  if (p->pid != MM_SYSTEM_PID && vad_check(sys, p)) return -1;
  walk pw = { 0, 0, 0, 0, w->refs };
  if (p->pt_root && check_node(sys, p, p->pt_root, 0, &pw)) return -1;
  if (pw.tables != p->pt_tables)
    BAD("pid %u: %llu tables counted, %llu found", p->pid,
        (unsigned long long)p->pt_tables, (unsigned long long)pw.tables);
  uint64_t used = 0;
  for (uint32_t s = 0; s < p->ws.hi; s++) {
    mm_pte *pte = p->ws.e[s].pte;
    if (!pte) continue;
    used++;
    if (!pte_valid(*pte)) BAD("pid %u: ws slot %u holds an invalid page",
                              p->pid, s);
  }
  uint64_t nfree = 0;
  for (uint32_t s = p->ws.free_head; s != MM_NIL; s = (uint32_t)p->ws.e[s].vpn) {
    if (s >= p->ws.hi || p->ws.e[s].pte) BAD("pid %u: ws free list broken",
                                             p->pid);
    if (++nfree > p->ws.hi) BAD("pid %u: ws free list has a cycle", p->pid);
  }
  if (used != p->ws.count || used + nfree != p->ws.hi)
    BAD("pid %u: working set counts %u pages, %llu in slots, %llu free of %u",
        p->pid, p->ws.count, (unsigned long long)used,
        (unsigned long long)nfree, p->ws.hi);
  if (pw.resident != p->ws.count)
    BAD("pid %u: %llu resident pages but working set holds %u", p->pid,
        (unsigned long long)pw.resident, p->ws.count);
  if (pw.committed + p->view_commit != p->st.commit)
    BAD("pid %u: %llu private pages committed but %llu charged", p->pid,
        (unsigned long long)pw.committed, (unsigned long long)p->st.commit);
  if (p->st.private_pages != p->ws.count - pw.shared)
    BAD("pid %u: private_pages %llu, working set %u with %llu shared",
        p->pid, (unsigned long long)p->st.private_pages, p->ws.count,
        (unsigned long long)pw.shared);
  w->committed += pw.committed;
  return 0;
}

void check_failed(const mm_system *sys) {
  fprintf(stderr, "pagelab: invariant broken: %s\n", sys->err);
  abort();
}

int check_all(mm_system *sys) {
  if (check_pfn(sys)) return -1;
  uint8_t *refs = calloc(sys->pf_slots + 1, 1);
  if (!refs) return 0;                  /* cannot check: not a failure */
  for (uint64_t f = 0; f < sys->nframes; f++)
    if (sys->pfn[f].slot != MM_NIL && sys->pfn[f].slot < sys->pf_slots &&
        refs[sys->pfn[f].slot] < 255)
      refs[sys->pfn[f].slot]++;
  for (uint32_t id = 1; id <= sys->nsegs; id++) {
    mm_segment *g = &sys->segs[id - 1];
    for (uint64_t k = 0; g->used && k < g->npages; k++)
      if (!pte_valid(g->proto[k]) && pte_kind(g->proto[k]) == PTE_KIND_PAGEFILE &&
          pte_payload(g->proto[k]) < sys->pf_slots && refs[pte_payload(g->proto[k])] < 255)
        refs[pte_payload(g->proto[k])]++;
  }
  walk w = { 0, 0, 0, 0, refs };
  int r = 0;
  for (uint32_t k = 0; k <= sys->nprocs && !r; k++)
    if (proc_at(sys, k)->alive) r = check_process(sys, proc_at(sys, k), &w);
  if (!r) r = check_pagefile(sys, refs);
  if (!r) r = pool_check(sys);
  if (!r) r = sections_check(sys);
  free(refs);
  if (r) return -1;
  if (sys->commit_charge > sys->commit_limit)
    BAD("commit charge %llu above the limit %llu",
        (unsigned long long)sys->commit_charge,
        (unsigned long long)sys->commit_limit);
  if (w.committed > sys->commit_charge)
    BAD("%llu pages committed but only %llu charged",
        (unsigned long long)w.committed, (unsigned long long)sys->commit_charge);
  return 0;
}
