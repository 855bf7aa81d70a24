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
