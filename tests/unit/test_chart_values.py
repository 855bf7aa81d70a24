"""charts/jobq: every value in values.yaml is declared in values.schema.json, and the defaults pass it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "jobq"


def schema() -> dict[str, Any]:
    return dict(json.loads((CHART / "values.schema.json").read_text()))


def leaves(values: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of the values (a mapping's keys, down to anything that is not a non-empty mapping)."""
    if isinstance(values, dict) and values:
        return [leaf for key, value in values.items() for leaf in leaves(value, (*path, key))]
    return [path]


def declared(node: dict[str, Any], path: tuple[str, ...], root: dict[str, Any]) -> bool:
    """Whether the schema has a property for `path`, following local $refs."""
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    if not path or ("properties" not in node and node.get("additionalProperties") is not False):
        return True  # the value itself, or inside a free-form object (resources, securityContext)
    properties = node.get("properties", {})
    return path[0] in properties and declared(properties[path[0]], path[1:], root)


def test_every_value_has_a_schema_entry() -> None:
    root = schema()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [".".join(p) for p in leaves(values) if not declared(root, p, root)]
    assert not missing, f"values without a values.schema.json entry: {missing}"


def test_the_defaults_and_the_k8s_values_pass_the_schema() -> None:
    validator = jsonschema.Draft7Validator(schema())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert not [e.message for e in validator.iter_errors(values)]
    overrides = yaml.safe_load((CHART.parents[1] / "k8s" / "values.yaml").read_text())
    assert not [e.message for e in validator.iter_errors(overrides)]


def test_bad_operator_and_monitoring_values_are_rejected_at_their_path() -> None:
    validator = jsonschema.Draft7Validator(schema())
    cases = {
        "operator.scaler.maxReplicas": 0,
        "operator.scaler.jobsPerWorker": "ten",
        "operator.scaler.scaleDown.periodSeconds": 0,
        "operator.metricsPort": 0,
        "worker.metricsPort": 65536,
        "monitoring.podMonitor.interval": "30 seconds",
        "monitoring.dashboards.labelValue": "not a label value",
        "migration.helmHook": "yes",
    }
    for dotted, value in cases.items():
        *parents, last = dotted.split(".")
        document: dict[str, Any] = {}
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        paths = ["/".join(map(str, e.absolute_path)) for e in validator.iter_errors(document)]
        assert paths == [dotted.replace(".", "/")], (dotted, paths)
