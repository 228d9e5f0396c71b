/*
** section.c — files, sections, segments (prototype PTEs) and views.
**
** Invariants (check: sections_check):
**  1. A segment's prototype PTE is zero (an uncommitted page of a
**     SEC_RESERVE section) or committed, and then: demand-zero (page-file
**     segment: zeros; data segment: "still in the file"), valid (the frame
**     is in at least one working set: share = the valid view PTEs naming
**     it), transition (the frame is on standby or modified), or page file.
**  2. A segment frame (PFN_F_PROTO) has owner = segment id, vpn = page.
**  3. A view PTE is either kind PROTO (pointing at its prototype), valid
**     with PTE_PROTOMAP (sharing the frame), or a private page made by
**     copy-on-write (the view's own, like private memory).
**
** Life of a shared page: first touch → demand-zero or read (hard) →
** valid in the prototype; another process touches it → soft, share + 1;
** each working set lets go (trim, unmap) → share − 1; at 0 the prototype
** becomes transition and the frame goes to standby (clean) or modified
** (dirty): "a page leaves the standby/modified path only when its last
** user lets go". Re-mapping it while on standby is a soft fault.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "tlb.h"

#define PROT_BASE_MASK 0xFFu
#define MAX_FILE_CONTENTS (1ull << 30)   /* host bytes kept per file */

static uint64_t pages_of(const mm_system *sys, uint64_t bytes) {
  return (bytes + sys->page_size - 1) >> sys->page_shift;
}

/* ---------------------------------------------------------------- files */

mm_file *file_get(mm_system *sys, mm_handle h) {
  if (h == 0 || h > sys->nfiles || !sys->files[h - 1].used) {
    mm_fail(sys, MM_STATUS_INVALID_HANDLE, "no file with handle %u", h);
    return NULL;
  }
  return &sys->files[h - 1];
}

static mm_section *section_get(mm_system *sys, mm_handle h) {
  if (h == 0 || h > sys->nsections || !sys->sections[h - 1].used) {
    mm_fail(sys, MM_STATUS_INVALID_HANDLE, "no section with handle %u", h);
    return NULL;
  }
  return &sys->sections[h - 1];
}

/* A free slot in one of the handle arrays (grown by doubling), or 0. */
#define GROW_SLOT(sys, arr, n, out)                                        \
  do {                                                                     \
    (out) = 0;                                                             \
    for (uint32_t k_ = 0; k_ < (n); k_++)                                  \
      if (!(arr)[k_].used) { (out) = k_ + 1; break; }                      \
    if (!(out)) {                                                          \
      uint32_t cap_ = (n) ? (n) * 2 : 8;                                   \
      void *np_ = realloc((arr), cap_ * sizeof *(arr));                    \
      if (np_) {                                                           \
        (arr) = np_;                                                       \
        memset(&(arr)[(n)], 0, (cap_ - (n)) * sizeof *(arr));              \
        (out) = (n) + 1;                                                   \
        (n) = cap_;                                                        \
      }                                                                    \
    }                                                                      \
  } while (0)

mm_status mm_file_create(mm_system *sys, const char *name, uint64_t size,
                         mm_handle *out) {
  if (sys->in_callback)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "files cannot be created from inside a callback");
  if (sys->mem && size > MAX_FILE_CONTENTS)
    return mm_fail(sys, MM_STATUS_NO_MEMORY,
                   "a %llu-byte file is too big to keep its contents "
                   "(1 GiB at most with contents = true)",
                   (unsigned long long)size);
  uint8_t *data = NULL;
  if (sys->mem && size) {
    data = calloc(1, size);
    if (!data) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  mm_handle h;
  GROW_SLOT(sys, sys->files, sys->nfiles, h);
  if (!h) { free(data); return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory"); }
  mm_file *f = &sys->files[h - 1];
  memset(f, 0, sizeof *f);
  f->used = true;
  snprintf(f->name, sizeof f->name, "%s", name && *name ? name : "file");
  f->size = size;
  f->data = data;
  f->handles = 1;
  *out = h;
  return MM_STATUS_SUCCESS;
}

mm_status mm_file_open(mm_system *sys, const char *path, mm_handle *out) {
  if (!path) return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "no path");
  char *real = realpath(path, NULL);
  for (uint32_t k = 0; real && k < sys->nfiles; k++) {
    mm_file *f = &sys->files[k];
    if (f->used && f->host && f->path && strcmp(f->path, real) == 0) {
      free(real);
      f->handles++;
      *out = k + 1;
      return MM_STATUS_SUCCESS;
    }
  }
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    int e = errno;
    free(real);
    return mm_fail(sys, e == ENOENT || e == ENOTDIR
                            ? MM_STATUS_OBJECT_NAME_NOT_FOUND
                            : MM_STATUS_ACCESS_DENIED,
                   "cannot open host file %s: %s", path, strerror(e));
  }
  uint64_t size = 0;
  if (fseek(fp, 0, SEEK_END) == 0) {
    long n = ftell(fp);
    if (n > 0) size = (uint64_t)n;
  }
  uint8_t *data = NULL;
  if (sys->mem && size) {
    if (size > MAX_FILE_CONTENTS) {
      fclose(fp);
      free(real);
      return mm_fail(sys, MM_STATUS_NO_MEMORY, "host file %s is larger "
                     "than 1 GiB: too big to keep its contents", path);
    }
    data = malloc(size);
    if (!data) {
      fclose(fp);
      free(real);
      return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory reading %s", path);
    }
    if (fseek(fp, 0, SEEK_SET) != 0 || fread(data, 1, size, fp) != size) {
      free(data);
      fclose(fp);
      free(real);
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                     "cannot read host file %s", path);
    }
  }
  fclose(fp);
  char *copy = real ? real : strdup(path);
  mm_handle h;
  GROW_SLOT(sys, sys->files, sys->nfiles, h);
  if (!h || !copy) {
    free(data);
    free(copy);
    return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  mm_file *f = &sys->files[h - 1];
  memset(f, 0, sizeof *f);
  f->used = true;
  f->host = true;
  f->path = copy;
  const char *base = strrchr(path, '/');
  snprintf(f->name, sizeof f->name, "%s", base ? base + 1 : path);
  f->size = size;
  f->data = data;
  f->handles = 1;
  *out = h;
  return MM_STATUS_SUCCESS;
}

static void seg_free(mm_system *sys, uint32_t id);

static void file_maybe_free(mm_system *sys, mm_handle h) {
  mm_file *f = &sys->files[h - 1];
  if (f->handles || f->sections || f->views) return;
  if (f->seg) seg_free(sys, f->seg);
  if (f->image_seg) seg_free(sys, f->image_seg);
  free(f->data);
  free(f->path);
  memset(f, 0, sizeof *f);
}

