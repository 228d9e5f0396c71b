/*
** fuzz_pe.c: libFuzzer target for core/pe.c (build and run: make fuzz).
**
** Each input is parsed; a parse that succeeds must describe an image that
** keeps the invariants pe.c promises, lays out, and relocates to a base
** derived from the input. A parse that fails must fail cleanly, and must
** fail the same way (or with STATUS_NO_MEMORY) under a memory limit. Any
** broken promise aborts, which libFuzzer reports as a crash.
*/
#include "pe.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_IMAGE (64u << 20)      /* refuse bigger SizeOfImage */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static uint64_t fnv1a(const uint8_t *d, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 0x100000001B3ull;
  return h;
}

static unsigned width(unsigned type) {
  switch (type) {
  case PE_REL_HIGH: case PE_REL_LOW: case PE_REL_HIGHADJ: return 2;
  case PE_REL_HIGHLOW: return 4;
  case PE_REL_DIR64: return 8;
  default: return 0;
  }
}

/* The invariants listed at the top of pe.c. */
static void check_image(const pe_image *pe, size_t size) {
  uint64_t soi = pe->size_of_image, next = 0;
  CHECK(pe->file_size == size);
  CHECK(soi > 0 && soi % pe->section_alignment == 0);
  CHECK(pe->size_of_headers <= size && pe->size_of_headers <= soi);
  CHECK(pe->nsections <= PE_MAX_SECTIONS);
  for (uint32_t i = 0; i < pe->nsections; i++) {
    const pe_section *s = &pe->sections[i];
    CHECK(s->va >= next && (i == 0 || s->va == next));
    CHECK(s->va % pe->section_alignment == 0);
    CHECK((uint64_t)s->va + s->mapped_size <= soi);
    CHECK(s->raw_size == 0 || (uint64_t)s->raw_ptr + s->raw_size <= size);
    CHECK(s->protect == pe_section_protect(s->characteristics));
    next = (uint64_t)s->va + s->mapped_size;
  }
  uint32_t n = 0;
  for (uint32_t b = 0; b < pe->nreloc_blocks; b++) {
    const pe_reloc_block *blk = &pe->reloc_blocks[b];
    CHECK(blk->entries == pe->relocs + n);
    for (uint32_t j = 0; j < blk->nentries; j++) {
      const pe_reloc *x = &blk->entries[j];
      CHECK(x->offset < 0x1000);
      CHECK((uint64_t)blk->page_rva + x->offset + width(x->type) <= soi);
    }
    n += blk->nentries;
  }
  CHECK(n == pe->nrelocs);
  n = 0;
  for (uint32_t k = 0; k < pe->nimports; k++) {
    const pe_import *imp = &pe->imports[k];
    CHECK(imp->dll != NULL);
    (void)strlen(imp->dll);
    for (uint32_t j = 0; j < imp->nfuncs; j++) {
      const pe_import_func *f = &imp->funcs[j];
      CHECK((uint64_t)f->iat_rva + (pe->pe32plus ? 8 : 4) <= soi);
      if (f->name) (void)strlen(f->name);
    }
    n += imp->nfuncs;
  }
  CHECK(n == pe->nimport_funcs);
  for (uint32_t i = 0; i < pe->nexports; i++) {
    const pe_export *x = &pe->exports[i];
    CHECK(i == 0 || x->ordinal >= pe->exports[i - 1].ordinal);
    if (x->forwarder) CHECK(strchr(x->forwarder, '.') != NULL);
    else CHECK(x->rva < soi);
    if (x->name) (void)strlen(x->name);
  }
}

