"""`/v1/local/mail`: the mail `jobq run` caught, read from the folder its catcher keeps it in.

Only when `JOBQ_LOCAL_MAIL_DIR` is set (by `jobq run`, when no `JOBQ_SMTP_URL` is):
otherwise the app includes no such route, and the OpenAPI document names none.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jobq_core import localmail
from jobq_core.pg.apikeys import ApiKey, Scope

from .. import views
from ..auth import require
from ..models import CaughtMailListOut, CaughtMailOut
from ..problems import not_found

router = APIRouter(prefix="/v1/local/mail", tags=["local"])
read = Depends(require(Scope.JOBS_READ))


def _folder(request: Request) -> Path:
    folder: Path = request.app.state.settings.local_mail_dir
    return folder


@router.get("", response_model=CaughtMailListOut, summary="List caught mail (`jobq run` only)")
async def list_mail(request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50, _: ApiKey = read) -> Response:
    """The newest `limit` messages the local mail catcher accepted, newest first, and how many it holds."""
    messages, total = await asyncio.to_thread(localmail.list_caught, _folder(request), limit)
    return views.JSONResponse({"messages": [m.as_dict() for m in messages], "total": total})


@router.get("/{mail_id}", response_model=CaughtMailOut, summary="A caught message (`jobq run` only)")
async def get_mail(request: Request, mail_id: str, _: ApiKey = read) -> Response:
    """One message the local mail catcher accepted."""
    mail = await asyncio.to_thread(localmail.read_caught, _folder(request), mail_id)
    if mail is None:
        raise not_found("caught message")
    return views.JSONResponse(mail.as_dict())
