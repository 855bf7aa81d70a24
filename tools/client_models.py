"""The Python client's models, generated from the API's own OpenAPI document.

`python -m tools.client_models` writes client/jobq_client/models.py; with --check
(make lint) it fails when the committed models differ from what the live document
gives, so the client never drifts from the API it talks to. A test renders them again
from the document a running API serves at /openapi.json (tests/client/test_models.py).

Every component schema becomes a pydantic model (or, for an enum, a `Literal` alias),
with its types, required fields, defaults and descriptions; the value constraints
(lengths, bounds, patterns) stay the API's to judge, so a bad value is always the
API's 422 naming the field. Answer models keep members a newer API adds (extra
"allow"); request models, which the API closes (`additionalProperties: false`), refuse
unknown ones.
"""

from __future__ import annotations

import keyword
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.api_types import openapi_document
from tools.generated import ROOT, main

MODELS_PY = ROOT / "client" / "jobq_client" / "models.py"
RUFF = Path(sys.executable).parent / "ruff"

# FastAPI's default 422 body: the API never sends it (its errors are problem documents,
# which jobq_client.errors reads), and its name would shadow the client's ValidationError.
SKIPPED = {"HTTPValidationError", "ValidationError"}
# Bodies that are no component of their own, named here: (alias, path, method, status, media type).
ALIASES = [("ServerEvent", "/v1/events", "get", "200", "text/event-stream")]
_RESERVED = set(dir(BaseModel))
_CHUNK = 88

HEADER = '''\
"""The API's request and answer bodies, generated from its OpenAPI document: do not edit.

Written by `make docs` (tools/client_models.py); `make lint` fails when it drifts from
the API. Value constraints (lengths, bounds, patterns) are the API's to judge: a bad
value is its 422, raised as `jobq_client.ValidationError` naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    """A body the API answers with; members a newer API adds are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class Request(BaseModel):
    """A body the client sends; the API refuses members it does not know, and so does this."""

    model_config = ConfigDict(extra="forbid")
'''


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _literal(values: list[Any]) -> str:
    return f"Literal[{', '.join(repr(v) for v in values)}]"


def python_type(schema: Mapping[str, Any]) -> str:
    """The annotation for one JSON Schema (the subset FastAPI writes)."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    for union in ("anyOf", "oneOf"):
        if union in schema:
            parts = [python_type(s) for s in schema[union]]
            unique = list(dict.fromkeys(p for p in parts if p != "None"))
            return " | ".join(unique + (["None"] if "None" in parts else []))
    if "const" in schema:
        return _literal([schema["const"]])
    if "enum" in schema:
        return _literal(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(python_type({**schema, "type": k}) for k in kind)
    if kind == "string":
        return "datetime" if schema.get("format") == "date-time" else "str"
    if kind == "array":
        return f"list[{python_type(schema['items']) if 'items' in schema else 'Any'}]"
    if kind == "object" or "additionalProperties" in schema:
        extra = schema.get("additionalProperties", True)
        return f"dict[str, {python_type(extra) if isinstance(extra, Mapping) else 'Any'}]"
    simple = {"integer": "int", "number": "float", "boolean": "bool", "null": "None"}
    return simple.get(kind, "Any") if isinstance(kind, str) else "Any"


def _string(text: str) -> str:
    """A string literal for `text` in chunks that keep lines short (ruff joins those that fit)."""
    pieces = re.split(r"(?<=\s)(?=\S)", text)
    chunks, current = [], ""
    for piece in pieces:
        if current and len(current) + len(piece) > _CHUNK:
            chunks.append(current)
            current = ""
        current += piece
    chunks.append(current)
    return " ".join(repr(c) for c in chunks)


def _docstring(text: str, indent: str) -> str:
    lines = []
    for line in text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"').splitlines():
        lines.extend(_wrap(line, 110 - len(indent)) or [""])
    body = f"\n{indent}".join(lines)
    return f'{indent}"""{body}\n{indent}"""' if len(lines) > 1 else f'{indent}"""{body}"""'


def _wrap(line: str, width: int) -> list[str]:
    words, out, current = line.split(" "), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*out, current] if current or out else []


def _field(name: str, prop: Mapping[str, Any], required: bool) -> str:
    if keyword.iskeyword(name) or name in _RESERVED or not name.isidentifier():
        raise SystemExit(f"property {name!r} cannot be a pydantic field name: map it in tools/client_models.py")
    annotation = python_type(prop)
    arguments = []
    if not required:
        if "default" in prop:
            arguments.append(repr(prop["default"]))
        elif annotation.endswith("None") or annotation == "Any":
            arguments.append("None")
        elif annotation.startswith("list["):
            arguments.append("default_factory=list")
        elif annotation.startswith("dict["):
            arguments.append("default_factory=dict")
        else:
            annotation += " | None"
            arguments.append("None")
    if "description" in prop:
        arguments.append(f"description={_string(prop['description'])}")
    line = f"    {name}: {annotation}"
    if arguments == [] or (len(arguments) == 1 and not arguments[0].startswith(("description=", "default_factory"))):
        return line + (f" = {arguments[0]}" if arguments else "")
    return f"{line} = Field({', '.join(arguments)})"


def _class(name: str, schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        text = f"{name} = {_literal(schema['enum'])}\n"
        return text + (_docstring(schema["description"], "") + "\n" if "description" in schema else "")
    base = "Request" if schema.get("additionalProperties") is False else "Answer"
    lines = [f"class {name}({base}):", _docstring(schema.get("description") or name, "    "), ""]
    required = set(schema.get("required", []))
    fields = [_field(n, p, n in required) for n, p in schema.get("properties", {}).items()]
    return "\n".join(lines + (fields or ["    pass"])) + "\n"


def _dependencies(schema: Any) -> Iterator[str]:
    if isinstance(schema, Mapping):
        if "$ref" in schema:
            yield _ref_name(schema["$ref"])
        for value in schema.values():
            yield from _dependencies(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _dependencies(value)


def _ordered(schemas: Mapping[str, Any]) -> list[str]:
    """Component names, each after those it refers to, otherwise by name."""
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done or name in path:
            return
        for dependency in sorted(set(_dependencies(schemas[name]))):
            visit(dependency, (*path, name))
        done.append(name)

    for name in sorted(schemas):
        visit(name, ())
    return done


def models_py(document: Mapping[str, Any]) -> str:
    """The text of jobq_client/models.py for this OpenAPI document, formatted by ruff."""
    schemas = {k: v for k, v in document["components"]["schemas"].items() if k not in SKIPPED}
    parts = [HEADER]
    parts += [_class(name, schemas[name]) for name in _ordered(schemas)]
    for alias, path, method, status, media_type in ALIASES:
        schema = document["paths"][path][method]["responses"][status]["content"][media_type]["schema"]
        annotation = python_type(schema)
        if "discriminator" in schema:
            annotation = f'Annotated[{annotation}, Field(discriminator="{schema["discriminator"]["propertyName"]}")]'
        what = f"The body of `{method.upper()} {path}` ({media_type}), one at a time."
        parts.append(f'{alias} = {annotation}\n"""{what}"""\n')
    source = "\n\n".join(parts)
    formatted = subprocess.run(
        [str(RUFF), "format", "--quiet", "--stdin-filename", str(MODELS_PY), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return formatted.stdout


def models() -> dict[Path, str]:
    """models.py as the live OpenAPI document gives it."""
    return {MODELS_PY: models_py(openapi_document())}


if __name__ == "__main__":
    sys.exit(main("client/jobq_client/models.py", models))
