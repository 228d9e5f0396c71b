-- tests/lua/process_spec.lua — the Process userdata: NT virtual-memory
-- calls, single references, runs and counters.
local pagelab = require "pagelab"

local KiB = 1024

local function setup(sysopts, procopts)
  sysopts = sysopts or {}
  sysopts.ram = sysopts.ram or "4MiB"
  local sys = assert(pagelab.system(sysopts))
  return sys, assert(sys:process(procopts or { name = "app" }))
end

-- Asserts a Windows failure: nil, the status name, a sentence.
local function fails(status, ok, got, msg)
  assert.is_nil(ok)
  assert.equal(status, got)
  assert.is_string(msg)
  assert.is_true(#msg > 0)
end

describe("Process fields", function()
  it("pid, name, alive, system", function()
    local sys, p = setup()
    assert.equal(1, p.pid)
    assert.equal("app", p.name)
    assert.is_true(p.alive)
    assert.equal(sys, p.system)
    assert.is_nil(p.nonsense)
    assert.matches("^pagelab.Process 1 'app'", tostring(p))
  end)

  it("a default name", function()
    local sys = assert(pagelab.system{ ram = "4MiB" })
    assert.is_string(sys:process().name)
  end)
end)

describe("p:alloc", function()
  it("reserves then commits, returning rounded base and size", function()
    local _, p = setup()
    local a, n = p:alloc(nil, "1MiB", "reserve", "readwrite")
    assert.equal("integer", math.type(a))
    assert.equal(0, a % (64 * KiB))
    assert.equal(1024 * KiB, n)
    local b, m = p:alloc(a + 100, 5000, "commit", "readwrite")
    assert.equal(a, b)           -- rounded down to the page
    assert.equal(8 * KiB, m)     -- two pages
  end)

  it("reserve|commit and modifiers", function()
    local _, p = setup()
    local lo = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    local hi = p:alloc(nil, "64KiB", "reserve | commit | top_down",
                       "readwrite")
    assert.is_true(hi > lo)
    assert.is_truthy(p:alloc(nil, "64KiB", "reserve|commit",
                             "readwrite|guard"))
    assert.is_truthy(p:alloc(nil, "64KiB", "reserve|commit",
                             "execute_read|nocache"))
  end)

  it("reset", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    local b, n = p:alloc(a, "64KiB", "reset", "readwrite")
    assert.equal(a, b)
    assert.equal(64 * KiB, n)
  end)

  it("misuse raises, naming the argument", function()
    local _, p = setup()
    local ok, err = pcall(p.alloc, p, nil, "64KiB", "reserve", "readwrit")
    assert.is_false(ok)
    assert.matches("unknown protection word 'readwrit'", err)
    ok, err = pcall(p.alloc, p, nil, "64KiB", "reserve|top_down|bogus",
                    "readwrite")
    assert.is_false(ok)
    assert.matches("bogus", err)
    ok, err = pcall(p.alloc, p, nil, "64KiB", "reserve|", "readwrite")
    assert.is_false(ok)
    assert.matches("type", err)
    ok, err = pcall(p.alloc, p, nil, "64 furlongs", "reserve", "readwrite")
    assert.is_false(ok)
    assert.matches("size", err)
    ok, err = pcall(p.alloc, p, "here", "64KiB", "reserve", "readwrite")
    assert.is_false(ok)
    assert.matches("addr", err)
    ok, err = pcall(p.alloc, p, -4096, "64KiB", "reserve", "readwrite")
    assert.is_false(ok)
    assert.matches("addr", err)
    ok, err = pcall(p.alloc, p, nil, "64KiB", 7, "readwrite")
    assert.is_false(ok)
    assert.matches("type", err)
    ok, err = pcall(p.alloc, p, nil, "64KiB", "reserve", true)
    assert.is_false(ok)
    assert.matches("protect", err)
  end)

  it("STATUS_CONFLICTING_ADDRESSES", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve", "readwrite")
    fails("STATUS_CONFLICTING_ADDRESSES",
          p:alloc(a, "64KiB", "reserve", "readwrite"))
  end)

  it("STATUS_INVALID_PAGE_PROTECTION for combinations the core rejects",
     function()
    local _, p = setup()
    fails("STATUS_INVALID_PAGE_PROTECTION",
          p:alloc(nil, "64KiB", "reserve", "readonly|readwrite"))
    fails("STATUS_INVALID_PAGE_PROTECTION",
          p:alloc(nil, "64KiB", "reserve", "writecopy"))
    fails("STATUS_INVALID_PAGE_PROTECTION",
          p:alloc(nil, "64KiB", "reserve", "guard"))
  end)

  it("STATUS_COMMITMENT_LIMIT", function()
    local _, p = setup{ ram = "1MiB", pagefile = 0 }
    local a = assert(p:alloc(nil, "4MiB", "reserve", "readwrite"))
    fails("STATUS_COMMITMENT_LIMIT", p:alloc(a, "4MiB", "commit", "readwrite"))
  end)

  it("STATUS_INVALID_PARAMETER_n for sizes and types", function()
    local _, p = setup()
    local _, status = p:alloc(nil, 0, "reserve", "readwrite")
    assert.matches("^STATUS_INVALID_PARAMETER", status)
    _, status = p:alloc(nil, "64KiB", "top_down", "readwrite")
    assert.matches("^STATUS_INVALID_PARAMETER", status)
  end)

  it("other statuses: reset with commit, write_watch, base out of range",
     function()
    local _, p = setup()
    fails("STATUS_INVALID_PARAMETER_5",
          p:alloc(nil, "64KiB", "reset|commit", "readwrite"))
    fails("STATUS_NOT_SUPPORTED",
          p:alloc(nil, "64KiB", "reserve|write_watch", "readwrite"))
    fails("STATUS_INVALID_PARAMETER_2",
          p:alloc(0x1000, "64KiB", "reserve", "readwrite"))
  end)

  it("protection as a raw PAGE_* number", function()
    local _, p = setup()
    assert.is_truthy(p:alloc(nil, "64KiB", "reserve|commit", 0x04))
    fails("STATUS_INVALID_PAGE_PROTECTION",
          p:alloc(nil, "64KiB", "reserve", 0x06))
  end)
end)

describe("p:free", function()
  it("decommits and releases", function()
    local _, p = setup()
    local a = p:alloc(nil, "128KiB", "reserve|commit", "readwrite")
    local b, n = p:free(a, "64KiB", "decommit")
    assert.equal(a, b)
    assert.equal(64 * KiB, n)
    assert.equal("reserve", p:query(a).state)
    b, n = p:free(a, 0, "release")
    assert.equal(a, b)
    assert.equal(128 * KiB, n)
    assert.equal("free", p:query(a).state)
  end)

  it("STATUS_MEMORY_NOT_ALLOCATED", function()
    local _, p = setup()
    fails("STATUS_MEMORY_NOT_ALLOCATED", p:free(0x20000000, 0, "release"))
  end)

  it("STATUS_FREE_VM_NOT_AT_BASE", function()
    local _, p = setup()
    local a = p:alloc(nil, "128KiB", "reserve", "readwrite")
    fails("STATUS_FREE_VM_NOT_AT_BASE", p:free(a + 64 * KiB, 0, "release"))
  end)

  it("STATUS_UNABLE_TO_FREE_VM", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve", "readwrite")
    fails("STATUS_UNABLE_TO_FREE_VM", p:free(a, "128KiB", "release"))
  end)

  it("STATUS_INVALID_PARAMETER_4 for both free types at once", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve", "readwrite")
    fails("STATUS_INVALID_PARAMETER_4", p:free(a, 0, "decommit|release"))
  end)

  it("misuse raises", function()
    local _, p = setup()
    local ok, err = pcall(p.free, p, 0x10000, 0, "delete")
    assert.is_false(ok)
    assert.matches("unknown free type word 'delete'", err)
    ok, err = pcall(p.free, p, nil, 0, "release")
    assert.is_false(ok)
    assert.matches("addr", err)
  end)
end)

describe("p:protect", function()
  it("returns the previous protection of the first page", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    local old, b, n = p:protect(a, "4KiB", "readonly")
    assert.equal("readwrite", old)
    assert.equal(a, b)
    assert.equal(4 * KiB, n)
    assert.equal("readonly", (p:protect(a, "8KiB", "readwrite|guard")))
    assert.equal("readwrite|guard", (p:protect(a, "4KiB", "noaccess")))
  end)

  it("STATUS_NOT_COMMITTED", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve", "readwrite")
    fails("STATUS_NOT_COMMITTED", p:protect(a, "4KiB", "readonly"))
  end)

  it("STATUS_INVALID_PAGE_PROTECTION", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    fails("STATUS_INVALID_PAGE_PROTECTION",
          p:protect(a, "4KiB", "readonly|execute"))
  end)

  it("STATUS_CONFLICTING_ADDRESSES on free memory", function()
    local _, p = setup()
    fails("STATUS_CONFLICTING_ADDRESSES",
          p:protect(0x30000000, "4KiB", "readonly"))
  end)

  it("an unknown protection word raises", function()
    local _, p = setup()
    local ok, err = pcall(p.protect, p, 0x10000, 4096, "readwrite|gaurd")
    assert.is_false(ok)
    assert.matches("gaurd", err)
  end)
end)

describe("p:query", function()
  it("describes committed, reserved and free memory", function()
    local _, p = setup()
    local a = p:alloc(nil, "128KiB", "reserve", "readwrite")
    p:alloc(a, "64KiB", "commit", "readonly")
    local q = p:query(a + 100)
    assert.same({ base = a, allocation_base = a,
                  allocation_protect = "readwrite", size = 64 * KiB,
                  state = "commit", protect = "readonly",
                  type = "private" }, q)
    q = p:query(a + 64 * KiB)
    assert.equal("reserve", q.state)
    assert.is_nil(q.protect) -- reserved pages have no protection
    assert.equal("private", q.type)
    assert.equal(64 * KiB, q.size)
    q = p:query(0x40000000)
    assert.equal("free", q.state)
    assert.equal("noaccess", q.protect) -- what Windows reports for free
    assert.equal(0, q.allocation_base)
    assert.is_nil(q.type)
    assert.is_nil(q.allocation_protect)
  end)

  it("fails with a status above the user range", function()
    local _, p = setup()
    fails("STATUS_INVALID_PARAMETER_2", p:query(1 << 62))
  end)

  it("misuse raises", function()
    local _, p = setup()
    assert.has_error(function() p:query("there") end)
  end)
end)

describe("p:access", function()
  it("demand_zero, then hit", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    assert.equal("demand_zero", p:access(a, "w"))
    assert.equal("hit", p:access(a, "r"))
    assert.equal("hit", p:access(a + 100, "w"))
    assert.equal("demand_zero", p:access(a + 4 * KiB, "read"))
    assert.equal("hit", p:access(a + 4 * KiB, "write"))
  end)

  it("access_violation on reserved, free and read-only memory", function()
    local _, p = setup()
    local a = p:alloc(nil, "128KiB", "reserve", "readwrite")
    assert.equal("access_violation", p:access(a, "r"))
    assert.equal("access_violation", p:access(0x50000000, "r"))
    p:alloc(a, "4KiB", "commit", "readonly")
    assert.equal("demand_zero", p:access(a, "r"))
    assert.equal("access_violation", p:access(a, "w"))
    assert.equal("access_violation", p:access(a, "x"))
  end)

  it("guard pages fire once", function()
    local _, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite|guard")
    assert.equal("guard", p:access(a, "r"))
    assert.equal("demand_zero", p:access(a, "r"))
  end)

  it("a trim, then a soft fault", function()
    local sys, p = setup({ ram = "1MiB", tune = { trim_age = 0 } },
                         { ws_min = 1, ws_max = 2 })
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    for i = 0, 7 do
      assert.equal("demand_zero", p:access(a + i * 4 * KiB, "w"))
    end
    assert.equal(8, p:stats().ws_size)
    -- pass 1 clears the accessed bits, pass 2 finds the pages old
    assert.is_true(sys:wsm())
    assert.is_true(sys:wsm())
    local st = p:stats()
    assert.is_true(st.trimmed > 0)
    assert.is_true(st.ws_size <= 2)
    -- the trimmed page is still on the modified/standby list
    local outcomes = {}
    for i = 0, 7 do outcomes[#outcomes + 1] = p:access(a + i * 4 * KiB, "r") end
    assert.is_truthy(table.concat(outcomes, " "):find("soft"))
    assert.is_true(p:stats().soft > 0)
  end)

  it("misuse raises", function()
    local _, p = setup()
    local ok, err = pcall(p.access, p, 0x10000, "q")
    assert.is_false(ok)
    assert.matches("kind", err)
    ok, err = pcall(p.access, p, 0x10000)
    assert.is_false(ok)
    assert.matches("kind", err)
    ok, err = pcall(p.access, p, "x", "r")
    assert.is_false(ok)
    assert.matches("addr", err)
    ok, err = pcall(p.access, p, 1.5, "r")
    assert.is_false(ok)
    assert.matches("addr", err)
    ok = pcall(p.access, {}, 0x10000, "r")
    assert.is_false(ok)
    local sys = p.system
    ok = pcall(p.access, sys, 0x10000, "r")
    assert.is_false(ok)
  end)

  it("a cached access function still checks its arguments", function()
    local sys, p = setup()
    local access = p.access
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    assert.equal("demand_zero", access(p, a, "w"))
    assert.has_error(function() access(sys, a, "r") end)
    assert.has_error(function() access(nil, a, "r") end)
    sys:close()
    local ok, err = pcall(access, p, a, "r")
    assert.is_false(ok)
    assert.matches("attempt to use a closed System", err)
  end)

  it("raises on a terminated process", function()
    local _, p = setup()
    assert.is_true(p:terminate())
    assert.is_false(p.alive)
    local ok, err = pcall(p.access, p, 0x10000, "r")
    assert.is_false(ok)
    assert.matches("terminated", err)
  end)
end)

describe("p:run", function()
  it("runs a workload and returns this run's counters", function()
    local _, p = setup({ ram = "16MiB" })
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    local w = pagelab.workload.uniform{ base = a, size = 64 * KiB }
    local st = p:run(w, 1000)
    assert.equal(1000, st.refs)
    assert.equal(st.refs, st.hits + st.faults)
    assert.equal(st.hard, st.hard_faults)
    assert.equal(st.soft, st.soft_faults)
    assert.is_true(st.demand_zero > 0 and st.demand_zero <= 16)
    assert.is_number(st.ws_size)   -- the process's stats come along
    assert.is_number(st.ws_peak)
    local st2 = p:run(w, 1000)
    assert.equal(1000, st2.refs)   -- counters of the run, not cumulative
    assert.equal(2000, p:stats().refs)
    assert.equal(0, p:run(w, 0).refs)
  end)

  it("commits touched pages unless strict", function()
    local _, p = setup({ ram = "16MiB" })
    local w = pagelab.workload.uniform{ base = 0x10000000, size = 64 * KiB }
    local st = p:run(w, 100, { strict = true })
    assert.equal(100, st.access_violations)
    st = p:run(w, 100)
    assert.equal(0, st.access_violations)
    assert.is_true(st.demand_zero > 0)
  end)

  it("misuse raises", function()
    local _, p = setup()
    local w = pagelab.workload.uniform{ base = 0x10000000, size = 64 * KiB }
    local ok, err = pcall(p.run, p, w)
    assert.is_false(ok)
    assert.matches("endless", err)
    ok, err = pcall(p.run, p, w, -1)
    assert.is_false(ok)
    ok, err = pcall(p.run, p, w, 10, { strcit = true })
    assert.is_false(ok)
    assert.matches("unknown option 'strcit'", err)
    ok, err = pcall(p.run, p, w, 10, { strict = 1 })
    assert.is_false(ok)
    assert.matches("strict", err)
    ok = pcall(p.run, p, "trace.txt", 10)
    assert.is_false(ok)
  end)

  it("a malformed trace raises, naming the file", function()
    local _, p = setup({ ram = "16MiB" })
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("W 10000000\nR 10001000\nthis is not a reference\n")
    f:close()
    local tr = pagelab.trace.open(path, { format = "text" })
    local ok, err = pcall(p.run, p, tr)
    os.remove(path)
    assert.is_false(ok)
    assert.matches("run: ", err)
    assert.matches(path:match("[^/]+$"), err, 1, true)
  end)

  it("replays a whole trace when n is absent", function()
    local _, p = setup({ ram = "16MiB" })
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    for i = 0, 9 do f:write(string.format("W %x\n", 0x10000000 + i * 4096)) end
    for i = 0, 9 do f:write(string.format("R %x\n", 0x10000000 + i * 4096)) end
    f:close()
    local st = p:run(pagelab.trace.open(path))
    os.remove(path)
    assert.equal(20, st.refs)
    assert.equal(10, st.demand_zero)
    assert.equal(10, st.hits)
  end)
end)

describe("p:stats, p:set_ws, p:terminate", function()
  it("p:stats has every counter", function()
    local _, p = setup(nil, { ws_min = 20, ws_max = 40 })
    local st = p:stats()
    for _, k in ipairs{ "refs", "hits", "faults", "demand_zero", "soft",
                        "hard", "cow", "guard", "access_violations",
                        "ws_size", "ws_peak", "ws_min", "ws_max",
                        "private_pages", "commit", "trimmed" } do
      assert.is_number(st[k], k)
    end
    assert.equal(20, st.ws_min)
    assert.equal(40, st.ws_max)
  end)

  it("p:set_ws changes the limits", function()
    local _, p = setup()
    assert.is_true(p:set_ws{ ws_min = 5, ws_max = 9 })
    assert.equal(5, p:stats().ws_min)
    assert.equal(9, p:stats().ws_max)
    assert.is_true(p:set_ws{ ws_max = 12 })
    assert.equal(5, p:stats().ws_min)
    fails("STATUS_INVALID_PARAMETER", p:set_ws{ ws_min = 50, ws_max = 10 })
    assert.has_error(function() p:set_ws{ wsmax = 10 } end)
  end)

  it("p:terminate frees the address space; stats stay readable", function()
    local sys, p = setup()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    p:access(a, "w")
    local charged = sys:stats().commit_charge
    assert.is_true(p:terminate())
    assert.is_true(sys:stats().commit_charge < charged)
    assert.equal(1, p:stats().demand_zero)
    local ok, status = p:terminate()
    assert.is_nil(ok)
    assert.equal("STATUS_PROCESS_IS_TERMINATING", status)
    fails("STATUS_PROCESS_IS_TERMINATING",
          p:alloc(nil, "64KiB", "reserve", "readwrite"))
  end)
end)

describe("lifetime", function()
  it("a Process keeps its System alive", function()
    local sys = assert(pagelab.system{ ram = "4MiB" })
    local p = sys:process()
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    sys = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.equal("demand_zero", p:access(a, "w"))
    assert.equal("hit", p:access(a, "r"))
    assert.is_false(p.system.closed)
  end)
end)
