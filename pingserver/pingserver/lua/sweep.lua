-- sweep.lua: claim the due checks of one shard and apply their transitions atomically.
-- KEYS: 1 due (sorted set of check id -> deadline), 2 events (stream of flips)
-- ARGV: 1 now, 2 batch size, 3 lease in ms, 4 key prefix of the shard ("hb:{7}:")
-- Transitions that follow from stored numbers (late, down, run over budget, repeat alerts)
-- happen here, exactly once, because the script is atomic. Checks that need Python (cron
-- ticks ran out) are leased: re-scored to now + lease and returned; the caller finishes
-- them with `reticks.lua`, and if it crashes the lease runs out and they come back.
-- Returns {number of entries claimed, score of the oldest claimed entry (0 if none),
--          {leased id, ...}, {new state of each flip, ...}, {deadline (ts) of each flip, ...}}.
-- A caller that gets back a full batch (claimed == batch size) should call again at once.
local due, events = KEYS[1], KEYS[2]
local now, batch, lease, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local items = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, batch)
local leased, states, stamps = {}, {}, {}
local oldest = 0
if #items > 0 then oldest = tonumber(items[2]) end

local function flipped(c, flips, uuid, old, new, ts, reason, rid)
  flip(c, flips, events, uuid, old, new, ts, reason, rid, 0, now)
  states[#states + 1] = new
  stamps[#stamps + 1] = ts
end

for i = 1, #items, 2 do
  local uuid = items[i]
  local ck, runs, flips = prefix .. 'c:' .. uuid, prefix .. 'r:' .. uuid, prefix .. 'f:' .. uuid
  local c = load_check(ck)
  local h = c.h
  if h.status == nil then
    redis.call('ZREM', due, uuid)
  elseif h.needs_eval == '1' then
    redis.call('ZADD', due, now + lease, uuid)
    leased[#leased + 1] = uuid
  else
    local status, was = h.status, h.status
    local gs, da = num(h.grace_start), num(h.down_at)
    local every, nr, since = num(h.repeat_every) * 1000, num(h.next_repeat), num(h.down_since)
    -- A run over its budget turns the check down, whatever the schedule says.
    if status ~= 'down' and num(h.last_start) > 0 then
      local budget = (num(h.max_runtime) > 0 and num(h.max_runtime) or num(h.grace)) * 1000
      local all = redis.call('HGETALL', runs)
      local first_rid, first_deadline = nil, nil
      local starts = {}
      for j = 1, #all, 2 do
        local deadline = num(all[j + 1]) + budget
        if deadline <= now then
          redis.call('HDEL', runs, all[j])
          if first_deadline == nil or deadline < first_deadline then
            first_rid, first_deadline = all[j], deadline
          end
        else
          starts[#starts + 1] = all[j + 1]
        end
      end
      if first_deadline then
        if first_rid == '_' then first_rid = '' end
        flipped(c, flips, uuid, status, 'down', first_deadline, 'runtime', first_rid)
        status = 'down'
        refresh_last_start(c, runs)
      else
        c.starts = starts
      end
    end
    if (status == 'up' or status == 'new') and gs > 0 and gs <= now then
      if da > 0 and da <= now then
        flipped(c, flips, uuid, status, 'down', da, 'timeout', '')
      else
        flipped(c, flips, uuid, status, 'late', gs, 'late', '')
      end
    elseif status == 'late' and da > 0 and da <= now then
      flipped(c, flips, uuid, 'late', 'down', da, 'timeout', '')
    elseif was == 'down' then
      -- Repeat reminders while down (not a flip: no state change, no flip history).
      if every > 0 and nr > 0 and nr <= now then
        redis.call('XADD', events, '*', 'check', uuid, 'project', h.project or '',
          'old', 'down', 'new', 'down', 'ts', nr, 'reason', 'repeat', 'rid', '',
          'downtime', nr - since, 'seq', 0)
        local skipped = math.floor((now - nr) / every) + 1
        put(c, 'next_repeat', nr + skipped * every)
      elseif every == 0 and nr > 0 then
        -- Reminders were switched off while down: forget the pending one, or the check
        -- would stay due in the past and be claimed on every sweep.
        put(c, 'next_repeat', false)
      end
    end
    bump_version(c)
    rescore(c, runs, due, uuid, now)
    save_check(ck, c)
  end
end
return {#items / 2, oldest, leased, states, stamps}
