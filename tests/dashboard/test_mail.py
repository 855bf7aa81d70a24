"""The Mail page, where `jobq run` catches mail: what arrived over real SMTP, as a recipient sees it.

(That a worker's `email.send` reaches the catcher is tests/integration/test_local_mail.py's
and tests/e2e/test_make_run.py's; here the message comes straight over SMTP, so the page
is all this test depends on.)
"""

from __future__ import annotations

import smtplib
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from jobq_devrun.servers import LocalServer, start_mail_catcher
from playwright.async_api import Page, expect

from tests.conftest import Servers
from tests.dashboard.conftest import Key, start_dashboard_api
from tests.dashboard.helpers import axe, screenshot, sign_in
from tests.support.processes import Api


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[LocalServer]:
    server = start_mail_catcher(tmp_path / "mail")
    yield server
    server.stop()


@pytest.fixture
async def local_api(servers: Servers, catcher: LocalServer, tmp_path: Path) -> AsyncIterator[Api]:
    """The API as `jobq run` starts it, listing what the catcher keeps."""
    api = await start_dashboard_api(
        servers.database_url, servers.redis_url, tmp_path / "api.log", JOBQ_LOCAL_MAIL_DIR=str(catcher.data_dir)
    )
    yield api
    api.service.stop()


def send(catcher: LocalServer, subject: str, html: str | None = None) -> None:
    message = EmailMessage()
    message["From"] = "jobq@example.com"
    message["To"] = "ada@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@jobq>"
    message.set_content(f"Plain text of {subject}.")
    if html is not None:
        message.add_alternative(html, subtype="html")
    address = urlsplit(catcher.url)
    with smtplib.SMTP(address.hostname or "127.0.0.1", address.port or 25, timeout=10) as smtp:
        smtp.send_message(message)


async def test_caught_mail_is_listed_and_read_with_its_envelope_bodies_and_headers(
    page: Page, local_api: Api, catcher: LocalServer, admin_key: Key
) -> None:
    send(catcher, "Welcome aboard", html="<p>Hello <b>Ada</b></p>")
    send(catcher, "Your report")
    await sign_in(page, admin_key.secret, f"{local_api.url}/ui/")
    await page.get_by_role("link", name="Mail", exact=True).click()
    await expect(page.get_by_role("heading", name="Caught mail")).to_be_visible()
    await expect(page.get_by_role("table").get_by_role("caption")).to_have_text("2 message(s)")

    newest = page.get_by_role("article", name="Your report")  # the newest is open first
    await expect(newest).to_contain_text("ada@example.com")
    await expect(newest.get_by_role("region", name="Text body")).to_contain_text("Plain text of Your report.")
    await expect(newest.get_by_role("region", name="HTML body")).to_have_count(0)

    await page.get_by_role("button", name="Welcome aboard").click()
    message = page.get_by_role("article", name="Welcome aboard")
    await expect(message).to_contain_text("<Welcome-aboard@jobq>")
    frame = page.frame_locator("iframe[title='HTML body of Welcome aboard']")
    await expect(frame.locator("body")).to_contain_text("Hello Ada")
    headers = message.locator("summary", has_text="All headers")
    # Below the fold: scrolled to first, as a click straight after the scroll did not open it.
    await headers.scroll_into_view_if_needed()
    await headers.click()
    await expect(message.get_by_role("rowheader", name="Subject")).to_be_visible()
    await axe(page)
    await screenshot(page, "mail")


async def test_without_a_mail_catcher_there_is_no_mail_page(page: Page, admin_key: Key) -> None:
    await sign_in(page, admin_key.secret)
    await expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Mail", exact=True)).to_have_count(0)
    await page.goto("/ui/mail")
    await sign_in(page, admin_key.secret, "/ui/mail")
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
