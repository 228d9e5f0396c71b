/*
** loader.c — the image loader: a process from an executable, its DLLs,
** and bound import address tables (WINDOWS.md A.12; docs/loader.md).
**
** What it does, in the order Windows does it:
**   1. The program's image section is created (validated by the PE parser)
**      before any process exists: a bad program leaves nothing behind.
**   2. The process object is created and the program mapped (the kernel's
**      part: NtCreateUserProcess maps the image, then ntdll.dll).
**   3. ntdll.dll, when the search path holds one, is mapped next, so the
**      load order starts "program, ntdll.dll" as the PEB's list does.
**   4. Imports are walked depth-first in import-descriptor order: a DLL is
**      mapped when first met, then its own imports are loaded and bound,
**      then the walk goes on with the importer's next descriptor. Each
**      module's IAT is bound once all its imports are loaded. Forwarders
**      ("DLL.Func", "DLL.#7") load their target the same way.
**   5. Each IAT slot is written with mm_image_write: the pages holding the
**      IAT become the process's private copies (A.12.6), as the real
**      loader's writes through a temporarily writable IAT do.
**
** State
**   per process (mm_process.loader)   the modules in load order, the
**       program's folder and the search path (for mm_load_library)
**   per system (the System process's loader slot: it lives exactly as
**       long as the system, and the core offers no other)   one image
**       section per file, held open for the life of the system, like the
**       cache manager holding a file's control area, so every process
**       that maps a file shares its prototype PTEs and a program run again
**       finds its pages on standby; and the parsed API set schemas.
**
** Invariants (checked by the walkers of the core they rely on):
**   - a module's view is an image view of the module's section starting at
**     its base; modules whose view was unmapped behind the loader's back
**     are dropped the next time the loader looks (prune);
**   - module names are unique per process, compared without regard to
**     ASCII case;
**   - every section in the system cache is open (one handle held).
**
** Malformed input (export tables, forwarders, API set data) comes from
** files: every offset and length is checked before it is used, and a bad
** one is STATUS_INVALID_IMAGE_FORMAT naming the file, never a crash.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "internal.h"

/* Bytes of a host path the loader builds (Linux PATH_MAX). */
#define LD_PATH_MAX 4096
/* The largest API set schema DLL the loader reads (Windows' is < 1 MiB). */
#define LD_SCHEMA_FILE_MAX (64u << 20)
/* API set schema layout, version 6 (docs/loader.md). */
#define APISET_VERSION 6u
#define APISET_HEADER 28u
#define APISET_ENTRY 24u
#define APISET_VALUE 20u
#define APISET_HASH 8u

/* --------------------------------------------------------------- state */

typedef struct ld_image {         /* one image section per file, per system */
  char *key;                      /* the file's canonical path */
  mm_handle section;
} ld_image;

typedef struct ld_value {         /* one host of an API set */
  const char *importer;           /* "" for the default */
  const char *host;               /* "" for none */
} ld_value;

typedef struct ld_apiset {
  const char *name;               /* the hashed part: up to the last '-' */
  uint32_t first, nvalues;        /* its values in ld_schema.values */
} ld_apiset;

typedef struct ld_schema {
  char *key;                      /* canonical path of the schema DLL */
  char *strings;                  /* every name, NUL-ended, lower case */
  ld_apiset *sets;
  ld_value *values;
  uint32_t nsets;
} ld_schema;

typedef struct ld_sys {
  ld_image *img;
  uint32_t nimg, capimg;
  ld_schema *sch;
  uint32_t nsch, capsch;
} ld_sys;

typedef struct ld_name {          /* a named export, for binary search */
  const char *name;
  uint32_t index;                 /* into pe->exports */
} ld_name;

typedef struct ld_module {
  char *name, *path;
  uint64_t base, size;
  bool relocated;
  mm_handle section;
  const pe_image *pe;             /* owned by the section's segment */
  ld_name *names;                 /* built on first lookup by name */
  uint32_t nnames;
  bool indexed;
} ld_module;

typedef struct ld_proc {
  ld_module *mods;
  uint32_t n, cap;
  char *app_dir;                  /* the program's folder, or NULL */
  char **search;
  uint32_t nsearch;
} ld_proc;

/* One loader call. */
typedef struct ld_ctx {
  mm_system *sys;
  mm_process *p;
  ld_proc *lp;
  ld_sys *ls;
} ld_ctx;

/* ------------------------------------------------------------ helpers */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

/* Windows compares module names without regard to case; ASCII is what
** PE names hold in practice, and a locale must not change the answer. */
static bool name_eq(const char *a, const char *b) {
  while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) a++, b++;
  return lower((unsigned char)*a) == lower((unsigned char)*b);
}

