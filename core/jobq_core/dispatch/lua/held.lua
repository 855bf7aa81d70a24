-- Which of the ARQ ids in ARGV Redis still holds (1) or not (0): the relay's cheap
-- check before it encodes and sends anything.
local job_prefix, result_prefix = 'arq:job:', 'arq:result:'
local held = {}
for i, id in ipairs(ARGV) do
  held[i] = redis.call('EXISTS', job_prefix .. id, result_prefix .. id)
end
return held
