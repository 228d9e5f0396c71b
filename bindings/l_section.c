/*
** l_section.c — files, sections and views in Lua (DESIGN.md §4), and the
** VMMap / RAMMap summaries.
**
**   sys:file{ name=, size= } | sys:file{ path= }   -> File
**   sys:section{ size=, protect=, attributes=, name=, file= }
**                                                  -> Section, existed
**   p:map(section, { addr=, offset=, size=, protect=, commit_size=,
**                    top_down= })                  -> base, size, status
**   p:unmap(addr)  p:flush(addr [, size])  p:write(addr, bytes)
**   p:read(addr, n)  p:vmmap()  sys:rammap()
**
** Userdata model (STYLE.md habit 7)
**   "pagelab.File", "pagelab.Section": a pl_handle block — the owner's
**   pl_system and the core's handle number, never a pointer into the core.
**   Uservalue 1 is the System userdata, so the System outlives them (the
**   pl_system pointer stays valid). Closing (f:close(), <close>, __gc) is
**   one idempotent function per type; it does nothing once the System is
**   closed, since the core objects went with it. A view keeps its section
**   alive in the core, so a collected Section does not take its views with
**   it (A.11.4), and a section keeps its file alive.
**
** Finalizers and callbacks. The garbage collector may run a finalizer
** while the core is inside a call that called back into Lua (a Lua policy,
** the recorder's sampler): closing a handle then would change the core
** under its own feet. So __gc on a busy System arms the finalizer again
** (Lua 5.4 runs it once more in a later cycle, manual §2.5.3) and the
** handle is closed once the System is idle. An explicit close from inside
** a callback raises, like every other call that changes the System.
**
** Error contract: misuse raises naming the argument; a Windows failure is
** nil, "STATUS_…", sentence; a failed callback raises its message.
*/
#include <string.h>

#include "l_util.h"
#include "pagelab.h"

#define PL_FILE_MT "pagelab.File"
#define PL_SECTION_MT "pagelab.Section"

typedef struct pl_handle {
  pl_system *owner;    /* kept alive by uservalue 1 */
  mm_handle h;         /* the core's file or section handle */
  int closed;          /* this Lua object's handle is closed (or was
                          never opened: a failed creation) */
} pl_handle;

static const char busy_msg[] =
    "attempt to change a System from inside one of its callbacks (the "
    "simulator is not re-entrant)";

/* ------------------------------------------------------------ accessors */

/* The open handle at idx of type mt; raises on a closed System or a
** closed handle. what: "File" or "Section". */
static pl_handle *check_handle(lua_State *L, int idx, const char *mt,
                               const char *what) {
  pl_handle *u = luaL_checkudata(L, idx, mt);
  if (u->owner->sys == NULL)
    luaL_error(L, "attempt to use a closed System");
  if (u->closed)
    luaL_error(L, "attempt to use a closed %s", what);
  return u;
}

/* A File or Section argument (not self): like check_handle, and it must
** belong to the System s. */
static pl_handle *check_arg_handle(lua_State *L, int idx, int arg,
                                   const char *mt, const char *what,
                                   const char *argname, pl_system *s) {
  pl_handle *u = luaL_testudata(L, idx, mt);
  if (u == NULL)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: expected a %s, got %s",
                                          argname, what,
                                          luaL_typename(L, idx)));
  check_handle(L, idx, mt, what);
  if (u->owner != s)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: this %s belongs to "
                                          "another System", argname, what));
  return u;
}

/* The Process at idx for a call that changes the System: raises on a
** closed or busy System. */
static pl_system *check_proc_idle(lua_State *L, int idx, mm_pid *pid) {
  pl_process *p = luaL_checkudata(L, idx, PL_PROCESS_MT);
  pl_system *s = p->owner;
  if (s->sys == NULL)
    luaL_error(L, "attempt to use a closed System");
  if (s->busy)
    luaL_error(L, "%s", busy_msg);
  s->L = L;
  *pid = p->pid;
  return s;
}

/* An address: a non-negative integer (floats with an integer value too). */
static uint64_t check_addr(lua_State *L, int idx, const char *name) {
  int isint = 0;
  lua_Integer v = 0;
  if (lua_type(L, idx) == LUA_TNUMBER)
    v = lua_tointegerx(L, idx, &isint);
  if (!isint || v < 0)
    luaL_argerror(L, idx,
                  lua_type(L, idx) == LUA_TNUMBER
                      ? lua_pushfstring(L, "%s: expected a non-negative "
                                        "integer", name)
                      : lua_pushfstring(L, "%s: expected an address "
                                        "(integer), got %s", name,
                                        luaL_typename(L, idx)));
  return (uint64_t)v;
}

