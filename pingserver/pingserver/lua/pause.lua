-- pause.lua: pause or resume a check (healthchecks semantics).
-- KEYS: 1 check, 2 runs, 3 due, 4 flips, 5 events
-- ARGV: 1 uuid, 2 now, 3 'pause' | 'resume'
-- Returns 1 on success, 0 when resuming a check that is not paused, -1 when missing.
local ck, runs, due, flips, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uuid, now, op = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local status = redis.call('HGET', ck, 'status')
if status == false then
  return -1
end
if op == 'resume' and status ~= 'paused' then
  return 0
end
local new = op == 'pause' and 'paused' or 'new'
redis.call('DEL', runs)
redis.call('HDEL', ck, 'last_start', 'fail_streak')
if op == 'resume' then
  -- expect_first_ping counts from here, so the catch-up run after a resume is on time.
  redis.call('HDEL', ck, 'last_ping')
  redis.call('HSET', ck, 'expect_since', now)
end
if status ~= new then
  flip(ck, flips, events, uuid, status, new, now, op, '', 0, now)
end
reschedule(ck)
redis.call('HINCRBY', ck, 'version', 1)
rescore(ck, runs, due, uuid, now)
return 1
