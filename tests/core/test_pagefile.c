/* test_pagefile.c — page-file slots: taken by the writer, freed when the
** data no longer needs them; a full page file stops the writer, not the
** system. */
#include "testutil.h"
#include "internal.h"

static void slots(void **state) {
  (void)state;
  mm_system *sys = tu_system(KiB(256), KiB(16));     /* 4 slots */
  uint32_t s[5];
  for (int k = 0; k < 4; k++) {
    s[k] = pf_alloc(sys);
    assert_int_not_equal(s[k], MM_NIL);
    assert_true(pf_used(sys, s[k]));
  }
  assert_int_equal(pf_alloc(sys), MM_NIL);
  pf_free(sys, s[2]);
  assert_false(pf_used(sys, s[2]));
  s[4] = pf_alloc(sys);
  assert_int_equal(s[4], s[2]);
  for (int k = 0; k < 4; k++) pf_free(sys, s[k == 2 ? 4 : k]);
  assert_int_equal(sys->pf_used, 0);
  END(sys);
}

/* The commit limit (RAM + page file) keeps the page file from running
** out under private memory: every committed page fits somewhere, the
** page file fills exactly, and the next commit is refused instead. */
static void commit_limit_protects_pagefile(void **state) {
  (void)state;
  mm_system *sys = tu_system(KiB(256), KiB(64));     /* 64 frames, 16 slots */
  mm_pid pid = tu_process(sys);
  uint64_t a = 0, n = KiB(316);                      /* exactly the limit */
  assert_status(mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_SUCCESS);
  for (int k = 0; k < 79; k++)
    assert_int_not_equal(mm_access(sys, pid, a + k * 4096, MM_WRITE), MM_ERROR);
  for (int k = 0; k < 79; k++)
    assert_int_not_equal(mm_access(sys, pid, a + k * 4096, MM_READ), MM_ERROR);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_true(ss.pagefile_used >= 15);
  uint64_t b = 0, m = 4096;
  assert_status(mm_allocate(sys, pid, &b, &m, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            MM_PAGE_READWRITE), MM_STATUS_COMMITMENT_LIMIT);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(slots), cmocka_unit_test(commit_limit_protects_pagefile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
