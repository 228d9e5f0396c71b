-- pagelab.cli — the `pagelab` command line: dispatches to subcommands.
--
-- Each subcommand is a module pagelab.cmd_NAME returning
--   { usage = "pagelab NAME ...", summary = "one line", main = function(argv) }
-- where main returns an exit status or raises through pagelab.errors.
-- Exit status: 0 ok, 1 failure (a run failed, a database error), 2 usage.

local errors = require "pagelab.errors"

local M = {}

-- Subcommands, in the order `pagelab help` lists them. Later ones (sweep,
-- merge, plot, show) add a row and a pagelab/cmd_NAME.lua file.
M.commands = {
  { name = "run",   module = "pagelab.cmd_run" },
  { name = "help",  module = "pagelab.cmd_help" },
  { name = "query", module = "pagelab.cmd_query" },
  { name = "trace", module = "pagelab.cmd_trace" },
  { name = "sweep", module = "pagelab.cmd_sweep" },
  { name = "merge", module = "pagelab.cmd_merge" },
  { name = "plot",  module = "pagelab.cmd_plot" },
  { name = "show",  module = "pagelab.cmd_show" },
}

function M.find(name)
  for _, c in ipairs(M.commands) do
    if c.name == name then return require(c.module) end
  end
end

function M.version()
  local ok, pagelab = pcall(require, "pagelab")
  local v = ok and type(pagelab) == "table" and (pagelab.VERSION or pagelab.version)
  return type(v) == "string" and v or "unknown"
end

function M.usage()
  local lines = {
    "usage: pagelab                        interactive Lua with pagelab loaded",
    "       pagelab FILE.lua [args...]     run a Lua script",
    "       pagelab COMMAND [args...]",
    "",
    "commands:",
  }
  for _, c in ipairs(M.commands) do
    local cmd = require(c.module)
    lines[#lines + 1] = ("  %-7s %s"):format(c.name, cmd.summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "'pagelab help COMMAND' shows a command's options; docs/cli.md has them all."
  return table.concat(lines, "\n") .. "\n"
end

local function report(e)
  io.stderr:write("pagelab: ", e.msg, "\n")
  if e.hint then io.stderr:write(e.hint, "\n") end
  return e.code
end

-- argv: the arguments after the executable's name. Returns the exit status.
function M.main(argv)
  local name = argv[1]
  if name == "--help" or name == "-h" then
    io.stdout:write(M.usage())
    return 0
  elseif name == "--version" or name == "-v" then
    io.stdout:write("pagelab ", M.version(), "\n")
    return 0
  end
  local cmd = M.find(name)
  if not cmd then
    return report{ code = 2, msg = ("unknown command '%s'"):format(tostring(name)),
                   hint = "Try 'pagelab --help' for the list of commands." }
  end
  local rest = table.move(argv, 2, #argv, 1, {})
  local trace
  local ok, status = xpcall(cmd.main, function(e)
    if errors.is(e) then return e end
    trace = debug.traceback(tostring(e), 2)
    return e
  end, rest)
  if ok then return status or 0 end
  if errors.is(status) then return report(status) end
  io.stderr:write("pagelab: internal error: ", trace, "\n")
  return 1
end

return M