static bool has_prefix_ci(const char *s, const char *prefix) {
  for (; *prefix; s++, prefix++)
    if (lower((unsigned char)*s) != *prefix) return false;
  return true;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The last failure's sentence, copied: mm_fail must not read from the
** buffer it writes. */
static mm_status fail_keep(mm_system *sys, mm_status st, const char *prefix) {
  char msg[sizeof sys->err];
  snprintf(msg, sizeof msg, "%s", sys->err);
  return mm_fail(sys, st, "%s%s", prefix, msg);
}

/* "leaf" -> "leaf.dll", "x." -> "x" (a trailing dot means "no
** extension"), as LoadLibrary does. false for a name the loader will not
** look up: empty, too long, or holding a path separator (a name from a
** file must not walk the host's folders). */
static bool dll_name(const char *in, size_t len, char *out, size_t outsz) {
  if (len == 0 || len > MM_LOADER_NAME_MAX || len + 5 > outsz) return false;
  for (size_t i = 0; i < len; i++)
    if (in[i] == '/' || in[i] == '\\' || in[i] == '\0' || in[i] == ':')
      return false;
  memcpy(out, in, len);
  out[len] = '\0';
  if (out[len - 1] == '.') {
    out[len - 1] = '\0';
    return len > 1;
  }
  if (!memchr(out, '.', len)) memcpy(out + len, ".dll", 5);
  return true;
}

/* ------------------------------------------------------------ state */

static ld_sys *sys_state(mm_system *sys) {
  if (!sys->sysproc->loader) sys->sysproc->loader = calloc(1, sizeof(ld_sys));
  return sys->sysproc->loader;
}

static void schema_free(ld_schema *s) {
  free(s->key);
  free(s->strings);
  free(s->sets);
  free(s->values);
}

static void module_free(ld_module *m) {
  free(m->name);
  free(m->path);
  free(m->names);
}

static void proc_state_free(ld_proc *lp) {
  for (uint32_t i = 0; i < lp->n; i++) module_free(&lp->mods[i]);
  free(lp->mods);
  for (uint32_t i = 0; i < lp->nsearch; i++) free(lp->search[i]);
  free(lp->search);
  free(lp->app_dir);
  free(lp);
}

void loader_process_free(mm_system *sys, mm_process *p) {
  if (!p->loader) return;
  if (p == sys->sysproc) {
    /* System teardown: the sections go with sections_destroy, which frees
    ** prototype PTEs but not an image segment's parsed header, layout and
    ** bitmaps; free those of the cached images here (image_seg_free is
    ** idempotent, so this stays right once sections_destroy does it). */
    ld_sys *ls = p->loader;
    for (uint32_t i = 0; i < ls->nimg; i++) {
      mm_handle h = ls->img[i].section;
      if (h && h <= sys->nsections && sys->sections[h - 1].used) {
        mm_segment *g = &sys->segs[sys->sections[h - 1].seg - 1];
        if (g->used && g->kind == SEG_IMAGE) image_seg_free(sys, g);
      }
      free(ls->img[i].key);
    }
    for (uint32_t i = 0; i < ls->nsch; i++) schema_free(&ls->sch[i]);
    free(ls->img);
    free(ls->sch);
    free(ls);
  } else {
    proc_state_free(p->loader);
  }
  p->loader = NULL;
}

static ld_proc *proc_state(mm_process *p) {
  if (!p->loader) p->loader = calloc(1, sizeof(ld_proc));
  return p->loader;
}

/* Is module m still mapped where the loader put it? */
static bool module_mapped(mm_system *sys, mm_process *p, const ld_module *m) {
  uint64_t vpn = m->base >> sys->page_shift;
  int vi = vad_find(p, vpn);
  mm_view *v = view_at(p, vi);
  return v && v->section == m->section && p->vads[vi].start == vpn;
}

/* Drops the modules whose view was unmapped by someone else. */
static void prune(mm_system *sys, mm_process *p, ld_proc *lp) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < lp->n; i++) {
    if (module_mapped(sys, p, &lp->mods[i])) lp->mods[k++] = lp->mods[i];
    else module_free(&lp->mods[i]);
  }
  lp->n = k;
}

static int module_find(const ld_proc *lp, const char *name) {
  for (uint32_t i = 0; i < lp->n; i++)
    if (name_eq(lp->mods[i].name, name)) return (int)i;
  return -1;
}

/* ------------------------------------------------------ the image cache */

/* The system's image section for the file at path: the cached one, else
** one on a host file someone already opened (so that the user's sections
** share the segment too, A.11.11), else one on a file opened now. New
** sections stay open in the cache. */
static mm_status image_get(ld_ctx *c, const char *path, mm_handle *out) {
  mm_system *sys = c->sys;
  ld_sys *ls = c->ls;
  char *key = realpath(path, NULL);
  if (!key)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "cannot open %s", path);
  for (uint32_t i = 0; i < ls->nimg; i++)
    if (strcmp(ls->img[i].key, key) == 0) {
      free(key);
      *out = ls->img[i].section;
      return MM_STATUS_SUCCESS;
    }
  if (ls->nimg == ls->capimg) {
    uint32_t cap = ls->capimg ? ls->capimg * 2 : 16;
    ld_image *ni = realloc(ls->img, cap * sizeof *ni);
    if (!ni) {
      free(key);
      return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
    }
    ls->img = ni;
    ls->capimg = cap;
  }
  mm_handle fh = 0;
  for (uint32_t k = 0; k < sys->nfiles && !fh; k++) {
    const mm_file *f = &sys->files[k];
    if (!f->used || !f->host || !f->path) continue;
    char *other = realpath(f->path, NULL);
    if (other && strcmp(other, key) == 0) fh = k + 1;
    free(other);
  }
  bool opened = false;
  mm_status st = MM_STATUS_SUCCESS;
  if (!fh) {                          /* the canonical path: the file is
                                        read again later, whatever the
                                        current folder is by then */
    st = mm_file_open(sys, key, &fh);
    opened = st == MM_STATUS_SUCCESS;
  }
  mm_handle h = 0;
  if (!st) {
    mm_section_config sc = { 0, MM_PAGE_EXECUTE_WRITECOPY, MM_SEC_IMAGE, fh, NULL };
    st = mm_section_create(sys, &sc, &h, NULL);
  }
  if (opened) {                       /* the section keeps the file */
    char keep[sizeof sys->err];
    snprintf(keep, sizeof keep, "%s", sys->err);
    mm_file_close(sys, fh);
    snprintf(sys->err, sizeof sys->err, "%s", keep);
  }
  if (st) {
    free(key);
    return st;
  }
  ls->img[ls->nimg].key = key;
  ls->img[ls->nimg].section = h;
  ls->nimg++;
  *out = h;
  return MM_STATUS_SUCCESS;
}

