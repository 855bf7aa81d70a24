-- Give leased messages back: their lease ends now, and a deferred one is not due
-- before ARGV[1] (ms since the epoch; 0 keeps its place). KEYS[1]: the queue.
local lease_prefix = 'arq:in-progress:'
local queue, due = KEYS[1], tonumber(ARGV[1])
for i = 2, #ARGV do
  if due > 0 then redis.call('ZADD', queue, 'XX', due, ARGV[i]) end
  redis.call('DEL', lease_prefix .. ARGV[i])
end
return #ARGV - 1
