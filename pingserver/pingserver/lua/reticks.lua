-- reticks.lua: store freshly computed cron/OnCalendar ticks for a leased check.
-- KEYS: 1 check, 2 runs, 3 due
-- ARGV: 1 uuid, 2 now, 3 expected version, 4 ticks (comma-separated ms), 5 '1' if the
--       schedule has no further matches beyond these
-- Returns 1 when applied, 0 when the check changed meanwhile (its ping re-scored it).
local ck, runs, due = KEYS[1], KEYS[2], KEYS[3]
local uuid, now = ARGV[1], tonumber(ARGV[2])
local c = load_check(ck)
if c.h.version ~= ARGV[3] then
  return 0
end
put(c, 'ticks', ARGV[4])
put(c, 'ticks_final', ARGV[5])
reschedule(c)
bump_version(c)
rescore(c, runs, due, uuid, now)
save_check(ck, c)
return 1
