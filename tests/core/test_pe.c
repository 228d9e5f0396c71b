/*
** test_pe.c: tests for core/pe.c.
**
**   synthetic   a PE32+ image built byte by byte below, whose every field is
**               known: parsed, laid out and relocated, then mutated into a
**               table of malformed images that must each fail with the right
**               status and a message naming the defect
**   relocation  each relocation type applied to a hand-built pe_image
**   real        the images mk/pe.mk builds with mingw-w64 (tests/data/pe),
**               compared field by field with binutils' objdump, plus the
**               mingw runtime DLLs and EFI images when the system has them
**
** Fixtures come from $PAGELAB_TEST_DATA or tests/data. Tests whose inputs or
** tools are missing skip. PAGELAB_PE_SEED_DIR=dir test_pe writes the
** synthetic image and its mutations to dir as fuzzing seeds, and exits.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pe.h"

/* ---------------------------------------------------------------- helpers */

static void failf(const char *fmt, ...) {
  char m[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  print_error("%s\n", m);
  fail();
}

/* Under valgrind (make memcheck sets PAGELAB_VALGRIND=1) the exhaustive
** loops sample instead, and big system DLLs are left out, so that the run
** takes minutes rather than hours. */
static unsigned stride(unsigned n) {
  const char *v = getenv("PAGELAB_VALGRIND");
  return v && *v == '1' ? n : 1;
}

static const char *data_dir(void) {
  const char *d = getenv("PAGELAB_TEST_DATA");
  return d && *d ? d : "tests/data";
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *b = NULL;
  size_t cap = 0, n = 0, k;
  if (!f) return NULL;
  do {
    if (n == cap) {
      cap = cap ? 2 * cap : 1 << 16;
      b = realloc(b, cap);
      assert_non_null(b);
    }
    k = fread(b + n, 1, cap - n, f);
    n += k;
  } while (k > 0);
  fclose(f);
  *len = n;
  return b;
}

/* Reads a fixture under the data directory; skips the test if absent. */
static uint8_t *load_fixture(const char *rel, size_t *len, char *path,
                             size_t pathlen) {
  snprintf(path, pathlen, "%s/%s", data_dir(), rel);
  uint8_t *b = read_file(path, len);
  if (!b) {
    print_message("%s is missing (no mingw-w64?): skipping\n", path);
    skip();
  }
  return b;
}

static void put16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *b, uint32_t v) {
  put16(b, (uint16_t)v);
  put16(b + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *b, uint64_t v) {
  put32(b, (uint32_t)v);
  put32(b + 4, (uint32_t)(v >> 32));
}
static uint16_t get16(const uint8_t *b) {
  return (uint16_t)(b[0] | b[1] << 8);
}
static uint32_t get32(const uint8_t *b) {
  return get16(b) | (uint32_t)get16(b + 2) << 16;
}
static uint64_t get64(const uint8_t *b) {
  return get32(b) | (uint64_t)get32(b + 4) << 32;
}

static bool bit(const uint8_t *bm, uint64_t i) {
  return bm[i / 8] >> (i % 8) & 1;
}

static const pe_section *find_section(const pe_image *pe, const char *name) {
  for (uint32_t i = 0; i < pe->nsections; i++)
    if (strcmp(pe->sections[i].name, name) == 0) return &pe->sections[i];
  failf("no section %s", name);
  return NULL;
}

static const pe_import *find_import(const pe_image *pe, const char *dll) {
  for (uint32_t i = 0; i < pe->nimports; i++)
    if (strcmp(pe->imports[i].dll, dll) == 0) return &pe->imports[i];
  failf("no import of %s", dll);
  return NULL;
}

static const pe_export *find_export(const pe_image *pe, uint32_t ordinal) {
  for (uint32_t i = 0; i < pe->nexports; i++)
    if (pe->exports[i].ordinal == ordinal) return &pe->exports[i];
  return NULL;
}

static const pe_export *need_export(const pe_image *pe, uint32_t ordinal) {
  const pe_export *x = find_export(pe, ordinal);
  if (!x) failf("no export with ordinal %u", ordinal);
  return x;
}

/* Parses, failing the test on error. */
static pe_image *parse_ok(const uint8_t *b, size_t len, const char *what) {
  pe_image *pe = NULL;
  char err[PE_ERR_SIZE];
  pe_status st = pe_parse(b, len, &pe, err, sizeof err);
  if (st != PE_STATUS_SUCCESS) failf("%s: 0x%08x %s", what, st, err);
  assert_non_null(pe);
  assert_string_equal(err, "");
  return pe;
}

/* ------------------------------------------------------ synthetic image */

/* A PE32+ DLL with three sections, two imported DLLs (one function by name
** and one by ordinal from a.dll), three exports (named, forwarded, by
** ordinal only) and one relocation block with four types. */
#define S_BASE 0x180000000ull
enum {
  S_LFANEW = 0x40, S_FH = S_LFANEW + 4, S_OPT = S_FH + 20,
  S_SECT = S_OPT + 240, S_HDRS = 0x200,
  S_TEXT = 0x1000, S_RELOC = 0x2000, S_RDATA = 0x3000, S_IMAGE = 0x4000,
  S_TEXT_RAW = 0x200, S_RELOC_RAW = 0x400, S_RDATA_RAW = 0x600,
  S_LEN = 0x1600
};
enum {                                  /* offsets inside .rdata */
  R_IMPDESC = 0x000, R_ILT_A = 0x040, R_ILT_B = 0x060, R_IAT_A = 0x080,
  R_IAT_B = 0x0A0, R_HN_A = 0x0C0, R_HN_B = 0x0D0, R_DLL_A = 0x0E0,
  R_DLL_B = 0x0F0, R_EXPDIR = 0x100, R_EAT = 0x130, R_NPT = 0x140,
  R_EOT = 0x150, R_EXPNAME = 0x160, R_NAME_FWD = 0x170, R_NAME_FUNC = 0x174,
  R_FWD = 0x180, R_EXPDIR_SIZE = 0x100, R_END = 0x1000
};
#define RD(x) (S_RDATA_RAW + (x))       /* file offset of .rdata offset x */
#define RV(x) (S_RDATA + (x))           /* its RVA */
#define SH(i, f) (S_SECT + 40 * (i) + (f))
#define DIRENT(k) (S_OPT + 112 + 8 * (k))

static void synth_section(uint8_t *b, int i, const char *name, uint32_t vs,
                          uint32_t va, uint32_t raw, uint32_t ptr,
                          uint32_t ch) {
  memcpy(b + SH(i, 0), name, strlen(name));
  put32(b + SH(i, 8), vs);
  put32(b + SH(i, 12), va);
  put32(b + SH(i, 16), raw);
  put32(b + SH(i, 20), ptr);
  put32(b + SH(i, 36), ch);
}

static void synth(uint8_t *b) {
  memset(b, 0, S_LEN);
  b[0] = 'M'; b[1] = 'Z';
  put32(b + 0x3C, S_LFANEW);
  memcpy(b + S_LFANEW, "PE\0\0", 4);
  put16(b + S_FH, PE_MACHINE_AMD64);
  put16(b + S_FH + 2, 3);
  put16(b + S_FH + 16, 240);
  put16(b + S_FH + 18, 0x2022);
  put16(b + S_OPT, PE_MAGIC_PE32PLUS);
  put32(b + S_OPT + 16, S_TEXT);
  put64(b + S_OPT + 24, S_BASE);
  put32(b + S_OPT + 32, 0x1000);
  put32(b + S_OPT + 36, 0x200);
  put32(b + S_OPT + 56, S_IMAGE);
  put32(b + S_OPT + 60, S_HDRS);
  put16(b + S_OPT + 68, 3);
  put16(b + S_OPT + 70, 0x160);
  put64(b + S_OPT + 72, 0x100000);
  put64(b + S_OPT + 80, 0x1000);
  put64(b + S_OPT + 88, 0x200000);
  put64(b + S_OPT + 96, 0x2000);
  put32(b + S_OPT + 108, 16);
  put32(b + DIRENT(PE_DIR_EXPORT), RV(R_EXPDIR));
  put32(b + DIRENT(PE_DIR_EXPORT) + 4, R_EXPDIR_SIZE);
  put32(b + DIRENT(PE_DIR_IMPORT), RV(R_IMPDESC));
  put32(b + DIRENT(PE_DIR_IMPORT) + 4, 60);
  put32(b + DIRENT(PE_DIR_BASERELOC), S_RELOC);
  put32(b + DIRENT(PE_DIR_BASERELOC) + 4, 16);
  synth_section(b, 0, ".text", 0x100, S_TEXT, 0x200, S_TEXT_RAW, 0x60000020);
  synth_section(b, 1, ".reloc", 0x10, S_RELOC, 0x200, S_RELOC_RAW,
                0x42000040);
  synth_section(b, 2, ".rdata", 0x1000, S_RDATA, 0x1000, S_RDATA_RAW,
                0x40000040);

  /* .text: four relocated fields, then int3 filler. The filler past
  ** VirtualSize (0x100) is raw data and must stay visible when mapped. */
  memset(b + S_TEXT_RAW, 0xCC, 0x200);
  put64(b + S_TEXT_RAW, S_BASE + 0x1010);
  put32(b + S_TEXT_RAW + 8, (uint32_t)(S_BASE + 0x1020));
  put16(b + S_TEXT_RAW + 0xC, 0x1234);
  put16(b + S_TEXT_RAW + 0xE, 0x8000);
  put32(b + S_RELOC_RAW, S_TEXT);
  put32(b + S_RELOC_RAW + 4, 16);
  put16(b + S_RELOC_RAW + 8, 0xA000);   /* DIR64 at 0x1000 */
  put16(b + S_RELOC_RAW + 10, 0x3008);  /* HIGHLOW at 0x1008 */
  put16(b + S_RELOC_RAW + 12, 0x200C);  /* LOW at 0x100C */
  put16(b + S_RELOC_RAW + 14, 0x100E);  /* HIGH at 0x100E */

  /* Imports: a.dll!FuncA (hint 1), a.dll!#7, b.dll!FuncB (hint 2). */
  put32(b + RD(R_IMPDESC), RV(R_ILT_A));
  put32(b + RD(R_IMPDESC) + 12, RV(R_DLL_A));
  put32(b + RD(R_IMPDESC) + 16, RV(R_IAT_A));
  put32(b + RD(R_IMPDESC) + 20, RV(R_ILT_B));
  put32(b + RD(R_IMPDESC) + 32, RV(R_DLL_B));
  put32(b + RD(R_IMPDESC) + 36, RV(R_IAT_B));
  put64(b + RD(R_ILT_A), RV(R_HN_A));
  put64(b + RD(R_ILT_A) + 8, 0x8000000000000007ull);
  put64(b + RD(R_ILT_B), RV(R_HN_B));
  memcpy(b + RD(R_IAT_A), b + RD(R_ILT_A), 24);
  memcpy(b + RD(R_IAT_B), b + RD(R_ILT_B), 16);
  put16(b + RD(R_HN_A), 1);
  memcpy(b + RD(R_HN_A) + 2, "FuncA", 6);
  put16(b + RD(R_HN_B), 2);
  memcpy(b + RD(R_HN_B) + 2, "FuncB", 6);
  memcpy(b + RD(R_DLL_A), "a.dll", 6);
  memcpy(b + RD(R_DLL_B), "b.dll", 6);

  /* Exports, ordinal base 5: Func = #5 at 0x1000, Fwd = #6 forwarded to
  ** b.FuncB, #7 at 0x1010 without a name. */
  put32(b + RD(R_EXPDIR) + 12, RV(R_EXPNAME));
  put32(b + RD(R_EXPDIR) + 16, 5);
  put32(b + RD(R_EXPDIR) + 20, 3);
  put32(b + RD(R_EXPDIR) + 24, 2);
  put32(b + RD(R_EXPDIR) + 28, RV(R_EAT));
  put32(b + RD(R_EXPDIR) + 32, RV(R_NPT));
  put32(b + RD(R_EXPDIR) + 36, RV(R_EOT));
  put32(b + RD(R_EAT), 0x1000);
  put32(b + RD(R_EAT) + 4, RV(R_FWD));
  put32(b + RD(R_EAT) + 8, 0x1010);
  put32(b + RD(R_NPT), RV(R_NAME_FWD));
  put32(b + RD(R_NPT) + 4, RV(R_NAME_FUNC));
  put16(b + RD(R_EOT), 1);
  put16(b + RD(R_EOT) + 2, 0);
  memcpy(b + RD(R_EXPNAME), "synth.dll", 10);
  memcpy(b + RD(R_NAME_FWD), "Fwd", 4);
  memcpy(b + RD(R_NAME_FUNC), "Func", 5);
  memcpy(b + RD(R_FWD), "b.FuncB", 8);
}

static void test_synth_fields(void **state) {
  uint8_t b[S_LEN];
  (void)state;
  synth(b);
  pe_image *pe = parse_ok(b, sizeof b, "synthetic image");
  assert_true(pe->pe32plus);
  assert_int_equal(pe->file_size, S_LEN);
  assert_int_equal(pe->machine, PE_MACHINE_AMD64);
  assert_int_equal(pe->characteristics, 0x2022);
  assert_int_equal(pe->magic, PE_MAGIC_PE32PLUS);
  assert_true(pe->image_base == S_BASE);
  assert_int_equal(pe->image_base_offset, S_OPT + 24);
  assert_int_equal(pe->size_of_image, S_IMAGE);
  assert_int_equal(pe->size_of_headers, S_HDRS);
  assert_int_equal(pe->section_alignment, 0x1000);
  assert_int_equal(pe->file_alignment, 0x200);
  assert_int_equal(pe->entry_point, S_TEXT);
  assert_int_equal(pe->subsystem, 3);
  assert_int_equal(pe->dll_characteristics, 0x160);
  assert_int_equal(pe->stack_reserve, 0x100000);
  assert_int_equal(pe->stack_commit, 0x1000);
  assert_int_equal(pe->heap_reserve, 0x200000);
  assert_int_equal(pe->heap_commit, 0x2000);
  assert_int_equal(pe->ndirs, 16);
  assert_int_equal(pe->dirs[PE_DIR_IMPORT].rva, RV(R_IMPDESC));
  assert_int_equal(pe->dirs[PE_DIR_BASERELOC].size, 16);

  assert_int_equal(pe->nsections, 3);
  const pe_section *t = &pe->sections[0], *r = &pe->sections[1];
  const pe_section *d = &pe->sections[2];
  assert_string_equal(t->name, ".text");
  assert_int_equal(t->va, S_TEXT);
  assert_int_equal(t->virtual_size, 0x100);
  assert_int_equal(t->raw_size, 0x200);
  assert_int_equal(t->raw_ptr, S_TEXT_RAW);
  assert_int_equal(t->mapped_size, 0x1000);
  assert_int_equal(t->protect, PE_PAGE_EXECUTE_READ);
  assert_string_equal(r->name, ".reloc");
  assert_int_equal(r->protect, PE_PAGE_READONLY);
  assert_string_equal(d->name, ".rdata");
  assert_int_equal(d->characteristics, 0x40000040);

  assert_int_equal(pe->nimports, 2);
  assert_int_equal(pe->nimport_funcs, 3);
  const pe_import *a = &pe->imports[0], *bb = &pe->imports[1];
  assert_string_equal(a->dll, "a.dll");
  assert_int_equal(a->ilt_rva, RV(R_ILT_A));
  assert_int_equal(a->iat_rva, RV(R_IAT_A));
  assert_int_equal(a->nfuncs, 2);
  assert_string_equal(a->funcs[0].name, "FuncA");
  assert_int_equal(a->funcs[0].hint, 1);
  assert_int_equal(a->funcs[0].iat_rva, RV(R_IAT_A));
  assert_null(a->funcs[1].name);
  assert_int_equal(a->funcs[1].ordinal, 7);
  assert_int_equal(a->funcs[1].iat_rva, RV(R_IAT_A) + 8);
  assert_string_equal(bb->dll, "b.dll");
  assert_int_equal(bb->nfuncs, 1);
  assert_string_equal(bb->funcs[0].name, "FuncB");
  assert_int_equal(bb->funcs[0].hint, 2);

  assert_int_equal(pe->nreloc_blocks, 1);
  assert_int_equal(pe->nrelocs, 4);
  assert_int_equal(pe->reloc_blocks[0].page_rva, S_TEXT);
  assert_int_equal(pe->reloc_blocks[0].nentries, 4);
  assert_ptr_equal(pe->reloc_blocks[0].entries, pe->relocs);
  static const uint8_t types[4] = { PE_REL_DIR64, PE_REL_HIGHLOW, PE_REL_LOW,
                                    PE_REL_HIGH };
  static const uint16_t offs[4] = { 0, 8, 0xC, 0xE };
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pe->relocs[i].type, types[i]);
    assert_int_equal(pe->relocs[i].offset, offs[i]);
  }

  assert_true(pe->has_exports);
  assert_string_equal(pe->export_dll, "synth.dll");
  assert_int_equal(pe->export_base, 5);
  assert_int_equal(pe->nexports, 3);
  assert_string_equal(pe->exports[0].name, "Func");
  assert_int_equal(pe->exports[0].ordinal, 5);
  assert_int_equal(pe->exports[0].rva, 0x1000);
  assert_null(pe->exports[0].forwarder);
  assert_string_equal(pe->exports[1].name, "Fwd");
  assert_int_equal(pe->exports[1].ordinal, 6);
  assert_string_equal(pe->exports[1].forwarder, "b.FuncB");
  assert_null(pe->exports[2].name);
  assert_int_equal(pe->exports[2].ordinal, 7);
  assert_int_equal(pe->exports[2].rva, 0x1010);
  pe_free(pe);
}

