-- pagelab query F.db "SQL" [--csv | --json] — runs SQL on a results
-- database (read-only) and prints the rows.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local format = require "pagelab.format"

local M = {
  usage = 'pagelab query FILE.db "SQL" [--csv | --json]',
  summary = "run SQL on a results database: aligned table, CSV or JSON",
  details = [[
  --csv    comma-separated values with a header line (RFC 4180)
  --json   a JSON array of objects, one per row, keys in column order
Views: run_summary, run_metrics, param_metric (docs/results.md).
]],
}

local spec = { csv = {}, json = {} }

function M.main(argv)
  local hint = "usage: " .. M.usage
  local opts, rest = args.parse(argv, spec, hint)
  if #rest ~= 2 then errors.usage("query needs a database file and one SQL text", hint) end
  if opts.csv and opts.json then errors.usage("choose one of --csv and --json", hint) end
  local path, sql = rest[1], rest[2]
  local f = io.open(path, "rb")
  if not f then errors.usage(("no such database '%s'"):format(path), hint) end
  f:close()
  local pagelab = require "pagelab"
  local db, err = pagelab.results.open(path, { readonly = true })
  if not db then errors.failure(err) end
  local ok, rows, cols = pcall(db.query, db, sql)
  db:close()
  if not ok then errors.failure(tostring(rows)) end
  local emit = opts.csv and format.csv or opts.json and format.json or format.table
  if #cols == 0 then return 0 end
  io.stdout:write(emit(rows, cols))
  return 0
end

return M
