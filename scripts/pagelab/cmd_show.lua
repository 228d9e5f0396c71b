-- pagelab show F.db --run ID vmmap|rammap|poolused — a snapshot a run
-- recorded with rec:snapshot(sys, label), in the columns Sysinternals
-- users know:
--   vmmap     VMMap's summary: Type, Size, Committed, Private, Total WS,
--             Private WS, Shareable WS, Shared WS, Blocks (K = KiB)
--   rammap    RAMMap's Use Counts: Usage, Total, Active, Standby,
--             Modified, Modified no-write, Transition, Zeroed, Free, Bad
--   poolused  !poolused: Tag, Type, Allocs, Frees, Diff, Bytes, Per Alloc
-- Rows are stored as JSON objects (docs/results.md); a column is read from
-- the first of its candidate fields a row has.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local format = require "pagelab.format"

local M = {
  usage = "pagelab show FILE.db --run ID vmmap|rammap|poolused [--label L] [--pid P]",
  summary = "print a run's vmmap, rammap or poolused snapshot, Sysinternals style",
  details = [[
  --run ID     the run: its run_id, or its run_key
  --label L    only the snapshot with this label (default: every snapshot)
  --pid P      vmmap: only this process
Snapshots are recorded by rec:snapshot(sys, label) in the experiment.
]],
}

local spec = { run = { value = true }, label = { value = true }, pid = { value = true } }

-- Column: header, candidate fields, and how to show a value.
local VIEWS = {
  vmmap = {
    name_field = { "type", "name" },
    order = { "image", "mapped_file", "shareable", "heap", "stack", "private", "page_table",
              "unusable", "free" },
    names = { image = "Image", mapped_file = "Mapped File", shareable = "Shareable",
              heap = "Heap", stack = "Stack", private = "Private Data",
              page_table = "Page Table", unusable = "Unusable", free = "Free" },
    total_first = true, total_skips = { free = true },
    columns = {
      { "Size", { "size" }, "K" },
      { "Committed", { "committed" }, "K" },
      { "Private", { "private", "private_bytes" }, "private" },
      { "Total WS", { "ws", "total_ws", "ws_total" }, "K" },
      { "Private WS", { "ws_private", "private_ws" }, "K" },
      { "Shareable WS", { "ws_shareable", "shareable_ws" }, "K" },
      { "Shared WS", { "ws_shared", "shared_ws" }, "K" },
      { "Blocks", { "blocks" } },
    },
    header = "Type",
  },
  rammap = {
    name_field = { "use", "usage", "name" },
    order = { "process_private", "mapped_file", "shareable", "page_table", "paged_pool",
              "nonpaged_pool", "large_page", "unused" },
    names = { process_private = "Process Private", mapped_file = "Mapped File",
              shareable = "Shareable", page_table = "Page Table", paged_pool = "Paged Pool",
              nonpaged_pool = "Nonpaged Pool", large_page = "Large Page", unused = "Unused" },
    -- page_table holds counted pages, not frames (core/views.h): not in the total
    total_first = false, total_skips = { page_table = true },
    columns = {
      { "Total", { "total" }, "pages" },
      { "Active", { "active" }, "pages" },
      { "Standby", { "standby" }, "pages" },
      { "Modified", { "modified" }, "pages" },
      { "Modified no-write", { "modified_nowrite", "modified_no_write" }, "pages" },
      { "Transition", { "transition" }, "pages" },
      { "Zeroed", { "zeroed" }, "pages" },
      { "Free", { "free" }, "pages" },
      { "Bad", { "bad" }, "pages" },
    },
    header = "Usage",
  },
  poolused = {
    name_field = { "tag" },
    columns = {
      { "Type", { "pool", "type", "kind" }, "pool" },
      { "Allocs", { "allocs" } },
      { "Frees", { "frees" } },
      { "Diff", { "diff" }, "diff" },
      { "Bytes", { "bytes" } },
      { "Per Alloc", { "per_alloc" }, "per_alloc" },
    },
    header = "Tag",
  },
}

