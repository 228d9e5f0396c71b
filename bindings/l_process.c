/*
** l_process.c — the Process userdata: address-space calls, single
** references, bulk runs and counters of one simulated process.
**
** A Process is a handle: its owner's block and a pid, with the System
** userdata in uservalue 1 so that the System outlives every handle. Each
** method checks the owner is open, then calls the core with the pid; the
** core resolves the pid, so a terminated process gets a status, never a
** dangling pointer.
**
** p:access is the one call Lua makes in a tight loop, so it is built to
** cost little more than the core's hit path: it is a C closure whose
** upvalues hold the Process metatable (a pointer comparison instead of a
** registry lookup by name) and the outcome strings (pushed, not
** re-interned), it decodes the access kind by its first byte, and it
** allocates nothing.
*/
#include <string.h>

#include "l_source.h"
#include "l_util.h"
#include "pagelab.h"

/* Upvalues of proc_access: the metatable, then one string per outcome. */
#define UV_META 1
#define UV_OUTCOME(o) (2 + (o))

static pl_process *to_process(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, PL_PROCESS_MT);
}

mm_pid pl_check_process(lua_State *L, int idx, mm_system **sys) {
  pl_process *p = to_process(L, idx);
  if (p->owner->sys == NULL)
    luaL_error(L, "attempt to use a closed System");
  if (!p->owner->busy)
    p->owner->L = L;
  if (sys != NULL)
    *sys = p->owner->sys;
  return p->pid;
}

/* For calls that change the simulation: also refuses a busy system. */
static pl_system *check_idle(lua_State *L, int idx, mm_pid *pid) {
  pl_process *p = to_process(L, idx);
  pl_system *s = p->owner;
  if (s->sys == NULL)
    luaL_error(L, "attempt to use a closed System");
  if (s->busy)
    luaL_error(L, "attempt to change a System from inside one of its "
                  "callbacks (the simulator is not re-entrant)");
  s->L = L;
  *pid = p->pid;
  return s;
}

void pl_push_process(lua_State *L, int sysidx, mm_pid pid) {
  pl_system *s = pl_to_system(L, sysidx);
  pl_process *p;
  sysidx = lua_absindex(L, sysidx);
  lua_getiuservalue(L, sysidx, 1); /* the cache */
  if (lua_rawgeti(L, -1, (lua_Integer)pid) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  p = lua_newuserdatauv(L, sizeof *p, 1);
  p->owner = s;
  p->pid = pid;
  luaL_setmetatable(L, PL_PROCESS_MT);
  lua_pushvalue(L, sysidx);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, (lua_Integer)pid);
  lua_remove(L, -2);
}

/* An address: a non-negative integer (floats with an integer value too). */
static uint64_t check_addr(lua_State *L, int idx, const char *name) {
  int isint = 0;
  lua_Integer v = 0;
  if (lua_type(L, idx) == LUA_TNUMBER)
    v = lua_tointegerx(L, idx, &isint);
  if (!isint || v < 0) {
    const char *msg =
        lua_type(L, idx) == LUA_TNUMBER
            ? lua_pushfstring(L, "%s: expected a non-negative integer", name)
            : lua_pushfstring(L, "%s: expected an address (integer), got %s",
                              name, luaL_typename(L, idx));
    luaL_argerror(L, idx, msg);
  }
  return (uint64_t)v;
}

/* A size: bytes, or a string with a unit ("64KiB"). Required: nil is not
** "0", which NtFreeVirtualMemory gives a meaning of its own. */
static uint64_t check_size(lua_State *L, int idx, const char *name) {
  uint64_t v = 0;
  if (!pl_parse_size(L, idx, name, &v))
    luaL_argerror(L, idx, lua_pushfstring(L, "%s: expected a size", name));
  return v;
}

/* ------------------------------------------------- virtual memory calls */

/* p:alloc(addr|nil, size, type, protect) -> base, size */
static int proc_alloc(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_idle(L, 1, &pid);
  uint64_t base = lua_isnoneornil(L, 2) ? 0 : check_addr(L, 2, "addr");
  uint64_t size = check_size(L, 3, "size");
  uint32_t type = pl_check_alloc_type(L, 4, "type");
  uint32_t prot = pl_check_protect(L, 5, "protect");
  mm_status st;
  pl_enter(s, L);
  st = mm_allocate(s->sys, pid, &base, &size, type, prot);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushinteger(L, (lua_Integer)base);
  lua_pushinteger(L, (lua_Integer)size);
  return 2;
}

