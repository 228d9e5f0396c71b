-- sweep_policies.lua — which trimming policy wins, per page size and
-- working-set maximum? Made for `pagelab sweep` (docs/sweeps.md).
--
-- One process touches `size` bytes with a zipf (or phase-changing)
-- workload whose unit of popularity is a small item (`item` bytes), so
-- that bigger pages mix hot and cold items. Its working-set maximum is
-- given in bytes and is hard: at the maximum the process replaces within
-- its own working set, and the policy chooses the victim. RAM holds the
-- whole region, so every working-set miss is a soft fault (the page waits
-- on the standby list): the fault count measures the policy, not the disk.
--
--   pagelab sweep experiments/sweep_policies.lua -j 2 \
--     -p page_size=4KiB..16KiB*2 -p ws_max=256KiB..2MiB*2 \
--     -p policy=aging,fifo,clock,lru,random,wsclock

local pagelab = require "pagelab"

local function must(value, status, why)
  if value == nil then error(why or status or "failed", 2) end
  return value
end

local bytes = pagelab.size   -- "4KiB" -> 4096

local function workload(p, base)
  local common = { base = base, size = p.size, page_size = bytes(p.item),
                   writes = p.writes, seed = p.seed }
  if p.workload == "zipf" then
    common.alpha = p.alpha
    return pagelab.workload.zipf(common)
  end
  -- locality sets half as big again as ws_max, changing every refs / 20
  -- references: no working set holds a whole set, so the victim matters
  common.phase_pages = math.max(1, bytes(p.ws_max) * 3 // 2 // bytes(p.item))
  common.phase_len = math.max(1, p.refs // 20)
  return pagelab.workload.phases(common)
end

return {
  name = "sweep_policies",
  description = "Working-set misses per policy, page size and working-set maximum",
  params = {
    page_size = { "4KiB", "small page size",
                  choices = { "512", "1KiB", "2KiB", "4KiB", "8KiB", "16KiB", "32KiB", "64KiB" } },
    ws_max = { "1MiB", "working-set maximum in bytes (a hard limit; pages = ws_max / page_size)" },
    policy = { "aging", "trimming policy: chooses the victim at the maximum",
               choices = { "aging", "fifo", "clock", "lru", "random", "wsclock" } },
    workload = { "zipf", "reference pattern", choices = { "zipf", "phases" } },
    item = { "512", "bytes per workload item (the unit of popularity)" },
    alpha = { 0.9, "zipf exponent of the item popularity" },
    writes = { 0.2, "fraction of references that write" },
    size = { "8MiB", "size of the region the workload touches" },
    refs = { 2000000, "references to simulate" },
    ram = { "32MiB", "physical memory (holds the whole region)" },
  },
  run = function(p, rec)
    local page = bytes(p.page_size)
    local ws_pages = math.max(1, bytes(p.ws_max) // page)
    local sys <close> = must(pagelab.system{ ram = p.ram, page_size = page, policy = p.policy,
                                             seed = p.seed })
    local proc = must(sys:process{ name = "app", ws_max = ws_pages,
                                   ws_min = math.min(ws_pages, 8), hard_max = true })
    local base = must(proc:alloc(nil, p.size, "reserve|commit", "readwrite"))
    rec:sample(sys, math.max(1, p.refs // 20))
    local st = must(proc:run(workload(p, base), p.refs))
    rec:metric("page_bytes", page)
    rec:metric("ws_max_pages", ws_pages)
    rec:metric("faults", st.faults)
    rec:metric("soft_faults", st.soft_faults)
    rec:metric("hard_faults", st.hard_faults)
    rec:metric("demand_zero", st.demand_zero)
    rec:metric("hit_ratio", st.hits / math.max(1, st.refs))
    rec:metric("faults_per_1k", 1000 * st.faults / math.max(1, st.refs))
    rec:metric("ws_peak_pages", proc:stats().ws_peak)
    rec:snapshot(sys, "end")
  end,
}