static void test_synth_rva_to_offset(void **state) {
  uint8_t b[S_LEN];
  uint64_t off;
  (void)state;
  synth(b);
  pe_image *pe = parse_ok(b, sizeof b, "synthetic image");
  assert_true(pe_rva_to_offset(pe, 0x3C, &off));
  assert_int_equal(off, 0x3C);
  assert_true(pe_rva_to_offset(pe, S_TEXT + 0x1FF, &off));
  assert_int_equal(off, S_TEXT_RAW + 0x1FF);
  assert_false(pe_rva_to_offset(pe, S_TEXT + 0x200, &off));  /* zero-fill */
  assert_false(pe_rva_to_offset(pe, S_HDRS + 8, &off));      /* header tail */
  assert_true(pe_rva_to_offset(pe, RV(R_FWD), &off));
  assert_int_equal(off, RD(R_FWD));
  assert_false(pe_rva_to_offset(pe, S_IMAGE, &off));
  pe_free(pe);
}

/* Layout copies headers and raw data (including raw bytes past VirtualSize)
** and zero-fills the rest, without touching bytes past SizeOfImage. */
static void test_synth_layout(void **state) {
  uint8_t b[S_LEN], *img = malloc(S_IMAGE + 64);
  char err[PE_ERR_SIZE];
  (void)state;
  assert_non_null(img);
  synth(b);
  pe_image *pe = parse_ok(b, sizeof b, "synthetic image");
  memset(img, 0xAA, S_IMAGE + 64);
  assert_int_equal(pe_layout(pe, b, sizeof b, img, S_IMAGE + 64, err,
                             sizeof err), PE_STATUS_SUCCESS);
  assert_memory_equal(img, b, S_HDRS);
  for (uint32_t i = S_HDRS; i < S_TEXT; i++) assert_int_equal(img[i], 0);
  assert_memory_equal(img + S_TEXT, b + S_TEXT_RAW, 0x200);
  assert_int_equal(img[S_TEXT + 0x1FF], 0xCC);            /* past VirtualSize */
  for (uint32_t i = S_TEXT + 0x200; i < S_RELOC; i++)
    assert_int_equal(img[i], 0);
  assert_memory_equal(img + S_RELOC, b + S_RELOC_RAW, 0x200);
  for (uint32_t i = S_RELOC + 0x200; i < S_RDATA; i++)
    assert_int_equal(img[i], 0);
  assert_memory_equal(img + S_RDATA, b + S_RDATA_RAW, 0x1000);
  for (uint32_t i = S_IMAGE; i < S_IMAGE + 64; i++)
    assert_int_equal(img[i], 0xAA);

  /* Misuse: another file length, a short buffer. Nothing is written. */
  memset(img, 0x55, S_IMAGE);
  assert_int_equal(pe_layout(pe, b, sizeof b - 1, img, S_IMAGE, err,
                             sizeof err), PE_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "parsed from"));
  assert_int_equal(pe_layout(pe, b, sizeof b, img, S_IMAGE - 1, err,
                             sizeof err), PE_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "SizeOfImage"));
  assert_int_equal(img[0], 0x55);
  pe_free(pe);
  free(img);
}

static void test_synth_relocate(void **state) {
  static const uint64_t bases[] = { 0x7FF612340000ull, 0x10000ull,
                                    S_BASE + 0x10000 };
  uint8_t b[S_LEN], img[S_IMAGE], orig[S_IMAGE], pages[8];
  char err[PE_ERR_SIZE];
  (void)state;
  synth(b);
  pe_image *pe = parse_ok(b, sizeof b, "synthetic image");
  assert_int_equal(pe_layout(pe, b, sizeof b, orig, sizeof orig, err,
                             sizeof err), PE_STATUS_SUCCESS);
  assert_int_equal(pe_page_bitmap_bytes(pe, 4096), 1);
  assert_int_equal(pe_page_bitmap_bytes(pe, 512), 4);
  assert_int_equal(pe_page_bitmap_bytes(pe, 3000), 0);
  for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++) {
    uint64_t nb = bases[k], delta = nb - S_BASE;
    memcpy(img, orig, sizeof img);
    memset(pages, 0, sizeof pages);
    assert_int_equal(pe_relocate(pe, img, sizeof img, nb, 4096, pages,
                                 sizeof pages, err, sizeof err),
                     PE_STATUS_SUCCESS);
    assert_true(get64(img + S_OPT + 24) == nb);         /* ImageBase */
    assert_true(get64(img + S_TEXT) == nb + 0x1010);    /* DIR64 */
    assert_int_equal(get32(img + S_TEXT + 8),
                     (uint32_t)(S_BASE + 0x1020 + delta));
    assert_int_equal(get16(img + S_TEXT + 0xC), (uint16_t)(0x1234 + delta));
    assert_int_equal(get16(img + S_TEXT + 0xE),
                     (uint16_t)(0x8000 + (delta >> 16)));
    assert_int_equal(pages[0], 0x03);                   /* header, .text */
    assert_memory_equal(img + S_TEXT + 0x10, orig + S_TEXT + 0x10,
                        sizeof img - S_TEXT - 0x10);
    /* Relocating back restores the original bytes exactly. */
    assert_int_equal(pe_relocate(pe, img, sizeof img, S_BASE, 512, pages,
                                 sizeof pages, err, sizeof err),
                     PE_STATUS_SUCCESS);
    assert_memory_equal(img, orig, sizeof img);
    assert_int_equal(pages[1], 0x01);                   /* 512-byte page 8 */
  }
  /* The same base changes nothing and marks nothing. */
  memset(pages, 0, sizeof pages);
  assert_int_equal(pe_relocate(pe, img, sizeof img, S_BASE, 4096, pages,
                               sizeof pages, err, sizeof err),
                   PE_STATUS_SUCCESS);
  assert_memory_equal(img, orig, sizeof img);
  assert_int_equal(pages[0], 0);
  pe_free(pe);
}

