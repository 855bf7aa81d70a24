"""Problem details: validation errors name fields the way a client writes them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jobq_api.problems import PROBLEM_MEDIA_TYPE, Problem, field_name


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("body", "jobs", 3, "type"), "jobs[3].type"),
        (("body", "payload", "items", 0, "name"), "payload.items[0].name"),
        (("body", "type"), "type"),
        (["body", "tags", 2], "tags[2]"),
        (("query", "limit"), "limit"),
        (("path", "job_id"), "job_id"),
        (("header", "Idempotency-Key"), "Idempotency-Key"),
        (("body",), "body"),
        ((), "body"),
        (("body", 0, "type"), "[0].type"),
    ],
)
def test_field_name(loc: tuple[Any, ...], expected: str) -> None:
    assert field_name(loc) == expected


def test_only_the_first_part_is_dropped_as_a_location() -> None:
    # A body field that happens to be called "query" keeps its name.
    assert field_name(("body", "query", "limit")) == "query.limit"


def test_a_problem_renders_as_rfc_9457() -> None:
    problem = Problem(
        409,
        "invalid-state",
        "Invalid state for this action",
        "job is running",
        errors=[{"field": "id", "message": "running"}],
        status_now="running",
    )
    response = problem.response("/v1/jobs/1/retry")
    assert response.status_code == 409
    assert response.media_type == PROBLEM_MEDIA_TYPE
    assert orjson.loads(bytes(response.body)) == {
        "type": "https://jobq.dev/problems/invalid-state",
        "title": "Invalid state for this action",
        "status": 409,
        "detail": "job is running",
        "instance": "/v1/jobs/1/retry",
        "errors": [{"field": "id", "message": "running"}],
        "status_now": "running",
    }
