/*
** pagelab.h — what the files of the Lua binding share.
**
** Only the binding sources include this. It is the one place that knows how a
** System and a Process look as Lua userdata; other binding files (sources,
** recorder, loader) reach the core through the accessors below and never
** through the structs.
**
** Userdata model (STYLE.md habits 6-7)
**   "pagelab.System"   a pl_system block. Uservalue 1: the process cache
**                      (pid -> Process userdata), so that one pid always
**                      has one Lua object and sys:processes() returns the
**                      objects the caller already holds.
**   "pagelab.Process"  a pl_process block: the owner's block and a pid,
**                      never a pointer into the core. Uservalue 1: the
**                      System userdata, so the parent outlives the child.
**
** Error contract of every binding function
**   misuse (wrong type, unknown option, closed System)  raises, naming the
**                                                        argument
**   a Windows failure (an mm_status)                     returns nil,
**                                                        "STATUS_…", sentence
**   a Lua callback that failed inside the core           raises its message
*/
#ifndef PAGELAB_BINDINGS_H
#define PAGELAB_BINDINGS_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "mm.h"

#define PL_SYSTEM_MT  "pagelab.System"
#define PL_PROCESS_MT "pagelab.Process"

/* Longest name a Lua policy may have (the System keeps a copy). */
#define PL_POLICY_NAME_MAX 64
/* Room for one callback failure message. */
#define PL_ERR_MAX 512

/* The block inside a System userdata. Lua 5.4 never moves a userdata, so
** a pl_system pointer stays valid for as long as the userdata is alive;
** the policy trampoline and every Process rely on that. */
typedef struct pl_system {
  mm_system *sys;      /* NULL once closed (or if creation failed) */
  lua_State *L;        /* the thread that last entered the core through
                          this system; the policy trampoline calls Lua in
                          it. Refreshed only while the system is idle, so
                          it always names a thread that is still running
                          the core call in progress. */
  int busy;            /* nonzero while a core call that may call back
                          into Lua runs: the core is not re-entrant, so
                          mutating calls made from a callback raise */
  int policy_ref;      /* registry reference of the Lua policy function,
                          or LUA_NOREF */
  int cb_failed;       /* the trampoline failed during the current call */
  char policy_name[PL_POLICY_NAME_MAX]; /* the core keeps a pointer to the
                          policy name in its config copy: it must live as
                          long as the mm_system, so it lives here */
  char cb_err[PL_ERR_MAX];              /* why the trampoline failed */
  int hook_ref[MM_EV_KINDS];            /* sys:hook functions, or LUA_NOREF */
} pl_system;

typedef struct pl_process {
  pl_system *owner;    /* kept alive by uservalue 1 */
  mm_pid pid;
} pl_process;

/* ----------------------------------------------- for every binding file */

/* The core system inside the System userdata at idx. Raises when idx is
** not a System, and "attempt to use a closed System" once it is closed.
** Also records L as the thread the Lua policy runs in (when the system is
** idle), so call it at every entry point that can reach the core. */
mm_system *pl_check_system(lua_State *L, int idx);

/* The pid of the Process userdata at idx; *sys (if not NULL) receives its
** system. Raises like pl_check_system. */
mm_pid pl_check_process(lua_State *L, int idx, mm_system **sys);

/* Pushes the Process userdata for pid of the System at sysidx, creating it
** the first time (later calls return the same object). For binding code
** that creates processes (e.g. an image loader). Raises on out of memory. */
void pl_push_process(lua_State *L, int sysidx, mm_pid pid);

/* Pushes nil, "STATUS_…", the sentence of mm_last_error(sys) (or msg when
** not NULL) and returns 3: the Windows-failure return of every function. */
int pl_push_failure(lua_State *L, const mm_system *sys, mm_status st,
                    const char *msg);

/* A protection from a string like "readwrite|guard" (or a number, the raw
** PAGE_* value) at idx. Unknown words raise naming argname; whether the
** combination is valid is the core's call (STATUS_INVALID_PAGE_PROTECTION). */
uint32_t pl_check_protect(lua_State *L, int idx, const char *argname);
/* Pushes the string form of a PAGE_* value ("readwrite|guard"), or nil
** for 0 (no access information: free or reserved pages). */
void pl_push_protect(lua_State *L, uint32_t prot);

/* ------------------------------------- shared by this module's files only */

/* The pl_system of the System userdata at idx, open or closed. Raises
** when idx is not a System. */
pl_system *pl_to_system(lua_State *L, int idx);

/* Like pl_check_system, and also raises while the system is busy inside a
** callback: for every call that changes the simulation. */
pl_system *pl_check_idle(lua_State *L, int idx);