mm_status mm_file_close(mm_system *sys, mm_handle h) {
  mm_file *f = file_get(sys, h);
  if (!f) return sys->last_status;
  if (f->handles == 0)
    return mm_fail(sys, MM_STATUS_INVALID_HANDLE, "file %u is already closed", h);
  f->handles--;
  file_maybe_free(sys, h);
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

mm_status mm_file_info_get(mm_system *sys, mm_handle h, mm_file_info *out) {
  mm_file *f = file_get(sys, h);
  if (!f) return sys->last_status;
  out->name = f->name;
  out->size = f->size;
  out->reads = f->reads;
  out->writes = f->writes;
  out->host = f->host;
  out->cached = 0;
  if (f->seg) {
    mm_segment *s = &sys->segs[f->seg - 1];
    for (uint64_t k = 0; k < s->npages; k++) {
      mm_pte v = s->proto[k];
      if (pte_valid(v) || pte_kind(v) == PTE_KIND_TRANS) out->cached++;
    }
  }
  return MM_STATUS_SUCCESS;
}

mm_status mm_file_read(mm_system *sys, mm_handle h, uint64_t offset,
                       void *buf, uint64_t n, uint64_t *got) {
  mm_file *f = file_get(sys, h);
  *got = 0;
  if (!f) return sys->last_status;
  if (!sys->mem)
    return mm_fail(sys, MM_STATUS_NOT_SUPPORTED,
                   "this system keeps no contents (contents = true)");
  if (offset >= f->size) return MM_STATUS_SUCCESS;
  uint64_t m = f->size - offset < n ? f->size - offset : n;
  if (f->data) memcpy(buf, f->data + offset, m);
  else memset(buf, 0, m);
  *got = m;
  return MM_STATUS_SUCCESS;
}

/* ------------------------------------------------------------- segments */

uint32_t seg_new(mm_system *sys, uint8_t kind, uint64_t npages, mm_pte init) {
  uint32_t id;
  GROW_SLOT(sys, sys->segs, sys->nsegs, id);
  if (!id || id > SEG_MAX) return 0;
  mm_pte *proto = malloc((npages ? npages : 1) * sizeof *proto);
  if (!proto) return 0;
  for (uint64_t k = 0; k < npages; k++) proto[k] = init;
  mm_segment *s = &sys->segs[id - 1];
  memset(s, 0, sizeof *s);
  s->used = true;
  s->kind = kind;
  s->npages = npages;
  s->proto = proto;
  return id;
}

mm_pte *proto_pte(mm_system *sys, uint64_t pidx, mm_segment **segp) {
  uint32_t id = (uint32_t)(pidx >> SEG_PAGE_BITS);
  mm_segment *s = &sys->segs[id - 1];
  if (segp) *segp = s;
  return &s->proto[pidx & ((1ull << SEG_PAGE_BITS) - 1)];
}

/* Writes frame f (of a data segment) back to its file. */
static void file_write_page(mm_system *sys, mm_segment *s, uint64_t page,
                            uint32_t f) {
  mm_file *file = &sys->files[s->file - 1];
  file->writes++;
  if (sys->mem && file->data) {
    uint64_t off = page << sys->page_shift;
    if (off < file->size) {
      uint64_t n = file->size - off < sys->page_size ? file->size - off
                                                      : sys->page_size;
      memcpy(file->data + off, frame_bytes(sys, f), n);
    }
  }
}

/* Deletes a segment: nothing maps it any more. Dirty file pages are
** written back first (the file outlives its cache); everything else
** returns to the free list; page-file slots and commit go back. */
static void seg_free(mm_system *sys, uint32_t id) {
  mm_segment *s = &sys->segs[id - 1];
  for (uint64_t k = 0; k < s->npages; k++) {
    mm_pte v = s->proto[k];
    assert(!pte_valid(v));
    if (pte_kind(v) == PTE_KIND_TRANS) {
      uint32_t f = (uint32_t)pte_payload(v);
      if (s->kind == SEG_DATA && (sys->pfn[f].flags & PFN_F_MODIFIED))
        file_write_page(sys, s, k, f);
      pfn_release(sys, f);            /* clears the flags once unlinked */
    } else if (pte_kind(v) == PTE_KIND_PAGEFILE) {
      pf_free(sys, (uint32_t)pte_payload(v));
    }
  }
  if (s->committed) commit_return(sys, NULL, s->committed);
  free(s->proto);
  if (s->kind == SEG_IMAGE) image_seg_free(sys, s);
  else if (s->kind == SEG_DATA && s->file) sys->files[s->file - 1].seg = 0;
  memset(s, 0, sizeof *s);
}

/* A repurposed segment frame: the prototype goes back to where the data
** lives (the page-file slot, the file, or zeros). */
void proto_repurpose(mm_system *sys, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  mm_segment *s = &sys->segs[e->owner - 1];
  mm_pte *pp = &s->proto[e->vpn];
  assert(pte_kind(*pp) == PTE_KIND_TRANS && pte_payload(*pp) == f);
  if (s->kind != SEG_DATA && e->slot != MM_NIL)
    *pp = PTE_C | (PTE_KIND_PAGEFILE << PTE_KIND_SHIFT) |
          ((mm_pte)e->slot << PTE_PAYLOAD_SHIFT);
  else
    *pp = PTE_C;                    /* demand-zero, or "in the file" */
  e->slot = MM_NIL;
}

int proto_write(mm_system *sys, uint32_t f) {
  mm_pfn *e = &sys->pfn[f];
  mm_segment *s = &sys->segs[e->owner - 1];
  if (s->kind == SEG_DATA) {
    file_write_page(sys, s, e->vpn, f);   /* the mapped page writer */
  } else {
    /* Page-file sections, and shared writable image pages: an image file
    ** is never written (D:PageFile). */
    uint32_t slot = pf_alloc(sys);
    if (slot == MM_NIL) return -1;
    if (sys->mem && contents_slot_out(sys, f, slot) != 0) {
      pf_free(sys, slot);
      return -1;
    }
    e->slot = slot;
    sys->st.pagefile_writes++;
  }
  return 0;
}

/* ------------------------------------------------------------- sections */

/* CreateFileMapping's allowed protections (A.4.3). */
static bool section_prot_ok(uint32_t prot) {
  switch (prot) {
    case MM_PAGE_READONLY: case MM_PAGE_READWRITE: case MM_PAGE_WRITECOPY:
    case MM_PAGE_EXECUTE_READ: case MM_PAGE_EXECUTE_READWRITE:
    case MM_PAGE_EXECUTE_WRITECOPY:
      return true;
    default:
      return false;
  }
}

static bool prot_writable(uint32_t prot) {
  uint32_t b = prot & PROT_BASE_MASK;
  return b == MM_PAGE_READWRITE || b == MM_PAGE_EXECUTE_READWRITE;
}

static mm_section *section_by_name(mm_system *sys, const char *name,
                                   mm_handle *h) {
  for (uint32_t k = 0; k < sys->nsections; k++) {
    mm_section *s = &sys->sections[k];
    if (s->used && s->handles && s->name[0] && strcmp(s->name, name) == 0) {
      *h = k + 1;
      return s;
    }
  }
  return NULL;
}

mm_status mm_section_create(mm_system *sys, const mm_section_config *cfg,
                            mm_handle *out, bool *existed) {
  if (sys->in_callback)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "sections cannot be created from inside a callback");
  if (existed) *existed = false;
  mm_handle h;
  if (cfg->name && *cfg->name) {
    if (strlen(cfg->name) >= sizeof sys->sections[0].name)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                     "section name longer than 63 bytes");
    mm_section *s = section_by_name(sys, cfg->name, &h);
    if (s) {                         /* A.11.4: the existing object */
      s->handles++;
      *out = h;
      if (existed) *existed = true;
      return MM_STATUS_SUCCESS;
    }
  }
  uint32_t attr = cfg->attributes;
  uint32_t prot = cfg->protect;
  mm_file *file = NULL;
  if (cfg->file) {
    file = file_get(sys, cfg->file);
    if (!file) return sys->last_status;
  }
  if (attr & MM_SEC_IMAGE) {
    if (!file)
      return mm_fail(sys, MM_STATUS_INVALID_FILE_FOR_SECTION,
                     "SEC_IMAGE needs a file (A.11.2)");
    if (attr != MM_SEC_IMAGE)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_6,
                     "SEC_IMAGE takes no other attribute (A.11.2)");
    return image_section_create(sys, cfg, file, out);
  }
  if (attr & ~(MM_SEC_FILE | MM_SEC_RESERVE | MM_SEC_COMMIT | MM_SEC_NOCACHE |
               MM_SEC_WRITECOMBINE | MM_SEC_LARGE_PAGES))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_6,
                   "unknown section attributes %#x", attr);
  if (!section_prot_ok(prot))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "protection %#x is not allowed for a section: readonly, "
                   "readwrite, writecopy and their execute forms are (A.4.3)",
                   prot);
  if (!file) {
    /* A.11.2: page-file sections. */
    if (attr == 0) attr = MM_SEC_COMMIT;
    uint32_t rc = attr & (MM_SEC_RESERVE | MM_SEC_COMMIT);
    if (rc == 0 || rc == (MM_SEC_RESERVE | MM_SEC_COMMIT) || (attr & MM_SEC_FILE))
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_6,
                     "a page-file section needs exactly one of SEC_COMMIT "
                     "and SEC_RESERVE, and no SEC_FILE (A.11.2)");
    if (attr & MM_SEC_LARGE_PAGES)
      return mm_fail(sys, (attr & MM_SEC_COMMIT) ? MM_STATUS_PRIVILEGE_NOT_HELD
                                                  : MM_STATUS_INVALID_PARAMETER_6,
                     "SEC_LARGE_PAGES needs SEC_COMMIT and "
                     "SeLockMemoryPrivilege, which simulated processes do "
                     "not hold (A.11.2, A.14)");
    if (cfg->size == 0)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_4,
                     "a page-file section needs a size (A.11.1)");
  } else {
    /* A.11.2: file sections report SEC_FILE whatever was asked. */
    if (attr & MM_SEC_LARGE_PAGES)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_6,
                     "SEC_LARGE_PAGES is for page-file sections (A.11.2)");
    if ((attr & (MM_SEC_RESERVE | MM_SEC_COMMIT)) ==
        (MM_SEC_RESERVE | MM_SEC_COMMIT))
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_6,
                     "SEC_RESERVE and SEC_COMMIT together (A.11.2)");
    attr = MM_SEC_FILE | (attr & MM_SEC_NOCACHE);
    if (file->size == 0)
      return mm_fail(sys, MM_STATUS_MAPPED_FILE_SIZE_ZERO,
                     "file %s is empty: it cannot back a section (A.11.3)",
                     file->name);
    if (file->host && prot_writable(prot))
      return mm_fail(sys, MM_STATUS_ACCESS_DENIED,
                     "host file %s is read-only: a %s section needs write "
                     "access (A.4.9)", file->name, "writable");
    if (cfg->size > file->size && !prot_writable(prot))
      return mm_fail(sys, MM_STATUS_SECTION_TOO_BIG,
                     "section of %llu bytes on the %llu-byte file %s: only a "
                     "writable section may extend the file (A.11.3)",
                     (unsigned long long)cfg->size,
                     (unsigned long long)file->size, file->name);
  }
  uint64_t size = cfg->size ? cfg->size : file->size;
  uint64_t npages = pages_of(sys, size);
  /* A.6.3: a SEC_COMMIT section past the commit limit fails on commit
  ** first (512 GB gives STATUS_COMMITMENT_LIMIT). */
  if (!file && (attr & MM_SEC_COMMIT) &&
      npages > sys->commit_limit - sys->commit_charge)
    return mm_fail(sys, MM_STATUS_COMMITMENT_LIMIT,
                   "a SEC_COMMIT section of %llu pages would pass the commit "
                   "limit (%llu of %llu pages charged, A.6.3)",
                   (unsigned long long)npages,
                   (unsigned long long)sys->commit_charge,
                   (unsigned long long)sys->commit_limit);
  if (npages >= (1ull << SEG_PAGE_BITS))
    return mm_fail(sys, MM_STATUS_SECTION_TOO_BIG,
                   "section of %llu pages: pagelab simulates sections of "
                   "fewer than 2^24 pages", (unsigned long long)npages);
  if (!file) size = npages << sys->page_shift;    /* A.11.3: rounded */

  /* Everything that can fail, before anything changes. */
  if (sys->mem && file && size > file->size) {
    if (size > MAX_FILE_CONTENTS)
      return mm_fail(sys, MM_STATUS_NO_MEMORY, "file too big to keep contents");
    /* The file's buffer grows first; its size only once the section is
    ** made (a bigger buffer than the size is harmless if we fail). */
    uint8_t *d = realloc(file->data, size);
    if (!d)
      return mm_fail(sys, MM_STATUS_NO_MEMORY,
                     "out of memory extending %s to %llu bytes", file->name,
                     (unsigned long long)size);
    memset(d + file->size, 0, size - file->size);
    file->data = d;
  }
  mm_status st;
  if (!file && (attr & MM_SEC_COMMIT)) {
    st = commit_charge(sys, NULL, npages);     /* A.6.2: all at creation */
    if (st) return st;
  }
  GROW_SLOT(sys, sys->sections, sys->nsections, h);
  uint32_t seg = 0;
  if (!file) {
    seg = h ? seg_new(sys, SEG_PAGEFILE, npages,
                      (attr & MM_SEC_COMMIT) ? PTE_C : 0)
            : 0;
  } else if (file->seg) {
    seg = file->seg;
    mm_segment *s = &sys->segs[seg - 1];
    if (npages > s->npages) {
      mm_pte *np = realloc(s->proto, npages * sizeof *np);
      if (np) {
        for (uint64_t k = s->npages; k < npages; k++) np[k] = PTE_C;
        s->proto = np;
        s->npages = npages;
      } else {
        seg = 0;
      }
    }
  } else if (h) {
    seg = seg_new(sys, SEG_DATA, npages, PTE_C);
    if (seg) {
      sys->segs[seg - 1].file = cfg->file;
      file = &sys->files[cfg->file - 1];     /* the array may have moved */
      file->seg = seg;
    }
  }
  if (!h || !seg) {
    if (!file && (attr & MM_SEC_COMMIT)) commit_unwind(sys, NULL, npages);
    if (h) sys->sections[h - 1].used = false;
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                   "out of host memory or segment ids for a section");
  }
  if (file && size > file->size) file->size = size;   /* A.11.3: extends it */
  mm_section *s = &sys->sections[h - 1];
  memset(s, 0, sizeof *s);
  s->used = true;
  if (cfg->name) snprintf(s->name, sizeof s->name, "%s", cfg->name);
  s->seg = seg;
  s->size = size;
  s->protect = prot;
  s->attributes = attr;
  s->handles = 1;
  s->file = cfg->file;
  if (!file) {
    sys->segs[seg - 1].section = h;
    if (attr & MM_SEC_COMMIT) sys->segs[seg - 1].committed = npages;
  } else {
    file->sections++;
  }
  *out = h;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

