-- Recovery: cooperative cancellation, recurring schedules, prompt dispatch of rows
-- inserted behind the API's back.

ALTER TABLE jobq_jobs ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE jobq_workers ADD COLUMN leader_since timestamptz;

-- The dispatch relay sweeps queued jobs in id order; the leader promotes due scheduled ones.
CREATE INDEX jobq_jobs_queued ON jobq_jobs (id) WHERE status = 'queued';
CREATE INDEX jobq_jobs_scheduled ON jobq_jobs (run_at) WHERE status = 'scheduled';

CREATE INDEX jobq_jobs_finished ON jobq_jobs (finished_at)
    WHERE status IN ('succeeded', 'dead', 'cancelled');

CREATE TABLE jobq_schedules (
    id              uuid PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    cron            text NOT NULL,
    timezone        text NOT NULL,
    job             jsonb NOT NULL,
    missed          text NOT NULL CHECK (missed IN ('skip', 'run_once')),
    paused          boolean NOT NULL DEFAULT false,
    next_run_at     timestamptz NOT NULL,
    last_run_at     timestamptz,
    last_job_id     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX jobq_schedules_due ON jobq_schedules (next_run_at) WHERE NOT paused;

-- Rows inserted by anything but a client that dispatches them itself (the API sets
-- jobq.dispatches = 'on' in its transaction) wake the dispatch relay at once.
CREATE FUNCTION jobq_notify_new_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('jobq.dispatches', true), '') <> 'on' THEN
        PERFORM pg_notify('jobq_new_jobs', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobq_jobs_notify_new AFTER INSERT ON jobq_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobq_notify_new_jobs();
