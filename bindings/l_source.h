/*
 * l_source.h — the Lua face of reference sources: pagelab.workload.* and
 * pagelab.trace.*, and the Workload and Trace userdata types.
 */
#ifndef PL_L_SOURCE_H
#define PL_L_SOURCE_H

#include <lua.h>

#include "mm.h"   /* the core's public header; it includes source.h */

/* Registers the "pagelab.Workload" and "pagelab.Trace" metatables and sets
 * the fields `workload` (uniform, zipf, sequential, loop, strided, hotcold,
 * phases) and `trace` (open, info, convert) on the module table, which must
 * be at the top of the stack. Pushes nothing; returns 0. */
int pl_open_source(lua_State *L);

/* The mm_source inside the Workload or Trace userdata at idx. Raises an
 * argument error for any other value or for a closed source. The source
 * stays owned by the userdata: keep the userdata reachable while using it. */
mm_source *pl_check_source(lua_State *L, int idx);

#endif /* PL_L_SOURCE_H */
