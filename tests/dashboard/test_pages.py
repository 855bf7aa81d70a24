"""Queues, schedules and workers in the dashboard, with an admin key."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx
from playwright.async_api import Page, expect

from jobq_core.pg import scalers
from tests.dashboard.conftest import Key, Stack
from tests.dashboard.helpers import axe, screenshot, sign_in
from tests.support.wait import until


async def open_page(page: Page, key: Key, name: str) -> None:
    await sign_in(page, key.secret)
    await page.get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


async def test_a_queue_is_paused_and_resumed_after_a_confirmation(page: Page, admin_key: Key) -> None:
    await open_page(page, admin_key, "Queues")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="default"))

    await row.get_by_role("button", name="Pause default").click()
    dialog = page.get_by_role("dialog", name='Pause the queue "default"?')
    await dialog.get_by_role("button", name="Pause queue").click()
    await expect(row.get_by_text("paused")).to_be_visible()
    await axe(page)
    await screenshot(page, "queues")

    await row.get_by_role("button", name="Resume default").click()
    await page.get_by_role("dialog").get_by_role("button", name="Resume queue").click()
    await expect(row.get_by_text("running", exact=True)).to_be_visible()


async def test_a_pause_dismissed_in_its_dialog_pauses_nothing(page: Page, stack: Stack, admin_key: Key) -> None:
    await open_page(page, admin_key, "Queues")
    await page.get_by_role("button", name="Pause default").click()
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()

    await expect(page.get_by_role("dialog")).to_have_count(0)
    queues = await page.request.get(f"{stack.url}/v1/queues", headers=admin_key.auth)
    assert {q["name"]: q["paused"] for q in (await queues.json())["queues"]}["default"] is False


async def test_a_schedule_is_created_with_its_errors_shown_by_the_field_then_paused_and_deleted(
    page: Page, admin_key: Key
) -> None:
    await open_page(page, admin_key, "Schedules")
    await page.get_by_role("button", name="New schedule").click()
    form = page.get_by_role("form", name="New schedule")
    await form.get_by_role("textbox", name="Name").fill("nightly report")
    await form.get_by_role("textbox", name="Cron").fill("every night")
    await form.get_by_role("button", name="Create schedule").click()

    cron = form.get_by_role("textbox", name="Cron")
    await expect(cron).to_have_attribute("aria-invalid", "true")
    await expect(form.get_by_role("alert").filter(has_text="cron")).to_be_visible()
    await expect(page.locator(f"#{await cron.get_attribute('aria-describedby')}")).to_be_visible()
    await cron.fill("0 3 * * *")
    await form.get_by_role("button", name="Create schedule").click()

    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="nightly report"))
    await expect(row).to_contain_text("0 3 * * * (UTC)")
    await axe(page)
    await screenshot(page, "schedules")
    await row.get_by_role("button", name="Pause nightly report").click()
    await expect(row.get_by_text("paused")).to_be_visible()
    await row.get_by_role("button", name="Delete nightly report").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete schedule").click()
    await expect(row).to_have_count(0)


async def test_a_schedule_is_edited_with_the_servers_errors_by_the_cron_and_time_zone_then_saved(
    page: Page, stack: Stack, admin_key: Key
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, headers=admin_key.auth) as client:
        created = await client.post(
            "/v1/schedules",
            json={"name": "hourly", "cron": "0 * * * *", "job": {"type": "jobq.noop", "tags": ["kept"]}},
        )
        assert created.status_code == 201, created.text
    await open_page(page, admin_key, "Schedules")
    await page.get_by_role("button", name="Edit hourly").click()
    form = page.get_by_role("form", name="Edit hourly")
    cron = form.get_by_role("textbox", name="Cron")
    zone = form.get_by_role("textbox", name="Time zone")
    await expect(cron).to_have_value("0 * * * *")

    await cron.fill("61 * * * *")
    await form.get_by_role("button", name="Save schedule").click()
    await expect(cron).to_have_attribute("aria-invalid", "true")
    await cron.fill("30 9 * * 1-5")
    await zone.fill("Mars/Olympus_Mons")
    await form.get_by_role("button", name="Save schedule").click()
    await expect(zone).to_have_attribute("aria-invalid", "true")
    await expect(cron).to_have_attribute("aria-invalid", "false")
    await axe(page)

    await zone.fill("Europe/Paris")
    await form.get_by_role("button", name="Save schedule").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="hourly"))
    await expect(row).to_contain_text("30 9 * * 1-5 (Europe/Paris)")
    await expect(form).to_have_count(0)
    async with httpx.AsyncClient(base_url=stack.url, headers=admin_key.auth) as client:
        schedule = (await client.get(f"/v1/schedules/{created.json()['id']}")).json()
    assert (schedule["cron"], schedule["timezone"]) == ("30 9 * * 1-5", "Europe/Paris")
    assert schedule["job"]["tags"] == ["kept"]  # the same type keeps the job's other settings


async def test_a_schedule_declared_in_code_says_so_and_offers_no_edit_or_delete(
    page: Page, stack: Stack, db: asyncpg.Pool, admin_key: Key
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, headers=admin_key.auth) as client:
        for name in ("cron:tick", "by hand"):
            created = await client.post(
                "/v1/schedules", json={"name": name, "cron": "0 * * * *", "job": {"type": "jobq.noop"}}
            )
            assert created.status_code == 201, created.text
    await db.execute("UPDATE jobq_schedules SET declared_by = 'arq:arq:queue' WHERE name = 'cron:tick'")
    await open_page(page, admin_key, "Schedules")
    declared = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="cron:tick"))
    await expect(declared).to_contain_text("declared in code (arq:arq:queue)")
    await expect(declared.get_by_role("button", name="Edit cron:tick")).to_have_count(0)
    await expect(declared.get_by_role("button", name="Delete cron:tick")).to_have_count(0)
    await expect(declared.get_by_role("button", name="Pause cron:tick")).to_be_visible()
    by_hand = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="by hand"))
    await expect(by_hand.get_by_role("button", name="Edit by hand")).to_be_visible()
    await axe(page)


async def test_the_workers_page_shows_the_live_worker(page: Page, stack: Stack, admin_key: Key) -> None:
    await open_page(page, admin_key, "Workers")
    pid = stack.worker.process.pid
    await expect(page.get_by_role("cell", name=f"(pid {pid})").or_(page.get_by_text(f"(pid {pid})"))).to_be_visible()
    await expect(page.get_by_text("gone")).to_have_count(0)
    await expect(page.get_by_text("No autoscaler recorded anything in this window")).to_be_visible()
    await axe(page)


async def test_the_workers_page_shows_each_autoscalers_replicas_over_time_and_its_decisions(
    page: Page, stack: Stack, db: asyncpg.Pool, admin_key: Key
) -> None:
    # What the operator records each loop (tests/k8s/test_operator.py proves it does).
    now = await scalers.clock(db)
    for minutes_ago, current, desired in [(30, 2, 2), (20, 2, 10), (10, 10, 10), (0, 10, 10)]:
        at = now - timedelta(minutes=minutes_ago)
        await scalers.record_sample(
            db, "team-a", "mailers", current=current, desired=desired, ready=desired * 50, oldest_ready_age_s=1.0, at=at
        )
    await scalers.record_decision(
        db,
        "team-a",
        "mailers",
        from_replicas=2,
        to_replicas=10,
        reason="depth",
        message="500 ready at 50 jobs per worker",
        at=now - timedelta(minutes=20),
    )
    await open_page(page, admin_key, "Workers")

    scaler = page.get_by_role("article", name="team-a/mailers")
    await expect(scaler).to_contain_text("10 replicas, the policy wants 10.")
    await expect(scaler.get_by_role("img", name="Replicas of team-a/mailers")).to_have_attribute(
        "aria-label", re.compile(r"desired at most 10, over 4 samples")
    )
    decision = scaler.get_by_role("row").filter(has_text="2 → 10")
    await expect(decision).to_contain_text("depth")
    await expect(decision).to_contain_text("500 ready at 50 jobs per worker")
    await expect(scaler.get_by_text("not observed")).to_have_count(0)
    await axe(page)
    await screenshot(page, "workers")

    # A window the samples fall outside of: the scaler is not listed.
    await db.execute("UPDATE jobq_scaler_samples SET minute = minute - interval '2 days'")
    await page.get_by_role("radio", name="Last day").check()
    await expect(page.get_by_text("No autoscaler recorded anything in this window")).to_be_visible()


async def test_the_environment_is_named_on_every_page(page: Page, admin_key: Key) -> None:
    await page.goto("/ui/")
    await expect(page.get_by_role("note", name="Environment")).to_have_text("test")
    await sign_in(page, admin_key.secret)
    await expect(page.get_by_role("note", name="Environment")).to_have_text("test")


async def test_the_overview_flags_a_queue_whose_oldest_job_waits_past_its_target(
    page: Page, stack: Stack, write_key: Key
) -> None:
    # No worker serves the queue "unserved"; its latency target is 1 s (the API's settings).
    async with httpx.AsyncClient(base_url=stack.url, headers=write_key.auth) as client:
        response = await client.post("/v1/jobs", json={"type": "jobq.noop", "queue": "unserved"})
        assert response.status_code == 201, response.text

        async def flagged() -> bool:
            items = (await client.get("/v1/attention")).json()["items"]
            return any(i["kind"] == "queue_latency" and i["queue"] == "unserved" for i in items)

        # The page refreshes attention once a minute: open it once the API says so.
        await until(flagged, timeout_s=20, what="the API to flag the queue")
    await sign_in(page, write_key.secret)
    await expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()

    card = page.get_by_role("article").filter(has_text="unserved")
    await expect(card).to_contain_text("queue latency", timeout=20_000)
    await expect(card.get_by_role("link", name="Jobs of unserved")).to_be_visible()
    await expect(page.get_by_role("rowheader", name="all queues")).to_be_visible()
    await axe(page)
    await screenshot(page, "overview")


async def test_paused_fetches_nothing_not_even_on_focus_and_polling_fetches_again(page: Page, admin_key: Key) -> None:
    await sign_in(page, admin_key.secret, "/ui/jobs")
    await expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    await page.get_by_role("combobox", name="Updates").select_option("paused")
    await expect(page.get_by_role("status", name="Live updates")).to_have_count(0)
    calls: list[str] = []
    page.on("request", lambda request: calls.append(request.url) if "/v1/" in request.url else None)

    # Focus, visibility and online events are what refetch a query when it is not paused,
    # once its data is stale (after a second).
    await page.wait_for_timeout(2_000)
    await page.evaluate(
        """() => { window.dispatchEvent(new Event('visibilitychange')); window.dispatchEvent(new Event('focus'));
                   window.dispatchEvent(new Event('online')); }"""
    )
    await page.wait_for_timeout(3_000)  # the span being measured: a paused page over five seconds
    assert calls == [], f"a paused dashboard fetched {calls}"

    await page.get_by_role("combobox", name="Updates").select_option("polling")

    async def fetched() -> bool:
        return len(calls) > 0

    await until(fetched, timeout_s=5, what="the polling dashboard to fetch")


async def test_the_audit_page_shows_who_changed_what_filtered_in_the_url(
    page: Page, stack: Stack, admin_key: Key, write_key: Key
) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as client:
        for action in ("pause", "resume"):
            assert (await client.post(f"/v1/queues/audited/{action}", headers=admin_key.auth)).status_code == 200
        submitted = await client.post("/v1/jobs", json={"type": "jobq.noop", "delay_s": 60}, headers=write_key.auth)
        job_id = submitted.json()["id"]
        assert (await client.post(f"/v1/jobs/{job_id}/cancel", headers=write_key.auth)).status_code == 200
    await sign_in(page, admin_key.secret)
    await page.get_by_role("link", name="Audit", exact=True).click()
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    cancelled = page.get_by_role("row").filter(has=page.get_by_role("link", name=job_id))
    await expect(cancelled).to_contain_text("dashboard writer")
    await expect(cancelled).to_contain_text("job.cancel")
    await axe(page)
    await screenshot(page, "audit")

    await page.get_by_role("combobox", name="Action").select_option("queue.pause")
    await expect(page.get_by_role("row").filter(has_text="queue.pause")).to_contain_text("audited")
    await expect(page.get_by_role("link", name=job_id)).to_have_count(0)
    await expect(page.get_by_role("row").filter(has_text="queue.resume")).to_have_count(0)
    assert "action=queue.pause" in page.url

    shared = await page.context.new_page()
    await sign_in(shared, admin_key.secret, page.url)
    await expect(shared.get_by_role("combobox", name="Action")).to_have_value("queue.pause")
    await expect(shared.get_by_role("row").filter(has_text="queue.pause")).to_contain_text("dashboard admin")
    await shared.close()