/* Round trips are exact only when no two fixups touch one byte, there is
** no HIGHADJ (whose rounding is not its own inverse), and the delta is a
** multiple of 64 KiB (HIGH adds the delta's high half without the carry
** from its low half, so moving by d and by -d need not cancel). */
static bool reversible(const pe_image *pe, uint64_t base, uint8_t *seen) {
  if ((base - pe->image_base) & 0xFFFF) return false;
  memset(seen, 0, pe->size_of_image);
  for (uint32_t b = 0; b < pe->nreloc_blocks; b++) {
    const pe_reloc_block *blk = &pe->reloc_blocks[b];
    for (uint32_t j = 0; j < blk->nentries; j++) {
      uint64_t at = (uint64_t)blk->page_rva + blk->entries[j].offset;
      unsigned w = width(blk->entries[j].type);
      if (blk->entries[j].type == PE_REL_HIGHADJ) return false;
      for (unsigned k = 0; k < w; k++)
        if (seen[at + k]++) return false;
    }
  }
  for (unsigned k = 0; k < (pe->pe32plus ? 8u : 4u); k++)
    if (seen[pe->image_base_offset + k]) return false;
  return true;
}

static void exercise(const pe_image *pe, const uint8_t *data, size_t size,
                     uint64_t h) {
  char err[PE_ERR_SIZE];
  uint32_t soi = pe->size_of_image, page = 512u << (h % 8);
  size_t nbm = pe_page_bitmap_bytes(pe, page);
  uint8_t *img = malloc(soi), *orig = malloc(soi), *seen = malloc(soi);
  uint8_t *pages = calloc(nbm ? nbm : 1, 1);
  CHECK(img && orig && seen && pages);
  CHECK(pe_layout(pe, data, size, orig, soi, err, sizeof err) == 0);
  memcpy(img, orig, soi);

  uint64_t base = pe->pe32plus ? (h >> 8) & 0x7FFFFFFF0000ull
                               : (h >> 8) & 0x7FFF0000u;
  pe_status st = pe_relocate(pe, img, soi, base, page, pages, nbm, err,
                             sizeof err);
  if (st == PE_STATUS_INVALID_IMAGE_FORMAT) {
    CHECK(pe->characteristics & PE_FILE_RELOCS_STRIPPED);
    CHECK(memcmp(img, orig, soi) == 0);
  } else if (st == PE_STATUS_INVALID_PARAMETER) {
    CHECK(!pe->pe32plus);               /* base + SizeOfImage past 4 GiB */
  } else {
    CHECK(st == PE_STATUS_SUCCESS);
    for (uint32_t i = 0; i < soi; i++)
      if (img[i] != orig[i]) CHECK(pages[i / page / 8] >> (i / page % 8) & 1);
    if (reversible(pe, base, seen)) {
      CHECK(pe_relocate(pe, img, soi, pe->image_base, page, NULL, 0, err,
                        sizeof err) == 0);
      CHECK(memcmp(img, orig, soi) == 0);
    }
  }
  free(img);
  free(orig);
  free(seen);
  free(pages);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pe_image *pe = NULL, *pe2 = NULL;
  char err[PE_ERR_SIZE];
  uint64_t h = fnv1a(data, size);
  pe_status st = pe_parse(data, size, &pe, err, sizeof err);

  /* The same input under a memory limit: the same answer or NO_MEMORY. */
  pe_options opt = { 1 + (size_t)(h % 8192) };
  pe_status st2 = pe_parse_ex(data, size, &opt, &pe2, err, sizeof err);
  CHECK(st2 == st || st2 == PE_STATUS_NO_MEMORY);
  CHECK((st2 == PE_STATUS_SUCCESS) == (pe2 != NULL));
  pe_free(pe2);

  if (st != PE_STATUS_SUCCESS) {
    CHECK(pe == NULL);
    CHECK(st == PE_STATUS_INVALID_IMAGE_FORMAT
          || st == PE_STATUS_INVALID_IMAGE_NOT_MZ);
    return 0;
  }
  check_image(pe, size);
  if (pe->size_of_image <= FUZZ_MAX_IMAGE) exercise(pe, data, size, h);
  pe_free(pe);
  return 0;
}
