-- ping.lua: record one ping and apply its state change in one atomic step.
-- KEYS: 1 check, 2 pings, 3 bodies, 4 runs, 5 flips, 6 due, 7 events
-- ARGV: 1 uuid, 2 now, 3 action (success|start|fail|log), 4 exit status or '', 5 rid,
--       6 method, 7 scheme, 8 remote address, 9 user agent, 10 body, 11 ping log limit
-- Returns {0} when the check does not exist, else {1, kind, n}.
-- The hot path: the check hash is read once and written once (load_check, save_check), and
-- calls that would change nothing are skipped: a plain ping makes four Redis calls (HGETALL,
-- LPUSH, HSET, ZADD), five once its log is full (LTRIM).
local ck, pings, bodies, runs, flips, due, events =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local c = load_check(ck)
local h = c.h
if next(h) == nil then
  return {0}
end
local uuid, now, action, exitstatus, rid = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local method, body, limit = ARGV[6], ARGV[10], tonumber(ARGV[11])
local status = h.status

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
  if h.methods == 'POST' and method ~= 'POST' then
    action = 'ign'
  elseif h.filter_http_body == '1' and action == 'success' and exitstatus == '' then
    if matches(h.failure_kw) then action = 'fail'
    elseif matches(h.success_kw) then action = 'success'
    elseif matches(h.start_kw) then action = 'start'
    elseif h.filter_default_fail == '1' then action = 'fail'
    else action = 'ign' end
  end
  if status == 'paused' and h.manual_resume == '1' then
    action = 'ign'
  end
end

-- Runs: every rid has its own start, so overlapping runs are timed separately. Without open
-- runs (last_start 0, see open_runs) a success or failure has none to end.
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
  refresh_last_start(c, runs)
elseif (action == 'success' or action == 'fail') and num(h.last_start) > 0 then
  local started = redis.call('HGET', runs, runfield)
  if started and now - num(started) <= MAX_DURATION then
    duration = now - num(started)
    put(c, 'last_duration', duration)
  end
  if rid == '' then
    redis.call('DEL', runs) -- no run id: this signal ends whatever was running (healthchecks)
    c.starts = {}
    put(c, 'last_start', false)
  elseif started then
    redis.call('HDEL', runs, runfield)
    refresh_last_start(c, runs)
  end
end

-- The ping log, capped; bodies live beside it so that listing pings stays cheap.
local n = num(h.n_pings) + 1
put(c, 'n_pings', n)
-- Ping n - limit leaves the log; it can have a body only if it is not older than the
-- newest ping with a body (last_body_n).
if n > limit and n - limit <= num(h.last_body_n) then
  redis.call('HDEL', bodies, n - limit)
end
-- One compact line per ping, not JSON: a third of the bytes in memory and in the AOF, and no
-- encoder. Fields in model.PING_FIELDS order; the user agent, which may hold '|', is last
-- (store.ping keeps '|' out of the other fields).
local logged = redis.call('LPUSH', pings, table.concat({n, now, action, ARGV[7], method,
  ARGV[8], rid, exitstatus, duration or '', #body, ARGV[9]}, '|'))
if logged > limit then
  redis.call('LTRIM', pings, 0, limit - 1)
end
if #body > 0 then
  redis.call('HSET', bodies, n, body)
  put(c, 'last_body_n', n)
end
if exitstatus ~= '' then
  put(c, 'last_exitstatus', exitstatus)
end

-- State.
if action == 'success' or action == 'fail' then
  put(c, 'last_ping', now)
  reschedule(c)
end
if action == 'success' then
  put(c, 'fail_streak', false)
  if status ~= 'up' then
    local downtime = 0
    if status == 'down' then downtime = now - num(h.down_since) end
    flip(c, flips, events, uuid, status, 'up', now, 'success', rid, downtime, now)
  end
elseif action == 'fail' then
  local streak = num(h.fail_streak) + 1
  put(c, 'fail_streak', streak)
  if status ~= 'down' then
    if streak >= math.max(num(h.fail_threshold), 1) then
      flip(c, flips, events, uuid, status, 'down', now, 'fail', rid, 0, now)
    elseif status ~= 'up' then
      -- Below the failure threshold the run still counts as a sign of life.
      flip(c, flips, events, uuid, status, 'up', now, 'fail_tolerated', rid, 0, now)
    end
  end
end
bump_version(c)
rescore(c, runs, due, uuid, now)
save_check(ck, c)
return {1, action, n}
