/*
** pe.c: a pure parser for PE32 and PE32+ images, and the two helpers the
** image loader builds on (pe_layout, pe_relocate).
**
** THE VIEW THE PARSER READS. The loader never looks at the file; it looks at
** the mapped image. So the parser reads every RVA through the same view
** pe_layout() builds (WINDOWS.md A.12.3), split into regions:
**
**   headers     [0, align(SizeOfHeaders))     file bytes [0, SizeOfHeaders)
**   section i   [va, va + mapped_size)         file bytes [raw_ptr, +min(raw,
**                                              mapped)), then zero-fill
**
** Nothing else of the image is readable. A table or a string must lie inside
** one region: one that runs off the end of its section is malformed even if
** the next section happens to continue it. Zero-fill terminates strings and
** arrays, exactly as it would in memory.
**
** INVARIANTS of a pe_image that pe_parse() returns:
**   1. SectionAlignment and FileAlignment are powers of two that follow
**      D:PE's rules; SizeOfImage is a nonzero multiple of the former.
**   2. Sections ascend, are adjacent, start at multiples of
**      SectionAlignment after the headers and end inside SizeOfImage; raw
**      data lies inside the file. SizeOfHeaders covers the section table
**      and lies inside the file.
**   3. Every relocation target [rva, rva + width) lies inside SizeOfImage
**      (ABSOLUTE padding, which writes nothing, excepted);
**      every IAT slot lies inside one region; every non-forwarder export
**      RVA is below SizeOfImage.
**   4. Every string is a NUL-terminated copy owned by the image.
**   5. Every allocation is on the image's chunk list, so pe_free() is the
**      only cleanup and a failed parse frees all it took.
**
** BOUNDS ON WORK. A hostile file must not make the parse quadratic: name
** strings copied in total are limited to a multiple of the file size, as are
** import thunks (legitimate images store each once); export tables and
** relocation blocks are bounded by the file bytes that hold them. So time and
** memory are O(file size).
*/
#include "pe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define PE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PE_PRINTF(f, a)
#endif

/* Header sizes and offsets (D:PE). */
enum {
  DOS_HEADER_SIZE = 64, DOS_LFANEW = 0x3C,
  FILE_HEADER_SIZE = 20,              /* after the 4-byte signature */
  OPT_FIXED_PE32 = 96, OPT_FIXED_PE32PLUS = 112,
  SECTION_HEADER_SIZE = 40,
  IMPORT_DESC_SIZE = 20, EXPORT_DIR_SIZE = 40, RELOC_BLOCK_HEADER = 8
};

/* FileAlignment bounds when SectionAlignment is at least a page (D:PE). */
#define MIN_FILE_ALIGNMENT 0x200u
#define MAX_FILE_ALIGNMENT 0x10000u

/* Slots a relocation block may hold. Its page has 4096 offsets; two bytes
** apart is the densest a 16-bit fixup can be, HIGHADJ doubles the slots,
** and one ABSOLUTE pads to a 32-bit boundary. More is not an image. */
#define MAX_BLOCK_SLOTS (2 * PE_PAGE_SIZE / 2 + 1)

/* ---------------------------------------------------------------- memory */

/* Every allocation is a chunk on one list; max_align_t keeps the payload
** aligned for any type. */
typedef union chunk {
  union chunk *next;
  max_align_t  align;
} chunk;

typedef struct parser {
  const uint8_t *buf;
  size_t         len;
  pe_image      *pe;
  char          *err;
  size_t         errlen;
  chunk         *mem;                 /* the image's allocations */
  size_t         mem_used, mem_limit;
  uint64_t       str_budget;          /* name bytes still allowed */
  uint64_t       thunk_budget;        /* import thunks still allowed */
  uint32_t       hdr_end;             /* end of the header region (RVA) */
} parser;

static pe_status fail(char *err, size_t errlen, pe_status st,
                      const char *fmt, ...) PE_PRINTF(4, 5);

static pe_status fail(char *err, size_t errlen, pe_status st,
                      const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return st;
}

#define BAD(p, ...) \
  fail((p)->err, (p)->errlen, PE_STATUS_INVALID_IMAGE_FORMAT, __VA_ARGS__)

/* Returns n zeroed bytes on the parser's list, or NULL with *st set. */
static void *mem_alloc(parser *p, size_t n, const char *what, pe_status *st) {
  chunk *c = NULL;
  if (n <= SIZE_MAX - sizeof(chunk)
      && (p->mem_limit == 0 || (p->mem_used <= p->mem_limit
          && n + sizeof(chunk) <= p->mem_limit - p->mem_used)))
    c = malloc(sizeof(chunk) + n);
  if (c == NULL) {
    *st = fail(p->err, p->errlen, PE_STATUS_NO_MEMORY,
               "out of memory allocating %zu bytes for %s", n, what);
    return NULL;
  }
  p->mem_used += sizeof(chunk) + n;
  c->next = p->mem;
  p->mem = c;
  memset(c + 1, 0, n);
  return c + 1;
}

static void mem_free_all(chunk *c) {
  while (c) {
    chunk *next = c->next;
    free(c);
    c = next;
  }
}

/* Allocates an array of n elements of size sz, checking the product. */
static void *mem_array(parser *p, uint64_t n, size_t sz, const char *what,
                       pe_status *st) {
  if (n > SIZE_MAX / sz) {
    *st = fail(p->err, p->errlen, PE_STATUS_NO_MEMORY,
               "%s needs more than SIZE_MAX bytes", what);
    return NULL;
  }
  return mem_alloc(p, (size_t)n * sz, what, st);
}

/* ----------------------------------------------------------- byte access */

static uint16_t rd16(const uint8_t *b) {
  return (uint16_t)(b[0] | b[1] << 8);
}
static uint32_t rd32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16
       | (uint32_t)b[3] << 24;
}
static uint64_t rd64(const uint8_t *b) {
  return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32;
}
static void wr16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *b, uint32_t v) {
  wr16(b, (uint16_t)v);
  wr16(b + 2, (uint16_t)(v >> 16));
}
static void wr64(uint8_t *b, uint64_t v) {
  wr32(b, (uint32_t)v);
  wr32(b + 4, (uint32_t)(v >> 32));
}

