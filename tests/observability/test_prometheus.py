"""A real Prometheus scrapes the API and two workers through a mixed workload: every
PromQL expression of every dashboard panel and alert rule evaluates without error, and
those the workload feeds return data. The dashboard renders from the same queries.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import yaml

from tests.conftest import Servers
from tests.observability.conftest import Stack, start_stack
from tests.support.wait import until
from tools import dashboards, render_dashboard
from tools.prometheus import server as prom
from tools.prometheus import workload

RULES = render_dashboard.RULES

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def two_workers(servers: Servers, db: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Stack]:
    """The API and two workers (one of them leads)."""
    running = await start_stack(servers, db, tmp_path, workers=2)
    yield running
    codes = [s.stop() for s in running.services]
    assert codes == [0] * len(codes), "\n".join(s.log() for s in running.services)


@pytest.fixture
def prometheus(two_workers: Stack, tmp_path: Path) -> Iterator[prom.Prometheus]:
    """Prometheus on loopback scraping the stack every second and evaluating jobq's rules."""
    server = prom.start(tmp_path / "prometheus", two_workers.targets, [RULES])
    yield server
    server.stop()


def alert_rules() -> list[dict[str, str]]:
    """The alerting rules of the chart's rule file."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


async def test_every_dashboard_and_alert_query_runs_on_a_real_prometheus(
    two_workers: Stack, prometheus: prom.Prometheus, db: asyncpg.Pool, tmp_path: Path
) -> None:
    async def all_up() -> bool:
        health = prometheus.targets_up()
        return len(health) == 3 and set(health.values()) == {"up"}

    await until(all_up, timeout_s=60, what=f"Prometheus to scrape all 3 targets: {prometheus.targets_up()}")
    start = time.time()
    submitted = await workload.run(two_workers.api_url, two_workers.key, seconds=12)
    dead_expected = submitted.counts["dead"] + submitted.counts["permanent"]

    async def dead_seen() -> bool:
        result = prometheus.query("sum(jobq_jobs_dead_total)")
        return bool(result) and float(result[0]["value"][1]) == dead_expected

    await until(dead_seen, timeout_s=60, every_s=0.5, what=f"Prometheus to see {dead_expected} dead jobs")
    assert await db.fetchval("SELECT count(*) FROM jobq_jobs WHERE status = 'dead'") == dead_expected

    problems: list[str] = []
    checked = 0
    for dashboard in dashboards.DASHBOARDS:
        model = json.loads((dashboards.DIR / dashboard.file).read_text())
        assert model == dashboards.render(dashboard), f"{dashboard.file} is stale: run `make docs`"
        for panel in model["panels"]:
            for target in panel["targets"]:
                expr = render_dashboard.concrete(target["expr"])
                checked += 1
                try:
                    result = prometheus.query(expr)
                except prom.PrometheusError as exc:
                    problems.append(f"{dashboard.file} / {panel['title']}: {exc}")
                    continue
                if dashboard.data_from_workload and not result:
                    problems.append(f"{dashboard.file} / {panel['title']}: no data for {expr}")
    for rule in alert_rules():
        checked += 1
        try:
            prometheus.query(rule["expr"])
        except prom.PrometheusError as exc:
            problems.append(f"alert {rule['alert']}: {exc}")
    assert not problems, "\n".join(problems)
    assert checked == sum(len(p.queries) for d in dashboards.DASHBOARDS for p in d.panels) + len(alert_rules())

    # Prometheus itself evaluated every rule without an error; the workload made jobs
    # dead, so that alert fires, and a healthy cluster has workers and a leader.
    async def rules_evaluated() -> list[dict[str, object]] | None:
        rules = prometheus.rules()
        return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None

    rules = await until(rules_evaluated, timeout_s=30, what="every rule to be evaluated")
    assert {r["name"]: r["health"] for r in rules} == {r["alert"]: "ok" for r in alert_rules()}
    state = {r["name"]: r["state"] for r in rules}
    assert state["JobqDeadJobsGrowing"] == "firing", state
    assert state["JobqNoLiveWorkers"] == "inactive" and state["JobqLeaderMissing"] == "inactive", state

    # The picture the README shows comes from these queries: every overview panel has data.
    out = tmp_path / "overview.png"
    counts = render_dashboard.render(prometheus, "jobq-overview.json", start - 5, time.time(), out)
    assert out.stat().st_size > 20_000
    assert all(counts.values()) and len(counts) == len(dashboards.OVERVIEW.panels), counts
