-- configure.lua: create or update a check's configuration, then recompute its deadlines.
-- KEYS: 1 check, 2 runs, 3 due, 4 flips, 5 events
-- ARGV: 1 uuid, 2 now, 3 mode ('create' | 'update' | 'upsert'), 4.. field, value pairs;
--       '' deletes the field (model.stored: it then reads as its default)
-- Returns {1 if created else 0}, or {-1} for 'update' of a missing check.
local ck, runs, due, flips, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uuid, now, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local c = load_check(ck)
local exists = next(c.h) ~= nil
if mode == 'update' and not exists then
  return {-1}
end
for i = 4, #ARGV, 2 do
  put(c, ARGV[i], ARGV[i + 1] ~= '' and ARGV[i + 1])
end
if not exists then
  put(c, 'status', 'new') -- n_pings, version: 0 when missing
  put(c, 'created', now)
end
reschedule(c)
-- A late check whose raised timeout or grace puts the grace start back in the future is up
-- again, as healthchecks derives the state from the last ping. Recorded as a flip (reason
-- 'config') so the feed and the operator see it; it alerts only with alert_on_late, like
-- any recovery from late.
if c.h.status == 'late' and c.h.needs_eval ~= '1' and num(c.h.grace_start) > now then
  flip(c, flips, events, uuid, 'late', 'up', now, 'config', '', 0, now)
end
sync_repeat(c, now)
bump_version(c)
rescore(c, runs, due, uuid, now)
save_check(ck, c)
return {exists and 0 or 1}
