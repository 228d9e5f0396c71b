/*
** mm.h — the public face of the pagelab core.
**
** The core simulates, page by page, what the Windows NT memory manager does.
** Everything a caller can do goes through this header: the Lua binding
** includes nothing else from core/.
**
** Conventions
**  - The owner comes first: every call takes the mm_system it acts on.
**  - Three kinds of outcome, never mixed: a simulated event (a fault, an
**    access violation) is data returned to the caller; an operational failure
**    is an mm_status with the NTSTATUS value Windows would give, and leaves
**    everything unchanged; a broken invariant is an assert.
**  - After a failing call, mm_last_error() holds a sentence for people.
**  - The core never prints, exits or longjmps, and has no mutable globals:
**    several systems can live in one process.
**  - Numbers use the Windows values: PAGE_* protections, MEM_* types,
**    NTSTATUS codes. Addresses and sizes are in bytes.
*/
#ifndef PAGELAB_MM_H
#define PAGELAB_MM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pe.h"
#include "loader.h"
#include "pool.h"
#include "source.h"
#include "views.h"

#define MM_VERSION "0.1.0"

/* ---------------------------------------------------------------- status */

typedef uint32_t mm_status;

/* Every status the core can return, with the NTSTATUS value Windows
** gives (WINDOWS.md, status table). The last two are pagelab's own
** (customer bit set): a callback (Lua policy, sampler) failed, and a
** reference source (trace file) is malformed. */
#define MM_STATUS_SUCCESS ((mm_status)0x00000000u)
#define MM_STATUS_IMAGE_NOT_AT_BASE ((mm_status)0x40000003u)
#define MM_STATUS_IMAGE_MACHINE_TYPE_MISMATCH ((mm_status)0x4000000Eu)
#define MM_STATUS_GUARD_PAGE_VIOLATION ((mm_status)0x80000001u)
#define MM_STATUS_ACCESS_VIOLATION ((mm_status)0xC0000005u)
#define MM_STATUS_INVALID_HANDLE ((mm_status)0xC0000008u)
#define MM_STATUS_INVALID_PARAMETER ((mm_status)0xC000000Du)
#define MM_STATUS_NO_MEMORY ((mm_status)0xC0000017u)
#define MM_STATUS_CONFLICTING_ADDRESSES ((mm_status)0xC0000018u)
#define MM_STATUS_NOT_MAPPED_VIEW ((mm_status)0xC0000019u)
#define MM_STATUS_UNABLE_TO_FREE_VM ((mm_status)0xC000001Au)
#define MM_STATUS_UNABLE_TO_DELETE_SECTION ((mm_status)0xC000001Bu)
#define MM_STATUS_INVALID_VIEW_SIZE ((mm_status)0xC000001Fu)
#define MM_STATUS_INVALID_FILE_FOR_SECTION ((mm_status)0xC0000020u)
#define MM_STATUS_OBJECT_TYPE_MISMATCH ((mm_status)0xC0000024u)
#define MM_STATUS_OBJECT_NAME_NOT_FOUND ((mm_status)0xC0000034u)
#define MM_STATUS_ACCESS_DENIED ((mm_status)0xC0000022u)
#define MM_STATUS_NOT_COMMITTED ((mm_status)0xC000002Du)
#define MM_STATUS_SECTION_TOO_BIG ((mm_status)0xC0000040u)
#define MM_STATUS_INVALID_PAGE_PROTECTION ((mm_status)0xC0000045u)
#define MM_STATUS_SECTION_PROTECTION ((mm_status)0xC000004Eu)
#define MM_STATUS_PRIVILEGE_NOT_HELD ((mm_status)0xC0000061u)
#define MM_STATUS_INVALID_IMAGE_FORMAT ((mm_status)0xC000007Bu)
#define MM_STATUS_INSUFFICIENT_RESOURCES ((mm_status)0xC000009Au)
#define MM_STATUS_FREE_VM_NOT_AT_BASE ((mm_status)0xC000009Fu)
#define MM_STATUS_MEMORY_NOT_ALLOCATED ((mm_status)0xC00000A0u)
#define MM_STATUS_NOT_SUPPORTED ((mm_status)0xC00000BBu)
#define MM_STATUS_INVALID_PARAMETER_1 ((mm_status)0xC00000EFu)
#define MM_STATUS_INVALID_PARAMETER_2 ((mm_status)0xC00000F0u)
#define MM_STATUS_INVALID_PARAMETER_3 ((mm_status)0xC00000F1u)
#define MM_STATUS_INVALID_PARAMETER_4 ((mm_status)0xC00000F2u)
#define MM_STATUS_INVALID_PARAMETER_5 ((mm_status)0xC00000F3u)
#define MM_STATUS_INVALID_PARAMETER_6 ((mm_status)0xC00000F4u)
#define MM_STATUS_INVALID_PARAMETER_9 ((mm_status)0xC00000F7u)
#define MM_STATUS_PROCESS_IS_TERMINATING ((mm_status)0xC000010Au)
#define MM_STATUS_MAPPED_FILE_SIZE_ZERO ((mm_status)0xC000011Eu)
#define MM_STATUS_COMMITMENT_LIMIT ((mm_status)0xC000012Du)
#define MM_STATUS_INVALID_IMAGE_NOT_MZ ((mm_status)0xC000012Fu)
#define MM_STATUS_DLL_NOT_FOUND ((mm_status)0xC0000135u)
#define MM_STATUS_ENTRYPOINT_NOT_FOUND ((mm_status)0xC0000139u)
#define MM_STATUS_INVALID_ADDRESS ((mm_status)0xC0000141u)
#define MM_STATUS_MAPPED_ALIGNMENT ((mm_status)0xC0000220u)
#define MM_STATUS_PAGELAB_CALLBACK_FAILED ((mm_status)0xE0000001u)
#define MM_STATUS_PAGELAB_BAD_SOURCE ((mm_status)0xE0000002u)