/* Tiny images: headers only (no sections, no directories), PE32 or PE32+,
** or a low-alignment image (SectionAlignment = FileAlignment = 0x200, below
** the page size) whose one section sits at the same offset in file and
** memory. Returns the file length. */
enum { T_LEN = 0x400 };
static size_t tiny(uint8_t *b, bool pe32, bool lowalign) {
  uint32_t opt = S_OPT, optsize = pe32 ? 224 : 240;
  memset(b, 0, T_LEN);
  b[0] = 'M'; b[1] = 'Z';
  put32(b + 0x3C, S_LFANEW);
  memcpy(b + S_LFANEW, "PE\0\0", 4);
  put16(b + S_FH, pe32 ? PE_MACHINE_I386 : PE_MACHINE_AMD64);
  put16(b + S_FH + 2, lowalign ? 1 : 0);
  put16(b + S_FH + 16, (uint16_t)optsize);
  put16(b + S_FH + 18, pe32 ? 0x0102 : 0x0022);
  put16(b + opt, pe32 ? PE_MAGIC_PE32 : PE_MAGIC_PE32PLUS);
  if (pe32) put32(b + opt + 28, 0x400000);
  else put64(b + opt + 24, 0x140000000ull);
  put32(b + opt + 32, lowalign ? 0x200 : 0x1000);
  put32(b + opt + 36, 0x200);
  put32(b + opt + 56, lowalign ? 0x400 : 0x1000);
  put32(b + opt + 60, 0x200);
  put16(b + opt + 68, 3);
  put32(b + opt + (pe32 ? 92 : 108), 16);
  if (!lowalign) return 0x200;
  uint8_t *sh = b + opt + optsize;
  memcpy(sh, ".text", 5);
  put32(sh + 8, 0x10);
  put32(sh + 12, 0x200);
  put32(sh + 16, 0x200);
  put32(sh + 20, 0x200);
  put32(sh + 36, 0x60000020);
  put32(b + opt + 16, 0x200);           /* entry point */
  b[0x200] = 0xC3;                      /* ret */
  return T_LEN;
}

static void m_reloc_lowalign(uint8_t *b, size_t *len);

static void test_tiny_images(void **state) {
  uint8_t b[T_LEN], img[0x1000], pages[1];
  char err[PE_ERR_SIZE];
  (void)state;
  for (int k = 0; k < 4; k++) {
    bool pe32 = k & 1, low = k & 2;
    size_t len = tiny(b, pe32, low);
    pe_image *pe = parse_ok(b, len, "tiny image");
    assert_int_equal(pe->pe32plus, !pe32);
    assert_int_equal(pe->nsections, low ? 1 : 0);
    assert_int_equal(pe->nimports + pe->nexports + pe->nrelocs, 0);
    assert_int_equal(pe->image_base_offset, S_OPT + (pe32 ? 28 : 24));
    memset(img, 0xAA, sizeof img);
    assert_int_equal(pe_layout(pe, b, len, img, sizeof img, err, sizeof err),
                     PE_STATUS_SUCCESS);
    assert_memory_equal(img, b, 0x200);
    if (low) {
      assert_int_equal(pe->sections[0].protect, PE_PAGE_EXECUTE_READ);
      assert_int_equal(pe->sections[0].mapped_size, 0x200);
      assert_int_equal(img[0x200], 0xC3);
      assert_int_equal(img[0x3FF], 0);
    } else {
      assert_int_equal(img[0xFFF], 0);
    }
    pages[0] = 0;
    assert_int_equal(pe_relocate(pe, img, pe->size_of_image, 0x20000000, 4096,
                                 pages, sizeof pages, err, sizeof err),
                     PE_STATUS_SUCCESS);
    assert_int_equal(pages[0], 1);
    assert_int_equal(get32(img + pe->image_base_offset), 0x20000000);
    if (!pe32) assert_int_equal(get32(img + pe->image_base_offset + 4), 0);
    pe_free(pe);
  }
  /* The same block with the DIR64 fixup at the image's last 8 bytes is
  ** valid, ABSOLUTE padding at offset 0xFFF and all. */
  size_t len;
  m_reloc_lowalign(b, &len);
  put16(b + 0x30A, 0xA1F8);
  pe_image *pe = parse_ok(b, len, "low-alignment image with relocations");
  assert_int_equal(pe->nrelocs, 2);
  assert_int_equal(pe_layout(pe, b, len, img, sizeof img, err, sizeof err),
                   PE_STATUS_SUCCESS);
  put64(img + 0x3F8, 0x140000010ull);
  assert_int_equal(pe_relocate(pe, img, 0x400, 0x150000000ull, 4096, NULL, 0,
                               err, sizeof err), PE_STATUS_SUCCESS);
  assert_true(get64(img + 0x3F8) == 0x150000010ull);
  pe_free(pe);

  /* Low alignment needs each section at the same offset in file and memory. */
  len = tiny(b, false, true);
  put32(b + S_SECT + 12, 0x400);
  put32(b + S_OPT + 56, 0x600);
  pe = NULL;
  assert_int_equal(pe_parse(b, len, &pe, err, sizeof err),
                   PE_STATUS_INVALID_IMAGE_FORMAT);
  assert_non_null(strstr(err, "must equal"));
}

/* --------------------------------------------------- malformed images */

typedef struct bad_case {
  const char *name;
  void (*mutate)(uint8_t *b, size_t *len);  /* or a poke: */
  uint32_t off;
  uint8_t width;                             /* 0: no poke */
  uint64_t value;
  size_t len;                                /* truncate to, 0: keep */
  pe_status status;
  const char *word;                          /* expected in the message */
} bad_case;

static void m_empty(uint8_t *b, size_t *len) { (void)b; *len = 0; }

/* A copy of a.dll's descriptor in the last 20 bytes of .rdata, so the
** array meets the section end before any null descriptor. */
static void m_imports_unterminated(uint8_t *b, size_t *len) {
  (void)len;
  memcpy(b + RD(R_END - 20), b + RD(R_IMPDESC), 20);
  put32(b + DIRENT(PE_DIR_IMPORT), RV(R_END - 20));
}

/* The DLL name runs to the last byte of the file (raw == mapped size). */
static void m_dll_name_at_eof(uint8_t *b, size_t *len) {
  (void)len;
  memset(b + RD(R_END - 8), 'x', 8);
  put32(b + RD(R_IMPDESC) + 12, RV(R_END - 8));
}

static void m_func_name_at_eof(uint8_t *b, size_t *len) {
  (void)len;
  put16(b + RD(R_END - 16), 9);
  memset(b + RD(R_END - 14), 'f', 14);
  put64(b + RD(R_ILT_A), RV(R_END - 16));
}

static void m_thunks_unterminated(uint8_t *b, size_t *len) {
  (void)len;
  put64(b + RD(R_END - 8), RV(R_HN_A));
  put32(b + RD(R_IMPDESC), RV(R_END - 8));
}

static void m_forwarder_no_nul(uint8_t *b, size_t *len) {
  (void)len;
  memset(b + RD(R_FWD), 'x', R_EXPDIR + R_EXPDIR_SIZE - R_FWD);
}

static void m_forwarder_no_dot(uint8_t *b, size_t *len) {
  (void)len;
  memcpy(b + RD(R_FWD), "bFuncB", 7);
}

/* A relocation block of 4102 slots: .rdata grows to 0x3000 bytes of memory
** (mostly zero-fill) to hold the directory. */
static void m_reloc_absurd(uint8_t *b, size_t *len) {
  (void)len;
  put32(b + SH(2, 8), 0x3000);
  put32(b + S_OPT + 56, 0x6000);
  put32(b + DIRENT(PE_DIR_BASERELOC), RV(0x400));
  put32(b + DIRENT(PE_DIR_BASERELOC) + 4, 0x2100);
  put32(b + RD(0x400), S_TEXT);
  put32(b + RD(0x404), 8 + 2 * 4102);
}

/* A low-alignment image (SizeOfImage 0x400) with a relocation block whose
** DIR64 fixup lands past the image, while its ABSOLUTE padding at offset
** 0xFFF, which writes nothing, is allowed. */
static void m_reloc_lowalign(uint8_t *b, size_t *len) {
  *len = tiny(b, false, true);
  put32(b + DIRENT(PE_DIR_BASERELOC), 0x300);
  put32(b + DIRENT(PE_DIR_BASERELOC) + 4, 12);
  put32(b + 0x300, 0x200);
  put32(b + 0x304, 12);
  put16(b + 0x308, 0x0FFF);              /* ABSOLUTE at 0x11FF: fine */
  put16(b + 0x30A, 0xA1FC);              /* DIR64 at [0x3FC,0x404) */
}

#define POKE(o, w, v) NULL, (o), (w), (v), 0
#define CUT(n) NULL, 0, 0, 0, (n)
#define MUT(f) (f), 0, 0, 0, 0
#define NOTMZ PE_STATUS_INVALID_IMAGE_NOT_MZ
#define BADFMT PE_STATUS_INVALID_IMAGE_FORMAT