/* A new handle userdata of type mt for s (at sysidx), closed until the
** core call succeeds: a failed creation leaves nothing to close. */
static pl_handle *new_handle(lua_State *L, int sysidx, pl_system *s,
                             const char *mt) {
  pl_handle *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->owner = s;
  u->h = 0;
  u->closed = 1;
  luaL_setmetatable(L, mt);
  lua_pushvalue(L, sysidx);
  lua_setiuservalue(L, -2, 1);
  return u;
}

static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* The protect field of the option table at t (the top of the stack): 0
** when absent. The value is moved to t while it is checked, so that an
** unknown word is reported against the option table's argument. */
static uint32_t field_protect(lua_State *L, int t, bool *given) {
  uint32_t prot;
  lua_settop(L, t);
  if (lua_getfield(L, t, "protect") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  lua_insert(L, t);
  prot = pl_check_protect(L, t, "protect");
  lua_remove(L, t);
  *given = true;
  return prot;
}

/* -------------------------------------------------- section attributes */

static const pl_word attr_words[] = {
    {"file", MM_SEC_FILE},           {"image", MM_SEC_IMAGE},
    {"commit", MM_SEC_COMMIT},       {"reserve", MM_SEC_RESERVE},
    {"nocache", MM_SEC_NOCACHE},     {"writecombine", MM_SEC_WRITECOMBINE},
    {"large_pages", MM_SEC_LARGE_PAGES}, {NULL, 0}};

/* SEC_* bits from "reserve|nocache" (or a raw number) in the field value
** at the top of the stack. Which combinations are valid is the core's
** call (A.11.2); unknown words raise. */
static uint32_t check_attributes(lua_State *L, int arg) {
  if (lua_type(L, -1) == LUA_TNUMBER) {
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 0 || v > (lua_Integer)UINT32_MAX)
      pl_field_error(L, arg, "attributes", "not a SEC_* value");
    return (uint32_t)v;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    pl_field_error(L, arg, "attributes",
                   lua_pushfstring(L, "expected a string, got %s",
                                   luaL_typename(L, -1)));
  return pl_check_words(L, lua_absindex(L, -1), arg, "attributes",
                        "section attribute", attr_words);
}

static void push_attributes(lua_State *L, uint32_t v) {
  luaL_Buffer b;
  int first = 1;
  luaL_buffinit(L, &b);
  for (const pl_word *w = attr_words; w->name != NULL; w++) {
    if (!(v & w->bits))
      continue;
    if (!first)
      luaL_addchar(&b, '|');
    luaL_addstring(&b, w->name);
    first = 0;
    v &= ~w->bits;
  }
  if (v) {
    if (!first)
      luaL_addchar(&b, '|');
    lua_pushfstring(L, "0x%x", (unsigned)v);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
}

/* ------------------------------------------------------------- closing */

typedef mm_status (*close_fn)(mm_system *, mm_handle);

/* The one closing function of a type. from_gc: a finalizer, which must
** never raise; on a busy System it re-arms itself instead. */
static int close_handle(lua_State *L, const char *mt, close_fn fn,
                        int from_gc) {
  pl_handle *u = luaL_checkudata(L, 1, mt);
  if (u->closed || u->owner->sys == NULL) {
    u->closed = 1;               /* a closed System took the core object */
    return 0;
  }
  if (u->owner->busy) {
    if (!from_gc)
      return luaL_error(L, "%s", busy_msg);
    lua_getmetatable(L, 1);      /* run again in a later cycle */
    lua_setmetatable(L, 1);
    return 0;
  }
  u->closed = 1;
  fn(u->owner->sys, u->h);       /* fails only on a stale handle: none */
  return 0;
}

/* --------------------------------------------------------------- files */

static int file_close(lua_State *L) {
  return close_handle(L, PL_FILE_MT, mm_file_close, 0);
}
static int file_gc(lua_State *L) {
  return close_handle(L, PL_FILE_MT, mm_file_close, 1);
}

/* sys:file{ name=, size= } (simulated, zero-filled) or sys:file{ path= }
** (a host file, read-only) -> File | nil, status, msg */
static int sys_file(lua_State *L) {
  static const char *const allowed[] = {"name", "size", "path", NULL};
  pl_system *s = pl_check_idle(L, 1);
  const char *name = NULL, *path = NULL;
  uint64_t size = 0;
  int has_size, has_name;
  mm_handle h = 0;
  mm_status st;
  pl_handle *u;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  pl_check_options(L, 2, "file", allowed);
  has_name = pl_field_string(L, 2, 2, "name", "name", &name);
  has_size = pl_field_size(L, 2, 2, "size", "size", &size);
  pl_field_string(L, 2, 2, "path", "path", &path);
  if (path != NULL && (has_name || has_size))
    pl_field_error(L, 2, "path", "a host file takes its name and size from "
                                 "the host: give path alone");
  u = new_handle(L, 1, s, PL_FILE_MT);
  st = path != NULL ? mm_file_open(s->sys, path, &h)
                    : mm_file_create(s->sys, name, size, &h);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  u->h = h;
  u->closed = 0;
  return 1;
}

/* f:info() -> { name=, size=, reads=, writes=, cached=, host= } */
static int file_info(lua_State *L) {
  pl_handle *u = check_handle(L, 1, PL_FILE_MT, "File");
  mm_file_info fi;
  mm_status st = mm_file_info_get(u->owner->sys, u->h, &fi);
  if (!MM_OK(st))
    return pl_push_failure(L, u->owner->sys, st, NULL);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, fi.name != NULL ? fi.name : "");
  lua_setfield(L, -2, "name");
  set_int(L, "size", fi.size);
  set_int(L, "reads", fi.reads);
  set_int(L, "writes", fi.writes);
  set_int(L, "cached", fi.cached);
  lua_pushboolean(L, fi.host);
  lua_setfield(L, -2, "host");
  return 1;
}

/* f:read(offset, n) -> string (what the disk holds: written-back data,
** not dirty pages in memory) | nil, status, msg */
static int file_read(lua_State *L) {
  pl_handle *u = check_handle(L, 1, PL_FILE_MT, "File");
  mm_system *sys = u->owner->sys;
  uint64_t off = check_addr(L, 2, "offset");
  lua_Integer n = luaL_checkinteger(L, 3);
  mm_file_info fi;
  uint64_t want, got = 0;
  mm_status st;
  char *buf;
  luaL_argcheck(L, n >= 0, 3, "n: must not be negative");
  st = mm_file_info_get(sys, u->h, &fi);
  if (!MM_OK(st))
    return pl_push_failure(L, sys, st, NULL);
  want = off < fi.size ? fi.size - off : 0;
  if ((uint64_t)n < want)
    want = (uint64_t)n;
  buf = lua_newuserdatauv(L, want ? (size_t)want : 1, 0);
  st = mm_file_read(sys, u->h, off, buf, want, &got);
  if (!MM_OK(st))
    return pl_push_failure(L, sys, st, NULL);
  lua_pushlstring(L, buf, (size_t)got);
  return 1;
}

static int file_tostring(lua_State *L) {
  pl_handle *u = luaL_checkudata(L, 1, PL_FILE_MT);
  mm_file_info fi;
  if (u->closed || u->owner->sys == NULL ||
      !MM_OK(mm_file_info_get(u->owner->sys, u->h, &fi)))
    lua_pushfstring(L, "pagelab.File (closed): %p", (void *)u);
  else
    lua_pushfstring(L, "pagelab.File '%s' (%I bytes%s): %p", fi.name,
                    (lua_Integer)fi.size, fi.host ? ", host" : "", (void *)u);
  return 1;
}

/* ------------------------------------------------------------ sections */

static int section_close(lua_State *L) {
  return close_handle(L, PL_SECTION_MT, mm_section_close, 0);
}
static int section_gc(lua_State *L) {
  return close_handle(L, PL_SECTION_MT, mm_section_close, 1);
}

/* sys:section{ size=, protect=, attributes=, name=, file= }
**   -> Section, existed | nil, status, msg
** protect defaults to "readwrite" ("readonly" on a host file, which is
** read-only); attributes to the core's default (SEC_COMMIT). */
static int sys_section(lua_State *L) {
  static const char *const allowed[] = {"size", "protect", "attributes",
                                        "name", "file", NULL};
  pl_system *s = pl_check_idle(L, 1);
  mm_section_config sc;
  bool existed = false;
  bool prot_given = false;
  mm_handle h = 0;
  mm_status st;
  pl_handle *u;
  memset(&sc, 0, sizeof sc);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  pl_check_options(L, 2, "section", allowed);
  pl_field_size(L, 2, 2, "size", "size", &sc.size);
  pl_field_string(L, 2, 2, "name", "name", &sc.name);
  sc.protect = field_protect(L, 2, &prot_given);
  if (!prot_given)
    sc.protect = MM_PAGE_READWRITE;
  if (lua_getfield(L, 2, "attributes") != LUA_TNIL) /* 3 */
    sc.attributes = check_attributes(L, 2);
  lua_settop(L, 2);
  if (lua_getfield(L, 2, "file") != LUA_TNIL) { /* 3 */
    pl_handle *f = check_arg_handle(L, 3, 2, PL_FILE_MT, "File", "file", s);
    mm_file_info fi;
    sc.file = f->h;
    if (!prot_given && MM_OK(mm_file_info_get(s->sys, f->h, &fi)) && fi.host)
      sc.protect = MM_PAGE_READONLY;
  }
  lua_settop(L, 2);
  u = new_handle(L, 1, s, PL_SECTION_MT);
  st = mm_section_create(s->sys, &sc, &h, &existed);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  u->h = h;
  u->closed = 0;
  lua_pushboolean(L, existed);
  return 2;
}

/* s:info() -> { size=, protect=, attributes=, pages=, committed=,
**               resident=, views=, file=, name= } */
static int section_info(lua_State *L) {
  pl_handle *u = check_handle(L, 1, PL_SECTION_MT, "Section");
  mm_system *sys = u->owner->sys;
  mm_section_info si;
  mm_status st = mm_section_info_get(sys, u->h, &si);
  if (!MM_OK(st))
    return pl_push_failure(L, sys, st, NULL);
  lua_createtable(L, 0, 9);
  set_int(L, "size", si.size);
  pl_push_protect(L, si.protect);
  lua_setfield(L, -2, "protect");
  push_attributes(L, si.attributes);
  lua_setfield(L, -2, "attributes");
  set_int(L, "pages", si.pages);
  set_int(L, "committed", si.committed);
  set_int(L, "resident", si.resident);
  set_int(L, "views", si.views);
  if (si.file != 0) {
    mm_file_info fi;
    if (MM_OK(mm_file_info_get(sys, si.file, &fi)) && fi.name != NULL) {
      lua_pushstring(L, fi.name);
      lua_setfield(L, -2, "file");
    }
  }
  if (si.name != NULL && si.name[0] != '\0') {
    lua_pushstring(L, si.name);
    lua_setfield(L, -2, "name");
  }
  return 1;
}

static int section_tostring(lua_State *L) {
  pl_handle *u = luaL_checkudata(L, 1, PL_SECTION_MT);
  mm_section_info si;
  if (u->closed || u->owner->sys == NULL ||
      !MM_OK(mm_section_info_get(u->owner->sys, u->h, &si)))
    lua_pushfstring(L, "pagelab.Section (closed): %p", (void *)u);
  else if (si.name != NULL && si.name[0] != '\0')
    lua_pushfstring(L, "pagelab.Section '%s' (%I bytes, %s): %p", si.name,
                    (lua_Integer)si.size, si.file ? "file" : "page file",
                    (void *)u);
  else
    lua_pushfstring(L, "pagelab.Section (%I bytes, %s): %p",
                    (lua_Integer)si.size, si.file ? "file" : "page file",
                    (void *)u);
  return 1;
}

/* --------------------------------------------------------------- views */

/* p:map(section [, { addr=, offset=, size=, protect=, commit_size=,
**                    top_down= }]) -> base, size, status | nil, status, msg
** protect defaults to the section's protection. status is
** "STATUS_SUCCESS" or "STATUS_IMAGE_NOT_AT_BASE". */
static int l_proc_map(lua_State *L) {
  static const char *const allowed[] = {"addr", "offset", "size", "protect",
                                        "commit_size", "top_down", NULL};
  mm_pid pid;
  pl_system *s = check_proc_idle(L, 1, &pid);
  pl_handle *sec = check_arg_handle(L, 2, 2, PL_SECTION_MT,
                                    "Section", "section", s);
  uint64_t base = 0, offset = 0, size = 0, commit = 0;
  uint32_t prot = 0;
  bool top_down = false, prot_given = false;
  mm_status st;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    pl_check_options(L, 3, "map", allowed);
    pl_field_u64(L, 3, 3, "addr", "addr", &base);
    pl_field_size(L, 3, 3, "offset", "offset", &offset);
    pl_field_size(L, 3, 3, "size", "size", &size);
    pl_field_size(L, 3, 3, "commit_size", "commit_size", &commit);
    pl_field_bool(L, 3, 3, "top_down", "top_down", &top_down);
    prot = field_protect(L, 3, &prot_given);
  }
  if (!prot_given) {
    mm_section_info si;
    st = mm_section_info_get(s->sys, sec->h, &si);
    if (!MM_OK(st))
      return pl_push_failure(L, s->sys, st, NULL);
    prot = si.protect;
  }
  st = mm_map_view(s->sys, pid, sec->h, &base, offset, &size, prot, commit,
                   top_down ? MM_MEM_TOP_DOWN : 0);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushinteger(L, (lua_Integer)base);
  lua_pushinteger(L, (lua_Integer)size);
  lua_pushstring(L, mm_status_name(st));
  return 3;
}

