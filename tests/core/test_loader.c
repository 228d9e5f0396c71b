/* test_loader.c — the image loader (core/loader.c, docs/loader.md): process
** creation from real mingw-w64 images, load order, search order, API sets,
** IAT binding, failures that leave nothing behind, and image sharing.
** Skips when the PE images of mk/pe.mk and mk/loader.mk are absent. */
#include <ctype.h>
#include <stdbool.h>
#include <unistd.h>

#include "testutil.h"

/* --------------------------------------------------------------- paths */

static char path_buf[4][512];
static int path_next;

/* tests/data/pe/<name> (or $PAGELAB_TEST_DATA/pe/<name>): a few rotating
** buffers, so that one call may use several paths. */
static const char *data(const char *name) {
  const char *dir = getenv("PAGELAB_TEST_DATA");
  char *b = path_buf[path_next++ % 4];
  snprintf(b, sizeof path_buf[0], "%s/pe/%s", dir ? dir : "tests/data", name);
  return b;
}

static bool have(const char *name) {
  FILE *f = fopen(data(name), "rb");
  if (f) fclose(f);
  return f != NULL;
}

#define NEED(...) do {                                                   \
    const char *need_[] = { __VA_ARGS__ };                               \
    for (size_t k_ = 0; k_ < sizeof need_ / sizeof *need_; k_++)         \
      if (!have(need_[k_])) skip();                                      \
  } while (0)

static mm_system *lsys(mm_arch arch, bool contents) {
  mm_config cfg;
  mm_config_default(&cfg, arch);
  cfg.ram = MiB(32);
  cfg.pagefile = MiB(32);
  cfg.contents = contents;
  cfg.tune.refs_per_second = 1u << 30;
  mm_system *sys;
  char err[200];
  assert_status(mm_system_create(&cfg, &sys, err, sizeof err), MM_STATUS_SUCCESS);
  return sys;
}

/* exec with a search path of up to three folders under tests/data/pe */
static mm_status exec3(mm_system *sys, const char *prog, const char *d1,
                       const char *d2, const char *d3, mm_pid *pid) {
  char s[3][512];
  const char *sp[3];
  size_t n = 0;
  const char *dirs[3] = { d1, d2, d3 };
  for (int i = 0; i < 3; i++)
    if (dirs[i]) {
      snprintf(s[n], sizeof s[n], "%s", dirs[i][0] == '/' ? dirs[i] : data(dirs[i]));
      sp[n] = s[n];
      n++;
    }
  char p[512];
  snprintf(p, sizeof p, "%s", prog[0] == '/' ? prog : data(prog));
  *pid = 0;
  return mm_exec(sys, p, sp, n, pid);
}

/* ------------------------------------------------------------- modules */

typedef struct mods {
  mm_module_info m[64];
  uint32_t n;
} mods;

static void get_mods(mm_system *sys, mm_pid pid, mods *out) {
  assert_status(mm_modules(sys, pid, out->m, 64, &out->n), MM_STATUS_SUCCESS);
  assert_true(out->n <= 64);
}

static bool iname_eq(const char *a, const char *b) {
  while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
  return tolower((unsigned char)*a) == tolower((unsigned char)*b);
}

static const mm_module_info *mod(const mods *ms, const char *name) {
  char want[300];
  snprintf(want, sizeof want, "%s%s", name, strchr(name, '.') ? "" : ".dll");
  for (uint32_t i = 0; i < ms->n; i++)
    if (iname_eq(ms->m[i].name, want)) return &ms->m[i];
  return NULL;
}

static void assert_order(const mods *ms, const char *const *names, uint32_t n) {
  assert_int_equal(ms->n, n);
  for (uint32_t i = 0; i < n; i++) {
    assert_string_equal(ms->m[i].name, names[i]);
    assert_int_equal(ms->m[i].order, i);
  }
}

/* The address the loader should have bound for name (or ordinal ord) of
** module t, following forwarders through the loaded modules. */
static uint64_t expect_export(const mods *ms, const mm_module_info *t,
                              const char *name, uint32_t ord) {
  char fwd[300];
  for (int hop = 0; hop < 8; hop++) {
    assert_non_null(t);
    const pe_export *x = NULL;
    for (uint32_t i = 0; i < t->pe->nexports && !x; i++) {
      const pe_export *e = &t->pe->exports[i];
      if (name ? (e->name && strcmp(e->name, name) == 0) : e->ordinal == ord) x = e;
    }
    if (!x) fail_msg("%s does not export %s", t->name, name ? name : "an ordinal");
    if (!x->forwarder) return t->base + x->rva;
    const char *dot = strchr(x->forwarder, '.');
    snprintf(fwd, sizeof fwd, "%.*s", (int)(dot - x->forwarder), x->forwarder);
    t = mod(ms, fwd);
    if (dot[1] == '#') {
      ord = (uint32_t)atoi(dot + 2);
      name = NULL;
    } else {
      snprintf(fwd, sizeof fwd, "%s", dot + 1);
      name = fwd;
    }
  }
  fail_msg("forwarder loop");
  return 0;
}

