"""Job types, workers, the probes and the OpenAPI document."""

from __future__ import annotations

import httpx

from tests.integration.conftest import StartWorker

V1_PATHS = {
    "/v1/jobs",
    "/v1/jobs/batch",
    "/v1/jobs/{job_id}",
    "/v1/jobs/{job_id}/cancel",
    "/v1/jobs/{job_id}/retry",
    "/v1/queues",
    "/v1/queues/{name}/pause",
    "/v1/queues/{name}/resume",
    "/v1/job-types",
    "/v1/workers",
    "/v1/me",
}


async def test_job_types_lists_the_built_ins_with_their_payload_schema(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await api.get("/v1/job-types", headers=auth)

    assert response.status_code == 200, response.text
    types = {t["name"]: t for t in response.json()["job_types"]}
    assert {"jobq.noop", "jobq.sleep", "jobq.fail"} <= set(types)
    sleep = types["jobq.sleep"]
    assert (sleep["queue"], sleep["max_attempts"], sleep["timeout_s"]) == ("default", 3, 3700)
    assert sleep["description"]
    schema = sleep["payload_schema"]
    assert schema["required"] == ["seconds"]
    assert schema["properties"]["seconds"]["type"] == "number"


async def test_workers_lists_a_running_worker_as_alive_with_its_queues(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    service = await start_worker()

    response = await api.get("/v1/workers", headers=auth)

    assert response.status_code == 200, response.text
    [worker] = response.json()["workers"]
    assert worker["pid"] == service.process.pid
    assert worker["alive"] is True
    assert worker["stopped_at"] is None
    assert "default" in worker["queues"]
    assert {"jobq.noop", "jobq.sleep", "jobq.fail"} <= set(worker["job_types"])
    assert worker["running"] == 0


async def test_workers_is_empty_without_workers(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.get("/v1/workers", headers=auth)

    assert (response.status_code, response.json()) == (200, {"workers": []})


async def test_healthz_answers_without_a_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_both_backends_ok(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_openapi_lists_every_v1_path(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "jobq"
    assert set(document["paths"]) >= V1_PATHS
    assert set(document["paths"]["/v1/jobs/{job_id}"]) == {"get", "delete"}
