/*
 * source.h — reference sources: workload generators and trace files.
 *
 * A source is a stream of memory references (mm_ref). The simulator pulls
 * references in batches with mm_source_next() and never cares whether they
 * come from a seeded generator (endless, reproducible) or from a trace file
 * (finite, streamed with constant memory, gzip read transparently).
 *
 * Contract shared by every source:
 *   - mm_source_next() fills up to max references and returns how many; 0
 *     means the end of a trace or an error, told apart by mm_source_error().
 *     A batch cut short by an error returns the references read before it;
 *     the next call returns 0 and the error stays set.
 *   - mm_source_rewind() restarts the same sequence: generators reseed,
 *     traces seek back to the start and parse again.
 *   - Nothing here prints, exits or keeps global state: two sources never
 *     share anything, and any number can be open at once.
 *
 * This header is self-contained and is included by core/mm.h.
 */
#ifndef MM_SOURCE_H
#define MM_SOURCE_H

#include <stddef.h>
#include <stdint.h>

/* ---- references ------------------------------------------------------- */

enum {
    MM_REF_READ = 0,   /* data load */
    MM_REF_WRITE = 1,  /* data store */
    MM_REF_EXEC = 2    /* instruction fetch */
};

/* One memory reference: a byte address, the access size in bytes (1 when
 * the source does not know it) and an MM_REF_* kind. */
typedef struct mm_ref {
    uint64_t addr;
    uint32_t size;
    uint8_t kind;
} mm_ref;

typedef struct mm_source mm_source;   /* one generator or one open trace */

/* ---- every source ----------------------------------------------------- */

/* Fills buf with up to max references and returns how many. 0 = end of the
 * trace or an error (see mm_source_error); generators never end.
 * On error returns the references delivered before it, then 0. */
size_t mm_source_next(mm_source *s, mm_ref *buf, size_t max);

/* NULL while the source is healthy, else a sentence naming the problem (the
 * file, the line or byte offset and what was wrong). Never fails. */
const char *mm_source_error(const mm_source *s);

/* Restarts from the first reference; the sequence that follows is identical
 * to the first one. Clears a previous error if the restart succeeds.
 * Returns 0, or -1 with mm_source_error set (e.g. the file went away). */
int mm_source_rewind(mm_source *s);

/* Frees the source and closes its file. NULL is ignored. Never fails. */
void mm_source_close(mm_source *s);

/* Number of references delivered since the start or the last rewind.
 * Never fails. */
uint64_t mm_source_position(const mm_source *s);

/* 1 for generators (they never end), 0 for traces. Never fails. */
int mm_source_endless(const mm_source *s);

/* Writes a one-line description ("zipf base=0x10000000 size=67108864 ...",
 * "trace blocks 'cpp.trace.gz'") into buf, truncated to len. Returns buf.
 * Never fails. */
const char *mm_source_describe(const mm_source *s, char *buf, size_t len);

/* ---- workload generators (workload.c, docs/workloads.md) ---------------- */

typedef enum mm_workload_kind {
    MM_WORKLOAD_UNIFORM,     /* uniform random page, random aligned offset */
    MM_WORKLOAD_ZIPF,        /* page rank ~ Zipf(alpha), ranks scattered */
    MM_WORKLOAD_SEQUENTIAL,  /* stride bytes at a time, wrapping */
    MM_WORKLOAD_LOOP,        /* one reference per page, cyclically */
    MM_WORKLOAD_STRIDED,     /* sequential with a required stride */
    MM_WORKLOAD_HOTCOLD,     /* hot_fraction of pages get hot_prob of refs */
    MM_WORKLOAD_PHASES,      /* Denning phases: moving locality sets */
    MM_WORKLOAD_KIND_COUNT
} mm_workload_kind;

/* Default base: inside the user half of every architecture's address space
 * (x86 included) and far from the never-allocatable first 64 KiB. */
#define MM_WORKLOAD_DEFAULT_BASE UINT64_C(0x10000000)

