-- badinput_spec.lua — the bad-input catalogue (docs/reliability.md).
--
-- One row per bad input, across the Lua API (in-process), experiment files,
-- the command line, trace files and results databases (the `pagelab`
-- executable, through io.popen: tests/run puts build/<mode> first on PATH).
-- Every row must give a message holding its word (case-insensitive), must
-- not crash (no signal, no sanitizer report, no "internal error" with a
-- traceback), and, for the database rows, must leave the runs already in
-- the database where they were.
--
-- Run as a plain script (`lua5.4 tests/lua/badinput_spec.lua`) it prints
-- the catalogue as the Markdown table of docs/reliability.md.

local cases = {}
local function case(t) cases[#cases + 1] = t end

-- ------------------------------------------------------------ Lua API
-- lua = function(pagelab, dir) ... end: what it raises, or the values of an
-- expected failure (nil, "STATUS_...", sentence), joined.

local function sys4(pagelab) return pagelab.system{ ram = "4MiB" } end

case{ area = "Lua", input = "pagelab.system{ ramm = ... } (unknown key)", word = "ramm",
      lua = function(pl) return pl.system{ ramm = "1MiB" } end }
case{ area = "Lua", input = "ram = {} (wrong type)", word = "ram",
      lua = function(pl) return pl.system{ ram = {} } end }
case{ area = "Lua", input = "ram = -5 (negative size)", word = "ram",
      lua = function(pl) return pl.system{ ram = -5 } end }
case{ area = "Lua", input = "ram = \"9999TiB\" (absurd size)", word = "frames",
      lua = function(pl) return pl.system{ ram = "9999TiB" } end }
case{ area = "Lua", input = "ram = 0", word = "ram of 0 bytes",
      lua = function(pl) return pl.system{ ram = 0 } end }
case{ area = "Lua", input = "ram = \"4 parsecs\" (unknown unit)", word = "unit",
      lua = function(pl) return pl.system{ ram = "4 parsecs" } end }
case{ area = "Lua", input = "pagefile = -1", word = "pagefile",
      lua = function(pl) return pl.system{ pagefile = -1 } end }
case{ area = "Lua", input = "page_size = 3000 (not a power of two)", word = "power of two",
      lua = function(pl) return pl.system{ page_size = 3000 } end }
case{ area = "Lua", input = "page_size = 256 (too small)", word = "512",
      lua = function(pl) return pl.system{ page_size = 256 } end }
case{ area = "Lua", input = "page_size = \"fourK\"", word = "fourK",
      lua = function(pl) return pl.system{ page_size = "fourK" } end }
case{ area = "Lua", input = "large_page_size = \"3MiB\" (not a power of two)", word = "large page",
      lua = function(pl) return pl.system{ large_page_size = "3MiB" } end }
case{ area = "Lua", input = "arch = \"vax\"", word = "vax",
      lua = function(pl) return pl.system{ arch = "vax" } end }
case{ area = "Lua", input = "policy = \"magic\"", word = "magic",
      lua = function(pl) return pl.system{ policy = "magic" } end }
case{ area = "Lua", input = "pagelab.system(\"big\") (not a table)", word = "table expected",
      lua = function(pl) return pl.system("big") end }
case{ area = "Lua", input = "tlb = { entries = \"many\" }", word = "tlb.entries",
      lua = function(pl) return pl.system{ tlb = { entries = "many" } } end }
case{ area = "Lua", input = "tlb = { entriez = 4 } (unknown key)", word = "entriez",
      lua = function(pl) return pl.system{ tlb = { entriez = 4 } } end }
case{ area = "Lua", input = "seed = \"x\"", word = "seed",
      lua = function(pl) return pl.system{ seed = "x" } end }
case{ area = "Lua", input = "contents = 3", word = "contents",
      lua = function(pl) return pl.system{ contents = 3 } end }
case{ area = "Lua", input = "sys:process{ nam = ... } (unknown key)", word = "nam",
      lua = function(pl) return sys4(pl):process{ nam = "x" } end }
case{ area = "Lua", input = "process ws_max = -1", word = "ws_max",
      lua = function(pl) return sys4(pl):process{ ws_max = -1 } end }
case{ area = "Lua", input = "process ws_min above ws_max", word = "minimum",
      lua = function(pl) return sys4(pl):process{ ws_min = 100, ws_max = 10 } end }
case{ area = "Lua", input = "process name = 5", word = "name",
      lua = function(pl) return sys4(pl):process{ name = 5 } end }
case{ area = "Lua", input = "p:alloc(nil, -4096, ...) (negative size)", word = "size",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, -4096, "reserve", "readwrite") end }
case{ area = "Lua", input = "p:alloc(nil, \"lots\", ...)", word = "lots",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, "lots", "reserve", "readwrite") end }
case{ area = "Lua", input = "p:alloc(nil, 4096.5, ...) (fractional size)", word = "size",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, 4096.5, "reserve", "readwrite") end }
case{ area = "Lua", input = "p:alloc() (no size)", word = "size",
      lua = function(pl) return sys4(pl):process{}:alloc() end }
