"""The lists, filters and searches tried at scale, in one place for the two that use them:
the EXPLAIN test, on a small seed planned as ten million (tests/integration/test_list_plans.py),
and the at-scale benchmark, which times them through the API (bench/at_scale.py).

The values are drawn from the seed's mix (bench/seed.py): per filter one most jobs have
and one few have, since PostgreSQL plans differently for each.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import orjson

from jobq_core.pg.job_search import JobFilter


def values(now: datetime) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Per filter: (a common value, a rare one), as JobFilter keyword arguments."""
    return {
        "status": ({"statuses": ["succeeded"]}, {"statuses": ["dead"]}),
        "queue": ({"queue": "default"}, {"queue": "maintenance"}),
        "type": ({"type": "default.task0"}, {"type": "maintenance.task4"}),
        "tag": ({"tag": "tenant-0"}, {"tag": "trial"}),
        "time": (
            {"created_after": now - timedelta(days=25)},
            {"created_after": now - timedelta(days=1), "created_before": now - timedelta(hours=12)},
        ),
    }


def searches(now: datetime) -> list[dict[str, Any]]:
    """Payload and error searches, and the multi-status lists the dashboard's tabs ask for."""
    return [
        {"payload": {"user": {"id": 4242}}},
        {"error": "timed out"},
        {"error": "invoice 12345"},
        {"error": "timed out", "created_after": now - timedelta(days=7)},
        {"payload": {"user": {"id": 4242}}, "statuses": ["succeeded"]},
        {"statuses": ["dead", "cancelled"]},
        {"statuses": ["queued", "scheduled", "running"], "queue": "email"},
    ]


def filter_cases(now: datetime) -> list[tuple[str, JobFilter]]:
    """Every filter alone and in pairs, each with common and rare values, plus the searches; named."""
    choices_of = values(now)
    cases = [("none", JobFilter())]
    for name, choices in choices_of.items():
        for which, kwargs in zip(("common", "rare"), choices, strict=True):
            cases.append((f"{name}={which}", JobFilter(**kwargs)))
    for (a, a_choices), (b, b_choices) in itertools.combinations(choices_of.items(), 2):
        for (i, av), (j, bv) in itertools.product(enumerate(a_choices), enumerate(b_choices)):
            cases.append((f"{a}[{i}]+{b}[{j}]", JobFilter(**av, **bv)))
    cases.extend((f"search {orjson.dumps(s, default=str).decode()}", JobFilter(**s)) for s in searches(now))
    return cases


def query_params(filters: JobFilter) -> dict[str, Any]:
    """The filters as `GET /v1/jobs` query parameters."""
    params: dict[str, Any] = {"status": filters.statuses, "type": filters.type, "queue": filters.queue}
    params |= {"tag": filters.tag, "error": filters.error}
    params |= {k: getattr(filters, k).isoformat() for k in ("created_after", "created_before") if getattr(filters, k)}
    if filters.payload:
        params["payload"] = [f"user.id={filters.payload['user']['id']}"]
    return {k: v for k, v in params.items() if v is not None}