/* X(name) for each status above, for tables of names. */
#define MM_STATUS_LIST(X) \
  X(SUCCESS) \
  X(IMAGE_NOT_AT_BASE) \
  X(IMAGE_MACHINE_TYPE_MISMATCH) \
  X(GUARD_PAGE_VIOLATION) \
  X(ACCESS_VIOLATION) \
  X(INVALID_HANDLE) \
  X(INVALID_PARAMETER) \
  X(NO_MEMORY) \
  X(CONFLICTING_ADDRESSES) \
  X(NOT_MAPPED_VIEW) \
  X(UNABLE_TO_FREE_VM) \
  X(UNABLE_TO_DELETE_SECTION) \
  X(INVALID_VIEW_SIZE) \
  X(INVALID_FILE_FOR_SECTION) \
  X(OBJECT_TYPE_MISMATCH) \
  X(OBJECT_NAME_NOT_FOUND) \
  X(ACCESS_DENIED) \
  X(NOT_COMMITTED) \
  X(SECTION_TOO_BIG) \
  X(INVALID_PAGE_PROTECTION) \
  X(SECTION_PROTECTION) \
  X(PRIVILEGE_NOT_HELD) \
  X(INVALID_IMAGE_FORMAT) \
  X(INSUFFICIENT_RESOURCES) \
  X(FREE_VM_NOT_AT_BASE) \
  X(MEMORY_NOT_ALLOCATED) \
  X(NOT_SUPPORTED) \
  X(INVALID_PARAMETER_1) \
  X(INVALID_PARAMETER_2) \
  X(INVALID_PARAMETER_3) \
  X(INVALID_PARAMETER_4) \
  X(INVALID_PARAMETER_5) \
  X(INVALID_PARAMETER_6) \
  X(INVALID_PARAMETER_9) \
  X(PROCESS_IS_TERMINATING) \
  X(MAPPED_FILE_SIZE_ZERO) \
  X(COMMITMENT_LIMIT) \
  X(INVALID_IMAGE_NOT_MZ) \
  X(DLL_NOT_FOUND) \
  X(ENTRYPOINT_NOT_FOUND) \
  X(INVALID_ADDRESS) \
  X(MAPPED_ALIGNMENT) \
  X(PAGELAB_CALLBACK_FAILED) \
  X(PAGELAB_BAD_SOURCE)

/* True for success-class statuses (severity 0 or 1, like NT_SUCCESS). */
#define MM_OK(st) ((int32_t)(st) >= 0)

