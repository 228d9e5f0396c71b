/*
** internal.h — the core's shared data structures and the verbs that change
** them. Only the core's own files include this; bindings see mm.h alone.
**
** Objects
**   mm_system   one simulated machine: owns frames, page file, processes
**   mm_process  an address space: VADs, page tables, a working set
**   mm_pfn      one entry per physical frame (PFN database)
**   mm_pte      one 64-bit entry per virtual page, in multi-level tables
**   mm_ws       a working set: slots naming the resident pages of a process
**
** Every change of a PTE or of a frame's list goes through a named verb
** (pte.c, pfn.c); nothing else pokes bits or relinks frames by hand.
*/
#ifndef PAGELAB_INTERNAL_H
#define PAGELAB_INTERNAL_H

#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include "mm.h"

#define MM_NIL UINT32_MAX           /* no frame / no slot / end of list */
#define MM_GRANULE 0x10000u         /* allocation granularity, 64 KiB */

/* ------------------------------------------------------------------ PTE

   A PTE is 64 bits. The low byte holds what hardware would keep (valid,
   accessed, dirty) and what the simulated OS keeps beside it; bits 8-18
   the page protection as its Windows PAGE_* value; bits 24-63 a payload
   whose meaning depends on the kind:

     V=1                 valid: payload = frame; HW_R/HW_W/HW_X say which
                         accesses the hardware allows without a fault
     V=0, C=0            not committed (the VAD says reserved or free);
                         prot is 0 and payload 0, so the PTE is all zero
     V=0, C=1, KIND=DZ   committed, demand-zero on first touch
     V=0, KIND=TRANS     transition: payload = frame on standby/modified
     V=0, KIND=PAGEFILE  paged out: payload = page-file slot
     V=0, KIND=PROTO     maps a section page: payload = prototype index
*/
typedef uint64_t mm_pte;

#define PTE_V        0x01u          /* valid */
#define PTE_A        0x02u          /* accessed (hardware sets on a hit) */
#define PTE_D        0x04u          /* dirty (hardware sets on a write) */
#define PTE_C        0x08u          /* committed */
#define PTE_HW_R     0x10u          /* valid and readable without fault */
#define PTE_HW_W     0x20u          /* valid and writable without fault */
#define PTE_HW_X     0x40u          /* valid and executable without fault */
#define PTE_PROTOMAP 0x80u          /* maps a section page (shared) */
#define PTE_PROT_SHIFT 8
#define PTE_PROT_MASK  (0x7FFull << PTE_PROT_SHIFT)
#define PTE_LARGE    (1ull << 21)   /* part of a large page (TLB reach) */
#define PTE_KIND_SHIFT 19
#define PTE_KIND_MASK  (3ull << PTE_KIND_SHIFT)
#define PTE_KIND_DZ       0ull
#define PTE_KIND_TRANS    1ull
#define PTE_KIND_PAGEFILE 2ull
#define PTE_KIND_PROTO    3ull
#define PTE_PAYLOAD_SHIFT 24

static inline uint32_t pte_prot(mm_pte p) {
  return (uint32_t)((p & PTE_PROT_MASK) >> PTE_PROT_SHIFT);
}
static inline uint64_t pte_kind(mm_pte p) {
  return (p & PTE_KIND_MASK) >> PTE_KIND_SHIFT;
}
static inline uint64_t pte_payload(mm_pte p) { return p >> PTE_PAYLOAD_SHIFT; }
static inline bool pte_valid(mm_pte p) { return (p & PTE_V) != 0; }
static inline bool pte_committed(mm_pte p) { return (p & PTE_C) != 0; }

/* ----------------------------------------------------------- page tables

   Real radix tables: levels-1 directory levels above leaf tables. A leaf
   holds the PTEs of 2^bits consecutive pages, plus, beside each PTE, the
   working-set slot of the page while it is resident (so that any resident
   page, private or shared, finds its working-set entry in O(1)); for a
   PTE that is not valid the slot entry is stale and means nothing. */
typedef struct mm_leaf {
  uint64_t base_vpn;                /* vpn of pte[0] */
  uint32_t live;                    /* PTEs that are not zero */
  uint32_t pad_;
  uint32_t *wsslot;                 /* [entries], or NULL: see pte_wsslot */
  mm_pte pte[];                     /* [entries] */
} mm_leaf;

/* A cache entry of pt_leaf: the leaf number (vpn >> leaf bits) and its
** leaf, or NULL. */
typedef struct mm_leaf_ref {
  uint64_t num;
  mm_leaf *leaf;
} mm_leaf_ref;
#define PT_LC_MIN 16u
#define PT_LC_MAX 8192u

typedef struct mm_dir {
  uint32_t live;                    /* children present */
  uint32_t pad_;
  void *child[];                    /* mm_dir* or mm_leaf* */
} mm_dir;

