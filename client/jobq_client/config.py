"""What a client is configured with: the API's URL, its key (kept out of every text), timeouts, retries."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from .errors import ConfigurationError
from .names import API_KEY_ENV, API_URL_ENV, DEFAULT_API_URL, DEFAULT_TIMEOUT_S
from .retry import RetryPolicy

__version__ = "0.1.0"
USER_AGENT = f"jobq-client/{__version__} httpx/{httpx.__version__}"


class Secret:
    """A value that never shows in a repr, a str or a log line; `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one header that carries it."""
        return self._value

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the value replaced, for messages built from what a server said."""
        return text.replace(self._value, "[redacted]") if self._value else text

    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__


@dataclass(frozen=True)
class Config:
    """One client's settings; `from_arguments` fills what was not passed from the environment."""

    base_url: str
    api_key: Secret
    timeout_s: float
    retry: RetryPolicy

    @classmethod
    def from_arguments(
        cls, base_url: str | None, api_key: str | None, timeout_s: float | None, retry: RetryPolicy | None
    ) -> Config:
        """The settings from the arguments, else `JOBQ_API_URL` / `JOBQ_API_KEY`, else the defaults."""
        url = base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not key:
            raise ConfigurationError(f"no API key: pass api_key= or set {API_KEY_ENV}")
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            # Never echo it: a key pasted with a stray character is still a key.
            raise ConfigurationError("the API key has characters an HTTP header cannot carry (spaces, newlines, …)")
        if timeout_s is not None and timeout_s <= 0:
            raise ConfigurationError(f"timeout must be positive, not {timeout_s}")
        return cls(
            url.rstrip("/"),
            Secret(key),
            DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
            retry or RetryPolicy(),
        )

    def headers(self) -> dict[str, str]:
        """The headers every request carries."""
        return {
            "Authorization": f"Bearer {self.api_key.reveal()}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": USER_AGENT,
        }
