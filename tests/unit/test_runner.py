"""What a finished attempt stores: its result (capped) or its error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from jobq_worker.errors import PermanentFailure
from jobq_worker.runner import TRACEBACK_LIMIT, error_document, result_document


def size(value: Any) -> int:
    """Bytes of `value` as compact JSON, computed without orjson."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


class Summary(BaseModel):
    count: int
    names: list[str]


def test_a_small_result_is_stored_as_is() -> None:
    result = {"sent": 3, "ids": ["a", "b"], "ok": True, "ratio": 0.5, "none": None}
    assert result_document(result, 1024) == result


@pytest.mark.parametrize("result", [None, 7, "done", [1, 2]])
def test_any_json_value_is_a_result(result: Any) -> None:
    assert result_document(result, 1024) == result


def test_a_pydantic_result_is_stored_as_its_json() -> None:
    assert result_document(Summary(count=2, names=["x", "y"]), 1024) == {"count": 2, "names": ["x", "y"]}


def test_a_result_at_the_cap_is_kept() -> None:
    result = {"data": "x" * 100}
    assert result_document(result, size(result)) == result


def test_a_result_above_the_cap_is_replaced_by_a_note() -> None:
    result = {"data": "é" * 100}
    cap = size(result) - 1
    assert result_document(result, cap) == {"truncated": True, "size_bytes": size(result), "limit_bytes": cap}


def test_a_zero_cap_stores_only_notes() -> None:
    assert result_document(None, 0) == {"truncated": True, "size_bytes": 4, "limit_bytes": 0}


def test_a_result_that_is_not_json_is_a_permanent_failure() -> None:
    with pytest.raises(PermanentFailure, match="not JSON"):
        result_document({"when": object()}, 1024)


class QuotaExceeded(Exception):
    pass


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_an_error_document_names_a_builtin_type_bare() -> None:
    doc = error_document(raised(ValueError("bad width")))
    assert doc["type"] == "ValueError"
    assert doc["message"] == "bad width"
    assert doc["traceback"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad width" in doc["traceback"]
    assert "in raised" in doc["traceback"]


def test_an_error_document_names_other_types_with_their_module() -> None:
    doc = error_document(raised(QuotaExceeded("over quota")))
    assert doc["type"] == f"{__name__}.QuotaExceeded"
    assert doc["message"] == "over quota"


def test_an_error_without_a_message_shows_its_type() -> None:
    doc = error_document(raised(TimeoutError()))
    assert doc["message"] == "TimeoutError"


def test_an_error_that_was_never_raised_has_a_short_traceback() -> None:
    doc = error_document(KeyError("k"))
    assert doc["type"] == "KeyError"
    assert doc["traceback"].strip() == "KeyError: 'k'"


def test_the_traceback_keeps_its_end_when_capped() -> None:
    message = "m" * (2 * TRACEBACK_LIMIT) + "THE END"
    doc = error_document(raised(RuntimeError(message)))
    assert len(doc["traceback"]) == TRACEBACK_LIMIT
    assert doc["traceback"].rstrip().endswith("THE END")
    assert doc["message"] == message


def test_an_error_document_is_json() -> None:
    doc = error_document(raised(ValueError("x")))
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc) == {"type", "message", "traceback"}
