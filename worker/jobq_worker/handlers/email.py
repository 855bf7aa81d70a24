"""`email.send`: deliver an email through the SMTP server in JOBQ_SMTP_URL."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobq_core.telemetry import tracing

from ..context import JobContext
from ..errors import PermanentFailure
from ..registry import Registry

handlers = Registry()

ADDRESS = r"^[^@\s<>]+@[^@\s<>]+$"
# In the JSON Schema too, so the API rejects a bad address before the job is stored.
Address = Annotated[str, Field(pattern=ADDRESS)]


class EmailPayload(BaseModel):
    """An email: recipients, subject, and a plain-text and/or HTML body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[Address] = Field(min_length=1, max_length=50, description="Recipient addresses.")
    cc: list[Address] = Field(default_factory=list, max_length=50)
    bcc: list[Address] = Field(default_factory=list, max_length=50)
    sender: str | None = Field(default=None, alias="from", pattern=ADDRESS, description="Defaults to JOBQ_SMTP_FROM.")
    reply_to: str | None = Field(default=None, pattern=ADDRESS)
    subject: str = Field(min_length=1, max_length=998)
    text: str | None = Field(default=None, description="Plain-text body.")
    html: str | None = Field(default=None, description="HTML body.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers.")

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _has_body(self) -> EmailPayload:
        if self.text is None and self.html is None:
            raise ValueError("give text, html or both")
        return self


def build_message(payload: EmailPayload, sender: str, message_id: str) -> EmailMessage:
    """The MIME message: text, HTML, or both as multipart/alternative."""
    msg = EmailMessage()
    msg["From"] = payload.sender or sender
    msg["To"] = ", ".join(payload.to)
    if payload.cc:
        msg["Cc"] = ", ".join(payload.cc)
    if payload.bcc:
        msg["Bcc"] = ", ".join(payload.bcc)
    if payload.reply_to:
        msg["Reply-To"] = payload.reply_to
    msg["Subject"] = payload.subject
    msg["Date"] = formatdate(localtime=False)
    # The same Message-ID on every attempt lets receivers drop a duplicate delivery.
    msg["Message-ID"] = message_id
    for name, value in payload.headers.items():
        msg[name] = value
    if payload.text is not None:
        msg.set_content(payload.text)
        if payload.html is not None:
            msg.add_alternative(payload.html, subtype="html")
    else:
        msg.set_content(payload.html or "", subtype="html")
    return msg


def smtp_span_attributes(hostname: str, port: int, recipients: int) -> dict[str, Any]:
    """Attributes of the SMTP client span: the server, and how many recipients (not who)."""
    return {
        "server.address": hostname,
        "server.port": port,
        "network.protocol.name": "smtp",
        "jobq.email.recipients": recipients,
    }


@handlers.handler("email.send", payload=EmailPayload, timeout_s=120, max_attempts=5)
async def send_email(ctx: JobContext, payload: EmailPayload) -> dict[str, Any]:
    """Send an email over SMTP; 5xx answers are permanent, everything else is retried."""
    if ctx.settings.smtp_url is None:
        raise PermanentFailure("JOBQ_SMTP_URL is not set on this worker")
    url = urlsplit(ctx.settings.smtp_url.get_secret_value())
    implicit_tls = url.scheme == "smtps"
    message_id = f"<{ctx.job_id}@jobq>"
    try:
        message = build_message(payload, ctx.settings.smtp_from, message_id)
    except ValueError as exc:  # e.g. a second Subject or a line break in a header: no retry fixes it
        raise PermanentFailure(f"cannot build the message: {exc}") from exc
    hostname, port = url.hostname or "localhost", url.port or (465 if implicit_tls else 25)
    recipients = len(payload.to + payload.cc + payload.bcc)
    try:
        with tracing.client_span("smtp send", smtp_span_attributes(hostname, port, recipients)):
            errors, _ = await aiosmtplib.send(
                message,
                hostname=hostname,
                port=port,
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                use_tls=implicit_tls,
                timeout=60,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        # A 4xx refusal (greylisting, full mailbox) may pass on a later attempt.
        if all(refusal.code >= 500 for refusal in exc.recipients):
            raise PermanentFailure(f"every recipient was refused: {exc}") from exc
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentFailure(f"SMTP server refused the message: {exc.code} {exc.message}") from exc
        raise
    refused = sorted(errors)
    ctx.log.info("sent email %s to %d recipient(s)", message_id, recipients)
    return {"message_id": message_id, "refused": refused}
