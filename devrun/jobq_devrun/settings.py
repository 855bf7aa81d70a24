"""`jobq run`'s own settings: local autoscaling."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobq_core.names import ENV_PREFIX
from jobq_core.settings import env_name


class AutoscaleSettings(BaseSettings):
    """`jobq run`'s local autoscaling: the operator's policy driving local worker processes."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    autoscale: bool = Field(
        default=False,
        description="`jobq run`: let the operator's autoscaling policy set how many worker processes run.",
    )
    autoscale_min_workers: int = Field(
        default=1, ge=1, description="Fewest local workers (at least one: the leader duties run in a worker)."
    )
    autoscale_max_workers: int = Field(default=8, ge=1, le=64, description="Most local workers.")
    autoscale_jobs_per_worker: int = Field(
        default=0, ge=0, description="Jobs one worker runs at once; 0 takes `JOBQ_CONCURRENCY` (default 10)."
    )
    autoscale_target_latency_s: float = Field(
        default=10.0, gt=0, description="Seconds the oldest ready job may wait before more workers start."
    )
    autoscale_poll_s: float = Field(default=1.0, gt=0, le=60, description="Seconds between looks at the queues.")
    autoscale_scale_down_window_s: float = Field(
        default=30.0, ge=0, description="Workers stop only if the last this many seconds never needed them."
    )
    autoscale_trace: str = Field(
        default="", description="File to append one CSV line per look (time, ready, running, oldest age, workers)."
    )

    @field_validator("autoscale_max_workers")
    @classmethod
    def _check_bounds(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("autoscale_min_workers")
        if low is not None and value < low:
            raise ValueError(f"must be >= {env_name('autoscale_min_workers')} ({low})")
        return value