static void section_maybe_free(mm_system *sys, mm_handle h) {
  mm_section *s = &sys->sections[h - 1];
  if (s->handles) return;
  s->name[0] = 0;                    /* A.11.4: the name goes now */
  if (s->views) return;
  if (s->file) {
    sys->files[s->file - 1].sections--;
    mm_handle f = s->file;
    memset(s, 0, sizeof *s);
    file_maybe_free(sys, f);
  } else {
    seg_free(sys, s->seg);
    memset(s, 0, sizeof *s);
  }
}

mm_handle section_slot(mm_system *sys) {
  mm_handle h;
  GROW_SLOT(sys, sys->sections, sys->nsections, h);
  return h;
}

mm_status mm_section_close(mm_system *sys, mm_handle h) {
  mm_section *s = section_get(sys, h);
  if (!s) return sys->last_status;
  if (s->handles == 0)
    return mm_fail(sys, MM_STATUS_INVALID_HANDLE,
                   "section %u has no open handle", h);
  s->handles--;
  section_maybe_free(sys, h);
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

mm_status mm_section_info_get(mm_system *sys, mm_handle h, mm_section_info *o) {
  mm_section *s = section_get(sys, h);
  if (!s) return sys->last_status;
  mm_segment *g = &sys->segs[s->seg - 1];
  memset(o, 0, sizeof *o);
  o->size = s->size;
  o->protect = s->protect;
  o->attributes = s->attributes;
  o->pages = pages_of(sys, s->size);
  o->views = s->views;
  o->file = s->file;
  o->name = s->name;
  for (uint64_t k = 0; k < o->pages && k < g->npages; k++) {
    mm_pte v = g->proto[k];
    if (pte_committed(v)) o->committed++;
    if (pte_valid(v)) o->resident++;
  }
  return MM_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- views */

/* A.4.5: the page protections a view of a section with protection sp may
** have (modifiers aside). */
static bool view_prot_allowed(uint32_t sp, uint32_t vp) {
  uint32_t b = vp & PROT_BASE_MASK;
  uint32_t ro = MM_PAGE_NOACCESS | MM_PAGE_READONLY | MM_PAGE_WRITECOPY;
  uint32_t allowed;
  switch (sp) {
    case MM_PAGE_READONLY: case MM_PAGE_WRITECOPY: allowed = ro; break;
    case MM_PAGE_READWRITE: allowed = ro | MM_PAGE_READWRITE; break;
    case MM_PAGE_EXECUTE: allowed = MM_PAGE_NOACCESS | MM_PAGE_EXECUTE; break;
    case MM_PAGE_EXECUTE_READ:
      allowed = ro | MM_PAGE_EXECUTE | MM_PAGE_EXECUTE_READ; break;
    case MM_PAGE_EXECUTE_READWRITE: allowed = 0xFF; break;
    case MM_PAGE_EXECUTE_WRITECOPY:
      allowed = ro | MM_PAGE_EXECUTE | MM_PAGE_EXECUTE_READ |
                MM_PAGE_EXECUTE_WRITECOPY;
      break;
    default: allowed = MM_PAGE_NOACCESS; break;
  }
  return (b & allowed) == b;
}

#define view_of view_at

mm_status view_insert(mm_system *sys, mm_process *p, uint64_t lo,
                      uint64_t npages, uint32_t alloc_protect, uint8_t type,
                      uint64_t charge, uint64_t section_commit, mm_view **out) {
  mm_status st;
  mm_view *view = calloc(1, sizeof *view);
  if (!view) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  for (uint64_t k = 0; k < npages; k++) {
    mm_leaf *leaf = pt_ensure(sys, p, lo + k);
    if (!leaf || pt_shareable(sys, leaf) != 0) {
      st = mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory for page tables");
      goto undo_tables;
    }
  }
  if (charge && (st = commit_charge(sys, p, charge)) != 0) goto undo_tables;
  if (section_commit && (st = commit_charge(sys, NULL, section_commit)) != 0)
    goto undo_charge;
  mm_vad v = { lo, lo + npages, alloc_protect, type, 0, 0, view };
  st = vad_insert(sys, p, &v);
  if (st) goto undo_section;
  view->charged = charge;
  p->view_commit += charge;
  *out = view;
  return MM_STATUS_SUCCESS;
undo_section:
  if (section_commit) commit_unwind(sys, NULL, section_commit);
undo_charge:
  if (charge) commit_unwind(sys, p, charge);
undo_tables:
  pt_prune(sys, p, lo, lo + npages);
  free(view);
  return st;
}

bool view_section_allows(mm_system *sys, const mm_vad *v, uint32_t prot) {
  const mm_view *view = v->view;
  if (!view || (v->flags & VAD_F_SYSTEM)) return true;
  return view_prot_allowed(sys->sections[view->section - 1].protect, prot);
}

mm_status mm_map_view(mm_system *sys, mm_pid pid, mm_handle h, uint64_t *base,
                      uint64_t offset, uint64_t *size, uint32_t protect,
                      uint64_t commit_size, uint32_t type) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  mm_section *s = section_get(sys, h);
  if (!s) return sys->last_status;
  if (!base || !size)
    return mm_fail(sys, MM_STATUS_ACCESS_VIOLATION, "no base or size pointer");
  if (sys->segs[s->seg - 1].kind == SEG_IMAGE) {
    if (offset || (*size && *size != s->size))
      return mm_fail(sys, MM_STATUS_INVALID_VIEW_SIZE,
                     "an image is mapped whole: offset 0, size 0 or %#llx",
                     (unsigned long long)s->size);
    if (type & ~MM_MEM_TOP_DOWN)
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_9,
                     "allocation type %#x: a view takes only MEM_TOP_DOWN", type);
    return image_map(sys, p, h, base, size, type);   /* A.11.6: access ignored */
  }
  if (type & ~MM_MEM_TOP_DOWN)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_9,
                   "allocation type %#x: a view takes only MEM_TOP_DOWN "
                   "(A.11.5)", type);
  if (!prot_valid(protect))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "%#x is not a valid page protection (A.4.2)", protect);
  if (protect & (MM_PAGE_NOCACHE | MM_PAGE_WRITECOMBINE))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "NOCACHE and WRITECOMBINE are for private memory; "
                   "sections use SEC_NOCACHE (A.4.3)");
  if (!view_prot_allowed(s->protect, protect))
    return mm_fail(sys, MM_STATUS_SECTION_PROTECTION,
                   "a view with protection %#x asks for more than the "
                   "section's %#x (A.4.5)", protect, s->protect);
  if (offset % MM_GRANULE)
    return mm_fail(sys, MM_STATUS_MAPPED_ALIGNMENT,
                   "offset %#llx is not a multiple of 64 KiB (A.11.5)",
                   (unsigned long long)offset);
  if (*base % MM_GRANULE)
    return mm_fail(sys, MM_STATUS_MAPPED_ALIGNMENT,
                   "base %#llx is not a multiple of 64 KiB (A.11.5)",
                   (unsigned long long)*base);
  if (offset >= s->size)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "offset %#llx is at or past the end of the %#llx-byte "
                   "section (A.11.5)", (unsigned long long)offset,
                   (unsigned long long)s->size);
  if (*size == UINT64_MAX)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_3,
                   "view size %#llx (A.11.5)", (unsigned long long)*size);
  uint64_t want = *size ? *size : s->size - offset;
  if (want > s->size - offset)
    return mm_fail(sys, MM_STATUS_INVALID_VIEW_SIZE,
                   "a view of %#llx bytes at offset %#llx runs past the "
                   "%#llx-byte section (A.11.5)", (unsigned long long)want,
                   (unsigned long long)offset, (unsigned long long)s->size);
  if (*base && (*base < sys->arch->user_lo || *base > sys->arch->user_hi))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER_3,
                   "base %#llx is outside the user range",
                   (unsigned long long)*base);
  uint64_t npages = pages_of(sys, want);
  uint64_t first = offset >> sys->page_shift;
  mm_segment *g = &sys->segs[s->seg - 1];
  bool cow = prot_is_writecopy(protect);

  /* Commit at map time in a SEC_RESERVE section (A.11.8 CommitSize). */
  uint64_t ncommit = 0, cpages = 0;
  if (commit_size && g->kind == SEG_PAGEFILE && (s->attributes & MM_SEC_RESERVE)) {
    cpages = pages_of(sys, commit_size);
    if (cpages > npages) cpages = npages;
    for (uint64_t k = 0; k < cpages; k++)
      if (!pte_committed(g->proto[first + k])) ncommit++;
  }
  uint64_t lo = *base >> sys->page_shift;
  uint64_t gp = MM_GRANULE >> sys->page_shift;
  if (gp == 0) gp = 1;
  mm_status st = vad_place(sys, p, &lo, npages, gp, (type & MM_MEM_TOP_DOWN) != 0);
  if (st) return st;
  /* A.6.2: a write-copy view is charged whole: any page may become a
  ** private copy. */
  mm_view *view;
  st = view_insert(sys, p, lo, npages, protect, VAD_MAPPED, cow ? npages : 0,
                   ncommit, &view);
  if (st) return st;
  /* From here nothing fails. */
  for (uint64_t k = 0; k < cpages; k++)
    if (!pte_committed(g->proto[first + k])) g->proto[first + k] = PTE_C;
  g->committed += ncommit;
  view->section = h;
  view->seg = s->seg;
  view->first = first;
  for (uint64_t k = 0; k < npages; k++) {
    mm_leaf *leaf = pt_leaf(p, sys, lo + k);
    mm_pte *pte = &leaf->pte[lo + k - leaf->base_vpn];
    assert(*pte == 0);
    *pte = PTE_C | (PTE_KIND_PROTO << PTE_KIND_SHIFT) |
           ((mm_pte)protect << PTE_PROT_SHIFT) |
           ((mm_pte)proto_index(s->seg, first + k) << PTE_PAYLOAD_SHIFT);
    leaf->live++;
  }
  s->views++;
  if (s->file) sys->files[s->file - 1].views++;
  *base = lo << sys->page_shift;
  *size = npages << sys->page_shift;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* Drops one valid view PTE's hold on a shared frame: the PTE's dirty bit