local POOL_TYPES = { nonpaged = "Nonp", paged = "Paged" }

local function field(row, names)
  for _, n in ipairs(names) do
    local v = row[n]
    if v == nil then v = row["list." .. n] end
    if v ~= nil then return v end
  end
end

-- The value shown in column c of row; page: bytes per page or nil.
local function cell(row, c, page)
  local v = field(row, c[2])
  local how = c[3]
  if how == "diff" and v == nil then
    local a, f = row.allocs, row.frees
    v = a and f and a - f
  elseif how == "per_alloc" and v == nil then
    local diff = row.diff or (row.allocs and row.frees and row.allocs - row.frees)
    v = row.bytes and diff and (diff > 0 and row.bytes // diff or 0)
  elseif how == "private" then
    -- VMMap's private bytes: the core reports them only implicitly, as
    -- what is committed in private memory (and page tables); blank for
    -- the section types, whose private part is their copy-on-write copies
    if v == nil and (row.type == "private" or row.type == "page_table") then v = row.committed end
    v = type(v) == "number" and v // 1024 or v
  elseif how == "pool" and type(v) == "string" then
    v = POOL_TYPES[v] or v
  elseif type(v) == "number" and how == "K" then
    v = v // 1024
  elseif type(v) == "number" and how == "pages" and page then
    v = v * page // 1024
  end
  return v
end

-- The rows of one snapshot and view, grouped by process: { { pid=,
-- process=, rows = { {field = value} } } }.
local function read_rows(db, snapshot_id, view, pid)
  local groups, by_pid = {}, {}
  local data = db:query([[
    SELECT w.pid, w.process, w.row_no, j.key, j.value
      FROM snapshot_row w, json_each(w.row_json) j
     WHERE w.snapshot_id = ? AND w.view = ?
     ORDER BY w.pid, w.row_no, j.id]], snapshot_id, view)
  for _, d in ipairs(data) do
    local gkey = d.pid or 0
    if not pid or d.pid == pid then
      local g = by_pid[gkey]
      if not g then
        g = { pid = d.pid, process = d.process, rows = {}, by_no = {} }
        by_pid[gkey] = g
        groups[#groups + 1] = g
      end
      local r = g.by_no[d.row_no]
      if not r then
        r = {}
        g.by_no[d.row_no] = r
        g.rows[#g.rows + 1] = r
      end
      if d.key then r[d.key] = d.value end
    end
  end
  return groups
end

-- Orders rows as the Sysinternals tool does (known names first, in its
-- order; the others after, as stored).
local function ordered(v, rows)
  if not v.order then return rows end
  local rank = {}
  for i, n in ipairs(v.order) do rank[n] = i end
  local out = table.move(rows, 1, #rows, 1, {})
  local pos = {}
  for i, r in ipairs(out) do pos[r] = i end
  table.sort(out, function(a, b)
    local ra = rank[field(a, v.name_field)] or #v.order + pos[a]
    local rb = rank[field(b, v.name_field)] or #v.order + pos[b]
    return ra < rb
  end)
  return out
end

local function table_of(v, rows, page)
  local cols = { v.header }
  for _, c in ipairs(v.columns) do cols[#cols + 1] = c[1] end
  local out, total = {}, nil
  if v.total_skips then total = { [v.header] = "Total" } end
  for _, r in ipairs(ordered(v, rows)) do
    local name = field(r, v.name_field)
    if name ~= "total" then
      local line = { [v.header] = v.names and v.names[name] or tostring(name or "?") }
      for _, c in ipairs(v.columns) do
        local x = cell(r, c, page)
        line[c[1]] = x
        if total and type(x) == "number" and not v.total_skips[name] then
          total[c[1]] = (total[c[1]] or 0) + x
        end
      end
      out[#out + 1] = line
    end
  end
  if total then
    if v.total_first then table.insert(out, 1, total) else out[#out + 1] = total end
  end
  -- a field the row lacks is blank, not NULL (gsub keeps the widths)
  return (format.table(out, cols):gsub("NULL", "    "))
end

local function units(view, page)
  if view == "vmmap" then return "sizes in K (KiB), as VMMap shows them" end
  if view == "rammap" then
    return page and ("in K (KiB): frames x %d-byte pages, as RAMMap shows them"):format(page)
               or "in pages (the page size was not recorded)"
  end
  return "bytes"
end

-- The run_id of --run (an id or a run_key).
local function find_run(db, text, hint)
  local id = math.tointeger(tonumber(text))
  local row
  if id and not text:match("^%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$") then
    row = db:query("SELECT run_id, experiment, params_json FROM run WHERE run_id = ?", id)[1]
  else
    row = db:query("SELECT run_id, experiment, params_json FROM run WHERE run_key = ?", text)[1]
  end
  if not row then errors.usage(("no run '%s' in the database"):format(text), hint) end
  return row
end

function M.main(argv)
  local hint = "usage: " .. M.usage
  local opts, rest = args.parse(argv, spec, hint)
  if #rest ~= 2 then errors.usage("show needs a database file and a view (vmmap, rammap or poolused)", hint) end
  local path, view = rest[1], rest[2]
  local v = VIEWS[view]
  if not v then
    errors.usage(("unknown view '%s' (known: vmmap, rammap, poolused)"):format(view), hint)
  end
  if not opts.run then errors.usage("show needs --run ID (a run_id or run_key)", hint) end
  local pid = opts.pid and math.tointeger(tonumber(opts.pid))
  if opts.pid and not pid then errors.usage(("--pid expects an integer, got '%s'"):format(opts.pid), hint) end
  local f = io.open(path, "rb")
  if not f then errors.usage(("no such database '%s'"):format(path), hint) end
  f:close()
  local pagelab = require "pagelab"
  local db, err = pagelab.results.open(path, { readonly = true })
  if not db then errors.failure(err) end
  local version = db:query("SELECT value FROM meta WHERE key = 'schema_version'")[1]
  if tonumber(version and version.value or 0) < 2 then
    db:close()
    errors.failure(("'%s' has results schema version %s, whose snapshots show cannot read:"
                    .. " merge it into a new database (pagelab merge NEW.db %s) and show that")
                   :format(path, version and version.value or "?", path))
  end
  local run = find_run(db, opts.run, hint)
  local snaps = db:query("SELECT snapshot_id, label, step, page_size FROM snapshot"
                         .. " WHERE run_id = ? ORDER BY snapshot_id", run.run_id)
  local shown = 0
  for _, s in ipairs(snaps) do
    if not opts.label or s.label == opts.label then
      local groups = read_rows(db, s.snapshot_id, view, pid)
      for _, g in ipairs(groups) do
        local who = g.pid and (" of %s (pid %d)"):format(g.process and ('"' .. g.process .. '"')
                                                         or "process", g.pid) or ""
        io.stdout:write(("%s%s — run %d (%s), snapshot \"%s\"%s; %s\n"):format(
          view, who, run.run_id, run.experiment, s.label,
          s.step and (" at step %d"):format(s.step) or "", units(view, s.page_size)))
        io.stdout:write(table_of(v, g.rows, s.page_size), "\n")
        shown = shown + 1
      end
    end
  end
  db:close()
  if shown == 0 then
    local what = opts.label and ("no snapshot labelled '%s'"):format(opts.label)
                 or (#snaps == 0 and "no snapshots" or ("no %s rows in its snapshots"):format(view))
    errors.failure(("run %d has %s (an experiment records them with rec:snapshot(sys, label))")
                   :format(run.run_id, what))
  end
  return 0
end

return M