case{ area = "Lua", input = "allocation type \"reservee\"", word = "reservee",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, 4096, "reservee", "readwrite") end }
case{ area = "Lua", input = "protection \"readwritex\"", word = "readwritex",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, 4096, "reserve", "readwritex") end }
case{ area = "Lua", input = "protection modifier \"readwrite|shiny\"", word = "shiny",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, 4096, "reserve", "readwrite|shiny") end }
case{ area = "Lua", input = "writecopy for private memory", word = "STATUS_INVALID_PAGE_PROTECTION",
      lua = function(pl) return sys4(pl):process{}:alloc(nil, 4096, "reserve|commit", "writecopy") end }
case{ area = "Lua", input = "p:alloc(\"here\", ...) (address of the wrong type)", word = "addr",
      lua = function(pl) return sys4(pl):process{}:alloc("here", 4096, "reserve", "readwrite") end }
case{ area = "Lua", input = "p:access(a, \"q\") (unknown access kind)", word = "kind",
      lua = function(pl) return sys4(pl):process{}:access(0x10000, "q") end }
case{ area = "Lua", input = "p:free(a, 0, \"destroy\")", word = "destroy",
      lua = function(pl) return sys4(pl):process{}:free(0x10000, 0, "destroy") end }
case{ area = "Lua", input = "p:protect(a, n, \"rw\")", word = "'rw'",
      lua = function(pl) return sys4(pl):process{}:protect(0x10000, 4096, "rw") end }
case{ area = "Lua", input = "p:protect(a, 0, ...) (size 0)", word = "STATUS_INVALID_PARAMETER_3",
      lua = function(pl) return sys4(pl):process{}:protect(0x20000, 0, "readonly") end }
case{ area = "Lua", input = "p:query(-1)", word = "addr",
      lua = function(pl) return sys4(pl):process{}:query(-1) end }
case{ area = "Lua", input = "sys:tick(-5)", word = "negative",
      lua = function(pl) return sys4(pl):tick(-5) end }
case{ area = "Lua", input = "sys:section{ protection = ... } (unknown key)", word = "protection",
      lua = function(pl) return sys4(pl):section{ size = 4096, protection = "readwrite" } end }
case{ area = "Lua", input = "section attributes = \"forever\"", word = "forever",
      lua = function(pl) return sys4(pl):section{ size = 4096, attributes = "forever" } end }
case{ area = "Lua", input = "page-file section without a size", word = "size",
      lua = function(pl) return sys4(pl):section{ protect = "readwrite" } end }
case{ area = "Lua", input = "p:map({}) (not a Section)", word = "Section",
      lua = function(pl) return sys4(pl):process{}:map({}, {}) end }
case{ area = "Lua", input = "p:map(sec, { protekt = ... }) (unknown key)", word = "protekt",
      lua = function(pl)
        local s = sys4(pl)
        return s:process{}:map(s:section{ size = 4096, protect = "readwrite" }, { protekt = "readwrite" })
      end }
case{ area = "Lua", input = "sys:file{ size = \"x\" }", word = "'x'",
      lua = function(pl) return sys4(pl):file{ size = "x" } end }
case{ area = "Lua", input = "sys:file{ path = missing host file }", word = "/nonexistent/file",
      lua = function(pl) return sys4(pl):file{ path = "/nonexistent/file" } end }
case{ area = "Lua", input = "sys:exec(a file that is not a PE image)", word = "MZ",
      lua = function(pl, dir) return sys4(pl):exec(dir .. "/ok.lua") end }
