"""API documents: the list cursor is opaque, round-trips, and refuses what it did not make."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobq_api.problems import Problem
from jobq_api.views import JSONResponse, decode_cursor, encode_cursor

CREATED = datetime(2031, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)
JOB_ID = uuid.UUID("5b1f0c8e-8a3e-4f0e-9f3a-0c5d7e2b1a90")


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(CREATED, JOB_ID)) == (CREATED, JOB_ID)


def test_a_cursor_keeps_the_time_zone() -> None:
    created = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-7)))
    decoded, _ = decode_cursor(encode_cursor(created, JOB_ID))
    assert decoded == created
    assert decoded.utcoffset() == timedelta(hours=-7)


@given(
    created=st.datetimes(timezones=st.just(UTC)),
    job_id=st.uuids(),
)
def test_any_position_round_trips_through_a_url_safe_cursor(created: datetime, job_id: uuid.UUID) -> None:
    cursor = encode_cursor(created, job_id)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == (created, job_id)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE = [
    "",
    "not-a-cursor",
    "!!!!",
    "é",
    b64(b"[]"),
    b64(b"null"),
    b64(b'"ab"'),
    b64(b'{"a": 1, "b": 2}'),
    b64(b'["2031-02-03T04:05:06+00:00"]'),
    b64(b'["yesterday", "5b1f0c8e-8a3e-4f0e-9f3a-0c5d7e2b1a90"]'),
    b64(b'["2031-02-03T04:05:06+00:00", "not-a-uuid"]'),
    b64(b"[1, 2]"),
    b64(b'["2031-02-03T04:05:06+00:00", "5b1f0c8e-8a3e-4f0e-9f3a-0c5d7e2b1a90", 3]'),
]


@pytest.mark.parametrize("cursor", GARBAGE)
def test_a_garbage_cursor_is_a_400_naming_cursor(cursor: str) -> None:
    with pytest.raises(Problem) as info:
        decode_cursor(cursor)
    problem = info.value
    assert problem.status == 400
    assert problem.slug == "bad-cursor"
    assert problem.errors is not None
    assert [e["field"] for e in problem.errors] == ["cursor"]


@given(cursor=st.text(max_size=80))
def test_decoding_any_text_gives_a_position_or_the_400(cursor: str) -> None:
    try:
        created, job_id = decode_cursor(cursor)
    except Problem as problem:
        assert problem.status == 400
    else:
        assert isinstance(created, datetime)
        assert isinstance(job_id, uuid.UUID)


def test_json_response_renders_uuids_and_datetimes() -> None:
    response = JSONResponse({"id": JOB_ID, "created_at": CREATED})
    assert orjson.loads(bytes(response.body)) == {"id": str(JOB_ID), "created_at": "2031-02-03T04:05:06.789012+00:00"}
