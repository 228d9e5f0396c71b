-- pagelab.repl — the interactive prompt of a bare `pagelab`.
--
-- Reads a line, evaluates it as an expression if it is one (printing the
-- values, as lua5.4 does), else as a statement; an incomplete statement
-- continues on the next line (">>" prompt). The global `pagelab` is the
-- loaded module. End with Ctrl-D.

local M = {}

local function print_values(n, ...)
  if n == 0 then return end
  local out = {}
  for i = 1, n do out[i] = tostring((select(i, ...))) end
  io.stdout:write(table.concat(out, "\t"), "\n")
end

local function handler(e)
  return debug.traceback(tostring(e), 2)
end

local function incomplete(err)
  return err:find("<eof>$") ~= nil
end

local function evaluate(chunk)
  local results = table.pack(xpcall(chunk, handler))
  if results[1] then
    print_values(results.n - 1, table.unpack(results, 2, results.n))
  else
    io.stderr:write(results[2], "\n")
  end
end

function M.main()
  _G.pagelab = require "pagelab"
  local cli = require "pagelab.cli"
  io.stdout:write("pagelab ", cli.version(), " (", _VERSION,
                  ") — the module is loaded as 'pagelab'; Ctrl-D quits\n")
  local buffer
  while true do
    io.stdout:write(buffer and ">> " or "> ")
    io.stdout:flush()
    local line = io.read("L")
    if not line then
      io.stdout:write("\n")
      return 0
    end
    buffer = buffer and buffer .. line or line
    local chunk, err = load("return " .. buffer, "=stdin", "t")
    if not chunk then chunk, err = load(buffer, "=stdin", "t") end
    if chunk then
      buffer = nil
      evaluate(chunk)
    elseif not incomplete(err) then
      buffer = nil
      io.stderr:write(err, "\n")
    end
  end
end

return M
