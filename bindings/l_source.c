/*
 * l_source.c — Lua face of the reference sources (DESIGN.md section 4).
 *
 *   pagelab.workload.uniform{ size = "64MiB", ... }   --> Workload
 *   pagelab.trace.open(path [, { format =, block_size = }]) --> Trace | nil,msg
 *   pagelab.trace.info(path | source [, opts])         --> table | nil, msg
 *   pagelab.trace.convert(path | source, out [, opts]) --> count | nil, msg
 *   src:refs(n)  --> addr[], kind[] ("r"/"w"/"x"), size[]   (at most n each)
 *   src:rewind()  src:position()  src:close()  tostring(src)
 *
 * Each userdata holds one pointer to its mm_source; closing frees the
 * source and clears the pointer, so __gc/__close are idempotent and a
 * closed source raises "attempt to use a closed Trace" instead of crashing.
 * Misuse (wrong types, unknown options, bad sizes, bad workload parameters)
 * raises; a trace that cannot be read returns nil and the message.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_source.h"
#include "l_util.h"

#define L_SOURCE_WORKLOAD "pagelab.Workload"
#define L_SOURCE_TRACE "pagelab.Trace"
#define L_SOURCE_BATCH 1024
#define L_SOURCE_ERRLEN 512
/* lua_createtable preallocation cap for :refs(n): a big n that the trace
 * cannot fill must not cost memory up front. */
#define L_SOURCE_PREALLOC 65536

typedef struct l_source_box {
    mm_source *src;   /* NULL once closed */
} l_source_box;

/* ---- userdata ----------------------------------------------------------- */

/* The box at idx and its type name, or NULL for other values. Never fails. */
static l_source_box *l_source_box_at(lua_State *L, int idx, const char **type)
{
    l_source_box *b = luaL_testudata(L, idx, L_SOURCE_WORKLOAD);
    if (b != NULL) {
        *type = "Workload";
        return b;
    }
    b = luaL_testudata(L, idx, L_SOURCE_TRACE);
    *type = "Trace";
    return b;
}

/* The source at idx; raises for other values and closed sources. */
mm_source *pl_check_source(lua_State *L, int idx)
{
    const char *type;
    l_source_box *b = l_source_box_at(L, idx, &type);
    if (b == NULL) {
        luaL_typeerror(L, idx, "Workload or Trace");
        return NULL;
    }
    if (b->src == NULL) {
        lua_pushfstring(L, "attempt to use a closed %s", type);
        luaL_argerror(L, idx, lua_tostring(L, -1));
        return NULL;
    }
    return b->src;
}

/* Pushes an empty box with the metatable mt; the caller fills src. Raises
 * only on out of memory, before any source exists. */
static l_source_box *l_source_new_box(lua_State *L, const char *mt)
{
    l_source_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->src = NULL;
    luaL_setmetatable(L, mt);
    return b;
}

/* __gc, __close and :close(): frees the source once.
 * Raises only when the argument is not a Workload or Trace. */
static int l_source_close(lua_State *L)
{
    const char *type;
    l_source_box *b = l_source_box_at(L, 1, &type);
    if (b == NULL)
        return luaL_typeerror(L, 1, "Workload or Trace");
    mm_source_close(b->src);
    b->src = NULL;
    return 0;
}

/* "pagelab.Workload (zipf base=...)" or "pagelab.Trace (closed)". Raises
 * only for a value of another type. */
static int l_source_tostring(lua_State *L)
{
    const char *type;
    l_source_box *b = l_source_box_at(L, 1, &type);
    char buf[512];
    if (b == NULL)
        return luaL_typeerror(L, 1, "Workload or Trace");
    if (b->src == NULL)
        lua_pushfstring(L, "pagelab.%s (closed)", type);
    else
        lua_pushfstring(L, "pagelab.%s (%s)", type,
                        mm_source_describe(b->src, buf, sizeof buf));
    return 1;
}

/* src:refs(n) -> addr[], kind[], size[] with up to n references; a trace
 * error returns nil, msg. Raises on a bad count or a closed source. */
