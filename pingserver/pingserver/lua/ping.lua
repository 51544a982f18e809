-- ping.lua: record one ping and apply its state change in one atomic step.
-- KEYS: 1 check, 2 pings, 3 bodies, 4 runs, 5 flips, 6 due, 7 events
-- ARGV: 1 uuid, 2 now, 3 action (success|start|fail|log), 4 exit status or '', 5 rid,
--       6 method, 7 scheme, 8 remote address, 9 user agent, 10 body, 11 ping log limit
-- Returns {0} when the check does not exist, else {1, kind, n}.
local ck, pings, bodies, runs, flips, due, events =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
if redis.call('EXISTS', ck) == 0 then
  return {0}
end
local uuid, now, action, exitstatus, rid = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local method, body, limit = ARGV[6], ARGV[10], tonumber(ARGV[11])
local c = redis.call('HMGET', ck, 'status', 'methods', 'filter_http_body', 'filter_default_fail',
  'start_kw', 'success_kw', 'failure_kw', 'manual_resume', 'fail_threshold', 'fail_streak')
local status = c[1]

local function matches(keywords)
  for kw in string.gmatch(keywords or '', '[^,]+') do
    kw = string.match(kw, '^%s*(.-)%s*$')
    if kw ~= '' and string.find(body, kw, 1, true) then return true end
  end
  return false
end

-- Classification, in healthchecks' order.
if exitstatus ~= '' and tonumber(exitstatus) > 0 then
  action = 'fail'
end
if action ~= 'log' then
  if c[2] == 'POST' and method ~= 'POST' then
    action = 'ign'
  elseif c[3] == '1' and action == 'success' and exitstatus == '' then
    if matches(c[7]) then action = 'fail'
    elseif matches(c[6]) then action = 'success'
    elseif matches(c[5]) then action = 'start'
    elseif c[4] == '1' then action = 'fail'
    else action = 'ign' end
  end
  if status == 'paused' and c[8] == '1' then
    action = 'ign'
  end
end

-- Runs: every rid has its own start, so overlapping runs are timed separately.
local duration = nil
local runfield = rid ~= '' and rid or '_'
if action == 'start' then
  if redis.call('HLEN', runs) >= MAX_RUNS and redis.call('HEXISTS', runs, runfield) == 0 then
    local oldest_rid, oldest = nil, nil
    local all = redis.call('HGETALL', runs)
    for i = 1, #all, 2 do
      if oldest == nil or num(all[i + 1]) < oldest then oldest_rid, oldest = all[i], num(all[i + 1]) end
    end
    redis.call('HDEL', runs, oldest_rid)
  end
  redis.call('HSET', runs, runfield, now)
elseif action == 'success' or action == 'fail' then
  local started = redis.call('HGET', runs, runfield)
  if started and now - num(started) <= MAX_DURATION then
    duration = now - num(started)
    redis.call('HSET', ck, 'last_duration', duration)
  end
  if rid == '' then
    redis.call('DEL', runs) -- no run id: this signal ends whatever was running (healthchecks)
  else
    redis.call('HDEL', runs, runfield)
  end
end
if action == 'start' or action == 'success' or action == 'fail' then
  refresh_last_start(ck, runs)
end

-- The ping log, capped; bodies live beside it so that listing pings stays cheap.
local n = redis.call('HINCRBY', ck, 'n_pings', 1)
redis.call('LPUSH', pings, cjson.encode({
  n = n, ts = now, kind = action, scheme = ARGV[7], remote_addr = ARGV[8], method = method,
  ua = ARGV[9], rid = rid, exitstatus = exitstatus ~= '' and tonumber(exitstatus) or cjson.null,
  duration = duration or cjson.null, size = #body}))
redis.call('LTRIM', pings, 0, limit - 1)
if #body > 0 then
  redis.call('HSET', bodies, n, body)
  redis.call('HSET', ck, 'last_body_n', n)
end
if n > limit then
  redis.call('HDEL', bodies, n - limit)
end
if exitstatus ~= '' then
  redis.call('HSET', ck, 'last_exitstatus', exitstatus)
end

-- State.
if action == 'success' or action == 'fail' then
  redis.call('HSET', ck, 'last_ping', now)
  reschedule(ck)
end
if action == 'success' then
  redis.call('HDEL', ck, 'fail_streak')
  if status ~= 'up' then
    local downtime = 0
    if status == 'down' then downtime = now - hnum(ck, 'down_since') end
    flip(ck, flips, events, uuid, status, 'up', now, 'success', rid, downtime, now)
  end
elseif action == 'fail' then
  local streak = redis.call('HINCRBY', ck, 'fail_streak', 1)
  if status ~= 'down' then
    if streak >= math.max(num(c[9]), 1) then
      flip(ck, flips, events, uuid, status, 'down', now, 'fail', rid, 0, now)
    elseif status ~= 'up' then
      -- Below the failure threshold the run still counts as a sign of life.
      flip(ck, flips, events, uuid, status, 'up', now, 'fail_tolerated', rid, 0, now)
    end
  end
end
redis.call('HINCRBY', ck, 'version', 1)
rescore(ck, runs, due, uuid, now)
return {1, action, n}
