/*
** l_system.c — the System userdata: pagelab.system{} and its methods.
**
** A System owns one mm_system. Closing it (sys:close(), a <close>
** variable going out of scope, or the garbage collector) destroys the
** core system at once; the userdata stays, so that any later use raises
** "attempt to use a closed System" instead of touching freed memory.
** Processes hold their System in a uservalue, so a System is never
** collected while one of its processes is reachable.
*/
#include <stdio.h>
#include <string.h>

#include "l_util.h"
#include "pagelab.h"

/* --------------------------------------------------------- accessors */

pl_system *pl_to_system(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, PL_SYSTEM_MT);
}

static int closed_error(lua_State *L) {
  return luaL_error(L, "attempt to use a closed System");
}

mm_system *pl_check_system(lua_State *L, int idx) {
  pl_system *s = pl_to_system(L, idx);
  if (s->sys == NULL)
    closed_error(L);
  /* while busy, s->L is the thread running the core call: keep it, a
     callback's coroutine may be gone by the time the core calls again */
  if (!s->busy)
    s->L = L;
  return s->sys;
}

pl_system *pl_check_idle(lua_State *L, int idx) {
  pl_system *s = pl_to_system(L, idx);
  if (s->sys == NULL)
    closed_error(L);
  if (s->busy)
    luaL_error(L, "attempt to change a System from inside one of its "
                  "callbacks (the simulator is not re-entrant)");
  s->L = L;
  return s;
}

int pl_push_failure(lua_State *L, const mm_system *sys, mm_status st,
                    const char *msg) {
  const char *name = mm_status_name(st);
  lua_pushnil(L);
  if (name != NULL)
    lua_pushstring(L, name);
  else
    lua_pushfstring(L, "STATUS_0x%08X", (unsigned)st);
  if (msg == NULL)
    msg = sys != NULL ? mm_last_error(sys) : "";
  lua_pushstring(L, msg != NULL ? msg : "");
  return 3;
}

void pl_raise_if_callback_failed(lua_State *L, pl_system *s) {
  if (s->cb_failed)
    pl_raise_core_error(L, s, NULL);
}

int pl_raise_core_error(lua_State *L, pl_system *s, const char *what) {
  /* The policy's own words, in the core's form ("policy NAME: msg"): the
     core's copy of them is cut at 200 bytes, ours is not. */
  if (s->cb_failed) {
    s->cb_failed = 0;
    return luaL_error(L, "policy %s: %s", s->policy_name, s->cb_err);
  }
  if (what == NULL)
    return luaL_error(L, "%s", s->sys != NULL ? mm_last_error(s->sys) : "");
  return luaL_error(L, "%s: %s", what,
                    s->sys != NULL ? mm_last_error(s->sys) : "closed");
}

/* ------------------------------------------------------ pagelab.system */

static void check_tlb(lua_State *L, mm_config *cfg) {
  static const char *const allowed[] = {"entries", "ways", "large_entries",
                                        "large_ways", NULL};
  int t = pl_field_table(L, 1, 1, "tlb", "tlb");
  if (t == 0)
    return;
  pl_check_options(L, t, "system.tlb", allowed);
  pl_field_u32(L, t, 1, "entries", "tlb.entries", &cfg->tlb.entries);
  pl_field_u32(L, t, 1, "ways", "tlb.ways", &cfg->tlb.ways);
  pl_field_u32(L, t, 1, "large_entries", "tlb.large_entries",
               &cfg->tlb.large_entries);
  pl_field_u32(L, t, 1, "large_ways", "tlb.large_ways", &cfg->tlb.large_ways);
  lua_pop(L, 1);
}

