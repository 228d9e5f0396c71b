/*
** image.c — image sections (SEC_IMAGE) and image views (WINDOWS.md A.12).
**
** An image section is built once per file (A.11.11: image sections of one
** file are the same object) from the parsed PE: one prototype PTE per page
** of SizeOfImage, and per page the protection its PE section gives it
** (A.12.2; the header page READONLY, A.12.1) and whether any byte of it
** comes from the file (else it is demand-zero, like .bss). With contents,
** the laid-out image (pe_layout) is what a hard fault reads.
**
** A view is one allocation of SizeOfImage, type image, allocation
** protection EXECUTE_WRITECOPY, at the preferred base when it is free.
** Elsewhere the view reports STATUS_IMAGE_NOT_AT_BASE and every page the
** base relocations touch (and the header, whose ImageBase field changes)
** becomes the process's own copy — relocated code is not shared (A.12.6).
** An image without relocations cannot move: STATUS_CONFLICTING_ADDRESSES.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static uint64_t pages_of(const mm_system *sys, uint64_t bytes) {
  return (bytes + sys->page_size - 1) >> sys->page_shift;
}

/* Access bits R=1 W=2 X=4 S(shared)=8, to merge sections sharing a page
** when pages are larger than the section alignment. */
static unsigned prot_bits(uint32_t prot, bool shared) {
  unsigned b = 0;
  if (prot_can_read(prot)) b |= 1;
  if (prot_can_write(prot)) b |= 2;
  if (prot_can_exec(prot)) b |= 4;
  if (shared && prot_can_write(prot) && !prot_is_writecopy(prot)) b |= 8;
  return b;
}

/* A.12.2 from access bits. */
static uint32_t bits_prot(unsigned b) {
  bool r = b & 1, w = b & 2, x = b & 4, s = b & 8;
  if (w && s) return x ? MM_PAGE_EXECUTE_READWRITE : MM_PAGE_READWRITE;
  if (w) return x ? MM_PAGE_EXECUTE_WRITECOPY : MM_PAGE_WRITECOPY;
  if (x) return r ? MM_PAGE_EXECUTE_READ : MM_PAGE_EXECUTE;
  return r ? MM_PAGE_READONLY : MM_PAGE_NOACCESS;
}

/* The file's bytes: its contents, or read from the host path. *owned says
** whether the caller frees them. NULL when there are none to read. */
static uint8_t *file_bytes(mm_system *sys, mm_file *f, bool *owned) {
  *owned = false;
  if (f->data) return f->data;
  if (!f->host || !f->size) return NULL;
  FILE *fp = fopen(f->path, "rb");
  if (!fp) return NULL;
  uint8_t *b = malloc(f->size);
  if (b && fread(b, 1, f->size, fp) != f->size) { free(b); b = NULL; }
  fclose(fp);
  (void)sys;
  *owned = b != NULL;
  return b;
}

/* The pages base relocations write, as a bitmap (one bit per page). */
static uint8_t *reloc_bitmap(const mm_system *sys, const pe_image *pe,
                             uint64_t npages) {
  uint8_t *bm = calloc((npages + 7) / 8 + 1, 1);
  if (!bm) return NULL;
  for (uint32_t b = 0; b < pe->nreloc_blocks; b++) {
    const pe_reloc_block *blk = &pe->reloc_blocks[b];
    for (uint32_t k = 0; k < blk->nentries; k++) {
      const pe_reloc *r = &blk->entries[k];
      unsigned len = r->type == PE_REL_DIR64 ? 8 : r->type == PE_REL_HIGHLOW ? 4
                   : r->type == PE_REL_ABSOLUTE ? 0 : 2;
      if (!len) continue;
      uint64_t lo = (uint64_t)blk->page_rva + r->offset;
      for (uint64_t pg = lo >> sys->page_shift;
           pg <= (lo + len - 1) >> sys->page_shift && pg < npages; pg++)
        bm[pg / 8] |= (uint8_t)(1u << (pg % 8));
    }
  }
  /* the ImageBase field in the header is rewritten too */
  uint64_t hp = pe->image_base_offset >> sys->page_shift;
  if (hp < npages) bm[hp / 8] |= (uint8_t)(1u << (hp % 8));
  return bm;
}

