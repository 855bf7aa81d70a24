"""What frames every page: the outage banner when a server is down, and the theme chosen without a flash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from jobq_devrun.servers import LocalServer, start_postgres
from playwright.async_api import Page, Route, expect

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.db import create_pool
from tests.conftest import Servers
from tests.dashboard.conftest import Key, start_dashboard_api
from tests.dashboard.helpers import sign_in
from tests.support.processes import Api
from tests.support.servers import start_migrated_postgres


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[LocalServer]:
    """A migrated PostgreSQL of this test's own, to stop and start again."""
    server = await start_migrated_postgres(tmp_path / "pg")
    yield server
    server.stop()


@pytest.fixture
async def api_on_own_postgres(
    servers: Servers, own_postgres: LocalServer, tmp_path: Path
) -> AsyncIterator[tuple[Api, Key]]:
    """The API serving the dashboard on `own_postgres`, and an admin key made there."""
    pool = await create_pool(own_postgres.url, size=1)
    try:
        key = Key("outage admin", await apikeys.create(pool, "outage admin", [Scope.ADMIN]))
    finally:
        await pool.close()
    # Keys are remembered a minute, so the key still signs in while PostgreSQL is away.
    api = await start_dashboard_api(
        own_postgres.url, servers.redis_url, tmp_path / "api.log", JOBQ_API_KEY_CACHE_S="60"
    )
    yield api, key
    api.service.stop()


@pytest.mark.outage
async def test_postgresql_down_shows_a_banner_naming_it_over_the_page_and_it_clears_when_back(
    page: Page, own_postgres: LocalServer, api_on_own_postgres: tuple[Api, Key], tmp_path: Path
) -> None:
    api, key = api_on_own_postgres
    await sign_in(page, key.secret, f"{api.url}/ui/queues")
    heading = page.get_by_role("heading", name="Queues", exact=True)
    await expect(heading).to_be_visible()
    banner = page.get_by_role("alert").filter(has_text="What is shown may be out of date")
    await expect(banner).to_have_count(0)

    port = own_postgres.port
    own_postgres.stop()
    # Without the stream's pushes the page polls every 2 s; the failed poll raises the banner.
    await expect(banner).to_contain_text("postgres", timeout=15_000)
    await expect(heading).to_be_visible()  # the page stays, with what it last showed

    restarted = start_postgres(tmp_path / "pg", port, durable=False)
    try:
        await expect(banner).to_have_count(0, timeout=20_000)
        await expect(page.get_by_role("rowheader", name="default")).to_be_visible()
    finally:
        restarted.stop()


async def test_a_chosen_dark_theme_is_on_the_page_before_the_app_runs(page: Page, admin_key: Key) -> None:
    await sign_in(page, admin_key.secret)
    await page.get_by_role("combobox", name="Theme").select_option("dark")
    html = page.locator("html")
    await expect(html).to_have_attribute("data-theme", "dark")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")

    # With the app's own scripts emptied, only theme.js can have set the theme: a reload
    # then shows the page as it paints before React starts.
    async def empty(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/javascript", body="")

    await page.route("**/assets/*.js", empty)
    await page.reload()
    await expect(page.get_by_role("textbox", name="API key")).to_have_count(0)  # the app did not start
    await expect(html).to_have_attribute("data-theme", "dark")
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == background


async def test_the_system_theme_follows_the_operating_systems_choice(page: Page, admin_key: Key) -> None:
    await sign_in(page, admin_key.secret)
    html = page.locator("html")
    await expect(page.get_by_role("combobox", name="Theme")).to_have_value("system")
    await expect(html).to_have_attribute("data-theme", "light")
    await page.emulate_media(color_scheme="dark")
    await expect(html).to_have_attribute("data-theme", "dark")
    await page.get_by_role("combobox", name="Theme").select_option("light")
    await expect(html).to_have_attribute("data-theme", "light")
