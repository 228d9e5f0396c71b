-- Teaching hooks and the event log (DESIGN.md §4).
local pagelab = require "pagelab"

describe("hooks", function()
  local function setup(ws_max)
    local sys = pagelab.system{ ram = "2MiB", pagefile = "8MiB" }
    local p = sys:process{ ws_min = 1, ws_max = ws_max or 4, hard_max = true }
    local a = assert(p:alloc(nil, "64KiB", "reserve|commit", "readwrite"))
    return sys, p, a
  end

  it("sees every fault and every replaced page, never a hit", function()
    local sys, p, a = setup(2)
    local faults, trims = {}, {}
    sys:hook("fault", function(ev) faults[#faults + 1] = ev end)
    sys:hook("trim", function(ev) trims[#trims + 1] = ev end)
    p:access(a, "w")
    p:access(a, "r")                      -- a hit: no event
    p:access(a + 4096, "r")
    p:access(a + 8192, "r")               -- replaces a page
    assert.equal(3, #faults)
    assert.same({ "demand_zero", "w", a, p.pid },
                { faults[1].outcome, faults[1].access, faults[1].va, faults[1].pid })
    assert.equal(1, #trims)
    assert.is_true(trims[1].replaced)
    assert.equal("trim", trims[1].kind)
    sys:hook("fault", nil)
    p:access(a + 12288, "r")
    assert.equal(3, #faults)
  end)

  it("stops the run with the hook's error", function()
    local sys, p, a = setup()
    sys:hook("fault", function() error("enough") end)
    local ok, err = pcall(p.access, p, a, "r")
    assert.is_false(ok)
    assert.matches("enough", err)
    local w = pagelab.workload.loop{ base = a, size = "64KiB" }
    ok, err = pcall(p.run, p, w, 100)
    assert.is_false(ok)
    assert.matches("fault hook", err)
    sys:hook("fault", nil)
    assert.equal("hit", p:access(a, "r"))
    assert.is_true(sys:check())
  end)

  it("keeps an event log of the last n events", function()
    local sys, p, a = setup()
    sys:event_log(3)
    for k = 0, 7 do p:access(a + k * 4096, "r") end
    local ev = sys:events()
    assert.equal(3, #ev)
    assert.is_true(ev[1].time < ev[3].time)
    assert.equal(1, #sys:events(1))
    sys:event_log(0)
    assert.equal(0, #sys:events())
  end)

  it("refuses misuse", function()
    local sys = setup()
    assert.has_error(function() sys:hook("page", function() end) end)
    assert.has_error(function() sys:hook("fault", 42) end)
    assert.has_error(function() sys:event_log(-1) end)
    sys:close()
    assert.has_error(function() sys:hook("fault", nil) end, nil)
  end)
end)
