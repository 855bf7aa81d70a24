-- Named queries for jobs that came through an ARQ producer (their `arq` column, migration 0006).

-- name: insert_unreadable_arq_message
-- An ARQ message jobq cannot run (pickled, malformed, an unknown function) as a dead
-- job, so it is seen and counted instead of dropped. $1 a JSON array of rows.
INSERT INTO jobq_jobs (id, type, queue, status, payload, max_attempts, timeout_s, idempotency_key,
                       tags, run_at, finished_at, error, arq)
SELECT id, type, queue, 'dead', payload, 1, 300, idempotency_key, tags, now(), now(), error, arq
FROM jsonb_to_recordset($1::jsonb) AS j(
    id uuid, type text, queue text, payload jsonb, idempotency_key text, tags text[], error jsonb, arq jsonb)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id;

-- name: live_arq_jobs
-- The waiting or running jobs of the ARQ job ids in $1 (an abort names an id, and must
-- reach only a job enqueued before it: the caller compares enqueue_time_ms).
SELECT *, arq ->> 'id' AS arq_id, (arq ->> 'enqueue_time_ms')::bigint AS enqueue_time_ms FROM jobq_jobs
WHERE arq IS NOT NULL AND arq ->> 'id' = ANY($1::text[])
  AND status IN ('scheduled', 'queued', 'running');

-- name: latest_arq_jobs
-- The newest job of each ARQ job id in $1, with what ARQ's result needs.
SELECT DISTINCT ON (arq ->> 'id') *, arq ->> 'id' AS arq_id
FROM jobq_jobs
WHERE arq IS NOT NULL AND arq ->> 'id' = ANY($1::text[])
ORDER BY arq ->> 'id', created_at DESC;
