-- tests/lua/pool_spec.lua — the kernel-pool methods of System (l_pool.c).
local pagelab = require "pagelab"

local function small(opts)
  opts = opts or {}
  opts.ram = opts.ram or "4MiB"
  return assert(pagelab.system(opts))
end

-- f must raise, with a message matching pattern (when given)
local function raises(f, pattern)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  if pattern then assert.matches(pattern, tostring(err)) end
end

describe("sys:pools", function()
  it("reports the seed table's limits per architecture", function()
    local sys = small{ arch = "x64", ram = "64MiB" }
    local c = sys:pools()
    assert.same({ paged_pools = 4, nonpaged_max = 48 * 1024 * 1024,
                  paged_max = 128 << 30, nonpaged_initial = 0,
                  paged_initial = 0 }, c)
    sys:close()
    sys = small{ arch = "x86", ram = "64MiB" }
    c = sys:pools()
    assert.equal(48 * 1024 * 1024, c.nonpaged_max)
    assert.equal(2 << 30, c.paged_max)
    sys:close()
    sys = small{ arch = "x86-pae", ram = "16MiB" }
    assert.equal(12 * 1024 * 1024, sys:pools().nonpaged_max)
    sys:close()
  end)

  it("configures every option and returns the configuration in effect", function()
    local sys = small()
    local c = sys:pools{ paged_pools = 2, nonpaged_max = "1MiB", paged_max = 100000,
                         nonpaged_initial = "64KiB", paged_initial = 1 }
    assert.same({ paged_pools = 2, nonpaged_max = 1024 * 1024,
                  paged_max = 24 * 4096, nonpaged_initial = 65536,
                  paged_initial = 4096 }, c)
    assert.same(c, sys:pools())
    assert.equal(3, #sys:pool_stats().pools)
    assert.equal(16, sys:pool_stats().nonpaged.idle_pages)
    assert.equal(17, sys:stats().commit_charge)
  end)

  it("raises on unknown options, wrong types and bad values", function()
    local sys = small()
    raises(function() sys:pools{ paged = 2 } end, "unknown option 'paged'")
    raises(function() sys:pools{ paged_pools = "two" } end, "paged_pools")
    raises(function() sys:pools{ paged_pools = -1 } end, "paged_pools")
    raises(function() sys:pools{ paged_pools = 65 } end, "1 to 64")
    raises(function() sys:pools{ nonpaged_max = "lots" } end, "nonpaged_max")
    raises(function() sys:pools{ nonpaged_max = "64KiB", nonpaged_initial = "1MiB" } end,
           "nonpaged_initial")
    raises(function() sys:pools(5) end, "table expected")
    assert.equal(4, sys:pools().paged_pools)
  end)

  it("returns nil, status, message when initial pages cannot be had", function()
    local sys = small{ ram = "1MiB", pagefile = 0 }
    local v, status, msg = sys:pools{ paged_max = "1GiB", paged_initial = "8MiB" }
    assert.is_nil(v)
    assert.equal("STATUS_INSUFFICIENT_RESOURCES", status)
    assert.matches("commit limit", msg)
    assert.equal(0, sys:stats().commit_charge)
  end)

  it("raises once an allocation happened, even after it was freed", function()
    local sys = small()
    assert.is_true(sys:pool_free(assert(sys:pool_alloc("paged", 8, "Once"))))
    raises(function() sys:pools{ paged_pools = 1 } end, "before the first allocation")
    assert.equal(4, sys:pools().paged_pools)
  end)
end)

describe("sys:pool_alloc", function()
  it("returns the block's kernel address, after its header", function()
    local sys = small()
    local a = assert(sys:pool_alloc("paged", 200, "Tag1"))
    assert.equal("integer", math.type(a))
    assert.is_true(a >= 1 << 47)                 -- the kernel half (x64)
    assert.equal(0, a % 16)
    assert.is_true(a % 4096 ~= 0)
    local q = sys:pool_query(a)
    assert.same({ address = a, kind = "paged", pool = 1, tag = "Tag1",
                  requested = 200, size = 224, big = false }, q)
  end)

  it("rounds to 8 bytes on 32-bit profiles and 16 on x64", function()
    for arch, g in pairs{ x86 = 8, ["x86-pae"] = 8, x64 = 16 } do
      local sys = small{ arch = arch }
      local a = sys:pool_alloc("nonpaged", 1, "Rnd")
      assert.equal(2 * g, sys:pool_query(a).size)
      local b = sys:pool_alloc("nonpaged", 0, "Rnd")
      assert.equal(1, sys:pool_query(b).requested)
      local big = sys:pool_alloc("nonpaged", 4096 - 2 * g + 1, "Rnd")
      assert.is_true(sys:pool_query(big).big)
      assert.equal(0, big % 4096)
      sys:close()
    end
  end)

  it("accepts sizes with units and defaults the tag to None", function()
    local sys = small()
    local a = assert(sys:pool_alloc("nonpaged", "8KiB"))
    assert.equal("None", sys:pool_query(a).tag)
    assert.equal(8192, sys:pool_query(a).size)
    local b = assert(sys:pool_alloc("paged", 1e3, " ~"))
    assert.equal(" ~", sys:pool_query(b).tag)
  end)

  it("raises on an unknown kind, a bad tag, a bad size", function()
    local sys = small()
    raises(function() sys:pool_alloc("system", 8, "Tag") end, "invalid option 'system'")
    raises(function() sys:pool_alloc(1, 8, "Tag") end, "invalid option")
    raises(function() sys:pool_alloc(nil, 8, "Tag") end, "string expected")
    raises(function() sys:pool_alloc("paged", 8, "Tag12") end, "1 to 4 characters")
    raises(function() sys:pool_alloc("paged", 8, "") end, "1 to 4 characters")
    raises(function() sys:pool_alloc("paged", 8, "A\nB") end, "printable")
    raises(function() sys:pool_alloc("paged", 8, "BIG ") end, "reserved")
    raises(function() sys:pool_alloc("paged", 8, 1234) end, "string expected")
    raises(function() sys:pool_alloc("paged", -1, "Tag") end, "bytes")
    raises(function() sys:pool_alloc("paged", 1.5, "Tag") end, "bytes")
    raises(function() sys:pool_alloc("paged", "many", "Tag") end, "bytes")
    raises(function() sys:pool_alloc("paged", {}, "Tag") end, "bytes")
    raises(function() sys:pool_alloc("paged", nil, "Tag") end, "bytes")
    assert.same({}, sys:poolused())
  end)

  it("returns nil, STATUS_INSUFFICIENT_RESOURCES when a pool is exhausted", function()
    local sys = small()
    sys:pools{ nonpaged_max = "16KiB" }
    local blocks = {}
    while true do
      local a, status, msg = sys:pool_alloc("nonpaged", 3000, "Exh")
      if not a then
        assert.equal("STATUS_INSUFFICIENT_RESOURCES", status)
        assert.matches("maximum", msg)
        break
      end
      blocks[#blocks + 1] = a
    end
    assert.equal(4, #blocks)
    assert.equal(1, sys:pool_stats().nonpaged.failures)
    local v, status = sys:pool_alloc("paged", "1TiB", "Exh")
    assert.is_nil(v)
    assert.equal("STATUS_INSUFFICIENT_RESOURCES", status)
    for _, a in ipairs(blocks) do assert.is_true(sys:pool_free(a)) end
    assert.equal(0, sys:stats().commit_charge)
  end)
end)

describe("sys:pool_free", function()
  it("frees, and refuses a double free and a foreign address", function()
    local sys = small()
    local a = sys:pool_alloc("paged", 64, "Dbl")
    assert.is_true(sys:pool_free(a))
    local v, status, msg = sys:pool_free(a)
    assert.is_nil(v)
    assert.equal("STATUS_MEMORY_NOT_ALLOCATED", status)
    assert.matches("double free", msg)
    v, status, msg = sys:pool_free(0x10000)
    assert.is_nil(v)
    assert.equal("STATUS_INVALID_ADDRESS", status)
    assert.matches("not a pool allocation", msg)
    local b = sys:pool_alloc("paged", 64, "In")
    v, status = sys:pool_free(b + 16)
    assert.equal("STATUS_INVALID_ADDRESS", status)
    v, status = sys:pool_query(b + 16)
    assert.equal("STATUS_INVALID_ADDRESS", status)
    assert.is_true(sys:pool_free(b))
  end)

  it("raises on a wrong type or a negative address", function()
    local sys = small()
    raises(function() sys:pool_free("abc") end, "number expected")
    raises(function() sys:pool_free() end, "number expected")
    raises(function() sys:pool_free(1.5) end, "integer")
    raises(function() sys:pool_free(-4096) end, "negative")
  end)

  it("gives back pages and commit: nothing leaks", function()
    local sys = small()
    local st0 = sys:stats()
    local t = {}
    for i = 1, 200 do t[i] = sys:pool_alloc(i % 2 == 0 and "paged" or "nonpaged", i * 37, "Leak") end
    for i = 1, 200, 2 do assert.is_true(sys:pool_free(t[i])) end
    for i = 2, 200, 2 do assert.is_true(sys:pool_free(t[i])) end
    local st = sys:stats()
    assert.equal(st0.commit_charge, st.commit_charge)
    local ps = sys:pool_stats()
    assert.equal(0, ps.paged.pages)
    assert.equal(0, ps.nonpaged.pages)
    assert.is_true(sys:check())
  end)
end)

describe("sys:pool_touch", function()
  it("faults paged pool in and reports hits for non-paged pool", function()
    local sys = small()
    local big = sys:pool_alloc("paged", "16KiB", "Tch")
    local outcome, faults = sys:pool_touch(big)
    assert.equal("demand_zero", outcome)
    assert.equal(4, faults)
    assert.same({ "hit", 0 }, { sys:pool_touch(big, "r") })
    local np = sys:pool_alloc("nonpaged", "16KiB", "Tch")
    assert.same({ "hit", 0 }, { sys:pool_touch(np, "w") })
    assert.equal(4, sys:stats().system_faults)
  end)

  it("raises on a bad mode, returns nil for an unknown block", function()
    local sys = small()
    local a = sys:pool_alloc("paged", 8, "Tch")
    raises(function() sys:pool_touch(a, "x") end, "invalid option 'x'")
    raises(function() sys:pool_touch("a") end, "number expected")
    local v, status = sys:pool_touch(a + 8)
    assert.is_nil(v)
    assert.equal("STATUS_INVALID_ADDRESS", status)
  end)

  it("paged pool pages are trimmed under pressure and fault back", function()
    local sys = small{ ram = "8MiB", tune = { plenty_free_pages = 1000000 } }
    local a = sys:pool_alloc("paged", "2MiB", "Trim")          -- 512 pages
    assert.same({ "demand_zero", 512 }, { sys:pool_touch(a) })
    assert.equal(512, sys:stats().system_ws_size)
    for _ = 1, 6 do assert.is_true(sys:wsm()) end
    local st = sys:stats()
    assert.is_true(st.system_ws_size <= 350)                   -- the default maximum
    assert.is_true(sys:pool_stats().paged.resident_pages < 512)
    local outcome, faults = sys:pool_touch(a, "r")
    assert.equal("soft", outcome)
    assert.is_true(faults >= 512 - 350)
    assert.is_true(sys:stats().system_faults > st.system_faults)
  end)
end)

describe("views", function()
  it("sys:poolused lists tags per pool kind, like !poolused", function()
    local sys = small()
    sys:pool_alloc("paged", 100, "Zed")
    local b = sys:pool_alloc("paged", 200, "Abc")
    sys:pool_alloc("nonpaged", 300, "Abc")
    sys:pool_alloc("paged", 5000, "Abc")
    sys:pool_free(b)
    local rows = sys:poolused()
    assert.equal(3, #rows)
    assert.same({ tag = "Abc", pool = "nonpaged", allocs = 1, frees = 0, diff = 1,
                  bytes = 320, requested = 300, pages = 0 }, rows[1])
    assert.same({ tag = "Abc", pool = "paged", allocs = 2, frees = 1, diff = 1,
                  bytes = 8192, requested = 5000, pages = 2 }, rows[2])
    assert.equal("Zed", rows[3].tag)
  end)

  it("sys:pool_stats gives totals per kind and per pool", function()
    local sys = small()
    local a = sys:pool_alloc("nonpaged", 100, "St")
    local b = sys:pool_alloc("nonpaged", 100, "St")
    sys:pool_alloc("nonpaged", 100, "St")
    sys:pool_free(b)
    local st = sys:pool_stats()
    for _, k in ipairs{ "pages", "small_pages", "big_pages", "idle_pages", "peak_pages",
                        "max_pages", "resident_pages", "allocs", "frees", "failures",
                        "in_use", "bytes", "requested", "free_bytes", "largest_free",
                        "fragmentation" } do
      assert.is_number(st.nonpaged[k], k)
      assert.is_number(st.paged[k], k)
    end
    assert.equal(5, #st.pools)
    assert.equal("nonpaged", st.pools[1].kind)
    assert.equal(0, st.pools[1].index)
    assert.equal("paged", st.pools[5].kind)
    assert.equal(1, st.nonpaged.pages)
    assert.equal(4096 - 256, st.nonpaged.free_bytes)
    assert.equal(4096 - 384, st.nonpaged.largest_free)
    assert.is_true(st.nonpaged.fragmentation > 0 and st.nonpaged.fragmentation < 0.1)
    assert.equal(3, st.pools[1].allocs)
    assert.equal(1, st.pools[1].frees)
    assert.equal(256, st.nonpaged.bytes)
    assert.is_true(sys:pool_free(a))
  end)
end)

describe("a closed System", function()
  it("raises on every pool method", function()
    local sys = small()
    local a = sys:pool_alloc("paged", 8, "Cls")
    sys:close()
    for _, call in ipairs{
      function() sys:pools() end, function() sys:pools{} end,
      function() sys:pool_alloc("paged", 8, "Cls") end, function() sys:pool_free(a) end,
      function() sys:pool_touch(a) end, function() sys:pool_query(a) end,
      function() sys:poolused() end, function() sys:pool_stats() end } do
      raises(call, "attempt to use a closed System")
    end
  end)
end)