/* p:free(addr, size, "decommit"|"release") -> base, size */
static int proc_free(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_idle(L, 1, &pid);
  uint64_t base = check_addr(L, 2, "addr");
  uint64_t size = check_size(L, 3, "size");
  uint32_t type = pl_check_free_type(L, 4, "type");
  mm_status st;
  pl_enter(s, L);
  st = mm_free(s->sys, pid, &base, &size, type);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushinteger(L, (lua_Integer)base);
  lua_pushinteger(L, (lua_Integer)size);
  return 2;
}

/* p:protect(addr, size, protect) -> old protection, base, size */
static int proc_protect(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_idle(L, 1, &pid);
  uint64_t base = check_addr(L, 2, "addr");
  uint64_t size = check_size(L, 3, "size");
  uint32_t prot = pl_check_protect(L, 4, "protect");
  uint32_t old = 0;
  mm_status st;
  pl_enter(s, L);
  st = mm_protect(s->sys, pid, &base, &size, prot, &old);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  pl_push_protect(L, old);
  lua_pushinteger(L, (lua_Integer)base);
  lua_pushinteger(L, (lua_Integer)size);
  return 3;
}

/* p:query(addr) -> { base=, allocation_base=, allocation_protect=, size=,
**                    state=, protect=, type= } (MEMORY_BASIC_INFORMATION) */
static int proc_query(lua_State *L) {
  mm_system *sys;
  mm_pid pid = pl_check_process(L, 1, &sys);
  uint64_t addr = check_addr(L, 2, "addr");
  mm_region r;
  mm_status st;
  memset(&r, 0, sizeof r);
  st = mm_query(sys, pid, addr, &r);
  if (!MM_OK(st))
    return pl_push_failure(L, sys, st, NULL);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, (lua_Integer)r.base);
  lua_setfield(L, -2, "base");
  lua_pushinteger(L, (lua_Integer)r.allocation_base);
  lua_setfield(L, -2, "allocation_base");
  pl_push_protect(L, r.allocation_protect);
  lua_setfield(L, -2, "allocation_protect");
  lua_pushinteger(L, (lua_Integer)r.size);
  lua_setfield(L, -2, "size");
  pl_push_state(L, r.state);
  lua_setfield(L, -2, "state");
  pl_push_protect(L, r.protect);
  lua_setfield(L, -2, "protect");
  pl_push_type(L, r.type);
  lua_setfield(L, -2, "type");
  return 1;
}

/* --------------------------------------------------------- references */

/* The access kind from a word other than "r", "w", "x": the full names. */
static int kind_slow(lua_State *L, int idx) {
  static const char *const kinds[] = {"read", "write", "execute", NULL};
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *k = lua_tostring(L, idx);
    for (int i = 0; kinds[i] != NULL; i++)
      if (strcmp(k, kinds[i]) == 0)
        return i; /* MM_READ, MM_WRITE, MM_EXECUTE in this order */
  }
  return luaL_argerror(
      L, idx,
      lua_pushfstring(L, "kind: expected \"r\", \"w\" or \"x\", got %s",
                      lua_type(L, idx) == LUA_TSTRING
                          ? lua_pushfstring(L, "'%s'", lua_tostring(L, idx))
                          : luaL_typename(L, idx)));
}

/* Everything p:access refuses, off the fast path. Never returns. */
static int access_refused(lua_State *L, pl_process *p) {
  mm_pid pid;
  if (p == NULL || !luaL_testudata(L, 1, PL_PROCESS_MT))
    to_process(L, 1); /* raises the usual bad-self message */
  check_idle(L, 1, &pid);
  return luaL_error(L, "p:access: unexpected state");
}