case{ area = "Lua", input = "pagelab.pe.parse(random bytes)", word = "MZ",
      lua = function(pl, dir) return pl.pe.parse(dir .. "/garbage.bin") end }
case{ area = "Lua", input = "workload.zipf{ alpha = -1 }", word = "alpha",
      lua = function(pl) return pl.workload.zipf{ size = 4096, alpha = -1 } end }
case{ area = "Lua", input = "workload.zipf{ alfa = 1 } (unknown key)", word = "alfa",
      lua = function(pl) return pl.workload.zipf{ size = 4096, alfa = 1 } end }
case{ area = "Lua", input = "workload.uniform{ writes = 2 }", word = "writes",
      lua = function(pl) return pl.workload.uniform{ size = 4096, writes = 2 } end }
case{ area = "Lua", input = "workload.uniform{ size = 0 }", word = "size",
      lua = function(pl) return pl.workload.uniform{ size = 0 } end }
case{ area = "Lua", input = "workload page_size = 3000", word = "power of two",
      lua = function(pl) return pl.workload.uniform{ size = 4096, page_size = 3000 } end }
case{ area = "Lua", input = "p:run(w, -3) (negative count)", word = "negative",
      lua = function(pl) return sys4(pl):process{}:run(pl.workload.uniform{ size = 4096 }, -3) end }
case{ area = "Lua", input = "trace.open(f, { format = \"jpeg\" })", word = "jpeg",
      lua = function(pl, dir) return pl.trace.open(dir .. "/good.txt", { format = "jpeg" }) end }
case{ area = "Lua", input = "pagelab.policy{} without select", word = "select",
      lua = function(pl) return pl.policy{ name = "x" } end }
case{ area = "Lua", input = "sys:pool_alloc(\"paged\", 100, \"TooLongTag\")", word = "tag",
      lua = function(pl) return sys4(pl):pool_alloc("paged", 100, "TooLongTag") end }
case{ area = "Lua", input = "a closed System", word = "closed System",
      lua = function(pl) local s = sys4(pl); s:close(); return s:stats() end }
case{ area = "Lua", input = "a Process of a closed System", word = "closed System",
      lua = function(pl) local s = sys4(pl); local p = s:process{}; s:close(); return p:query(0x10000) end }
case{ area = "Lua", input = "a terminated process", word = "STATUS_PROCESS_IS_TERMINATING",
      lua = function(pl)
        local p = sys4(pl):process{}
        p:terminate()
        return p:alloc(nil, 4096, "reserve", "readwrite")
      end }
case{ area = "Lua", input = "a closed Section", word = "closed Section",
      lua = function(pl)
        local s = sys4(pl)
        local sec = s:section{ size = 4096, protect = "readwrite" }
        sec:close()
        return s:process{}:map(sec, { protect = "readwrite" })
      end }
case{ area = "Lua", input = "a closed Trace", word = "closed Trace",
      lua = function(pl, dir)
        local t = assert(pl.trace.open(dir .. "/good.txt"))
        t:close()
        return sys4(pl):process{}:run(t)
      end }
case{ area = "Lua", input = "a closed results Db", word = "closed Db",
      lua = function(pl, dir)
        local db = assert(pl.results.open(dir .. "/lua-closed.db"))
        db:close()
        return db:query("SELECT 1")
      end }
case{ area = "Lua", input = "db:begin_run{ experimnt = ... } (unknown key)", word = "experimnt",
      lua = function(pl, dir)
        local db = assert(pl.results.open(dir .. "/lua-begin.db"))
        return db:begin_run{ experimnt = "x", params = {}, seed = 1 }
      end }
case{ area = "Lua", input = "rec:metric(...) after rec:finish()", word = "finished",
      lua = function(pl, dir)
        local db = assert(pl.results.open(dir .. "/lua-rec.db"))
        local rec = db:begin_run{ experiment = "x", params = {}, seed = 1 }
        rec:finish(true)
        return rec:metric("m", 1)
      end }

-- ------------------------------------------------ experiment files
-- args: the command line, run in the fixture directory. rc: exit status.

case{ area = "experiment", input = "syntax error", word = "syntax.lua:1", rc = 2,
      args = "run syntax.lua" }