/* Closes the sections a failed call added to the cache (their views are
** gone by then), so that the failure changes nothing. */
static void cache_rollback(mm_system *sys, ld_sys *ls, uint32_t keep) {
  while (ls->nimg > keep) {
    ld_image *im = &ls->img[--ls->nimg];
    mm_section_close(sys, im->section);
    free(im->key);
  }
}

/* ------------------------------------------------------ finding files */

static bool join(char *out, size_t outsz, const char *dir, const char *name) {
  size_t n = strlen(dir);
  int w = n == 0 ? snprintf(out, outsz, "%s", name)
        : dir[n - 1] == '/' ? snprintf(out, outsz, "%s%s", dir, name)
                            : snprintf(out, outsz, "%s/%s", dir, name);
  return w > 0 && (size_t)w < outsz;
}

/* name in dir: the exact name, else the first (in byte order, so the
** answer does not depend on readdir's order) whose name matches without
** regard to case, as Windows' file system would find it. */
static bool find_in_dir(const char *dir, const char *name, char *out,
                        size_t outsz) {
  if (join(out, outsz, dir, name) && is_file(out)) return true;
  DIR *d = opendir(*dir ? dir : ".");
  if (!d) return false;
  char best[MM_LOADER_NAME_MAX + 8] = "";
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strlen(e->d_name) >= sizeof best || !name_eq(e->d_name, name)) continue;
    if (!best[0] || strcmp(e->d_name, best) < 0) strcpy(best, e->d_name);
  }
  closedir(d);
  return best[0] && join(out, outsz, dir, best) && is_file(out);
}

/* The search order: the program's folder, then the search path. */
static bool find_dll(const ld_proc *lp, const char *name, char *out,
                     size_t outsz) {
  if (lp->app_dir && find_in_dir(lp->app_dir, name, out, outsz)) return true;
  for (uint32_t i = 0; i < lp->nsearch; i++)
    if (find_in_dir(lp->search[i], name, out, outsz)) return true;
  return false;
}

/* ---------------------------------------------------------- API sets */

static uint32_t rd32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
}

/* Is [off, off + len) inside a namespace of size bytes? */
static bool in_ns(uint64_t off, uint64_t len, uint64_t size) {
  return off <= size && len <= size - off;
}

typedef struct schema_builder {
  const uint8_t *ns;
  uint32_t size;
  char *strings;
  size_t used, cap;
  const char *file;
} schema_builder;

/* Copies the UTF-16LE name at [off, off + len) in lower case; NULL (with
** the failure recorded) when it is out of bounds, odd, too long or not
** ASCII (API set and DLL names are). */
static const char *schema_name(mm_system *sys, schema_builder *b, uint32_t off,
                               uint32_t len, const char *what) {
  char *s = b->strings + b->used;
  if (len == 0 && b->used < b->cap) {     /* no name: its offset is moot */
    s[0] = '\0';
    b->used++;
    return s;
  }
  if (len % 2 || !in_ns(off, len, b->size) || len / 2 > MM_LOADER_NAME_MAX) {
    mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
            "%s: API set %s at %#x (%u bytes) is not a name inside the "
            "%u-byte namespace", b->file, what, off, len, b->size);
    return NULL;
  }
  if (b->used + len / 2 + 1 > b->cap) {
    mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
            "%s: API set names overlap: they hold more characters than the "
            "%u-byte namespace can", b->file, b->size);
    return NULL;
  }
  for (uint32_t i = 0; i < len / 2; i++) {
    unsigned ch = b->ns[off + 2 * i] | (unsigned)b->ns[off + 2 * i + 1] << 8;
    if (ch == 0 || ch >= 0x80) {
      mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
              "%s: API set %s at %#x holds character %#x, not ASCII",
              b->file, what, off, ch);
      return NULL;
    }
    s[i] = (char)lower((int)ch);
  }
  s[len / 2] = '\0';
  b->used += len / 2 + 1;
  return s;
}

