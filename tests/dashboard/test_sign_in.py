"""Signing in to the dashboard with an API key, and what each key's scopes show."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.dashboard.conftest import Key, Stack
from tests.dashboard.helpers import axe, screenshot, sign_in

SECTIONS = ["Overview", "Jobs", "Submit", "Dead jobs", "Queues", "Workers", "Schedules", "API keys"]


async def test_the_dashboard_opens_on_a_sign_in_form(page: Page) -> None:
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Sign in to jobq")).to_be_visible()
    await expect(page.get_by_role("textbox", name="API key")).to_be_editable()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await screenshot(page, "sign-in")


async def test_a_wrong_key_is_refused_and_never_put_in_the_url(page: Page) -> None:
    wrong = "jobq_this-key-was-never-issued"
    await sign_in(page, wrong)
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await expect(page.get_by_role("heading", name="Sign in to jobq")).to_be_visible()
    assert wrong not in page.url


async def test_an_admin_key_opens_the_overview_with_every_section(page: Page, admin_key: Key) -> None:
    await sign_in(page, admin_key.secret)
    await expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    # The page may hold other navigation landmarks (a pager): the one with the sections.
    nav = page.get_by_role("navigation").filter(has=page.get_by_role("link", name="Queues", exact=True))
    for section in SECTIONS:
        await expect(nav.get_by_role("link", name=section, exact=True)).to_be_visible()
    await expect(page.get_by_text(admin_key.name)).to_be_visible()
    assert admin_key.secret not in page.url


async def open_queues(page: Page, key: Key) -> None:
    """Sign in with `key` and open the Queues page, once it lists the default queue."""
    await sign_in(page, key.secret)
    await page.get_by_role("link", name="Queues", exact=True).click()
    await expect(page.get_by_role("heading", name="Queues", exact=True)).to_be_visible()
    # The worker registered the built-in job types, so the default queue is listed.
    await expect(page.get_by_text("default", exact=True).first).to_be_visible()


async def test_an_admin_key_is_offered_pause_on_the_queues_page(page: Page, admin_key: Key) -> None:
    await open_queues(page, admin_key)
    await expect(page.get_by_role("button", name="Pause").first).to_be_visible()


async def test_a_read_only_key_is_offered_no_pause_and_a_forged_pause_is_refused(
    page: Page, stack: Stack, read_key: Key
) -> None:
    await open_queues(page, read_key)
    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)

    forged = await page.request.post(f"{stack.url}/v1/queues/default/pause", headers=read_key.auth)
    assert forged.status == 403, await forged.text()


async def test_the_sign_in_and_jobs_pages_have_no_serious_accessibility_violations(page: Page, admin_key: Key) -> None:
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Sign in to jobq")).to_be_visible()
    await axe(page)
    await sign_in(page, admin_key.secret)
    await expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    await axe(page)
    await page.get_by_role("link", name="Jobs", exact=True).click()
    await expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    await axe(page)
