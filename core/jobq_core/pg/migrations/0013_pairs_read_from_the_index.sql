-- A list with two filters (status=succeeded&tag=trial, queue=maintenance&type=...) walked
-- one filter's index and read each job from the table to check the other: at ten million
-- jobs, 7,000 table reads for a page of a tag on 0.7 % of them, 130–290 ms. Each filter's
-- index now carries the other filters' columns, so the walk checks them in the index
-- (an index-only scan) and reads from the table only the page it found (job_search's
-- pages of ids): 0.5 ms for the same page. The indexes are wider (status's 559 → 876 MB
-- at ten million jobs); the same ones are written as before (`make bench-index-cost`).
-- On a large table these builds hold writes to jobq_jobs until they finish.
DROP INDEX jobq_jobs_status_created;
CREATE INDEX jobq_jobs_status_created ON jobq_jobs (status, created_at DESC, id DESC) INCLUDE (queue, type, tags);
DROP INDEX jobq_jobs_queue_created;
CREATE INDEX jobq_jobs_queue_created ON jobq_jobs (queue, created_at DESC, id DESC) INCLUDE (status, type, tags);
DROP INDEX jobq_jobs_type_created;
CREATE INDEX jobq_jobs_type_created ON jobq_jobs (type, created_at DESC, id DESC) INCLUDE (status, queue, tags);
