"""Dashboard fixtures: the API serving the built dashboard, a worker, and Chromium through Playwright.

The API and the browser run once for this folder's tests (package scope: no API process
lingers through the rest of the suite); everything a test can change is reset per test by
the `db` fixture (tables truncated, Redis flushed), so the worker, the keys and the
browser context are made afresh for each test after that reset.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from tests.conftest import Servers
from tests.dashboard.helpers import DASHBOARD_DIR_ENV, REPO
from tests.support import processes
from tests.support.processes import Api, Service, service_env

PAGE_ERRORS = pytest.StashKey[list[str]]()
"""What the test's page logged as errors so far."""
_REPORTED = pytest.StashKey[int]()
_HTTP_STATUS = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


@dataclass
class Stack:
    """The API (shared by the dashboard tests) and this test's worker, on freshly reset servers."""

    api: Api
    worker: Service

    @property
    def url(self) -> str:
        """The API's base URL; the dashboard is at `url + "/ui/"`."""
        return self.api.url


@dataclass
class Key:
    """An API key made for one test: its name as the dashboard shows it, and its secret."""

    name: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header that presents this key."""
        return {"Authorization": f"Bearer {self.secret}"}


def dashboard_dist() -> Path:
    """The dashboard build to serve: dashboard/dist, or the folder DASHBOARD_TEST_DIR names."""
    override = os.environ.get(DASHBOARD_DIR_ENV)
    dist = Path(override) if override else REPO / "dashboard" / "dist"
    if not (dist / "index.html").is_file():
        pytest.fail(
            f"{dist / 'index.html'} is missing: run `make dashboard` to build the dashboard first", pytrace=False
        )
    return dist


async def start_dashboard_api(database_url: str, redis_url: str, log: Path, **settings: str) -> Api:
    """Start the API as a process on these servers, serving the dashboard build, and wait until it is ready."""
    env = service_env(
        database_url,
        redis_url,
        JOBQ_DASHBOARD_DIR=str(dashboard_dist()),
        **{
            "JOBQ_ENVIRONMENT_NAME": "test",
            "JOBQ_API_KEY_CACHE_S": "0",  # keys are made per test; a cached verdict must not outlive its key
            **settings,
        },
    )
    return await processes.start_api(env, log)


@pytest.fixture(scope="package")
async def dashboard_api(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The API serving the dashboard for this folder's tests; it must exit 0 at the end."""
    api = await start_dashboard_api(
        servers.database_url,
        servers.redis_url,
        tmp_path_factory.mktemp("dashboard-api") / "api.log",
        JOBQ_QUEUE_LATENCY_TARGETS="unserved=1",  # the Overview test's queue needs attention after a second
    )
    yield api
    code = api.service.stop()
    assert code == 0, f"the API exited {code}:\n{api.service.log()}"


@pytest.fixture
async def stack(dashboard_api: Api, servers: Servers, db: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Stack]:
    """The API and one worker, started after `db` reset the servers; the worker must exit 0 on SIGTERM."""
    env = service_env(servers.database_url, servers.redis_url)
    worker = await processes.start_worker(db, env, tmp_path / "worker.log")
    yield Stack(dashboard_api, worker)
    code = worker.stop(signal.SIGTERM)
    assert code == 0, f"the worker exited {code}:\n{worker.log()}"
    # A stop that had to abandon a task still exits 0: its log line says so.
    assert "did not stop within" not in worker.log(), f"the worker's stop hung:\n{worker.log()}"
    assert dashboard_api.service.process.poll() is None, f"the API exited:\n{dashboard_api.service.log()}"


async def _key(db: asyncpg.Pool, name: str, scopes: list[Scope]) -> Key:
    return Key(name, await apikeys.create(db, name, scopes))


@pytest.fixture
async def admin_key(db: asyncpg.Pool) -> Key:
    """A key with the admin scope."""
    return await _key(db, "dashboard admin", [Scope.ADMIN])


@pytest.fixture
async def write_key(db: asyncpg.Pool) -> Key:
    """A key that may submit and read jobs (jobs:write, jobs:read), not control queues."""
    return await _key(db, "dashboard writer", [Scope.JOBS_WRITE, Scope.JOBS_READ])


@pytest.fixture
async def read_key(db: asyncpg.Pool) -> Key:
    """A read-only key (jobs:read)."""
    return await _key(db, "dashboard reader", [Scope.JOBS_READ])


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium: the system's (`make browser` installs Debian's), not a Playwright download."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not on PATH: run `make browser`", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            # Playwright passes --no-sandbox unless the sandbox is asked for. Chromium refuses
            # to start its sandbox as root (CI and this machine run as root), so ask only when not root.
            chromium_sandbox=os.geteuid() != 0,
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a new browser context on the stack (relative URLs: `await page.goto("/ui/")`).

    Any console error or uncaught exception in the page fails the test, with the messages.
    """
    errors: list[str] = []
    request.node.stash[PAGE_ERRORS] = errors
    outage = request.node.get_closest_marker("outage") is not None
    context = await browser.new_context(
        base_url=stack.url,
        viewport={"width": 1280, "height": 800},
        locale="en-US",
        timezone_id="UTC",
        color_scheme="light",
    )
    opened = await context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _api_answer(message, unavailable_expected=outage):
            where = message.location
            errors.append(f"console error: {message.text} ({where['url']}:{where['lineNumber']})")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught in the page: {error.name}: {error.message}\n{error.stack or ''}".rstrip())

    opened.on("console", on_console)
    opened.on("pageerror", on_page_error)
    yield opened
    await context.close()
    # What arrived after the test body (pytest_runtest_call reported what came before).
    late = errors[request.node.stash.get(_REPORTED, 0) :]
    if late:
        pytest.fail("the page logged errors after the test:\n" + "\n".join(late), pytrace=False)


def _api_answer(message: ConsoleMessage, *, unavailable_expected: bool = False) -> bool:
    """Whether `message` is Chromium's log line for a 4xx from /v1/: an answer the app shows, not a fault.

    Chromium logs every fetch that gets a 4xx or 5xx as a console error, so a wrong key
    (401) or a refused action (403) would fail a test that checks the app handles it. A
    5xx, and any failed load of the dashboard's own files, still counts — except a 503
    from the API in a test marked `outage`, which takes a server down on purpose.
    """
    status = _HTTP_STATUS.match(message.text)
    path = urlsplit(message.location["url"]).path
    if status is None or not (path.startswith("/v1/") or path == "/readyz"):
        return False
    code = int(status.group(1))
    return code < 500 or (unavailable_expected and code == 503)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Fail a test whose page logged a console error or threw, after the test body ran."""
    try:
        return (yield)
    finally:
        errors = item.stash.get(PAGE_ERRORS, [])
        item.stash[_REPORTED] = len(errors)
        if errors:
            pytest.fail("the page logged errors:\n" + "\n".join(errors), pytrace=False)
