/*
** pfn.c — the PFN database: one entry per physical frame, and the lists.
**
** Invariants (checked by check.c after every public call in debug builds):
**  1. Every frame is on exactly one of zeroed, free, standby[0..7],
**     modified, modified-no-write, bad — or it is active (in use, mapped
**     by at least one valid PTE: share >= 1).
**  2. Each list's count equals its length; links are consistent both ways.
**  3. An active frame's owner PTE is valid and names the frame; the page
**     is in its process's working set.
**  4. A standby or modified frame's owner PTE is a transition PTE naming
**     the frame. Modified frames have PFN_F_MODIFIED; standby frames do not.
**  5. available = zeroed + free + standby.
**
** Page life cycle (function performing each edge):
**
**            zero_step             pfn_take(zeroed)
**     free ------------> zeroed -------------------> active
**      ^  \____________________ pfn_take ___________/  |  |
**      |                                               |  | ws_trim_slot
**      | pfn_release (page deleted)                    |  v
**      +---------------------------------------------- + standby <--+
**      ^                                   (clean)      |   ^       |
**      |   pfn_take repurposes (old PTE -> backing)     |   | mpw   |
**      +------------------------------------------------+   |       |
**                                 soft fault: pfn_unlink     modified
**
** Lists are doubly linked by frame number with head/tail, so insert and
** unlink are O(1). Zeroed frames go to the head (they are ready), others
** to the tail. Standby is taken from the head: the page that has been
** unused longest is repurposed first, lowest priority list first (A.9.5).
*/
#include "internal.h"
#include "tlb.h"

static mm_list *list_of(mm_system *sys, const mm_pfn *e) {
  if (e->list == LIST_STANDBY) return &sys->standby[pfn_prio(e)];
  return &sys->list[e->list];
}

static void link_tail(mm_system *sys, mm_list *l, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  e->next = MM_NIL;
  e->prev = l->tail;
  if (l->tail != MM_NIL) sys->pfn[l->tail].next = f;
  else l->head = f;
  l->tail = f;
  l->count++;
}

static void link_head(mm_system *sys, mm_list *l, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  e->prev = MM_NIL;
  e->next = l->head;
  if (l->head != MM_NIL) sys->pfn[l->head].prev = f;
  else l->tail = f;
  l->head = f;
  l->count++;
}

void pfn_init(mm_system *sys) {
  sys->sb_cur = (mm_list_cursor){ NULL, MM_NIL, 0 };
  sys->mod_cur = (mm_list_cursor){ NULL, MM_NIL, 0 };
  ahead_init(&sys->sb_ahead);
  for (int i = 0; i < LIST_COUNT_; i++)
    sys->list[i] = (mm_list){ MM_NIL, MM_NIL, 0 };
  for (int i = 0; i < PFN_STANDBY_LISTS; i++)
    sys->standby[i] = (mm_list){ MM_NIL, MM_NIL, 0 };
  sys->standby_nonempty = 0;
  /* At boot every frame holds whatever the firmware left: free, not
  ** zeroed. The zero-page step zeroes them as time passes. */
  for (uint64_t f = 0; f < sys->nframes; f++) {
    mm_pfn *e = &sys->pfn[f];
    e->slot = MM_NIL;
    e->owner = 0;
    e->list = LIST_FREE;
    link_tail(sys, &sys->list[LIST_FREE], (uint32_t)f);
  }
}

void pfn_insert(mm_system *sys, uint32_t f, unsigned list) {
  mm_pfn *e = &sys->pfn[f];
  assert(e->list == LIST_ACTIVE);
  assert(list != LIST_ACTIVE);
  assert(list != LIST_STANDBY || !(e->flags & PFN_F_MODIFIED));
  assert(list != LIST_MODIFIED || (e->flags & PFN_F_MODIFIED));
  e->list = (uint8_t)list;
  if (list == LIST_ZEROED) link_head(sys, &sys->list[LIST_ZEROED], f);
  else link_tail(sys, list_of(sys, e), f);
  if (list == LIST_STANDBY) sys->standby_nonempty |= 1u << pfn_prio(e);
}

