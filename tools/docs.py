"""Generate the README's tables from their declarations.

    python -m tools.docs          # rewrite README.md in place
    python -m tools.docs --check  # exit 1 when README.md is out of date

Each table sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from jobq_api.settings import ApiSettings
from jobq_core.settings import CoreSettings, env_name
from jobq_worker.settings import WorkerSettings

README = Path(__file__).resolve().parent.parent / "README.md"


def _default(settings: type[BaseSettings], name: str) -> str:
    field = settings.model_fields[name]
    if field.is_required():
        return "**required**"
    if field.default is None:
        return "unset"
    if field.default == "":
        return '`""`'
    return f"`{field.default}`"


def settings_table() -> str:
    """Every JOBQ_* variable, which processes read it, its default and meaning."""
    rows = ["| Variable | Read by | Default | Meaning |", "| --- | --- | --- | --- |"]
    owners: list[tuple[str, type[BaseSettings]]] = [
        ("api, worker", CoreSettings),
        ("api", ApiSettings),
        ("worker", WorkerSettings),
    ]
    seen: set[str] = set()
    for who, settings in owners:
        for name, field in settings.model_fields.items():
            if name in seen:
                continue
            seen.add(name)
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{env_name(name)}` | {who} | {_default(settings, name)} | {description} |")
    return "\n".join(rows)


TABLES = {"settings": settings_table}


def render(text: str) -> str:
    """`text` with every generated table replaced by its current content."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:begin/end --> markers")
        text = pattern.sub(lambda m, make=make: m[1] + make() + "\n" + m[2], text)
    return text


def main() -> int:
    """Rewrite or check README.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="fail when README.md is out of date")
    args = parser.parse_args()
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if current != wanted:
            print("README.md tables are out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