/* ------------------------------------------------------------------ VAD */

enum { VAD_PRIVATE = 0, VAD_MAPPED = 1, VAD_IMAGE = 2 };
#define VAD_F_LARGE  0x01u          /* large-page allocation */
#define VAD_F_SYSTEM 0x02u          /* the region Windows keeps at 0x10000 */

typedef struct mm_vad {
  uint64_t start, end;              /* pages [start, end) */
  uint32_t alloc_protect;           /* protection given at reservation */
  uint8_t type;                     /* VAD_* */
  uint8_t flags;                    /* VAD_F_* */
  uint16_t pad_;
  void *view;                       /* section view, for mapped/image */
} mm_vad;

/* ------------------------------------------------ files, segments, views

   A segment holds the prototype PTEs of a section's pages (A.11.7): one
   per page, in the PTE format above without protection. Page-file
   segments belong to their section; a file's data segment belongs to the
   file, so every section on the file shares it and its cached pages
   outlive the sections (they stay on standby: the seed notes' inactive
   memory). A view's PTEs point at prototype PTEs (kind PROTO, payload =
   seg << 24 | page) until a fault makes them valid with PTE_PROTOMAP. */
enum { SEG_PAGEFILE = 1, SEG_DATA = 2, SEG_IMAGE = 3 };
#define SEG_PAGE_BITS 24            /* pages per segment: 2^24 at most */
#define SEG_MAX 0xFFFFu             /* segment ids */

typedef struct mm_file {
  bool used, host;
  char name[64];
  char *path;                       /* host files */
  uint64_t size;
  uint8_t *data;                    /* contents, or NULL */
  uint64_t reads, writes;
  uint32_t handles, sections, views;
  uint32_t seg;                     /* data segment, or 0 */
  uint32_t image_seg;               /* image segment, or 0 (A.11.11) */
} mm_file;

struct pe_image;

/* Per image page: its protection (PAGE_*) and whether any byte of it comes
** from the file (else it is demand-zero, like .bss). */
#define IMG_FILEBACKED 0x100u

typedef struct mm_segment {
  bool used;
  uint8_t kind;                     /* SEG_* */
  uint16_t *pprot;                  /* SEG_IMAGE: per page, IMG_* | PAGE_* */
  uint8_t *image;                   /* SEG_IMAGE: laid-out bytes (contents) */
  struct pe_image *pe;              /* SEG_IMAGE: the parsed header */
  uint8_t *reloc_pages;             /* SEG_IMAGE: bitmap of pages fixed up */
  uint32_t file;                    /* SEG_DATA/SEG_IMAGE: the file */
  uint32_t section;                 /* SEG_PAGEFILE: the section */
  uint64_t npages;
  mm_pte *proto;
  uint64_t committed;               /* SEG_PAGEFILE pages charged */
} mm_segment;

typedef struct mm_section {
  bool used;
  char name[64];
  uint32_t seg;
  uint64_t size;
  uint32_t protect, attributes;
  uint32_t handles, views;
  mm_handle file;
} mm_section;

typedef struct mm_view {
  uint32_t section, seg;
  uint64_t first;                   /* segment page of the view's page 0 */
  uint64_t charged;                 /* commit charged (write-copy views) */
} mm_view;

static inline uint64_t proto_index(uint32_t seg, uint64_t page) {
  return ((uint64_t)seg << SEG_PAGE_BITS) | page;
}

/* --------------------------------------------------------- working sets */

typedef struct mm_wsle {
  mm_pte *pte;                      /* NULL: free slot */
  uint64_t vpn;                     /* the page; free slot: next free */
} mm_wsle;

struct mm_policy_ops;

/* Lookahead (ws_ahead, standby_ahead): the last WS_AHEAD slots or frames
** named as likely to be needed soon, so that each can be followed a stage
** further (entry, then what it points to) some names later. */
#define WS_AHEAD 16u
typedef struct mm_ahead {
  uint32_t ring[WS_AHEAD];          /* MM_NIL until named */
  uint32_t n;                       /* names ever pushed */
} mm_ahead;

static inline void ahead_init(mm_ahead *a) {
  for (uint32_t k = 0; k < WS_AHEAD; k++) a->ring[k] = MM_NIL;
  a->n = 0;
}
static inline void ahead_push(mm_ahead *a, uint32_t x) {
  a->ring[a->n++ % WS_AHEAD] = x;
}
/* What was pushed lag pushes before the last one (lag < WS_AHEAD). */
static inline uint32_t ahead_back(const mm_ahead *a, uint32_t lag) {
  return a->ring[(a->n - 1 - lag) % WS_AHEAD];
}

