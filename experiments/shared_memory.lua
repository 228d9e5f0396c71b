-- shared_memory.lua — what sharing a section saves: N processes working on
-- the same data, once through views of one page-file-backed section
-- ("shared" mode) and once each with a private copy ("private" mode).
--
-- Each mode gets a fresh machine. The data is loaded first (`load`): in
-- shared mode the first process writes every page of the section once
-- (demand-zero faults) and the others find the pages resident through the
-- prototype PTEs (soft faults, no new frames); in private mode every
-- process writes its own copy (N times the demand-zero faults and the
-- frames). Then every process runs a zipf workload over its data in
-- round-robin slices. With cow = true the shared views are copy-on-write
-- (FILE_MAP_COPY): a write makes a private copy of the page, as a
-- process's writable image data would.
--
-- Metrics, for m = shared and private:
--   m.frames_active      frames in use at the end (RAMMap's active)
--   m.frames_private     frames of process-private pages (COW copies too)
--   m.frames_shareable   frames of section pages
--   m.commit_charge      pages charged (a section charges its pages once;
--                        a write-copy view charges all of its pages)
--   m.demand_zero, m.soft, m.hard, m.cow, m.faults   summed over processes
--   m.ws_pages           working-set pages summed over processes
--   m.ws_shared_p1       pages of p1's working set that others map too
-- and frames_saved = private.frames_active - shared.frames_active.
-- Series m.active (step: references so far); snapshots "rammap" of each
-- machine and "vmmap" of its p1, labelled with the mode.

local pagelab = require "pagelab"

local function must(value, ...)
  if value == nil then
    local status, why = ...
    error(why or status or "failed", 2)
  end
  return value, ...
end

local FAULTS = { "demand_zero", "soft", "hard", "cow", "faults" }

-- Touches every page of [base, base+size) with a write: loading the data.
local function load(proc, base, size, page)
  for off = 0, size - 1, page do must(proc:access(base + off, "w")) end
end

-- One mode on a fresh machine; records its metrics under prefix m.
local function simulate(p, m, rec)
  local sys <close> = must(pagelab.system{ ram = p.ram, policy = p.policy, seed = p.seed })
  local page = sys.page_size
  local section
  if m == "shared" then
    section = must(sys:section{ size = p.size, protect = "readwrite", name = "data" })
  end
  local procs = {}
  for i = 1, p.processes do
    local proc = must(sys:process{ name = "p" .. i })
    local base, size
    if section then
      base, size = must(proc:map(section, { protect = p.cow and "writecopy" or "readwrite" }))
    else
      base, size = must(proc:alloc(nil, p.size, "reserve|commit", "readwrite"))
    end
    procs[i] = { proc = proc, base = base, size = size, done = 0,
                 work = pagelab.workload.zipf{ base = base, size = size, alpha = p.alpha,
                                               writes = p.writes,
                                               seed = p.seed * 1000 + i } }
  end
  if p.load then
    -- a shared section is loaded once, through p1's view (read-write even
    -- when the others copy on write); private copies each once
    if section and p.cow then
      local loader = must(sys:process{ name = "loader" })
      local v, n = must(loader:map(section, { protect = "readwrite" }))
      load(loader, v, n, page)
      must(loader:terminate())
    else
      for i, pr in ipairs(procs) do
        if not section or i == 1 then load(pr.proc, pr.base, pr.size, page) end
      end
    end
  end
  local total = 0
  local running = true
  while running do
    running = false
    for _, pr in ipairs(procs) do
      local n = math.min(p.slice, p.refs - pr.done)
      if n > 0 then
        must(pr.proc:run(pr.work, n))
        pr.done = pr.done + n
        total = total + n
        running = running or pr.done < p.refs
      end
    end
    rec:series(m .. ".active", total, sys:stats().active)
  end
  local sums = {}
  for _, k in ipairs(FAULTS) do sums[k] = 0 end
  local ws = 0
  for _, pr in ipairs(procs) do
    local st = pr.proc:stats()
    for _, k in ipairs(FAULTS) do sums[k] = sums[k] + st[k] end
    ws = ws + st.ws_size
  end
  for _, k in ipairs(FAULTS) do rec:metric(m .. "." .. k, sums[k]) end
  local ss, rm, vm = sys:stats(), sys:rammap(), procs[1].proc:vmmap()
  rec:metric(m .. ".frames_active", ss.active)
  rec:metric(m .. ".frames_private", rm.process_private.total)
  rec:metric(m .. ".frames_shareable", rm.shareable.total)
  rec:metric(m .. ".commit_charge", ss.commit_charge)
  rec:metric(m .. ".ws_pages", ws)
  rec:metric(m .. ".ws_shared_p1", vm.total.ws_shared // page)
  rec:snapshot(m, "rammap", rm)
  rec:snapshot(m, "vmmap", vm)
  return ss.active
end

return {
  name = "shared_memory",
  description = "Physical memory and faults: N processes sharing a section vs private copies",
  params = {
    processes = { 4, "processes working on the data" },
    size = { "4MiB", "the data: the section, or each private copy" },
    refs = { 50000, "references per process after loading" },
    slice = { 5000, "references a process runs before the next one's turn" },
    alpha = { 0.8, "zipf exponent of each process's references" },
    writes = { 0.1, "fraction of references that write" },
    load = { true, "fill the data first (once shared, once per private copy)" },
    cow = { false, "shared mode maps copy-on-write views (writes make private copies)" },
    ram = { "64MiB", "physical memory (enough for every private copy by default)" },
    policy = { "aging", "working-set trimming policy" },
  },
  run = function(p, rec)
    if p.processes < 1 then error("processes must be at least 1", 0) end
    if p.slice < 1 then error("slice must be at least 1", 0) end
    local shared = simulate(p, "shared", rec)
    local private = simulate(p, "private", rec)
    rec:metric("frames_saved", private - shared)
  end,
}