typedef struct mm_workload_cfg {
    mm_workload_kind kind;
    uint64_t base;          /* first byte of the region */
    uint64_t size;          /* region size in bytes, > 0 */
    uint64_t page_size;     /* item granularity, a power of two (4096) */
    double writes;          /* fraction of writes in [0, 1] (0) */
    double alpha;           /* zipf exponent, >= 0 (1.0) */
    uint64_t stride;        /* sequential/strided step in bytes; sequential:
                               0 means access_size */
    double hot_fraction;    /* hotcold: fraction of pages that are hot (0.2) */
    double hot_prob;        /* hotcold: probability a ref is hot (0.8) */
    uint64_t phase_len;     /* phases: references per phase (10000) */
    uint64_t phase_pages;   /* phases: locality-set size in pages (64) */
    uint32_t access_size;   /* bytes per access, 1..page_size (8) */
    uint64_t seed;          /* any value; same seed, same sequence (1) */
} mm_workload_cfg;

/* Fills cfg with the documented defaults for kind (values in parentheses
 * above; base = MM_WORKLOAD_DEFAULT_BASE, size = 0 which the caller must
 * set). Never fails. */
void mm_workload_cfg_init(mm_workload_cfg *cfg, mm_workload_kind kind);

/* Creates an endless, seeded generator from cfg (copied).
 * On bad parameters or out of memory returns NULL and writes a sentence
 * naming the parameter to err (errlen bytes, may be 0). */
mm_source *mm_workload_new(const mm_workload_cfg *cfg, char *err,
                           size_t errlen);

/* "uniform", "zipf", ... for a kind; NULL for an unknown kind. */
const char *mm_workload_kind_name(mm_workload_kind kind);

/* The kind named name, or -1 when no kind has that name. */
int mm_workload_kind_parse(const char *name);

/* ---- trace files (trace.c, docs/trace-format.md) ------------------------ */

typedef enum mm_trace_format {
    MM_TRACE_DETECT = 0,   /* look at the content */
    MM_TRACE_TEXT,         /* R|W|X hexaddr [size] */
    MM_TRACE_LACKEY,       /* valgrind --tool=lackey --trace-mem=yes */
    MM_TRACE_BLOCKS,       /* one decimal block number per line */
    MM_TRACE_BLOCKS32BE,   /* big-endian signed int32 block numbers */
    MM_TRACE_SPEC,         /* l|s 0xaddr size */
    MM_TRACE_BINARY,       /* pagelab's own compact format */
    MM_TRACE_FORMAT_COUNT
} mm_trace_format;

#define MM_TRACE_DEFAULT_BLOCK_SIZE 4096u

/* Where block number 0 lands. Block traces number their blocks from 0, and
 * the first 64 KiB of a Windows address space are never usable (WINDOWS.md
 * A.1.2): block b is replayed at base + b * block_size, base defaulting to
 * the workloads' default base, so that low blocks are ordinary pages. */
#define MM_TRACE_DEFAULT_BLOCK_BASE UINT64_C(0x10000000)

typedef struct mm_trace_opts {
    mm_trace_format format;  /* MM_TRACE_DETECT to detect */
    uint64_t block_size;     /* blocks formats: address = base + block *
                                block_size; 0: MM_TRACE_DEFAULT_BLOCK_SIZE */
    uint64_t block_base;     /* that base, when has_block_base */
    int has_block_base;      /* 0: MM_TRACE_DEFAULT_BLOCK_BASE */
} mm_trace_opts;

/* Opens a trace for streaming. format: a name from mm_trace_format_name, or
 * NULL (or "detect") to detect from the content. Plain and gzip files alike.
 * On error returns NULL and writes a sentence naming the file and the
 * problem to err. */
mm_source *mm_trace_open(const char *path, const char *format, char *err,
                         size_t errlen);

/* mm_trace_open with options (opts may be NULL for all defaults).
 * On error returns NULL and writes a message to err. */
mm_source *mm_trace_open_ex(const char *path, const mm_trace_opts *opts,
                            char *err, size_t errlen);

/* "text", "lackey", "blocks", "blocks32be", "spec", "binary" ("detect" for
 * MM_TRACE_DETECT); NULL for an unknown value. */
const char *mm_trace_format_name(mm_trace_format f);

