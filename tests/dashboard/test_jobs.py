"""Jobs in the dashboard: submit from the form and watch it run, cancel, retry, act on a
selection, follow a shared link with filters — against the real API and a real worker."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Locator, Page, Request, expect

from tests.dashboard.conftest import Key, Stack
from tests.dashboard.helpers import axe, screenshot, sign_in


async def submit(stack: Stack, key: Key, **job: object) -> str:
    """Submit a job through the API (not the page); its id."""
    async with httpx.AsyncClient(base_url=stack.url, headers=key.auth) as client:
        response = await client.post("/v1/jobs", json=job)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def status_of(page: Page) -> Locator:
    """The status shown on a job's page."""
    return page.get_by_role("definition").filter(has=page.locator(".status")).locator(".status")


async def open_job(page: Page, key: Key, job_id: str) -> None:
    await sign_in(page, key.secret, f"/ui/jobs/{job_id}")
    await expect(page.get_by_role("heading", name=re.compile(f"Job {job_id}"))).to_be_visible()


async def test_a_job_submitted_from_the_form_goes_from_queued_through_running_to_succeeded_live(
    page: Page, write_key: Key
) -> None:
    await sign_in(page, write_key.secret)
    await page.get_by_role("link", name="Submit", exact=True).click()
    await page.get_by_role("combobox", name="Job type").select_option("jobq.sleep")
    # The form is drawn from jobq.sleep's payload schema.
    await page.get_by_role("spinbutton", name="Seconds", exact=True).fill("3")
    await page.get_by_role("spinbutton", name="Steps", exact=True).fill("3")
    await page.get_by_role("textbox", name="Tags (comma separated)").fill("from-the-form")
    await axe(page)
    await screenshot(page, "submit")
    await page.get_by_role("button", name="Submit job").click()

    # The job's page, updated without a reload: running with progress, then succeeded.
    await expect(page.get_by_role("heading", name=re.compile(r"^Job "))).to_be_visible()
    await expect(status_of(page)).to_have_text("running", timeout=10_000)
    await expect(page.get_by_role("progressbar", name="Progress")).to_be_visible()
    await screenshot(page, "job-running")
    await expect(status_of(page)).to_have_text("succeeded", timeout=15_000)
    await expect(page.get_by_text("Attempt 1: succeeded")).to_be_visible()
    await expect(page.get_by_label("Result")).to_contain_text("slept_s")
    await expect(page.get_by_label("Payload")).to_contain_text("seconds")
    await axe(page)
    await screenshot(page, "job")


async def jobs_stored(stack: Stack, key: Key) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=stack.url, headers=key.auth) as client:
        jobs: list[dict[str, object]] = (await client.get("/v1/jobs")).json()["jobs"]
    return jobs


async def test_a_payload_the_schema_refuses_is_shown_next_to_the_field_before_anything_is_sent(
    page: Page, stack: Stack, write_key: Key
) -> None:
    await sign_in(page, write_key.secret)
    await page.get_by_role("link", name="Submit", exact=True).click()
    await page.get_by_role("combobox", name="Job type").select_option("jobq.sleep")
    seconds = page.get_by_role("spinbutton", name="Seconds", exact=True)
    await seconds.fill("5000")
    await page.get_by_role("button", name="Submit job").click()

    await expect(seconds).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#payload-seconds-error")).to_have_text("should be at most 3600")
    assert await jobs_stored(stack, write_key) == []
    # Fixed, it goes through.
    await seconds.fill("0.1")
    await page.get_by_role("button", name="Submit job").click()
    await expect(status_of(page)).to_have_text(re.compile("queued|running|succeeded"))


async def test_raw_json_the_api_refuses_shows_the_apis_error_by_the_payload(
    page: Page, stack: Stack, write_key: Key
) -> None:
    await sign_in(page, write_key.secret)
    await page.get_by_role("link", name="Submit", exact=True).click()
    await page.get_by_role("combobox", name="Job type").select_option("jobq.sleep")
    await page.get_by_role("radio", name="Raw JSON").check()
    payload = page.get_by_role("textbox", name="Payload (JSON)")
    await payload.fill('{"seconds": 1,')
    await page.get_by_role("button", name="Submit job").click()
    await expect(page.locator("#err-payload")).to_contain_text("Not valid JSON")

    await payload.fill('{"seconds": "soon"}')
    await page.get_by_role("button", name="Submit job").click()
    await expect(page.locator("#err-payload")).to_contain_text("seconds")
    assert await jobs_stored(stack, write_key) == []


