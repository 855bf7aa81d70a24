"""`jobq run`'s mail catcher: a real worker sends `email.send` to the real catcher (aiosmtpd,
a child process), and `GET /v1/local/mail` lists what it kept; without
`JOBQ_LOCAL_MAIL_DIR` the routes do not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from jobq_devrun.servers import LocalServer, start_mail_catcher

from jobq_api.app import create_app
from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.integration.api_helpers import assert_problem, not_found_from_handler, routed
from tests.integration.conftest import StartWorker, api_settings, wait_for_status

SENDER = "jobq@example.com"


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[LocalServer]:
    """The mail catcher `jobq run` starts, keeping messages under `tmp_path/mail`."""
    server = start_mail_catcher(tmp_path / "mail")
    yield server
    server.stop()
    assert server.process.returncode == 0, (tmp_path / "mail-catcher.log").read_text()


@pytest.fixture
async def local_api(servers: Servers, builtin_types: None, catcher: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `jobq run` starts it: listing what the catcher keeps."""
    app = create_app(api_settings(servers, local_mail_dir=catcher.data_dir))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobq.test") as client:
            yield client


@pytest.fixture
async def mail_worker(start_worker: StartWorker, catcher: LocalServer) -> None:
    """A worker sending email to the catcher, as `jobq run` points its workers."""
    await start_worker(JOBQ_SMTP_URL=catcher.url, JOBQ_SMTP_FROM=SENDER)