static const bad_case bad_cases[] = {
  { "bad: empty file", MUT(m_empty), NOTMZ, "MZ" },
  { "bad: one byte", CUT(1), NOTMZ, "MZ" },
  { "bad: no MZ signature", POKE(0, 2, 0x4D5A), NOTMZ, "MZ" },
  { "bad: truncated in DOS header", CUT(0x30), BADFMT, "DOS header" },
  { "bad: truncated in file header", CUT(0x50), BADFMT, "truncated" },
  { "bad: truncated in optional header", CUT(0x100), BADFMT, "past the end" },
  { "bad: truncated in section table", CUT(0x160), BADFMT, "section table" },
  { "bad: truncated in raw data", CUT(0x1000), BADFMT, "raw data" },
  { "bad: e_lfanew past end", POKE(0x3C, 4, 0x4000), BADFMT, "e_lfanew" },
  { "bad: PE signature", POKE(S_LFANEW, 1, 'X'), BADFMT, "signature" },
  { "bad: NumberOfSections 0xFFFF", POKE(S_FH + 2, 2, 0xFFFF), BADFMT,
    "NumberOfSections" },
  { "bad: NumberOfSections 97", POKE(S_FH + 2, 2, 97), BADFMT, "limit" },
  { "bad: SizeOfOptionalHeader huge", POKE(S_FH + 16, 2, 0xFFFF), BADFMT,
    "SizeOfOptionalHeader" },
  { "bad: SizeOfOptionalHeader tiny", POKE(S_FH + 16, 2, 0x10), BADFMT,
    "SizeOfOptionalHeader" },
  { "bad: ROM magic", POKE(S_OPT, 2, 0x107), BADFMT, "magic" },
  { "bad: directories past optional header", POKE(S_FH + 16, 2, 192), BADFMT,
    "NumberOfRvaAndSizes" },
  { "bad: SectionAlignment not a power of two", POKE(S_OPT + 32, 4, 0x1001),
    BADFMT, "SectionAlignment" },
  { "bad: FileAlignment below 512", POKE(S_OPT + 36, 4, 0x100), BADFMT,
    "FileAlignment" },
  { "bad: SectionAlignment below FileAlignment", POKE(S_OPT + 36, 4, 0x2000),
    BADFMT, "smaller than FileAlignment" },
  { "bad: low alignment with FileAlignment != SectionAlignment",
    POKE(S_OPT + 32, 4, 0x800), BADFMT, "must equal" },
  { "bad: SizeOfImage unaligned", POKE(S_OPT + 56, 4, 0x3800), BADFMT,
    "SizeOfImage" },
  { "bad: SizeOfHeaders past end", POKE(S_OPT + 60, 4, 0x10000), BADFMT,
    "SizeOfHeaders" },
  { "bad: SizeOfHeaders short of section table", POKE(S_OPT + 60, 4, 0x100),
    BADFMT, "cover" },
  { "bad: entry point outside image", POKE(S_OPT + 16, 4, 0x5000), BADFMT,
    "AddressOfEntryPoint" },
  { "bad: ImageBase overflow", POKE(S_OPT + 24, 8, 0xFFFFFFFFFFFFF000ull),
    BADFMT, "overflows" },
  { "bad: section VA unaligned", POKE(SH(1, 12), 4, 0x2100), BADFMT,
    "multiple of SectionAlignment" },
  { "bad: sections overlap", POKE(SH(1, 12), 4, 0x1000), BADFMT, "overlaps" },
  { "bad: section overlaps headers", POKE(SH(0, 12), 4, 0), BADFMT,
    "headers" },
  { "bad: sections not adjacent", POKE(SH(2, 12), 4, 0x5000), BADFMT,
    "adjacent" },
  { "bad: section past SizeOfImage", POKE(SH(2, 8), 4, 0x2000), BADFMT,
    "SizeOfImage" },
  { "bad: section raw data past end", POKE(SH(2, 16), 4, 0x2000), BADFMT,
    "raw data" },
  { "bad: PointerToRawData unaligned", POKE(SH(0, 20), 4, 0x210), BADFMT,
    "PointerToRawData" },
  { "bad: reloc SizeOfBlock 0", POKE(S_RELOC_RAW + 4, 4, 0), BADFMT,
    "SizeOfBlock" },
  { "bad: reloc SizeOfBlock 3", POKE(S_RELOC_RAW + 4, 4, 3), BADFMT,
    "SizeOfBlock" },
  { "bad: reloc SizeOfBlock odd", POKE(S_RELOC_RAW + 4, 4, 13), BADFMT,
    "odd SizeOfBlock" },
  { "bad: reloc block past directory", POKE(S_RELOC_RAW + 4, 4, 0x20),
    BADFMT, "past the end" },
  { "bad: reloc directory runs off section",
    POKE(DIRENT(PE_DIR_BASERELOC) + 4, 4, 0x2000), BADFMT, "runs off" },
  { "bad: reloc directory outside image",
    POKE(DIRENT(PE_DIR_BASERELOC), 4, 0x80000), BADFMT, "outside" },
  { "bad: reloc unknown type", POKE(S_RELOC_RAW + 8, 2, 0x6000), BADFMT,
    "unknown type" },
  { "bad: reloc target outside image", POKE(S_RELOC_RAW, 4, 0x3FF8), BADFMT,
    "outside" },
  { "bad: reloc page outside image", POKE(S_RELOC_RAW, 4, 0x80000), BADFMT,
    "page RVA" },
  { "bad: reloc target outside a low-alignment image",
    MUT(m_reloc_lowalign), BADFMT, "outside" },
  { "bad: reloc HIGHADJ without parameter", POKE(S_RELOC_RAW + 14, 2, 0x4000),
    BADFMT, "parameter" },
  { "bad: reloc absurd count", MUT(m_reloc_absurd), BADFMT, "absurd" },
  { "bad: import descriptors unterminated", MUT(m_imports_unterminated),
    BADFMT, "terminator" },
  { "bad: import DLL name without NUL at end of file", MUT(m_dll_name_at_eof),
    BADFMT, "unterminated" },
  { "bad: import name without NUL at end of file", MUT(m_func_name_at_eof),
    BADFMT, "unterminated" },
  { "bad: import thunks unterminated", MUT(m_thunks_unterminated), BADFMT,
    "thunks" },
  { "bad: import name RVA out of range", POKE(RD(R_ILT_A), 8, 0x7FFF0000),
    BADFMT, "outside" },
  { "bad: import thunk reserved bits", POKE(RD(R_ILT_A), 8, 0x100003000ull),
    BADFMT, "reserved" },
  { "bad: import IAT outside image", POKE(RD(R_IMPDESC) + 16, 4, 0x10000),
    BADFMT, "outside" },
  { "bad: import directory outside image",
    POKE(DIRENT(PE_DIR_IMPORT), 4, 0x9000), BADFMT, "outside" },
  { "bad: export name RVA out of range", POKE(RD(R_NPT), 4, 0x90000), BADFMT,
    "export name" },
  { "bad: export ordinal index past table", POKE(RD(R_EOT), 2, 5), BADFMT,
    "ordinal index" },
  { "bad: export NumberOfFunctions absurd",
    POKE(RD(R_EXPDIR) + 20, 4, 0x40000000), BADFMT, "NumberOfFunctions" },
  { "bad: export NumberOfNames absurd",
    POKE(RD(R_EXPDIR) + 24, 4, 0x40000000), BADFMT, "NumberOfNames" },
  { "bad: export forwarder without NUL", MUT(m_forwarder_no_nul), BADFMT,
    "forwarder" },
  { "bad: export forwarder without dot", MUT(m_forwarder_no_dot), BADFMT,
    "DLL.Func" },
  { "bad: export RVA outside image", POKE(RD(R_EAT) + 8, 4, 0x8000), BADFMT,
    "outside" },
  { "bad: export address table runs off section",
    POKE(RD(R_EXPDIR) + 28, 4, RV(R_END - 4)), BADFMT, "runs off" },
  { "bad: export DLL name outside image", POKE(RD(R_EXPDIR) + 12, 4, 0x9000),
    BADFMT, "outside" },
  { "bad: export directory past SizeOfImage",
    POKE(DIRENT(PE_DIR_EXPORT) + 4, 4, 0x10000), BADFMT, "SizeOfImage" },
};
#define NBAD (sizeof bad_cases / sizeof bad_cases[0])

static size_t make_bad(const bad_case *c, uint8_t *b) {
  size_t len = S_LEN;
  synth(b);
  if (c->width) {
    uint8_t v[8];
    put64(v, c->value);                 /* little-endian: low bytes first */
    memcpy(b + c->off, v, c->width);
  }
  if (c->len) len = c->len;
  if (c->mutate) c->mutate(b, &len);
  return len;
}

static void test_bad_input(void **state) {
  const bad_case *c = *state;
  uint8_t b[S_LEN];
  char err[PE_ERR_SIZE];
  static pe_image dummy;
  pe_image *pe = &dummy;                /* must be reset to NULL */
  size_t len = make_bad(c, b);
  pe_status st = pe_parse(b, len, &pe, err, sizeof err);
  print_message("%s -> 0x%08x %s\n", c->name, st, err);
  assert_null(pe);
  if (st != c->status)
    failf("%s: status 0x%08x, expected 0x%08x (%s)", c->name, st, c->status,
          err);
  if (!strstr(err, c->word))
    failf("%s: message \"%s\" lacks \"%s\"", c->name, err, c->word);
  /* A short buffer truncates the message but never overflows it. */
  char small[8] = "abcdefg";
  assert_int_equal(pe_parse(b, len, &pe, small, 4), c->status);
  assert_int_equal(strlen(small), 3);
  assert_int_equal(pe_parse(b, len, &pe, NULL, 0), c->status);
}

/* Every prefix of the synthetic image fails cleanly: its last section's raw
** data ends at the end of the file. */
static void test_synth_truncated_everywhere(void **state) {
  uint8_t b[S_LEN];
  char err[PE_ERR_SIZE];
  (void)state;
  synth(b);
  for (size_t n = 0; n < S_LEN; n += stride(7)) {
    pe_image *pe = NULL;
    uint8_t *copy = malloc(n ? n : 1);  /* exact size, so ASan sees overreads */
    assert_non_null(copy);
    memcpy(copy, b, n);
    pe_status st = pe_parse(copy, n, &pe, err, sizeof err);
    free(copy);
    if (st != PE_STATUS_INVALID_IMAGE_FORMAT
        && st != PE_STATUS_INVALID_IMAGE_NOT_MZ)
      failf("prefix of %zu bytes: status 0x%08x", n, st);
    assert_null(pe);
    assert_true(err[0] != '\0');
  }
}

/* Every single-byte corruption either fails or gives an image that lays
** out and relocates; run under ASan this is a small deterministic fuzz. */
static void test_synth_byte_flips(void **state) {
  static const uint8_t masks[] = { 0x01, 0x80, 0xFF, 0x10 };
  uint8_t b[S_LEN], *img = malloc(S_IMAGE), pages[1];
  char err[PE_ERR_SIZE];
  unsigned ok = 0, bad = 0;
  (void)state;
  assert_non_null(img);
  for (size_t i = 0; i < S_LEN; i += stride(5)) {
    for (size_t m = 0; m < sizeof masks; m += stride(sizeof masks)) {
      pe_image *pe = NULL;
      synth(b);
      b[i] ^= masks[m];
      pe_status st = pe_parse(b, S_LEN, &pe, err, sizeof err);
      if (st) {
        assert_null(pe);
        bad++;
        continue;
      }
      ok++;
      if (pe->size_of_image > S_IMAGE) {
        pe_free(pe);
        continue;
      }
      assert_int_equal(pe_layout(pe, b, S_LEN, img, S_IMAGE, err, sizeof err),
                       PE_STATUS_SUCCESS);
      st = pe_relocate(pe, img, S_IMAGE, 0x10000, 4096, pages, sizeof pages,
                       err, sizeof err);
      assert_true(st == PE_STATUS_SUCCESS
                  || (st == PE_STATUS_INVALID_IMAGE_FORMAT
                      && (pe->characteristics & PE_FILE_RELOCS_STRIPPED))
                  || (st == PE_STATUS_INVALID_PARAMETER && !pe->pe32plus));
      pe_free(pe);
    }
  }
  print_message("byte flips: %u parsed, %u rejected\n", ok, bad);
  assert_true(ok > 0 && bad > 0);
  free(img);
}

/* Every allocation failure is reported as STATUS_NO_MEMORY and leaks
** nothing (ASan's leak checker watches). */
static void test_synth_out_of_memory(void **state) {
  uint8_t b[S_LEN];
  char err[PE_ERR_SIZE];
  pe_options opt = { 0 };
  unsigned fails = 0;
  (void)state;
  synth(b);
  for (opt.mem_limit = 1;; opt.mem_limit += 8) {
    pe_image *pe = NULL;
    pe_status st = pe_parse_ex(b, S_LEN, &opt, &pe, err, sizeof err);
    if (st == PE_STATUS_SUCCESS) {
      pe_free(pe);
      break;
    }
    assert_int_equal(st, PE_STATUS_NO_MEMORY);
    assert_null(pe);
    assert_non_null(strstr(err, "memory"));
    fails++;
    assert_true(opt.mem_limit < 1 << 20);
  }
  print_message("%u limits failed before %zu bytes sufficed\n", fails,
                opt.mem_limit);
  assert_true(fails > 10);
}