typedef struct mm_ws {
  mm_wsle *e;
  uint32_t cap;                     /* slots allocated */
  uint32_t hi;                      /* slots ever used: [0, hi) */
  uint32_t count;                   /* resident pages */
  uint32_t free_head;               /* first free slot below hi, or MM_NIL */
  uint32_t min, max;
  bool hard_min, hard_max;
  uint64_t peak;
  void *pol;                        /* policy state */
  mm_ahead ahead;                   /* likely victims (ws_ahead) */
} mm_ws;

/* --------------------------------------------------------------- process */

#define MM_SYSTEM_PID 0xFFFFFFu     /* the System process (pools) */

typedef struct mm_process {
  mm_pid pid;
  bool alive;
  bool replay_commit;               /* a replay commits untouched pages */
  uint64_t lo_vpn, hi_vpn;          /* its address range, inclusive */
  uint64_t view_commit;             /* commit charged for its views */
  char name[32];
  mm_vad *vads;                     /* sorted by start, not overlapping */
  uint32_t nvads, capvads;
  void *pt_root;                    /* top directory (or NULL) */
  uint64_t pt_tables;               /* tables allocated, all levels */
  /* Leaves found lately (pt_leaf): a direct-mapped cache by leaf number,
  ** lc0 until the tables outgrow it, then a heap array of up to
  ** PT_LC_MAX entries. */
  mm_leaf_ref *lc;
  uint32_t lc_mask;                 /* entries - 1 */
  uint64_t pt_leaves;               /* leaf tables allocated */
  mm_leaf_ref lc0[PT_LC_MIN];
  uint64_t pt_epoch;                /* bumped whenever a table is freed */
  mm_ws ws;
  mm_pstats st;                     /* counters (ws_* filled on read) */
  void *loader;                     /* loader.c: modules of the process */
} mm_process;

/* ------------------------------------------------------------------ PFN */

enum {                              /* MMLISTS order (WINDOWS.md A.9.1) */
  LIST_ZEROED = 0, LIST_FREE, LIST_STANDBY, LIST_MODIFIED,
  LIST_MODIFIED_NOWRITE, LIST_BAD, LIST_ACTIVE, LIST_COUNT_
};
#define PFN_STANDBY_LISTS 8         /* standby priorities 0..7 */

#define PFN_F_MODIFIED 0x01u        /* no valid backing copy */
#define PFN_F_PROTO    0x02u        /* owner is a prototype PTE */
#define PFN_F_LARGE    0x04u        /* part of a large page */
#define PFN_F_NONPAGED 0x08u        /* non-paged pool: always resident */
#define PFN_F_LOCKED   (PFN_F_LARGE | PFN_F_NONPAGED)   /* not in any WS */
#define PFN_PRIO_SHIFT 4            /* priority in bits 4-6 */

typedef struct mm_pfn {
  uint32_t next, prev;              /* list links (frame numbers) */
  uint64_t vpn;                     /* owner page (vpn or proto index) */
  uint32_t owner;                   /* pid of the owning PTE */
  uint32_t slot;                    /* page-file copy, or MM_NIL */
  uint16_t share;                   /* valid PTEs mapping the frame */
  uint8_t list;                     /* LIST_* */
  uint8_t flags;                    /* PFN_F_* and priority */
  uint32_t wsslot;                  /* a private page's working-set slot */
} mm_pfn;

typedef struct mm_list {
  uint32_t head, tail;
  uint64_t count;
} mm_list;

/* A frame some places past the head of a PFN list, for fetching the
** frames the list will give up next before they are asked for (pfn.c). */
typedef struct mm_list_cursor {
  mm_list *list;                    /* the list walked; NULL: none yet */
  uint32_t at, dist;                /* the frame last named; places past
                                       the head (0: start again) */
} mm_list_cursor;

/* --------------------------------------------------------------- system */

typedef struct mm_policy mm_policy;

struct mm_system {
  mm_config cfg;
  const mm_arch_info *arch;
  unsigned page_shift;
  unsigned large_shift;             /* log2(large pages / small page) */
  uint64_t page_size;
  unsigned pt_levels;
  unsigned pt_bits[8];              /* index bits per level, top first */
  unsigned pt_shift[8];             /* vpn shift per level */
  unsigned leaf_bits;               /* pt_bits of the last level */
  uint32_t leaf_mask;               /* entries of a leaf - 1 */
  uint64_t user_lo_vpn, user_hi_vpn;/* inclusive page range for users */

  /* physical memory */
  uint64_t nframes;
  mm_pfn *pfn;
  mm_list list[LIST_COUNT_];        /* LIST_STANDBY unused: see standby[] */
  mm_list standby[PFN_STANDBY_LISTS];
  uint32_t standby_nonempty;        /* bit pr: standby[pr] has frames */
  /* Lookahead on the lists taken from in order (pfn.c): a cursor on the
  ** standby list being repurposed from, and the frames it named, as
  ** ws_ahead does for victims; a cursor on the modified list, whose head
  ** the page writer takes next. */
  mm_list_cursor sb_cur, mod_cur;
  mm_ahead sb_ahead;