/* "STATUS_CONFLICTING_ADDRESSES", or NULL for an unknown value. */
const char *mm_status_name(mm_status st);

/* ------------------------------------------------------ Windows constants */

#define MM_MEM_COMMIT      0x00001000u
#define MM_MEM_RESERVE     0x00002000u
#define MM_MEM_DECOMMIT    0x00004000u
#define MM_MEM_RELEASE     0x00008000u
#define MM_MEM_FREE        0x00010000u
#define MM_MEM_PRIVATE     0x00020000u
#define MM_MEM_MAPPED      0x00040000u
#define MM_MEM_RESET       0x00080000u
#define MM_MEM_TOP_DOWN    0x00100000u
#define MM_MEM_WRITE_WATCH 0x00200000u
#define MM_MEM_PHYSICAL    0x00400000u
#define MM_MEM_IMAGE       0x01000000u
#define MM_MEM_LARGE_PAGES 0x20000000u

#define MM_SEC_FILE         0x00800000u
#define MM_SEC_IMAGE        0x01000000u
#define MM_SEC_RESERVE      0x04000000u
#define MM_SEC_COMMIT       0x08000000u
#define MM_SEC_NOCACHE      0x10000000u
#define MM_SEC_WRITECOMBINE 0x40000000u
#define MM_SEC_LARGE_PAGES  0x80000000u

#define MM_PAGE_NOACCESS          0x001u
#define MM_PAGE_READONLY          0x002u
#define MM_PAGE_READWRITE         0x004u
#define MM_PAGE_WRITECOPY         0x008u
#define MM_PAGE_EXECUTE           0x010u
#define MM_PAGE_EXECUTE_READ      0x020u
#define MM_PAGE_EXECUTE_READWRITE 0x040u
#define MM_PAGE_EXECUTE_WRITECOPY 0x080u
#define MM_PAGE_GUARD             0x100u
#define MM_PAGE_NOCACHE           0x200u
#define MM_PAGE_WRITECOMBINE      0x400u

/* ----------------------------------------------------------------- machine */

typedef enum mm_arch { MM_ARCH_X86, MM_ARCH_X86_PAE, MM_ARCH_X64, MM_ARCH_COUNT } mm_arch;

/* A fixed description of an architecture (WINDOWS.md A.1.4, seed notes). */
typedef struct mm_arch_info {
  const char *name;          /* "x86", "x86-pae", "x64" */
  unsigned va_bits;          /* virtual address bits translated */
  unsigned levels;           /* paging levels at the default page size */
  unsigned pte_bytes;        /* size of one hardware PTE */
  unsigned pointer_bits;     /* 32 or 64: pool block granularity etc. */
  uint32_t small_page;       /* 4 KiB */
  uint64_t large_page;       /* 4 MiB or 2 MiB */
  uint64_t user_lo;          /* lowest user address (0x10000) */
  uint64_t user_hi;          /* highest user address (inclusive) */
} mm_arch_info;

const mm_arch_info *mm_arch_get(mm_arch a);
/* The architecture called name, or -1. */
int mm_arch_find(const char *name);

/*
** Tunables. Every threshold of the simulated memory manager is here, with
** the reason for its default. mm_config_default() fills them.
*/
typedef struct mm_tunables {
  uint64_t refs_per_second;   /* simulated references per simulated second:
                                 the working-set manager and the zero-page
                                 step run once per second (default 100000) */
  uint32_t ws_min;            /* default working-set minimum, pages (50) */
  uint32_t ws_max;            /* default working-set maximum, pages (345) */
  uint32_t min_free_pages;    /* below this many available pages the
                                 manager trims hard, down to minimums (26,
                                 ReactOS MmMinimumFreePages) */
  uint32_t plenty_free_pages; /* available + modified at or above this: no
                                 trimming at all (400, doubled above 63 MB
                                 of RAM, ReactOS MmPlentyFreePages) */
  uint32_t trim_age;          /* a page unreferenced for this many manager
                                 passes may be trimmed (3, ReactOS) */
  uint32_t mpw_threshold;     /* modified-list length that wakes the
                                 modified page writer (800 pages) */
  uint32_t mpw_batch;         /* pages the writer writes per run (256) */
  uint32_t zero_threshold;    /* free-list length that wakes the zero-page
                                 step (8, ReactOS) */
  uint32_t standby_priority;  /* standby priority of trimmed pages (5, the
                                 Windows normal memory priority) */
  uint32_t commit_reserve;    /* pages the commit limit keeps back from
                                 RAM + page file (1): with every committed
                                 page dirty, a page-in still needs one free
                                 place to write another page to */
  uint32_t sys_ws_min;        /* the system working set (paged pool): 288 */
  uint32_t sys_ws_max;        /* and 350 pages (ReactOS, A.10.7) */
} mm_tunables;

