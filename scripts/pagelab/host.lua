-- pagelab.host — the little the command line needs from the machine:
-- shell quoting, the path of this executable, finding programs, a
-- temporary directory, a clock.

local M = {}

-- The text as one shell word.
function M.quote(s)
  s = tostring(s)
  if s:match("^[%w_./:=@%%+,-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The command line of a list of words.
function M.command(words)
  local out = {}
  for i, w in ipairs(words) do out[i] = M.quote(w) end
  return table.concat(out, " ")
end

-- The first line a shell command prints, or nil.
local function first_line(cmd)
  local p = io.popen(cmd .. " 2>/dev/null", "r")
  if not p then return nil end
  local line = p:read("l")
  p:close()
  return line ~= "" and line or nil
end

-- Our process id, from /proc (Linux).
local function pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local s = f:read("l")
  f:close()
  return s and s:match("^(%d+)")
end

-- The path of the running pagelab executable: what /proc says, or else
-- arg[0] as it was typed (which the shell finds again on PATH).
function M.executable()
  local id = pid()
  local exe = id and first_line("readlink -f /proc/" .. id .. "/exe")
  if exe and not exe:match(" %(deleted%)$") then return exe end
  if id then return "/proc/" .. id .. "/exe" end   -- still runs while we do
  return arg and arg[0] or "pagelab"
end

-- True when the shell finds a program called name.
function M.have(name)
  return first_line("command -v " .. M.quote(name)) ~= nil
end

-- A new private directory under $TMPDIR or /tmp; nil, message on failure.
function M.mkdtemp(prefix)
  local dir = first_line("mktemp -d -t " .. M.quote((prefix or "pagelab") .. ".XXXXXX"))
  if not dir then return nil, "cannot create a temporary directory (mktemp -d)" end
  return dir
end

function M.remove_tree(dir)
  if dir and dir ~= "" and dir ~= "/" then os.execute("rm -rf " .. M.quote(dir)) end
end

-- A clock in seconds with millisecond resolution (os.time has whole
-- seconds, os.clock counts CPU time), read from SQLite through a Db.
function M.clock(db)
  return function()
    return db:query("SELECT (julianday('now') - 2440587.5) * 86400.0 AS t")[1].t
  end
end

-- "4.2s", "42s", "3m05s", "2h07m"
function M.duration(seconds)
  if seconds < 9.95 then return ("%.1fs"):format(math.max(0, seconds)) end
  seconds = math.floor(seconds + 0.5)
  if seconds < 60 then return seconds .. "s" end
  if seconds < 3600 then return ("%dm%02ds"):format(seconds // 60, seconds % 60) end
  return ("%dh%02dm"):format(seconds // 3600, seconds % 3600 // 60)
end

return M