/* p:access(addr, "r"|"w"|"x") -> outcome string */
static int proc_access(lua_State *L) {
  pl_process *p = lua_touserdata(L, 1);
  pl_system *s;
  lua_Integer addr;
  int isint = 0, kind, o;
  size_t len = 0;
  const char *k;
  if (p == NULL || !lua_getmetatable(L, 1) ||
      !lua_rawequal(L, -1, lua_upvalueindex(UV_META)))
    return access_refused(L, NULL);
  lua_pop(L, 1);
  s = p->owner;
  if (s->sys == NULL || s->busy)
    return access_refused(L, p);
  addr = lua_tointegerx(L, 2, &isint);
  if (!isint || addr < 0)
    check_addr(L, 2, "addr"); /* raises */
  k = lua_type(L, 3) == LUA_TSTRING ? lua_tolstring(L, 3, &len) : NULL;
  if (len == 1 && k[0] == 'r')
    kind = MM_READ;
  else if (len == 1 && k[0] == 'w')
    kind = MM_WRITE;
  else if (len == 1 && k[0] == 'x')
    kind = MM_EXECUTE;
  else
    kind = kind_slow(L, 3);
  pl_enter(s, L);
  o = mm_access(s->sys, p->pid, (uint64_t)addr, (unsigned)kind);
  pl_leave(s);
  if ((unsigned)o >= MM_OUTCOME_COUNT || s->cb_failed)
    return pl_raise_core_error(L, s, "access");
  lua_pushvalue(L, lua_upvalueindex(UV_OUTCOME(o)));
  return 1;
}

static void push_pstats(lua_State *L, const mm_pstats *st, int skip_set) {
  for (const mm_stat_field *f = mm_pstats_fields; f->name != NULL; f++) {
    uint64_t v;
    if (skip_set && lua_getfield(L, -1, f->name) != LUA_TNIL) {
      lua_pop(L, 1); /* the run's own counter wins */
      continue;
    }
    if (skip_set)
      lua_pop(L, 1);
    memcpy(&v, (const char *)st + f->offset, sizeof v);
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, f->name);
  }
}

static void set_count(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* p:run(source [, n [, { strict = }]]) -> counters of this run, plus every
** other process counter as it stands after the run */
static void push_run_result(lua_State *L, mm_system *sys, mm_pid pid,
                            const mm_run_result *rp);

static int proc_run(lua_State *L) {
  static const char *const allowed[] = {"strict", NULL};
  mm_pid pid;
  pl_system *s = check_idle(L, 1, &pid);
  mm_source *src = pl_check_source(L, 2);
  mm_run_opts opt;
  mm_run_result res;
  mm_status st = MM_STATUS_SUCCESS;
  bool strict = false;
  lua_Integer n = 0;
  memset(&opt, 0, sizeof opt);
  memset(&res, 0, sizeof res);
  if (!lua_isnoneornil(L, 3)) {
    n = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 0, 3, "n: must not be negative");
  } else if (mm_source_endless(src)) {
    luaL_argerror(L, 3, "n: required for an endless workload");
  }
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    pl_check_options(L, 4, "run", allowed);
    pl_field_bool(L, 4, 4, "strict", "strict", &strict);
  }
  opt.max_refs = (uint64_t)n;
  opt.strict = strict;
  opt.commit_touched = !strict;

  /* n = 0 asked for nothing; the core would read it as "to the end" */
  if (lua_isnoneornil(L, 3) || n > 0) {
    pl_enter(s, L);
    st = mm_run(s->sys, pid, src, &opt, &res);
    pl_leave(s);
  }
  if (s->cb_failed || st == MM_STATUS_PAGELAB_CALLBACK_FAILED)
    return pl_raise_core_error(L, s, "run");
  if (!MM_OK(st)) {
    /* a broken trace is not a Windows failure: stop the experiment */
    if (st == MM_STATUS_PAGELAB_BAD_SOURCE && mm_source_error(src) == NULL)
      return pl_raise_core_error(L, s, "run");
    if (mm_source_error(src) != NULL)
      return luaL_error(L, "run: %s", mm_source_error(src));
    return pl_push_failure(L, s->sys, st, NULL);
  }
  push_run_result(L, s->sys, pid, &res);
  return 1;
}

/* The counters table of p:run and sys:run: this run's outcomes, then the
** process's counters as they stand after it. */
static void push_run_result(lua_State *L, mm_system *sys, mm_pid pid,
                            const mm_run_result *rp) {
  mm_run_result res = *rp;
  mm_pstats ps;
  uint64_t faults = 0;
  for (int o = 0; o < MM_OUTCOME_COUNT; o++)
    if (o != MM_HIT)
      faults += res.outcome[o];
  lua_createtable(L, 0, 40);
  set_count(L, "refs", res.refs);
  set_count(L, "hits", res.outcome[MM_HIT]);
  set_count(L, "faults", faults);
  set_count(L, "demand_zero", res.outcome[MM_DEMAND_ZERO]);
  set_count(L, "soft", res.outcome[MM_SOFT]);
  set_count(L, "hard", res.outcome[MM_HARD]);
  set_count(L, "cow", res.outcome[MM_COW]);
  set_count(L, "guard", res.outcome[MM_GUARD]);
  set_count(L, "access_violations", res.outcome[MM_ACCESS_VIOLATION]);
  set_count(L, "soft_faults", res.outcome[MM_SOFT]);
  set_count(L, "hard_faults", res.outcome[MM_HARD]);
  if (MM_OK(mm_process_stats(sys, pid, &ps)))
    push_pstats(L, &ps, 1);
}