  /* page file */
  uint64_t pf_slots, pf_used;
  uint64_t *pf_map;                 /* one bit per slot */
  uint64_t pf_hint;

  /* commit */
  uint64_t commit_charge, commit_limit, commit_peak;

  /* time */
  uint64_t now;
  uint64_t next_second;

  /* processes, by pid - 1; the System process (kernel address space,
  ** system working set: paged pool) apart */
  mm_process **procs;
  uint32_t nprocs, capprocs;
  mm_process *sysproc;
  void *pool;                       /* kernel pools (pool.c), or NULL */

  /* files, segments and sections, by handle - 1 (segments by id - 1) */
  mm_file *files;
  uint32_t nfiles;
  mm_segment *segs;
  uint32_t nsegs;
  mm_section *sections;
  uint32_t nsections;

  /* page contents (cfg.contents): frame bytes, page-file slot bytes */
  uint8_t *mem;
  uint8_t **pf_data;

  /* policy */
  const struct mm_policy_ops *pol_ops;
  char pol_name[32];                /* cfg.policy.name points here */

  /* counters not per process */
  mm_sstats st;

  /* TLB (optional) */
  void *tlb;

  /* events on the clock: the next simulated second, the next sample */
  uint64_t next_event;
  uint64_t sample_every, next_sample;
  mm_sample_fn sample_fn;
  void *sample_ud;
  bool in_callback;                 /* a sampler or policy callback runs */
  bool watched;                     /* a hook or the event log is on */
  bool hook_failed;                 /* a hook asked to stop */
  struct { mm_hook_fn fn; void *ud; } hook[MM_EV_KINDS];
  mm_event *evlog;                  /* ring of the last evcap events */
  size_t evcap, evnext, evcount;
  unsigned nested;                  /* >0: inside a public call (no checks) */

  /* run state */
  uint64_t cur_next_use;            /* OPT: next use of the current ref */

  mm_status last_status;
  char err[256];
};

/* -------------------------------------------------------------- helpers */

/* Records a failure sentence and returns st. */
mm_status mm_fail(mm_system *sys, mm_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The process that owns a frame (owner pid, MM_SYSTEM_PID included). */
static inline mm_process *proc_of(const mm_system *sys, uint32_t owner) {
  return owner == MM_SYSTEM_PID ? sys->sysproc : sys->procs[owner - 1];
}
/* Every process with memory: k in [0, nprocs] (the last is System). */
static inline mm_process *proc_at(const mm_system *sys, uint32_t k) {
  return k < sys->nprocs ? sys->procs[k] : sys->sysproc;
}
/* One reference by any process, System included, without the checks of
** mm_access: for the core's own users (pools). */
int access_internal(mm_system *sys, mm_process *p, uint64_t addr,
                    unsigned kind);

/* The live process pid, or NULL with the failure recorded (the status
** is then in sys->last_status). Refused inside a callback: for calls
** that change the system. */
mm_process *proc_get(mm_system *sys, mm_pid pid);
/* The same for calls that only read (query, stats): allowed in callbacks. */
mm_process *proc_read(mm_system *sys, mm_pid pid);

/* Invariant walkers (check.c). Each returns 0 or -1 with sys->err set. */
/* A broken invariant is an assert: it names itself and aborts. */
void check_failed(const mm_system *sys);
int check_all(mm_system *sys);
#ifdef MM_DEBUG
#define MM_CHECK(sys) do { if (!(sys)->nested && check_all(sys) != 0) \
      check_failed(sys); } while (0)
#else
#define MM_CHECK(sys) ((void)0)
#endif

/* ------------------------------------------------------- page tables */