/* ------------------------------------------------ relocation by type */

typedef struct reloc_case {
  const char *name;
  bool plus;                            /* PE32+ */
  uint8_t type;
  uint16_t offset, param;
  unsigned width;                       /* bytes of the field */
  uint64_t before, new_base, after;
} reloc_case;

#define B64 0x180000000ull
#define B32 0x10000000ull
static const reloc_case reloc_cases[] = {
  { "ABSOLUTE is skipped", true, PE_REL_ABSOLUTE, 0x10, 0, 8,
    0x1111111111111111ull, B64 + 0x120000, 0x1111111111111111ull },
  { "HIGH adds the delta's high half", true, PE_REL_HIGH, 0x20, 0, 2,
    0x1000, B64 + 0x120000, 0x1012 },
  { "HIGH wraps", false, PE_REL_HIGH, 0x20, 0, 2, 0xFFFF, B32 + 0x20000,
    0x0001 },
  { "HIGH ignores the carry of the delta's low half", false, PE_REL_HIGH,
    0x20, 0, 2, 0x8000, B32 + 0x1FFFF, 0x8001 },
  { "LOW adds the delta's low half", true, PE_REL_LOW, 0x30, 0, 2, 0xFFF0,
    B64 + 0x120034, 0x0024 },
  { "HIGHLOW adds 32 bits", false, PE_REL_HIGHLOW, 0x40, 0, 4, 0x10001234,
    0x7FFE0000, 0x7FFE1234 },
  { "HIGHLOW with a negative delta", false, PE_REL_HIGHLOW, 0x40, 0, 4,
    0x10001234, 0x00400000, 0x00401234 },
  { "HIGHLOW in PE32+ uses the low 32 bits", true, PE_REL_HIGHLOW, 0x40, 0,
    4, 0x80001000, B64 + 0x120000, 0x80121000 },
  { "DIR64 adds 64 bits", true, PE_REL_DIR64, 0x50, 0, 8, B64 + 0x1000,
    0x7FF612340000ull, 0x7FF612341000ull },
  { "DIR64 with a negative delta", true, PE_REL_DIR64, 0x50, 0, 8,
    B64 + 0x1000, 0x10000, 0x11000 },
  { "HIGHADJ carries from a negative low half", true, PE_REL_HIGHADJ, 0x60,
    0x8000, 2, 0x1234, B64 + 0x18000, 0x1235 },
  { "HIGHADJ rounds up when the low half turns negative", false,
    PE_REL_HIGHADJ, 0x60, 0x7FF0, 2, 0x1234, B32 + 0x10, 0x1235 },
  { "HIGHADJ without carry", false, PE_REL_HIGHADJ, 0x60, 0x0010, 2, 0x1234,
    B32 + 0x20000, 0x1236 },
};

static void hand_image(pe_image *pe, bool plus, pe_reloc_block *blk,
                       uint32_t nblk) {
  memset(pe, 0, sizeof *pe);
  pe->pe32plus = plus;
  pe->image_base = plus ? B64 : B32;
  pe->image_base_offset = 0x98;
  pe->size_of_image = 0x3000;
  pe->size_of_headers = 0x400;
  pe->section_alignment = 0x1000;
  pe->file_alignment = 0x200;
  pe->reloc_blocks = blk;
  pe->nreloc_blocks = nblk;
}

static uint64_t get_n(const uint8_t *b, unsigned w) {
  return w == 2 ? get16(b) : w == 4 ? get32(b) : get64(b);
}
static void put_n(uint8_t *b, unsigned w, uint64_t v) {
  if (w == 2) put16(b, (uint16_t)v);
  else if (w == 4) put32(b, (uint32_t)v);
  else put64(b, v);
}

static void test_relocate_each_type(void **state) {
  uint8_t img[0x3000], pages[1];
  char err[PE_ERR_SIZE];
  (void)state;
  for (size_t k = 0; k < sizeof reloc_cases / sizeof reloc_cases[0]; k++) {
    const reloc_case *c = &reloc_cases[k];
    pe_reloc x = { c->offset, c->type, c->param };
    pe_reloc_block blk = { 0x1000, 1, &x };
    pe_image pe;
    hand_image(&pe, c->plus, &blk, 1);
    memset(img, 0xEE, sizeof img);
    put_n(img + pe.image_base_offset, c->plus ? 8 : 4, pe.image_base);
    put_n(img + 0x1000 + c->offset, c->width, c->before);
    pages[0] = 0;
    pe_status st = pe_relocate(&pe, img, sizeof img, c->new_base, 4096,
                               pages, sizeof pages, err, sizeof err);
    if (st) failf("%s: 0x%08x %s", c->name, st, err);
    uint64_t got = get_n(img + 0x1000 + c->offset, c->width);
    if (got != c->after)
      failf("%s: 0x%llx, expected 0x%llx", c->name, (unsigned long long)got,
            (unsigned long long)c->after);
    assert_true(get_n(img + pe.image_base_offset, c->plus ? 8 : 4)
                == c->new_base);
    assert_int_equal(pages[0], c->type == PE_REL_ABSOLUTE ? 0x01 : 0x03);
  }
}

/* HIGHADJ keeps its promise: the new high half, plus the low half after a
** LOW fixup, read as signed, gives the relocated address. */
static void test_relocate_highadj_identity(void **state) {
  uint8_t img[0x3000];
  char err[PE_ERR_SIZE];
  (void)state;
  for (uint32_t i = 0; i < 2000; i++) {
    uint32_t addr = 0x10000000u + i * 0x9E37u;
    uint32_t delta = i * 0x7F4A7C15u;
    uint16_t low = (uint16_t)addr;
    uint16_t high = (uint16_t)((addr + 0x8000u) >> 16);
    pe_reloc x[2] = { { 0x10, PE_REL_HIGHADJ, low }, { 0x12, PE_REL_LOW, 0 } };
    pe_reloc_block blk = { 0x1000, 2, x };
    pe_image pe;
    hand_image(&pe, false, &blk, 1);
    memset(img, 0, sizeof img);
    put32(img + pe.image_base_offset, B32);
    put16(img + 0x1010, high);
    put16(img + 0x1012, low);
    if (B32 + delta > UINT32_MAX - pe.size_of_image) continue;
    assert_int_equal(pe_relocate(&pe, img, sizeof img, B32 + delta, 4096,
                                 NULL, 0, err, sizeof err), PE_STATUS_SUCCESS);
    uint32_t v = ((uint32_t)get16(img + 0x1010) << 16)
               + (uint32_t)(int32_t)(int16_t)get16(img + 0x1012);
    assert_int_equal(v, addr + delta);
  }
}

/* A fixup that straddles a page boundary marks both pages. */
static void test_relocate_straddle(void **state) {
  uint8_t img[0x3000], pages[3] = { 0, 0, 0 };
  char err[PE_ERR_SIZE];
  pe_reloc x = { 0x1FE, PE_REL_HIGHLOW, 0 };
  pe_reloc_block blk = { 0x1000, 1, &x };
  pe_image pe;
  (void)state;
  hand_image(&pe, false, &blk, 1);
  memset(img, 0, sizeof img);
  put32(img + pe.image_base_offset, B32);
  put32(img + 0x11FE, 0x10002000);
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x20000000, 512, pages,
                               sizeof pages, err, sizeof err),
                   PE_STATUS_SUCCESS);
  assert_int_equal(get32(img + 0x11FE), 0x20002000);
  assert_int_equal(pages[0], 0x01);             /* the ImageBase field */
  assert_int_equal(pages[1], 0x03);             /* 512-byte pages 8 and 9 */
}

static void test_relocate_errors(void **state) {
  uint8_t img[0x3000], ref[0x3000], pages[1];
  char err[PE_ERR_SIZE];
  pe_reloc x[2] = { { 0x10, PE_REL_DIR64, 0 }, { 0xFFC, PE_REL_DIR64, 0 } };
  pe_reloc_block blk[2] = { { 0x1000, 1, &x[0] }, { 0x2000, 1, &x[1] } };
  pe_image pe;
  (void)state;
  memset(ref, 0x5A, sizeof ref);
  put64(ref + 0x98, B64);               /* hand_image's ImageBase field */
  memcpy(img, ref, sizeof img);

  /* The second block writes [0x2FFC, 0x3004): past SizeOfImage. Nothing,
  ** not even the first block's fixup, may be written. */
  hand_image(&pe, true, blk, 2);
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x10000, 4096, pages,
                               sizeof pages, err, sizeof err),
                   PE_STATUS_INVALID_IMAGE_FORMAT);
  assert_non_null(strstr(err, "outside"));
  assert_memory_equal(img, ref, sizeof img);

  x[1].type = 7;
  x[1].offset = 0;
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x10000, 4096, pages,
                               sizeof pages, err, sizeof err),
                   PE_STATUS_INVALID_IMAGE_FORMAT);
  assert_non_null(strstr(err, "unknown type"));
  assert_memory_equal(img, ref, sizeof img);

  hand_image(&pe, true, blk, 1);
  assert_int_equal(pe_relocate(&pe, img, sizeof img - 1, 0x10000, 4096,
                               pages, sizeof pages, err, sizeof err),
                   PE_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "SizeOfImage"));
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x10000, 3000, pages,
                               sizeof pages, err, sizeof err),
                   PE_STATUS_INVALID_PARAMETER);
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x10000, 512, pages,
                               sizeof pages, err, sizeof err),
                   PE_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "bitmap"));
  pe.image_base_offset = 0x3FC;               /* field past SizeOfHeaders */
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x10000, 4096, NULL, 0,
                               err, sizeof err),
                   PE_STATUS_INVALID_IMAGE_FORMAT);
  assert_non_null(strstr(err, "ImageBase"));
  assert_memory_equal(img, ref, sizeof img);

  hand_image(&pe, false, blk, 1);
  put32(ref + 0x98, B32);
  memcpy(img, ref, sizeof img);
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x100000000ull, 4096,
                               NULL, 0, err, sizeof err),
                   PE_STATUS_INVALID_PARAMETER);
  assert_non_null(strstr(err, "PE32"));
  pe.characteristics = PE_FILE_RELOCS_STRIPPED;
  assert_int_equal(pe_relocate(&pe, img, sizeof img, 0x20000000, 4096, NULL,
                               0, err, sizeof err),
                   PE_STATUS_INVALID_IMAGE_FORMAT);
  assert_non_null(strstr(err, "stripped"));
  assert_int_equal(pe_relocate(&pe, img, sizeof img, B32, 4096, NULL, 0, err,
                               sizeof err), PE_STATUS_SUCCESS);
  assert_memory_equal(img, ref, sizeof img);
}

