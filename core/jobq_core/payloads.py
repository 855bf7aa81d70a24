"""Payload validation against a job type's JSON Schema, with errors that name the field."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import InvalidPayload


def compile_schema(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema`; raises ValueError when the schema itself is invalid."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from exc
    return Draft202012Validator(schema)


def _field(path: list[Any], prefix: str) -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check(validator: Draft202012Validator, payload: Any, *, prefix: str = "payload") -> None:
    """Raise :class:`InvalidPayload` listing every field of `payload` the schema rejects.

    A missing required property is reported under its own name
    (``payload.to``), not under the object that lacks it.
    """
    errors = []
    # jsonschema yields one `required` error per missing property, in the order of the
    # `required` list, without saying which property: the n-th error of one `required`
    # keyword on one object is about the n-th property that object lacks.
    required_seen: dict[tuple[tuple[Any, ...], tuple[Any, ...]], int] = {}
    for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.path)):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = [p for p in error.validator_value if p not in (error.instance or {})]
            key = (tuple(error.absolute_path), tuple(error.absolute_schema_path))
            index = required_seen.get(key, 0)
            required_seen[key] = index + 1
            if index < len(missing):
                path.append(missing[index])
        errors.append({"field": _field(path, prefix), "message": error.message})
    if errors:
        raise InvalidPayload(errors)