/* Parses an API_SET_NAMESPACE, version 6, of len bytes into s. */
static mm_status schema_parse(mm_system *sys, const uint8_t *ns, size_t len,
                              const char *file, ld_schema *s) {
  if (len < APISET_HEADER)
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s: the .apiset section (%zu bytes) is shorter than an "
                   "API set namespace header", file, len);
  uint32_t version = rd32(ns), size = rd32(ns + 4), count = rd32(ns + 12);
  uint32_t entry_off = rd32(ns + 16), hash_off = rd32(ns + 20);
  if (version != APISET_VERSION)
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s: API set schema version %u; pagelab reads version 6 "
                   "(Windows 10)", file, version);
  if (size < APISET_HEADER || size > len)
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s: API set namespace Size %u does not fit the %zu-byte "
                   ".apiset section", file, size, len);
  if (!in_ns(entry_off, (uint64_t)count * APISET_ENTRY, size) ||
      !in_ns(hash_off, (uint64_t)count * APISET_HASH, size))
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s: %u API set entries (or their hash table) run past "
                   "the %u-byte namespace", file, count, size);
  /* Values may not overlap (each entry owns its own), so all of them fit
  ** in the namespace: this bounds the work by its size. */
  uint64_t nvalues = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = ns + entry_off + (size_t)i * APISET_ENTRY;
    uint32_t voff = rd32(e + 16), vcount = rd32(e + 20);
    if (!in_ns(voff, (uint64_t)vcount * APISET_VALUE, size))
      return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                     "%s: API set entry %u has %u values at %#x, past the "
                     "%u-byte namespace", file, i, vcount, voff, size);
    nvalues += vcount;
  }
  if (nvalues * APISET_VALUE > size)
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s: %llu API set values cannot fit in a %u-byte "
                   "namespace", file, (unsigned long long)nvalues, size);
  schema_builder b = { ns, size, NULL, 0, 0, file };
  /* Every copied name is at most half its UTF-16 bytes plus a NUL, and
  ** names may not share bytes beyond that budget either. */
  b.cap = (size_t)size / 2 + (size_t)count + 2 * (size_t)nvalues + 1;
  b.strings = malloc(b.cap);
  s->sets = calloc(count ? count : 1, sizeof *s->sets);
  s->values = calloc(nvalues ? nvalues : 1, sizeof *s->values);
  if (!b.strings || !s->sets || !s->values) {
    free(b.strings);
    free(s->sets);
    free(s->values);
    return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  uint32_t vk = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = ns + entry_off + (size_t)i * APISET_ENTRY;
    uint32_t noff = rd32(e + 4), nlen = rd32(e + 8), hlen = rd32(e + 12);
    uint32_t voff = rd32(e + 16), vcount = rd32(e + 20);
    if (hlen > nlen || hlen == 0) {
      mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
              "%s: API set entry %u has HashedLength %u outside its %u-byte "
              "name", file, i, hlen, nlen);
      goto bad;
    }
    /* Only the hashed part takes part in lookups: versions after the
    ** last '-' match whatever the schema lists (docs/loader.md). */
    const char *name = schema_name(sys, &b, noff, hlen, "name");
    if (!name || (nlen > hlen && !in_ns(noff, nlen, size))) {
      if (name)
        mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                "%s: API set entry %u's name runs past the namespace", file, i);
      goto bad;
    }
    s->sets[i].name = name;
    s->sets[i].first = vk;
    s->sets[i].nvalues = vcount;
    for (uint32_t v = 0; v < vcount; v++, vk++) {
      const uint8_t *val = ns + voff + (size_t)v * APISET_VALUE;
      const char *imp = schema_name(sys, &b, rd32(val + 4), rd32(val + 8),
                                    "value importer");
      const char *host = imp ? schema_name(sys, &b, rd32(val + 12),
                                           rd32(val + 16), "value host")
                             : NULL;
      if (!host) goto bad;
      s->values[vk].importer = imp;
      s->values[vk].host = host;
    }
  }
  s->strings = b.strings;
  s->nsets = count;
  return MM_STATUS_SUCCESS;
bad:
  free(b.strings);
  free(s->sets);
  free(s->values);
  s->sets = NULL;
  s->values = NULL;
  return sys->last_status;
}

/* Reads the .apiset section of the schema DLL at path into s. */
static mm_status schema_read(mm_system *sys, const char *path, ld_schema *s) {
  const char *file = base_name(path);
  FILE *fp = fopen(path, "rb");
  if (!fp) return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "cannot open %s", path);
  long n = -1;
  if (fseek(fp, 0, SEEK_END) == 0) n = ftell(fp);
  if (n <= 0 || (unsigned long)n > LD_SCHEMA_FILE_MAX || fseek(fp, 0, SEEK_SET)) {
    fclose(fp);
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s: %ld bytes is not an API set schema DLL", file, n);
  }
  uint8_t *buf = malloc((size_t)n);
  if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
    free(buf);
    fclose(fp);
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "cannot read %s", path);
  }
  fclose(fp);
  pe_image *pe = NULL;
  char perr[PE_ERR_SIZE];
  pe_status ps = pe_parse(buf, (size_t)n, &pe, perr, sizeof perr);
  mm_status st;
  if (ps) {
    st = mm_fail(sys, ps == PE_STATUS_NO_MEMORY ? MM_STATUS_NO_MEMORY : ps,
                 "%s: %s", file, perr);
  } else {
    const pe_section *sec = NULL;
    for (uint32_t i = 0; i < pe->nsections && !sec; i++)
      if (strcmp(pe->sections[i].name, ".apiset") == 0) sec = &pe->sections[i];
    if (!sec) {
      st = mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%s has no .apiset section", file);
    } else {
      /* The parser checked the raw data lies inside the file; bytes past
      ** VirtualSize are padding. */
      size_t len = sec->raw_size;
      if (sec->virtual_size && sec->virtual_size < len) len = sec->virtual_size;
      st = schema_parse(sys, buf + sec->raw_ptr, len, file, s);
    }
  }
  pe_free(pe);
  free(buf);
  return st;
}

/* The schema on the search path (*out = NULL when there is none). */
static mm_status schema_get(ld_ctx *c, const ld_schema **out) {
  char path[LD_PATH_MAX];
  *out = NULL;
  bool found = false;
  for (uint32_t i = 0; i < c->lp->nsearch && !found; i++)
    found = find_in_dir(c->lp->search[i], MM_LOADER_APISET_DLL, path, sizeof path);
  if (!found) return MM_STATUS_SUCCESS;
  char *key = realpath(path, NULL);
  if (!key) return mm_fail(c->sys, MM_STATUS_INVALID_PARAMETER, "cannot open %s", path);
  ld_sys *ls = c->ls;
  for (uint32_t i = 0; i < ls->nsch; i++)
    if (strcmp(ls->sch[i].key, key) == 0) {
      free(key);
      *out = &ls->sch[i];
      return MM_STATUS_SUCCESS;
    }
  if (ls->nsch == ls->capsch) {
    uint32_t cap = ls->capsch ? ls->capsch * 2 : 2;
    ld_schema *ns = realloc(ls->sch, cap * sizeof *ns);
    if (!ns) {
      free(key);
      return mm_fail(c->sys, MM_STATUS_NO_MEMORY, "out of memory");
    }
    ls->sch = ns;
    ls->capsch = cap;
  }
  ld_schema s;
  memset(&s, 0, sizeof s);
  mm_status st = schema_read(c->sys, path, &s);
  if (st) {
    free(key);
    return st;
  }
  s.key = key;
  ls->sch[ls->nsch] = s;
  *out = &ls->sch[ls->nsch++];
  return MM_STATUS_SUCCESS;
}