/* Which trimming/replacement policy, and its parameters. */
typedef struct mm_ws_page mm_ws_page;
typedef int (*mm_select_fn)(void *ud, uint32_t pid, const mm_ws_page *pages,
                            uint32_t count, uint32_t want, uint32_t *victims,
                            uint32_t *nvictims, char *err, size_t errlen);

typedef struct mm_policy_spec {
  const char *name;           /* "aging", "fifo", "clock", "lru", "random",
                                 "wsclock", "opt", or a custom name */
  bool load_referenced;       /* clock, wsclock: the faulting access sets
                                 the accessed bit (default true) */
  uint64_t tau;               /* wsclock: window in references */
  uint64_t seed;              /* random: seed (0 = the system seed) */
  mm_select_fn custom_select; /* a policy written by the caller (Lua) */
  void *custom_ud;
} mm_policy_spec;

typedef struct mm_tlb_config {
  uint32_t entries, ways;     /* small-page TLB; 0 entries = none */
  uint32_t large_entries, large_ways;   /* large-page TLB */
} mm_tlb_config;

typedef struct mm_config {
  mm_arch arch;
  uint64_t ram;               /* bytes of physical memory */
  uint64_t pagefile;          /* bytes of page file (0 = none) */
  uint32_t page_size;         /* 0 = the architecture's small page */
  uint64_t large_page_size;   /* 0 = the architecture's large page */
  uint64_t seed;
  bool contents;              /* keep real page contents */
  mm_tlb_config tlb;
  mm_policy_spec policy;
  mm_tunables tune;
} mm_config;

/* Fills cfg with the defaults for an architecture: 256 MiB RAM, 1 GiB
** page file, its small page, policy "aging", the documented tunables. */
void mm_config_default(mm_config *cfg, mm_arch arch);

typedef struct mm_system mm_system;

/* Creates a system. On failure returns the status, *out = NULL and err
** (if given) holds the reason; nothing is allocated. Page sizes must be
** powers of two from 512 B to 64 KiB (STATUS_INVALID_PARAMETER). */
mm_status mm_system_create(const mm_config *cfg, mm_system **out,
                           char *err, size_t errlen);
void mm_system_destroy(mm_system *sys);

/* The sentence explaining the last failure of a call on sys. */
const char *mm_last_error(const mm_system *sys);

uint32_t mm_page_size(const mm_system *sys);
uint64_t mm_large_page_size(const mm_system *sys);
const mm_config *mm_system_config(const mm_system *sys);

/* -------------------------------------------------------------- processes */

typedef uint32_t mm_pid;      /* 1, 2, ...; 0 is never a process */

typedef struct mm_process_config {
  const char *name;
  uint32_t ws_min, ws_max;    /* 0 = the tunables' defaults */
  bool hard_max;              /* replace within the working set at ws_max */
  bool hard_min;              /* never trim below ws_min */
} mm_process_config;

mm_status mm_process_create(mm_system *sys, const mm_process_config *pc,
                            mm_pid *out);
/* Process exit: releases the whole address space. Stats stay readable. */
mm_status mm_process_terminate(mm_system *sys, mm_pid pid);
const char *mm_process_name(const mm_system *sys, mm_pid pid);
/* Changes working-set limits (SetProcessWorkingSetSizeEx without the API
** minimum of 13 pages: experiments may go lower). min ≤ max, max ≥ 1. */
mm_status mm_process_set_ws(mm_system *sys, mm_pid pid, uint32_t ws_min,
                            uint32_t ws_max, bool hard_min, bool hard_max);

/* ----------------------------------------------------- virtual memory API */