/* ------------------------------------------------------------ lookahead */

/* Standby frames are repurposed and modified frames written in list
** order, and each costs a cache miss on its entry (and, repurposed, on
** the PTE of the page that loses it): frames nobody touched lately. A
** cursor some places past the head names the frames to come, fetching
** each as it is named; moving on reads the entry named one step earlier.
** A frame leaving at the cursor moves it back one, leaving at the head
** brings it one place nearer, leaving between the two leaves it one
** place further than it counts. Speed only: a wrong guess costs a
** wasted fetch, never a wrong result. */

/* Names the frame after c's, at most depth places past l's head, and
** fetches its entry. Returns it, or MM_NIL (far enough, or the list's
** end: a list shorter than depth stops the cursor at its tail). */
static uint32_t cursor_step(mm_system *sys, mm_list_cursor *c, mm_list *l,
                            uint32_t depth) {
  uint32_t f;
  if (c->list != l || c->at == MM_NIL || c->dist == 0) {
    c->list = l;                     /* start again at the head */
    c->dist = 0;
    f = l->head;
  } else {
    if (c->dist >= depth) return MM_NIL;
    f = sys->pfn[c->at].next;
  }
  if (f == MM_NIL) return MM_NIL;
  c->at = f;
  c->dist++;
  __builtin_prefetch(&sys->pfn[f], 1);
  return f;
}

/* Frame f leaves l. */
static inline void cursor_leave(mm_system *sys, mm_list_cursor *c,
                                const mm_list *l, uint32_t f) {
  if (l != c->list) return;
  if (f == c->at) c->at = sys->pfn[f].prev;
  if (f == l->head && c->dist) c->dist--;
}

/* Unlinks frame f from l, its list. Inline: pfn_take's hot path. */
static inline void list_unlink(mm_system *sys, mm_list *l, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  assert(e->list != LIST_ACTIVE && l == list_of(sys, e));
  cursor_leave(sys, &sys->sb_cur, l, f);
  cursor_leave(sys, &sys->mod_cur, l, f);
  if (e->prev != MM_NIL) sys->pfn[e->prev].next = e->next;
  else l->head = e->next;
  if (e->next != MM_NIL) sys->pfn[e->next].prev = e->prev;
  else l->tail = e->prev;
  if (--l->count == 0 && e->list == LIST_STANDBY)
    sys->standby_nonempty &= ~(1u << pfn_prio(e));
  e->next = e->prev = MM_NIL;
  e->list = LIST_ACTIVE;
}

void pfn_unlink(mm_system *sys, uint32_t f) {
  list_unlink(sys, list_of(sys, &sys->pfn[f]), f);
}

/* The old owner of a standby frame loses it: its transition PTE goes back
** to where the data still lives (A.9.3 last row) — the page-file slot, or
** nothing (demand-zero) when the page was reset or never had a copy. */
static void repurpose(mm_system *sys, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  if (e->flags & PFN_F_PROTO) {
    proto_repurpose(sys, f);
    e->owner = 0;
    e->flags = 0;
    sys->st.repurposed++;
    return;
  }
  mm_process *p = proc_of(sys, e->owner);
  mm_leaf *leaf = pt_leaf(p, sys, e->vpn);
  assert(leaf);
  mm_pte *pte = &leaf->pte[pt_index(sys, e->vpn)];
  assert(!pte_valid(*pte) && pte_kind(*pte) == PTE_KIND_TRANS &&
         pte_payload(*pte) == f);
  mm_pte keep = *pte & (PTE_C | PTE_PROT_MASK);
  if (e->slot != MM_NIL)
    *pte = keep | (PTE_KIND_PAGEFILE << PTE_KIND_SHIFT) |
           ((mm_pte)e->slot << PTE_PAYLOAD_SHIFT);
  else
    *pte = keep;                 /* demand-zero again */
  e->slot = MM_NIL;
  e->owner = 0;
  e->flags = 0;
  sys->st.repurposed++;
}

