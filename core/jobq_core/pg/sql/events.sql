-- Named queries for the API's change stream (GET /v1/events, jobq_core.pg.changes). Each
-- starts with "-- name: NAME" and runs until the next one.

-- name: events_tick
-- One statement per tick of the API's event hub (jobq_core.pg.changes): what changed.
-- $1: rows changed after this are read (the previous tick's time less a margin for late
--     commits; NULL on the first tick, which reads the running jobs only: the baseline);
-- $2..$5: the running jobs as the hub last saw them (id, attempt, progress, message);
-- $6: count the queues even if nothing changed; $7: seconds without a heartbeat after
--     which a worker counts as gone; $8: most job rows to return.
-- Each part is an index range scan sized by what changed, not by the table: created_at
-- (jobq_jobs_created), attempts' finished_at (jobq_job_attempts_finished), finished
-- jobs (jobq_jobs_done_finished and jobq_jobs_dead_finished), waiting jobs that came due
-- or were put back (run_at, per queue on jobq_jobs_queue_status), running jobs (jobq_jobs_worker, partial: as many as
-- the workers' slots), and the hub's running set by primary key. A running job comes
-- back only when its attempt or progress moved. The queue counts are per queue and
-- status index ranges (live jobs; dead ones are kept count of, jobq_dead_by_queue), taken only when a
-- job changed state, a queue was paused or resumed, or $6 asks.
WITH RECURSIVE job_queues AS (
    -- The distinct queues of jobq_jobs, one index descent each (a loose index scan).
    (SELECT queue FROM jobq_jobs ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM jobq_jobs j WHERE j.queue > q.queue ORDER BY j.queue LIMIT 1)
    FROM job_queues q WHERE q.queue IS NOT NULL
), queue_names AS (
    SELECT queue AS name FROM job_queues WHERE queue IS NOT NULL
    UNION SELECT name FROM jobq_queues
    UNION SELECT queue FROM jobq_job_types
), seen_running AS (
    SELECT * FROM unnest($2::uuid[], $3::int[], $4::real[], $5::text[]) AS p(id, attempts, progress, message)
), running AS MATERIALIZED (
    SELECT id, attempts, progress, progress_message FROM jobq_jobs WHERE status = 'running'
), touched AS (
    -- moved: the job may have changed state (not only its progress).
    SELECT id, true AS moved FROM jobq_jobs WHERE created_at > $1
    UNION ALL
    SELECT job_id, true FROM jobq_job_attempts WHERE finished_at > $1
    UNION ALL
    SELECT id, true FROM jobq_jobs WHERE status IN ('succeeded', 'cancelled') AND finished_at > $1
    UNION ALL
    SELECT id, true FROM jobq_jobs WHERE status = 'dead' AND finished_at > $1
    UNION ALL
    -- Came due, or put back to wait by a retry by hand, a hand-back or a rescue (each
    -- sets run_at to its time).
    SELECT j.id, true FROM queue_names q
    JOIN jobq_jobs j ON j.queue = q.name AND j.status IN ('queued', 'scheduled') AND j.run_at > $1
    WHERE j.run_at <= now()
    UNION ALL
    SELECT r.id, p.id IS NULL OR r.attempts <> p.attempts
    FROM running r LEFT JOIN seen_running p ON p.id = r.id
    WHERE p.id IS NULL OR r.attempts <> p.attempts OR r.progress IS DISTINCT FROM p.progress
       OR r.progress_message IS DISTINCT FROM p.message
    UNION ALL
    SELECT p.id, true FROM seen_running p WHERE NOT EXISTS (SELECT 1 FROM running r WHERE r.id = p.id)
), changed AS (
    SELECT j.id, j.type, j.queue, j.status, j.priority, j.attempts, j.max_attempts, j.progress,
           j.progress_message, j.tags, j.run_at, j.created_at, j.started_at, j.finished_at
    FROM jobq_jobs j
    WHERE j.id IN (SELECT id FROM touched)
    LIMIT $8
), gate AS (
    SELECT $6::boolean
           OR EXISTS (SELECT 1 FROM touched WHERE moved)
           OR EXISTS (SELECT 1 FROM jobq_queues WHERE updated_at > $1) AS count_queues
), dead_counts AS MATERIALIZED (
    SELECT queue, dead FROM jobq_dead_by_queue()
), counts AS MATERIALIZED (
    SELECT q.name,
           (SELECT count(*) FROM jobq_jobs j
            WHERE j.queue = q.name AND j.status = 'queued' AND j.run_at <= now()) AS queued_due,
           (SELECT count(*) FROM jobq_jobs j
            WHERE j.queue = q.name AND j.status = 'queued' AND j.run_at > now()) AS queued_later,
           (SELECT count(*) FROM jobq_jobs j
            WHERE j.queue = q.name AND j.status = 'scheduled' AND j.run_at <= now()) AS scheduled_due,
           (SELECT count(*) FROM jobq_jobs j
            WHERE j.queue = q.name AND j.status = 'scheduled' AND j.run_at > now()) AS scheduled_later,
           (SELECT count(*) FROM jobq_jobs j WHERE j.queue = q.name AND j.status = 'running') AS running,
           coalesce((SELECT d.dead FROM dead_counts d WHERE d.queue = q.name), 0) AS dead,
           LEAST((SELECT min(j.run_at) FROM jobq_jobs j
                  WHERE j.queue = q.name AND j.status = 'queued' AND j.run_at <= now()),
                 (SELECT min(j.run_at) FROM jobq_jobs j
                  WHERE j.queue = q.name AND j.status = 'scheduled' AND j.run_at <= now())) AS oldest_ready,
           coalesce(p.paused, false) AS paused,
           p.name IS NOT NULL OR q.name IN (SELECT queue FROM jobq_job_types) AS named
    FROM queue_names q
    LEFT JOIN jobq_queues p ON p.name = q.name
    WHERE (SELECT count_queues FROM gate)
), workers AS (
    -- As list_workers (GET /v1/workers) gives them.
    SELECT w.id, w.hostname, w.pid, w.queues, w.job_types, w.concurrency, w.version,
           w.started_at, w.heartbeat_at, w.stopped_at,
           (w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $7::float8)) AS alive,
           (SELECT count(*) FROM jobq_jobs j WHERE j.worker_id = w.id AND j.status = 'running') AS running
    FROM jobq_workers w
    WHERE w.stopped_at IS NULL OR w.stopped_at > now() - interval '1 hour'
)
-- As queue_stats (GET /v1/queues): a queue is listed when it is named (paused or
-- resumed once, or a job type's) or holds a live or dead job.
SELECT now() AS db_now,
       (SELECT array_agg(ROW(id, type, queue, status, priority, attempts, max_attempts, progress,
                             progress_message, tags, run_at, created_at, started_at, finished_at)
                         ORDER BY created_at, id)
        FROM changed) AS jobs,
       (SELECT count_queues FROM gate) AS queues_counted,
       (SELECT array_agg(ROW(name, queued_due + scheduled_due, scheduled_later, running, dead,
                             extract(epoch FROM now() - oldest_ready)::float8, paused)
                         ORDER BY name)
        FROM counts
        WHERE named OR queued_due + queued_later + scheduled_due + scheduled_later + running + dead > 0) AS queues,
       (SELECT array_agg(ROW(id, hostname, pid, queues, job_types, concurrency, version, started_at,
                             heartbeat_at, stopped_at, alive, running)
                         ORDER BY started_at DESC)
        FROM workers) AS workers;
