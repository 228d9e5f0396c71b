-- pagelab sweep EXP.lua -p k=a,b,c -p k=lo..hi[:step|*factor] ... — many
-- runs of an experiment, in parallel worker processes, into one database.
--
-- How -j N works (docs/sweeps.md): the sweep starts N worker processes at
-- once through one io.popen of a small sh script ("W & W & ... & wait"),
-- each one this same executable with the same arguments plus --worker
-- SPOOL. Every worker computes the same plan (it is deterministic) and
-- claims runs one at a time by renaming SPOOL/<index> to SPOOL/<index>.run:
-- rename is atomic, so exactly one worker gets each run, and a fast worker
-- simply claims more (dynamic balance, no coordinator). Workers record
-- their runs straight into the database (the recorder stages a run and
-- commits it in one short transaction, so N writers do not wait on each
-- other) and report on their fd 3, which the sh script points at the
-- shared pipe (their stdout goes to stderr, so an experiment's print
-- cannot garble the protocol):
--   S <index>                                   started
--   D <index> ok|failed|error <run_id> <seconds> <message>   finished
-- Lines are far below PIPE_BUF, so lines of different workers never mix.
-- The parent only reads that one pipe (blocking reads: no polling), draws
-- the progress and records as failed what a dying worker could not: a run
-- that raised outside the experiment ("error") or a run whose worker died.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local experiment = require "pagelab.experiment"
local format = require "pagelab.format"
local grid = require "pagelab.grid"
local host = require "pagelab.host"
local progress = require "pagelab.progress"

local M = {
  usage = "pagelab sweep EXP.lua [-p name=values]... [--repeat K] [-j N] [--db FILE] "
       .. "[--seed N] [--resume] [--retry-failed] [--shard I/N] [--dry-run]",
  summary = "run an experiment over a grid of parameters, in parallel",
  details = [[
  -p name=values   values of a parameter: a,b,c (a list), lo..hi (step 1),
                   lo..hi:step, lo..hi*factor (geometric), or a mix (a,lo..hi);
                   sizes work as ranges of string parameters (4KiB..64KiB*2).
                   Repeatable: the sweep is the Cartesian product.
  --repeat K       K repetitions of every point, each with its own seed
  -j N, --jobs N   N worker processes (default 1)
  --db FILE        results database (default results/NAME.db)
  --seed N         base seed (default 1): a run's seed is derived from it, the
                   point and the repetition (docs/sweeps.md has the formula)
  --resume         skip runs already in the database (ok or failed)
  --retry-failed   with --resume, run the failed ones again (implies --resume)
  --shard I/N      only runs whose index i has i mod N = I (0 <= I < N)
  --dry-run        print the plan (index, run_key, seed, values), run nothing
Exit status: 0 every run ok, 1 some run failed (or did not run), 2 usage.
]],
}

local spec = {
  p = { value = true, many = true }, ["repeat"] = { value = true }, j = { value = true },
  jobs = { value = true }, db = { value = true }, seed = { value = true },
  resume = {}, ["retry-failed"] = {}, shard = { value = true }, ["dry-run"] = {},
  worker = { value = true },           -- internal: run as a worker of SPOOL
}

local function positive(opts, name, display, default, hint)
  local v = opts[name]
  if v == nil then return default end
  local n = math.tointeger(tonumber(v))
  if not n or n < 1 then
    errors.usage(("%s expects a positive integer, got '%s'"):format(display, v), hint)
  end
  return n
end

