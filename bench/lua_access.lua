-- bench/lua_access.lua — cost of one p:access call from Lua.
--
-- Times N calls of p:access to one resident page (every call a hit, so
-- this measures the binding plus the core's hit path) and prints calls/s.
-- The target is at least 10 M calls/s (< 100 ns per call) in a release
-- build.  Usage: LUA_CPATH='build/release/?.so;;' lua5.4 bench/lua_access.lua [N]
local pagelab = require "pagelab"

local N = math.tointeger(tonumber(arg and arg[1]) or 1e7)

local sys <close> = pagelab.system{ ram = "64MiB" }
local p = sys:process{ name = "bench" }
local a = assert(p:alloc(nil, "64KiB", "reserve|commit", "readwrite"))
assert(p:access(a, "w") == "demand_zero")
assert(p:access(a, "r") == "hit")

-- warm up (JIT-free Lua, but caches and branch predictors still care)
for _ = 1, 100000 do p:access(a, "r") end

local best = math.huge
for _ = 1, 3 do
  local t0 = os.clock()
  for _ = 1, N do p:access(a, "r") end
  local dt = os.clock() - t0
  if dt < best then best = dt end
end

local st = p:stats()
assert(st.hits >= 3 * N, "every timed access must be a hit")
print(string.format("lua_access: %d calls in %.3f s: %.1f M calls/s, %.1f ns/call",
                    N, best, N / best / 1e6, best / N * 1e9))
