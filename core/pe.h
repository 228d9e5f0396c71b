/*
** pe.h: a pure parser for PE32 and PE32+ images (Windows EXE, DLL, EFI).
**
** Bytes in, validated description out. The parser never reads files, never
** prints and keeps no state between calls; everything it returns is owned by
** one pe_image and released by pe_free(). Two helpers turn the description
** into what the memory manager maps: pe_layout() builds the in-memory image
** and pe_relocate() applies base relocations to it.
**
** Failures are NTSTATUS values, the ones NtCreateSection(SEC_IMAGE) gives for
** the same defect, with a sentence naming the defect in a caller buffer.
** The rules checked, and why, are in docs/pe.md and at the top of pe.c.
*/
#ifndef PAGELAB_PE_H
#define PAGELAB_PE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NTSTATUS values (WINDOWS.md section 0). Named PE_STATUS_* so that they do
** not clash with the core's MM_STATUS_* names for the same numbers. */
typedef uint32_t pe_status;
#define PE_STATUS_SUCCESS              0x00000000u
#define PE_STATUS_INVALID_PARAMETER    0xC000000Du  /* caller misuse */
#define PE_STATUS_NO_MEMORY            0xC0000017u
#define PE_STATUS_INVALID_IMAGE_FORMAT 0xC000007Bu
#define PE_STATUS_INVALID_IMAGE_NOT_MZ 0xC000012Fu

/* A message buffer of this size never truncates a message. */
#define PE_ERR_SIZE 256

/* The loader's limit on NumberOfSections (D:PE). */
#define PE_MAX_SECTIONS 96

/* The page size the PE format's alignment rules refer to. It is the x86/x64
** hardware page, independent of the simulator's configurable page size. */
#define PE_PAGE_SIZE 4096u

/* IMAGE_FILE_HEADER.Machine */
#define PE_MACHINE_I386  0x014Cu
#define PE_MACHINE_AMD64 0x8664u
#define PE_MACHINE_ARMNT 0x01C4u
#define PE_MACHINE_ARM64 0xAA64u

/* IMAGE_FILE_HEADER.Characteristics */
#define PE_FILE_RELOCS_STRIPPED     0x0001u
#define PE_FILE_EXECUTABLE_IMAGE    0x0002u
#define PE_FILE_LARGE_ADDRESS_AWARE 0x0020u
#define PE_FILE_32BIT_MACHINE       0x0100u
#define PE_FILE_DLL                 0x2000u

/* IMAGE_OPTIONAL_HEADER.Magic */
#define PE_MAGIC_PE32     0x010Bu
#define PE_MAGIC_PE32PLUS 0x020Bu

/* IMAGE_OPTIONAL_HEADER.DllCharacteristics (WINDOWS.md A.12.5) */
#define PE_DLLCHAR_HIGH_ENTROPY_VA 0x0020u
#define PE_DLLCHAR_DYNAMIC_BASE    0x0040u
#define PE_DLLCHAR_NX_COMPAT       0x0100u

/* Data directory indices. */
enum {
  PE_DIR_EXPORT = 0, PE_DIR_IMPORT = 1, PE_DIR_RESOURCE = 2,
  PE_DIR_EXCEPTION = 3, PE_DIR_SECURITY = 4, PE_DIR_BASERELOC = 5,
  PE_DIR_DEBUG = 6, PE_DIR_TLS = 9, PE_DIR_LOAD_CONFIG = 10,
  PE_DIR_BOUND_IMPORT = 11, PE_DIR_IAT = 12, PE_DIR_DELAY_IMPORT = 13,
  PE_DIR_CLR = 14, PE_NUM_DIRS = 16
};

/* IMAGE_SECTION_HEADER.Characteristics */
#define PE_SCN_CNT_CODE               0x00000020u
#define PE_SCN_CNT_INITIALIZED_DATA   0x00000040u
#define PE_SCN_CNT_UNINITIALIZED_DATA 0x00000080u
#define PE_SCN_MEM_DISCARDABLE        0x02000000u
#define PE_SCN_MEM_SHARED             0x10000000u
#define PE_SCN_MEM_EXECUTE            0x20000000u
#define PE_SCN_MEM_READ               0x40000000u
#define PE_SCN_MEM_WRITE              0x80000000u

