"""`GET /v1/jobs/export`: every matching job in one download, JSON lines or CSV, read a page at a time."""

from __future__ import annotations

import csv
import io

import httpx
import orjson
import pytest

from jobq_api.routes import jobs as job_routes
from tests.integration.api_helpers import Json, assert_problem, submit_batch


async def every_listed_id(api: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str]) -> list[str]:
    """The ids `GET /v1/jobs` lists for `params`, every page followed."""
    ids: list[str] = []
    cursor = None
    while True:
        page = (await api.get("/v1/jobs", params={**params, "limit": 500, "cursor": cursor or ""}, headers=auth)).json()
        ids += [j["id"] for j in page["jobs"]]
        if not (cursor := page["next_cursor"]):
            return ids


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    """Export pages of 7 jobs: a few dozen jobs cross several page boundaries."""
    monkeypatch.setattr(job_routes, "EXPORT_PAGE", 7)
    return 7


async def seeded(api: httpx.AsyncClient, auth: dict[str, str]) -> list[Json]:
    # One batch shares its created_at: the pages' edges fall between jobs of equal time.
    jobs = [{"type": "jobq.noop", "queue": "mail", "payload": {"n": n}, "tags": ["export"]} for n in range(30)]
    jobs += [{"type": "jobq.noop", "queue": "default", "payload": {"n": n}} for n in range(16)]
    return (await submit_batch(api, auth, jobs))["jobs"]


@pytest.mark.parametrize("params", [{}, {"queue": "mail"}, {"tag": "export"}, {"queue": "default"}])
async def test_an_export_holds_every_job_the_list_does_in_its_order_across_pages(
    api: httpx.AsyncClient, auth: dict[str, str], small_pages: int, params: dict[str, str]
) -> None:
    await seeded(api, auth)
    response = await api.get("/v1/jobs/export", params=params, headers=auth)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"] == 'attachment; filename="jobs.jsonl"'
    exported = [orjson.loads(line) for line in response.content.splitlines()]
    listed = await every_listed_id(api, auth, params)
    assert len(listed) > 2 * small_pages
    assert [j["id"] for j in exported] == listed
    one = (await api.get(f"/v1/jobs/{listed[0]}", headers=auth)).json()
    one.pop("history")
    assert exported[0] == one  # each line is the job's own document


async def test_a_csv_export_has_a_header_and_a_row_per_job_with_json_for_structured_fields(
    api: httpx.AsyncClient, auth: dict[str, str], small_pages: int
) -> None:
    jobs = await seeded(api, auth)
    response = await api.get("/v1/jobs/export", params={"format": "csv", "queue": "mail"}, headers=auth)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {j["id"]: j for j in jobs if j["queue"] == "mail"}
    assert sorted(r["id"] for r in rows) == sorted(by_id)
    for row in rows:
        assert orjson.loads(row["payload"]) == by_id[row["id"]]["payload"]
        assert orjson.loads(row["tags"]) == ["export"]
        assert row["finished_at"] == "" and row["error"] == ""  # null is an empty field
        assert row["status"] == by_id[row["id"]]["status"]


async def test_an_export_of_nothing_is_empty_and_a_csv_keeps_its_header(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    empty = await api.get("/v1/jobs/export", params={"queue": "nowhere"}, headers=auth)
    csv_empty = await api.get("/v1/jobs/export", params={"queue": "nowhere", "format": "csv"}, headers=auth)

    assert (empty.status_code, empty.content) == (200, b"")
    assert csv_empty.status_code == 200
    assert next(csv.reader(io.StringIO(csv_empty.text))) == list(job_routes.views.CSV_COLUMNS)


async def test_an_export_asked_for_wrongly_is_refused_naming_the_parameter(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert_problem(await api.get("/v1/jobs/export", params={"format": "xlsx"}, headers=auth), 422, "format")
    assert_problem(await api.get("/v1/jobs/export", params={"status": "lost"}, headers=auth), 422, "status[0]")
    assert (await api.get("/v1/jobs/export")).status_code == 401
