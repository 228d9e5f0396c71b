/*
** testutil.h — shared helpers for the cmocka core tests.
** Every test ends with the invariant walker: use END(sys).
*/
#ifndef PAGELAB_TESTUTIL_H
#define PAGELAB_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mm.h"

#define KiB(n) ((uint64_t)(n) << 10)
#define MiB(n) ((uint64_t)(n) << 20)
#define GiB(n) ((uint64_t)(n) << 30)

/* A small x64 system: ram and page file in bytes, default policy. */
static inline mm_system *tu_system(uint64_t ram, uint64_t pagefile) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = ram;
  cfg.pagefile = pagefile;
  mm_system *sys = NULL;
  char err[256];
  mm_status st = mm_system_create(&cfg, &sys, err, sizeof err);
  if (st != MM_STATUS_SUCCESS) fail_msg("mm_system_create: %s", err);
  return sys;
}

static inline mm_pid tu_process(mm_system *sys) {
  mm_process_config pc = { "test", 0, 0, false, false };
  mm_pid pid = 0;
  assert_int_equal(mm_process_create(sys, &pc, &pid), MM_STATUS_SUCCESS);
  return pid;
}

/* Asserts a status by name, so failures print "STATUS_X != STATUS_Y". */
#define assert_status(got, want) \
  assert_string_equal(mm_status_name(got), mm_status_name(want))

#define END(sys) do { \
    if (mm_check(sys) != 0) fail_msg("invariant: %s", mm_last_error(sys)); \
    mm_system_destroy(sys); \
  } while (0)

#endif
