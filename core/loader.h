/*
** loader.h — the image loader (public part, included by mm.h).
**
** What NtCreateUserProcess and the user-mode loader (Ldr) do to memory,
** without running a thread: a process object is created from an
** executable, the executable and ntdll.dll are mapped, then every DLL the
** program imports, recursively, each once per process; the import address
** tables are bound (each slot written with the address of the export it
** names, so the pages holding them become the process's private copies).
** docs/loader.md has the load order, the search order, API set resolution
** and what is not simulated (threads, TLS callbacks, DllMain, delay loads).
**
** Images are shared: the loader keeps one image section per file for the
** whole system (A.11.11), so the same DLL in N processes is one set of
** prototype PTEs and each unwritten page is one frame system-wide.
**
** Failures leave nothing behind: a failed mm_exec terminates the process it
** created, a failed mm_load_library unmaps what it mapped; only counters
** (faults, copy-on-write copies made on the way) keep the trace.
*/
#ifndef PAGELAB_LOADER_H
#define PAGELAB_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* mm.h includes this header before it defines these; repeating a typedef
** of the same type is allowed in C11. */
typedef struct mm_system mm_system;
typedef uint32_t mm_status;
typedef uint32_t mm_pid;
typedef struct mm_process_config mm_process_config;
typedef struct pe_image pe_image;

/* Modules one process may hold: a bound on the loader's recursion (the
** import graph is walked depth-first) far above real programs (a large
** Windows application loads a few hundred DLLs). */
#define MM_LOADER_MAX_MODULES 1024u
/* Forwarder hops followed for one import ("A.f" -> "B.g" -> ...) before
** the loader gives up: a forwarder loop would otherwise never end. */
#define MM_LOADER_MAX_FORWARDS 32u
/* Longest DLL name the loader accepts (MAX_PATH minus a folder). */
#define MM_LOADER_NAME_MAX 255u
/* The API set schema DLL looked for on the search path (docs/loader.md). */
#define MM_LOADER_APISET_DLL "apisetschema.dll"

/* One loaded module of a process, as mm_modules reports it. */
typedef struct mm_module_info {
  const char *name;          /* file name as found ("mid.dll"); valid until
                                the process's module list changes */
  const char *path;          /* host path it was mapped from (same life) */
  const pe_image *pe;        /* its parsed header (valid as long as the
                                system: the loader keeps the section) */
  uint64_t base, size;       /* the image view */
  uint64_t preferred_base;   /* ImageBase of the file */
  uint32_t order;            /* 0: the program, then in mapping order */
  bool relocated;            /* mapped away from its preferred base
                                (the view said STATUS_IMAGE_NOT_AT_BASE) */
  /* Pages of the view now, by PTE (not counters): */
  uint64_t shared_pages;     /* resident, mapping the image section's frame */
  uint64_t private_pages;    /* resident private copies (relocations, IAT,
                                written data) */
  uint64_t private_copies;   /* private copies, resident or trimmed */
  uint64_t section_frames;   /* pages of the image section resident in any
                                working set, system-wide: the frames every
                                process that maps the file shares */
} mm_module_info;

/* Creates a process from the executable at path (a host file) and loads
** it: the process is named after the file (pc->name overrides; pc may be
** NULL for the defaults) and gets no thread. Each DLL is looked for in the
** executable's folder, then in search_path[0..n) in order; ntdll.dll, when
** one is on the search path, is mapped right after the executable.
** Returns SUCCESS and *out, or:
**   STATUS_DLL_NOT_FOUND            a DLL (or an API set) is nowhere
**   STATUS_ENTRYPOINT_NOT_FOUND     an imported name or ordinal is not
**                                   exported (forwarders followed)
**   STATUS_INVALID_IMAGE_FORMAT     a malformed image or API set schema, a
**                                   DLL given as the program
**   STATUS_INVALID_IMAGE_NOT_MZ     a file that is no image at all
**   STATUS_IMAGE_MACHINE_TYPE_MISMATCH  an image for another machine
**   STATUS_CONFLICTING_ADDRESSES    an image without relocations whose
**                                   base is taken
**   STATUS_INVALID_PARAMETER        no path, or the program cannot be read
** and the failures of the services it calls (commit, memory). The message
** (mm_last_error) names the file and the import. On failure no process is
** left alive (the one created is terminated; its pid stays used). */
mm_status mm_exec(mm_system *sys, const char *path,
                  const char *const *search_path, size_t n, mm_pid *out);
mm_status mm_exec_ex(mm_system *sys, const char *path,
                     const char *const *search_path, size_t n,
                     const mm_process_config *pc, mm_pid *out);

/* LoadLibrary: loads the DLL name into a running process, with what it
** imports, and returns its base. name is a DLL name (searched like an
** import: the program's folder, then the search path given to mm_exec) or,
** when it holds a '/', a host path. A DLL already loaded (names compare
** without regard to case) just returns its base. Failures are those of
** mm_exec, and unmap whatever this call mapped. */
mm_status mm_load_library(mm_system *sys, mm_pid pid, const char *name,
                          uint64_t *base);

/* The modules of pid in load order: fills out[0..min(cap, count)) and sets
** *count to the number of modules (0 for a process no loader touched).
** Reads only: allowed inside callbacks. */
mm_status mm_modules(mm_system *sys, mm_pid pid, mm_module_info *out,
                     uint32_t cap, uint32_t *count);

#endif
