-- ping.lua: record pings and apply their state changes, each ping in one atomic step.
-- One call carries every ping a server worker received in one event-loop turn (store.py,
-- PingBatch): the per-call cost of a script (its lookup, its KEYS and ARGV, the
-- MULTI/EXEC it is propagated in) is paid once per batch, not once per ping.
-- KEYS: 1 per ping, its check hash; the check's other keys (keys.py) are made from it here,
--       each when needed: they share its hash tag, so they are on its Redis Cluster slot
-- ARGV: 1 ping log limit, then 8 per ping: uuid, now, action (success|start|fail|log),
--       exit status or '', rid, 'scheme|method|remote address' (as in the log line), user
--       agent, body
-- Returns one reply per ping, in order: {0} when the check does not exist, {1, kind, n}, or
-- {-1, error} when that ping failed (the others still count).
-- The hot path: the check hash is read once (HMGET of HOT, other fields only when used) and
-- written once (save_check), and calls that would change nothing are skipped: a plain ping
-- makes three Redis calls (HMGET, LPUSH, HSET), four when it moves the check's deadline in the
-- shard's due set (ZADD, see rescore), one more once its log is full (LTRIM).
-- Lua turns a number into a string with sprintf (0.3-0.6 us, more than an HGET), so strings
-- from ARGV are used as they are wherever no arithmetic needs them.
local ARGS_PER_PING = 8
local limit = tonumber(ARGV[1])
-- What a plain ping of a healthy check reads (each HMGET field costs); the paths of failures,
-- flips, cron schedules and open runs read theirs when they get there.
local HOT = {'status', 'kind', 'timeout', 'grace', 'n_pings', 'version', 'last_start',
  'fail_streak', 'needs_eval', 'methods', 'filter_http_body', 'last_body_n', 'due_at'}

-- Whether the body holds one of the comma-separated keywords.
local function matches(body, keywords)
  for kw in string.gmatch(keywords or '', '[^,]+') do
    kw = string.match(kw, '^%s*(.-)%s*$')
    if kw ~= '' and string.find(body, kw, 1, true) then return true end
  end
  return false
end

local function ping(ck, a)
  local c, exists = load_fields(ck, HOT)
  if not exists then
    return {0}
  end
  local h = c.h
  local uuid, nowstr, action, exitstatus, rid, via, ua, body = ARGV[a + 1], ARGV[a + 2],
    ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8]
  local prefix = string.sub(ck, 1, -(#uuid + 3)) -- 'hb:{N}:' of 'hb:{N}:c:<uuid>'
  local pings, runs, due = prefix .. 'p:' .. uuid, prefix .. 'r:' .. uuid, prefix .. 'due'
  local now = tonumber(nowstr)
  local status = h.status

  -- Classification, in healthchecks' order.
  if exitstatus ~= '' and tonumber(exitstatus) > 0 then
    action = 'fail'
  end
  if action ~= 'log' then
    if h.methods == 'POST' and string.match(via, '^[^|]*|([^|]*)') ~= 'POST' then
      action = 'ign'
    elseif h.filter_http_body == '1' and action == 'success' and exitstatus == '' then
      if matches(body, h.failure_kw) then action = 'fail'
      elseif matches(body, h.success_kw) then action = 'success'
      elseif matches(body, h.start_kw) then action = 'start'
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
        if oldest == nil or num(all[i + 1]) < oldest then
          oldest_rid, oldest = all[i], num(all[i + 1])
        end
      end
      redis.call('HDEL', runs, oldest_rid)
    end
    redis.call('HSET', runs, runfield, nowstr)
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
    redis.call('HDEL', prefix .. 'b:' .. uuid, n - limit)
  end
  -- One compact line per ping, not JSON: a third of the bytes in memory and in the AOF, and no
  -- encoder. Fields in model.PING_FIELDS order; the user agent, which may hold '|', is last
  -- (store.ping_args keeps '|' out of the other fields).
  local logged = redis.call('LPUSH', pings, n .. '|' .. nowstr .. '|' .. action .. '|' ..
    via .. '|' .. rid .. '|' .. exitstatus .. '|' .. (duration or '') .. '|' .. #body .. '|' ..
    ua)
  if logged > limit then
    redis.call('LTRIM', pings, 0, limit - 1)
  end
  if body ~= '' then
    redis.call('HSET', prefix .. 'b:' .. uuid, n, body)
    put(c, 'last_body_n', n)
  end
  if exitstatus ~= '' then
    put(c, 'last_exitstatus', exitstatus)
  end

  -- State.
  if action == 'success' or action == 'fail' then
    put(c, 'last_ping', nowstr)
    reschedule(c)
  end
  local to, reason, downtime = nil, nil, 0
  if action == 'success' then
    put(c, 'fail_streak', false)
    if status ~= 'up' then
      to, reason = 'up', 'success'
      if status == 'down' then downtime = now - num(h.down_since) end
    end
  elseif action == 'fail' then
    local streak = num(h.fail_streak) + 1
    put(c, 'fail_streak', streak)
    if status ~= 'down' then
      if streak >= math.max(num(h.fail_threshold), 1) then
        to, reason = 'down', 'fail'
      elseif status ~= 'up' then
        -- Below the failure threshold the run still counts as a sign of life.
        to, reason = 'up', 'fail_tolerated'
      end
    end
  end
  if to then
    flip(c, prefix .. 'f:' .. uuid, prefix .. 'events', uuid, status, to, now, reason, rid,
      downtime, now)
  end
  bump_version(c)
  rescore(c, runs, due, uuid, now, true)
  save_check(ck, c)
  return {1, action, n}
end

local replies = {}
for i = 1, #KEYS do
  -- A ping that fails (a bug, or Redis refusing a write) fails alone: its caller gets an
  -- error, the pings before and after it are recorded and acknowledged.
  local ok, reply = pcall(ping, KEYS[i], 1 + (i - 1) * ARGS_PER_PING)
  if not ok then
    reply = {-1, type(reply) == 'table' and (reply.err or 'error') or tostring(reply)}
  end
  replies[#replies + 1] = reply
end
return replies
