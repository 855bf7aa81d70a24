-- Named queries on jobq_queues, and the queues as counted from jobq_jobs. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: queue_stats
-- Live jobs are counted (as many as are waiting or running), in one read that also names
-- their queues: naming them with a second read doubled the cost, 150 ms for 200,000
-- waiting jobs. Dead ones are kept count of (jobq_dead_by_queue).
WITH dead AS MATERIALIZED (SELECT queue, dead FROM jobq_dead_by_queue()),
live AS MATERIALIZED (
    SELECT queue,
           count(*) FILTER (WHERE status IN ('queued', 'scheduled') AND run_at <= now()) AS ready,
           count(*) FILTER (WHERE status = 'scheduled' AND run_at > now()) AS scheduled,
           count(*) FILTER (WHERE status = 'running') AS running,
           extract(epoch FROM now() - min(run_at) FILTER (
               WHERE status IN ('queued', 'scheduled') AND run_at <= now()))::float8
               AS oldest_ready_age_s
    FROM jobq_jobs
    WHERE status IN ('scheduled', 'queued', 'running')
    GROUP BY queue
)
SELECT q.name AS queue,
       coalesce(s.ready, 0) AS ready,
       coalesce(s.scheduled, 0) AS scheduled,
       coalesce(s.running, 0) AS running,
       coalesce(d.dead, 0) AS dead,
       s.oldest_ready_age_s,
       coalesce(p.paused, false) AS paused
FROM (SELECT name FROM jobq_queues
      UNION SELECT queue FROM jobq_job_types
      UNION SELECT queue FROM live
      UNION SELECT queue FROM dead WHERE dead > 0) AS q
LEFT JOIN live AS s ON s.queue = q.name
LEFT JOIN dead AS d ON d.queue = q.name
LEFT JOIN jobq_queues AS p ON p.name = q.name
ORDER BY q.name;

-- name: set_queue_paused
INSERT INTO jobq_queues (name, paused, updated_at) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = now()
RETURNING name, paused;

-- name: fold_dead_counts
-- Fold the dead jobs' deltas into their totals (the leader, with each roll-up). A delta
-- appended meanwhile is not deleted, so it is folded next time.
WITH folded AS (DELETE FROM jobq_dead_deltas RETURNING queue, delta)
INSERT INTO jobq_dead_counts AS c (queue, dead)
SELECT queue, sum(delta) FROM folded GROUP BY queue
ON CONFLICT (queue) DO UPDATE SET dead = c.dead + excluded.dead;

-- name: paused_queues
SELECT name FROM jobq_queues WHERE paused;

-- name: autoscale_queue_state
-- The autoscaler's view of queues $1 (jobq_core.pg.queue_state): ready means runnable now
-- (queued or overdue-scheduled, run time come, queue not paused), plus due cron
-- schedules (with no worker running, no leader fires them: they are work waiting);
-- arrivals and completions count over the last $2 seconds.
WITH live AS (
    SELECT j.status, j.run_at, coalesce(p.paused, false) AS paused
    FROM jobq_jobs j LEFT JOIN jobq_queues p ON p.name = j.queue
    WHERE j.queue = ANY($1::text[]) AND j.status IN ('scheduled', 'queued', 'running')
), finished AS (
    SELECT count(*) AS completed,
           avg(extract(epoch FROM finished_at - started_at)) FILTER (WHERE started_at IS NOT NULL)::float8
               AS mean_duration_s
    FROM (
        SELECT started_at, finished_at FROM jobq_jobs
        WHERE status IN ('succeeded', 'cancelled') AND finished_at > now() - make_interval(secs => $2::float8)
          AND queue = ANY($1::text[])
        UNION ALL
        SELECT started_at, finished_at FROM jobq_jobs
        WHERE status = 'dead' AND finished_at > now() - make_interval(secs => $2::float8)
          AND queue = ANY($1::text[])
    ) AS recent
)
SELECT count(*) FILTER (WHERE status IN ('queued', 'scheduled') AND run_at <= now() AND NOT paused)
           + (SELECT count(*) FROM jobq_schedules
              WHERE NOT paused AND next_run_at <= now() AND job->>'queue' = ANY($1::text[])) AS ready,
       count(*) FILTER (WHERE status = 'running') AS running,
       count(*) FILTER (WHERE status = 'scheduled' AND run_at > now()) AS scheduled,
       coalesce(extract(epoch FROM now() - min(run_at) FILTER (
           WHERE status IN ('queued', 'scheduled') AND run_at <= now() AND NOT paused))::float8, 0) AS oldest_ready_age_s,
       (SELECT count(*) FROM jobq_jobs
        WHERE created_at > now() - make_interval(secs => $2::float8) AND queue = ANY($1::text[])) AS arrived,
       (SELECT completed FROM finished) AS completed,
       (SELECT mean_duration_s FROM finished) AS mean_duration_s,
       extract(epoch FROM now())::float8 AS db_now
FROM live;

-- name: autoscale_local_queues
-- `jobq run`'s local autoscaling: every queue a live worker serves or a waiting job names.
SELECT DISTINCT unnest(queues) AS queue FROM jobq_workers WHERE stopped_at IS NULL
UNION
SELECT DISTINCT queue FROM jobq_jobs WHERE status IN ('queued', 'scheduled', 'running');