static void check_tune(lua_State *L, mm_config *cfg) {
  static const char *const allowed[] = {
      "refs_per_second", "ws_min", "ws_max", "min_free_pages",
      "plenty_free_pages", "trim_age", "mpw_threshold", "mpw_batch",
      "zero_threshold", "standby_priority", "commit_reserve", "sys_ws_min",
      "sys_ws_max", NULL};
  mm_tunables *tu = &cfg->tune;
  int t = pl_field_table(L, 1, 1, "tune", "tune");
  if (t == 0)
    return;
  pl_check_options(L, t, "system.tune", allowed);
  pl_field_u64(L, t, 1, "refs_per_second", "tune.refs_per_second",
               &tu->refs_per_second);
  pl_field_u32(L, t, 1, "ws_min", "tune.ws_min", &tu->ws_min);
  pl_field_u32(L, t, 1, "ws_max", "tune.ws_max", &tu->ws_max);
  pl_field_u32(L, t, 1, "min_free_pages", "tune.min_free_pages",
               &tu->min_free_pages);
  pl_field_u32(L, t, 1, "plenty_free_pages", "tune.plenty_free_pages",
               &tu->plenty_free_pages);
  pl_field_u32(L, t, 1, "trim_age", "tune.trim_age", &tu->trim_age);
  pl_field_u32(L, t, 1, "mpw_threshold", "tune.mpw_threshold",
               &tu->mpw_threshold);
  pl_field_u32(L, t, 1, "mpw_batch", "tune.mpw_batch", &tu->mpw_batch);
  pl_field_u32(L, t, 1, "zero_threshold", "tune.zero_threshold",
               &tu->zero_threshold);
  pl_field_u32(L, t, 1, "standby_priority", "tune.standby_priority",
               &tu->standby_priority);
  pl_field_u32(L, t, 1, "commit_reserve", "tune.commit_reserve",
               &tu->commit_reserve);
  pl_field_u32(L, t, 1, "sys_ws_min", "tune.sys_ws_min", &tu->sys_ws_min);
  pl_field_u32(L, t, 1, "sys_ws_max", "tune.sys_ws_max", &tu->sys_ws_max);
  lua_pop(L, 1);
}

static int arch_error(lua_State *L, const char *name) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "unknown architecture '%s' (expected ", name);
  luaL_addvalue(&b);
  for (int a = 0; a < MM_ARCH_COUNT; a++) {
    if (a > 0)
      luaL_addstring(&b, ", ");
    luaL_addstring(&b, mm_arch_get((mm_arch)a)->name);
  }
  luaL_addstring(&b, ")");
  luaL_pushresult(&b);
  return pl_field_error(L, 1, "arch", lua_tostring(L, -1));
}

/* pagelab.system{ ... } -> System | nil, "STATUS_…", message */
static int l_system(lua_State *L) {
  static const char *const allowed[] = {
      "arch", "ram", "pagefile", "page_size", "large_page_size", "policy",
      "seed", "contents", "tlb", "tune", NULL};
  mm_config cfg;
  const char *archname = NULL;
  bool page_size_too_big = false;
  int arch = MM_ARCH_X64;
  uint64_t page_size;
  pl_system *s;
  mm_system *sys = NULL;
  mm_status st;
  char err[PL_ERR_MAX];

  /* 1. check every argument: nothing is created before all are valid */
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  pl_check_options(L, 1, "system", allowed);
  if (pl_field_string(L, 1, 1, "arch", "arch", &archname)) {
    arch = mm_arch_find(archname);
    if (arch < 0)
      arch_error(L, archname);
  }
  /* the defaults depend on the architecture, so they come after it */
  mm_config_default(&cfg, (mm_arch)arch);
  pl_field_size(L, 1, 1, "ram", "ram", &cfg.ram);
  pl_field_size(L, 1, 1, "pagefile", "pagefile", &cfg.pagefile);
  if (pl_field_size(L, 1, 1, "page_size", "page_size", &page_size)) {
    /* a size that does not fit mm_config is as invalid as 3000 bytes:
       it gets the same answer the core gives those */
    page_size_too_big = page_size > UINT32_MAX;
    cfg.page_size = (uint32_t)page_size;
  }
  pl_field_size(L, 1, 1, "large_page_size", "large_page_size",
                &cfg.large_page_size);
  pl_field_u64(L, 1, 1, "seed", "seed", &cfg.seed);
  pl_field_bool(L, 1, 1, "contents", "contents", &cfg.contents);
  check_tlb(L, &cfg);
  check_tune(L, &cfg);
  lua_pushliteral(L, "policy");
  if (lua_rawget(L, 1) != LUA_TNIL) /* 2: the option */
    pl_policy_check(L, 2, 1, &cfg.policy); /* 3: its Lua function or nil */
  else
    lua_pushnil(L);
  if (page_size_too_big)
    return pl_push_failure(L, NULL, MM_STATUS_INVALID_PARAMETER,
                           "page_size must be a power of two from 512 B "
                           "to 64 KiB");

  /* 2. call the core, from a userdata that can own the result */
  s = lua_newuserdatauv(L, sizeof *s, 1); /* 4 */
  memset(s, 0, sizeof *s);
  s->policy_ref = LUA_NOREF;
  for (int k = 0; k < MM_EV_KINDS; k++) s->hook_ref[k] = LUA_NOREF;
  s->L = L;
  luaL_setmetatable(L, PL_SYSTEM_MT);
  lua_newtable(L); /* the process cache */
  lua_setiuservalue(L, 4, 1);
  lua_pushvalue(L, 3);
  pl_policy_bind(L, s, &cfg.policy);
  err[0] = '\0';
  st = mm_system_create(&cfg, &sys, err, sizeof err);

  /* 3. push the results */
  if (!MM_OK(st) || sys == NULL) {
    pl_policy_unbind(L, s);
    return pl_push_failure(L, NULL, MM_OK(st) ? MM_STATUS_NO_MEMORY : st,
                           err);
  }
  s->sys = sys;
  return 1;
}