/* Windows PAGE_* protection values (D:ProtConst). */
#define PE_PAGE_NOACCESS          0x01u
#define PE_PAGE_READONLY          0x02u
#define PE_PAGE_READWRITE         0x04u
#define PE_PAGE_WRITECOPY         0x08u
#define PE_PAGE_EXECUTE           0x10u
#define PE_PAGE_EXECUTE_READ      0x20u
#define PE_PAGE_EXECUTE_READWRITE 0x40u
#define PE_PAGE_EXECUTE_WRITECOPY 0x80u

/* Base relocation types (WINDOWS.md A.12.4). HIGHADJ uses two slots. */
#define PE_REL_ABSOLUTE 0
#define PE_REL_HIGH     1
#define PE_REL_LOW      2
#define PE_REL_HIGHLOW  3
#define PE_REL_HIGHADJ  4
#define PE_REL_DIR64    10

typedef struct pe_dir {
  uint32_t rva, size;                /* {0, 0} when absent */
} pe_dir;

typedef struct pe_section {
  char     name[9];                  /* the raw name (8 bytes), NUL-ended */
  uint32_t va;                       /* VirtualAddress (an RVA) */
  uint32_t virtual_size;             /* VirtualSize as stored */
  uint32_t raw_size;                 /* SizeOfRawData */
  uint32_t raw_ptr;                  /* PointerToRawData */
  uint32_t characteristics;          /* PE_SCN_* */
  uint32_t mapped_size;              /* bytes it occupies in memory (A.12.3) */
  uint32_t protect;                  /* PE_PAGE_*, from pe_section_protect() */
} pe_section;

typedef struct pe_import_func {
  const char *name;                  /* NULL when imported by ordinal */
  uint16_t    hint;                  /* export-table hint (by name) */
  uint16_t    ordinal;               /* the ordinal (by ordinal) */
  uint32_t    iat_rva;               /* the IAT slot the loader writes */
} pe_import_func;

typedef struct pe_import {
  const char     *dll;               /* DLL name as written in the image */
  uint32_t        ilt_rva;           /* OriginalFirstThunk, 0 if absent */
  uint32_t        iat_rva;           /* FirstThunk */
  uint32_t        nfuncs;
  pe_import_func *funcs;
} pe_import;

typedef struct pe_reloc {
  uint16_t offset;                   /* within the block's page, < 0x1000 */
  uint8_t  type;                     /* PE_REL_* */
  uint16_t param;                    /* HIGHADJ: the low 16 bits; else 0 */
} pe_reloc;

typedef struct pe_reloc_block {
  uint32_t        page_rva;
  uint32_t        nentries;          /* ABSOLUTE padding included */
  const pe_reloc *entries;
} pe_reloc_block;

typedef struct pe_export {
  const char *name;                  /* NULL when exported by ordinal only */
  uint32_t    ordinal;               /* biased: OrdinalBase + index */
  uint32_t    rva;                   /* the address table entry */
  const char *forwarder;             /* "DLL.Func" or "DLL.#ord", else NULL */
} pe_export;

/* The description. Read-only for callers; every pointer in it is owned by
** the image and lives until pe_free(). */
typedef struct pe_image {
  size_t   file_size;                /* bytes of the file it was parsed from */
  bool     pe32plus;                 /* PE32+ (64-bit) rather than PE32 */
  uint16_t machine, characteristics, magic, subsystem, dll_characteristics;
  uint32_t timestamp;
  uint64_t image_base;               /* preferred base */
  uint32_t image_base_offset;        /* header offset of the ImageBase field */
  uint32_t size_of_image, size_of_headers;
  uint32_t section_alignment, file_alignment;
  uint32_t entry_point;              /* AddressOfEntryPoint, 0 if none */
  uint64_t stack_reserve, stack_commit, heap_reserve, heap_commit;
  uint32_t ndirs;                    /* NumberOfRvaAndSizes as stored */
  pe_dir   dirs[PE_NUM_DIRS];        /* those past ndirs are {0, 0} */

  uint32_t    nsections;
  pe_section *sections;              /* ascending, adjacent VAs */

  uint32_t   nimports;               /* DLLs */
  uint32_t   nimport_funcs;          /* functions over all DLLs */
  pe_import *imports;

  uint32_t        nreloc_blocks, nrelocs;
  pe_reloc_block *reloc_blocks;
  pe_reloc       *relocs;            /* all entries, block after block */

  bool       has_exports;            /* an export directory is present */
  const char *export_dll;            /* its Name, or NULL */
  uint32_t   export_base;            /* OrdinalBase */
  uint32_t   nexports;
  pe_export *exports;                /* by ordinal; aliases share one */

  void *mem_;                        /* private: the allocation list */
} pe_image;