/* The PTE of vpn, or NULL if its leaf does not exist (an all-zero PTE). */
mm_pte *pt_lookup(mm_process *p, const mm_system *sys, uint64_t vpn);
/* The leaf holding vpn, allocating tables on the way; NULL on host OOM
** (tables already allocated stay; pt_prune frees empty ones). */
mm_leaf *pt_ensure(mm_system *sys, mm_process *p, uint64_t vpn);
/* Pages one leaf table maps. */
static inline uint64_t pt_leaf_entries(const mm_system *sys) {
  return 1ull << sys->leaf_bits;
}
mm_leaf *pt_leaf_walk(mm_process *p, const mm_system *sys, uint64_t vpn);
/* The leaf holding vpn, or NULL. Inline: every reference starts here,
** and most find their leaf in the cache (one load, no walk down the
** levels, no touch of the leaf's own header). A leaf pointer stays good
** until a table of p is freed (p->pt_epoch changes). */
static inline mm_leaf *pt_leaf(mm_process *p, const mm_system *sys,
                               uint64_t vpn) {
  uint64_t num = vpn >> sys->leaf_bits;
  const mm_leaf_ref *r = &p->lc[num & p->lc_mask];
  if (r->leaf && r->num == num) return r->leaf;
  return pt_leaf_walk(p, sys, vpn);
}
/* Gives leaf the slot array its shared pages need (pte_wsslot); views
** call it for every leaf they cover. -1 on host OOM. */
int pt_shareable(const mm_system *sys, mm_leaf *leaf);
/* The first existing leaf holding a page of [lo, hi), or NULL: range walks
** skip the holes of a huge, mostly reserved region in time proportional
** to its tables, not its pages. Read only. */
mm_leaf *pt_next_leaf(const mm_process *p, const mm_system *sys, uint64_t lo,
                      uint64_t hi);
/* Frees every table in [lo, hi) pages whose entries are all zero. */
void pt_prune(mm_system *sys, mm_process *p, uint64_t lo, uint64_t hi);
void pt_destroy(mm_system *sys, mm_process *p);
/* Sets up the (empty) tables of a new process. */
void pt_init(mm_process *p);
/* Where the working-set slot of the page behind valid PTE v (leaf entry
** i) is kept: a private frame has one mapping, so its PFN entry holds the
** slot (the fault path touches that line anyway); a shared frame has one
** per process, kept beside the PTE in the leaf (pt_shareable). Locked
** pages (large pages, non-paged pool) are in no working set: MM_NIL. */
static inline uint32_t *pte_wsslot(const mm_system *sys, mm_leaf *leaf,
                                   uint32_t i, mm_pte v) {
  return (v & PTE_PROTOMAP) ? &leaf->wsslot[i]
                            : &sys->pfn[pte_payload(v)].wsslot;
}
static inline uint32_t pt_index(const mm_system *sys, uint64_t vpn) {
  return (uint32_t)vpn & sys->leaf_mask;
}

/* ------------------------------------------ page verbs (used by vad.c) */

/* Commits an uncommitted page with prot (demand-zero), or changes the
** protection of a committed one. The leaf must exist (pt_ensure). */
void page_commit(mm_system *sys, mm_process *p, uint64_t vpn, uint32_t prot);
/* Decommits: releases the frame, page-file slot and working-set entry the
** page holds; the PTE becomes zero (reserved). No-op if not committed.
** Returns 1 if the page was committed (so the caller returns its commit). */
int page_decommit(mm_system *sys, mm_process *p, uint64_t vpn);
/* Sets the protection of a committed page (hardware bits follow). */
void page_protect(mm_system *sys, mm_process *p, uint64_t vpn, uint32_t prot);
/* MEM_RESET: the data is no longer needed; nothing is written out. */
void page_reset(mm_system *sys, mm_process *p, uint64_t vpn);
/* Committed? and its protection, without allocating anything. */
bool page_state(mm_process *p, const mm_system *sys, uint64_t vpn,
                uint32_t *prot);

/* -------------------------------------------------------- commit */

/* Charges n pages of commit to p; STATUS_COMMITMENT_LIMIT changes nothing. */
mm_status commit_charge(mm_system *sys, mm_process *p, uint64_t n);
void commit_return(mm_system *sys, mm_process *p, uint64_t n);
/* Takes back a charge of the call that is failing (the peak untouched). */
void commit_unwind(mm_system *sys, mm_process *p, uint64_t n);

/* ------------------------------------------------------- protections */

/* What a written write-copy page reads back as (A.4.6): WRITECOPY →
** READWRITE, EXECUTE_WRITECOPY → EXECUTE_READWRITE, modifiers kept. */
static inline uint32_t prot_after_cow(uint32_t prot) {
  uint32_t b = prot & 0xFFu, mods = prot & ~0xFFu;
  if (b == MM_PAGE_WRITECOPY) b = MM_PAGE_READWRITE;
  else if (b == MM_PAGE_EXECUTE_WRITECOPY) b = MM_PAGE_EXECUTE_READWRITE;
  return b | mods;
}

/* Validity (WINDOWS.md A.4.2): a valid protection value? */
bool prot_valid(uint32_t prot);

/* The predicates below are inline: every fault asks them. A protection
** is one base value (one bit of the low byte) plus modifiers. */
#define PROT_LOW_NIBBLE  0x0Fu      /* NOACCESS, READONLY, READWRITE, WRITECOPY */
#define PROT_HIGH_NIBBLE 0xF0u      /* the four EXECUTE variants */

/* The base value of prot, or 0 when prot has none or several. */
static inline uint32_t prot_base(uint32_t prot) {
  uint32_t b = prot & 0xFFu;
  return (b && !(b & (b - 1))) ? b : 0;
}

