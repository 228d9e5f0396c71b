-- pagelab.errors — the two kinds of failure the command line reports.
--
-- usage(msg, hint)  the command line or an input file is wrong: exit 2
-- failure(msg)      the command was valid but could not be carried out: exit 1
--
-- Both raise a table, so that pagelab.cli tells them apart from bugs (plain
-- string errors, printed with a traceback).

local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.msg end

function M.usage(msg, hint)
  error(setmetatable({ code = 2, msg = msg, hint = hint }, Error), 0)
end

function M.failure(msg)
  error(setmetatable({ code = 1, msg = msg }, Error), 0)
end

function M.is(e)
  return getmetatable(e) == Error
end

return M