case{ area = "experiment", input = "no run function", word = "run must be a function", rc = 2,
      args = "run norun.lua" }
case{ area = "experiment", input = "params.n = 3 (params of bad shape)", word = "params.n", rc = 2,
      args = "run badparams.lua" }
case{ area = "experiment", input = "returns 42 (not a table)", word = "must return a table", rc = 2,
      args = "run notable.lua" }
case{ area = "experiment", input = "raises while loading", word = "boom at load", rc = 2,
      args = "run raises.lua" }
case{ area = "experiment", input = "name = \"x y\"", word = "name must be", rc = 2,
      args = "run badname.lua" }
case{ area = "experiment", input = "unknown field paramz", word = "paramz", rc = 2,
      args = "run unknownfield.lua" }
case{ area = "experiment", input = "a default that is not one of its choices", word = "not one of the choices", rc = 2,
      args = "run badchoice.lua" }
case{ area = "experiment", input = "declares the reserved parameter seed", word = "reserved", rc = 2,
      args = "run seedparam.lua" }
case{ area = "experiment", input = "missing file", word = "missing.lua", rc = 2,
      args = "run missing.lua" }
case{ area = "experiment", input = "-p foo=1 (unknown parameter)", word = "unknown parameter 'foo'", rc = 2,
      args = "run ok.lua -p foo=1 --db cli.db" }
case{ area = "experiment", input = "-p n=abc (bad value)", word = "abc", rc = 2,
      args = "run ok.lua -p n=abc --db cli.db" }
case{ area = "experiment", input = "-p n=1.5 (not an integer)", word = "1.5", rc = 2,
      args = "run ok.lua -p n=1.5 --db cli.db" }
case{ area = "experiment", input = "-p mode=c (not a choice)", word = "must be one of", rc = 2,
      args = "run ok.lua -p mode=c --db cli.db" }

-- ------------------------------------------------------- command line

case{ area = "command line", input = "unknown option --frobnicate", word = "--frobnicate", rc = 2,
      args = "run ok.lua --frobnicate" }
case{ area = "command line", input = "--db without its value", word = "needs a value", rc = 2,
      args = "run ok.lua --db" }
case{ area = "command line", input = "-p n (no =)", word = "key=value", rc = 2,
      args = "run ok.lua -p n --db cli.db" }
case{ area = "command line", input = "-p =3 (no name)", word = "key=value", rc = 2,
      args = "run ok.lua -p =3 --db cli.db" }
case{ area = "command line", input = "--seed x", word = "--seed", rc = 2,
      args = "run ok.lua --seed x --db cli.db" }
case{ area = "command line", input = "unknown subcommand", word = "unknown command 'frobnicate'", rc = 2,
      args = "frobnicate" }
case{ area = "command line", input = "run without an experiment", word = "needs an experiment", rc = 2,
      args = "run" }
case{ area = "command line", input = "help of a missing experiment", word = "nothere", rc = 2,
      args = "help nothere" }
case{ area = "command line", input = "query without SQL", word = "needs a database", rc = 2,
      args = "query base.db" }
case{ area = "command line", input = "query with bad SQL", word = "syntax error", rc = 1,
      args = "query base.db 'selec 1'" }
case{ area = "command line", input = "sweep -p n=1..x (bad range)", word = "range", rc = 2,
      args = "sweep ok.lua -p n=1..x --db cli.db" }
case{ area = "command line", input = "sweep -j 0", word = "-j", rc = 2,
      args = "sweep ok.lua -j 0 --db cli.db" }
case{ area = "command line", input = "sweep --shard 3/2", word = "--shard", rc = 2,
      args = "sweep ok.lua --shard 3/2 --db cli.db" }
case{ area = "command line", input = "trace frob (unknown trace command)", word = "frob", rc = 2,
      args = "trace frob x" }
case{ area = "command line", input = "trace info --block-size x", word = "--block-size", rc = 2,
      args = "trace info good.txt --block-size x" }
case{ area = "command line", input = "merge without inputs", word = "merge needs", rc = 2,
      args = "merge" }

-- ---------------------------------------------------------- trace files

case{ area = "trace", input = "missing file", word = "no such trace", rc = 2,
      args = "trace info /nonexistent.trace" }
case{ area = "trace", input = "empty file", word = "empty", rc = 1,
      args = "trace info empty.trace" }
