"""Bearer API keys: 401 without a valid key, 403 without the scope."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import ApiKey, Scope

from .problems import Problem

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer jobq_…`")


class KeyCache:
    """Verified keys for a few seconds, so most requests skip the database lookup."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._revoked: set[str] = set()

    def get(self, key_hash: str) -> tuple[bool, ApiKey | None]:
        """(hit, key) for a hashed key; the key is None for an unknown or revoked one."""
        if key_hash in self._revoked:
            return True, None
        entry = self._entries.get(key_hash)
        if entry and time.monotonic() - entry[0] < self.ttl_s:
            return True, entry[1]
        return False, None

    def put(self, key_hash: str, key: ApiKey | None) -> None:
        """Remember a lookup; the cache is bounded by dropping everything when full."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic(), key)

    def revoked(self, key_hash: str) -> None:
        """Refuse a key this process revoked from now on, cached or not.

        A revocation is for good, so the hash is kept rather than only dropped: a request
        that looked the key up just before the revocation cannot cache it as valid again.
        Other API processes learn of it from the database once their entry is older than
        `ttl_s` (`JOBQ_API_KEY_CACHE_S`).
        """
        if len(self._revoked) > 10_000:
            self._revoked.clear()  # the database has them all; only the race above reopens
        self._revoked.add(key_hash)
        self._entries.pop(key_hash, None)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def _verified(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    """The valid key the request carries; a 401 problem without one."""
    if credentials is None:
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    cache: KeyCache = request.app.state.key_cache
    key_hash = apikeys.hash_key(credentials.credentials)
    hit, key = cache.get(key_hash)
    if not hit:
        key = await apikeys.find_by_hash(request.app.state.pool, key_hash)
        cache.put(key_hash, key)
    if key is None:
        raise _unauthorized("unknown or revoked API key")
    return key


async def any_key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> ApiKey:
    """A dependency that admits a request with any valid key, whatever its scopes, and gives the key."""
    return await _verified(request, credentials)


def require(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that admits requests whose key has `scope` (or `admin`), and gives the key."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> ApiKey:
        key = await _verified(request, credentials)
        if not key.allows(scope):
            raise Problem(403, "forbidden", "Forbidden", f"this API key lacks the {scope!s} scope")
        return key

    return check