/* ---------------------------------------------------------- methods */

/* sys:process{ name=, ws_min=, ws_max=, hard_max=, hard_min= } */
static int sys_process(lua_State *L) {
  static const char *const allowed[] = {"name", "ws_min", "ws_max",
                                        "hard_max", "hard_min", NULL};
  mm_process_config pc;
  pl_system *s = pl_check_idle(L, 1);
  mm_pid pid = 0;
  mm_status st;
  memset(&pc, 0, sizeof pc);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    pl_check_options(L, 2, "process", allowed);
    pl_field_string(L, 2, 2, "name", "name", &pc.name);
    pl_field_u32(L, 2, 2, "ws_min", "ws_min", &pc.ws_min);
    pl_field_u32(L, 2, 2, "ws_max", "ws_max", &pc.ws_max);
    pl_field_bool(L, 2, 2, "hard_max", "hard_max", &pc.hard_max);
    pl_field_bool(L, 2, 2, "hard_min", "hard_min", &pc.hard_min);
  }
  st = mm_process_create(s->sys, &pc, &pid);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  pl_push_process(L, 1, pid);
  return 1;
}

/* sys:processes() -> { Process... } of the processes still alive */
static int sys_processes(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  uint32_t n = mm_process_count(sys);
  lua_Integer k = 0;
  lua_createtable(L, (int)(n > INT32_MAX ? INT32_MAX : n), 0);
  for (mm_pid pid = 1; pid <= n; pid++) {
    if (!mm_process_alive(sys, pid))
      continue;
    pl_push_process(L, 1, pid);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* Sets t[name] for every uint64_t field of a stats struct. */
static void push_fields(lua_State *L, const void *base,
                        const mm_stat_field *fields) {
  for (const mm_stat_field *f = fields; f->name != NULL; f++) {
    uint64_t v;
    memcpy(&v, (const char *)base + f->offset, sizeof v);
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, f->name);
  }
}

/* sys:stats() -> plain table of every system counter */
static int sys_stats(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  mm_sstats st;
  mm_system_stats(sys, &st);
  lua_newtable(L);
  push_fields(L, &st, mm_sstats_fields);
  lua_createtable(L, 8, 0);
  for (int i = 0; i < 8; i++) {
    lua_pushinteger(L, (lua_Integer)st.standby_by_priority[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "standby_by_priority");
  return 1;
}

static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* sys:config() -> the configuration in effect, defaults filled in, in the
** shape pagelab.system{} takes (a recorder can store it as parameters) */
static int sys_config(lua_State *L) {
  const mm_config *c = mm_system_config(pl_check_system(L, 1));
  const mm_tunables *t = &c->tune;
  lua_newtable(L);
  lua_pushstring(L, mm_arch_get(c->arch)->name);
  lua_setfield(L, -2, "arch");
  set_int(L, "ram", c->ram);
  set_int(L, "pagefile", c->pagefile);
  set_int(L, "page_size", c->page_size);
  set_int(L, "large_page_size", c->large_page_size);
  set_int(L, "seed", c->seed);
  lua_pushboolean(L, c->contents);
  lua_setfield(L, -2, "contents");
  lua_newtable(L);
  set_int(L, "entries", c->tlb.entries);
  set_int(L, "ways", c->tlb.ways);
  set_int(L, "large_entries", c->tlb.large_entries);
  set_int(L, "large_ways", c->tlb.large_ways);
  lua_setfield(L, -2, "tlb");
  lua_newtable(L);
  lua_pushstring(L, c->policy.name != NULL ? c->policy.name : "");
  lua_rawseti(L, -2, 1);
  lua_pushboolean(L, c->policy.load_referenced);
  lua_setfield(L, -2, "load_referenced");
  set_int(L, "tau", c->policy.tau);
  set_int(L, "seed", c->policy.seed);
  lua_setfield(L, -2, "policy");
  lua_newtable(L);
  set_int(L, "refs_per_second", t->refs_per_second);
  set_int(L, "ws_min", t->ws_min);
  set_int(L, "ws_max", t->ws_max);
  set_int(L, "min_free_pages", t->min_free_pages);
  set_int(L, "plenty_free_pages", t->plenty_free_pages);
  set_int(L, "trim_age", t->trim_age);
  set_int(L, "mpw_threshold", t->mpw_threshold);
  set_int(L, "mpw_batch", t->mpw_batch);
  set_int(L, "zero_threshold", t->zero_threshold);
  set_int(L, "standby_priority", t->standby_priority);
  set_int(L, "commit_reserve", t->commit_reserve);
  set_int(L, "sys_ws_min", t->sys_ws_min);
  set_int(L, "sys_ws_max", t->sys_ws_max);
  lua_setfield(L, -2, "tune");
  return 1;
}

/* sys:tick(n) -> true: advances simulated time by n references' worth */
static int sys_tick(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  mm_status st;
  luaL_argcheck(L, n >= 0, 2, "n: must not be negative");
  pl_enter(s, L);
  st = mm_tick(s->sys, (uint64_t)n);
  pl_leave(s);
  if (s->cb_failed || st == MM_STATUS_PAGELAB_CALLBACK_FAILED)
    return pl_raise_core_error(L, s, "tick");
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* sys:wsm() -> true | nil, status, message: the working-set manager now */
static int sys_wsm(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  mm_status st;
  pl_enter(s, L);
  st = mm_wsm_run(s->sys);
  pl_leave(s);
  if (s->cb_failed || st == MM_STATUS_PAGELAB_CALLBACK_FAILED)
    return pl_raise_core_error(L, s, "wsm");
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* sys:check() -> true | false, message (the invariant walkers) */
static int sys_check(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  if (mm_check(s->sys) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, mm_last_error(s->sys));
  return 2;
}

/* __gc, __close and sys:close(): destroys the core system once. */
static int sys_close(lua_State *L) {
  pl_system *s = pl_to_system(L, 1);
  /* only a callback can find the system busy, and the core it is
     running in would be destroyed under it */
  if (s->sys != NULL && s->busy)
    return luaL_error(L, "attempt to close a System from inside one of "
                         "its callbacks");
  if (s->sys != NULL) {
    mm_system_destroy(s->sys);
    s->sys = NULL;
  }
  pl_policy_unbind(L, s); /* idempotent */
  pl_hooks_unbind(L, s);
  return 0;
}

static int sys_tostring(lua_State *L) {
  pl_system *s = pl_to_system(L, 1);
  const mm_config *c;
  if (s->sys == NULL) {
    lua_pushfstring(L, "pagelab.System (closed): %p", (void *)s);
    return 1;
  }
  c = mm_system_config(s->sys);
  lua_pushfstring(L, "pagelab.System (%s, %I MiB RAM, %I-byte pages): %p",
                  mm_arch_get(c->arch)->name, (lua_Integer)(c->ram >> 20),
                  (lua_Integer)mm_page_size(s->sys), (void *)s);
  return 1;
}

/* __index: methods first (upvalue 1), then the read-only fields. */
static int sys_index(lua_State *L) {
  const char *k;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
    return 1;
  if (lua_type(L, 2) != LUA_TSTRING)
    return 1; /* nil */
  k = lua_tostring(L, 2);
  if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, pl_to_system(L, 1)->sys == NULL);
  } else if (strcmp(k, "page_size") == 0) {
    lua_pushinteger(L, (lua_Integer)mm_page_size(pl_check_system(L, 1)));
  } else if (strcmp(k, "large_page_size") == 0) {
    lua_pushinteger(L,
                    (lua_Integer)mm_large_page_size(pl_check_system(L, 1)));
  } else if (strcmp(k, "arch") == 0) {
    const mm_config *c = mm_system_config(pl_check_system(L, 1));
    lua_pushstring(L, mm_arch_get(c->arch)->name);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

/* --------------------------------------------------- module functions */

/* pagelab.arches() -> { "x86", "x86-pae", "x64" } */
static int l_arches(lua_State *L) {
  lua_createtable(L, MM_ARCH_COUNT, 0);
  for (int a = 0; a < MM_ARCH_COUNT; a++) {
    lua_pushstring(L, mm_arch_get((mm_arch)a)->name);
    lua_rawseti(L, -2, a + 1);
  }
  return 1;
}

/* pagelab.arch(name) -> { name=, va_bits=, levels=, ... } */
static int l_arch(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  int a = mm_arch_find(name);
  const mm_arch_info *ai;
  if (a < 0)
    return luaL_argerror(
        L, 1, lua_pushfstring(L, "unknown architecture '%s'", name));
  ai = mm_arch_get((mm_arch)a);
  lua_newtable(L);
  lua_pushstring(L, ai->name);
  lua_setfield(L, -2, "name");
  set_int(L, "va_bits", ai->va_bits);
  set_int(L, "levels", ai->levels);
  set_int(L, "pte_bytes", ai->pte_bytes);
  set_int(L, "pointer_bits", ai->pointer_bits);
  set_int(L, "small_page", ai->small_page);
  set_int(L, "large_page", ai->large_page);
  set_int(L, "user_lo", ai->user_lo);
  set_int(L, "user_hi", ai->user_hi);
  return 1;
}

void pl_add_methods(lua_State *L, const char *mt, const luaL_Reg *fns) {
  luaL_getmetatable(L, mt);
  lua_getfield(L, -1, "__index");
  if (!lua_getupvalue(L, -1, 1)) luaL_error(L, "pagelab: %s has no methods", mt);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 3);
}

int pl_open_system(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"process", sys_process}, {"processes", sys_processes},
      {"stats", sys_stats},     {"config", sys_config},
      {"tick", sys_tick},       {"wsm", sys_wsm},
      {"check", sys_check},     {"close", sys_close},
      {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", sys_close},
                                  {"__close", sys_close},
                                  {"__tostring", sys_tostring},
                                  {NULL, NULL}};
  luaL_newmetatable(L, PL_SYSTEM_MT); /* sets __name */
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, sys_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  lua_pushcfunction(L, l_system);
  lua_setfield(L, -2, "system");
  lua_pushcfunction(L, l_arches);
  lua_setfield(L, -2, "arches");
  lua_pushcfunction(L, l_arch);
  lua_setfield(L, -2, "arch");
  return 0;
}
