/*
** system.c — one simulated machine: its configuration, its frames, its page
** file, its processes and its clock. Everything else hangs off mm_system.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "policy.h"
#include "tlb.h"

/* ------------------------------------------------------------- statuses */

const char *mm_status_name(mm_status st) {
  switch (st) {
#define MM_X(n) case MM_STATUS_##n: return "STATUS_" #n;
    MM_STATUS_LIST(MM_X)
#undef MM_X
    default: return NULL;
  }
}

mm_status mm_fail(mm_system *sys, mm_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sys->err, sizeof sys->err, fmt, ap);
  va_end(ap);
  sys->last_status = st;
  return st;
}

const char *mm_last_error(const mm_system *sys) { return sys->err; }

void mm_set_error(mm_system *sys, const char *msg) {
  snprintf(sys->err, sizeof sys->err, "%s", msg ? msg : "");
}

/* --------------------------------------------------------------- arches */

/* User ranges: WINDOWS.md A.1.2 (lowest 0x10000) and A.1.4 (2 GB on x86
** without /3GB, 128 TB on x64 from Windows 8.1); the top 64 KiB below the
** boundary is the no-access guard area Windows keeps, hence ...FFEFFFF. */
static const mm_arch_info arches[MM_ARCH_COUNT] = {
  { "x86",     32, 2, 4, 32, 4096, 4u << 20, 0x10000u, 0x7FFEFFFFull },
  { "x86-pae", 32, 3, 8, 32, 4096, 2u << 20, 0x10000u, 0x7FFEFFFFull },
  { "x64",     48, 4, 8, 64, 4096, 2u << 20, 0x10000u, 0x7FFFFFFEFFFFull },
};

const mm_arch_info *mm_arch_get(mm_arch a) {
  return (unsigned)a < MM_ARCH_COUNT ? &arches[a] : NULL;
}

int mm_arch_find(const char *name) {
  for (int i = 0; i < MM_ARCH_COUNT; i++)
    if (name && strcmp(arches[i].name, name) == 0) return i;
  return -1;
}

/* --------------------------------------------------------------- config */

void mm_config_default(mm_config *cfg, mm_arch arch) {
  memset(cfg, 0, sizeof *cfg);
  cfg->arch = arch;
  cfg->ram = 256ull << 20;
  cfg->pagefile = 1ull << 30;
  cfg->seed = 1;
  cfg->policy.name = "aging";
  cfg->policy.load_referenced = true;
  cfg->tune.refs_per_second = 100000;
  cfg->tune.ws_min = 50;               /* D:SetPWSSEx defaults */
  cfg->tune.ws_max = 345;
  cfg->tune.min_free_pages = 26;       /* ReactOS MmMinimumFreePages */
  cfg->tune.plenty_free_pages = 400;   /* ReactOS MmPlentyFreePages; doubled
                                          above 63 MB at system creation */
  cfg->tune.trim_age = 3;              /* A.10.5: evicted on the 4th pass */
  cfg->tune.mpw_threshold = 800;       /* a modified list this long is
                                          worth a write cluster */
  cfg->tune.mpw_batch = 256;           /* one writer run, 1 MiB at 4 KiB */
  cfg->tune.zero_threshold = 8;        /* A.9.7 */
  cfg->tune.standby_priority = 5;      /* A.10.4 normal priority */
  cfg->tune.commit_reserve = 1;
  cfg->tune.sys_ws_min = 288;          /* A.10.7 system cache working set */
  cfg->tune.sys_ws_max = 350;
}

static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

static unsigned log2u(uint64_t x) {
  unsigned n = 0;
  while (x > 1) { x >>= 1; n++; }
  return n;
}

/* Fills err and returns st, for creation failures (no system exists yet). */
static int sysproc_create(mm_system *sys);

static mm_status create_fail(char *err, size_t errlen, mm_status st,
                             const char *msg) {
  if (err && errlen) snprintf(err, errlen, "%s", msg);
  return st;
}

