"""`/v1/scalers`: the autoscaler's view on the Workers page.

The operator records what it observes and decides in PostgreSQL (`jobq_core.pg.scalers`);
this route only reads those rows, so the API needs no Kubernetes permissions.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jobq_core.model.stats import MINUTE, Window, buckets, floor_to
from jobq_core.pg import scalers
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import views
from ..auth import require
from ..models import ScalerListOut

router = APIRouter(tags=["scalers"])


@router.get("/v1/scalers", response_model=ScalerListOut, summary="Autoscaling: replicas over time and decisions")
async def list_scalers(
    request: Request,
    window: Annotated[
        Window, Query(description="1h in 1-minute buckets, 24h in 15-minute ones, 7d in hours.")
    ] = Window.HOUR,
    _: ApiKey = Depends(require(Scope.JOBS_READ)),
) -> Response:
    """Each WorkerScaler the operator recorded within the window: current and desired
    replicas at its latest loop, samples per bucket (each number the bucket's highest) and
    its latest decisions with their reasons. Empty when no operator records."""
    pool = request.app.state.pool
    now = await scalers.clock(pool)
    starts = buckets(window, floor_to(now, MINUTE), now)
    start, end = starts[0], starts[-1] + window.bucket
    found = await scalers.history(pool, start, end, window.bucket)
    return views.JSONResponse(
        {
            "window": str(window),
            "bucket_s": int(window.bucket.total_seconds()),
            "start": start,
            "end": end,
            "scalers": [dataclasses.asdict(s) for s in found],
        }
    )
