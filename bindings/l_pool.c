/*
** l_pool.c — kernel pools on the System userdata (core/pool.h).
**
**   sys:pools{ paged_pools=, nonpaged_max=, paged_max=,
**              nonpaged_initial=, paged_initial= }   -> config table
**   sys:pools()                                      -> config table
**   sys:pool_alloc("paged"|"nonpaged", bytes [, tag]) -> address
**   sys:pool_free(address)                           -> true
**   sys:pool_touch(address [, "r"|"w"])              -> outcome, faults
**   sys:pool_query(address)                          -> block table
**   sys:poolused()                                   -> { row... }
**   sys:pool_stats()                                 -> { nonpaged=, paged=,
**                                                         pools={...} }
**
** The pool methods are added to System with pl_add_methods, so l_system.c
** does not know them. Error contract (pagelab.h): misuse raises naming
** the argument (an unknown kind, a tag that is not 1-4 printable
** characters, a negative size, a configuration given after the first
** allocation); an exhausted pool, a double free or a foreign address
** return nil, "STATUS_…", sentence.
*/
#include <string.h>

#include "l_util.h"
#include "pagelab.h"

int pl_open_pool(lua_State *L);

static const char *const kind_names[] = {"nonpaged", "paged", NULL};

/* t[k] = v for the table on top. Never fails (raises only on Lua OOM). */
static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* Pushes the pool configuration in effect as a table. Never fails. */
static void push_config(lua_State *L, mm_system *sys) {
  mm_pool_config c;
  mm_pool_get_config(sys, &c);
  lua_createtable(L, 0, 5);
  set_int(L, "paged_pools", c.paged_pools);
  set_int(L, "nonpaged_max", c.nonpaged_max);
  set_int(L, "paged_max", c.paged_max);
  set_int(L, "nonpaged_initial", c.nonpaged_initial);
  set_int(L, "paged_initial", c.paged_initial);
}

/* Raises a core failure that happened inside a callback, if any; returns
** otherwise. */
static void check_callback(lua_State *L, pl_system *s, mm_status st,
                           const char *what) {
  if (s->cb_failed || st == MM_STATUS_PAGELAB_CALLBACK_FAILED)
    pl_raise_core_error(L, s, what);
}

