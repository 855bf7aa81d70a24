"""The exception tree. Each exception's docstring is its message."""

from __future__ import annotations


class JobqError(Exception):
    """jobq failed."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(detail or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        """The docstring line, plus the detail when there is one."""
        base = (type(self).__doc__ or "").strip()
        return f"{base} {self.detail}" if self.detail else base


class ConfigurationError(JobqError):
    """A setting is missing or invalid."""


class UnavailableError(JobqError):
    """A backing service (PostgreSQL or Redis) is unavailable; try again later."""


class DatabaseUnavailable(UnavailableError):
    """PostgreSQL is unavailable; try again later."""


class SchemaNotMigrated(DatabaseUnavailable):
    """PostgreSQL answers but lacks jobq's tables: the migration has not run yet."""


class RedisUnavailable(UnavailableError):
    """Redis is unavailable; try again later."""


class NotFound(JobqError):
    """No such object."""


class InvalidPayload(JobqError):
    """The payload does not match the job type's schema."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


class UnknownJobType(JobqError):
    """No worker has registered this job type."""

    def __init__(self, name: str, field: str = "type") -> None:
        self.name, self.field = name, field
        super().__init__(name)


class SerializationError(JobqError):
    """A Redis message is not a jobq JSON message."""
