-- configure.lua: create or update a check's configuration, then recompute its deadlines.
-- KEYS: 1 check, 2 runs, 3 due, 4 flips, 5 events
-- ARGV: 1 uuid, 2 now, 3 mode ('create' | 'update' | 'upsert'), 4.. field, value pairs;
--       '' deletes the field (model.stored: it then reads as its default)
-- Returns {1 if created else 0}, or {-1} for 'update' of a missing check.
local ck, runs, due, flips, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uuid, now, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local exists = redis.call('EXISTS', ck) == 1
if mode == 'update' and not exists then
  return {-1}
end
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', ck, ARGV[i])
  else
    redis.call('HSET', ck, ARGV[i], ARGV[i + 1])
  end
end
if not exists then
  redis.call('HSET', ck, 'status', 'new', 'created', now) -- n_pings, version: 0 when missing
end
reschedule(ck)
sync_repeat(ck, now)
redis.call('HINCRBY', ck, 'version', 1)
rescore(ck, runs, due, uuid, now)
return {exists and 0 or 1}