/* A.4.8: every base value but NOACCESS reads; EXECUTE counts as readable
** (ReactOS model, MiIsAccessAllowed). Modifiers are ignored here: GUARD
** is the fault handler's business. */
static inline bool prot_can_read(uint32_t prot) {
  uint32_t b = prot_base(prot);
  return b != 0 && b != MM_PAGE_NOACCESS;
}

/* A.4.8: write includes write-copy (the write succeeds via a private
** copy). */
static inline bool prot_can_write(uint32_t prot) {
  uint32_t b = prot_base(prot);
  return (b & (MM_PAGE_READWRITE | MM_PAGE_WRITECOPY |
               MM_PAGE_EXECUTE_READWRITE | MM_PAGE_EXECUTE_WRITECOPY)) != 0;
}

/* A.4.8: the four values of the high nibble execute. */
static inline bool prot_can_exec(uint32_t prot) {
  return (prot_base(prot) & PROT_HIGH_NIBBLE) != 0;
}

/* WRITECOPY or EXECUTE_WRITECOPY: a write makes a private copy (A.4.6). */
static inline bool prot_is_writecopy(uint32_t prot) {
  uint32_t b = prot_base(prot);
  return b == MM_PAGE_WRITECOPY || b == MM_PAGE_EXECUTE_WRITECOPY;
}

/* The hardware access bits a valid PTE gets for a protection, by base
** protection (A.4.8's table). A guard or no-access page is never
** accessible without a fault, so the first touch reaches the fault
** handler (A.5.1). Write-copy pages are readable but not writable in
** hardware: the write faults (A.8). EXECUTE counts as readable (ReactOS
** model, A.4.8). */
static inline mm_pte pte_hw_bits(uint32_t prot) {
  static const uint8_t by_base[8] = {
    0,                                   /* NOACCESS */
    PTE_HW_R,                            /* READONLY */
    PTE_HW_R | PTE_HW_W,                 /* READWRITE */
    PTE_HW_R,                            /* WRITECOPY */
    PTE_HW_R | PTE_HW_X,                 /* EXECUTE */
    PTE_HW_R | PTE_HW_X,                 /* EXECUTE_READ */
    PTE_HW_R | PTE_HW_W | PTE_HW_X,      /* EXECUTE_READWRITE */
    PTE_HW_R | PTE_HW_X,                 /* EXECUTE_WRITECOPY */
  };
  uint32_t base = prot_base(prot);
  if ((prot & MM_PAGE_GUARD) || base == 0) return 0;
  return by_base[__builtin_ctz(base)];
}

/* ----------------------------------------------------------------- PFN */

void pfn_init(mm_system *sys);
/* Puts frame f on list (LIST_STANDBY uses the frame's priority). */
void pfn_insert(mm_system *sys, uint32_t f, unsigned list);
/* Takes f off whatever list it is on; it becomes LIST_ACTIVE. */
void pfn_unlink(mm_system *sys, uint32_t f);
/* A frame for a demand-zero fault (zeroed, then free, then standby) or for
** a page-in (free, zeroed, standby); repurposes a standby frame if it must.
** MM_NIL when no list has a frame. The frame is LIST_ACTIVE on return. */
uint32_t pfn_take(mm_system *sys, bool want_zeroed);
/* A frame that belonged to a deleted page goes back to the free list. */
void pfn_release(mm_system *sys, uint32_t f);
static inline unsigned pfn_prio(const mm_pfn *e) {
  return (e->flags >> PFN_PRIO_SHIFT) & 7u;
}
static inline uint64_t large_frames(const mm_system *sys) {
  return sys->cfg.large_page_size >> sys->page_shift;
}
static inline uint64_t avail_pages(const mm_system *sys) {
  uint64_t n = sys->list[LIST_ZEROED].count + sys->list[LIST_FREE].count;
  for (int i = 0; i < PFN_STANDBY_LISTS; i++) n += sys->standby[i].count;
  return n;
}

/* ----------------------------------------------------------- page file */

/* A free slot (marked used), or MM_NIL when the page file is full. */
uint32_t pf_alloc(mm_system *sys);
void pf_free(mm_system *sys, uint32_t slot);
bool pf_used(const mm_system *sys, uint32_t slot);

/* ------------------------------------------------------- working sets */