/* sys:run({ {p1, source1 [, n1]}, {p2, source2 [, n2]}, ... }
**         [, { refs =, quantum =, strict = }]) -> { counters1, counters2, ... }
** Several processes, each with its own workload or trace, in one run:
** round robin, quantum references each turn (mm_run_many). */
static int sys_run(lua_State *L) {
  static const char *const allowed[] = {"refs", "quantum", "strict", NULL};
  pl_system *s = pl_check_idle(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = (lua_Integer)luaL_len(L, 2);
  luaL_argcheck(L, n >= 1 && n <= 4096, 2, "items: 1 to 4096 {process, source} pairs");
  uint64_t refs = 0, quantum = 1000;
  bool strict = false;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    pl_check_options(L, 3, "run", allowed);
    pl_field_u64(L, 3, 3, "refs", "refs", &refs);
    pl_field_u64(L, 3, 3, "quantum", "quantum", &quantum);
    pl_field_bool(L, 3, 3, "strict", "strict", &strict);
    luaL_argcheck(L, quantum >= 1, 3, "quantum: must be at least 1");
  }
  mm_run_item *items = lua_newuserdatauv(L, (size_t)n * sizeof *items, 0);
  for (lua_Integer k = 1; k <= n; k++) {
    if (lua_geti(L, 2, k) != LUA_TTABLE)
      luaL_error(L, "run: item %d is not a {process, source [, n]} table", (int)k);
    int it = lua_gettop(L);
    mm_system *psys;
    lua_geti(L, it, 1);
    mm_pid pid = pl_check_process(L, -1, &psys);
    if (psys != s->sys) luaL_error(L, "run: item %d's process belongs to another System", (int)k);
    lua_geti(L, it, 2);
    mm_source *src = pl_check_source(L, -1);
    lua_geti(L, it, 3);
    lua_Integer m = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    if (m < 0) luaL_error(L, "run: item %d: n must not be negative", (int)k);
    if (m == 0 && refs == 0 && mm_source_endless(src))
      luaL_error(L, "run: item %d: an endless workload needs n (or refs)", (int)k);
    items[k - 1].pid = pid;
    items[k - 1].src = src;
    items[k - 1].max_refs = (uint64_t)m;
    lua_pop(L, 4);
  }
  mm_run_opts opt = { refs, !strict, strict };
  pl_enter(s, L);
  mm_status st = mm_run_many(s->sys, items, (size_t)n, quantum, &opt);
  pl_leave(s);
  if (s->cb_failed || st == MM_STATUS_PAGELAB_CALLBACK_FAILED)
    return pl_raise_core_error(L, s, "run");
  if (st == MM_STATUS_PAGELAB_BAD_SOURCE)
    return pl_raise_core_error(L, s, "run");
  if (!MM_OK(st)) return pl_push_failure(L, s->sys, st, NULL);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer k = 1; k <= n; k++) {
    push_run_result(L, s->sys, items[k - 1].pid, &items[k - 1].res);
    lua_rawseti(L, -2, k);
  }
  return 1;
}

/* ------------------------------------------------------ life and stats */

/* p:stats() -> every process counter */
static int proc_stats(lua_State *L) {
  mm_system *sys;
  mm_pid pid = pl_check_process(L, 1, &sys);
  mm_pstats st;
  mm_status rc = mm_process_stats(sys, pid, &st);
  if (!MM_OK(rc))
    return pl_push_failure(L, sys, rc, NULL);
  lua_createtable(L, 0, 24);
  push_pstats(L, &st, 0);
  return 1;
}