static bool machine_fits(const mm_system *sys, const pe_image *pe) {
  if (sys->arch->pointer_bits == 64)
    return pe->machine == PE_MACHINE_AMD64 && pe->pe32plus;
  return pe->machine == PE_MACHINE_I386 && !pe->pe32plus;
}

static mm_status build_segment(mm_system *sys, mm_file *f, mm_handle fh,
                               uint32_t *out) {
  bool owned;
  uint8_t *buf = file_bytes(sys, f, &owned);
  if (!buf)
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_NOT_MZ,
                   "%s: no image bytes to read (a simulated file needs "
                   "contents = true to hold an image)", f->name);
  pe_image *pe = NULL;
  char perr[PE_ERR_SIZE];
  pe_status ps = pe_parse(buf, f->size, &pe, perr, sizeof perr);
  if (ps != PE_STATUS_SUCCESS) {
    if (owned) free(buf);
    return mm_fail(sys, ps == PE_STATUS_NO_MEMORY ? MM_STATUS_NO_MEMORY : ps,
                   "%s: %s", f->name, perr);
  }
  mm_status st = MM_STATUS_SUCCESS;
  uint64_t npages = pages_of(sys, pe->size_of_image);
  uint16_t *pprot = NULL;
  uint8_t *image = NULL, *rel = NULL;
  if (!machine_fits(sys, pe)) {
    st = mm_fail(sys, MM_STATUS_IMAGE_MACHINE_TYPE_MISMATCH,
                 "%s is a %s image for machine %#x; this system is %s",
                 f->name, pe->pe32plus ? "PE32+" : "PE32", pe->machine,
                 sys->arch->name);
    goto fail;
  }
  if (npages == 0 || npages >= (1ull << SEG_PAGE_BITS)) {
    st = mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                 "%s: SizeOfImage %#x is not a size pagelab can map", f->name,
                 pe->size_of_image);
    goto fail;
  }
  pprot = calloc(npages, sizeof *pprot);
  rel = reloc_bitmap(sys, pe, npages);
  if (!pprot || !rel) { st = mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory"); goto fail; }
  /* Protections: the headers READONLY, then each section's pages. */
  unsigned *bits = calloc(npages, sizeof *bits);
  if (!bits) { st = mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory"); goto fail; }
  for (uint64_t pg = 0; pg < pages_of(sys, pe->size_of_headers) && pg < npages; pg++) {
    bits[pg] |= 1;
    pprot[pg] |= IMG_FILEBACKED;
  }
  for (uint32_t k = 0; k < pe->nsections; k++) {
    const pe_section *sec = &pe->sections[k];
    bool shared = (sec->characteristics & PE_SCN_MEM_SHARED) != 0;
    uint64_t lo = sec->va >> sys->page_shift;
    uint64_t hi = pages_of(sys, (uint64_t)sec->va + sec->mapped_size);
    uint64_t raw_end = (uint64_t)sec->va + (sec->raw_size < sec->mapped_size
                                               ? sec->raw_size : sec->mapped_size);
    for (uint64_t pg = lo; pg < hi && pg < npages; pg++) {
      bits[pg] |= prot_bits(sec->protect, shared);
      if (sec->raw_size && (pg << sys->page_shift) < raw_end)
        pprot[pg] |= IMG_FILEBACKED;
    }
  }
  for (uint64_t pg = 0; pg < npages; pg++) pprot[pg] |= (uint16_t)bits_prot(bits[pg]);
  free(bits);
  if (sys->mem) {
    image = calloc(npages, sys->page_size);
    if (!image) { st = mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory"); goto fail; }
    ps = pe_layout(pe, buf, f->size, image, npages << sys->page_shift, perr,
                   sizeof perr);
    if (ps != PE_STATUS_SUCCESS) {
      st = mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT, "%s: %s", f->name, perr);
      goto fail;
    }
  }
  uint32_t id = seg_new(sys, SEG_IMAGE, npages, PTE_C);
  if (!id) { st = mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES, "no segment"); goto fail; }
  mm_segment *g = &sys->segs[id - 1];
  g->pprot = pprot;
  g->image = image;
  g->pe = pe;
  g->reloc_pages = rel;
  g->file = fh;
  if (owned) free(buf);
  *out = id;
  return MM_STATUS_SUCCESS;
fail:
  free(pprot);
  free(image);
  free(rel);
  pe_free(pe);
  if (owned) free(buf);
  return st;
}

