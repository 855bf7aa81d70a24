"""From the result document: medians per system, the Markdown table, the PNG plots."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

BASELINE = "arq"
LABELS = {"jobq": "jobq", "arq": "raw ARQ", "celery": "Celery", "saq": "SAQ"}
# (key in the summary, scenario, path into the scenario's result)
METRICS: list[tuple[str, str, tuple[str, ...]]] = [
    ("throughput_jobs_per_s", "throughput", ("jobs_per_s",)),
    ("throughput_submit_jobs_per_s", "throughput", ("submit_jobs_per_s",)),
    ("cpu_workers_per_1000", "throughput", ("cpu_s_per_1000_jobs", "workers")),
    ("cpu_api_per_1000", "throughput", ("cpu_s_per_1000_jobs", "api")),
    ("cpu_client_per_1000", "throughput", ("cpu_s_per_1000_jobs", "client")),
    ("cpu_redis_per_1000", "throughput", ("cpu_s_per_1000_jobs", "redis")),
    ("cpu_postgres_per_1000", "throughput", ("cpu_s_per_1000_jobs", "postgres")),
    ("pickup_p50_ms", "pickup", ("p50_ms",)),
    ("pickup_p95_ms", "pickup", ("p95_ms",)),
    ("pickup_p99_ms", "pickup", ("p99_ms",)),
    ("load_rate", "load", ("rate",)),
    ("load_achieved_rate", "load", ("achieved_rate",)),
    ("load_p50_ms", "load", ("p50_ms",)),
    ("load_p99_ms", "load", ("p99_ms",)),
    ("load_same_achieved_rate", "load_same", ("achieved_rate",)),
    ("load_same_p50_ms", "load_same", ("p50_ms",)),
    ("load_same_p99_ms", "load_same", ("p99_ms",)),
    ("batch_jobs_per_s", "batch", ("jobs_per_s",)),
    ("mixed_jobs_per_s", "mixed", ("jobs_per_s",)),
]
CPU_COMPONENTS = ("workers", "api", "client", "redis", "postgres")
# Issue 15's comparison (bench.arq_on_jobq): (key, scenario, path), as METRICS.
ARQ_APP_METRICS: list[tuple[str, str, tuple[str, ...]]] = [
    ("drain_jobs_per_s", "drain", ("jobs_per_s",)),
    ("pickup_p50_ms", "pickup", ("p50_ms",)),
    ("pickup_p99_ms", "pickup", ("p99_ms",)),
    ("cpu_workers_per_1000", "drain", ("cpu_s_per_1000_jobs", "workers")),
    ("cpu_redis_per_1000", "drain", ("cpu_s_per_1000_jobs", "redis")),
    ("cpu_postgres_per_1000", "drain", ("cpu_s_per_1000_jobs", "postgres")),
]
ARQ_APP_LABELS = {"arq": "ARQ's worker", "jobq": "jobq (`jobq-worker --arq`)"}


def _dig(doc: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return float(doc) if isinstance(doc, int | float) and not isinstance(doc, bool) else None


def values(document: dict[str, Any], system: str, scenario: str, path: tuple[str, ...]) -> list[float]:
    """One metric of one system, from every repetition that measured it."""
    out = []
    for turn in document["runs"]:
        if turn["system"] == system:
            value = _dig(turn.get("scenarios", {}).get(scenario, {}), path)
            if value is not None:
                out.append(value)
    return out


def summarize(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per system: the median of each metric over the repetitions, and correctness."""
    summary: dict[str, dict[str, Any]] = {}
    for system in document["settings"]["systems"]:
        row: dict[str, Any] = {}
        for key, scenario, path in METRICS:
            found = values(document, system, scenario, path)
            row[key] = statistics.median(found) if found else None
        turns = [t for t in document["runs"] if t["system"] == system]
        idle = [t["idle_redis"]["commands_per_s_per_worker"] for t in turns if "idle_redis" in t]
        row["idle_redis_commands_per_s_per_worker"] = statistics.median(idle) if idle else None
        row["mixed_correct"] = bool(turns) and all(t["scenarios"].get("mixed", {}).get("correct") for t in turns)
        key = "earlier_jobs_run_again"
        reruns = [r[key] for t in turns for r in t["scenarios"].values() if key in r]
        row["earlier_jobs_run_again"] = sum(reruns) if reruns else None
        if system == "jobq":
            row["batch_correct"] = bool(turns) and all(t["scenarios"].get("batch", {}).get("correct") for t in turns)
        row["errors"] = [
            f"repetition {t['repetition']}: {name}: {res['error'].splitlines()[0]}"
            for t in turns
            for name, res in t.get("scenarios", {}).items()
            if "error" in res
        ] + [f"repetition {t['repetition']}: {t['error'].splitlines()[0]}" for t in turns if "error" in t]
        summary[system] = row
    return summary


