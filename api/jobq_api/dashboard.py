"""The dashboard's built files, served on the API's own origin under `/ui/`.

`JOBQ_DASHBOARD_DIR` names the build (Vite's `dashboard/dist`): `index.html`, hashed
files under `assets/`, and a few unhashed ones beside `index.html` (from `public/`).

- `/ui/assets/<file>`: the file, cached for a year (its name changes with its content);
  a missing one is a 404, never the app's page.
- `/ui/<file>` beside `index.html`: the file, revalidated on every use (`no-cache`).
- every other GET under `/ui/`: `index.html`, so the app's router reads the URL; `no-cache`.
- `/` and `/ui` redirect to `/ui/`.

**The public path prefix** is `JOBQ_PUBLIC_PATH` when it is set, else the ASGI
`root_path` the server passes (`uvicorn --root-path /jobq`), else none. One build
serves any prefix: `index.html` references its files relatively, and is sent with its
`<base href="/ui/">` rewritten to `<prefix>/ui/` and its
`<meta name="jobq-config" content="{}">` filled with the prefix, the environment's name
and colour, the version, and `localMail`: whether this API lists caught mail
(`JOBQ_LOCAL_MAIL_DIR`, set by `jobq run`: the app shows its Mail page). The template
is read at start-up (stopping it when a placeholder is missing) and again only when the
file changes (a rebuild under `jobq run`); each prefix's page is rendered once.

Every response here carries a strict Content-Security-Policy: the app needs no inline
script or style. None needs an API key (the app asks for one and sends it to `/v1`),
and none is in the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
import os
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.types import Scope

from jobq_core import __version__
from jobq_core.errors import ConfigurationError
from jobq_core.names import DASHBOARD_PATH
from jobq_core.settings import env_name

from .problems import RETRY_AFTER_S, Problem
from .settings import ApiSettings

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self';"
        " connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Hashed file names: a new build is new names, so a cached file never goes stale.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# The placeholders the build's index.html must hold (a `/>` ending is allowed).
BASE_PLACEHOLDER = '<base href="/ui/">'
CONFIG_PLACEHOLDER = '<meta name="jobq-config" content="{}">'
_BASE = re.compile(r'(<base href=")/ui/("\s*/?>)')
_CONFIG = re.compile(r'(<meta name="jobq-config" content=")\{\}("\s*/?>)')

# What Vite emits, by suffix; the `mimetypes` tables differ between systems (and
# `nosniff` makes the browser trust the type we send).
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
}
_MAX_RENDERED = 16  # prefixes remembered; in practice there is one


def content_type(path: Path) -> str:
    """The Content-Type of a dashboard file."""
    known = CONTENT_TYPES.get(path.suffix.lower())
    return known or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def public_prefix(public_path: str, scope: Scope) -> str:
    """The path prefix the browser sees the API under: `JOBQ_PUBLIC_PATH`, else the ASGI root_path."""
    if public_path:
        return public_path
    root_path: str = scope.get("root_path", "")
    return root_path.rstrip("/")


def missing_placeholders(template: str) -> list[str]:
    """The placeholders `template` lacks."""
    pairs = ((_BASE, BASE_PLACEHOLDER), (_CONFIG, CONFIG_PLACEHOLDER))
    return [placeholder for pattern, placeholder in pairs if not pattern.search(template)]


def render_index(template: str, prefix: str, config: dict[str, Any]) -> str:
    """`index.html` for one prefix: its base href and its config meta tag filled in, attribute-escaped."""
    base = html.escape(f"{prefix}{DASHBOARD_PATH}/", quote=True)
    content = html.escape(json.dumps(config, separators=(",", ":")), quote=True)
    page = _BASE.sub(lambda m: m.group(1) + base + m.group(2), template, count=1)
    return _CONFIG.sub(lambda m: m.group(1) + content + m.group(2), page, count=1)


class IndexPage:
    """`index.html` as a template: read again only when the file changes, rendered once per prefix."""

    def __init__(self, path: Path, environment: dict[str, str], *, local_mail: bool = False) -> None:
        self.path, self.environment, self.local_mail = path, environment, local_mail
        self._stamp: tuple[int, int, int] | None = None
        self._template = ""
        self._rendered: dict[str, tuple[bytes, str]] = {}
        stamp = self._stat()
        if stamp is None:
            raise ConfigurationError(f"{env_name('dashboard_dir')} has no index.html")
        self._load(stamp)
        missing = missing_placeholders(self._template)
        if missing:
            raise ConfigurationError(
                f"{env_name('dashboard_dir')} holds an index.html without {' and '.join(missing)}"
                " (the dashboard's build writes them)"
            )

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _load(self, stamp: tuple[int, int, int]) -> None:
        self._template = self.path.read_text(encoding="utf-8")
        self._stamp = stamp
        self._rendered.clear()

    def render(self, prefix: str) -> tuple[bytes, str] | None:
        """(body, ETag) of the page for `prefix`; None while there is no index.html (a rebuild)."""
        stamp = self._stat()
        if stamp is None:
            return None
        if stamp != self._stamp:
            try:
                self._load(stamp)
            except OSError:
                return None
        page = self._rendered.get(prefix)
        if page is None:
            config = {
                "basePath": prefix,
                "apiBase": prefix,
                "environment": self.environment,
                "version": __version__,
                "localMail": self.local_mail,
            }
            body = render_index(self._template, prefix, config).encode()
            page = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            if len(self._rendered) >= _MAX_RENDERED:
                self._rendered.clear()
            self._rendered[prefix] = page
        return page


def _inside(root: Path, relative: str) -> Path | None:
    """The file `relative` names under `root`, or None: missing, a folder, or outside `root`."""
    try:
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
    except (OSError, ValueError):  # a NUL byte, a loop of links
        pass
    return None


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _headers(cache_control: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "Cache-Control": cache_control}


def router(settings: ApiSettings) -> APIRouter:
    """The dashboard's routes; without `JOBQ_DASHBOARD_DIR`, `/ui/` says there is no dashboard."""
    routes = APIRouter(include_in_schema=False)
    methods = ["GET", "HEAD"]

    if settings.dashboard_dir is None:

        async def not_configured(request: Request) -> Response:
            raise Problem(
                404,
                "dashboard-not-configured",
                "Dashboard not configured",
                f"this API serves no dashboard: set {env_name('dashboard_dir')} to the dashboard's build"
                " (dashboard/dist)",
                headers=_headers("no-store"),
            )

        routes.add_api_route(DASHBOARD_PATH, not_configured, methods=methods)
        routes.add_api_route(DASHBOARD_PATH + "/{path:path}", not_configured, methods=methods)
        return routes

    root = settings.dashboard_dir.resolve()
    assets = root / "assets"
    environment = {"name": settings.environment_name, "color": settings.environment_color}
    index = IndexPage(root / "index.html", environment, local_mail=settings.local_mail_dir is not None)

    async def to_dashboard(request: Request) -> Response:
        """`/` and `/ui` lead to `<prefix>/ui/` (keeping the query)."""
        target = public_prefix(settings.public_path, request.scope) + DASHBOARD_PATH + "/"
        query = request.url.query
        return RedirectResponse(target + ("?" + query if query else ""), 307, headers=SECURITY_HEADERS)

    async def asset(request: Request, path: str) -> Response:
        """A hashed build file; a missing one is a 404."""
        file = _inside(assets, path)
        if file is None:
            raise Problem(404, "not-found", "Not found", "no dashboard file at this path", headers=_headers("no-store"))
        return FileResponse(file, media_type=content_type(file), headers=_headers(IMMUTABLE))

    async def page(request: Request, path: str) -> Response:
        """A file beside index.html, or else the app's page (its router reads the URL)."""
        if path and "/" not in path and path != "index.html":
            file = _inside(root, path)
            if file is not None:
                return FileResponse(file, media_type=content_type(file), headers=_headers(REVALIDATE))
        rendered = index.render(public_prefix(settings.public_path, request.scope))
        if rendered is None:
            raise Problem(
                503,
                "dashboard-unavailable",
                "Dashboard unavailable",
                f"{env_name('dashboard_dir')} holds no index.html just now (is a build running?)",
                headers={**_headers("no-store"), "Retry-After": str(RETRY_AFTER_S)},
            )
        body, etag = rendered
        headers = {**_headers(REVALIDATE), "ETag": etag}
        if _matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    routes.add_api_route("/", to_dashboard, methods=methods)
    routes.add_api_route(DASHBOARD_PATH, to_dashboard, methods=methods)
    routes.add_api_route(DASHBOARD_PATH + "/assets/{path:path}", asset, methods=methods)
    routes.add_api_route(DASHBOARD_PATH + "/{path:path}", page, methods=methods)
    return routes


def is_dashboard_route(path: str) -> bool:
    """Whether a route template (or a request path less its root_path) is the dashboard's."""
    return path == "/" or path == DASHBOARD_PATH or path.startswith(DASHBOARD_PATH + "/")
