-- recorder_spec.lua — pagelab.results: the SQLite recorder (bindings/recorder.c).

local pagelab = require "pagelab"
local results = pagelab.results

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function count(db, sql, ...)
  return db:query("SELECT count(*) AS n FROM (" .. sql .. ")", ...)[1].n
end

describe("pagelab.results", function()
  local dir, path

  before_each(function()
    dir = tmpdir()
    path = dir .. "/r.db"
  end)

  after_each(function()
    collectgarbage()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  describe("schema", function()
    it("creates the tables, views and meta rows", function()
      local db = assert(results.open(path))
      local names = {}
      for _, r in ipairs(db:query("SELECT name, type FROM sqlite_master")) do
        names[r.name] = r.type
      end
      for _, t in ipairs{ "meta", "run", "param", "metric", "series", "snapshot" } do
        assert.equal("table", names[t], t)
      end
      for _, v in ipairs{ "run_summary", "run_metrics", "param_metric" } do
        assert.equal("view", names[v], v)
      end
      local meta = {}
      for _, r in ipairs(db:query("SELECT key, value FROM meta")) do meta[r.key] = r.value end
      assert.equal(tostring(results.SCHEMA_VERSION), meta.schema_version)
      assert.is_string(meta.pagelab_version)
      db:close()
    end)

    it("uses WAL journaling and a busy timeout", function()
      local db = assert(results.open(path))
      assert.equal("wal", db:query("PRAGMA journal_mode")[1].journal_mode)
      assert.equal(10000, db:query("PRAGMA busy_timeout")[1].timeout)
      assert.equal(1, db:query("PRAGMA synchronous")[1].synchronous)   -- NORMAL
      db:close()
    end)

    it("opens an existing database again", function()
      assert(results.open(path)):close()
      local db = assert(results.open(path))
      assert.equal(1, count(db, "SELECT * FROM meta WHERE key = 'schema_version'"))
      db:close()
    end)

    it("creates missing directories with mkdir = true", function()
      local deep = dir .. "/a/b/c.db"
      assert.is_nil((results.open(deep)))
      local db = assert(results.open(deep, { mkdir = true }))
      db:close()
      assert.is_true(exists(deep))
    end)
  end)

  describe("refuses", function()
    it("a database with a newer schema", function()
      local db = assert(results.open(path))
      db:query("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
      db:close()
      local none, msg = results.open(path)
      assert.is_nil(none)
      assert.matches("schema version 99, newer than", msg, 1, true)
      assert.matches(path, msg, 1, true)
    end)

    it("a file that is not a SQLite database", function()
      write_file(path, ("this is not a database\n"):rep(20))
      local none, msg = results.open(path)
      assert.is_nil(none)
      assert.equal("'" .. path .. "' is not a SQLite database", msg)
    end)

    it("a short garbage file", function()
      write_file(path, "x")
      local none, msg = results.open(path)
      assert.is_nil(none)
      assert.matches("not a SQLite database", msg, 1, true)
    end)

    it("a SQLite database of something else", function()
      os.execute("sqlite3 '" .. path .. "' 'CREATE TABLE t(x)'")
      local none, msg = results.open(path)
      assert.is_nil(none)
      assert.matches("not a pagelab results database", msg, 1, true)
    end)

    it("an unwritable path, naming it", function()
      write_file(dir .. "/file", "")
      for _, bad in ipairs{ dir .. "/missing/r.db", dir .. "/file/r.db", dir } do
        local none, msg = results.open(bad)
        assert.is_nil(none)
        assert.matches(bad, msg, 1, true)
      end
      local none, msg = results.open(dir .. "/file/r.db", { mkdir = true })
      assert.is_nil(none)
      assert.matches(dir .. "/file/r.db", msg, 1, true)
    end)

    it("a missing file in read-only mode, without creating it", function()
      local none, msg = results.open(path, { readonly = true })
      assert.is_nil(none)
      assert.matches(path, msg, 1, true)
      assert.is_false(exists(path))
    end)

    it("unknown options", function()
      assert.error_matches(function() results.open(path, { readonyl = true }) end,
                           "unknown option 'readonyl'")
    end)
  end)

  describe("run_key", function()
    local spec = { experiment = "ws-limits", params = { ws_max = 345, alpha = 0.9, policy = "aging", hard = false },
                   seed = 1, repetition = 1 }

    it("is stable: a golden value", function()
      local key, json = results.run_key(spec)
      assert.equal('{"alpha":0.9,"hard":false,"policy":"aging","ws_max":345}', json)
      assert.equal("f28d47b5cb46e1e9", key)
    end)

    it("ignores key order and integral float spelling", function()
      local a = results.run_key(spec)
      local b = results.run_key{ experiment = "ws-limits", seed = 1,
                                 params = { policy = "aging", hard = false, alpha = 0.9, ws_max = 345.0 } }
      assert.equal(a, b)
    end)

    it("changes with experiment, params, seed and repetition", function()
      local base = results.run_key(spec)
      local function with(k, v)
        local s = { experiment = spec.experiment, params = {}, seed = spec.seed, repetition = spec.repetition }
        for pk, pv in pairs(spec.params) do s.params[pk] = pv end
        if k:match("^params%.") then s.params[k:sub(8)] = v else s[k] = v end
        return results.run_key(s)
      end
      local seen = { [base] = true }
      for _, change in ipairs{ { "experiment", "other" }, { "seed", 2 }, { "repetition", 2 },
                               { "params.ws_max", 346 }, { "params.alpha", 0.91 },
                               { "params.extra", "x" } } do
        local k = with(change[1], change[2])
        assert.is_nil(seen[k], change[1])
        seen[k] = true
      end
    end)

    it("is what begin_run records", function()
      local db = assert(results.open(path))
      local rec = db:begin_run(spec)
      assert.equal(results.run_key(spec), rec.run_key)
      rec:finish(true)
      assert.equal(rec.run_key, db:query("SELECT run_key FROM run")[1].run_key)
      db:close()
    end)

    it("refuses params that are not scalars", function()
      assert.error_matches(function()
        results.run_key{ experiment = "x", params = { t = {} } }
      end, "params.t: expected a number, string or boolean")
    end)
  end)

  describe("runs", function()
    local db
    before_each(function() db = assert(results.open(path)) end)
    after_each(function() db:close() end)

    it("records params, metrics and series in one committed run", function()
      local rec = db:begin_run{ experiment = "e", params = { ws_max = 100, ram = "64MiB", on = true }, seed = 3 }
      rec:metric("hard_faults", 12)
      rec:metric("hard_faults", 13)         -- the last value wins
      rec:series("curve", 1, 0.5)
      rec:series("curve", 2, 0.25)
      local id = rec:finish(true)
      assert.equal(rec.run_id, id)
      local run = db:query("SELECT * FROM run")[1]
      assert.equal("ok", run.status)
      assert.equal(3, run.seed)
      assert.equal(1, run.repetition)
      assert.equal('{"on":true,"ram":"64MiB","ws_max":100}', run.params_json)
      assert.is_string(run.started_at)
      assert.is_string(run.finished_at)
      assert.is_nil(run.error)
      local params = {}
      for _, r in ipairs(db:query("SELECT key, value, value_num FROM param")) do params[r.key] = r end
      assert.equal(100, params.ws_max.value)
      assert.equal(64 * 1024 * 1024, params.ram.value_num)
      assert.equal("true", params.on.value)
      assert.equal(1, params.on.value_num)
      assert.equal(13, db:query("SELECT value FROM metric WHERE key = 'hard_faults'")[1].value)
      assert.equal(2, count(db, "SELECT * FROM series WHERE key = 'curve'"))
      assert.is_true(db:completed(rec.run_key))
    end)

    it("records a failed run with its error and what it had recorded", function()
      local rec = db:begin_run{ experiment = "e", params = { x = 1 } }
      rec:metric("partial", 7)
      rec:series("s", 1, 1)
      rec:finish(false, "boom")
      local run = db:query("SELECT status, error FROM run")[1]
      assert.equal("failed", run.status)
      assert.equal("boom", run.error)
      assert.equal(7, db:query("SELECT value FROM metric")[1].value)
      assert.equal(1, count(db, "SELECT * FROM series"))
      assert.is_false(db:completed(rec.run_key))
    end)

    it("finishes a <close> run as failed when its scope raises", function()
      local key
      local ok, err = pcall(function()
        local rec <close> = db:begin_run{ experiment = "e" }
        key = rec.run_key
        rec:metric("m", 1)
        error("scope failed", 0)
      end)
      assert.is_false(ok)
      assert.equal("scope failed", err)
      local run = db:query("SELECT status, error FROM run")[1]
      assert.equal("failed", run.status)
      assert.equal("scope failed", run.error)
      assert.is_false(db:completed(key))
    end)

    it("replaces an earlier run with the same key", function()
      for v = 1, 2 do
        local rec = db:begin_run{ experiment = "e", params = { x = 1 }, seed = 5 }
        rec:metric("v", v)
        rec:finish(true)
      end
      assert.equal(1, count(db, "SELECT * FROM run"))
      assert.equal(2, db:query("SELECT value FROM metric")[1].value)
    end)

    it("rolls back a run nobody finished", function()
      local rec = db:begin_run{ experiment = "e" }
      rec:metric("m", 1)
      rec = nil
      collectgarbage()
      collectgarbage()
      assert.equal(0, count(db, "SELECT * FROM run"))
      assert.equal(0, count(db, "SELECT * FROM metric"))
      db:begin_run{ experiment = "e2" }:finish(true)    -- the Db is usable again
      assert.equal(1, count(db, "SELECT * FROM run"))
    end)

    it("never shows a run in flight to another connection", function()
      local rec = db:begin_run{ experiment = "e" }
      rec:metric("m", 1)
      local other = assert(results.open(path, { readonly = true }))
      assert.equal(0, count(other, "SELECT * FROM run"))
      rec:finish(true)
      assert.equal(1, count(other, "SELECT * FROM run WHERE status = 'ok'"))
      other:close()
    end)

    it("leaves nothing after a crash mid-run", function()
      db:close()
      local script = dir .. "/crash.lua"
      write_file(script, ([[
        local pagelab = require "pagelab"
        local db = assert(pagelab.results.open(%q))
        local rec = db:begin_run{ experiment = "crash" }
        rec:metric("m", 1)
        rec:series("s", 1, 1)
        os.exit(3, false)          -- no close, no rollback: like a kill
      ]]):format(path))
      local ok, how, code = os.execute("lua5.4 '" .. script .. "'")
      assert.is_nil(ok)
      assert.equal("exit", how)
      assert.equal(3, code)
      db = assert(results.open(path))
      assert.equal(0, count(db, "SELECT * FROM run"))
      assert.equal(0, count(db, "SELECT * FROM metric"))
      assert.is_false(db:completed(results.run_key{ experiment = "crash" }))
    end)

    it("stores snapshots as JSON rows", function()
      local rec = db:begin_run{ experiment = "e" }
      assert.equal(2, rec:snapshot("end", "vmmap", { { base = 65536, state = "commit" },
                                                     { base = 131072, state = "free" } }))
      rec:finish(true)
      local rows = db:query("SELECT label, view, row_no, row_json FROM snapshot_rows ORDER BY row_no")
      assert.equal(2, #rows)
      assert.equal("end", rows[1].label)
      assert.equal("vmmap", rows[1].view)
      assert.equal(2, rows[2].row_no)
      assert.equal('{"base":65536,"state":"commit"}', rows[1].row_json)
    end)
  end)

  describe("views", function()
    it("answer the common questions in one SELECT", function()
      local db = assert(results.open(path))
      for _, ws in ipairs{ 100, 200, 300 } do
        local rec = db:begin_run{ experiment = "e", params = { ws_max = ws, policy = "aging" } }
        rec:metric("hard_faults", 1000 - ws)
        rec:metric("soft_faults", ws)
        rec:finish(true)
      end
      local bad = db:begin_run{ experiment = "e", params = { ws_max = 400, policy = "aging" } }
      bad:metric("hard_faults", 1)
      bad:finish(false, "broken")

      local s = db:query("SELECT * FROM run_summary ORDER BY run_id")
      assert.equal(4, #s)
      assert.equal(2, s[1].metrics)
      assert.equal('{"hard_faults":900.0,"soft_faults":100.0}', s[1].metrics_json)
      assert.equal("failed", s[4].status)
      assert.equal("broken", s[4].error)

      assert.equal(7, count(db, "SELECT * FROM run_metrics"))
      local rows = db:query([[SELECT param_value AS ws_max, value AS hard
                                FROM param_metric WHERE param = 'ws_max' AND metric = 'hard_faults'
                               ORDER BY param_num]])
      assert.same({ { ws_max = 100, hard = 900 }, { ws_max = 200, hard = 800 }, { ws_max = 300, hard = 700 } }, rows)
      local g = db:query([[SELECT param_value AS policy, avg(value) AS mean FROM param_metric
                            WHERE param = 'policy' AND metric = 'hard_faults' GROUP BY 1]])
      assert.same({ { policy = "aging", mean = 800 } }, g)
      db:close()
    end)
  end)

  describe("query", function()
    it("binds values, runs several statements, returns column order", function()
      local db = assert(results.open(path))
      local rows, cols = db:query("SELECT ? AS a, ? AS b, ? AS c, ? AS d", 1, "two", 3.5, nil)
      assert.same({ "a", "b", "c", "d" }, cols)
      assert.same({ a = 1, b = "two", c = 3.5 }, rows[1])
      rows, cols = db:query("CREATE TEMP TABLE t(x); INSERT INTO t VALUES (1), (2); SELECT x FROM t")
      assert.same({ "x" }, cols)
      assert.equal(2, #rows)
      assert.error_matches(function() db:query("SELEKT 1") end, "syntax error")
      assert.error_matches(function() db:query("SELECT 1", 1) end, "1 values for 0 parameters")
      db:close()
    end)
  end)

  describe("misuse", function()
    it("raises with a clear message", function()
      local db = assert(results.open(path))
      assert.error_matches(function() db:begin_run{ experiment = "e", bogus = 1 } end,
                           "unknown option 'bogus'")
      assert.error_matches(function() db:begin_run{} end, "'experiment' must be a non%-empty string")
      assert.error_matches(function() db:begin_run{ experiment = "e", repetition = 0 } end, "repetition")
      local rec = db:begin_run{ experiment = "e" }
      assert.error_matches(function() db:begin_run{ experiment = "f" } end, "already in progress")
      assert.error_matches(function() rec:metric("m", "x") end, "number expected")
      rec:finish(true)
      assert.error_matches(function() rec:metric("m", 1) end, "finished Rec")
      assert.error_matches(function() rec:finish(true) end, "finished Rec")
      db:close()
      db:close()                               -- idempotent
      assert.error_matches(function() db:query("SELECT 1") end, "closed Db")
    end)

    it("refuses to record into a read-only Db", function()
      assert(results.open(path)):close()
      local db = assert(results.open(path, { readonly = true }))
      assert.error_matches(function() db:begin_run{ experiment = "e" } end, "read%-only")
      db:close()
    end)
  end)

  describe("sampling", function()
    it("records system and process counters as series", function()
      local db = assert(results.open(path))
      local rec = db:begin_run{ experiment = "sampled" }
      local sys <close> = pagelab.system{ ram = "4MiB", pagefile = "16MiB" }
      local p = sys:process{ name = "app", ws_max = 64 }
      local base = p:alloc(nil, "1MiB", "reserve|commit", "readwrite")
      rec:sample(sys, 1000)
      p:run(pagelab.workload.zipf{ base = base, size = "1MiB", alpha = 0.8, seed = 1 }, 10000)
      rec:finish(true)
      local n = db:query("SELECT count(*) AS n, min(step) AS lo, max(step) AS hi FROM series WHERE key = 'sys.available'")[1]
      assert.is_true(n.n >= 10, "samples: " .. n.n)
      assert.is_true(n.hi > n.lo)
      assert.is_true(count(db, "SELECT * FROM series WHERE key = 'app.faults'") >= 10)
      assert.is_true(count(db, "SELECT * FROM series WHERE key = 'app.ws_size'") >= 10)
      -- the sampler is gone with the run: running on records nothing more
      local before = count(db, "SELECT * FROM series")
      p:run(pagelab.workload.zipf{ base = base, size = "1MiB", alpha = 0.8, seed = 2 }, 5000)
      assert.equal(before, count(db, "SELECT * FROM series"))
      db:close()
    end)

    it("survives its System being closed first", function()
      local db = assert(results.open(path))
      local rec = db:begin_run{ experiment = "sampled" }
      do
        local sys <close> = pagelab.system{ ram = "4MiB" }
        rec:sample(sys, 100)
      end
      rec:finish(true)
      assert.equal("ok", db:query("SELECT status FROM run")[1].status)
      db:close()
    end)
  end)
end)
