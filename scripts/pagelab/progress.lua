-- pagelab.progress — what a sweep shows while it runs.
--
-- On a terminal, one status line redrawn in place:
--   ws_limits [#########...........]  18/40  1 failed  2 running  ETA 0m42s
-- with each failure printed above it. Elsewhere (a pipe, a file, a CI
-- log), one plain line per finished run:
--   [18/40] ok      0.52s  ws_max=256 policy=lru
--   [19/40] FAILED  0.03s  ws_max=512 policy=opt: opt needs a trace
--
--   local bar = progress.new{ total =, name =, tty =, out =, now = }
--   bar:started(text) ... bar:finished(ok, seconds, text, err) ... bar:close()

local host = require "pagelab.host"

local Progress = {}
Progress.__index = Progress

local M = {}

local BAR_WIDTH = 24

function M.new(o)
  local self = setmetatable({
    total = o.total, name = o.name or "sweep", tty = o.tty, out = o.out or io.stdout,
    err = o.err or io.stderr, now = o.now or os.time,
    done = 0, failed = 0, running = 0,
  }, Progress)
  self.t0 = self.now()
  if self.tty then self:draw() end
  return self
end

function Progress:elapsed()
  return self.now() - self.t0
end

-- The ETA from the mean time per finished run so far (parallel workers
-- included: it is wall time per run, not run time).
function Progress:eta()
  if self.done == 0 then return "?" end
  return host.duration(self:elapsed() / self.done * (self.total - self.done))
end

function Progress:line()
  local frac = self.total > 0 and self.done / self.total or 1
  local fill = math.floor(frac * BAR_WIDTH + 0.5)
  local parts = {
    ("%s [%s%s] %d/%d"):format(self.name, ("#"):rep(fill), ("."):rep(BAR_WIDTH - fill),
                                 self.done, self.total),
  }
  if self.failed > 0 then parts[#parts + 1] = self.failed .. " failed" end
  if self.running > 0 then parts[#parts + 1] = self.running .. " running" end
  parts[#parts + 1] = self.done < self.total and "ETA " .. self:eta()
                      or "in " .. host.duration(self:elapsed())
  return table.concat(parts, "  ")
end

function Progress:draw()
  self.out:write("\r", self:line(), "\27[K")
  self.out:flush()
end

-- Writes text above the bar (or as a plain line).
function Progress:say(stream, text)
  if self.tty then self.out:write("\r\27[K") self.out:flush() end
  stream:write(text, "\n")
  stream:flush()
  if self.tty then self:draw() end
end

function Progress:started()
  self.running = self.running + 1
  if self.tty then self:draw() end
end

function Progress:finished(ok, seconds, text, err)
  self.running = math.max(0, self.running - 1)
  self.done = self.done + 1
  if not ok then self.failed = self.failed + 1 end
  local status = ok and "ok    " or "FAILED"
  local msg = ("[%d/%d] %s %6.2fs  %s"):format(self.done, self.total, status, seconds or 0, text)
  if not ok and err then msg = msg .. ": " .. err end
  if not self.tty then
    self.out:write(msg, "\n")
    self.out:flush()
  elseif not ok then
    self:say(self.err, msg)
  else
    self:draw()
  end
end

-- Ends the bar's line.
function Progress:close()
  if self.tty then
    self:draw()
    self.out:write("\n")
    self.out:flush()
  end
end

return M