/* API set names start "api-" or "ext-" (docs/loader.md). */
static bool is_apiset(const char *name) {
  return has_prefix_ci(name, "api-") || has_prefix_ci(name, "ext-");
}

/* The host DLL of the API set name for importer, or NULL when the schema
** has no such set; "" when the set has no host. */
static const char *schema_lookup(const ld_schema *s, const char *name,
                                 const char *importer) {
  char key[MM_LOADER_NAME_MAX + 8];
  size_t n = strlen(name);
  if (n >= sizeof key) return NULL;
  for (size_t i = 0; i <= n; i++) key[i] = (char)lower((unsigned char)name[i]);
  if (n > 4 && strcmp(key + n - 4, ".dll") == 0) key[n - 4] = '\0';
  char *dash = strrchr(key, '-');
  if (dash) *dash = '\0';
  for (uint32_t i = 0; i < s->nsets; i++) {
    const ld_apiset *a = &s->sets[i];
    if (strcmp(a->name, key) != 0) continue;
    if (a->nvalues == 0) return "";
    const ld_value *v = &s->values[a->first];
    const char *dflt = NULL;
    for (uint32_t k = 0; k < a->nvalues; k++) {
      if (v[k].importer[0] && importer && name_eq(v[k].importer, importer))
        return v[k].host;
      if (!v[k].importer[0] && !dflt) dflt = v[k].host;
    }
    return dflt ? dflt : v[0].host;
  }
  return NULL;
}

/* ---------------------------------------------------------- modules */

static mm_status module_add(ld_ctx *c, const char *path, mm_handle sec,
                            uint64_t base, uint64_t size, uint32_t *idx) {
  ld_proc *lp = c->lp;
  if (lp->n == lp->cap) {
    uint32_t cap = lp->cap ? lp->cap * 2 : 8;
    ld_module *nm = realloc(lp->mods, cap * sizeof *nm);
    if (!nm) return mm_fail(c->sys, MM_STATUS_NO_MEMORY, "out of memory");
    lp->mods = nm;
    lp->cap = cap;
  }
  ld_module *m = &lp->mods[lp->n];
  memset(m, 0, sizeof *m);
  m->name = dup_str(base_name(path));
  m->path = dup_str(path);
  if (!m->name || !m->path) {
    module_free(m);
    return mm_fail(c->sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  m->pe = mm_section_image(c->sys, sec);
  m->section = sec;
  m->base = base;
  m->size = size;
  m->relocated = base != m->pe->image_base;
  *idx = lp->n++;
  return MM_STATUS_SUCCESS;
}

/* Opens the image at path for the process: the system's section, checked
** the way the loader checks a DLL before mapping it. who names the
** importer for messages; program: path is the executable. */
static mm_status image_open(ld_ctx *c, const char *path, const char *who,
                            bool program, mm_handle *out) {
  mm_system *sys = c->sys;
  char prefix[MM_LOADER_NAME_MAX + 160];
  if (who) snprintf(prefix, sizeof prefix, "%.255s (imported by %.60s): ",
                    base_name(path), who);
  else snprintf(prefix, sizeof prefix, "%.255s: ", base_name(path));
  mm_status st = image_get(c, path, out);
  if (st) return fail_keep(sys, st, prefix);
  const pe_image *pe = mm_section_image(sys, *out);
  if (!(pe->characteristics & PE_FILE_EXECUTABLE_IMAGE))
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%sthe image is not marked executable "
                   "(IMAGE_FILE_EXECUTABLE_IMAGE)", prefix);
  if (program && (pe->characteristics & PE_FILE_DLL))
    return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                   "%sa DLL is not a program", prefix);
  if (!program && c->lp && c->lp->n && pe->machine != c->lp->mods[0].pe->machine)
    return mm_fail(sys, MM_STATUS_IMAGE_MACHINE_TYPE_MISMATCH,
                   "%smachine %#x does not match the program's %#x", prefix,
                   pe->machine, c->lp->mods[0].pe->machine);
  return MM_STATUS_SUCCESS;
}

/* Maps the opened image anywhere (its preferred base first) and records
** it as the next module. */
static mm_status image_map_module(ld_ctx *c, const char *path, mm_handle sec,
                                  const char *who, bool program, uint32_t *idx) {
  mm_system *sys = c->sys;
  if (c->lp->n >= MM_LOADER_MAX_MODULES)
    return mm_fail(sys, MM_STATUS_INSUFFICIENT_RESOURCES,
                   "%s: a process holds %u modules at most", base_name(path),
                   MM_LOADER_MAX_MODULES);
  uint64_t base = 0, size = 0;
  /* A DLL that cannot sit at its preferred base goes top-down, as
  ** Windows' ASLR region for DLLs (and Wine) place them (A.12.5); the
  ** program keeps the bottom-up default. */
  mm_status st = mm_map_view(sys, c->p->pid, sec, &base, 0, &size,
                             MM_PAGE_EXECUTE_WRITECOPY, 0,
                             program ? 0 : MM_MEM_TOP_DOWN);
  if (st != MM_STATUS_SUCCESS && st != MM_STATUS_IMAGE_NOT_AT_BASE) {
    char prefix[MM_LOADER_NAME_MAX + 160];
    if (who) snprintf(prefix, sizeof prefix, "%.255s (imported by %.60s): ",
                      base_name(path), who);
    else snprintf(prefix, sizeof prefix, "%.255s: ", base_name(path));
    return fail_keep(sys, st, prefix);
  }
  st = module_add(c, path, sec, base, size, idx);
  if (st) mm_unmap_view(sys, c->p->pid, base);
  return st;
}

