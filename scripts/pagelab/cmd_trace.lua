-- pagelab trace info FILE [--format F] [--block-size N]
-- pagelab trace convert IN OUT [--format F] [--block-size N] [--limit N]
-- Inspect a reference trace, or convert it to pagelab's binary format.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local format = require "pagelab.format"

local M = {
  usage = "pagelab trace info FILE | trace convert IN OUT  [--format F] [--block-size N] [--limit N]",
  summary = "describe a reference trace, or convert it to the binary format",
  details = [[
  info FILE        format, reference counts, distinct pages per page size,
                   address range
  convert IN OUT   write IN as pagelab's binary trace (OUT.gz: compressed)
  --format F       text, lackey, blocks, blocks32be, spec or binary
                   (default: detected from the content)
  --block-size N   bytes per block for the blocks formats (default 4096)
  --limit N        convert: stop after N references
]],
}

local spec = { format = { value = true }, ["block-size"] = { value = true },
               limit = { value = true } }

local function integer_opt(opts, name, hint)
  local v = opts[name]
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < 0 then
    errors.usage(("--%s expects a non-negative integer, got '%s'"):format(name, v), hint)
  end
  return n
end

local function trace_api(name)
  local pagelab = require "pagelab"
  local f = type(pagelab.trace) == "table" and pagelab.trace[name]
  if not f then errors.failure("this pagelab has no pagelab.trace." .. name) end
  return f
end

local function must_exist(path, hint)
  local f = io.open(path, "rb")
  if not f then errors.usage(("no such trace '%s'"):format(path), hint) end
  f:close()
end

local function open_opts(opts, hint)
  return { format = opts.format, block_size = integer_opt(opts, "block-size", hint) }
end

local function human(bytes)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while bytes >= 1024 and bytes % 1024 == 0 and i < #units do
    bytes, i = bytes // 1024, i + 1
  end
  return ("%d %s"):format(bytes, units[i])
end

local function info(path, opts, hint)
  must_exist(path, hint)
  local info_of = trace_api("info")
  local ok, trace, err = pcall(trace_api("open"), path, open_opts(opts, hint))
  if not ok then errors.usage(tostring(trace), hint) end      -- a bad option
  if not trace then errors.failure(tostring(err)) end
  local fmt = trace:format()
  local t
  ok, t, err = pcall(info_of, trace)
  trace:close()
  if not ok then errors.failure(tostring(t)) end
  if not t then errors.failure(tostring(err)) end
  t.format = fmt
  local rows = {
    { field = "file", value = path },
    { field = "format", value = t.format },
    { field = "references", value = t.refs },
    { field = "reads", value = t.reads },
    { field = "writes", value = t.writes },
    { field = "executes", value = t.execs },
    { field = "lowest address", value = t.min_addr and ("0x%x"):format(t.min_addr) },
    { field = "highest address", value = t.max_addr and ("0x%x"):format(t.max_addr) },
    { field = "distinct 64 B lines", value = t.lines_64 },
  }
  local pages = {}
  for size, n in pairs(t.distinct_pages or {}) do
    pages[#pages + 1] = { size = tonumber(size), n = n }
  end
  table.sort(pages, function(a, b) return a.size < b.size end)
  for _, pg in ipairs(pages) do
    rows[#rows + 1] = { field = "distinct " .. human(pg.size) .. " pages", value = pg.n }
  end
  io.stdout:write(format.table(rows, { "field", "value" }))
  return 0
end

local function convert(inpath, outpath, opts, hint)
  must_exist(inpath, hint)
  local o = open_opts(opts, hint)
  o.limit = integer_opt(opts, "limit", hint)
  local ok, n, err = pcall(trace_api("convert"), inpath, outpath, o)
  if not ok then errors.usage(tostring(n), hint) end          -- a bad option
  if not n then errors.failure(tostring(err)) end
  io.stdout:write(("%s: %d references written to %s\n"):format(inpath, n, outpath))
  return 0
end

function M.main(argv)
  local hint = "usage: " .. M.usage
  local opts, rest = args.parse(argv, spec, hint)
  local sub = rest[1]
  if sub == "info" and #rest == 2 then
    return info(rest[2], opts, hint)
  elseif sub == "convert" and #rest == 3 then
    return convert(rest[2], rest[3], opts, hint)
  elseif sub == "info" or sub == "convert" then
    errors.usage(("wrong number of arguments for 'trace %s'"):format(sub), hint)
  end
  errors.usage(sub and ("unknown trace command '%s'"):format(sub) or "trace needs a command: info or convert", hint)
end

return M
