-- tests/lua/loader_spec.lua — the image loader in Lua: pagelab.pe.parse,
-- sys:exec, q:modules, q:load_library (docs/loader.md). Uses the mingw-w64
-- images of mk/pe.mk and mk/loader.mk; pending when they are not built.
local pagelab = require "pagelab"

local PE = "tests/data/pe/"
local LDR = PE .. "loader/"

local function have(...)
  for _, f in ipairs{ ... } do
    local h = io.open(f, "rb")
    if not h then return false end
    h:close()
  end
  return true
end

local function need(...)
  if have(...) then return true end
  pending("PE test images not built (make check builds them)")
  return false
end

-- Asserts a Windows failure: nil, the status name, a sentence naming what.
local function fails(status, what, ok, got, msg)
  assert.is_nil(ok)
  assert.equal(status, got)
  assert.is_string(msg)
  if what then assert.truthy(msg:find(what, 1, true), msg) end
end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

local function copy(src, dst, n)
  local i = assert(io.open(src, "rb"))
  local bytes = i:read(n or "a")
  i:close()
  local o = assert(io.open(dst, "wb"))
  o:write(bytes)
  o:close()
end

local function names(mods)
  local out = {}
  for i, m in ipairs(mods) do out[i] = m.name end
  return out
end

local function by_name(mods, name)
  for _, m in ipairs(mods) do
    if m.name:lower() == name:lower() then return m end
  end
end

local function export_rva(t, name)
  for _, x in ipairs(t.exports) do
    if x.name == name then return x.rva end
  end
end

-- objdump -p fields as numbers, or nil when objdump is not installed.
local function objdump(path)
  local p = io.popen("x86_64-w64-mingw32-objdump -p " .. path .. " 2>/dev/null")
  local text = p:read("a")
  p:close()
  if not text:find("ImageBase") then return nil end
  local f = {}
  for _, k in ipairs{ "ImageBase", "SectionAlignment", "FileAlignment",
                      "AddressOfEntryPoint", "SizeOfImage", "DllCharacteristics" } do
    f[k] = tonumber(text:match("\n" .. k .. "%s+(%x+)"), 16)
  end
  f.Magic = text:match("Magic%s+%x+%s+%((PE32%+?)%)")
  return f
end