static mm_status bind_imports(ld_ctx *c, uint32_t idx);

/* Loads the DLL called raw for module importer (-1: LoadLibrary) and its
** imports; *out = its module index. */
static mm_status load_dll(ld_ctx *c, const char *raw, size_t rawlen,
                          int importer, uint32_t *out) {
  mm_system *sys = c->sys;
  char name[MM_LOADER_NAME_MAX + 8];
  char who[MM_LOADER_NAME_MAX + 1];
  snprintf(who, sizeof who, "%s", importer >= 0 ? c->lp->mods[importer].name
                                                : "LoadLibrary");
  if (!dll_name(raw, rawlen, name, sizeof name))
    return mm_fail(sys, MM_STATUS_DLL_NOT_FOUND,
                   "%s imports from \"%.*s\", which is not a DLL name",
                   who, (int)(rawlen > 80 ? 80 : rawlen), raw);
  bool apiset = is_apiset(name);
  if (apiset) {
    const ld_schema *s;
    mm_status st = schema_get(c, &s);
    if (st) return st;
    if (s) {
      const char *host = schema_lookup(s, name, importer >= 0 ? who : NULL);
      if (!host)
        return mm_fail(sys, MM_STATUS_DLL_NOT_FOUND,
                       "%s (imported by %s) is an API set that %s does not "
                       "define", name, who, MM_LOADER_APISET_DLL);
      if (!host[0] || !dll_name(host, strlen(host), name, sizeof name))
        return mm_fail(sys, MM_STATUS_DLL_NOT_FOUND,
                       "%s (imported by %s): the API set has no host DLL in "
                       "%s", name, who, MM_LOADER_APISET_DLL);
      apiset = false;
    }
  }
  int k = module_find(c->lp, name);
  if (k >= 0) {
    *out = (uint32_t)k;
    return MM_STATUS_SUCCESS;
  }
  char path[LD_PATH_MAX];
  if (!find_dll(c->lp, name, path, sizeof path))
    return mm_fail(sys, MM_STATUS_DLL_NOT_FOUND,
                   apiset ? "%s (imported by %s) is an API set, no file has "
                            "its name and no " MM_LOADER_APISET_DLL
                            " is on the search path"
                          : "%s (imported by %s) is neither in the program's "
                            "folder nor on the search path",
                   name, who);
  mm_handle sec;
  mm_status st = image_open(c, path, who, false, &sec);
  if (!st) st = image_map_module(c, path, sec, who, false, out);
  if (!st) st = bind_imports(c, *out);
  return st;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(((const ld_name *)a)->name, ((const ld_name *)b)->name);
}

/* The export called name, by binary search over the names (built once per
** module), or NULL. */
static const pe_export *export_by_name(ld_ctx *c, uint32_t mi, const char *name) {
  ld_module *m = &c->lp->mods[mi];
  const pe_image *pe = m->pe;
  if (!m->indexed) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < pe->nexports; i++) n += pe->exports[i].name != NULL;
    m->names = malloc((n ? n : 1) * sizeof *m->names);
    if (!m->names) return NULL;
    n = 0;
    for (uint32_t i = 0; i < pe->nexports; i++)
      if (pe->exports[i].name) m->names[n++] = (ld_name){ pe->exports[i].name, i };
    qsort(m->names, n, sizeof *m->names, name_cmp);
    m->nnames = n;
    m->indexed = true;
  }
  ld_name key = { name, 0 };
  const ld_name *hit = bsearch(&key, m->names, m->nnames, sizeof key, name_cmp);
  return hit ? &pe->exports[hit->index] : NULL;
}

/* The export with this ordinal: exports are sorted by ordinal. */
static const pe_export *export_by_ordinal(const pe_image *pe, uint32_t ord) {
  uint32_t lo = 0, hi = pe->nexports;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (pe->exports[mid].ordinal < ord) lo = mid + 1;
    else hi = mid;
  }
  return lo < pe->nexports && pe->exports[lo].ordinal == ord ? &pe->exports[lo]
                                                              : NULL;
}

