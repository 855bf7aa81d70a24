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
