"""`jobq submit --batch FILE.jsonl`: every line a job, sent in chunks, with a progress bar on a
terminal and lines now and then elsewhere; a refused chunk names the file's line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import asyncpg

from tests.client.cli.conftest import Cli

LINES = 300


def batch_file(path: Path, lines: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(line) + "\n" + ("\n" if i == 10 else "") for i, line in enumerate(lines)))
    return str(path)


def jobs(n: int = LINES) -> list[dict[str, object]]:
    return [{"type": "jobq.noop", "payload": {"n": i}, "tags": ["batch"]} for i in range(n)]


async def stored(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE 'batch' = ANY(tags)"))


async def test_a_batch_is_submitted_in_chunks_with_progress_lines_off_a_terminal(
    cli: Cli, db: asyncpg.Pool, tmp_path: Path
) -> None:
    path = batch_file(tmp_path / "jobs.jsonl", jobs())  # with a blank line, skipped

    ran = await cli("submit", "--batch", path, "--chunk-size", "100")

    assert ran.code == 0, ran
    assert ran.out == f"{LINES} jobs submitted from {path}: {LINES} queued\n"
    assert re.fullmatch(rf"{LINES}/{LINES} jobs 100%  [\d,]+/s", ran.errors[-1]), ran.err
    assert ran.errors[0].startswith(f"100/{LINES} jobs  33%"), "the first chunk, then at most a line every 2 s"
    assert "\r" not in ran.err
    assert await stored(db) == LINES

    as_json = await cli("submit", "--batch", "-", "--json", input=Path(path).read_text())
    assert as_json.code == 0, as_json
    submitted = as_json.json()
    assert [job["payload"]["n"] for job in submitted] == list(range(LINES)), "in the file's order"
    assert await stored(db) == 2 * LINES, "each line has its own idempotency key"


async def test_on_a_terminal_the_bar_is_drawn_again_in_place(cli: Cli, tmp_path: Path) -> None:
    path = batch_file(tmp_path / "jobs.jsonl", jobs())

    ran = await cli.on_terminal("submit", "--batch", path, "--chunk-size", "50", stream="stderr")

    assert ran.code == 0, ran
    frames = ran.err.split("\r")[1:]
    assert len(frames) == LINES // 50, ran.err
    assert frames[0].startswith("[#####" + "." * 25 + f"] 50/{LINES} jobs  17%")
    assert frames[-1].startswith("[" + "#" * 30 + f"] {LINES}/{LINES} jobs 100%") and frames[-1].endswith("/s\n")
    assert ran.out.startswith(f"{LINES} jobs submitted")


async def test_a_refused_chunk_names_the_files_line_and_what_was_submitted_before_it(
    cli: Cli, db: asyncpg.Pool, tmp_path: Path
) -> None:
    lines = jobs()
    lines[149]["payload"] = {"n": "one hundred and fifty"}  # jobq.noop takes any payload: spoil the type
    lines[149]["type"] = "jobq.sleep"
    path = batch_file(tmp_path / "jobs.jsonl", lines)  # the blank line after line 11 shifts the rest by one

    ran = await cli("submit", "--batch", path, "--chunk-size", "100")

    assert ran.code == 5, ran
    field_lines = [line for line in ran.errors if "jobs[149]" in line]
    assert field_lines and all(line.startswith("jobq: line 151: jobs[149].payload") for line in field_lines), ran.err
    assert ran.errors[-1] == (
        f"jobq: 100 of {LINES} jobs (to line 101) were submitted before that; submitting the file again "
        "submits them again, unless their lines carry an idempotency_key"
    )
    assert await stored(db) == 100, "the chunk that failed stored nothing"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "jobq.noop"}\n[1, 2]\n')
    not_a_job = await cli("submit", "--batch", str(bad))
    assert not_a_job.code == 2 and not_a_job.errors == [f'jobq: {bad} line 2 is not a job object ({{"type": …}})']
