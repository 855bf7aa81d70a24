"""Generate the README's tables from their declarations.

    python -m tools.docs          # rewrite README.md in place
    python -m tools.docs --check  # exit 1 when README.md is out of date

Each table sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from jobq_devrun.settings import AutoscaleSettings
from pydantic_settings import BaseSettings

from jobq_api.settings import ApiSettings
from jobq_client import cli
from jobq_client.cli.exits import MEANINGS
from jobq_core.settings import CoreSettings, env_name
from jobq_core.telemetry import metrics
from jobq_operator.settings import OperatorSettings
from jobq_worker.settings import WorkerServiceSettings
from tools import generated

README = Path(__file__).resolve().parent.parent / "README.md"
ALERT_RULES = README.parent / "charts" / "jobq" / "alerts" / "jobq.rules.yaml"


def _default(settings: type[BaseSettings], name: str) -> str:
    field = settings.model_fields[name]
    if field.is_required():
        return "**required**"
    if field.default is None:
        return "unset"
    if field.default == "":
        return '`""`'
    return f"`{field.default}`"


def settings_table() -> str:
    """Every JOBQ_* variable, which processes read it, its default and meaning."""
    rows = ["| Variable | Read by | Default | Meaning |", "| --- | --- | --- | --- |"]
    owners: list[tuple[str, type[BaseSettings]]] = [
        ("api, worker", CoreSettings),
        ("api", ApiSettings),
        ("worker", WorkerServiceSettings),
        ("operator", OperatorSettings),
        ("`jobq run`", AutoscaleSettings),
    ]
    seen: set[str] = set()
    for who, settings in owners:
        for name, field in settings.model_fields.items():
            if name in seen:
                continue
            seen.add(name)
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{env_name(name)}` | {who} | {_default(settings, name)} | {description} |")
    return "\n".join(rows)


_EXPOSED_BY = {
    metrics.API: "api",
    metrics.WORKER: "each worker",
    metrics.LEADER: "the leader worker",
    "operator": "the operator",
}


def _operator_metrics() -> list[metrics.MetricDoc]:
    """The operator's metrics, declared in its own registry (jobq_operator.metrics)."""
    from prometheus_client.metrics import MetricWrapperBase

    from jobq_operator import metrics as operator_metrics

    declared = [m for m in vars(operator_metrics).values() if isinstance(m, MetricWrapperBase)]
    return [metrics.describe(m, "operator") for m in declared]


def metrics_table() -> str:
    """Every Prometheus metric, from its declaration (jobq_core.telemetry.metrics, jobq_operator.metrics)."""
    rows = ["| Metric | Type | Labels | Exposed by | Meaning |", "| --- | --- | --- | --- | --- |"]
    for m in metrics.documented() + _operator_metrics():
        labels = ", ".join(f"`{label}`" for label in m.labels) or "—"
        meaning = m.help.replace("|", "\\|")
        rows.append(f"| `{m.name}` | {m.kind} | {labels} | {_EXPOSED_BY[m.group]} | {meaning} |")
    return "\n".join(rows)


def alerts_table() -> str:
    """Every alert of the chart's rule file: name, severity, how long, and when it fires."""
    rows = ["| Alert | Severity | For | Fires when |", "| --- | --- | --- | --- |"]
    for group in yaml.safe_load(ALERT_RULES.read_text())["groups"]:
        for rule in group["rules"]:
            when = " ".join(rule["annotations"]["description"].split()).replace("|", "\\|")
            when = re.sub(r"\{\{ \$labels\.(\w+) \}\}", r"*\1*", when)
            rows.append(f"| `{rule['alert']}` | {rule['labels']['severity']} | {rule.get('for', '0m')} | {when} |")
    return "\n".join(rows)


def commands_table() -> str:
    """The client's `jobq` commands, from their parsers (jobq_client.cli)."""
    rows = ["| Command | What it does |", "| --- | --- |"]
    for synopsis, does in cli.synopses():
        shown = synopsis.replace("|", "\\|")  # a table's cell, code or not
        rows.append(f"| `{shown}` | {does[0].upper()}{does[1:]}. |")
    return "\n".join(rows)


def exits_table() -> str:
    """What the client's commands' exit statuses mean (jobq_client.cli.exits)."""
    rows = ["| Status | Means |", "| --- | --- |"]
    rows += [f"| {int(code)} | {meaning[0].upper()}{meaning[1:]}. |" for code, meaning in MEANINGS.items()]
    return "\n".join(rows)


TABLES = {
    "settings": settings_table,
    "metrics": metrics_table,
    "alerts": alerts_table,
    "commands": commands_table,
    "exits": exits_table,
}


def render(text: str) -> str:
    """`text` with every generated table replaced by its current content."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:begin/end --> markers")
        text = pattern.sub(lambda m, make=make: m[1] + make() + "\n" + m[2], text)
    return text


if __name__ == "__main__":
    sys.exit(generated.main("README.md's tables", lambda: {README: render(README.read_text())}))