/* p:unmap(addr) -> true | nil, status, msg: any address inside the view */
static int l_proc_unmap(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_proc_idle(L, 1, &pid);
  uint64_t addr = check_addr(L, 2, "addr");
  mm_status st = mm_unmap_view(s->sys, pid, addr);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* p:flush(addr [, size]) -> base, size | nil, status, msg: FlushViewOfFile
** (size 0 or absent: to the end of the view) */
static int l_proc_flush(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_proc_idle(L, 1, &pid);
  uint64_t base = check_addr(L, 2, "addr");
  uint64_t size = 0;
  mm_status st;
  pl_parse_size(L, 3, "size", &size);
  st = mm_flush_view(s->sys, pid, &base, &size);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushinteger(L, (lua_Integer)base);
  lua_pushinteger(L, (lua_Integer)size);
  return 2;
}

/* After a copy that may have called a Lua policy: raises when it failed. */
static void raise_if_callback(lua_State *L, pl_system *s, mm_status st,
                              const char *what) {
  if (s->cb_failed || st == MM_STATUS_PAGELAB_CALLBACK_FAILED)
    pl_raise_core_error(L, s, what);
}

/* p:write(addr, bytes) -> bytes written | nil, status, msg, written
** (contents = true; each page one write access, faults included) */
static int l_proc_write(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_proc_idle(L, 1, &pid);
  uint64_t addr = check_addr(L, 2, "addr");
  size_t len;
  const char *bytes = luaL_checklstring(L, 3, &len);
  uint64_t done = 0;
  mm_status st;
  pl_enter(s, L);
  st = mm_write(s->sys, pid, addr, bytes, len, &done);
  pl_leave(s);
  raise_if_callback(L, s, st, "write");
  if (!MM_OK(st)) {
    pl_push_failure(L, s->sys, st, NULL);
    lua_pushinteger(L, (lua_Integer)done);
    return 4;
  }
  lua_pushinteger(L, (lua_Integer)done);
  return 1;
}

/* p:read(addr, n) -> string | nil, status, msg, bytes read before the
** page that refused */
static int l_proc_read(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_proc_idle(L, 1, &pid);
  uint64_t addr = check_addr(L, 2, "addr");
  lua_Integer n = luaL_checkinteger(L, 3);
  uint64_t done = 0;
  mm_status st;
  char *buf;
  luaL_argcheck(L, n >= 0, 3, "n: must not be negative");
  /* a plain userdata, not a luaL_Buffer: a Lua policy may run on this
  ** stack while the core copies */
  buf = lua_newuserdatauv(L, n ? (size_t)n : 1, 0);
  pl_enter(s, L);
  st = mm_read(s->sys, pid, addr, buf, (uint64_t)n, &done);
  pl_leave(s);
  raise_if_callback(L, s, st, "read");
  if (!MM_OK(st)) {
    pl_push_failure(L, s->sys, st, NULL);
    lua_pushlstring(L, buf, (size_t)done);
    return 4;
  }
  lua_pushlstring(L, buf, (size_t)done);
  return 1;
}

/* ------------------------------------------------------ vmmap, rammap */

static void push_vmmap_row(lua_State *L, const char *type,
                           const mm_vmmap_row *r) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  set_int(L, "size", r->size);
  set_int(L, "committed", r->committed);
  set_int(L, "ws", r->ws);
  set_int(L, "ws_private", r->ws_private);
  set_int(L, "ws_shareable", r->ws_shareable);
  set_int(L, "ws_shared", r->ws_shared);
  set_int(L, "blocks", r->blocks);
}

