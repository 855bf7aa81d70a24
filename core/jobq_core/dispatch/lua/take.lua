-- One round trip of a worker: acknowledge finished deliveries (drop their message,
-- job key and lease), then take up to `want` due messages, each leased with ARQ's
-- in-progress key so no other worker takes it until the lease ends. The lease lasts
-- what the message says (its job's timeout plus a margin, written first in the body
-- as {"l":ms,...}), or ARGV[3] for a message that does not say. A message whose job
-- key is gone (expired) is dropped. Running messages stay in the sorted set, as in
-- ARQ, so a worker that dies leaves them to be taken again when their lease ends;
-- the scan steps over them.
-- KEYS[1]: the queue; ARGV: now_ms, want, default lease_ms, acks...
local job_prefix, lease_prefix = 'arq:job:', 'arq:in-progress:'
local queue, now, want, default_lease = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]
for i = 4, #ARGV do
  redis.call('ZREM', queue, ARGV[i])
  redis.call('DEL', job_prefix .. ARGV[i], lease_prefix .. ARGV[i])
end
local taken, offset = {}, 0
while want > 0 do
  local ids = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', offset, want + 64)
  if #ids == 0 then break end
  offset = offset + #ids
  for _, id in ipairs(ids) do
    local lease_key = lease_prefix .. id
    if redis.call('EXISTS', lease_key) == 0 then
      local body = redis.call('GET', job_prefix .. id)
      if body then
        redis.call('SET', lease_key, '1', 'PX', string.match(body, '^{"l":(%d+)') or default_lease)
        taken[#taken + 1] = id
        taken[#taken + 1] = body
        want = want - 1
        if want == 0 then break end
      else
        redis.call('ZREM', queue, id)
        offset = offset - 1
      end
    end
  end
end
return taken
