/*
** l_hooks.c — teaching hooks and the event log: sys:hook, sys:event_log,
** sys:events. Each fault (every outcome but a hit) and each page trimmed
** or replaced is an event. Hooks are Lua functions called through
** lua_pcall from inside the core; an error in one stops the run in
** progress with its message, like a Lua policy. Nothing costs anything
** while no hook and no log is set.
*/
#include <string.h>

#include "pagelab.h"

static const char *const kinds[] = {"fault", "trim", NULL};
static const char *const access_names[] = {"r", "w", "x"};

static void push_event(lua_State *L, const mm_event *ev) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, kinds[ev->kind]);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)ev->time);
  lua_setfield(L, -2, "time");
  lua_pushinteger(L, (lua_Integer)ev->va);
  lua_setfield(L, -2, "va");
  lua_pushinteger(L, (lua_Integer)ev->pid);
  lua_setfield(L, -2, "pid");
  if (ev->kind == MM_EV_FAULT) {
    lua_pushstring(L, mm_outcome_name(ev->outcome));
    lua_setfield(L, -2, "outcome");
    lua_pushstring(L, access_names[ev->access % 3]);
    lua_setfield(L, -2, "access");
  } else {
    lua_pushboolean(L, ev->dirty);
    lua_setfield(L, -2, "dirty");
    lua_pushboolean(L, ev->replaced);
    lua_setfield(L, -2, "replaced");
  }
}

typedef struct hook_call {
  pl_system *s;
  const mm_event *ev;
} hook_call;

static int hook_body(lua_State *L) {
  hook_call *c = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->hook_ref[c->ev->kind]);
  push_event(L, c->ev);
  lua_call(L, 1, 0);
  return 0;
}

static int hook_trampoline(void *ud, mm_system *sys, const mm_event *ev) {
  pl_system *s = ud;
  lua_State *L = s->L;
  hook_call c = {s, ev};
  if (L == NULL || !lua_checkstack(L, 8)) {
    snprintf(s->cb_err, sizeof s->cb_err, "cannot call Lua here (no stack)");
  } else {
    int top = lua_gettop(L);
    lua_pushcfunction(L, hook_body);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
      lua_settop(L, top);
      return 0;
    }
    const char *msg = lua_type(L, -1) == LUA_TSTRING
                          ? lua_tostring(L, -1)
                          : "(error object is not a string)";
    snprintf(s->cb_err, sizeof s->cb_err, "%s hook: %s", kinds[ev->kind], msg);
    lua_settop(L, top);
  }
  s->cb_failed = 1;
  mm_set_error(sys, s->cb_err);
  return 1;
}

/* sys:hook("fault"|"trim", fn | nil) -> sys */
static int sys_hook(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  int kind = luaL_checkoption(L, 2, NULL, kinds);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  if (s->hook_ref[kind] != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, s->hook_ref[kind]);
    s->hook_ref[kind] = LUA_NOREF;
  }
  if (lua_isnoneornil(L, 3)) {
    mm_set_hook(s->sys, kind, NULL, NULL);
  } else {
    lua_pushvalue(L, 3);
    s->hook_ref[kind] = luaL_ref(L, LUA_REGISTRYINDEX);
    mm_set_hook(s->sys, kind, hook_trampoline, s);
  }
  lua_settop(L, 1);
  return 1;
}

/* sys:event_log(capacity) -> sys: keep the last capacity events (0: off) */
static int sys_event_log(lua_State *L) {
  pl_system *s = pl_check_idle(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "capacity: must not be negative");
  mm_status st = mm_event_log(s->sys, (size_t)n);
  if (!MM_OK(st)) return pl_push_failure(L, s->sys, st, NULL);
  lua_settop(L, 1);
  return 1;
}

/* sys:events([max]) -> { event, ... } oldest first */
static int sys_events(lua_State *L) {
  mm_system *sys = pl_check_system(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, 1 << 24);
  luaL_argcheck(L, max >= 0, 2, "max: must not be negative");
  size_t n = mm_events(sys, NULL, 0);
  size_t want = (size_t)max < n ? (size_t)max : n;
  mm_event *buf = lua_newuserdatauv(L, (want ? want : 1) * sizeof *buf, 0);
  n = mm_events(sys, buf, want);
  lua_createtable(L, (int)n, 0);
  for (size_t k = 0; k < n; k++) {
    push_event(L, &buf[k]);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  return 1;
}

void pl_hooks_unbind(lua_State *L, pl_system *s) {
  for (int k = 0; k < MM_EV_KINDS; k++)
    if (s->hook_ref[k] != LUA_NOREF) {
      luaL_unref(L, LUA_REGISTRYINDEX, s->hook_ref[k]);
      s->hook_ref[k] = LUA_NOREF;
    }
}

int pl_open_hooks(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"hook", sys_hook}, {"event_log", sys_event_log}, {"events", sys_events},
      {NULL, NULL}};
  pl_add_methods(L, PL_SYSTEM_MT, methods);
  return 0;
}