/* The page-table geometry for a page size: entries per table are a page
** of PTEs, so each level translates page_shift - log2(pte) bits; as many
** levels as the address bits need (the profile's count at its own page
** size: 2 for x86, 3 for PAE, 4 for x64), the top level takes the rest. */
static void pt_geometry(mm_system *sys) {
  unsigned b = sys->page_shift - log2u(sys->arch->pte_bytes);
  unsigned total = sys->arch->va_bits - sys->page_shift;
  unsigned levels = (total + b - 1) / b;
  if (levels < 2) levels = 2;
  sys->pt_levels = levels;
  unsigned below = 0;
  for (int l = (int)levels - 1; l >= 0; l--) {
    unsigned bits = (l == 0) ? total - below : b;
    if (l == 0 && total < below + 1) bits = 1;
    sys->pt_bits[l] = bits;
    sys->pt_shift[l] = below;
    below += bits;
  }
  sys->leaf_bits = sys->pt_bits[levels - 1];
  sys->leaf_mask = (1u << sys->leaf_bits) - 1;
}

mm_status mm_system_create(const mm_config *cfg, mm_system **out, char *err,
                           size_t errlen) {
  char msg[256];
  *out = NULL;
  const mm_arch_info *arch = mm_arch_get(cfg->arch);
  if (!arch)
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER,
                       "unknown architecture");
  uint64_t ps = cfg->page_size ? cfg->page_size : arch->small_page;
  if (!is_pow2(ps) || ps < 512 || ps > 65536) {
    snprintf(msg, sizeof msg,
             "page size %llu is not a power of two from 512 B to 64 KiB",
             (unsigned long long)ps);
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER, msg);
  }
  uint64_t lps = cfg->large_page_size ? cfg->large_page_size : arch->large_page;
  if (!is_pow2(lps) || lps <= ps || lps > (1ull << 30)) {
    snprintf(msg, sizeof msg,
             "large page size %llu must be a power of two above the page "
             "size (%llu) and at most 1 GiB",
             (unsigned long long)lps, (unsigned long long)ps);
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER, msg);
  }
  uint64_t nframes = cfg->ram / ps;
  if (nframes < 64 || nframes >= MM_NIL) {
    snprintf(msg, sizeof msg,
             "ram of %llu bytes gives %llu frames of %llu bytes; need 64 "
             "to 4294967294", (unsigned long long)cfg->ram,
             (unsigned long long)nframes, (unsigned long long)ps);
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER, msg);
  }
  if (cfg->ram % ps)
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER,
                       "ram is not a multiple of the page size");
  uint64_t slots = cfg->pagefile / ps;
  if (slots >= MM_NIL)
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER,
                       "page file too large (2^32 - 1 pages at most)");
  if (cfg->tune.refs_per_second == 0)
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER,
                       "tune.refs_per_second must be at least 1");
  if (cfg->tune.mpw_batch == 0)
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER,
                       "tune.mpw_batch must be at least 1");
  if (cfg->tune.standby_priority > 7)
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER,
                       "tune.standby_priority must be 0..7");
  const struct mm_policy_ops *pol = policy_find(&cfg->policy);
  if (!pol) {
    snprintf(msg, sizeof msg, "unknown policy '%s'",
             cfg->policy.name ? cfg->policy.name : "(null)");
    return create_fail(err, errlen, MM_STATUS_INVALID_PARAMETER, msg);
  }

  mm_system *sys = calloc(1, sizeof *sys);
  if (!sys) return create_fail(err, errlen, MM_STATUS_NO_MEMORY, "out of memory");
  sys->cfg = *cfg;
  sys->cfg.page_size = (uint32_t)ps;
  sys->cfg.large_page_size = lps;
  snprintf(sys->pol_name, sizeof sys->pol_name, "%s",
           cfg->policy.custom_select && cfg->policy.name ? cfg->policy.name
                                                         : pol->name);
  sys->cfg.policy.name = sys->pol_name;
  /* ReactOS doubles MmPlentyFreePages above 63 MB of RAM (A.9.8). */
  if (cfg->ram > (63ull << 20) && cfg->tune.plenty_free_pages == 400)
    sys->cfg.tune.plenty_free_pages = 800;
  sys->arch = arch;
  sys->page_size = ps;
  sys->page_shift = log2u(ps);
  sys->large_shift = log2u(lps / ps);
  pt_geometry(sys);
  sys->user_lo_vpn = arch->user_lo >> sys->page_shift;
  sys->user_hi_vpn = arch->user_hi >> sys->page_shift;
  sys->pol_ops = pol;

  sys->nframes = nframes;
  sys->pfn = calloc(nframes, sizeof *sys->pfn);
  sys->pf_slots = slots;
  sys->pf_map = calloc((slots + 63) / 64 + 1, sizeof *sys->pf_map);
  if (cfg->contents) {
    /* Page contents: one host byte per simulated byte of RAM; page-file
    ** slots get their bytes when written. */
    sys->mem = malloc(nframes * ps);
    sys->pf_data = calloc(slots + 1, sizeof *sys->pf_data);
    if (!sys->mem || !sys->pf_data) {
      mm_system_destroy(sys);
      return create_fail(err, errlen, MM_STATUS_NO_MEMORY,
                         "out of host memory for page contents (one byte "
                         "per byte of simulated RAM)");
    }
  }
  if (!sys->pfn || !sys->pf_map) {
    mm_system_destroy(sys);
    return create_fail(err, errlen, MM_STATUS_NO_MEMORY,
                       "out of memory for the PFN database");
  }
  if (cfg->tlb.entries || cfg->tlb.large_entries) {
    bool geometry_ok = tlb_config_ok(&cfg->tlb, msg, sizeof msg);
    sys->tlb = geometry_ok ? tlb_create(&cfg->tlb, msg, sizeof msg) : NULL;
    if (!sys->tlb) {
      mm_system_destroy(sys);
      return create_fail(err, errlen, geometry_ok ? MM_STATUS_NO_MEMORY
                                                  : MM_STATUS_INVALID_PARAMETER,
                         msg);
    }
  }
  pfn_init(sys);
  if (sysproc_create(sys) != 0) {
    mm_system_destroy(sys);
    return create_fail(err, errlen, MM_STATUS_NO_MEMORY,
                       "out of memory for the System process");
  }
  /* A.6.1: commit limit = RAM + page files, less what the system keeps
  ** back (tune.commit_reserve). Kernel pool pages charge commit like any
  ** other allocation (pool.c), so the limit stays put. */
  sys->commit_limit = nframes + slots > cfg->tune.commit_reserve
                         ? nframes + slots - cfg->tune.commit_reserve : 0;
  if (pool_init(sys) != 0) {
    mm_status st = sys->last_status ? sys->last_status : MM_STATUS_NO_MEMORY;
    snprintf(msg, sizeof msg, "%s", sys->err);
    mm_system_destroy(sys);
    return create_fail(err, errlen, st, msg);
  }
  sys->next_second = cfg->tune.refs_per_second;
  sys->next_event = sys->next_second;
  *out = sys;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