async def send(api: httpx.AsyncClient, auth: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
    """Submit an `email.send` job; return it once it succeeded."""
    response = await api.post("/v1/jobs", json={"type": "email.send", "payload": payload}, headers=auth)
    assert response.status_code == 201, response.text
    job = await wait_for_status(api, auth, response.json()["id"], {"succeeded", "dead"})
    assert job["status"] == "succeeded", job["error"]
    return job


@pytest.mark.usefixtures("mail_worker")
async def test_an_email_job_is_caught_and_listed_with_its_envelope_headers_and_both_bodies(
    local_api: httpx.AsyncClient, auth: dict[str, str], catcher: LocalServer
) -> None:
    payload = {
        "to": ["alice@example.com"],
        "cc": ["carol@example.com"],
        "bcc": ["hidden@example.com"],
        "from": "news@example.com",
        "reply_to": "support@example.com",
        "subject": "Résumé ready",
        "text": "Plain words\n",
        "html": "<p>Rich <b>words</b></p>\n",
        "headers": {"X-Campaign": "spring"},
    }
    sent_at = datetime.now(UTC)
    job = await send(local_api, auth, payload)

    response = await local_api.get("/v1/local/mail", headers=auth)
    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["total"] == 1
    [mail] = listed["messages"]
    assert mail["sender"] == "news@example.com"
    assert mail["recipients"] == ["alice@example.com", "carol@example.com", "hidden@example.com"]
    assert mail["subject"] == "Résumé ready"
    assert mail["message_id"] == f"<{job['id']}@jobq>" == job["result"]["message_id"]
    assert mail["text"] == "Plain words\n"
    assert mail["html"] == "<p>Rich <b>words</b></p>\n"
    window = (sent_at - timedelta(seconds=2), datetime.now(UTC) + timedelta(seconds=2))
    assert window[0] <= datetime.fromisoformat(mail["received_at"]) <= window[1]
    assert window[0] - timedelta(seconds=1) <= datetime.fromisoformat(mail["date"]) <= window[1]
    names = [h["name"] for h in mail["headers"]]
    assert names[:8] == ["From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "X-Campaign"]
    headers = {h["name"]: h["value"] for h in mail["headers"]}
    assert headers["Reply-To"] == "support@example.com"
    assert headers["X-Campaign"] == "spring"
    assert headers["Content-Type"].startswith("multipart/alternative")
    assert "Bcc" not in headers, "the Bcc header travelled with the message"
    assert not [n for n in names if n.startswith("X-Jobq-Envelope")], "the catcher's envelope leaked into headers"

    one = await local_api.get(f"/v1/local/mail/{mail['id']}", headers=auth)
    assert one.status_code == 200, one.text
    assert one.json() == mail
    kept = message_from_bytes((catcher.data_dir / f"{mail['id']}.eml").read_bytes(), policy=policy.default)
    assert kept["Message-ID"] == mail["message_id"]


@pytest.mark.usefixtures("mail_worker")
async def test_the_list_is_newest_first_limited_and_counts_every_message(
    local_api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for n in range(3):
        await send(local_api, auth, {"to": ["dave@example.com"], "subject": f"number {n}", "text": "x"})

    listed = (await local_api.get("/v1/local/mail", params={"limit": 2}, headers=auth)).json()

    assert listed["total"] == 3
    assert [m["subject"] for m in listed["messages"]] == ["number 2", "number 1"]
    text_only = listed["messages"][0]
    assert (text_only["text"], text_only["html"]) == ("x\n", None)


@pytest.mark.parametrize("limit", [0, 201])
async def test_a_limit_out_of_range_is_a_422_naming_it(
    local_api: httpx.AsyncClient, auth: dict[str, str], limit: int
) -> None:
    response = await local_api.get("/v1/local/mail", params={"limit": limit}, headers=auth)

    assert_problem(response, 422, "limit")


async def test_an_id_the_catcher_does_not_hold_is_the_handlers_404(
    local_api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await local_api.get("/v1/local/mail/1-1", headers=auth)

    assert response.status_code == 404
    assert response.json() == not_found_from_handler("caught message", "/v1/local/mail/1-1")


@pytest.mark.parametrize("mail_id", ["..%2Foutside", "outside", "%2E%2E%2Foutside"])
async def test_no_file_but_a_caught_message_is_read_neither_beside_nor_inside_its_folder(
    local_api: httpx.AsyncClient, auth: dict[str, str], catcher: LocalServer, mail_id: str
) -> None:
    (catcher.data_dir.parent / "outside.eml").write_bytes(b"Subject: not caught\n\nsecret\n")
    (catcher.data_dir / "outside.eml").write_bytes(b"Subject: not named by an id\n\nsecret\n")

    response = await local_api.get(f"/v1/local/mail/{mail_id}", headers=auth)

    assert_problem(response, 404)
    assert "secret" not in response.text
    listed = (await local_api.get("/v1/local/mail", headers=auth)).json()
    assert listed == {"messages": [], "total": 0}


async def test_reading_caught_mail_needs_a_key_with_the_read_scope(
    local_api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    writer = await apikeys.create(db, "writer", [Scope.JOBS_WRITE])
    reader = await apikeys.create(db, "reader", [Scope.JOBS_READ])

    assert (await local_api.get("/v1/local/mail")).status_code == 401
    refused = await local_api.get("/v1/local/mail", headers={"Authorization": f"Bearer {writer}"})
    assert_problem(refused, 403)
    allowed = await local_api.get("/v1/local/mail", headers={"Authorization": f"Bearer {reader}"})
    assert allowed.status_code == 200


async def test_without_the_setting_the_routes_do_not_exist(
    api: httpx.AsyncClient, local_api: httpx.AsyncClient, auth: dict[str, str], servers: Servers, tmp_path: Path
) -> None:
    for path in ["/v1/local/mail", "/v1/local/mail/1-1"]:
        response = await api.get(path, headers=auth)
        assert_problem(response, 404)
        assert response.json()["detail"] != not_found_from_handler("caught message", path)["detail"]
    for template in ["/v1/local/mail", "/v1/local/mail/{mail_id}"]:
        assert not routed(api_settings(servers), "GET", template)
        assert routed(api_settings(servers, local_mail_dir=tmp_path), "GET", template)
    document = (await api.get("/openapi.json")).json()
    local_document = (await local_api.get("/openapi.json")).json()

    assert not [p for p in document["paths"] if p.startswith("/v1/local")]
    assert "CaughtMailOut" not in document["components"]["schemas"]
    # The same check finds them where `jobq run` sets the setting: it looks in the right place.
    assert {"/v1/local/mail", "/v1/local/mail/{mail_id}"} <= set(local_document["paths"])
    assert "CaughtMailOut" in local_document["components"]["schemas"]
