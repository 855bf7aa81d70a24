"""Bearer API keys: 401 without a valid key, 403 without the scope."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobq_core.pg import apikeys
from jobq_core.pg.apikeys import Scope

from .problems import Problem

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer jobq_…`")


class KeyCache:
    """Verified keys for a few seconds, so most requests skip the database lookup."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, list[str] | None]] = {}

    def get(self, key_hash: str) -> tuple[bool, list[str] | None]:
        """(hit, scopes) for a hashed key."""
        entry = self._entries.get(key_hash)
        if entry and time.monotonic() - entry[0] < self.ttl_s:
            return True, entry[1]
        return False, None

    def put(self, key_hash: str, scopes: list[str] | None) -> None:
        """Remember a lookup; the cache is bounded by dropping everything when full."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic(), scopes)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def require(scope: Scope) -> Callable[..., Awaitable[list[str]]]:
    """A dependency that admits requests whose key has `scope` (or `admin`)."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> list[str]:
        if credentials is None:
            raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
        cache: KeyCache = request.app.state.key_cache
        key_hash = apikeys.hash_key(credentials.credentials)
        hit, scopes = cache.get(key_hash)
        if not hit:
            scopes = await apikeys.scopes_of_hash(request.app.state.pool, key_hash)
            cache.put(key_hash, scopes)
        if scopes is None:
            raise _unauthorized("unknown or revoked API key")
        if not apikeys.allows(scopes, scope):
            raise Problem(403, "forbidden", "Forbidden", f"this API key lacks the {scope!s} scope")
        return scopes

    return check
