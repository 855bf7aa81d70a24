-- Take new messages ARQ producers enqueued into an ARQ queue, to record them in PostgreSQL.
-- A new message has a positive score (its run time in ms, as ARQ writes it; Job.abort()
-- writes 1). A recorded message carries its score negated (mark.lua): it stays in the
-- sorted set, where ARQ's Job.status() and Job.result() look for it, but out of this
-- range, so a call costs what it takes, not what waits. Each message returned is claimed
-- for ARGV[3] ms, so several workers' intakes split the new messages; one that dies
-- before marking leaves its claims to run out (recording is idempotent). A message
-- whose job key is gone has expired, and is dropped as ARQ drops it.
-- KEYS[1]: the ARQ queue; ARGV: want, claim_ms. Returns id, score, body, pttl per message.
local queue, want, claim_ms = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local taken, offset = {}, 0
while want > 0 do
  local page = redis.call('ZRANGEBYSCORE', queue, '(0', '+inf', 'WITHSCORES', 'LIMIT', offset, want + 64)
  if #page == 0 then break end
  offset = offset + #page / 2
  for i = 1, #page, 2 do
    local id, score = page[i], page[i + 1]
    if redis.call('SET', 'jobq:arq:intake:' .. id, '1', 'NX', 'PX', claim_ms) then
      local job_key = 'arq:job:' .. id
      local body = redis.call('GET', job_key)
      if body then
        taken[#taken + 1] = id
        taken[#taken + 1] = score
        taken[#taken + 1] = body
        taken[#taken + 1] = redis.call('PTTL', job_key)
        want = want - 1
        if want == 0 then break end
      else
        redis.call('ZREM', queue, id)
        redis.call('DEL', 'jobq:arq:intake:' .. id)
        offset = offset - 1
      end
    end
  end
end
return taken
