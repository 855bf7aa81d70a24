-- Named queries on jobq_schedules. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: insert_schedule
INSERT INTO jobq_schedules (id, name, cron, timezone, job, missed, paused, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: get_schedule
SELECT * FROM jobq_schedules WHERE id = $1;

-- name: list_schedules
SELECT * FROM jobq_schedules ORDER BY name;

-- name: update_schedule
UPDATE jobq_schedules
SET name = $2, cron = $3, timezone = $4, job = $5, missed = $6, paused = $7, next_run_at = $8,
    updated_at = now()
WHERE id = $1
RETURNING *;

-- name: delete_schedule
DELETE FROM jobq_schedules WHERE id = $1 RETURNING id;

-- name: due_schedules
-- Locked for the firing transaction; SKIP LOCKED lets a second leader (split brain)
-- pass over what the first is firing instead of waiting on it.
SELECT *, now() AS db_now FROM jobq_schedules
WHERE NOT paused AND next_run_at <= now()
ORDER BY next_run_at
LIMIT 100
FOR UPDATE SKIP LOCKED;

-- name: advance_schedule
UPDATE jobq_schedules
SET next_run_at = $2, last_run_at = coalesce($3, last_run_at), last_job_id = coalesce($4, last_job_id)
WHERE id = $1;

-- name: schedule_runs
-- The jobs schedule $1 made, newest first (jobq_jobs.schedule_id, set since migration 0004).
SELECT * FROM jobq_jobs WHERE schedule_id = $1
ORDER BY created_at DESC, id DESC
LIMIT $2;

-- name: lock_declared_schedules
-- Transaction-level: released at commit, so a second worker reconciling the same
-- declarations waits and then sees the first one's rows.
SELECT pg_advisory_xact_lock($1);

-- name: declared_or_named_schedules
-- The schedules owner $1 declared, and any schedule holding one of the names $2.
SELECT * FROM jobq_schedules WHERE declared_by = $1 OR name = ANY($2::text[]) ORDER BY name;

-- name: insert_declared_schedule
INSERT INTO jobq_schedules (id, name, cron, timezone, job, missed, paused, next_run_at, declared_by)
VALUES ($1, $2, $3, $4, $5, 'skip', false, $6, $7)
RETURNING *;

-- name: update_declared_schedule
-- $5 NULL keeps next_run_at (only the job template changed). Guarded by the owner.
UPDATE jobq_schedules
SET cron = $2, timezone = $3, job = $4, next_run_at = coalesce($5, next_run_at), updated_at = now()
WHERE id = $1 AND declared_by = $6
RETURNING *;

-- name: delete_withdrawn_schedules
-- Owner $1's schedules whose names are not among $2 (no longer declared).
DELETE FROM jobq_schedules WHERE declared_by = $1 AND NOT (name = ANY($2::text[]))
RETURNING name;
