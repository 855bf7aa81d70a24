"""The API key goes in the Authorization header and nowhere else: no repr, no exception
message, no log line shows it, even when a server says it back."""

from __future__ import annotations

import logging
import traceback

import pytest

from jobq_client import AsyncClient, Client, ConfigurationError, JobqError, RetryPolicy
from tests.client.conftest import MakeClient
from tests.client.fakes import DROP, HANG, Answer, ScriptedServer, Seen, problem

SECRET = "jobq_s3cr3t-k3y-that-must-not-leak"


def texts(error: BaseException) -> str:
    """Everything an error can print: its message, repr, the chained tracebacks, its attributes."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error), repr(vars(error))])


def echo(seen: Seen) -> Answer:
    """A server that says the key back, in its detail, a field error and an extra member."""
    said = seen.headers["authorization"]
    return Answer(
        422,
        problem(422, f"bad key {said}", errors=[{"field": "auth", "message": said}], key=said, title="Invalid request"),
    )


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG (httpx's and httpcore's included) for the whole test."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_key_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the check proves nothing"
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in caplog.text, record.getMessage()


def test_no_repr_shows_the_key() -> None:
    for client in (Client("http://127.0.0.1:9", api_key=SECRET), AsyncClient("http://127.0.0.1:9", api_key=SECRET)):
        shown = [repr(client), str(client), repr(vars(client)), repr(client._config), str(client._config.api_key)]
        assert all(SECRET not in text for text in shown), shown
        assert "127.0.0.1:9" in repr(client)


def test_a_key_an_http_header_cannot_carry_is_refused_without_echoing_it() -> None:
    for bad in (SECRET + " ", SECRET + "\n", "jobq_é" + SECRET):
        with pytest.raises(ConfigurationError) as caught:
            Client(api_key=bad)
        assert SECRET not in texts(caught.value)


async def test_what_a_server_says_back_is_redacted(
    make_client: MakeClient, everything_logged: pytest.LogCaptureFixture
) -> None:
    async with ScriptedServer(echo) as server:
        jobq = await make_client(server.url, SECRET)
        with pytest.raises(JobqError) as caught:
            await jobq.submit("jobq.noop")

    assert server.seen[0].headers["authorization"] == f"Bearer {SECRET}", "the key was sent"
    error = caught.value
    assert SECRET not in texts(error) and SECRET not in repr(error.problem) and SECRET not in repr(error.fields)
    assert "[redacted]" in str(error)
    assert_no_key_logged(everything_logged)


async def test_no_error_nor_log_line_of_a_failing_call_shows_the_key(
    make_client: MakeClient, api_url: str, everything_logged: pytest.LogCaptureFixture
) -> None:
    errors: list[BaseException] = []
    unknown = await make_client(api_url, SECRET)  # the real API: an unknown key is 401
    with pytest.raises(JobqError) as caught:
        await unknown.list_queues()
    errors.append(caught.value)

    busy = Answer(503, problem(503), {"Retry-After": "0"})
    async with ScriptedServer(busy, busy, DROP, HANG) as server:
        jobq = await make_client(server.url, SECRET, timeout=0.3, retry=RetryPolicy(attempts=2, backoff_s=0.05))
        for call in (jobq.submit("jobq.noop"), jobq.cancel_job("x"), jobq.get_job("x")):
            with pytest.raises(JobqError) as caught:
                await call
            errors.append(caught.value)
        closed_url = server.url
    nobody = await make_client(closed_url, SECRET, retry=RetryPolicy(attempts=1))
    with pytest.raises(JobqError) as caught:
        await nobody.me()
    errors.append(caught.value)

    kinds = {type(e).__name__ for e in errors}
    assert kinds == {"Unauthorized", "Unavailable", "ConnectionFailed", "Timeout"}, kinds
    for error in errors:
        assert SECRET not in texts(error), texts(error)
    assert any("trying again" in r.getMessage() for r in everything_logged.records)
    assert_no_key_logged(everything_logged)
