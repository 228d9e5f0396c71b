/*
 * scan.c — whole-source passes: summary counts (mm_source_info) and the
 * next-use array behind Belady's OPT (mm_source_next_use).
 *
 * Both read the source from where it stands, in batches, then put it back
 * where it stood (a rewind, then the same number of references skipped
 * again), so that the caller replays exactly the references that were
 * indexed and indexes count from the caller's position.
 */
#include <stdlib.h>
#include <string.h>

#include "source_impl.h"
#include "u64map.h"

#define SCAN_BATCH 4096
/* First next-use allocation; doubles as the trace turns out longer. */
#define SCAN_NEXT_INITIAL (1u << 16)

/* The last use of each page so far, for the next-use pass: leaves of
 * LAST_LEAF indexes (UINT32_MAX: not used yet) by page, found through a
 * map from leaf number to leaf behind a memo of LAST_MEMO leaves. A page
 * table in small: 4 bytes per page in the leaves a trace touches, and a
 * map of leaves small enough to stay in the cache, where a map keyed by
 * page (12 bytes a slot at 70% load, probed at random) would miss on
 * nearly every reference of a trace over many pages. */
#define LAST_BITS 9
#define LAST_LEAF (1u << LAST_BITS)
#define LAST_MEMO 4096u

typedef struct lastuse {
    u64map dir;            /* leaf number -> index in leaf[] */
    uint32_t **leaf;
    size_t n, cap;
    uint32_t *spare;       /* a fresh leaf, allocated before it is needed */
    /* leaves found lately, direct-mapped by leaf number: most lookups
     * of a trace over many leaves end here, without hashing */
    struct { uint64_t num; uint32_t *leaf; } memo[LAST_MEMO];
} lastuse;

static void lastuse_free(lastuse *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->leaf[i]);
    free(t->leaf);
    free(t->spare);
    u64map_free(&t->dir);
}

/* The last-use entry of page, its leaf made if need be; NULL when out of
 * memory (nothing is changed then). */
static uint32_t *lastuse_at(lastuse *t, uint64_t page)
{
    uint64_t num = page >> LAST_BITS;
    uint32_t *v;
    int found;
    size_t m = num & (LAST_MEMO - 1);
    if (t->memo[m].leaf != NULL && t->memo[m].num == num)
        return &t->memo[m].leaf[page & (LAST_LEAF - 1)];
    if (t->spare == NULL) {
        t->spare = malloc(LAST_LEAF * sizeof *t->spare);
        if (t->spare == NULL)
            return NULL;
        memset(t->spare, 0xff, LAST_LEAF * sizeof *t->spare);
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 64;
        uint32_t **a = realloc(t->leaf, ncap * sizeof *a);
        if (a == NULL)
            return NULL;
        t->leaf = a;
        t->cap = ncap;
    }
    v = u64map_upsert(&t->dir, num, (uint32_t)t->n, &found);
    if (v == NULL)
        return NULL;
    if (!found) {
        t->leaf[t->n++] = t->spare;
        t->spare = NULL;
    }
    t->memo[m].leaf = t->leaf[*v];
    t->memo[m].num = num;
    return &t->memo[m].leaf[page & (LAST_LEAF - 1)];
}

/* Puts s back at position pos after a pass: rewinds, then re-reads pos
 * references (generators regenerate them, traces parse them again).
 * Returns 0, or -1 with the source's error copied to err (may be NULL). */
static int scan_restore(mm_source *s, uint64_t pos, char *err, size_t errlen)
{
    mm_ref batch[SCAN_BATCH];
    if (mm_source_rewind(s) != 0) {
        source_errf(err, errlen, "%s", mm_source_error(s));
        return -1;
    }
    while (mm_source_position(s) < pos) {
        uint64_t left = pos - mm_source_position(s);
        size_t want = left < SCAN_BATCH ? (size_t)left : SCAN_BATCH;
        if (mm_source_next(s, batch, want) == 0) {
            source_errf(err, errlen, "%s", mm_source_error(s)
                                               ? mm_source_error(s)
                                               : "the source changed while "
                                                 "it was being read");
            return -1;
        }
    }
    return 0;
}

