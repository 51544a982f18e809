-- sweep.lua: claim the due checks of one shard and apply their transitions atomically.
-- KEYS: 1 due (sorted set of check id -> deadline), 2 events (stream of flips)
-- ARGV: 1 now, 2 batch size, 3 lease in ms, 4 key prefix of the shard ("hb:{7}:")
-- Transitions that follow from stored numbers (late, down, run over budget, repeat alerts)
-- happen here, exactly once, because the script is atomic. Checks that need Python (cron
-- ticks ran out) are leased: re-scored to now + lease and returned; the caller finishes
-- them with `reticks.lua`, and if it crashes the lease runs out and they come back.
-- Returns {number of flips, leased id, leased id, ...}.
local due, events = KEYS[1], KEYS[2]
local now, batch, lease, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local items = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, batch)
local out = {0}
local nflips = 0

for _, uuid in ipairs(items) do
  local ck, runs, flips = prefix .. 'c:' .. uuid, prefix .. 'r:' .. uuid, prefix .. 'f:' .. uuid
  local f = redis.call('HMGET', ck, 'status', 'grace_start', 'down_at', 'needs_eval',
    'next_repeat', 'repeat_every', 'grace', 'max_runtime')
  if f[1] == false then
    redis.call('ZREM', due, uuid)
  elseif f[4] == '1' then
    redis.call('ZADD', due, now + lease, uuid)
    out[#out + 1] = uuid
  else
    local status = f[1]
    -- A run over its budget turns the check down, whatever the schedule says.
    if status ~= 'down' then
      local budget = (num(f[8]) > 0 and num(f[8]) or num(f[7])) * 1000
      local all = redis.call('HGETALL', runs)
      local first_rid, first_deadline = nil, nil
      for i = 1, #all, 2 do
        local deadline = num(all[i + 1]) + budget
        if deadline <= now then
          redis.call('HDEL', runs, all[i])
          if first_deadline == nil or deadline < first_deadline then
            first_rid, first_deadline = all[i], deadline
          end
        end
      end
      if first_deadline then
        if first_rid == '_' then first_rid = '' end
        flip(ck, flips, events, uuid, status, 'down', first_deadline, 'runtime', first_rid, 0, now)
        nflips = nflips + 1
        status = 'down'
        refresh_last_start(ck, runs)
      end
    end
    local gs, da = num(f[2]), num(f[3])
    if status == 'up' and gs > 0 and gs <= now then
      if da > 0 and da <= now then
        flip(ck, flips, events, uuid, 'up', 'down', da, 'timeout', '', 0, now)
        status = 'down'
      else
        flip(ck, flips, events, uuid, 'up', 'late', gs, 'late', '', 0, now)
        status = 'late'
      end
      nflips = nflips + 1
    elseif status == 'late' and da > 0 and da <= now then
      flip(ck, flips, events, uuid, 'late', 'down', da, 'timeout', '', 0, now)
      status = 'down'
      nflips = nflips + 1
    elseif status == 'down' then
      local every, nr = num(f[6]) * 1000, num(f[5])
      if every > 0 and nr > 0 and nr <= now then
        redis.call('XADD', events, '*', 'check', uuid, 'project', redis.call('HGET', ck, 'project'),
          'old', 'down', 'new', 'down', 'ts', nr, 'reason', 'repeat', 'rid', '',
          'downtime', nr - hnum(ck, 'down_since'), 'seq', 0)
        local skipped = math.floor((now - nr) / every) + 1
        redis.call('HSET', ck, 'next_repeat', nr + skipped * every)
      end
    end
    redis.call('HINCRBY', ck, 'version', 1)
    rescore(ck, runs, due, uuid, now)
  end
end
out[1] = nflips
return out
