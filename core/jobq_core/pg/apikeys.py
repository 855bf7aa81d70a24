"""Bearer API keys: generated once, stored only as a hash, each with scopes."""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ApiKey:
    """What is known about a valid key: its id, the name it was created with, its scopes."""

    id: uuid.UUID
    name: str
    scopes: tuple[str, ...]

    def allows(self, needed: Scope) -> bool:
        """Whether this key may do what `needed` guards."""
        return allows(list(self.scopes), needed)


async def create(db: asyncpg.Pool | asyncpg.Connection, name: str, scopes: list[Scope]) -> str:
    """Store a new key and return it; this is the only time it is seen in clear."""
    _, key = await issue(db, name, scopes)
    return key


async def issue(db: asyncpg.Pool | asyncpg.Connection, name: str, scopes: list[Scope]) -> tuple[asyncpg.Record, str]:
    """Store a new key; its row (id, name, scopes, created_at, revoked_at) and the key in
    clear, which is seen this once."""
    key = generate()
    async with unavailable_as_error():
        row = await db.fetchrow(Q["insert_api_key"], uuid.uuid4(), name, hash_key(key), [str(s) for s in scopes])
    assert row is not None
    return row, key


async def list_all(db: asyncpg.Pool | asyncpg.Connection) -> list[asyncpg.Record]:
    """Every key, revoked ones too, newest first: id, name, scopes, created_at, revoked_at."""
    async with unavailable_as_error():
        return await db.fetch(Q["list_api_keys"])


async def revoke(db: asyncpg.Pool | asyncpg.Connection, key_id: uuid.UUID) -> asyncpg.Record | None:
    """Revoke a key and return its row with its `key_hash`; None when there is no such key.

    Idempotent: a key revoked before is returned as it was, with the time it was first
    revoked.
    """
    async with unavailable_as_error():
        row = await db.fetchrow(Q["revoke_api_key"], key_id)
        if row is None:  # unknown, or revoked already
            row = await db.fetchrow(Q["get_api_key"], key_id)
    return row


async def find_by_hash(db: asyncpg.Pool | asyncpg.Connection, key_hash: str) -> ApiKey | None:
    """The valid key with this hash, or None for an unknown or revoked one."""
    async with unavailable_as_error():
        row = await db.fetchrow(Q["find_api_key"], key_hash)
    return None if row is None else ApiKey(row["id"], row["name"], tuple(row["scopes"]))


async def scopes_of(db: asyncpg.Pool | asyncpg.Connection, key: str) -> list[str] | None:
    """The scopes of a valid key, or None for an unknown or revoked one."""
    found = await find_by_hash(db, hash_key(key))
    return None if found is None else list(found.scopes)
