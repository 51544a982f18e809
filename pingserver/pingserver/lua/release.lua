-- release.lua: hand a held alert back to the notifiers, once (engine/hold.py).
-- KEYS: 1 check, 2 held, 3 events
-- ARGV: 1 uuid, 2 held entry as the caller read it, 3 now, 4 max age (ms) of an entry whose
--       check is no longer in the held state
-- Returns 1 when the alert went back into the stream, 0 when the entry was dropped (the
-- check recovered, was paused or deleted), -1 when the entry changed meanwhile (another
-- notifier released it, or a newer alert replaced it) or is left for the recovery flip.
local ck, held, events = KEYS[1], KEYS[2], KEYS[3]
local uuid, seen, now, max_age = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('HGET', held, uuid) ~= seen then
  return -1
end
local entry = cjson.decode(seen)
local status = redis.call('HGET', ck, 'status')
if status == 'down' or (status == 'late' and entry.kind == 'late') then
  redis.call('XADD', events, '*', 'check', uuid, 'project', entry.project or '',
    'old', status, 'new', status, 'ts', entry.ts, 'reason', entry.reason or '',
    'rid', entry.rid or '', 'downtime', 0, 'released', 1)
  redis.call('HDEL', held, uuid)
  return 1
end
-- A recovery flip drops the entry itself (and stays quiet); only what no flip will come for
-- is dropped here: a deleted or paused check, or an entry older than any flip in delivery.
if status == false or status == 'paused' or now - num(entry.held_at) > max_age then
  redis.call('HDEL', held, uuid)
  return 0
end
return -1