static bool is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* Rounds up to a power-of-two alignment in 64 bits, so it cannot wrap. */
static uint64_t align_up(uint64_t x, uint32_t a) {
  return (x + a - 1) & ~(uint64_t)(a - 1);
}

/* A section name fit for a message: printable ASCII, '?' elsewhere. */
static const char *printable(const char *name, char out[9]) {
  size_t i;
  for (i = 0; i < 8 && name[i]; i++)
    out[i] = name[i] >= 0x20 && name[i] < 0x7F ? name[i] : '?';
  out[i] = '\0';
  return out;
}

/* ---------------------------------------------------------------- regions */

typedef struct region {
  uint32_t start, end;                /* RVA range [start, end) */
  uint32_t backed;                    /* leading bytes that come from file */
  uint64_t off;                       /* file offset of start */
  int      index;                     /* section index, -1 for headers */
} region;

/* Finds the region holding rva. Sections are sorted and adjacent, so a
** binary search over their starts suffices. */
static bool region_find(const pe_image *pe, uint32_t hdr_end, uint32_t rva,
                        region *r) {
  uint32_t lo = 0, hi = pe->nsections;
  if (rva < hdr_end) {
    r->start = 0;
    r->end = hdr_end;
    r->backed = pe->size_of_headers;
    r->off = 0;
    r->index = -1;
    return true;
  }
  while (lo < hi) {                   /* first section with va > rva */
    uint32_t mid = lo + (hi - lo) / 2;
    if (pe->sections[mid].va <= rva) lo = mid + 1;
    else hi = mid;
  }
  while (lo > 0) {                    /* skip empty sections at one VA */
    const pe_section *s = &pe->sections[lo - 1];
    if (rva - s->va < s->mapped_size) {
      r->start = s->va;
      r->end = s->va + s->mapped_size;
      r->backed = s->raw_size < s->mapped_size ? s->raw_size : s->mapped_size;
      r->off = s->raw_ptr;
      r->index = (int)(lo - 1);
      return true;
    }
    if (s->mapped_size != 0) break;
    lo--;
  }
  return false;
}

/* Copies n bytes at rva, which the caller has placed inside r. */
static void region_read(const parser *p, const region *r, uint32_t rva,
                        size_t n, uint8_t *dst) {
  uint32_t o = rva - r->start;
  for (size_t i = 0; i < n; i++, o++)
    dst[i] = o < r->backed ? p->buf[r->off + o] : 0;
}

static const char *region_name(const parser *p, const region *r,
                               char out[32]) {
  char nm[9];
  if (r->index < 0) return "the headers";
  snprintf(out, 32, "section %d (%s)", r->index,
           printable(p->pe->sections[r->index].name, nm));
  return out;
}

/* Places [rva, rva + n) inside one region, or explains why not. */
static pe_status span(parser *p, uint32_t rva, uint64_t n, const char *what,
                      region *r) {
  char rn[32];
  if (!region_find(p->pe, p->hdr_end, rva, r))
    return BAD(p, "%s at RVA 0x%x is outside the headers and every section",
               what, rva);
  if ((uint64_t)rva + n > r->end)
    return BAD(p, "%s [0x%x,0x%llx) runs off the end of %s at 0x%x", what,
               rva, (unsigned long long)rva + n, region_name(p, r, rn),
               r->end);
  return PE_STATUS_SUCCESS;
}

