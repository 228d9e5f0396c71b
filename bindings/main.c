/*
** main.c — the pagelab executable: a Lua 5.4 host with the module built in.
**
**   pagelab                      interactive REPL, `pagelab` already loaded
**   pagelab FILE.lua args...     runs a script (arg table as in lua5.4)
**   pagelab - args...            runs a script read from standard input
**   pagelab COMMAND args...      the command line (scripts/pagelab/cli.lua)
**
** A first argument that ends in ".lua", contains a '/' or is "-" names a
** script; anything else is a command. The command line and the REPL are
** Lua scripts compiled into the executable (bindings/embedded.h), so the
** binary works from any directory without a Lua path.
**
** Exit status: what the command returns (0 ok, 1 failure, 2 usage), 1 when
** a script raises.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "embedded.h"

int luaopen_pagelab(lua_State *L);

/* Message handler: adds a traceback to string errors (as lua.c does). */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Calls the function below narg arguments; on error prints it (with a
** traceback) to stderr. Returns the lua_pcall status. */
static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  if (status != LUA_OK) {
    fprintf(stderr, "pagelab: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status;
}

/* package.preload: the module itself and every embedded script. */
static int preload_all(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_pagelab);
  lua_setfield(L, -2, "pagelab");
  for (const pl_script *s = pl_scripts; s->name; s++) {
    lua_pushfstring(L, "@%s", s->path);
    if (luaL_loadbufferx(L, s->source, s->size, lua_tostring(L, -1), "t")
        != LUA_OK)
      return lua_error(L);    /* a broken build: tests catch it */
    lua_setfield(L, -3, s->name);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

/* The global arg table: arg[0] = script, arg[1..] = its arguments,
** arg[-1] = the executable (as lua5.4 does). */
static void create_arg_table(lua_State *L, int argc, char **argv, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int is_script(const char *a) {
  size_t n = strlen(a);
  return strcmp(a, "-") == 0 || strchr(a, '/') != NULL ||
         (n > 4 && strcmp(a + n - 4, ".lua") == 0);
}

static int run_script(lua_State *L, int argc, char **argv) {
  const char *file = strcmp(argv[1], "-") == 0 ? NULL : argv[1];
  create_arg_table(L, argc, argv, 1);
  if (luaL_loadfile(L, file) != LUA_OK) {
    fprintf(stderr, "pagelab: %s\n", lua_tostring(L, -1));
    return 1;
  }
  for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
  return docall(L, argc - 2, 0) == LUA_OK ? 0 : 1;
}

/* require(module)[field](args...) → integer exit status */
static int run_lua_main(lua_State *L, const char *module, int argc,
                        char **argv) {
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  if (docall(L, 1, 1) != LUA_OK) return 1;
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  if (docall(L, 1, 1) != LUA_OK) return 1;
  int isnum;
  lua_Integer code = lua_tointegerx(L, -1, &isnum);
  return isnum ? (int)code : 0;
}

/* Everything that runs inside the protected main: nothing raises past it. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  preload_all(L);
  create_arg_table(L, argc, argv, 0);
  int status;
  if (argc < 2)
    status = run_lua_main(L, "pagelab.repl", argc, argv);
  else if (is_script(argv[1]))
    status = run_script(L, argc, argv);
  else
    status = run_lua_main(L, "pagelab.cli", argc, argv);
  lua_pushinteger(L, status);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "pagelab: cannot create the Lua state: out of memory\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = 1;
  if (lua_pcall(L, 2, 1, 0) == LUA_OK)
    status = (int)lua_tointeger(L, -1);
  else
    fprintf(stderr, "pagelab: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return status;
}
