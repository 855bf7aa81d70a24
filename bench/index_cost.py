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
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import harness

RESULTS = Path(__file__).parent / "results" / "index_cost.json"

WITHOUT = [
    "DROP INDEX jobq_jobs_status_created",
    "DROP INDEX jobq_jobs_queue_created",
    "DROP INDEX jobq_jobs_type_created",
    "CREATE INDEX jobq_jobs_type_created ON jobq_jobs (type, created_at DESC)",
    "DROP INDEX jobq_jobs_payload",
    "DROP INDEX jobq_jobs_error_message",
    "DROP TRIGGER jobq_jobs_dead_inserted ON jobq_jobs",
    "DROP TRIGGER jobq_jobs_dead_changed ON jobq_jobs",
    "DROP TRIGGER jobq_jobs_dead_deleted ON jobq_jobs",
    "DROP INDEX jobq_jobs_done_finished",
    "DROP INDEX jobq_jobs_dead_finished",
    "CREATE INDEX jobq_jobs_finished ON jobq_jobs (finished_at) WHERE status IN ('succeeded', 'dead', 'cancelled')",
    "DROP INDEX jobq_jobs_queued_since",
    "CREATE INDEX jobq_jobs_queued ON jobq_jobs (id) WHERE status = 'queued'",
]
# Back as the migrations made them.
WITH = [
    "CREATE INDEX jobq_jobs_status_created ON jobq_jobs (status, created_at DESC, id DESC) INCLUDE (queue, type, tags)",
    "CREATE INDEX jobq_jobs_queue_created ON jobq_jobs (queue, created_at DESC, id DESC) INCLUDE (status, type, tags)",
    "DROP INDEX jobq_jobs_type_created",
    "CREATE INDEX jobq_jobs_type_created ON jobq_jobs (type, created_at DESC, id DESC) INCLUDE (status, queue, tags)",
    "CREATE INDEX jobq_jobs_payload ON jobq_jobs USING gin (payload jsonb_path_ops)",
    "CREATE INDEX jobq_jobs_error_message ON jobq_jobs USING gin ((error ->> 'message') gin_trgm_ops)"
    " WHERE error IS NOT NULL",
    "CREATE TRIGGER jobq_jobs_dead_inserted AFTER INSERT ON jobq_jobs"
    " FOR EACH ROW WHEN (NEW.status = 'dead') EXECUTE FUNCTION jobq_count_dead()",
    "CREATE TRIGGER jobq_jobs_dead_changed AFTER UPDATE OF status, queue ON jobq_jobs"
    " FOR EACH ROW WHEN ((OLD.status = 'dead' OR NEW.status = 'dead')"
    " AND (OLD.status, OLD.queue) IS DISTINCT FROM (NEW.status, NEW.queue)) EXECUTE FUNCTION jobq_count_dead()",
    "CREATE TRIGGER jobq_jobs_dead_deleted AFTER DELETE ON jobq_jobs"
    " REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION jobq_count_dead_deleted()",
    "DROP INDEX jobq_jobs_finished",
    "CREATE INDEX jobq_jobs_done_finished ON jobq_jobs (finished_at) WHERE status IN ('succeeded', 'cancelled')",
    "CREATE INDEX jobq_jobs_dead_finished ON jobq_jobs (finished_at, id) WHERE status = 'dead'",
    "DROP INDEX jobq_jobs_queued",
    "CREATE INDEX jobq_jobs_queued_since ON jobq_jobs (run_at, id) WHERE status = 'queued'",
]


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
            for r in range(args.rounds):
                # with, without, without, with, ...: each schema as often first as second.
                for schema in ("with", "without") if r % 2 == 0 else ("without", "with"):
                    current = "with" if "jobq_jobs_payload" in jobs_indexes(run) else "without"
                    if current != schema:
                        for sql in WITH if schema == "with" else WITHOUT:
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
