"""Mail caught on this machine: what `jobq run` keeps when no `JOBQ_SMTP_URL` is set.

The local catcher (an SMTP server on loopback, :mod:`jobq_devrun.mailcatcher`) stores
each message it accepts with :func:`store`, as one file ``<folder>/<id>.eml``: the
envelope the SMTP conversation gave (``X-Jobq-Envelope-From``, and
``X-Jobq-Envelope-To`` once per recipient, Bcc included) as the first headers, then the
message as it arrived, with LF line ends, so any mail program opens it. The id is the
time it arrived (ns since the epoch) and a counter, so ids sort by arrival. The API
reads the files back (``GET /v1/local/mail``) with :func:`list_caught` and
:func:`read_caught`, parsed with the stdlib `email` package.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

ENVELOPE_FROM = "X-Jobq-Envelope-From"
ENVELOPE_TO = "X-Jobq-Envelope-To"
SUFFIX = ".eml"
# `<ns since the epoch>-<counter>`: nothing a path could be built from but a file name.
_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,9})")
_ENVELOPE = frozenset({ENVELOPE_FROM.lower(), ENVELOPE_TO.lower()})
_counter = itertools.count(1)


@dataclass(frozen=True)
class CaughtMail:
    """One caught message: its envelope, the headers it carries and its bodies."""

    id: str
    received_at: datetime
    sender: str
    recipients: list[str]
    subject: str | None
    date: datetime | None
    message_id: str | None
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None

    def as_dict(self) -> dict[str, Any]:
        """The message as the API's document."""
        return {
            "id": self.id,
            "received_at": self.received_at,
            "sender": self.sender,
            "recipients": self.recipients,
            "subject": self.subject,
            "date": self.date,
            "message_id": self.message_id,
            "headers": [{"name": name, "value": value} for name, value in self.headers],
            "text": self.text,
            "html": self.html,
        }


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def stored_form(mail_from: str, rcpt_tos: list[str], content: bytes) -> bytes:
    """The bytes :func:`store` writes: the envelope headers, then `content` with LF line ends."""
    lines = [f"{ENVELOPE_FROM}: {_one_line(mail_from)}"]
    lines += [f"{ENVELOPE_TO}: {_one_line(rcpt)}" for rcpt in rcpt_tos]
    envelope = "".join(line + "\n" for line in lines).encode("utf-8")
    return envelope + content.replace(b"\r\n", b"\n")


def store(folder: Path, mail_from: str, rcpt_tos: list[str], content: bytes) -> str:
    """Keep one message in `folder` (created if need be); return its id.

    The file appears whole or not at all: it is written under another name first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    mail_id = f"{time.time_ns()}-{next(_counter)}"
    partial = folder / f".{mail_id}.partial"
    partial.write_bytes(stored_form(mail_from, rcpt_tos, content))
    os.replace(partial, folder / (mail_id + SUFFIX))
    return mail_id


def _received_at(mail_id: str) -> datetime:
    ns = int(mail_id.split("-", 1)[0])
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns // 1000 % 1_000_000)


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)  # `-0000`: UTC, origin unknown


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken encoding: show what there is
        raw = part.get_payload(decode=True)
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
    return content if isinstance(content, str) else None


def parse(mail_id: str, raw: bytes) -> CaughtMail:
    """A stored message (as :func:`stored_form` wrote it) as a :class:`CaughtMail`."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    subject, message_id = message.get("Subject"), message.get("Message-ID")
    return CaughtMail(
        id=mail_id,
        received_at=_received_at(mail_id),
        sender=str(message.get(ENVELOPE_FROM, "")),
        recipients=[str(rcpt) for rcpt in message.get_all(ENVELOPE_TO, [])],
        subject=None if subject is None else str(subject),
        date=_date(message.get("Date")),
        message_id=None if message_id is None else str(message_id),
        headers=[(name, str(value)) for name, value in message.items() if name.lower() not in _ENVELOPE],
        text=_body(message, "plain"),
        html=_body(message, "html"),
    )


def _ids(folder: Path) -> list[str]:
    """The ids of the messages in `folder`, newest first."""
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.endswith(SUFFIX)]
    except FileNotFoundError:
        return []
    matches = [m for m in (_ID.fullmatch(name.removesuffix(SUFFIX)) for name in names) if m]
    matches.sort(key=lambda m: (int(m[1]), int(m[2])), reverse=True)
    return [m[0] for m in matches]


def read_caught(folder: Path, mail_id: str) -> CaughtMail | None:
    """The message `mail_id` in `folder`, or None when there is none (or the id is no id)."""
    if not _ID.fullmatch(mail_id):
        return None
    try:
        raw = (folder / (mail_id + SUFFIX)).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    return parse(mail_id, raw)


def list_caught(folder: Path, limit: int) -> tuple[list[CaughtMail], int]:
    """The newest `limit` messages in `folder`, newest first, and how many it holds."""
    ids = _ids(folder)
    found = [read_caught(folder, mail_id) for mail_id in ids[:limit]]
    return [mail for mail in found if mail is not None], len(ids)
