"""`/v1/api-keys`: admins list, create and revoke keys; a revoked key is refused at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.api_helpers import PROBLEM_TYPE_BASE, assert_problem
from tests.integration.conftest import _client, api_settings
from tests.support.wait import until

KEY_FIELDS = {"id", "name", "scopes", "created_at", "revoked_at"}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(api: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await api.post("/v1/api-keys", json={"name": "ci", "scopes": ["jobs:write"], **body}, headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def caching_api(servers: Servers, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed: verified keys are remembered for five minutes."""
    async for client in _client(api_settings(servers, api_key_cache_s=300)):
        yield client


async def test_a_created_key_is_shown_once_with_its_secret_and_works_at_once(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    response = await api.post(
        "/v1/api-keys", json={"name": "deploys", "scopes": ["jobs:read", "jobs:write", "jobs:read"]}, headers=auth
    )

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    key = response.json()
    assert set(key) == KEY_FIELDS | {"secret"}
    assert (key["name"], key["scopes"], key["revoked_at"]) == ("deploys", ["jobs:read", "jobs:write"], None)
    assert key["secret"].startswith("jobq_")
    me = await api.get("/v1/me", headers=bearer(key["secret"]))
    assert me.status_code == 200, me.text
    assert (me.json()["id"], me.json()["can_write"], me.json()["can_admin"]) == (key["id"], True, False)
    stored = await db.fetchrow("SELECT * FROM jobq_api_keys WHERE id = $1::uuid", key["id"])
    assert stored["key_hash"] == apikeys.hash_key(key["secret"])
    assert key["secret"] not in str(dict(stored))


async def test_the_list_shows_every_key_and_never_a_secret_or_hash(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    first = await create(api, auth, name="first")
    second = await create(api, auth, name="second", scopes=["admin"])
    assert (await api.delete(f"/v1/api-keys/{first['id']}", headers=auth)).status_code == 200

    response = await api.get("/v1/api-keys", headers=auth)

    assert response.status_code == 200, response.text
    listed = response.json()["api_keys"]
    assert [k["name"] for k in listed] == ["second", "first", "test admin"]  # newest first
    assert all(set(k) == KEY_FIELDS for k in listed)
    assert listed[0] == {key: second[key] for key in KEY_FIELDS}
    assert listed[1]["revoked_at"] is not None
    hashes = [r["key_hash"] for r in await db.fetch("SELECT key_hash FROM jobq_api_keys")]
    for secret in [first["secret"], second["secret"], auth["Authorization"].removeprefix("Bearer "), *hashes]:
        assert secret not in response.text


async def test_a_revoked_key_is_refused_at_once_though_this_process_had_cached_it(
    caching_api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await create(caching_api, auth)
    other = await create(caching_api, auth, name="other")
    for secret in (key["secret"], other["secret"]):  # both verified, so both cached
        assert (await caching_api.get("/v1/me", headers=bearer(secret))).status_code == 200

    response = await caching_api.delete(f"/v1/api-keys/{key['id']}", headers=auth)

    assert response.status_code == 200, response.text
    revoked = response.json()
    assert set(revoked) == KEY_FIELDS
    assert (revoked["id"], revoked["name"]) == (key["id"], "ci")
    assert revoked["revoked_at"] is not None
    refused = await caching_api.post("/v1/jobs", json={"type": "jobq.noop"}, headers=bearer(key["secret"]))
    problem = assert_problem(refused, 401)
    assert "revoked" in problem["detail"]
    assert (await caching_api.get("/v1/me", headers=bearer(other["secret"]))).status_code == 200


@pytest.fixture
async def other_process(servers: Servers, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process, which remembers verified keys for 3 seconds."""
    async for client in _client(api_settings(servers, api_key_cache_s=3)):
        yield client


async def test_another_api_process_refuses_a_revoked_key_once_its_cache_time_is_over(
    api: httpx.AsyncClient, other_process: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await create(api, auth)
    assert (await other_process.get("/v1/me", headers=bearer(key["secret"]))).status_code == 200
    assert (await api.delete(f"/v1/api-keys/{key['id']}", headers=auth)).status_code == 200

    # The other process still trusts its cached answer (at most JOBQ_API_KEY_CACHE_S) ...
    assert (await other_process.get("/v1/me", headers=bearer(key["secret"]))).status_code == 200

    async def refused() -> bool:
        return (await other_process.get("/v1/me", headers=bearer(key["secret"]))).status_code == 401

    # ... and then asks the database, which says it is revoked.
    await until(refused, timeout_s=10, what="the other process to refuse the revoked key")


async def test_revoking_is_idempotent_and_keeps_the_first_revocation_time(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await create(api, auth)

    first = await api.delete(f"/v1/api-keys/{key['id']}", headers=auth)
    again = await api.delete(f"/v1/api-keys/{key['id']}", headers=auth)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()


async def test_revoking_an_unknown_key_is_a_404_naming_it(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.delete(f"/v1/api-keys/{UNKNOWN_ID}", headers=auth)

    problem = assert_problem(response, 404)
    assert problem["type"] == PROBLEM_TYPE_BASE + "not-found"
    assert UNKNOWN_ID in problem["detail"]


async def test_a_key_cannot_revoke_itself(api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool) -> None:
    own_id = await db.fetchval("SELECT id::text FROM jobq_api_keys WHERE name = 'test admin'")

    response = await api.delete(f"/v1/api-keys/{own_id}", headers=auth)

    problem = assert_problem(response, 409)
    assert problem["type"] == PROBLEM_TYPE_BASE + "cannot-revoke-own-key"
    assert own_id in problem["detail"]
    assert await db.fetchval("SELECT revoked_at FROM jobq_api_keys WHERE id = $1::uuid", own_id) is None
    assert (await api.get("/v1/api-keys", headers=auth)).status_code == 200


@pytest.mark.parametrize("scope", [Scope.JOBS_READ, Scope.JOBS_WRITE])
async def test_only_admin_keys_manage_keys(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, scope: Scope
) -> None:
    victim = await create(api, auth, name="victim", scopes=["admin"])
    headers = bearer(await apikeys.create(db, "not admin", [scope, Scope.JOBS_READ]))
    keys_before = await db.fetch("SELECT id, revoked_at FROM jobq_api_keys ORDER BY id")

    # Requests a dashboard would never send for such a key, forged by hand.
    listed = await api.get("/v1/api-keys", headers=headers)
    created = await api.post("/v1/api-keys", json={"name": "escalate", "scopes": ["admin"]}, headers=headers)
    revoked = await api.delete(f"/v1/api-keys/{victim['id']}", headers=headers)

    for response in (listed, created, revoked):
        problem = assert_problem(response, 403)
        assert "admin" in problem["detail"]
    assert "api_keys" not in listed.text
    assert await db.fetch("SELECT id, revoked_at FROM jobq_api_keys ORDER BY id") == keys_before
    assert (await api.get("/v1/me", headers=bearer(victim["secret"]))).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/api-keys"), ("POST", "/v1/api-keys"), ("DELETE", f"/v1/api-keys/{UNKNOWN_ID}")]
)
async def test_key_management_needs_a_key(api: httpx.AsyncClient, method: str, path: str) -> None:
    response = await api.request(method, path, json={"name": "x", "scopes": ["admin"]})

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["jobs:read", "root"]}, "scopes[1]"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x"}, "scopes"),
        ({"name": "", "scopes": ["admin"]}, "name"),
        ({"name": "x" * 201, "scopes": ["admin"]}, "name"),
        ({"name": "a\x00b", "scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": ["admin"], "secret": "jobq_mine"}, "secret"),
    ],
    ids=["unknown-scope", "no-scopes", "scopes-missing", "empty-name", "long-name", "nul-in-name", "own-secret"],
)
async def test_a_bad_key_request_is_a_422_naming_the_field_and_creates_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/api-keys", json=body, headers=auth)

    assert_problem(response, 422, field)
    assert await db.fetchval("SELECT count(*) FROM jobq_api_keys") == 1  # the test's admin key


async def test_a_name_of_200_characters_is_accepted(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create(api, auth, name="é" * 200)
    assert key["name"] == "é" * 200


async def test_the_key_routes_are_in_the_openapi_document_without_secrets_in_the_list(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def model(operation: dict[str, Any], status: str) -> dict[str, Any]:
        ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        found: dict[str, Any] = schemas[ref.rsplit("/", 1)[1]]
        return found

    paths = document["paths"]
    assert set(model(paths["/v1/api-keys"]["post"], "201")["properties"]) == KEY_FIELDS | {"secret"}
    assert set(model(paths["/v1/api-keys/{key_id}"]["delete"], "200")["properties"]) == KEY_FIELDS
    listed = model(paths["/v1/api-keys"]["get"], "200")["properties"]["api_keys"]["items"]["$ref"]
    assert set(schemas[listed.rsplit("/", 1)[1]]["properties"]) == KEY_FIELDS
