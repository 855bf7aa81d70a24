"""`webhook.post`: POST JSON to a URL, signed with HMAC-SHA256.

The signature header is ``X-Jobq-Signature: t=<unix seconds>,v1=<hex>`` where the hex
is HMAC-SHA256 over ``f"{t}.{body}"`` with JOBQ_WEBHOOK_SECRET (as Stripe signs its
webhooks). 2xx succeeds; 408, 429 and 5xx are retried (429 after its Retry-After);
other 4xx and 3xx are permanent. Private, loopback and link-local addresses are refused
unless JOBQ_WEBHOOK_ALLOW_PRIVATE is set; the check is made on the resolved address
and the request goes to that same address, so DNS cannot swap it in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobq_core.telemetry import tracing

from ..context import JobContext
from ..errors import PermanentFailure, RetryLater
from ..registry import Registry

handlers = Registry()

SIGNATURE_HEADER = "X-Jobq-Signature"
RESPONSE_PREVIEW_BYTES = 1024


class WebhookPayload(BaseModel):
    """Where to POST and what."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="An http or https URL.")
    body: Any = Field(default=None, description="The JSON body.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    timeout_s: float | None = Field(default=None, gt=0, le=300, description="Defaults to JOBQ_WEBHOOK_TIMEOUT_S.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast address."""
    ip = ipaddress.ip_address(address)
    # is_global also rules out what is_private misses, such as the shared (carrier-grade
    # NAT) range 100.64.0.0/10 where some clouds serve instance metadata.
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


async def resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; PermanentFailure when the host is not allowed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RetryLater(f"cannot resolve {host}: {exc}", 30) from exc
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        blocked = [a for a in addresses if not is_public(a)]
        if blocked:
            raise PermanentFailure(
                f"refused: {host} resolves to non-public address {blocked[0]} (set JOBQ_WEBHOOK_ALLOW_PRIVATE to allow)"
            )
    return addresses[0]


def redacted_url(url: str) -> str:
    """`url` fit for a span: no credentials, query values replaced (they may hold tokens)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(f"{pair.split('=', 1)[0]}=REDACTED" if "=" in pair else pair for pair in parts.query.split("&"))
    return urlunsplit((parts.scheme, netloc, parts.path, query if parts.query else "", ""))


def http_span_attributes(url: str, host: str, port: int, address: str) -> dict[str, Any]:
    """Attributes of the webhook's HTTP client span (OpenTelemetry HTTP conventions)."""
    return {
        "http.request.method": "POST",
        "url.full": redacted_url(url),
        "server.address": host,
        "server.port": port,
        "network.peer.address": address,
    }


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else 30.0


@handlers.handler("webhook.post", payload=WebhookPayload, timeout_s=120, max_attempts=8)
async def post_webhook(ctx: JobContext, payload: WebhookPayload) -> dict[str, Any]:
    """POST the body to the URL, signed, and classify the answer."""
    parts = urlsplit(payload.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = await resolve(host, port, ctx.settings.webhook_allow_private)
    netloc = f"[{address}]" if ":" in address else address
    target = urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))

    body = orjson.dumps(payload.body)
    headers = httpx.Headers(payload.headers)
    # Ours replace a payload header of the same name in any letter case instead of doubling it.
    headers.update(
        {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "User-Agent": "jobq-webhook/1",
            "X-Jobq-Job-Id": str(ctx.job_id),
            "X-Jobq-Attempt": str(ctx.attempt),
            "Idempotency-Key": ctx.idempotency_key or str(ctx.job_id),
        }
    )
    # The target names the address, not the host, so credentials in the URL go as Basic auth.
    auth = (
        httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
        if parts.username
        else httpx.USE_CLIENT_DEFAULT
    )
    if ctx.settings.webhook_secret is not None:
        headers[SIGNATURE_HEADER] = sign(ctx.settings.webhook_secret.get_secret_value(), int(time.time()), body)
    started = time.monotonic()
    with tracing.client_span("POST", http_span_attributes(payload.url, host, port, address)) as span:
        tracing.inject(headers)  # the receiver can continue the job's trace
        response = await ctx.http.post(
            target,
            content=body,
            headers=headers,
            auth=auth,
            timeout=payload.timeout_s or ctx.settings.webhook_timeout_s,
            extensions={"sni_hostname": host},
        )
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                tracing.fail_span(span, f"HTTP {response.status_code}")
    summary = {
        "status_code": response.status_code,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        "response_preview": response.text[:RESPONSE_PREVIEW_BYTES],
    }
    status = response.status_code
    if 200 <= status < 300:
        return summary
    if status == 429:
        raise RetryLater(f"HTTP 429 from {host}", _retry_after(response))
    if status == 408 or status >= 500:
        raise httpx.HTTPStatusError(f"HTTP {status} from {host}", request=response.request, response=response)
    raise PermanentFailure(f"HTTP {status} from {host}: not retried")
