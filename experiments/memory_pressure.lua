-- memory_pressure.lua — several processes compete for physical memory.
--
-- `processes` processes, each with its own zipf workload over its own
-- region, run in round-robin slices of `slice` references (simulated time
-- is shared). Together they want more memory than the machine has, so the
-- working-set manager, waking once per simulated second, trims their
-- working sets; trimmed pages wait on the standby and modified lists and
-- come back as soft faults unless they were repurposed (hard faults).
-- Process i gets alpha + (i-1) * alpha_step, so their appetites differ.
-- Metrics: "<name>.<counter>" per process ("p1.hard_faults") and
-- "sys.<counter>" for the machine; series from rec:sample.

local pagelab = require "pagelab"

local function must(value, status, why)
  if value == nil then error(why or status or "failed", 2) end
  return value
end

local function start(p, sys, i)
  local proc = must(sys:process{ name = "p" .. i, ws_min = p.ws_min, ws_max = p.ws_max })
  local base = must(proc:alloc(nil, p.size, "reserve|commit", "readwrite"))
  local work = pagelab.workload.zipf{ base = base, size = p.size, writes = p.writes,
                                      alpha = p.alpha + (i - 1) * p.alpha_step,
                                      seed = p.seed * 1000 + i }
  return { name = "p" .. i, proc = proc, work = work, done = 0 }
end

local PROCESS_METRICS = { "faults", "hard", "soft", "demand_zero", "ws_peak",
                          "ws_size", "trimmed", "pagefile_reads" }
local SYSTEM_METRICS = { "hard", "soft", "repurposed", "trimmed", "wsm_runs",
                         "pagefile_reads", "pagefile_writes", "available", "standby",
                         "modified" }

return {
  name = "memory_pressure",
  description = "Processes competing for memory: working-set trimming and faults per process",
  params = {
    processes = { 4, "number of competing processes" },
    size = { "8MiB", "region each process touches" },
    ram = { "16MiB", "physical memory shared by all" },
    refs = { 200000, "references per process" },
    slice = { 5000, "references a process runs before the next one's turn" },
    alpha = { 0.7, "zipf exponent of process p1" },
    alpha_step = { 0.2, "added to alpha for each next process" },
    writes = { 0.3, "fraction of references that write" },
    ws_min = { 50, "working-set minimum, pages" },
    ws_max = { 345, "working-set maximum, pages (a soft limit)" },
    policy = { "aging", "working-set trimming policy" },
  },
  run = function(p, rec)
    if p.processes < 1 then error("processes must be at least 1", 0) end
    if p.slice < 1 then error("slice must be at least 1", 0) end
    local sys <close> = must(pagelab.system{ ram = p.ram, policy = p.policy, seed = p.seed })
    local procs = {}
    for i = 1, p.processes do procs[i] = start(p, sys, i) end
    rec:sample(sys, math.max(1, p.refs * p.processes // 100))
    local min_available = sys:stats().available
    local running = true
    while running do
      running = false
      for _, pr in ipairs(procs) do
        local n = math.min(p.slice, p.refs - pr.done)
        if n > 0 then
          must(pr.proc:run(pr.work, n))
          pr.done = pr.done + n
          running = running or pr.done < p.refs
          min_available = math.min(min_available, sys:stats().available)
        end
      end
    end
    for _, pr in ipairs(procs) do
      local ps = pr.proc:stats()
      for _, k in ipairs(PROCESS_METRICS) do rec:metric(pr.name .. "." .. k, ps[k]) end
    end
    local ss = sys:stats()
    for _, k in ipairs(SYSTEM_METRICS) do rec:metric("sys." .. k, ss[k]) end
    rec:metric("sys.available_min", min_available)
    rec:metric("hard_faults", ss.hard)
    rec:metric("soft_faults", ss.soft)
  end,
}
