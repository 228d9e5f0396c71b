/*
** l_loader.c — the image loader and the PE parser in Lua (DESIGN.md §4,
** docs/loader.md).
**
**   sys:exec(path [, { search_path = {dir...}, name =, ws_min =, ws_max =,
**                      hard_min =, hard_max = }])  -> Process
**   q:modules()             -> { { name=, path=, base=, size=,
**                                  preferred_base=, relocated=, order=,
**                                  shared_pages=, private_pages=,
**                                  private_copies=, section_frames= }... }
**                              in load order (order 1 = the program)
**   q:load_library(name)    -> base
**   pagelab.pe.parse(path)  -> { format=, machine=, ... } (see pe_table)
**
** Error contract (pagelab.h): misuse raises naming the argument; a Windows
** failure returns nil, "STATUS_…", sentence. pe.parse on a file it cannot
** read returns nil, sentence (there is no NTSTATUS for the host's errno).
**
** exec and load_library may fault pages in (binding the IAT copies them),
** and a fault may call a Lua policy: both run bracketed by pl_enter /
** pl_leave, like every call that may call back.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l_util.h"
#include "pagelab.h"

/* The largest file pe.parse reads (PE images are limited to 4 GiB of
** address space; files this size are not test images). */
#define PL_PE_FILE_MAX (1024L * 1024 * 1024)
#define PL_PE_BOX_MT "pagelab.PEImage"

static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
  if (v == NULL) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* ------------------------------------------------------------- exec */

/* sys:exec(path [, opts]) -> Process | nil, status, msg */
static int sys_exec(lua_State *L) {
  static const char *const allowed[] = {"search_path", "name", "ws_min",
                                        "ws_max", "hard_min", "hard_max",
                                        NULL};
  pl_system *s = pl_check_idle(L, 1);
  const char *path = luaL_checkstring(L, 2);
  mm_process_config pc;
  const char **search = NULL;
  size_t n = 0;
  mm_pid pid = 0;
  mm_status st;
  memset(&pc, 0, sizeof pc);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    pl_check_options(L, 3, "exec", allowed);
    pl_field_string(L, 3, 3, "name", "name", &pc.name);
    pl_field_u32(L, 3, 3, "ws_min", "ws_min", &pc.ws_min);
    pl_field_u32(L, 3, 3, "ws_max", "ws_max", &pc.ws_max);
    pl_field_bool(L, 3, 3, "hard_min", "hard_min", &pc.hard_min);
    pl_field_bool(L, 3, 3, "hard_max", "hard_max", &pc.hard_max);
    int t = pl_field_table(L, 3, 3, "search_path", "search_path");
    if (t) {
      n = (size_t)luaL_len(L, t);
      /* a userdata, so that a raise below frees it with the stack */
      search = lua_newuserdatauv(L, (n ? n : 1) * sizeof *search, 0);
      for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, t, (lua_Integer)i + 1) != LUA_TSTRING)
          pl_field_error(L, 3, "search_path",
                         lua_pushfstring(L, "entry %d is not a string",
                                         (int)i + 1));
        search[i] = lua_tostring(L, -1);  /* anchored by the table */
        lua_pop(L, 1);
      }
    }
  }
  pl_enter(s, L);
  st = mm_exec_ex(s->sys, path, search, n, &pc, &pid);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (st != MM_STATUS_SUCCESS)
    return pl_push_failure(L, s->sys, st, NULL);
  pl_push_process(L, 1, pid);
  return 1;
}

