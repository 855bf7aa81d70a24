"""A Python client for the jobq HTTP API, blocking (`Client`) or asyncio (`AsyncClient`).

    from jobq_client import Client

    with Client() as jobq:  # JOBQ_API_URL and JOBQ_API_KEY
        job = jobq.submit("email.send", {"to": ["ada@example.com"], "subject": "Hi", "text": "…"})
        print(jobq.wait(job.id, timeout=60).status)

It imports nothing from jobq's services; its models are generated from the API's
OpenAPI document (`jobq_client.models`), and its errors (`jobq_client.errors`) come from
the API's problem documents. Its commands (`jobq_client.cli`: submit, ls, wait, tail, …)
join the `jobq` command, or run as `python -m jobq_client`.
"""

from . import models
from .aio import AsyncClient
from .client import Client
from .config import __version__
from .errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    FieldError,
    Forbidden,
    JobqError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    Unauthorized,
    Unavailable,
    UnexpectedResponse,
    ValidationError,
    WaitTimeout,
)
from .operations import JobFilters
from .retry import RetryPolicy

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "FieldError",
    "Forbidden",
    "JobFilters",
    "JobqError",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "UnexpectedResponse",
    "ValidationError",
    "WaitTimeout",
    "__version__",
    "models",
]
