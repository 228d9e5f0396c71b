-- pagelab.format — query results as an aligned table, CSV or JSON.
--
-- Each function takes rows (a list of {column = value}, NULL columns
-- absent) and cols (the list of column names, in order) and returns text.

local M = {}

-- The shortest text that reads back to the same number.
local function exact(x)
  if math.type(x) == "integer" then return tostring(x) end
  if x ~= x then return "NaN" end
  if x == math.huge then return "Infinity" end
  if x == -math.huge then return "-Infinity" end
  if x == math.floor(x) and math.abs(x) < 2^53 then
    return ("%d"):format(x)
  end
  for prec = 15, 17 do
    local s = ("%." .. prec .. "g"):format(x)
    if tonumber(s) == x then return s end
  end
end

-- What a person reads in a table: integral values without ".0", others
-- with 6 significant digits.
local function readable(x)
  if math.type(x) == "float" and x == x and math.abs(x) ~= math.huge
     and (x ~= math.floor(x) or math.abs(x) >= 1e15) then
    return ("%.6g"):format(x)
  end
  return exact(x)
end

M.exact = exact

function M.table(rows, cols)
  local width, cells, numeric = {}, {}, {}
  for c, name in ipairs(cols) do
    width[c] = utf8.len(name) or #name
    numeric[c] = true
  end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, name in ipairs(cols) do
      local v = row[name]
      local s
      if v == nil then
        s = "NULL"
      elseif type(v) == "number" then
        s = readable(v)
      else
        s, numeric[c] = tostring(v), false
      end
      cells[r][c] = s
      width[c] = math.max(width[c], utf8.len(s) or #s)
    end
  end
  local function line(values, right)
    local out = {}
    for c, s in ipairs(values) do
      local pad = (" "):rep(width[c] - (utf8.len(s) or #s))
      out[c] = (right and right[c]) and pad .. s or s .. pad
    end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  local lines, rule = { line(cols, numeric) }, {}
  for c in ipairs(cols) do rule[c] = ("-"):rep(width[c]) end
  lines[2] = line(rule)
  for r in ipairs(rows) do lines[#lines + 1] = line(cells[r], numeric) end
  return table.concat(lines, "\n") .. "\n"
end

local function csv_field(v)
  if v == nil then return "" end
  local s = type(v) == "number" and exact(v) or tostring(v)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

function M.csv(rows, cols)
  local lines = {}
  local header = {}
  for c, name in ipairs(cols) do header[c] = csv_field(name) end
  lines[1] = table.concat(header, ",")
  for _, row in ipairs(rows) do
    local f = {}
    for c, name in ipairs(cols) do f[c] = csv_field(row[name]) end
    lines[#lines + 1] = table.concat(f, ",")
  end
  return table.concat(lines, "\r\n") .. "\r\n"
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b",
                  ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
                  ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    return escapes[ch] or ("\\u%04x"):format(ch:byte())
  end) .. '"'
end

local function json_value(v)
  if v == nil then return "null" end
  if type(v) == "number" then
    if v ~= v or math.abs(v) == math.huge then return "null" end
    return exact(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  return json_string(tostring(v))
end

M.json_string = json_string
M.json_value = json_value

function M.json(rows, cols)
  local out = {}
  for r, row in ipairs(rows) do
    local f = {}
    for c, name in ipairs(cols) do
      f[c] = json_string(name) .. ":" .. json_value(row[name])
    end
    out[r] = "{" .. table.concat(f, ",") .. "}"
  end
  if #out == 0 then return "[]\n" end
  return "[\n" .. table.concat(out, ",\n") .. "\n]\n"
end

return M