describe("pagelab.pe.parse", function()
  it("reads the header fields objdump reads", function()
    if not need(PE .. "app.exe", PE .. "mid.dll", PE .. "x86/app.exe") then return end
    for _, f in ipairs{ "app.exe", "mid.dll", "leaf.dll", "reloc.dll", "x86/app.exe" } do
      local t = assert(pagelab.pe.parse(PE .. f))
      local o = objdump(PE .. f)
      if o then
        assert.equal(o.Magic, t.format)
        assert.equal(o.ImageBase, t.image_base)
        assert.equal(o.SectionAlignment, t.section_alignment)
        assert.equal(o.FileAlignment, t.file_alignment)
        assert.equal(o.AddressOfEntryPoint, t.entry_point)
        assert.equal(o.SizeOfImage, t.size_of_image)
        assert.equal(o.DllCharacteristics, t.dll_characteristics)
      end
    end
    local t = pagelab.pe.parse(PE .. "app.exe")
    assert.equal("PE32+", t.format)
    assert.equal(0x8664, t.machine)
    assert.equal("x64", t.arch)
    assert.equal(0x140000000, t.image_base)
    assert.is_false(t.dll)
    local x = pagelab.pe.parse(PE .. "x86/app.exe")
    assert.equal("PE32", x.format)
    assert.equal(0x14C, x.machine)
    assert.equal(0x400000, x.image_base)
  end)

  it("lists sections with their protections", function()
    if not need(PE .. "app.exe", PE .. "shared.dll") then return end
    local t = pagelab.pe.parse(PE .. "app.exe")
    local s = {}
    for _, sec in ipairs(t.sections) do s[sec.name] = sec end
    assert.equal(0x1000, s[".text"].va)
    assert.equal("execute_read", s[".text"].protect)
    assert.equal("writecopy", s[".data"].protect)
    assert.equal(0, s[".bss"].raw_size)
    assert.equal(0x100, s[".bss"].virtual_size)
    assert.is_true(s[".text"].raw_ptr > 0 and s[".text"].raw_size > 0)
    assert.equal(0x60000020, s[".text"].characteristics)
    local sh = pagelab.pe.parse(PE .. "shared.dll")
    for _, sec in ipairs(sh.sections) do
      if sec.name == ".shared" then assert.equal("readwrite", sec.protect) end
    end
  end)

  it("lists imports by name and by ordinal", function()
    if not need(PE .. "app.exe") then return end
    local t = pagelab.pe.parse(PE .. "app.exe")
    assert.equal(2, #t.imports)
    assert.same({ dll = "leaf.dll", functions = { "#2" }, count = 1,
                  iat_rva = t.imports[1].iat_rva }, t.imports[1])
    assert.equal("mid.dll", t.imports[2].dll)
    assert.same({ "mid_add", "mid_twice" }, t.imports[2].functions)
    assert.equal(2, t.imports[2].count)
  end)

  it("lists exports with ordinals and forwarders", function()
    if not need(PE .. "mid.dll", PE .. "leaf.dll") then return end
    local t = pagelab.pe.parse(PE .. "mid.dll")
    assert.equal("mid.dll", t.export_name)
    assert.equal(2, #t.exports)
    assert.same({ name = "mid_twice", ordinal = 1, rva = 0x1000 }, t.exports[1])
    assert.equal("mid_add", t.exports[2].name)
    assert.equal("leaf.leaf_add", t.exports[2].forwarder)
    local leaf = pagelab.pe.parse(PE .. "leaf.dll")
    local ord2
    for _, x in ipairs(leaf.exports) do if x.ordinal == 2 then ord2 = x end end
    assert.is_nil(ord2.name)                    -- NONAME
    assert.is_true(ord2.rva > 0)
  end)

  it("counts base relocations", function()
    if not need(PE .. "reloc.dll", PE .. "fixed.dll") then return end
    local r = pagelab.pe.parse(PE .. "reloc.dll")
    assert.is_true(r.relocations.blocks >= 1)
    assert.is_true(r.relocations.entries >= 3)
    assert.same({ blocks = 0, entries = 0 }, pagelab.pe.parse(PE .. "fixed.dll").relocations)
  end)

  it("returns nil, status, message for malformed files", function()
    if not need(PE .. "mid.dll") then return end
    local dir = tmpdir()
    copy("Makefile", dir .. "/text.dll")
    fails("STATUS_INVALID_IMAGE_NOT_MZ", "text.dll", pagelab.pe.parse(dir .. "/text.dll"))
    copy(PE .. "mid.dll", dir .. "/cut.dll", 0x200)
    fails("STATUS_INVALID_IMAGE_FORMAT", "cut.dll", pagelab.pe.parse(dir .. "/cut.dll"))
    copy(PE .. "mid.dll", dir .. "/empty.dll", 0)
    fails("STATUS_INVALID_IMAGE_NOT_MZ", nil, pagelab.pe.parse(dir .. "/empty.dll"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("returns nil, message for an unreadable path", function()
    local ok, msg, third = pagelab.pe.parse("/nonexistent/x.dll")
    assert.is_nil(ok)
    assert.matches("cannot open /nonexistent/x.dll", msg)
    assert.is_nil(third)
    ok, msg = pagelab.pe.parse("tests")     -- a folder
    assert.is_nil(ok)
    assert.is_string(msg)
  end)

  it("raises on a non-string path", function()
    assert.has_error(function() pagelab.pe.parse() end)
    assert.has_error(function() pagelab.pe.parse({}) end)
  end)
end)

describe("sys:exec", function()
  it("creates a process with its modules in load order", function()
    if not need(PE .. "app.exe", PE .. "leaf.dll", PE .. "mid.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local q = assert(sys:exec(PE .. "app.exe", { search_path = { PE } }))
    assert.equal("app.exe", q.name)
    assert.is_true(q.alive)
    local mods = q:modules()
    assert.same({ "app.exe", "leaf.dll", "mid.dll" }, names(mods))
    for i, m in ipairs(mods) do
      assert.equal(i, m.order)
      assert.is_false(m.relocated)
      assert.equal(m.preferred_base, m.base)
      assert.is_true(m.size > 0)
      assert.is_string(m.path)
      assert.is_number(m.shared_pages)
      assert.is_number(m.section_frames)
    end
    assert.equal(0x140000000, mods[1].base)
    assert.is_true(mods[1].private_pages >= 1)          -- its IAT page
    assert.equal("image", q:query(mods[2].base).type)
    local found = false
    for _, p in ipairs(sys:processes()) do found = found or p == q end
    assert.is_true(found)
    assert.is_true(sys:check())
  end)

  it("binds the IAT (contents = true)", function()
    if not need(PE .. "app.exe", PE .. "leaf.dll", PE .. "mid.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB", contents = true }
    local q = assert(sys:exec(PE .. "app.exe", { search_path = { PE } }))
    local mods = q:modules()
    local app, leaf, mid = mods[1], by_name(mods, "leaf.dll"), by_name(mods, "mid.dll")
    local ta, tl, tm = pagelab.pe.parse(PE .. "app.exe"), pagelab.pe.parse(PE .. "leaf.dll"),
                       pagelab.pe.parse(PE .. "mid.dll")
    local function slot(i, k)
      return string.unpack("<I8", q:read(app.base + ta.imports[i].iat_rva + 8 * (k - 1), 8))
    end
    local ord2
    for _, x in ipairs(tl.exports) do if x.ordinal == 2 then ord2 = x.rva end end
    assert.equal(leaf.base + ord2, slot(1, 1))                         -- #2
    assert.equal(leaf.base + export_rva(tl, "leaf_add"), slot(2, 1))   -- mid_add, forwarded
    assert.equal(mid.base + export_rva(tm, "mid_twice"), slot(2, 2))
  end)

  it("maps ntdll.dll after the program and resolves API sets", function()
    if not need(LDR .. "apiuser.exe", LDR .. "sys/apisetschema.dll", PE .. "leaf.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local q = assert(sys:exec(LDR .. "apiuser.exe", { search_path = { LDR .. "sys", PE } }))
    assert.same({ "apiuser.exe", "ntdll.dll", "mid.dll", "leaf.dll" }, names(q:modules()))
    fails("STATUS_DLL_NOT_FOUND", "ext-ms-pagelab-choice-l1-1-0.dll",
          sys:exec(LDR .. "apiuser.exe", { search_path = { PE } }))
  end)

  it("goes depth-first and relocates what collides", function()
    if not need(LDR .. "order.exe", PE .. "reloc.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local q = assert(sys:exec(LDR .. "order.exe", { search_path = { PE } }))
    local mods = q:modules()
    assert.same({ "order.exe", "mid.dll", "leaf.dll", "reloc.dll" }, names(mods))
    assert.is_true(mods[4].relocated)
    assert.is_true(mods[4].private_copies >= 1)
  end)

  it("fails with the Windows status, naming the file and the import", function()
    if not need(LDR .. "missing.exe", LDR .. "noord.exe", PE .. "fixed.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local sp = { search_path = { PE } }
    local before = sys:stats()
    fails("STATUS_DLL_NOT_FOUND", "nosuch.dll", sys:exec(LDR .. "missing.exe", sp))
    fails("STATUS_ENTRYPOINT_NOT_FOUND", "leaf_gone", sys:exec(LDR .. "noexport.exe", sp))
    fails("STATUS_ENTRYPOINT_NOT_FOUND", "ordinal 9", sys:exec(LDR .. "noord.exe", sp))
    fails("STATUS_CONFLICTING_ADDRESSES", "fixed.dll", sys:exec(LDR .. "conflict.exe", sp))
    fails("STATUS_INVALID_IMAGE_FORMAT", "not a program", sys:exec(PE .. "leaf.dll", sp))
    fails("STATUS_INVALID_PARAMETER", "nothere.exe", sys:exec(PE .. "nothere.exe", sp))
    assert.same({}, sys:processes())                 -- nothing left alive
    local after = sys:stats()
    assert.equal(before.commit_charge, after.commit_charge)
    assert.equal(before.available, after.available)
    assert.is_true(sys:check())
    local x86 <close> = pagelab.system{ arch = "x86", ram = "16MiB" }
    fails("STATUS_IMAGE_MACHINE_TYPE_MISMATCH", "app.exe", x86:exec(PE .. "app.exe", sp))
  end)

  it("refuses a DLL of another machine or a malformed one", function()
    if not need(PE .. "app.exe", PE .. "x86/mid.dll") then return end
    local dir = tmpdir()
    copy(PE .. "app.exe", dir .. "/app.exe")
    copy(PE .. "leaf.dll", dir .. "/leaf.dll")
    local sys <close> = pagelab.system{ ram = "16MiB" }
    copy(PE .. "x86/mid.dll", dir .. "/mid.dll")
    fails("STATUS_IMAGE_MACHINE_TYPE_MISMATCH", "mid.dll", sys:exec(dir .. "/app.exe"))
    copy(PE .. "mid.dll", dir .. "/mid.dll", 0x200)
    fails("STATUS_INVALID_IMAGE_FORMAT", "mid.dll", sys:exec(dir .. "/app.exe"))
    copy("Makefile", dir .. "/mid.dll")
    fails("STATUS_INVALID_IMAGE_NOT_MZ", "mid.dll", sys:exec(dir .. "/app.exe"))
    assert.same({}, sys:processes())
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("takes process options", function()
    if not need(PE .. "app.exe") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local q = assert(sys:exec(PE .. "app.exe", { search_path = { PE }, name = "first",
                                                  ws_min = 20, ws_max = 40, hard_max = true }))
    assert.equal("first", q.name)
    assert.equal(40, q:stats().ws_max)
    assert.equal(20, q:stats().ws_min)
  end)

  it("raises on misuse", function()
    local sys = pagelab.system{ ram = "16MiB" }
    assert.has_error(function() sys:exec() end)
    assert.has_error(function() sys:exec(PE .. "app.exe", 5) end)
    assert.has_error(function() sys:exec(PE .. "app.exe", { bogus = 1 }) end,
                     "exec: unknown option 'bogus'")
    assert.has_error(function() sys:exec(PE .. "app.exe", { search_path = "x" }) end)
    assert.has_error(function() sys:exec(PE .. "app.exe", { search_path = { 1 } }) end)
    sys:close()
    assert.has_error(function() sys:exec(PE .. "app.exe") end, "attempt to use a closed System")
  end)
end)

describe("q:load_library and q:modules", function()
  it("loads, relocates, finds what is loaded, and fails cleanly", function()
    if not need(PE .. "app.exe", PE .. "reloc.dll", PE .. "fixed.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local q = assert(sys:exec(PE .. "app.exe", { search_path = { PE } }))
    local base = assert(q:load_library("reloc.dll"))
    local mods = q:modules()
    assert.equal(4, #mods)
    assert.equal(base, mods[4].base)
    assert.is_true(mods[4].relocated)
    assert.equal(mods[2].base, q:load_library("LEAF"))        -- already there
    assert.equal(base, q:load_library(PE .. "reloc.dll"))     -- by path too
    assert(q:alloc(0x180200000, "64KiB", "reserve", "readwrite"))
    fails("STATUS_CONFLICTING_ADDRESSES", "fixed.dll", q:load_library("fixed.dll"))
    fails("STATUS_DLL_NOT_FOUND", "nosuch.dll", q:load_library("nosuch.dll"))
    assert.equal(4, #q:modules())
    assert.has_error(function() q:load_library() end)
    -- a plain process has no modules and loads by path only
    local p = sys:process{ name = "plain" }
    assert.same({}, p:modules())
    fails("STATUS_DLL_NOT_FOUND", "leaf.dll", p:load_library("leaf.dll"))
    assert(p:load_library(PE .. "leaf.dll"))
    assert.same({ "leaf.dll" }, names(p:modules()))
    -- a terminated process
    q:terminate()
    fails("STATUS_PROCESS_IS_TERMINATING", nil, q:modules())
    fails("STATUS_PROCESS_IS_TERMINATING", nil, q:load_library("leaf.dll"))
    assert.is_true(sys:check())
  end)

  it("shows shared code and private IAT pages across processes", function()
    if not need(PE .. "app.exe", PE .. "leaf.dll", PE .. "mid.dll") then return end
    local sys <close> = pagelab.system{ ram = "16MiB" }
    local procs = {}
    for k = 1, 3 do
      local q = assert(sys:exec(PE .. "app.exe", { search_path = { PE } }))
      for _, m in ipairs(q:modules()) do
        for a = m.base, m.base + m.size - 1, 4096 do q:access(a, "r") end
      end
      procs[k] = q
    end
    local m1, m3 = procs[1]:modules(), procs[3]:modules()
    for i, m in ipairs(m1) do
      assert.equal(m.shared_pages, m3[i].shared_pages)
      assert.equal(m.section_frames, m.shared_pages)   -- one frame each
      assert.equal(m.size // 4096, m.shared_pages + m.private_pages)
    end
    assert.is_true(by_name(m1, "app.exe").private_pages >= 1)
    assert.equal(0, procs[2]:stats().hard)             -- all soft: shared
  end)
end)
