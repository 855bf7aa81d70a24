"""The README's command-line example, run as written: the `export` line `make run` prints (with
this test's URL and key), then each `jobq` line through the installed console script."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.client.cli.conftest import Cli, environment
from tests.integration.conftest import StartWorker

README = Path(__file__).resolve().parents[3] / "README.md"


def example() -> list[str]:
    """The lines of the first sh block of the README's "Command line" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Command line\n") :]
    start = section.index("```sh\n") + len("```sh\n")
    return [line for line in section[start : section.index("```", start)].splitlines() if line.strip()]


async def test_the_readme_example_runs(api_url: str, admin_key: str, start_worker: StartWorker) -> None:
    await start_worker()
    export, *commands = example()
    assert sorted(dict(word.split("=", 1) for word in shlex.split(export, comments=True)[1:])) == [
        "JOBQ_API_KEY",
        "JOBQ_API_URL",
    ], "the names `make run` prints"
    assert commands and all(line.startswith("jobq ") for line in commands), commands
    cli = Cli(environment(api_url, admin_key))

    for line in commands:
        ran = await cli(*shlex.split(line)[1:])
        assert ran.code == 0, (line, ran)

    submitted, ended = ran.lines
    job_id = submitted.split()[0]
    assert submitted == f"{job_id}  queued  jobq.sleep on default"
    assert re.fullmatch(rf"{job_id}  succeeded  jobq.sleep on default  attempt 1 of 3  ran 2\.\d s  result .*", ended)