** goes into the frame; at share 0 the prototype becomes transition and the
** frame goes to standby or modified. */
static void unshare(mm_system *sys, uint32_t f, mm_pte v) {
  mm_pfn *e = &sys->pfn[f];
  if (v & PTE_D) {
    e->flags |= PFN_F_MODIFIED;
    if (e->slot != MM_NIL) { pf_free(sys, e->slot); e->slot = MM_NIL; }
  }
  assert(e->share > 0);
  if (--e->share) return;
  mm_pte *pp = &sys->segs[e->owner - 1].proto[e->vpn];
  *pp = PTE_C | (PTE_KIND_TRANS << PTE_KIND_SHIFT) |
        ((mm_pte)f << PTE_PAYLOAD_SHIFT);
  e->flags = (uint8_t)((e->flags & ~(7u << PFN_PRIO_SHIFT)) |
                       (sys->cfg.tune.standby_priority << PFN_PRIO_SHIFT));
  pfn_insert(sys, f, (e->flags & PFN_F_MODIFIED) ? LIST_MODIFIED : LIST_STANDBY);
}

void view_trim(mm_system *sys, mm_process *p, mm_pte *pte, uint32_t f) {
  (void)p;
  mm_pte v = *pte;
  mm_pfn *e = &sys->pfn[f];
  *pte = (v & (PTE_C | PTE_PROT_MASK)) | (PTE_KIND_PROTO << PTE_KIND_SHIFT) |
         ((mm_pte)proto_index(e->owner, e->vpn) << PTE_PAYLOAD_SHIFT);
  unshare(sys, f, v);
}

