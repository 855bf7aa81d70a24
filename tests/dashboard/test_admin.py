"""Dead jobs by group and API keys in the dashboard."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.dashboard.conftest import Key, Stack
from tests.dashboard.helpers import axe, screenshot, sign_in
from tests.support.wait import until


async def test_dead_jobs_are_grouped_and_a_group_is_retried_a_few_then_the_rest(
    page: Page, stack: Stack, write_key: Key
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, headers=write_key.auth) as client:
        for n in range(7):
            payload = {"message": f"user {n} not found", "times": 1}
            response = await client.post("/v1/jobs", json={"type": "jobq.fail", "payload": payload, "max_attempts": 1})
            assert response.status_code == 201, response.text

        async def all_dead() -> bool:
            jobs = (await client.get("/v1/jobs", params={"status": "dead"})).json()["jobs"]
            return len(jobs) == 7

        await until(all_dead, timeout_s=20, what="7 dead jobs")

    await sign_in(page, write_key.secret)
    await page.get_by_role("link", name="Dead jobs", exact=True).click()
    group = page.get_by_role("article").filter(has_text="user <n> not found")
    await expect(group.get_by_role("heading")).to_contain_text("7 × jobq.fail")
    await axe(page)
    await screenshot(page, "dead-jobs")

    await group.get_by_role("button", name=re.compile(r"^Retry 5 of")).click()
    await page.get_by_role("dialog").get_by_role("button", name="Retry 5").click()
    await expect(group.get_by_role("status")).to_have_text("5 retried, 2 left")
    await expect(group.get_by_role("heading")).to_contain_text("2 × jobq.fail", timeout=10_000)

    await group.get_by_role("button", name=re.compile(r"^Retry 2 of")).click()
    await page.get_by_role("dialog").get_by_role("button", name="Retry 2").click()
    await expect(page.get_by_text("No dead jobs.")).to_be_visible(timeout=10_000)


async def test_an_admin_creates_a_key_sees_its_secret_once_and_revokes_it(
    page: Page, stack: Stack, admin_key: Key
) -> None:
    await sign_in(page, admin_key.secret)
    await page.get_by_role("link", name="API keys", exact=True).click()
    form = page.get_by_role("form", name="New key")
    await form.get_by_role("textbox", name="Name").fill("ci reader")
    await form.get_by_role("button", name="Create key").click()
    secret = await page.get_by_role("textbox", name="Secret").input_value()
    assert secret
    await axe(page)

    async with httpx.AsyncClient(base_url=stack.url) as client:
        me = await client.get("/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert (me.status_code, me.json()["name"], me.json()["scopes"]) == (200, "ci reader", ["jobs:read"])

        row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="ci reader"))
        await row.get_by_role("button", name="Revoke ci reader").click()
        await page.get_by_role("dialog").get_by_role("button", name="Revoke key").click()
        await expect(row.get_by_text("revoked")).to_be_visible()
        refused = await client.get("/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 401
    # The signed-in key cannot revoke itself from here.
    mine = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(admin_key.name)))
    await expect(mine.get_by_role("button")).to_have_count(0)
    await screenshot(page, "api-keys")


async def test_a_key_without_admin_sees_no_api_keys_page_and_is_refused_by_the_api(
    page: Page, stack: Stack, write_key: Key
) -> None:
    await sign_in(page, write_key.secret)
    await expect(page.get_by_role("link", name="Jobs", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    forged = await page.request.post(
        f"{stack.url}/v1/api-keys", headers=write_key.auth, data={"name": "sneaky", "scopes": ["admin"]}
    )
    assert forged.status == 403, await forged.text()
