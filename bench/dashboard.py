"""`python -m bench.dashboard` (`make bench-dashboard`): the dashboard's budgets, measured.

Starts its own PostgreSQL and Redis, the API serving dashboard/dist, one worker, and
Debian's Chromium through Playwright, then measures:

- the JavaScript a first visit loads, gzipped (budget: 200 KB);
- navigation to the first rows of the jobs list, in a cold browser context (budget: 1.0 s);
- how long after a job's state changes in PostgreSQL the open jobs page shows it, over
  the event stream (budget: p95 2 s);
- the PostgreSQL statements per second, and the share of its CPU, that 20 idle open
  dashboards add (budgets: 1, 5 %), and the API requests those pages make meanwhile;
- a filter change on the open jobs page (the search box: `status:dead queue:default`
  and `status:succeeded` in turn) to its new rows (budget: 500 ms).

`--jobs N` seeds N jobs first (bench/seed.py, a busy system's mix) and keeps them: with
a million, the budgets of the scale issue. Writes bench/results/dashboard.json (or
dashboard-<N>.json) and prints a table. Needs `make dashboard browser`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import re
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import psutil
from playwright.async_api import Browser, Page, async_playwright

from bench.seed import DAYS, seed
from bench.servers import servers
from tests.support.processes import service_env, start_api, start_worker

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dashboard" / "dist"
RESULTS = Path(__file__).parent / "results" / "dashboard.json"
COLD_LOADS = 7
FILTER_CHANGES = 20
FILTERS = [("status:dead queue:default", "dead"), ("status:succeeded", "succeeded")]  # in turn
STATE_CHANGES = 20
IDLE_DASHBOARDS = 20
IDLE_SECONDS = 20.0
HUB_LINGER_S = 32.0  # api/jobq_api/event_hub.py LINGER_S, and a look's time


@dataclass
class Budgets:
    """What was measured, next to its budget."""

    initial_js_gzip_kb: float
    first_rows_cold_s_median: float
    first_rows_cold_s_max: float
    state_change_visible_s_p50: float
    state_change_visible_s_p95: float
    idle_queries_per_s_without: float
    idle_queries_per_s_with_20: float
    idle_postgres_cores_without: float  # PostgreSQL's CPU seconds a second
    idle_postgres_cores_with_20: float
    idle_requests: dict[str, int]  # API requests by path the idle pages made while measured
    filter_change_s_p50: float
    filter_change_s_max: float
    jobs_seeded: int

    @property
    def added_by_20_idle(self) -> float:
        return self.idle_queries_per_s_with_20 - self.idle_queries_per_s_without

    @property
    def postgres_cpu_added_pct(self) -> float:
        """PostgreSQL's CPU the 20 idle dashboards add, as a share of what it used without them."""
        without = self.idle_postgres_cores_without
        return 100 * (self.idle_postgres_cores_with_20 - without) / without if without else 0.0


def initial_js_gzip_kb() -> float:
    """The scripts index.html loads, each gzipped (level 6, as servers commonly send them)."""
    html = (DIST / "index.html").read_text()
    scripts = re.findall(r'<script[^>]*src="\./([^"]+)"', html)
    preloads = re.findall(r'rel="modulepreload"[^>]*href="\./([^"]+)"', html)
    sources = scripts + preloads
    return sum(len(gzip.compress((DIST / s).read_bytes(), 6)) for s in sources) / 1024


@dataclass
class Stack:
    url: str
    key: str
    pool: asyncpg.Pool
    postgres_pid: int


@asynccontextmanager
async def stack(jobs: int) -> AsyncIterator[Stack]:
    """PostgreSQL (with `jobs` seeded), Redis, the API serving the build, one worker, an admin key."""

    async def seeded(url: str) -> None:
        if jobs:
            await seed(url, jobs, log=True)

    async with servers("jobq-bench-dashboard-", seeded) as s:
        api = await start_api(service_env(s.database_url, s.redis_url, JOBQ_DASHBOARD_DIR=str(DIST)), s.tmp / "api.log")
        s.services.append(api.service)
        # Keep what was seeded: the default retention (7 days) would prune most of it meanwhile.
        kept = str((DAYS + 1) * 86_400)
        worker_env = service_env(s.database_url, s.redis_url, JOBQ_RETENTION_S=kept, JOBQ_DEAD_RETENTION_S=kept)
        s.services.append(await start_worker(s.pool, worker_env, s.tmp / "worker.log"))
        yield Stack(api.url, s.admin_key, s.pool, s.postgres_pid)


