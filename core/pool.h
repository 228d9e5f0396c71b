/*
** pool.h — kernel pools (public part, included by mm.h).
**
** One non-paged pool and 1..64 paged pools (4 by default), created with the
** system (WINDOWS.md A.13, seed notes "Kernel Heaps"). Callers allocate
** tagged blocks the way drivers call ExAllocatePoolWithTag:
**
**   - a request of at most POOL_MAX_ALLOC bytes (page size - header -
**     one block) is a small block carved from a pool page: it starts with
**     a one-block header and is rounded up to the block granularity (8
**     bytes on the 32-bit profiles, 16 on x64), and never crosses a page;
**   - anything larger is a big allocation of whole pages with no header.
**
** The address an allocation returns is the simulated kernel virtual
** address of the caller's bytes (after the header for a small block,
** page-aligned for a big one); it is the handle for every later call.
**
** Non-paged pool pages are always resident (frames leave the free, zeroed
** and standby lists at once and never join a working set); paged pool pages
** are committed in the System process and live in the system working set,
** so they fault in, get trimmed and fault back. Both charge commit.
**
** docs/pools.md has the model, the limits table and what is not simulated.
** Every call follows mm.h's contract: a failure returns a status, records a
** sentence (mm_last_error) and changes nothing.
*/
#ifndef PAGELAB_POOL_H
#define PAGELAB_POOL_H

#include <stddef.h>
#include <stdint.h>

/* mm.h includes this header before it defines these; repeating a typedef
** of the same type is allowed in C11. */
typedef struct mm_system mm_system;
typedef uint32_t mm_status;
struct mm_stat_field;
struct mm_run_result;

/* BASE_POOL_TYPE_MASK values (A.13.4): type 0 non-paged, type 1 paged. */
typedef enum mm_pool_kind { MM_POOL_NONPAGED = 0, MM_POOL_PAGED = 1 } mm_pool_kind;

#define MM_POOL_DEFAULT_PAGED_POOLS 4u   /* seed notes: four paged pools */
#define MM_POOL_MAX_PAGED_POOLS 64u      /* seed notes: up to 64 */

/* The tag ExAllocatePool (no tag) uses: "None". */
#define MM_POOL_TAG_NONE 0x656E6F4Eu
/* "BIG ": the tag of the big-page tracking table, reserved (A.13.4). */
#define MM_POOL_TAG_BIG 0x20474942u

/*
** Pool configuration. Sizes are bytes; the maxima are rounded down and
** the initial sizes up to whole pages. Zero means the default:
**   paged_pools       4
**   nonpaged_max      x86, x86-pae: min(75% of RAM, 2 GiB);
**                     x64: min(75% of RAM, 128 GiB)          (seed table)
**   paged_max         x86, x86-pae: 2 GiB; x64: 128 GiB       (seed table)
**                     shared by all paged pools
**   *_initial         0: the pools start empty
** The initial pages are taken when the configuration is applied: committed
** (and, for non-paged pool, resident), kept by the pool even when free.
*/
typedef struct mm_pool_config {
  uint32_t paged_pools;
  uint64_t nonpaged_max, paged_max;
  uint64_t nonpaged_initial, paged_initial;
} mm_pool_config;

/* The seed table's maxima, in bytes, for an architecture (an mm_arch
** value) and RAM size. Pure; never fails (an unknown architecture gets
** the 64-bit limits). */
void mm_pool_default_limits(int arch, uint64_t ram, uint64_t *nonpaged_max,
                            uint64_t *paged_max);

/* The configuration in effect, defaults filled in and sizes in whole
** pages (as bytes). Never fails. */
void mm_pool_get_config(const mm_system *sys, mm_pool_config *out);

/* Replaces the pool configuration. Only before the first allocation
** (STATUS_NOT_SUPPORTED afterwards, even when everything was freed): call
** it right after mm_system_create. STATUS_INVALID_PARAMETER for more than
** 64 paged pools or an initial size above its maximum or beyond the kernel
** address space; STATUS_COMMITMENT_LIMIT or STATUS_INSUFFICIENT_RESOURCES
** when the initial pages cannot be had. On failure the old configuration
** stays, with its initial pages. */
mm_status mm_pool_configure(mm_system *sys, const mm_pool_config *cfg);

/* A tag from 1-4 characters, each 0x20-0x7E ("Tag1"; shorter tags are
** padded with zero bytes, the first character in the low byte as a C
** multi-character constant written reversed gives). "BIG " is refused.
** STATUS_INVALID_PARAMETER (with the reason) otherwise; *tag untouched. */
mm_status mm_pool_tag_parse(mm_system *sys, const char *s, size_t len,
                            uint32_t *tag);
/* The characters of a tag, NUL-terminated, into out[5]. Never fails. */
void mm_pool_tag_string(uint32_t tag, char out[5]);

