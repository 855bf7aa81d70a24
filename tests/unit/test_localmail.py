"""The files `jobq run`'s mail catcher keeps, read back as the API lists them (jobq_core.localmail)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from jobq_core import localmail


def message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    for name, value in {"From": "a@example.com", "To": "b@example.com", "Subject": "Hi", **headers}.items():
        msg[name] = value
    return msg


def wire(msg: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF line ends."""
    return msg.as_bytes().replace(b"\n", b"\r\n")


def test_a_stored_message_reads_back_with_its_envelope_apart_from_its_headers(tmp_path: Path) -> None:
    msg = message(**{"Message-ID": "<7@jobq>", "Date": "Tue, 01 Jan 2030 10:00:00 +0200", "X-Tag": "a"})
    msg.set_content("plain\n")
    msg.add_alternative("<p>rich</p>\n", subtype="html")

    mail_id = localmail.store(tmp_path, "bounce@example.com", ["b@example.com", "bcc@example.com"], wire(msg))
    mail = localmail.read_caught(tmp_path, mail_id)

    assert mail is not None
    assert (mail.sender, mail.recipients) == ("bounce@example.com", ["b@example.com", "bcc@example.com"])
    assert (mail.subject, mail.message_id) == ("Hi", "<7@jobq>")
    assert mail.date == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    assert (mail.text, mail.html) == ("plain\n", "<p>rich</p>\n")
    assert [name for name, _ in mail.headers][:6] == ["From", "To", "Subject", "Message-ID", "Date", "X-Tag"]
    assert not [name for name, _ in mail.headers if name.startswith("X-Jobq-Envelope")]
    assert abs(mail.received_at - datetime.now(UTC)).total_seconds() < 5
    # The file is a plain .eml with LF line ends, as mail programs keep them.
    assert b"\r\n" not in (tmp_path / f"{mail_id}.eml").read_bytes()


def test_an_html_only_message_has_no_text_and_a_missing_date_is_none(tmp_path: Path) -> None:
    msg = message()
    msg.set_content("<p>only</p>\n", subtype="html")

    mail = localmail.read_caught(tmp_path, localmail.store(tmp_path, "a@example.com", ["b@example.com"], wire(msg)))

    assert mail is not None
    assert (mail.text, mail.html, mail.date, mail.message_id) == (None, "<p>only</p>\n", None, None)


def test_encoded_words_are_read_as_text_and_a_date_without_zone_is_utc() -> None:
    raw = localmail.stored_form(
        "a@example.com",
        ["b@example.com"],
        b"Subject: =?utf-8?q?R=C3=A9sum=C3=A9?=\nDate: Tue, 01 Jan 2030 10:00:00 -0000\n\nbody\n",
    )

    mail = localmail.parse("1-1", raw)

    assert mail.subject == "Résumé"
    assert mail.date == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    assert mail.text == "body\n"


def test_an_envelope_with_a_line_break_cannot_add_a_header() -> None:
    raw = localmail.stored_form("a@example.com\r\nX-Forged: yes", ["b@example.com"], b"Subject: s\n\nx\n")

    mail = localmail.parse("1-1", raw)

    assert "X-Forged" not in [name for name, _ in mail.headers]


def test_the_list_is_newest_first_by_number_and_skips_what_is_no_message(tmp_path: Path) -> None:
    for mail_id in ["999-1", "1000-1", "1000-2", "20-9"]:
        (tmp_path / f"{mail_id}.eml").write_bytes(localmail.stored_form("a@x.io", ["b@x.io"], b"Subject: s\n\nx\n"))
    (tmp_path / ".1001-1.partial").write_bytes(b"Subject: half written\n")
    (tmp_path / "notes.eml").write_bytes(b"Subject: not an id\n")
    (tmp_path / "1002-1.txt").write_bytes(b"Subject: not a message file\n")

    mails, total = localmail.list_caught(tmp_path, limit=3)

    assert [m.id for m in mails] == ["1000-2", "1000-1", "999-1"]
    assert total == 4


def test_a_folder_not_made_yet_holds_nothing_and_a_path_is_no_id(tmp_path: Path) -> None:
    (tmp_path / "secret.eml").write_bytes(b"Subject: secret\n\nx\n")

    assert localmail.list_caught(tmp_path / "mail", limit=10) == ([], 0)
    assert localmail.read_caught(tmp_path / "mail", "../secret") is None
    assert localmail.read_caught(tmp_path / "mail", "1-1") is None
