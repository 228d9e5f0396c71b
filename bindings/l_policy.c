/*
** l_policy.c — trimming policies: the `policy` option of pagelab.system,
** and policies written in Lua (pagelab.policy).
**
** A Lua policy lives in two places. pagelab.policy{} files the function
** under its name in a registry table ("pagelab.policies"), private to this
** Lua state. A System created with that name anchors the function it found
** with luaL_ref, so redefining the name later changes only systems created
** afterwards, and the function lives exactly as long as the system.
**
** The core calls a Lua policy through policy_trampoline (an mm_select_fn)
** whenever it chooses victims. Everything Lua does there runs inside
** lua_pcall: an error (even out of memory) must never longjmp through the
** core, which would leave its lists half-changed. A failure is reported
** the core's way (nonzero return, message in err) and recorded in the
** pl_system, so the binding can raise the message once the core returns.
*/
#include <stdio.h>
#include <string.h>

#include "l_util.h"
#include "pagelab.h"

#define POLICIES_KEY "pagelab.policies"

/* The core's own policies (DESIGN.md §2) and the options each takes. A Lua
** policy may not take one of these names: the choice would be ambiguous. */
typedef struct builtin_policy {
  const char *name;
  const char *const options[3];
} builtin_policy;

static const builtin_policy builtins[] = {
    {"aging", {NULL, NULL, NULL}},
    {"fifo", {NULL, NULL, NULL}},
    {"clock", {"load_referenced", NULL, NULL}},
    {"lru", {NULL, NULL, NULL}},
    {"random", {"seed", NULL, NULL}},
    {"wsclock", {"tau", "load_referenced", NULL}},
    {"opt", {NULL, NULL, NULL}},
    {NULL, {NULL, NULL, NULL}}};

/* Options accepted for a name the binding does not know: the core decides
** whether the name exists, and should not be pre-empted by a complaint
** about an option. */
static const char *const any_options[] = {"load_referenced", "tau", "seed",
                                          NULL};
/* A Lua policy takes no options: its function is its parameters. */
static const char *const no_options[] = {NULL};

static const builtin_policy *find_builtin(const char *name) {
  for (const builtin_policy *b = builtins; b->name != NULL; b++)
    if (strcmp(b->name, name) == 0)
      return b;
  return NULL;
}

/* Pushes the registry table of Lua policies (creating it once). */
static void push_policies(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, POLICIES_KEY);
}

/* ------------------------------------------------ the `policy` option */

static int has_option(const char *const *opts, const char *key) {
  for (; *opts != NULL; opts++)
    if (strcmp(*opts, key) == 0)
      return 1;
  return 0;
}

void pl_policy_check(lua_State *L, int idx, int arg, mm_policy_spec *spec) {
  const char *name;
  int custom;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING) {
    name = lua_tostring(L, idx);
  } else if (lua_type(L, idx) == LUA_TTABLE) {
    if (lua_rawgeti(L, idx, 1) != LUA_TSTRING)
      pl_field_error(L, arg, "policy",
                     "a policy table needs its name first: { \"clock\", ... }");
    name = lua_tostring(L, -1); /* anchored by the table */
    lua_pop(L, 1);
  } else {
    pl_field_error(L, arg, "policy",
                   lua_pushfstring(L, "expected a string or a table, got %s",
                                   luaL_typename(L, idx)));
    return;
  }
  if (name[0] == '\0')
    pl_field_error(L, arg, "policy", "empty policy name");

  push_policies(L);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  custom = lua_type(L, -1) == LUA_TFUNCTION;

  if (lua_type(L, idx) == LUA_TTABLE) {
    const builtin_policy *b = find_builtin(name);
    const char *const *allowed =
        custom ? no_options
               : b != NULL ? b->options : any_options;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1); /* the value; the key stays for lua_next */
      if (lua_type(L, -1) == LUA_TNUMBER && lua_tointeger(L, -1) == 1 &&
          lua_isinteger(L, -1))
        continue;
      if (lua_type(L, -1) != LUA_TSTRING ||
          !has_option(allowed, lua_tostring(L, -1))) {
        const char *k = lua_type(L, -1) == LUA_TSTRING
                            ? lua_tostring(L, -1)
                            : luaL_typename(L, -1);
        pl_field_error(L, arg, "policy",
                       lua_pushfstring(L, "unknown option '%s' for policy '%s'",
                                       k, name));
      }
    }
    pl_field_bool(L, idx, arg, "load_referenced", "policy.load_referenced",
                  &spec->load_referenced);
    pl_field_u64(L, idx, arg, "tau", "policy.tau", &spec->tau);
    pl_field_u64(L, idx, arg, "seed", "policy.seed", &spec->seed);
  }
  if (custom && strlen(name) >= PL_POLICY_NAME_MAX)
    pl_field_error(L, arg, "policy", "policy name too long");
  spec->name = name;
  spec->custom_select = NULL;
  spec->custom_ud = NULL;
  /* the function (or nil) stays pushed for pl_policy_bind */
}

/* ------------------------------------------------------- the trampoline */

typedef struct select_call {
  pl_system *s;
  uint32_t pid;
  const mm_ws_page *pages;
  uint32_t count, want;
  uint32_t *victims;
  uint32_t *nvictims;
} select_call;

