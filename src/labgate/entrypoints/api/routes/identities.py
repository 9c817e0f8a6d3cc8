"""The identity map: which labgate account a source system means by a person's id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictStr
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.compliance.access import Account, Permission
from labgate.compliance.identities import PartnerIdentity
from labgate.domain.interface_commands import MapIdentity, UnmapIdentity
from labgate.entrypoints.api.answers.access import IdentityMapping
from labgate.entrypoints.api.auth import hub_of, require
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.schemas import Body, ReasonIn
from labgate.service.messages import code

router = APIRouter(prefix="/api/v1/sources/{source}/identities", tags=["identity map"])


class IdentityIn(Body):
    """The labgate account the source means by this id, and why it is mapped now."""

    account: StrictStr = code()
    reason: StrictStr = Field(min_length=1, max_length=2000)


@router.put(
    "/{external_id}",
    summary="Map a source system's person id to a labgate account",
    openapi_extra=refuses(
        {404: ("account.unknown", "source.unknown"), 422: ("identity.wrong_kind",)}
    ),
)
async def map_identity(
    request: Request,
    source: str,
    external_id: str,
    body: IdentityIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> IdentityMapping:
    """Results naming this id as analyst or reviewer are attributed to the account; segregation
    of duties is decided on accounts."""
    ctx = await request_context(request)
    command = MapIdentity(ctx, source, external_id, body.account, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return _one(request, source, external_id)


@router.post(
    "/{external_id}/withdrawal",
    summary="Withdraw a mapping",
    openapi_extra=refuses({404: ("identity.unknown",)}),
)
async def unmap_identity(
    request: Request,
    source: str,
    external_id: str,
    body: ReasonIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> IdentityMapping:
    """Kept, inactive: results naming the id are refused until it is mapped again."""
    command = UnmapIdentity(await request_context(request), source, external_id, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return _one(request, source, external_id)


@router.get("", summary="A source system's mapped person ids, withdrawn ones included")
def list_identities(
    request: Request,
    source: str,
    _: Annotated[Account, Depends(require(Permission.READ))],
) -> list[IdentityMapping]:
    """Every mapping of the source, in the order they were first made."""
    with hub_of(request).sessions() as session:
        query = select(PartnerIdentity).filter_by(source=source).order_by(t.identity_map.c.id)
        return [_view(m) for m in session.scalars(query)]


def _one(request: Request, source: str, external_id: str) -> IdentityMapping:
    with hub_of(request).sessions() as session:
        query = select(PartnerIdentity).filter_by(source=source, external_id=external_id)
        return _view(session.scalars(query).one())


def _view(mapping: PartnerIdentity) -> IdentityMapping:
    return IdentityMapping(
        source=mapping.source,
        external_id=mapping.external_id,
        account=mapping.account,
        active=mapping.active,
        mapped_by=mapping.mapped_by,
        mapped_at=mapping.mapped_at,
        reason=mapping.reason,
    )
