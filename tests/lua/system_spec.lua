-- tests/lua/system_spec.lua — pagelab.system{} and the System userdata.
local pagelab = require "pagelab"

local function small(opts)
  opts = opts or {}
  opts.ram = opts.ram or "4MiB"
  return assert(pagelab.system(opts))
end

describe("pagelab module", function()
  it("has a version string", function()
    assert.is_string(pagelab.version)
    assert.matches("^%d+%.%d+%.%d+", pagelab.version)
  end)

  it("lists the architectures", function()
    assert.same({ "x86", "x86-pae", "x64" }, pagelab.arches())
  end)

  it("describes one architecture", function()
    local a = pagelab.arch("x86")
    assert.equal("x86", a.name)
    assert.equal(32, a.va_bits)
    assert.equal(2, a.levels)
    assert.equal(4096, a.small_page)
    assert.equal(4 * 1024 * 1024, a.large_page)
    assert.equal(0x10000, a.user_lo)
  end)

  it("pagelab.arch raises on an unknown name", function()
    assert.has_error(function() pagelab.arch("vax") end)
  end)
end)

describe("pagelab.system", function()
  it("creates a system with every default", function()
    local sys = pagelab.system()
    assert.equal("pagelab.System", getmetatable(sys).__name)
    assert.equal(4096, sys.page_size)
    assert.equal("x64", sys.arch)
    assert.equal(2 * 1024 * 1024, sys.large_page_size)
    assert.is_false(sys.closed)
    local c = sys:config()
    assert.equal(256 * 1024 * 1024, c.ram)
    assert.equal("aging", c.policy[1])
    sys:close()
  end)

  it("takes every documented option", function()
    local sys = pagelab.system{
      arch = "x86-pae", ram = "64MiB", pagefile = "128MiB", page_size = "8KiB",
      large_page_size = "4MiB", policy = "aging", seed = 7, contents = false,
      tlb = { entries = 64, ways = 4, large_entries = 8, large_ways = 8 },
      tune = { refs_per_second = 5000, ws_min = 10, ws_max = 100,
               min_free_pages = 20, plenty_free_pages = 300, trim_age = 2,
               mpw_threshold = 100, mpw_batch = 32, zero_threshold = 4,
               standby_priority = 3 },
    }
    assert.equal("x86-pae", sys.arch)
    assert.equal(8192, sys.page_size)
    assert.equal(4 * 1024 * 1024, sys.large_page_size)
    local c = sys:config()
    assert.equal(64 * 1024 * 1024, c.ram)
    assert.equal(128 * 1024 * 1024, c.pagefile)
    assert.equal(7, c.seed)
    assert.equal(64, c.tlb.entries)
    assert.equal(4, c.tlb.ways)
    assert.equal(5000, c.tune.refs_per_second)
    assert.equal(3, c.tune.standby_priority)
    assert.equal(2, c.tune.trim_age)
    sys:close()
  end)

  it("accepts sizes as numbers", function()
    local sys = pagelab.system{ ram = 8 * 1024 * 1024, page_size = 4096 }
    assert.equal(8 * 1024 * 1024, sys:config().ram)
  end)

  it("accepts a policy table", function()
    -- only the options of that policy are accepted (aging takes none)
    local sys = small{ policy = { "aging" } }
    assert.equal("aging", sys:config().policy[1])
  end)

  describe("misuse raises, naming the argument", function()
    it("unknown option key", function()
      assert.has_error(function() pagelab.system{ rma = "1MiB" } end,
                       nil)
      local ok, err = pcall(pagelab.system, { rma = "1MiB" })
      assert.is_false(ok)
      assert.matches("unknown option 'rma'", err)
    end)

    it("unknown key in tlb and tune", function()
      local ok, err = pcall(pagelab.system, { tlb = { entires = 4 } })
      assert.is_false(ok)
      assert.matches("entires", err)
      ok, err = pcall(pagelab.system, { tune = { trim_aeg = 4 } })
      assert.is_false(ok)
      assert.matches("trim_aeg", err)
    end)

    it("wrong type", function()
      local ok, err = pcall(pagelab.system, { contents = 1 })
      assert.is_false(ok)
      assert.matches("contents", err)
      ok, err = pcall(pagelab.system, { seed = "x" })
      assert.is_false(ok)
      assert.matches("seed", err)
      ok, err = pcall(pagelab.system, { tlb = 4 })
      assert.is_false(ok)
      assert.matches("tlb", err)
      ok, err = pcall(pagelab.system, { tune = { ws_min = 1.5 } })
      assert.is_false(ok)
      assert.matches("tune.ws_min", err)
      ok, err = pcall(pagelab.system, { policy = 42 })
      assert.is_false(ok)
      assert.matches("policy", err)
      ok, err = pcall(pagelab.system, "big")
      assert.is_false(ok)
    end)

    it("negative or too large integers", function()
      local ok, err = pcall(pagelab.system, { seed = -1 })
      assert.is_false(ok)
      assert.matches("seed", err)
      ok, err = pcall(pagelab.system, { tune = { ws_max = 1 << 40 } })
      assert.is_false(ok)
      assert.matches("tune.ws_max", err)
    end)

    it("bad size string", function()
      local ok, err = pcall(pagelab.system, { ram = "12 parsecs" })
      assert.is_false(ok)
      assert.matches("ram", err)
    end)

    it("unknown architecture", function()
      local ok, err = pcall(pagelab.system, { arch = "vax" })
      assert.is_false(ok)
      assert.matches("arch", err)
      assert.matches("x86%-pae", err)
    end)

    it("policy table without a name, or with an option it does not take",
       function()
      local ok, err = pcall(pagelab.system, { policy = { tau = 5 } })
      assert.is_false(ok)
      assert.matches("policy", err)
      ok, err = pcall(pagelab.system, { policy = { "aging", tau = 5 } })
      assert.is_false(ok)
      assert.matches("unknown option 'tau'", err)
    end)
  end)

  describe("Windows failures return nil, status, message", function()
    it("page_size 3000 is STATUS_INVALID_PARAMETER", function()
      local sys, status, msg = pagelab.system{ page_size = 3000 }
      assert.is_nil(sys)
      assert.equal("STATUS_INVALID_PARAMETER", status)
      assert.matches("3000", msg)
    end)

    it("a huge page_size is STATUS_INVALID_PARAMETER too", function()
      local sys, status = pagelab.system{ page_size = "8GiB" }
      assert.is_nil(sys)
      assert.equal("STATUS_INVALID_PARAMETER", status)
    end)

    it("an unknown policy name", function()
      local sys, status, msg = pagelab.system{ policy = "no-such-policy" }
      assert.is_nil(sys)
      assert.equal("STATUS_INVALID_PARAMETER", status)
      assert.matches("no%-such%-policy", msg)
    end)

    it("a TLB geometry the core cannot build", function()
      local sys, status, msg = pagelab.system{ tlb = { entries = 7, ways = 4 } }
      assert.is_nil(sys)
      assert.equal("STATUS_INVALID_PARAMETER", status)
      assert.matches("TLB", msg)
    end)

    it("too little ram", function()
      local sys, status = pagelab.system{ ram = "4KiB" }
      assert.is_nil(sys)
      assert.equal("STATUS_INVALID_PARAMETER", status)
    end)
  end)
end)

