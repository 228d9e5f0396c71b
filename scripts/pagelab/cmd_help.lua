-- pagelab help [EXP.lua | COMMAND] — an experiment's parameters, a
-- command's usage, or the list of commands.

local errors = require "pagelab.errors"
local experiment = require "pagelab.experiment"
local format = require "pagelab.format"

local M = {
  usage = "pagelab help [EXP.lua | COMMAND]",
  summary = "describe an experiment's parameters (or a command)",
}

local function experiment_help(path)
  local exp = experiment.load(path)
  local out = { ("%s — %s"):format(exp.name, exp.description ~= "" and exp.description or "(no description)"), "" }
  local rows = experiment.describe(exp)
  if #rows == 0 then
    out[#out + 1] = "no parameters"
  else
    out[#out + 1] = "parameters (set with -p name=value):"
    local text = format.table(rows, { "name", "default", "type", "help" })
    for line in text:gmatch("[^\n]+") do out[#out + 1] = "  " .. line end
  end
  out[#out + 1] = ""
  out[#out + 1] = ("every run also gets p.seed (--seed N, default %d)"):format(experiment.DEFAULT_SEED)
  out[#out + 1] = ("run it:  pagelab run %s [-p name=value]... [--db F] [--seed N]"):format(path)
  io.stdout:write(table.concat(out, "\n"), "\n")
end

function M.main(argv)
  local cli = require "pagelab.cli"
  if #argv == 0 then
    io.stdout:write(cli.usage())
    return 0
  end
  if #argv > 1 then
    errors.usage("help takes one argument", "usage: " .. M.usage)
  end
  local cmd = not argv[1]:find("[/.]") and cli.find(argv[1])
  if cmd then
    io.stdout:write("usage: ", cmd.usage, "\n", cmd.summary, "\n")
    if cmd.details then io.stdout:write("\n", cmd.details) end
    return 0
  end
  experiment_help(argv[1])
  return 0
end

return M
