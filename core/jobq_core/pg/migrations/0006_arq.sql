-- ARQ compatibility: jobs that came through an ARQ producer (`ArqRedis.enqueue_job`) keep
-- ARQ's envelope, and schedules declared in code (an ARQ WorkerSettings' cron_jobs) say
-- who declared them, so a worker reconciles its own and never touches one made by hand.

-- {"id": ARQ's job id, "enqueue_time_ms", "score", "expires_at_ms", "job_try"}; NULL
-- for every job that did not come through ARQ.
ALTER TABLE jobq_jobs ADD COLUMN arq jsonb;
CREATE INDEX jobq_jobs_arq_id ON jobq_jobs ((arq ->> 'id')) WHERE arq IS NOT NULL;

-- "arq:<queue>" for an ARQ app's cron jobs; NULL for schedules made through the API.
ALTER TABLE jobq_schedules ADD COLUMN declared_by text;
