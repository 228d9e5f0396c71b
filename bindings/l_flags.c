/*
** l_flags.c — Windows flag words in Lua: protections ("readwrite|guard"),
** allocation and free types ("reserve|commit|top_down", "release"),
** region states and types.
**
** Users write the lower-case Windows names joined by '|'. The binding only
** translates words to bits; whether a combination makes sense is the
** core's decision (it answers with the NTSTATUS Windows gives), so that
** experiments can probe exactly what Windows rejects.
*/
#include <stdio.h>
#include <string.h>

#include "pagelab.h"

typedef pl_word flag_word;

static const flag_word protect_words[] = {
    {"noaccess", MM_PAGE_NOACCESS},
    {"readonly", MM_PAGE_READONLY},
    {"readwrite", MM_PAGE_READWRITE},
    {"writecopy", MM_PAGE_WRITECOPY},
    {"execute", MM_PAGE_EXECUTE},
    {"execute_read", MM_PAGE_EXECUTE_READ},
    {"execute_readwrite", MM_PAGE_EXECUTE_READWRITE},
    {"execute_writecopy", MM_PAGE_EXECUTE_WRITECOPY},
    {"guard", MM_PAGE_GUARD},
    {"nocache", MM_PAGE_NOCACHE},
    {"writecombine", MM_PAGE_WRITECOMBINE},
    {NULL, 0}};

static const flag_word alloc_words[] = {
    {"reserve", MM_MEM_RESERVE},
    {"commit", MM_MEM_COMMIT},
    {"reset", MM_MEM_RESET},
    {"top_down", MM_MEM_TOP_DOWN},
    {"large_pages", MM_MEM_LARGE_PAGES},
    {"write_watch", MM_MEM_WRITE_WATCH},
    {"physical", MM_MEM_PHYSICAL},
    {NULL, 0}};

static const flag_word free_words[] = {
    {"decommit", MM_MEM_DECOMMIT},
    {"release", MM_MEM_RELEASE},
    {NULL, 0}};

static const flag_word state_words[] = {
    {"free", MM_MEM_FREE},
    {"reserve", MM_MEM_RESERVE},
    {"commit", MM_MEM_COMMIT},
    {NULL, 0}};

static const flag_word type_words[] = {
    {"private", MM_MEM_PRIVATE},
    {"mapped", MM_MEM_MAPPED},
    {"image", MM_MEM_IMAGE},
    {NULL, 0}};

/* Raises "unknown <what> word 'w' (expected a, b, ...)". */
static int word_error(lua_State *L, int idx, const char *argname,
                      const char *what, const char *w, size_t wlen,
                      const flag_word *words) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "%s: unknown %s word '", argname, what);
  luaL_addvalue(&b);
  luaL_addlstring(&b, w, wlen);
  luaL_addstring(&b, "' (expected ");
  for (const flag_word *f = words; f->name != NULL; f++) {
    if (f != words)
      luaL_addstring(&b, ", ");
    luaL_addstring(&b, f->name);
  }
  luaL_addstring(&b, ")");
  luaL_pushresult(&b);
  return luaL_argerror(L, idx, lua_tostring(L, -1));
}

/* ORs the bits of every '|'-separated word of the string at idx. Spaces
** around words are allowed ("reserve | commit"); empty words are not,
** since "reserve|" is more likely a typo than a request. */
uint32_t pl_check_words(lua_State *L, int idx, int arg, const char *argname,
                        const char *what, const pl_word *words) {
  size_t len;
  const char *s;
  uint32_t bits = 0;
  if (lua_type(L, idx) != LUA_TSTRING) {
    const char *msg = lua_pushfstring(L, "%s: expected a %s string, got %s",
                                      argname, what, luaL_typename(L, idx));
    luaL_argerror(L, arg, msg);
  }
  s = lua_tolstring(L, idx, &len);
  for (size_t i = 0; i <= len;) {
    size_t start = i, end;
    const flag_word *f;
    while (i < len && s[i] != '|')
      i++;
    end = i;
    while (start < end && s[start] == ' ')
      start++;
    while (end > start && s[end - 1] == ' ')
      end--;
    for (f = words; f->name != NULL; f++)
      if (strlen(f->name) == end - start &&
          memcmp(f->name, s + start, end - start) == 0)
        break;
    if (f->name == NULL)
      word_error(L, arg, argname, what, s + start, end - start, words);
    bits |= f->bits;
    i++; /* past the '|' (or past the end) */
  }
  return bits;
}

uint32_t pl_check_protect(lua_State *L, int idx, const char *argname) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    /* raw PAGE_* values let experiments probe what the core rejects */
    int isint;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (!isint || v < 0 || v > (lua_Integer)UINT32_MAX) {
      const char *msg =
          lua_pushfstring(L, "%s: not a PAGE_* value", argname);
      luaL_argerror(L, idx, msg);
    }
    return (uint32_t)v;
  }
  return pl_check_words(L, idx, idx, argname, "protection", protect_words);
}

uint32_t pl_check_alloc_type(lua_State *L, int idx, const char *argname) {
  return pl_check_words(L, idx, idx, argname, "allocation type", alloc_words);
}

uint32_t pl_check_free_type(lua_State *L, int idx, const char *argname) {
  return pl_check_words(L, idx, idx, argname, "free type", free_words);
}

/* Pushes the words of every known bit of v joined by '|', any unknown
** bits as a hex number, or nil for 0. */
static void push_words(lua_State *L, uint32_t v, const flag_word *words) {
  char buf[160];
  size_t n = 0;
  uint32_t rest = v;
  if (v == 0) {
    lua_pushnil(L);
    return;
  }
  buf[0] = '\0';
  for (const flag_word *f = words; f->name != NULL; f++) {
    if ((v & f->bits) == f->bits && (rest & f->bits) != 0) {
      n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? "|" : "",
                            f->name);
      rest &= ~f->bits;
    }
  }
  if (rest != 0)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s0x%x", n ? "|" : "",
                          (unsigned)rest);
  (void)n;
  lua_pushstring(L, buf);
}

void pl_push_protect(lua_State *L, uint32_t prot) {
  push_words(L, prot, protect_words);
}

void pl_push_state(lua_State *L, uint32_t state) {
  push_words(L, state, state_words);
}

void pl_push_type(lua_State *L, uint32_t type) {
  push_words(L, type, type_words);
}