/* The format named name, or -1 when no format has that name. */
int mm_trace_format_parse(const char *name);

/* The format of an open trace source (never MM_TRACE_DETECT), or -1 when s
 * is not a trace. */
int mm_trace_format_of(const mm_source *s);

/* ---- binary trace writer (tracewriter.c) -------------------------------- */

typedef struct mm_trace_writer mm_trace_writer;

/* Creates path (gzip-compressed when it ends in ".gz") and writes the
 * header. On error returns NULL and writes a message to err. */
mm_trace_writer *mm_trace_writer_open(const char *path, char *err,
                                      size_t errlen);

/* Appends n references. Returns 0, or -1 and keeps the first error (see
 * mm_trace_writer_error); once failed, later puts do nothing. */
int mm_trace_writer_put(mm_trace_writer *w, const mm_ref *refs, size_t n);

/* NULL, or the first error the writer met. Never fails. */
const char *mm_trace_writer_error(const mm_trace_writer *w);

/* References written so far. Never fails. */
uint64_t mm_trace_writer_count(const mm_trace_writer *w);

/* Writes the trailer, closes the file and frees w (always, even on error).
 * Returns 0, or -1 with the first error copied to err (a file that failed is
 * left on disk, without its trailer, so that readers reject it). */
int mm_trace_writer_close(mm_trace_writer *w, char *err, size_t errlen);

/* Copies src to the binary file out_path: limit references, or all of a
 * trace when limit is 0 (a generator needs a limit). *written (may be NULL)
 * receives the count. The source is left where the copy stopped.
 * Returns 0, or -1 with a message in err. */
int mm_trace_convert(mm_source *src, const char *out_path, uint64_t limit,
                     uint64_t *written, char *err, size_t errlen);

/* ---- whole-source passes (scan.c) -------------------------------------- */

/* Page sizes reported by mm_source_info: 512 << i bytes, 512 B ... 2 MiB. */
#define MM_INFO_PAGE_SIZES 13
#define MM_INFO_MIN_PAGE_SHIFT 9

typedef struct mm_trace_info {
    uint64_t refs, reads, writes, execs;
    /* distinct pages touched, index i for pages of 512 << i bytes; an access
     * that straddles a page boundary touches both pages */
    uint64_t distinct_pages[MM_INFO_PAGE_SIZES];
    uint64_t lines_64;      /* distinct 64-byte lines touched */
    uint64_t min_addr;      /* lowest byte touched (0 when refs == 0) */
    uint64_t max_addr;      /* highest byte touched (0 when refs == 0) */
} mm_trace_info;

/* Reads limit references from the current position (the rest of a trace
 * when 0; a generator needs a limit), fills *info, then puts the source
 * back at the position where it started (rewind, then skip). Memory grows
 * with the number of distinct 64-byte lines. On error *info is unspecified,
 * the source is put back when possible, and -1 is returned with a message
 * in err. */
int mm_source_info(mm_source *s, uint64_t limit, mm_trace_info *info,
                   char *err, size_t errlen);

/* Largest reference count mm_source_next_use accepts (indexes must stay
 * below UINT32_MAX, which marks "never used again"). */
#define MM_NEXT_USE_MAX_REFS UINT64_C(4000000000)

/* Belady pre-pass: reads up to limit references from the current position
 * (the rest of a trace when 0) and sets (*next)[i] to the index of the next
 * reference to the same page (addr >> page_shift, the page of the first
 * byte) as reference i, or UINT32_MAX if there is none; indexes count from
 * the starting position (0 = the next reference the caller will read);
 * *n receives the count. Then puts the source back at the position where it
 * started (a rewind, then the same references skipped again), so the replay
 * sees exactly the indexed references. *next is malloc'ed (4 bytes per
 * reference); the caller frees it. More than MM_NEXT_USE_MAX_REFS references
 * are refused. On error nothing is allocated; *next = NULL,
 * *n = 0, returns -1 and writes a message to err. */
int mm_source_next_use(mm_source *s, unsigned page_shift, uint64_t limit,
                       uint32_t **next, size_t *n, char *err, size_t errlen);

#endif /* MM_SOURCE_H */