case{ area = "trace", input = "random bytes", word = "format", rc = 1,
      args = "trace info garbage.bin" }
case{ area = "trace", input = "text with a bad line", word = "line 2", rc = 1,
      args = "trace info badline.txt" }
case{ area = "trace", input = "truncated binary trace", word = "truncated", rc = 1,
      args = "trace info trunc.plt" }
case{ area = "trace", input = "truncated gzip", word = "truncated", rc = 1,
      args = "trace info trunc.plt.gz" }
case{ area = "trace", input = "gzip of text that is no trace", word = "hello world", rc = 1,
      args = "trace info gzgarbage.gz" }
case{ area = "trace", input = "wrong magic, --format binary", word = "magic", rc = 1,
      args = "trace info badmagic.plt --format binary" }
case{ area = "trace", input = "wrong magic, format detected", word = "badmagic.plt", rc = 1,
      args = "trace info badmagic.plt" }
case{ area = "trace", input = "p:run(truncated binary trace)", word = "truncated",
      lua = function(pl, dir)
        return sys4(pl):process{}:run(assert(pl.trace.open(dir .. "/trunc.plt")))
      end }
case{ area = "trace", input = "p:run(truncated gzip)", word = "truncated",
      lua = function(pl, dir)
        return sys4(pl):process{}:run(assert(pl.trace.open(dir .. "/trunc.plt.gz")))
      end }
case{ area = "trace", input = "trace.open(missing file)", word = "nonexistent",
      lua = function(pl) return pl.trace.open("/nonexistent.trace") end }

-- ---------------------------------------------------- results databases
-- db: the database the command gets; it held 2 runs before (copies of
-- base.db), and must still hold them (or be unchanged, byte for byte).

case{ area = "database", input = "--db is a directory", word = "adir", rc = 1,
      args = "run ok.lua --db adir" }
case{ area = "database", input = "--db under a regular file (not writable)", word = "afile/x.db", rc = 1,
      args = "run ok.lua --db afile/x.db" }
case{ area = "database", input = "--db in a directory that cannot be made", word = "/proc/nope/x.db", rc = 1,
      args = "run ok.lua --db /proc/nope/x.db" }
case{ area = "database", input = "schema newer than pagelab (run)", word = "newer", rc = 1,
      args = "run ok.lua -p n=7 --db newer.db", db = "newer.db", same = true }
case{ area = "database", input = "schema newer than pagelab (sweep)", word = "newer", rc = 1,
      args = "sweep ok.lua -p n=1,2 --db newer.db", db = "newer.db", same = true }
case{ area = "database", input = "schema newer than pagelab (query)", word = "newer", rc = 1,
      args = "query newer.db 'SELECT count(*) FROM run'", db = "newer.db", same = true }
case{ area = "database", input = "a SQLite file that is not pagelab's", word = "not a pagelab", rc = 1,
      args = "run ok.lua --db other.db", db = "other.db", runs = 0 }
case{ area = "database", input = "random bytes over the first 100 bytes", word = "not a SQLite database", rc = 1,
      args = "run ok.lua -p n=7 --db headcorrupt.db", db = "headcorrupt.db", same = true }
case{ area = "database", input = "random bytes over the schema page", word = "malformed", rc = 1,
      args = "run ok.lua -p n=7 --db corrupt.db", db = "corrupt.db", same = true }
case{ area = "database", input = "truncated database", word = "malformed", rc = 1,
      args = "run ok.lua -p n=7 --db trunc.db", db = "trunc.db", same = true }
case{ area = "database", input = "truncated database (sweep)", word = "malformed", rc = 1,
      args = "sweep ok.lua -p n=1,2 --db trunc.db", db = "trunc.db", same = true }
case{ area = "database", input = "corrupted schema page (query)", word = "malformed", rc = 1,
      args = "query corrupt.db 'SELECT count(*) FROM run'", db = "corrupt.db", same = true }
case{ area = "database", input = "corrupted input of a merge", word = "nothing was written", rc = 1,
      args = "merge merged.db base.db corrupt.db", db = "merged.db", runs = 2 }
case{ area = "database", input = "random bytes over a page past the schema: named, not an internal error", word = "malformed", rc = 1,
      args = "run ok.lua -p n=9 --db midcorrupt.db", db = "midcorrupt.db", runs = 2 }