def accounted(side_turn: dict[str, Any]) -> bool:
    """Whether every job of one ARQ-app turn ran once, completed as ARQ reads it, and (jobq) is a row."""
    scenarios = side_turn.get("scenarios", {})
    if "error" in side_turn or sorted(scenarios) != ["drain", "pickup"]:
        return False
    for result in scenarios.values():
        n = result.get("jobs")
        if "error" in result or not (result.get("finished") == result.get("unique") == result.get("results") == n):
            return False
        if result.get("missing") or result.get("results_wrong") or not result.get("results_checked"):
            return False
    return side_turn["side"] != "jobq" or side_turn.get("postgres_succeeded") == side_turn.get("enqueued")


def summarize_arq_app(document: dict[str, Any]) -> dict[str, Any]:
    """Issue 15's comparison: per side the median of each metric, whether every job was accounted for, errors."""
    runs = document["arq_app"]["runs"]
    summary: dict[str, Any] = {}
    for side in ("arq", "jobq"):
        turns = [t for t in runs if t["side"] == side]
        row: dict[str, Any] = {}
        for key, scenario, path in ARQ_APP_METRICS:
            found = [v for t in turns if (v := _dig(t["scenarios"].get(scenario, {}), path)) is not None]
            row[key] = statistics.median(found) if found else None
        cpu = [row[f"cpu_{c}_per_1000"] for c in ("workers", "redis", "postgres")]
        row["cpu_all_per_1000"] = sum(c or 0.0 for c in cpu) if row["cpu_workers_per_1000"] is not None else None
        row["accounted"] = bool(turns) and all(accounted(t) for t in turns)
        row["errors"] = [
            f"repetition {t['repetition']}: {name}: {res['error'].splitlines()[0]}"
            for t in turns
            for name, res in t["scenarios"].items()
            if "error" in res
        ] + [f"repetition {t['repetition']}: {t['error'].splitlines()[0]}" for t in turns if "error" in t]
        summary[side] = row
    summary["ok"] = all(summary[side]["accounted"] and not summary[side]["errors"] for side in ("arq", "jobq"))
    return summary


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return f"{value / base:.2f}×"


def markdown(document: dict[str, Any], summary: dict[str, dict[str, Any]]) -> str:
    """The results as Markdown: settings, machine, the systems' two tables, the ARQ app's, notes."""
    s, m = document["settings"], document["machine"]
    systems = document["settings"]["systems"]
    lines = [
        "# Benchmark results",
        "",
        f"`{document['command']}` — {document['started_at']}, {document['duration_s']} s; "
        f"medians of {s['repetitions']} repetition(s), systems interleaved.",
        "",
        f"Machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}, "
        f"load average at start {m['load_average_at_start']}. "
        f"Servers: PostgreSQL {document['versions'].get('servers', {}).get('postgresql')}, "
        f"Redis {document['versions'].get('servers', {}).get('redis')}.",
        "",
    ]
    if systems:
        lines += _systems_tables(document, summary)
    if "arq_app" in document:
        lines += _arq_app_section(document)
    lines.append("")
    return "\n".join(lines)