/* Brackets a core call that may call back into Lua. */
static inline void pl_enter(pl_system *s, lua_State *L) {
  s->L = L;
  s->busy = 1;
  s->cb_failed = 0;
}
static inline void pl_leave(pl_system *s) { s->busy = 0; }

/* After pl_leave: raises the callback's message if the trampoline failed
** during the call (the core may have no way to say so, e.g. mm_tick). */
void pl_raise_if_callback_failed(lua_State *L, pl_system *s);

/* Raises the message of a failed core call: the callback's own message
** when a callback failed, else mm_last_error. Never returns. */
int pl_raise_core_error(lua_State *L, pl_system *s, const char *what);

/* A word of a '|'-separated flag string and the bits it stands for; lists
** end with {NULL, 0}. */
typedef struct pl_word {
  const char *name;
  uint32_t bits;
} pl_word;
/* ORs the bits of every word of the string at idx; spaces around words
** are allowed, unknown or empty words raise, as argument arg, "argname:
** unknown <what> word 'w' (expected a, b, ...)". */
uint32_t pl_check_words(lua_State *L, int idx, int arg, const char *argname,
                        const char *what, const pl_word *words);

/* MEM_* flags from "reserve|commit|top_down" (alloc) or "decommit" /
** "release" (free). Unknown words raise naming argname. */
uint32_t pl_check_alloc_type(lua_State *L, int idx, const char *argname);
uint32_t pl_check_free_type(lua_State *L, int idx, const char *argname);
/* "free", "reserve", "commit"; "private", "mapped", "image"; nil for 0. */
void pl_push_state(lua_State *L, uint32_t state);
void pl_push_type(lua_State *L, uint32_t type);

/* Option-table fields (l_field.c). Each looks up key in the table at t
** (an absolute index). Absent (nil) fields return 0 and leave *out alone;
** present ones return 1 or raise "bad argument #arg to 'fname' (key: …)".
** name is the key as the user sees it ("tlb.entries"). */
int pl_field_u64(lua_State *L, int t, int arg, const char *key,
                 const char *name, uint64_t *out);
int pl_field_u32(lua_State *L, int t, int arg, const char *key,
                 const char *name, uint32_t *out);
int pl_field_bool(lua_State *L, int t, int arg, const char *key,
                  const char *name, bool *out);
int pl_field_size(lua_State *L, int t, int arg, const char *key,
                  const char *name, uint64_t *out);
/* The string stays valid while the table at t is on the stack. */
int pl_field_string(lua_State *L, int t, int arg, const char *key,
                    const char *name, const char **out);
/* A table field: pushes it and returns its absolute index, or returns 0
** (pushing nothing) when absent. */
int pl_field_table(lua_State *L, int t, int arg, const char *key,
                   const char *name);
/* Raises "bad argument #arg (name: msg)". Never returns. */
int pl_field_error(lua_State *L, int arg, const char *name, const char *msg);

/* The Lua policy registry (l_policy.c).
** pl_policy_check reads the `policy` option (at idx: a string or a table
** such as { "clock", load_referenced = false }) into spec, without
** changing anything. When it names a policy registered with
** pagelab.policy it pushes that function (else pushes nil) and leaves
** spec->name pointing into the Lua string at idx: the caller must copy it
** (pl_policy_bind does). */
void pl_policy_check(lua_State *L, int idx, int arg, mm_policy_spec *spec);
/* Second phase, once every argument is checked: with the function pushed
** by pl_policy_check at the top of the stack (or nil), anchors it in the
** registry for s, copies the name into s and points spec at the
** trampoline. Pops the value. */
void pl_policy_bind(lua_State *L, pl_system *s, mm_policy_spec *spec);
/* Drops the registry anchor of s's policy function (idempotent). */
void pl_policy_unbind(lua_State *L, pl_system *s);

/* Module pieces: each sets its fields in the module table at the top of
** the stack, registers its metatables and leaves the stack as it was. */
int pl_open_system(lua_State *L);
/* sys:hook, sys:event_log, sys:events (l_hooks.c); pl_hooks_unbind drops
** the hook functions when a System closes. */
int pl_open_hooks(lua_State *L);
void pl_hooks_unbind(lua_State *L, pl_system *s);
/* Adds methods to a type registered by this binding (its __index closure
** keeps the method table as upvalue 1): how later pieces (pools, sections)
** extend System and Process without editing their files. */
void pl_add_methods(lua_State *L, const char *mt, const luaL_Reg *fns);
int pl_open_process(lua_State *L);
int pl_open_policy(lua_State *L);
int pl_open_section(lua_State *L);
int pl_open_loader(lua_State *L);

/* The module entry point (lpagelab.c): require "pagelab". */
int luaopen_pagelab(lua_State *L);

#endif
