"""What a rollout of the api needs from the chart: a terminating api pod keeps serving for
`api.shutdownDelaySeconds` (a preStop sleep) while kube-proxy stops sending it new
connections. tests/cluster/test_chart_on_a_node.py shows the behaviour on a real node: no
refused connection through the Service while `helm upgrade` rolls the api. And a plain
migration Job (k8s/) expires, so the Jobs of older versions do not pile up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.kube import Kube
from tests.k8s.test_chart import CHART, EXTERNAL_DB, EXTERNAL_REDIS, RELEASE, helm_args
from tests.k8s.test_chart_pods import pod_specs

MANIFESTS = Path(__file__).resolve().parents[2] / "k8s"


def api_container(kube: Kube, *values: str) -> dict[str, object]:
    stream = kube.helm("template", RELEASE, CHART, *helm_args(*values)).stdout
    (container,) = [c for c in pod_specs(stream)[f"Deployment/{RELEASE}-jobq-api"]["containers"] if c["name"] == "api"]
    return container


def test_a_terminating_api_pod_sleeps_before_it_stops_serving_by_default(kube: Kube) -> None:
    assert api_container(kube)["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert api_container(kube, "api.shutdownDelaySeconds=12")["lifecycle"] == {"preStop": {"sleep": {"seconds": 12}}}


def test_the_grace_period_leaves_thirty_seconds_after_the_sleep(kube: Kube) -> None:
    def grace(*values: str) -> object:
        stream = kube.helm("template", RELEASE, CHART, *helm_args(*values)).stdout
        return pod_specs(stream)[f"Deployment/{RELEASE}-jobq-api"]["terminationGracePeriodSeconds"]

    assert grace() == 35
    assert grace("api.shutdownDelaySeconds=120") == 150


def test_a_shutdown_delay_of_zero_renders_no_pre_stop_hook(kube: Kube) -> None:
    assert "lifecycle" not in api_container(kube, "api.shutdownDelaySeconds=0")


@pytest.mark.parametrize("bad", ["-1", "301", "soon"])
def test_a_shutdown_delay_out_of_range_is_refused_naming_the_value(kube: Kube, bad: str) -> None:
    result = kube.helm("template", RELEASE, CHART, *helm_args(f"api.shutdownDelaySeconds={bad}"), check=False)
    assert result.returncode != 0
    assert "shutdownDelaySeconds" in result.stderr


def migration_job(kube: Kube, *values: str) -> dict[str, Any]:
    stream = kube.helm("template", RELEASE, CHART, *helm_args(*values)).stdout
    (job,) = [o for o in yaml.safe_load_all(stream) if o and o["kind"] == "Job"]
    return dict(job)


def test_a_plain_migration_job_expires_when_asked_and_k8s_sets_a_day(kube: Kube) -> None:
    assert "ttlSecondsAfterFinished" not in migration_job(kube)["spec"], "kept by default"
    assert migration_job(kube, "migration.ttlSecondsAfterFinished=3600")["spec"]["ttlSecondsAfterFinished"] == 3600
    assert migration_job(kube, "migration.ttlSecondsAfterFinished=0")["spec"]["ttlSecondsAfterFinished"] == 0
    # A hook's Job is Helm's to delete (hook-delete-policy), with or without the setting.
    hook = migration_job(
        kube,
        *("postgresql.enabled=false", f"externalDatabase.url={EXTERNAL_DB}"),
        *("redis.enabled=false", f"externalRedis.url={EXTERNAL_REDIS}", "migration.ttlSecondsAfterFinished=60"),
    )
    assert "helm.sh/hook" in hook["metadata"]["annotations"] and "ttlSecondsAfterFinished" not in hook["spec"]

    (plain,) = [o for o in yaml.safe_load_all(MANIFESTS.joinpath("migration-job.yaml").read_text()) if o]
    assert plain["spec"]["ttlSecondsAfterFinished"] == 86400


def test_a_kubernetes_older_than_the_pre_stop_sleep_action_is_refused_by_name(kube: Kube) -> None:
    # The sleep action of a preStop hook is on by default from Kubernetes 1.30.
    result = kube.helm("template", RELEASE, CHART, "--kube-version", "1.29.0", check=False)
    assert result.returncode != 0 and "kubeVersion: >=1.30.0-0" in result.stderr, result.stderr
    assert kube.helm("template", RELEASE, CHART, "--kube-version", "1.30.0").returncode == 0
