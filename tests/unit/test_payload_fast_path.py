"""The payload validator's fast path (jsonschema-rs) agrees with jsonschema, and a schema it
cannot compile falls back to jsonschema alone."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from jobq_core.errors import InvalidPayload
from jobq_core.model.payloads import check, compile_schema
from tests.unit.test_payloads import EMAIL, ORDER, SLEEP

CASES: list[tuple[dict[str, Any], Any]] = [
    (SLEEP, {"seconds": 1.5}),
    (SLEEP, {"seconds": 61}),
    (SLEEP, {"seconds": "x"}),
    (SLEEP, {"seconds": 1, "extra": True}),
    (SLEEP, []),
    (EMAIL, {"to": "a@b.c", "subject": "s", "body": "b"}),
    (EMAIL, {"to": 1}),
    (ORDER, {"items": [{"name": "a", "qty": 2}, {"qty": 0}]}),
    (ORDER, {"items": [{"name": "a", "qty": 2.0}]}),
    ({"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}, {"at": "not a date"}),
    ({"type": "integer"}, True),
]


@pytest.mark.parametrize(("schema", "payload"), CASES)
def test_the_fast_path_accepts_exactly_what_jsonschema_accepts(schema: dict[str, Any], payload: Any) -> None:
    validator = compile_schema(schema)
    expected = Draft202012Validator(schema).is_valid(payload)

    assert validator.fast is not None
    assert validator.fast.is_valid(payload) == expected
    assert validator.is_valid(payload) == expected


@pytest.mark.parametrize(("schema", "payload"), CASES)
def test_check_reports_what_jsonschema_reports(schema: dict[str, Any], payload: Any) -> None:
    validator = compile_schema(schema)
    messages = sorted(e.message for e in Draft202012Validator(schema).iter_errors(payload))

    if messages:
        with pytest.raises(InvalidPayload) as info:
            check(validator, payload)
        assert sorted(e["message"] for e in info.value.errors) == messages
    else:
        check(validator, payload)


def test_a_schema_only_jsonschema_compiles_is_checked_by_jsonschema() -> None:
    # `\Z` is Python's end-of-string anchor: a regex to jsonschema, not to jsonschema-rs.
    validator = compile_schema({"type": "object", "properties": {"code": {"type": "string", "pattern": "^a+\\Z"}}})

    assert validator.fast is None
    check(validator, {"code": "aaa"})
    with pytest.raises(InvalidPayload) as info:
        check(validator, {"code": "b"})
    assert [e["field"] for e in info.value.errors] == ["payload.code"]


def test_a_remote_ref_is_never_fetched_by_the_fast_path() -> None:
    validator = compile_schema({"$ref": "https://schemas.invalid/payload.json"})

    assert validator.fast is None