/* p:vmmap() -> { row, ... } in VMMap's order, each row also under its
** type name, and .total (every type but free; not in the array) */
static int l_proc_vmmap(lua_State *L) {
  mm_system *sys;
  mm_pid pid = pl_check_process(L, 1, &sys);
  mm_vmmap_row rows[MM_VMMAP_TYPES], total;
  size_t n = MM_VMMAP_TYPES;
  mm_status st = mm_vmmap(sys, pid, rows, &n);
  if (!MM_OK(st))
    return pl_push_failure(L, sys, st, NULL);
  memset(&total, 0, sizeof total);
  lua_createtable(L, (int)n, (int)n + 1);
  for (size_t t = 0; t < n; t++) {
    const char *name = mm_vmmap_type_name((int)t);
    push_vmmap_row(L, name, &rows[t]);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    lua_rawseti(L, -2, (lua_Integer)t + 1);
    if (t == MM_VMMAP_FREE)
      continue;
    total.size += rows[t].size;
    total.committed += rows[t].committed;
    total.ws += rows[t].ws;
    total.ws_private += rows[t].ws_private;
    total.ws_shareable += rows[t].ws_shareable;
    total.ws_shared += rows[t].ws_shared;
    total.blocks += rows[t].blocks;
  }
  push_vmmap_row(L, "total", &total);
  lua_setfield(L, -2, "total");
  return 1;
}

