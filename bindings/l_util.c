/*
 * l_util.c — size parsing and option-table checking for the bindings.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_util.h"

typedef struct l_util_unit {
    const char *name;
    uint64_t mult;
} l_util_unit;

/* Binary units only: see l_util.h for why KB means KiB. */
static const l_util_unit l_util_units[] = {
    { "", 1 },
    { "b", 1 },
    { "k", UINT64_C(1) << 10 },  { "kb", UINT64_C(1) << 10 },
    { "kib", UINT64_C(1) << 10 },
    { "m", UINT64_C(1) << 20 },  { "mb", UINT64_C(1) << 20 },
    { "mib", UINT64_C(1) << 20 },
    { "g", UINT64_C(1) << 30 },  { "gb", UINT64_C(1) << 30 },
    { "gib", UINT64_C(1) << 30 },
    { "t", UINT64_C(1) << 40 },  { "tb", UINT64_C(1) << 40 },
    { "tib", UINT64_C(1) << 40 },
};

#define L_UTIL_SIZE_HELP \
    "expected a size (bytes as a number, or a string like \"4KiB\", " \
    "\"2MiB\", \"1GiB\")"

/* Parses a size string; 0 and *out on success, else -1 with *why.
 * Never fails. */
static int l_util_size_string(const char *s, uint64_t *out, const char **why)
{
    uint64_t mant = 0, pow10 = 1, mult = 0, v;
    int digits = 0, frac = 0, in_frac = 0;
    char unit[8];
    size_t i, n = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        for (; isxdigit((unsigned char)*s); s++, digits++) {
            int d = isdigit((unsigned char)*s) ? *s - '0'
                                               : (tolower((unsigned char)*s) -
                                                  'a' + 10);
            if (mant >> 60) {
                *why = "is too large";
                return -1;
            }
            mant = mant << 4 | (uint64_t)d;
        }
        while (isspace((unsigned char)*s))
            s++;
        if (digits == 0 || *s != '\0') {
            *why = "is not a hex number";
            return -1;
        }
        *out = mant;
        return 0;
    }
    for (; isdigit((unsigned char)*s) || (*s == '.' && !in_frac); s++) {
        if (*s == '.') {
            in_frac = 1;
            continue;
        }
        if (mant > (UINT64_MAX - 9) / 10 || (in_frac && frac >= 19)) {
            *why = "has too many digits";
            return -1;
        }
        mant = mant * 10 + (uint64_t)(*s - '0');
        digits++;
        if (in_frac) {
            frac++;
            pow10 *= 10;
        }
    }
    if (digits == 0) {
        *why = "does not start with a number";
        return -1;
    }
    while (isspace((unsigned char)*s))
        s++;
    while (*s && !isspace((unsigned char)*s) && n < sizeof unit - 1)
        unit[n++] = (char)tolower((unsigned char)*s++);
    unit[n] = '\0';
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '\0') {
        *why = "has an unknown unit (use B, KiB, MiB, GiB or TiB)";
        return -1;
    }
    for (i = 0; i < sizeof l_util_units / sizeof l_util_units[0]; i++)
        if (strcmp(unit, l_util_units[i].name) == 0)
            mult = l_util_units[i].mult;
    if (mult == 0) {
        *why = "has an unknown unit (use B, KiB, MiB, GiB or TiB)";
        return -1;
    }
    if (mant != 0 && mult > UINT64_MAX / mant) {
        *why = "is too large";
        return -1;
    }
    v = mant * mult;
    if (v % pow10 != 0) {
        *why = "is not a whole number of bytes";
        return -1;
    }
    *out = v / pow10;
    return 0;
}

/* Size at idx: 1 and *out, 0 for nil/none; raises on anything else. */
int pl_parse_size(lua_State *L, int idx, const char *argname, uint64_t *out)
{
    const char *why = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL:
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_Integer i = lua_tointeger(L, idx);
            if (i < 0)
                return luaL_error(L, "%s: " L_UTIL_SIZE_HELP ", got %I",
                                  argname, (LUAI_UACINT)i);
            *out = (uint64_t)i;
            return 1;
        } else {
            lua_Number d = lua_tonumber(L, idx);
            /* 2^64 is the first float too large for uint64_t */
            if (!(d >= 0) || d != floor(d) || d >= 18446744073709551616.0)
                return luaL_error(L, "%s: " L_UTIL_SIZE_HELP ", got %f",
                                  argname, (LUAI_UACNUMBER)d);
            *out = (uint64_t)d;
            return 1;
        }
    case LUA_TSTRING: {
        const char *s = lua_tostring(L, idx);
        if (strlen(s) != lua_rawlen(L, idx))
            why = "contains a zero byte";
        else if (l_util_size_string(s, out, &why) == 0)
            return 1;
        return luaL_error(L, "%s: bad size '%s': it %s", argname, s, why);
    }
    default:
        return luaL_error(L, "%s: " L_UTIL_SIZE_HELP ", got %s", argname,
                          luaL_typename(L, idx));
    }
}

/* Rejects non-tables and unknown keys; the stack is unchanged. */
void pl_check_options(lua_State *L, int idx, const char *fname,
                      const char *const allowed[])
{
    int t = lua_type(L, idx);
    if (t == LUA_TNONE || t == LUA_TNIL)
        return;
    if (t != LUA_TTABLE) {
        luaL_error(L, "%s: options must be a table, got %s", fname,
                   luaL_typename(L, idx));
        return;
    }
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            size_t i;
            for (i = 0; allowed[i] != NULL; i++)
                if (strcmp(k, allowed[i]) == 0)
                    ok = 1;
        }
        if (!ok) {
            const char *k = luaL_tolstring(L, -2, NULL);
            luaL_error(L, "%s: unknown option '%s'", fname, k);
            return;
        }
        lua_pop(L, 1);
    }
}
