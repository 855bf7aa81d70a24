"""Payload validation against a job type's JSON Schema, with errors that name the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from jobq_core.errors import InvalidPayload


class PayloadValidator:
    """A compiled job-type schema: jsonschema-rs accepts a valid payload in a microsecond or
    two, and jsonschema (tens to hundreds of microseconds) runs only on a payload the fast
    one rejects, to say which fields are wrong.

    jsonschema decides every rejection: a payload that only jsonschema-rs rejects is
    accepted. Both skip ``format`` (an annotation in Draft 2020-12), and jsonschema-rs
    never fetches a remote ``$ref`` (a schema it cannot compile offline has no fast path).
    The worker validates the payload again against its handler's model.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.full = Draft202012Validator(schema)
        self.fast: jsonschema_rs.Validator | None
        try:
            self.fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True)
        except Exception:  # any schema it cannot compile just has no fast path
            self.fast = None

    def is_valid(self, payload: Any) -> bool:
        """Whether `payload` matches the schema."""
        return (self.fast is not None and self.fast.is_valid(payload)) or self.full.is_valid(payload)

    def iter_errors(self, payload: Any) -> Iterator[ValidationError]:
        """jsonschema's errors for `payload`."""
        return self.full.iter_errors(payload)


def compile_schema(schema: dict[str, Any]) -> PayloadValidator:
    """A validator for `schema`; raises ValueError when the schema itself is invalid."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from exc
    return PayloadValidator(schema)


def _field(path: list[Any], prefix: str) -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check(validator: PayloadValidator, payload: Any, *, prefix: str = "payload") -> None:
    """Raise :class:`InvalidPayload` listing every field of `payload` the schema rejects.

    A missing required property is reported under its own name
    (``payload.to``), not under the object that lacks it.
    """
    if validator.fast is not None and validator.fast.is_valid(payload):
        return
    errors = []
    # jsonschema yields one `required` error per missing property, in the order of the
    # `required` list, without saying which property: the n-th error of one `required`
    # keyword on one object is about the n-th property that object lacks.
    required_seen: dict[tuple[tuple[Any, ...], tuple[Any, ...]], int] = {}
    for error in sorted(validator.full.iter_errors(payload), key=lambda e: list(e.path)):
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
