"""Fixtures for tests against a real Kubernetes control plane (see tools/kube).

The binaries are built from Go modules on first use (tens of minutes, once per
machine) and found in the cache afterwards. The build runs right after collection,
when a test of this folder was selected, so the per-test timeout does not cover it;
a build failure makes those tests error with the build's last lines.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s.kube import Kube
from tools.kube.binaries import build_binaries, extra
from tools.kube.cluster import ControlPlane

HERE = Path(__file__).resolve().parent
BINARIES = pytest.StashKey[Path | Exception]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build or find the binaries before the first test of this folder runs."""
    selected = any(HERE in Path(item.path).resolve().parents for item in session.items)
    if session.config.option.collectonly or not selected:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    fd, name = tempfile.mkstemp(prefix="jobq-kube-build-", suffix=".log")
    os.close(fd)
    log = Path(name)

    def say_building() -> None:
        if reporter is not None:
            reporter.write_line(f"tests/k8s: building the Kubernetes binaries (once per machine), log in {log}")

    try:
        session.config.stash[BINARIES] = build_binaries(log=log, on_slow=say_building)
        log.unlink()
    except Exception as exc:
        session.config.stash[BINARIES] = exc


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    """A real etcd + kube-apiserver + kube-controller-manager on loopback for the session."""
    binaries = request.config.stash.get(BINARIES, None)
    if binaries is None:  # a plugin added this folder's tests after collection finished
        binaries = build_binaries()
    if isinstance(binaries, Exception):
        raise binaries
    with ControlPlane.start(binaries) as cluster:
        yield Kube(cluster)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"jobq-test-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    # The API server admits no pod before the controller-manager made the namespace's
    # default ServiceAccount, a moment later (longer on a busy machine).
    kube.until(
        lambda: kube.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        what=f"the default ServiceAccount of {name}",
    )
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")


# The Prometheus Operator's kinds the chart's monitoring extras create.
PROMETHEUS_KINDS = ("servicemonitors", "podmonitors", "prometheusrules")


@pytest.fixture(scope="session")
def prometheus_crds(kube: Kube) -> Path:
    """The Prometheus Operator's real CRDs (tools/kube/extras.sh crds), installed in the cluster.

    Returns the folder holding every CRD YAML of the pinned prometheus-operator release.
    """
    folder = extra("crds")
    for kind in PROMETHEUS_KINDS:
        # Server-side: these CRDs are too big for the last-applied annotation.
        kube.kubectl("apply", "--server-side", "-f", str(folder / f"monitoring.coreos.com_{kind}.yaml"))
    for kind in PROMETHEUS_KINDS:
        kube.kubectl("wait", "--for=condition=Established", f"crd/{kind}.monitoring.coreos.com", "--timeout=60s")
    return folder


@pytest.fixture(scope="session")
def jobq_crds(kube: Kube) -> None:
    """The chart's own CRDs (charts/jobq/crds), installed as `helm install` would before its templates."""
    crds = HERE.parents[1] / "charts" / "jobq" / "crds"
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    kube.kubectl("wait", "--for=condition=Established", "crd/workerscalers.autoscaling.jobq.dev", "--timeout=60s")