/* Limits for pe_parse_ex(). Zero fields mean "the default". */
typedef struct pe_options {
  size_t mem_limit;                  /* bytes the description may use;
                                        default unlimited (the parser's own
                                        bounds keep it O(file size)) */
} pe_options;

/* Parses the len bytes at buf. On success *out is a new image (free it with
** pe_free()) and err holds "". On failure *out is NULL, nothing is
** allocated, and err (if not NULL) holds a sentence naming the defect:
** PE_STATUS_INVALID_IMAGE_NOT_MZ when there is no MZ signature,
** PE_STATUS_INVALID_IMAGE_FORMAT for any other malformation, and
** PE_STATUS_NO_MEMORY when malloc (or the options' mem_limit) fails. */
pe_status pe_parse(const uint8_t *buf, size_t len, pe_image **out,
                   char *err, size_t errlen);

/* pe_parse() with limits; opt may be NULL. Same failure contract. */
pe_status pe_parse_ex(const uint8_t *buf, size_t len, const pe_options *opt,
                      pe_image **out, char *err, size_t errlen);

/* Frees an image and everything it points to. NULL is a no-op. */
void pe_free(pe_image *pe);

/* The page protection a section with these characteristics gets in an
** image view (WINDOWS.md A.12.2): a PE_PAGE_* value. Cannot fail. */
uint32_t pe_section_protect(uint32_t characteristics);

/* Maps an RVA to its file offset: true and *off set when the byte at rva
** comes from the file (headers or a section's raw data), false when it is
** zero-fill or outside the image. */
bool pe_rva_to_offset(const pe_image *pe, uint32_t rva, uint64_t *off);

/* Writes the in-memory image: size_of_image bytes at image, built from the
** file buf/len that pe was parsed from. Headers are copied, each section's
** raw data is copied to its VA (at most mapped_size bytes, so raw bytes past
** VirtualSize within the aligned size stay visible), and everything else is
** zero (WINDOWS.md A.12.3). Bytes of image past size_of_image are left alone.
** Fails with PE_STATUS_INVALID_PARAMETER when len is not pe->file_size or
** image_len < pe->size_of_image, PE_STATUS_INVALID_IMAGE_FORMAT when the
** description points outside the file or image (a hand-edited pe_image);
** on failure nothing is written and err names the problem. */
pe_status pe_layout(const pe_image *pe, const uint8_t *buf, size_t len,
                    uint8_t *image, size_t image_len, char *err, size_t errlen);

/* Bytes of the bitmap pe_relocate() fills for pages of page_size bytes:
** one bit per page of SizeOfImage. 0 when page_size is not a power of two. */
size_t pe_page_bitmap_bytes(const pe_image *pe, uint32_t page_size);

/* Relocates an in-memory image (from pe_layout()) to live at new_base. Its
** current base is the ImageBase field of its mapped header: pe->image_base
** after pe_layout(), the last new_base after an earlier call. Applies every
** base relocation for the difference (ABSOLUTE skipped; HIGH, LOW, HIGHLOW,
** HIGHADJ, DIR64) and rewrites that field. For each page of page_size bytes
** that was written, sets bit (rva / page_size) of pages (byte i / 8, bit
** i % 8); bits are only ever set, so a caller may accumulate. pages may be
** NULL; otherwise pages_len must be >= pe_page_bitmap_bytes(). Moving to
** the current base changes nothing. Fails with PE_STATUS_INVALID_PARAMETER
** for a short buffer, a bad page_size, or a new_base that does not fit a PE32
** image; PE_STATUS_INVALID_IMAGE_FORMAT when a relocation would write
** outside the image, its type is unknown, or the image has its relocations
** stripped. On failure nothing is written and err names the problem. */
pe_status pe_relocate(const pe_image *pe, uint8_t *image, size_t image_len,
                      uint64_t new_base, uint32_t page_size,
                      uint8_t *pages, size_t pages_len,
                      char *err, size_t errlen);

#endif
