/* test_image.c — image sections and views of real PE files built by make
** (WINDOWS.md A.11.11, A.12). Skips when the mingw-w64 images are absent. */
#include "testutil.h"

static char path_buf[512];

static const char *data(const char *name) {
  const char *dir = getenv("PAGELAB_TEST_DATA");
  snprintf(path_buf, sizeof path_buf, "%s/pe/%s", dir ? dir : "tests/data", name);
  return path_buf;
}

static bool have(const char *name) {
  FILE *f = fopen(data(name), "rb");
  if (f) fclose(f);
  return f != NULL;
}

static mm_system *isys(mm_arch arch, bool contents) {
  mm_config cfg;
  mm_config_default(&cfg, arch);
  cfg.ram = MiB(8);
  cfg.pagefile = MiB(16);
  cfg.contents = contents;
  cfg.tune.refs_per_second = 1u << 30;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

static mm_handle image(mm_system *sys, const char *name, mm_status want) {
  mm_handle f, s = 0;
  assert_status(mm_file_open(sys, data(name), &f), MM_STATUS_SUCCESS);
  mm_section_config sc = { 0, 0, MM_SEC_IMAGE, f, NULL };
  sc.protect = MM_PAGE_READONLY;
  assert_status(mm_section_create(sys, &sc, &s, NULL), want);
  mm_file_close(sys, f);
  return s;
}

static mm_status map(mm_system *sys, mm_pid p, mm_handle s, uint64_t *base) {
  uint64_t size = 0;
  *base = 0;
  return mm_map_view(sys, p, s, base, 0, &size, MM_PAGE_READONLY, 0, 0);
}

/* A.12.1-A.12.2: one image allocation at the preferred base, header page
** read-only, each section with its protection. */
static void image_view_layout(void **state) {
  (void)state;
  if (!have("app.exe")) skip();
  mm_system *sys = isys(MM_ARCH_X64, false);
  mm_pid p = tu_process(sys);
  mm_handle s = image(sys, "app.exe", MM_STATUS_SUCCESS);
  const pe_image *pe = mm_section_image(sys, s);
  assert_non_null(pe);
  mm_section_info si;
  mm_section_info_get(sys, s, &si);
  assert_int_equal(si.size, pe->size_of_image);
  assert_int_equal(si.attributes, MM_SEC_FILE | MM_SEC_IMAGE);
  uint64_t b;
  assert_status(map(sys, p, s, &b), MM_STATUS_SUCCESS);
  assert_int_equal(b, pe->image_base);
  mm_region r;
  mm_query(sys, p, b, &r);
  assert_int_equal(r.type, MM_MEM_IMAGE);
  assert_int_equal(r.allocation_protect, MM_PAGE_EXECUTE_WRITECOPY);
  assert_int_equal(r.protect, MM_PAGE_READONLY);
  assert_int_equal(r.size, 4096);
  for (uint32_t k = 0; k < pe->nsections; k++) {
    mm_query(sys, p, b + pe->sections[k].va, &r);
    assert_int_equal(r.protect, pe->sections[k].protect);
    assert_int_equal(r.state, MM_MEM_COMMIT);
  }
  /* code executes, is not writable; .bss reads as a demand-zero page */
  assert_int_equal(mm_access(sys, p, b + 0x1000, MM_EXECUTE), MM_HARD);
  assert_int_equal(mm_access(sys, p, b + 0x1000, MM_WRITE), MM_ACCESS_VIOLATION);
  assert_int_equal(mm_access(sys, p, b + 0x3000, MM_READ), MM_DEMAND_ZERO);
  /* a write to writable data copies it (A.12.2) */
  assert_int_equal(mm_access(sys, p, b + 0x2000, MM_WRITE), MM_COW);
  mm_query(sys, p, b + 0x2000, &r);
  assert_int_equal(r.protect, MM_PAGE_READWRITE);
  END(sys);
}

/* A.12.4/A.12.6: relocated when the base is taken; fixed-up pages are
** private; an image without relocations fails cleanly. */
static void relocation(void **state) {
  (void)state;
  if (!have("reloc.dll") || !have("fixed.dll") || !have("app.exe")) skip();
  mm_system *sys = isys(MM_ARCH_X64, true);
  mm_pid p = tu_process(sys);
  mm_handle app = image(sys, "app.exe", MM_STATUS_SUCCESS);
  uint64_t b;
  assert_status(map(sys, p, app, &b), MM_STATUS_SUCCESS);
  mm_handle rel = image(sys, "reloc.dll", MM_STATUS_SUCCESS);
  const pe_image *pe = mm_section_image(sys, rel);
  assert_int_equal(pe->image_base, b);               /* it collides */
  uint64_t rb;
  assert_status(map(sys, p, rel, &rb), MM_STATUS_IMAGE_NOT_AT_BASE);
  assert_true(rb != pe->image_base);
  mm_pstats ps;
  mm_process_stats(sys, p, &ps);
  assert_true(ps.cow >= 2);                          /* header + fixed page */
  assert_true(ps.private_pages >= 2);
  /* the ImageBase field in the mapped header reads the new base */
  uint64_t field = 0;
  assert_status(mm_read(sys, p, rb + pe->image_base_offset, &field, 8, NULL),
                MM_STATUS_SUCCESS);
  assert_int_equal(field, rb);
  /* fixed.dll: map once at its base, then again: no relocations → refused */
  mm_handle fx = image(sys, "fixed.dll", MM_STATUS_SUCCESS);
  uint64_t fb;
  assert_status(map(sys, p, fx, &fb), MM_STATUS_SUCCESS);
  assert_status(map(sys, p, fx, &fb), MM_STATUS_CONFLICTING_ADDRESSES);
  assert_non_null(strstr(mm_last_error(sys), "no relocations"));
  /* the same relocatable image twice in one process: second elsewhere */
  uint64_t b2;
  assert_status(map(sys, p, app, &b2), MM_STATUS_IMAGE_NOT_AT_BASE);
  END(sys);
}

/* A.12.6: the same image in several processes shares unwritten pages. */
static void shared_between_processes(void **state) {
  (void)state;
  if (!have("shared.dll")) skip();
  mm_system *sys = isys(MM_ARCH_X64, true);
  mm_handle s = image(sys, "shared.dll", MM_STATUS_SUCCESS);
  const pe_image *pe = mm_section_image(sys, s);
  uint32_t shared_va = 0;
  for (uint32_t k = 0; k < pe->nsections; k++)
    if (strcmp(pe->sections[k].name, ".shared") == 0) shared_va = pe->sections[k].va;
  assert_true(shared_va != 0);
  mm_pid p[3];
  uint64_t b[3];
  for (int k = 0; k < 3; k++) {
    p[k] = tu_process(sys);
    assert_status(map(sys, p[k], s, &b[k]), MM_STATUS_SUCCESS);
    assert_int_equal(b[k], pe->image_base);          /* same base everywhere */
    mm_access(sys, p[k], b[k] + 0x1000, MM_EXECUTE);
  }
  mm_pstats ps;
  mm_process_stats(sys, p[0], &ps);
  assert_int_equal(ps.hard, 1);
  mm_process_stats(sys, p[2], &ps);
  assert_int_equal(ps.soft, 1);                       /* already resident */
  mm_section_info si;
  mm_section_info_get(sys, s, &si);
  assert_int_equal(si.resident, 1);                   /* one frame for all */
  /* a shared writable section is read-write and shared by all (A.12.2) */
  mm_region r;
  mm_query(sys, p[0], b[0] + shared_va, &r);
  assert_int_equal(r.protect, MM_PAGE_READWRITE);
  uint32_t v = 0xC0FFEE;
  assert_status(mm_write(sys, p[0], b[0] + shared_va, &v, 4, NULL), MM_STATUS_SUCCESS);
  uint32_t got = 0;
  assert_status(mm_read(sys, p[1], b[1] + shared_va, &got, 4, NULL), MM_STATUS_SUCCESS);
  assert_int_equal(got, 0xC0FFEE);
  /* writable non-shared data stays per process (copy-on-write) */
  uint32_t dva = 0;
  for (uint32_t k = 0; k < pe->nsections; k++)
    if (strcmp(pe->sections[k].name, ".data") == 0) dva = pe->sections[k].va;
  uint32_t x = 7, y = 0, z = 0;
  mm_read(sys, p[1], b[1] + dva, &z, 4, NULL);
  assert_status(mm_write(sys, p[0], b[0] + dva, &x, 4, NULL), MM_STATUS_SUCCESS);
  mm_read(sys, p[1], b[1] + dva, &y, 4, NULL);
  assert_int_equal(y, z);
  END(sys);
}

/* Bad images: not a PE, another machine, a simulated file without bytes. */
static void bad_images(void **state) {
  (void)state;
  mm_system *sys = isys(MM_ARCH_X64, true);
  mm_handle f, s;
  mm_file_create(sys, "zeros.exe", 4096, &f);
  mm_section_config sc = { 0, MM_PAGE_READONLY, MM_SEC_IMAGE, f, NULL };
  assert_status(mm_section_create(sys, &sc, &s, NULL), MM_STATUS_INVALID_IMAGE_NOT_MZ);
  sc.attributes = MM_SEC_IMAGE | MM_SEC_COMMIT;
  assert_status(mm_section_create(sys, &sc, &s, NULL), MM_STATUS_INVALID_PARAMETER_6);
  if (have("x86/app.exe")) {
    mm_handle x = image(sys, "x86/app.exe", MM_STATUS_IMAGE_MACHINE_TYPE_MISMATCH);
    (void)x;
    assert_non_null(strstr(mm_last_error(sys), "x64"));
  }
  mm_system *x86 = isys(MM_ARCH_X86, false);
  if (have("x86/app.exe")) {
    mm_pid p = tu_process(x86);
    mm_handle xs = image(x86, "x86/app.exe", MM_STATUS_SUCCESS);
    uint64_t b;
    assert_status(map(x86, p, xs, &b), MM_STATUS_SUCCESS);
    assert_int_equal(b, mm_section_image(x86, xs)->image_base);
  }
  END(x86);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(image_view_layout), cmocka_unit_test(relocation),
    cmocka_unit_test(shared_between_processes), cmocka_unit_test(bad_images),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