static int l_source_refs(lua_State *L)
{
    static const char *const kinds[] = { "r", "w", "x" };
    mm_source *s = pl_check_source(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    mm_ref batch[L_SOURCE_BATCH];
    lua_Integer done = 0;
    int pre;
    luaL_argcheck(L, n >= 0, 2, "count must not be negative");
    pre = n < L_SOURCE_PREALLOC ? (int)n : L_SOURCE_PREALLOC;
    lua_createtable(L, pre, 0);
    lua_createtable(L, pre, 0);
    lua_createtable(L, pre, 0);
    while (done < n) {
        size_t want = n - done < L_SOURCE_BATCH ? (size_t)(n - done)
                                                : L_SOURCE_BATCH;
        size_t got = mm_source_next(s, batch, want), i;
        for (i = 0; i < got; i++) {
            lua_Integer k = done + (lua_Integer)i + 1;
            lua_pushinteger(L, (lua_Integer)batch[i].addr);
            lua_rawseti(L, -4, k);
            lua_pushstring(L, batch[i].kind < 3 ? kinds[batch[i].kind] : "?");
            lua_rawseti(L, -3, k);
            lua_pushinteger(L, (lua_Integer)batch[i].size);
            lua_rawseti(L, -2, k);
        }
        done += (lua_Integer)got;
        if (got < want)
            break;
    }
    if (mm_source_error(s) != NULL) {
        luaL_pushfail(L);
        lua_pushstring(L, mm_source_error(s));
        return 2;
    }
    return 3;
}

/* src:rewind() -> true | nil, msg Raises on a closed source. */
static int l_source_rewind(lua_State *L)
{
    mm_source *s = pl_check_source(L, 1);
    if (mm_source_rewind(s) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, mm_source_error(s));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* src:position() -> references delivered since the start or rewind
 * Raises on a closed source. */
static int l_source_position(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mm_source_position(pl_check_source(L, 1)));
    return 1;
}

/* trace:format() -> "text", "blocks", ... Raises on a closed source. */
static int l_source_format(lua_State *L)
{
    int f = mm_trace_format_of(pl_check_source(L, 1));
    lua_pushstring(L, f < 0 ? "workload"
                            : mm_trace_format_name((mm_trace_format)f));
    return 1;
}

static const luaL_Reg l_source_methods[] = {
    { "refs", l_source_refs },
    { "rewind", l_source_rewind },
    { "position", l_source_position },
    { "close", l_source_close },
    { NULL, NULL },
};

static const luaL_Reg l_source_meta[] = {
    { "__gc", l_source_close },
    { "__close", l_source_close },
    { "__tostring", l_source_tostring },
    { NULL, NULL },
};

/* ---- option fields ------------------------------------------------------ */

/* "fname: key" into buf, for error messages. Never fails. */
static const char *l_source_argname(char *buf, size_t len, const char *fname,
                                    const char *key)
{
    snprintf(buf, len, "%s: %s", fname, key);
    return buf;
}

/* A size option; returns 1 when present.
 * Raises naming fname and key on a bad value. */
static int l_source_opt_size(lua_State *L, int t, const char *fname,
                             const char *key, uint64_t *out)
{
    char arg[96];
    int r;
    lua_getfield(L, t, key);
    r = pl_parse_size(L, -1, l_source_argname(arg, sizeof arg, fname, key),
                      out);
    lua_pop(L, 1);
    return r;
}

/* A number option; returns 1 when present.
 * Raises naming fname and key on a bad value. */
static int l_source_opt_number(lua_State *L, int t, const char *fname,
                               const char *key, double *out)
{
    int ty = lua_getfield(L, t, key);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (ty != LUA_TNUMBER)
        return luaL_error(L, "%s: option '%s' must be a number, got %s",
                          fname, key, luaL_typename(L, -1));
    *out = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return 1;
}

/* An integer option (integral floats such as 1e4 accepted); the value is
 * taken as 64 bits, so negative integers wrap (addresses above 2^63 are
 * negative Lua integers). Returns 1 when present.
 * Raises naming fname and key on a bad value. */
static int l_source_opt_integer(lua_State *L, int t, const char *fname,
                                const char *key, int allow_negative,
                                uint64_t *out)
{
    int ty = lua_getfield(L, t, key), isint = 0;
    lua_Integer v;
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    v = ty == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint)
        return luaL_error(L, "%s: option '%s' must be an integer, got %s",
                          fname, key, ty == LUA_TNUMBER
                                          ? "a number with a fraction"
                                          : luaL_typename(L, -1));
    if (v < 0 && !allow_negative)
        return luaL_error(L, "%s: option '%s' must not be negative", fname,
                          key);
    *out = (uint64_t)v;
    lua_pop(L, 1);
    return 1;
}

