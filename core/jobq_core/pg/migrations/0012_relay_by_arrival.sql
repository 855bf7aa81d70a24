-- The dispatch relay reads queued jobs by when they were put to wait (run_at: a submit,
-- a promotion, a retry, a hand-back or a rescue each sets it), so its periodic sweep reads
-- the jobs that arrived since the last one instead of the whole backlog (worker/jobq_worker
-- leader.py). The same index, from its start, serves a full sweep. It replaces the one in
-- id order: a partial index either way, so the hot path pays the same.
CREATE INDEX jobq_jobs_queued_since ON jobq_jobs (run_at, id) WHERE status = 'queued';
DROP INDEX jobq_jobs_queued;
