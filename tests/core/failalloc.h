/*
** failalloc.h — host-allocation failure injection for the core.
**
** mk/reliability.mk compiles every core source a second time with
**   -include tests/core/failalloc.h
** so that malloc, calloc, realloc, strdup and free in the core go through
** the counting wrappers of tests/core/failalloc.c. The core's sources are
** not touched. The test harness (tests/core/test_failalloc.c) sets
** fa_fail_at = N: the Nth allocation the core asks for returns NULL, every
** other one succeeds. The wrappers also keep the set of live blocks, so a
** test can check that destroying a system frees everything it allocated.
**
** The harness globals below are test machinery, not core state.
*/
#ifndef PAGELAB_FAILALLOC_H
#define PAGELAB_FAILALLOC_H

/* The real declarations first: their later inclusion by a core file is
** then a no-op, and the macros below never rewrite a declaration. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *fa_malloc(size_t n);
void *fa_calloc(size_t n, size_t size);
void *fa_realloc(void *p, size_t n);
char *fa_strdup(const char *s);
void fa_free(void *p);

/* Starts counting again: the fail_at-th allocation from now fails (0: none);
** with fa_sticky set, every one from the fail_at-th on. */
void fa_reset(uint64_t fail_at);

extern uint64_t fa_fail_at;     /* 1-based index of the allocation to refuse */
extern uint64_t fa_count;       /* allocations asked for since fa_reset */
extern uint64_t fa_failed;      /* allocations refused since fa_reset */
extern uint64_t fa_live;        /* blocks allocated by the core, not yet freed */
extern int fa_sticky;           /* refuse every allocation from fa_fail_at on */

/* The wrappers' own file and the test harness define FAILALLOC_NO_MACROS:
** they see the declarations and keep the real allocator. */
#ifndef FAILALLOC_NO_MACROS
#define malloc(n) fa_malloc(n)
#define calloc(n, size) fa_calloc(n, size)
#define realloc(p, n) fa_realloc(p, n)
#define strdup(s) fa_strdup(s)
#define free(p) fa_free(p)
#endif

#endif