async def open_signed_in(browser: Browser, s: Stack, path: str) -> Page:
    """A page in a new (cold) context with the key remembered for the tab, at `path`."""
    context = await browser.new_context(base_url=s.url)
    await context.add_init_script(f"sessionStorage.setItem('jobq.key', {json.dumps(s.key)})")
    page = await context.new_page()
    await page.goto(path)
    return page


async def first_rows(browser: Browser, s: Stack) -> list[float]:
    """Seconds from navigation start to the first row of the jobs list, each in a cold context."""
    times = []
    for _ in range(COLD_LOADS):
        page = await open_signed_in(browser, s, "/ui/jobs")
        await page.wait_for_selector("table.list tbody tr")
        times.append(await page.evaluate("performance.now()") / 1000)
        await page.context.close()
    return times


async def filter_changes(browser: Browser, s: Stack) -> list[float]:
    """Seconds from submitting a search on the open jobs page until every row shown has the
    status it asks for: FILTERS in turn."""
    page = await open_signed_in(browser, s, "/ui/jobs")
    await page.wait_for_selector("table.list tbody tr")
    box = page.get_by_role("searchbox", name="Search")
    button = page.get_by_role("button", name="Search", exact=True)
    shown = """status => {
        const badges = [...document.querySelectorAll('table.list tbody tr .status')];
        return badges.length > 0 && badges.every(b => b.classList.contains('status-' + status)); }"""
    times = []
    for i in range(FILTER_CHANGES):
        text, status = FILTERS[i % len(FILTERS)]
        await box.fill(text)
        started = time.perf_counter()
        await button.click()
        await page.wait_for_function(shown, arg=status, polling="raf")
        times.append(time.perf_counter() - started)
    await page.context.close()
    return times


