"""What a rollout of the api needs from the chart: a terminating api pod keeps serving for
`api.shutdownDelaySeconds` (a preStop sleep) while kube-proxy stops sending it new
connections. tests/cluster/test_chart_on_a_node.py shows the behaviour on a real node: no
refused connection through the Service while `helm upgrade` rolls the api."""

from __future__ import annotations

import pytest

from tests.k8s.kube import Kube
from tests.k8s.test_chart import CHART, RELEASE, helm_args
from tests.k8s.test_chart_pods import pod_specs


def api_container(kube: Kube, *values: str) -> dict[str, object]:
    stream = kube.helm("template", RELEASE, CHART, *helm_args(*values)).stdout
    (container,) = [c for c in pod_specs(stream)[f"Deployment/{RELEASE}-jobq-api"]["containers"] if c["name"] == "api"]
    return container


def test_a_terminating_api_pod_sleeps_before_it_stops_serving_by_default(kube: Kube) -> None:
    assert api_container(kube)["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert api_container(kube, "api.shutdownDelaySeconds=12")["lifecycle"] == {"preStop": {"sleep": {"seconds": 12}}}


def test_a_shutdown_delay_of_zero_renders_no_pre_stop_hook(kube: Kube) -> None:
    assert "lifecycle" not in api_container(kube, "api.shutdownDelaySeconds=0")


@pytest.mark.parametrize("bad", ["-1", "301", "soon"])
def test_a_shutdown_delay_out_of_range_is_refused_naming_the_value(kube: Kube, bad: str) -> None:
    result = kube.helm("template", RELEASE, CHART, *helm_args(f"api.shutdownDelaySeconds={bad}"), check=False)
    assert result.returncode != 0
    assert "shutdownDelaySeconds" in result.stderr
