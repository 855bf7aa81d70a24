"""The worker's settings: `JOBQ_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from jobq_core.settings import CoreSettings


class WorkerServiceSettings(CoreSettings):
    """Settings of a worker process (not ARQ's `WorkerSettings`: that is a user's handler class)."""

    handler_modules: str = Field(
        default="",
        description="Comma-separated handler registries to include: `pkg.module` (its `handlers`) or `pkg.mod:name`.",
    )
    arq_settings: str = Field(
        default="",
        description=(
            "An ARQ app to run: its `WorkerSettings` class or dict as the `arq` CLI names it "
            "(`myapp.worker.WorkerSettings`); the same as `jobq-worker --arq`."
        ),
    )
    demo_handlers: bool = Field(
        default=False,
        description="Register the demo handlers `jobq.sleep` and `jobq.fail` (on in `make run` and the tests).",
    )
    queues: str = Field(
        default="", description="Comma-separated queues to serve; empty serves every queue a handler names."
    )
    concurrency: int = Field(
        default=10, ge=1, le=1000, description="Jobs this worker process runs at once, across all its queues."
    )
    poll_delay_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="Seconds between polls of an idle queue: a safety net, as an enqueue wakes idle workers at once.",
    )
    heartbeat_interval_s: float = Field(default=5.0, gt=0, description="Seconds between worker heartbeats.")
    drain_s: float = Field(
        default=25.0,
        ge=0,
        description="On SIGTERM, seconds running jobs may take to finish before they are handed back.",
    )
    retry_base_s: float = Field(
        default=2.0, ge=0, description="Back-off after the first failed attempt (doubles each time)."
    )
    retry_max_s: float = Field(default=3600.0, ge=0, description="Longest back-off between attempts.")
    max_result_bytes: int = Field(
        default=65_536, ge=0, description="Largest result stored; a larger one is replaced by a truncation note."
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server for `email.send`: `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`.",
    )
    smtp_from: str = Field(default="jobq@localhost", description="Sender when an email job names none.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Key for the `X-Jobq-Signature` HMAC-SHA256 header of `webhook.post`."
    )
    webhook_allow_private: bool = Field(
        default=False, description="Let `webhook.post` call private, loopback and link-local addresses."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Default timeout of one webhook call.")
    leader_duties: bool = Field(
        default=True,
        description="Take part in the leader election that runs dispatch relay, rescue, schedules and pruning.",
    )
    relay_sweep_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between the dispatch relay's sweeps of the jobs queued since its last one.",
    )
    relay_full_sweep_s: float = Field(
        default=600.0,
        gt=0,
        description="Seconds between the dispatch relay's sweeps of every queued job: a message Redis lost"
        " without losing its data as a whole is sent again within this.",
    )
    retention_s: float = Field(
        default=604_800.0, gt=0, description="Seconds succeeded and cancelled jobs are kept before pruning."
    )
    dead_retention_s: float = Field(default=2_592_000.0, gt=0, description="Seconds dead jobs are kept before pruning.")
    worker_metrics_host: str = Field(
        default="0.0.0.0", description="Address the worker's `/metrics`, `/healthz` and `/readyz` endpoint listens on."
    )
    worker_metrics_port: int = Field(
        default=8081,
        ge=0,
        le=65535,
        description="Port of the worker's `/metrics`, `/healthz` and `/readyz`; 0 disables them.",
    )

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        return value

    @staticmethod
    def _split(value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    @property
    def handler_module_list(self) -> list[str]:
        """`handler_modules` as a list."""
        return self._split(self.handler_modules)

    @property
    def queue_list(self) -> list[str]:
        """`queues` as a list (empty: every queue)."""
        return self._split(self.queues)