async def state_changes(browser: Browser, s: Stack) -> list[float]:
    """Seconds from a job's finish in PostgreSQL to the open jobs page showing it succeeded."""
    page = await open_signed_in(browser, s, "/ui/jobs")
    await page.wait_for_selector("table.list")
    await page.wait_for_selector(".stream-live")
    await page.evaluate(
        """() => { window.seen = {}; new MutationObserver(() => {
            for (const row of document.querySelectorAll('table.list tbody tr')) {
              const id = row.querySelector('a')?.textContent;
              if (id && !window.seen[id] && row.querySelector('.status-succeeded')) window.seen[id] = Date.now();
            }}).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    delays = []
    async with httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {s.key}"}) as client:
        for _ in range(STATE_CHANGES):
            job = (await client.post("/v1/jobs", json={"type": "jobq.sleep", "payload": {"seconds": 1.5}})).json()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                seen = await page.evaluate(f"window.seen[{json.dumps(job['id'])}] ?? null")
                if seen:
                    break
                await asyncio.sleep(0.05)
            sql = "SELECT finished_at FROM jobq_jobs WHERE id = $1::uuid"
            finished: datetime = await s.pool.fetchval(sql, job["id"])
            delays.append(seen / 1000 - finished.timestamp())
    await page.context.close()
    return delays


def postgres_cpu_s(pid: int) -> float:
    """CPU seconds PostgreSQL has used: the postmaster's, its exited backends' and its live ones'."""
    root = psutil.Process(pid)
    times = root.cpu_times()
    total = float(times.user + times.system + times.children_user + times.children_system)
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            total += times.user + times.system
    return total


async def postgres_load(s: Stack, seconds: float) -> Load:
    """Transactions PostgreSQL committed per second (every statement here is its own), and
    the CPU it used meanwhile, in cores."""
    sql = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    before, cpu_before = await s.pool.fetchval(sql), postgres_cpu_s(s.postgres_pid)
    await asyncio.sleep(seconds)
    after, cpu_after = await s.pool.fetchval(sql), postgres_cpu_s(s.postgres_pid)
    return (after - before - 2) / seconds, (cpu_after - cpu_before) / seconds  # minus the two reads


Load = tuple[float, float]  # statements a second, CPU cores


async def idle_dashboards(browser: Browser, s: Stack) -> tuple[Load, Load, dict[str, int]]:
    """Statements per second with no dashboard open, then with 20 idle ones on the jobs page,
    and the API requests those pages made meanwhile, by path (the event streams are open before).

    "Without" waits until the API's event poller has stopped (it lingers after the last
    stream closes): its one look a second is part of what the dashboards add."""
    await asyncio.sleep(HUB_LINGER_S)
    without = await postgres_load(s, IDLE_SECONDS)
    pages = [await open_signed_in(browser, s, "/ui/jobs") for _ in range(IDLE_DASHBOARDS)]
    for page in pages:
        await page.wait_for_selector(".stream-live")
    await asyncio.sleep(3)  # the first loads are done
    requests: Counter[str] = Counter()
    for page in pages:
        page.on("request", lambda r: requests.update([urlsplit(r.url).path]) if "/v1/" in r.url else None)
    with_20 = await postgres_load(s, IDLE_SECONDS)
    for page in pages:
        await page.context.close()
    return without, with_20, dict(requests)


async def measure(jobs: int) -> Budgets:
    chromium = shutil.which("chromium")
    if chromium is None or not (DIST / "index.html").exists():
        sys.exit("bench.dashboard needs `make dashboard browser` first")
    async with stack(jobs) as s, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True)
        async with httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {s.key}"}) as client:
            await client.post("/v1/jobs/batch", json={"jobs": [{"type": "jobq.noop"}] * 500})
            # Dead jobs for the filter to find, seeded or not.
            failing = {"type": "jobq.fail", "payload": {"permanent": True}, "max_attempts": 1}
            failed = (await client.post("/v1/jobs/batch", json={"jobs": [failing] * 60})).json()["jobs"]
            sql = "SELECT count(*) FROM jobq_jobs WHERE id = ANY($1::uuid[]) AND status = 'dead'"
            while await s.pool.fetchval(sql, [j["id"] for j in failed]) < len(failed):
                await asyncio.sleep(0.2)
        loads = await first_rows(browser, s)
        filters = sorted(await filter_changes(browser, s))
        delays = sorted(await state_changes(browser, s))
        without, with_20, idle_requests = await idle_dashboards(browser, s)
        await browser.close()
    return Budgets(
        initial_js_gzip_kb=round(initial_js_gzip_kb(), 1),
        first_rows_cold_s_median=round(statistics.median(loads), 3),
        first_rows_cold_s_max=round(max(loads), 3),
        state_change_visible_s_p50=round(statistics.median(delays), 3),
        state_change_visible_s_p95=round(delays[int(0.95 * (len(delays) - 1))], 3),
        idle_queries_per_s_without=round(without[0], 2),
        idle_queries_per_s_with_20=round(with_20[0], 2),
        idle_postgres_cores_without=round(without[1], 4),
        idle_postgres_cores_with_20=round(with_20[1], 4),
        idle_requests=idle_requests,
        filter_change_s_p50=round(statistics.median(filters), 3),
        filter_change_s_max=round(max(filters), 3),
        jobs_seeded=jobs,
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=0, help="jobs to seed first (default none)")
    args = p.parse_args(argv)
    budgets = asyncio.run(measure(args.jobs))
    RESULTS.parent.mkdir(exist_ok=True)
    record = {
        **asdict(budgets),
        "added_by_20_idle": round(budgets.added_by_20_idle, 2),
        "postgres_cpu_added_pct": round(budgets.postgres_cpu_added_pct, 1),
    }
    results = RESULTS.with_name(f"dashboard-{args.jobs}.json") if args.jobs else RESULTS
    results.write_text(json.dumps(record, indent=2) + "\n")
    b = budgets
    rows = [
        ("Initial JavaScript, gzipped", f"{b.initial_js_gzip_kb} KB", "≤ 200 KB"),
        (
            "Navigation → first rows, cold (median / max)",
            f"{b.first_rows_cold_s_median} / {b.first_rows_cold_s_max} s",
            "≤ 1.0 s",
        ),
        (
            "State change → visible over the stream (p50 / p95)",
            f"{b.state_change_visible_s_p50} / {b.state_change_visible_s_p95} s",
            "p95 ≤ 2 s",
        ),
        (
            "PostgreSQL statements/s added by 20 idle dashboards",
            f"{b.added_by_20_idle:.2f} ({b.idle_queries_per_s_without} → {b.idle_queries_per_s_with_20})",
            "≤ 1",
        ),
        (
            "PostgreSQL CPU added by them (of what it used without)",
            f"{b.postgres_cpu_added_pct:.1f} %"
            f" ({b.idle_postgres_cores_without} → {b.idle_postgres_cores_with_20} cores)",
            "≤ 5 %",
        ),
        (
            "Filter change → its rows (`status:dead queue:default`, `status:succeeded` in turn; p50 / max)",
            f"{b.filter_change_s_p50} / {b.filter_change_s_max} s",
            "≤ 0.5 s",
        ),
    ]
    if b.jobs_seeded:
        print(f"With {b.jobs_seeded:,} jobs seeded:")
    print("| Measure | Result | Budget |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
