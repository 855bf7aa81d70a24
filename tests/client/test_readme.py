"""The README's client example, run as written against the API and a worker."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import pytest

from tests.integration.conftest import StartWorker

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    """The first Python block of the README's "Python client" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Python client\n") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


async def test_the_readme_example_runs(
    api_url: str, admin_key: str, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await start_worker()
    monkeypatch.setenv("JOBQ_API_URL", api_url)  # as `make run` prints them
    monkeypatch.setenv("JOBQ_API_KEY", admin_key)
    code = example()
    assert len(code.strip().splitlines()) <= 6, "the example stays short"

    def run() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own example
        return out.getvalue()

    assert await asyncio.to_thread(run) == "succeeded\n"
