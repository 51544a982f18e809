-- claim_resend.lua: take the due re-posts of firing Alertmanager alerts (store.claim_resends).
-- KEYS: 1 the shard's resend set
-- ARGV: 1 now (ms), 2 the next re-post (ms), 3 at most this many
-- Returns the claimed members; each is re-scored to ARGV[2] before any other claimer sees it.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return due
