-- drop_consumer.lua: remove a notifier that is gone from the consumer group, unless it still
-- has pending entries (taken over first; left for the next round otherwise). Atomic, so a
-- consumer that just read something is never removed with its entries.
-- KEYS: 1 events
-- ARGV: 1 group, 2 consumer
-- Returns 1 when removed, 0 when it still has pending entries.
local events, group, name = KEYS[1], ARGV[1], ARGV[2]
if #redis.call('XPENDING', events, group, '-', '+', 1, name) > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', events, group, name)
return 1
