-- pagelab merge OUT.db IN.db... — joins the databases of sweep shards.
--
-- Identity is the run_key: a run of IN is copied when OUT has no run with
-- its key, or has it 'failed' while IN has it 'ok'; otherwise OUT keeps
-- its own. So merging twice changes nothing, and the order of the inputs
-- only matters between two failed (or two ok) copies of one run, which
-- are the same deterministic run anyway. Every input is checked before
-- anything is written; then each is ATTACHed alone (SQLite allows 10) and
-- copied in one transaction. run_ids are OUT's own: use run_key across
-- files.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local host = require "pagelab.host"

local M = {
  usage = "pagelab merge OUT.db IN.db...",
  summary = "join sweep shard databases into one (idempotent, by run_key)",
  details = [[
  OUT.db is created when missing. A run of an input is copied unless OUT has
  the same run_key already ('ok', or 'failed' in both); an 'ok' run replaces
  a 'failed' one. Inputs are never changed.
]],
}

-- Runs that OUT takes from src, then the copies; ?1 none. temp.pl_merge
-- lists (src_id, run_key, replace) of the runs to take.
local SELECT_SQL = [[
CREATE TEMP TABLE IF NOT EXISTS pl_merge(src_id INTEGER PRIMARY KEY, run_key TEXT NOT NULL,
                                         replace INTEGER NOT NULL);
DELETE FROM temp.pl_merge;
INSERT INTO temp.pl_merge(src_id, run_key, replace)
  SELECT s.run_id, s.run_key, m.run_id IS NOT NULL
    FROM src.run s LEFT JOIN main.run m ON m.run_key = s.run_key
   WHERE s.status IN ('ok', 'failed')
     AND (m.run_id IS NULL OR (m.status <> 'ok' AND s.status = 'ok'));
]]

local COPY_SQL = [[
DELETE FROM main.run WHERE run_key IN (SELECT run_key FROM temp.pl_merge WHERE replace);
INSERT INTO main.run(run_key, experiment, status, seed, repetition, params_json,
                     started_at, finished_at, host, version, error)
  SELECT s.run_key, s.experiment, s.status, s.seed, s.repetition, s.params_json,
         s.started_at, s.finished_at, s.host, s.version, s.error
    FROM temp.pl_merge t JOIN src.run s ON s.run_id = t.src_id ORDER BY s.run_id;
CREATE TEMP TABLE IF NOT EXISTS pl_merge_id(src_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL);
DELETE FROM temp.pl_merge_id;
INSERT INTO temp.pl_merge_id(src_id, run_id)
  SELECT t.src_id, m.run_id FROM temp.pl_merge t JOIN main.run m ON m.run_key = t.run_key;
INSERT INTO main.param(run_id, key, value, value_num)
  SELECT i.run_id, p.key, p.value, p.value_num
    FROM temp.pl_merge_id i JOIN src.param p ON p.run_id = i.src_id;
INSERT INTO main.metric(run_id, key, value)
  SELECT i.run_id, x.key, x.value FROM temp.pl_merge_id i JOIN src.metric x ON x.run_id = i.src_id;
INSERT INTO main.series(run_id, key, step, value)
  SELECT i.run_id, x.key, x.step, x.value
    FROM temp.pl_merge_id i JOIN src.series x ON x.run_id = i.src_id ORDER BY x.rowid;
]]

-- Snapshots of a schema 2 input: ids shifted past OUT's largest (%d).
local SNAPSHOT_SQL = [[
INSERT INTO main.snapshot(snapshot_id, run_id, label, step, page_size)
  SELECT %d + s.snapshot_id, i.run_id, s.label, s.step, s.page_size
    FROM temp.pl_merge_id i JOIN src.snapshot s ON s.run_id = i.src_id;
INSERT INTO main.snapshot_row(snapshot_id, view, pid, process, row_no, row_json)
  SELECT %d + w.snapshot_id, w.view, w.pid, w.process, w.row_no, w.row_json
    FROM temp.pl_merge_id i JOIN src.snapshot s ON s.run_id = i.src_id
                            JOIN src.snapshot_row w ON w.snapshot_id = s.snapshot_id;
]]