/* p:terminate() -> true: releases the whole address space */
static int proc_terminate(lua_State *L) {
  mm_pid pid;
  pl_system *s = check_idle(L, 1, &pid);
  mm_status st;
  pl_enter(s, L);
  st = mm_process_terminate(s->sys, pid);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* p:set_ws{ ws_min=, ws_max=, hard_min=, hard_max= } -> true. Limits not
** given keep their value; the hard flags must be restated (default
** false), since the core does not report them. */
static int proc_set_ws(lua_State *L) {
  static const char *const allowed[] = {"ws_min", "ws_max", "hard_min",
                                        "hard_max", NULL};
  mm_pid pid;
  pl_system *s = check_idle(L, 1, &pid);
  mm_pstats cur;
  uint32_t lo, hi;
  bool hard_min = false, hard_max = false;
  mm_status st;
  luaL_checktype(L, 2, LUA_TTABLE);
  pl_check_options(L, 2, "set_ws", allowed);
  st = mm_process_stats(s->sys, pid, &cur);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lo = (uint32_t)cur.ws_min;
  hi = (uint32_t)cur.ws_max;
  pl_field_u32(L, 2, 2, "ws_min", "ws_min", &lo);
  pl_field_u32(L, 2, 2, "ws_max", "ws_max", &hi);
  pl_field_bool(L, 2, 2, "hard_min", "hard_min", &hard_min);
  pl_field_bool(L, 2, 2, "hard_max", "hard_max", &hard_max);
  pl_enter(s, L);
  st = mm_process_set_ws(s->sys, pid, lo, hi, hard_min, hard_max);
  pl_leave(s);
  pl_raise_if_callback_failed(L, s);
  if (!MM_OK(st))
    return pl_push_failure(L, s->sys, st, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static int proc_tostring(lua_State *L) {
  pl_process *p = to_process(L, 1);
  const char *name =
      p->owner->sys != NULL ? mm_process_name(p->owner->sys, p->pid) : NULL;
  if (p->owner->sys == NULL)
    lua_pushfstring(L, "pagelab.Process %d (closed System): %p", (int)p->pid,
                    (void *)p);
  else
    lua_pushfstring(L, "pagelab.Process %d '%s': %p", (int)p->pid,
                    name != NULL ? name : "", (void *)p);
  return 1;
}

/* __index: methods (upvalue 1) first, then the read-only fields. pid is
** the handle itself and stays readable after the System is closed. */
static int proc_index(lua_State *L) {
  const char *k;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
    return 1;
  if (lua_type(L, 2) != LUA_TSTRING)
    return 1; /* nil */
  k = lua_tostring(L, 2);
  if (strcmp(k, "pid") == 0) {
    lua_pushinteger(L, (lua_Integer)to_process(L, 1)->pid);
  } else if (strcmp(k, "name") == 0) {
    mm_system *sys;
    mm_pid pid = pl_check_process(L, 1, &sys);
    const char *name = mm_process_name(sys, pid);
    if (name != NULL)
      lua_pushstring(L, name);
    else
      lua_pushnil(L);
  } else if (strcmp(k, "alive") == 0) {
    mm_system *sys;
    mm_pid pid = pl_check_process(L, 1, &sys);
    lua_pushboolean(L, mm_process_alive(sys, pid));
  } else if (strcmp(k, "system") == 0) {
    to_process(L, 1);
    lua_getiuservalue(L, 1, 1);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

int pl_open_process(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"alloc", proc_alloc},       {"free", proc_free},
      {"protect", proc_protect},   {"query", proc_query},
      {"run", proc_run},           {"stats", proc_stats},
      {"terminate", proc_terminate}, {"set_ws", proc_set_ws},
      {NULL, NULL}};
  int mt;
  luaL_newmetatable(L, PL_PROCESS_MT); /* sets __name */
  mt = lua_gettop(L);
  lua_pushcfunction(L, proc_tostring);
  lua_setfield(L, mt, "__tostring");
  luaL_newlib(L, methods);
  /* the fast access closure */
  lua_pushvalue(L, mt);
  for (int o = 0; o < MM_OUTCOME_COUNT; o++)
    lua_pushstring(L, mm_outcome_name(o));
  lua_pushcclosure(L, proc_access, 1 + MM_OUTCOME_COUNT);
  lua_setfield(L, -2, "access");
  lua_pushcclosure(L, proc_index, 1);
  lua_setfield(L, mt, "__index");
  lua_pop(L, 1);
  static const luaL_Reg sys_methods[] = {{"run", sys_run}, {NULL, NULL}};
  pl_add_methods(L, PL_SYSTEM_MT, sys_methods);
  return 0;
}