/* ExAllocatePoolWithTag. bytes 0 counts as 1. *addr receives the handle.
** STATUS_INVALID_PARAMETER for an unknown kind or a bad tag;
** STATUS_INSUFFICIENT_RESOURCES when the pool is exhausted — its maximum,
** the commit limit, the kernel address space or (non-paged) physical
** memory: the sentence says which; STATUS_NO_MEMORY on host memory
** exhaustion. Writing a small block's header references its page (paged
** pool: it may fault); a failing reference (MM_ERROR, e.g. a Lua policy
** raised) fails the call with that status and nothing allocated. */
mm_status mm_pool_alloc(mm_system *sys, mm_pool_kind kind, uint64_t bytes,
                        uint32_t tag, uint64_t *addr);

/* ExFreePoolWithTag (any tag). A handle already freed gives
** STATUS_MEMORY_NOT_ALLOCATED ("double free"); an address that is no
** allocation's handle gives STATUS_INVALID_ADDRESS (Windows would
** bug-check BAD_POOL_CALLER in both cases). Freeing a small block rewrites
** headers, so it references the page like mm_pool_alloc. */
mm_status mm_pool_free(mm_system *sys, uint64_t addr);

/* The caller uses the block: one reference (kind MM_READ or MM_WRITE) to
** each of its pages. Paged pool pages fault in as any page does (counted
** in the System process: mm_sstats.system_faults); non-paged pages are
** resident by construction, so their references are reported as hits
** without being simulated (no time passes). res (may be NULL) receives
** the references and their outcomes. STATUS_INVALID_ADDRESS for an
** address that is no live allocation's handle, STATUS_INVALID_PARAMETER
** for another kind; a failing reference returns its status. */
mm_status mm_pool_touch(mm_system *sys, uint64_t addr, unsigned kind,
                        struct mm_run_result *res);

/* One live allocation, as mm_pool_query reports it. */
typedef struct mm_pool_block {
  uint64_t addr;          /* the handle */
  uint64_t requested;     /* bytes asked for (0 became 1) */
  uint64_t size;          /* bytes taken: header and rounding included
                             (small), whole pages (big) */
  uint32_t tag;
  uint32_t kind;          /* mm_pool_kind */
  uint32_t pool;          /* 0 non-paged, 1.. paged pool index */
  uint32_t big;           /* 1 for a big (whole-page) allocation */
} mm_pool_block;

/* The live allocation whose handle is addr: STATUS_INVALID_ADDRESS if none
** (STATUS_MEMORY_NOT_ALLOCATED if it was freed). Never changes anything. */
mm_status mm_pool_query(mm_system *sys, uint64_t addr, mm_pool_block *out);

/* Usage of one pool (index 0 non-paged, 1..paged_pools) or of a kind. */
typedef struct mm_pool_stats {
  uint64_t pages;         /* pages held: small-block + big (+ idle) */
  uint64_t small_pages;   /* pages carved into small blocks */
  uint64_t big_pages;     /* pages of big allocations */
  uint64_t idle_pages;    /* kind only: committed pages in no pool (the
                             initial size kept while free) */
  uint64_t peak_pages;    /* highest `pages` so far */
  uint64_t max_pages;     /* kind only: the configured maximum */
  uint64_t resident_pages;/* pages resident now (all, for non-paged) */
  uint64_t allocs, frees; /* successful calls */
  uint64_t failures;      /* allocations refused for lack of resources */
  uint64_t in_use;        /* live allocations: allocs - frees */
  uint64_t bytes;         /* bytes taken by live allocations (size) */
  uint64_t requested;     /* bytes asked for by live allocations */
  uint64_t free_bytes;    /* free blocks in small-block pages, headers
                             included */
  uint64_t largest_free;  /* the largest of those blocks, in bytes */
  double fragmentation;   /* 1 - largest_free / free_bytes (0 when no
                             free bytes): how scattered the free space is */
} mm_pool_stats;

/* 1 + the number of paged pools. Never fails. */
uint32_t mm_pool_count(const mm_system *sys);
/* Usage of pool index (0 non-paged, 1..): STATUS_INVALID_PARAMETER for an
** index out of range (out zeroed). Never changes anything. */
mm_status mm_pool_stats_get(const mm_system *sys, uint32_t index,
                            mm_pool_stats *out);
/* Usage of a whole kind (every paged pool together, plus idle pages).
** Never fails; an unknown kind gives zeros. */
void mm_pool_kind_stats(const mm_system *sys, mm_pool_kind kind,
                        mm_pool_stats *out);
/* Name and offset of each uint64_t field of mm_pool_stats, ending with
** {NULL, 0} (fragmentation, a double, is not listed). Never fails. */
const struct mm_stat_field *mm_pool_stats_fields(void);

/* One row of !poolused: a tag in one kind of pool. */
typedef struct mm_pool_tag_usage {
  uint32_t tag;
  uint32_t kind;          /* mm_pool_kind */
  uint64_t allocs, frees; /* running counts */
  uint64_t bytes;         /* live bytes, as mm_pool_block.size */
  uint64_t requested;     /* live bytes asked for */
  uint64_t pages;         /* live pages of big allocations */
} mm_pool_tag_usage;

/* Copies up to max rows (sorted by tag characters, non-paged first) into
** rows (may be NULL when max is 0); returns how many rows exist. A tag
** stays listed once used, like the pool tracker table. Never fails. */
size_t mm_pool_used(const mm_system *sys, mm_pool_tag_usage *rows, size_t max);

#endif