def _systems_tables(document: dict[str, Any], summary: dict[str, dict[str, Any]]) -> list[str]:
    s = document["settings"]
    base = summary.get(BASELINE, {})
    systems = s["systems"]
    lines = [
        f"Every system: {s['workers']} worker processes, concurrency {s['concurrency']} per process. "
        f"Scenario 1: {s['jobs']:,} no-op jobs; 2: {s['pickup_jobs']} jobs, one every "
        f"{s['pickup_interval_s'] * 1000:.0f} ms; 3: {s['load_fraction']:.0%} of the system's own scenario-1 "
        f"throughput for {s['load_seconds']:g} s; 3b: {s['same_load_rate']:g} jobs/s for every system; "
        f"4: {s['batch_jobs']:,} jobs in calls of 1,000; "
        f"5: {s['mixed_jobs']:,} jobs, 10% failing twice. Ratios are against raw ARQ "
        "(for latencies, lower is better).",
        "",
        "| System | 1. jobs/s | vs ARQ | CPU s / 1k jobs: workers | all | 5. mixed jobs/s | vs ARQ | 5. correct |"
        " 4. batch accepted/s | idle Redis cmds/s per worker |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: |",
    ]
    for system in systems:
        row = summary[system]
        all_cpu = sum(row.get(f"cpu_{c}_per_1000") or 0.0 for c in CPU_COMPONENTS)
        lines.append(
            f"| {LABELS[system]} | {_fmt(row['throughput_jobs_per_s'])} "
            f"| {_ratio(row['throughput_jobs_per_s'], base.get('throughput_jobs_per_s'))} "
            f"| {_fmt(row['cpu_workers_per_1000'], 2)} | {_fmt(all_cpu or None, 2)} "
            f"| {_fmt(row['mixed_jobs_per_s'])} | {_ratio(row['mixed_jobs_per_s'], base.get('mixed_jobs_per_s'))} "
            f"| {'yes' if row['mixed_correct'] else '**no**'} | {_fmt(row['batch_jobs_per_s'])} "
            f"| {_fmt(row['idle_redis_commands_per_s_per_worker'], 1)} |"
        )
    lines += [
        "",
        "| System | 2. pickup p50 ms | p95 | p99 | p50 vs ARQ | 3. load rate /s (sent) | p50 ms | p99 ms "
        f"| p99 vs ARQ | 3b. at {s['same_load_rate']:g}/s (sent) | p50 ms | p99 ms | p99 vs ARQ |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for system in systems:
        row = summary[system]
        lines.append(
            f"| {LABELS[system]} | {_fmt(row['pickup_p50_ms'], 1)} | {_fmt(row['pickup_p95_ms'], 1)} "
            f"| {_fmt(row['pickup_p99_ms'], 1)} | {_ratio(row['pickup_p50_ms'], base.get('pickup_p50_ms'))} "
            f"| {_fmt(row['load_rate'])} ({_fmt(row['load_achieved_rate'])}) "
            f"| {_fmt(row['load_p50_ms'], 1)} | {_fmt(row['load_p99_ms'], 1)} "
            f"| {_ratio(row['load_p99_ms'], base.get('load_p99_ms'))} "
            f"| ({_fmt(row['load_same_achieved_rate'])}) "
            f"| {_fmt(row['load_same_p50_ms'], 1)} | {_fmt(row['load_same_p99_ms'], 1)} "
            f"| {_ratio(row['load_same_p99_ms'], base.get('load_same_p99_ms'))} |"
        )
    reruns = [f"{LABELS[s_]} {summary[s_]['earlier_jobs_run_again']}" for s_ in systems]
    if any(summary[s_]["earlier_jobs_run_again"] is not None for s_ in systems):
        lines += [
            "",
            "Jobs that ran again after their scenario had seen them finish (a duplicate execution, "
            f"summed over all scenarios and repetitions): {', '.join(reruns)}.",
        ]
    errors = [f"- {LABELS[s_]}: {e}" for s_ in systems for e in summary[s_]["errors"]]
    if errors:
        lines += ["", "Failures:", "", *errors]
    lines += [
        "",
        "Versions: "
        + "; ".join(
            f"{LABELS.get(k, k)}: " + ", ".join(f"{p} {v}" for p, v in vers.items() if v)
            for k, vers in document["versions"].items()
            if k != "servers"
        )
        + ".",
        "",
        "![throughput](throughput.png) ![latency](latency.png) ![cpu](cpu.png)",
    ]
    return lines


def _arq_app_section(document: dict[str, Any]) -> list[str]:
    """Issue 15's comparison: the same ARQ app and producer on ARQ's worker and on jobq."""
    s, part = document["settings"], document["arq_app"]
    summary, base = part["summary"], part["summary"]["arq"]
    lines = [
        *([""] if document["settings"]["systems"] else []),
        "## The same ARQ app on ARQ's worker and on jobq",
        "",
        f"`{part['app']}` and its producer (`{part['producer']}`: `arq.create_pool` and one `enqueue_job` per job, "
        f"in ARQ's venv for both), run by `{part['commands']['arq']}` (ARQ's `run_worker`) and by "
        f"`{part['commands']['jobq']}`: {s['workers']} worker processes each, `max_jobs` {s['concurrency']}, "
        f"`poll_delay` {part['poll_delay_s']:g} s, results kept (ARQ's default). "
        f"Drain: {s['jobs']:,} jobs enqueued beforehand, released into ARQ's queue at once; jobs/s until every "
        f"result exists. Pickup: {s['pickup_jobs']} jobs one at a time, about one every "
        f"{s['pickup_interval_s'] * 1000:.0f} ms (jittered); handler start − `enqueue_job` returned. "
        "CPU per 1,000 drained jobs; jobq's includes PostgreSQL; the producer's is left out (the same for both). "
        "Ratios are jobq against ARQ's worker (for latency and CPU, lower is better).",
        "",
        "| Worker | drain jobs/s | vs ARQ | pickup p50 ms | vs ARQ | p99 ms | vs ARQ "
        "| CPU s / 1k jobs: workers | Redis | PostgreSQL | all | vs ARQ | every job accounted |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for side in ("arq", "jobq"):
        row = summary[side]
        lines.append(
            f"| {ARQ_APP_LABELS[side]} | {_fmt(row['drain_jobs_per_s'])} "
            f"| {_ratio(row['drain_jobs_per_s'], base['drain_jobs_per_s'])} "
            f"| {_fmt(row['pickup_p50_ms'], 1)} | {_ratio(row['pickup_p50_ms'], base['pickup_p50_ms'])} "
            f"| {_fmt(row['pickup_p99_ms'], 1)} | {_ratio(row['pickup_p99_ms'], base['pickup_p99_ms'])} "
            f"| {_fmt(row['cpu_workers_per_1000'], 2)} | {_fmt(row['cpu_redis_per_1000'], 2)} "
            f"| {_fmt(row['cpu_postgres_per_1000'], 2)} | {_fmt(row['cpu_all_per_1000'], 2)} "
            f"| {_ratio(row['cpu_all_per_1000'], base['cpu_all_per_1000'])} "
            f"| {'yes' if row['accounted'] else '**no**'} |"
        )
    errors = [f"- on {side}: {e}" for side in ("arq", "jobq") for e in summary[side]["errors"]]
    if errors:
        lines += ["", "Failures:", "", *errors]
    lines += [
        "",
        "Versions: "
        + "; ".join(
            f"{ARQ_APP_LABELS[side]}: " + ", ".join(f"{p} {v}" for p, v in vers.items() if v)
            for side, vers in part["versions"].items()
        )
        + ".",
    ]
    return lines


def plots(document: dict[str, Any], summary: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """throughput.png, latency.png and cpu.png; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = document["settings"]["systems"]
    if not systems:  # the ARQ app's comparison alone: its table says it all
        return []
    names = [LABELS[s] for s in systems]
    written = []

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.38
    for offset, (key, scenario, label) in enumerate(
        [("throughput_jobs_per_s", "throughput", "1. no-op"), ("mixed_jobs_per_s", "mixed", "5. mixed")]
    ):
        xs = [i + (offset - 0.5) * width for i in range(len(systems))]
        ax.bar(xs, [summary[s][key] or 0 for s in systems], width, label=label)
        for x, system in zip(xs, systems, strict=True):
            reps = values(document, system, scenario, ("jobs_per_s",))
            ax.scatter([x] * len(reps), reps, color="black", s=8, zorder=3)
    ax.set_xticks(range(len(systems)), names)
    ax.set_ylabel("jobs/s (first submit → last completion)")
    ax.set_title(f"Throughput, {document['settings']['workers']} worker processes (bars: median, dots: runs)")
    ax.legend()
    fig.tight_layout()
    written.append(out_dir / "throughput.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    same_rate = document["settings"]["same_load_rate"]
    for ax, keys, title in [
        (axes[0], ["pickup_p50_ms", "pickup_p95_ms", "pickup_p99_ms"], "2. pickup at idle (handler start − accepted)"),
        (axes[1], ["load_p50_ms", "load_p99_ms"], "3. under load at 50% (submit → completion)"),
        (axes[2], ["load_same_p50_ms", "load_same_p99_ms"], f"3b. every system at {same_rate:g} jobs/s"),
    ]:
        width = 0.8 / len(keys)
        for k, key in enumerate(keys):
            xs = [i + (k - (len(keys) - 1) / 2) * width for i in range(len(systems))]
            heights = [float("nan") if summary[s][key] is None else max(summary[s][key], 0.01) for s in systems]
            ax.bar(xs, heights, width, label=key.rsplit("_", 2)[-2])
        ax.set_xticks(range(len(systems)), names)
        ax.set_yscale("log")
        ax.set_ylabel("ms (log scale)")
        ax.set_title(title, fontsize=10)
        ax.legend()
    fig.tight_layout()
    written.append(out_dir / "latency.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = [0.0] * len(systems)
    for component in CPU_COMPONENTS:
        heights = [summary[s].get(f"cpu_{component}_per_1000") or 0.0 for s in systems]
        ax.bar(range(len(systems)), heights, 0.6, bottom=bottom, label=component)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(range(len(systems)), names)
    ax.set_ylabel("CPU seconds per 1,000 jobs")
    ax.set_title("1. CPU per 1,000 no-op jobs, by component")
    ax.legend()
    fig.tight_layout()
    written.append(out_dir / "cpu.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written
