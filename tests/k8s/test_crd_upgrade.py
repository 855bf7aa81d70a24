"""Upgrading the WorkerScaler CRD the way the README says: Helm installs `crds/` once and
never updates it on `helm upgrade`, so a release of an older chart keeps the older schema,
and upgrading it to a chart whose WorkerScaler sets a new field fails, until
`helm show crds charts/jobq | kubectl apply --server-side --force-conflicts -f -` has
applied the new CRD; then `helm upgrade` works."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.kube import Kube
from tests.k8s.test_chart import CHART, RELEASE
from tests.k8s.test_operator_crd import CRD_NAME, install_crd

NEW_FIELD = "cooldownSeconds"
# The block that declares NEW_FIELD in the chart's CRD (the older chart lacks it): its
# name's line and the more deeply indented lines after it.
NEW_FIELD_BLOCK = re.compile(rf"^( +){NEW_FIELD}:\n(?:\1 +.*\n)+", re.MULTILINE)


def spec_properties(kube: Kube) -> dict[str, Any]:
    crd = json.loads(kube.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
    (version,) = crd["spec"]["versions"]
    properties: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    return properties


@pytest.fixture
def older_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose CRD does not know NEW_FIELD yet and whose WorkerScaler does
    not set it, as an older release's did."""
    chart = tmp_path / "jobq"
    shutil.copytree(CHART, chart)
    crd = chart / "crds" / "workerscaler.yaml"
    older, found = NEW_FIELD_BLOCK.subn("", crd.read_text())
    assert found == 1, f"the CRD declares {NEW_FIELD} {found} times"
    crd.write_text(older)
    template = chart / "templates" / "workerscaler.yaml"
    lines = template.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.lstrip().startswith(f"{NEW_FIELD}:")]
    assert len(kept) == len(lines) - 1, f"the template sets {NEW_FIELD} {len(lines) - len(kept)} times"
    template.write_text("".join(kept))
    return chart


@pytest.fixture
def without_the_crd(kube: Kube) -> Iterator[None]:
    """The cluster without the CRD (as before a first install); the chart's CRD again after."""
    kube.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true", "--timeout=60s")
    yield
    install_crd(kube)


def test_helm_upgrade_keeps_the_old_crd_and_works_after_the_readmes_command_updates_it(
    kube: Kube, namespace: str, older_chart: Path, without_the_crd: None, tmp_path: Path
) -> None:
    kube.helm("install", RELEASE, str(older_chart), "-n", namespace, "--no-hooks")
    assert NEW_FIELD not in spec_properties(kube)

    # Helm leaves the CRD as it is, so the new chart's WorkerScaler does not fit it.
    refused = kube.helm("upgrade", RELEASE, CHART, "-n", namespace, "--no-hooks", check=False)
    assert refused.returncode != 0 and NEW_FIELD in refused.stderr, refused.stderr
    assert NEW_FIELD not in spec_properties(kube), "Helm updated the CRD: the README's upgrade step is moot"

    # The README's step, its pipe through a file: helm show crds, then kubectl apply.
    crds = tmp_path / "crds.yaml"
    crds.write_text(kube.helm("show", "crds", CHART).stdout)
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    kube.kubectl("wait", f"crd/{CRD_NAME}", "--for=condition=Established", "--timeout=60s")
    assert NEW_FIELD in spec_properties(kube)

    kube.helm("upgrade", RELEASE, CHART, "-n", namespace, "--no-hooks")
    stored = json.loads(
        kube.kubectl("get", "workerscaler", f"{RELEASE}-jobq-worker", "-n", namespace, "-o", "json").stdout
    )
    assert NEW_FIELD in stored["spec"], "the upgraded release's WorkerScaler keeps the new field"
    kube.helm("uninstall", RELEASE, "-n", namespace)
