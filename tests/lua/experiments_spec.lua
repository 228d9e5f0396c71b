-- experiments_spec.lua — every experiments/*.lua loads, declares its
-- parameters properly and runs with tiny parameters; and the loader
-- (scripts/pagelab/experiment.lua) checks what it loads.

local pagelab = require "pagelab"
local experiment = require "pagelab.experiment"

-- Tiny parameters per experiment, so that the whole spec takes a second.
local TINY = {
  ws_limits = { "refs=20000", "size=1MiB", "ram=512KiB", "ws_max=32", "ws_max_list=16,64" },
  page_size = { "refs=20000", "size=1MiB", "ram=512KiB", "ws_max=128KiB", "page_size=1KiB" },
  memory_pressure = { "refs=5000", "processes=3", "size=512KiB", "ram=1MiB", "slice=1000" },
  dll_sharing = { "processes=3", "ram=8MiB" },
  policies = { "refs=3000", "sizes=8,32", "policies=fifo,lru,opt", "pages=256" },
  pool_fragmentation = { "ops=600", "live=100", "every=50", "ram=4MiB" },
  shared_memory = { "processes=3", "size=256KiB", "refs=4000", "slice=1000" },
  sweep_policies = { "refs=20000", "size=1MiB", "ram=2MiB", "ws_max=128KiB", "policy=clock" },
}

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

local function list_experiments()
  local files = {}
  local p = io.popen("ls experiments/*.lua")
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

describe("experiments", function()
  local dir, db

  setup(function()
    dir = tmpdir()
    db = assert(pagelab.results.open(dir .. "/e.db"))
  end)

  teardown(function()
    db:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  local files = list_experiments()

  it("include the three of the demo", function()
    local names = {}
    for _, f in ipairs(files) do names[f:match("([^/]+)%.lua$")] = true end
    assert.is_true(names.ws_limits and names.page_size and names.memory_pressure)
  end)

  for _, file in ipairs(files) do
    describe(file, function()
      local exp = experiment.load(file)

      it("declares a name, a description and documented params", function()
        assert.equal(file:match("([^/]+)%.lua$"), exp.name)
        assert.is_true(#exp.description > 10)
        assert.is_true(#exp.param_list > 0)
        for _, d in ipairs(exp.param_list) do
          assert.is_true(#d.help > 0, d.key .. " has no help")
          assert.is_truthy(({ integer = 1, number = 1, string = 1, boolean = 1 })[d.type])
        end
      end)

      it("runs with tiny parameters and records metrics and series", function()
        local tiny = TINY[exp.name]
        assert.is_table(tiny, "no tiny parameters for " .. exp.name)
        local params, p = experiment.resolve(exp, tiny, 3)
        assert.equal(3, p.seed)
        assert.is_nil(params.seed)
        local ok, run_id, msg, trace = experiment.execute(exp, db, params, p)
        assert.is_true(ok, trace or msg)
        local n = db:query("SELECT count(*) AS n FROM metric WHERE run_id = ?", run_id)[1].n
        assert.is_true(n >= 3, "metrics: " .. n)
        n = db:query("SELECT count(*) AS n FROM series WHERE run_id = ?", run_id)[1].n
        assert.is_true(n > 0, "no series")
        assert.equal("ok", db:query("SELECT status FROM run WHERE run_id = ?", run_id)[1].status)
      end)

      it("is reproducible: the same seed gives the same metrics", function()
        local function metrics(seed)
          local params, p = experiment.resolve(exp, TINY[exp.name], seed)
          local other = assert(pagelab.results.open(dir .. "/repro" .. seed .. os.clock() .. ".db"))
          local ok, run_id, msg = experiment.execute(exp, other, params, p)
          assert.is_true(ok, msg)
          local out = {}
          for _, r in ipairs(other:query("SELECT key, value FROM metric WHERE run_id = ?", run_id)) do
            out[r.key] = r.value
          end
          other:close()
          return out
        end
        assert.same(metrics(5), metrics(5))
      end)
    end)
  end

  describe("ws_limits", function()
    it("records the ws_max_list series", function()
      local exp = experiment.load("experiments/ws_limits.lua")
      local params, p = experiment.resolve(exp, TINY.ws_limits, 1)
      local ok, run_id = experiment.execute(exp, db, params, p)
      assert.is_true(ok)
      local rows = db:query([[SELECT step FROM series WHERE run_id = ?
                              AND key = 'hard_faults_by_ws_max' ORDER BY step]], run_id)
      assert.same({ { step = 16 }, { step = 64 } }, rows)
    end)
  end)
end)

describe("pagelab.experiment", function()
  local function exp_with(params)
    return experiment.check({ name = "t", params = params, run = function() end }, "t.lua")
  end

  local function usage_message(f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok)
    assert.equal(2, e.code)
    return e.msg
  end

  it("types parameters by their default", function()
    local exp = exp_with{ i = { 1, "an integer" }, f = { 0.5, "a number" },
                          s = { "x", "a string" }, b = { false, "a flag" },
                          named = { default = 2, help = "named fields" } }
    local types = {}
    for _, d in ipairs(exp.param_list) do types[d.key] = d.type end
    assert.same({ i = "integer", f = "number", s = "string", b = "boolean", named = "integer" }, types)
    local params = experiment.resolve(exp, { "i=7", "f=1e3", "s=y", "b=on", "named=3" })
    assert.same({ i = 7, f = 1000.0, s = "y", b = true, named = 3 }, params)
    assert.equal("integer", math.type(params.i))
  end)

  it("refuses values that do not convert, with the messages of the CLI", function()
    local exp = exp_with{ ws_max = { 345, "pages" }, alpha = { 0.9, "skew" },
                          mode = { "a", "m", choices = { "a", "b" } } }
    assert.equal("parameter ws_max expects an integer, got 'abc'",
                 usage_message(experiment.resolve, exp, { "ws_max=abc" }))
    assert.equal("parameter alpha expects a number, got 'abc'",
                 usage_message(experiment.resolve, exp, { "alpha=abc" }))
    assert.equal("unknown parameter 'foo' (known: alpha, mode, ws_max)",
                 usage_message(experiment.resolve, exp, { "foo=1" }))
    assert.equal("parameter mode must be one of a, b, got 'c'",
                 usage_message(experiment.resolve, exp, { "mode=c" }))
  end)

  it("refuses malformed declarations", function()
    assert.matches("reserved", usage_message(exp_with, { seed = { 1, "no" } }))
    assert.matches("needs a default", usage_message(exp_with, { x = { nil, "no default" } }))
    assert.matches("unknown field 'choice'", usage_message(exp_with, { x = { 1, "h", choice = { 1 } } }))
    assert.matches("not one of the choices", usage_message(exp_with, { x = { 3, "h", choices = { 1, 2 } } }))
    assert.matches("run must be a function", usage_message(experiment.check, { name = "x" }, "x.lua"))
    assert.matches("unknown field 'parms'", usage_message(experiment.check,
      { name = "x", parms = {}, run = print }, "x.lua"))
  end)
end)
