-- pagelab plot F.db --x K --y K [--by K] [--where SQL] -o fig.png|svg|txt
-- — one line per group of runs, drawn by gnuplot.
--
-- K is a parameter or a metric key (or seed, repetition). Every run with
-- status 'ok' that has the keys and passes --where is one point; runs at
-- the same x in one group (repetitions) become their mean, with min..max
-- error bars. Next to the figure go FIG.gp (the gnuplot script) and
-- FIG.dat (its data), so that the figure can be redrawn or restyled with
-- gnuplot alone; when gnuplot is missing those two are still written.

local args = require "pagelab.args"
local errors = require "pagelab.errors"
local format = require "pagelab.format"
local host = require "pagelab.host"

local M = {
  usage = "pagelab plot FILE.db --x KEY --y KEY[,KEY...] [--by KEY] [--where SQL] "
       .. "-o FIG.png|svg|txt [--logx] [--logy] [--title TEXT]",
  summary = "plot a metric against a parameter through gnuplot (png, svg, text)",
  details = [[
  --x KEY        x axis: a parameter or metric key (numbers, sizes, or text)
  --y KEY,...    y axis: metric or parameter keys (several: one line each)
  --by KEY       one line per value of this key
  --where SQL    keep runs where SQL holds; columns are the keys
                 (e.g. "policy = 'lru' AND ws_max >= 256")
  -o FIG.EXT     png, svg, or txt (gnuplot's dumb terminal); FIG.gp and
                 FIG.dat are written next to it
  --logx, --logy logarithmic axes
  --title TEXT   instead of "EXPERIMENT: Y vs X"
]],
}

local spec = { xkey = { value = true }, ykey = { value = true }, by = { value = true },
               where = { value = true }, o = { value = true }, logx = {}, logy = {},
               title = { value = true } }

-- pagelab.args reads one-letter names as short options (-x); --x and --y
-- are long ones here, so they are renamed before parsing.
local function rename_axes(argv, hint)
  local out = {}
  for i, a in ipairs(argv) do
    if a == "--" then
      table.move(argv, i, #argv, #out + 1, out)
      break
    end
    local name, rest = a:match("^%-%-([xy])(=?.*)$")
    if name and (rest == "" or rest:sub(1, 1) == "=") then
      if rest == "" and argv[i + 1] == nil then
        errors.usage(("option '--%s' needs a value"):format(name), hint)
      end
      a = "--" .. name .. "key" .. rest
    end
    out[#out + 1] = a
  end
  return out
end

local TERMINALS = {
  png = "pngcairo size 900,560 noenhanced font ',10'",
  svg = "svg size 900,560 noenhanced dynamic",
  txt = "dumb size 100,32 noenhanced",
}
local RUN_COLUMNS = { seed = true, repetition = true }

local function ident(key)
  return '"' .. key:gsub('"', '""') .. '"'
end

local function sql_string(s)
  return "'" .. s:gsub("'", "''") .. "'"
end

-- kind of every key in the database: "param", "metric" or "run".
local function known_keys(db)
  local kinds, order = {}, {}
  for _, k in ipairs{ "seed", "repetition" } do kinds[k] = "run" end
  for _, r in ipairs(db:query("SELECT DISTINCT key FROM param ORDER BY key")) do
    kinds[r.key] = "param"
    order[#order + 1] = r.key
  end
  for _, r in ipairs(db:query("SELECT DISTINCT key FROM metric ORDER BY key")) do
    if not kinds[r.key] then
      kinds[r.key] = "metric"
      order[#order + 1] = r.key
    end
  end
  return kinds, order
end

local function check_key(kinds, order, key, what, hint)
  if kinds[key] then return end
  local list = table.concat(order, ", ")
  if #list > 300 then list = list:sub(1, 297) .. "..." end
  errors.usage(("%s: no parameter or metric '%s' in the database (known: %s)")
               :format(what, key, list ~= "" and list or "none"), hint)
end

-- The SQL of one row per ok run: run_id, experiment, every key as a
-- column, and the numeric value of each wanted key as "#key".
local function runs_sql(kinds, order, wanted)
  local cols = { "r.run_id AS run_id", "r.experiment AS experiment", "r.seed AS seed",
                 "r.repetition AS repetition" }
  for _, key in ipairs(order) do
    local tbl = kinds[key] == "param" and "param" or "metric"
    cols[#cols + 1] = ("(SELECT value FROM %s WHERE run_id = r.run_id AND key = %s) AS %s")
                      :format(tbl, sql_string(key), ident(key))
  end
  for key in pairs(wanted) do
    local num
    if kinds[key] == "param" then
      num = ("(SELECT value_num FROM param WHERE run_id = r.run_id AND key = %s)"):format(sql_string(key))
    elseif kinds[key] == "metric" then
      num = ("(SELECT value FROM metric WHERE run_id = r.run_id AND key = %s)"):format(sql_string(key))
    else
      num = "r." .. key
    end
    cols[#cols + 1] = num .. " AS " .. ident("#" .. key)
  end
  return "SELECT " .. table.concat(cols, ",\n       ") .. "\n  FROM run r WHERE r.status = 'ok'"
end

local function text_of(v)
  if type(v) == "number" then return format.exact(v) end
  return tostring(v)
end

-- Groups the rows into lines: { name =, points = { {x=, label=, y=, lo=, hi=, n=} } }.
local function lines_of(rows, o)
  local numeric_x = true
  for _, r in ipairs(rows) do
    if r["#" .. o.x] == nil then numeric_x = false end
  end
  local groups, by_name = {}, {}
  for _, r in ipairs(rows) do
    for _, y in ipairs(o.ys) do
      local yv = r["#" .. y]
      if yv ~= nil and r[o.x] ~= nil then
        local name = {}
        if o.by then name[#name + 1] = o.by .. "=" .. text_of(r[o.by]) end
        if #o.ys > 1 then name[#name + 1] = y end
        name = table.concat(name, " ")
        local g = by_name[name]
        if not g then
          g = { name = name, sort = o.by and r["#" .. o.by], at = {}, points = {} }
          by_name[name] = g
          groups[#groups + 1] = g
        end
        local label = text_of(r[o.x])
        local p = g.at[label]
        if not p then
          p = { label = label, x = numeric_x and r["#" .. o.x] or nil, sum = 0, n = 0,
                lo = math.huge, hi = -math.huge }
          g.at[label] = p
          g.points[#g.points + 1] = p
        end
        p.sum, p.n = p.sum + yv, p.n + 1
        p.lo, p.hi = math.min(p.lo, yv), math.max(p.hi, yv)
      end
    end
  end
  -- categories: every x label, in order; positions 0, 1, 2...
  local cats = {}
  if not numeric_x then
    local seen = {}
    for _, r in ipairs(rows) do
      local l = r[o.x] ~= nil and text_of(r[o.x])
      if l and not seen[l] then seen[l] = true cats[#cats + 1] = l end
    end
    table.sort(cats)
    local pos = {}
    for i, l in ipairs(cats) do pos[l] = i - 1 end
    for _, g in ipairs(groups) do
      for _, p in ipairs(g.points) do p.x = pos[p.label] end
    end
  end
  for _, g in ipairs(groups) do
    table.sort(g.points, function(a, b) return a.x < b.x end)
  end
  table.sort(groups, function(a, b)
    if a.sort and b.sort and a.sort ~= b.sort then return a.sort < b.sort end
    return a.name < b.name
  end)
  return groups, cats
end

local function write_file(path, text)
  local f, err = io.open(path, "w")
  if not f then errors.failure(("cannot write '%s': %s"):format(path, err)) end
  f:write(text)
  f:close()
end

local function gp_string(s)
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end

local function data_text(groups)
  local blocks = {}
  for i, g in ipairs(groups) do
    local lines = { "# " .. (g.name ~= "" and g.name or "all runs") .. ": x y min max runs label" }
    for _, p in ipairs(g.points) do
      lines[#lines + 1] = ("%s %s %s %s %d %s"):format(format.exact(p.x), format.exact(p.sum / p.n),
        format.exact(p.lo), format.exact(p.hi), p.n, gp_string(p.label))
    end
    blocks[i] = table.concat(lines, "\n")
  end
  return table.concat(blocks, "\n\n\n") .. "\n"
end

local function script_text(o, groups, cats, title, data_name, out_name)
  local spread = false
  for _, g in ipairs(groups) do
    for _, p in ipairs(g.points) do if p.n > 1 then spread = true end end
  end
  local s = {
    "# pagelab plot: " .. o.command,
    "set terminal " .. TERMINALS[o.ext],
    "set output " .. gp_string(out_name),
    "set title " .. gp_string(title),
    "set xlabel " .. gp_string(o.x),
    "set ylabel " .. gp_string(#o.ys == 1 and o.ys[1] or table.concat(o.ys, ", ")),
    "set grid",
    "set key outside right top",
  }
  if o.logx then s[#s + 1] = "set logscale x" end
  if o.logy then s[#s + 1] = "set logscale y" end
  if #cats > 0 then
    local tics = {}
    for i, l in ipairs(cats) do tics[i] = gp_string(l) .. " " .. (i - 1) end
    s[#s + 1] = "set xtics (" .. table.concat(tics, ", ") .. ")"
    s[#s + 1] = ("set xrange [-0.5:%s]"):format(#cats - 0.5)
  else
    -- sizes ("256KiB") are plotted at their bytes and labelled as written
    local tics, seen = {}, {}
    for _, g in ipairs(groups) do
      for _, p in ipairs(g.points) do
        if p.label ~= format.exact(p.x) and not seen[p.x] then
          seen[p.x] = true
          tics[#tics + 1] = p
        end
      end
    end
    table.sort(tics, function(a, b) return a.x < b.x end)
    for i, p in ipairs(tics) do tics[i] = gp_string(p.label) .. " " .. format.exact(p.x) end
    if #tics > 0 then s[#s + 1] = "set xtics (" .. table.concat(tics, ", ") .. ")" end
    s[#s + 1] = "set autoscale xfix"                  -- no empty decade on a log axis
    s[#s + 1] = "set offsets graph 0.04, graph 0.04, 0, 0"
  end
  local style = spread and "using 1:2:3:4 with yerrorlines" or "using 1:2 with linespoints"
  local plots = {}
  for i, g in ipairs(groups) do
    plots[i] = ("%s index %d %s title %s"):format(i == 1 and gp_string(data_name) or "''",
      i - 1, style, gp_string(g.name ~= "" and g.name or (#o.ys == 1 and o.ys[1] or "runs")))
  end
  s[#s + 1] = "plot " .. table.concat(plots, ", \\\n     ")
  return table.concat(s, "\n") .. "\n"
end

-- Splits "dir/fig.png" into "dir", "fig", "png".
local function split_output(path, hint)
  local dir, base, ext = path:match("^(.-)([^/]+)%.(%w+)$")
  if not ext or not TERMINALS[ext:lower()] then
    errors.usage(("-o: '%s' must end in .png, .svg or .txt"):format(path), hint)
  end
  return dir ~= "" and dir or "./", base, ext:lower()
end

function M.main(argv)
  local hint = "usage: " .. M.usage
  local opts, rest = args.parse(rename_axes(argv, hint), spec, hint)
  if #rest ~= 1 then errors.usage("plot needs one database file", hint) end
  if not opts.xkey then errors.usage("plot needs --x KEY", hint) end
  if not opts.ykey then errors.usage("plot needs --y KEY", hint) end
  if not opts.o then errors.usage("plot needs -o FIG.png|svg|txt", hint) end
  local dir, base, ext = split_output(opts.o, hint)
  local path = rest[1]
  local f = io.open(path, "rb")
  if not f then errors.usage(("no such database '%s'"):format(path), hint) end
  f:close()
  local o = { x = opts.xkey, by = opts.by, ys = {}, ext = ext, logx = opts.logx, logy = opts.logy,
              command = "pagelab plot " .. host.command(argv) }
  for y in opts.ykey:gmatch("[^,]+") do o.ys[#o.ys + 1] = y end

  local pagelab = require "pagelab"
  local db, err = pagelab.results.open(path, { readonly = true })
  if not db then errors.failure(err) end
  local kinds, order = known_keys(db)
  local wanted = { [o.x] = true }
  check_key(kinds, order, o.x, "--x", hint)
  for _, y in ipairs(o.ys) do check_key(kinds, order, y, "--y", hint) wanted[y] = true end
  if o.by then check_key(kinds, order, o.by, "--by", hint) wanted[o.by] = true end
  local sql = "WITH runs AS (\n" .. runs_sql(kinds, order, wanted) .. ")\nSELECT * FROM runs"
  if opts.where then sql = sql .. "\n WHERE (" .. opts.where .. ")" end
  local ok, rows = pcall(db.query, db, sql)
  local experiments = ok and db:query("SELECT DISTINCT experiment FROM run WHERE status = 'ok'") or {}
  db:close()
  if not ok then
    errors.failure(("--where: %s"):format(tostring(rows):gsub("^results database: query: ", "")))
  end
  local groups, cats = lines_of(rows, o)
  if #groups == 0 then
    errors.failure(("no run with status 'ok' has both %s and %s%s in '%s'"):format(
      o.x, table.concat(o.ys, "/"), opts.where and " and passes --where" or "", path))
  end
  local names = {}
  for i, r in ipairs(experiments) do names[i] = r.experiment end
  local title = opts.title or ("%s: %s vs %s%s"):format(table.concat(names, ", "),
    table.concat(o.ys, ", "), o.x, o.by and " by " .. o.by or "")

  local gp, dat, fig = base .. ".gp", base .. ".dat", base .. "." .. ext
  local shown = dir == "./" and "" or dir          -- how paths are printed
  write_file(dir .. dat, data_text(groups))
  write_file(dir .. gp, script_text(o, groups, cats, title, dat, fig))
  if not host.have("gnuplot") then
    local redraw = shown == "" and "gnuplot " .. gp or ("cd %s && gnuplot %s"):format(host.quote(dir), gp)
    io.stderr:write(("pagelab: gnuplot is not installed (Debian: apt-get install gnuplot-nox),"
      .. " so %s was not drawn; wrote %s%s and %s%s: '%s' draws it\n")
      :format(opts.o, shown, gp, shown, dat, redraw))
    return 1
  end
  local p = io.popen("cd " .. host.quote(dir) .. " && gnuplot " .. host.quote(gp) .. " 2>&1")
  local output = p:read("a")
  local done, _, code = p:close()
  if not done then
    errors.failure(("gnuplot failed (exit %s) on %s%s:\n%s"):format(tostring(code), shown, gp, output))
  end
  if output ~= "" then io.stderr:write(output) end
  local points = 0
  for _, g in ipairs(groups) do points = points + #g.points end
  io.stdout:write(("wrote %s: %d line%s, %d points (script %s%s, data %s%s)\n"):format(
    opts.o, #groups, #groups == 1 and "" or "s", points, shown, gp, shown, dat))
  return 0
end

return M
