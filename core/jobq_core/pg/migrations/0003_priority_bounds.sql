-- A job's priority within the bounds the API enforces (jobq_core.model.priority), so a
-- row written behind the API's back cannot sort outside the queue's score range.
ALTER TABLE jobq_jobs ADD CONSTRAINT jobq_jobs_priority_check CHECK (priority BETWEEN -100 AND 100);