static void proc_free(mm_system *sys, mm_process *p);

/* The System process: the kernel half of the address space (from
** 2^(va_bits-1), without sign extension) and the system working set,
** where paged pool lives and is trimmed like any other. */
static int sysproc_create(mm_system *sys) {
  mm_process *p = calloc(1, sizeof *p);
  if (!p) return -1;
  p->pid = MM_SYSTEM_PID;
  p->alive = true;
  snprintf(p->name, sizeof p->name, "System");
  p->lo_vpn = (1ull << (sys->arch->va_bits - 1)) >> sys->page_shift;
  p->hi_vpn = ((1ull << sys->arch->va_bits) - 1) >> sys->page_shift;
  p->ws.min = sys->cfg.tune.sys_ws_min;
  p->ws.max = sys->cfg.tune.sys_ws_max > 0 ? sys->cfg.tune.sys_ws_max : 1;
  if (p->ws.min > p->ws.max) p->ws.min = p->ws.max;
  p->ws.free_head = MM_NIL;
  pt_init(p);
  if (ws_init(sys, p) != 0) { free(p); return -1; }
  sys->sysproc = p;
  return 0;
}

void mm_system_destroy(mm_system *sys) {
  if (!sys) return;
  for (uint32_t i = 0; i < sys->nprocs; i++) proc_free(sys, sys->procs[i]);
  if (sys->sysproc) proc_free(sys, sys->sysproc);
  pool_destroy(sys);
  sections_destroy(sys);
  if (sys->pf_data)
    for (uint64_t s = 0; s < sys->pf_slots; s++) free(sys->pf_data[s]);
  free(sys->pf_data);
  free(sys->mem);
  free(sys->procs);
  tlb_destroy(sys->tlb);
  free(sys->pfn);
  free(sys->pf_map);
  free(sys->evlog);
  free(sys);
}

uint32_t mm_page_size(const mm_system *sys) { return (uint32_t)sys->page_size; }
uint64_t mm_large_page_size(const mm_system *sys) {
  return sys->cfg.large_page_size;
}
const mm_config *mm_system_config(const mm_system *sys) { return &sys->cfg; }

