-- Named queries on jobq_api_keys. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: insert_api_key
INSERT INTO jobq_api_keys (id, name, key_hash, scopes) VALUES ($1, $2, $3, $4);

-- name: api_key_scopes
SELECT id, name, scopes FROM jobq_api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: count_admin_keys
SELECT count(*) FROM jobq_api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL;
