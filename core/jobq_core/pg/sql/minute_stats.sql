-- Named queries on jobq_minute_stats, the per-minute rollups behind GET /v1/stats and
-- GET /v1/attention. Each starts with "-- name: NAME" and runs until the next one.
-- Only the leader writes them (jobq_worker.duties roll_up and prune); readers never count jobs.

-- name: minute_stats_watermark
-- The end of the latest minute rolled up (NULL: none yet), and the database's clock.
SELECT max(minute) + interval '1 minute' AS rolled_until, now() AS db_now FROM jobq_minute_stats;

-- name: roll_up_minute
-- Roll up the minute starting at $1: one row per known queue (zeros included), so a
-- minute without rows is one no leader rolled up. An upsert: rolling a minute up again
-- rewrites its rows.
-- succeeded: attempts that succeeded; failed: attempts that failed or were lost;
-- dead: jobs that ended dead; dead_total: the queue's dead jobs when rolled up.
-- Run time (ms): finished − started of succeeded and failed attempts (a lost attempt's
-- end is when it was found lost, not when it stopped). Queue wait (ms): started − run_at
-- of succeeded attempts (run_at is that attempt's ready time; a failed attempt's job
-- has moved on to its next one). Percentiles are exact within the minute.
WITH attempts AS (
    SELECT j.queue, a.outcome,
           CASE WHEN a.outcome IN ('succeeded', 'failed') AND a.started_at IS NOT NULL
                THEN extract(epoch FROM a.finished_at - a.started_at)::float8 * 1000 END AS run_ms,
           CASE WHEN a.outcome = 'succeeded' AND a.started_at IS NOT NULL AND j.attempts = a.attempt
                THEN greatest(extract(epoch FROM a.started_at - j.run_at)::float8 * 1000, 0) END AS wait_ms
    FROM jobq_job_attempts a JOIN jobq_jobs j ON j.id = a.job_id
    WHERE a.finished_at >= $1 AND a.finished_at < $1 + interval '1 minute'
), per_queue AS (
    SELECT queue,
           count(*) FILTER (WHERE outcome = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE outcome IN ('failed', 'lost')) AS failed,
           count(run_ms) AS run_samples,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY run_ms) AS run_ms_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY run_ms) AS run_ms_p95,
           count(wait_ms) AS wait_samples,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) AS wait_ms_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_ms) AS wait_ms_p95
    FROM attempts GROUP BY queue
), died AS (
    SELECT queue, count(*) AS dead FROM jobq_jobs
    WHERE status = 'dead' AND finished_at >= $1 AND finished_at < $1 + interval '1 minute'
    GROUP BY queue
), dead_now AS (
    SELECT queue, dead AS dead_total FROM jobq_dead_by_queue() WHERE dead <> 0
), queues AS (
    SELECT name AS queue FROM jobq_queues
    UNION SELECT queue FROM jobq_job_types
    UNION SELECT queue FROM per_queue
    UNION SELECT queue FROM died
    UNION SELECT queue FROM dead_now
)
INSERT INTO jobq_minute_stats (minute, queue, succeeded, failed, dead, dead_total, run_samples, run_ms_p50,
                               run_ms_p95, wait_samples, wait_ms_p50, wait_ms_p95, computed_at)
SELECT $1, q.queue, coalesce(p.succeeded, 0), coalesce(p.failed, 0), coalesce(d.dead, 0),
       coalesce(n.dead_total, 0), coalesce(p.run_samples, 0), p.run_ms_p50, p.run_ms_p95,
       coalesce(p.wait_samples, 0), p.wait_ms_p50, p.wait_ms_p95, now()
FROM queues q
LEFT JOIN per_queue p ON p.queue = q.queue
LEFT JOIN died d ON d.queue = q.queue
LEFT JOIN dead_now n ON n.queue = q.queue
ON CONFLICT (minute, queue) DO UPDATE
SET succeeded = excluded.succeeded, failed = excluded.failed, dead = excluded.dead,
    dead_total = excluded.dead_total, run_samples = excluded.run_samples, run_ms_p50 = excluded.run_ms_p50,
    run_ms_p95 = excluded.run_ms_p95, wait_samples = excluded.wait_samples, wait_ms_p50 = excluded.wait_ms_p50,
    wait_ms_p95 = excluded.wait_ms_p95, computed_at = excluded.computed_at;

