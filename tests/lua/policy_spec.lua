-- tests/lua/policy_spec.lua — trimming policies written in Lua
-- (pagelab.policy) and the `policy` option of pagelab.system.
local pagelab = require "pagelab"

local KiB = 1024

-- A system short of memory (1 MiB: always below plenty_free_pages), whose
-- manager trims pages that one pass found unreferenced, and a process
-- whose working set may hold 2 pages: touching 8 makes 6 to trim.
local function crowded(policy)
  local sys = assert(pagelab.system{ ram = "1MiB", policy = policy,
                                     tune = { trim_age = 0 } })
  local p = assert(sys:process{ ws_min = 1, ws_max = 2 })
  local a = assert(p:alloc(nil, "64KiB", "reserve|commit", "readwrite"))
  for i = 0, 7 do p:access(a + i * 4 * KiB, "w") end
  return sys, p, a
end

describe("pagelab.policy", function()
  it("returns the name it registered", function()
    local name = pagelab.policy{ name = "first_n",
                                 select = function() return {} end }
    assert.equal("first_n", name)
  end)

  it("a Lua policy is actually used", function()
    local calls, seen = 0, nil
    pagelab.policy{
      name = "counting",
      select = function(ws, n, pid)
        calls = calls + 1
        seen = { ws = ws, n = n, pid = pid }
        local v = {}
        for i = 1, math.min(n, #ws) do v[i] = i end
        return v
      end,
    }
    local sys, p = crowded("counting")
    assert.equal("counting", sys:config().policy[1])
    assert.is_true(sys:wsm())
    assert.is_true(sys:wsm())
    assert.is_true(calls > 0)
    assert.equal(p.pid, seen.pid)
    assert.is_true(seen.n >= 1)
    local e = seen.ws[1]
    assert.equal("integer", math.type(e.va))
    assert.equal(0, e.va % (4 * KiB))
    assert.equal("integer", math.type(e.age))
    assert.equal("integer", math.type(e.inserted))
    assert.is_boolean(e.accessed)
    assert.is_boolean(e.dirty)
    assert.is_boolean(e.shared)
    assert.is_true(p:stats().trimmed > 0)
  end)

  it("is used for replacement at a hard maximum", function()
    local calls = 0
    pagelab.policy{
      name = "replace_first",
      select = function(ws, n)
        calls = calls + 1
        assert(n >= 1 and #ws >= 1)
        return { 1 }
      end,
    }
    local sys = assert(pagelab.system{ ram = "4MiB",
                                       policy = "replace_first" })
    local p = sys:process{ ws_max = 3, hard_max = true }
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    for i = 0, 5 do p:access(a + i * 4 * KiB, "w") end
    assert.is_true(calls >= 3)
    assert.is_true(p:stats().ws_size <= 3)
  end)

  it("a policy that errors stops the run with its message", function()
    pagelab.policy{
      name = "broken",
      select = function() error("the policy broke here") end,
    }
    local sys, p, a = crowded("broken")
    local ok, err = pcall(sys.wsm, sys)
    assert.is_false(ok)
    assert.matches("the policy broke here", err)
    assert.matches("policy broken", err)
    -- the run in progress stops the same way
    local w = pagelab.workload.uniform{ base = a, size = 64 * KiB }
    sys:tick(1) -- any time passes: fine
    ok, err = pcall(p.run, p, w, 1000000)
    assert.is_false(ok)
    assert.matches("the policy broke here", err)
    -- the system is still usable and consistent afterwards
    assert.is_true(sys:check())
    assert.is_table(sys:stats())
  end)

  it("sys:tick raises a policy's failure too", function()
    pagelab.policy{ name = "broken_tick",
                    select = function() error("tick broke") end }
    local sys = assert(pagelab.system{ ram = "1MiB", policy = "broken_tick",
                                       tune = { refs_per_second = 1000 } })
    local p = sys:process{ ws_min = 1, ws_max = 2 }
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    for i = 0, 7 do p:access(a + i * 4 * KiB, "w") end
    local ok, err = pcall(sys.tick, sys, 5000)
    assert.is_false(ok)
    assert.matches("policy broken_tick: .*tick broke", err)
  end)

  it("stops a hard-maximum access with its message", function()
    pagelab.policy{
      name = "broken2",
      select = function() error({ not_a = "string" }) end,
    }
    local sys = assert(pagelab.system{ ram = "4MiB", policy = "broken2" })
    local p = sys:process{ ws_max = 1, hard_max = true }
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    assert.equal("demand_zero", p:access(a, "w"))
    local ok, err = pcall(p.access, p, a + 4 * KiB, "w")
    assert.is_false(ok)
    assert.matches("error object is a table", err)
  end)

  it("a bad return value is an error", function()
    for name, ret in pairs{
      ret_nil = function() return nil end,
      ret_string = function() return "1" end,
      ret_range = function(ws) return { #ws + 1 } end,
      ret_zero = function() return { 0 } end,
      ret_float = function() return { 1.5 } end,
      ret_twice = function() return { 1, 1 } end,
      ret_many = function(ws, n)
        local v = {}
        for i = 1, n + 1 do v[i] = i end
        return v
      end,
    } do
      pagelab.policy{ name = name, select = ret }
      local sys = crowded(name)
      local ok, err = pcall(sys.wsm, sys)
      assert.is_false(ok, name)
      assert.matches("policy " .. name, err)
    end
  end)

  it("the policy cannot change the system it serves", function()
    local sys_ref
    pagelab.policy{
      name = "meddler",
      select = function()
        sys_ref:tick(1)
        return {}
      end,
    }
    local sys = crowded("meddler")
    sys_ref = sys
    local ok, err = pcall(sys.wsm, sys)
    assert.is_false(ok)
    assert.matches("inside one of its callbacks", err)
    -- closing from inside is refused the same way
    pagelab.policy{ name = "closer",
                    select = function() sys_ref:close() return {} end }
    sys = crowded("closer")
    sys_ref = sys
    ok, err = pcall(sys.wsm, sys)
    assert.is_false(ok)
    assert.matches("callbacks", err)
    assert.is_false(sys.closed)
  end)

  it("may read counters from inside", function()
    local sys_ref, available
    pagelab.policy{
      name = "reader",
      select = function()
        available = sys_ref:stats().available
        return {}
      end,
    }
    local sys = crowded("reader")
    sys_ref = sys
    assert.is_true(sys:wsm())
    assert.is_true(sys:wsm())
    assert.is_number(available)
  end)

  it("redefining a name affects only systems created afterwards", function()
    local which
    pagelab.policy{ name = "redef", select = function() which = 1 return {} end }
    local old = crowded("redef")
    pagelab.policy{ name = "redef", select = function() which = 2 return {} end }
    old:wsm() old:wsm()
    assert.equal(1, which)
    local new = crowded("redef")
    new:wsm() new:wsm()
    assert.equal(2, which)
  end)

  it("the function lives as long as a system that uses it", function()
    local calls = 0
    pagelab.policy{ name = "kept", select = function() calls = calls + 1 return {} end }
    local sys = crowded("kept")
    pagelab.policy{ name = "kept", select = function() return {} end }
    collectgarbage()
    sys:wsm() sys:wsm()
    assert.is_true(calls > 0)
    sys:close()
  end)

  it("works when the system is driven from a coroutine", function()
    local calls = 0
    pagelab.policy{ name = "co", select = function(ws, n)
      calls = calls + 1
      local v = {}
      for i = 1, math.min(n, #ws) do v[i] = i end
      return v
    end }
    local sys
    local co = coroutine.wrap(function()
      sys = crowded("co")
      coroutine.yield()
      sys:wsm()
      sys:wsm()
    end)
    co()
    collectgarbage()
    co()
    co = nil -- luacheck: ignore
    collectgarbage()
    -- the coroutine is gone; the main thread drives the system now
    sys:wsm()
    assert.is_true(calls > 0)
  end)

  describe("misuse raises", function()
    it("bad registration", function()
      assert.has_error(function() pagelab.policy() end)
      assert.has_error(function() pagelab.policy{ select = function() end } end)
      assert.has_error(function() pagelab.policy{ name = "x" } end)
      assert.has_error(function()
        pagelab.policy{ name = "x", select = "not a function" }
      end)
      assert.has_error(function()
        pagelab.policy{ name = "", select = function() end }
      end)
      local ok, err = pcall(pagelab.policy,
                            { name = "x", select = function() end, extra = 1 })
      assert.is_false(ok)
      assert.matches("unknown option 'extra'", err)
      ok, err = pcall(pagelab.policy,
                      { name = "aging", select = function() end })
      assert.is_false(ok)
      assert.matches("built%-in", err)
    end)

    it("a Lua policy takes no options", function()
      pagelab.policy{ name = "plain", select = function() return {} end }
      local ok, err = pcall(pagelab.system, { policy = { "plain", tau = 1 } })
      assert.is_false(ok)
      assert.matches("unknown option 'tau'", err)
    end)
  end)
end)
