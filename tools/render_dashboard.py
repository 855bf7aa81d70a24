"""Draw a Grafana dashboard's panels from a real Prometheus into a PNG.

Grafana cannot be installed here; this runs each panel's own queries (the JSON of
charts/jobq/dashboards/, `$__rate_interval` and template variables filled in as
Grafana would) with query_range and draws them with matplotlib, panel for panel.

    python -m tools.render_dashboard --demo docs/dashboard-overview.png
        # start PostgreSQL, Redis, the API, two workers and Prometheus on loopback,
        # run tools/prometheus/workload.py against them, and render the overview
    python -m tools.render_dashboard --prometheus URL --minutes 15 out.png
        # render from a Prometheus that already has jobq's metrics
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.prometheus import server as prom

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "charts" / "jobq" / "dashboards"
RULES = ROOT / "charts" / "jobq" / "alerts" / "jobq.rules.yaml"


def concrete(expr: str, rate_interval: str = "30s", range_: str = "5m") -> str:
    """A panel's PromQL as Grafana sends it: variables filled in (every value selected)."""
    for name, value in (("$__rate_interval", rate_interval), ("$__range", range_), ("$__interval", "15s")):
        expr = expr.replace(name, value)
    for variable in ("$type", "$queue", "$namespace", "$workerscaler"):
        expr = expr.replace(variable, ".*")
    return expr


def panels(dashboard_file: str) -> list[dict[str, Any]]:
    """The panels of a dashboard file, in layout order."""
    model = json.loads((DASHBOARDS / dashboard_file).read_text())
    result: list[dict[str, Any]] = model["panels"]
    return result


def _legend(template: str, labels: dict[str, str]) -> str:
    text = template
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def render(
    server: prom.Prometheus, dashboard_file: str, start: float, end: float, out: Path, step_s: float = 2.0
) -> dict[str, int]:
    """Draw every panel of the dashboard over [start, end]; return the series count per panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = json.loads((DASHBOARDS / dashboard_file).read_text())
    shown = model["panels"]
    columns = 2
    rows = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(14, 3.2 * rows), squeeze=False)
    counts: dict[str, int] = {}
    for ax, panel in zip(axes.flat, shown, strict=False):
        n = 0
        for target in panel["targets"]:
            for series in server.query_range(concrete(target["expr"]), start, end, step_s):
                points = [(float(t) - start, float(v)) for t, v in series["values"] if not math.isnan(float(v))]
                if not points:
                    continue
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=_legend(target["legendFormat"], series["metric"]), linewidth=1.4)
                n += 1
        counts[panel["title"]] = n
        unit = panel["fieldConfig"]["defaults"]["unit"]
        ax.set_title(f"{panel['title']}  [{unit}]", fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("seconds", fontsize=8)
        if n:
            ax.legend(fontsize=7, loc="upper left", ncol=2)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.suptitle(f"{model['title']} — rendered from Prometheus ({int(end - start)} s of a real run)", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return counts


async def _admin_key(database_url: str) -> str:
    import asyncpg

    from jobq_core.pg import apikeys
    from jobq_core.pg.migrate import migrate_url

    await migrate_url(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        return await apikeys.create(conn, "dashboard", [apikeys.Scope.ADMIN])
    finally:
        await conn.close()


def _demo(out: Path, seconds: float) -> None:
    from jobq_devrun.servers import free_port, start_postgres, start_redis

    from tools.prometheus import workload

    with tempfile.TemporaryDirectory(prefix="jobq-dashboard-") as tmp:
        root = Path(tmp)
        pg = start_postgres(root / "pg", durable=False)
        rd = start_redis(root / "redis", durable=False)
        procs: list[subprocess.Popen[bytes]] = []
        server: prom.Prometheus | None = None
        try:
            key = asyncio.run(_admin_key(pg.url))
            env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
            env.update(JOBQ_DATABASE_URL=pg.url, JOBQ_REDIS_URL=rd.url, JOBQ_RETRY_BASE_S="0.5")
            env.update(JOBQ_LOG_LEVEL="WARNING", JOBQ_HEARTBEAT_INTERVAL_S="1")
            api_port, worker_ports = free_port(), [free_port(), free_port()]
            api_env = {**env, "JOBQ_HOST": "127.0.0.1", "JOBQ_PORT": str(api_port)}
            procs.append(subprocess.Popen([sys.executable, "-m", "jobq_api"], env=api_env))
            for port in worker_ports:
                worker_env = {**env, "JOBQ_WORKER_METRICS_HOST": "127.0.0.1", "JOBQ_WORKER_METRICS_PORT": str(port)}
                procs.append(subprocess.Popen([sys.executable, "-m", "jobq_worker"], env=worker_env))
            targets = {
                "jobq-api": [f"127.0.0.1:{api_port}"],
                "jobq-worker": [f"127.0.0.1:{p}" for p in worker_ports],
            }
            server = prom.start(root / "prometheus", targets, [RULES])
            deadline = time.monotonic() + 60
            while set(server.targets_up().values()) != {"up"} and time.monotonic() < deadline:
                time.sleep(0.5)
            start = time.time()
            asyncio.run(workload.run(f"http://127.0.0.1:{api_port}", key, seconds=seconds))
            time.sleep(15)  # let the last retries and scrapes land: the picture's tail
            counts = render(server, "jobq-overview.json", start - 5, time.time(), out)
            print(json.dumps(counts, indent=2))
        finally:
            if server is not None:
                server.stop()
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            rd.stop()
            pg.stop()


def main() -> int:
    """Render a dashboard to a PNG."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--demo", action="store_true", help="start everything on loopback and run a workload first")
    parser.add_argument("--seconds", type=float, default=90, help="how long the demo workload runs")
    parser.add_argument("--prometheus", help="URL of a Prometheus that scrapes jobq")
    parser.add_argument("--minutes", type=float, default=15, help="how far back to draw (with --prometheus)")
    parser.add_argument("--dashboard", default="jobq-overview.json", help="a file of charts/jobq/dashboards/")
    args = parser.parse_args()
    if args.demo:
        _demo(args.out, args.seconds)
        return 0
    if not args.prometheus:
        parser.error("give --demo or --prometheus URL")
    server = prom.Prometheus(args.prometheus.rstrip("/"))
    end = time.time()
    print(json.dumps(render(server, args.dashboard, end - args.minutes * 60, end, args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