/* Releases what one view PTE holds; the PTE becomes zero. */
static void view_page_release(mm_system *sys, mm_process *p, mm_leaf *leaf,
                              uint32_t i) {
  mm_pte v = leaf->pte[i];
  if (pte_valid(v)) {
    uint32_t f = (uint32_t)pte_payload(v);
    ws_remove(sys, p, *pte_wsslot(sys, leaf, i, v));
    if (v & PTE_PROTOMAP) {
      unshare(sys, f, v);
    } else {                         /* a copy-on-write private page */
      sys->pfn[f].share = 0;
      p->st.private_pages--;
      pfn_release(sys, f);
    }
  } else if (pte_kind(v) == PTE_KIND_TRANS) {
    pfn_release(sys, (uint32_t)pte_payload(v));
  } else if (pte_kind(v) == PTE_KIND_PAGEFILE) {
    pf_free(sys, (uint32_t)pte_payload(v));
  }
  leaf->pte[i] = 0;
  leaf->live--;
  if (sys->tlb) tlb_flush_page(sys->tlb, p->pid, leaf->base_vpn + i);
}

void view_unmap(mm_system *sys, mm_process *p, int vi) {
  mm_vad v = p->vads[vi];
  mm_view *view = v.view;
  for (uint64_t x = v.start; x < v.end; x++) {
    mm_leaf *leaf = pt_leaf(p, sys, x);
    if (leaf && leaf->pte[x - leaf->base_vpn])
      view_page_release(sys, p, leaf, (uint32_t)(x - leaf->base_vpn));
  }
  if (view->charged) {
    commit_return(sys, p, view->charged);
    p->view_commit -= view->charged;
  }
  vad_remove(p, vi);
  pt_prune(sys, p, v.start, v.end);
  mm_handle h = view->section;
  free(view);
  mm_section *s = &sys->sections[h - 1];
  s->views--;
  if (s->file) sys->files[s->file - 1].views--;
  mm_handle f = s->file;
  section_maybe_free(sys, h);
  if (f && sys->files[f - 1].used) file_maybe_free(sys, f);
}

