-- common.lua: helpers prepended to every script of the store (see store.py, `_script`).
-- Every key a script touches belongs to one shard and carries the shard's hash tag, so each
-- script runs on one Redis Cluster slot. Times are UTC milliseconds.
-- Convention: KEYS[1] is the check hash when a script works on one check.

local MAX_DURATION = 72 * 3600 * 1000 -- a start and a finish further apart are unrelated
local MAX_RUNS = 100                   -- concurrent runs tracked per check
local FLIP_KEEP_MS = 93 * 86400 * 1000 -- flips kept for downtime statistics
local FLIP_KEEP_N = 1000

local function num(v)
  return tonumber(v) or 0
end

local function hnum(key, field)
  return num(redis.call('HGET', key, field))
end

-- Set numeric runtime fields of a check hash (field, value, ...), deleting those that are 0:
-- a missing field reads as 0 (num here, model.Check in Python), and every stored field
-- costs memory in every check.
local function hset_nz(ck, ...)
  local fv = {...}
  for i = 1, #fv, 2 do
    if fv[i + 1] == 0 then
      redis.call('HDEL', ck, fv[i])
    else
      redis.call('HSET', ck, fv[i], fv[i + 1])
    end
  end
end

-- Record a transition in the check's flip history and in the shard's event stream.
local function flip(ck, flips, events, uuid, old, new, ts, reason, rid, downtime, now)
  local seq = redis.call('HINCRBY', ck, 'flip_seq', 1)
  local project = redis.call('HGET', ck, 'project') or ''
  redis.call('XADD', events, '*', 'check', uuid, 'project', project, 'old', old, 'new', new,
    'ts', ts, 'reason', reason, 'rid', rid or '', 'downtime', downtime or 0, 'seq', seq)
  -- Compact member "seq|old|new|reason|rid|downtime" (the score is the time): at most 64
  -- bytes keeps the zset in Redis' listpack encoding, ~100 bytes per check instead of ~1 KB
  -- for a skiplist (a JSON member was longer than zset-max-listpack-value).
  redis.call('ZADD', flips, ts, table.concat({seq, old, new, reason, rid or '',
    math.floor(downtime or 0)}, '|'))
  redis.call('ZREMRANGEBYSCORE', flips, '-inf', now - FLIP_KEEP_MS)
  redis.call('ZREMRANGEBYRANK', flips, 0, -(FLIP_KEEP_N + 1))
  redis.call('HSET', ck, 'status', new, 'last_flip', ts)
  if new == 'down' then
    -- The first reminder comes one period after the down alert goes out (now), not after
    -- the deadline: a flip detected late must not be followed by a reminder at once.
    local every = hnum(ck, 'repeat_every')
    hset_nz(ck, 'down_since', ts,
      'next_repeat', every > 0 and math.max(ts, now) + every * 1000 or 0)
  elseif old == 'down' then
    redis.call('HDEL', ck, 'down_since', 'next_repeat')
  end
end

-- Grace start and down time follow the last ping: a period for simple checks, the first
-- precomputed tick after it for cron and OnCalendar checks.
local function reschedule(ck)
  local f = redis.call('HMGET', ck, 'kind', 'timeout', 'grace', 'last_ping', 'ticks', 'ticks_final',
    'expect_first_ping', 'expect_since', 'created')
  local last = num(f[4])
  if last == 0 and f[7] == '1' then
    -- Never pinged, but expected: the schedule runs from creation (or the last resume).
    last = num(f[8]) > 0 and num(f[8]) or num(f[9])
  end
  if last == 0 then
    redis.call('HDEL', ck, 'grace_start', 'down_at', 'needs_eval')
    return
  end
  local start = 0
  local needs = 0
  if f[1] == 'simple' then
    start = last + num(f[2]) * 1000
  else
    for tick in string.gmatch(f[5] or '', '%d+') do
      local t = tonumber(tick)
      if t > last then
        start = t
        break
      end
    end
    if start == 0 and f[6] ~= '1' then
      needs = 1
    end
  end
  local down = 0
  if start > 0 then
    down = start + num(f[3]) * 1000
  end
  hset_nz(ck, 'grace_start', start, 'down_at', down, 'needs_eval', needs)
end

-- The next moment this check needs the sweeper, in the shard's deadline set.
local function rescore(ck, runs, due, uuid, now)
  local f = redis.call('HMGET', ck, 'status', 'grace_start', 'down_at', 'needs_eval',
    'next_repeat', 'grace', 'max_runtime', 'repeat_every')
  local status = f[1]
  local best = nil
  local function consider(t)
    if t > 0 and (best == nil or t < best) then best = t end
  end
  if f[4] == '1' then
    consider(now)
  elseif status == 'up' or status == 'new' then
    consider(num(f[2])) -- a new check has a grace start only with expect_first_ping
  elseif status == 'late' then
    consider(num(f[3]))
  elseif status == 'down' and num(f[8]) > 0 then
    consider(num(f[5]))
  end
  if status ~= 'down' and f[4] ~= '1' then
    local budget = (num(f[7]) > 0 and num(f[7]) or num(f[6])) * 1000
    for _, s in ipairs(redis.call('HVALS', runs)) do
      consider(num(s) + budget)
    end
  end
  if best then
    redis.call('ZADD', due, best, uuid)
  else
    redis.call('ZREM', due, uuid)
  end
end

-- The newest start among the runs still open, for display (`last_start`).
local function refresh_last_start(ck, runs)
  local newest = 0
  for _, s in ipairs(redis.call('HVALS', runs)) do
    if num(s) > newest then newest = num(s) end
  end
  hset_nz(ck, 'last_start', newest)
end

-- Keep the next repeat reminder of a down check in step with its repeat_every setting
-- (changed by configure.lua): the next multiple of the period after down_since that is
-- still ahead, or 0 when reminders are off.
local function sync_repeat(ck, now)
  local f = redis.call('HMGET', ck, 'status', 'repeat_every', 'down_since', 'next_repeat')
  local every = num(f[2]) * 1000
  if f[1] ~= 'down' or every <= 0 then
    if num(f[4]) ~= 0 then redis.call('HDEL', ck, 'next_repeat') end
    return
  end
  local since, nr = num(f[3]), num(f[4])
  if nr > now and nr <= now + every then
    return
  end
  local k = math.max(1, math.floor((now - since) / every) + 1)
  redis.call('HSET', ck, 'next_repeat', since + k * every)
end
