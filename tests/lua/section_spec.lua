-- tests/lua/section_spec.lua — files, sections and views (NtCreateSection,
-- NtMapViewOfSection and friends: WINDOWS.md A.11), page contents through
-- views, and the VMMap / RAMMap summaries.
local pagelab = require "pagelab"

local KiB, MiB = 1024, 1024 * 1024
local PAGE = 4096

local function system(opts)
  opts = opts or {}
  opts.ram = opts.ram or "4MiB"
  opts.tune = opts.tune or { refs_per_second = 1 << 30 }  -- no manager
  return assert(pagelab.system(opts))
end

-- Asserts a Windows failure: nil, the status name, a sentence.
local function fails(status, ok, got, msg)
  assert.is_nil(ok)
  assert.equal(status, got)
  assert.is_string(msg)
  assert.is_true(#msg > 0)
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.matches(pattern, err)
end

-- Runs f in a coroutine that then ends: whatever it created is garbage
-- afterwards, without a stale register of ours keeping it alive.
local function in_coroutine(f, ...)
  local co = coroutine.create(f)
  assert(coroutine.resume(co, ...))
end

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

local function tmpfile(bytes)
  local path = os.tmpname()
  local fh = assert(io.open(path, "wb"))
  fh:write(bytes)
  fh:close()
  return path
end

describe("sys:file", function()
  it("creates a simulated file and reports it", function()
    local sys = system()
    local f = assert(sys:file{ name = "data.bin", size = "8KiB" })
    assert.equal("pagelab.File", getmetatable(f).__name)
    assert.same({ name = "data.bin", size = 8 * KiB, reads = 0, writes = 0,
                  cached = 0, host = false }, f:info())
    assert.matches("^pagelab.File 'data.bin'", tostring(f))
    -- a zero-length file is allowed (sections on it are not)
    assert.equal(0, assert(sys:file{ name = "empty" }):info().size)
  end)

  it("opens a host file read-only", function()
    local path = tmpfile("MZ host bytes")
    local sys = system{ contents = true }
    local f = assert(sys:file{ path = path })
    local info = f:info()
    assert.is_true(info.host)
    assert.equal(13, info.size)
    assert.equal(path:match("[^/]+$"), info.name)
    assert.equal("MZ", f:read(0, 2))
    assert.equal("bytes", f:read(8, 100))      -- cut at the end
    assert.equal("", f:read(50, 4))
    -- sections default to readonly on a host file; readwrite is refused
    local s = assert(sys:section{ file = f })
    assert.equal("readonly", s:info().protect)
    fails("STATUS_ACCESS_DENIED", sys:section{ file = f, protect = "readwrite" })
    -- and a view shows the host bytes, read from the file (hard fault)
    local p = sys:process()
    local v = assert(p:map(s))
    assert.equal("hard", p:access(v, "r"))
    assert.equal("host", p:read(v + 3, 4))
    assert.equal(1, f:info().reads)
    os.remove(path)
    fails("STATUS_OBJECT_NAME_NOT_FOUND", sys:file{ path = path .. ".missing" })
  end)

  it("f:read needs contents = true", function()
    local sys = system()
    local f = sys:file{ name = "x", size = 10 }
    fails("STATUS_NOT_SUPPORTED", f:read(0, 4))
  end)

  it("misuse raises", function()
    local sys = system()
    raises("unknown option 'nme'", sys.file, sys, { nme = "x" })
    raises("size", sys.file, sys, { name = "x", size = "big" })
    raises("name", sys.file, sys, { name = 5 })
    raises("path alone", sys.file, sys, { path = "/etc/hostname", size = 4 })
    raises("table expected", sys.file, sys)
    local f = sys:file{ name = "x", size = 10 }
    raises("offset", f.read, f, -1, 4)
    raises("must not be negative", f.read, f, 0, -4)
    raises("File expected", f.info, sys)
  end)

  it("close, __close and __gc are one idempotent function", function()
    local sys = system()
    local f = sys:file{ name = "x", size = 10 }
    local mt = getmetatable(f)
    assert.is_function(mt.__gc)
    assert.is_function(mt.__close)
    f:close()
    f:close()
    mt.__gc(f)
    mt.__close(f)
    raises("attempt to use a closed File", f.info, f)
    raises("attempt to use a closed File", f.read, f, 0, 1)
    assert.matches("closed", tostring(f))
    do
      local g <close> = sys:file{ name = "y", size = 10 }
      assert.equal("y", g:info().name)
    end
  end)

  it("keeps its System alive; a closed System raises", function()
    local f
    in_coroutine(function()
      f = system():file{ name = "x", size = 10 }
    end)
    full_gc()
    assert.equal(10, f:info().size)      -- the System was not collected
    local sys = system()
    local g = sys:file{ name = "y", size = 10 }
    local s = sys:section{ size = PAGE }
    sys:close()
    raises("attempt to use a closed System", g.info, g)
    raises("attempt to use a closed System", g.read, g, 0, 1)
    raises("attempt to use a closed System", s.info, s)
    g:close()                            -- harmless once the System is gone
    s:close()
  end)
end)

describe("sys:section", function()
  it("page-file sections: rounded size, commit by default, info", function()
    local sys = system()
    local s, existed = sys:section{ size = 4090 }
    assert.equal("pagelab.Section", getmetatable(s).__name)
    assert.is_false(existed)
    assert.same({ size = PAGE, protect = "readwrite", attributes = "commit",
                  pages = 1, committed = 1, resident = 0, views = 0 },
                s:info())
    assert.equal(1, sys:stats().commit_charge)
    local r = assert(sys:section{ size = "64KiB", attributes = "reserve|nocache",
                                  protect = "readonly" })
    local info = r:info()
    assert.equal("reserve|nocache", info.attributes)
    assert.equal("readonly", info.protect)
    assert.equal(0, info.committed)
    assert.equal(1, sys:stats().commit_charge)
    s:close()
    assert.equal(0, sys:stats().commit_charge)
    raises("attempt to use a closed Section", s.info, s)
    assert.matches("closed", tostring(s))
  end)

  it("named sections: an existing name returns that section", function()
    local sys = system()
    local a, existed = sys:section{ size = "8KiB", name = "shared1" }
    assert.is_false(existed)
    local b, existed2 = sys:section{ size = "4KiB", name = "shared1" }
    assert.is_true(existed2)
    assert.equal(8 * KiB, b:info().size)       -- its own size, not ours
    assert.equal("shared1", b:info().name)
    assert.matches("'shared1'", tostring(a))
    -- the name goes with the last handle
    a:close()
    assert.is_true(select(2, sys:section{ size = "4KiB", name = "shared1" }))
  end)

  it("file sections: exact size, the file grows, SEC_FILE", function()
    local sys = system()
    local f = sys:file{ name = "data.bin", size = 36 }
    local s = assert(sys:section{ file = f })
    local info = s:info()
    assert.equal(36, info.size)
    assert.equal("file", info.attributes)
    assert.equal("data.bin", info.file)
    assert.equal(0, sys:stats().commit_charge)  -- the file backs it
    assert.equal("file|nocache",
                 sys:section{ file = f, attributes = "nocache" }:info().attributes)
    assert(sys:section{ file = f, size = "64KiB" })
    assert.equal(64 * KiB, f:info().size)
  end)

  it("STATUS rules", function()
    local sys = system()
    local f = sys:file{ name = "data.bin", size = 36 }
    local empty = sys:file{ name = "empty", size = 0 }
    fails("STATUS_SECTION_TOO_BIG",
          sys:section{ file = f, size = "1MiB", protect = "readonly" })
    fails("STATUS_MAPPED_FILE_SIZE_ZERO", sys:section{ file = empty })
    fails("STATUS_INVALID_PAGE_PROTECTION",
          sys:section{ size = PAGE, protect = "noaccess" })
    fails("STATUS_INVALID_PAGE_PROTECTION",
          sys:section{ size = PAGE, protect = "readwrite|guard" })
    fails("STATUS_INVALID_PARAMETER_6",
          sys:section{ size = PAGE, attributes = "reserve|commit" })
    fails("STATUS_INVALID_PARAMETER_6",
          sys:section{ size = PAGE, attributes = "nocache" })
    fails("STATUS_INVALID_PARAMETER_4", sys:section{})
    fails("STATUS_INVALID_FILE_FOR_SECTION",
          sys:section{ size = PAGE, attributes = "image" })
    local small = system{ pagefile = "4MiB" }
    fails("STATUS_COMMITMENT_LIMIT", small:section{ size = "16MiB" })
    fails("STATUS_SECTION_TOO_BIG", sys:section{ size = "64GiB", attributes = "reserve" })
    -- raw SEC_* numbers reach the core as they are
    fails("STATUS_INVALID_PARAMETER_6",
          sys:section{ size = PAGE, attributes = 0x2 })
  end)

  it("misuse raises", function()
    local sys = system()
    raises("unknown option 'sise'", sys.section, sys, { sise = 1 })
    raises("unknown section attribute word 'comit'", sys.section, sys,
           { size = PAGE, attributes = "comit" })
    raises("bad argument #2.*unknown protection word 'rw'", sys.section, sys,
           { size = PAGE, protect = "rw" })
    raises("file: expected a File", sys.section, sys, { file = "data.bin" })
    local other = system()
    local g = other:file{ name = "g", size = PAGE }
    raises("another System", sys.section, sys, { file = g })
    local f = sys:file{ name = "f", size = PAGE }
    f:close()
    raises("attempt to use a closed File", sys.section, sys, { file = f })
  end)

  it("a collected Section closes its handle; views keep the section",
     function()
    local sys = system{ contents = true }
    local p = sys:process()
    local v
    in_coroutine(function()
      local s = sys:section{ size = "64KiB", name = "gc1" }
      v = assert(p:map(s))
      assert(p:write(v, "kept"))
    end)
    full_gc()
    -- the name went with the handle, the memory did not (A.11.4)
    local s2, existed = sys:section{ size = "64KiB", name = "gc1" }
    assert.is_false(existed)
    assert.equal("kept", p:read(v, 4))
    s2:close()
    assert.is_true(p:unmap(v))
    assert.is_true(sys:check())
  end)
end)

describe("p:map", function()
  it("maps at a 64 KiB base and returns base, size, status", function()
    local sys = system()
    local p = sys:process()
    local s = sys:section{ size = 0x3452 }
    local v, n, status = p:map(s, { protect = "readwrite", size = 0x3452 })
    assert.equal(0, v % (64 * KiB))
    assert.equal(0x4000, n)
    assert.equal("STATUS_SUCCESS", status)
    local q = p:query(v)
    assert.equal("mapped", q.type)
    assert.equal("commit", q.state)
    assert.equal("readwrite", q.protect)
    -- protect defaults to the section's
    local w = assert(p:map(s))
    assert.equal("readwrite", p:query(w).protect)
    -- explicit address, top_down, offset
    local at = 0x30000000
    assert.equal(at, p:map(s, { addr = at }))
    local hi = p:map(s, { top_down = true })
    assert.is_true(hi > at)
    local big = sys:section{ size = "256KiB" }
    local o, on = p:map(big, { offset = "128KiB" })
    assert.equal(128 * KiB, on)
    assert.is_truthy(o)
  end)

  it("STATUS rules", function()
    local sys = system()
    local p = sys:process()
    local s = sys:section{ size = 0x3452 }
    fails("STATUS_INVALID_VIEW_SIZE", p:map(s, { size = 0x4001 }))
    fails("STATUS_MAPPED_ALIGNMENT", p:map(s, { offset = 1 }))
    fails("STATUS_MAPPED_ALIGNMENT", p:map(s, { addr = 0x30001000 }))
    fails("STATUS_INVALID_PARAMETER", p:map(s, { offset = "64KiB" }))
    fails("STATUS_SECTION_PROTECTION",
          p:map(s, { protect = "execute_readwrite" }))
    fails("STATUS_INVALID_PAGE_PROTECTION",
          p:map(s, { protect = "readwrite|nocache" }))
    fails("STATUS_INVALID_PAGE_PROTECTION", p:map(s, { protect = 0x06 }))
    local v = assert(p:map(s))
    fails("STATUS_CONFLICTING_ADDRESSES", p:map(s, { addr = v }))
    fails("STATUS_CONFLICTING_ADDRESSES",
          p:alloc(v + 0x5000, PAGE, "reserve", "readwrite"))
    fails("STATUS_UNABLE_TO_DELETE_SECTION", p:free(v, PAGE, "decommit"))
    fails("STATUS_UNABLE_TO_DELETE_SECTION", p:free(v, 0, "release"))
    local ro = sys:section{ size = PAGE, protect = "readonly" }
    fails("STATUS_SECTION_PROTECTION", p:map(ro, { protect = "readwrite" }))
    -- a write-copy view is charged whole
    local tight = system{ pagefile = 0 }
    local big = tight:section{ size = "64MiB", attributes = "reserve" }
    local tp = tight:process()
    fails("STATUS_COMMITMENT_LIMIT", tp:map(big, { protect = "writecopy" }))
    assert.is_truthy(tp:map(big, { protect = "readwrite" }))
    tp:terminate()
    fails("STATUS_PROCESS_IS_TERMINATING", tp:map(big))
  end)

  it("SEC_RESERVE: commit_size, commit inside a view, every view sees it",
     function()
    local sys = system{ contents = true }
    local p, q = sys:process(), sys:process()
    local s = sys:section{ size = "128KiB", attributes = "reserve" }
    local v1 = assert(p:map(s, { commit_size = PAGE }))
    local v2 = assert(q:map(s))
    assert.equal("commit", q:query(v2).state)
    assert.equal(PAGE, q:query(v2).size)
    assert.equal("reserve", q:query(v2 + PAGE).state)
    assert.equal("access_violation", q:access(v2 + PAGE, "r"))
    assert(p:alloc(v1 + 64 * KiB, "64KiB", "commit", "readonly"))
    assert.equal("readonly", p:query(v1 + 64 * KiB).protect)
    assert.equal("readwrite", q:query(v2 + 64 * KiB).protect)
    assert.equal(17, s:info().committed)
    assert.equal(2, q:write(v2 + 64 * KiB, "xy"))
    assert.equal("xy", p:read(v1 + 64 * KiB, 2))
  end)

  it("misuse raises", function()
    local sys = system()
    local p = sys:process()
    local s = sys:section{ size = PAGE }
    raises("section: expected a Section", p.map, p, "s")
    raises("section: expected a Section", p.map, p, sys:file{ name = "f", size = 1 })
    raises("unknown option 'adr'", p.map, p, s, { adr = 0 })
    raises("addr", p.map, p, s, { addr = -1 })
    raises("top_down", p.map, p, s, { top_down = 1 })
    raises("bad argument #3.*unknown protection word 'rw'", p.map, p, s,
           { protect = "rw" })
    local other = system()
    raises("another System", other:process().map, other:process(), s)
    local c = sys:section{ size = PAGE }
    c:close()
    raises("attempt to use a closed Section", p.map, p, c)
    raises("addr", p.unmap, p, "here")
    raises("addr", p.flush, p, nil)
    raises("size", p.flush, p, 0x10000, "lots")
  end)
end)

describe("p:unmap", function()
  it("any address inside the view; anything else is not a view", function()
    local sys = system()
    local p = sys:process()
    local s = sys:section{ size = "16KiB" }
    local v = assert(p:map(s))
    local a = p:alloc(nil, PAGE, "reserve|commit", "readwrite")
    fails("STATUS_NOT_MAPPED_VIEW", p:unmap(a))
    assert.is_true(p:unmap(v + 0x3000))
    assert.equal("free", p:query(v).state)
    fails("STATUS_NOT_MAPPED_VIEW", p:unmap(v))
    fails("STATUS_NOT_MAPPED_VIEW", p:flush(a))
  end)
end)

describe("sharing", function()
  it("two processes share a page-file section", function()
    local sys = system{ contents = true }
    local a, b = sys:process{ name = "a" }, sys:process{ name = "b" }
    local s = sys:section{ size = "64KiB", name = "shm" }
    local sb = assert(sys:section{ size = "64KiB", name = "shm" })
    local va = assert(a:map(s))
    local vb = assert(b:map(sb))
    assert.equal(5, a:write(va + 10, "hello"))
    local active = sys:stats().active
    assert.equal("hello", b:read(vb + 10, 5))
    assert.equal(1, b:stats().soft)            -- resident elsewhere: soft
    assert.equal(0, b:stats().private_pages)
    assert.equal(active, sys:stats().active)   -- one frame for both
    assert.equal(1, s:info().resident)
    assert.equal(2, s:info().views)
    assert.is_true(b:unmap(vb))                -- share 2 -> 1
    assert.equal(1, s:info().resident)
    assert.equal(0, sys:stats().modified)
    assert.is_true(a:unmap(va))                -- share 1 -> 0: modified
    assert.equal(0, s:info().resident)
    assert.equal(1, sys:stats().modified)
    -- mapped again: a soft fault, and the data is there
    va = assert(a:map(s, { protect = "readonly" }))
    assert.equal("soft", a:access(va + 10, "r"))
    assert.equal("hello", a:read(va + 10, 5))
    fails("STATUS_ACCESS_VIOLATION", a:write(va, "x"))
  end)

  it("copy-on-write views in two processes", function()
    local sys = system{ contents = true }
    local o, w = sys:process{ name = "owner" }, sys:process{ name = "writer" }
    local s = sys:section{ size = "64KiB" }
    local vo = assert(o:map(s))
    assert(o:write(vo, "orig"))
    local charge = sys:stats().commit_charge
    local vw = assert(w:map(s, { protect = "writecopy" }))
    assert.equal(charge + 16, sys:stats().commit_charge)   -- the whole view
    assert.equal("orig", w:read(vw, 4))
    assert.equal("cow", w:access(vw + 8, "w"))
    assert.equal(4, w:write(vw, "copy"))
    assert.equal(1, w:stats().cow)
    assert.equal(1, w:stats().private_pages)
    local q = w:query(vw)
    assert.equal("readwrite", q.protect)
    assert.equal(PAGE, q.size)
    assert.equal("mapped", q.type)
    assert.equal("writecopy", w:query(vw + PAGE).protect)
    assert.equal("orig", o:read(vo, 4))       -- the other keeps the original
    assert.equal("copy", w:read(vw, 4))
    -- vmmap: the copy is private working set inside the shareable row
    local vm = w:vmmap()
    assert.equal(PAGE, vm.shareable.ws_private)
    assert.is_true(w:unmap(vw))
    assert.equal(charge, sys:stats().commit_charge)
  end)

  it("file views: hard fault first, flush writes back, f:read shows it",
     function()
    local sys = system{ contents = true }
    local f = sys:file{ name = "data.bin", size = "64KiB" }
    local s = sys:section{ file = f }
    local p = sys:process()
    local v = assert(p:map(s))
    assert.equal("hard", p:access(v, "r"))
    assert.equal(1, f:info().reads)
    assert.equal(1, f:info().cached)
    assert.equal(4, p:write(v + 4, "disk"))
    assert.equal("\0\0\0\0", f:read(4, 4))     -- not written back yet
    local b, n = p:flush(v + 100)
    assert.equal(v, b)
    assert.equal(64 * KiB, n)
    assert.equal("disk", f:read(4, 4))
    assert.equal(1, f:info().writes)
    p:flush(v, PAGE)                            -- clean: nothing written
    assert.equal(1, f:info().writes)
    local b2, n2 = p:flush(v + PAGE, 10)
    assert.equal(v + PAGE, b2)
    assert.equal(PAGE, n2)
    -- a page-file view flushes nothing and succeeds
    local ps = sys:section{ size = PAGE }
    local pv = assert(p:map(ps))
    assert.is_truthy(p:flush(pv))
  end)
end)

describe("image sections", function()
  local function fixture(name)
    local path = "tests/data/pe/" .. name
    local fh = io.open(path, "rb")
    if fh then fh:close() return path end
  end

  it("STATUS_IMAGE_NOT_AT_BASE as p:map's third value; vmmap's image row",
     function()
    local app, reloc = fixture("app.exe"), fixture("reloc.dll")
    if not (app and reloc) then
      pending("no PE fixtures (mingw-w64 not installed)")
      return
    end
    local sys = system{ ram = "16MiB", contents = true }
    local p = sys:process()
    local s1 = assert(sys:section{ file = assert(sys:file{ path = app }),
                                   attributes = "image" })
    assert.equal("file|image", s1:info().attributes)
    local b1, n1, st1 = assert(p:map(s1))
    assert.equal("STATUS_SUCCESS", st1)
    -- reloc.dll prefers app.exe's base: placed elsewhere and relocated
    local s2 = assert(sys:section{ file = assert(sys:file{ path = reloc }),
                                   attributes = "image" })
    local b2, n2, st2 = assert(p:map(s2))
    assert.equal("STATUS_IMAGE_NOT_AT_BASE", st2)
    assert.are_not.equal(b1, b2)
    assert.equal("image", p:query(b2).type)
    local vm = p:vmmap()
    assert.equal(n1 + n2, vm.image.size)
    assert.equal(vm.image.size, vm.image.committed)
    assert.is_true(vm.image.ws_private > 0)     -- the relocated pages
    assert.equal(vm.image.ws_private // PAGE, sys:rammap().process_private.total)
  end)
end)

describe("p:write and p:read", function()
  it("a page that refuses stops the copy: nil, status, msg, done", function()
    local sys = system{ contents = true }
    local p = sys:process()
    local a = p:alloc(nil, 2 * PAGE, "reserve|commit", "readwrite")
    p:protect(a + PAGE, PAGE, "readonly")
    local ok, status, msg, done = p:write(a + PAGE - 2, "abcd")
    fails("STATUS_ACCESS_VIOLATION", ok, status, msg)
    assert.equal(2, done)
    assert.equal("ab\0\0", p:read(a + PAGE - 2, 4))
    p:protect(a + PAGE, PAGE, "noaccess")
    local r, st2, msg2, partial = p:read(a + PAGE - 3, 10)
    fails("STATUS_ACCESS_VIOLATION", r, st2, msg2)
    assert.equal("\0ab", partial)
    assert.equal("", p:read(a, 0))
    local g = p:alloc(nil, PAGE, "reserve|commit", "readwrite|guard")
    fails("STATUS_GUARD_PAGE_VIOLATION", p:write(g, "x"))
    assert.equal(1, p:write(g, "x"))            -- the guard is gone
    assert.equal(0, p:write(a, ""))
    raises("must not be negative", p.read, p, a, -1)
    raises("string expected", p.write, p, a, {})
  end)

  it("contents = false: nil, STATUS_NOT_SUPPORTED", function()
    local sys = system()
    local p = sys:process()
    local a = p:alloc(nil, PAGE, "reserve|commit", "readwrite")
    fails("STATUS_NOT_SUPPORTED", p:write(a, "x"))
    fails("STATUS_NOT_SUPPORTED", p:read(a, 1))
  end)
end)

describe("p:vmmap", function()
  it("rows by type, VMMap's columns, totals that add up", function()
    local sys = system{ contents = true }
    local p = sys:process()
    local a = p:alloc(nil, "16KiB", "reserve|commit", "readwrite")
    p:access(a, "w")
    local s = sys:section{ size = "64KiB" }
    local v = assert(p:map(s))
    p:access(v, "r")
    local f = sys:file{ name = "d", size = "128KiB" }
    local fv = assert(p:map((sys:section{ file = f })))
    p:access(fv, "r")
    local vm = p:vmmap()
    local order = {}
    for i, row in ipairs(vm) do
      order[i] = row.type
      assert.equal(row, vm[row.type])
      for _, k in ipairs{ "size", "committed", "ws", "ws_private",
                          "ws_shareable", "ws_shared", "blocks" } do
        assert.equal("integer", math.type(row[k]), k)
      end
      assert.equal(row.ws, row.ws_private + row.ws_shareable)
    end
    assert.same({ "image", "mapped_file", "shareable", "private",
                  "page_table", "unusable", "free" }, order)
    assert.equal(16 * KiB, vm.private.size)
    assert.equal(16 * KiB, vm.private.committed)
    assert.equal(PAGE, vm.private.ws_private)
    assert.equal(48 * KiB, vm.unusable.size)
    assert.equal(128 * KiB, vm.mapped_file.size)
    assert.equal(PAGE, vm.mapped_file.ws_shareable)
    assert.equal(128 * KiB, vm.shareable.size)   -- 0x10000 and the view
    assert.equal(PAGE, vm.shareable.ws)
    -- the sum of the rows
    local x64 = pagelab.arch("x64")
    local size = 0
    for _, row in ipairs(vm) do
      if row.type ~= "page_table" then size = size + row.size end
    end
    assert.equal(x64.user_hi + 1 - x64.user_lo, size)
    assert.equal("total", vm.total.type)
    assert.equal(p:stats().ws_size * PAGE, vm.total.ws)
    assert.equal(p:stats().page_table_pages * PAGE, vm.page_table.size)
    assert.equal(#vm, 7)                        -- total is not in the array
  end)

  it("shared pages", function()
    local sys = system()
    local a, b = sys:process(), sys:process()
    local s = sys:section{ size = "64KiB" }
    a:access(assert(a:map(s)), "w")
    b:access(assert(b:map(s)), "r")
    assert.equal(PAGE, a:vmmap().shareable.ws_shared)
    assert.equal(PAGE, b:vmmap().shareable.ws_shared)
  end)

  it("a terminated process; a closed System", function()
    local sys = system()
    local p = sys:process()
    p:terminate()
    fails("STATUS_PROCESS_IS_TERMINATING", p:vmmap())
    sys:close()
    raises("attempt to use a closed System", p.vmmap, p)
    raises("attempt to use a closed System", sys.rammap, sys)
  end)
end)

describe("sys:rammap", function()
  it("frames by use and list; totals match sys:stats()", function()
    local sys = system()
    local p, q = sys:process(), sys:process()
    local a = p:alloc(nil, "32KiB", "reserve|commit", "readwrite")
    for k = 0, 7 do p:access(a + k * PAGE, "w") end
    local s = sys:section{ size = "64KiB" }
    p:access(assert(p:map(s)), "w")
    q:access(assert(q:map(s)), "r")            -- the same frame
    local f = sys:file{ name = "f", size = "64KiB" }
    p:access(assert(p:map((sys:section{ file = f }))), "r")
    local rm = sys:rammap()
    local order = {}
    for i, row in ipairs(rm) do
      order[i] = row.use
      assert.equal(row, rm[row.use])
    end
    assert.same({ "process_private", "mapped_file", "shareable", "page_table",
                  "paged_pool", "nonpaged_pool", "large_page", "unused" }, order)
    assert.equal(8, rm.process_private.active)
    assert.equal(1, rm.shareable.active)        -- shared: counted once
    assert.equal(1, rm.mapped_file.active)
    local st = sys:stats()
    assert.equal(st.total_frames, rm.total.total)
    for _, list in ipairs{ "active", "standby", "modified", "modified_nowrite",
                           "zeroed", "free", "bad" } do
      assert.equal(st[list], rm.total[list], list)
    end
    assert.equal(0, rm.total.transition)
    assert.equal(st.page_table_pages, rm.page_table.total)
    assert.equal(st.free + st.zeroed, rm.unused.total)
    -- unmapping the last view: the dirty page is modified, still shareable
    assert.is_true(p:terminate())
    assert.is_true(q:terminate())
    rm = sys:rammap()
    assert.equal(1, rm.shareable.modified)
    assert.equal(1, rm.mapped_file.standby)
    assert.equal(0, rm.process_private.total)
  end)
end)

describe("callbacks", function()
  local n = 0
  local function policy(select)
    n = n + 1
    local name = "section_spec_" .. n
    pagelab.policy{ name = name, select = select }
    return name
  end

  it("a Section collected inside a callback is closed later", function()
    collectgarbage("stop")                     -- only our collections
    local sys = system{ policy = policy(function(ws)
      full_gc()
      return { 1 }
    end) }
    local p = sys:process{ ws_min = 1, ws_max = 2, hard_max = true }
    -- count the finalizer's runs: inside callbacks (re-armed each time),
    -- then once more when the System is idle
    local probe = sys:section{ size = PAGE }
    local mt = getmetatable(probe)
    probe:close()
    local gc, runs, addr = mt.__gc, 0, nil
    mt.__gc = function(o)
      if tostring(o):match(": (.*)$") == addr then runs = runs + 1 end
      return gc(o)
    end
    in_coroutine(function()
      addr = tostring(sys:section{ size = "64KiB", name = "gc2" }):match(": (.*)$")
    end)
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    for k = 0, 3 do p:access(a + k * PAGE, "w") end
    assert.is_true(p:stats().replaced > 0)      -- the policy ran
    -- collected during the callback, but not closed then
    local again, existed = sys:section{ size = "64KiB", name = "gc2" }
    assert.is_true(existed)
    again:close()
    local during = runs                        -- re-armed at each callback
    assert.is_true(during >= 1)
    full_gc()                                  -- now it is closed
    full_gc()                                  -- and not re-armed again
    mt.__gc = gc
    assert.equal(during + 1, runs)
    local third, existed3 = sys:section{ size = "64KiB", name = "gc2" }
    assert.is_false(existed3)
    third:close()
    assert.is_true(sys:check())
    collectgarbage("restart")
  end)

  it("inside a callback: reads work, changes raise", function()
    local seen = {}
    local s, f, p
    local sys = system{ policy = policy(function()
      seen.info = s:info().size
      seen.finfo = f:info().size
      seen.vmmap = p:vmmap().private.size
      seen.rammap = p.system:rammap().total.total
      seen.close = select(2, pcall(s.close, s))
      seen.map = select(2, pcall(p.map, p, s))
      seen.section = select(2, pcall(p.system.section, p.system, { size = PAGE }))
      return { 1 }
    end) }
    s = sys:section{ size = PAGE }
    f = sys:file{ name = "f", size = 10 }
    p = sys:process{ ws_min = 1, ws_max = 1, hard_max = true }
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    p:access(a, "w")
    p:access(a + PAGE, "w")
    assert.equal(PAGE, seen.info)
    assert.equal(10, seen.finfo)
    assert.equal(64 * KiB, seen.vmmap)
    assert.equal(1024, seen.rammap)
    assert.matches("inside one of its callbacks", seen.close)
    assert.matches("inside one of its callbacks", seen.map)
    assert.matches("inside one of its callbacks", seen.section)
    assert.equal(PAGE, s:info().size)          -- still open
  end)

  it("a policy failing inside p:write raises its message", function()
    local sys = system{ contents = true, policy = policy(function()
      error("no victims today")
    end) }
    local p = sys:process{ ws_min = 1, ws_max = 1, hard_max = true }
    local a = p:alloc(nil, "64KiB", "reserve|commit", "readwrite")
    raises("no victims today", p.write, p, a, string.rep("x", 2 * PAGE))
    raises("no victims today", p.read, p, a + 2 * PAGE, 10)
    assert.is_true(sys:check())
  end)
end)

describe("experiments/shared_memory.lua", function()
  it("runs with tiny parameters: sharing uses fewer frames", function()
    local experiment = require "pagelab.experiment"
    local exp = experiment.load("experiments/shared_memory.lua")
    local metrics = {}
    local rec = {
      metric = function(_, k, v) metrics[k] = v end,
      sample = function() end,
      series = function() end,
      snapshot = function() end,
    }
    local params, p = experiment.resolve(exp, { "processes=3", "size=256KiB",
                                                "refs=4000" }, 1)
    assert.is_table(params)
    exp.run(p, rec)
    assert.is_true(metrics["shared.frames_active"] < metrics["private.frames_active"])
    assert.is_true(metrics["shared.commit_charge"] < metrics["private.commit_charge"])
    assert.is_true(metrics["shared.soft"] > 0)
    assert.equal(0, metrics["private.soft"])
  end)
end)
