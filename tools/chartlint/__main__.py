"""Render charts/jobq with each value set and run kube-score, checkov and pint on the renders.

    python -m tools.chartlint                                  # the chart (`make lint`)
    python -m tools.chartlint --manifests m.yaml --rules r.yaml  # these files instead

The renders are `helm template` with each of renders/*.yaml and with k8s/values.yaml
(the plain manifests of k8s/), each as a release of its own (`jobq-<render>`), so one
render's NetworkPolicies never seem to cover another's pods. kube-score scores each
render alone, checkov checks them all in one run, pint lints charts/jobq/alerts/*.yaml
and every rendered PrometheusRule. Any finding fails the run, listed one a line, except
what kube-score.toml and checkov.toml ignore, each exception with its reason (an
exception that no longer matches anything fails the run too); pint.hcl is pint's own.

The linters come from tools/chartlint/build.sh (built once, cached outside the
checkout), helm from tools/kube/build.sh.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tools.chartlint import config, linters
from tools.chartlint.config import Finding
from tools.kube.binaries import build_binaries, versions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHART = ROOT / "charts" / "jobq"
RENDERS = HERE / "renders"
PLAIN_VALUES = ROOT / "k8s" / "values.yaml"
BUILD_SCRIPT = HERE / "build.sh"
PINT_CONFIG = HERE / "pint.hcl"


def linter_binaries() -> Path:
    """Run build.sh (a no-op when cached; its progress goes to stderr) and return the folder of the linters."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    return Path(result.stdout.strip().splitlines()[-1])


def value_sets() -> list[tuple[str, Path]]:
    """Each render's name and values file: renders/*.yaml, then k8s/values.yaml as `k8s`."""
    return [(path.stem, path) for path in sorted(RENDERS.glob("*.yaml"))] + [("k8s", PLAIN_VALUES)]


def render_chart(helm: Path, chart: Path, folder: Path) -> tuple[list[linters.Manifests], list[tuple[str, Path]]]:
    """Render `chart` once per value set into `folder`; return the renders and their PrometheusRules as rule files."""
    renders, rules = [], []
    for name, values in value_sets():
        release = f"jobq-{name}"
        command = [str(helm), "template", release, str(chart), "--namespace", release, "--values", str(values)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"helm template with {shown(values)} failed:\n{result.stderr}")
        path = folder / f"{name}.yaml"
        path.write_text(result.stdout)
        renders.append(linters.Manifests(name, path))
        found = [
            d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict) and d.get("kind") == "PrometheusRule"
        ]
        if found:
            # A file of its own, outside the folder checkov reads: pint.hcl parses these relaxed.
            rule_file = folder.parent / f"prometheusrule-{name}.yaml"
            rule_file.write_text(yaml.safe_dump_all(found, sort_keys=False))
            rules.append((name, rule_file))
    return renders, rules


def lint(
    renders: list[linters.Manifests], rules: list[tuple[str, Path]], manifests: Path, work: Path, *, whole_chart: bool
) -> list[Finding]:
    """Every finding of the three linters that no exception covers (and, for the chart, every unused exception)."""
    tools = linter_binaries()
    kube_score_config = config.load(HERE / "kube-score.toml")
    checkov_config = config.load(HERE / "checkov.toml")
    kubernetes = ".".join(versions()["KUBE_VERSION"].split(".")[:2])
    checkov = linters.start_checkov(tools / "checkov", manifests) if renders else None
    try:
        found = linters.kube_score(tools / "kube-score", renders, kubernetes, kube_score_config.flags)
        pint_found = linters.pint(tools / "pint", PINT_CONFIG, rules, work / "pint.json") if rules else []
        checkov_found = linters.checkov_findings(checkov, renders) if checkov else []
    finally:
        if checkov is not None and checkov.poll() is None:
            checkov.kill()
            checkov.wait()
    kept = set(kube_score_config.keep(found) + checkov_config.keep(checkov_found) + pint_found)
    findings = sorted(kept, key=lambda f: (f.tool, f.render, f.kind, f.name, f.check, f.message))
    if whole_chart:
        findings += kube_score_config.unused() + checkov_config.unused()
    return findings


def shown(path: Path) -> str:
    """`path` relative to the checkout when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Lint the chart's renders (or the given files); print the findings and exit 1 when there are any."""
    parser = argparse.ArgumentParser(description="Run kube-score, checkov and pint on renders of charts/jobq.")
    parser.add_argument("--chart", type=Path, default=CHART, help="the chart to render (default: charts/jobq)")
    parser.add_argument(
        "--manifests", type=Path, action="append", default=[], help="a file of objects to lint instead of renders"
    )
    parser.add_argument("--rules", type=Path, action="append", default=[], help="a rule file to lint instead")
    args = parser.parse_args(argv)
    whole_chart = not (args.manifests or args.rules)
    with tempfile.TemporaryDirectory(prefix="jobq-chartlint-") as scratch:
        work = Path(scratch)
        manifests = work / "manifests"
        manifests.mkdir()
        if whole_chart:
            renders, rules = render_chart(build_binaries(groups=("helm",)) / "helm", args.chart, manifests)
            rules = [("alerts", path) for path in sorted((args.chart / "alerts").glob("*.yaml"))] + rules
        else:
            renders = []
            for path in args.manifests:
                copy = manifests / path.name
                copy.write_text(path.read_text())
                renders.append(linters.Manifests(path.stem, copy))
            rules = [(path.stem, path.resolve()) for path in args.rules]
        try:
            findings = lint(renders, rules, manifests, work, whole_chart=whole_chart)
        except (linters.ToolFailed, config.ConfigError) as exc:
            print(f"chartlint: {exc}", file=sys.stderr)
            return 2
    what = f"{len(renders)} renders of {shown(args.chart)}" if whole_chart else "the given files"
    if findings:
        print(f"chartlint: {len(findings)} finding(s) in {what}; fix each, or give it an exception with its reason "
              "in tools/chartlint/:", file=sys.stderr)  # fmt: skip
        for finding in findings:
            print(f"  {finding}", file=sys.stderr)
        return 1
    print(f"chartlint: kube-score, checkov and pint found nothing in {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
