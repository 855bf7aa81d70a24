"""The operator's settings: `JOBQ_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from jobq_core.settings import LogSettings

# Where Kubernetes mounts a pod's namespace (with its service-account token).
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class OperatorSettings(LogSettings):
    """Settings of `python -m jobq_operator`."""

    operator_namespace: str = Field(
        default="",
        description="Namespace whose WorkerScalers the operator serves; empty: the operator pod's own namespace.",
    )
    operator_metrics_host: str = Field(
        default="0.0.0.0",  # a pod serves its metrics on the pod IP
        description="Address the operator's /metrics and /healthz listen on.",
    )
    operator_metrics_port: int = Field(
        default=8082, ge=0, le=65535, description="Port of the operator's /metrics and /healthz (0 disables)."
    )
    operator_rate_window_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds over which the operator measures arrival and completion rates and job durations.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL for WorkerScalers without `spec.connection` (the operator reads it too).",
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis URL for WorkerScalers without `spec.connection`."
    )
    worker_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds without a heartbeat after which a worker is gone and its jobs are rescued.",
    )

    def namespace(self) -> str:
        """The namespace to serve: the setting, else the pod's own; '' when neither is known."""
        if self.operator_namespace:
            return self.operator_namespace
        try:
            return POD_NAMESPACE_FILE.read_text().strip()
        except OSError:
            return ""