-- ------------------------------------------ rows that hold for one db
-- (checked apart: a refused database must not even be reformatted)

local extra = {
  { input = "a SQLite file that is not pagelab's is left byte for byte as it was",
    args = "run ok.lua --db other2.db", db = "other2.db" },
}

-- ================================================================ Markdown

if not describe then
  print("| # | area | bad input | message names |")
  print("|---|---|---|---|")
  for i, c in ipairs(cases) do
    local how = c.args and ("`pagelab " .. c.args .. "`") or c.input
    if c.args then how = c.input .. ": " .. how end
    print(("| %d | %s | %s | `%s` |"):format(i, c.area, how:gsub("|", "\\|"), c.word))
  end
  return
end

-- ================================================================ fixtures

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

-- Deterministic bytes: a linear congruential generator, seeded.
local function bytes(n, seed)
  local t, x = {}, seed
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    t[i] = string.char((x >> 16) & 255)
  end
  return table.concat(t)
end

local function overwrite(path, offset, data)
  local f = assert(io.open(path, "r+b"))
  f:seek("set", offset)
  f:write(data)
  f:close()
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local PL
local function pagelab_exe()
  if PL then return PL end
  local b = os.getenv("PAGELAB_BUILD")
  PL = (b and io.open(b .. "/pagelab") and (b .. "/pagelab")) or "pagelab"
  if PL ~= "pagelab" and PL:sub(1, 1) ~= "/" then PL = os.getenv("PWD") .. "/" .. PL end
  return PL
end

-- Runs pagelab in dir: output (stdout and stderr), exit status.
local function run_pagelab(dir, args)
  local p = io.popen("cd " .. q(dir) .. " && " .. q(pagelab_exe()) .. " " .. args ..
                     " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc
end

local function runs_in(path)
  local p = io.popen("sqlite3 " .. q(path) .. " 'SELECT count(*) FROM run' 2>&1")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("^(%d+)"))
end