-- Snapshots of a schema 1 input: snapshot(run_id, label, view, row_json),
-- one snapshot per (run, label), as the recorder migrates them.
local SNAPSHOT_V1_SQL = [[
INSERT INTO main.snapshot(run_id, label)
  SELECT i.run_id, o.label FROM temp.pl_merge_id i JOIN src.snapshot o ON o.run_id = i.src_id
   GROUP BY i.run_id, o.label ORDER BY min(o.rowid);
INSERT INTO main.snapshot_row(snapshot_id, view, row_no, row_json)
  SELECT s.snapshot_id, o.view,
         row_number() OVER (PARTITION BY s.snapshot_id, o.view ORDER BY o.rowid), o.row_json
    FROM temp.pl_merge_id i JOIN src.snapshot o ON o.run_id = i.src_id
                            JOIN main.snapshot s ON s.run_id = i.run_id AND s.label = o.label;
]]

local function realpath(path)
  local p = io.popen("readlink -f " .. host.quote(path) .. " 2>/dev/null")
  local r = p and p:read("l")
  if p then p:close() end
  return r or path
end

-- Checks that path is a pagelab database this pagelab reads; returns its
-- schema version.
local function check_input(path, hint)
  local f = io.open(path, "rb")
  if not f then errors.usage(("no such database '%s'"):format(path), hint) end
  f:close()
  local pagelab = require "pagelab"
  local db, err = pagelab.results.open(path, { readonly = true })
  if not db then errors.failure(err .. " — not merged; nothing was written") end
  local row = db:query("SELECT value FROM meta WHERE key = 'schema_version'")[1]
  db:close()
  return math.tointeger(tonumber(row and row.value)) or 1
end

local function count(db, sql)
  return db:query(sql)[1].n
end

-- Copies what OUT takes from the input at path; returns added, replaced,
-- kept (runs of the input OUT already had).
local function merge_one(db, path, version)
  db:query("ATTACH DATABASE ? AS src", path)
  local ok, a, b, c = pcall(function()
    db:query("BEGIN IMMEDIATE")
    db:query(SELECT_SQL)
    local total = count(db, "SELECT count(*) AS n FROM src.run WHERE status IN ('ok', 'failed')")
    local replaced = count(db, "SELECT count(*) AS n FROM temp.pl_merge WHERE replace")
    local taken = count(db, "SELECT count(*) AS n FROM temp.pl_merge")
    db:query(COPY_SQL)
    if version >= 2 then
      local base = db:query("SELECT coalesce(max(snapshot_id), 0) AS n FROM main.snapshot")[1].n
      db:query(SNAPSHOT_SQL:format(base, base))
    elseif count(db, "SELECT count(*) AS n FROM src.sqlite_master WHERE name = 'snapshot'") > 0 then
      db:query(SNAPSHOT_V1_SQL)
    end
    db:query("COMMIT")
    return taken - replaced, replaced, total - taken
  end)
  if not ok then pcall(db.query, db, "ROLLBACK") end
  pcall(db.query, db, "DETACH DATABASE src")
  if not ok then errors.failure(("merging '%s': %s"):format(path, tostring(a))) end
  return a, b, c
end

function M.main(argv)
  local hint = "usage: " .. M.usage
  local _, rest = args.parse(argv, {}, hint)
  if #rest < 2 then errors.usage("merge needs an output database and at least one input", hint) end
  local out = rest[1]
  local out_real = realpath(out)
  local versions, seen = {}, {}
  for i = 2, #rest do
    local path = rest[i]
    local real = realpath(path)
    if real == out_real then
      errors.usage(("'%s' is the output database: it cannot be an input too"):format(path), hint)
    end
    if seen[real] then errors.usage(("'%s' is given twice"):format(path), hint) end
    seen[real] = true
    versions[i] = check_input(path, hint)
  end
  local pagelab = require "pagelab"
  local db, err = pagelab.results.open(out, { mkdir = true })
  if not db then errors.failure(err) end
  local added, replaced, kept = 0, 0, 0
  for i = 2, #rest do
    local a, r, k = merge_one(db, rest[i], versions[i])
    io.stdout:write(("%s: %d runs added, %d replaced (failed -> ok), %d already in %s\n")
                    :format(rest[i], a, r, k, out))
    added, replaced, kept = added + a, replaced + r, kept + k
  end
  local total = db:query("SELECT count(*) AS n FROM run")[1].n
  db:close()
  io.stdout:write(("%s: %d runs (%d added, %d replaced, %d already there)\n")
                  :format(out, total, added, replaced, kept))
  return 0
end

return M
