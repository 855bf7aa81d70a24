"""`python -m bench.index_cost` (`make bench-index-cost`): what the scale work costs the hot path.

`make bench`'s scenario 1 (throughput: no-op jobs submitted and drained by two workers)
and scenario 4 (batches accepted by the API, workers stopped), jobq only, in one run on
one PostgreSQL and Redis, turns alternating between two schemas of the jobs table:

- "with": as migrated, with what the million-jobs work added (migrations 0007–0013): the
  status, queue and type list indexes (each holding the others' columns), the payload
  (jsonb_path_ops) and error-text (trigram) GIN indexes, the dead-count triggers, the two
  finished-at indexes split by retention and the queued index keyed by run_at;
- "without": the same table with those taken back to what was there before: no status,
  queue or search indexes, type's as (type, created_at), no triggers, one finished-at
  index, the queued index on id alone.

The table is emptied before each turn, so switching schemas is instant. Writes
bench/results/index_cost.json: each turn, the medians and the with/without ratios.

    python -m bench.index_cost --jobs 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench import harness

RESULTS = Path(__file__).parent / "results" / "index_cost.json"

# What the million-jobs work put on the jobs table: dropped for "without", and made again
# for "with" from the definitions the migrated database has (so they cannot drift from it).
SCALE_INDEXES = [
    "jobq_jobs_status_created",
    "jobq_jobs_queue_created",
    "jobq_jobs_type_created",
    "jobq_jobs_payload",
    "jobq_jobs_error_message",
    "jobq_jobs_done_finished",
    "jobq_jobs_dead_finished",
    "jobq_jobs_queued_since",
]
SCALE_TRIGGERS = ["jobq_jobs_dead_inserted", "jobq_jobs_dead_changed", "jobq_jobs_dead_deleted"]
# What was there before it (migrations 0001 and 0002), for "without".
EARLIER = {
    "jobq_jobs_type_created": "CREATE INDEX jobq_jobs_type_created ON jobq_jobs (type, created_at DESC)",
    "jobq_jobs_finished": "CREATE INDEX jobq_jobs_finished ON jobq_jobs (finished_at)"
    " WHERE status IN ('succeeded', 'dead', 'cancelled')",
    "jobq_jobs_queued": "CREATE INDEX jobq_jobs_queued ON jobq_jobs (id) WHERE status = 'queued'",
}


def migrated_definitions(run: harness.Run) -> list[str]:
    """The CREATE statements of the scale indexes and triggers, as the migrated database has them."""

    async def read() -> list[str]:
        assert run.pg is not None
        conn = await asyncpg.connect(run.pg.url)
        try:
            indexes = await conn.fetch(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid::regclass::text = ANY($1)",
                SCALE_INDEXES,
            )
            triggers = await conn.fetch(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'jobq_jobs'::regclass"
                " AND tgname = ANY($1)",
                SCALE_TRIGGERS,
            )
        finally:
            await conn.close()
        return [row[0] for row in [*indexes, *triggers]]

    definitions = asyncio.run(read())
    if len(definitions) != len(SCALE_INDEXES) + len(SCALE_TRIGGERS):
        raise SystemExit(f"the migrated database lacks some of {SCALE_INDEXES + SCALE_TRIGGERS}")
    return definitions


def without_statements() -> list[str]:
    drops = [f"DROP INDEX {name}" for name in SCALE_INDEXES]
    return drops + [f"DROP TRIGGER {name} ON jobq_jobs" for name in SCALE_TRIGGERS] + list(EARLIER.values())


def with_statements(definitions: list[str]) -> list[str]:
    return [f"DROP INDEX {name}" for name in EARLIER] + definitions


def jobs_indexes(run: harness.Run) -> str:
    """The jobs table's indexes and triggers, by name: what a turn ran against."""
    return run.psql(
        "SELECT string_agg(name, ',' ORDER BY name) FROM ("
        " SELECT indexname AS name FROM pg_indexes WHERE tablename = 'jobq_jobs'"
        " UNION ALL SELECT tgname FROM pg_trigger WHERE tgrelid = 'jobq_jobs'::regclass AND NOT tgisinternal) t"
    )


def turn(run: harness.Run, schema: str) -> dict[str, Any]:
    """Scenario 1, then scenario 4, against the jobq system with the table as `schema` has it."""
    s = run.settings
    started = run.start_turn("jobq")  # empties the table first
    try:
        out: dict[str, Any] = {"schema": schema, "objects": jobs_indexes(run).split(",")}
        out["throughput"] = run.guarded(started, "throughput", {"jobs": s.jobs}, s.jobs)
        started.stop_workers()
        out["batch"] = run.guarded(started, "batch", {"jobs": s.batch_jobs}, s.batch_jobs)
    finally:
        started.stop()
    return out


def summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per schema and scenario, and with over without."""
    out: dict[str, Any] = {}
    for scenario in ("throughput", "batch"):
        medians = {}
        for schema in ("with", "without"):
            rates = [t[scenario]["jobs_per_s"] for t in turns if t["schema"] == schema and "jobs_per_s" in t[scenario]]
            pg = [
                t[scenario]["cpu_s_per_1000_jobs"]["postgres"]
                for t in turns
                if t["schema"] == schema and "cpu_s_per_1000_jobs" in t[scenario]
            ]
            medians[schema] = {
                "jobs_per_s": statistics.median(rates) if rates else None,
                "postgres_cpu_s_per_1000_jobs": statistics.median(pg) if pg else None,
            }
        with_, without = medians["with"]["jobs_per_s"], medians["without"]["jobs_per_s"]
        ratio = round(with_ / without, 3) if with_ and without else None
        out[scenario] = {**medians, "with_over_without": ratio}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.index_cost", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=20_000, help="jobs per scenario and turn (default 20,000)")
    p.add_argument("--rounds", type=int, default=3, help="turns of each schema (default 3), alternating")
    args = p.parse_args(argv)
    settings = harness.Settings(jobs=args.jobs, batch_jobs=args.jobs, repetitions=args.rounds, systems=["jobq"])
    settings.check()
    turns: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="jobq-bench-index-cost-") as tmp:
        run = harness.Run(settings, Path(tmp))
        run.pythons["jobq"] = sys.executable
        with run.servers():
            statements = {"with": with_statements(migrated_definitions(run)), "without": without_statements()}
            for r in range(args.rounds):
                # with, without, without, with, ...: each schema as often first as second.
                for schema in ("with", "without") if r % 2 == 0 else ("without", "with"):
                    current = "with" if "jobq_jobs_payload" in jobs_indexes(run) else "without"
                    if current != schema:
                        for sql in statements[schema]:
                            run.psql(sql)
                    harness.log(f"round {r + 1}: {schema} the scale indexes")
                    turns.append({"round": r + 1, **turn(run, schema)})
    document = {
        "command": " ".join(["python -m bench.index_cost", *(argv if argv is not None else sys.argv[1:])]),
        "jobs": args.jobs,
        "rounds": args.rounds,
        "workers": settings.workers,
        "machine": harness.machine(),
        "summary": summary(turns),
        "turns": turns,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["summary"], indent=2))


if __name__ == "__main__":
    main()
