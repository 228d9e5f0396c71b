-- source_spec.lua — pagelab.workload.*, pagelab.trace.* and the Workload and
-- Trace userdata (bindings/l_source.c, bindings/l_util.c).
local pagelab = require "pagelab"

local function tmpfile(content)
  local name = os.tmpname()
  if content then
    local f = assert(io.open(name, "wb"))
    f:write(content)
    f:close()
  end
  return name
end

local function traces_dir()
  local d = os.getenv("PAGELAB_TRACES")
  if d and d ~= "" then return d end
  return "../shared/traces"
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local kinds = {
  uniform = {},
  zipf = { alpha = 0.9 },
  sequential = { stride = 64 },
  loop = {},
  strided = { stride = "4KiB" },
  hotcold = { hot_fraction = 0.1, hot_prob = 0.9 },
  phases = { phase_len = 100, phase_pages = 4 },
}

describe("pagelab.workload", function()
  for name, extra in pairs(kinds) do
    it(name .. " makes a reproducible, rewindable Workload", function()
      local opts = { size = "1MiB", writes = 0.25, seed = 42 }
      for k, v in pairs(extra) do opts[k] = v end
      local w = pagelab.workload[name](opts)
      local w2 = pagelab.workload[name](opts)
      assert.matches("^pagelab%.Workload %(" .. name, tostring(w))
      local a, k, s = w:refs(500)
      local a2, k2, s2 = w2:refs(500)
      assert.equal(500, #a)
      assert.same(a, a2)
      assert.same(k, k2)
      assert.same(s, s2)
      assert.equal(500, w:position())
      for i = 1, #a do
        assert.is_true(a[i] >= 0x10000000 and a[i] < 0x10000000 + 1048576)
        assert.is_true(k[i] == "r" or k[i] == "w")
        assert.equal(8, s[i])
      end
      assert.is_true(w:rewind())
      assert.equal(0, w:position())
      local a3 = w:refs(500)
      assert.same(a, a3)
      w:close()
      w2:close()
    end)
  end

  it("honours base, page_size and access_size", function()
    local w = pagelab.workload.loop{ base = 0x40000000, size = "64KiB",
                                     page_size = "16KiB", access_size = 4 }
    local a, _, s = w:refs(5)
    assert.same({ 0x40000000, 0x40004000, 0x40008000, 0x4000c000, 0x40000000 }, a)
    assert.same({ 4, 4, 4, 4, 4 }, s)
  end)

  it("accepts sizes as numbers and strings with binary units", function()
    local cases = {
      [4096] = 4096, ["4096"] = 4096, ["4KiB"] = 4096, ["4KB"] = 4096,
      ["4k"] = 4096, ["2MiB"] = 2097152, ["2 MB"] = 2097152,
      ["1GiB"] = 1073741824, ["1gb"] = 1073741824, ["512B"] = 512,
      ["1.5KiB"] = 1536, ["0x1000"] = 4096, [1e6] = 1000000,
    }
    for size, bytes in pairs(cases) do
      local w = pagelab.workload.sequential{ size = size, base = 0,
                                             stride = bytes - 8 }
      local a = w:refs(3)
      assert.same({ 0, bytes - 8, 0 }, a, "size " .. tostring(size))
    end
  end)

  it("raises on unknown options", function()
    assert.has_error(function()
      pagelab.workload.zipf{ size = "1MiB", bogus = 1 }
    end, "workload.zipf: unknown option 'bogus'")
    -- an option of another kind is unknown too
    assert.has_error(function()
      pagelab.workload.uniform{ size = "1MiB", alpha = 1 }
    end, "workload.uniform: unknown option 'alpha'")
    assert.has_error(function()
      pagelab.workload.loop{ size = "1MiB", [1] = true }
    end, "workload.loop: unknown option '1'")
  end)

  it("raises on wrong types, naming the option", function()
    local ok, err = pcall(pagelab.workload.zipf, { size = "1MiB", alpha = "x" })
    assert.is_false(ok)
    assert.matches("alpha", err)
    ok, err = pcall(pagelab.workload.uniform, { size = true })
    assert.is_false(ok)
    assert.matches("size", err)
    ok, err = pcall(pagelab.workload.uniform, { size = "1MiB", seed = 1.5 })
    assert.is_false(ok)
    assert.matches("seed", err)
    ok, err = pcall(pagelab.workload.phases, { size = "1MiB", phase_len = -1 })
    assert.is_false(ok)
    assert.matches("phase_len", err)
    ok, err = pcall(pagelab.workload.uniform, "1MiB")
    assert.is_false(ok)
    assert.matches("option table", err)
  end)

  it("raises on bad size strings", function()
    for _, bad in ipairs{ "abc", "4 furlongs", "-4KiB", "0.3B", "", "1e3",
                          "99999999999999999999", "16777216TiB" } do
      local ok, err = pcall(pagelab.workload.uniform, { size = bad })
      assert.is_false(ok, bad)
      assert.matches("size", err)
    end
    local ok, err = pcall(pagelab.workload.uniform, { size = -4096 })
    assert.is_false(ok)
    assert.matches("size", err)
    ok, err = pcall(pagelab.workload.uniform, { size = 4096.5 })
    assert.is_false(ok)
    assert.matches("size", err)
  end)

  it("raises on bad parameters with the core's explanation", function()
    local function err_of(f, opts)
      local ok, e = pcall(f, opts)
      assert.is_false(ok)
      return e
    end
    assert.matches("size must be greater than 0",
                   err_of(pagelab.workload.uniform, { size = 0 }))
    assert.matches("alpha", err_of(pagelab.workload.zipf,
                                   { size = "1MiB", alpha = -1 }))
    assert.matches("writes", err_of(pagelab.workload.uniform,
                                    { size = "1MiB", writes = 2 }))
    assert.matches("power of two", err_of(pagelab.workload.uniform,
                                          { size = "1MiB", page_size = 3000 }))
    assert.matches("stride", err_of(pagelab.workload.strided,
                                    { size = "1MiB" }))
    assert.matches("overflow", err_of(pagelab.workload.uniform,
                                      { size = "1MiB", base = -4096 }))
    assert.matches("required", err_of(pagelab.workload.uniform, {}))
  end)

  it("makes a different sequence for another seed", function()
    local a = pagelab.workload.uniform{ size = "1GiB", seed = 1 }:refs(50)
    local b = pagelab.workload.uniform{ size = "1GiB", seed = 2 }:refs(50)
    assert.are_not.same(a, b)
  end)
end)

describe("Workload and Trace userdata", function()
  it("close is idempotent and shared by __close", function()
    local w = pagelab.workload.uniform{ size = "1MiB" }
    w:close()
    w:close()
    assert.equal("pagelab.Workload (closed)", tostring(w))
    assert.has_error(function() w:refs(1) end)
    local ok, err = pcall(w.refs, w, 1)
    assert.is_false(ok)
    assert.matches("closed Workload", err)
    do
      local t <close> = pagelab.workload.loop{ size = "1MiB" }
      assert.equal(3, #t:refs(3))
    end
    collectgarbage()
  end)

  it("refs checks its count", function()
    local w = pagelab.workload.uniform{ size = "1MiB" }
    assert.has_error(function() w:refs(-1) end)
    assert.has_error(function() w:refs("x") end)
    assert.same({}, (w:refs(0)))
  end)
end)

describe("pagelab.trace", function()
  local text = "# demo\nR 1000\nW 0x1008 8\nX 2000 4\n\nR 1000\n"

  it("opens a text trace, detecting the format", function()
    local p = tmpfile(text)
    local t = assert(pagelab.trace.open(p))
    assert.equal("text", t:format())
    assert.matches("^pagelab%.Trace %(trace text", tostring(t))
    local a, k, s = t:refs(100)
    assert.same({ 0x1000, 0x1008, 0x2000, 0x1000 }, a)
    assert.same({ "r", "w", "x", "r" }, k)
    assert.same({ 1, 8, 4, 1 }, s)
    assert.equal(4, t:position())
    assert.same({}, (t:refs(10)))        -- at the end
    assert.is_true(t:rewind())
    assert.same({ 0x1000 }, (t:refs(1)))
    t:close()
    os.remove(p)
  end)

  it("takes format and block_size options", function()
    local p = tmpfile("1\n2\n*\n3\n")
    local t = assert(pagelab.trace.open(p, { format = "blocks",
                                             block_size = "512B", base = 0 }))
    assert.same({ 512, 1024, 1536 }, (t:refs(10)))
    t:close()
    -- block 0 lands at 0x10000000 unless told otherwise (design-notes.md)
    t = assert(pagelab.trace.open(p, { format = "detect" }))
    assert.same({ 0x10000000 + 4096, 0x10000000 + 8192, 0x10000000 + 12288 },
                (t:refs(10)))
    t:close()
    os.remove(p)
  end)

  it("returns nil and a message for a trace it cannot open", function()
    local t, err = pagelab.trace.open("/nonexistent/trace.txt")
    assert.is_nil(t)
    assert.matches("cannot open /nonexistent/trace.txt", err)
    local empty = tmpfile("")
    t, err = pagelab.trace.open(empty)
    assert.is_nil(t)
    assert.matches("empty", err)
    os.remove(empty)
  end)

  it("reports bad lines through refs as nil, message", function()
    local p = tmpfile("R 10\nR zz\n")
    local t = assert(pagelab.trace.open(p, { format = "text" }))
    local a, err = t:refs(10)
    assert.is_nil(a)
    assert.matches("line 2", err)
    assert.matches("bad hex address", err)
    t:close()
    os.remove(p)
  end)

  it("raises on misuse of open", function()
    assert.has_error(function() pagelab.trace.open() end)
    assert.has_error(function() pagelab.trace.open("x", { bogus = 1 }) end,
                     "trace.open: unknown option 'bogus'")
    local ok, err = pcall(pagelab.trace.open, "x", { format = "csv" })
    assert.is_false(ok)
    assert.matches("unknown format 'csv'", err)
    ok, err = pcall(pagelab.trace.open, "x", { format = 3 })
    assert.is_false(ok)
    assert.matches("format", err)
    ok, err = pcall(pagelab.trace.open, "x", { block_size = "big" })
    assert.is_false(ok)
    assert.matches("block_size", err)
    ok, err = pcall(pagelab.trace.open, "x", "text")
    assert.is_false(ok)
    assert.matches("must be a table", err)
  end)

  it("info summarises a trace", function()
    local p = tmpfile(text)
    local info = assert(pagelab.trace.info(p))
    assert.equal(4, info.refs)
    assert.equal(2, info.reads)
    assert.equal(1, info.writes)
    assert.equal(1, info.execs)
    assert.equal(2, info.lines_64)
    assert.equal(2, info.distinct_pages["4096"])
    assert.equal(1, info.distinct_pages["2097152"])
    assert.equal(2, info.distinct_pages["512"])
    assert.equal(0x1000, info.min_addr)
    assert.equal(0x2003, info.max_addr)
    info = assert(pagelab.trace.info(p, { limit = 2 }))
    assert.equal(2, info.refs)
    os.remove(p)
  end)

  it("info works on a workload with a limit, and needs one", function()
    local w = pagelab.workload.loop{ size = "40KiB" }
    local info = assert(pagelab.trace.info(w, { limit = 100 }))
    assert.equal(100, info.refs)
    assert.equal(10, info.distinct_pages["4096"])
    local none, err = pagelab.trace.info(w)
    assert.is_nil(none)
    assert.matches("limit", err)
    assert.has_error(function() pagelab.trace.info(w, { format = "text" }) end)
    assert.has_error(function() pagelab.trace.info(42) end)
  end)

  it("info of a missing file is nil, message", function()
    local info, err = pagelab.trace.info("/nonexistent/x")
    assert.is_nil(info)
    assert.matches("cannot open", err)
  end)

  it("converts traces and workloads to the binary format", function()
    local p = tmpfile(text)
    local out = tmpfile()
    assert.equal(4, pagelab.trace.convert(p, out))
    local t = assert(pagelab.trace.open(out))
    assert.equal("binary", t:format())
    assert.same({ 0x1000, 0x1008, 0x2000, 0x1000 }, (t:refs(10)))
    t:close()
    local w = pagelab.workload.zipf{ size = "16MiB", writes = 0.5 }
    assert.equal(1000, pagelab.trace.convert(w, out, { limit = 1000 }))
    w:rewind()
    local wa, wk, ws = w:refs(1000)
    t = assert(pagelab.trace.open(out, { format = "binary" }))
    local ta, tk, ts = t:refs(2000)
    assert.same(wa, ta)
    assert.same(wk, tk)
    assert.same(ws, ts)
    t:close()
    local n, err = pagelab.trace.convert(p, "/nonexistent/dir/out.pltrace")
    assert.is_nil(n)
    assert.matches("cannot create", err)
    n, err = pagelab.trace.convert(w, out)
    assert.is_nil(n)
    assert.matches("limit", err)
    assert.has_error(function() pagelab.trace.convert(p) end)
    assert.has_error(function()
      pagelab.trace.convert(p, out, { bogus = true })
    end, "trace.convert: unknown option 'bogus'")
    os.remove(p)
    os.remove(out)
  end)

  it("reads the public reference traces", function()
    local cpp = traces_dir() .. "/lirs/cpp.trace.gz"
    if not exists(cpp) then return end     -- traces not installed here
    local info = assert(pagelab.trace.info(cpp))
    assert.equal(9047, info.refs)
    assert.equal(1223, info.distinct_pages["4096"])
    local oltp = traces_dir() .. "/oltp/trace-oltp.trc.bin.gz"
    local t = assert(pagelab.trace.open(oltp))
    assert.equal("blocks32be", t:format())
    t:close()
  end)
end)