describe("System methods", function()
  it("sys:process and sys:processes", function()
    local sys = small()
    local a = sys:process{ name = "a" }
    local b = sys:process()
    assert.equal("pagelab.Process", getmetatable(a).__name)
    local list = sys:processes()
    assert.equal(2, #list)
    assert.equal(a, list[1]) -- the same objects, not copies
    assert.equal(b, list[2])
    b:terminate()
    list = sys:processes()
    assert.equal(1, #list)
    assert.equal(a, list[1])
  end)

  it("sys:process rejects bad options", function()
    local sys = small()
    local ok, err = pcall(sys.process, sys, { nmae = "x" })
    assert.is_false(ok)
    assert.matches("unknown option 'nmae'", err)
    ok, err = pcall(sys.process, sys, { hard_max = "yes" })
    assert.is_false(ok)
    assert.matches("hard_max", err)
    ok, err = pcall(sys.process, sys, { ws_min = -3 })
    assert.is_false(ok)
    assert.matches("ws_min", err)
  end)

  it("sys:process returns a status for limits the core refuses", function()
    local sys = small()
    local p, status, msg = sys:process{ ws_min = 100, ws_max = 10 }
    assert.is_nil(p)
    assert.equal("STATUS_INVALID_PARAMETER", status)
    assert.is_string(msg)
  end)

  it("sys:stats has every counter", function()
    local sys = small()
    local st = sys:stats()
    for _, k in ipairs{ "available", "free", "zeroed", "standby", "modified",
                        "modified_nowrite", "active", "bad", "commit_charge",
                        "commit_limit", "pagefile_reads", "pagefile_writes",
                        "repurposed", "wsm_runs", "time", "total_frames" } do
      assert.is_number(st[k], k)
    end
    assert.equal(1024, st.total_frames) -- 4 MiB of 4 KiB pages
    assert.equal(8, #st.standby_by_priority)
  end)

  it("sys:tick advances time and runs the manager once a second", function()
    local sys = small{ tune = { refs_per_second = 1000 } }
    local t0 = sys:stats()
    assert.is_true(sys:tick(2500))
    local t1 = sys:stats()
    assert.equal(t0.time + 2500, t1.time)
    assert.equal(t0.wsm_runs + 2, t1.wsm_runs)
    assert.has_error(function() sys:tick(-1) end)
    assert.has_error(function() sys:tick("soon") end)
  end)

  it("sys:wsm runs the manager now", function()
    local sys = small()
    local before = sys:stats().wsm_runs
    assert.is_true(sys:wsm())
    assert.equal(before + 1, sys:stats().wsm_runs)
  end)

  it("sys:check is true on a healthy system", function()
    local sys = small()
    local p = sys:process()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    p:access(a, "w")
    assert.is_true(sys:check())
  end)

  it("__tostring names the type", function()
    local sys = small()
    assert.matches("^pagelab.System %(x64", tostring(sys))
    sys:close()
    assert.matches("closed", tostring(sys))
  end)

  it("unknown fields are nil, methods are functions", function()
    local sys = small()
    assert.is_nil(sys.nonsense)
    assert.is_nil(sys[1])
    assert.is_function(sys.stats)
  end)
end)

describe("closing", function()
  it("a closed System raises on every method", function()
    local sys = small()
    local p = sys:process()
    sys:close()
    assert.is_true(sys.closed)
    for _, call in ipairs{
      function() sys:stats() end, function() sys:process() end,
      function() sys:processes() end, function() sys:tick(1) end,
      function() sys:wsm() end, function() sys:check() end,
      function() sys:config() end, function() return sys.page_size end,
      function() return sys.arch end,
      function() p:stats() end, function() p:access(0x10000, "r") end,
      function() p:alloc(nil, 4096, "reserve", "readwrite") end,
      function() return p.name end,
    } do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.matches("attempt to use a closed System", err)
    end
    -- the pid is the handle itself
    assert.equal(1, p.pid)
  end)

  it("close, __close and __gc twice are harmless", function()
    local sys = small()
    local mt = getmetatable(sys)
    assert.equal(mt.__gc, mt.__close)
    sys:close()
    sys:close()
    mt.__gc(sys)
    mt.__close(sys)
    assert.is_true(sys.closed)
  end)

  it("a <close> variable closes the system at the end of its scope",
     function()
    local keep
    do
      local sys <close> = small()
      keep = sys
      assert.is_false(keep.closed)
    end
    assert.is_true(keep.closed)
  end)

  it("garbage collection of an unreachable System is safe", function()
    for _ = 1, 20 do
      local sys = small()
      sys:process():alloc(nil, "64KiB", "reserve|commit", "readwrite")
    end
    collectgarbage()
    collectgarbage()
  end)
end)
