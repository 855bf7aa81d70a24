"""The API's settings: `JOBQ_*` environment variables."""

from __future__ import annotations

from pydantic import Field

from jobq_core.settings import CoreSettings


class ApiSettings(CoreSettings):
    """Settings of the API process."""

    host: str = Field(default="0.0.0.0", description="Address the API listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the API listens on.")
    max_payload_bytes: int = Field(
        default=262_144, ge=1, description="Largest accepted job payload, as JSON bytes (413 above)."
    )
    max_body_bytes: int = Field(default=33_554_432, ge=1, description="Largest accepted request body (413 above).")
    max_batch_jobs: int = Field(default=10_000, ge=1, description="Most jobs accepted in one `POST /v1/jobs/batch`.")
    api_key_cache_s: float = Field(
        default=10.0, ge=0, description="Seconds a verified API key is remembered (how long a revocation takes)."
    )