-- name: prune_minute_stats
-- Minute rows older than $1 seconds.
DELETE FROM jobq_minute_stats WHERE minute < now() - make_interval(secs => $1::float8);

-- name: stats_window
-- The minutes in [$1, $2) summed into buckets of $3 seconds (on whole multiples of the
-- length since the Unix epoch), per queue and bucket, per queue, per bucket over all
-- queues, and over all (GROUPING SETS; a NULL start or queue stands for "all").
-- Percentiles across minutes are approximate: p50 is the mean of the minutes' p50
-- weighted by their samples, p95 the highest of the minutes' p95 (an upper bound).
SELECT start, queue,
       count(DISTINCT minute) AS minutes,
       coalesce(sum(succeeded), 0) AS succeeded,
       coalesce(sum(failed), 0) AS failed,
       coalesce(sum(dead), 0) AS dead,
       sum(run_ms_p50 * run_samples) / nullif(sum(run_samples), 0) AS run_ms_p50,
       max(run_ms_p95) AS run_ms_p95,
       sum(wait_ms_p50 * wait_samples) / nullif(sum(wait_samples), 0) AS wait_ms_p50,
       max(wait_ms_p95) AS wait_ms_p95
FROM (
    SELECT date_bin(make_interval(secs => $3::float8), minute, timestamptz 'epoch') AS start, *
    FROM jobq_minute_stats
    WHERE minute >= $1 AND minute < $2
) AS s
GROUP BY GROUPING SETS ((start, queue), (queue), (start), ())
ORDER BY queue NULLS FIRST, start NULLS FIRST;

-- name: attention_trends
-- Per queue, around the latest rolled-up minute M: failed attempts in the $1 minutes up
-- to M and in the $2 before those (with how many of those minutes were rolled up), dead
-- jobs at M and at M − $3 minutes (NULL when that minute was not rolled up).
WITH latest AS (SELECT max(minute) AS m FROM jobq_minute_stats)
SELECT s.queue,
       coalesce(sum(s.failed) FILTER (WHERE s.minute > l.m - make_interval(mins => $1)), 0) AS recent_failed,
       count(*) FILTER (WHERE s.minute > l.m - make_interval(mins => $1)) AS recent_minutes,
       coalesce(sum(s.failed) FILTER (WHERE s.minute <= l.m - make_interval(mins => $1)), 0) AS earlier_failed,
       count(*) FILTER (WHERE s.minute <= l.m - make_interval(mins => $1)) AS earlier_minutes,
       max(s.dead_total) FILTER (WHERE s.minute = l.m) AS dead_now,
       (SELECT b.dead_total FROM jobq_minute_stats b
        WHERE b.queue = s.queue AND b.minute = l.m - make_interval(mins => $3)) AS dead_before
FROM jobq_minute_stats s, latest l
WHERE s.minute > l.m - make_interval(mins => $1 + $2)
GROUP BY s.queue, l.m
ORDER BY s.queue;

-- name: attention_waits
-- Queues that are not paused and have ready jobs (queued, or scheduled and due): how
-- many, and the age of the oldest.
SELECT j.queue, count(*) AS ready,
       extract(epoch FROM now() - min(j.run_at))::float8 AS oldest_ready_age_s
FROM jobq_jobs j
WHERE j.status IN ('queued', 'scheduled') AND j.run_at <= now()
  AND NOT EXISTS (SELECT 1 FROM jobq_queues p WHERE p.name = j.queue AND p.paused)
GROUP BY j.queue
ORDER BY j.queue;

-- name: attention_unserved_types
-- Registered job types that no live worker (a heartbeat within $1 seconds) serves:
-- none has the handler and serves the type's queue.
SELECT t.name, t.queue FROM jobq_job_types t
WHERE NOT EXISTS (
    SELECT 1 FROM jobq_workers w
    WHERE w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1::float8)
      AND t.name = ANY(w.job_types) AND t.queue = ANY(w.queues))
ORDER BY t.name;

-- name: alive_workers
-- Workers with a heartbeat within $1 seconds.
SELECT count(*) FROM jobq_workers
WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1::float8);
