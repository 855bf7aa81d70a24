"""The operator's pure parts: reading a WorkerScaler spec, choosing pod deletion costs, which holds to record."""

from __future__ import annotations

import pytest

from jobq_core.model.autoscale import Behavior, Reason
from jobq_operator.kube import PodInfo
from jobq_operator.records import HOLD_ROWS_EVERY_S, Holds
from jobq_operator.scaler import deletion_cost
from jobq_operator.spec import Connection, SpecError, parse


def test_a_full_spec_becomes_the_policy() -> None:
    spec = parse(
        {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "jobq-worker"},
            "queues": ["default", "emails"],
            "minReplicas": 1,
            "maxReplicas": 12,
            "jobsPerWorker": 4,
            "targetLatencySeconds": 20,
            "pollIntervalSeconds": 2,
            "scaleUp": {"stabilizationWindowSeconds": 5, "maxStep": 3, "periodSeconds": 10},
            "scaleDown": {"stabilizationWindowSeconds": 120, "maxStep": 1, "periodSeconds": 60},
            "cooldownSeconds": 90,
            "connection": {"secretName": "jobq"},
            "paused": True,
        }
    )
    assert (spec.target, spec.queues, spec.poll_interval_s, spec.paused) == (
        "jobq-worker",
        ("default", "emails"),
        2,
        True,
    )
    assert spec.connection == Connection("jobq", "databaseUrl", "redisUrl")
    p = spec.policy
    assert (p.min_replicas, p.max_replicas, p.jobs_per_worker, p.target_latency_s, p.cooldown_s) == (1, 12, 4, 20, 90)
    assert p.scale_up == Behavior(5, 3, 10) and p.scale_down == Behavior(120, 1, 60)


def test_the_crd_defaults_apply_to_a_minimal_spec() -> None:
    spec = parse({"targetRef": {"name": "w"}, "maxReplicas": 3})
    assert spec.queues == ("default",) and spec.connection is None and spec.poll_interval_s == 5
    assert spec.policy.min_replicas == 0 and spec.policy.scale_down == Behavior(60, 2, 30)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"maxReplicas": 3}, "spec.targetRef.name"),
        ({"targetRef": {"name": "w"}}, "spec.maxReplicas"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 3, "minReplicas": 4}, "min_replicas"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 3, "scaleDown": {"maxStep": 0}}, "spec.scaleDown"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 3, "connection": {"redisUrlKey": "r"}}, "secretName"),
        ({"targetRef": {"name": "w"}, "maxReplicas": 3, "pollIntervalSeconds": 0.1}, "spec.pollIntervalSeconds"),
    ],
)
def test_a_spec_the_operator_cannot_use_names_the_field(raw: dict[str, object], named: str) -> None:
    with pytest.raises(SpecError, match=named.replace(".", r"\.")):
        parse(raw)


def test_pods_cost_the_jobs_they_run_and_unchanged_ones_are_left_alone() -> None:
    running = {"w-busy": 3, "w-idle": 0}

    assert deletion_cost(PodInfo("w-busy", None, False), running) == 3
    assert deletion_cost(PodInfo("w-idle", "3", False), running) == 0
    assert deletion_cost(PodInfo("w-starting", None, False), running) == 0  # no worker yet: runs nothing
    assert deletion_cost(PodInfo("w-busy", "3", False), running) is None  # already right
    assert deletion_cost(PodInfo("w-busy", None, True), running) is None  # terminating anyway
    # A worker reports the host name, which the kubelet cuts to 63 characters.
    long_name = "a-release-name-that-is-rather-long-jobq-worker-6f7c9d8b4-x7k2p-extra"
    assert deletion_cost(PodInfo(long_name, None, False), {long_name[:63].rstrip("-."): 2}) == 2


def test_a_hold_gets_a_decision_row_once_per_new_limiting_reason() -> None:
    holds = Holds()
    # Held at the bound loop after loop: one row.
    assert [holds.worth_a_row(Reason.MAX_REPLICAS, t) for t in (0, 5, 10, 120)] == [True, False, False, False]
    # Holding because the demand is met is no limit: no row, and the bound is still old news.
    assert not holds.worth_a_row(Reason.DEPTH, 125)
    assert not holds.worth_a_row(Reason.MAX_REPLICAS, 130)
    # A new limiting reason is news, but flipping reasons write at most one row a minute.
    assert holds.worth_a_row(Reason.STABILIZED, 135)
    assert not holds.worth_a_row(Reason.STEP_LIMIT, 140)
    assert holds.worth_a_row(Reason.STEP_LIMIT, 135 + HOLD_ROWS_EVERY_S)
    # After a change of replicas the same reason is news again, at once.
    holds.changed()
    assert holds.worth_a_row(Reason.STEP_LIMIT, 200)