void image_seg_free(mm_system *sys, mm_segment *g) {
  if (g->file) sys->files[g->file - 1].image_seg = 0;
  free(g->pprot);
  free(g->image);
  free(g->reloc_pages);
  pe_free(g->pe);
  g->pprot = NULL;
  g->image = NULL;
  g->reloc_pages = NULL;
  g->pe = NULL;
}

mm_status image_section_create(mm_system *sys, const mm_section_config *cfg,
                               mm_file *file, mm_handle *out) {
  mm_handle fh = (mm_handle)(file - sys->files) + 1;
  uint32_t seg = file->image_seg;
  bool made = false;
  if (!seg) {
    mm_status st = build_segment(sys, file, fh, &seg);
    if (st) return st;
    made = true;
  }
  mm_handle h = section_slot(sys);
  if (!h) {
    if (made) { mm_segment *g = &sys->segs[seg - 1]; free(g->proto); image_seg_free(sys, g); memset(g, 0, sizeof *g); }
    return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  file = &sys->files[fh - 1];
  file->image_seg = seg;
  file->sections++;
  mm_section *s = &sys->sections[h - 1];
  memset(s, 0, sizeof *s);
  s->used = true;
  if (cfg->name) snprintf(s->name, sizeof s->name, "%s", cfg->name);
  s->seg = seg;
  s->size = sys->segs[seg - 1].pe->size_of_image;
  s->protect = MM_PAGE_EXECUTE_WRITECOPY;
  s->attributes = MM_SEC_FILE | MM_SEC_IMAGE;     /* A.11.2 */
  s->handles = 1;
  s->file = fh;
  *out = h;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

const pe_image *mm_section_image(mm_system *sys, mm_handle h) {
  if (h == 0 || h > sys->nsections || !sys->sections[h - 1].used) return NULL;
  mm_segment *g = &sys->segs[sys->sections[h - 1].seg - 1];
  return g->kind == SEG_IMAGE ? g->pe : NULL;
}

/* The relocated bytes of the pages fixed up, copied into the process's
** private frames (contents only). */
static mm_status apply_relocations(mm_system *sys, mm_process *p, mm_segment *g,
                                   uint64_t lo, uint64_t new_base) {
  size_t len = (size_t)g->npages << sys->page_shift;
  uint8_t *tmp = malloc(len);
  if (!tmp) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  memcpy(tmp, g->image, len);
  char perr[PE_ERR_SIZE];
  pe_status ps = pe_relocate(g->pe, tmp, len, new_base, (uint32_t)sys->page_size,
                             NULL, 0, perr, sizeof perr);
  if (ps != PE_STATUS_SUCCESS) {
    free(tmp);
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT, "relocating: %s", perr);
  }
  for (uint64_t pg = 0; pg < g->npages; pg++) {
    if (!(g->reloc_pages[pg / 8] & (1u << (pg % 8)))) continue;
    mm_pte *pte = pt_lookup(p, sys, lo + pg);
    if (!pte || !pte_valid(*pte)) continue;     /* trimmed meanwhile: the
                                                   copy's bytes are in its
                                                   slot, already private */
    memcpy(frame_bytes(sys, (uint32_t)pte_payload(*pte)),
           tmp + (pg << sys->page_shift), sys->page_size);
  }
  free(tmp);
  return MM_STATUS_SUCCESS;
}

mm_status image_map(mm_system *sys, mm_process *p, mm_handle h,
                    uint64_t *base, uint64_t *size, uint32_t type) {
  mm_section *s = &sys->sections[h - 1];
  mm_segment *g = &sys->segs[s->seg - 1];
  const pe_image *pe = g->pe;
  uint64_t npages = g->npages;
  uint64_t gp = MM_GRANULE >> sys->page_shift;
  if (gp == 0) gp = 1;
  bool top = (type & MM_MEM_TOP_DOWN) != 0;
  /* An image may move unless its relocations were stripped (/FIXED);
  ** one that simply has none needs no fix-ups where it lands. */
  bool relocatable = !(pe->characteristics & PE_FILE_RELOCS_STRIPPED);
  uint64_t want = *base ? *base : pe->image_base;
  uint64_t lo = 0;
  mm_status st = MM_STATUS_CONFLICTING_ADDRESSES;
  if (want % MM_GRANULE == 0 && want >= sys->arch->user_lo &&
      want + (npages << sys->page_shift) - 1 <= sys->arch->user_hi) {
    lo = want >> sys->page_shift;
    st = vad_place(sys, p, &lo, npages, gp, top);
  }
  if (st) {
    if (*base)
      return mm_fail(sys, st == MM_STATUS_CONFLICTING_ADDRESSES
                              ? st : MM_STATUS_CONFLICTING_ADDRESSES,
                     "%#llx is not free for the image (%llu pages)",
                     (unsigned long long)*base, (unsigned long long)npages);
    if (!relocatable)
      return mm_fail(sys, MM_STATUS_CONFLICTING_ADDRESSES,
                     "%s has no relocations and its base %#llx is taken "
                     "(A.12.4)", sys->files[g->file - 1].name,
                     (unsigned long long)pe->image_base);
    lo = 0;
    st = vad_place(sys, p, &lo, npages, gp, top);
    if (st) return st;
  }
  uint64_t at = lo << sys->page_shift;
  bool moved = at != pe->image_base;
  /* Charge what may become private: the write-copy pages (A.6.2). */
  uint64_t charge = 0;
  for (uint64_t pg = 0; pg < npages; pg++)
    if (prot_is_writecopy(g->pprot[pg] & 0xFF)) charge++;
  mm_view *view;
  st = view_insert(sys, p, lo, npages, MM_PAGE_EXECUTE_WRITECOPY, VAD_IMAGE,
                   charge, 0, &view);
  if (st) return st;
  view->section = h;
  view->seg = s->seg;
  view->first = 0;
  for (uint64_t k = 0; k < npages; k++) {
    mm_leaf *leaf = pt_leaf(p, sys, lo + k);
    mm_pte *pte = &leaf->pte[lo + k - leaf->base_vpn];
    *pte = PTE_C | (PTE_KIND_PROTO << PTE_KIND_SHIFT) |
           ((mm_pte)(g->pprot[k] & 0xFF) << PTE_PROT_SHIFT) |
           ((mm_pte)proto_index(s->seg, k) << PTE_PAYLOAD_SHIFT);
    leaf->live++;
  }
  s->views++;
  sys->files[s->file - 1].views++;
  if (moved) {
    /* A.12.4: relocate; the pages written become private (A.12.6). */
    for (uint64_t pg = 0; pg < npages && !st; pg++)
      if (g->reloc_pages[pg / 8] & (1u << (pg % 8)))
        st = view_make_private(sys, p, lo + pg);
    if (!st && sys->mem) st = apply_relocations(sys, p, g, lo, at);
    if (st) {
      mm_status keep = st;
      char msg[256];
      snprintf(msg, sizeof msg, "%s", sys->err);
      view_unmap(sys, p, vad_find(p, lo));
      mm_fail(sys, keep, "%s", msg);
      return keep;
    }
  }
  *base = at;
  *size = npages << sys->page_shift;
  MM_CHECK(sys);
  return moved ? MM_STATUS_IMAGE_NOT_AT_BASE : MM_STATUS_SUCCESS;
}

mm_status mm_image_write(mm_system *sys, mm_pid pid, uint64_t addr,
                         const void *buf, uint64_t n) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  const uint8_t *src = buf;
  uint64_t done = 0;
  while (done < n) {
    uint64_t a = addr + done;
    uint64_t vpn = a >> sys->page_shift;
    if (!view_at(p, vad_find(p, vpn)))
      return mm_fail(sys, MM_STATUS_NOT_MAPPED_VIEW,
                     "%#llx is not inside a view", (unsigned long long)a);
    mm_status st = view_make_private(sys, p, vpn);
    if (st) return st;
    uint64_t off = a & (sys->page_size - 1);
    uint64_t chunk = sys->page_size - off;
    if (chunk > n - done) chunk = n - done;
    mm_pte *pte = pt_lookup(p, sys, vpn);
    if (sys->mem && src && pte && pte_valid(*pte))
      memcpy(frame_bytes(sys, (uint32_t)pte_payload(*pte)) + off, src + done, chunk);
    if (pte && pte_valid(*pte)) *pte |= PTE_D;
    done += chunk;
  }
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}