/* Runs under lua_pcall (argument 1: a light userdata to a select_call):
** builds the ws array, calls the policy, checks and copies its answer
** (the core checks the indices again; checking here lets the message say
** which entry of the Lua array was wrong). May raise anything; the
** trampoline catches it. Victims go to the core 0-based. */
static int select_body(lua_State *L) {
  select_call *c = lua_touserdata(L, 1);
  lua_Integer n;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->policy_ref);
  lua_createtable(L, (int)(c->count > INT32_MAX ? INT32_MAX : c->count), 0);
  for (uint32_t i = 0; i < c->count; i++) {
    const mm_ws_page *pg = &c->pages[i];
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)pg->va);
    lua_setfield(L, -2, "va");
    lua_pushinteger(L, (lua_Integer)pg->age);
    lua_setfield(L, -2, "age");
    lua_pushboolean(L, pg->accessed);
    lua_setfield(L, -2, "accessed");
    lua_pushboolean(L, pg->dirty);
    lua_setfield(L, -2, "dirty");
    lua_pushboolean(L, pg->shared);
    lua_setfield(L, -2, "shared");
    lua_pushinteger(L, (lua_Integer)pg->inserted);
    lua_setfield(L, -2, "inserted");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pushinteger(L, c->want);
  lua_pushinteger(L, c->pid);
  lua_call(L, 3, 1);

  /* a bad answer is the policy's bug: say what was wrong, by index */
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "select must return an array of indices, got %s",
                      luaL_typename(L, 1));
  n = (lua_Integer)lua_rawlen(L, 1);
  if (n > (lua_Integer)c->want)
    return luaL_error(L, "select returned %I victims, at most %I were "
                         "asked for",
                      n, (lua_Integer)c->want);
  lua_createtable(L, 0, (int)n); /* 2: indices seen, to refuse repeats */
  for (lua_Integer i = 1; i <= n; i++) {
    int isint = 0;
    lua_Integer v = 0;
    if (lua_rawgeti(L, 1, i) == LUA_TNUMBER)
      v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > (lua_Integer)c->count)
      return luaL_error(L,
                        "victim #%I is not an index of the working set "
                        "(1..%I)",
                        i, (lua_Integer)c->count);
    lua_pop(L, 1);
    if (lua_rawgeti(L, 2, v) != LUA_TNIL)
      return luaL_error(L, "index %I returned twice", v);
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawseti(L, 2, v);
    c->victims[i - 1] = (uint32_t)(v - 1);
  }
  *c->nvictims = (uint32_t)n;
  return 0;
}

static int policy_trampoline(void *ud, uint32_t pid, const mm_ws_page *pages,
                             uint32_t count, uint32_t want, uint32_t *victims,
                             uint32_t *nvictims, char *err, size_t errlen) {
  pl_system *s = ud;
  lua_State *L = s->L;
  select_call c = {s, pid, pages, count, want, victims, nvictims};
  int top, rc;
  *nvictims = 0;
  if (L == NULL || s->policy_ref == LUA_NOREF || !lua_checkstack(L, 8)) {
    snprintf(s->cb_err, sizeof s->cb_err, "cannot call Lua here (no stack)");
    goto fail;
  }
  top = lua_gettop(L);
  lua_pushcfunction(L, select_body);
  lua_pushlightuserdata(L, &c);
  rc = lua_pcall(L, 1, 0, 0);
  if (rc != LUA_OK) {
    const char *msg = lua_type(L, -1) == LUA_TSTRING
                          ? lua_tostring(L, -1)
                          : lua_pushfstring(L, "(error object is a %s value)",
                                            luaL_typename(L, -1));
    snprintf(s->cb_err, sizeof s->cb_err, "%s", msg);
    lua_settop(L, top);
    *nvictims = 0;
    goto fail;
  }
  lua_settop(L, top);
  return 0;
fail:
  s->cb_failed = 1;
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", s->cb_err);
  return 1;
}

void pl_policy_bind(lua_State *L, pl_system *s, mm_policy_spec *spec) {
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    /* the core copies the config, name pointer included, so the name
       must live as long as the system: keep a copy in s when it fits */
    if (spec->name != NULL && strlen(spec->name) < sizeof s->policy_name) {
      snprintf(s->policy_name, sizeof s->policy_name, "%s", spec->name);
      spec->name = s->policy_name;
    }
    return;
  }
  snprintf(s->policy_name, sizeof s->policy_name, "%s", spec->name);
  spec->name = s->policy_name;
  s->policy_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the function */
  spec->custom_select = policy_trampoline;
  spec->custom_ud = s;
}

void pl_policy_unbind(lua_State *L, pl_system *s) {
  if (s->policy_ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, s->policy_ref);
    s->policy_ref = LUA_NOREF;
  }
}

/* -------------------------------------------------------- pagelab.policy */

/* pagelab.policy{ name = "mine", select = function(ws, n, pid) ... end }
** -> name. Files the function for systems created afterwards. */
static int l_policy(lua_State *L) {
  static const char *const allowed[] = {"name", "select", NULL};
  const char *name = NULL;
  luaL_checktype(L, 1, LUA_TTABLE);
  pl_check_options(L, 1, "policy", allowed);
  if (!pl_field_string(L, 1, 1, "name", "name", &name))
    pl_field_error(L, 1, "name", "required");
  if (name[0] == '\0' || strlen(name) >= PL_POLICY_NAME_MAX)
    pl_field_error(L, 1, "name", "must have 1 to 63 characters");
  if (find_builtin(name) != NULL)
    pl_field_error(L, 1, "name",
                   lua_pushfstring(L, "'%s' is a built-in policy", name));
  lua_getfield(L, 1, "select");
  if (lua_type(L, -1) != LUA_TFUNCTION)
    pl_field_error(L, 1, "select",
                   lua_pushfstring(L, "expected a function, got %s",
                                   luaL_typename(L, -1)));
  push_policies(L);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, name);
  lua_pushstring(L, name);
  return 1;
}

int pl_open_policy(lua_State *L) {
  lua_pushcfunction(L, l_policy);
  lua_setfield(L, -2, "policy");
  return 0;
}