static void push_rammap_row(lua_State *L, const char *use,
                            const mm_rammap_row *r) {
  lua_createtable(L, 0, MM_RAMMAP_LISTS + 2);
  lua_pushstring(L, use);
  lua_setfield(L, -2, "use");
  set_int(L, "total", r->total);
  for (int l = 0; l < MM_RAMMAP_LISTS; l++)
    set_int(L, mm_rammap_list_name(l), r->list[l]);
}

/* sys:rammap() -> { row, ... } one per use in RAMMap's order, each also
** under its use name, and .total (the frame rows summed: page_table holds
** counted pages, not frames, and is left out) */
static int sys_rammap(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  mm_rammap_row rows[MM_RAMMAP_USES], total;
  size_t n = MM_RAMMAP_USES;
  mm_rammap(sys, rows, &n);
  memset(&total, 0, sizeof total);
  lua_createtable(L, (int)n, (int)n + 1);
  for (size_t u = 0; u < n; u++) {
    const char *name = mm_rammap_use_name((int)u);
    push_rammap_row(L, name, &rows[u]);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    lua_rawseti(L, -2, (lua_Integer)u + 1);
    if (u == MM_RAMMAP_PAGE_TABLE)
      continue;
    total.total += rows[u].total;
    for (int l = 0; l < MM_RAMMAP_LISTS; l++)
      total.list[l] += rows[u].list[l];
  }
  push_rammap_row(L, "total", &total);
  lua_setfield(L, -2, "total");
  return 1;
}

