-- page_size.lua — faults and working-set size vs the small page size.
--
-- The same zipf workload over the same bytes (hot items of `item` bytes,
-- scattered over the region) runs on machines that differ only in their
-- small page size. Bigger pages bring more bytes per fault (fewer faults
-- while memory lasts) but mix hot and cold items, so the working set needs
-- more bytes; a TLB shows the reach that bigger pages buy.
-- Working-set limits are given in bytes and converted to pages.
--
-- With `trace` the references come from a trace file instead (any format
-- pagelab reads; the SPEC2000 traces carry access sizes). Either way the
-- run reports the bytes the references really touched (64-byte lines)
-- against the bytes held resident, the seed notes' trade-off: large pages
-- waste memory, small ones cost faults and TLB misses. `large_pages`
-- backs the region with large pages instead (always resident, not in the
-- working set, one TLB entry per large page).

local pagelab = require "pagelab"

local function must(value, status, why)
  if value == nil then error(why or status or "failed", 2) end
  return value
end

local bytes = pagelab.size   -- "4KiB" -> 4096

return {
  name = "page_size",
  description = "Faults and working-set pages vs the small page size",
  params = {
    page_size = { "4KiB", "small page size",
                  choices = { "512", "1KiB", "2KiB", "4KiB", "8KiB", "16KiB", "32KiB", "64KiB" } },
    item = { "512", "bytes per workload item (the unit of popularity)" },
    alpha = { 0.8, "zipf exponent of the item popularity" },
    writes = { 0.2, "fraction of references that write" },
    size = { "16MiB", "size of the region the workload touches" },
    refs = { 400000, "references to simulate" },
    ram = { "8MiB", "physical memory" },
    ws_max = { "2MiB", "working-set maximum in bytes" },
    hard_max = { true, "make ws_max a hard limit" },
    tlb_entries = { 64, "TLB entries (0: no TLB)" },
    large_tlb_entries = { 32, "large-page TLB entries" },
    large_pages = { false, "back the region with large pages (ram must hold it)" },
    trace = { "", "replay this trace file instead of the zipf workload" },
  },
  run = function(p, rec)
    local page = bytes(p.page_size)
    local ws_pages = math.max(1, bytes(p.ws_max) // page)
    local sys <close> = must(pagelab.system{
      ram = p.ram, page_size = page, seed = p.seed,
      tlb = p.tlb_entries > 0 and { entries = p.tlb_entries, ways = 4,
                                    large_entries = p.large_tlb_entries,
                                    large_ways = 4 } or nil,
    })
    local proc = must(sys:process{ name = "app", ws_max = ws_pages,
                                   ws_min = math.min(ws_pages, math.max(1, 200 * 1024 // page)),
                                   hard_max = p.hard_max })
    local source, base
    if p.trace ~= "" then
      source = must(pagelab.trace.open(p.trace))
    else
      base = must(proc:alloc(nil, p.size, p.large_pages and
                             "reserve|commit|large_pages" or "reserve|commit",
                             "readwrite"))
      source = pagelab.workload.zipf{
        base = base, size = p.size, page_size = bytes(p.item), alpha = p.alpha,
        writes = p.writes, seed = p.seed,
      }
    end
    -- what the references touch, measured on the same stream first
    local info = must(pagelab.trace.info(source, { limit = p.refs }))
    rec:sample(sys, math.max(1, p.refs // 50))
    local st = must(proc:run(source, p.refs))
    local ps, ss = proc:stats(), sys:stats()
    local resident = p.large_pages and bytes(p.size) or ps.ws_peak * page
    rec:metric("touched_bytes", info.lines_64 * 64)
    rec:metric("touched_pages", info.distinct_pages[tostring(page)] or 0)
    rec:metric("resident_bytes", resident)
    rec:metric("resident_per_touched", resident / math.max(1, info.lines_64 * 64))
    rec:metric("large_pages", ps.large_pages)
    rec:metric("page_bytes", page)
    rec:metric("ws_max_pages", ws_pages)
    rec:metric("faults", st.faults)
    rec:metric("hard_faults", st.hard_faults)
    rec:metric("soft_faults", st.soft_faults)
    rec:metric("demand_zero", st.demand_zero)
    rec:metric("hit_ratio", st.hits / math.max(1, st.refs))
    rec:metric("ws_peak_pages", ps.ws_peak)
    rec:metric("ws_peak_bytes", ps.ws_peak * page)
    rec:metric("page_table_pages", ps.page_table_pages)
    rec:metric("tlb_misses", ps.tlb_misses)
    rec:metric("pagefile_reads", ss.pagefile_reads)
    rec:metric("pagefile_writes", ss.pagefile_writes)
    rec:metric("bytes_read_from_pagefile", ss.pagefile_reads * page)
  end,
}
