"""`/v1/api-keys`: list, create and revoke API keys (the `admin` scope only)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jobq_core.pg import apikeys, audit
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import views
from ..auth import KeyCache, require
from ..models import ApiKeyCreatedOut, ApiKeyIn, ApiKeyListOut, ApiKeyOut
from ..problems import Problem

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])
admin = Depends(require(Scope.ADMIN))


def _key(row: asyncpg.Record) -> dict[str, Any]:
    """A key as the API shows it: never its hash."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "scopes": list(row["scopes"]),
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    }


@router.get("", response_model=ApiKeyListOut, summary="List API keys")
async def list_keys(request: Request, _: ApiKey = admin) -> Response:
    """Every key, revoked ones too, newest first; never a key itself."""
    rows = await apikeys.list_all(request.app.state.pool)
    return views.JSONResponse({"api_keys": [_key(r) for r in rows]})


@router.post("", status_code=201, response_model=ApiKeyCreatedOut, summary="Create an API key")
async def create_key(request: Request, body: ApiKeyIn, caller: ApiKey = admin) -> Response:
    """Create a key with a name and scopes. The answer carries the key as `secret`, the
    only time it is shown: jobq stores only its hash. It works at once."""
    scopes = list(dict.fromkeys(body.scopes))  # in the order given, each once
    row, secret = await apikeys.issue(request.app.state.pool, body.name, scopes)
    detail = {"name": body.name, "scopes": [str(s) for s in scopes]}
    await audit.record(request.app.state.pool, caller, "key.create", str(row["id"]), detail)
    return views.JSONResponse({**_key(row), "secret": secret}, status_code=201, headers={"Cache-Control": "no-store"})


@router.delete(
    "/{key_id}",
    response_model=ApiKeyOut,
    responses={
        404: {"description": "No key with this id."},
        409: {"description": "The key making the request: a key cannot revoke itself."},
    },
    summary="Revoke an API key",
)
async def revoke_key(request: Request, key_id: uuid.UUID, caller: ApiKey = admin) -> Response:
    """Revoke a key: this API process refuses it (401) from this answer on; other API
    processes within `JOBQ_API_KEY_CACHE_S`. Revoking a revoked key changes nothing and
    answers the same. A key cannot revoke itself, so the API cannot lock out its last
    admin by accident: revoke it with another admin key."""
    if str(key_id) == str(caller.id):
        raise Problem(
            409,
            "cannot-revoke-own-key",
            "A key cannot revoke itself",
            f"API key {key_id} is the one making this request; revoke it with another admin key",
        )
    row = await apikeys.revoke(request.app.state.pool, key_id)
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no API key with id {key_id}")
    cache: KeyCache = request.app.state.key_cache
    cache.revoked(row["key_hash"])
    await audit.record(request.app.state.pool, caller, "key.revoke", str(key_id), {"name": row["name"]})
    return views.JSONResponse(_key(row))
