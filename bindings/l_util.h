/*
 * l_util.h — argument helpers shared by every binding file.
 *
 * Sizes: a non-negative integer number of bytes (an integral float such as
 * 1e6 is accepted), or a string: a number with an optional fraction, then
 * an optional unit. Units are binary and case-insensitive: B; K, KB, KiB
 * (1024); M, MB, MiB (1024^2); G, GB, GiB (1024^3); T, TB, TiB (1024^4).
 * KB/MB/GB/TB deliberately mean the same binary units as KiB/MiB/GiB/TiB:
 * in memory sizes nobody means 1000. A fraction must give whole bytes
 * ("1.5KiB" = 1536, "0.3B" is an error). "0x1000" (hex bytes) is accepted.
 */
#ifndef PL_L_UTIL_H
#define PL_L_UTIL_H

#include <stdint.h>

#include <lua.h>

/* Reads the size at idx into *out. Returns 1 when a size was read, 0 when
 * the value is nil or absent (*out is left as it was). Raises a Lua error
 * naming argname ("zipf: size: expected ...") on any other value. */
int pl_parse_size(lua_State *L, int idx, const char *argname, uint64_t *out);

/* Checks the option table at idx: nil or absent is fine; anything but a
 * table raises "fname: options must be a table"; a key that is not one of
 * the strings in allowed (a NULL-terminated list) raises
 * "fname: unknown option 'x'". Leaves the stack as it was. */
void pl_check_options(lua_State *L, int idx, const char *fname,
                      const char *const allowed[]);

#endif /* PL_L_UTIL_H */
