-- The declared schema: what a database migrated to the latest version looks like.
-- A test builds one database from this file and one from the migrations and compares them;
-- change both together.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE jobq_jobs (
    id               uuid PRIMARY KEY,
    type             text NOT NULL,
    queue            text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('scheduled', 'queued', 'running', 'succeeded', 'dead', 'cancelled')),
    payload          jsonb NOT NULL,
    priority         smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    timeout_s        double precision NOT NULL CHECK (timeout_s > 0),
    idempotency_key  text,
    tags             text[] NOT NULL DEFAULT '{}',
    run_at           timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    worker_id        text,
    progress         real CHECK (progress BETWEEN 0 AND 1),
    progress_message text,
    result           jsonb,
    error            jsonb,
    trace_context    jsonb,
    cancel_requested_at timestamptz,
    cloned_from      uuid,
    schedule_id      uuid,
    arq              jsonb
);

CREATE UNIQUE INDEX jobq_jobs_idempotency_key ON jobq_jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobq_jobs_queue_status ON jobq_jobs (queue, status, run_at);
CREATE INDEX jobq_jobs_created ON jobq_jobs (created_at DESC, id DESC);
CREATE INDEX jobq_jobs_type_created ON jobq_jobs (type, created_at DESC, id DESC) INCLUDE (status, queue, tags);
CREATE INDEX jobq_jobs_status_created ON jobq_jobs (status, created_at DESC, id DESC) INCLUDE (queue, type, tags);
CREATE INDEX jobq_jobs_queue_created ON jobq_jobs (queue, created_at DESC, id DESC) INCLUDE (status, type, tags);
CREATE INDEX jobq_jobs_payload ON jobq_jobs USING gin (payload jsonb_path_ops);
CREATE INDEX jobq_jobs_error_message ON jobq_jobs USING gin ((error ->> 'message') gin_trgm_ops)
    WHERE error IS NOT NULL;
CREATE INDEX jobq_jobs_tags ON jobq_jobs USING gin (tags);
CREATE INDEX jobq_jobs_worker ON jobq_jobs (worker_id) WHERE status = 'running';
CREATE INDEX jobq_jobs_queued_since ON jobq_jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobq_jobs_scheduled ON jobq_jobs (run_at) WHERE status = 'scheduled';
-- One per retention, so a prune reads only what it deletes (0011).
CREATE INDEX jobq_jobs_done_finished ON jobq_jobs (finished_at) WHERE status IN ('succeeded', 'cancelled');
CREATE INDEX jobq_jobs_dead_finished ON jobq_jobs (finished_at, id) WHERE status = 'dead';
CREATE INDEX jobq_jobs_schedule ON jobq_jobs (schedule_id, created_at DESC, id DESC)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX jobq_jobs_arq_id ON jobq_jobs ((arq ->> 'id')) WHERE arq IS NOT NULL;

CREATE TABLE jobq_job_attempts (
    job_id       uuid NOT NULL REFERENCES jobq_jobs (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    worker_id    text,
    started_at   timestamptz,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'cancelled', 'lost')),
    error        jsonb,
    PRIMARY KEY (job_id, attempt)
);

CREATE INDEX jobq_job_attempts_finished ON jobq_job_attempts (finished_at);