static uint64_t read_slot(mm_system *sys, mm_pid pid, uint64_t addr, bool wide) {
  uint8_t b[8] = { 0 };
  uint64_t done;
  assert_status(mm_read(sys, pid, addr, b, wide ? 8 : 4, &done), MM_STATUS_SUCCESS);
  uint64_t v = 0;
  for (int i = (wide ? 8 : 4) - 1; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

/* Every IAT slot of every module (contents = true) holds the address of
** the export it names; API-set imports are checked by the caller. Returns
** the number of slots checked. */
static uint32_t check_iat(mm_system *sys, mm_pid pid, const mods *ms) {
  uint32_t checked = 0;
  for (uint32_t i = 0; i < ms->n; i++) {
    const mm_module_info *m = &ms->m[i];
    for (uint32_t d = 0; d < m->pe->nimports; d++) {
      const pe_import *imp = &m->pe->imports[d];
      if (!strncmp(imp->dll, "api-", 4) || !strncmp(imp->dll, "ext-", 4)) continue;
      const mm_module_info *t = mod(ms, imp->dll);
      if (!t) fail_msg("%s imports from %s, which is not loaded", m->name, imp->dll);
      for (uint32_t k = 0; k < imp->nfuncs; k++) {
        const pe_import_func *f = &imp->funcs[k];
        uint64_t want = expect_export(ms, t, f->name, f->ordinal);
        uint64_t got = read_slot(sys, pid, m->base + f->iat_rva, m->pe->pe32plus);
        if (got != want)
          fail_msg("%s: IAT slot of %s!%s is %#llx, not %#llx", m->name,
                   imp->dll, f->name ? f->name : "#ord",
                   (unsigned long long)got, (unsigned long long)want);
        checked++;
      }
    }
  }
  return checked;
}

/* No process of the system is alive. */
static void assert_none_alive(mm_system *sys) {
  for (mm_pid p = 1; p <= mm_process_count(sys); p++)
    assert_false(mm_process_alive(sys, p));
}

static void assert_msg_has(mm_system *sys, const char *what) {
  if (!strstr(mm_last_error(sys), what))
    fail_msg("message \"%s\" does not name %s", mm_last_error(sys), what);
}

/* ----------------------------------------------------- temporary folders */

static char tmp_dir[64];

static const char *tmp_make(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/pagelab-ldr-XXXXXX");
  assert_non_null(mkdtemp(tmp_dir));
  return tmp_dir;
}

static void tmp_clean(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
  assert_int_equal(system(cmd), 0);
}

static const char *tmp_path(const char *name) {
  char *b = path_buf[path_next++ % 4];
  snprintf(b, sizeof path_buf[0], "%s/%s", tmp_dir, name);
  return b;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void spit(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  fclose(f);
}

static void copy_to_tmp(const char *src, const char *name) {
  size_t n;
  uint8_t *b = slurp(data(src), &n);
  spit(tmp_path(name), b, n);
  free(b);
}

/* ------------------------------------------------------------ the tests */

/* app.exe imports leaf.dll then mid.dll; mid.dll imports leaf.dll: the
** program first, then depth-first in import order, each DLL once. */
static void exec_app_modules(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid pid;
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &pid), MM_STATUS_SUCCESS);
  assert_true(mm_process_alive(sys, pid));
  assert_string_equal(mm_process_name(sys, pid), "app.exe");
  mods ms;
  get_mods(sys, pid, &ms);
  static const char *const order[] = { "app.exe", "leaf.dll", "mid.dll" };
  assert_order(&ms, order, 3);
  for (uint32_t i = 0; i < ms.n; i++) {
    assert_false(ms.m[i].relocated);
    assert_int_equal(ms.m[i].base, ms.m[i].preferred_base);
    assert_int_equal(ms.m[i].size, ms.m[i].pe->size_of_image);
    mm_region r;
    assert_status(mm_query(sys, pid, ms.m[i].base, &r), MM_STATUS_SUCCESS);
    assert_int_equal(r.type, MM_MEM_IMAGE);
    assert_int_equal(r.allocation_base, ms.m[i].base);
  }
  assert_non_null(strstr(ms.m[1].path, "leaf.dll"));
  /* binding copied the IAT pages of the two importers, nothing else */
  assert_true(mod(&ms, "app.exe")->private_copies >= 1);
  assert_true(mod(&ms, "mid.dll")->private_copies >= 1);
  assert_int_equal(mod(&ms, "leaf.dll")->private_copies, 0);
  /* a DLL asked for again (any case) is the one already loaded */
  uint64_t b;
  assert_status(mm_load_library(sys, pid, "LEAF.DLL", &b), MM_STATUS_SUCCESS);
  assert_int_equal(b, mod(&ms, "leaf")->base);
  assert_status(mm_load_library(sys, pid, "mid", &b), MM_STATUS_SUCCESS);
  assert_int_equal(b, mod(&ms, "mid")->base);
  get_mods(sys, pid, &ms);
  assert_int_equal(ms.n, 3);
  END(sys);
}

/* Every slot holds base + RVA of its export: the ordinal import, the
** forwarded mid_add (bound to leaf.dll's leaf_add), mid.dll's own IAT. */
static void exec_binds_iat(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, true);
  mm_pid pid;
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &pid), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  assert_int_equal(check_iat(sys, pid, &ms), 4);
  const mm_module_info *app = mod(&ms, "app.exe"), *leaf = mod(&ms, "leaf");
  /* by hand, for the two special cases */
  const pe_import *li = &app->pe->imports[0], *mi = &app->pe->imports[1];
  assert_string_equal(li->dll, "leaf.dll");
  assert_null(li->funcs[0].name);               /* leaf_ord, by ordinal */
  uint64_t ord_rva = 0, add_rva = 0;
  for (uint32_t i = 0; i < leaf->pe->nexports; i++) {
    if (leaf->pe->exports[i].ordinal == li->funcs[0].ordinal) ord_rva = leaf->pe->exports[i].rva;
    if (leaf->pe->exports[i].name && !strcmp(leaf->pe->exports[i].name, "leaf_add"))
      add_rva = leaf->pe->exports[i].rva;
  }
  assert_int_equal(read_slot(sys, pid, app->base + li->funcs[0].iat_rva, true),
                   leaf->base + ord_rva);
  for (uint32_t k = 0; k < mi->nfuncs; k++)
    if (!strcmp(mi->funcs[k].name, "mid_add"))   /* mid.dll forwards it */
      assert_int_equal(read_slot(sys, pid, app->base + mi->funcs[k].iat_rva, true),
                       leaf->base + add_rva);
  END(sys);
}