/* q:modules() -> { module... } | nil, status, msg */
static int proc_modules(lua_State *L) {
  mm_system *sys;
  mm_pid pid = pl_check_process(L, 1, &sys);
  uint32_t n = 0;
  mm_status st = mm_modules(sys, pid, NULL, 0, &n);
  if (st != MM_STATUS_SUCCESS)
    return pl_push_failure(L, sys, st, NULL);
  mm_module_info *m = lua_newuserdatauv(L, (n ? n : 1) * sizeof *m, 0);
  st = mm_modules(sys, pid, m, n, &n);
  if (st != MM_STATUS_SUCCESS)
    return pl_push_failure(L, sys, st, NULL);
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 11);
    set_str(L, "name", m[i].name);
    set_str(L, "path", m[i].path);
    set_int(L, "base", m[i].base);
    set_int(L, "size", m[i].size);
    set_int(L, "preferred_base", m[i].preferred_base);
    lua_pushboolean(L, m[i].relocated);
    lua_setfield(L, -2, "relocated");
    set_int(L, "order", (uint64_t)m[i].order + 1);
    set_int(L, "shared_pages", m[i].shared_pages);
    set_int(L, "private_pages", m[i].private_pages);
    set_int(L, "private_copies", m[i].private_copies);
    set_int(L, "section_frames", m[i].section_frames);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* q:load_library(name) -> base | nil, status, msg */
static int proc_load_library(lua_State *L) {
  mm_pid pid = pl_check_process(L, 1, NULL);
  const char *name = luaL_checkstring(L, 2);
  uint64_t base = 0;
  mm_status st;
  pl_system *s;
  lua_getiuservalue(L, 1, 1);          /* the System: raises when busy */
  s = pl_check_idle(L, -1);
  lua_pop(L, 1);
  pl_enter(s, L);
  st = mm_load_library(s->sys, pid, name, &base);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (st != MM_STATUS_SUCCESS)
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushinteger(L, (lua_Integer)base);
  return 1;
}

/* ------------------------------------------------------------ pe.parse */

/* A parsed image owned by a userdata, so that a raise while the result
** table is built (out of memory) still frees it. */
typedef struct pe_box {
  pe_image *pe;
} pe_box;

static int pe_box_gc(lua_State *L) {
  pe_box *b = luaL_checkudata(L, 1, PL_PE_BOX_MT);
  pe_free(b->pe);
  b->pe = NULL;
  return 0;
}

static const char *machine_name(uint16_t m) {
  switch (m) {
    case PE_MACHINE_I386: return "x86";
    case PE_MACHINE_AMD64: return "x64";
    case PE_MACHINE_ARMNT: return "arm";
    case PE_MACHINE_ARM64: return "arm64";
    default: return NULL;
  }
}

