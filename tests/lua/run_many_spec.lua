-- sys:run: several processes, each with its own workload, in one run.
local pagelab = require "pagelab"

describe("sys:run", function()
  local function setup()
    local sys = pagelab.system{ ram = "4MiB", pagefile = "16MiB" }
    local ps, ws = {}, {}
    for k = 1, 3 do
      ps[k] = sys:process{ name = "p" .. k, ws_max = 64 }
      local base = assert(ps[k]:alloc(nil, "1MiB", "reserve|commit", "readwrite"))
      ws[k] = pagelab.workload.zipf{ base = base, size = "1MiB", alpha = 0.8, seed = k }
    end
    return sys, ps, ws
  end

  it("runs each process its own references, round robin", function()
    local sys, ps, ws = setup()
    local r = sys:run({ { ps[1], ws[1], 3000 }, { ps[2], ws[2], 5000 },
                        { ps[3], ws[3] } }, { refs = 4000, quantum = 500 })
    assert.equal(3, #r)
    assert.equal(3000, r[1].refs)
    assert.equal(5000, r[2].refs)
    assert.equal(4000, r[3].refs)
    assert.equal(12000, sys:stats().refs)
    for k = 1, 3 do
      assert.equal(r[k].refs, r[k].hits + r[k].faults)
      assert.equal(r[k].refs, ps[k]:stats().refs)
    end
    assert.is_true(sys:check())
  end)

  it("is reproducible", function()
    local function once()
      local sys, ps, ws = setup()
      local r = sys:run({ { ps[1], ws[1] }, { ps[2], ws[2] } }, { refs = 6000, quantum = 250 })
      return r[1].faults, r[2].faults, sys:stats().trimmed
    end
    local a1, a2, a3 = once()
    local b1, b2, b3 = once()
    assert.same({ a1, a2, a3 }, { b1, b2, b3 })
  end)

  it("refuses misuse with a message naming the problem", function()
    local sys, ps, ws = setup()
    assert.has_error(function() sys:run({}) end)
    assert.has_error(function() sys:run({ { ps[1], ws[1] } }) end, nil)
    assert.has_error(function() sys:run({ { ps[1], ws[1], 10 } }, { quantum = 0 }) end)
    assert.has_error(function() sys:run({ { ps[1], ws[1], 10 } }, { bogus = 1 }) end)
    assert.has_error(function() sys:run({ { ws[1], ps[1], 10 } }) end)
    local other = pagelab.system{ ram = "4MiB" }
    local q = other:process{}
    local ok, err = pcall(sys.run, sys, { { q, ws[1], 10 } })
    assert.is_false(ok)
    assert.matches("another System", err)
  end)
end)
