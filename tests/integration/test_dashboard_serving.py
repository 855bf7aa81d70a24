"""The dashboard's built files under `/ui/`, served from `JOBQ_DASHBOARD_DIR` on the API's origin.

Each test writes a build of its own (an `index.html` with the placeholders the
dashboard's Vite build leaves, hashed files under `assets/`) and runs the real app.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from jobq_api.app import create_app, untraced
from jobq_core import __version__
from jobq_core.errors import ConfigurationError
from tests.conftest import Servers
from tests.integration.api_helpers import assert_problem
from tests.integration.conftest import api_settings

INDEX = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <base href="/ui/" />
    <meta name="jobq-config" content="{}" />
    <title>jobq</title>
    <script src="./theme.js"></script>
    <script type="module" crossorigin src="./assets/app-abc123.js"></script>
    <link rel="stylesheet" crossorigin href="./assets/app-def456.css">
  </head>
  <body><div id="root"></div></body>
</html>
"""
APP_JS = b"export const answer = 42;\n"
APP_CSS = b"body { margin: 0; }\n"
SECRET = "root:x:0:0:not-for-the-browser\n"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self';"
    " connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
IMMUTABLE = "public, max-age=31536000, immutable"

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A dashboard build (`dist/`), with a file beside it that must never be served."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "theme.js").write_text("document.documentElement.dataset.theme = 'light';\n")
    (dist / "assets" / "app-abc123.js").write_bytes(APP_JS)
    (dist / "assets" / "app-def456.css").write_bytes(APP_CSS)
    (dist / "assets" / "font-0a1b2c.woff2").write_bytes(b"wOF2\x00\x01")
    (tmp_path / "secret.txt").write_text(SECRET)
    return dist


