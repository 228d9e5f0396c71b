-- ws_limits.lua — hard and soft faults vs the working-set maximum.
--
-- One process touches a region larger than physical memory with a zipf
-- workload, under a working-set maximum of ws_max pages (hard by default:
-- at the maximum the process replaces within its own working set). Pages
-- that leave the working set go to the standby or modified list, so a
-- small ws_max mostly turns into soft faults; hard faults need the page to
-- have been repurposed, which depends on RAM more than on ws_max.
--
-- One run is one ws_max. For a quick look without a sweep, -p
-- ws_max_list=128,256,512 also simulates each listed value (fresh system
-- each time) and records series hard_faults_by_ws_max and
-- soft_faults_by_ws_max (step = ws_max).

local pagelab = require "pagelab"

-- pagelab calls return nil, "STATUS_…", sentence on a Windows failure.
local function must(value, status, why)
  if value == nil then error(why or status or "failed", 2) end
  return value
end

local function parse_list(text)
  local list = {}
  for item in text:gmatch("[^,%s]+") do
    list[#list + 1] = math.tointeger(tonumber(item))
                      or error(("ws_max_list: '%s' is not an integer"):format(item), 0)
  end
  return list
end

-- Simulates one working-set maximum; samples into rec when given.
local function simulate(p, ws_max, rec)
  local sys <close> = must(pagelab.system{ ram = p.ram, pagefile = p.pagefile,
                                           policy = p.policy, seed = p.seed })
  local proc = must(sys:process{ name = "app", ws_max = ws_max,
                                 ws_min = math.min(50, ws_max), hard_max = p.hard_max })
  local base = must(proc:alloc(nil, p.size, "reserve|commit", "readwrite"))
  if rec then rec:sample(sys, math.max(1, p.refs // 50)) end
  local work = pagelab.workload.zipf{ base = base, size = p.size, alpha = p.alpha,
                                      writes = p.writes, seed = p.seed }
  local st = must(proc:run(work, p.refs))
  return st, proc:stats(), sys:stats()
end

return {
  name = "ws_limits",
  description = "Hard and soft faults vs working-set maximum for a zipf workload",
  params = {
    ws_max = { 512, "working-set maximum in pages" },
    hard_max = { true, "make ws_max a hard limit (replace within the working set)" },
    alpha = { 0.9, "zipf exponent of the page popularity" },
    writes = { 0.2, "fraction of references that write" },
    size = { "32MiB", "size of the region the workload touches" },
    refs = { 1000000, "references to simulate" },
    ram = { "16MiB", "physical memory" },
    pagefile = { "256MiB", "page file size" },
    policy = { "aging", "working-set trimming policy" },
    ws_max_list = { "", "also simulate these ws_max values (comma-separated) into series" },
  },
  run = function(p, rec)
    local st, ps, ss = simulate(p, p.ws_max, rec)
    rec:metric("refs", st.refs)
    rec:metric("faults", st.faults)
    rec:metric("hard_faults", st.hard_faults)
    rec:metric("soft_faults", st.soft_faults)
    rec:metric("demand_zero", st.demand_zero)
    rec:metric("hit_ratio", st.hits / math.max(1, st.refs))
    rec:metric("hard_faults_per_1k", 1000 * st.hard_faults / math.max(1, st.refs))
    rec:metric("ws_peak", ps.ws_peak)
    rec:metric("replaced", ps.replaced)
    rec:metric("trimmed", ps.trimmed)
    rec:metric("pagefile_reads", ss.pagefile_reads)
    rec:metric("pagefile_writes", ss.pagefile_writes)
    rec:metric("repurposed", ss.repurposed)
    rec:metric("wsm_runs", ss.wsm_runs)
    for _, ws in ipairs(parse_list(p.ws_max_list)) do
      local s = simulate(p, ws)
      rec:series("hard_faults_by_ws_max", ws, s.hard_faults)
      rec:series("soft_faults_by_ws_max", ws, s.soft_faults)
    end
  end,
}
