-- sweep_spec.lua — the pieces of pagelab sweep: grids, seeds, shards,
-- progress (scripts/pagelab/*.lua) and what the recorder does for them
-- (staged runs, snapshots, schema migration, isatty).

local pagelab = require "pagelab"
local results = pagelab.results
local grid = require "pagelab.grid"
local experiment = require "pagelab.experiment"
local progress = require "pagelab.progress"
local host = require "pagelab.host"
local errors = require "pagelab.errors"

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

local exp = experiment.check({
  name = "g",
  params = {
    n = { 1, "an integer" }, x = { 0.5, "a number" }, size = { "4KiB", "a size" },
    mode = { "a", "a choice", choices = { "a", "b", "c" } }, on = { false, "a flag" },
  },
  run = function() end,
}, "g.lua")

local function decl(key)
  for _, d in ipairs(exp.param_list) do if d.key == key then return d end end
end

-- The message of the usage error f raises.
local function usage_error(f)
  local ok, e = pcall(f)
  assert.is_false(ok)
  assert.is_true(errors.is(e), tostring(e))
  assert.equal(2, e.code)
  return e.msg
end

describe("pagelab.grid", function()
  describe("values", function()
    it("reads lists, typed by the declaration", function()
      assert.same({ 1, 5, 9 }, grid.values(decl("n"), "1,5,9"))
      assert.same({ 0.25, 1 }, grid.values(decl("x"), "0.25,1"))
      assert.same({ "b", "c" }, grid.values(decl("mode"), "b,c"))
      assert.same({ true, false }, grid.values(decl("on"), "yes,off"))
      assert.same({ 3 }, grid.values(decl("n"), "3,3"))     -- no duplicates
    end)

    it("expands arithmetic and geometric ranges", function()
      assert.same({ 1, 2, 3, 4 }, grid.values(decl("n"), "1..4"))
      assert.same({ 0, 5, 10 }, grid.values(decl("n"), "0..12:5"))
      assert.same({ 64, 128, 256, 512 }, grid.values(decl("n"), "64..512*2"))
      assert.same({ 0.1, 0.2, 0.3 }, grid.values(decl("x"), "0.1..0.3:0.1"))
      assert.same({ 1, 7, 8, 9 }, grid.values(decl("n"), "1,7..9"))
    end)

    it("expands ranges of sizes for string parameters", function()
      assert.same({ "4KiB", "8KiB", "16KiB" }, grid.values(decl("size"), "4KiB..16KiB*2"))
      assert.same({ "512", "1KiB", "2KiB" }, grid.values(decl("size"), "512..2KiB*2"))
      assert.same({ "1MiB", "1536KiB", "2MiB" }, grid.values(decl("size"), "1MiB..2MiB:512KiB"))
      assert.same({ "x..y" }, grid.values(decl("size"), "x..y"))   -- not sizes: a literal
    end)

    it("refuses bad ranges, naming the parameter", function()
      assert.matches("n: '4..1' is an empty range", usage_error(function() grid.values(decl("n"), "4..1") end))
      assert.matches("positive step", usage_error(function() grid.values(decl("n"), "1..4:-1") end))
      assert.matches("factor above 1", usage_error(function() grid.values(decl("n"), "1..4*1") end))
      assert.matches("start must be positive", usage_error(function() grid.values(decl("n"), "0..4*2") end))
      assert.matches("booleans have no ranges", usage_error(function() grid.values(decl("on"), "0..1") end))
      assert.matches("not a range of numbers", usage_error(function() grid.values(decl("n"), "a..b") end))
      assert.matches("expects an integer, got '1.5'", usage_error(function() grid.values(decl("n"), "1,1.5") end))
      assert.matches("empty item", usage_error(function() grid.values(decl("n"), "1,,2") end))
    end)
  end)

  describe("plan", function()
    local axes = grid.axes(exp, { "n=1..3", "mode=a,b" })
    local plan = grid.plan(exp, axes, { seed = 7, repeats = 2 })

    it("is the Cartesian product, the last axis fastest, repetitions together", function()
      assert.equal(12, #plan)
      assert.equal(6, grid.count(axes))
      local seen = {}
      for i, e in ipairs(plan) do
        assert.equal(i - 1, e.index)
        assert.equal((i - 1) // 2 + 1, e.point)
        assert.equal((i - 1) % 2 + 1, e.repetition)
        seen[#seen + 1] = e.params.n .. e.params.mode
      end
      assert.same({ "1a", "1a", "1b", "1b", "2a", "2a", "2b", "2b", "3a", "3a", "3b", "3b" }, seen)
      assert.equal(0.5, plan[1].params.x)                   -- the defaults fill the rest
    end)

    it("derives seeds from the base seed, the point and the repetition", function()
      for _, e in ipairs(plan) do
        local key = results.run_key{ experiment = "g", params = e.params, seed = 7,
                                     repetition = e.repetition }
        assert.equal(tonumber(key:sub(-8), 16) % 2147483647 + 1, e.seed)
        assert.equal(results.run_key{ experiment = "g", params = e.params, seed = e.seed,
                                      repetition = e.repetition }, e.run_key)
        assert.is_true(e.seed >= 1 and e.seed < 2 ^ 31)
      end
      -- golden: the formula must never change (it would orphan every database)
      local g = grid.plan(exp, grid.axes(exp, {}), { seed = 1 })[1]
      assert.equal(results.run_key{ experiment = "g", params = g.params, seed = g.seed }, g.run_key)
      assert.equal(923032560, g.seed)
    end)

    it("gives a point the same seed whatever else the grid holds", function()
      local other = grid.plan(exp, grid.axes(exp, { "mode=b,c", "n=0..2" }), { seed = 7, repeats = 2 })
      local by_key = {}
      for _, e in ipairs(other) do by_key[e.run_key] = e.seed end
      local shared = 0
      for _, e in ipairs(plan) do
        if by_key[e.run_key] then
          shared = shared + 1
          assert.equal(e.seed, by_key[e.run_key])
        end
      end
      assert.equal(4, shared)                              -- n = 1, 2 with mode b, twice
    end)

    it("splits into shards that cover it once", function()
      local count = {}
      for i = 0, 4 do
        for _, e in ipairs(grid.shard(plan, i, 5)) do
          assert.equal(i, e.index % 5)
          count[e.index] = (count[e.index] or 0) + 1
        end
      end
      for _, e in ipairs(plan) do assert.equal(1, count[e.index]) end
      assert.same({ 2, 5 }, { grid.parse_shard("2/5") })
      assert.matches("0 <= I < N", usage_error(function() grid.parse_shard("5/5") end))
      assert.matches("got '1'", usage_error(function() grid.parse_shard("1") end))
    end)

    it("refuses a parameter given twice", function()
      assert.matches("given twice", usage_error(function() grid.axes(exp, { "n=1", "n=2" }) end))
    end)

    it("describes a run by its swept values", function()
      assert.equal("n=1 mode=b rep=2", grid.describe(plan[4], axes, 2))
    end)
  end)
end)

describe("pagelab.progress", function()
  local function sink()
    local t = { text = "" }
    function t:write(...) for _, s in ipairs{ ... } do self.text = self.text .. s end return self end
    function t:flush() end
    return t
  end

  it("prints one plain line per run when not on a terminal", function()
    local out, err = sink(), sink()
    local t = 0
    local bar = progress.new{ total = 2, name = "e", tty = false, out = out, err = err,
                              now = function() return t end }
    bar:started()
    t = 1.5
    bar:finished(true, 1.25, "n=1")
    bar:finished(false, 0, "n=2", "boom")
    bar:close()
    assert.equal("[1/2] ok       1.25s  n=1\n[2/2] FAILED   0.00s  n=2: boom\n", out.text)
    assert.equal("", err.text)
  end)

  it("redraws one bar in place on a terminal, failures above it", function()
    local out, err = sink(), sink()
    local t = 0
    local bar = progress.new{ total = 4, name = "e", tty = true, out = out, err = err,
                              now = function() return t end }
    bar:started()
    t = 10
    bar:finished(true, 1, "n=1")
    assert.matches("\r" .. ("e [######..................] 1/4  ETA 30s"):gsub("%p", "%%%0") .. "\27%[K$", out.text)
    bar:finished(false, 1, "n=2", "boom")
    assert.matches("FAILED", err.text)
    assert.matches("1 failed", bar:line(), 1, true)
  end)
end)

describe("pagelab.host", function()
  it("quotes shell words", function()
    assert.equal("a/b.lua", host.quote("a/b.lua"))
    assert.equal("'it'\\''s here'", host.quote("it's here"))
    assert.equal("x 'a b' 'c;d'", host.command{ "x", "a b", "c;d" })
  end)

  it("formats durations", function()
    assert.equal("4.2s", host.duration(4.2))
    assert.equal("42s", host.duration(42))
    assert.equal("3m05s", host.duration(185))
    assert.equal("2h07m", host.duration(7620))
  end)
end)

describe("the recorder for sweeps", function()
  local dir, path
  before_each(function()
    dir = tmpdir()
    path = dir .. "/r.db"
  end)
  after_each(function()
    collectgarbage()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("stages a run: two connections record at once without waiting", function()
    local a, b = assert(results.open(path)), assert(results.open(path))
    local ra = a:begin_run{ experiment = "e", params = { i = 1 } }
    local rb = b:begin_run{ experiment = "e", params = { i = 2 } }
    assert.is_nil(ra.run_id)                 -- known once committed
    ra:metric("m", 1)
    rb:metric("m", 2)
    local t0 = os.time()
    local idb = rb:finish(true)              -- ra is still in flight
    local ida = ra:finish(true)
    assert.is_true(os.time() - t0 < 2)
    assert.equal(ida, ra.run_id)
    assert.are_not.equal(ida, idb)
    assert.equal(2, a:query("SELECT count(*) AS n FROM run WHERE status = 'ok'")[1].n)
    a:close()
    b:close()
  end)

  it("snapshots the views a System has, and nothing it has not", function()
    local db = assert(results.open(path))
    local rec = db:begin_run{ experiment = "e" }
    local p = { pid = 3, name = "app" }
    function p:vmmap() return { { type = "private", size = 8192 }, total = { type = "total" } } end
    local gone = { pid = 4, name = "gone" }
    function gone:vmmap() return nil, "STATUS_PROCESS_IS_TERMINATING" end
    local sys = { page_size = 2048 }
    function sys:stats() return { time = 99 } end
    function sys:processes() return { p, gone } end
    function sys:rammap()                    -- keyed rows get their key as 'use'
      return { unused = { total = 5, list = { zeroed = 5 } }, mapped_file = { total = 1 } }
    end
    function sys:poolused() return {} end    -- no tag used yet: no rows
    assert.equal(3, rec:snapshot(sys, "end"))
    assert.equal(0, rec:snapshot({}, "empty"))
    rec:finish(true)
    local rows = db:query([[SELECT label, step, page_size, view, pid, process, row_no, row_json
                              FROM snapshot_rows ORDER BY snapshot_id, view DESC, row_no]])
    assert.equal(3, #rows)
    assert.same({ label = "end", step = 99, page_size = 2048, view = "vmmap", pid = 3, process = "app",
                  row_no = 1, row_json = '{"size":8192,"type":"private"}' }, rows[1])
    assert.equal('{"total":1,"use":"mapped_file"}', rows[2].row_json)
    assert.equal('{"list.zeroed":5,"total":5,"use":"unused"}', rows[3].row_json)
    assert.equal(2, db:query("SELECT count(*) AS n FROM snapshot")[1].n)
    db:close()
  end)

  it("snapshots a real System", function()
    local db = assert(results.open(path))
    local rec = db:begin_run{ experiment = "e" }
    local sys <close> = pagelab.system{ ram = "4MiB" }
    local p = sys:process{ name = "app" }
    p:access(p:alloc(nil, "64KiB", "reserve|commit", "readwrite"), "w")
    local n = rec:snapshot(sys, "end")
    rec:finish(true)
    local s = db:query("SELECT step, page_size FROM snapshot")[1]
    assert.equal(4096, s.page_size)
    assert.is_number(s.step)
    assert.equal(n, db:query("SELECT count(*) AS n FROM snapshot_row")[1].n)
    if sys.rammap then assert.is_true(n > 0) end
    db:close()
  end)

  it("drops a run's snapshots with the run it replaces", function()
    local db = assert(results.open(path))
    for _ = 1, 2 do
      local rec = db:begin_run{ experiment = "e" }
      rec:snapshot("s", "v", { { a = 1 } })
      rec:finish(true)
    end
    assert.equal(1, db:query("SELECT count(*) AS n FROM snapshot")[1].n)
    assert.equal(1, db:query("SELECT count(*) AS n FROM snapshot_row")[1].n)
    db:close()
  end)

  it("leaves a database it refuses byte for byte as it was", function()
    os.execute("sqlite3 '" .. path .. "' 'CREATE TABLE t(x); INSERT INTO t VALUES (1)'")
    local function bytes()
      local f = assert(io.open(path, "rb"))
      local b = f:read("a")
      f:close()
      return b
    end
    local before = bytes()
    local none, msg = results.open(path)
    assert.is_nil(none)
    assert.matches("not a pagelab results database", msg, 1, true)
    assert.equal(before, bytes())             -- not even switched to WAL
  end)

  it("migrates a schema 1 database, keeping its snapshots", function()
    assert(results.open(path)):close()
    local db = assert(results.open(path))
    local rec = db:begin_run{ experiment = "e" }
    rec:metric("m", 1)
    local id = rec:finish(true)
    db:query([[DROP VIEW snapshot_rows; DROP TABLE snapshot_row; DROP TABLE snapshot;
      CREATE TABLE snapshot(run_id INTEGER NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
                            label TEXT NOT NULL, view TEXT NOT NULL, row_json TEXT NOT NULL);
      CREATE INDEX snapshot_by_run ON snapshot(run_id, label, view);
      UPDATE meta SET value = '1' WHERE key = 'schema_version']])
    db:query("INSERT INTO snapshot VALUES (?, 'end', 'vmmap', '{\"a\":1}'), (?, 'end', 'vmmap', '{\"a\":2}')", id, id)
    db:close()
    db = assert(results.open(path))
    assert.equal("2", db:query("SELECT value FROM meta WHERE key = 'schema_version'")[1].value)
    local rows = db:query("SELECT run_id, label, view, row_no, row_json FROM snapshot_rows ORDER BY row_no")
    assert.same({ run_id = id, label = "end", view = "vmmap", row_no = 2, row_json = '{"a":2}' }, rows[2])
    assert.equal(1, db:query("SELECT count(*) AS n FROM snapshot")[1].n)
    db:close()
  end)
end)

describe("pagelab.isatty", function()
  it("tells terminals from files", function()
    local f = assert(io.open("/dev/null", "w"))
    assert.is_false(pagelab.isatty(f))
    f:close()
    assert.error_matches(function() pagelab.isatty(f) end, "closed file")
    assert.is_false(pagelab.isatty(-1))
    assert.is_boolean(pagelab.isatty(1))
  end)
end)
