"""The README's Guarantees name the tests that check them: each named test exists, and
no guarantee goes without one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# `test_x.py::test_name` (under tests/integration/) or `tests/k8s/test_x.py::test_name`
NAMED_TEST = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)::(test_\w+)`")


def guarantees() -> str:
    start = README.index("\n## Guarantees\n")
    return README[start : README.index("\n## ", start + 1)]


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_the_readme_names_exists() -> None:
    named = NAMED_TEST.findall(README)
    assert len(named) >= 30, "the README names fewer tests than it did"
    missing = []
    for file, name in named:
        path = ROOT / file if file.startswith("tests/") else ROOT / "tests" / "integration" / file
        if not path.exists() or name not in defined_tests(path):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_every_guarantee_names_a_test() -> None:
    items = re.split(r"\n(?=- |\*\*)", guarantees())
    claims = [item for item in items if item.startswith(("- ", "**Ordering"))]
    assert len(claims) >= 15
    unproven = [item.split("\n")[0] for item in claims if "::" not in item and "tests/unit/" not in item]
    assert unproven == []