async def test_a_job_is_cloned_and_edited_with_a_schema_error_shown_inline_then_fixed(
    page: Page, stack: Stack, write_key: Key
) -> None:
    original = await submit(stack, write_key, type="jobq.sleep", payload={"seconds": 0.1}, tags=["first"])
    await open_job(page, write_key, original)
    await expect(status_of(page)).to_have_text("succeeded", timeout=10_000)

    await page.get_by_role("link", name="Clone and edit").click()
    await expect(page.get_by_role("heading", name="Clone a job")).to_be_visible()
    seconds = page.get_by_role("spinbutton", name="Seconds", exact=True)
    await expect(seconds).to_have_value("0.1")
    await seconds.fill("-1")
    await page.get_by_role("button", name="Submit job").click()
    await expect(page.locator("#payload-seconds-error")).to_have_text("should be at least 0")

    await seconds.fill("0.2")
    await page.get_by_role("button", name="Submit job").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Job "))).to_be_visible()
    clone = page.url.rsplit("/", 1)[1]
    assert clone != original
    await expect(page.get_by_label("Payload")).to_contain_text("0.2")
    jobs = {j["id"]: j for j in await jobs_stored(stack, write_key)}
    assert jobs[original]["payload"] == {"seconds": 0.1}, "the original changed"
    assert jobs[clone]["payload"] == {"seconds": 0.2} and jobs[clone]["tags"] == ["first"]


async def test_cancelling_a_running_job_from_its_page_stops_it(page: Page, stack: Stack, write_key: Key) -> None:
    job_id = await submit(stack, write_key, type="jobq.sleep", payload={"seconds": 60})
    await open_job(page, write_key, job_id)
    await expect(status_of(page)).to_have_text("running", timeout=10_000)

    await page.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog", name="Cancel this job?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Cancel job").click()

    await expect(status_of(page)).to_have_text("cancelled", timeout=10_000)
    await expect(page.get_by_text("Attempt 1: cancelled")).to_be_visible()


async def test_a_dead_job_is_retried_from_its_page_and_its_attempts_are_on_the_timeline(
    page: Page, stack: Stack, write_key: Key
) -> None:
    failing = {"times": 1, "message": "first try"}
    job_id = await submit(stack, write_key, type="jobq.fail", payload=failing, max_attempts=1)
    await open_job(page, write_key, job_id)
    await expect(status_of(page)).to_have_text("dead", timeout=10_000)
    await expect(page.get_by_text("first try").first).to_be_visible()

    await page.get_by_role("button", name="Retry", exact=True).click()

    await expect(status_of(page)).to_have_text("succeeded", timeout=15_000)
    await expect(page.get_by_text("Attempt 1: failed")).to_be_visible()
    await expect(page.get_by_text("Attempt 2: succeeded")).to_be_visible()


def list_fetches(page: Page) -> list[str]:
    """The GET /v1/jobs requests the page makes from now on (its list, not a count or a job)."""
    fetched: list[str] = []

    def record(request: Request) -> None:
        if request.method == "GET" and urlsplit(request.url).path.endswith("/v1/jobs"):
            fetched.append(request.url)

    page.on("request", record)
    return fetched