/* An access over more than SPAN_LINES 64-byte lines is kept as a range of
 * lines, not line by line: one 4 GiB access in a bad trace would otherwise
 * put 67 million lines in the set. Ranges are kept sorted and merged
 * whenever their array fills, so their memory follows the number of
 * disjoint ranges, not of accesses. */
#define SPAN_LINES 64

typedef struct span {
    uint64_t lo, hi;       /* inclusive */
} span;

typedef struct spans {
    span *a;
    size_t n, cap;
} spans;

static int span_cmp(const void *x, const void *y)
{
    const span *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Sorts the ranges and joins those that overlap or touch (hi + 1 cannot
 * wrap: line numbers are below 2^58). Never fails. */
static void spans_merge(spans *s)
{
    size_t k = 0;
    if (s->n == 0)
        return;
    qsort(s->a, s->n, sizeof *s->a, span_cmp);
    for (size_t i = 1; i < s->n; i++) {
        if (s->a[i].lo <= s->a[k].hi + 1) {
            if (s->a[i].hi > s->a[k].hi)
                s->a[k].hi = s->a[i].hi;
        } else {
            s->a[++k] = s->a[i];
        }
    }
    s->n = k + 1;
}

/* Adds [lo, hi]. 0, or -1 when out of memory (nothing is changed). */
static int spans_add(spans *s, uint64_t lo, uint64_t hi)
{
    if (s->n == s->cap) {
        spans_merge(s);
        if (2 * s->n >= s->cap) {       /* still half full or more */
            size_t ncap = s->cap ? 2 * s->cap : 64;
            span *a = realloc(s->a, ncap * sizeof *a);
            if (a == NULL)
                return -1;
            s->a = a;
            s->cap = ncap;
        }
    }
    s->a[s->n].lo = lo;
    s->a[s->n].hi = hi;
    s->n++;
    return 0;
}

/* Whether x lies in a range of s (merged). Never fails. */
static int spans_has(const spans *s, uint64_t x)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->a[mid].hi < x)
            lo = mid + 1;
        else if (s->a[mid].lo > x)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

/* The size of the union of keys of m and ranges of s (merged), both
 * already at one granularity: what the ranges cover, plus the keys they
 * do not. Never fails. */
static uint64_t union_count(const u64map *m, const spans *s)
{
    uint64_t n = 0, key;
    size_t it = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->a[i].hi - s->a[i].lo + 1;
    while (u64map_next(m, &it, &key, NULL))
        n += !spans_has(s, key);
    return n;
}

/* The ranges of s (merged) coarsened by shift in place, and merged again
 * (ranges apart at one granularity may touch at the next). Never fails. */
static void spans_coarsen(spans *s, unsigned shift)
{
    for (size_t i = 0; i < s->n; i++) {
        s->a[i].lo >>= shift;
        s->a[i].hi >>= shift;
    }
    spans_merge(s);
}

/* Builds the set of keys >> shift from src into dst (empty). 0, or -1 when
 * out of memory. */
static int scan_coarsen(const u64map *src, unsigned shift, u64map *dst)
{
    size_t it = 0;
    uint64_t key;
    if (u64map_reserve(dst, u64map_count(src)) != 0)
        return -1;
    while (u64map_next(src, &it, &key, NULL))
        if (u64map_upsert(dst, key >> shift, 0, NULL) == NULL)
            return -1;
    return 0;
}

/* Counts; distinct pages are derived from the distinct 64-byte lines, one
 * page size from the next smaller, so only two sets live at a time.
 * On error returns -1 with a message (info unspecified). */