int ws_init(mm_system *sys, mm_process *p);
void ws_destroy(mm_system *sys, mm_process *p);
/* Adds the resident page (pte in leaf at index i) to p's working set. At a
** hard maximum, ws_make_room must have run first. */
void ws_insert(mm_system *sys, mm_process *p, mm_leaf *leaf, uint64_t vpn);
/* Before a page is made valid: at a hard maximum replace a page of the
** set, and make sure a slot is free, so that ws_insert cannot fail. */
int ws_make_room(mm_system *sys, mm_process *p);
/* Removes slot from the working set (the page is leaving memory). */
void ws_remove(mm_system *sys, mm_process *p, uint32_t slot);
/* Trims slot: the PTE becomes a transition PTE, the frame goes to standby
** (clean) or modified (dirty). */
void ws_trim_slot(mm_system *sys, mm_process *p, uint32_t slot, bool replaced);
/* Trims n pages chosen by the policy, forcing it to choose. */
mm_status ws_shrink(mm_system *sys, mm_process *p, uint32_t n);
/* The TLB entry of slot's page goes (sys->tlb must be set). */
void ws_flush_tlb(mm_system *sys, mm_process *p, uint32_t slot);
/* Samples and clears the accessed bit of slot's page, as the trimmer
** does (the TLB entry goes with it). Inline: the sweeping policies call
** it for every page the hand passes. */
static inline bool ws_test_clear_accessed(mm_system *sys, mm_process *p,
                                          uint32_t slot) {
  mm_pte *pte = p->ws.e[slot].pte;
  bool was = (*pte & PTE_A) != 0;
  if (was) {
    *pte &= ~(mm_pte)PTE_A;
    if (sys->tlb) ws_flush_tlb(sys, p, slot);
  }
  return was;
}
/* A policy names a slot it expects to choose some WS_AHEAD faults from
** now. Victims are pages nobody touched lately, so their slot entry, PTE
** and PFN entry are cache misses, each needing the one before it: a slot
** pushed here has its entry fetched now, its PTE fetched WS_AHEAD/3
** pushes later and its PFN entry 2·WS_AHEAD/3 pushes later, so that all
** three are in the cache when it is chosen. A slot freed or reused
** meanwhile costs one wasted fetch, never a wrong result. */
static inline void ws_ahead(const mm_system *sys, mm_process *p,
                            uint32_t slot) {
  mm_ws *ws = &p->ws;
  const mm_wsle *e = ws->e;
  uint32_t hi = ws->hi;
  __builtin_prefetch(&e[slot], 0);
  ahead_push(&ws->ahead, slot);
  uint32_t b = ahead_back(&ws->ahead, WS_AHEAD / 3);
  uint32_t c = ahead_back(&ws->ahead, 2 * WS_AHEAD / 3);
  if (b < hi && e[b].pte) __builtin_prefetch(e[b].pte, 1);
  if (c < hi && e[c].pte) {
    mm_pte v = *e[c].pte;
    if (pte_valid(v)) __builtin_prefetch(&sys->pfn[pte_payload(v)], 1);
  }
}

/* ------------------------------------------------ manager and writer */

/* Writes up to n modified pages to the page file and moves them to standby.
** Returns the number written. */
uint64_t mpw_write(mm_system *sys, uint64_t n);
/* Turns free frames into zeroed ones (the zero-page thread). */
void zero_step(mm_system *sys);
/* Makes at least one frame available by writing and trimming, as the
** balance set manager would when a fault finds no page. 0 ok, -1 when
** nothing can be freed (sys->err says why). */
int make_available(mm_system *sys, mm_process *faulting);
/* Records an event: the log, then the hook (sets sys->hook_failed when it
** asks to stop). Only called when sys->watched. */
void event_emit(mm_system *sys, const mm_event *ev);
/* Runs whatever is due on the clock (manager, zero step, sampler). */
int clock_events(mm_system *sys);

/* ------------------------------------------------------------ sections */

/* A fault on a view page (PTE kind PROTO, or a write to a write-copy
** page): the outcome, counted by the caller. */
int view_fault(mm_system *sys, mm_process *p, mm_leaf *leaf, uint32_t i,
               unsigned kind);
/* Trimming a shared page out of p's working set (ws.c). */
void view_trim(mm_system *sys, mm_process *p, mm_pte *pte, uint32_t f);
/* The prototype PTE a view PTE points at. */
mm_pte *proto_pte(mm_system *sys, uint64_t pidx, mm_segment **seg);
/* A frame for p, making one available if none is (fault.c); MM_NIL when
** nothing can be freed. */
uint32_t frame_get(mm_system *sys, mm_process *p, bool zeroed);
/* A repurposed segment frame: its prototype goes back to its backing. */
void proto_repurpose(mm_system *sys, uint32_t f);
/* The modified writer writes a segment frame (file or page file): 0, or
** -1 when the page file is full. */
int proto_write(mm_system *sys, uint32_t f);
/* Commit inside a view (vad.c): A.11.8. */
mm_status view_commit(mm_system *sys, mm_process *p, int vi, uint64_t lo,
                      uint64_t hi, uint32_t prot);
