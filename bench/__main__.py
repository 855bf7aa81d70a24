"""`python -m bench` (`make bench`): every scenario for every system, in one run.

Writes bench/results/results.json (every measurement, versions, settings, machine),
results.md (the tables, ratios against raw ARQ) and the PNG plots beside them. Each
repetition ends with issue 15's comparison, the same ARQ app on ARQ's worker and on jobq
(bench/arq_on_jobq.py), with --jobs jobs drained and --pickup-jobs picked up.

    python -m bench                                  # 20,000 jobs, 3 repetitions (tens of minutes)
    python -m bench --smoke                          # a few hundred jobs, 1 repetition: proves it works
    python -m bench --jobs 5000 --repetitions 1 --systems jobq,arq
    python -m bench --arq-app-only --jobs 5000 --repetitions 1   # the ARQ app's comparison alone
    python -m bench --report-only                    # redo the table and plots from results.json
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from bench import harness, report

RESULTS = Path(__file__).parent / "results"
SMOKE = {
    "jobs": 300,
    "repetitions": 1,
    "pickup_jobs": 20,
    "load_seconds": 2.0,
    "mixed_jobs": 200,
    "batch_jobs": 2_000,
    "idle_seconds": 1.0,
}


def parse(argv: list[str]) -> tuple[harness.Settings, Path, bool]:
    """Settings from the command line (the smoke preset first, explicit flags over it)."""
    defaults = harness.Settings()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="small sizes, one repetition: " + json.dumps(SMOKE))
    p.add_argument("--jobs", type=int, help=f"scenario 1 jobs (default {defaults.jobs})")
    p.add_argument("--repetitions", type=int, help=f"default {defaults.repetitions}")
    p.add_argument("--workers", type=int, help=f"worker processes per system (default {defaults.workers})")
    p.add_argument("--concurrency", type=int, help=f"jobs at once per worker process (default {defaults.concurrency})")
    p.add_argument("--pickup-jobs", type=int, help=f"scenario 2 jobs (default {defaults.pickup_jobs})")
    p.add_argument("--pickup-interval-s", type=float, help=f"default {defaults.pickup_interval_s}")
    p.add_argument("--load-fraction", type=float, help=f"scenario 3 rate (default {defaults.load_fraction})")
    p.add_argument("--load-seconds", type=float, help=f"default {defaults.load_seconds}")
    p.add_argument(
        "--same-load-rate", type=float, help=f"scenario 3b jobs/s, every system (default {defaults.same_load_rate:g})"
    )
    p.add_argument("--mixed-jobs", type=int, help="scenario 5 jobs (default: a quarter of --jobs)")
    p.add_argument("--batch-jobs", type=int, help="scenario 4 jobs (default: --jobs)")
    p.add_argument("--idle-seconds", type=float, help=f"idle Redis window (default {defaults.idle_seconds})")
    p.add_argument("--jobq-poll-delay-s", type=float, help=f"default {defaults.jobq_poll_delay_s}, the worker's own")
    p.add_argument("--systems", help=f"comma-separated, from {','.join(harness.SYSTEMS)} (default all)")
    arq_app = p.add_mutually_exclusive_group()
    arq_app.add_argument(
        "--arq-app-only", action="store_true", help="only the ARQ app on ARQ's worker versus on jobq (no systems)"
    )
    arq_app.add_argument("--no-arq-app", action="store_true", help="leave out the ARQ app's comparison")
    p.add_argument(
        "--arq-app-poll-delay-s", type=float, help=f"the ARQ app's poll_delay (default {defaults.arq_app_poll_delay_s})"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    p.add_argument("--report-only", action="store_true", help="rewrite results.md and the plots from results.json")
    args = p.parse_args(argv)

    chosen = dict(SMOKE) if args.smoke else {}
    for name in (
        "jobs",
        "repetitions",
        "workers",
        "concurrency",
        "pickup_jobs",
        "pickup_interval_s",
        "load_fraction",
        "load_seconds",
        "same_load_rate",
        "mixed_jobs",
        "batch_jobs",
        "idle_seconds",
        "jobq_poll_delay_s",
        "arq_app_poll_delay_s",
    ):
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    if "jobs" in chosen and not args.smoke:
        chosen.setdefault("mixed_jobs", max(1, chosen["jobs"] // 4))
        chosen.setdefault("batch_jobs", chosen["jobs"])
    if args.systems:
        chosen["systems"] = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.arq_app_only:
        chosen["systems"] = []
    chosen["arq_app"] = not args.no_arq_app
    settings = harness.Settings(**chosen)
    try:
        settings.check()
    except ValueError as exc:
        p.error(str(exc))
    return settings, args.out, args.report_only


def write(document: dict, out: Path) -> None:
    """results.json, results.md and the plots."""
    document["summary"] = report.summarize(document)
    if "arq_app" in document:
        document["arq_app"]["summary"] = report.summarize_arq_app(document)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "results.md").write_text(report.markdown(document, document["summary"]))
    report.plots(document, document["summary"], out)


def main(argv: list[str] | None = None) -> int:
    """Run (or re-report) and write the results; exit 1 if any scenario failed."""
    settings, out, report_only = parse(sys.argv[1:] if argv is None else argv)
    # SIGTERM (and SIGINT, which a shell's background job ignores) unwind the run:
    # processes stopped, servers shut down, temporary data removed.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    document = json.loads((out / "results.json").read_text()) if report_only else harness.run(settings)
    write(document, out)
    print((out / "results.md").read_text())
    failed = any(row["errors"] or not row["mixed_correct"] for row in document["summary"].values())
    failed = failed or not document.get("arq_app", {}).get("summary", {"ok": True})["ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
