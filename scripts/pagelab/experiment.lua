-- pagelab.experiment — loading experiment files, resolving their
-- parameters and running them into a results database.
--
-- An experiment file returns
--   { name = "ws-limits", description = "...",
--     params = { key = { default, "help", choices = {...} }, ... },
--     run = function(p, rec) ... end }
-- A parameter is typed by its default: "integer", "number", "string" or
-- "boolean" (`default =` and `help =` may be written as named fields).
-- `seed` is reserved: every run gets p.seed from --seed (default 1).

local errors = require "pagelab.errors"

local M = {}

M.DEFAULT_SEED = 1

local function type_of(v)
  if math.type(v) == "integer" then return "integer" end
  if type(v) == "number" then return "number" end
  return type(v)
end

local function invalid(path, msg)
  errors.usage(("%s: %s"):format(path, msg),
               "An experiment returns { name =, description =, params =, run = }: see docs/cli.md.")
end

-- Normalizes one parameter declaration into { default, help, type, choices }.
local function check_param(path, key, d)
  local where = "params." .. tostring(key)
  if type(key) ~= "string" or not key:match("^[%a_][%w_]*$") then
    invalid(path, ("parameter names must be identifiers, got '%s'"):format(tostring(key)))
  end
  if key == "seed" then
    invalid(path, "params.seed is reserved: every run gets p.seed from --seed")
  end
  if type(d) ~= "table" then
    invalid(path, where .. " must be a table { default, help, choices = {...} }")
  end
  for k in pairs(d) do
    if k ~= 1 and k ~= 2 and k ~= "default" and k ~= "help" and k ~= "choices" then
      invalid(path, ("%s: unknown field '%s' (known: default, help, choices)"):format(where, tostring(k)))
    end
  end
  local default = d[1]
  if default == nil then default = d.default end
  local t = type_of(default)
  if t ~= "integer" and t ~= "number" and t ~= "string" and t ~= "boolean" then
    invalid(path, where .. " needs a default: a number, string or boolean")
  end
  local help = d[2] or d.help or ""
  if type(help) ~= "string" then invalid(path, where .. ": help must be a string") end
  local choices = d.choices
  if choices ~= nil then
    if type(choices) ~= "table" or #choices == 0 then
      invalid(path, where .. ": choices must be a non-empty list")
    end
    local found = false
    for _, c in ipairs(choices) do
      if type(c) ~= type(default) then
        invalid(path, ("%s: choice '%s' is not a %s like the default"):format(where, tostring(c), t))
      end
      if c == default then found = true end
    end
    if not found then
      invalid(path, ("%s: the default '%s' is not one of the choices"):format(where, tostring(default)))
    end
  end
  return { key = key, default = default, help = help, type = t, choices = choices }
end

