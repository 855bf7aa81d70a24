"""Exceptions a handler raises to steer what happens after a failure."""

from __future__ import annotations

from jobq_core.errors import JobqError


class PermanentFailure(JobqError):
    """The job cannot succeed by trying again: it goes straight to `dead`."""


class RetryLater(JobqError):
    """Try again after `delay_s` seconds (counts as a failed attempt)."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = delay_s