/* ---- pagelab.workload.* ------------------------------------------------- */

#define L_SOURCE_COMMON "base", "size", "page_size", "writes", "access_size", \
                        "seed"

static const char *const l_source_keys_plain[] = { L_SOURCE_COMMON, NULL };
static const char *const l_source_keys_zipf[] = { L_SOURCE_COMMON, "alpha",
                                                  NULL };
static const char *const l_source_keys_stride[] = { L_SOURCE_COMMON, "stride",
                                                    NULL };
static const char *const l_source_keys_hotcold[] = {
    L_SOURCE_COMMON, "hot_fraction", "hot_prob", NULL,
};
static const char *const l_source_keys_phases[] = {
    L_SOURCE_COMMON, "phase_len", "phase_pages", NULL,
};

/* Allowed option keys per kind, in mm_workload_kind order. */
static const char *const *const l_source_keys[MM_WORKLOAD_KIND_COUNT] = {
    l_source_keys_plain,  l_source_keys_zipf,    l_source_keys_stride,
    l_source_keys_plain,  l_source_keys_stride,  l_source_keys_hotcold,
    l_source_keys_phases,
};

/* pagelab.workload.<kind>{ ... } -> Workload; the kind is upvalue 1.
 * Raises on unknown options, bad types and bad parameters. */
static int l_source_workload(lua_State *L)
{
    mm_workload_kind kind = (mm_workload_kind)lua_tointeger(
        L, lua_upvalueindex(1));
    const char *name = mm_workload_kind_name(kind);
    char fname[32], err[L_SOURCE_ERRLEN];
    mm_workload_cfg c;
    uint64_t access = 0;
    l_source_box *b;
    snprintf(fname, sizeof fname, "workload.%s", name);
    if (!lua_istable(L, 1))
        return luaL_error(L, "%s: expected an option table, got %s", fname,
                          luaL_typename(L, 1));
    pl_check_options(L, 1, fname, l_source_keys[kind]);
    mm_workload_cfg_init(&c, kind);
    l_source_opt_integer(L, 1, fname, "base", 1, &c.base);
    if (!l_source_opt_size(L, 1, fname, "size", &c.size))
        return luaL_error(L, "%s: option 'size' is required", fname);
    l_source_opt_size(L, 1, fname, "page_size", &c.page_size);
    l_source_opt_number(L, 1, fname, "writes", &c.writes);
    if (l_source_opt_size(L, 1, fname, "access_size", &access)) {
        if (access == 0 || access > UINT32_MAX)
            return luaL_error(L, "%s: access_size must be between 1 and "
                              "4294967295 bytes", fname);
        c.access_size = (uint32_t)access;
    }
    l_source_opt_integer(L, 1, fname, "seed", 1, &c.seed);
    l_source_opt_number(L, 1, fname, "alpha", &c.alpha);
    l_source_opt_size(L, 1, fname, "stride", &c.stride);
    l_source_opt_number(L, 1, fname, "hot_fraction", &c.hot_fraction);
    l_source_opt_number(L, 1, fname, "hot_prob", &c.hot_prob);
    l_source_opt_integer(L, 1, fname, "phase_len", 0, &c.phase_len);
    l_source_opt_integer(L, 1, fname, "phase_pages", 0, &c.phase_pages);
    b = l_source_new_box(L, L_SOURCE_WORKLOAD);
    b->src = mm_workload_new(&c, err, sizeof err);
    if (b->src == NULL)
        return luaL_error(L, "workload.%s", err);   /* err names the kind */
    return 1;
}

/* ---- pagelab.trace.* ---------------------------------------------------- */

/* Reads format and block_size from the options at idx into o.
 * Raises on a bad format name or block_size. */
