-- ldr_apiset.lua OUT: writes the API set namespace (version 6, the layout
-- of Windows 10's apisetschema.dll) for the loader tests' schema DLL.
--
--   namespace  Version, Size, Flags, Count, EntryOffset, HashOffset,
--              HashFactor                                 (7 x uint32)
--   entry      Flags, NameOffset, NameLength, HashedLength, ValueOffset,
--              ValueCount                                 (6 x uint32)
--   hash       Hash, Index                                (2 x uint32)
--   value      Flags, NameOffset, NameLength, ValueOffset, ValueLength
--                                                         (5 x uint32)
-- Names are UTF-16LE without ".dll", offsets relative to the namespace,
-- lengths in bytes; HashedLength covers the name up to its last '-'.
-- A value's Name is the importer it applies to ("" for the default).

local sets = {   -- sorted by name, as Windows keeps them
  { name = "api-ms-win-pagelab-empty-l1-1-0", values = {} },
  { name = "api-ms-win-pagelab-test-l1-1-0", values = { { "", "leaf.dll" } } },
  { name = "ext-ms-pagelab-choice-l1-1-0",
    values = { { "", "leaf.dll" }, { "apiuser.exe", "mid.dll" } } },
}

local HASH_FACTOR = 31
local HEADER, ENTRY, HASH, VALUE = 28, 24, 8, 20

local function utf16(s)
  return (s:gsub(".", function(c) return c .. "\0" end))
end

local function hashed(name) return name:match("^(.*)%-") end

local nvalues = 0
for _, s in ipairs(sets) do nvalues = nvalues + #s.values end
local entry_off = HEADER
local hash_off = entry_off + ENTRY * #sets
local value_off = hash_off + HASH * #sets
local strings_off = value_off + VALUE * nvalues

local strings, where = {}, {}
local function str(s)            -- offset of s (UTF-16) in the namespace
  if s == "" then return 0, 0 end
  if not where[s] then
    where[s] = strings_off + #table.concat(strings)
    strings[#strings + 1] = utf16(s)
  end
  return where[s], 2 * #s
end

local entries, values, hashes = {}, {}, {}
local vk = 0
for i, s in ipairs(sets) do
  local off, len = str(s.name)
  entries[i] = string.pack("<I4I4I4I4I4I4", 1, off, len, 2 * #hashed(s.name),
                           value_off + VALUE * vk, #s.values)
  for _, v in ipairs(s.values) do
    local no, nl = str(v[1])
    local ho, hl = str(v[2])
    values[#values + 1] = string.pack("<I4I4I4I4I4", 0, no, nl, ho, hl)
    vk = vk + 1
  end
  local h = 0
  for c in hashed(s.name):gmatch(".") do h = (h * HASH_FACTOR + c:byte()) & 0xFFFFFFFF end
  hashes[i] = { h, i - 1 }
end
table.sort(hashes, function(a, b) return a[1] < b[1] end)
local hash_bytes = {}
for i, h in ipairs(hashes) do hash_bytes[i] = string.pack("<I4I4", h[1], h[2]) end

local body = table.concat(entries) .. table.concat(hash_bytes) ..
             table.concat(values) .. table.concat(strings)
local size = HEADER + #body
local header = string.pack("<I4I4I4I4I4I4I4", 6, size, 0, #sets, entry_off,
                           hash_off, HASH_FACTOR)
local out = assert(io.open(assert(arg[1], "usage: lua ldr_apiset.lua OUT"), "wb"))
out:write(header, body)
out:close()