mm_status mm_unmap_view(mm_system *sys, mm_pid pid, uint64_t addr) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  int vi = vad_find(p, addr >> sys->page_shift);
  if (!view_of(p, vi))
    return mm_fail(sys, MM_STATUS_NOT_MAPPED_VIEW,
                   "%#llx is not inside a mapped view (A.11.10)",
                   (unsigned long long)addr);
  view_unmap(sys, p, vi);
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

void view_unmap_all(mm_system *sys, mm_process *p) {
  for (int vi = (int)p->nvads - 1; vi >= 0; vi--)
    if (view_of(p, vi)) view_unmap(sys, p, vi);
}

mm_status view_commit(mm_system *sys, mm_process *p, int vi, uint64_t lo,
                      uint64_t hi, uint32_t prot) {
  mm_vad *v = &p->vads[vi];
  mm_view *view = v->view;
  mm_segment *g = &sys->segs[view->seg - 1];
  if (g->kind != SEG_PAGEFILE)
    return mm_fail(sys, MM_STATUS_ACCESS_DENIED,
                   "committing in a view of a file is refused (A.11.8)");
  /* The section's protection bounds the commit, not the view's: a view
  ** mapped no-access commits read-write pages (A.11.8, R-api-MVS). */
  uint32_t sp = sys->sections[view->section - 1].protect;
  if (prot & (MM_PAGE_NOCACHE | MM_PAGE_WRITECOMBINE))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "NOCACHE and WRITECOMBINE are for private memory; sections "
                   "use SEC_NOCACHE (A.4.3)");
  if (!prot_valid(prot) || !view_prot_allowed(sp, prot))
    return mm_fail(sys, MM_STATUS_INVALID_PAGE_PROTECTION,
                   "protection %#x is not compatible with the section's %#x "
                   "(A.4.5)", prot, sp);
  uint64_t first = view->first + (lo - v->start), n = 0;
  for (uint64_t k = 0; k < hi - lo; k++)
    if (!pte_committed(g->proto[first + k])) n++;
  if (n) {
    mm_status st = commit_charge(sys, NULL, n);
    if (st) return st;
  }
  for (uint64_t k = 0; k < hi - lo; k++)
    if (!pte_committed(g->proto[first + k])) g->proto[first + k] = PTE_C;
  g->committed += n;
  /* The protection is this view's alone (A.11.8). */
  for (uint64_t x = lo; x < hi; x++) page_protect(sys, p, x, prot);
  return MM_STATUS_SUCCESS;
}

mm_status mm_flush_view(mm_system *sys, mm_pid pid, uint64_t *base,
                        uint64_t *size) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  uint64_t vpn = *base >> sys->page_shift;
  int vi = vad_find(p, vpn);
  mm_view *view = view_of(p, vi);
  if (!view)
    return mm_fail(sys, MM_STATUS_NOT_MAPPED_VIEW,
                   "%#llx is not inside a mapped view", (unsigned long long)*base);
  mm_vad *v = &p->vads[vi];
  uint64_t end = *size ? (*base + *size + sys->page_size - 1) >> sys->page_shift
                       : v->end;
  if (end > v->end) end = v->end;
  mm_segment *g = &sys->segs[view->seg - 1];
  for (uint64_t x = vpn; x < end && g->kind == SEG_DATA; x++) {
    mm_pte *pte = pt_lookup(p, sys, x);
    uint64_t page = view->first + (x - v->start);
    mm_pte pv = g->proto[page];
    uint32_t f;
    if (pte && pte_valid(*pte) && (*pte & PTE_PROTOMAP)) {
      f = (uint32_t)pte_payload(*pte);
      if (*pte & PTE_D) {            /* fold the dirty bit in */
        *pte &= ~(mm_pte)PTE_D;
        sys->pfn[f].flags |= PFN_F_MODIFIED;
      }
    } else if (pte_valid(pv) || pte_kind(pv) == PTE_KIND_TRANS) {
      f = (uint32_t)pte_payload(pv);
    } else {
      continue;
    }
    mm_pfn *e = &sys->pfn[f];
    if (!(e->flags & PFN_F_MODIFIED)) continue;
    /* Other mappings may hold the page dirty too: this write covers the
    ** data as it is now, which is what FlushViewOfFile promises. */
    file_write_page(sys, g, page, f);
    e->flags &= (uint8_t)~PFN_F_MODIFIED;
    if (e->list == LIST_MODIFIED) {
      pfn_unlink(sys, f);
      pfn_insert(sys, f, LIST_STANDBY);
    }
  }
  *base = vpn << sys->page_shift;
  *size = (end - vpn) << sys->page_shift;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

