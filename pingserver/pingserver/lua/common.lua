-- common.lua: helpers prepended to every script of the store (see store.py, `_script`).
-- Every key a script touches belongs to one shard and carries the shard's hash tag, so each
-- script runs on one Redis Cluster slot. Times are UTC milliseconds.
-- Convention: KEYS[1] is the check hash when a script works on one check.

local MAX_DURATION = 72 * 3600 * 1000 -- a start and a finish further apart are unrelated
local MAX_RUNS = 100                   -- concurrent runs tracked per check
local FLIP_KEEP_MS = 93 * 86400 * 1000 -- flips kept for downtime statistics
local FLIP_KEEP_N = 1000

local function num(v)
  return tonumber(v or 0) or 0
end

-- A check hash is read once per script and written once (one HSET, one HDEL), because every
-- Redis call costs more than the Lua around it. load_check returns a check: `h`, the hash as
-- a table (a missing field is nil or false; values are strings or numbers) and `w`, the
-- writes not yet saved. A script changes fields with put/put_nz and ends with save_check.
local function load_check(ck)
  local all = redis.call('HGETALL', ck)
  local h = {}
  for i = 1, #all, 2 do
    h[all[i]] = all[i + 1]
  end
  return {h = h, w = {}}
end

-- load_check for the hot path: one HMGET of `fields`, the fields a script nearly always
-- needs, instead of the whole hash; any other field is read with HGET when first used, so
-- correctness never depends on the list. A field known to be missing is `false` in `h`
-- (not nil, which would read it again). `exists` is false for a check that is not there
-- (every check has a status).
local function load_fields(ck, fields)
  local values = redis.call('HMGET', ck, unpack(fields))
  local h = {}
  for i = 1, #fields do
    h[fields[i]] = values[i]
  end
  setmetatable(h, {__index = function(t, field)
    local value = redis.call('HGET', ck, field)
    rawset(t, field, value)
    return value
  end})
  return {h = h, w = {}}, h.status ~= false
end

-- Set a field, or delete it with `false` (a no-op when it is already missing). Values are
-- kept as given, strings or numbers (num reads both): Redis turns a number into its
-- argument once, in save_check, and Lua's tostring would cost as much again.
local function put(c, field, value)
  if value == false and not c.h[field] then return end
  c.h[field] = value
  c.w[field] = value
end

-- Set a numeric runtime field, deleting it when it is 0: a missing field reads as 0 (num
-- here, model.Check in Python), and every stored field costs memory in every check.
local function put_nz(c, field, value)
  put(c, field, value ~= 0 and value)
end

