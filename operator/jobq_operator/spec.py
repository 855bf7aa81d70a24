"""A WorkerScaler's spec, read into the policy's parameters.

The CRD's schema rejects bad specs and fills in defaults before the operator sees
them; the defaults here repeat the CRD's so that an object written before a default
existed still reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobq_core.errors import JobqError
from jobq_core.model.autoscale import Behavior, Policy
from jobq_core.names import DEFAULT_QUEUE

GROUP = "autoscaling.jobq.dev"
VERSION = "v1alpha1"
PLURAL = "workerscalers"
KIND = "WorkerScaler"


class SpecError(JobqError, ValueError):
    """A WorkerScaler's spec cannot be used (the message names the field)."""


@dataclass(frozen=True)
class Connection:
    """A Secret holding the PostgreSQL and Redis URLs."""

    secret_name: str
    database_url_key: str = "databaseUrl"
    redis_url_key: str = "redisUrl"


@dataclass(frozen=True)
class ScalerSpec:
    """Everything the operator needs from one WorkerScaler."""

    target: str
    queues: tuple[str, ...]
    policy: Policy
    poll_interval_s: float
    connection: Connection | None
    paused: bool


def _behavior(raw: Mapping[str, Any] | None, default: Behavior, field: str) -> Behavior:
    raw = raw or {}
    try:
        return Behavior(
            stabilization_window_s=float(raw.get("stabilizationWindowSeconds", default.stabilization_window_s)),
            max_step=int(raw.get("maxStep", default.max_step)),
            period_s=float(raw.get("periodSeconds", default.period_s)),
        )
    except ValueError as exc:
        raise SpecError(f"spec.{field}: {exc}") from exc


def parse(spec: Mapping[str, Any]) -> ScalerSpec:
    """Read a WorkerScaler's `spec`; raise :class:`SpecError` naming the bad field."""
    target = (spec.get("targetRef") or {}).get("name")
    if not target:
        raise SpecError("spec.targetRef.name is required")
    if "maxReplicas" not in spec:
        raise SpecError("spec.maxReplicas is required")
    try:
        policy = Policy(
            min_replicas=int(spec.get("minReplicas", 0)),
            max_replicas=int(spec["maxReplicas"]),
            jobs_per_worker=int(spec.get("jobsPerWorker", 10)),
            target_latency_s=float(spec.get("targetLatencySeconds", 30)),
            scale_up=_behavior(spec.get("scaleUp"), Behavior(0, 10, 15), "scaleUp"),
            scale_down=_behavior(spec.get("scaleDown"), Behavior(60, 2, 30), "scaleDown"),
            cooldown_s=float(spec.get("cooldownSeconds", 300)),
        )
    except (TypeError, ValueError) as exc:
        raise SpecError(f"spec: {exc}") from exc
    connection = None
    if raw := spec.get("connection"):
        if not raw.get("secretName"):
            raise SpecError("spec.connection.secretName is required")
        connection = Connection(
            raw["secretName"], raw.get("databaseUrlKey", "databaseUrl"), raw.get("redisUrlKey", "redisUrl")
        )
    poll = float(spec.get("pollIntervalSeconds", 5))
    if poll < 1:
        raise SpecError(f"spec.pollIntervalSeconds must be >= 1, got {poll:g}")
    return ScalerSpec(
        target=str(target),
        queues=tuple(spec.get("queues") or (DEFAULT_QUEUE,)),
        policy=policy,
        poll_interval_s=poll,
        connection=connection,
        paused=bool(spec.get("paused", False)),
    )