/* NtAllocateVirtualMemory. *base: in, the requested address (0 = anywhere);
** out, the rounded base. *size: in, bytes; out, the rounded size. type is
** MEM_* flags, protect PAGE_*. A failure changes nothing. */
mm_status mm_allocate(mm_system *sys, mm_pid pid, uint64_t *base,
                      uint64_t *size, uint32_t type, uint32_t protect);
/* NtFreeVirtualMemory with MEM_DECOMMIT or MEM_RELEASE. */
mm_status mm_free(mm_system *sys, mm_pid pid, uint64_t *base,
                  uint64_t *size, uint32_t type);
/* NtProtectVirtualMemory. *old receives the first page's protection. */
mm_status mm_protect(mm_system *sys, mm_pid pid, uint64_t *base,
                     uint64_t *size, uint32_t protect, uint32_t *old);

typedef struct mm_region {     /* MEMORY_BASIC_INFORMATION */
  uint64_t base, allocation_base, size;
  uint32_t allocation_protect, state, protect, type;
} mm_region;
/* NtQueryVirtualMemory (MemoryBasicInformation). */
mm_status mm_query(mm_system *sys, mm_pid pid, uint64_t addr, mm_region *out);

/* ---------------------------------------------------------------- access */

enum { MM_READ = 0, MM_WRITE = 1, MM_EXECUTE = 2 };

typedef enum mm_outcome {
  MM_HIT, MM_DEMAND_ZERO, MM_SOFT, MM_HARD, MM_COW, MM_GUARD,
  MM_ACCESS_VIOLATION, MM_OUTCOME_COUNT,
  MM_ERROR = -1                /* the simulation could not go on: see
                                  mm_last_error (e.g. a Lua policy raised) */
} mm_outcome;

/* "hit", "demand_zero", "soft", "hard", "cow", "guard", "access_violation" */
const char *mm_outcome_name(int outcome);

/* One memory reference by pid: resolves it to exactly one outcome and
** advances simulated time by one. */
int mm_access(mm_system *sys, mm_pid pid, uint64_t addr, unsigned kind);

typedef struct mm_run_opts {
  uint64_t max_refs;           /* stop after this many (0 = source end) */
  bool commit_touched;         /* commit untouched pages as private RW */
  bool strict;                 /* ... or count them as access violations */
} mm_run_opts;

typedef struct mm_run_result {
  uint64_t refs;
  uint64_t outcome[MM_OUTCOME_COUNT];
} mm_run_result;

/* Replays refs from src into pid, all in C. Returns SUCCESS, or the
** status of what stopped the run (a source error, a policy error). */
mm_status mm_run(mm_system *sys, mm_pid pid, mm_source *src,
                 const mm_run_opts *opt, mm_run_result *res);

/* Several processes, each with its own source, in one run: round robin,
** quantum references each turn (simulated time is shared, so one's faults
** and trims shape what the others meet). An item ends at its max_refs
** (or opt->max_refs when 0) or when its source ends. res is per item. */
typedef struct mm_run_item {
  mm_pid pid;
  mm_source *src;
  uint64_t max_refs;
  mm_run_result res;
} mm_run_item;
mm_status mm_run_many(mm_system *sys, mm_run_item *items, size_t n,
                      uint64_t quantum, const mm_run_opts *opt);

/* --------------------------------------------------------------- time */

/* Advances simulated time by n references' worth (the manager, writer and
** zero-page step run as their periods pass). */
mm_status mm_tick(mm_system *sys, uint64_t n);
/* Runs the working-set manager (and the writer) now. */
mm_status mm_wsm_run(mm_system *sys);

/* ------------------------------------------------------------------ stats */

typedef struct mm_pstats {
  uint64_t refs, hits, faults, demand_zero, soft, hard, cow, guard,
      access_violations, ws_size, ws_peak, ws_min, ws_max, private_pages,
      commit, trimmed, replaced, pagefile_reads, page_table_pages,
      tlb_misses, large_pages, hard_min, hard_max;
} mm_pstats;