static void l_source_trace_opts(lua_State *L, int idx, const char *fname,
                                mm_trace_opts *o)
{
    uint64_t bs = 0;
    o->format = MM_TRACE_DETECT;
    o->block_size = 0;
    o->has_block_base = 0;
    o->block_base = 0;
    if (lua_isnoneornil(L, idx))
        return;
    if (lua_getfield(L, idx, "base") != LUA_TNIL) {
        lua_Integer b = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
        if (b < 0)
            luaL_error(L, "%s: option 'base' must be a non-negative integer "
                       "(the address of block 0)", fname);
        o->block_base = (uint64_t)b;
        o->has_block_base = 1;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "format") != LUA_TNIL) {
        const char *f = lua_tostring(L, -1);
        int v;
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option 'format' must be a string, got %s",
                       fname, luaL_typename(L, -1));
        v = mm_trace_format_parse(f);
        if (v < 0)
            luaL_error(L, "%s: unknown format '%s' (expected text, lackey, "
                       "blocks, blocks32be, spec, binary or detect)", fname,
                       f);
        o->format = (mm_trace_format)v;
    }
    lua_pop(L, 1);
    if (l_source_opt_size(L, idx, fname, "block_size", &bs)) {
        if (bs == 0)
            luaL_error(L, "%s: block_size must be at least 1 byte", fname);
        o->block_size = bs;
    }
}

/* pagelab.trace.open(path [, opts]) -> Trace | nil, msg
 * Raises on misuse (bad types, unknown options). */
static int l_source_trace_open(lua_State *L)
{
    static const char *const keys[] = { "format", "block_size", "base", NULL };
    const char *path = luaL_checkstring(L, 1);
    char err[L_SOURCE_ERRLEN];
    mm_trace_opts o;
    l_source_box *b;
    pl_check_options(L, 2, "trace.open", keys);
    l_source_trace_opts(L, 2, "trace.open", &o);
    b = l_source_new_box(L, L_SOURCE_TRACE);
    b->src = mm_trace_open_ex(path, &o, err, sizeof err);
    if (b->src == NULL) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* The source for info/convert: the userdata at 1, or a trace opened from
 * the path at 1 (pushed as a Trace userdata so that an error collects it).
 * Returns NULL after pushing nil, msg when the path cannot be opened. */
static mm_source *l_source_input(lua_State *L, int opts, const char *fname,
                                 uint64_t *limit)
{
    char err[L_SOURCE_ERRLEN];
    mm_trace_opts o;
    l_source_box *b;
    *limit = 0;
    if (!lua_isnoneornil(L, opts))
        l_source_opt_integer(L, opts, fname, "limit", 0, limit);
    if (lua_type(L, 1) != LUA_TSTRING) {
        mm_source *s = pl_check_source(L, 1);
        if (!lua_isnoneornil(L, opts)) {
            int given = lua_getfield(L, opts, "format") != LUA_TNIL;
            given |= lua_getfield(L, opts, "block_size") != LUA_TNIL;
            lua_pop(L, 2);
            if (given)
                luaL_error(L, "%s: options 'format' and 'block_size' apply "
                           "only to a path", fname);
        }
        return s;
    }
    l_source_trace_opts(L, opts, fname, &o);
    b = l_source_new_box(L, L_SOURCE_TRACE);
    b->src = mm_trace_open_ex(lua_tostring(L, 1), &o, err, sizeof err);
    if (b->src == NULL) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return NULL;
    }
    return b->src;
}

/* Closes the trace l_source_input opened (the top userdata) at once.
 * Never fails. */
static void l_source_input_done(lua_State *L, int opened, int at)
{
    if (opened) {
        l_source_box *b = luaL_checkudata(L, at, L_SOURCE_TRACE);
        mm_source_close(b->src);
        b->src = NULL;
    }
}

/* pagelab.trace.info(path | source [, opts]) -> table | nil, msg
 * Raises on misuse (bad types, unknown options). */
