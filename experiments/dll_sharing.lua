-- dll_sharing.lua — what sharing image pages saves when N processes run
-- the same program (WINDOWS.md A.12.6, docs/loader.md).
--
-- `processes` copies of `program` are created with sys:exec, each loading
-- its DLLs along `search_path` (plus any `libraries` loaded afterwards, as
-- LoadLibrary would). Each process then "runs": it touches every page of
-- every module once — executing code pages, reading the others and, with
-- write_data, writing its writable data pages (copy-on-write). No thread
-- runs; touching each page is what a run would do to memory.
--
-- Per module, from the page tables (q:modules()):
--   shared_frames   frames of the image section in memory: one per page,
--                   however many processes map it
--   private_frames  private copies over all processes: IAT pages the loader
--                   bound, pages relocation fixed up, written data
--   frames          shared_frames + private_frames: what the machine uses
--   frames_unshared what it would use if every process had its own copy of
--                   every page it touched (no sharing)
-- "total.*" sums the modules; "saved_fraction" = 1 - frames/frames_unshared.
-- Series "frames" and "frames_unshared" (step = processes running) show
-- the first growing by the private pages only, the second by whole images.

local pagelab = require "pagelab"

local function must(value, status, why)
  if value == nil then error(why or status or "failed", 2) end
  return value
end

local function split(text, sep)
  local out = {}
  for item in tostring(text):gmatch("[^" .. sep .. "]+") do out[#out + 1] = item end
  return out
end

local EXECUTE = { execute = true, execute_read = true, execute_readwrite = true,
                  execute_writecopy = true }
local WRITABLE = { readwrite = true, writecopy = true }

-- Touches every page of every module of q once.
local function run(q, page, write_data)
  for _, m in ipairs(q:modules()) do
    for a = m.base, m.base + m.size - 1, page do
      local prot = q:query(a).protect
      if EXECUTE[prot] then q:access(a, "x")
      elseif write_data and WRITABLE[prot] then q:access(a, "w")
      else q:access(a, "r") end
    end
  end
end

-- Sums per module name over the processes: { name = { shared_frames=,
-- private_frames=, touched= } } and the module names in load order.
local function account(procs)
  local per, order = {}, {}
  for _, q in ipairs(procs) do
    for _, m in ipairs(q:modules()) do
      local a = per[m.name]
      if not a then
        a = { shared_frames = m.section_frames, private_frames = 0, touched = 0 }
        per[m.name] = a
        order[#order + 1] = m.name
      end
      a.private_frames = a.private_frames + m.private_pages
      a.touched = a.touched + m.shared_pages + m.private_pages
    end
  end
  return per, order
end

return {
  name = "dll_sharing",
  description = "Physical pages of N processes running one program: shared image pages vs private copies",
  params = {
    program = { "tests/data/pe/app.exe", "the executable (a PE file on the host)" },
    search_path = { "tests/data/pe", "folders searched for DLLs, ':'-separated" },
    libraries = { "", "DLLs each process loads after start (LoadLibrary), ','-separated" },
    processes = { 8, "processes running the program" },
    write_data = { true, "each process writes its writable data pages" },
    ram = { "64MiB", "physical memory" },
  },
  run = function(p, rec)
    if p.processes < 1 then error("processes must be at least 1", 0) end
    local sys <close> = must(pagelab.system{ ram = p.ram, seed = p.seed })
    local page = sys:config().page_size
    local search = split(p.search_path, ":")
    rec:sample(sys, 64)
    local procs = {}
    for k = 1, p.processes do
      local q = must(sys:exec(p.program, { search_path = search, name = "run" .. k }))
      for _, lib in ipairs(split(p.libraries, ",")) do must(q:load_library(lib)) end
      run(q, page, p.write_data)
      procs[k] = q
      local per, order = account(procs)
      local frames, unshared = 0, 0
      for _, name in ipairs(order) do
        frames = frames + per[name].shared_frames + per[name].private_frames
        unshared = unshared + per[name].touched
      end
      rec:series("frames", k, frames)
      rec:series("frames_unshared", k, unshared)
    end
    local per, order = account(procs)
    local total = { shared_frames = 0, private_frames = 0, frames = 0, frames_unshared = 0 }
    for _, name in ipairs(order) do
      local a = per[name]
      local row = { shared_frames = a.shared_frames, private_frames = a.private_frames,
                    frames = a.shared_frames + a.private_frames, frames_unshared = a.touched }
      for key, v in pairs(row) do
        rec:metric(name .. "." .. key, v)
        total[key] = total[key] + v
      end
    end
    for key, v in pairs(total) do rec:metric("total." .. key, v) end
    rec:metric("modules", #order)
    rec:metric("saved_fraction",
               total.frames_unshared > 0 and 1 - total.frames / total.frames_unshared or 0)
    rec:metric("sys.active", sys:stats().active)
  end,
}