local function make_fixtures(dir)
  local exps = {
    ["ok.lua"] = [[return { name = "ok", params = { n = { 3, "n" },
      mode = { "a", "m", choices = { "a", "b" } } },
      run = function(p, rec) rec:metric("n", p.n) end }]],
    ["syntax.lua"] = 'return { name = "syn", run = function(p, rec) end',
    ["norun.lua"] = 'return { name = "norun" }',
    ["badparams.lua"] = 'return { name = "badp", params = { n = 3 }, run = function() end }',
    ["notable.lua"] = "return 42",
    ["raises.lua"] = 'error("boom at load")',
    ["badname.lua"] = 'return { name = "x y", run = function() end }',
    ["unknownfield.lua"] = 'return { name = "uf", paramz = {}, run = function() end }',
    ["badchoice.lua"] = 'return { name = "ch", params = { m = { "z", "m", choices = {"a","b"} } }, run = function() end }',
    ["seedparam.lua"] = 'return { name = "sp", params = { seed = { 1, "s" } }, run = function() end }',
  }
  for name, text in pairs(exps) do write(dir .. "/" .. name, text) end

  -- traces
  local lines = {}
  for i = 1, 3000 do lines[i] = ("%s %x"):format(i % 3 == 0 and "W" or "R", 0x10000000 + i * 4096) end
  write(dir .. "/good.txt", table.concat(lines, "\n") .. "\n")
  write(dir .. "/badline.txt", "R 1000\nW zz\n")
  write(dir .. "/garbage.bin", bytes(3000, 7))
  write(dir .. "/empty.trace", "")
  local _, rc1 = run_pagelab(dir, "trace convert good.txt good.plt")
  local _, rc2 = run_pagelab(dir, "trace convert good.txt good.plt.gz")
  assert(rc1 == 0 and rc2 == 0, "pagelab trace convert failed")
  local plt, gz = read(dir .. "/good.plt"), read(dir .. "/good.plt.gz")
  write(dir .. "/trunc.plt", plt:sub(1, 40))
  write(dir .. "/trunc.plt.gz", gz:sub(1, #gz // 2))
  write(dir .. "/badmagic.plt", "XXXX" .. plt:sub(5))
  sh("printf 'hello world\\n' | gzip > " .. q(dir .. "/gzgarbage.gz"))

  -- databases: base.db holds 2 runs; the others are copies made bad
  local _, r1 = run_pagelab(dir, "run ok.lua --db base.db -q")
  local _, r2 = run_pagelab(dir, "run ok.lua -p n=5 --db base.db -q")
  assert(r1 == 0 and r2 == 0 and runs_in(dir .. "/base.db") == 2, "could not make base.db")
  local base = read(dir .. "/base.db")
  for _, n in ipairs{ "newer", "corrupt", "trunc", "headcorrupt", "midcorrupt" } do
    write(dir .. "/" .. n .. ".db", base)
  end
  sh("sqlite3 " .. q(dir .. "/newer.db") .. " \"UPDATE meta SET value = '99' WHERE key = 'schema_version'\"")
  for _, n in ipairs{ "other", "other2" } do
    sh("sqlite3 " .. q(dir .. "/" .. n .. ".db") .. " 'CREATE TABLE t(x); INSERT INTO t VALUES (1)'")
  end
  overwrite(dir .. "/corrupt.db", 100, bytes(3000, 11))
  overwrite(dir .. "/headcorrupt.db", 0, bytes(100, 13))
  write(dir .. "/trunc.db", base:sub(1, 5000))
  overwrite(dir .. "/midcorrupt.db", 40960, bytes(4096, 17))
  write(dir .. "/merged.db", base)
  sh("mkdir " .. q(dir .. "/adir"))
  write(dir .. "/afile", "x\n")
end

-- ================================================================== tests

local function bad_output(out)
  for _, pat in ipairs{ "Segmentation fault", "AddressSanitizer", "runtime error:",
                        "internal error", "stack traceback", "core dumped" } do
    if out:find(pat, 1, true) then return pat end
  end
end

local function has_word(text, word)
  return text:lower():find(word:lower(), 1, true) ~= nil
end

describe("bad-input catalogue", function()
  local pagelab = require "pagelab"
  local dir

  setup(function()
    local p = io.popen("mktemp -d")
    dir = p:read("l")
    p:close()
    make_fixtures(dir)
  end)

  teardown(function()
    collectgarbage()
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  it("has at least 60 rows", function()
    assert.is_true(#cases >= 60, #cases .. " rows")
  end)

  for i, c in ipairs(cases) do
    it(("#%d %s: %s"):format(i, c.area, c.input), function()
      if c.lua then
        local r = table.pack(pcall(c.lua, pagelab, dir))
        local parts = {}
        for k = 2, r.n do parts[#parts + 1] = tostring(r[k]) end
        local text = table.concat(parts, " | ")
        if r[1] then
          -- an expected failure is nil, "STATUS_..." or nil, message
          assert.is_nil(r[2], "accepted: " .. text)
        end
        assert.is_true(has_word(text, c.word),
                       ("the message does not name '%s': %s"):format(c.word, text))
        collectgarbage()
        return
      end
      local before = c.db and read(dir .. "/" .. c.db)
      local runs0 = c.db and (c.runs or runs_in(dir .. "/" .. c.db))
      local out, rc = run_pagelab(dir, c.args)
      local bad = bad_output(out)
      assert.is_nil(bad, ("crash or internal error (%s): %s"):format(tostring(bad), out))
      assert.is_true(rc == 1 or rc == 2, ("exit status %s: %s"):format(tostring(rc), out))
      if c.rc then assert.equal(c.rc, rc, out) end
      assert.is_true(has_word(out, c.word),
                     ("the message does not name '%s': %s"):format(c.word, out))
      if c.db then
        if c.same then
          assert.is_true(read(dir .. "/" .. c.db) == before,
                         c.db .. " was changed by a command that refused it")
        end
        if runs0 and runs0 > 0 then
          assert.equal(runs0, runs_in(dir .. "/" .. c.db), c.db .. " lost runs")
        end
      end
    end)
  end

  for _, c in ipairs(extra) do
    it(c.input, function()
      local before = read(dir .. "/" .. c.db)
      local out, rc = run_pagelab(dir, c.args)
      assert.equal(1, rc, out)
      assert.is_true(read(dir .. "/" .. c.db) == before,
                     c.db .. " was changed (" .. #before .. " bytes before) by a command that refused it")
    end)
  end
end)
