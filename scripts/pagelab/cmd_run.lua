-- pagelab run EXP.lua [-p k=v]... [--db F] [--seed N] — one run of an
-- experiment at one parameter point, recorded in a results database.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local experiment = require "pagelab.experiment"
local format = require "pagelab.format"

local M = {
  usage = "pagelab run EXP.lua [-p name=value]... [--db FILE] [--seed N] [--quiet]",
  summary = "run an experiment once and record it (default db results/NAME.db)",
  details = [[
  -p name=value   set a declared parameter (see 'pagelab help EXP.lua')
  --db FILE       results database (created if missing; default results/NAME.db)
  --seed N        seed for the run, given to it as p.seed (default 1)
  -q, --quiet     print nothing when the run succeeds
]],
}

local spec = { p = { value = true, many = true }, db = { value = true },
               seed = { value = true }, q = {}, quiet = {} }

local function default_db(exp)
  return "results/" .. exp.name .. ".db"
end

local function print_summary(db, exp, run_id, dbpath)
  local run = db:query("SELECT status, seconds, run_key FROM run_summary WHERE run_id = ?", run_id)[1]
  local rows = db:query("SELECT key AS metric, value FROM metric WHERE run_id = ? ORDER BY key", run_id)
  io.stdout:write(("%s: run %d %s in %.2f s (key %s) -> %s\n"):format(
    exp.name, run_id, run.status, run.seconds or 0, run.run_key, dbpath))
  if #rows == 0 then
    io.stdout:write("  (no metrics recorded)\n")
    return
  end
  local text = format.table(rows, { "metric", "value" })
  for line in text:gmatch("[^\n]+") do io.stdout:write("  ", line, "\n") end
end

function M.main(argv)
  local hint = "usage: " .. M.usage
  local opts, rest = args.parse(argv, spec, hint)
  if #rest ~= 1 then
    errors.usage(#rest == 0 and "run needs an experiment file" or
                 ("run takes one experiment file, got %d arguments"):format(#rest), hint)
  end
  local exp = experiment.load(rest[1])
  hint = ("Try 'pagelab help %s'."):format(rest[1])
  local seed = experiment.DEFAULT_SEED
  if opts.seed then
    seed = math.tointeger(tonumber(opts.seed))
    if not seed then errors.usage(("--seed expects an integer, got '%s'"):format(opts.seed), hint) end
  end
  local params, p = experiment.resolve(exp, opts.p, seed, hint)

  local pagelab = require "pagelab"
  local dbpath = opts.db or default_db(exp)
  local db, err = pagelab.results.open(dbpath, { mkdir = true })
  if not db then errors.failure(err) end
  local ok, run_id, msg, trace = experiment.execute(exp, db, params, p)
  if not ok then
    if run_id then
      io.stderr:write("pagelab: run failed: ", trace or msg, "\n")
      io.stderr:write(("pagelab: recorded as run %d (status 'failed') in %s\n"):format(run_id, dbpath))
    else                      -- the database refused the run: say why
      io.stderr:write("pagelab: ", msg, "\n")
    end
    db:close()
    return 1
  end
  if not (opts.q or opts.quiet) then print_summary(db, exp, run_id, dbpath) end
  db:close()
  return 0
end

return M