/* Copies the NUL-terminated string at rva into the image. It must end
** before limit (an RVA; 0 means the end of its region). */
static pe_status string_at(parser *p, uint32_t rva, uint32_t limit,
                           const char *what, const char **out) {
  region r;
  char rn[32];
  pe_status st;
  uint64_t n;                         /* length without the NUL */
  if (!region_find(p->pe, p->hdr_end, rva, &r))
    return BAD(p, "%s at RVA 0x%x is outside the headers and every section",
               what, rva);
  if (limit == 0 || limit > r.end) limit = r.end;
  uint32_t o = rva - r.start;
  if (o >= r.backed) {
    n = 0;                            /* zero-fill: the empty string */
  } else {
    const uint8_t *s = p->buf + r.off + o;
    const uint8_t *z = memchr(s, 0, r.backed - o);
    n = z ? (uint64_t)(z - s) : r.backed - o;
  }
  if ((uint64_t)rva + n >= limit) {
    if (limit < r.end)
      return BAD(p, "%s at RVA 0x%x is unterminated: no NUL before 0x%x",
                 what, rva, limit);
    return BAD(p, "%s at RVA 0x%x is unterminated: it runs off the end of "
               "%s", what, rva, region_name(p, &r, rn));
  }
  if (n + 1 > p->str_budget)
    return BAD(p, "%s at RVA 0x%x: names total more bytes than the file "
               "holds (overlapping or shared name strings)", what, rva);
  p->str_budget -= n + 1;
  char *copy = mem_alloc(p, (size_t)n + 1, "a name", &st);
  if (!copy) return st;
  region_read(p, &r, rva, (size_t)n, (uint8_t *)copy);
  *out = copy;
  return PE_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- headers */

static pe_status parse_headers(parser *p, uint32_t *sect_off) {
  const uint8_t *b = p->buf;
  size_t len = p->len;
  pe_image *pe = p->pe;

  if (len < 2 || b[0] != 'M' || b[1] != 'Z')
    return fail(p->err, p->errlen, PE_STATUS_INVALID_IMAGE_NOT_MZ,
                len < 2 ? "file of %zu bytes is too short for the MZ signature"
                        : "no MZ signature at the start of the %zu-byte file",
                len);
  if (len < DOS_HEADER_SIZE)
    return BAD(p, "file of %zu bytes is truncated inside the 64-byte DOS "
               "header", len);
  uint32_t lfanew = rd32(b + DOS_LFANEW);
  if (lfanew >= len)
    return BAD(p, "e_lfanew 0x%x points past the end of the %zu-byte file",
               lfanew, len);
  if ((uint64_t)lfanew + 4 + FILE_HEADER_SIZE + 2 > len)
    return BAD(p, "file of %zu bytes is truncated inside the PE headers at "
               "e_lfanew 0x%x", len, lfanew);
  if (rd32(b + lfanew) != 0x00004550u)
    return BAD(p, "bad PE signature at e_lfanew 0x%x (expected \"PE\\0\\0\")",
               lfanew);

  const uint8_t *fh = b + lfanew + 4;
  pe->machine = rd16(fh);
  uint16_t nsec = rd16(fh + 2);
  pe->timestamp = rd32(fh + 4);
  uint16_t opt_size = rd16(fh + 16);
  pe->characteristics = rd16(fh + 18);
  if (nsec > PE_MAX_SECTIONS)
    return BAD(p, "NumberOfSections %u exceeds the loader's limit of %d",
               nsec, PE_MAX_SECTIONS);

  uint32_t opt = lfanew + 4 + FILE_HEADER_SIZE;
  const uint8_t *oh = b + opt;
  pe->magic = rd16(oh);
  if (pe->magic != PE_MAGIC_PE32 && pe->magic != PE_MAGIC_PE32PLUS)
    return BAD(p, "optional header magic 0x%x is neither PE32 (0x10b) nor "
               "PE32+ (0x20b)", pe->magic);
  pe->pe32plus = pe->magic == PE_MAGIC_PE32PLUS;
  uint32_t fixed = pe->pe32plus ? OPT_FIXED_PE32PLUS : OPT_FIXED_PE32;
  if (opt_size < fixed)
    return BAD(p, "SizeOfOptionalHeader %u is smaller than the %u-byte fixed "
               "part of a %s optional header", opt_size, fixed,
               pe->pe32plus ? "PE32+" : "PE32");
  if ((uint64_t)opt + opt_size > len)
    return BAD(p, "SizeOfOptionalHeader 0x%x: the optional header at 0x%x "
               "runs past the end of the %zu-byte file (truncated?)",
               opt_size, opt, len);

  pe->entry_point = rd32(oh + 16);
  if (pe->pe32plus) {
    pe->image_base = rd64(oh + 24);
    pe->image_base_offset = opt + 24;
  } else {
    pe->image_base = rd32(oh + 28);
    pe->image_base_offset = opt + 28;
  }
  pe->section_alignment = rd32(oh + 32);
  pe->file_alignment = rd32(oh + 36);
  pe->size_of_image = rd32(oh + 56);
  pe->size_of_headers = rd32(oh + 60);
  pe->subsystem = rd16(oh + 68);
  pe->dll_characteristics = rd16(oh + 70);
  if (pe->pe32plus) {
    pe->stack_reserve = rd64(oh + 72);
    pe->stack_commit = rd64(oh + 80);
    pe->heap_reserve = rd64(oh + 88);
    pe->heap_commit = rd64(oh + 96);
    pe->ndirs = rd32(oh + 108);
  } else {
    pe->stack_reserve = rd32(oh + 72);
    pe->stack_commit = rd32(oh + 76);
    pe->heap_reserve = rd32(oh + 80);
    pe->heap_commit = rd32(oh + 84);
    pe->ndirs = rd32(oh + 92);
  }
  uint32_t nd = pe->ndirs < PE_NUM_DIRS ? pe->ndirs : PE_NUM_DIRS;
  if (fixed + 8 * nd > opt_size)
    return BAD(p, "NumberOfRvaAndSizes %u needs %u bytes of optional header "
               "but SizeOfOptionalHeader is %u", pe->ndirs, fixed + 8 * nd,
               opt_size);
  for (uint32_t i = 0; i < nd; i++) {
    pe->dirs[i].rva = rd32(oh + fixed + 8 * i);
    pe->dirs[i].size = rd32(oh + fixed + 8 * i + 4);
  }

  *sect_off = opt + opt_size;
  uint64_t sect_end = (uint64_t)*sect_off
                    + (uint64_t)nsec * SECTION_HEADER_SIZE;
  if (sect_end > len)
    return BAD(p, "section table (%u entries at 0x%x) runs past the end of "
               "the %zu-byte file", nsec, *sect_off, len);
  pe->nsections = nsec;

  /* Alignment rules (D:PE, WINDOWS.md A.12.3). Below a page, the image is
  ** mapped flat, which only works when file and memory layouts coincide. */
  uint32_t sa = pe->section_alignment, fa = pe->file_alignment;
  if (!is_pow2(sa))
    return BAD(p, "SectionAlignment 0x%x is not a power of two", sa);
  if (!is_pow2(fa))
    return BAD(p, "FileAlignment 0x%x is not a power of two", fa);
  if (sa >= PE_PAGE_SIZE) {
    if (fa < MIN_FILE_ALIGNMENT || fa > MAX_FILE_ALIGNMENT)
      return BAD(p, "FileAlignment 0x%x is outside 0x200..0x10000", fa);
    if (sa < fa)
      return BAD(p, "SectionAlignment 0x%x is smaller than FileAlignment "
                 "0x%x", sa, fa);
  } else if (fa != sa) {
    return BAD(p, "SectionAlignment 0x%x is below the page size, so "
               "FileAlignment (0x%x) must equal it", sa, fa);
  }
  if (pe->size_of_image == 0 || pe->size_of_image % sa != 0)
    return BAD(p, "SizeOfImage 0x%x is not a nonzero multiple of "
               "SectionAlignment 0x%x", pe->size_of_image, sa);
  if (pe->size_of_headers > len)
    return BAD(p, "SizeOfHeaders 0x%x runs past the end of the %zu-byte file",
               pe->size_of_headers, len);
  if (pe->size_of_headers < sect_end)
    return BAD(p, "SizeOfHeaders 0x%x does not cover the section table, "
               "which ends at 0x%llx", pe->size_of_headers,
               (unsigned long long)sect_end);
  if (pe->size_of_headers > pe->size_of_image)
    return BAD(p, "SizeOfHeaders 0x%x exceeds SizeOfImage 0x%x",
               pe->size_of_headers, pe->size_of_image);
  if (pe->entry_point >= pe->size_of_image)
    return BAD(p, "AddressOfEntryPoint 0x%x is outside the 0x%x-byte image",
               pe->entry_point, pe->size_of_image);
  uint64_t top = pe->pe32plus ? UINT64_MAX : UINT32_MAX;
  if (pe->image_base > top - pe->size_of_image)
    return BAD(p, "ImageBase 0x%llx + SizeOfImage 0x%x overflows the %s "
               "address space", (unsigned long long)pe->image_base,
               pe->size_of_image, pe->pe32plus ? "64-bit" : "32-bit");
  return PE_STATUS_SUCCESS;
}

/* --------------------------------------------------------------- sections */

uint32_t pe_section_protect(uint32_t c) {
  /* Indexed by X<<2 | W<<1 | R; the table of WINDOWS.md A.12.2. Writable
  ** pages of an image are copy-on-write unless the section is shared. */
  static const uint8_t prot[8] = {
    PE_PAGE_NOACCESS,          PE_PAGE_READONLY,
    PE_PAGE_WRITECOPY,         PE_PAGE_WRITECOPY,
    PE_PAGE_EXECUTE,           PE_PAGE_EXECUTE_READ,
    PE_PAGE_EXECUTE_WRITECOPY, PE_PAGE_EXECUTE_WRITECOPY
  };
  bool r = c & PE_SCN_MEM_READ, w = c & PE_SCN_MEM_WRITE;
  bool x = c & PE_SCN_MEM_EXECUTE;
  if (w && (c & PE_SCN_MEM_SHARED))
    return x ? PE_PAGE_EXECUTE_READWRITE : PE_PAGE_READWRITE;
  return prot[(x ? 4 : 0) | (w ? 2 : 0) | (r ? 1 : 0)];
}

static pe_status parse_sections(parser *p, uint32_t sect_off) {
  pe_image *pe = p->pe;
  uint32_t sa = pe->section_alignment, fa = pe->file_alignment;
  uint64_t hdr = align_up(pe->size_of_headers, sa);
  uint64_t next = hdr;                /* where the next section must start */
  pe_status st;
  char nm[9];

  p->hdr_end = (uint32_t)hdr;         /* <= SizeOfImage, checked earlier */
  if (pe->nsections == 0) return PE_STATUS_SUCCESS;
  pe->sections = mem_array(p, pe->nsections, sizeof(pe_section),
                           "the section table", &st);
  if (!pe->sections) return st;
  for (uint32_t i = 0; i < pe->nsections; i++) {
    const uint8_t *h = p->buf + sect_off + (size_t)i * SECTION_HEADER_SIZE;
    pe_section *s = &pe->sections[i];
    memcpy(s->name, h, 8);
    s->virtual_size = rd32(h + 8);
    s->va = rd32(h + 12);
    s->raw_size = rd32(h + 16);
    s->raw_ptr = rd32(h + 20);
    s->characteristics = rd32(h + 36);
    s->protect = pe_section_protect(s->characteristics);
    printable(s->name, nm);

    if (s->va % sa != 0)
      return BAD(p, "section %u (%s) VirtualAddress 0x%x is not a multiple "
                 "of SectionAlignment 0x%x", i, nm, s->va, sa);
    if (s->va < next)
      return BAD(p, i == 0 ? "section %u (%s) at 0x%x overlaps the headers, "
                 "which end at 0x%llx"
                 : "section %u (%s) at 0x%x overlaps the previous section, "
                 "which ends at 0x%llx", i, nm, s->va,
                 (unsigned long long)next);
    if (i > 0 && s->va > next)
      return BAD(p, "section %u (%s) at 0x%x is not adjacent to the previous "
                 "section, which ends at 0x%llx", i, nm, s->va,
                 (unsigned long long)next);
    uint64_t mapped = align_up(s->virtual_size ? s->virtual_size
                                               : s->raw_size, sa);
    if (s->va + mapped > pe->size_of_image)
      return BAD(p, "section %u (%s) [0x%x,0x%llx) extends past SizeOfImage "
                 "0x%x", i, nm, s->va, (unsigned long long)(s->va + mapped),
                 pe->size_of_image);
    s->mapped_size = (uint32_t)mapped;
    if (s->raw_size != 0) {
      if ((uint64_t)s->raw_ptr + s->raw_size > p->len)
        return BAD(p, "section %u (%s) raw data [0x%x,0x%llx) past end of "
                   "the %zu-byte file", i, nm, s->raw_ptr,
                   (unsigned long long)s->raw_ptr + s->raw_size, p->len);
      if (s->raw_ptr % fa != 0)
        return BAD(p, "section %u (%s) PointerToRawData 0x%x is not a "
                   "multiple of FileAlignment 0x%x", i, nm, s->raw_ptr, fa);
      if (sa < PE_PAGE_SIZE && s->raw_ptr != s->va)
        return BAD(p, "section %u (%s): SectionAlignment 0x%x is below the "
                   "page size, so PointerToRawData 0x%x must equal "
                   "VirtualAddress 0x%x", i, nm, sa, s->raw_ptr, s->va);
    }
    next = s->va + mapped;
  }
  return PE_STATUS_SUCCESS;
}

/* ------------------------------------------------------------ relocations */

static const char *reloc_type_name(unsigned t) {
  switch (t) {
  case PE_REL_ABSOLUTE: return "ABSOLUTE";
  case PE_REL_HIGH:     return "HIGH";
  case PE_REL_LOW:      return "LOW";
  case PE_REL_HIGHLOW:  return "HIGHLOW";
  case PE_REL_HIGHADJ:  return "HIGHADJ";
  case PE_REL_DIR64:    return "DIR64";
  default:              return NULL;
  }
}

/* Bytes a relocation of type t rewrites; 0 for ABSOLUTE. */
static unsigned reloc_width(unsigned t) {
  switch (t) {
  case PE_REL_HIGH: case PE_REL_LOW: case PE_REL_HIGHADJ: return 2;
  case PE_REL_HIGHLOW: return 4;
  case PE_REL_DIR64: return 8;
  default: return 0;
  }
}

/* Walks the relocation directory. The first pass (fill false) validates
** and counts; the second stores into arrays sized by the first. */
static pe_status walk_relocs(parser *p, const region *r, bool fill) {
  pe_image *pe = p->pe;
  pe_dir d = pe->dirs[PE_DIR_BASERELOC];
  uint32_t nb = 0, ne = 0;
  uint64_t pos = 0;
  uint8_t h[RELOC_BLOCK_HEADER], e[2];

  while (pos < d.size) {
    uint32_t at = d.rva + (uint32_t)pos;
    if (d.size - pos < RELOC_BLOCK_HEADER)
      return BAD(p, "relocation block header at RVA 0x%x runs past the end "
                 "of the 0x%x-byte directory", at, d.size);
    region_read(p, r, at, sizeof h, h);
    uint32_t page = rd32(h), size = rd32(h + 4);
    if (size < RELOC_BLOCK_HEADER)
      return BAD(p, "relocation block at RVA 0x%x has SizeOfBlock %u, less "
                 "than its 8-byte header", at, size);
    if (size % 2 != 0)
      return BAD(p, "relocation block at RVA 0x%x has odd SizeOfBlock %u",
                 at, size);
    if (size > d.size - pos)
      return BAD(p, "relocation block at RVA 0x%x (SizeOfBlock 0x%x) runs "
                 "past the end of the 0x%x-byte directory", at, size, d.size);
    uint32_t slots = (size - RELOC_BLOCK_HEADER) / 2;
    if (slots > MAX_BLOCK_SLOTS)
      return BAD(p, "relocation block at RVA 0x%x has an absurd %u entries "
                 "for one 4 KiB page", at, slots);
    if (page >= pe->size_of_image)
      return BAD(p, "relocation block at RVA 0x%x: page RVA 0x%x is outside "
                 "the 0x%x-byte image", at, page, pe->size_of_image);
    uint32_t first = ne;
    for (uint32_t j = 0; j < slots; j++) {
      region_read(p, r, at + RELOC_BLOCK_HEADER + 2 * j, 2, e);
      unsigned type = e[1] >> 4, off = rd16(e) & 0xFFFu;
      uint16_t param = 0;
      if (!reloc_type_name(type))
        return BAD(p, "relocation %u of the block at RVA 0x%x has unknown "
                   "type %u", j, at, type);
      if (type == PE_REL_HIGHADJ) {
        if (j + 1 >= slots)
          return BAD(p, "HIGHADJ relocation %u of the block at RVA 0x%x "
                     "lacks its parameter slot", j, at);
        region_read(p, r, at + RELOC_BLOCK_HEADER + 2 * (j + 1), 2, e);
        param = rd16(e);
        j++;
      }
      uint64_t target = (uint64_t)page + off;
      if (type != PE_REL_ABSOLUTE             /* padding writes nothing */
          && target + reloc_width(type) > pe->size_of_image)
        return BAD(p, "%s relocation at RVA 0x%llx writes outside the "
                   "0x%x-byte image", reloc_type_name(type),
                   (unsigned long long)target, pe->size_of_image);
      if (fill) {
        pe_reloc *x = &pe->relocs[ne];
        x->offset = (uint16_t)off;
        x->type = (uint8_t)type;
        x->param = param;
      }
      ne++;
    }
    if (fill) {
      pe_reloc_block *blk = &pe->reloc_blocks[nb];
      blk->page_rva = page;
      blk->nentries = ne - first;
      blk->entries = pe->relocs + first;
    }
    nb++;
    pos += size;
  }
  pe->nreloc_blocks = nb;
  pe->nrelocs = ne;
  return PE_STATUS_SUCCESS;
}

static pe_status parse_relocs(parser *p) {
  pe_image *pe = p->pe;
  pe_dir d = pe->dirs[PE_DIR_BASERELOC];
  region r;
  pe_status st;
  if (d.rva == 0 || d.size == 0) return PE_STATUS_SUCCESS;
  if ((st = span(p, d.rva, d.size, "base relocation directory", &r)))
    return st;
  if ((st = walk_relocs(p, &r, false))) return st;
  if (pe->nrelocs) {
    pe->relocs = mem_array(p, pe->nrelocs, sizeof(pe_reloc),
                           "relocations", &st);
    if (!pe->relocs) return st;
  }
  pe->reloc_blocks = mem_array(p, pe->nreloc_blocks, sizeof(pe_reloc_block),
                               "relocation blocks", &st);
  if (!pe->reloc_blocks) return st;
  return walk_relocs(p, &r, true);
}

/* ---------------------------------------------------------------- imports */

static pe_status parse_thunks(parser *p, uint32_t k, pe_import *imp) {
  pe_image *pe = p->pe;
  unsigned ts = pe->pe32plus ? 8 : 4;
  uint32_t ilt = imp->ilt_rva ? imp->ilt_rva : imp->iat_rva;
  region r;
  char what[80], rn[32];
  uint8_t t[8];
  pe_status st;

  /* Old linkers leave OriginalFirstThunk 0; the IAT then holds the names. */
  snprintf(what, sizeof what, "import lookup table of descriptor %u", k);
  if ((st = span(p, ilt, 0, what, &r))) return st;
  uint32_t n = 0;
  for (;; n++) {
    uint64_t at = (uint64_t)ilt + (uint64_t)n * ts;
    if (at + ts > r.end)
      return BAD(p, "import thunks of %s at RVA 0x%x are unterminated: they "
                 "run off the end of %s", imp->dll, ilt,
                 region_name(p, &r, rn));
    region_read(p, &r, (uint32_t)at, ts, t);
    if ((ts == 8 ? rd64(t) : rd32(t)) == 0) break;
    if (p->thunk_budget == 0)
      return BAD(p, "import thunks of %s: the import tables hold more "
                 "thunks than the file has room for (absurd count)",
                 imp->dll);
    p->thunk_budget--;
  }
  snprintf(what, sizeof what, "import address table of %.40s", imp->dll);
  if (n && (st = span(p, imp->iat_rva, (uint64_t)n * ts, what, &r)))
    return st;
  imp->nfuncs = n;
  if (n == 0) return PE_STATUS_SUCCESS;
  imp->funcs = mem_array(p, n, sizeof(pe_import_func), "imports", &st);
  if (!imp->funcs) return st;
  if ((st = span(p, ilt, (uint64_t)n * ts, "import lookup table", &r)))
    return st;
  for (uint32_t j = 0; j < n; j++) {
    pe_import_func *f = &imp->funcs[j];
    uint64_t v;
    region_read(p, &r, ilt + j * ts, ts, t);
    v = ts == 8 ? rd64(t) : rd32(t);
    f->iat_rva = imp->iat_rva + j * ts;
    if (v >> (ts * 8 - 1)) {          /* by ordinal */
      f->ordinal = (uint16_t)v;
      continue;
    }
    if (v > 0x7FFFFFFFu)
      return BAD(p, "import %u of %s: thunk 0x%llx has reserved bits set",
                 j, imp->dll, (unsigned long long)v);
    uint32_t hn = (uint32_t)v;
    region hr;
    uint8_t hint[2];
    snprintf(what, sizeof what, "hint/name %u of %.40s", j, imp->dll);
    if ((st = span(p, hn, 2, what, &hr))) return st;
    region_read(p, &hr, hn, 2, hint);
    f->hint = rd16(hint);
    snprintf(what, sizeof what, "import name %u of %.40s", j, imp->dll);
    if ((st = string_at(p, hn + 2, 0, what, &f->name))) return st;
  }
  return PE_STATUS_SUCCESS;
}

static pe_status parse_imports(parser *p) {
  pe_image *pe = p->pe;
  uint32_t rva = pe->dirs[PE_DIR_IMPORT].rva, n;
  region r;
  char rn[32], what[48];
  uint8_t d[IMPORT_DESC_SIZE];
  pe_status st;

  if (rva == 0) return PE_STATUS_SUCCESS;
  if ((st = span(p, rva, 0, "import directory", &r))) return st;
  /* The loader stops at the first descriptor without a name or an IAT. */
  for (n = 0;; n++) {
    uint64_t at = (uint64_t)rva + (uint64_t)n * IMPORT_DESC_SIZE;
    if (at + IMPORT_DESC_SIZE > r.end)
      return BAD(p, "import descriptor %u at RVA 0x%llx runs off the end of "
                 "%s: the descriptor array has no null terminator", n,
                 (unsigned long long)at, region_name(p, &r, rn));
    region_read(p, &r, (uint32_t)at, sizeof d, d);
    if (rd32(d + 12) == 0 || rd32(d + 16) == 0) break;
  }
  pe->nimports = n;
  if (n == 0) return PE_STATUS_SUCCESS;
  pe->imports = mem_array(p, n, sizeof(pe_import), "imports", &st);
  if (!pe->imports) return st;
  for (uint32_t k = 0; k < n; k++) {
    pe_import *imp = &pe->imports[k];
    region_read(p, &r, rva + k * IMPORT_DESC_SIZE, sizeof d, d);
    imp->ilt_rva = rd32(d);
    imp->iat_rva = rd32(d + 16);
    snprintf(what, sizeof what, "DLL name of import descriptor %u", k);
    if ((st = string_at(p, rd32(d + 12), 0, what, &imp->dll))) return st;
    if ((st = parse_thunks(p, k, imp))) return st;
    pe->nimport_funcs += imp->nfuncs;
  }
  return PE_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- exports */

static pe_status parse_exports(parser *p) {
  pe_image *pe = p->pe;
  pe_dir dd = pe->dirs[PE_DIR_EXPORT];
  region r, eat, npt, eot;
  uint8_t d[EXPORT_DIR_SIZE], v[4];
  char what[48];
  pe_status st;

  if (dd.rva == 0) return PE_STATUS_SUCCESS;
  if ((st = span(p, dd.rva, EXPORT_DIR_SIZE, "export directory", &r)))
    return st;
  if ((uint64_t)dd.rva + dd.size > pe->size_of_image)
    return BAD(p, "export directory [0x%x,0x%llx) extends past SizeOfImage "
               "0x%x", dd.rva, (unsigned long long)dd.rva + dd.size,
               pe->size_of_image);
  region_read(p, &r, dd.rva, sizeof d, d);
  pe->has_exports = true;
  uint32_t name = rd32(d + 12), base = rd32(d + 16);
  uint32_t nf = rd32(d + 20), nn = rd32(d + 24);
  uint32_t eat_rva = rd32(d + 28), npt_rva = rd32(d + 32);
  uint32_t eot_rva = rd32(d + 36);
  pe->export_base = base;
  /* Each entry of these tables takes 4 bytes of the file in a real image,
  ** and the walks below are linear in these counts. */
  if (nf > p->len / 4)
    return BAD(p, "export directory NumberOfFunctions %u is absurd for a "
               "%zu-byte file", nf, p->len);
  if (nn > p->len / 4)
    return BAD(p, "export directory NumberOfNames %u is absurd for a "
               "%zu-byte file", nn, p->len);
  if (nf && (uint64_t)base + nf - 1 > UINT32_MAX)
    return BAD(p, "export ordinal base %u + %u functions overflows 32 bits",
               base, nf);
  if (name && (st = string_at(p, name, 0, "export directory DLL name",
                              &pe->export_dll)))
    return st;
  if (nf && (st = span(p, eat_rva, (uint64_t)nf * 4, "export address table",
                       &eat)))
    return st;
  if (nn && (st = span(p, npt_rva, (uint64_t)nn * 4,
                       "export name pointer table", &npt)))
    return st;
  if (nn && (st = span(p, eot_rva, (uint64_t)nn * 2,
                       "export name ordinal table", &eot)))
    return st;
  if (nn && nf == 0)
    return BAD(p, "export directory has %u names but no functions", nn);
  if (nf == 0) return PE_STATUS_SUCCESS;

  /* Sort the names by ordinal index with a counting sort: start[i] is the
  ** first entry of slot i, so aliases of one function stay together in
  ** name-table order and unnamed slots get one entry each; cur[i] is where
  ** the next alias of slot i goes. */
  uint32_t *start = mem_array(p, (uint64_t)nf + 1, sizeof *start,
                              "export slots", &st);
  uint32_t *cur = start ? mem_array(p, nf, sizeof *cur, "export slots", &st)
                        : NULL;
  uint16_t *idx = cur && nn ? mem_array(p, nn, sizeof *idx, "export names",
                                        &st) : NULL;
  if (!cur || (nn && !idx)) return st;
  for (uint32_t i = 0; i < nn; i++) {
    region_read(p, &eot, eot_rva + 2 * i, 2, v);
    idx[i] = rd16(v);
    if (idx[i] >= nf)
      return BAD(p, "export name %u has ordinal index %u past the %u-entry "
                 "export address table", i, idx[i], nf);
    start[idx[i]]++;
  }
  uint32_t total = 0;
  for (uint32_t i = 0; i < nf; i++) {
    uint32_t c = start[i];
    region_read(p, &eat, eat_rva + 4 * i, 4, v);
    if (c == 0 && rd32(v) != 0) c = 1;  /* exported by ordinal only */
    start[i] = cur[i] = total;
    total += c;
  }
  start[nf] = total;
  pe->nexports = total;
  if (total == 0) return PE_STATUS_SUCCESS;
  pe->exports = mem_array(p, total, sizeof(pe_export), "exports", &st);
  if (!pe->exports) return st;

  for (uint32_t i = 0; i < nn; i++) {   /* names, into their slots */
    pe_export *x = &pe->exports[cur[idx[i]]++];
    region_read(p, &npt, npt_rva + 4 * i, 4, v);
    snprintf(what, sizeof what, "export name %u", i);
    if ((st = string_at(p, rd32(v), 0, what, &x->name))) return st;
  }
  for (uint32_t i = 0; i < nf; i++) {   /* addresses and forwarders */
    if (start[i] == start[i + 1]) continue;
    region_read(p, &eat, eat_rva + 4 * i, 4, v);
    uint32_t rva = rd32(v);
    const char *fwd = NULL;
    if (rva >= dd.rva && rva - dd.rva < dd.size) {
      /* An RVA inside the export directory names "DLL.Func" or "DLL.#n"
      ** there instead of code; it must end inside the directory. */
      snprintf(what, sizeof what, "forwarder of export ordinal %u",
               base + i);
      if ((st = string_at(p, rva, dd.rva + dd.size, what, &fwd))) return st;
      const char *dot = strchr(fwd, '.');
      if (!dot || dot == fwd || dot[1] == '\0')
        return BAD(p, "forwarder \"%.60s\" of export ordinal %u is not of "
                   "the form DLL.Func or DLL.#ordinal", fwd, base + i);
    } else if (rva >= pe->size_of_image) {
      return BAD(p, "export ordinal %u has RVA 0x%x outside the 0x%x-byte "
                 "image", base + i, rva, pe->size_of_image);
    }
    for (uint32_t j = start[i]; j < start[i + 1]; j++) {
      pe->exports[j].ordinal = base + i;
      pe->exports[j].rva = rva;
      pe->exports[j].forwarder = fwd;
    }
  }
  return PE_STATUS_SUCCESS;
}

/* ----------------------------------------------------------------- parse */

pe_status pe_parse_ex(const uint8_t *buf, size_t len, const pe_options *opt,
                      pe_image **out, char *err, size_t errlen) {
  parser P;
  pe_status st;
  uint32_t sect_off = 0;

  *out = NULL;
  memset(&P, 0, sizeof P);
  P.buf = buf;
  P.len = buf ? len : 0;              /* no bytes: parsed as an empty file */
  P.err = err;
  P.errlen = errlen;
  P.mem_limit = opt ? opt->mem_limit : 0;
  /* Legitimate images store each name and thunk once (module header). */
  P.str_budget = 2 * (uint64_t)P.len + 4096;
  P.thunk_budget = P.len / 4;
  if (err && errlen) err[0] = '\0';

  P.pe = mem_alloc(&P, sizeof(pe_image), "the image description", &st);
  if (P.pe) {
    P.pe->file_size = P.len;
    if (!(st = parse_headers(&P, &sect_off))
        && !(st = parse_sections(&P, sect_off))
        && !(st = parse_relocs(&P))
        && !(st = parse_imports(&P)))
      st = parse_exports(&P);
  }
  if (st) {
    mem_free_all(P.mem);
    return st;
  }
  P.pe->mem_ = P.mem;
  *out = P.pe;
  return PE_STATUS_SUCCESS;
}

pe_status pe_parse(const uint8_t *buf, size_t len, pe_image **out,
                   char *err, size_t errlen) {
  return pe_parse_ex(buf, len, NULL, out, err, errlen);
}

void pe_free(pe_image *pe) {
  if (pe) mem_free_all(pe->mem_);     /* the image is on its own list */
}

bool pe_rva_to_offset(const pe_image *pe, uint32_t rva, uint64_t *off) {
  region r;
  uint32_t hdr = (uint32_t)align_up(pe->size_of_headers,
                                    pe->section_alignment);
  if (!region_find(pe, hdr, rva, &r) || rva - r.start >= r.backed)
    return false;
  *off = r.off + (rva - r.start);
  return true;
}

/* ---------------------------------------------------------------- layout */

pe_status pe_layout(const pe_image *pe, const uint8_t *buf, size_t len,
                    uint8_t *image, size_t image_len, char *err,
                    size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (len != pe->file_size)
    return fail(err, errlen, PE_STATUS_INVALID_PARAMETER, "file of %zu bytes "
                "is not the %zu-byte file the image was parsed from", len,
                pe->file_size);
  if (image_len < pe->size_of_image)
    return fail(err, errlen, PE_STATUS_INVALID_PARAMETER, "image buffer of "
                "%zu bytes is smaller than SizeOfImage 0x%x", image_len,
                pe->size_of_image);
  /* Check every copy before writing anything, so failure writes nothing. */
  if (pe->size_of_headers > len || pe->size_of_headers > pe->size_of_image)
    return fail(err, errlen, PE_STATUS_INVALID_IMAGE_FORMAT, "SizeOfHeaders "
                "0x%x exceeds the file or the image", pe->size_of_headers);
  for (uint32_t i = 0; i < pe->nsections; i++) {
    const pe_section *s = &pe->sections[i];
    uint32_t n = s->raw_size < s->mapped_size ? s->raw_size : s->mapped_size;
    if ((uint64_t)s->va + s->mapped_size > pe->size_of_image
        || (n && (uint64_t)s->raw_ptr + n > len))
      return fail(err, errlen, PE_STATUS_INVALID_IMAGE_FORMAT, "section %u "
                  "lies outside the file or the image", i);
  }
  memset(image, 0, pe->size_of_image);
  memcpy(image, buf, pe->size_of_headers);
  for (uint32_t i = 0; i < pe->nsections; i++) {
    const pe_section *s = &pe->sections[i];
    uint32_t n = s->raw_size < s->mapped_size ? s->raw_size : s->mapped_size;
    if (n) memcpy(image + s->va, buf + s->raw_ptr, n);
  }
  return PE_STATUS_SUCCESS;
}

/* ------------------------------------------------------------- relocation */

size_t pe_page_bitmap_bytes(const pe_image *pe, uint32_t page_size) {
  if (!is_pow2(page_size)) return 0;
  uint64_t pages = ((uint64_t)pe->size_of_image + page_size - 1) / page_size;
  return (size_t)((pages + 7) / 8);
}

static void mark_pages(uint8_t *pages, uint32_t page_size, uint64_t rva,
                       unsigned width) {
  if (!pages) return;
  for (uint64_t pg = rva / page_size; pg <= (rva + width - 1) / page_size;
       pg++)
    pages[pg / 8] |= (uint8_t)(1u << (pg % 8));
}

/* Adds delta to the field of the given type at b. HIGH adds the delta's
** high half alone, without the carry out of its low half, as D:PE defines
** it; real deltas are multiples of 64 KiB, where that makes no difference.
** HIGHADJ's field is the
** high half of a 32-bit value whose low half (param) code will add as a
** signed 16-bit number; the new high half is rounded so that the pair still
** sums to the relocated value. */
static void apply_one(uint8_t *b, unsigned type, uint16_t param,
                      uint64_t delta) {
  uint32_t v;
  switch (type) {
  case PE_REL_HIGH:
    wr16(b, (uint16_t)(rd16(b) + (uint16_t)(delta >> 16)));
    break;
  case PE_REL_LOW:
    wr16(b, (uint16_t)(rd16(b) + (uint16_t)delta));
    break;
  case PE_REL_HIGHLOW:
    wr32(b, rd32(b) + (uint32_t)delta);
    break;
  case PE_REL_HIGHADJ:
    v = ((uint32_t)rd16(b) << 16) + (uint32_t)(int32_t)(int16_t)param;
    v += (uint32_t)delta;
    wr16(b, (uint16_t)((v + 0x8000u) >> 16));
    break;
  case PE_REL_DIR64:
    wr64(b, rd64(b) + delta);
    break;
  default:
    break;
  }
}

pe_status pe_relocate(const pe_image *pe, uint8_t *image, size_t image_len,
                      uint64_t new_base, uint32_t page_size, uint8_t *pages,
                      size_t pages_len, char *err, size_t errlen) {
  unsigned bw = pe->pe32plus ? 8 : 4;
  if (err && errlen) err[0] = '\0';

  if (image_len < pe->size_of_image)
    return fail(err, errlen, PE_STATUS_INVALID_PARAMETER, "image buffer of "
                "%zu bytes is smaller than SizeOfImage 0x%x", image_len,
                pe->size_of_image);
  if (pages && (!is_pow2(page_size)
                || pages_len < pe_page_bitmap_bytes(pe, page_size)))
    return fail(err, errlen, PE_STATUS_INVALID_PARAMETER, "page bitmap of "
                "%zu bytes does not fit pages of 0x%x bytes", pages_len,
                page_size);
  if (!pe->pe32plus && new_base > UINT32_MAX - pe->size_of_image)
    return fail(err, errlen, PE_STATUS_INVALID_PARAMETER, "new base 0x%llx "
                "does not fit a PE32 image", (unsigned long long)new_base);
  if ((uint64_t)pe->image_base_offset + bw > pe->size_of_headers
      || pe->size_of_headers > pe->size_of_image)
    return fail(err, errlen, PE_STATUS_INVALID_IMAGE_FORMAT, "ImageBase "
                "field at 0x%x lies outside the 0x%x-byte headers",
                pe->image_base_offset, pe->size_of_headers);
  /* Like the NT loader, take the current base from the mapped header, so
  ** that an image already moved can be moved again (or back). */
  uint8_t *field = image + pe->image_base_offset;
  uint64_t delta = new_base - (bw == 8 ? rd64(field) : rd32(field));
  if (delta == 0) return PE_STATUS_SUCCESS;
  if (pe->characteristics & PE_FILE_RELOCS_STRIPPED)
    return fail(err, errlen, PE_STATUS_INVALID_IMAGE_FORMAT, "the image has "
                "its relocations stripped and cannot move from 0x%llx",
                (unsigned long long)(new_base - delta));

  /* Validate everything first, so that failure writes nothing. */
  for (uint32_t b = 0; b < pe->nreloc_blocks; b++) {
    const pe_reloc_block *blk = &pe->reloc_blocks[b];
    for (uint32_t j = 0; j < blk->nentries; j++) {
      const pe_reloc *x = &blk->entries[j];
      uint64_t at = (uint64_t)blk->page_rva + x->offset;
      if (!reloc_type_name(x->type))
        return fail(err, errlen, PE_STATUS_INVALID_IMAGE_FORMAT, "relocation "
                    "at RVA 0x%llx has unknown type %u",
                    (unsigned long long)at, x->type);
      if (x->type != PE_REL_ABSOLUTE
          && at + reloc_width(x->type) > pe->size_of_image)
        return fail(err, errlen, PE_STATUS_INVALID_IMAGE_FORMAT, "%s "
                    "relocation at RVA 0x%llx writes outside the 0x%x-byte "
                    "image", reloc_type_name(x->type),
                    (unsigned long long)at, pe->size_of_image);
    }
  }
  for (uint32_t b = 0; b < pe->nreloc_blocks; b++) {
    const pe_reloc_block *blk = &pe->reloc_blocks[b];
    for (uint32_t j = 0; j < blk->nentries; j++) {
      const pe_reloc *x = &blk->entries[j];
      uint64_t at = (uint64_t)blk->page_rva + x->offset;
      if (x->type == PE_REL_ABSOLUTE) continue;
      apply_one(image + at, x->type, x->param, delta);
      mark_pages(pages, page_size, at, reloc_width(x->type));
    }
  }
  if (bw == 8) wr64(field, new_base);
  else wr32(field, (uint32_t)new_base);
  mark_pages(pages, page_size, pe->image_base_offset, bw);
  return PE_STATUS_SUCCESS;
}