/* The address of the export fname (or ordinal ord when fname is NULL) of
** module mi, following forwarders (which may load DLLs). */
static mm_status resolve(ld_ctx *c, uint32_t mi, const char *fname,
                         uint32_t ord, uint32_t importer, uint64_t *addr) {
  mm_system *sys = c->sys;
  char what[96], via[MM_LOADER_NAME_MAX + 96] = "";
  char fwd_name[MM_LOADER_NAME_MAX + 1];
  if (fname) snprintf(what, sizeof what, "%.80s", fname);
  else snprintf(what, sizeof what, "ordinal %u", ord);
  char first_dll[MM_LOADER_NAME_MAX + 1];
  snprintf(first_dll, sizeof first_dll, "%s", c->lp->mods[mi].name);
  for (uint32_t hop = 0; hop <= MM_LOADER_MAX_FORWARDS; hop++) {
    const ld_module *m = &c->lp->mods[mi];
    const pe_export *x = NULL;
    if (fname) {
      x = export_by_name(c, mi, fname);
      if (!x && !c->lp->mods[mi].indexed)
        return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
      m = &c->lp->mods[mi];
    } else {
      x = export_by_ordinal(m->pe, ord);
    }
    if (!x || (x->rva == 0 && !x->forwarder)) {
      if (!via[0])
        return mm_fail(sys, MM_STATUS_ENTRYPOINT_NOT_FOUND,
                       "%s imports %s from %s, which does not export it",
                       c->lp->mods[importer].name, what, first_dll);
      return mm_fail(sys, MM_STATUS_ENTRYPOINT_NOT_FOUND,
                     "%s imports %s from %s%s, which %s does not export",
                     c->lp->mods[importer].name, what, first_dll, via, m->name);
    }
    if (!x->forwarder) {
      *addr = m->base + x->rva;
      return MM_STATUS_SUCCESS;
    }
    /* "DLL.Func" or "DLL.#ordinal": the parser checked there is a dot with
    ** text on both sides. */
    const char *f = x->forwarder;
    const char *dot = strchr(f, '.');
    snprintf(via, sizeof via, ", forwarded to %.200s", f);
    if (!dot || dot == f || !dot[1])
      return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                     "%s: forwarder \"%.80s\" is not DLL.Func", m->name, f);
    if (dot[1] == '#') {
      char *end;
      unsigned long v = strtoul(dot + 2, &end, 10);
      if (dot[2] < '0' || dot[2] > '9' || *end || v > 0xFFFF)
        return mm_fail(sys, MM_STATUS_INVALID_IMAGE_FORMAT,
                       "%s: forwarder \"%.80s\" has a bad ordinal", m->name, f);
      fname = NULL;
      ord = (uint32_t)v;
    } else {
      snprintf(fwd_name, sizeof fwd_name, "%s", dot + 1);
      fname = fwd_name;
    }
    uint32_t from = mi;
    mm_status st = load_dll(c, f, (size_t)(dot - f), (int)from, &mi);
    if (st) return st;
  }
  return mm_fail(sys, MM_STATUS_ENTRYPOINT_NOT_FOUND,
                 "%s imports %s from %s: more than %u forwarders in a row "
                 "(a loop?)", c->lp->mods[importer].name, what, first_dll,
                 MM_LOADER_MAX_FORWARDS);
}

/* Writes one IAT slot: a 64-bit address in a PE32+ image, else 32-bit. */
static mm_status write_slot(ld_ctx *c, uint32_t mi, uint32_t rva, uint64_t addr) {
  const ld_module *m = &c->lp->mods[mi];
  uint8_t b[8];
  unsigned n = m->pe->pe32plus ? 8 : 4;
  for (unsigned i = 0; i < n; i++) b[i] = (uint8_t)(addr >> (8 * i));
  mm_status st = mm_image_write(c->sys, c->p->pid, m->base + rva, b, n);
  if (st) {
    char prefix[MM_LOADER_NAME_MAX + 32];
    snprintf(prefix, sizeof prefix, "%s: binding its IAT: ", m->name);
    return fail_keep(c->sys, st, prefix);
  }
  return MM_STATUS_SUCCESS;
}

/* Loads every DLL module idx imports (depth-first, in descriptor order)
** and binds its IAT. */
static mm_status bind_imports(ld_ctx *c, uint32_t idx) {
  const pe_image *pe = c->lp->mods[idx].pe;
  for (uint32_t d = 0; d < pe->nimports; d++) {
    const pe_import *imp = &pe->imports[d];
    uint32_t di;
    mm_status st = load_dll(c, imp->dll, strlen(imp->dll), (int)idx, &di);
    if (st) return st;
    for (uint32_t k = 0; k < imp->nfuncs; k++) {
      const pe_import_func *f = &imp->funcs[k];
      uint64_t addr;
      st = resolve(c, di, f->name, f->ordinal, idx, &addr);
      if (!st) st = write_slot(c, idx, f->iat_rva, addr);
      if (st) return st;
    }
  }
  return MM_STATUS_SUCCESS;
}

/* ------------------------------------------------------------ public */

static mm_status set_paths(ld_proc *lp, const char *path,
                           const char *const *search, size_t n) {
  const char *slash = strrchr(path, '/');
  size_t dl = slash ? (size_t)(slash - path) : 1;
  lp->app_dir = malloc(dl + 2);
  lp->search = calloc(n ? n : 1, sizeof *lp->search);
  if (!lp->app_dir || !lp->search) return MM_STATUS_NO_MEMORY;
  if (slash) {
    memcpy(lp->app_dir, path, dl);
    lp->app_dir[dl] = '\0';
    if (dl == 0) strcpy(lp->app_dir, "/");
  } else {
    strcpy(lp->app_dir, ".");
  }
  for (size_t i = 0; i < n; i++) {
    lp->search[i] = dup_str(search[i]);
    if (!lp->search[i]) return MM_STATUS_NO_MEMORY;
    lp->nsearch++;
  }
  return MM_STATUS_SUCCESS;
}

mm_status mm_exec(mm_system *sys, const char *path,
                  const char *const *search_path, size_t n, mm_pid *out) {
  return mm_exec_ex(sys, path, search_path, n, NULL, out);
}

