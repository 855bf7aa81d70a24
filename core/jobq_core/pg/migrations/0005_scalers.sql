-- The autoscaler's view for the dashboard: what the operator observed and decided, per
-- WorkerScaler, written by the operator and read by GET /v1/scalers (the API needs no
-- Kubernetes permissions). The operator prunes them: samples after 8 days, decisions
-- after 7 days or beyond a scaler's latest 200.

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