/* Unmaps every view of p (process exit). */
void view_unmap_all(mm_system *sys, mm_process *p);
/* Inserts a view VAD of npages at lo with its page tables, charging
** `charge` pages to p (write-copy) and section_commit to the system; on
** failure nothing is changed. The caller fills the PTEs. */
mm_status view_insert(mm_system *sys, mm_process *p, uint64_t lo,
                      uint64_t npages, uint32_t alloc_protect, uint8_t type,
                      uint64_t charge, uint64_t section_commit, mm_view **out);
/* A.4.5: may a view VAD's pages take prot, given its section's
** protection? (true for anything but a section view) */
bool view_section_allows(mm_system *sys, const mm_vad *v, uint32_t prot);
/* Unmaps the view VAD vi of p. */
void view_unmap(mm_system *sys, mm_process *p, int vi);
/* Shared by section.c and image.c. */
mm_file *file_get(mm_system *sys, mm_handle h);
uint32_t seg_new(mm_system *sys, uint8_t kind, uint64_t npages, mm_pte init);
mm_handle section_slot(mm_system *sys);
int vad_view_index(mm_process *p, uint64_t vpn);
/* SEC_IMAGE: the image section of a file (image.c). */
mm_status image_section_create(mm_system *sys, const mm_section_config *cfg,
                               mm_file *file, mm_handle *out);
/* Maps an image view: the preferred base, else elsewhere with the pages
** its relocations touch made private (STATUS_IMAGE_NOT_AT_BASE). */
mm_status image_map(mm_system *sys, mm_process *p, mm_handle h,
                    uint64_t *base, uint64_t *size, uint32_t type);
/* Makes the view page at vpn a private copy (copy-on-write without regard
** to protection), as the loader's writes do; the outcome is counted as a
** copy-on-write fault. */
mm_status view_make_private(mm_system *sys, mm_process *p, uint64_t vpn);
/* Fills frame f with segment page `page` from its file or image; returns
** true when that was a read (hard), false for zero fill. */
bool seg_fill(mm_system *sys, mm_segment *g, uint64_t page, uint32_t f);
void image_seg_free(mm_system *sys, mm_segment *g);
void sections_destroy(mm_system *sys);
int sections_check(mm_system *sys);

/* Contents (only when sys->mem): the bytes of frame f. */
static inline uint8_t *frame_bytes(const mm_system *sys, uint32_t f) {
  return sys->mem + (size_t)f * sys->page_size;
}
/* Copies the page-file slot into frame f / frame f into the slot. */
void contents_slot_in(mm_system *sys, uint32_t slot, uint32_t f);
int contents_slot_out(mm_system *sys, uint32_t f, uint32_t slot);
void contents_slot_free(mm_system *sys, uint32_t slot);

/* The process's view VAD owning vpn, with its view, or NULL. */
static inline mm_view *view_at(mm_process *p, int vi) {
  return (vi >= 0 && !(p->vads[vi].flags & VAD_F_SYSTEM))
             ? (mm_view *)p->vads[vi].view : NULL;
}

/* Frees the loader's per-process state (process exit, system teardown). */
void loader_process_free(mm_system *sys, mm_process *p);

/* --------------------------------------------------------------- pools */

/* Creates the pools with the system (after the System process exists):
** 0, or -1 with the failure recorded. */
int pool_init(mm_system *sys);
/* Frees the pools' host memory; the system is going away. */
void pool_destroy(mm_system *sys);
/* Pool invariants: 0, or -1 with the failure recorded. */
int pool_check(mm_system *sys);

/* ------------------------------------------------------------- VADs */

/* Creates the regions every new process has (the 64 KiB at 0x10000). */
mm_status vad_init(mm_system *sys, mm_process *p);
/* A large-page reserve+commit (WINDOWS.md A.14) after vad.c validated the
** flags: base/size are the final, large-page aligned range. */
mm_status large_alloc(mm_system *sys, mm_process *p, uint64_t base,
                      uint64_t size, uint32_t prot);
/* VAD invariants of p (vad.c): 0, or -1 with the failure recorded. */
int vad_check(mm_system *sys, mm_process *p);
/* Finds room for npages at *start (0 = anywhere) aligned to align pages,
** whole 64 KiB granules free; STATUS_CONFLICTING_ADDRESSES or NO_MEMORY. */
mm_status vad_place(mm_system *sys, mm_process *p, uint64_t *start,
                    uint64_t npages, uint64_t align, bool top_down);
mm_status vad_insert(mm_system *sys, mm_process *p, const mm_vad *v);
void vad_remove(mm_process *p, int i);
/* Index of the VAD containing vpn, or -1. */
int vad_find(const mm_process *p, uint64_t vpn);
void vad_destroy_all(mm_system *sys, mm_process *p);

#endif