-- Everything both the parent and a worker derive from the command line.
local function prepare(argv)
  local hint = "usage: " .. M.usage
  local opts, rest = args.parse(argv, spec, hint)
  if #rest ~= 1 then
    errors.usage(#rest == 0 and "sweep needs an experiment file" or
                 ("sweep takes one experiment file, got %d arguments"):format(#rest), hint)
  end
  local exp = experiment.load(rest[1])
  hint = ("Try 'pagelab help %s' and 'pagelab help sweep'."):format(rest[1])
  local seed = experiment.DEFAULT_SEED
  if opts.seed then
    seed = math.tointeger(tonumber(opts.seed))
    if not seed then errors.usage(("--seed expects an integer, got '%s'"):format(opts.seed), hint) end
  end
  if opts.j and opts.jobs then errors.usage("give -j or --jobs, not both", hint) end
  local s = {
    exp = exp, opts = opts, argv = argv, hint = hint, seed = seed,
    repeats = positive(opts, "repeat", "--repeat", 1, hint),
    jobs = opts.jobs and positive(opts, "jobs", "--jobs", 1, hint)
           or positive(opts, "j", "-j", 1, hint),
    dbpath = opts.db or "results/" .. exp.name .. ".db",
    retry = opts["retry-failed"] and true or false,
  }
  s.resume = opts.resume or s.retry
  s.axes = grid.axes(exp, opts.p, hint)
  s.plan = grid.plan(exp, s.axes, { seed = seed, repeats = s.repeats }, hint)
  s.shard_i, s.shard_n = 0, 1
  if opts.shard then s.shard_i, s.shard_n = grid.parse_shard(opts.shard, hint) end
  s.mine = grid.shard(s.plan, s.shard_i, s.shard_n)
  return s
end

local function open_db(path, readonly)
  local pagelab = require "pagelab"
  local db, err = pagelab.results.open(path, readonly and { readonly = true } or { mkdir = true })
  if not db then errors.failure(err) end
  return db
end

-- run_key → status of every run in the database (a damaged file is a
-- failure that names it, not a crash).
local function statuses(db, path)
  local ok, rows = pcall(db.query, db, "SELECT run_key, status FROM run")
  if not ok then
    db:close()
    errors.failure(("%s: %s"):format(path, tostring(rows):gsub("^results database: query: ", "")))
  end
  local t = {}
  for _, r in ipairs(rows) do t[r.run_key] = r.status end
  return t
end

local function one_line(msg, max)
  msg = tostring(msg or ""):gsub("%s*\n.*", ""):gsub("[%c]", " ")
  if #msg > max then msg = msg:sub(1, max - 3) .. "..." end
  return msg
end

-- ------------------------------------------------------------ the worker

-- Runs the entries of s.mine it can claim in spool; reports on fd 3.
local function worker(s, spool)
  local out = io.open("/dev/fd/3", "w") or io.stdout
  local function send(fmt, ...)
    out:write(fmt:format(...), "\n")
    out:flush()
  end
  local db = open_db(s.dbpath)
  for _, e in ipairs(s.mine) do
    local claim = spool .. "/" .. e.index
    if os.rename(claim, claim .. ".run") then
      send("S %d", e.index)
      local done, ok, run_id, msg = pcall(experiment.execute, s.exp, db, e.params,
                                          grid.arguments(e), e.repetition)
      if not done then           -- the recorder raised: nothing was recorded
        send("D %d error 0 0 %s", e.index, one_line(ok, 300))
      else
        local t = db:query("SELECT (julianday(finished_at) - julianday(started_at)) * 86400.0"
                           .. " AS s FROM run WHERE run_id = ?", run_id)[1]
        send("D %d %s %d %.3f %s", e.index, ok and "ok" or "failed", run_id,
             t and t.s or 0, one_line(msg, 300))
      end
      os.rename(claim .. ".run", claim .. ".done")
    end
  end
  db:close()
  return 0
end

-- ------------------------------------------------------------ the parent

-- Records entry e as failed with msg (the worker could not). When the
-- database refuses even that, says so: the run stays missing, and
-- --resume will run it.
local function record_failure(s, db, e, msg)
  local ok, err = pcall(function()
    local rec = db:begin_run{ experiment = s.exp.name, params = e.params, seed = e.seed,
                              repetition = e.repetition }
    rec:finish(false, msg)
  end)
  if not ok then
    io.stderr:write(("pagelab: run %d (%s) failed and could not be recorded: %s\n")
                    :format(e.index, grid.describe(e, s.axes, s.repeats), tostring(err)))
  end
end

-- The sh script that starts n workers on spool and waits for them.
local function worker_script(s, spool, n)
  local words = { host.executable(), "sweep" }
  for _, a in ipairs(s.argv) do words[#words + 1] = a end
  words[#words + 1] = "--worker"
  words[#words + 1] = spool
  local line = host.command(words) .. " 3>&1 1>&2 &"
  local script = {}
  for i = 1, n do script[i] = line end
  script[#script + 1] = "wait"
  return table.concat(script, "\n")
end

-- Reads the reports of one batch of workers until they have all exited;
-- returns how many runs they started.
local function read_reports(pipe, by_index, state, bar, finish, s, db)
  local started = 0
  for line in pipe:lines() do
    local kind, index, rest = line:match("^([SD]) (%d+) ?(.*)$")
    local e = by_index[math.tointeger(tonumber(index))]
    if kind == "S" and e then
      state[e.index] = "running"
      started = started + 1
      bar:started()
    elseif kind == "D" and e then
      local status, seconds, msg = rest:match("^(%a+) %d+ (%S+) ?(.*)$")
      if status == "error" then
        msg = "not recorded by its worker: " .. msg
        record_failure(s, db, e, msg)
      end
      finish(e, status, tonumber(seconds), msg)
    end
  end
  pipe:close()
  return started
end

-- Runs the entries todo with s.jobs workers; returns ok, failed, not_run.
-- A worker that dies (a crash in the simulator, os.exit in an experiment)
-- takes only its current run with it: that run is recorded as failed, and
-- when every worker of a batch has died with runs still unclaimed, a new
-- batch starts, as long as the last one got anything done.
local function run_all(s, db, todo, bar)
  local spool, err = host.mkdtemp("pagelab-sweep")
  if not spool then errors.failure(err) end
  local by_index, state = {}, {}
  for _, e in ipairs(todo) do
    by_index[e.index] = e
    local f = io.open(spool .. "/" .. e.index, "w")
    if not f then host.remove_tree(spool) errors.failure("cannot write in " .. spool) end
    f:close()
  end
  local ok_n, failed_n = 0, 0
  local function finish(e, status, seconds, msg)
    state[e.index] = "done"
    if status == "ok" then ok_n = ok_n + 1 else failed_n = failed_n + 1 end
    bar:finished(status == "ok", seconds, grid.describe(e, s.axes, s.repeats),
                 status ~= "ok" and msg or nil)
  end
  local unclaimed = #todo
  repeat
    local pipe = io.popen(worker_script(s, spool, math.min(s.jobs, unclaimed)), "r")
    local started = read_reports(pipe, by_index, state, bar, finish, s, db)
    unclaimed = 0
    for _, e in ipairs(todo) do
      if state[e.index] == "running" then
        local msg = "its worker process died while running it (see the messages above)"
        record_failure(s, db, e, msg)
        finish(e, "failed", 0, msg)
      elseif state[e.index] == nil then
        unclaimed = unclaimed + 1
      end
    end
  until unclaimed == 0 or started == 0
  host.remove_tree(spool)
  return ok_n, failed_n, unclaimed
end

-- ------------------------------------------------------------- dry run

local function dry_run(s)
  local known = {}
  local f = io.open(s.dbpath, "rb")
  if f then
    f:close()
    local db = open_db(s.dbpath, true)
    known = statuses(db, s.dbpath)
    db:close()
  end
  local cols = { "index", "run_key", "seed", "rep" }
  for _, a in ipairs(s.axes) do cols[#cols + 1] = a.key end
  cols[#cols + 1] = "in_db"
  cols[#cols + 1] = "action"
  local rows, todo = {}, 0
  for _, e in ipairs(s.mine) do
    local st = known[e.run_key]
    local skip = s.resume and (st == "ok" or (st == "failed" and not s.retry))
    if not skip then todo = todo + 1 end
    local row = { index = e.index, run_key = e.run_key, seed = e.seed, rep = e.repetition,
                  in_db = st or "-", action = skip and "skip" or "run" }
    for _, a in ipairs(s.axes) do row[a.key] = e.params[a.key] end
    rows[#rows + 1] = row
  end
  io.stdout:write(("%s: %d points x %d repetitions = %d runs, base seed %d"):format(
    s.exp.name, grid.count(s.axes), s.repeats, #s.plan, s.seed))
  if s.shard_n > 1 then
    io.stdout:write(("; shard %d/%d: %d runs"):format(s.shard_i, s.shard_n, #s.mine))
  end
  io.stdout:write(("\nwould run %d with %d worker%s into %s\n"):format(
    todo, s.jobs, s.jobs == 1 and "" or "s", s.dbpath))
  io.stdout:write(format.table(rows, cols))
  return 0
end

-- ------------------------------------------------------------------ main

-- Splits s.mine by what the database has: { todo =, skipped =,
-- old_failed = (skipped, failed before), replaced = (run again) }.
local function partition(s, known)
  local p = { todo = {}, skipped = 0, old_failed = 0, replaced = 0 }
  for _, e in ipairs(s.mine) do
    local st = known[e.run_key]
    if s.resume and (st == "ok" or (st == "failed" and not s.retry)) then
      p.skipped = p.skipped + 1
      if st == "failed" then p.old_failed = p.old_failed + 1 end
    else
      p.todo[#p.todo + 1] = e
      if st then p.replaced = p.replaced + 1 end
    end
  end
  return p
end

local function where(s)
  return s.shard_n > 1 and (" (shard %d/%d)"):format(s.shard_i, s.shard_n) or ""
end

local function say_start(s, p)
  local out, workers = io.stdout, math.min(s.jobs, #p.todo)
  out:write(("sweep %s%s: %d runs to do"):format(s.exp.name, where(s), #p.todo))
  if p.skipped > 0 then out:write((", %d skipped (already done)"):format(p.skipped)) end
  out:write((", %d worker%s -> %s\n"):format(workers, workers == 1 and "" or "s", s.dbpath))
  if p.replaced > 0 and not s.resume then
    out:write(("note: %d of these runs are in the database already and are run again"
               .. " (--resume skips them)\n"):format(p.replaced))
  end
  out:flush()
end

-- The summary; returns the exit status.
local function say_end(s, p, ok_n, failed_n, not_run, seconds)
  local out = io.stdout
  out:write(("sweep %s%s: %d ok, %d failed"):format(s.exp.name, where(s), ok_n, failed_n))
  if p.skipped > 0 then
    out:write((", %d skipped"):format(p.skipped))
    if p.old_failed > 0 then out:write((" (%d of them failed before)"):format(p.old_failed)) end
  end
  out:write((" in %s -> %s\n"):format(host.duration(seconds), s.dbpath))
  if not_run > 0 then
    io.stderr:write(("pagelab: %d runs did not run: the worker processes died before"
                     .. " they could start them (see the messages above)\n"):format(not_run))
  end
  local failed = failed_n + p.old_failed
  if failed > 0 then
    io.stderr:write(("pagelab: %d runs failed; see them with: pagelab query %s"
                     .. " \"SELECT run_id, params_json, error FROM run WHERE status = 'failed'\"\n")
                    :format(failed, host.quote(s.dbpath)))
  end
  return (failed > 0 or not_run > 0) and 1 or 0
end

function M.main(argv)
  local s = prepare(argv)
  if s.opts.worker then return worker(s, s.opts.worker) end
  if s.opts["dry-run"] then return dry_run(s) end

  local pagelab = require "pagelab"
  local db = open_db(s.dbpath)
  local p = partition(s, statuses(db, s.dbpath))
  if #p.todo == 0 then
    io.stdout:write(("sweep %s%s: nothing to do, the %d runs are in %s%s\n"):format(
      s.exp.name, where(s), p.skipped, s.dbpath, p.old_failed > 0
      and (" (%d failed: --retry-failed runs them again)"):format(p.old_failed) or ""))
    db:close()
    return p.old_failed > 0 and 1 or 0
  end
  say_start(s, p)
  local bar = progress.new{ total = #p.todo, name = s.exp.name, now = host.clock(db),
                            tty = pagelab.isatty(io.stdout) }
  local ok_n, failed_n, not_run = run_all(s, db, p.todo, bar)
  bar:close()
  local seconds = bar:elapsed()             -- its clock reads the database
  db:close()
  return say_end(s, p, ok_n, failed_n, not_run, seconds)
end

return M
