"""Schedules declared in code (an ARQ app's ``cron_jobs``), reconciled by name at start-up.

Each owner (``arq:<queue>`` for an ARQ app) declares the whole set of its schedules:
the ones it lacks are created, the ones that differ are changed, and the ones it no
longer declares are deleted. Schedules made through the API (``declared_by`` NULL) and
other owners' are never touched. The leader fires the rows like any other schedule,
each slot once across all workers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import ConfigurationError
from jobq_core.model import cron
from jobq_core.pg import schedules, store
from jobq_core.pg.db import unavailable_as_error
from jobq_core.pg.schedules import JobTemplate

from .submit import submit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeclaredSchedule:
    """A schedule as code declares it: the schedule's name, when it fires and what job it makes."""

    name: str
    expression: str
    """A jobq cron expression (5 fields, or 6 with seconds first)."""
    timezone: str
    """The IANA time zone the expression is read in."""
    template: JobTemplate
    run_at_startup: bool = False
    """Also run one job each time a worker reconciles (starts), as ARQ's ``run_at_startup``."""


@dataclass
class Reconciled:
    """What a reconcile did: the schedules' names by outcome, and the start-up jobs made."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    started: list[asyncpg.Record] = field(default_factory=list)
    """The jobs submitted for schedules with `run_at_startup` (none for a paused one)."""


def _check_names(owner: str, declared: Sequence[DeclaredSchedule]) -> None:
    twice = sorted(name for name, n in Counter(d.name for d in declared).items() if n > 1)
    if twice:
        raise ConfigurationError(f"{owner} declares more than one schedule named {', '.join(map(repr, twice))}")


def _taken(owner: str, name: str, row: asyncpg.Record) -> ConfigurationError:
    if row["declared_by"] is None:
        held_by = "made through the API"
        remedy = f"rename or delete that one (PATCH or DELETE /v1/schedules/{row['id']})"
    else:
        held_by = f"declared in code by {row['declared_by']}"
        remedy = f"remove it from {row['declared_by']}'s declarations"
    return ConfigurationError(
        f"{owner} declares schedule {name!r}, but a schedule of that name exists already, {held_by}:"
        f" give the declared one another name, or {remedy}"
    )


async def reconcile(
    pool: asyncpg.Pool,
    channel: DispatchChannel,
    owner: str,
    declared: Sequence[DeclaredSchedule],
    now: datetime,
) -> Reconciled:
    """Make `owner`'s schedules in PostgreSQL exactly `declared`, then run the start-up jobs.

    One transaction under an advisory lock, so workers starting together reconcile one
    after the other and each name ends as one row. A new schedule is first due at its
    next slot after `now`; a changed one keeps its next run unless its expression or
    time zone changed. Pausing (through the API) survives a reconcile. Raises
    :class:`ConfigurationError`, changing nothing, when a declared name is held by a
    schedule made through the API or declared by another owner, or declared twice; and
    ValueError for an invalid expression or time zone.

    After the commit, each declared schedule with `run_at_startup` that is not paused
    submits one job now, outside its slots (as a run by hand), once per call.
    """
    _check_names(owner, declared)
    for d in declared:
        cron.validate(d.expression, d.timezone)
    result = Reconciled()
    startup: list[asyncpg.Record] = []
    async with unavailable_as_error(), pool.acquire() as conn, conn.transaction():
        await schedules.lock_declarations(conn)
        rows = await schedules.declared_or_named(conn, owner, [d.name for d in declared])
        by_name = {row["name"]: row for row in rows}
        for d in declared:
            if d.name in by_name and by_name[d.name]["declared_by"] != owner:
                raise _taken(owner, d.name, by_name[d.name])
        for d in declared:
            row = by_name.get(d.name)
            if row is None:
                row = await _create(conn, owner, d, now)
                result.created.append(d.name)
            elif _differs(row, d):
                moved = row["cron"] != d.expression or row["timezone"] != d.timezone
                next_run_at = cron.next_slot(d.expression, d.timezone, now) if moved else None
                updated = await schedules.update_declared(
                    conn,
                    row["id"],
                    owner=owner,
                    expression=d.expression,
                    timezone=d.timezone,
                    template=d.template,
                    next_run_at=next_run_at,
                )
                assert updated is not None  # the lock and the owner read above hold it
                row = updated
                result.changed.append(d.name)
            else:
                result.unchanged.append(d.name)
            if d.run_at_startup and not row["paused"]:
                startup.append(row)
        result.removed.extend(await schedules.delete_withdrawn(conn, owner, [d.name for d in declared]))
    if result.created or result.changed or result.removed:
        log.info(
            "%s's schedules reconciled: created %s, changed %s, removed %s",
            owner,
            result.created,
            result.changed,
            result.removed,
        )
    if startup:
        submitted = await submit(pool, channel, [schedules.job_now(row, now) for row in startup])
        result.started.extend(submitted.jobs)
    return result


def _differs(row: asyncpg.Record, d: DeclaredSchedule) -> bool:
    return (row["cron"], row["timezone"], row["job"]) != (d.expression, d.timezone, d.template.as_json())


async def _create(conn: store.Connection, owner: str, d: DeclaredSchedule, now: datetime) -> asyncpg.Record:
    try:
        return await schedules.insert_declared(
            conn,
            owner=owner,
            name=d.name,
            expression=d.expression,
            timezone=d.timezone,
            template=d.template,
            next_run_at=cron.next_slot(d.expression, d.timezone, now),
        )
    except asyncpg.UniqueViolationError as exc:  # made through the API since the read above
        raise ConfigurationError(
            f"{owner} declares schedule {d.name!r}, but a schedule of that name was just made:"
            " give the declared one another name, or rename or delete that one"
        ) from exc
