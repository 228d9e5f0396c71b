-- pagelab.grid — the runs of a sweep: value lists and ranges per
-- parameter, their Cartesian product, repetitions, seeds and shards.
--
--   local axes = grid.axes(exp, { "ws_max=64..4096*2", "policy=lru,fifo" }, hint)
--   local plan = grid.plan(exp, axes, { seed = 1, repeats = 3 })
--   local mine = grid.shard(plan, 0, 4)
--
-- A -p text is a comma-separated list of items; an item is a value or a
-- range: lo..hi (step 1), lo..hi:step (arithmetic) or lo..hi*factor
-- (geometric). Values are typed by the declared parameter (integer, number,
-- string, boolean); ranges need numbers, or sizes for a string parameter
-- ("4KiB..64KiB*2" gives 4KiB, 8KiB, 16KiB, 32KiB, 64KiB).
--
-- The plan lists points in the order of the -p options, the last one
-- varying fastest, each point's repetitions together. Entry i (from 0) is
-- point (i // repeats) + 1, repetition (i % repeats) + 1. Shard I of N
-- holds the entries with i % N == I.
--
-- Seeds: a run's seed comes from the base seed, the point and the
-- repetition, never from its position in the plan, so that it is the same
-- in every shard, in every later run of the same command, and when the
-- grid grows (the runs already done keep their run_key and --resume skips
-- them):
--   h    = FNV-1a-64 of the canonical JSON
--          {"experiment":E,"params":P,"repetition":R,"seed":BASE}
--          (what pagelab.results.run_key hashes: P is every declared
--          parameter, keys sorted)
--   seed = (h mod 2^32) mod (2^31 - 1) + 1          -- 1 .. 2^31 - 1
-- The run's run_key then hashes the same JSON with seed = that seed.

local errors = require "pagelab.errors"
local experiment = require "pagelab.experiment"
local format = require "pagelab.format"

local M = {}

-- A sweep bigger than this is almost certainly a typo in a range.
M.MAX_RUNS = 1000000

local units = { B = 1, KiB = 1024, MiB = 1024 ^ 2, GiB = 1024 ^ 3, TiB = 1024 ^ 4 }

-- Bytes of a size text ("512", "4KiB", "1.5MiB"), or nil.
local function size_of(text)
  local n, unit = text:match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  n = tonumber(n)
  if not n then return nil end
  local mult = unit == "" and 1 or units[unit]
  return mult and n * mult or nil
end

-- The shortest size text of a byte count: "64KiB", "1536" (no unit when
-- the count is not a whole number of KiB).
local function size_text(bytes)
  local best = format.exact(bytes)
  for _, u in ipairs{ "KiB", "MiB", "GiB", "TiB" } do
    local n = bytes / units[u]
    if n == math.floor(n) then best = format.exact(n) .. u end
  end
  return best
end

M.size_of, M.size_text = size_of, size_text

local function bad(d, text, why, hint)
  errors.usage(("parameter %s: '%s' %s"):format(d.key, text, why), hint)
end

-- The numbers of one range item, as texts convert() reads back.
local function expand_range(d, item, lo_t, hi_t, op, by_t, hint)
  local as_size = d.type == "string"
  if d.type == "boolean" then bad(d, item, "is a range, and booleans have no ranges", hint) end
  local read = as_size and size_of or tonumber
  local lo, hi = read(lo_t), read(hi_t)
  if not lo or not hi then
    bad(d, item, as_size and "is not a range of sizes (like 4KiB..64KiB*2)"
                         or "is not a range of numbers (like 1..10:2 or 64..4096*2)", hint)
  end
  if lo > hi then bad(d, item, "is an empty range: its start is above its end", hint) end
  local step, factor = 1, nil
  if op == ":" then
    step = read(by_t)
    if not step or step <= 0 then bad(d, item, "needs a positive step after ':'", hint) end
  elseif op == "*" then
    factor = tonumber(by_t)
    if not factor or factor <= 1 then bad(d, item, "needs a factor above 1 after '*'", hint) end
    if lo <= 0 then bad(d, item, "is geometric, so its start must be positive", hint) end
  end
  local out, slack = {}, math.abs(hi) * 1e-9 + 1e-12
  local i = 0
  while true do
    local v = factor and lo * factor ^ i or lo + i * step
    if v > hi + slack then break end
    if d.type == "integer" or as_size then
      v = math.floor(v + 0.5)
    else
      v = tonumber(("%.12g"):format(v))     -- 0.1 + 2 * 0.1 is 0.3 here
    end
    if v ~= out[#out] then out[#out + 1] = v end
    if #out > M.MAX_RUNS then bad(d, item, "has too many values", hint) end
    i = i + 1
  end
  for k, v in ipairs(out) do
    out[k] = as_size and (lo_t .. hi_t):match("%a") and size_text(v) or format.exact(v)
  end
  return out
end

-- The typed values of one -p text for the declared parameter d.
function M.values(d, text, hint)
  local values, seen = {}, {}
  local function add(t)
    local v = experiment.convert(d, t, hint)
    if seen[v] == nil then
      seen[v] = true
      values[#values + 1] = v
    end
  end
  for item in (text .. ","):gmatch("([^,]*),") do
    if item == "" and d.type ~= "string" then
      bad(d, text, "has an empty item", hint)
    end
    local lo, hi, op, by = item:match("^(.-)%.%.([^:*]+)([:*]?)(.*)$")
    local literal = d.type == "string" and lo and not (size_of(lo) and size_of(hi))
    if lo and not literal then
      if (op == "") ~= (by == "") then bad(d, item, "has an incomplete step or factor", hint) end
      for _, t in ipairs(expand_range(d, item, lo, hi, op, by, hint)) do add(t) end
    else
      add(item)
    end
  end
  return values
end

-- The axes of a sweep: one { key =, d =, values = } per -p option, in
-- order. texts: the "key=spec" strings.
function M.axes(exp, texts, hint)
  local axes, given = {}, {}
  for _, text in ipairs(texts or {}) do
    local d, spec = experiment.assignment(exp, text, hint)
    if given[d.key] then
      errors.usage(("parameter %s is given twice: put every value in one -p %s=a,b,c")
                   :format(d.key, d.key), hint)
    end
    given[d.key] = true
    axes[#axes + 1] = { key = d.key, d = d, values = M.values(d, spec, hint) }
  end
  return axes
end

-- The number of points of axes (their product).
function M.count(axes)
  local n = 1
  for _, a in ipairs(axes) do n = n * #a.values end
  return n
end

-- The seed of a run (see the header): base seed, point, repetition.
function M.seed(name, params, base, repetition)
  local results = require("pagelab").results
  local key = results.run_key{ experiment = name, params = params, seed = base,
                               repetition = repetition }
  return tonumber(key:sub(-8), 16) % 2147483647 + 1
end

-- Every run of the sweep: { index (from 0), point, repetition, params,
-- seed, run_key }. opts: seed (base, default 1), repeats (default 1).
function M.plan(exp, axes, opts, hint)
  local results = require("pagelab").results
  local base, repeats = opts.seed or experiment.DEFAULT_SEED, opts.repeats or 1
  local points = M.count(axes)
  if points * repeats > M.MAX_RUNS then
    errors.usage(("the sweep has %d runs, more than %d: check the ranges")
                 :format(points * repeats, M.MAX_RUNS), hint)
  end
  local defaults = experiment.resolve(exp, {}, base, hint)
  local plan = {}
  for point = 1, points do
    local params, rest = {}, point - 1
    for k, v in pairs(defaults) do params[k] = v end
    for a = #axes, 1, -1 do                  -- the last axis varies fastest
      local values = axes[a].values
      params[axes[a].key] = values[rest % #values + 1]
      rest = rest // #values
    end
    for r = 1, repeats do
      local seed = M.seed(exp.name, params, base, r)
      plan[#plan + 1] = {
        index = #plan, point = point, repetition = r, params = params, seed = seed,
        run_key = results.run_key{ experiment = exp.name, params = params, seed = seed,
                                   repetition = r },
      }
    end
  end
  return plan
end

-- What run() of the experiment receives for an entry: params and p.seed.
function M.arguments(entry)
  local p = {}
  for k, v in pairs(entry.params) do p[k] = v end
  p.seed = entry.seed
  return p
end

-- Parses "I/N" (0 <= I < N). Returns I, N.
function M.parse_shard(text, hint)
  local i, n = text:match("^(%d+)/(%d+)$")
  i, n = math.tointeger(tonumber(i)), math.tointeger(tonumber(n))
  if not i or not n or n < 1 or i >= n then
    errors.usage(("--shard expects I/N with 0 <= I < N, got '%s'"):format(text), hint)
  end
  return i, n
end

-- The entries of shard i of n.
function M.shard(plan, i, n)
  local mine = {}
  for _, e in ipairs(plan) do
    if e.index % n == i then mine[#mine + 1] = e end
  end
  return mine
end

-- "k=v k=v" of the swept parameters of an entry (the axes' keys).
function M.describe(entry, axes, repeats)
  local parts = {}
  for _, a in ipairs(axes) do
    local v = entry.params[a.key]
    parts[#parts + 1] = a.key .. "=" .. (type(v) == "number" and format.exact(v) or tostring(v))
  end
  if (repeats or 1) > 1 then parts[#parts + 1] = "rep=" .. entry.repetition end
  return table.concat(parts, " ")
end

return M
