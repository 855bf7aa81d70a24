-- Lists and searches that read an index, not the table, at millions of jobs
-- (jobq_core.pg.job_search). Every list is newest first, so each filter's index ends in
-- (created_at DESC, id DESC): a page is read in order and the read stops at its limit.
-- On a large table these builds hold writes to jobq_jobs until they finish (8–18 s at a
-- million jobs on a 2-core machine, `make bench-scale`; README "At a million jobs").

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX jobq_jobs_status_created ON jobq_jobs (status, created_at DESC, id DESC);
CREATE INDEX jobq_jobs_queue_created ON jobq_jobs (queue, created_at DESC, id DESC);
-- Was (type, created_at DESC): the id makes a cursor's position exact.
DROP INDEX jobq_jobs_type_created;
CREATE INDEX jobq_jobs_type_created ON jobq_jobs (type, created_at DESC, id DESC);
-- Payload containment (`payload @> '{"user": {"id": 123}}'`): jsonb_path_ops indexes each
-- path-to-value once, smaller and faster for @> than the default operator class.
CREATE INDEX jobq_jobs_payload ON jobq_jobs USING gin (payload jsonb_path_ops);
-- Text in the last error's message (ILIKE '%...%'), by trigrams; only jobs with an error
-- are in it, so a job that succeeds the first time never writes to it.
CREATE INDEX jobq_jobs_error_message ON jobq_jobs USING gin ((error ->> 'message') gin_trgm_ops)
    WHERE error IS NOT NULL;
