"""One WorkerScaler's loop body: observe the queues, decide, scale, report.

A failure of any step (PostgreSQL or Redis unreachable, the Deployment or the
connection Secret missing, a spec the operator cannot use) becomes the ``Ready``
condition with a reason, a Warning Event when that reason first appears, and an error
metric; the target's replicas are then left where they are, the last good count.
Each loop that observed also leaves its record in PostgreSQL for the dashboard
(:mod:`.records`), which never fails the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from kubernetes_asyncio.client.exceptions import ApiException

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.errors import DatabaseUnavailable, RedisUnavailable, UnavailableError
from jobq_core.model.autoscale import Decision, History, Reason, decide
from jobq_core.pg.db import create_pool
from jobq_core.pg.queue_state import QueueState, queue_state, worker_load

from . import metrics
from .kube import ConnectionSecretInvalid, Kube, PodInfo, TargetNotFound, now_iso
from .records import LIMITING, Recorder
from .settings import OperatorSettings
from .spec import ScalerSpec, SpecError, parse

log = logging.getLogger("jobq.operator")

# How long one observation may take before it counts as an outage.
OBSERVE_TIMEOUT_S = 10.0


@dataclass
class _Backends:
    database_url: str
    redis_url: str
    pool: asyncpg.Pool
    channel: DispatchChannel

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.channel.close()
        try:
            await asyncio.wait_for(self.pool.close(), 5)
        except (TimeoutError, Exception):
            self.pool.terminate()


@dataclass
class Scaler:
    """The state kept between two loops of one WorkerScaler (the policy's history, conditions, connections)."""

    kube: Kube
    settings: OperatorSettings
    namespace: str
    name: str
    history: History | None = None
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    backends: _Backends | None = None
    last_generation: int | None = None
    recorder: Recorder = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.namespace, self.name)

    async def close(self) -> None:
        """Close the scaler's PostgreSQL pool and Redis client."""
        if self.backends is not None:
            await self.backends.close()
            self.backends = None

    # -- one loop ---------------------------------------------------------------------

    async def step(self, body: Mapping[str, Any]) -> float:
        """Observe, decide, scale and report once; return the seconds to wait before the next loop."""
        poll_s = float((body.get("spec") or {}).get("pollIntervalSeconds", 5))
        status: dict[str, Any] = {"observedGeneration": body["metadata"].get("generation")}
        try:
            spec = parse(body.get("spec") or {})
            poll_s = spec.poll_interval_s
            await self._loop(body, spec, status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is reported, none ends the loop
            reason, message = _failure(exc)
            if reason == "InternalError":
                log.exception("WorkerScaler %s/%s: loop failed", self.namespace, self.name)
            else:
                log.warning("WorkerScaler %s/%s: %s: %s", self.namespace, self.name, reason, message)
            metrics.ERRORS.labels(self.namespace, self.name, reason).inc()
            if self._set_condition("Ready", "False", reason, f"{message}; replicas left unchanged"):
                await self._event(body, "Warning", reason, f"{message}; replicas left unchanged")
        status["conditions"] = list(self.conditions.values())
        try:
            await self.kube.patch_status(self.namespace, self.name, status)
        except ApiException as exc:
            if exc.status != 404:  # 404: deleted meanwhile; the daemon is being stopped
                log.warning("WorkerScaler %s/%s: status not written: %s", self.namespace, self.name, exc.reason)
        metrics.loop_done()
        return poll_s

    async def _loop(self, body: Mapping[str, Any], spec: ScalerSpec, status: dict[str, Any]) -> None:
        backends = await self._backends(spec)
        target = await self.kube.target(self.namespace, spec.target)
        try:
            async with asyncio.timeout(OBSERVE_TIMEOUT_S):
                state = await queue_state(backends.pool, spec.queues, self.settings.operator_rate_window_s)
        except TimeoutError as exc:
            raise DatabaseUnavailable("no answer within 10s") from exc
        await backends.channel.ping()
        now = time.monotonic()
        decision = decide(spec.policy, state.observation(now), target.replicas, self.history)
        self._report_observation(state, status)
        metrics.DECISIONS.labels(self.namespace, self.name, decision.reason.value).inc()
        metrics.CURRENT.labels(self.namespace, self.name).set(target.replicas)
        metrics.DESIRED.labels(self.namespace, self.name).set(decision.desired)
        status.update(replicas=target.replicas, desiredReplicas=decision.desired)

        scaled = not spec.paused and decision.desired != target.replicas
        if spec.paused:
            self._set_condition("ScalingActive", "False", "Paused", "spec.paused is true: replicas are left alone")
        elif scaled:
            await self._scale(body, spec, target.replicas, decision, backends, status)
        else:
            self._set_condition("ScalingActive", "True", "Scaling", f"holding at {target.replicas}: {decision.message}")
        await self.recorder.loop(
            backends.pool,
            current=target.replicas,
            decision=decision,
            state=state,
            scaled=scaled,
            held=not spec.paused and not scaled,
            now=now,
        )
        if not spec.paused:
            self.history = decision.history
        limited = decision.reason in LIMITING
        self._set_condition(
            "ScalingLimited",
            "True" if limited else "False",
            _camel(decision.reason) if limited else "WithinLimits",
            decision.message,
        )
        self._set_condition("Ready", "True", "Observed", f"queues {', '.join(spec.queues)} observed")

    async def _scale(
        self,
        body: Mapping[str, Any],
        spec: ScalerSpec,
        current: int,
        decision: Decision,
        backends: _Backends,
        status: dict[str, Any],
    ) -> None:
        if decision.desired < current:
            await self._mark_idle_pods(spec, backends)
        await self.kube.scale(self.namespace, spec.target, decision.desired)
        direction = "up" if decision.desired > current else "down"
        message = f"{current} -> {decision.desired} replicas ({decision.reason.value}): {decision.message}"
        log.info("WorkerScaler %s/%s: %s", self.namespace, self.name, message)
        metrics.SCALINGS.labels(self.namespace, self.name, direction).inc()
        metrics.CURRENT.labels(self.namespace, self.name).set(decision.desired)
        status.update(replicas=decision.desired, lastScaleTime=now_iso(), lastScaleReason=decision.reason.value)
        self._set_condition("ScalingActive", "True", "Scaling", message)
        await self._event(body, "Normal", "ScaledUp" if direction == "up" else "ScaledDown", message)

    async def _mark_idle_pods(self, spec: ScalerSpec, backends: _Backends) -> None:
        """Give each pod a deletion cost of the jobs it runs, so the ReplicaSet removes idle pods first.

        Workers register the host name, which is the pod name in Kubernetes. A pod with no
        live worker (still starting, or gone) runs nothing and costs 0 like an idle one.
        """
        target = await self.kube.target(self.namespace, spec.target)
        pods = await self.kube.pods(self.namespace, target.selector)
        running: dict[str, int] = {}
        for worker in await worker_load(backends.pool, self.settings.worker_timeout_s):
            running[worker.hostname] = running.get(worker.hostname, 0) + worker.running
        for pod in pods:
            cost = deletion_cost(pod, running)
            if cost is not None:
                await self.kube.set_deletion_cost(self.namespace, pod.name, cost)

    # -- connections ------------------------------------------------------------------

    async def _backends(self, spec: ScalerSpec) -> _Backends:
        if spec.connection is not None:
            database_url, redis_url = await self.kube.connection_urls(self.namespace, spec.connection)
        else:
            if self.settings.database_url is None or self.settings.redis_url is None:
                raise ConnectionSecretInvalid(
                    "spec.connection is not set and the operator has no JOBQ_DATABASE_URL and JOBQ_REDIS_URL"
                )
            database_url = self.settings.database_url.get_secret_value()
            redis_url = self.settings.redis_url.get_secret_value()
        if self.backends and (self.backends.database_url, self.backends.redis_url) == (database_url, redis_url):
            return self.backends
        await self.close()
        pool = await create_pool(database_url, size=2)
        self.backends = _Backends(database_url, redis_url, pool, DispatchChannel.from_url(redis_url))
        return self.backends

    # -- reporting --------------------------------------------------------------------

    def _report_observation(self, state: QueueState, status: dict[str, Any]) -> None:
        status.update(
            ready=state.ready,
            running=state.running,
            scheduled=state.scheduled,
            oldestReadyAgeSeconds=round(state.oldest_ready_age_s, 3),
            arrivalRate=round(state.arrival_rate, 4),
            completionRate=round(state.completion_rate, 4),
        )
        labels = (self.namespace, self.name)
        metrics.READY.labels(*labels).set(state.ready)
        metrics.RUNNING.labels(*labels).set(state.running)
        metrics.OLDEST.labels(*labels).set(state.oldest_ready_age_s)
        metrics.COMPLETION_RATE.labels(*labels).set(state.completion_rate)

    def _set_condition(self, kind: str, value: str, reason: str, message: str) -> bool:
        """Set a condition; True when its status or reason changed (a transition worth an Event)."""
        old = self.conditions.get(kind)
        changed = old is None or old["status"] != value or old["reason"] != reason
        self.conditions[kind] = {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message[:1024],
            "lastTransitionTime": now_iso() if changed or old is None else old["lastTransitionTime"],
        }
        return changed

    async def _event(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        try:
            await self.kube.event(dict(body), kind, reason, message)
        except ApiException as exc:
            log.warning("WorkerScaler %s/%s: event not recorded: %s", self.namespace, self.name, exc.reason)


def deletion_cost(pod: PodInfo, running: Mapping[str, int]) -> int | None:
    """The deletion cost `pod` should carry (its running jobs), or None when it already does."""
    if pod.terminating:
        return None
    cost = running.get(pod_hostname(pod.name), 0)
    return None if pod.deletion_cost == str(cost) else cost


def pod_hostname(pod_name: str) -> str:
    """The host name the kubelet gives a pod: its name cut to 63 characters, without a trailing '-' or '.'."""
    return pod_name[:63].rstrip("-.")


def _failure(exc: BaseException) -> tuple[str, str]:
    """The condition reason and message for a failed loop."""
    if isinstance(exc, DatabaseUnavailable):
        return "DatabaseUnavailable", exc.message
    if isinstance(exc, RedisUnavailable):
        return "RedisUnavailable", exc.message
    if isinstance(exc, UnavailableError):
        return "BackendUnavailable", exc.message
    if isinstance(exc, TargetNotFound):
        return "TargetNotFound", str(exc)
    if isinstance(exc, ConnectionSecretInvalid):
        return "ConnectionSecretInvalid", str(exc)
    if isinstance(exc, SpecError):
        return "InvalidSpec", str(exc)
    if isinstance(exc, ApiException):
        return "KubernetesApiError", f"{exc.status} {exc.reason}"
    return "InternalError", f"{type(exc).__name__}: {exc}"


def _camel(reason: Reason) -> str:
    return "".join(part.capitalize() for part in reason.value.split("-"))
