"""Two releases of jobq in two namespaces, scraped by one real Prometheus that evaluates
the chart's alert rules: one release healthy, one broken. The alerts fire for the broken
one only and name its namespace; the healthy release's workers and leader hide nothing.

Each release is real processes: an api and a worker on a database of its own (and a
Redis database of its own). Prometheus labels their series as the Prometheus Operator
does for the chart's ServiceMonitor and PodMonitor: `namespace`, and `job` the api
Service's name (`demo-jobq-api`, the same in both namespaces) or
`<namespace>/demo-jobq-worker`. The rules run from a copy whose `for` is 0s, so the
test waits for the alerts to fire rather than for minutes to pass.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import yaml

from jobq_core.pg.db import create_pool
from jobq_core.pg.migrate import migrate_url
from tests.conftest import Servers
from tests.observability.conftest import Stack, start_stack
from tests.support.wait import until
from tools import render_dashboard
from tools.prometheus import server as prom

pytestmark = pytest.mark.timeout(240)

WATCHED = ("JobqNoLiveWorkers", "JobqLeaderMissing")


@pytest.fixture
async def broken_database(servers: Servers) -> AsyncIterator[str]:
    """A migrated database of its own on the session's PostgreSQL, for the second release."""
    name = f"jobq_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(servers.database_url)._replace(path=f"/{name}"))
        await migrate_url(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def immediate_rules(tmp_path: Path) -> Path:
    """The chart's rule file with every `for` cut to 0s: an alert fires as soon as its expression holds."""
    spec = yaml.safe_load(render_dashboard.RULES.read_text())
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    path = tmp_path / "jobq.rules.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def scrape_jobs(releases: dict[str, Stack]) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    """Prometheus targets and labels for each release (by namespace), as the chart's monitors name them."""
    targets: dict[str, list[str]] = {}
    labels: dict[str, dict[str, str]] = {}
    for namespace, stack in releases.items():
        for component, hosts in (("api", stack.targets["jobq-api"]), ("worker", stack.targets["jobq-worker"])):
            targets[f"{namespace}-{component}"] = hosts
            job = "demo-jobq-api" if component == "api" else f"{namespace}/demo-jobq-worker"
            labels[f"{namespace}-{component}"] = {"namespace": namespace, "job": job}
    return targets, labels


def firing(server: prom.Prometheus) -> dict[str, list[dict[str, str]]]:
    """The labels of every firing alert of WATCHED, by alert name (without alertname and severity)."""
    found: dict[str, list[dict[str, str]]] = {name: [] for name in WATCHED}
    for alert in server.alerts():
        labels = dict(alert["labels"])
        if alert["state"] == "firing" and labels["alertname"] in found:
            name = labels.pop("alertname")
            labels.pop("severity")
            found[name].append(labels)
    return found


@pytest.fixture
async def releases(
    servers: Servers, db: asyncpg.Pool, broken_database: str, tmp_path: Path
) -> AsyncIterator[dict[str, Stack]]:
    """Release "healthy" (the session database) and "broken", whose only worker never leads.

    Every process must exit 0 on SIGTERM afterwards, but a worker the test killed.
    """
    for namespace in ("healthy", "broken"):
        (tmp_path / namespace).mkdir()
    stacks = {"healthy": await start_stack(servers, db, tmp_path / "healthy")}
    try:
        pool = await create_pool(broken_database, size=2)
        try:
            stacks["broken"] = await start_stack(
                servers, pool, tmp_path / "broken", JOBQ_DATABASE_URL=broken_database,
                JOBQ_REDIS_URL=servers.redis_url.rsplit("/", 1)[0] + "/1", JOBQ_LEADER_DUTIES="false",
            )  # fmt: skip
        finally:
            await pool.close()
        yield stacks
    finally:
        services = [s for stack in stacks.values() for s in stack.services]
        codes = [s.stop() for s in services]
    wrong = [f"{s.args} exited {code}:\n{s.log()}" for code, s in zip(codes, services, strict=True)
             if code != (-9 if s.killed else 0)]  # fmt: skip
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def prometheus(releases: dict[str, Stack], tmp_path: Path) -> Iterator[prom.Prometheus]:
    """One Prometheus scraping both releases every second and evaluating the chart's rules at once."""
    targets, labels = scrape_jobs(releases)
    server = prom.start(tmp_path / "prometheus", targets, [immediate_rules(tmp_path)], labels=labels)
    yield server
    server.stop()


async def test_the_alerts_fire_for_the_broken_release_only(
    releases: dict[str, Stack], prometheus: prom.Prometheus
) -> None:
    async def all_up() -> bool:
        health = prometheus.targets_up()
        return len(health) == 4 and set(health.values()) == {"up"}

    await until(all_up, timeout_s=60, what=f"Prometheus to scrape all 4 targets: {prometheus.targets_up()}")

    async def healthy_leads() -> bool:
        return [s["value"][1] for s in prometheus.query('jobq_worker_is_leader{namespace="healthy"}')] == ["1"]

    await until(healthy_leads, timeout_s=60, what="the healthy release's worker to lead")

    async def fire(expected: dict[str, list[dict[str, str]]]) -> None:
        async def as_expected() -> bool:
            return firing(prometheus) == expected

        try:
            await until(as_expected, timeout_s=60, every_s=0.5, what="the alerts")
        except AssertionError:
            raise AssertionError(f"wanted firing {expected}, firing {firing(prometheus)}") from None

    def summary(alertname: str) -> str:
        [alert] = [a for a in prometheus.alerts() if a["labels"]["alertname"] == alertname]
        return str(alert["annotations"]["summary"])

    # Both releases have a live worker; the broken one has no leader.
    await fire(
        {"JobqNoLiveWorkers": [], "JobqLeaderMissing": [{"namespace": "broken", "job": "broken/demo-jobq-worker"}]}
    )
    assert summary("JobqLeaderMissing") == "jobq workers in namespace broken run, but none is the leader"

    # The broken release's worker dies: its series go stale, its api is still scraped.
    releases["broken"].services[1].kill()
    await fire({"JobqNoLiveWorkers": [{"namespace": "broken"}], "JobqLeaderMissing": []})
    assert summary("JobqNoLiveWorkers") == "jobq in namespace broken has no live worker"
    assert await healthy_leads(), "the healthy release kept its leader throughout"
