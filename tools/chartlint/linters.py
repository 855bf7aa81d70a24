"""Running kube-score, checkov and pint on files, and reading what they found from their JSON reports."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.chartlint.config import Finding

COMPONENT = "app.kubernetes.io/component"
# kube-score's grade of a check that found nothing (scorecard.GradeAllOK).
_ALL_OK = 10


class ToolFailed(Exception):
    """A linter did not run through: it wrote no report to read."""


@dataclass(frozen=True)
class Manifests:
    """One render: a file of Kubernetes objects, named for the findings (`defaults`, `k8s`, ...)."""

    name: str
    path: Path

    def components(self) -> dict[str, str]:
        """Each object's name -> its app.kubernetes.io/component label (empty without one)."""
        found = {}
        for document in yaml.safe_load_all(self.path.read_text()):
            if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
                metadata = document["metadata"]
                found[str(metadata.get("name", ""))] = str((metadata.get("labels") or {}).get(COMPONENT, ""))
        return found


def _failed(tool: str, result: subprocess.CompletedProcess[str], why: str) -> ToolFailed:
    output = (result.stderr or result.stdout or "").strip().splitlines()[-20:]
    return ToolFailed(f"{tool} exited with {result.returncode} ({why}):\n" + "\n".join(output))


def kube_score(binary: Path, renders: list[Manifests], kubernetes: str, flags: list[str]) -> list[Finding]:
    """kube-score's findings (every check graded below all-OK) in each render, scored on its own."""
    findings = []
    for render in renders:
        command = [str(binary), "score", "--output-format", "json", "--kubernetes-version", kubernetes, *flags]
        result = subprocess.run([*command, str(render.path)], capture_output=True, text=True, check=False)
        try:
            objects = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise _failed("kube-score", result, "no JSON report") from exc
        findings += list(_kube_score_findings(render.name, objects or []))
    return findings


def _kube_score_findings(render: str, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    for scored in objects:
        meta = scored.get("object_meta") or {}
        kind = scored.get("type_meta", {}).get("kind", "?")
        component = (meta.get("labels") or {}).get(COMPONENT, "")
        for result in scored.get("checks") or []:
            if result.get("skipped") or result.get("grade", 0) >= _ALL_OK:
                continue
            check = result["check"]
            comments = result.get("comments") or [{"summary": check.get("name", check["id"])}]
            for comment in comments:
                where = f"{comment['path']}: " if comment.get("path") else ""
                yield Finding("kube-score", render, kind, meta.get("name", "?"), component, check["id"],
                              where + comment.get("summary", ""))  # fmt: skip


def start_checkov(binary: Path, folder: Path) -> subprocess.Popen[str]:
    """Start checkov's Kubernetes checks on every file of `folder` (its slow start-up overlaps the other linters).

    Offline: --skip-download keeps it from fetching Prisma Cloud's guidelines, and
    CKV_SKIP_PACKAGE_UPDATE_CHECK from asking for a newer checkov.
    """
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING"}
    command = [str(binary), "--directory", str(folder), "--framework", "kubernetes", "--output", "json",
               "--quiet", "--compact", "--skip-download"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def checkov_findings(process: subprocess.Popen[str], renders: list[Manifests]) -> list[Finding]:
    """What the checkov run found, each failed check on the object (and component) it names."""
    stdout, stderr = process.communicate()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise _failed("checkov", result, "no JSON report") from exc
    components = {render.path.stem: render.components() for render in renders}
    findings = []
    for report in data if isinstance(data, list) else [data]:
        errors = (report.get("summary") or {}).get("parsing_errors", 0)
        if errors:
            raise _failed("checkov", result, f"{errors} file(s) it could not parse")
        for failed in (report.get("results") or {}).get("failed_checks", []):
            render = Path(failed["file_path"]).stem
            # `Kind.namespace.name`; a graph check's pod adds `.label-value` pairs after the name.
            kind, _, rest = failed["resource"].split(".", 2)
            name = rest.split(".", 1)[0]
            component = components.get(render, {}).get(name, "")
            findings.append(Finding("checkov", render, kind, name, component, failed["check_id"], failed["check_name"]))
    return findings


def pint(binary: Path, config: Path, files: list[tuple[str, Path]], report: Path) -> list[Finding]:
    """pint's problems (every severity) in the rule files, each `(render, path)`; offline: asks no Prometheus."""
    names = {str(path): name for name, path in files}
    command = [str(binary), "--offline", "--no-color", "--config", str(config), "lint",
               "--min-severity", "info", "--fail-on", "info", "--json", str(report)]  # fmt: skip
    report.unlink(missing_ok=True)
    result = subprocess.run([*command, *names], capture_output=True, text=True, check=False)
    if not report.exists():
        raise _failed("pint", result, "no JSON report")
    findings = []
    for problem in json.loads(report.read_text() or "[]") or []:
        path = problem["path"]
        lines = problem.get("lines") or []
        where = f"{Path(path).name}:{lines[0]}" if lines else Path(path).name
        message = f"{problem['severity']}: {problem['problem']}"
        findings.append(Finding("pint", names.get(path, path), "rules", where, "", problem["reporter"], message))
    if result.returncode != 0 and not findings:
        raise _failed("pint", result, "failed without a problem in its report")
    return findings
