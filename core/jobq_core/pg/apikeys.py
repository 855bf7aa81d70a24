"""Bearer API keys: generated once, stored only as a hash, each with scopes."""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid

import asyncpg

from jobq_core.names import API_KEY_PREFIX
from jobq_core.pg.db import Q, unavailable_as_error


class Scope(enum.StrEnum):
    """What a key may do. `admin` includes the other two."""

    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    ADMIN = "admin"


def hash_key(key: str) -> str:
    """The stored form of a key.

    Keys are 256 random bits, so a plain SHA-256 is enough: there is no password to
    brute-force, and it keeps the per-request check to one hash.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def generate() -> str:
    """A new random key."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Scopes from their names; ValueError names an unknown one."""
    out = []
    for value in values:
        try:
            out.append(Scope(value))
        except ValueError:
            raise ValueError(f"unknown scope {value!r}; use {', '.join(Scope)}") from None
    return out


def allows(granted: list[str], needed: Scope) -> bool:
    """Whether a key with `granted` scopes may do what `needed` guards."""
    return Scope.ADMIN in granted or needed in granted


async def create(db: asyncpg.Pool | asyncpg.Connection, name: str, scopes: list[Scope]) -> str:
    """Store a new key and return it; this is the only time it is seen in clear."""
    key = generate()
    async with unavailable_as_error():
        await db.execute(Q["insert_api_key"], uuid.uuid4(), name, hash_key(key), [str(s) for s in scopes])
    return key


async def scopes_of_hash(db: asyncpg.Pool | asyncpg.Connection, key_hash: str) -> list[str] | None:
    """The scopes of a valid key given its hash, or None for an unknown or revoked one."""
    async with unavailable_as_error():
        row = await db.fetchrow(Q["api_key_scopes"], key_hash)
    return None if row is None else list(row["scopes"])


async def scopes_of(db: asyncpg.Pool | asyncpg.Connection, key: str) -> list[str] | None:
    """The scopes of a valid key, or None for an unknown or revoked one."""
    return await scopes_of_hash(db, hash_key(key))