/* order.exe imports mid.dll (which imports leaf.dll) then reloc.dll:
** depth-first gives mid, leaf, reloc (breadth-first would give mid, reloc,
** leaf). reloc.dll wants the program's base, so it is relocated. */
static void load_order_depth_first(void **state) {
  (void)state;
  NEED("loader/order.exe", "leaf.dll", "mid.dll", "reloc.dll");
  mm_system *sys = lsys(MM_ARCH_X64, true);
  mm_pid pid;
  assert_status(exec3(sys, "loader/order.exe", ".", NULL, NULL, &pid), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  static const char *const order[] = { "order.exe", "mid.dll", "leaf.dll", "reloc.dll" };
  assert_order(&ms, order, 4);
  const mm_module_info *r = mod(&ms, "reloc");
  assert_true(r->relocated);
  assert_int_not_equal(r->base, r->preferred_base);
  assert_int_equal(r->preferred_base, mod(&ms, "order.exe")->base);
  assert_true(r->base > r->preferred_base);      /* top-down, like ASLR */
  assert_true(r->private_copies >= 1);           /* the pages fixed up */
  assert_int_equal(check_iat(sys, pid, &ms), 3);
  END(sys);
}

/* ntdll.dll on the search path comes right after the program. */
static void ntdll_after_program(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll", "loader/sys/ntdll.dll");
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid pid;
  assert_status(exec3(sys, "app.exe", "loader/sys", ".", NULL, &pid), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  static const char *const order[] = { "app.exe", "ntdll.dll", "leaf.dll", "mid.dll" };
  assert_order(&ms, order, 4);
  END(sys);
}

/* api-ms-win-pagelab-test-l1-1-1 resolves through the schema's -l1-1-0
** entry (only the part before the last '-' counts) to leaf.dll;
** ext-ms-pagelab-choice-l1-1-0 has leaf.dll as default host and mid.dll
** for apiuser.exe, so mid.dll it is. */
static void apiset_resolution(void **state) {
  (void)state;
  NEED("loader/apiuser.exe", "loader/sys/apisetschema.dll", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, true);
  mm_pid pid;
  assert_status(exec3(sys, "loader/apiuser.exe", "loader/sys", ".", NULL, &pid),
                MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  static const char *const order[] = { "apiuser.exe", "ntdll.dll", "mid.dll", "leaf.dll" };
  assert_order(&ms, order, 4);
  const mm_module_info *app = &ms.m[0];
  for (uint32_t d = 0; d < app->pe->nimports; d++) {
    const pe_import *imp = &app->pe->imports[d];
    const char *host = !strncmp(imp->dll, "ext-", 4) ? "mid" : "leaf";
    uint64_t want = expect_export(&ms, mod(&ms, host), imp->funcs[0].name, 0);
    assert_int_equal(read_slot(sys, pid, app->base + imp->funcs[0].iat_rva, true), want);
  }
  check_iat(sys, pid, &ms);
  /* sets without a host, or not in the schema, are not found */
  uint64_t b;
  assert_status(mm_load_library(sys, pid, "api-ms-win-pagelab-empty-l1-1-0.dll", &b),
                MM_STATUS_DLL_NOT_FOUND);
  assert_msg_has(sys, "no host");
  assert_status(mm_load_library(sys, pid, "api-ms-win-pagelab-absent-l1-1-0", &b),
                MM_STATUS_DLL_NOT_FOUND);
  assert_msg_has(sys, "does not define");
  /* LoadLibrary of a set: its default host */
  assert_status(mm_load_library(sys, pid, "ext-ms-pagelab-choice-l1-1-5", &b),
                MM_STATUS_SUCCESS);
  assert_int_equal(b, mod(&ms, "leaf")->base);
  get_mods(sys, pid, &ms);
  assert_int_equal(ms.n, 4);
  END(sys);
}

/* Without a schema an API set is looked for as a file, then not found. */
static void apiset_without_schema(void **state) {
  (void)state;
  NEED("loader/apiuser.exe", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid pid;
  assert_status(exec3(sys, "loader/apiuser.exe", ".", NULL, NULL, &pid),
                MM_STATUS_DLL_NOT_FOUND);
  assert_msg_has(sys, "ext-ms-pagelab-choice-l1-1-0.dll");
  assert_msg_has(sys, "apisetschema.dll");
  assert_none_alive(sys);
  END(sys);
}

/* The .apiset section's offset in the schema file, and its length. */
static size_t apiset_at(const uint8_t *b, size_t n, size_t *len) {
  pe_image *pe;
  char err[PE_ERR_SIZE];
  assert_int_equal(pe_parse(b, n, &pe, err, sizeof err), PE_STATUS_SUCCESS);
  size_t off = 0;
  *len = 1;
  for (uint32_t i = 0; i < pe->nsections; i++)
    if (!strcmp(pe->sections[i].name, ".apiset")) {
      off = pe->sections[i].raw_ptr;
      *len = pe->sections[i].virtual_size;
    }
  pe_free(pe);
  assert_true(off > 0);
  return off;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Malformed API set data is STATUS_INVALID_IMAGE_FORMAT naming the schema,
** never a crash; random corruption is survived (run under ASan too). */
static void apiset_malformed(void **state) {
  (void)state;
  NEED("loader/apiuser.exe", "loader/sys/apisetschema.dll", "leaf.dll", "mid.dll");
  size_t n, len = 1;
  uint8_t *orig = slurp(data("loader/sys/apisetschema.dll"), &n);
  size_t ns = apiset_at(orig, n, &len);
  uint8_t *b = malloc(n);
  assert_non_null(b);
  tmp_make();
  struct { uint32_t off, value; const char *says; } cases[] = {
    { 0, 2, "version 2" },                        /* Version */
    { 4, 0x7FFFFFF0u, "Size" },                   /* Size past the section */
    { 12, 0x10000000u, "entries" },               /* Count */
    { 16, 0xFFFFFFF0u, "entries" },               /* EntryOffset */
    { 28 + 4, 0xFFFFFF00u, "name" },              /* entry 0 NameOffset */
    { 28 + 12, 0x400u, "HashedLength" },          /* entry 0 HashedLength */
    { 28 + 24 + 20, 0x01000000u, "values" },      /* entry 1 ValueCount */
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    memcpy(b, orig, n);
    put32(b + ns + cases[c].off, cases[c].value);
    spit(tmp_path("apisetschema.dll"), b, n);
    mm_system *sys = lsys(MM_ARCH_X64, false);
    char sp0[512], sp1[512];
    snprintf(sp0, sizeof sp0, "%s", tmp_dir);
    snprintf(sp1, sizeof sp1, "%s", data("."));
    const char *sp[2] = { sp0, sp1 };
    mm_pid pid;
    assert_status(mm_exec(sys, data("loader/apiuser.exe"), sp, 2, &pid),
                  MM_STATUS_INVALID_IMAGE_FORMAT);
    assert_msg_has(sys, "apisetschema.dll");
    assert_msg_has(sys, cases[c].says);
    assert_none_alive(sys);
    END(sys);
  }
  /* random damage: any status, no crash, nothing left behind */
  uint32_t seed = 12345;
  for (int round = 0; round < 200; round++) {
    memcpy(b, orig, n);
    for (int k = 0; k < 1 + round % 6; k++) {
      seed = seed * 1103515245u + 12345u;
      size_t at = ns + (seed >> 8) % len;
      seed = seed * 1103515245u + 12345u;
      b[at] = (uint8_t)(seed >> 16);
    }
    spit(tmp_path("apisetschema.dll"), b, n);
    mm_system *sys = lsys(MM_ARCH_X64, false);
    char sp1[512];
    snprintf(sp1, sizeof sp1, "%s", data("."));
    const char *sp[2] = { tmp_dir, sp1 };
    mm_pid pid;
    mm_status st = mm_exec(sys, data("loader/apiuser.exe"), sp, 2, &pid);
    if (st != MM_STATUS_SUCCESS) assert_none_alive(sys);
    END(sys);
  }
  tmp_clean();
  free(b);
  free(orig);
}

/* Each failure names the file and the import, and leaves no process and
** no commit behind. */
static void exec_failures(void **state) {
  (void)state;
  NEED("loader/missing.exe", "loader/noexport.exe", "loader/noord.exe",
       "loader/conflict.exe", "fixed.dll", "leaf.dll", "app.exe");
  struct { const char *prog; mm_status st; const char *a, *b; } cases[] = {
    { "loader/missing.exe", MM_STATUS_DLL_NOT_FOUND, "nosuch.dll", "missing.exe" },
    { "loader/noexport.exe", MM_STATUS_ENTRYPOINT_NOT_FOUND, "leaf_gone", "leaf.dll" },
    { "loader/noord.exe", MM_STATUS_ENTRYPOINT_NOT_FOUND, "ordinal 9", "leaf.dll" },
    { "loader/conflict.exe", MM_STATUS_CONFLICTING_ADDRESSES, "fixed.dll", "conflict.exe" },
    { "leaf.dll", MM_STATUS_INVALID_IMAGE_FORMAT, "leaf.dll", "not a program" },
    { "nothere.exe", MM_STATUS_INVALID_PARAMETER, "nothere.exe", "" },
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    mm_system *sys = lsys(MM_ARCH_X64, true);
    mm_sstats before, after;
    mm_system_stats(sys, &before);
    mm_pid pid;
    assert_status(exec3(sys, cases[c].prog, ".", NULL, NULL, &pid), cases[c].st);
    assert_msg_has(sys, cases[c].a);
    assert_msg_has(sys, cases[c].b);
    assert_none_alive(sys);
    mm_system_stats(sys, &after);
    assert_int_equal(after.commit_charge, before.commit_charge);
    assert_int_equal(after.available, before.available);
    assert_int_equal(after.active, before.active);
    END(sys);
  }
}

/* A program next to a DLL of the wrong machine, a malformed one, and a
** file that is no image at all (the program's folder is searched first). */
static void exec_bad_dlls(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "x86/mid.dll");
  struct { const char *mid; mm_status st; } cases[] = {
    { "x86/mid.dll", MM_STATUS_IMAGE_MACHINE_TYPE_MISMATCH },
    { NULL, MM_STATUS_INVALID_IMAGE_NOT_MZ },          /* a text file */
    { "", MM_STATUS_INVALID_IMAGE_FORMAT },             /* a cut image */
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    tmp_make();
    copy_to_tmp("app.exe", "app.exe");
    copy_to_tmp("leaf.dll", "leaf.dll");
    if (cases[c].mid && cases[c].mid[0]) {
      copy_to_tmp(cases[c].mid, "mid.dll");
    } else if (cases[c].mid) {
      size_t n;
      uint8_t *b = slurp(data("mid.dll"), &n);
      spit(tmp_path("mid.dll"), b, 0x200);     /* headers, no sections */
      free(b);
    } else {
      spit(tmp_path("mid.dll"), "not a DLL\n", 10);
    }
    mm_system *sys = lsys(MM_ARCH_X64, false);
    mm_pid pid;
    assert_status(mm_exec(sys, tmp_path("app.exe"), NULL, 0, &pid), cases[c].st);
    assert_msg_has(sys, "mid.dll");
    assert_none_alive(sys);
    END(sys);
    tmp_clean();
  }
}

/* LoadLibrary: by name along the search path, by host path, relocation,
** failures that unmap what they mapped. */
static void load_library(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll", "reloc.dll", "fixed.dll", "shared.dll");
  mm_system *sys = lsys(MM_ARCH_X64, true);
  mm_pid pid;
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &pid), MM_STATUS_SUCCESS);
  uint64_t b;
  assert_status(mm_load_library(sys, pid, "reloc.dll", &b), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  assert_int_equal(ms.n, 4);
  assert_true(mod(&ms, "reloc")->relocated);
  assert_int_equal(mod(&ms, "reloc")->base, b);
  assert_status(mm_load_library(sys, pid, data("shared.dll"), &b), MM_STATUS_SUCCESS);
  get_mods(sys, pid, &ms);
  assert_int_equal(ms.n, 5);
  assert_int_equal(mod(&ms, "shared")->base, b);
  /* fixed.dll's base taken: conflicting, and nothing new stays */
  uint64_t at = 0x180200000ull, size = 0x10000;
  assert_status(mm_allocate(sys, pid, &at, &size, MM_MEM_RESERVE, MM_PAGE_READWRITE),
                MM_STATUS_SUCCESS);
  assert_status(mm_load_library(sys, pid, "fixed.dll", &b), MM_STATUS_CONFLICTING_ADDRESSES);
  assert_msg_has(sys, "fixed.dll");
  assert_status(mm_load_library(sys, pid, "nosuch.dll", &b), MM_STATUS_DLL_NOT_FOUND);
  assert_status(mm_load_library(sys, pid, "a/b/nosuch.dll", &b), MM_STATUS_DLL_NOT_FOUND);
  assert_status(mm_load_library(sys, pid, "", &b), MM_STATUS_INVALID_PARAMETER);
  get_mods(sys, pid, &ms);
  assert_int_equal(ms.n, 5);
  assert_int_equal(check_iat(sys, pid, &ms), 4);
  /* a view unmapped behind the loader's back drops out of the list */
  assert_status(mm_unmap_view(sys, pid, mod(&ms, "shared")->base + 0x1000), MM_STATUS_SUCCESS);
  get_mods(sys, pid, &ms);
  assert_int_equal(ms.n, 4);
  assert_null(mod(&ms, "shared"));
  /* a process not made by mm_exec loads by path only */
  mm_pid q = tu_process(sys);
  assert_status(mm_load_library(sys, q, "leaf.dll", &b), MM_STATUS_DLL_NOT_FOUND);
  assert_status(mm_load_library(sys, q, data("mid.dll"), &b), MM_STATUS_DLL_NOT_FOUND);
  assert_msg_has(sys, "leaf.dll");
  assert_status(mm_load_library(sys, q, data("leaf.dll"), &b), MM_STATUS_SUCCESS);
  uint32_t n;
  assert_status(mm_modules(sys, q, NULL, 0, &n), MM_STATUS_SUCCESS);
  assert_int_equal(n, 1);
  END(sys);
}

/* Touches every page of every module for reading (executing code). */
static void touch_all(mm_system *sys, mm_pid pid, const mods *ms) {
  for (uint32_t i = 0; i < ms->n; i++)
    for (uint64_t a = ms->m[i].base; a < ms->m[i].base + ms->m[i].size; a += 4096) {
      mm_region r;
      mm_query(sys, pid, a, &r);
      unsigned kind = (r.protect & (MM_PAGE_EXECUTE_READ | MM_PAGE_EXECUTE_WRITECOPY |
                                    MM_PAGE_EXECUTE_READWRITE)) ? MM_EXECUTE : MM_READ;
      int o = mm_access(sys, pid, a, kind);
      assert_true(o == MM_HIT || o == MM_SOFT || o == MM_HARD || o == MM_DEMAND_ZERO);
    }
}

/* The same program in three processes: every unwritten page is one frame
** for all of them; the IAT pages are each process's own. */
static void sharing_three_processes(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid pid[3];
  mods ms[3];
  for (int k = 0; k < 3; k++) {
    assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &pid[k]), MM_STATUS_SUCCESS);
    get_mods(sys, pid[k], &ms[k]);
    touch_all(sys, pid[k], &ms[k]);
  }
  mm_pstats ps[3];
  for (int k = 0; k < 3; k++) {
    get_mods(sys, pid[k], &ms[k]);
    mm_process_stats(sys, pid[k], &ps[k]);
  }
  /* the second and third found every shared page in memory: soft faults */
  assert_true(ps[0].hard > 0);
  assert_int_equal(ps[1].hard, 0);
  assert_int_equal(ps[2].hard, 0);
  for (uint32_t i = 0; i < ms[0].n; i++) {
    const mm_module_info *m0 = &ms[0].m[i];
    for (int k = 1; k < 3; k++) {
      assert_int_equal(ms[k].m[i].base, m0->base);
      assert_int_equal(ms[k].m[i].shared_pages, m0->shared_pages);
      assert_int_equal(ms[k].m[i].private_pages, m0->private_pages);
    }
    /* one frame per shared page, whatever the number of processes */
    assert_int_equal(m0->section_frames, m0->shared_pages);
    assert_int_equal(m0->shared_pages + m0->private_pages, m0->size / 4096 -
                     0 /* every page touched */);
  }
  /* the IAT pages are private in each of them */
  assert_true(mod(&ms[0], "app.exe")->private_pages >= 1);
  assert_true(mod(&ms[0], "mid.dll")->private_pages >= 1);
  assert_int_equal(mod(&ms[0], "leaf.dll")->private_pages, 0);
  /* physical pages: shared frames once, private ones per process */
  uint64_t frames = 0, unshared = 0;
  for (uint32_t i = 0; i < ms[0].n; i++) {
    frames += ms[0].m[i].section_frames + 3 * ms[0].m[i].private_pages;
    unshared += 3 * (ms[0].m[i].shared_pages + ms[0].m[i].private_pages);
  }
  assert_true(frames < unshared);
  END(sys);
}

/* An image section the user made on the same host file is the same image
** (A.11.11): the loader's mapping shares its pages. */
static void shares_user_sections(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid u = tu_process(sys);
  mm_handle f, s;
  assert_status(mm_file_open(sys, data("./leaf.dll"), &f), MM_STATUS_SUCCESS);
  mm_section_config sc = { 0, MM_PAGE_READONLY, MM_SEC_IMAGE, f, NULL };
  assert_status(mm_section_create(sys, &sc, &s, NULL), MM_STATUS_SUCCESS);
  uint64_t b = 0, size = 0;
  assert_status(mm_map_view(sys, u, s, &b, 0, &size, MM_PAGE_READONLY, 0, 0),
                MM_STATUS_SUCCESS);
  assert_int_equal(mm_access(sys, u, b + 0x1000, MM_EXECUTE), MM_HARD);
  mm_pid pid;
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &pid), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  const mm_module_info *leaf = mod(&ms, "leaf");
  assert_int_equal(leaf->section_frames, 1);
  assert_int_equal(mm_access(sys, pid, leaf->base + 0x1000, MM_EXECUTE), MM_SOFT);
  get_mods(sys, pid, &ms);
  assert_int_equal(mod(&ms, "leaf")->section_frames, 1);
  assert_int_equal(mod(&ms, "leaf")->shared_pages, 1);
  mm_file_close(sys, f);
  mm_section_close(sys, s);
  END(sys);
}