/* sys:pools([opts]) -> the pool configuration in effect. With opts, sets
** it first: only before the first allocation (raises afterwards). Initial
** pages that cannot be had return nil, "STATUS_…", sentence. */
static int sys_pools(lua_State *L) {
  static const char *const allowed[] = {"paged_pools", "nonpaged_max",
                                        "paged_max", "nonpaged_initial",
                                        "paged_initial", NULL};
  pl_system *s = pl_check_idle(L, 1);
  mm_pool_config c;
  mm_status st;
  if (lua_isnoneornil(L, 2)) {
    push_config(L, s->sys);
    return 1;
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  pl_check_options(L, 2, "pools", allowed);
  memset(&c, 0, sizeof c);
  pl_field_u32(L, 2, 2, "paged_pools", "paged_pools", &c.paged_pools);
  pl_field_size(L, 2, 2, "nonpaged_max", "nonpaged_max", &c.nonpaged_max);
  pl_field_size(L, 2, 2, "paged_max", "paged_max", &c.paged_max);
  pl_field_size(L, 2, 2, "nonpaged_initial", "nonpaged_initial",
                &c.nonpaged_initial);
  pl_field_size(L, 2, 2, "paged_initial", "paged_initial", &c.paged_initial);
  pl_enter(s, L);
  st = mm_pool_configure(s->sys, &c);
  pl_leave(s);
  check_callback(L, s, st, "pools");
  if (st == MM_STATUS_INVALID_PARAMETER || st == MM_STATUS_NOT_SUPPORTED)
    return luaL_error(L, "pools: %s", mm_last_error(s->sys));
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  push_config(L, s->sys);
  return 1;
}

/* The tag at idx (a string of 1-4 printable characters; "None" when
** absent, as ExAllocatePool without a tag). Raises otherwise. */
static uint32_t check_tag(lua_State *L, int idx, mm_system *sys) {
  size_t len;
  const char *t;
  uint32_t tag = MM_POOL_TAG_NONE;
  if (lua_isnoneornil(L, idx))
    return tag;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_typeerror(L, idx, "string");
  t = lua_tolstring(L, idx, &len);
  if (mm_pool_tag_parse(sys, t, len, &tag) != MM_STATUS_SUCCESS)
    luaL_argerror(L, idx, lua_pushfstring(L, "tag: %s", mm_last_error(sys)));
  return tag;
}

/* A handle: an integer address (an integral float is accepted). Raises
** on anything else or a negative value. */
static uint64_t check_addr(lua_State *L, int idx) {
  lua_Integer a = luaL_checkinteger(L, idx);
  luaL_argcheck(L, a >= 0, idx, "address: must not be negative");
  return (uint64_t)a;
}

/* sys:pool_alloc(kind, bytes [, tag]) -> address | nil, status, message */
static int sys_pool_alloc(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  int kind = luaL_checkoption(L, 2, NULL, kind_names);
  uint64_t bytes = 0, addr = 0;
  uint32_t tag;
  mm_status st;
  if (lua_isnoneornil(L, 3))
    luaL_argerror(L, 3, "bytes: expected a size");
  pl_parse_size(L, 3, "pool_alloc: bytes", &bytes);
  tag = check_tag(L, 4, s->sys);
  pl_enter(s, L);
  st = mm_pool_alloc(s->sys, (mm_pool_kind)kind, bytes, tag, &addr);
  pl_leave(s);
  check_callback(L, s, st, "pool_alloc");
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushinteger(L, (lua_Integer)addr);
  return 1;
}

/* sys:pool_free(address) -> true | nil, status, message */
static int sys_pool_free(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  uint64_t addr = check_addr(L, 2);
  mm_status st;
  pl_enter(s, L);
  st = mm_pool_free(s->sys, addr);
  pl_leave(s);
  check_callback(L, s, st, "pool_free");
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* sys:pool_touch(address [, "r"|"w"]) -> outcome, faults: one reference
** to each page of the block (default "w"); outcome is the costliest of
** them ("hit" when every page was resident), faults how many faulted. */
static int sys_pool_touch(lua_State *L) {
  static const char *const modes[] = {"r", "w", NULL};
  static const int rank[] = {MM_HARD, MM_SOFT, MM_DEMAND_ZERO, MM_HIT};
  pl_system *s = pl_check_idle(L, 1);
  uint64_t addr = check_addr(L, 2);
  int mode = luaL_checkoption(L, 3, "w", modes);
  mm_run_result r;
  mm_status st;
  uint64_t faults;
  pl_enter(s, L);
  st = mm_pool_touch(s->sys, addr, mode ? MM_WRITE : MM_READ, &r);
  pl_leave(s);
  check_callback(L, s, st, "pool_touch");
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  faults = r.refs - r.outcome[MM_HIT];
  for (size_t i = 0; i < sizeof rank / sizeof *rank; i++)
    if (r.outcome[rank[i]] || rank[i] == MM_HIT) {
      lua_pushstring(L, mm_outcome_name(rank[i]));
      break;
    }
  lua_pushinteger(L, (lua_Integer)faults);
  return 2;
}

/* Pushes the characters of a tag. Never fails. */
static void push_tag(lua_State *L, uint32_t tag) {
  char t[5];
  mm_pool_tag_string(tag, t);
  lua_pushstring(L, t);
}

/* sys:pool_query(address) -> { address=, kind=, pool=, tag=, requested=,
** size=, big= } | nil, status, message */
static int sys_pool_query(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  uint64_t addr = check_addr(L, 2);
  mm_pool_block b;
  mm_status st = mm_pool_query(sys, addr, &b);
  if (!MM_OK(st))
    return pl_push_failure(L, sys, st, NULL);
  lua_createtable(L, 0, 7);
  set_int(L, "address", b.addr);
  lua_pushstring(L, kind_names[b.kind]);
  lua_setfield(L, -2, "kind");
  set_int(L, "pool", b.pool);
  push_tag(L, b.tag);
  lua_setfield(L, -2, "tag");
  set_int(L, "requested", b.requested);
  set_int(L, "size", b.size);
  lua_pushboolean(L, (int)b.big);
  lua_setfield(L, -2, "big");
  return 1;
}

/* sys:poolused() -> { { tag=, pool=, allocs=, frees=, diff=, bytes=,
** requested=, pages= }, ... } sorted by tag, non-paged first (!poolused) */
static int sys_poolused(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  size_t n = mm_pool_used(sys, NULL, 0);
  mm_pool_tag_usage *rows =
      lua_newuserdatauv(L, (n ? n : 1) * sizeof *rows, 0);
  n = mm_pool_used(sys, rows, n);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    const mm_pool_tag_usage *r = &rows[i];
    lua_createtable(L, 0, 8);
    push_tag(L, r->tag);
    lua_setfield(L, -2, "tag");
    lua_pushstring(L, kind_names[r->kind]);
    lua_setfield(L, -2, "pool");
    set_int(L, "allocs", r->allocs);
    set_int(L, "frees", r->frees);
    set_int(L, "diff", r->allocs - r->frees);
    set_int(L, "bytes", r->bytes);
    set_int(L, "requested", r->requested);
    set_int(L, "pages", r->pages);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* Pushes a table of every field of st. Never fails. */
static void push_stats(lua_State *L, const mm_pool_stats *st) {
  lua_newtable(L);
  for (const mm_stat_field *f = mm_pool_stats_fields(); f->name != NULL; f++) {
    uint64_t v;
    memcpy(&v, (const char *)st + f->offset, sizeof v);
    set_int(L, f->name, v);
  }
  lua_pushnumber(L, st->fragmentation);
  lua_setfield(L, -2, "fragmentation");
}

/* sys:pool_stats() -> { nonpaged = totals, paged = totals (every paged
** pool), pools = { per pool, [1] the non-paged one, with index=, kind= } } */
static int sys_pool_stats(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  uint32_t n = mm_pool_count(sys);
  mm_pool_stats st;
  lua_createtable(L, 0, 3);
  for (int k = 0; k < 2; k++) {
    mm_pool_kind_stats(sys, (mm_pool_kind)k, &st);
    push_stats(L, &st);
    lua_setfield(L, -2, kind_names[k]);
  }
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    mm_pool_stats_get(sys, i, &st);
    push_stats(L, &st);
    set_int(L, "index", i);
    lua_pushstring(L, kind_names[i == 0 ? MM_POOL_NONPAGED : MM_POOL_PAGED]);
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "pools");
  return 1;
}

/* Adds the pool methods to System (after pl_open_system). Never fails. */
int pl_open_pool(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"pools", sys_pools},           {"pool_alloc", sys_pool_alloc},
      {"pool_free", sys_pool_free},   {"pool_touch", sys_pool_touch},
      {"pool_query", sys_pool_query}, {"poolused", sys_poolused},
      {"pool_stats", sys_pool_stats}, {NULL, NULL}};
  pl_add_methods(L, PL_SYSTEM_MT, methods);
  return 0;
}