/* Repurposing: the cursor runs WS_AHEAD frames into the standby list
** being taken from, and the PTE each named frame's entry points to is
** fetched WS_AHEAD/3 names later. The frames are those the page writer
** or a trim put there, mostly still in the cache, so the cursor may go
** several places in one take. */
static void standby_ahead(mm_system *sys, mm_list *l) {
  uint32_t f;
  while ((f = cursor_step(sys, &sys->sb_cur, l, WS_AHEAD)) != MM_NIL) {
    ahead_push(&sys->sb_ahead, f);
    uint32_t b = ahead_back(&sys->sb_ahead, WS_AHEAD / 3);
    if (b == MM_NIL) continue;
    const mm_pfn *e = &sys->pfn[b];
    if (e->list != LIST_STANDBY || (e->flags & PFN_F_PROTO)) continue;
    mm_process *p = proc_of(sys, e->owner);
    mm_leaf *leaf = p ? pt_leaf(p, sys, e->vpn) : NULL;
    if (leaf) __builtin_prefetch(&leaf->pte[pt_index(sys, e->vpn)], 1);
  }
}

/* The page writer takes a batch of tune.mpw_batch frames off the head of
** the modified list, a list long and cold (several hundred MB stay on it,
** A.9.8): walked there and then, each entry is a miss the next one waits
** on. A cursor runs up to a batch into the list instead, one place per
** frame taken from standby, so that the walk finds its entries cached. */
static void modified_ahead(mm_system *sys) {
  (void)cursor_step(sys, &sys->mod_cur, &sys->list[LIST_MODIFIED],
                    sys->cfg.tune.mpw_batch);
}

static uint32_t take_list(mm_system *sys, mm_list *l) {
  uint32_t f = l->head;
  if (f != MM_NIL) list_unlink(sys, l, f);
  return f;
}

uint32_t pfn_take(mm_system *sys, bool want_zeroed) {
  /* A.9.5 (S:SO): a demand-zero page comes from zeroed first, then free
  ** (zeroed on the spot); a page about to be filled from disk from free
  ** first, then zeroed; standby in both cases only when both are empty. */
  uint32_t f;
  if (want_zeroed) {
    f = take_list(sys, &sys->list[LIST_ZEROED]);
    if (f != MM_NIL) return f;
    f = take_list(sys, &sys->list[LIST_FREE]);
    if (f != MM_NIL) { sys->st.zeroed_on_demand++; return f; }
  } else {
    f = take_list(sys, &sys->list[LIST_FREE]);
    if (f != MM_NIL) return f;
    f = take_list(sys, &sys->list[LIST_ZEROED]);
    if (f != MM_NIL) return f;
  }
  if (sys->standby_nonempty) {         /* the lowest priority first */
    mm_list *l = &sys->standby[__builtin_ctz(sys->standby_nonempty)];
    standby_ahead(sys, l);
    modified_ahead(sys);
    f = take_list(sys, l);
    repurpose(sys, f);
    if (want_zeroed) sys->st.zeroed_on_demand++;
    return f;
  }
  return MM_NIL;
}

void pfn_release(mm_system *sys, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  if (e->list != LIST_ACTIVE) pfn_unlink(sys, f);
  if (e->slot != MM_NIL) pf_free(sys, e->slot);
  e->slot = MM_NIL;
  e->owner = 0;
  e->vpn = 0;
  e->share = 0;
  e->flags = 0;
  pfn_insert(sys, f, LIST_FREE);
}

/* --------------------------------------------------------- zero page step */

void zero_step(mm_system *sys) {
  mm_list *fl = &sys->list[LIST_FREE];
  while (fl->count) {
    uint32_t f = take_list(sys, fl);
    pfn_insert(sys, f, LIST_ZEROED);
    sys->st.zeroed_by_step++;
  }
}
