"""Structured logs: JSON lines carrying the job and its trace; text on a terminal."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from jobq_core.telemetry import logs
from tests.conftest import Servers
from tests.observability.stack import spans_until, traced_stack
from tests.support.otlp import Receiver, otlp_receiver
from tests.support.wait import until


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as r:
        yield r


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as JSON; fails on a line that is not."""
    docs = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            docs.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
    return docs


async def test_worker_and_api_log_json_lines_with_the_job_and_its_trace(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path, receiver: Receiver
) -> None:
    async with traced_stack(
        servers, db, tmp_path, receiver, worker_env={"JOBQ_LOG_FORMAT": "json"}, api_env={"JOBQ_LOG_FORMAT": "json"}
    ) as stack:
        log_job = await stack.submit({"type": "obs.log"})
        flaky_job = await stack.submit({"type": "obs.fail_once"})
        await stack.wait_status(log_job, "succeeded")
        await stack.wait_status(flaky_job, "succeeded")

        def process_span(job_id: str, attempt: int) -> Any:
            return next(
                (
                    s
                    for s in receiver.snapshot()
                    if s.kind == "CONSUMER"
                    and s.attributes["messaging.message.id"] == job_id
                    and s.attributes["jobq.job.attempt"] == attempt
                ),
                None,
            )

        await spans_until(
            receiver, "the process spans", lambda _: process_span(log_job, 1) and process_span(flaky_job, 1)
        )

        async def logged() -> bool:
            return "hello from a module logger" in stack.worker.log()

        await until(logged, what="the handler's log line")
        worker_lines = _json_lines(stack.worker.log())
        api_lines = _json_lines(stack.api.log())

    for doc in worker_lines + api_lines:
        assert {"time", "level", "logger", "message"} <= doc.keys(), doc
    by_message = {d["message"]: d for d in worker_lines}
    span = process_span(log_job, 1)
    for message, logger in (("hello from the job's logger", "jobq.job.obs.log"), ("hello from a module logger", None)):
        doc = by_message[message]
        assert doc["job_id"] == log_job
        assert doc["job_type"] == "obs.log"
        assert doc["queue"] == "default"
        assert doc["attempt"] == 1
        assert (doc["trace_id"], doc["span_id"]) == (span.trace_id, span.span_id)
        if logger:
            assert doc["logger"] == logger
    # The runner's own line about the failed first attempt is tagged the same way.
    failed = next(d for d in worker_lines if "failed (RuntimeError)" in d["message"])
    first = process_span(flaky_job, 1)
    assert (failed["job_id"], failed["job_type"], failed["attempt"]) == (flaky_job, "obs.fail_once", 1)
    assert (failed["trace_id"], failed["span_id"]) == (first.trace_id, first.span_id)
    # Lines outside any job carry no job fields.
    serving = next(d for d in worker_lines if d["message"].startswith("worker ") and "serving" in d["message"])
    assert "job_id" not in serving and "trace_id" not in serving
    assert any(d["logger"].startswith("uvicorn") for d in api_lines), "uvicorn's lines go through the same format"


async def test_text_format_is_one_readable_line_with_the_job(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path
) -> None:
    async with traced_stack(servers, db, tmp_path, None, worker_env={"JOBQ_LOG_FORMAT": "text"}) as stack:
        job_id = await stack.submit({"type": "obs.log"})
        await stack.wait_status(job_id, "succeeded")

        async def line() -> str | None:
            return next((x for x in stack.worker.log().splitlines() if "hello from a module logger" in x), None)

        text = await until(line, what="the handler's log line")
    assert text is not None
    assert text.startswith("20")  # the time first, as people read it
    assert " WARNING tests.observability: hello from a module logger  [" in text
    assert f"job_id={job_id}" in text and "job_type=obs.log" in text and "attempt=1" in text
    assert "trace_id" not in text  # tracing is off


def test_auto_is_text_on_a_terminal_and_json_otherwise() -> None:
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            assert logs.resolve("auto", tty) == "text"
    finally:
        os.close(leader)
        os.close(follower)
    assert logs.resolve("auto", io.StringIO()) == "json"
    assert logs.resolve("text", io.StringIO()) == "text"
    with pytest.raises(ValueError, match="log format must be one of auto, json, text, not 'xml'"):
        logs.resolve("xml", io.StringIO())


def test_json_lines_carry_extra_fields_and_exceptions() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        assert logs.configure("INFO", "json", stream) == "json"
        with logs.job_scope("j-1", "email.send", "mail", 3):
            logging.getLogger("jobq.test").info("sent %d", 2, extra={"recipients": ["a@example.com"]})
        try:
            raise KeyError("boom")
        except KeyError:
            logging.getLogger("jobq.test").exception("it broke")
        logging.getLogger("jobq.test").debug("below the level")
    finally:
        root.handlers[:], root.level = saved
    first, second = _json_lines(stream.getvalue())
    assert first["message"] == "sent 2" and first["level"] == "INFO" and first["logger"] == "jobq.test"
    assert (first["job_id"], first["job_type"], first["queue"], first["attempt"]) == ("j-1", "email.send", "mail", 3)
    assert first["recipients"] == ["a@example.com"]
    assert second["message"] == "it broke" and "job_id" not in second
    assert second["exception_type"] == "KeyError" and "KeyError: 'boom'" in second["exception"]


@pytest.mark.parametrize("module", ["jobq_api", "jobq_worker"])
def test_a_bad_log_format_stops_the_service_naming_the_variable(module: str) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "JOBQ_"))}
    env.update(
        JOBQ_DATABASE_URL="postgresql://x@127.0.0.1/x", JOBQ_REDIS_URL="redis://127.0.0.1:1", JOBQ_LOG_FORMAT="xml"
    )
    done = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "JOBQ_LOG_FORMAT" in done.stderr
