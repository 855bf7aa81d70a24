-- Named queries on jobq_workers. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: register_worker
INSERT INTO jobq_workers (id, hostname, pid, queues, job_types, concurrency, version)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: count_registered_workers
SELECT count(*) FROM jobq_workers WHERE pid = ANY($1::int[]) AND stopped_at IS NULL;

-- name: heartbeat_worker
UPDATE jobq_workers SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL RETURNING id;

-- name: stop_worker
UPDATE jobq_workers SET stopped_at = now() WHERE id = $1 AND stopped_at IS NULL;

-- name: list_workers
-- $1: seconds without a heartbeat after which a worker counts as gone.
SELECT w.id, w.hostname, w.pid, w.queues, w.job_types, w.concurrency, w.version,
       w.started_at, w.heartbeat_at, w.stopped_at,
       (w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1)) AS alive,
       (SELECT count(*) FROM jobq_jobs j WHERE j.worker_id = w.id AND j.status = 'running') AS running
FROM jobq_workers w
WHERE w.stopped_at IS NULL OR w.stopped_at > now() - interval '1 hour'
ORDER BY w.started_at DESC;

-- name: mark_lost_workers
-- Workers whose heartbeat is older than $1 seconds are gone.
UPDATE jobq_workers SET stopped_at = now(), leader_since = NULL
WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => $1)
RETURNING id;

-- name: revive_worker
-- A worker declared gone that is in fact alive (a long pause) registers again.
UPDATE jobq_workers SET stopped_at = NULL, heartbeat_at = now() WHERE id = $1;

-- name: set_leader
UPDATE jobq_workers SET leader_since = CASE WHEN $2 THEN now() END WHERE id = $1;

-- name: prune_stopped_workers
DELETE FROM jobq_workers w
WHERE w.stopped_at < now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM jobq_jobs j WHERE j.worker_id = w.id AND j.status = 'running');

-- name: autoscale_worker_load
-- Running jobs per worker host (the pod name in Kubernetes, matched to pods by the
-- operator), over workers alive by their heartbeat ($1 seconds).
SELECT w.hostname, w.pid,
       count(j.id) AS running
FROM jobq_workers w
LEFT JOIN jobq_jobs j ON j.worker_id = w.id AND j.status = 'running'
WHERE w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1::float8)
GROUP BY w.hostname, w.pid;
