-- slug.lua: move a check between slugs in its project's slug index, a hash of
-- slug -> uuids of the checks with that slug, sorted and comma-separated (slugs are not
-- unique). One hash field per slug instead of one key per slug saves ~100 bytes a check;
-- the script makes the read-modify-write of a field atomic.
-- KEYS: 1 slug index
-- ARGV: 1 uuid, 2 slug it leaves ('' for none), 3 slug it joins ('' for none)
-- Idempotent: leaving a slug it is not under, or joining one it is under, changes nothing.
local index, uuid, leave, join = KEYS[1], ARGV[1], ARGV[2], ARGV[3]

local function update(slug, add)
  local uuids = {}
  for u in string.gmatch(redis.call('HGET', index, slug) or '', '[^,]+') do
    if u ~= uuid then uuids[#uuids + 1] = u end
  end
  if add then uuids[#uuids + 1] = uuid end
  if #uuids == 0 then
    redis.call('HDEL', index, slug)
  else
    table.sort(uuids)
    redis.call('HSET', index, slug, table.concat(uuids, ','))
  end
end

if leave ~= '' and leave ~= join then update(leave, false) end
if join ~= '' then update(join, true) end
return 1