static int l_source_trace_info(lua_State *L)
{
    static const char *const keys[] = { "format", "block_size", "base", "limit", NULL };
    char err[L_SOURCE_ERRLEN], key[24];
    mm_trace_info in;
    uint64_t limit;
    mm_source *s;
    int opened = lua_type(L, 1) == LUA_TSTRING, top, rc, i;
    if (!opened)
        pl_check_source(L, 1);
    pl_check_options(L, 2, "trace.info", keys);
    lua_settop(L, 2);
    s = l_source_input(L, 2, "trace.info", &limit);
    if (s == NULL)
        return 2;
    top = lua_gettop(L);
    rc = mm_source_info(s, limit, &in, err, sizeof err);
    l_source_input_done(L, opened, top);
    if (rc != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)in.refs);
    lua_setfield(L, -2, "refs");
    lua_pushinteger(L, (lua_Integer)in.reads);
    lua_setfield(L, -2, "reads");
    lua_pushinteger(L, (lua_Integer)in.writes);
    lua_setfield(L, -2, "writes");
    lua_pushinteger(L, (lua_Integer)in.execs);
    lua_setfield(L, -2, "execs");
    lua_createtable(L, 0, MM_INFO_PAGE_SIZES);
    for (i = 0; i < MM_INFO_PAGE_SIZES; i++) {
        snprintf(key, sizeof key, "%lu",
                 1ul << (MM_INFO_MIN_PAGE_SHIFT + (unsigned)i));
        lua_pushinteger(L, (lua_Integer)in.distinct_pages[i]);
        lua_setfield(L, -2, key);
    }
    lua_setfield(L, -2, "distinct_pages");
    lua_pushinteger(L, (lua_Integer)in.lines_64);
    lua_setfield(L, -2, "lines_64");
    lua_pushinteger(L, (lua_Integer)in.min_addr);
    lua_setfield(L, -2, "min_addr");
    lua_pushinteger(L, (lua_Integer)in.max_addr);
    lua_setfield(L, -2, "max_addr");
    return 1;
}

/* pagelab.trace.convert(path | source, out [, opts]) -> count | nil, msg
 * Raises on misuse (bad types, unknown options). */
static int l_source_trace_convert(lua_State *L)
{
    static const char *const keys[] = { "format", "block_size", "base", "limit", NULL };
    char err[L_SOURCE_ERRLEN];
    const char *out;
    uint64_t limit, written = 0;
    mm_source *s;
    int opened = lua_type(L, 1) == LUA_TSTRING, top, rc;
    if (!opened)
        pl_check_source(L, 1);
    out = luaL_checkstring(L, 2);
    pl_check_options(L, 3, "trace.convert", keys);
    lua_settop(L, 3);
    s = l_source_input(L, 3, "trace.convert", &limit);
    if (s == NULL)
        return 2;
    top = lua_gettop(L);
    rc = mm_trace_convert(s, out, limit, &written, err, sizeof err);
    l_source_input_done(L, opened, top);
    if (rc != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)written);
    return 1;
}

static const luaL_Reg l_source_trace_funcs[] = {
    { "open", l_source_trace_open },
    { "info", l_source_trace_info },
    { "convert", l_source_trace_convert },
    { NULL, NULL },
};

/* ---- registration ------------------------------------------------------- */

/* Registers one userdata metatable (methods, __gc, __close, __tostring).
 * Raises only on out of memory. */
static void l_source_metatable(lua_State *L, const char *name)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, l_source_meta, 0);
    luaL_newlib(L, l_source_methods);
    if (strcmp(name, L_SOURCE_TRACE) == 0) {
        lua_pushcfunction(L, l_source_format);
        lua_setfield(L, -2, "format");
    }
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* Sets module.workload and module.trace; the module is at the top.
 * Raises only on out of memory. */
int pl_open_source(lua_State *L)
{
    int k;
    luaL_checktype(L, -1, LUA_TTABLE);
    l_source_metatable(L, L_SOURCE_WORKLOAD);
    l_source_metatable(L, L_SOURCE_TRACE);
    lua_createtable(L, 0, MM_WORKLOAD_KIND_COUNT);
    for (k = 0; k < MM_WORKLOAD_KIND_COUNT; k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_source_workload, 1);
        lua_setfield(L, -2, mm_workload_kind_name((mm_workload_kind)k));
    }
    lua_setfield(L, -2, "workload");
    luaL_newlib(L, l_source_trace_funcs);
    lua_setfield(L, -2, "trace");
    return 0;
}
