-- The dashboard's server side: per-minute rollups the leader computes once for everyone,
-- jobs that remember the job they were cloned from and the schedule that made them.

-- A clone keeps the id of its original; no foreign key, so deleting the original keeps the clone.
ALTER TABLE jobq_jobs ADD COLUMN cloned_from uuid;
-- The schedule whose slot (or run-now) made the job; no foreign key: a deleted schedule's jobs stay.
ALTER TABLE jobq_jobs ADD COLUMN schedule_id uuid;

-- A schedule's recent runs, newest first.
CREATE INDEX jobq_jobs_schedule ON jobq_jobs (schedule_id, created_at DESC, id DESC)
    WHERE schedule_id IS NOT NULL;

-- The rollup reads the attempts that finished in one minute.
CREATE INDEX jobq_job_attempts_finished ON jobq_job_attempts (finished_at);

-- One row per minute and known queue (zeros included), so a minute with no rows is one
-- no leader rolled up. Run times and queue waits in milliseconds; percentiles exact
-- within the minute.
CREATE TABLE jobq_minute_stats (
    minute        timestamptz NOT NULL,
    queue         text NOT NULL,
    succeeded     integer NOT NULL,
    failed        integer NOT NULL,
    dead          integer NOT NULL,
    dead_total    integer NOT NULL,
    run_samples   integer NOT NULL,
    run_ms_p50    double precision,
    run_ms_p95    double precision,
    wait_samples  integer NOT NULL,
    wait_ms_p50   double precision,
    wait_ms_p95   double precision,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (minute, queue)
);
