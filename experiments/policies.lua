-- policies.lua — fault curves per replacement policy over working-set sizes.
--
-- One trace (any format pagelab reads: the LIRS block traces and the OLTP
-- trace from the research literature work as they are) is replayed into a
-- process whose working-set maximum is hard, once per policy and per size,
-- each time on a fresh machine with memory to spare, so that the only
-- thing that differs is which page the policy gives up. A "fault" is a
-- reference that is not a hit: the textbook count (WINDOWS.md C.5), since
-- pages given up wait on the standby list and come back as soft faults.
--
-- Results: a series "faults.<policy>" (step = working-set size in pages)
-- and a metric "faults.<policy>.<size>" for each point, plus the miss
-- ratios. Without a trace, a zipf workload of `refs` references stands in.

local pagelab = require "pagelab"

local function list(text, what, convert)
  local out = {}
  for item in tostring(text):gmatch("[^,%s]+") do
    local v = convert and convert(item) or item
    if v == nil then error(("%s: '%s' is not valid"):format(what, item), 0) end
    out[#out + 1] = v
  end
  if #out == 0 then error(what .. ": empty list", 0) end
  return out
end

local function positive(s)
  local n = math.tointeger(tonumber(s))
  return n and n > 0 and n or nil
end

return {
  name = "policies",
  description = "Fault curves per replacement policy over working-set sizes",
  params = {
    trace = { "", "trace file to replay (empty: a zipf workload)" },
    block_size = { 4096, "bytes per block for block-number traces" },
    policies = { "aging,fifo,clock,lru,random,wsclock,opt",
                 "comma-separated policies to compare" },
    sizes = { "16,32,64,128,256,512,1024", "comma-separated working-set sizes (pages)" },
    refs = { 200000, "references (the whole trace when 0; the zipf workload needs some)" },
    alpha = { 0.9, "zipf exponent when no trace is given" },
    pages = { 8192, "pages the zipf workload spreads over" },
  },
  run = function(p, rec)
    local policies = list(p.policies, "policies")
    local sizes = list(p.sizes, "sizes", positive)
    table.sort(sizes)
    local function source()
      if p.trace ~= "" then
        return assert(pagelab.trace.open(p.trace, { block_size = p.block_size }))
      end
      return pagelab.workload.zipf{ base = 0x10000000, size = p.pages * 4096,
                                    alpha = p.alpha, seed = p.seed }
    end
    local refs = p.refs > 0 and p.refs or nil
    if not refs and p.trace == "" then error("refs: the zipf workload needs a count", 0) end
    for _, policy in ipairs(policies) do
      for _, size in ipairs(sizes) do
        local sys <close> = assert(pagelab.system{
          ram = "1GiB", pagefile = "4GiB", policy = policy, seed = p.seed,
          tune = { refs_per_second = 1 << 40 },  -- no manager: replacement only
        })
        local proc = sys:process{ name = policy, ws_min = 1, ws_max = size,
                                  hard_max = true }
        local src = source()
        local st = proc:run(src, refs)
        src:close()
        rec:series("faults." .. policy, size, st.faults)
        rec:metric(("faults.%s.%d"):format(policy, size), st.faults)
        rec:metric(("miss_ratio.%s.%d"):format(policy, size), st.faults / math.max(1, st.refs))
        rec:metric("refs", st.refs)
      end
    end
  end,
}