/* ------------------------------------------------------------ processes */

mm_process *proc_get(mm_system *sys, mm_pid pid) {
  if (sys->in_callback) {
    mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
            "the system cannot be changed from inside a policy or sampler "
            "callback");
    return NULL;
  }
  return proc_read(sys, pid);
}

mm_process *proc_read(mm_system *sys, mm_pid pid) {
  if (pid == 0 || pid > sys->nprocs) {
    mm_fail(sys, MM_STATUS_INVALID_HANDLE, "no process with pid %u", pid);
    return NULL;
  }
  mm_process *p = sys->procs[pid - 1];
  if (!p->alive) {
    mm_fail(sys, MM_STATUS_PROCESS_IS_TERMINATING,
            "process %u (%s) has terminated", pid, p->name);
    return NULL;
  }
  return p;
}

uint32_t mm_process_count(const mm_system *sys) { return sys->nprocs; }

bool mm_process_alive(const mm_system *sys, mm_pid pid) {
  return pid && pid <= sys->nprocs && sys->procs[pid - 1]->alive;
}

const char *mm_process_name(const mm_system *sys, mm_pid pid) {
  if (pid == 0 || pid > sys->nprocs) return NULL;
  return sys->procs[pid - 1]->name;
}

static mm_status ws_limits_check(mm_system *sys, uint32_t mn, uint32_t mx) {
  if (mx < 1)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "working-set maximum must be at least 1 page");
  if (mn > mx)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "working-set minimum %u is above the maximum %u", mn, mx);
  return MM_STATUS_SUCCESS;
}

mm_status mm_process_create(mm_system *sys, const mm_process_config *pc,
                            mm_pid *out) {
  uint32_t mn = pc && pc->ws_min ? pc->ws_min : sys->cfg.tune.ws_min;
  uint32_t mx = pc && pc->ws_max ? pc->ws_max : sys->cfg.tune.ws_max;
  if (pc && pc->ws_max && !pc->ws_min && mn > mx) mn = mx;
  mm_status st = ws_limits_check(sys, mn, mx);
  if (st) return st;
  if (sys->nprocs >= 0xFFFFFF)
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES, "too many processes");
  if (sys->nprocs == sys->capprocs) {
    uint32_t cap = sys->capprocs ? sys->capprocs * 2 : 8;
    mm_process **np = realloc(sys->procs, cap * sizeof *np);
    if (!np) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
    sys->procs = np;
    sys->capprocs = cap;
  }
  mm_process *p = calloc(1, sizeof *p);
  if (!p) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  p->pid = sys->nprocs + 1;
  p->alive = true;
  snprintf(p->name, sizeof p->name, "%s",
           pc && pc->name && *pc->name ? pc->name : "process");
  p->ws.min = mn;
  p->ws.max = mx;
  p->ws.hard_min = pc && pc->hard_min;
  p->ws.hard_max = pc && pc->hard_max;
  p->ws.free_head = MM_NIL;
  p->lo_vpn = sys->user_lo_vpn;
  p->hi_vpn = sys->user_hi_vpn;
  pt_init(p);
  if (ws_init(sys, p) != 0) {
    free(p);
    return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory for the working set");
  }
  st = vad_init(sys, p);
  if (st) {
    ws_destroy(sys, p);
    free(p->vads);
    free(p);
    return st;
  }
  sys->procs[sys->nprocs++] = p;
  *out = p->pid;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

mm_status mm_process_set_ws(mm_system *sys, mm_pid pid, uint32_t ws_min,
                            uint32_t ws_max, bool hard_min, bool hard_max) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  mm_status st = ws_limits_check(sys, ws_min, ws_max);
  if (st) return st;
  p->ws.min = ws_min;
  p->ws.max = ws_max;
  p->ws.hard_min = hard_min;
  p->ws.hard_max = hard_max;
  /* A hard maximum takes effect at once: shrink to it. */
  if (hard_max && p->ws.count > ws_max) {
    st = ws_shrink(sys, p, p->ws.count - ws_max);
    if (st) return st;
  }
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* Process exit (seed notes: "inactive memory"): every page is released as
** by MEM_RELEASE; commit and page-file slots go back, private frames go to
** the free list. The record stays so that stats remain readable. */
mm_status mm_process_terminate(mm_system *sys, mm_pid pid) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  mm_pstats keep;
  mm_process_stats(sys, pid, &keep);
  loader_process_free(sys, p);
  view_unmap_all(sys, p);
  vad_destroy_all(sys, p);
  pt_destroy(sys, p);
  ws_destroy(sys, p);
  if (sys->tlb) tlb_flush_pid(sys->tlb, pid);
  p->alive = false;
  p->st = keep;
  p->st.ws_size = 0;
  p->st.private_pages = 0;
  p->st.commit = 0;
  p->st.page_table_pages = 0;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

