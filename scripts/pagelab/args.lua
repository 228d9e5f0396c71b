-- pagelab.args — a small option parser for the subcommands.
--
--   local opts, rest = args.parse(argv, spec, hint)
--
-- spec maps option names to descriptions:
--   { db = { value = true }, p = { value = true, many = true }, csv = {} }
-- One-letter names are short options (-p k=v, -pk=v), longer ones long
-- options (--db F, --db=F). Options may come anywhere among the positional
-- arguments; "--" ends them. opts.name is the value (true for flags, a list
-- for `many`); rest is the list of positional arguments. Unknown options
-- and missing values are usage errors naming the option.

local errors = require "pagelab.errors"

local M = {}

local function display(name)
  return #name == 1 and "-" .. name or "--" .. name
end

local function store(opts, name, d, value)
  if d.many then
    opts[name] = opts[name] or {}
    table.insert(opts[name], value)
  else
    opts[name] = value
  end
end

function M.parse(argv, spec, hint)
  local opts, rest = {}, {}
  local i, only_positional = 1, false
  while i <= #argv do
    local a = argv[i]
    local name, attached
    if only_positional or a == "-" or a:sub(1, 1) ~= "-" then
      rest[#rest + 1] = a
    elseif a == "--" then
      only_positional = true
    else
      if a:sub(1, 2) == "--" then
        name, attached = a:match("^%-%-([^=]+)=(.*)$")
        name = name or a:sub(3)
      else
        name = a:sub(2, 2)
        attached = a:sub(3) ~= "" and a:sub(3) or nil
      end
      local d = spec[name]
      if not d or (#name == 1) ~= (a:sub(1, 2) ~= "--") then
        errors.usage(("unknown option '%s'"):format(a), hint)
      end
      if d.value then
        local v = attached
        if v == nil then
          i = i + 1
          v = argv[i]
          if v == nil then
            errors.usage(("option '%s' needs a value"):format(display(name)), hint)
          end
        end
        store(opts, name, d, v)
      elseif attached then
        errors.usage(("option '%s' takes no value"):format(display(name)), hint)
      else
        store(opts, name, d, true)
      end
    end
    i = i + 1
  end
  return opts, rest
end

return M
