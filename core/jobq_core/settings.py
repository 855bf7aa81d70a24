"""Typed settings read from ``JOBQ_*`` environment variables.

Each service declares one settings class deriving from :class:`CoreSettings`; every
field carries its documentation in ``description`` (the README's settings table is
generated from these declarations). :func:`load` turns a validation failure into one
line naming the variable.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobq_core.errors import ConfigurationError
from jobq_core.names import ENV_PREFIX

_URL_SCHEMES = {
    "database_url": ("postgres://", "postgresql://"),
    "redis_url": ("redis://", "rediss://", "unix://"),
}


class LogSettings(BaseSettings):
    """How every jobq process logs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    log_level: str = Field(default="INFO", description="Python log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="Log lines as `json` (one object per line), `text`, or `auto`: text on a terminal, JSON otherwise.",
    )

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class CoreSettings(LogSettings):
    """Settings every jobq process needs: where PostgreSQL and Redis are."""

    database_url: SecretStr = Field(description="PostgreSQL URL (`postgresql://user:pass@host:5432/db`). Required.")
    redis_url: SecretStr = Field(description="Redis URL (`redis://host:6379/0`). Required.")
    database_pool_size: int = Field(
        default=10, ge=1, le=200, description="Connections in this process's PostgreSQL pool."
    )
    worker_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds without a heartbeat after which a worker is gone and its jobs are rescued.",
    )

    @field_validator("database_url", "redis_url")
    @classmethod
    def _check_scheme(cls, value: SecretStr, info: object) -> SecretStr:
        name = getattr(info, "field_name", "")
        schemes = _URL_SCHEMES[name]
        if not value.get_secret_value().startswith(schemes):
            raise ValueError(f"must start with {' or '.join(schemes)}")
        return value


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return f"{ENV_PREFIX}{field.upper()}"


def load(settings_class: type[SettingsT]) -> SettingsT:
    """Read `settings_class` from the environment, or raise one readable error.

    The error names the environment variable and what is wrong with it, never the value
    (which may be a secret).
    """
    try:
        return settings_class()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            reason = "is required" if error["type"] == "missing" else error["msg"]
            problems.append(f"{env_name(field)} {reason}")
        raise ConfigurationError("; ".join(problems)) from None
