"""Alerts for administrators: security events someone must look at (an account locked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.compliance.access import Account, Permission
from labgate.entrypoints.api.answers.access import NotificationItem
from labgate.entrypoints.api.auth import hub_of, require
from labgate.entrypoints.api.schemas import AfterId

router = APIRouter(prefix="/api/v1", tags=["access"])


@router.get("/notifications", summary="Alerts for administrators, oldest first")
def notifications(
    request: Request,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
    after_id: AfterId = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[NotificationItem]:
    """Each alert once: an account locked after repeated failed sign-ins or signatures."""
    table = t.notifications
    query = select(table).where(table.c.id > after_id).order_by(table.c.id).limit(limit)
    with hub_of(request).engine.connect() as db:
        return [NotificationItem.model_validate(dict(row)) for row in db.execute(query).mappings()]