/* WINDOWS.md A.12.2, row by row. */
static void test_section_protect_table(void **state) {
  static const struct { uint32_t c, prot; } rows[] = {
    { 0, PE_PAGE_NOACCESS },
    { PE_SCN_MEM_READ, PE_PAGE_READONLY },
    { PE_SCN_MEM_WRITE, PE_PAGE_WRITECOPY },
    { PE_SCN_MEM_EXECUTE, PE_PAGE_EXECUTE },
    { PE_SCN_MEM_READ | PE_SCN_MEM_WRITE, PE_PAGE_WRITECOPY },
    { PE_SCN_MEM_READ | PE_SCN_MEM_EXECUTE, PE_PAGE_EXECUTE_READ },
    { PE_SCN_MEM_WRITE | PE_SCN_MEM_EXECUTE, PE_PAGE_EXECUTE_WRITECOPY },
    { PE_SCN_MEM_READ | PE_SCN_MEM_WRITE | PE_SCN_MEM_EXECUTE,
      PE_PAGE_EXECUTE_WRITECOPY },
    { PE_SCN_MEM_SHARED, PE_PAGE_NOACCESS },
    { PE_SCN_MEM_SHARED | PE_SCN_MEM_READ, PE_PAGE_READONLY },
    { PE_SCN_MEM_SHARED | PE_SCN_MEM_READ | PE_SCN_MEM_EXECUTE,
      PE_PAGE_EXECUTE_READ },
    { PE_SCN_MEM_SHARED | PE_SCN_MEM_WRITE, PE_PAGE_READWRITE },
    { PE_SCN_MEM_SHARED | PE_SCN_MEM_READ | PE_SCN_MEM_WRITE,
      PE_PAGE_READWRITE },
    { PE_SCN_MEM_SHARED | PE_SCN_MEM_WRITE | PE_SCN_MEM_EXECUTE,
      PE_PAGE_EXECUTE_READWRITE },
    { PE_SCN_MEM_SHARED | PE_SCN_MEM_READ | PE_SCN_MEM_WRITE
      | PE_SCN_MEM_EXECUTE, PE_PAGE_EXECUTE_READWRITE },
    /* content flags change nothing */
    { PE_SCN_CNT_CODE | PE_SCN_CNT_UNINITIALIZED_DATA | PE_SCN_MEM_READ,
      PE_PAGE_READONLY },
  };
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (pe_section_protect(rows[i].c) != rows[i].prot)
      failf("characteristics 0x%08x: protect 0x%x, expected 0x%x", rows[i].c,
            pe_section_protect(rows[i].c), rows[i].prot);
}

/* --------------------------------------------------- objdump comparison */

typedef struct od {
  const char *path;                     /* the image, for messages */
  char *text;                           /* objdump -p -h output */
} od;

static bool tool_exists(const char *tool) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
  return system(cmd) == 0;
}