async def test_an_open_list_takes_new_jobs_and_their_moves_from_the_stream_without_fetching_itself(
    page: Page, stack: Stack, write_key: Key
) -> None:
    # Every open tab fetching its list again whenever any job changed is what made twenty
    # idle dashboards cost PostgreSQL 20 statements a second: the stream's events are enough.
    await sign_in(page, write_key.secret, "/ui/jobs")
    await expect(page.locator(".stream-live")).to_be_visible(timeout=10_000)
    await expect(page.locator("table.list")).to_be_visible()
    fetched = list_fetches(page)
    new = await submit(stack, write_key, type="jobq.noop", tags=["arrives-live"])
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=new))
    await expect(row.locator(".status-succeeded")).to_be_visible(timeout=10_000)
    await expect(row).to_contain_text("arrives-live")
    assert fetched == [], f"the open list fetched itself again: {fetched}"

    # A filtered page: the job enters it when it starts running and leaves when it is done.
    await sign_in(page, write_key.secret, "/ui/jobs?status=running")
    await expect(page.locator(".stream-live")).to_be_visible(timeout=10_000)
    await expect(page.locator(".match-count")).to_be_visible(timeout=10_000)
    fetched = list_fetches(page)
    slow = await submit(stack, write_key, type="jobq.sleep", payload={"seconds": 2})
    await expect(page.get_by_role("link", name=slow)).to_be_visible(timeout=10_000)
    await expect(page.get_by_role("link", name=slow)).to_have_count(0, timeout=15_000)
    assert fetched == [], f"the open list fetched itself again: {fetched}"


async def test_selected_dead_jobs_are_retried_together(page: Page, stack: Stack, write_key: Key) -> None:
    dead = [
        await submit(stack, write_key, type="jobq.fail", payload={"times": 1}, max_attempts=1, tags=["batch"])
        for _ in range(3)
    ]
    await sign_in(page, write_key.secret, "/ui/jobs?status=dead")
    for job_id in dead:
        await expect(page.get_by_role("link", name=job_id)).to_be_visible(timeout=10_000)
    for job_id in dead[:2]:
        await page.get_by_role("checkbox", name=f"Select job {job_id}").check()
    await expect(page.get_by_text("2 selected")).to_be_visible()
    await screenshot(page, "jobs-dead")

    await page.get_by_role("button", name="Retry selected").click()
    await page.get_by_role("dialog").get_by_role("button", name="Retry 2").click()

    # The two leave the dead list (they ran again and succeeded); the third stays.
    for job_id in dead[:2]:
        await expect(page.get_by_role("link", name=job_id)).to_have_count(0, timeout=15_000)
    await expect(page.get_by_role("link", name=dead[2])).to_be_visible()


async def test_every_matching_dead_job_is_retried_as_one_bulk_operation_with_its_progress(
    page: Page, stack: Stack, write_key: Key
) -> None:
    dead = [
        await submit(stack, write_key, type="jobq.fail", payload={"times": 1}, max_attempts=1, tags=["bulk-ui"])
        for _ in range(3)
    ]
    other = await submit(stack, write_key, type="jobq.fail", payload={"times": 1}, max_attempts=1)
    await sign_in(page, write_key.secret, "/ui/jobs?status=dead&tag=bulk-ui")
    await expect(page.get_by_text("3 jobs match")).to_be_visible(timeout=15_000)

    await page.get_by_role("button", name="Act on all 3 matching…").click()
    dialog = page.get_by_role("dialog", name="Act on every matching job")
    # A priority out of range: the API's message shows beside the field, nothing is stored.
    await dialog.get_by_role("combobox", name="Action").select_option(label="Change priority")
    await dialog.get_by_role("spinbutton", name="Priority").fill("500")
    await dialog.get_by_role("button", name="Preview").click()
    await expect(dialog.locator("#bulk-priority-error")).to_contain_text("100")
    await expect(dialog.get_by_role("spinbutton", name="Priority")).to_have_attribute("aria-invalid", "true")

    await dialog.get_by_role("combobox", name="Action").select_option(label="Retry")
    await dialog.get_by_role("button", name="Preview").click()
    await expect(dialog.get_by_text("Retry 3 matching job(s)?")).to_be_visible()
    await screenshot(page, "jobs-bulk-preview")
    await dialog.get_by_role("button", name="Retry 3").click()

    progress = page.get_by_role("status", name="Bulk operation")
    await expect(progress).to_contain_text("3 of 3 looked at · 3 changed · 0 skipped — done", timeout=15_000)
    for job_id in dead:
        await expect(page.get_by_role("link", name=job_id)).to_have_count(0, timeout=15_000)
    async with httpx.AsyncClient(base_url=stack.url, headers=write_key.auth) as client:
        states = {j: (await client.get(f"/v1/jobs/{j}")).json()["status"] for j in [*dead, other]}
        operations = (await client.get("/v1/bulk-operations")).json()["operations"]
    assert states[other] == "dead"
    assert all(states[j] in ("queued", "running", "succeeded") for j in dead), states
    # The refused preview stored nothing; the one confirmed is the only one that ran.
    assert [(o["action"], o["status"], o["changed"]) for o in operations] == [("retry", "done", 3)]