static void proc_free(mm_system *sys, mm_process *p) {
  loader_process_free(sys, p);
  for (uint32_t i = 0; i < p->nvads; i++)
    if (!(p->vads[i].flags & VAD_F_SYSTEM)) free(p->vads[i].view);
  if (p->alive) {
    /* Tear down without bookkeeping: the whole system is going away. */
    pt_destroy(sys, p);
    ws_destroy(sys, p);
  }
  free(p->vads);
  free(p);
}

/* ------------------------------------------------------------- commit */

mm_status commit_charge(mm_system *sys, mm_process *p, uint64_t n) {
  if (n > sys->commit_limit - sys->commit_charge)
    return mm_fail(sys, MM_STATUS_COMMITMENT_LIMIT,
                   "committing %llu pages would pass the commit limit "
                   "(%llu of %llu pages charged)",
                   (unsigned long long)n,
                   (unsigned long long)sys->commit_charge,
                   (unsigned long long)sys->commit_limit);
  sys->commit_charge += n;
  if (p) p->st.commit += n;
  return MM_STATUS_SUCCESS;
}

/* The peak is recorded when commit goes down for real (and read as the
** larger of it and the charge now), never by a charge a failing call takes
** back: a failed call changes nothing, the peak included. */
void commit_return(mm_system *sys, mm_process *p, uint64_t n) {
  if (sys->commit_charge > sys->commit_peak) sys->commit_peak = sys->commit_charge;
  commit_unwind(sys, p, n);
}

void commit_unwind(mm_system *sys, mm_process *p, uint64_t n) {
  assert(sys->commit_charge >= n);
  sys->commit_charge -= n;
  if (p) {
    assert(p->st.commit >= n);
    p->st.commit -= n;
  }
}

/* -------------------------------------------------------------- stats */

#define F(t, f) { #f, offsetof(t, f) }
const mm_stat_field mm_pstats_fields[] = {
  F(mm_pstats, refs), F(mm_pstats, hits), F(mm_pstats, faults),
  F(mm_pstats, demand_zero), F(mm_pstats, soft), F(mm_pstats, hard),
  F(mm_pstats, cow), F(mm_pstats, guard), F(mm_pstats, access_violations),
  F(mm_pstats, ws_size), F(mm_pstats, ws_peak), F(mm_pstats, ws_min),
  F(mm_pstats, ws_max), F(mm_pstats, private_pages), F(mm_pstats, commit),
  F(mm_pstats, trimmed), F(mm_pstats, replaced), F(mm_pstats, pagefile_reads),
  F(mm_pstats, page_table_pages), F(mm_pstats, tlb_misses),
  F(mm_pstats, large_pages), F(mm_pstats, hard_min), F(mm_pstats, hard_max),
  { NULL, 0 }
};

const mm_stat_field mm_sstats_fields[] = {
  F(mm_sstats, time), F(mm_sstats, available), F(mm_sstats, free),
  F(mm_sstats, zeroed), F(mm_sstats, standby), F(mm_sstats, modified),
  F(mm_sstats, modified_nowrite), F(mm_sstats, active), F(mm_sstats, bad),
  F(mm_sstats, total_frames), F(mm_sstats, commit_charge),
  F(mm_sstats, commit_limit), F(mm_sstats, commit_peak),
  F(mm_sstats, pagefile_total), F(mm_sstats, pagefile_used),
  F(mm_sstats, pagefile_reads), F(mm_sstats, pagefile_writes),
  F(mm_sstats, repurposed), F(mm_sstats, zeroed_by_step),
  F(mm_sstats, zeroed_on_demand), F(mm_sstats, wsm_runs),
  F(mm_sstats, wsm_trimmable), F(mm_sstats, trimmed), F(mm_sstats, faults),
  F(mm_sstats, demand_zero), F(mm_sstats, soft), F(mm_sstats, hard),
  F(mm_sstats, cow), F(mm_sstats, guard), F(mm_sstats, access_violations),
  F(mm_sstats, refs), F(mm_sstats, page_table_pages), F(mm_sstats, tlb_misses),
  F(mm_sstats, processes), F(mm_sstats, system_ws_size),
  F(mm_sstats, system_faults), F(mm_sstats, paged_pool_pages),
  F(mm_sstats, nonpaged_pool_pages), F(mm_sstats, paged_pool_resident),
  { NULL, 0 }
};
#undef F