typedef struct mm_sstats {
  uint64_t time, available, free, zeroed, standby, modified,
      modified_nowrite, active, bad, total_frames, commit_charge,
      commit_limit, commit_peak, pagefile_total, pagefile_used,
      pagefile_reads, pagefile_writes, repurposed, zeroed_by_step,
      zeroed_on_demand, wsm_runs, wsm_trimmable, trimmed, faults,
      demand_zero, soft, hard, cow, guard, access_violations, refs,
      page_table_pages, tlb_misses, processes, system_ws_size,
      system_faults, paged_pool_pages, nonpaged_pool_pages,
      paged_pool_resident;
  uint64_t standby_by_priority[8];
} mm_sstats;

/* A name and offset for each uint64_t field, ending with {NULL, 0}: lets
** a binding publish every counter without listing them again. */
typedef struct mm_stat_field { const char *name; size_t offset; } mm_stat_field;
extern const mm_stat_field mm_pstats_fields[];
extern const mm_stat_field mm_sstats_fields[];

/* Read counters; no side effects. */
mm_status mm_process_stats(const mm_system *sys, mm_pid pid, mm_pstats *out);
void mm_system_stats(const mm_system *sys, mm_sstats *out);

/* --------------------------------------------------------- custom policy */

/* What a policy written outside the core sees of one working-set entry. */
struct mm_ws_page {
  uint64_t va;                 /* page address */
  uint64_t inserted;           /* simulated time the page entered */
  uint32_t age;                /* passes since last seen referenced */
  uint8_t accessed, dirty, shared;
};

/* ------------------------------------------------- files and sections */

/* Files, sections: small integer handles (1, 2, ...), per system. */
typedef uint32_t mm_handle;

/* A simulated file of size bytes (zero-filled). name is for people. */
mm_status mm_file_create(mm_system *sys, const char *name, uint64_t size,
                         mm_handle *out);
/* A host file, read-only (its size is read now; its bytes when needed).
** Opening a path that is already open returns the same file (one more
** handle), so that every section on it shares its pages (A.11.11).
** STATUS_OBJECT_NAME_NOT_FOUND when it does not exist. */
mm_status mm_file_open(mm_system *sys, const char *path, mm_handle *out);
/* Closes the handle. The file lives on while sections or views use it,
** and so do its cached pages (standby): re-opening sections on it finds
** them. */
mm_status mm_file_close(mm_system *sys, mm_handle f);

typedef struct mm_file_info {
  const char *name;          /* valid until the file goes */
  uint64_t size, reads, writes;   /* page reads and writes of the file */
  uint64_t cached;           /* pages of it in memory (any list or WS) */
  bool host;
} mm_file_info;
mm_status mm_file_info_get(mm_system *sys, mm_handle f, mm_file_info *out);
/* The file's own bytes (contents = true), as the disk has them: what the
** writers and flushes put there, not what sits dirty in memory. */
mm_status mm_file_read(mm_system *sys, mm_handle f, uint64_t offset,
                       void *buf, uint64_t n, uint64_t *got);

typedef struct mm_section_config {
  uint64_t size;             /* bytes; 0 = the file's size */
  uint32_t protect;          /* PAGE_*: the most any view may get */
  uint32_t attributes;       /* SEC_*; 0 = SEC_COMMIT */
  mm_handle file;            /* 0: backed by the page file */
  const char *name;          /* NULL: unnamed */
} mm_section_config;

/* NtCreateSection (WINDOWS.md A.11.1-A.11.4, A.6.2). A name that exists
** returns that section (*existed = true) with its own size. */
mm_status mm_section_create(mm_system *sys, const mm_section_config *cfg,
                            mm_handle *out, bool *existed);
/* Closes a handle; views keep the section alive (A.11.4). */
mm_status mm_section_close(mm_system *sys, mm_handle s);

typedef struct mm_section_info {
  uint64_t size;             /* bytes (page-file sections: page-rounded) */
  uint32_t protect, attributes;
  uint64_t pages, committed, resident, views;
  mm_handle file;
  const char *name;
} mm_section_info;
mm_status mm_section_info_get(mm_system *sys, mm_handle s, mm_section_info *out);