@pytest.fixture
def serve(servers: Servers, build: Path) -> Serve:
    """Run the app with the build and extra settings; `root_path` is what an ASGI server would pass."""

    @asynccontextmanager
    async def serving(root_path: str = "", **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(api_settings(servers, **{"dashboard_dir": build, **settings}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, root_path=root_path)
            async with httpx.AsyncClient(transport=transport, base_url="http://jobq.test") as client:
                yield client

    return serving


@pytest.fixture
async def ui(serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app serving the build, without a public path."""
    async with serve() as client:
        yield client


@pytest.fixture
def ui_app(servers: Servers, build: Path) -> FastAPI:
    """The app serving the build, to call as a server would (its dashboard needs no lifespan)."""
    return create_app(api_settings(servers, dashboard_dir=build))


class _Head(HTMLParser):
    """The base href and the jobq-config content as a browser reads them (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.base: str | None = None
        self.config: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "base":
            self.base = values.get("href")
        if tag == "meta" and values.get("name") == "jobq-config":
            self.config = values.get("content")


def read_page(response: httpx.Response) -> tuple[str | None, dict[str, Any]]:
    """(base href, config) of a served index.html."""
    head = _Head()
    head.feed(response.text)
    assert head.config is not None, response.text
    return head.base, json.loads(head.config)


def assert_app_page(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert '<div id="root"></div>' in response.text


def assert_strict_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def raw_get(app: FastAPI, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as a server would pass it (httpx would remove `..` segments first)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"jobq.test")],
        "server": ("jobq.test", 80),
        "client": ("127.0.0.1", 50000),
    }
    status, body = 0, b""
    requested, answered = False, asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()  # a streamed file listens for the client leaving
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
            if not message.get("more_body", False):
                answered.set()

    await app(scope, receive, send)
    return status, body


# --- redirects, files and the app's page -------------------------------------------------


@pytest.mark.parametrize(("path", "location"), [("/", "/ui/"), ("/ui", "/ui/"), ("/ui?job=7", "/ui/?job=7")])
async def test_the_root_and_ui_redirect_to_the_dashboard(ui: httpx.AsyncClient, path: str, location: str) -> None:
    response = await ui.get(path)

    assert response.status_code == 307
    assert response.headers["location"] == location


@pytest.mark.parametrize(
    ("name", "body", "content_type"),
    [
        ("app-abc123.js", APP_JS, "text/javascript; charset=utf-8"),
        ("app-def456.css", APP_CSS, "text/css; charset=utf-8"),
        ("font-0a1b2c.woff2", b"wOF2\x00\x01", "font/woff2"),
    ],
)
async def test_a_hashed_asset_is_served_for_a_year_with_its_type(
    ui: httpx.AsyncClient, name: str, body: bytes, content_type: str
) -> None:
    response = await ui.get(f"/ui/assets/{name}")

    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == IMMUTABLE


@pytest.mark.parametrize("path", ["/ui/assets/app-000000.js", "/ui/assets/", "/ui/assets/nested/app.js"])
async def test_a_missing_asset_is_a_404_not_the_app_page(ui: httpx.AsyncClient, path: str) -> None:
    response = await ui.get(path)

    assert_problem(response, 404)
    assert "root" not in response.text
    assert "immutable" not in response.headers["cache-control"]


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/jobs/abc", "/ui/queues", "/ui/jobs?status=dead", "/ui/index.html", "/ui/assets"]
)
async def test_every_other_path_under_ui_is_the_app_page(ui: httpx.AsyncClient, path: str) -> None:
    response = await ui.get(path)

    assert_app_page(response)
    base, config = read_page(response)
    assert base == "/ui/"
    assert config["basePath"] == ""


async def test_a_file_beside_index_html_is_served_and_revalidated(ui: httpx.AsyncClient) -> None:
    response = await ui.get("/ui/theme.js")

    assert response.status_code == 200
    assert "dataset.theme" in response.text
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"


async def test_the_app_page_is_revalidated_by_its_etag(ui: httpx.AsyncClient) -> None:
    first = await ui.get("/ui/jobs/abc")
    etag = first.headers["etag"]

    again = await ui.get("/ui/queues", headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "no-cache"


async def test_a_rebuilt_index_is_served_without_a_restart(ui: httpx.AsyncClient, build: Path) -> None:
    before = await ui.get("/ui/")
    index = build / "index.html"
    index.write_text(INDEX.replace("<title>jobq</title>", "<title>jobq, rebuilt</title>"))
    stat = index.stat()
    os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    after = await ui.get("/ui/")

    assert "rebuilt" not in before.text
    assert_app_page(after)
    assert "<title>jobq, rebuilt</title>" in after.text
    assert after.headers["etag"] != before.headers["etag"]
    assert read_page(after)[0] == "/ui/"


@pytest.mark.parametrize(
    "path", ["/", "/ui", "/ui/", "/ui/jobs/abc", "/ui/theme.js", "/ui/assets/app-abc123.js", "/ui/assets/gone.js"]
)
async def test_every_dashboard_response_carries_the_strict_policy(ui: httpx.AsyncClient, path: str) -> None:
    assert_strict_headers(await ui.get(path))


async def test_the_page_needs_no_inline_script_or_style(ui: httpx.AsyncClient) -> None:
    # What the CSP would block: the page served must not depend on it.
    page = (await ui.get("/ui/")).text

    assert "<style" not in page
    assert " style=" not in page
    assert "<script>" not in page


# --- what is never served --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ui/assets/../../secret.txt",
        "/ui/assets/../../../secret.txt",
        "/ui/assets/../index.html",
        "/ui/assets//etc/passwd",
        "/ui/assets/%2e%2e/%2e%2e/secret.txt",
        "/ui/assets/app-abc123.js\x00.png",
    ],
)
async def test_an_asset_path_cannot_leave_the_assets_folder(ui_app: FastAPI, path: str) -> None:
    status, body = await raw_get(ui_app, path)

    assert status == 404
    assert b"not-for-the-browser" not in body
    assert b"jobq-config" not in body


async def test_a_path_inside_the_assets_folder_is_served_as_given(ui_app: FastAPI) -> None:
    # The control for the two tests around it: raw paths reach the files they name.
    assert await raw_get(ui_app, "/ui/assets/app-abc123.js") == (200, APP_JS)
    assert await raw_get(ui_app, "/ui/assets/./app-abc123.js") == (200, APP_JS)


@pytest.mark.parametrize("path", ["/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/..%2fsecret.txt"])
async def test_a_page_path_cannot_reach_outside_the_build(ui_app: FastAPI, path: str) -> None:
    status, body = await raw_get(ui_app, path)

    assert b"not-for-the-browser" not in body
    assert status in (200, 404)  # the app's page at most


async def test_only_get_and_head_are_answered(ui: httpx.AsyncClient) -> None:
    head = await ui.head("/ui/assets/app-abc123.js")
    page_head = await ui.head("/ui/jobs/abc")
    posted = await ui.post("/ui/jobs/abc", json={})
    deleted = await ui.delete("/ui/assets/app-abc123.js")

    assert (head.status_code, head.headers["cache-control"]) == (200, IMMUTABLE)
    assert (page_head.status_code, page_head.headers["cache-control"]) == (200, "no-cache")
    assert_problem(posted, 405)
    assert_problem(deleted, 405)
    assert "GET" in posted.headers["allow"]


# --- the base path and the config the app reads ---------------------------------------------


async def test_a_public_path_prefixes_the_base_href_the_config_and_the_redirects(serve: Serve) -> None:
    async with serve(public_path="/jobq") as client:
        page = await client.get("/ui/jobs/abc")
        root = await client.get("/")
        ui = await client.get("/ui")
        asset = await client.get("/ui/assets/app-abc123.js")  # the proxy strips the prefix

    assert_app_page(page)
    base, config = read_page(page)
    assert base == "/jobq/ui/"
    assert (config["basePath"], config["apiBase"]) == ("/jobq", "/jobq")
    assert root.headers["location"] == ui.headers["location"] == "/jobq/ui/"
    assert asset.content == APP_JS


async def test_without_a_public_path_the_asgi_root_path_is_the_prefix(serve: Serve) -> None:
    async with serve(root_path="/proxied") as client:
        base, config = read_page(await client.get("/ui/"))
        redirect = await client.get("/ui")

    assert base == "/proxied/ui/"
    assert config["basePath"] == "/proxied"
    assert redirect.headers["location"] == "/proxied/ui/"


async def test_the_public_path_wins_over_the_root_path(serve: Serve) -> None:
    async with serve(root_path="/proxied", public_path="/jobq") as client:
        base, config = read_page(await client.get("/ui/"))

    assert (base, config["basePath"]) == ("/jobq/ui/", "/jobq")


async def test_the_environment_reaches_the_app_escaped(serve: Serve) -> None:
    name = "Prod \"EU\" <script>alert(1)</script> & 'west'"
    async with serve(environment_name=name, environment_color="#0a7") as client:
        response = await client.get("/ui/")

    assert "<script>alert" not in response.text
    assert '"EU"' not in response.text
    _, config = read_page(response)
    assert config == {
        "basePath": "",
        "apiBase": "",
        "environment": {"name": name, "color": "#0a7"},
        "version": __version__,
        "localMail": False,
    }


async def test_the_default_environment_is_nameless_and_amber(ui: httpx.AsyncClient) -> None:
    _, config = read_page(await ui.get("/ui/"))

    assert config["environment"] == {"name": "", "color": "#b45309"}


async def test_the_app_is_told_of_caught_mail_only_where_the_api_lists_it(serve: Serve, tmp_path: Path) -> None:
    async with serve() as client:
        _, elsewhere = read_page(await client.get("/ui/"))
    async with serve(local_mail_dir=tmp_path) as client:
        _, under_jobq_run = read_page(await client.get("/ui/mail"))

    assert elsewhere["localMail"] is False
    assert under_jobq_run["localMail"] is True


def test_an_index_without_the_placeholders_stops_start_up(servers: Servers, build: Path) -> None:
    (build / "index.html").write_text(INDEX.replace('<base href="/ui/" />', '<base href="/" />'))

    with pytest.raises(ConfigurationError) as info:
        create_app(api_settings(servers, dashboard_dir=build))

    assert str(info.value).startswith("JOBQ_DASHBOARD_DIR ")
    assert '<base href="/ui/">' in str(info.value)
    assert "jobq-config" not in str(info.value)


# --- no dashboard ----------------------------------------------------------------------


async def test_without_a_dashboard_dir_ui_says_there_is_none(servers: Servers) -> None:
    app = create_app(api_settings(servers))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobq.test") as client:
            pages = [await client.get(path) for path in ("/ui", "/ui/", "/ui/jobs/abc", "/ui/assets/app-abc123.js")]
            root = await client.get("/")

    for response in pages:
        problem = assert_problem(response, 404)
        assert problem["type"].endswith("/dashboard-not-configured")
        assert "JOBQ_DASHBOARD_DIR" in problem["detail"]
    assert_problem(root, 404)
    assert "location" not in root.headers


# --- beside the API --------------------------------------------------------------------


async def test_the_dashboard_needs_no_key_and_the_api_still_does(ui: httpx.AsyncClient) -> None:
    page = await ui.get("/ui/jobs/abc")
    jobs = await ui.get("/v1/jobs")

    assert_app_page(page)
    assert_problem(jobs, 401)


async def test_the_dashboard_is_not_in_the_openapi_document(ui: httpx.AsyncClient) -> None:
    paths = (await ui.get("/openapi.json")).json()["paths"]

    assert not [p for p in paths if p == "/" or p.startswith("/ui")]
    assert "/v1/me" in paths


def _dashboard_requests(text: str) -> tuple[float, set[str]]:
    """(requests counted under the dashboard label, every route label) from a /metrics page."""
    count, routes = 0.0, set()
    for family in text_string_to_metric_families(text):
        if family.name != "jobq_api_requests":
            continue
        for sample in family.samples:
            if sample.name == "jobq_api_requests_total":
                routes.add(sample.labels["route"])
                if sample.labels["route"] == "dashboard":
                    count += sample.value
    return count, routes


async def test_dashboard_requests_are_counted_under_one_label(ui: httpx.AsyncClient) -> None:
    before, _ = _dashboard_requests((await ui.get("/metrics")).text)
    paths = ["/", "/ui", "/ui/", "/ui/jobs/1", "/ui/jobs/2", "/ui/assets/app-abc123.js", "/ui/assets/gone-1.js"]
    for path in paths:
        await ui.get(path)

    after, routes = _dashboard_requests((await ui.get("/metrics")).text)

    assert after - before == len(paths)
    assert not [r for r in routes if r.startswith("/ui") or r == "/"], routes


@pytest.mark.parametrize(
    ("path", "root_path", "traced"),
    [
        ("/ui/jobs/abc", "", False),
        ("/ui/assets/app-abc123.js", "", False),
        ("/", "", False),
        ("/jobq/ui/", "/jobq", False),
        ("/healthz", "", False),
        ("/v1/jobs", "", True),
        ("/jobq/v1/jobs", "/jobq", True),
        ("/uix", "", True),
    ],
)
def test_dashboard_requests_get_no_trace_span(path: str, root_path: str, traced: bool) -> None:
    assert untraced({"type": "http", "path": path, "root_path": root_path}) is not traced
