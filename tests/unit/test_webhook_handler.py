"""`webhook.post` pure parts: which addresses may be called, and the signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from jobq_worker.errors import PermanentFailure
from jobq_worker.handlers.webhook import WebhookPayload, is_public, resolve, sign

REFUSED = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "10.0.0.5",  # private
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # link-local: cloud metadata
    "100.64.0.1",  # shared (carrier-grade NAT) space
    "100.100.100.200",  # a cloud metadata address inside it
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "255.255.255.255",
    "::1",  # IPv6 loopback
    "::",
    "fe80::1",  # IPv6 link-local
    "fc00::1",  # IPv6 unique local
    "fd12:3456:789a::1",
    "ff02::1",  # IPv6 multicast
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(address)


def test_a_non_address_is_an_error() -> None:
    with pytest.raises(ValueError):
        is_public("example.com")


async def test_resolve_refuses_a_loopback_host_by_default() -> None:
    with pytest.raises(PermanentFailure, match="JOBQ_WEBHOOK_ALLOW_PRIVATE"):
        await resolve("127.0.0.1", 80, allow_private=False)


async def test_resolve_allows_a_private_host_when_told_to() -> None:
    assert await resolve("127.0.0.1", 80, allow_private=True) == "127.0.0.1"


async def test_resolve_passes_a_public_address_through() -> None:
    assert await resolve("8.8.8.8", 443, allow_private=False) == "8.8.8.8"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    secret, timestamp, body = "whsec_test", 1_700_000_000, b'{"order":42,"name":"caf\xc3\xa9"}'
    expected = hmac.new(b"whsec_test", b'1700000000.{"order":42,"name":"caf\xc3\xa9"}', hashlib.sha256).hexdigest()
    assert sign(secret, timestamp, body) == f"t=1700000000,v1={expected}"


def test_a_known_signature() -> None:
    # Fixed vector from `printf '1.{}' | openssl dgst -sha256 -hmac key`.
    expected = "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
    assert sign("key", 1, b"{}") == f"t=1,v1={expected}"


def test_the_signature_depends_on_secret_time_and_body() -> None:
    base = sign("s", 100, b"{}")
    assert sign("t", 100, b"{}") != base
    assert sign("s", 101, b"{}") != base
    assert sign("s", 100, b"[]") != base


@pytest.mark.parametrize("url", ["https://hooks.example.com/x", "http://example.com:8080/a?b=c"])
def test_http_urls_are_accepted(url: str) -> None:
    assert WebhookPayload(url=url).url == url


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/x", "https://", "file://localhost/etc/passwd"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        WebhookPayload(url=url)