mm_status mm_exec_ex(mm_system *sys, const char *path,
                     const char *const *search_path, size_t n,
                     const mm_process_config *pc, mm_pid *out) {
  if (sys->in_callback)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "processes cannot be created from inside a callback");
  if (!path || !*path || !out)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "no program path");
  for (size_t i = 0; i < n; i++)
    if (!search_path || !search_path[i])
      return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                     "search path entry %zu is NULL", i);
  if (!is_file(path))
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER,
                   "cannot open %s: no such file", path);
  ld_ctx c = { sys, NULL, NULL, sys_state(sys) };
  if (!c.ls) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  uint32_t imgs_before = c.ls->nimg;
  mm_pid pid = 0;
  sys->nested++;                    /* one invariant check, at the end */
  mm_handle sec;
  mm_status st = image_open(&c, path, NULL, true, &sec);
  if (!st) {
    mm_process_config cfg;
    if (pc) cfg = *pc;
    else memset(&cfg, 0, sizeof cfg);
    if (!cfg.name || !*cfg.name) cfg.name = base_name(path);
    st = mm_process_create(sys, &cfg, &pid);
  }
  if (!st) {
    c.p = sys->procs[pid - 1];
    c.lp = proc_state(c.p);
    if (!c.lp || set_paths(c.lp, path, search_path, n))
      st = mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  }
  uint32_t idx;
  if (!st) st = image_map_module(&c, path, sec, NULL, true, &idx);
  if (!st) {
    /* ntdll.dll: mapped by the kernel into every process, right after the
    ** program, from the system folder (here: the search path only). */
    char npath[LD_PATH_MAX];
    bool found = false;
    for (uint32_t i = 0; i < c.lp->nsearch && !found; i++)
      found = find_in_dir(c.lp->search[i], "ntdll.dll", npath, sizeof npath);
    uint32_t ni;
    if (found && module_find(c.lp, "ntdll.dll") < 0) {
      st = image_open(&c, npath, NULL, false, &sec);
      if (!st) st = image_map_module(&c, npath, sec, NULL, false, &ni);
      if (!st) st = bind_imports(&c, ni);
    }
  }
  if (!st) st = bind_imports(&c, 0);
  if (st) {
    char msg[sizeof sys->err];
    snprintf(msg, sizeof msg, "%s", sys->err);
    if (pid) mm_process_terminate(sys, pid);
    cache_rollback(sys, c.ls, imgs_before);
    sys->nested--;
    MM_CHECK(sys);
    return mm_fail(sys, st, "%s", msg);
  }
  sys->nested--;
  *out = pid;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

mm_status mm_load_library(mm_system *sys, mm_pid pid, const char *name,
                          uint64_t *base) {
  mm_process *p = proc_get(sys, pid);
  if (!p) return sys->last_status;
  if (!name || !*name || !base)
    return mm_fail(sys, MM_STATUS_INVALID_PARAMETER, "no DLL name");
  ld_ctx c = { sys, p, proc_state(p), sys_state(sys) };
  if (!c.lp || !c.ls) return mm_fail(sys, MM_STATUS_NO_MEMORY, "out of memory");
  prune(sys, p, c.lp);
  uint32_t mods_before = c.lp->n, imgs_before = c.ls->nimg;
  uint32_t idx = 0;
  mm_status st;
  sys->nested++;
  if (strchr(name, '/')) {
    /* a host path: its file name decides whether it is loaded already */
    int k = module_find(c.lp, base_name(name));
    mm_handle sec;
    if (k >= 0) {
      idx = (uint32_t)k;
      st = MM_STATUS_SUCCESS;
    } else if (!is_file(name)) {
      st = mm_fail(sys, MM_STATUS_DLL_NOT_FOUND, "%s: no such file", name);
    } else {
      st = image_open(&c, name, NULL, false, &sec);
      if (!st) st = image_map_module(&c, name, sec, NULL, false, &idx);
      if (!st) st = bind_imports(&c, idx);
    }
  } else {
    st = load_dll(&c, name, strlen(name), -1, &idx);
  }
  if (st) {
    char msg[sizeof sys->err];
    snprintf(msg, sizeof msg, "%s", sys->err);
    while (c.lp->n > mods_before) {
      ld_module *m = &c.lp->mods[--c.lp->n];
      mm_unmap_view(sys, pid, m->base);
      module_free(m);
    }
    cache_rollback(sys, c.ls, imgs_before);
    sys->nested--;
    MM_CHECK(sys);
    return mm_fail(sys, st, "%s", msg);
  }
  sys->nested--;
  *base = c.lp->mods[idx].base;
  MM_CHECK(sys);
  return MM_STATUS_SUCCESS;
}

mm_status mm_modules(mm_system *sys, mm_pid pid, mm_module_info *out,
                     uint32_t cap, uint32_t *count) {
  mm_process *p = proc_read(sys, pid);
  if (!p) return sys->last_status;
  ld_proc *lp = p->loader;
  *count = 0;
  if (!lp) return MM_STATUS_SUCCESS;
  prune(sys, p, lp);
  *count = lp->n;
  for (uint32_t i = 0; i < lp->n && i < cap; i++) {
    const ld_module *m = &lp->mods[i];
    mm_module_info *o = &out[i];
    memset(o, 0, sizeof *o);
    o->name = m->name;
    o->path = m->path;
    o->base = m->base;
    o->size = m->size;
    o->preferred_base = m->pe->image_base;
    o->pe = m->pe;
    o->order = i;
    o->relocated = m->relocated;
    uint64_t lo = m->base >> sys->page_shift, hi = (m->base + m->size) >> sys->page_shift;
    for (uint64_t vpn = lo; vpn < hi; vpn++) {
      const mm_pte *pte = pt_lookup(p, sys, vpn);
      if (!pte || !*pte) continue;
      if (pte_valid(*pte)) {
        if (*pte & PTE_PROTOMAP) {
          o->shared_pages++;
        } else {
          o->private_pages++;
          o->private_copies++;
        }
      } else if (pte_kind(*pte) != PTE_KIND_PROTO) {
        o->private_copies++;        /* a copy trimmed to standby or paged */
      }
    }
    mm_section_info si;
    if (mm_section_info_get(sys, m->section, &si) == MM_STATUS_SUCCESS)
      o->section_frames = si.resident;
  }
  return MM_STATUS_SUCCESS;
}