int mm_source_info(mm_source *s, uint64_t limit, mm_trace_info *info,
                   char *err, size_t errlen)
{
    mm_ref batch[SCAN_BATCH];
    u64map lines, cur, next;
    spans wide = { NULL, 0, 0 };
    uint64_t total = 0, last_line = UINT64_MAX, start;
    unsigned shift = 6, i;
    int have_last = 0;
    memset(info, 0, sizeof *info);
    if (mm_source_endless(s) && limit == 0) {
        source_errf(err, errlen, "info: a workload never ends; give a limit");
        return -1;
    }
    start = mm_source_position(s);
    u64map_init(&lines);
    for (;;) {
        size_t want = SCAN_BATCH, got, k;
        if (limit && limit - total < want)
            want = (size_t)(limit - total);
        if (want == 0)
            break;
        got = mm_source_next(s, batch, want);
        if (got == 0)
            break;
        for (k = 0; k < got; k++) {
            const mm_ref *r = &batch[k];
            uint64_t last = r->addr + (r->size ? r->size - 1 : 0), l;
            if (last < r->addr)
                last = UINT64_MAX;   /* an access that wraps stops at the top */
            if (r->kind == MM_REF_WRITE)
                info->writes++;
            else if (r->kind == MM_REF_EXEC)
                info->execs++;
            else
                info->reads++;
            if (info->refs + k == 0 || r->addr < info->min_addr)
                info->min_addr = r->addr;
            if (last > info->max_addr)
                info->max_addr = last;
            if ((last >> 6) - (r->addr >> 6) >= SPAN_LINES) {
                if (spans_add(&wide, r->addr >> 6, last >> 6) != 0)
                    goto oom;
                continue;
            }
            for (l = r->addr >> 6; ; l++) {
                /* consecutive references mostly repeat the last line */
                if (!have_last || l != last_line) {
                    if (u64map_upsert(&lines, l, 0, NULL) == NULL)
                        goto oom;
                    last_line = l;
                    have_last = 1;
                }
                if (l == last >> 6)
                    break;
            }
        }
        info->refs += got;
        total += got;
    }
    if (mm_source_error(s) != NULL) {
        source_errf(err, errlen, "%s", mm_source_error(s));
        u64map_free(&lines);
        free(wide.a);
        scan_restore(s, start, NULL, 0);
        return -1;
    }
    spans_merge(&wide);
    info->lines_64 = union_count(&lines, &wide);
    cur = lines;
    for (i = 0; i < MM_INFO_PAGE_SIZES; i++) {
        unsigned want = MM_INFO_MIN_PAGE_SHIFT + i;
        u64map_init(&next);
        if (scan_coarsen(&cur, want - shift, &next) != 0) {
            u64map_free(&cur);
            u64map_free(&next);
            free(wide.a);
            source_errf(err, errlen, "info: out of memory counting pages");
            scan_restore(s, start, NULL, 0);
            return -1;
        }
        u64map_free(&cur);
        cur = next;
        spans_coarsen(&wide, want - shift);
        shift = want;
        info->distinct_pages[i] = union_count(&cur, &wide);
    }
    u64map_free(&cur);
    free(wide.a);
    return scan_restore(s, start, err, errlen);

oom:
    u64map_free(&lines);
    free(wide.a);
    source_errf(err, errlen, "info: out of memory after %llu references",
                (unsigned long long)total);
    scan_restore(s, start, NULL, 0);
    return -1;
}