/* NtMapViewOfSection (A.11.5, A.4.5, A.11.8). *base: 0 = anywhere (64 KiB
** aligned either way); offset: 64 KiB multiple; *size: 0 = to the end.
** commit_size: pages committed at once in a SEC_RESERVE section. type may
** hold MEM_TOP_DOWN. Returns SUCCESS or STATUS_IMAGE_NOT_AT_BASE (an
** image placed elsewhere), or a failure that changes nothing. */
mm_status mm_map_view(mm_system *sys, mm_pid pid, mm_handle s, uint64_t *base,
                      uint64_t offset, uint64_t *size, uint32_t protect,
                      uint64_t commit_size, uint32_t type);
/* NtUnmapViewOfSection: any address inside the view (A.11.10). */
mm_status mm_unmap_view(mm_system *sys, mm_pid pid, uint64_t addr);
/* FlushViewOfFile: dirty pages of a file view in [base, base+size) are
** written to the file (size 0: to the end of the view). */
mm_status mm_flush_view(mm_system *sys, mm_pid pid, uint64_t *base,
                        uint64_t *size);

/* The loader's write into an image view (relocations, import binding):
** each page touched becomes the process's own copy (copy-on-write, counted
** as such) whatever its protection; with contents the bytes land in it. */
mm_status mm_image_write(mm_system *sys, mm_pid pid, uint64_t addr,
                         const void *buf, uint64_t n);
/* The parsed header of an image section (NULL if s is not one). Valid
** while the section lives. */
const pe_image *mm_section_image(mm_system *sys, mm_handle s);

/* Page contents (config.contents = true): reads or writes bytes as the
** process would, page by page, each page one access (faults included).
** A page that refuses the access stops the copy: ACCESS_VIOLATION or
** GUARD_PAGE_VIOLATION, *done = bytes copied before it. */
mm_status mm_write(mm_system *sys, mm_pid pid, uint64_t addr,
                   const void *buf, uint64_t n, uint64_t *done);
mm_status mm_read(mm_system *sys, mm_pid pid, uint64_t addr, void *buf,
                  uint64_t n, uint64_t *done);

/* ---------------------------------------------------------------- sampling */

/* Called whenever simulated time crosses a multiple of every (in mm_run,
** mm_access and mm_tick). A nonzero return stops the run in progress with
** PAGELAB_CALLBACK_FAILED (set the reason with mm_set_error). every = 0 or
** fn = NULL removes the sampler. */
typedef int (*mm_sample_fn)(void *ud, mm_system *sys);
void mm_set_sampler(mm_system *sys, uint64_t every, mm_sample_fn fn, void *ud);
/* Teaching hooks and an event log: each fault (any outcome but a hit)
** and each page trimmed or replaced out of a working set is an event.
** Nothing is spent on them while none is set: they sit on slow paths only,
** behind one flag. A hook returning nonzero stops the run in progress with
** PAGELAB_CALLBACK_FAILED (set the reason with mm_set_error). */
enum { MM_EV_FAULT = 0, MM_EV_TRIM = 1, MM_EV_KINDS = 2 };
typedef struct mm_event {
  uint64_t time;              /* simulated time */
  uint64_t va;                /* page address */
  uint32_t pid;
  uint8_t kind;               /* MM_EV_* */
  uint8_t outcome;            /* faults: mm_outcome */
  uint8_t access;             /* faults: MM_READ/WRITE/EXECUTE */
  uint8_t dirty;              /* trims: the page goes to the modified list */
  uint8_t replaced;           /* trims: at a hard maximum, not the manager */
} mm_event;
typedef int (*mm_hook_fn)(void *ud, mm_system *sys, const mm_event *ev);
void mm_set_hook(mm_system *sys, int kind, mm_hook_fn fn, void *ud);
/* Keeps the last capacity events in a ring (0 turns the log off). */
mm_status mm_event_log(mm_system *sys, size_t capacity);
/* Copies the newest max logged events, oldest first; returns how many.
** out = NULL: just how many are logged. */
size_t mm_events(const mm_system *sys, mm_event *out, size_t max);

/* Lets a callback record why it failed (copied). */
void mm_set_error(mm_system *sys, const char *msg);

/* Processes ever created (pids 1..n; terminated ones included). */
uint32_t mm_process_count(const mm_system *sys);
bool mm_process_alive(const mm_system *sys, mm_pid pid);

/* Invariant walkers: 0 when every invariant holds, else -1 and
** mm_last_error names the first broken one. Debug builds also assert. */
int mm_check(mm_system *sys);

#endif
