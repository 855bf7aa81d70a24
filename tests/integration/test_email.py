"""`email.send` through a real worker process to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from jobq_devrun.servers import free_port

from tests.integration.conftest import StartWorker, wait_for_status

SENDER = "jobq@example.com"


@dataclass
class Delivered:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps what it accepts.

    `replies` scripts the answers to the next RCPT or DATA commands (e.g. "550 …");
    once a command's script is used up, it is accepted.
    """

    delivered: list[Delivered] = field(default_factory=list)
    replies: dict[str, list[str]] = field(default_factory=lambda: {"RCPT": [], "DATA": []})
    refusals_sent: list[str] = field(default_factory=list)

    def _scripted(self, command: str) -> str | None:
        if self.replies[command]:
            reply = self.replies[command].pop(0)
            self.refusals_sent.append(f"{command} {reply}")
            return reply
        return None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if reply := self._scripted("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if reply := self._scripted("DATA"):
            return reply
        # SMTP carries CRLF line endings; compare bodies as Python writes them.
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.delivered.append(Delivered(str(envelope.mail_from), list(envelope.rcpt_tos), raw, message))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """The test's SMTP server and the worker setting that points at it."""

    handler: RecordingHandler
    url: str


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """An SMTP server on a free loopback port, recording every message it accepts."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpServer(handler, f"smtp://127.0.0.1:{controller.port}")
    controller.stop()


@pytest.fixture
async def mail_worker(start_worker: StartWorker, smtp: SmtpServer) -> None:
    """A worker that sends email through the test's SMTP server."""
    await start_worker(JOBQ_SMTP_URL=smtp.url, JOBQ_SMTP_FROM=SENDER)


async def send(api: httpx.AsyncClient, auth: dict[str, str], payload: dict[str, Any], **job: Any) -> dict[str, Any]:
    """Submit an `email.send` job; return the finished job."""
    response = await api.post("/v1/jobs", json={"type": "email.send", "payload": payload, **job}, headers=auth)
    assert response.status_code == 201, response.text
    return await wait_for_status(api, auth, response.json()["id"], {"succeeded", "dead"})


@pytest.mark.usefixtures("mail_worker")
async def test_a_plain_text_email_arrives_with_its_envelope_subject_and_body(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer
) -> None:
    job = await send(api, auth, {"to": ["alice@example.com"], "subject": "Your report", "text": "It is ready.\n"})

    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 1
    assert job["result"] == {"message_id": f"<{job['id']}@jobq>", "refused": []}
    [mail] = smtp.handler.delivered
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == "alice@example.com"
    assert mail.message["Subject"] == "Your report"
    assert mail.message["Message-ID"] == f"<{job['id']}@jobq>"
    assert mail.message["Date"]
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content() == "It is ready.\n"


@pytest.mark.usefixtures("mail_worker")
async def test_text_and_html_arrive_as_multipart_alternative_from_the_payloads_sender(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer
) -> None:
    payload = {
        "to": ["bob@example.com"],
        "from": "news@example.com",
        "reply_to": "support@example.com",
        "subject": "Newsletter",
        "text": "Plain words\n",
        "html": "<p>Rich <b>words</b></p>\n",
        "headers": {"X-Campaign": "spring"},
    }
    job = await send(api, auth, payload)

    assert job["status"] == "succeeded", job["error"]
    [mail] = smtp.handler.delivered
    assert mail.mail_from == "news@example.com"
    assert mail.message["From"] == "news@example.com"
    assert mail.message["Reply-To"] == "support@example.com"
    assert mail.message["X-Campaign"] == "spring"
    assert mail.message.get_content_type() == "multipart/alternative"
    parts = list(mail.message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content() for p in parts] == ["Plain words\n", "<p>Rich <b>words</b></p>\n"]


@pytest.mark.usefixtures("mail_worker")
async def test_an_html_only_email_arrives_as_text_html(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer
) -> None:
    job = await send(api, auth, {"to": ["carol@example.com"], "subject": "Hi", "html": "<p>Hello</p>\n"})

    assert job["status"] == "succeeded", job["error"]
    [mail] = smtp.handler.delivered
    assert mail.message.get_content_type() == "text/html"
    assert mail.message.get_content() == "<p>Hello</p>\n"


@pytest.mark.usefixtures("mail_worker")
async def test_cc_and_bcc_receive_the_mail_but_bcc_is_not_in_the_headers(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer
) -> None:
    payload = {
        "to": ["to@example.com"],
        "cc": ["cc1@example.com", "cc2@example.com"],
        "bcc": ["hidden@example.com"],
        "subject": "Minutes",
        "text": "See attached.\n",
    }
    job = await send(api, auth, payload)

    assert job["status"] == "succeeded", job["error"]
    [mail] = smtp.handler.delivered
    assert mail.rcpt_tos == ["to@example.com", "cc1@example.com", "cc2@example.com", "hidden@example.com"]
    assert mail.message["To"] == "to@example.com"
    assert mail.message["Cc"] == "cc1@example.com, cc2@example.com"
    assert "Bcc" not in mail.message
    assert b"hidden@example.com" not in mail.raw


@pytest.mark.usefixtures("mail_worker")
@pytest.mark.parametrize("command", ["RCPT", "DATA"])
async def test_a_5xx_answer_is_permanent_and_the_job_is_dead_after_one_attempt(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer, command: str
) -> None:
    # Only the first answer refuses: a retry would be accepted and the job would succeed.
    smtp.handler.replies[command] = ["550 5.1.1 mailbox unavailable"]

    job = await send(api, auth, {"to": ["nobody@example.com"], "subject": "Hi", "text": "x"}, max_attempts=3)

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert job["error"]["type"] == "jobq_worker.errors.PermanentFailure"
    assert "550" in job["error"]["message"]
    assert smtp.handler.refusals_sent == [f"{command} 550 5.1.1 mailbox unavailable"]
    assert smtp.handler.delivered == []


@pytest.mark.usefixtures("mail_worker")
@pytest.mark.parametrize("command", ["RCPT", "DATA"])
async def test_a_4xx_answer_is_retried_and_the_next_attempt_delivers(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer, command: str
) -> None:
    smtp.handler.replies[command] = ["451 4.3.0 try again later"]

    job = await send(api, auth, {"to": ["dave@example.com"], "subject": "Hi", "text": "x"}, max_attempts=3)

    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    assert [a["outcome"] for a in job["history"]] == ["failed", "succeeded"]
    assert "451" in job["history"][0]["error"]["message"]
    assert smtp.handler.refusals_sent == [f"{command} 451 4.3.0 try again later"]
    [mail] = smtp.handler.delivered
    assert mail.rcpt_tos == ["dave@example.com"]
    # The retry carries the same Message-ID, so a receiver can drop a duplicate.
    assert mail.message["Message-ID"] == f"<{job['id']}@jobq>"


async def test_a_worker_without_an_smtp_url_fails_the_job_naming_the_setting(
    api: httpx.AsyncClient, auth: dict[str, str], start_worker: StartWorker
) -> None:
    await start_worker()

    job = await send(api, auth, {"to": ["erin@example.com"], "subject": "Hi", "text": "x"}, max_attempts=3)

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert "JOBQ_SMTP_URL" in job["error"]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": ["not-an-address"]}, "payload.to[0]"),
        ({"cc": ["ok@example.com", "two@@example.com"]}, "payload.cc[1]"),
        ({"bcc": ["Name <x@example.com>"]}, "payload.bcc[0]"),
        ({"from": "sender at example.com"}, "payload.from"),
        ({"to": []}, "payload.to"),
        ({"subject": ""}, "payload.subject"),
        ({"subject": None}, "payload.subject"),
        ({"text": 42}, "payload.text"),
        ({"attachments": []}, "payload"),
    ],
)
async def test_an_invalid_payload_is_rejected_by_the_api_naming_the_field(
    api: httpx.AsyncClient, auth: dict[str, str], change: dict[str, Any], field: str
) -> None:
    payload = {"to": ["frank@example.com"], "subject": "Hi", "text": "x", **change}

    response = await api.post("/v1/jobs", json={"type": "email.send", "payload": payload}, headers=auth)

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_payload_missing_its_subject_is_rejected_naming_subject(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    payload = {"to": ["frank@example.com"], "text": "x"}

    response = await api.post("/v1/jobs", json={"type": "email.send", "payload": payload}, headers=auth)

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["payload.subject"]


@pytest.mark.usefixtures("mail_worker")
async def test_an_email_without_a_body_is_dead_without_reaching_the_server(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer
) -> None:
    # "text or html" is not expressible per field in the JSON Schema, so the worker catches it.
    job = await send(api, auth, {"to": ["gina@example.com"], "subject": "Hi"}, max_attempts=3)

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert "give text, html or both" in job["error"]["message"]
    assert smtp.handler.delivered == []


@pytest.mark.usefixtures("mail_worker")
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Subject": "a second subject"}, "at most 1 Subject"),
        ({"X-Note": "one\r\nBcc: someone@example.com"}, "linefeed"),
    ],
)
async def test_headers_the_message_cannot_carry_make_the_job_dead_at_once(
    api: httpx.AsyncClient, auth: dict[str, str], smtp: SmtpServer, headers: dict[str, str], reason: str
) -> None:
    payload = {"to": ["hank@example.com"], "subject": "Hi", "text": "x", "headers": headers}

    job = await send(api, auth, payload, max_attempts=3)

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert reason in job["error"]["message"]
    assert smtp.handler.delivered == []