local function save_check(ck, c)
  local set, del = {}, {}
  for field, value in pairs(c.w) do
    if value == false then
      del[#del + 1] = field
    else
      set[#set + 1] = field
      set[#set + 1] = value
    end
  end
  if #del > 0 then redis.call('HDEL', ck, unpack(del)) end
  if #set > 0 then redis.call('HSET', ck, unpack(set)) end
  c.w = {}
end

-- Start times of the check's open runs (the values of its runs hash), read at most once.
-- The runs hash is empty exactly when last_start is 0, because every change to it ends with
-- refresh_last_start (or, when it is deleted, with last_start deleted): a check without open
-- runs costs no read.
local function open_runs(c, runs)
  if c.starts == nil then
    c.starts = num(c.h.last_start) > 0 and redis.call('HVALS', runs) or {}
  end
  return c.starts
end

-- The newest start among the runs still open, for display (`last_start`): after a change
-- to the runs hash.
local function refresh_last_start(c, runs)
  c.starts = redis.call('HVALS', runs)
  local newest = 0
  for _, s in ipairs(c.starts) do
    if num(s) > newest then newest = num(s) end
  end
  put_nz(c, 'last_start', newest)
end

-- Record a transition in the check's flip history and in the shard's event stream.
local function flip(c, flips, events, uuid, old, new, ts, reason, rid, downtime, now)
  local seq = num(c.h.flip_seq) + 1
  put(c, 'flip_seq', seq)
  redis.call('XADD', events, '*', 'check', uuid, 'project', c.h.project or '', 'old', old,
    'new', new, 'ts', ts, 'reason', reason, 'rid', rid or '', 'downtime', downtime or 0,
    'seq', seq)
  -- Compact member "seq|old|new|reason|rid|downtime" (the score is the time): at most 64
  -- bytes keeps the zset in Redis' listpack encoding, ~100 bytes per check instead of ~1 KB
  -- for a skiplist (a JSON member was longer than zset-max-listpack-value).
  redis.call('ZADD', flips, ts, table.concat({seq, old, new, reason, rid or '',
    math.floor(downtime or 0)}, '|'))
  redis.call('ZREMRANGEBYSCORE', flips, '-inf', now - FLIP_KEEP_MS)
  if seq > FLIP_KEEP_N then -- one member per seq: fewer flips ever cannot be too many
    redis.call('ZREMRANGEBYRANK', flips, 0, -(FLIP_KEEP_N + 1))
  end
  put(c, 'status', new)
  put(c, 'last_flip', ts)
  if new == 'down' then
    -- The first reminder comes one period after the down alert goes out (now), not after
    -- the deadline: a flip detected late must not be followed by a reminder at once.
    local every = num(c.h.repeat_every)
    put_nz(c, 'down_since', ts)
    put_nz(c, 'next_repeat', every > 0 and math.max(ts, now) + every * 1000 or 0)
  elseif old == 'down' then
    put(c, 'down_since', false)
    put(c, 'next_repeat', false)
  end
end

-- Grace start and down time follow the last ping: a period for simple checks, the first
-- precomputed tick after it for cron and OnCalendar checks.
local function reschedule(c)
  local h = c.h
  local last = num(h.last_ping)
  if last == 0 and h.expect_first_ping == '1' then
    -- Never pinged, but expected: the schedule runs from creation (or the last resume).
    last = num(h.expect_since) > 0 and num(h.expect_since) or num(h.created)
  end
  if last == 0 then
    put(c, 'grace_start', false)
    put(c, 'down_at', false)
    put(c, 'needs_eval', false)
    return
  end
  local start = 0
  local needs = false
  if h.kind == 'simple' then
    start = last + num(h.timeout) * 1000
  else
    for tick in string.gmatch(h.ticks or '', '%d+') do
      local t = tonumber(tick)
      if t > last then
        start = t
        break
      end
    end
    if start == 0 and h.ticks_final ~= '1' then
      needs = '1'
    end
  end
  local down = 0
  if start > 0 then
    down = start + num(h.grace) * 1000
  end
  put_nz(c, 'grace_start', start)
  put_nz(c, 'down_at', down)
  put(c, 'needs_eval', needs)
end

-- The next moment this check needs the sweeper, in the shard's deadline set; `due_at` in the
-- hash is the score written there. `lazy` (pings) may keep an earlier score instead, when it
-- is still ahead and more than halfway from now to the new one: the sweeper, woken early,
-- finds nothing to do and re-scores (its rescore is not lazy). A check pinged every few
-- seconds with a timeout of minutes is re-scored about twice per timeout, not on every ping;
-- one pinged once per period is re-scored on every ping, and never woken early. The set's
-- score is never later than the check's real next deadline, so nothing is detected late.
local function rescore(c, runs, due, uuid, now, lazy)
  local h = c.h
  local status = h.status
  local best = nil
  local function consider(t)
    if t > 0 and (best == nil or t < best) then best = t end
  end
  if h.needs_eval == '1' then
    consider(now)
  elseif status == 'up' or status == 'new' then
    consider(num(h.grace_start)) -- a new check has a grace start only with expect_first_ping
  elseif status == 'late' then
    consider(num(h.down_at))
  elseif status == 'down' and num(h.repeat_every) > 0 then
    consider(num(h.next_repeat))
  end
  if status ~= 'down' and h.needs_eval ~= '1' then
    local starts = open_runs(c, runs)
    if #starts > 0 then
      local budget = (num(h.max_runtime) > 0 and num(h.max_runtime) or num(h.grace)) * 1000
      for _, s in ipairs(starts) do
        consider(num(s) + budget)
      end
    end
  end
  local at = num(h.due_at)
  if best then
    if lazy and at > now and at <= best and (at - now) * 2 > best - now then
      return
    end
    redis.call('ZADD', due, best, uuid)
    put(c, 'due_at', best)
  else
    redis.call('ZREM', due, uuid)
    put(c, 'due_at', false)
  end
end

-- The version tells reticks.lua (and readers) that the check changed.
local function bump_version(c)
  put(c, 'version', num(c.h.version) + 1)
end

-- Keep the next repeat reminder of a down check in step with its repeat_every setting
-- (changed by configure.lua): the next multiple of the period after down_since that is
-- still ahead, or 0 when reminders are off.
local function sync_repeat(c, now)
  local h = c.h
  local every = num(h.repeat_every) * 1000
  if h.status ~= 'down' or every <= 0 then
    put(c, 'next_repeat', false)
    return
  end
  local since, nr = num(h.down_since), num(h.next_repeat)
  if nr > now and nr <= now + every then
    return
  end
  local k = math.max(1, math.floor((now - since) / every) + 1)
  put(c, 'next_repeat', since + k * every)
end
