-- Named queries on jobq_job_types. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: upsert_job_type
INSERT INTO jobq_job_types (name, queue, payload_schema, timeout_s, max_attempts, description, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (name) DO UPDATE
SET queue = excluded.queue, payload_schema = excluded.payload_schema,
    timeout_s = excluded.timeout_s, max_attempts = excluded.max_attempts,
    description = excluded.description, updated_at = now();

-- name: list_job_types
SELECT name, queue, payload_schema, timeout_s, max_attempts, description, updated_at
FROM jobq_job_types ORDER BY name;
