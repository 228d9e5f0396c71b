/*
** recorder.h — the SQLite results recorder behind pagelab.results.
**
** One results database holds runs of experiments: the run table, its
** parameters, scalar metrics, time series and snapshots (docs/results.md).
** Each run is one transaction, so a crash loses at most the run in flight
** and never leaves a row that looks complete.
*/
#ifndef PAGELAB_RECORDER_H
#define PAGELAB_RECORDER_H

#include <lua.h>

/* Bumped whenever the schema changes incompatibly; a database whose
** meta.schema_version is newer than this is refused; an older one is
** migrated when opened for writing. 2: snapshot + snapshot_row tables. */
#define PL_RESULTS_SCHEMA_VERSION 2

/* With the module table at the top of the stack, sets its fields `results`
** (open, run_key, SCHEMA_VERSION) and `isatty`, and registers the Db and Rec metatables.
** Leaves the stack as it found it. Returns 0. Raises only on out of memory. */
int pl_open_recorder(lua_State *L);

#endif
