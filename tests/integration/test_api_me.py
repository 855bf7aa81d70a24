"""`GET /v1/me`: the calling key's name and scopes, and what it may do, for the dashboard to mirror."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.integration.api_helpers import assert_problem


@pytest.mark.parametrize(
    ("scopes", "can"),
    [
        ([Scope.ADMIN], (True, True, True)),
        ([Scope.JOBS_WRITE], (False, True, False)),
        ([Scope.JOBS_READ], (True, False, False)),
        ([Scope.JOBS_READ, Scope.JOBS_WRITE], (True, True, False)),
    ],
    ids=["admin", "write", "read", "read-write"],
)
async def test_a_key_sees_its_own_name_scopes_and_powers(
    api: httpx.AsyncClient, db: asyncpg.Pool, scopes: list[Scope], can: tuple[bool, bool, bool]
) -> None:
    key = await apikeys.create(db, "ci deploys", scopes)
    await apikeys.create(db, "someone else", [Scope.ADMIN])

    response = await api.get("/v1/me", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200, response.text
    me = response.json()
    key_id = await db.fetchval("SELECT id::text FROM jobq_api_keys WHERE name = 'ci deploys'")
    assert me == {
        "id": key_id,
        "name": "ci deploys",
        "scopes": [str(s) for s in scopes],
        "can_read": can[0],
        "can_write": can[1],
        "can_admin": can[2],
    }
    assert key not in response.text


async def test_what_me_says_a_key_may_do_is_what_the_api_lets_it_do(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    for scope in Scope:
        headers = {"Authorization": f"Bearer {await apikeys.create(db, str(scope), [scope])}"}
        me = (await api.get("/v1/me", headers=headers)).json()

        read = await api.get("/v1/queues", headers=headers)
        write = await api.post("/v1/jobs", json={"type": "jobq.noop"}, headers=headers)
        admin = await api.post("/v1/queues/default/pause", headers=headers)

        assert (read.status_code == 200, write.status_code == 201, admin.status_code == 200) == (
            me["can_read"],
            me["can_write"],
            me["can_admin"],
        ), scope


async def test_me_without_a_key_is_a_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/me")

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_me_with_a_revoked_key_is_a_401(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    headers = {"Authorization": f"Bearer {await apikeys.create(db, 'gone', [Scope.ADMIN])}"}
    assert (await api.get("/v1/me", headers=headers)).status_code == 200
    await db.execute("UPDATE jobq_api_keys SET revoked_at = now()")

    response = await api.get("/v1/me", headers=headers)

    problem = assert_problem(response, 401)
    assert "revoked" in problem["detail"]


async def test_me_is_in_the_openapi_document_with_its_model(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()

    operation = document["paths"]["/v1/me"]["get"]
    schema_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    model = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(model["properties"]) == {"id", "name", "scopes", "can_read", "can_write", "can_admin"}
    assert operation["security"], "the document says it needs a key"