/* ----------------------------------------------------------- view faults */

bool seg_fill(mm_system *sys, mm_segment *g, uint64_t page, uint32_t f) {
  uint8_t *dst = sys->mem ? frame_bytes(sys, f) : NULL;
  if (g->kind == SEG_PAGEFILE) {
    if (dst) memset(dst, 0, sys->page_size);
    return false;
  }
  if (g->kind == SEG_IMAGE) {
    if (!(g->pprot[page] & IMG_FILEBACKED)) {     /* .bss and the like */
      if (dst) memset(dst, 0, sys->page_size);
      return false;
    }
    sys->files[g->file - 1].reads++;
    if (dst) {
      if (g->image) memcpy(dst, g->image + (page << sys->page_shift), sys->page_size);
      else memset(dst, 0, sys->page_size);
    }
    return true;
  }
  mm_file *file = &sys->files[g->file - 1];
  file->reads++;
  if (!dst) return true;
  uint64_t off = page << sys->page_shift, n = 0;
  if (file->data && off < file->size)
    n = file->size - off < sys->page_size ? file->size - off : sys->page_size;
  if (n) memcpy(dst, file->data + off, n);
  memset(dst + n, 0, sys->page_size - n);     /* A.7.4: past the end */
  return true;
}

/* The outcome of bringing a segment page into frame f for a copy, without
** making the prototype valid: used by copy-on-write. Returns the outcome
** class of the source (hit when it was resident). */
static void copy_source(mm_system *sys, mm_process *p, mm_pte pv,
                        mm_segment *g, uint64_t page, uint32_t nf) {
  if (pte_valid(pv) || pte_kind(pv) == PTE_KIND_TRANS) {
    if (sys->mem)
      memcpy(frame_bytes(sys, nf), frame_bytes(sys, (uint32_t)pte_payload(pv)),
             sys->page_size);
  } else if (pte_kind(pv) == PTE_KIND_PAGEFILE) {
    sys->st.pagefile_reads++;
    p->st.pagefile_reads++;
    if (sys->mem) contents_slot_in(sys, (uint32_t)pte_payload(pv), nf);
  } else {
    seg_fill(sys, g, page, nf);
  }
}


/* A.8 copy-on-write: a write to a write-copy page takes a new frame, copies
** the shared page into it and maps it privately, READWRITE from now on
** (A.4.6). The shared page is not made resident for this: its data is
** copied from wherever it is (frame, page file, file). */
static int cow_fault(mm_system *sys, mm_process *p, mm_leaf *leaf, uint32_t i) {
  bool in_ws = pte_valid(leaf->pte[i]);
  if (!in_ws && ws_make_room(sys, p) != 0) return MM_ERROR;
  uint32_t nf = frame_get(sys, p, false);
  if (nf == MM_NIL) return MM_ERROR;
  mm_pte v = leaf->pte[i];            /* may have been trimmed meanwhile */
  in_ws = pte_valid(v);
  uint32_t slot = in_ws ? *pte_wsslot(sys, leaf, i, v) : MM_NIL;
  uint64_t pidx;
  if (in_ws) {
    uint32_t f = (uint32_t)pte_payload(v);
    pidx = proto_index(sys->pfn[f].owner, sys->pfn[f].vpn);
    if (sys->mem) memcpy(frame_bytes(sys, nf), frame_bytes(sys, f), sys->page_size);
    unshare(sys, f, v);
  } else {
    if (ws_make_room(sys, p) != 0) {
      pfn_release(sys, nf);
      return MM_ERROR;
    }
    pidx = pte_payload(v);
    mm_segment *g;
    mm_pte *pp = proto_pte(sys, pidx, &g);
    copy_source(sys, p, *pp, g, pidx & ((1ull << SEG_PAGE_BITS) - 1), nf);
  }
  uint32_t prot = prot_after_cow(pte_prot(v));
  mm_pfn *e = &sys->pfn[nf];
  e->owner = p->pid;
  e->vpn = leaf->base_vpn + i;
  e->share = 1;
  e->flags = PFN_F_MODIFIED;
  e->slot = MM_NIL;
  leaf->pte[i] = PTE_C | PTE_V | PTE_A | PTE_D | pte_hw_bits(prot) |
                 ((mm_pte)prot << PTE_PROT_SHIFT) | ((mm_pte)nf << PTE_PAYLOAD_SHIFT);
  if (in_ws) {
    e->wsslot = slot;                 /* the same slot, now the frame's */
  } else {
    ws_insert(sys, p, leaf, leaf->base_vpn + i);
  }
  if (sys->tlb) tlb_flush_page(sys->tlb, p->pid, leaf->base_vpn + i);
  p->st.private_pages++;
  p->st.cow++;
  return MM_COW;
}

mm_status view_make_private(mm_system *sys, mm_process *p, uint64_t vpn) {
  mm_leaf *leaf = pt_leaf(p, sys, vpn);
  uint32_t i = leaf ? (uint32_t)(vpn - leaf->base_vpn) : 0;
  if (!leaf || !leaf->pte[i])
    return mm_fail(sys, MM_STATUS_NOT_MAPPED_VIEW, "page %#llx is not in a view",
                   (unsigned long long)(vpn << sys->page_shift));
  mm_pte v = leaf->pte[i];
  bool shared = pte_valid(v) ? (v & PTE_PROTOMAP) != 0
                             : pte_kind(v) == PTE_KIND_PROTO;
  if (!shared) return MM_STATUS_SUCCESS;        /* already its own */
  if (!pte_valid(v) && !pte_committed(*proto_pte(sys, pte_payload(v), NULL)))
    return mm_fail(sys, MM_STATUS_NOT_COMMITTED, "page %#llx is not committed",
                   (unsigned long long)(vpn << sys->page_shift));
  sys->nested++;
  int r = cow_fault(sys, p, leaf, i);
  sys->nested--;
  return r == MM_ERROR ? sys->last_status : MM_STATUS_SUCCESS;
}

