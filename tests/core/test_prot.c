/*
** test_prot.c — page protections (core/prot.c): every validity rule of
** WINDOWS.md A.4.2 and the access table of A.4.8, directly and through
** NtAllocateVirtualMemory / NtProtectVirtualMemory.
*/
#include "testutil.h"

#include "internal.h"

#define NA   MM_PAGE_NOACCESS
#define RO   MM_PAGE_READONLY
#define RW   MM_PAGE_READWRITE
#define WC   MM_PAGE_WRITECOPY
#define X    MM_PAGE_EXECUTE
#define XR   MM_PAGE_EXECUTE_READ
#define XRW  MM_PAGE_EXECUTE_READWRITE
#define XWC  MM_PAGE_EXECUTE_WRITECOPY
#define G    MM_PAGE_GUARD
#define NC   MM_PAGE_NOCACHE
#define WCB  MM_PAGE_WRITECOMBINE

static const struct { uint32_t prot; bool valid; const char *rule; } validity[] = {
  /* each base value alone is valid */
  { NA, true, "base" }, { RO, true, "base" }, { RW, true, "base" },
  { WC, true, "base" }, { X, true, "base" }, { XR, true, "base" },
  { XRW, true, "base" }, { XWC, true, "base" },
  /* with a modifier they allow */
  { RW | G, true, "guard" }, { XR | G, true, "guard" }, { WC | G, true, "guard" },
  { RO | NC, true, "nocache" }, { XRW | NC, true, "nocache" },
  { RW | WCB, true, "writecombine" }, { X | WCB, true, "writecombine" },
  /* any bit at or above 0x800, the CFG flag included */
  { 0x800u, false, "bit >= 0x800" }, { RW | 0x800u, false, "bit >= 0x800" },
  { RW | 0x40000000u, false, "CFG target flag" },
  { RW | 0x80000000u, false, "bit >= 0x800" },
  /* both nibbles, two bits in a nibble, no base at all */
  { RO | X, false, "both nibbles" }, { RW | XR, false, "both nibbles" },
  { RO | RW, false, "two low bits" }, { NA | RO, false, "two low bits" },
  { X | XR, false, "two high bits" }, { XRW | XWC, false, "two high bits" },
  { 0, false, "no base" }, { G, false, "no base" }, { NC, false, "no base" },
  { G | NC, false, "no base" },
  /* GUARD with NOACCESS, NOCACHE or WRITECOMBINE */
  { NA | G, false, "guard+noaccess" }, { RW | G | NC, false, "guard+nocache" },
  { RW | G | WCB, false, "guard+writecombine" },
  /* NOCACHE with NOACCESS or WRITECOMBINE */
  { NA | NC, false, "nocache+noaccess" },
  { RW | NC | WCB, false, "nocache+writecombine" },
  /* WRITECOMBINE with NOACCESS */
  { NA | WCB, false, "writecombine+noaccess" },
};

static void validity_rules(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof validity / sizeof *validity; i++)
    if (prot_valid(validity[i].prot) != validity[i].valid)
      fail_msg("%#x (%s): prot_valid says %d", validity[i].prot,
               validity[i].rule, !validity[i].valid);
}

/* Invalid values are refused by the services with the NT status, and the
** check comes before anything about the address (A.2.6, A.4.4). */
static void validity_through_services(void **state) {
  (void)state;
  mm_system *sys = tu_system(MiB(16), MiB(16));
  mm_pid pid = tu_process(sys);
  uint64_t a = 0, n = 0x1000;
  assert_status(mm_allocate(sys, pid, &a, &n, MM_MEM_RESERVE | MM_MEM_COMMIT,
                            RW), MM_STATUS_SUCCESS);
  for (size_t i = 0; i < sizeof validity / sizeof *validity; i++) {
    if (validity[i].valid) continue;
    uint64_t b = 0, s = 0x1000;
    assert_status(mm_allocate(sys, pid, &b, &s, MM_MEM_RESERVE,
                              validity[i].prot),
                  MM_STATUS_INVALID_PAGE_PROTECTION);
    b = a, s = 0x1000;
    assert_status(mm_allocate(sys, pid, &b, &s, MM_MEM_COMMIT,
                              validity[i].prot),
                  MM_STATUS_INVALID_PAGE_PROTECTION);
    uint32_t old;
    b = a, s = 0x1000;
    assert_status(mm_protect(sys, pid, &b, &s, validity[i].prot, &old),
                  MM_STATUS_INVALID_PAGE_PROTECTION);
    b = 0x7FFFFFFFFFFFull, s = 0;          /* bad address too: prot first */
    assert_status(mm_protect(sys, pid, &b, &s, validity[i].prot, &old),
                  MM_STATUS_INVALID_PAGE_PROTECTION);
  }
  END(sys);
}

/* A.4.8, with modifiers that must not change the answer. */
static void access_table(void **state) {
  (void)state;
  static const struct { uint32_t prot; bool r, w, x, cow; } rows[] = {
    { NA, false, false, false, false },
    { RO, true, false, false, false },
    { RW, true, true, false, false },
    { WC, true, true, false, true },
    { X, true, false, true, false },
    { XR, true, false, true, false },
    { XRW, true, true, true, false },
    { XWC, true, true, true, true },
  };
  static const uint32_t mods[] = { 0, G, NC, WCB };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    for (size_t m = 0; m < sizeof mods / sizeof *mods; m++) {
      uint32_t p = rows[i].prot | mods[m];
      if (prot_can_read(p) != rows[i].r || prot_can_write(p) != rows[i].w ||
          prot_can_exec(p) != rows[i].x || prot_is_writecopy(p) != rows[i].cow)
        fail_msg("access table row %#x (modifier %#x) is wrong", rows[i].prot,
                 mods[m]);
    }
  /* no base value: no access */
  assert_false(prot_can_read(0));
  assert_false(prot_can_write(RO | RW));
  assert_false(prot_can_exec(G));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(validity_rules),
    cmocka_unit_test(validity_through_services),
    cmocka_unit_test(access_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
