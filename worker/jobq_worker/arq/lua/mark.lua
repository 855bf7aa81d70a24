-- Mark messages recorded in PostgreSQL: negate the score each had when taken in, and
-- drop the intake claim. A message whose score changed since (it finished and was
-- enqueued again under its id) is left for the next intake.
-- KEYS[1]: the ARQ queue; ARGV: id, score taken, id, score taken, ...
for i = 1, #ARGV, 2 do
  local id, taken = ARGV[i], tonumber(ARGV[i + 1])
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) == taken then
    redis.call('ZADD', KEYS[1], -taken, id)
  end
  redis.call('DEL', 'jobq:arq:intake:' .. id)
end
return 0
