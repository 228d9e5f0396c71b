/*
** lpagelab.c — require "pagelab": assembles the module from its pieces.
**
** Each piece (systems, processes, policies, sources, the recorder) sets its
** own fields in the module table and registers its own metatables, so
** this file only decides the order: types that others refer to by
** registry name come first.
*/
#include "l_source.h"
#include "pagelab.h"
#include "recorder.h"

int pl_open_pool(lua_State *L);   /* l_pool.c: pool methods of System */

int luaopen_pagelab(lua_State *L) {
  lua_newtable(L);
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
