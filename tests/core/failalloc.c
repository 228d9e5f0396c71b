/*
** failalloc.c — the counting allocation wrappers of failalloc.h.
**
** Each allocation call counts one; the fa_fail_at-th returns NULL (a
** realloc that fails leaves its block alone, as realloc does). Blocks the
** wrappers hand out are kept in an open-addressing set, so fa_free can
** tell them from memory some library allocated (realpath, zlib): those go
** straight to the real free and are not counted.
*/
#define FAILALLOC_NO_MACROS
#include "failalloc.h"

uint64_t fa_fail_at, fa_count, fa_failed, fa_live;
int fa_sticky;

static uintptr_t *set;          /* live blocks; 0 empty, 1 deleted */
static size_t cap, used;        /* slots; slots not empty */

static size_t slot_of(uintptr_t p, size_t c) {
  uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 20) & (c - 1);
}

static void set_grow(void) {
  size_t nc = cap ? cap * 2 : 4096;
  uintptr_t *ns = calloc(nc, sizeof *ns);
  if (!ns) abort();             /* the harness itself has no memory: give up */
  for (size_t i = 0; i < cap; i++) {
    if (set[i] <= 1) continue;
    size_t k = slot_of(set[i], nc);
    while (ns[k]) k = (k + 1) & (nc - 1);
    ns[k] = set[i];
  }
  free(set);
  set = ns;
  cap = nc;
  used = (size_t)fa_live;
}

static void set_add(void *p) {
  if (!p) return;
  if ((used + 1) * 2 > cap) set_grow();
  size_t k = slot_of((uintptr_t)p, cap);
  while (set[k] > 1) k = (k + 1) & (cap - 1);
  if (set[k] == 0) used++;
  set[k] = (uintptr_t)p;
  fa_live++;
}

/* Removes p; false when p is not a block of ours. */
static int set_del(void *p) {
  if (!p || !cap) return 0;
  size_t k = slot_of((uintptr_t)p, cap);
  while (set[k]) {
    if (set[k] == (uintptr_t)p) {
      set[k] = 1;
      fa_live--;
      return 1;
    }
    k = (k + 1) & (cap - 1);
  }
  return 0;
}

/* Counts an allocation; true when this one must fail. */
static int refuse(void) {
  fa_count++;
  if (fa_fail_at && (fa_count == fa_fail_at ||
                     (fa_sticky && fa_count > fa_fail_at))) {
    fa_failed++;
    return 1;
  }
  return 0;
}

void fa_reset(uint64_t fail_at) {
  fa_fail_at = fail_at;
  fa_count = 0;
  fa_failed = 0;
}

void *fa_malloc(size_t n) {
  if (refuse()) return NULL;
  void *p = malloc(n);
  set_add(p);
  return p;
}

void *fa_calloc(size_t n, size_t size) {
  if (refuse()) return NULL;
  void *p = calloc(n, size);
  set_add(p);
  return p;
}

void *fa_realloc(void *p, size_t n) {
  if (refuse()) return NULL;
  int ours = set_del(p);
  void *q = realloc(p, n);
  if (q) set_add(q);
  else if (ours && n) set_add(p);    /* realloc failed: p is still live */
  return q;
}

char *fa_strdup(const char *s) {
  if (refuse()) return NULL;
  char *p = strdup(s);
  set_add(p);
  return p;
}

void fa_free(void *p) {
  set_del(p);
  free(p);
}