/* ---------------------------------------------------------------- open */

static void new_type(lua_State *L, const char *mt, const luaL_Reg *meta,
                     const luaL_Reg *methods) {
  luaL_newmetatable(L, mt); /* sets __name */
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int pl_open_section(lua_State *L) {
  static const luaL_Reg file_meta[] = {{"__gc", file_gc},
                                       {"__close", file_close},
                                       {"__tostring", file_tostring},
                                       {NULL, NULL}};
  static const luaL_Reg file_methods[] = {{"info", file_info},
                                          {"read", file_read},
                                          {"close", file_close},
                                          {NULL, NULL}};
  static const luaL_Reg section_meta[] = {{"__gc", section_gc},
                                          {"__close", section_close},
                                          {"__tostring", section_tostring},
                                          {NULL, NULL}};
  static const luaL_Reg section_methods[] = {{"info", section_info},
                                             {"close", section_close},
                                             {NULL, NULL}};
  static const luaL_Reg sys_methods[] = {{"file", sys_file},
                                         {"section", sys_section},
                                         {"rammap", sys_rammap},
                                         {NULL, NULL}};
  static const luaL_Reg proc_methods[] = {
      {"map", l_proc_map},     {"unmap", l_proc_unmap}, {"flush", l_proc_flush},
      {"write", l_proc_write}, {"read", l_proc_read},   {"vmmap", l_proc_vmmap},
      {NULL, NULL}};
  new_type(L, PL_FILE_MT, file_meta, file_methods);
  new_type(L, PL_SECTION_MT, section_meta, section_methods);
  pl_add_methods(L, PL_SYSTEM_MT, sys_methods);
  pl_add_methods(L, PL_PROCESS_MT, proc_methods);
  return 0;
}
