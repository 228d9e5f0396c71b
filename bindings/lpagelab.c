/*
** lpagelab.c — require "pagelab": assembles the module from its pieces.
**
** Each piece (systems, processes, policies, sources, the recorder) sets its
** own fields in the module table and registers its own metatables, so
** this file only decides the order: types that others refer to by
** registry name come first.
*/
#include "l_source.h"
#include "l_util.h"
#include "pagelab.h"
#include "recorder.h"

int pl_open_pool(lua_State *L);   /* l_pool.c: pool methods of System */

/* pagelab.size(v) -> bytes: the size parser every option uses ("4KiB",
** "2MiB", 4096), for experiments that compute with sizes. Raises on a bad
** size, naming it. */
static int l_size(lua_State *L) {
  uint64_t n = 0;
  luaL_checkany(L, 1);
  pl_parse_size(L, 1, "size", &n);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

int luaopen_pagelab(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_size);
  lua_setfield(L, -2, "size");
  lua_pushliteral(L, MM_VERSION);
  lua_setfield(L, -2, "version");
  pl_open_system(L);
  pl_open_hooks(L);
  pl_open_process(L);
  pl_open_policy(L);
  pl_open_pool(L);
  pl_open_section(L);
  pl_open_source(L);
  pl_open_recorder(L);
  pl_open_loader(L);
  return 1;
}
