-- Named queries on jobq_scaler_samples and jobq_scaler_decisions: what the operator
-- observed and decided per WorkerScaler, read back by GET /v1/scalers. Each starts with
-- "-- name: NAME" and runs until the next one. Only the operator writes them
-- (operator/jobq_operator/records.py); times are the database's clock.

-- name: record_scaler_sample
-- One loop of WorkerScaler ($1, $2) at $7 (NULL: now): $3 replicas found, $4 the policy's
-- answer, $5 ready jobs, $6 the oldest ready job's age. Upserted into the loop's minute:
-- replicas, ready and age keep the minute's highest, latest_* and observed_at its last loop.
INSERT INTO jobq_scaler_samples AS s (namespace, name, minute, current_replicas, desired_replicas, ready,
                                      oldest_ready_age_s, latest_current_replicas, latest_desired_replicas,
                                      observed_at)
SELECT $1, $2, date_bin(interval '1 minute', t.at, timestamptz 'epoch'), $3, $4, $5, $6, $3, $4, t.at
FROM (SELECT coalesce($7::timestamptz, now()) AS at) AS t
ON CONFLICT (namespace, name, minute) DO UPDATE
SET current_replicas = greatest(s.current_replicas, excluded.current_replicas),
    desired_replicas = greatest(s.desired_replicas, excluded.desired_replicas),
    ready = greatest(s.ready, excluded.ready),
    oldest_ready_age_s = greatest(s.oldest_ready_age_s, excluded.oldest_ready_age_s),
    latest_current_replicas = CASE WHEN excluded.observed_at >= s.observed_at
                                   THEN excluded.latest_current_replicas ELSE s.latest_current_replicas END,
    latest_desired_replicas = CASE WHEN excluded.observed_at >= s.observed_at
                                   THEN excluded.latest_desired_replicas ELSE s.latest_desired_replicas END,
    observed_at = greatest(s.observed_at, excluded.observed_at);

-- name: record_scaler_decision
-- WorkerScaler ($1, $2) went (or held, $3 = $4) from $3 to $4 replicas at $7 (NULL: now),
-- for reason $5 with the policy's message $6.
INSERT INTO jobq_scaler_decisions (namespace, name, at, from_replicas, to_replicas, reason, message)
VALUES ($1, $2, coalesce($7::timestamptz, now()), $3, $4, $5, $6);

-- name: prune_scaler_samples
-- Samples of every WorkerScaler (deleted ones too) older than $1 seconds.
DELETE FROM jobq_scaler_samples WHERE minute < now() - make_interval(secs => $1::float8);

-- name: prune_scaler_decisions
-- Decisions of every WorkerScaler older than $1 seconds, or beyond its latest $2.
WITH ranked AS (
    SELECT id, at, row_number() OVER (PARTITION BY namespace, name ORDER BY at DESC, id DESC) AS rank
    FROM jobq_scaler_decisions
)
DELETE FROM jobq_scaler_decisions d USING ranked r
WHERE d.id = r.id AND (r.at < now() - make_interval(secs => $1::float8) OR r.rank > $2);

-- name: scalers_clock
-- The database's clock, which the samples' minutes are on.
SELECT now();

-- name: scalers_seen
-- Each WorkerScaler with a sample in [$1, $2): the replicas of its latest loop and when that was.
SELECT DISTINCT ON (namespace, name)
       namespace, name, latest_current_replicas AS current_replicas,
       latest_desired_replicas AS desired_replicas, observed_at AS last_seen_at
FROM jobq_scaler_samples
WHERE minute >= $1 AND minute < $2
ORDER BY namespace, name, minute DESC;

-- name: scaler_samples_window
-- The samples in [$1, $2) per WorkerScaler in buckets of $3 seconds (on whole multiples of
-- the length since the Unix epoch), each number the bucket's highest; only buckets with a
-- sample, oldest first.
SELECT namespace, name, date_bin(make_interval(secs => $3::float8), minute, timestamptz 'epoch') AS at,
       max(current_replicas) AS current_replicas, max(desired_replicas) AS desired_replicas,
       max(ready) AS ready, max(oldest_ready_age_s) AS oldest_ready_age_s
FROM jobq_scaler_samples
WHERE minute >= $1 AND minute < $2
GROUP BY namespace, name, 3
ORDER BY namespace, name, 3;

-- name: scaler_decisions_latest
-- The latest $3 decisions of each WorkerScaler ($1[i], $2[i]), newest first.
SELECT s.namespace, s.name, d.at, d.from_replicas, d.to_replicas, d.reason, d.message
FROM unnest($1::text[], $2::text[]) AS s (namespace, name)
CROSS JOIN LATERAL (
    SELECT id, at, from_replicas, to_replicas, reason, message FROM jobq_scaler_decisions
    WHERE namespace = s.namespace AND name = s.name
    ORDER BY at DESC, id DESC
    LIMIT $3
) AS d
ORDER BY s.namespace, s.name, d.at DESC, d.id DESC;