static void push_sections(lua_State *L, const pe_image *pe) {
  lua_createtable(L, (int)pe->nsections, 0);
  for (uint32_t i = 0; i < pe->nsections; i++) {
    const pe_section *s = &pe->sections[i];
    lua_createtable(L, 0, 8);
    set_str(L, "name", s->name);
    set_int(L, "va", s->va);
    set_int(L, "virtual_size", s->virtual_size);
    set_int(L, "raw_size", s->raw_size);
    set_int(L, "raw_ptr", s->raw_ptr);
    set_int(L, "characteristics", s->characteristics);
    set_int(L, "mapped_size", s->mapped_size);
    pl_push_protect(L, s->protect);
    lua_setfield(L, -2, "protect");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static void push_imports(lua_State *L, const pe_image *pe) {
  lua_createtable(L, (int)pe->nimports, 0);
  for (uint32_t i = 0; i < pe->nimports; i++) {
    const pe_import *im = &pe->imports[i];
    lua_createtable(L, 0, 4);
    set_str(L, "dll", im->dll);
    set_int(L, "count", im->nfuncs);
    set_int(L, "iat_rva", im->iat_rva);
    lua_createtable(L, (int)im->nfuncs, 0);
    for (uint32_t k = 0; k < im->nfuncs; k++) {
      if (im->funcs[k].name)
        lua_pushstring(L, im->funcs[k].name);
      else
        lua_pushfstring(L, "#%d", (int)im->funcs[k].ordinal);
      lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "functions");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static void push_exports(lua_State *L, const pe_image *pe) {
  lua_createtable(L, (int)pe->nexports, 0);
  for (uint32_t i = 0; i < pe->nexports; i++) {
    const pe_export *x = &pe->exports[i];
    lua_createtable(L, 0, 4);
    set_str(L, "name", x->name);
    set_int(L, "ordinal", x->ordinal);
    set_int(L, "rva", x->rva);
    set_str(L, "forwarder", x->forwarder);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static void pe_table(lua_State *L, const pe_image *pe) {
  lua_createtable(L, 0, 24);
  set_str(L, "format", pe->pe32plus ? "PE32+" : "PE32");
  set_int(L, "machine", pe->machine);
  set_str(L, "arch", machine_name(pe->machine));
  set_int(L, "characteristics", pe->characteristics);
  lua_pushboolean(L, (pe->characteristics & PE_FILE_DLL) != 0);
  lua_setfield(L, -2, "dll");
  set_int(L, "subsystem", pe->subsystem);
  set_int(L, "image_base", pe->image_base);
  set_int(L, "size_of_image", pe->size_of_image);
  set_int(L, "size_of_headers", pe->size_of_headers);
  set_int(L, "section_alignment", pe->section_alignment);
  set_int(L, "file_alignment", pe->file_alignment);
  set_int(L, "entry_point", pe->entry_point);
  set_int(L, "dll_characteristics", pe->dll_characteristics);
  push_sections(L, pe);
  lua_setfield(L, -2, "sections");
  push_imports(L, pe);
  lua_setfield(L, -2, "imports");
  lua_createtable(L, 0, 2);
  set_int(L, "blocks", pe->nreloc_blocks);
  set_int(L, "entries", pe->nrelocs);
  lua_setfield(L, -2, "relocations");
  push_exports(L, pe);
  lua_setfield(L, -2, "exports");
  set_str(L, "export_name", pe->export_dll);
}

/* pagelab.pe.parse(path) -> table | nil, "STATUS_…", msg | nil, msg */
static int l_pe_parse(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char err[PE_ERR_SIZE];
  FILE *fp = fopen(path, "rb");
  long n = -1;
  if (fp == NULL) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
    return 2;
  }
  if (fseek(fp, 0, SEEK_END) == 0)
    n = ftell(fp);
  if (n < 0 || n > PL_PE_FILE_MAX || fseek(fp, 0, SEEK_SET) != 0) {
    fclose(fp);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read %s: %s", path,
                    n > PL_PE_FILE_MAX ? "larger than 1 GiB" : "not seekable");
    return 2;
  }
  /* the bytes live in a userdata: a raise below cannot leak them */
  uint8_t *buf = lua_newuserdatauv(L, n ? (size_t)n : 1, 0);
  if (n && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
    fclose(fp);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read %s", path);
    return 2;
  }
  fclose(fp);
  pe_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->pe = NULL;
  luaL_setmetatable(L, PL_PE_BOX_MT);
  pe_status ps = pe_parse(buf, (size_t)n, &box->pe, err, sizeof err);
  if (ps != PE_STATUS_SUCCESS) {
    char msg[PE_ERR_SIZE + 512];
    snprintf(msg, sizeof msg, "%s: %s", path, err);
    return pl_push_failure(L, NULL, ps, msg);
  }
  pe_table(L, box->pe);
  return 1;
}

/* ---------------------------------------------------------------- open */

int pl_open_loader(lua_State *L) {
  static const luaL_Reg sys_methods[] = {{"exec", sys_exec}, {NULL, NULL}};
  static const luaL_Reg proc_methods[] = {{"modules", proc_modules},
                                          {"load_library", proc_load_library},
                                          {NULL, NULL}};
  luaL_newmetatable(L, PL_PE_BOX_MT);
  lua_pushcfunction(L, pe_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  pl_add_methods(L, PL_SYSTEM_MT, sys_methods);
  pl_add_methods(L, PL_PROCESS_MT, proc_methods);
  /* pagelab.pe: other pieces may add to it, so reuse one that exists */
  if (lua_getfield(L, -1, "pe") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "pe");
  }
  lua_pushcfunction(L, l_pe_parse);
  lua_setfield(L, -2, "parse");
  lua_pop(L, 1);
  return 0;
}