CREATE TABLE jobq_job_types (
    name            text PRIMARY KEY,
    queue           text NOT NULL,
    payload_schema  jsonb NOT NULL,
    timeout_s       double precision NOT NULL CHECK (timeout_s > 0),
    max_attempts    integer NOT NULL CHECK (max_attempts >= 1),
    description     text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobq_workers (
    id            text PRIMARY KEY,
    hostname      text NOT NULL,
    pid           integer NOT NULL,
    queues        text[] NOT NULL,
    job_types     text[] NOT NULL,
    concurrency   integer NOT NULL,
    version       text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    leader_since  timestamptz
);

CREATE TABLE jobq_api_keys (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE jobq_queues (
    name        text PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

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
    updated_at      timestamptz NOT NULL DEFAULT now(),
    declared_by     text
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

-- Per-minute rollups for the dashboard (worker/jobq_worker/duties.py, `roll_up`).
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

-- The autoscaler's view for the dashboard, written by the operator (operator/jobq_operator/records.py)
-- and read by GET /v1/scalers; pruned by the operator (jobq_core.pg.scalers).
-- One row per WorkerScaler and minute, upserted by every loop of that minute. Replicas,
-- ready jobs and the oldest ready age are the highest of the minute's loops (peaks are not
-- hidden); latest_* and observed_at are the minute's last loop.
CREATE TABLE jobq_scaler_samples (
    namespace                text NOT NULL,
    name                     text NOT NULL,
    minute                   timestamptz NOT NULL,
    current_replicas         integer NOT NULL,
    desired_replicas         integer NOT NULL,
    ready                    integer NOT NULL,
    oldest_ready_age_s       double precision NOT NULL,
    latest_current_replicas  integer NOT NULL,
    latest_desired_replicas  integer NOT NULL,
    observed_at              timestamptz NOT NULL,
    PRIMARY KEY (namespace, name, minute)
);
-- Reading a window across scalers, and pruning.
CREATE INDEX jobq_scaler_samples_minute ON jobq_scaler_samples (minute);

-- A row when the operator changed the target's replicas, or held them for a new limiting
-- reason (from_replicas = to_replicas): never one per loop.
CREATE TABLE jobq_scaler_decisions (
    id             bigserial PRIMARY KEY,
    namespace      text NOT NULL,
    name           text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    from_replicas  integer NOT NULL,
    to_replicas    integer NOT NULL,
    reason         text NOT NULL,
    message        text NOT NULL
);
-- A scaler's latest decisions first.
CREATE INDEX jobq_scaler_decisions_scaler ON jobq_scaler_decisions (namespace, name, at DESC, id DESC);

-- Each queue's dead jobs, kept up as jobs enter and leave the dead state, so the queue
-- stats (GET /v1/queues, the leader's metrics every 2 s, the minute roll-up, the event
-- stream) read a few rows instead of counting every dead job: 1.5 % dead is 150,000
-- rows at ten million jobs. A change appends a delta rather than updating a total, so
-- no transaction waits on another's counter row; the leader folds the deltas into the
-- totals (jobq_worker duties, roll_up) and a count is the total plus what is not folded yet.
CREATE TABLE jobq_dead_counts (
    queue  text PRIMARY KEY,
    dead   bigint NOT NULL
);

CREATE TABLE jobq_dead_deltas (
    queue  text NOT NULL,
    delta  integer NOT NULL
);

CREATE FUNCTION jobq_dead_by_queue() RETURNS TABLE (queue text, dead bigint) LANGUAGE sql STABLE AS $$
    SELECT queue, sum(dead)::bigint FROM (
        SELECT queue, dead FROM jobq_dead_counts
        UNION ALL
        SELECT queue, delta FROM jobq_dead_deltas
    ) AS parts
    GROUP BY queue
$$;

CREATE FUNCTION jobq_count_dead() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'dead' THEN
        INSERT INTO jobq_dead_deltas (queue, delta) VALUES (OLD.queue, -1);
    END IF;
    IF NEW.status = 'dead' THEN
        INSERT INTO jobq_dead_deltas (queue, delta) VALUES (NEW.queue, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION jobq_count_dead_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobq_dead_deltas (queue, delta)
    SELECT queue, -count(*) FROM deleted WHERE status = 'dead' GROUP BY queue;
    RETURN NULL;
END;
$$;

CREATE FUNCTION jobq_reset_dead_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobq_dead_deltas;
    DELETE FROM jobq_dead_counts;
    RETURN NULL;
END;
$$;

-- The WHEN conditions are checked without calling the function: a job that never dies
-- costs nothing here. Deletes (pruning, many rows at once) add one delta per queue per statement.
CREATE TRIGGER jobq_jobs_dead_inserted AFTER INSERT ON jobq_jobs
    FOR EACH ROW WHEN (NEW.status = 'dead') EXECUTE FUNCTION jobq_count_dead();
CREATE TRIGGER jobq_jobs_dead_changed AFTER UPDATE OF status, queue ON jobq_jobs
    FOR EACH ROW WHEN ((OLD.status = 'dead' OR NEW.status = 'dead')
                       AND (OLD.status, OLD.queue) IS DISTINCT FROM (NEW.status, NEW.queue))
    EXECUTE FUNCTION jobq_count_dead();
CREATE TRIGGER jobq_jobs_dead_deleted AFTER DELETE ON jobq_jobs
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION jobq_count_dead_deleted();
CREATE TRIGGER jobq_jobs_truncated AFTER TRUNCATE ON jobq_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobq_reset_dead_counts();

-- Every change made through the API that is not a plain submit: who (the key's name and
-- id, kept after the key is revoked), what (`job.cancel`, `queue.pause`, ...), to what
-- (a job id, a queue or schedule name, a key id) and when; GET /v1/audit reads it.
CREATE TABLE jobq_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    key_id    uuid,
    key_name  text NOT NULL,
    action    text NOT NULL,
    target    text,
    detail    jsonb
);

CREATE INDEX jobq_audit_at ON jobq_audit (at DESC, id DESC);
CREATE INDEX jobq_audit_action ON jobq_audit (action, at DESC, id DESC);
CREATE INDEX jobq_audit_target ON jobq_audit (target, at DESC, id DESC);

-- Bulk operations: one action on every job a filter matched. Made as a preview (how many
-- match), confirmed, then run by the leader a batch at a time, newest job first from
-- (position_at, position_id): a batch's changes and the new position commit together,
-- so a new leader goes on where the last one stopped, and a job is looked at once.
-- `search` is the filter as the walk reads it; `filter` as the request gave it.
CREATE TABLE jobq_bulk_operations (
    id            uuid PRIMARY KEY,
    action        text NOT NULL CHECK (action IN ('cancel', 'retry', 'delete', 'set_priority')),
    priority      smallint CHECK (priority BETWEEN -100 AND 100),
    filter        jsonb NOT NULL,
    search        jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'preview'
                  CHECK (status IN ('preview', 'running', 'done', 'cancelled')),
    matched       bigint NOT NULL,
    matched_exact boolean NOT NULL,
    processed     bigint NOT NULL DEFAULT 0,
    changed       bigint NOT NULL DEFAULT 0,
    skipped       bigint NOT NULL DEFAULT 0,
    position_at   timestamptz,
    position_id   uuid,
    key_id        uuid,
    key_name      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_at  timestamptz,
    finished_at   timestamptz,
    CHECK ((action = 'set_priority') = (priority IS NOT NULL))
);

CREATE INDEX jobq_bulk_operations_created ON jobq_bulk_operations (created_at DESC, id DESC);
CREATE INDEX jobq_bulk_operations_running ON jobq_bulk_operations (confirmed_at) WHERE status = 'running';
