-- Write ARQ's job key and queue entry for each message unless ARQ still holds that id
-- (ARQ's own enqueue_job does the same check with WATCH, one round trip per job), then
-- wake the idle workers of each queue that got something: the queue key doubles as
-- the pub/sub channel (channels and keys are separate namespaces).
-- ARGV[1]: one JSON array of [queue key, ARQ id, score, body]: one argument instead of
-- seven per message, which the client would pack one by one in Python. Scores arrive
-- as Lua numbers and go to ZADD as "%.14g": exact for millisecond times (13 digits
-- until the year 2286). ARGV[2]: the messages' time to live in ms.
local job_prefix, result_prefix = 'arq:job:', 'arq:result:'
local added, woken = 0, {}
for _, m in ipairs(cjson.decode(ARGV[1])) do
  local queue_key, id, score, body = m[1], m[2], m[3], m[4]
  local job_key = job_prefix .. id
  if redis.call('EXISTS', job_key, result_prefix .. id) == 0 then
    redis.call('SET', job_key, body, 'PX', ARGV[2])
    redis.call('ZADD', queue_key, score, id)
    added = added + 1
    woken[queue_key] = true
  end
end
for queue_key in pairs(woken) do
  redis.call('PUBLISH', queue_key, '')
end
return added