static char *run_objdump(const char *tool, const char *path) {
  char cmd[1200];
  size_t cap = 1 << 16, n = 0, k;
  if (strchr(path, '\'') || strlen(path) > 1000) return NULL;
  snprintf(cmd, sizeof cmd, "%s -p -h '%s' 2>/dev/null", tool, path);
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  char *s = malloc(cap);
  assert_non_null(s);
  while ((k = fread(s + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (n == cap - 1) {
      cap *= 2;
      s = realloc(s, cap);
      assert_non_null(s);
    }
  }
  s[n] = '\0';
  if (pclose(f) != 0 || n == 0) {
    free(s);
    return NULL;
  }
  return s;
}

static const char *next_line(const char *l) {
  const char *e = strchr(l, '\n');
  return e ? e + 1 : NULL;
}

/* The hex value of objdump's "Key<spaces or tabs>value" header line. */
static bool od_hex(const od *o, const char *key, uint64_t *v) {
  size_t kl = strlen(key);
  for (const char *l = o->text; l && *l; l = next_line(l)) {
    if (strncmp(l, key, kl) == 0 && (l[kl] == ' ' || l[kl] == '\t')) {
      *v = strtoull(l + kl, NULL, 16);
      return true;
    }
  }
  return false;
}

static void od_field(const od *o, const char *key, uint64_t ours) {
  uint64_t theirs = 0;
  if (!od_hex(o, key, &theirs))
    failf("%s: objdump printed no %s", o->path, key);
  if (theirs != ours)
    failf("%s: %s: objdump 0x%llx, pe.c 0x%llx", o->path, key,
          (unsigned long long)theirs, (unsigned long long)ours);
}

static bool has_flag(const char *flags, const char *word) {
  size_t wl = strlen(word);
  for (const char *p = flags; (p = strstr(p, word)) != NULL; p += wl)
    if ((p == flags || p[-1] == ' ') && (p[wl] == ',' || p[wl] == '\n'
                                         || p[wl] == '\0'))
      return true;
  return false;
}

static void od_sections(const od *o, const pe_image *pe) {
  const char *l = strstr(o->text, "\nSections:\n");
  uint32_t seen = 0;
  if (!l) failf("%s: objdump printed no section table", o->path);
  l = next_line(next_line(l + 1));      /* skip the column titles */
  for (; l && *l; l = next_line(l)) {
    unsigned idx, size, off;
    unsigned long long vma, lma;
    char name[64];
    if (sscanf(l, " %u %63s %x %llx %llx %x", &idx, name, &size, &vma, &lma,
               &off) != 6)
      break;
    l = next_line(l);                   /* the flags line */
    if (!l || idx >= pe->nsections)
      failf("%s: objdump section %u is extra", o->path, idx);
    const pe_section *s = &pe->sections[idx];
    uint32_t c = s->characteristics;
    /* BFD shows VirtualSize when the raw size is padding or absent. */
    uint32_t want = s->virtual_size
        && (((c & PE_SCN_CNT_UNINITIALIZED_DATA) && s->raw_size == 0)
            || s->raw_size > s->virtual_size) ? s->virtual_size : s->raw_size;
    char line[160];
    const char *e = strchr(l, '\n');
    size_t ll = e ? (size_t)(e - l) : strlen(l);
    snprintf(line, sizeof line, "%.*s", (int)(ll < 159 ? ll : 159), l);
    if (s->name[0] != '/' && strcmp(name, s->name) != 0)
      failf("%s: section %u name: objdump %s, pe.c %s", o->path, idx, name,
            s->name);
    if (vma != pe->image_base + s->va || off != s->raw_ptr || size != want)
      failf("%s: section %u (%s): objdump vma 0x%llx size 0x%x off 0x%x, "
            "pe.c vma 0x%llx size 0x%x off 0x%x", o->path, idx, name, vma,
            size, off, (unsigned long long)(pe->image_base + s->va), want,
            s->raw_ptr);
    if (has_flag(line, "READONLY") != !(c & PE_SCN_MEM_WRITE)
        || has_flag(line, "CODE")
           != !!(c & (PE_SCN_CNT_CODE | PE_SCN_MEM_EXECUTE))
        || (!has_flag(line, "DEBUGGING")    /* BFD drops DATA there */
            && has_flag(line, "DATA") != !!(c & PE_SCN_CNT_INITIALIZED_DATA))
        || has_flag(line, "SHARED") != !!(c & PE_SCN_MEM_SHARED))
      failf("%s: section %u (%s): objdump flags \"%s\" disagree with "
            "characteristics 0x%08x", o->path, idx, name, line, c);
    seen++;
  }
  if (seen != pe->nsections)
    failf("%s: objdump lists %u sections, pe.c %u", o->path, seen,
          pe->nsections);
}

static void od_dirs(const od *o, const pe_image *pe) {
  unsigned n = 0;
  for (const char *l = o->text; l && *l; l = next_line(l)) {
    unsigned i, size;
    unsigned long long rva;
    if (strncmp(l, "Entry ", 6) != 0
        || sscanf(l, "Entry %x %llx %x", &i, &rva, &size) != 3)
      continue;
    if (i < PE_NUM_DIRS && (rva != pe->dirs[i].rva || size != pe->dirs[i].size))
      failf("%s: data directory %u: objdump 0x%llx+0x%x, pe.c 0x%x+0x%x",
            o->path, i, rva, size, pe->dirs[i].rva, pe->dirs[i].size);
    n++;
  }
  if (n != pe->ndirs) failf("%s: objdump lists %u directories", o->path, n);
}

static void od_imports(const od *o, const pe_image *pe) {
  int k = -1;                           /* current DLL, -1 before the first */
  uint32_t j = 0;
  bool in_dll = false;
  const char *l = strstr(o->text, "\nThe Import Tables");
  if (!l) {
    if (pe->nimports) failf("%s: objdump printed no imports", o->path);
    return;
  }
  for (; l && *l; l = next_line(l)) {
    char tok[3][512];
    if (strncmp(l, "\tDLL Name: ", 11) == 0) {
      if (in_dll && j != pe->imports[k].nfuncs)
        failf("%s: %s: objdump %u functions, pe.c %u", o->path,
              pe->imports[k].dll, j, pe->imports[k].nfuncs);
      k++;
      j = 0;
      in_dll = true;
      if ((uint32_t)k >= pe->nimports) failf("%s: extra import", o->path);
      if (sscanf(l + 11, "%511s", tok[0]) != 1
          || strcmp(tok[0], pe->imports[k].dll) != 0)
        failf("%s: import %d: objdump %s, pe.c %s", o->path, k, tok[0],
              pe->imports[k].dll);
    } else if (in_dll && (*l == '\n' || strncmp(l, "The ", 4) == 0)) {
      if (j != pe->imports[k].nfuncs)
        failf("%s: %s: objdump %u functions, pe.c %u", o->path,
              pe->imports[k].dll, j, pe->imports[k].nfuncs);
      in_dll = false;
    } else if (in_dll && l[0] == '\t'
               && sscanf(l, "%511s %511s %511s", tok[0], tok[1], tok[2]) == 3
               && strcmp(tok[0], "vma:") != 0) {
      if (j >= pe->imports[k].nfuncs)
        failf("%s: %s: extra function %s", o->path, pe->imports[k].dll,
              tok[2]);
      const pe_import_func *f = &pe->imports[k].funcs[j++];
      if (strcmp(tok[2], "<none>") == 0) {
        if (f->name || strtoul(tok[1], NULL, 16) != f->ordinal)
          failf("%s: %s: objdump ordinal %s, pe.c %s/#%u", o->path,
                pe->imports[k].dll, tok[1], f->name ? f->name : "-",
                f->ordinal);
      } else if (!f->name || strcmp(f->name, tok[2]) != 0
                 || strtoul(tok[1], NULL, 10) != f->hint) {
        failf("%s: %s: objdump %s hint %s, pe.c %s hint %u", o->path,
              pe->imports[k].dll, tok[2], tok[1], f->name ? f->name : "-",
              f->hint);
      }
    } else if (strncmp(l, "There is an export", 18) == 0
               || strncmp(l, "Sections:", 9) == 0
               || strncmp(l, "PE File Base", 12) == 0) {
      break;
    }
  }
  if ((uint32_t)(k + 1) != pe->nimports)
    failf("%s: objdump lists %d imported DLLs, pe.c %u", o->path, k + 1,
          pe->nimports);
}

static void od_exports(const od *o, const pe_image *pe) {
  const char *l = strstr(o->text, "\nThe Export Tables");
  unsigned eat = 0, names = 0, slots = 0, named = 0;
  bool in_names = false;
  if (!l) {
    if (pe->nexports) failf("%s: objdump printed no exports", o->path);
    return;
  }
  for (uint32_t i = 0; i < pe->nexports; i++) {
    if (i == 0 || pe->exports[i].ordinal != pe->exports[i - 1].ordinal)
      slots++;
    if (pe->exports[i].name) named++;
  }
  for (l = next_line(l + 1); l && *l; l = next_line(l)) {
    unsigned idx, ord, rva;
    unsigned long long nrva;
    char name[512], kind[16];
    if (sscanf(l, "Name %llx %511s", &nrva, name) == 2) {
      if (!pe->export_dll || strcmp(name, pe->export_dll) != 0)
        failf("%s: export DLL name: objdump %s, pe.c %s", o->path, name,
              pe->export_dll ? pe->export_dll : "(none)");
    } else if (sscanf(l, "Ordinal Base %u", &ord) == 1) {
      if (ord != pe->export_base)
        failf("%s: ordinal base: objdump %u, pe.c %u", o->path, ord,
              pe->export_base);
    } else if (sscanf(l, "\t[%u] +base[%u] %x %15s", &idx, &ord, &rva,
                      kind) == 4) {
      const pe_export *x = find_export(pe, ord);
      const char *fwd = strstr(l, "-- ");
      char fwdname[512] = "";
      if (fwd) sscanf(fwd + 3, "%511s", fwdname);
      if (!x || x->rva != rva
          || (strcmp(kind, "Forwarder") == 0) != (x->forwarder != NULL)
          || (x->forwarder && strcmp(x->forwarder, fwdname) != 0))
        failf("%s: export ordinal %u: objdump %s 0x%x %s, pe.c %s", o->path,
              ord, kind, rva, fwdname, x ? "differs" : "lacks it");
      eat++;
    } else if (strncmp(l, "[Ordinal/Name Pointer] Table", 28) == 0) {
      in_names = true;
    } else if (in_names && sscanf(l, "\t[%u] %511s", &idx, name) == 2) {
      bool found = false;
      for (uint32_t i = 0; i < pe->nexports; i++)
        if (pe->exports[i].ordinal == pe->export_base + idx
            && pe->exports[i].name && strcmp(pe->exports[i].name, name) == 0)
          found = true;
      if (!found)
        failf("%s: objdump export %s (index %u) not in pe.c", o->path, name,
              idx);
      names++;
    } else if (in_names && *l != '\t') {
      break;
    }
  }
  if (eat != slots || names != named)
    failf("%s: objdump %u addresses / %u names, pe.c %u / %u", o->path, eat,
          names, slots, named);
}

static const char *reloc_name(unsigned t) {
  static const char *const names[] = { "ABSOLUTE", "HIGH", "LOW", "HIGHLOW",
                                       "HIGHADJ" };
  return t < 5 ? names[t] : t == PE_REL_DIR64 ? "DIR64" : "?";
}

static void od_relocs(const od *o, const pe_image *pe) {
  const char *l = strstr(o->text, "\nPE File Base Relocations");
  uint32_t b = 0, j = 0;
  if (!l) {
    if (pe->nreloc_blocks) failf("%s: objdump printed no relocs", o->path);
    return;
  }
  for (l = next_line(l + 1); l && *l; l = next_line(l)) {
    unsigned va, size, size2, n, idx, off, at;
    char type[32];
    if (sscanf(l, "Virtual Address: %x Chunk size %u (0x%x) Number of "
               "fixups %u", &va, &size, &size2, &n) == 4) {
      if (b > 0 && j != pe->reloc_blocks[b - 1].nentries)
        failf("%s: relocation block %u: %u fixups seen", o->path, b - 1, j);
      if (b >= pe->nreloc_blocks || va != pe->reloc_blocks[b].page_rva
          || n != pe->reloc_blocks[b].nentries)
        failf("%s: relocation block %u: objdump page 0x%x, %u fixups", o->path,
              b, va, n);
      b++;
      j = 0;
    } else if (sscanf(l, "\treloc %u offset %x [%x] %31s", &idx, &off, &at,
                      type) == 4) {
      if (b == 0 || j >= pe->reloc_blocks[b - 1].nentries)
        failf("%s: objdump relocation %s at 0x%x is extra", o->path, type,
              off);
      const pe_reloc *x = &pe->reloc_blocks[b - 1].entries[j++];
      if (x->offset != off || strcmp(type, reloc_name(x->type)) != 0)
        failf("%s: relocation %u of block %u: objdump %s at 0x%x, pe.c %s at "
              "0x%x", o->path, j - 1, b - 1, type, off, reloc_name(x->type),
              x->offset);
    } else if (*l != '\n' && *l != '\t') {
      break;
    }
  }
  if (b != pe->nreloc_blocks)
    failf("%s: objdump %u relocation blocks, pe.c %u", o->path, b,
          pe->nreloc_blocks);
}

/* Compares everything objdump -p -h prints that pe.c also knows. Skips the
** test when the objdump for the image's format is not installed. */
static void compare_with_objdump(const char *path, const pe_image *pe) {
  const char *tool = pe->pe32plus ? "x86_64-w64-mingw32-objdump"
                                  : "i686-w64-mingw32-objdump";
  if (!tool_exists(tool)) {
    print_message("%s not installed: skipping\n", tool);
    skip();
  }
  od o = { path, run_objdump(tool, path) };
  if (!o.text) failf("%s: %s failed", path, tool);
  od_field(&o, "Characteristics", pe->characteristics);
  od_field(&o, "Magic", pe->magic);
  od_field(&o, "AddressOfEntryPoint", pe->entry_point);
  od_field(&o, "ImageBase", pe->image_base);
  od_field(&o, "SectionAlignment", pe->section_alignment);
  od_field(&o, "FileAlignment", pe->file_alignment);
  od_field(&o, "SizeOfImage", pe->size_of_image);
  od_field(&o, "SizeOfHeaders", pe->size_of_headers);
  od_field(&o, "Subsystem", pe->subsystem);
  od_field(&o, "DllCharacteristics", pe->dll_characteristics);
  od_field(&o, "SizeOfStackReserve", pe->stack_reserve);
  od_field(&o, "SizeOfStackCommit", pe->stack_commit);
  od_field(&o, "SizeOfHeapReserve", pe->heap_reserve);
  od_field(&o, "SizeOfHeapCommit", pe->heap_commit);
  od_field(&o, "NumberOfRvaAndSizes", pe->ndirs);
  od_dirs(&o, pe);
  od_sections(&o, pe);
  od_imports(&o, pe);
  od_exports(&o, pe);
  od_relocs(&o, pe);
  free(o.text);
}

/* -------------------------------------------------------- real images */

/* Layout agrees with the section table byte for byte, and relocating to
** another base and back restores it; the pages marked are exactly those
** whose bytes changed. */
static void check_layout_relocate(const char *path, const pe_image *pe,
                                  const uint8_t *b, size_t len) {
  char err[PE_ERR_SIZE];
  uint8_t *img = malloc(pe->size_of_image), *orig = malloc(pe->size_of_image);
  size_t nbm = pe_page_bitmap_bytes(pe, 4096);
  uint8_t *pages = calloc(nbm, 1);
  assert_true(img && orig && pages);
  if (pe_layout(pe, b, len, orig, pe->size_of_image, err, sizeof err))
    failf("%s: layout: %s", path, err);
  assert_memory_equal(orig, b, pe->size_of_headers);
  for (uint32_t i = 0; i < pe->nsections; i++) {
    const pe_section *s = &pe->sections[i];
    uint32_t n = s->raw_size < s->mapped_size ? s->raw_size : s->mapped_size;
    assert_memory_equal(orig + s->va, b + s->raw_ptr, n);
    for (uint32_t k = n; k < s->mapped_size; k++)
      if (orig[s->va + k]) failf("%s: %s+0x%x not zero-filled", path,
                                 s->name, k);
  }
  if (pe->characteristics & PE_FILE_RELOCS_STRIPPED) goto out;
  uint64_t nb = pe->pe32plus ? 0x7FF600000000ull : 0x30000000u;
  if (nb == pe->image_base) nb += 0x10000000u;
  memcpy(img, orig, pe->size_of_image);
  if (pe_relocate(pe, img, pe->size_of_image, nb, 4096, pages, nbm, err,
                  sizeof err))
    failf("%s: relocate: %s", path, err);
  uint64_t delta = nb - pe->image_base;
  for (uint32_t bi = 0; bi < pe->nreloc_blocks; bi++) {
    const pe_reloc_block *blk = &pe->reloc_blocks[bi];
    for (uint32_t j = 0; j < blk->nentries; j++) {
      uint32_t at = blk->page_rva + blk->entries[j].offset;
      if (blk->entries[j].type == PE_REL_DIR64)
        assert_true(get64(img + at) == get64(orig + at) + delta);
      if (blk->entries[j].type == PE_REL_HIGHLOW)
        assert_int_equal(get32(img + at), (uint32_t)(get32(orig + at) + delta));
    }
  }
  for (uint32_t i = 0; i < pe->size_of_image; i++)
    if (img[i] != orig[i] && !bit(pages, i / 4096))
      failf("%s: byte 0x%x changed on an unmarked page", path, i);
  assert_true(bit(pages, pe->image_base_offset / 4096));
  if (pe_relocate(pe, img, pe->size_of_image, pe->image_base, 4096, NULL, 0,
                  err, sizeof err))
    failf("%s: relocate back: %s", path, err);
  assert_memory_equal(img, orig, pe->size_of_image);
out:
  free(img);
  free(orig);
  free(pages);
}

/* Every prefix shorter than the end of the last raw data fails cleanly
** (byte by byte through the headers, then sampled). */
static void check_prefixes(const char *path, const pe_image *pe,
                           const uint8_t *b) {
  uint64_t end = pe->size_of_headers;
  char err[PE_ERR_SIZE];
  for (uint32_t i = 0; i < pe->nsections; i++)
    if (pe->sections[i].raw_size
        && pe->sections[i].raw_ptr + (uint64_t)pe->sections[i].raw_size > end)
      end = pe->sections[i].raw_ptr + (uint64_t)pe->sections[i].raw_size;
  for (size_t n = 0; n < end; n += n < 0x1000 ? stride(13) : 509) {
    pe_image *x = NULL;
    pe_status st = pe_parse(b, n, &x, err, sizeof err);
    if (st != PE_STATUS_INVALID_IMAGE_FORMAT
        && st != PE_STATUS_INVALID_IMAGE_NOT_MZ)
      failf("%s: prefix of %zu bytes: 0x%08x", path, n, st);
  }
}

static void test_real_image(void **state) {
  const char *rel = *state;
  char path[1024];
  size_t len;
  uint8_t *b = load_fixture(rel, &len, path, sizeof path);
  pe_image *pe = parse_ok(b, len, path);
  check_layout_relocate(path, pe, b, len);
  check_prefixes(path, pe, b);
  compare_with_objdump(path, pe);
  pe_free(pe);
  free(b);
}

static pe_image *load_arch(void **state, const char *name, uint8_t **b) {
  char rel[64], path[1024];
  size_t len;
  snprintf(rel, sizeof rel, "%s/%s", (const char *)*state, name);
  *b = load_fixture(rel, &len, path, sizeof path);
  return parse_ok(*b, len, path);
}

static bool is_x86(void **state) { return strstr(*state, "x86") != NULL; }

static void test_app_exe(void **state) {
  uint8_t *b;
  pe_image *pe = load_arch(state, "app.exe", &b);
  assert_true(pe->image_base == (is_x86(state) ? 0x400000u : 0x140000000ull));
  assert_true(pe->characteristics & PE_FILE_EXECUTABLE_IMAGE);
  assert_false(pe->characteristics & PE_FILE_DLL);
  assert_int_equal(pe->nimports, 2);
  const pe_import *leaf = find_import(pe, "leaf.dll");
  assert_int_equal(leaf->nfuncs, 1);
  assert_null(leaf->funcs[0].name);               /* by ordinal */
  assert_int_equal(leaf->funcs[0].ordinal, 2);
  const pe_import *mid = find_import(pe, "mid.dll");
  assert_int_equal(mid->nfuncs, 2);
  for (uint32_t j = 0; j < 2; j++) {
    assert_non_null(mid->funcs[j].name);
    assert_true(strcmp(mid->funcs[j].name, "mid_twice") == 0
                || strcmp(mid->funcs[j].name, "mid_add") == 0);
    assert_int_equal(mid->funcs[j].iat_rva,
                     mid->iat_rva + j * (pe->pe32plus ? 8 : 4));
  }
  const pe_section *text = find_section(pe, ".text");
  const pe_section *data = find_section(pe, ".data");
  const pe_section *bss = find_section(pe, ".bss");
  const pe_section *idata = find_section(pe, ".idata");
  assert_int_equal(text->protect, PE_PAGE_EXECUTE_READ);
  assert_int_equal(data->protect, PE_PAGE_WRITECOPY);
  assert_int_equal(bss->protect, PE_PAGE_WRITECOPY);
  assert_int_equal(bss->raw_size, 0);
  assert_true(bss->characteristics & PE_SCN_CNT_UNINITIALIZED_DATA);
  assert_true(bss->mapped_size >= 64 * 4);        /* int scratch[64] */
  assert_true(pe->entry_point >= text->va
              && pe->entry_point < text->va + text->virtual_size);
  assert_true(leaf->funcs[0].iat_rva >= idata->va
              && leaf->funcs[0].iat_rva < idata->va + idata->virtual_size);
  assert_int_equal(get32(b + data->raw_ptr), 7);  /* int counter = 7 */
  pe_free(pe);
  free(b);
}

static void test_leaf_dll(void **state) {
  uint8_t *b;
  pe_image *pe = load_arch(state, "leaf.dll", &b);
  assert_true(pe->characteristics & PE_FILE_DLL);
  assert_string_equal(pe->export_dll, "leaf.dll");
  assert_int_equal(pe->export_base, 1);
  assert_int_equal(pe->nexports, 3);
  assert_string_equal(need_export(pe, 1)->name, "leaf_add");
  assert_null(need_export(pe, 2)->name);          /* NONAME */
  assert_string_equal(need_export(pe, 3)->name, "leaf_value");
  const pe_section *text = find_section(pe, ".text");
  const pe_section *data = find_section(pe, ".data");
  uint32_t r1 = need_export(pe, 1)->rva, r3 = need_export(pe, 3)->rva;
  assert_true(r1 >= text->va && r1 < text->va + text->mapped_size);
  assert_true(r3 >= data->va && r3 < data->va + data->mapped_size);
  uint64_t off;
  assert_true(pe_rva_to_offset(pe, r3, &off));
  assert_int_equal(get32(b + off), 42);           /* int leaf_value = 42 */
  pe_free(pe);
  free(b);
}

static void test_mid_dll(void **state) {
  uint8_t *b;
  pe_image *pe = load_arch(state, "mid.dll", &b);
  const pe_import *leaf = find_import(pe, "leaf.dll");
  assert_int_equal(leaf->nfuncs, 1);
  assert_string_equal(leaf->funcs[0].name, "leaf_add");
  assert_int_equal(pe->nexports, 2);
  const pe_export *twice = need_export(pe, 1), *add = need_export(pe, 2);
  assert_string_equal(twice->name, "mid_twice");
  assert_null(twice->forwarder);
  assert_string_equal(add->name, "mid_add");
  assert_string_equal(add->forwarder, "leaf.leaf_add");
  assert_true(add->rva >= pe->dirs[PE_DIR_EXPORT].rva
              && add->rva < pe->dirs[PE_DIR_EXPORT].rva
                            + pe->dirs[PE_DIR_EXPORT].size);
  pe_free(pe);
  free(b);
}

/* reloc.dll wants app.exe's base, so a loader must move it. */
static void test_reloc_dll(void **state) {
  uint8_t *b, *b2;
  pe_image *pe = load_arch(state, "reloc.dll", &b);
  pe_image *app = load_arch(state, "app.exe", &b2);
  assert_true(pe->image_base == app->image_base);
  assert_true(pe->dll_characteristics & PE_DLLCHAR_DYNAMIC_BASE);
  assert_false(pe->characteristics & PE_FILE_RELOCS_STRIPPED);
  assert_true(pe->nrelocs >= 3);                  /* three absolute pointers */
  unsigned want = is_x86(state) ? PE_REL_HIGHLOW : PE_REL_DIR64, n = 0;
  for (uint32_t i = 0; i < pe->nrelocs; i++)
    n += pe->relocs[i].type == want;
  assert_true(n >= 3);
  pe_free(pe);
  pe_free(app);
  free(b);
  free(b2);
}

static void test_fixed_dll(void **state) {
  uint8_t *b;
  char err[PE_ERR_SIZE];
  pe_image *pe = load_arch(state, "fixed.dll", &b);
  assert_true(pe->characteristics & PE_FILE_RELOCS_STRIPPED);
  assert_int_equal(pe->dirs[PE_DIR_BASERELOC].rva, 0);
  assert_int_equal(pe->nreloc_blocks, 0);
  uint8_t *img = malloc(pe->size_of_image);
  assert_non_null(img);
  assert_int_equal(pe_layout(pe, b, pe->file_size, img, pe->size_of_image,
                             err, sizeof err), PE_STATUS_SUCCESS);
  assert_int_equal(pe_relocate(pe, img, pe->size_of_image,
                               pe->image_base + 0x10000, 4096, NULL, 0, err,
                               sizeof err), PE_STATUS_INVALID_IMAGE_FORMAT);
  assert_non_null(strstr(err, "stripped"));
  assert_int_equal(pe_relocate(pe, img, pe->size_of_image, pe->image_base,
                               4096, NULL, 0, err, sizeof err),
                   PE_STATUS_SUCCESS);
  free(img);
  pe_free(pe);
  free(b);
}

static void test_shared_dll(void **state) {
  uint8_t *b;
  pe_image *pe = load_arch(state, "shared.dll", &b);
  const pe_section *sh = find_section(pe, ".shared");
  assert_true(sh->characteristics & PE_SCN_MEM_SHARED);
  assert_true(sh->characteristics & PE_SCN_MEM_WRITE);
  assert_int_equal(sh->protect, PE_PAGE_READWRITE);
  assert_int_equal(find_section(pe, ".data")->protect, PE_PAGE_WRITECOPY);
  assert_int_equal(get32(b + sh->raw_ptr), 1);    /* shared_counter = 1 */
  pe_free(pe);
  free(b);
}

/* The mingw runtime DLLs and EFI images the system happens to have. */
static void test_system_images(void **state) {
  static const char *const patterns[] = {
    "/usr/lib/gcc/x86_64-w64-mingw32/*/*.dll",
    "/usr/lib/gcc/i686-w64-mingw32/*/*.dll",
    "/usr/x86_64-w64-mingw32/lib/*.dll",
    "/usr/i686-w64-mingw32/lib/*.dll",
    "/usr/lib/shim/*.efi",
    "/usr/lib/grub/*/*.efi",
    "/usr/lib/grub/*/monolithic/*.efi",
  };
  unsigned n = 0;
  (void)state;
  for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
    glob_t g;
    if (glob(patterns[p], 0, NULL, &g) != 0) continue;
    for (size_t i = 0; i < g.gl_pathc; i++) {
      size_t len;
      uint8_t *b = read_file(g.gl_pathv[i], &len);
      if (!b) continue;
      if (stride(2) > 1 && (len > (1u << 20) || n >= 8)) {
        free(b);
        continue;
      }
      pe_image *pe = parse_ok(b, len, g.gl_pathv[i]);
      check_layout_relocate(g.gl_pathv[i], pe, b, len);
      compare_with_objdump(g.gl_pathv[i], pe);
      pe_free(pe);
      free(b);
      n++;
    }
    globfree(&g);
  }
  print_message("%u system images parsed and compared\n", n);
  if (n == 0) skip();
}

/* -------------------------------------------------------------- main */

static int write_seed(const char *dir, const char *name, const uint8_t *b,
                      size_t len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    return 1;
  }
  return 0;
}