/* A program run again after it exited finds its image pages on standby:
** the loader keeps the image section (soft faults, no reads). */
static void rerun_finds_standby(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll");
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid a, b;
  mods ms;
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &a), MM_STATUS_SUCCESS);
  get_mods(sys, a, &ms);
  touch_all(sys, a, &ms);
  assert_status(mm_process_terminate(sys, a), MM_STATUS_SUCCESS);
  uint32_t n;
  assert_status(mm_modules(sys, a, NULL, 0, &n), MM_STATUS_PROCESS_IS_TERMINATING);
  mm_sstats ss;
  mm_system_stats(sys, &ss);
  assert_true(ss.standby > 0);
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &b), MM_STATUS_SUCCESS);
  get_mods(sys, b, &ms);
  touch_all(sys, b, &ms);
  mm_pstats ps;
  mm_process_stats(sys, b, &ps);
  assert_int_equal(ps.hard, 0);
  assert_true(ps.soft > 0);
  END(sys);
}

/* x86: 32-bit images on an x86 machine, 4-byte IAT slots. */
static void exec_x86(void **state) {
  (void)state;
  NEED("x86/app.exe", "x86/leaf.dll", "x86/mid.dll");
  mm_system *sys = lsys(MM_ARCH_X86, true);
  mm_pid pid;
  assert_status(exec3(sys, "x86/app.exe", "x86", NULL, NULL, &pid), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  static const char *const order[] = { "app.exe", "leaf.dll", "mid.dll" };
  assert_order(&ms, order, 3);
  assert_false(ms.m[0].pe->pe32plus);
  assert_int_equal(check_iat(sys, pid, &ms), 4);
  /* an x64 program on an x86 machine */
  mm_pid q;
  assert_status(exec3(sys, "app.exe", ".", NULL, NULL, &q),
                MM_STATUS_IMAGE_MACHINE_TYPE_MISMATCH);
  END(sys);
}

/* Debian's mingw-w64 runtime: the real libstdc++-6.dll and
** libgcc_s_seh-1.dll, with stand-in KERNEL32.dll and msvcrt.dll. */
static void mingw_runtime(void **state) {
  (void)state;
  NEED("app.exe", "leaf.dll", "mid.dll", "loader/stubs/runtime.txt",
       "loader/stubs/KERNEL32.dll", "loader/stubs/msvcrt.dll");
  char rt[512] = "";
  FILE *f = fopen(data("loader/stubs/runtime.txt"), "r");
  assert_non_null(f);
  if (!fgets(rt, sizeof rt, f)) rt[0] = 0;
  fclose(f);
  rt[strcspn(rt, "\n")] = 0;
  char lib[600];
  snprintf(lib, sizeof lib, "%s/libstdc++-6.dll", rt);
  FILE *g = fopen(lib, "rb");
  if (!g) skip();
  fclose(g);
  mm_system *sys = lsys(MM_ARCH_X64, true);
  mm_pid pid;
  assert_status(exec3(sys, "app.exe", ".", "loader/stubs", rt, &pid), MM_STATUS_SUCCESS);
  uint64_t b;
  assert_status(mm_load_library(sys, pid, "libstdc++-6.dll", &b), MM_STATUS_SUCCESS);
  mods ms;
  get_mods(sys, pid, &ms);
  static const char *const order[] = { "app.exe", "leaf.dll", "mid.dll",
                                       "libstdc++-6.dll", "libgcc_s_seh-1.dll",
                                       "KERNEL32.dll", "msvcrt.dll" };
  assert_order(&ms, order, 7);
  assert_int_equal(mod(&ms, "libstdc++-6")->base, b);
  assert_true(check_iat(sys, pid, &ms) > 100);
  END(sys);
}

/* Bad arguments are refused before anything happens. */
static void bad_arguments(void **state) {
  (void)state;
  mm_system *sys = lsys(MM_ARCH_X64, false);
  mm_pid pid;
  assert_status(mm_exec(sys, NULL, NULL, 0, &pid), MM_STATUS_INVALID_PARAMETER);
  assert_status(mm_exec(sys, "", NULL, 0, &pid), MM_STATUS_INVALID_PARAMETER);
  const char *sp[1] = { NULL };
  assert_status(mm_exec(sys, "x.exe", sp, 1, &pid), MM_STATUS_INVALID_PARAMETER);
  uint64_t b;
  assert_status(mm_load_library(sys, 99, "x.dll", &b), MM_STATUS_INVALID_HANDLE);
  assert_int_equal(mm_process_count(sys), 0);
  END(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(exec_app_modules),
    cmocka_unit_test(exec_binds_iat),
    cmocka_unit_test(load_order_depth_first),
    cmocka_unit_test(ntdll_after_program),
    cmocka_unit_test(apiset_resolution),
    cmocka_unit_test(apiset_without_schema),
    cmocka_unit_test(apiset_malformed),
    cmocka_unit_test(exec_failures),
    cmocka_unit_test(exec_bad_dlls),
    cmocka_unit_test(load_library),
    cmocka_unit_test(sharing_three_processes),
    cmocka_unit_test(shares_user_sections),
    cmocka_unit_test(rerun_finds_standby),
    cmocka_unit_test(exec_x86),
    cmocka_unit_test(mingw_runtime),
    cmocka_unit_test(bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
