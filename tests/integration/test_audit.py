"""The audit log: every change made through the API but a plain submit, with the key that
made it, the action, its target and the time; read back through GET /v1/audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import redis.asyncio as aioredis

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.integration.api_helpers import Json, assert_problem, set_job, submit


async def log(api: httpx.AsyncClient, auth: dict[str, str], **params: object) -> list[Json]:
    response = await api.get("/v1/audit", params=params, headers=auth)
    assert response.status_code == 200, response.text
    entries: list[Json] = response.json()["entries"]
    return entries


async def test_each_change_is_recorded_with_its_key_action_and_target(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    started = datetime.now(UTC)
    operator = {"Authorization": f"Bearer {await apikeys.create(db, 'on-call ada', [Scope.JOBS_WRITE])}"}
    waiting = await submit(api, operator, type="jobq.noop", delay_s=60)
    dead = await submit(api, operator, type="jobq.noop")
    await redis_client.flushall()
    await set_job(db, dead["id"], "dead", attempts=3)

    assert (await api.post(f"/v1/jobs/{waiting['id']}/run-now", headers=operator)).status_code == 200
    assert (await api.post(f"/v1/jobs/{waiting['id']}/cancel", headers=operator)).status_code == 200
    assert (await api.post(f"/v1/jobs/{dead['id']}/retry", headers=operator)).status_code == 200
    assert (await api.delete(f"/v1/jobs/{waiting['id']}", headers=operator)).status_code == 204
    assert (await api.post("/v1/queues/email/pause", headers=auth)).status_code == 200
    assert (await api.post("/v1/queues/email/resume", headers=auth)).status_code == 200
    schedule = {"name": "nightly", "cron": "0 3 * * *", "timezone": "UTC", "job": {"type": "jobq.noop"}}
    created = (await api.post("/v1/schedules", json=schedule, headers=operator)).json()
    patched = await api.patch(f"/v1/schedules/{created['id']}", json={"cron": "0 4 * * *"}, headers=operator)
    assert patched.status_code == 200, patched.text
    assert (await api.post(f"/v1/schedules/{created['id']}/run", headers=operator)).status_code == 201
    assert (await api.delete(f"/v1/schedules/{created['id']}", headers=operator)).status_code == 204
    key = (await api.post("/v1/api-keys", json={"name": "ci", "scopes": ["jobs:read"]}, headers=auth)).json()
    assert (await api.delete(f"/v1/api-keys/{key['id']}", headers=auth)).status_code == 200

    entries = await log(api, auth)

    recorded = [(e["key_name"], e["action"], e["target"]) for e in reversed(entries)]
    assert recorded == [
        ("on-call ada", "job.run_now", waiting["id"]),
        ("on-call ada", "job.cancel", waiting["id"]),
        ("on-call ada", "job.retry", dead["id"]),
        ("on-call ada", "job.delete", waiting["id"]),
        ("test admin", "queue.pause", "email"),
        ("test admin", "queue.resume", "email"),
        ("on-call ada", "schedule.create", created["id"]),
        ("on-call ada", "schedule.update", created["id"]),
        ("on-call ada", "schedule.run", created["id"]),
        ("on-call ada", "schedule.delete", created["id"]),
        ("test admin", "key.create", key["id"]),
        ("test admin", "key.revoke", key["id"]),
    ]
    by_action = {e["action"]: e for e in entries}
    assert by_action["schedule.update"]["detail"] == {"name": "nightly", "changed": {"cron": "0 4 * * *"}}
    assert by_action["key.create"]["detail"] == {"name": "ci", "scopes": ["jobs:read"]}
    assert all(started - timedelta(seconds=1) < datetime.fromisoformat(e["at"]) <= datetime.now(UTC) for e in entries)
    assert len({e["key_id"] for e in entries}) == 2


async def test_submits_reads_and_refused_changes_are_not_recorded(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    job = await submit(api, auth, type="jobq.noop")
    await api.post("/v1/jobs/batch", json={"jobs": [{"type": "jobq.noop"}]}, headers=auth)
    await api.get(f"/v1/jobs/{job['id']}", headers=auth)
    refused = await api.post(f"/v1/jobs/{job['id']}/retry", headers=auth)  # queued: nothing to retry
    assert refused.status_code == 409

    assert await log(api, auth) == []


async def test_the_log_is_filtered_and_paged_newest_first(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    for queue in ("a", "b", "c"):
        for path in ("pause", "resume"):
            assert (await api.post(f"/v1/queues/{queue}/{path}", headers=auth)).status_code == 200
    await apikeys.create(db, "someone else", [Scope.ADMIN])

    pauses = await log(api, auth, action="queue.pause")
    assert [e["target"] for e in pauses] == ["c", "b", "a"]
    assert [e["action"] for e in await log(api, auth, target="b")] == ["queue.resume", "queue.pause"]
    assert len(await log(api, auth, key_name="test admin")) == 6
    assert await log(api, auth, key_name="someone else") == []
    assert await log(api, auth, after=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == []

    seen: list[int] = []
    params: dict[str, object] = {"limit": 4}
    while True:
        page = (await api.get("/v1/audit", params=params, headers=auth)).json()
        seen += [e["id"] for e in page["entries"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 6


async def test_only_admin_keys_read_the_log_and_bad_input_is_named(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Pool
) -> None:
    writer = {"Authorization": f"Bearer {await apikeys.create(db, 'writer', [Scope.JOBS_WRITE])}"}
    assert (await api.get("/v1/audit", headers=writer)).status_code == 403

    assert_problem(await api.get("/v1/audit", params={"cursor": "not-ours"}, headers=auth), 400, "cursor")
    assert_problem(await api.get("/v1/audit", params={"action": "job.explode"}, headers=auth), 422, "action")
    assert_problem(await api.get("/v1/audit", params={"limit": 0}, headers=auth), 422, "limit")
