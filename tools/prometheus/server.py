"""A throwaway Prometheus on loopback, scraping given targets and evaluating rule files.

Used by the observability tests and by `tools/render_dashboard.py`. It runs the
`prometheus` binary (`make prometheus` installs it) with a config written to a
temporary folder; it never touches a system-wide Prometheus.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusError(RuntimeError):
    """Prometheus answered a query with an error."""


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    url: str
    process: subprocess.Popen[bytes] | None = None  # None: one started elsewhere
    log_path: Path | None = None

    def _get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:  # noqa: S310 - loopback
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')} (query {params.get('query')!r})")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector (or scalar wrapped in a list)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", **params)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"metric": {}, "value": result}]

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        """A range query's matrix: one series of [time, value] pairs per label set."""
        data = self._get("/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step_s:g}")
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets_up(self) -> dict[str, str]:
        """Each active target's scrape URL and health (up, down, unknown)."""
        data = self._get("/api/v1/targets", state="active")
        return {t["scrapeUrl"]: t["health"] for t in data["activeTargets"]}

    def alerts(self) -> list[dict[str, Any]]:
        """The pending and firing alerts, each with its labels, annotations and state."""
        alerts: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return alerts

    def rules(self) -> list[dict[str, Any]]:
        """The loaded rules with their health and last error."""
        data = self._get("/api/v1/rules")
        return [rule for group in data["groups"] for rule in group["rules"]]

    def stop(self) -> None:
        """Terminate and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        """What Prometheus printed."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def start(
    workdir: Path,
    targets: dict[str, list[str]],
    rule_files: list[Path],
    scrape_interval_s: float = 1.0,
    labels: dict[str, dict[str, str]] | None = None,
) -> Prometheus:
    """Start Prometheus scraping `targets` (job name -> host:port list) and evaluating `rule_files`.

    `labels` (job name -> labels) are added to that job's targets, the way service
    discovery adds `namespace`; a `job` among them replaces the job name in the series.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not on PATH: run `make prometheus`")
    workdir.mkdir(parents=True, exist_ok=True)
    interval = f"{int(scrape_interval_s * 1000)}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p.resolve()) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": hosts, "labels": (labels or {}).get(job, {})}]}
            for job, hosts in targets.items()
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    log_path = workdir / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"prometheus did not become ready in 30s:\n{server.log()}")