static void pstats_fill(const mm_system *sys, const mm_process *p,
                        mm_pstats *o) {
  *o = p->st;
  if (!p->alive) return;
  o->faults = o->demand_zero + o->soft + o->hard + o->cow + o->guard +
              o->access_violations;
  o->ws_size = p->ws.count;
  o->ws_peak = p->ws.peak;
  o->ws_min = p->ws.min;
  o->ws_max = p->ws.max;
  o->hard_min = p->ws.hard_min;
  o->hard_max = p->ws.hard_max;
  o->page_table_pages = p->pt_tables;
  (void)sys;
}

mm_status mm_process_stats(const mm_system *sys, mm_pid pid, mm_pstats *out) {
  if (pid == 0 || pid > sys->nprocs) {
    memset(out, 0, sizeof *out);
    return MM_STATUS_INVALID_HANDLE;
  }
  pstats_fill(sys, sys->procs[pid - 1], out);
  return MM_STATUS_SUCCESS;
}

void mm_system_stats(const mm_system *sys, mm_sstats *o) {
  *o = sys->st;
  o->time = sys->now;
  o->zeroed = sys->list[LIST_ZEROED].count;
  o->free = sys->list[LIST_FREE].count;
  o->standby = 0;
  for (int i = 0; i < PFN_STANDBY_LISTS; i++) {
    o->standby_by_priority[i] = sys->standby[i].count;
    o->standby += sys->standby[i].count;
  }
  o->modified = sys->list[LIST_MODIFIED].count;
  o->modified_nowrite = sys->list[LIST_MODIFIED_NOWRITE].count;
  o->bad = sys->list[LIST_BAD].count;
  o->available = o->zeroed + o->free + o->standby;
  o->total_frames = sys->nframes;
  o->active = sys->nframes - o->available - o->modified -
              o->modified_nowrite - o->bad;
  o->commit_charge = sys->commit_charge;
  o->commit_limit = sys->commit_limit;
  o->commit_peak = sys->commit_peak > sys->commit_charge ? sys->commit_peak
                                                         : sys->commit_charge;
  o->pagefile_total = sys->pf_slots;
  o->pagefile_used = sys->pf_used;
  o->faults = o->demand_zero = o->soft = o->hard = o->cow = o->guard = 0;
  o->access_violations = o->refs = o->page_table_pages = 0;
  o->processes = 0;
  o->tlb_misses = 0;
  uint64_t trimmed = 0;
  for (uint32_t i = 0; i < sys->nprocs; i++) {
    mm_pstats ps;
    pstats_fill(sys, sys->procs[i], &ps);
    o->demand_zero += ps.demand_zero;
    o->soft += ps.soft;
    o->hard += ps.hard;
    o->cow += ps.cow;
    o->guard += ps.guard;
    o->access_violations += ps.access_violations;
    o->refs += ps.refs;
    o->tlb_misses += ps.tlb_misses;
    trimmed += ps.trimmed;
    if (sys->procs[i]->alive) {
      o->page_table_pages += ps.page_table_pages;
      o->processes++;
    }
  }
  if (sys->sysproc) {
    mm_pstats ps;
    pstats_fill(sys, sys->sysproc, &ps);
    o->system_ws_size = ps.ws_size;
    o->system_faults = ps.faults;
    trimmed += ps.trimmed;
  }
  o->trimmed = trimmed;
  mm_pool_stats pk;
  mm_pool_kind_stats(sys, MM_POOL_PAGED, &pk);
  o->paged_pool_pages = pk.pages;
  o->paged_pool_resident = pk.resident_pages;
  mm_pool_kind_stats(sys, MM_POOL_NONPAGED, &pk);
  o->nonpaged_pool_pages = pk.pages;
  o->faults = o->demand_zero + o->soft + o->hard + o->cow + o->guard +
              o->access_violations;
}

int mm_check(mm_system *sys) { return check_all(sys); }