int view_fault(mm_system *sys, mm_process *p, mm_leaf *leaf, uint32_t i,
               unsigned kind) {
  mm_pte v = leaf->pte[i];
  uint32_t prot = pte_prot(v);
  mm_segment *g;
  uint64_t pidx = pte_valid(v) ? 0 : pte_payload(v);
  if (!pte_valid(v)) {
    mm_pte *pp = proto_pte(sys, pidx, &g);
    if (!pte_committed(*pp)) {       /* A.8: reserved section page */
      p->st.access_violations++;
      return MM_ACCESS_VIOLATION;
    }
  }
  if (kind == MM_WRITE && prot_is_writecopy(prot)) return cow_fault(sys, p, leaf, i);
  if (pte_valid(v)) {                /* only write-copy writes get here */
    p->st.access_violations++;
    return MM_ACCESS_VIOLATION;
  }
  if (ws_make_room(sys, p) != 0) return MM_ERROR;
  mm_pte *pp = proto_pte(sys, pidx, &g);
  uint64_t page = pidx & ((1ull << SEG_PAGE_BITS) - 1);
  uint32_t f;
  int outcome;
  mm_pte pv = *pp;
  if (pte_valid(pv)) {               /* in another working set: soft */
    f = (uint32_t)pte_payload(pv);
    sys->pfn[f].share++;
    outcome = MM_SOFT;
  } else if (pte_kind(pv) == PTE_KIND_TRANS) {
    f = (uint32_t)pte_payload(pv);
    pfn_unlink(sys, f);
    sys->pfn[f].share = 1;
    outcome = MM_SOFT;
  } else {
    bool dz = pte_kind(pv) == PTE_KIND_DZ &&
              (g->kind == SEG_PAGEFILE ||
               (g->kind == SEG_IMAGE && !(g->pprot[page] & IMG_FILEBACKED)));
    f = frame_get(sys, p, dz);
    if (f == MM_NIL) return MM_ERROR;
    pp = proto_pte(sys, pidx, &g);
    pv = *pp;
    mm_pfn *e = &sys->pfn[f];
    e->slot = MM_NIL;
    if (pte_kind(pv) == PTE_KIND_PAGEFILE) {
      uint32_t slot = (uint32_t)pte_payload(pv);
      if (sys->mem) contents_slot_in(sys, slot, f);
      e->slot = slot;
      e->flags = 0;
      sys->st.pagefile_reads++;
      p->st.pagefile_reads++;
      outcome = MM_HARD;
    } else if (dz) {
      seg_fill(sys, g, page, f);
      e->flags = PFN_F_MODIFIED;     /* A.7.3: no backing copy yet */
      outcome = MM_DEMAND_ZERO;
    } else {
      seg_fill(sys, g, page, f);
      e->flags = 0;                  /* clean: the file has it */
      outcome = MM_HARD;
    }
    e->share = 1;
  }
  mm_pfn *e = &sys->pfn[f];
  e->owner = (uint32_t)(pidx >> SEG_PAGE_BITS);
  e->vpn = page;
  e->flags |= PFN_F_PROTO;
  *pp = PTE_C | PTE_V | ((mm_pte)f << PTE_PAYLOAD_SHIFT);
  static const mm_pte set_bits[3] = { PTE_A, PTE_A | PTE_D, PTE_A };
  leaf->pte[i] = PTE_C | PTE_V | PTE_PROTOMAP | pte_hw_bits(prot) |
                 set_bits[kind] | ((mm_pte)prot << PTE_PROT_SHIFT) |
                 ((mm_pte)f << PTE_PAYLOAD_SHIFT);
  ws_insert(sys, p, leaf, leaf->base_vpn + i);
  switch (outcome) {
    case MM_SOFT: p->st.soft++; break;
    case MM_HARD: p->st.hard++; break;
    default: p->st.demand_zero++; break;
  }
  return outcome;
}

/* ------------------------------------------------------------- teardown */

void sections_destroy(mm_system *sys) {
  for (uint32_t k = 0; k < sys->nsegs; k++) {
    free(sys->segs[k].proto);
    if (sys->segs[k].used && sys->segs[k].kind == SEG_IMAGE)
      image_seg_free(sys, &sys->segs[k]);
  }
  for (uint32_t k = 0; k < sys->nfiles; k++) {
    free(sys->files[k].data);
    free(sys->files[k].path);
  }
  free(sys->segs);
  free(sys->files);
  free(sys->sections);
  sys->segs = NULL;
  sys->files = NULL;
  sys->sections = NULL;
}

/* ---------------------------------------------------------------- check */

#define BAD(...) do { mm_fail(sys, MM_STATUS_INVALID_PARAMETER, __VA_ARGS__); \
                      return -1; } while (0)

int sections_check(mm_system *sys) {
  for (uint32_t id = 1; id <= sys->nsegs; id++) {
    mm_segment *g = &sys->segs[id - 1];
    if (!g->used) continue;
    uint64_t committed = 0;
    for (uint64_t k = 0; k < g->npages; k++) {
      mm_pte v = g->proto[k];
      if (!v) continue;
      if (!pte_committed(v)) BAD("segment %u page %llu: not committed but "
                                 "not zero", id, (unsigned long long)k);
      committed++;
      if (pte_valid(v) || pte_kind(v) == PTE_KIND_TRANS) {
        uint64_t f = pte_payload(v);
        if (f >= sys->nframes) BAD("segment %u names frame %llu past the end",
                                   id, (unsigned long long)f);
        mm_pfn *e = &sys->pfn[f];
        if (!(e->flags & PFN_F_PROTO) || e->owner != id || e->vpn != k)
          BAD("segment %u page %llu: frame %llu does not point back", id,
              (unsigned long long)k, (unsigned long long)f);
        if (pte_valid(v) && (e->list != LIST_ACTIVE || e->share == 0))
          BAD("segment %u page %llu: valid but frame %llu not in use", id,
              (unsigned long long)k, (unsigned long long)f);
        if (!pte_valid(v) && (e->list == LIST_ACTIVE || e->share))
          BAD("segment %u page %llu: transition but frame %llu in use", id,
              (unsigned long long)k, (unsigned long long)f);
        if (g->kind == SEG_DATA && e->slot != MM_NIL)
          BAD("file page %llu holds a page-file slot", (unsigned long long)k);
      }
    }
    if (g->kind == SEG_PAGEFILE && committed != g->committed)
      BAD("segment %u: %llu pages committed, %llu charged", id,
          (unsigned long long)committed, (unsigned long long)g->committed);
  }
  return 0;
}