-- Checks a loaded experiment table; returns a checked copy with
-- param_list, its parameter declarations sorted by name.
function M.check(exp, path)
  path = path or "experiment"
  if type(exp) ~= "table" then invalid(path, "the file must return a table") end
  for k in pairs(exp) do
    if k ~= "name" and k ~= "description" and k ~= "params" and k ~= "run" then
      invalid(path, ("unknown field '%s' (known: name, description, params, run)"):format(tostring(k)))
    end
  end
  if type(exp.name) ~= "string" or not exp.name:match("^[%w_.-]+$") then
    invalid(path, "name must be a non-empty string of letters, digits, '_', '-' or '.'")
  end
  if exp.description ~= nil and type(exp.description) ~= "string" then
    invalid(path, "description must be a string")
  end
  if type(exp.run) ~= "function" then invalid(path, "run must be a function(p, rec)") end
  if exp.params ~= nil and type(exp.params) ~= "table" then
    invalid(path, "params must be a table")
  end
  local list = {}
  for key, d in pairs(exp.params or {}) do list[#list + 1] = check_param(path, key, d) end
  table.sort(list, function(a, b) return a.key < b.key end)
  return { name = exp.name, description = exp.description or "", run = exp.run,
           params = exp.params or {}, param_list = list, path = path }
end

-- Loads and checks the experiment file at path. Usage errors when it is
-- missing or malformed.
function M.load(path)
  local f = io.open(path, "r")
  if not f then
    errors.usage(("cannot open experiment '%s'"):format(path),
                 "Give the path of an experiment file, e.g. experiments/ws_limits.lua.")
  end
  f:close()
  local chunk, err = loadfile(path, "t")
  if not chunk then invalid(path, err) end
  local ok, exp = pcall(chunk)
  if not ok then invalid(path, "error while loading: " .. tostring(exp)) end
  return M.check(exp, path)
end

local function declared(exp, key)
  for _, d in ipairs(exp.param_list) do
    if d.key == key then return d end
  end
end

local function known_list(exp)
  local keys = {}
  for _, d in ipairs(exp.param_list) do keys[#keys + 1] = d.key end
  return #keys > 0 and table.concat(keys, ", ") or "none"
end

local booleans = { ["true"] = true, yes = true, on = true, ["1"] = true,
                   ["false"] = false, no = false, off = false, ["0"] = false }

-- Converts the text of -p key=text to the declared type of d.
function M.convert(d, text, hint)
  local value
  if d.type == "string" then
    value = text
  elseif d.type == "boolean" then
    value = booleans[text:lower()]
  else
    value = tonumber(text)
    if value and d.type == "integer" then value = math.tointeger(value) end
    if value and value ~= value then value = nil end
  end
  if value == nil then
    local article = d.type == "integer" and "an" or "a"
    errors.usage(("parameter %s expects %s %s, got '%s'"):format(d.key, article, d.type, text), hint)
  end
  if d.choices then
    local ok = false
    for _, c in ipairs(d.choices) do if c == value then ok = true end end
    if not ok then
      local names = {}
      for i, c in ipairs(d.choices) do names[i] = tostring(c) end
      errors.usage(("parameter %s must be one of %s, got '%s'"):format(
        d.key, table.concat(names, ", "), text), hint)
    end
  end
  return value
end

-- Splits "key=value" and checks that the key is declared.
function M.assignment(exp, text, hint)
  local key, value = text:match("^([^=]+)=(.*)$")
  if not key then errors.usage(("-p expects key=value, got '%s'"):format(text), hint) end
  local d = declared(exp, key)
  if not d then
    errors.usage(("unknown parameter '%s' (known: %s)"):format(key, known_list(exp)), hint)
  end
  return d, value
end

-- The resolved params: every declared parameter (default or -p value).
-- assignments: list of "key=value" strings. Returns params (declared keys
-- only: what is recorded and hashed) and p (params plus p.seed: what run
-- receives).
function M.resolve(exp, assignments, seed, hint)
  local params = {}
  for _, d in ipairs(exp.param_list) do params[d.key] = d.default end
  for _, text in ipairs(assignments or {}) do
    local d, value = M.assignment(exp, text, hint)
    params[d.key] = M.convert(d, value, hint)
  end
  local p = {}
  for k, v in pairs(params) do p[k] = v end
  p.seed = seed or M.DEFAULT_SEED
  return params, p
end

-- The traceback of an error raised by an experiment, without the frames
-- of pagelab's own command line below it.
function M.traceback(e)
  local lines = {}
  for line in debug.traceback(tostring(e), 3):gmatch("[^\n]+") do
    if line:find("in function 'xpcall'", 1, true) then break end
    lines[#lines + 1] = line
  end
  return table.concat(lines, "\n")
end

-- Runs exp once with params into db (an open pagelab.results Db).
-- Returns ok, run_id, err, traceback: a run that raises is recorded as
-- 'failed' with its message and whatever it had recorded.
function M.execute(exp, db, params, p, repetition)
  local rec = db:begin_run{ experiment = exp.name, params = params,
                            seed = p.seed, repetition = repetition or 1 }
  local trace
  local ok, err = xpcall(exp.run, function(e)
    trace = M.traceback(e)
    return e
  end, p, rec)
  local msg = not ok and tostring(err) or nil
  -- the database may refuse the run (corrupted, disk full, read-only):
  -- say so cleanly; runs recorded before stay as they were
  local recorded, run_id = pcall(rec.finish, rec, ok, msg)
  if not recorded then
    return false, nil, "could not record the run: " .. tostring(run_id), trace
  end
  return ok, run_id, msg, trace
end

-- Parameter descriptions for `pagelab help`.
function M.describe(exp)
  local rows = {}
  for _, d in ipairs(exp.param_list) do
    local help = d.help
    if d.choices then
      local names = {}
      for i, c in ipairs(d.choices) do names[i] = tostring(c) end
      help = help .. (help ~= "" and " " or "") .. "(one of: " .. table.concat(names, ", ") .. ")"
    end
    local default = d.default == "" and '""' or tostring(d.default)
    rows[#rows + 1] = { name = d.key, default = default, type = d.type, help = help }
  end
  return rows
end

return M
