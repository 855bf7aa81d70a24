"""The API's settings: `JOBQ_*` environment variables."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from jobq_core.model.attention import parse_targets
from jobq_core.settings import CoreSettings

DEFAULT_ENVIRONMENT_COLOR = "#b45309"
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~%-]+")


def _is_path_prefix(value: str) -> bool:
    """`/a` or `/a/b`: `/`-led segments of unreserved URL characters (or %-escapes), none `.` or `..`."""
    head, *segments = value.split("/")
    return head == "" and all(_PATH_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments)


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
        default=10.0,
        ge=0,
        description="Seconds a verified API key is remembered: how long other API processes accept a key"
        " after it is revoked (the one revoking it refuses it at once).",
    )
    events_interval_s: float = Field(
        default=1.0,
        ge=0.1,
        description="Seconds between the looks at PostgreSQL behind `GET /v1/events`: one query per look per API"
        " process, however many streams are open, and only while one is.",
    )
    dashboard_dir: Path | None = Field(
        default=None,
        description="The dashboard's build (`dashboard/dist`: `index.html` and `assets/`), served under `/ui/`;"
        " unset or empty: no dashboard.",
    )
    public_path: str = Field(
        default="",
        description="Path prefix the API is reached under behind a proxy that strips it (`/jobq`), for the"
        " dashboard's links and redirects; empty: the ASGI `root_path` (`uvicorn --root-path`), else none.",
    )
    environment_name: str = Field(
        default="", max_length=60, description="Name of this deployment on the dashboard (`production`); empty: none."
    )
    environment_color: str = Field(
        default=DEFAULT_ENVIRONMENT_COLOR,
        description="Colour of the dashboard's environment badge: CSS hex, `#rgb` or `#rrggbb`.",
    )
    local_mail_dir: Path | None = Field(
        default=None,
        description="`jobq run` sets it to the folder its mail catcher keeps messages in (`.jobq/mail`), for"
        " `GET /v1/local/mail` and the dashboard's Mail page; unset or empty: neither exists.",
    )

    queue_latency_target_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a queue's oldest ready job may wait before `GET /v1/attention` names the queue.",
    )
    queue_latency_targets: str = Field(
        default="",
        description="Per-queue exceptions to `JOBQ_QUEUE_LATENCY_TARGET_S`: `queue=seconds`, comma-separated"
        " (`emails=300,reports=3600`).",
    )

    @field_validator("queue_latency_targets")
    @classmethod
    def _check_latency_targets(cls, value: str) -> str:
        parse_targets(value)
        return value

    @property
    def latency_targets(self) -> dict[str, float]:
        """`queue_latency_targets` as {queue: seconds}."""
        return parse_targets(self.queue_latency_targets)

    @field_validator("dashboard_dir", "local_mail_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("dashboard_dir")
    @classmethod
    def _check_dashboard_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "index.html").is_file():
            raise ValueError("must be a folder holding the dashboard's index.html (its build, dashboard/dist)")
        return value

    @field_validator("local_mail_dir")
    @classmethod
    def _check_local_mail_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError("must be a folder (the one `jobq run`'s mail catcher keeps messages in)")
        return value

    @field_validator("public_path")
    @classmethod
    def _check_public_path(cls, value: str) -> str:
        if value and not _is_path_prefix(value):
            raise ValueError("must be empty or a path such as /jobq: starting with /, not ending with /")
        return value

    @field_validator("environment_color")
    @classmethod
    def _check_color(cls, value: str) -> str:
        if not _HEX_COLOR.fullmatch(value):
            raise ValueError("must be a CSS hex colour, #rgb or #rrggbb")
        return value
