-- pool_fragmentation.lua — how a mix of allocation sizes fragments a pool.
--
-- A driver-like workload allocates and frees tagged blocks in one kind of
-- pool, in three phases of ops/3 operations each:
--   grow   allocate until `live` blocks are held;
--   churn  free a random block or allocate one, with equal chance;
--   drain  free random blocks until only `keep` of them (a fraction) stay.
-- Sizes come from a seeded mix: "small" (16-512 bytes), "mixed" (mostly
-- small, some up to 2 KiB, a few big allocations of 4-32 KiB) or
-- "bimodal" (32 or 2000 bytes: the classic way to strand free space).
-- Each page can only go back once every block in it is free, so after the
-- drain the pool holds many pages for few bytes: utilization falls and
-- the free space is scattered (fragmentation = 1 - largest free block /
-- free bytes in partly used pages; see docs/pools.md).
--
-- Series (step = operation number, every `every` operations): pool_pages,
-- live_blocks, bytes, requested, free_bytes, largest_free, fragmentation,
-- utilization (requested / bytes of the pool's pages), free_ratio (free
-- bytes / bytes of the small-block pages: space stranded in partly used
-- pages), system_faults. Metrics: the same at the end, plus peak_pages,
-- allocs, frees, failures, commit_charge, pages_per_block; a poolused
-- snapshot.

local pagelab = require "pagelab"

local function must(value, status, why)
  if value == nil then error(why or status or "failed", 2) end
  return value
end

-- A seeded 64-bit LCG of its own, so the experiment never touches the
-- global math.random state. Returns a function giving [0, n) integers.
local function generator(seed)
  local x = seed * 2654435761 + 1
  return function(n)
    x = x * 6364136223846793005 + 1442695040888963407
    return ((x >> 33) & 0x7FFFFFFF) % n
  end
end

-- Size mixes: each returns bytes and a tag naming the size class.
local MIXES = {
  small = function(rand) return 16 + rand(497), "Sml" end,
  mixed = function(rand)
    local r = rand(100)
    if r < 70 then return 16 + rand(241), "Sml" end
    if r < 95 then return 257 + rand(1792), "Med" end
    return 4096 + rand(28673), "Big"
  end,
  bimodal = function(rand)
    if rand(2) == 0 then return 32, "Tiny" end
    return 2000, "Half"
  end,
}

return {
  name = "pool_fragmentation",
  description = "Pool page use and fragmentation over time for a seeded mix of allocation sizes",
  params = {
    kind = { "paged", "pool the blocks come from", choices = { "paged", "nonpaged" } },
    mix = { "mixed", "allocation size mix", choices = { "small", "mixed", "bimodal" } },
    ops = { 30000, "allocations and frees in all (three phases of ops/3)" },
    live = { 2000, "blocks held at the end of the grow phase" },
    keep = { 0.1, "fraction of the blocks still held after the drain phase" },
    touch = { 0.2, "chance that each operation also uses a random live block (paged: may fault)" },
    every = { 250, "operations between two samples of the series" },
    paged_pools = { 4, "number of paged pools" },
    arch = { "x64", "architecture (block granularity: 8 bytes on 32-bit, 16 on x64)",
             choices = { "x86", "x86-pae", "x64" } },
    ram = { "64MiB", "physical memory" },
  },
  run = function(p, rec)
    local sys <close> = must(pagelab.system{ arch = p.arch, ram = p.ram, seed = p.seed })
    must(sys:pools{ paged_pools = p.paged_pools })
    local rand = generator(p.seed)
    local sizes = MIXES[p.mix]
    local page = sys.page_size
    local blocks, n = {}, 0                        -- live handles, dense
    local failures = 0

    local function alloc()
      local bytes, tag = sizes(rand)
      local a = sys:pool_alloc(p.kind, bytes, tag)
      if a then n = n + 1; blocks[n] = a else failures = failures + 1 end
    end
    local function free_one()
      if n == 0 then return end
      local i = rand(n) + 1
      must(sys:pool_free(blocks[i]))
      blocks[i] = blocks[n]
      blocks[n] = nil
      n = n - 1
    end

    -- utilization: bytes asked for / bytes of the pool's pages;
    -- free_ratio: share of the small-block pages' bytes that is free but
    -- stranded (a page goes back only when all its blocks are free)
    local function view()
      local k = sys:pool_stats()[p.kind]
      local util = k.pages > 0 and k.requested / (k.pages * page) or 0
      local free_ratio = k.small_pages > 0 and k.free_bytes / (k.small_pages * page) or 0
      return k, util, free_ratio
    end
    local function sample(step)
      local k, util, free_ratio = view()
      rec:series("pool_pages", step, k.pages)
      rec:series("live_blocks", step, n)
      rec:series("bytes", step, k.bytes)
      rec:series("requested", step, k.requested)
      rec:series("free_bytes", step, k.free_bytes)
      rec:series("largest_free", step, k.largest_free)
      rec:series("fragmentation", step, k.fragmentation)
      rec:series("utilization", step, util)
      rec:series("free_ratio", step, free_ratio)
      rec:series("system_faults", step, sys:stats().system_faults)
    end

    local third = p.ops // 3
    local keep = math.floor(p.live * p.keep + 0.5)
    for step = 1, p.ops do
      if step <= third then
        if n < p.live then alloc() else free_one() end
      elseif step <= 2 * third then
        if rand(2) == 0 then alloc() else free_one() end
      else
        if n > keep then free_one() end
      end
      if n > 0 and p.touch > 0 and rand(1000000) < p.touch * 1000000 then
        must(sys:pool_touch(blocks[rand(n) + 1]))
      end
      if step % p.every == 0 or step == p.ops then sample(step) end
    end

    local k, util, free_ratio = view()
    rec:metric("pool_pages", k.pages)
    rec:metric("peak_pages", k.peak_pages)
    rec:metric("live_blocks", n)
    rec:metric("bytes", k.bytes)
    rec:metric("requested", k.requested)
    rec:metric("free_bytes", k.free_bytes)
    rec:metric("largest_free", k.largest_free)
    rec:metric("fragmentation", k.fragmentation)
    rec:metric("utilization", util)
    rec:metric("free_ratio", free_ratio)
    rec:metric("allocs", k.allocs)
    rec:metric("frees", k.frees)
    rec:metric("failures", failures)
    rec:metric("pages_per_block", n > 0 and k.pages / n or 0)
    rec:metric("commit_charge", sys:stats().commit_charge)
    rec:metric("system_faults", sys:stats().system_faults)
    rec:snapshot("end", "poolused", sys:poolused())
  end,
}
