/*
** l_field.c — typed fields of option tables.
**
** Every option table of the binding is read through these, so that a
** wrong type says the same thing everywhere: "bad argument #1 to 'system'
** (tlb.entries: expected a non-negative integer, got string)". Unknown keys
** are l_util's business (pl_check_options); sizes with units are parsed by
** pl_parse_size. A field that is nil counts as absent: Lua cannot tell the
** two apart, and a default is what the user expects.
*/
#include "l_util.h"
#include "pagelab.h"

int pl_field_error(lua_State *L, int arg, const char *name, const char *msg) {
  return luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s", name, msg));
}

/* Pushes t[key]; returns 0 (popping it) when nil. Raw access: an option
** table is plain data, and a string found this way stays anchored by it. */
static int get(lua_State *L, int t, const char *key) {
  lua_pushstring(L, key);
  if (lua_rawget(L, t) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

static int type_error(lua_State *L, int arg, const char *name,
                      const char *expected) {
  const char *msg =
      lua_pushfstring(L, "expected %s, got %s", expected, luaL_typename(L, -1));
  return pl_field_error(L, arg, name, msg);
}

int pl_field_u64(lua_State *L, int t, int arg, const char *key,
                 const char *name, uint64_t *out) {
  int isint = 0;
  lua_Integer v;
  if (!get(L, t, key))
    return 0;
  /* lua_tointegerx also takes floats with an exact integer value (1e6) */
  v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
  if (lua_type(L, -1) != LUA_TNUMBER || !isint || v < 0)
    type_error(L, arg, name, "a non-negative integer");
  *out = (uint64_t)v;
  lua_pop(L, 1);
  return 1;
}

int pl_field_u32(lua_State *L, int t, int arg, const char *key,
                 const char *name, uint32_t *out) {
  uint64_t v;
  if (!pl_field_u64(L, t, arg, key, name, &v))
    return 0;
  if (v > UINT32_MAX)
    pl_field_error(L, arg, name, "too large (at most 4294967295)");
  *out = (uint32_t)v;
  return 1;
}

int pl_field_bool(lua_State *L, int t, int arg, const char *key,
                  const char *name, bool *out) {
  if (!get(L, t, key))
    return 0;
  if (lua_type(L, -1) != LUA_TBOOLEAN)
    type_error(L, arg, name, "a boolean");
  *out = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return 1;
}

int pl_field_size(lua_State *L, int t, int arg, const char *key,
                  const char *name, uint64_t *out) {
  (void)arg; /* pl_parse_size names the field itself in its errors */
  if (!get(L, t, key))
    return 0;
  pl_parse_size(L, lua_gettop(L), name, out);
  lua_pop(L, 1);
  return 1;
}

int pl_field_string(lua_State *L, int t, int arg, const char *key,
                    const char *name, const char **out) {
  if (!get(L, t, key))
    return 0;
  if (lua_type(L, -1) != LUA_TSTRING)
    type_error(L, arg, name, "a string");
  /* the string is anchored by the table at t, so popping it is safe */
  *out = lua_tostring(L, -1);
  lua_pop(L, 1);
  return 1;
}

int pl_field_table(lua_State *L, int t, int arg, const char *key,
                   const char *name) {
  if (!get(L, t, key))
    return 0;
  if (lua_type(L, -1) != LUA_TTABLE)
    type_error(L, arg, name, "a table");
  return lua_gettop(L);
}