/* Belady pre-pass. On error *next = NULL, *n = 0, -1 + message. */
int mm_source_next_use(mm_source *s, unsigned page_shift, uint64_t limit,
                       uint32_t **next, size_t *n, char *err, size_t errlen)
{
    mm_ref batch[SCAN_BATCH];
    uint32_t *at[SCAN_BATCH];
    lastuse *last;
    uint32_t *nx = NULL;
    size_t cap = 0, count = 0;
    uint64_t start;
    enum { SCAN_OK, SCAN_TOO_MANY, SCAN_OOM, SCAN_SOURCE } why = SCAN_OK;
    *next = NULL;
    *n = 0;
    if (page_shift > 63) {
        source_errf(err, errlen, "next-use: page_shift %u is not below 64",
                    page_shift);
        return -1;
    }
    if (limit > MM_NEXT_USE_MAX_REFS) {
        source_errf(err, errlen, "next-use: limit %llu is more than the "
                    "%llu references a 32-bit next-use array can index",
                    (unsigned long long)limit,
                    (unsigned long long)MM_NEXT_USE_MAX_REFS);
        return -1;
    }
    if (mm_source_endless(s) && limit == 0) {
        source_errf(err, errlen, "next-use: a workload never ends; give a "
                    "limit");
        return -1;
    }
    last = calloc(1, sizeof *last);
    if (last == NULL) {
        source_errf(err, errlen, "next-use: out of memory");
        return -1;
    }
    start = mm_source_position(s);
    u64map_init(&last->dir);
    for (;;) {
        size_t want = SCAN_BATCH, got, k;
        uint64_t room = (limit ? limit : MM_NEXT_USE_MAX_REFS + 1) - count;
        if (room < want)
            want = (size_t)room;
        if (want == 0)
            break;
        got = mm_source_next(s, batch, want);
        if (got == 0)
            break;
        if (count + got > MM_NEXT_USE_MAX_REFS) {
            why = SCAN_TOO_MANY;
            break;
        }
        if (count + got > cap) {
            size_t ncap = cap ? cap : SCAN_NEXT_INITIAL;
            uint32_t *p;
            while (ncap < count + got)
                ncap *= 2;
            if (ncap > MM_NEXT_USE_MAX_REFS)
                ncap = (size_t)MM_NEXT_USE_MAX_REFS;
            p = realloc(nx, ncap * sizeof *nx);
            if (p == NULL) {
                why = SCAN_OOM;
                break;
            }
            nx = p;
            cap = ncap;
        }
        /* Two sweeps over the batch, so that its cache misses overlap
         * (10% faster than one on a zipf trace): find (and fetch) each
         * page's last-use entry, then link. A page met twice in the batch
         * has one entry, read after its earlier use wrote it. */
        for (k = 0; k < got; k++) {
            at[k] = lastuse_at(last, batch[k].addr >> page_shift);
            if (at[k] == NULL) {
                why = SCAN_OOM;
                break;
            }
            __builtin_prefetch(at[k], 1);
        }
        if (why != SCAN_OK)
            break;
        for (k = 0; k < got; k++) {
            uint32_t idx = (uint32_t)(count + k);
            if (*at[k] != UINT32_MAX)
                nx[*at[k]] = idx;  /* the previous use now knows its next */
            *at[k] = idx;
            nx[idx] = UINT32_MAX;
        }
        if (why != SCAN_OK)
            break;
        count += got;
    }
    lastuse_free(last);
    free(last);
    if (why == SCAN_OK && mm_source_error(s) != NULL) {
        source_errf(err, errlen, "%s", mm_source_error(s));
        why = SCAN_SOURCE;
    } else if (why == SCAN_TOO_MANY) {
        source_errf(err, errlen, "next-use: the source has more than %llu "
                    "references, too many for a 32-bit next-use array; give "
                    "a limit", (unsigned long long)MM_NEXT_USE_MAX_REFS);
    } else if (why == SCAN_OOM) {
        source_errf(err, errlen, "next-use: out of memory after %llu "
                    "references", (unsigned long long)count);
    }
    if (why != SCAN_OK) {
        free(nx);
        scan_restore(s, start, NULL, 0);
        return -1;
    }
    if (scan_restore(s, start, err, errlen) != 0) {
        free(nx);
        return -1;
    }
    if (nx == NULL && count == 0) {
        nx = malloc(sizeof *nx);   /* a valid pointer even for no refs */
        if (nx == NULL) {
            source_errf(err, errlen, "next-use: out of memory");
            return -1;
        }
    }
    *next = nx;
    *n = count;
    return 0;
}
