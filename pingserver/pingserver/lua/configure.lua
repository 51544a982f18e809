-- configure.lua: create or update a check's configuration, then recompute its deadlines.
-- KEYS: 1 check, 2 runs, 3 due, 4 flips, 5 events
-- ARGV: 1 uuid, 2 now, 3 mode ('create' | 'update' | 'upsert'), 4.. field, value pairs
-- Returns {1 if created else 0}, or {-1} for 'update' of a missing check.
local ck, runs, due, flips, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uuid, now, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local exists = redis.call('EXISTS', ck) == 1
if mode == 'update' and not exists then
  return {-1}
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', ck, ARGV[i], ARGV[i + 1])
end
if not exists then
  redis.call('HSET', ck, 'status', 'new', 'created', now, 'n_pings', 0, 'version', 0)
end
reschedule(ck)
sync_repeat(ck, now)
redis.call('HINCRBY', ck, 'version', 1)
rescore(ck, runs, due, uuid, now)
return {exists and 0 or 1}