async def test_a_shared_link_with_filters_shows_the_same_list(page: Page, stack: Stack, write_key: Key) -> None:
    mail = await submit(stack, write_key, type="jobq.noop", queue="mail", tags=["vip"])
    other = await submit(stack, write_key, type="jobq.noop", queue="mail")
    elsewhere = await submit(stack, write_key, type="jobq.noop", tags=["vip"])
    await sign_in(page, write_key.secret, "/ui/jobs")

    await page.get_by_role("searchbox", name="Search").fill("queue:mail tag:vip")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.get_by_role("link", name=mail)).to_be_visible()
    await expect(page.get_by_role("link", name=other)).to_have_count(0)
    await expect(page.get_by_role("link", name=elsewhere)).to_have_count(0)
    await expect(page.get_by_text("1 job matches")).to_be_visible()
    link = page.url
    assert "queue=mail" in link and "tag=vip" in link

    # Someone else opens the link: same filters, same rows, the search box says so.
    fresh = await page.context.new_page()
    await sign_in(fresh, write_key.secret, link)
    await expect(fresh.get_by_role("searchbox", name="Search")).to_have_value("queue:mail tag:vip")
    await expect(fresh.get_by_role("link", name=mail)).to_be_visible()
    await expect(fresh.get_by_role("link", name=other)).to_have_count(0)
    await fresh.close()


async def test_searching_by_error_text_and_by_payload_values_and_sharing_the_link(
    page: Page, stack: Stack, write_key: Key
) -> None:
    timed_out = await submit(
        stack, write_key, type="jobq.fail", payload={"message": "SMTP Timed Out after 30s"}, max_attempts=1
    )
    declined = await submit(stack, write_key, type="jobq.fail", payload={"message": "card declined"}, max_attempts=1)
    ada = await submit(stack, write_key, type="jobq.noop", payload={"user": {"id": 123, "name": "Ada"}})
    text_id = await submit(stack, write_key, type="jobq.noop", payload={"user": {"id": "123", "name": "Ada"}})
    bob = await submit(stack, write_key, type="jobq.noop", payload={"user": {"id": 123, "name": "Bob"}})
    await sign_in(page, write_key.secret, "/ui/jobs?status=dead")
    for job_id in (timed_out, declined):
        await expect(page.get_by_role("link", name=job_id)).to_be_visible(timeout=10_000)

    search = page.get_by_role("searchbox", name="Search")
    await search.fill('error:"timed out"')
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.get_by_role("link", name=timed_out)).to_be_visible()
    await expect(page.get_by_role("link", name=declined)).to_have_count(0)
    await expect(page.get_by_text("Not filtered on")).to_have_count(0)

    # Both payload filters apply; 123 is the number, not the string "123".
    await search.fill("payload.user.id:123 payload.user.name:Ada")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.get_by_role("link", name=ada)).to_be_visible()
    for job_id in (text_id, bob, timed_out):
        await expect(page.get_by_role("link", name=job_id)).to_have_count(0)

    # Someone follows the link: the same filters, the same rows.
    fresh = await page.context.new_page()
    await sign_in(fresh, write_key.secret, page.url)
    await expect(fresh.get_by_role("searchbox", name="Search")).to_have_value(
        "payload.user.id:123 payload.user.name:Ada"
    )
    await expect(fresh.get_by_role("link", name=ada)).to_be_visible()
    for job_id in (text_id, bob, timed_out):
        await expect(fresh.get_by_role("link", name=job_id)).to_have_count(0)

    # A link written by hand, with one payload filter.
    await sign_in(fresh, write_key.secret, "/ui/jobs?payload=user.id%3D123")
    await expect(fresh.get_by_role("searchbox", name="Search")).to_have_value("payload.user.id:123")
    for job_id in (ada, bob):
        await expect(fresh.get_by_role("link", name=job_id)).to_be_visible()
    await expect(fresh.get_by_role("link", name=text_id)).to_have_count(0)
    await expect(fresh.get_by_text("2 jobs match")).to_be_visible()
    await fresh.close()
