"""Exit statuses that mean something, with one line on stderr each: never a traceback, never the key."""

from __future__ import annotations

import time

import pytest

from tests.client.cli.conftest import Cli, Ran, environment

SECRET_BAD_KEY = "jobq_s3cr3t-but-unknown-k3y"


def one_line_each(ran: Ran) -> None:
    assert "Traceback" not in ran.err and ran.err.endswith("\n"), ran
    assert all(line.startswith("jobq: ") for line in ran.errors), ran


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
async def test_no_such_job_is_3(cli: Cli, output: list[str]) -> None:
    ran = await cli("get", "01a232cb-0000-7000-8000-000000000000", *output)
    assert ran.code == 3 and ran.out == "", ran
    assert ran.errors == [
        "jobq: No such object: GET /v1/jobs/01a232cb-0000-7000-8000-000000000000 answered 404: no job with this id"
    ]


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
async def test_a_bad_key_is_4_and_is_never_printed(cli: Cli, output: list[str]) -> None:
    bad = cli.with_env(JOBQ_API_KEY=SECRET_BAD_KEY)
    for args in (["ls"], ["submit", "jobq.noop"], ["tail"], ["wait", "01a232cb-0000-7000-8000-000000000000"]):
        ran = await bad(*args, *output)
        assert ran.code == 4, (args, ran)
        assert len(ran.errors) == 1 and "answered 401: unknown or revoked API key" in ran.err, ran
        assert SECRET_BAD_KEY not in ran.out + ran.err
        one_line_each(ran)


async def test_a_field_error_is_5_and_each_field_is_named_on_its_line(cli: Cli) -> None:
    ran = await cli("submit", "jobq.sleep", "--payload", '{"seconds": "soon", "steps": 0}')
    assert ran.code == 5 and ran.out == "", ran
    assert ran.errors[0] == "jobq: The jobq API rejected fields of the request: POST /v1/jobs answered 422"
    assert sorted(ran.errors[1:]) == [
        "jobq: payload.seconds: 'soon' is not of type 'number'",
        "jobq: payload.steps: 0 is less than the minimum of 1",
    ]
    unknown = await cli("submit", "no.such.type", "--json")
    assert unknown.code == 5 and unknown.errors[1].startswith("jobq: type: "), unknown
    one_line_each(unknown)


async def test_a_wait_past_its_timeout_is_7(cli: Cli) -> None:
    started = time.monotonic()
    ran = await cli("submit", "jobq.noop", "--delay", "600", "--wait", "--timeout", "1.5")
    assert ran.code == 7, ran
    assert 1.5 <= time.monotonic() - started < 6
    assert ran.lines[0].split()[1] == "scheduled" and ran.errors[0].endswith("is still scheduled after 1.5 s")


async def test_an_api_that_cannot_be_reached_is_8_within_the_timeout(closed_port_url: str) -> None:
    down = Cli(environment(closed_port_url, "jobq_any"))
    for args in (["ls"], ["submit", "jobq.noop"], ["tail"]):
        started = time.monotonic()
        ran = await down(*args, "--timeout", "2")
        assert ran.code == 8, (args, ran)
        assert time.monotonic() - started < 8, "retries stop within --timeout"
        assert ran.errors[-1].startswith("jobq: Could not reach the jobq API: ") and closed_port_url in ran.errors[-1]
        assert "trying again in" in ran.errors[0], "each retry is said as it is made"
        one_line_each(ran)


async def test_usage_and_configuration_errors_are_2(cli: Cli, tmp_path) -> None:
    no_key = await cli.with_env(JOBQ_API_KEY=None)("ls")
    assert no_key.code == 2 and "no API key: set JOBQ_API_KEY" in no_key.err, no_key

    key_file = tmp_path / "key"
    key_file.write_text(cli.env["JOBQ_API_KEY"] + "\n")
    from_file = await cli.with_env(JOBQ_API_KEY=None)("queues", "--key-file", str(key_file), "--json")
    assert from_file.code == 0 and isinstance(from_file.json(), list), from_file
    missing = await cli("ls", "--key-file", str(tmp_path / "nowhere"))
    assert missing.code == 2 and f"cannot read --key-file {tmp_path / 'nowhere'}" in missing.err, missing

    for args, said in [
        (["submit", "jobq.noop", "--payload", "{not json"], "jobq: --payload is not JSON: "),
        (["submit", "jobq.noop", "--payload", f"@{tmp_path / 'none.json'}"], "jobq: --payload: cannot read "),
        (["submit"], "jobq: submit: name the job TYPE, or pass --batch FILE"),
        (["submit", "jobq.noop", "--batch", "x.jsonl"], "jobq: submit --batch takes every job from its file"),
        (["ls", "--limit", "0"], "jobq: --limit must be at least 1"),
        (["ls", "--status", "lost"], "argument --status: invalid choice: 'lost'"),
        (["wait", "x", "--timeout", "-1"], "argument --timeout: must be above 0, not -1"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ]:
        ran = await cli(*args)
        assert ran.code == 2 and said in ran.err and "Traceback" not in ran.err, (args, ran)
