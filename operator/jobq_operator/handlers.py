"""kopf handlers: a watch keeps one scaling loop running per WorkerScaler.

Why not ``@kopf.daemon`` or ``@kopf.timer``: kopf puts a finalizer on every object a
daemon or timer serves, so a WorkerScaler could not be deleted while the operator is
down (``helm uninstall`` removing both at once would leave it, and its namespace,
stuck). A plain watch needs no finalizer and writes nothing to the object: each event
hands the latest WorkerScaler to its loop, which runs every ``spec.pollIntervalSeconds``
and writes only the status subresource.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from . import metrics
from .kube import Kube, connect
from .scaler import Scaler
from .settings import OperatorSettings
from .spec import GROUP, PLURAL, VERSION

log = logging.getLogger("jobq.operator")


@dataclass
class _Loop:
    scaler: Scaler
    body: Mapping[str, Any]
    task: asyncio.Task[None] | None = None


@dataclass
class Loops:
    """The running loops, one per WorkerScaler (namespace, name)."""

    kube: Kube
    settings: OperatorSettings
    loops: dict[tuple[str, str], _Loop] = field(default_factory=dict)

    def update(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """Hand the latest `body` to its loop, starting the loop for a new WorkerScaler."""
        key = (namespace, name)
        if key in self.loops:
            self.loops[key].body = body
            return
        loop = _Loop(Scaler(self.kube, self.settings, namespace, name), body)
        loop.task = asyncio.create_task(self._run(loop), name=f"workerscaler {namespace}/{name}")
        self.loops[key] = loop
        log.info("WorkerScaler %s/%s: scaling loop started", namespace, name)

    async def remove(self, namespace: str, name: str) -> None:
        """Stop the loop of a deleted WorkerScaler (its records in PostgreSQL stay until retention prunes them)."""
        loop = self.loops.pop((namespace, name), None)
        if loop is not None:
            await self._stop(loop)
            log.info("WorkerScaler %s/%s: deleted, scaling loop stopped", namespace, name)

    async def stop_all(self) -> None:
        """Stop every loop (the operator is exiting)."""
        loops, self.loops = list(self.loops.values()), {}
        await asyncio.gather(*(self._stop(loop) for loop in loops))

    async def _run(self, loop: _Loop) -> None:
        while True:
            interval = await loop.scaler.step(loop.body)
            await asyncio.sleep(interval)

    async def _stop(self, loop: _Loop) -> None:
        if loop.task is not None:
            loop.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop.task
        await loop.scaler.close()
        metrics.forget(loop.scaler.namespace, loop.scaler.name)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Tune kopf for one namespace and connect to the API."""
    # One namespace, one known resource: no cluster-wide listing of namespaces or CRDs
    # (the Role grants neither); kopf reads the API's discovery once at start instead.
    settings.scanning.disabled = True
    # The scaler records its own Events; kopf's are for its failures only.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    memo["loops"] = Loops(Kube(await connect()), memo["settings"])


@kopf.on.cleanup()
async def disconnect(memo: kopf.Memo, **_: Any) -> None:
    """Stop the loops and close the API client."""
    loops: Loops | None = memo.get("loops")
    if loops is not None:
        await loops.stop_all()
        await loops.kube.api.close()


@kopf.on.event(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]
async def track(event: kopf.RawEvent, body: kopf.Body, namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
    """Keep each WorkerScaler's loop fed with its latest version; stop it on deletion."""
    loops: Loops = memo["loops"]
    if event["type"] == "DELETED" or body.metadata.get("deletionTimestamp"):
        await loops.remove(namespace, name)
    else:
        loops.update(namespace, name, body)
