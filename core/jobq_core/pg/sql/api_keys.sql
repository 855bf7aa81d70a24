-- Named queries on jobq_api_keys. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: insert_api_key
INSERT INTO jobq_api_keys (id, name, key_hash, scopes) VALUES ($1, $2, $3, $4)
RETURNING id, name, scopes, created_at, revoked_at;

-- name: find_api_key
SELECT id, name, scopes FROM jobq_api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: count_admin_keys
SELECT count(*) FROM jobq_api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL;

-- name: list_api_keys
-- Every key, revoked ones too, newest first; never the hash.
SELECT id, name, scopes, created_at, revoked_at FROM jobq_api_keys ORDER BY created_at DESC, id DESC;

-- name: revoke_api_key
-- The key's hash is returned for the API's own cache, never shown.
UPDATE jobq_api_keys SET revoked_at = now()
WHERE id = $1 AND revoked_at IS NULL
RETURNING id, name, scopes, created_at, revoked_at, key_hash;

-- name: get_api_key
SELECT id, name, scopes, created_at, revoked_at, key_hash FROM jobq_api_keys WHERE id = $1;
