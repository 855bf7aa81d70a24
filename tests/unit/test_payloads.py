"""Payload validation: every error reported, each naming the field a client must fix."""

from __future__ import annotations

from typing import Any

import pytest

from jobq_core.errors import InvalidPayload
from jobq_core.model.payloads import check, compile_schema

SLEEP = {
    "type": "object",
    "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 60}},
    "required": ["seconds"],
    "additionalProperties": False,
}
EMAIL = {
    "type": "object",
    "properties": {
        "to": {"type": "string"},
        "subject": {"type": "string"},
        "body": {"type": "string"},
    },
    "required": ["to", "subject", "body"],
}
ORDER = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["name"],
            },
        }
    },
}


def errors_of(schema: dict[str, Any], payload: Any, **kwargs: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidPayload) as info:
        check(compile_schema(schema), payload, **kwargs)
    return info.value.errors


def fields_of(schema: dict[str, Any], payload: Any) -> list[str]:
    return [e["field"] for e in errors_of(schema, payload)]


@pytest.mark.parametrize(
    ("schema", "payload"),
    [(SLEEP, {"seconds": 1.5}), (EMAIL, {"to": "a@b.c", "subject": "s", "body": "b"}), (ORDER, {"items": []})],
)
def test_a_matching_payload_passes(schema: dict[str, Any], payload: Any) -> None:
    assert check(compile_schema(schema), payload) is None


def test_a_wrong_type_names_the_field() -> None:
    errors = errors_of(SLEEP, {"seconds": "soon"})
    assert [e["field"] for e in errors] == ["payload.seconds"]
    assert "number" in errors[0]["message"]


def test_an_out_of_range_value_names_the_field() -> None:
    assert fields_of(SLEEP, {"seconds": 61}) == ["payload.seconds"]


def test_a_missing_property_is_named_itself_not_its_parent() -> None:
    errors = errors_of(EMAIL, {"subject": "s", "body": "b"})
    assert errors == [{"field": "payload.to", "message": "'to' is a required property"}]


def test_each_missing_property_is_named() -> None:
    assert sorted(fields_of(EMAIL, {"body": "b"})) == ["payload.subject", "payload.to"]
    assert sorted(fields_of(EMAIL, {})) == ["payload.body", "payload.subject", "payload.to"]


def test_a_field_in_a_list_is_named_with_its_index() -> None:
    payload = {"items": [{"name": "a"}, {"name": "b"}, {"name": 3}]}
    assert fields_of(ORDER, payload) == ["payload.items[2].name"]


def test_a_missing_field_in_a_list_is_named_with_its_index() -> None:
    payload = {"items": [{"name": "a"}, {"qty": 1}]}
    assert fields_of(ORDER, payload) == ["payload.items[1].name"]


def test_every_error_is_reported() -> None:
    payload = {"items": [{"name": 1}, {"name": "ok", "qty": 0}, {"qty": "many"}]}
    assert sorted(fields_of(ORDER, payload)) == [
        "payload.items[0].name",
        "payload.items[1].qty",
        "payload.items[2].name",
        "payload.items[2].qty",
    ]


def test_the_exception_message_lists_every_field() -> None:
    with pytest.raises(InvalidPayload) as info:
        check(compile_schema(EMAIL), {"to": 1})
    assert "payload.to" in str(info.value)
    assert "payload.subject" in str(info.value)
    assert "payload.body" in str(info.value)


def test_an_unexpected_property_is_reported() -> None:
    errors = errors_of(SLEEP, {"seconds": 1, "minutes": 2})
    assert len(errors) == 1
    assert errors[0]["field"] == "payload"
    assert "minutes" in errors[0]["message"]


def test_a_payload_that_is_not_an_object_is_reported_at_the_root() -> None:
    assert fields_of(SLEEP, [1, 2]) == ["payload"]


def test_the_prefix_names_where_the_payload_sits() -> None:
    assert [e["field"] for e in errors_of(SLEEP, {}, prefix="jobs[4].payload")] == ["jobs[4].payload.seconds"]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "no-such-type"},
        {"type": "object", "required": "to"},
        {"properties": {"x": {"minimum": "zero"}}},
    ],
)
def test_compile_schema_rejects_an_invalid_schema(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid JSON Schema"):
        compile_schema(schema)


def test_compile_schema_accepts_a_valid_schema() -> None:
    validator = compile_schema(ORDER)
    assert validator.is_valid({"items": [{"name": "x"}]})
    assert not validator.is_valid({"items": [{}]})
