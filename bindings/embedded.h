/*
** embedded.h — the Lua scripts built into the pagelab executable.
**
** mk/scripts.mk turns every scripts/pagelab/NAME.lua into an entry
** { "pagelab.NAME", bytes, size } of pl_scripts, generated at build time
** under build/MODE/gen/ by the tiny generator mk/embed.c; main.c
** registers each one in package.preload.
*/
#ifndef PAGELAB_EMBEDDED_H
#define PAGELAB_EMBEDDED_H

#include <stddef.h>

typedef struct pl_script {
  const char *name;     /* module name for require, "pagelab.cli" */
  const char *path;     /* the source file, for error messages */
  const char *source;   /* the Lua text (not NUL-terminated) */
  size_t size;
} pl_script;

/* Ends with an entry whose name is NULL. */
extern const pl_script pl_scripts[];

#endif
