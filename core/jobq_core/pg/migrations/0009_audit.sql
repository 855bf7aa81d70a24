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
