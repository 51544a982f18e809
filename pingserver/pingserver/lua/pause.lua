-- pause.lua: pause or resume a check (healthchecks semantics).
-- KEYS: 1 check, 2 runs, 3 due, 4 flips, 5 events
-- ARGV: 1 uuid, 2 now, 3 'pause' | 'resume'
-- Returns 1 on success, 0 when resuming a check that is not paused, -1 when missing.
local ck, runs, due, flips, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uuid, now, op = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local c = load_check(ck)
local status = c.h.status
if status == nil then
  return -1
end
if op == 'resume' and status ~= 'paused' then
  return 0
end
local new = op == 'pause' and 'paused' or 'new'
redis.call('DEL', runs)
c.starts = {}
put(c, 'last_start', false)
put(c, 'fail_streak', false)
if op == 'resume' then
  -- expect_first_ping counts from here, so the catch-up run after a resume is on time.
  put(c, 'last_ping', false)
  put(c, 'expect_since', now)
end
if status ~= new then
  flip(c, flips, events, uuid, status, new, now, op, '', 0, now)
end
reschedule(c)
bump_version(c)
rescore(c, runs, due, uuid, now)
save_check(ck, c)
return 1
