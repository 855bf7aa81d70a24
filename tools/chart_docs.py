"""Generate the chart README's values table from the `# --` comments in values.yaml.

    python -m tools.chart_docs          # rewrite charts/jobq/README.md in place
    python -m tools.chart_docs --check  # exit 1 when it is out of date or a value is undocumented

The table sits between `<!-- values:begin -->` and `<!-- values:end -->` markers. A
value is documented by a helm-docs style comment right above it: `# -- text`, more
`#` lines continuing it, an optional `# @default -- text` replacing the shown
default and an optional `# @type -- text` replacing the type read from the literal.
Every key with a value on its own line (a scalar, or a flow `[...]`/`{...}`) must be
documented; keys that only open a block are sections and need none.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tools import generated

CHART = Path(__file__).resolve().parent.parent / "charts" / "jobq"
VALUES = CHART / "values.yaml"
README = CHART / "README.md"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?: +(?P<value>.*))?$")
_DEFAULT = re.compile(r"^@default\s+--\s*(?P<text>.*)$")
_TYPE = re.compile(r"^@type\s+--\s*(?P<text>.*)$")


@dataclass
class Value:
    """One documented value: its dotted path, type, default and description."""

    path: str
    type: str
    default: str
    description: str


def _type(literal: str) -> str:
    if literal.startswith("["):
        return "list"
    if literal.startswith("{"):
        return "object"
    if literal in ("true", "false"):
        return "bool"
    if re.fullmatch(r"-?[0-9]+", literal):
        return "int"
    if re.fullmatch(r"-?[0-9]*\.[0-9]+", literal):
        return "float"
    return "string"


def parse(text: str) -> list[Value]:
    """The values declared in `text` (a values.yaml), in file order.

    Raises SystemExit naming every value that has no `# --` comment.
    """
    values: list[Value] = []
    undocumented: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing sections
    comment: list[str] | None = None  # the `# --` block being read, if any
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if body.startswith("--"):
                comment = [body[2:].strip()]
            elif comment is not None:
                comment.append(body)
            continue
        if not stripped:
            comment = None
            continue
        match = _KEY.match(line)
        if match is None:
            raise SystemExit(f"values.yaml: cannot read {line!r}: keep each value on one line (flow style)")
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([key for _, key in stack] + [match["key"]])
        literal = (match["value"] or "").split(" #", 1)[0].strip()
        if not literal:
            stack.append((indent, match["key"]))
            comment = None
            continue
        if comment is None:
            undocumented.append(path)
            continue
        default, kind = f"`{literal}`", _type(literal)
        lines = []
        for part in comment:
            if found := _DEFAULT.match(part):
                default = found["text"]
            elif found := _TYPE.match(part):
                kind = found["text"]
            else:
                lines.append(part)
        description = " ".join(part for part in lines if part).replace("|", "\\|")
        values.append(Value(path, kind, default.replace("|", "\\|"), description))
        comment = None
    if undocumented:
        raise SystemExit("values.yaml: undocumented values (add a `# --` comment): " + ", ".join(undocumented))
    return values


def values_table(text: str) -> str:
    """The Markdown table of every value in `text`."""
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    rows += [f"| `{v.path}` | {v.type} | {v.default} | {v.description} |" for v in parse(text)]
    return "\n".join(rows)


def render(readme: str, values: str) -> str:
    """`readme` with its values table replaced by the one `values` declares."""
    pattern = re.compile(r"(<!-- values:begin -->\n).*?(<!-- values:end -->)", re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"{README.name} has no <!-- values:begin/end --> markers")
    table = values_table(values)
    return pattern.sub(lambda m: m[1] + table + "\n" + m[2], readme)


if __name__ == "__main__":
    sys.exit(generated.main("the chart README", lambda: {README: render(README.read_text(), VALUES.read_text())}))