/* Writes the synthetic and tiny images, and every sixth malformed variant
** (the fuzzer finds the rest), as fuzz seeds. */
static int write_seeds(const char *dir) {
  uint8_t b[S_LEN];
  char name[64];
  int rc = 0;
  synth(b);
  rc |= write_seed(dir, "synth.bin", b, S_LEN);
  for (int k = 0; k < 4; k++) {
    size_t len = tiny(b, k & 1, k & 2);
    snprintf(name, sizeof name, "tiny-%s%s.bin", k & 1 ? "pe32" : "pe32plus",
             k & 2 ? "-lowalign" : "");
    rc |= write_seed(dir, name, b, len);
  }
  for (size_t i = 0; i < NBAD; i += 6) {
    size_t len = make_bad(&bad_cases[i], b);
    snprintf(name, sizeof name, "bad-%02zu.bin", i);
    rc |= write_seed(dir, name, b, len);
  }
  return rc;
}

#define IMG(p) { "real: " p, test_real_image, NULL, NULL, (void *)(p) }
#define ARCH(f, a) { #f " (" a ")", f, NULL, NULL, (void *)(a) }

int main(void) {
  const char *seeds = getenv("PAGELAB_PE_SEED_DIR");
  if (seeds) return write_seeds(seeds);

  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test(test_synth_fields),
    cmocka_unit_test(test_synth_rva_to_offset),
    cmocka_unit_test(test_synth_layout),
    cmocka_unit_test(test_synth_relocate),
    cmocka_unit_test(test_synth_truncated_everywhere),
    cmocka_unit_test(test_synth_byte_flips),
    cmocka_unit_test(test_synth_out_of_memory),
    cmocka_unit_test(test_tiny_images),
    cmocka_unit_test(test_relocate_each_type),
    cmocka_unit_test(test_relocate_highadj_identity),
    cmocka_unit_test(test_relocate_straddle),
    cmocka_unit_test(test_relocate_errors),
    cmocka_unit_test(test_section_protect_table),
    IMG("pe/app.exe"), IMG("pe/leaf.dll"), IMG("pe/mid.dll"),
    IMG("pe/reloc.dll"), IMG("pe/fixed.dll"), IMG("pe/shared.dll"),
    IMG("pe/x86/app.exe"), IMG("pe/x86/leaf.dll"), IMG("pe/x86/mid.dll"),
    IMG("pe/x86/reloc.dll"), IMG("pe/x86/fixed.dll"),
    IMG("pe/x86/shared.dll"),
    ARCH(test_app_exe, "pe"), ARCH(test_app_exe, "pe/x86"),
    ARCH(test_leaf_dll, "pe"), ARCH(test_leaf_dll, "pe/x86"),
    ARCH(test_mid_dll, "pe"), ARCH(test_mid_dll, "pe/x86"),
    ARCH(test_reloc_dll, "pe"), ARCH(test_reloc_dll, "pe/x86"),
    ARCH(test_fixed_dll, "pe"), ARCH(test_fixed_dll, "pe/x86"),
    ARCH(test_shared_dll, "pe"), ARCH(test_shared_dll, "pe/x86"),
    cmocka_unit_test(test_system_images),
  };
  struct CMUnitTest pe_tests[sizeof fixed / sizeof fixed[0] + NBAD];
  memcpy(pe_tests, fixed, sizeof fixed);
  for (size_t i = 0; i < NBAD; i++) {
    struct CMUnitTest *t = &pe_tests[sizeof fixed / sizeof fixed[0] + i];
    t->name = bad_cases[i].name;
    t->test_func = test_bad_input;
    t->setup_func = NULL;
    t->teardown_func = NULL;
    t->initial_state = (void *)&bad_cases[i];
  }
  return cmocka_run_group_tests(pe_tests, NULL, NULL);
}
