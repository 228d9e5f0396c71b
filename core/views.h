/*
** views.h — what users of Sysinternals know: VMMap and RAMMap (public part,
** included by mm.h).
**
** Both are read-only summaries computed on demand by walking the core's
** structures (views.c); neither changes anything, and both may be called
** from inside a policy or sampler callback.
**
** VMMap (mm_vmmap): one process's address space by region type, as the
** top pane of Sysinternals VMMap shows it. Sizes are bytes.
**   image        views of image sections (MEM_IMAGE)
**   mapped_file  views of file-backed data sections
**   shareable    views of page-file-backed sections, and the region every
**                process has at 0x10000 (A.1.2)
**   private      private allocations (VirtualAlloc), large pages included
**   page_table   the process's page-table pages (pagelab counts them; they
**                are not frames, so they are in no working set)
**   unusable     the dead tail of a 64 KiB granule after an allocation
**                that does not fill it (A.1.6; VirtualQuery says "free")
**   free         the rest of the user address range
** A copy-on-write copy stays in its view's type (VMMap does the same) but
** counts as private working set there: ws_private of a mapped_file or
** shareable row is its copied pages.
**
** RAMMap (mm_rammap): every physical frame, by list and by use, as the
** "Use Counts" tab of Sysinternals RAMMap shows it. Counts are frames.
** The rows of MM_RAMMAP_PAGE_TABLE are the exception: pagelab counts page
** tables as pages without giving them frames, so that row holds counted
** pages (all processes, the System process included, as active) and is
** not part of any total: the frame rows add up to the frame count, and
** each list column to the mm_sstats list of the same name.
*/
#ifndef PAGELAB_VIEWS_H
#define PAGELAB_VIEWS_H

#include <stddef.h>
#include <stdint.h>

/* mm.h includes this header before it defines these; repeating a typedef
** of the same type is allowed in C11. */
typedef struct mm_system mm_system;
typedef uint32_t mm_status;
typedef uint32_t mm_pid;

/* ------------------------------------------------------------------ VMMap */

typedef enum mm_vmmap_type {
  MM_VMMAP_IMAGE, MM_VMMAP_MAPPED_FILE, MM_VMMAP_SHAREABLE, MM_VMMAP_PRIVATE,
  MM_VMMAP_PAGE_TABLE, MM_VMMAP_UNUSABLE, MM_VMMAP_FREE, MM_VMMAP_TYPES
} mm_vmmap_type;

typedef struct mm_vmmap_row {
  uint64_t size;         /* bytes of address space of this type */
  uint64_t committed;    /* bytes committed (what VirtualQuery calls
                            MEM_COMMIT: view pages whose section page is
                            committed, COW copies, committed private pages) */
  uint64_t ws;           /* bytes resident in the working set */
  uint64_t ws_private;   /* ... in frames only this process maps (private
                            pages, copy-on-write copies) */
  uint64_t ws_shareable; /* ... in section frames (prototype PTEs) */
  uint64_t ws_shared;    /* ... in section frames that another working set
                            maps too (share count > 1) */
  uint64_t blocks;       /* regions VirtualQuery would return (runs of one
                            state and protection inside an allocation);
                            free: free ranges; unusable: granule tails */
} mm_vmmap_row;

/* "image", "mapped_file", "shareable", "private", "page_table",
** "unusable", "free"; NULL for anything else. */
const char *mm_vmmap_type_name(int type);

/* Fills rows[type] for every type of pid's address space. *n: in, the room
** in rows; out, MM_VMMAP_TYPES. Fails with INVALID_PARAMETER (nothing
** written, *n = MM_VMMAP_TYPES) when the room is too small, and with the
** statuses of a bad pid (INVALID_HANDLE, PROCESS_IS_TERMINATING). */
mm_status mm_vmmap(mm_system *sys, mm_pid pid, mm_vmmap_row *rows, size_t *n);

/* ----------------------------------------------------------------- RAMMap */

/* Columns: the lists of RAMMap, in its order. Transition (frames locked
** for I/O) is always 0: pagelab's I/O completes at once. */
typedef enum mm_rammap_list {
  MM_RAMMAP_ACTIVE, MM_RAMMAP_STANDBY, MM_RAMMAP_MODIFIED,
  MM_RAMMAP_MODIFIED_NOWRITE, MM_RAMMAP_TRANSITION, MM_RAMMAP_ZEROED,
  MM_RAMMAP_FREE, MM_RAMMAP_BAD, MM_RAMMAP_LISTS
} mm_rammap_list;

/* Rows: what a frame is used for. */
typedef enum mm_rammap_use {
  MM_RAMMAP_PROCESS_PRIVATE,  /* private pages, copy-on-write copies */
  MM_RAMMAP_MAPPED_FILE,      /* pages of files: data and image sections */
  MM_RAMMAP_SHAREABLE,        /* pages of page-file-backed sections */
  MM_RAMMAP_PAGE_TABLE,       /* counted pages, not frames (see above) */
  MM_RAMMAP_PAGED_POOL,       /* frames of the System process's working set */
  MM_RAMMAP_NONPAGED_POOL,    /* non-paged pool: always resident */
  MM_RAMMAP_LARGE_PAGE,       /* frames of large pages */
  MM_RAMMAP_UNUSED,           /* free, zeroed and bad frames */
  MM_RAMMAP_USES
} mm_rammap_use;

typedef struct mm_rammap_row {
  uint64_t total;                   /* the sum of list[] */
  uint64_t list[MM_RAMMAP_LISTS];   /* frames (pages for page_table) */
} mm_rammap_row;

/* "active", "standby", "modified", "modified_nowrite", "transition",
** "zeroed", "free", "bad"; NULL for anything else. */
const char *mm_rammap_list_name(int list);
/* "process_private", "mapped_file", "shareable", "page_table",
** "paged_pool", "nonpaged_pool", "large_page", "unused"; or NULL. */
const char *mm_rammap_use_name(int use);

/* Fills rows[use] for every use. *n: in, the room in rows; out,
** MM_RAMMAP_USES, or 0 when the room is too small (nothing written).
** Never fails otherwise. */
void mm_rammap(mm_system *sys, mm_rammap_row *rows, size_t *n);

#endif
